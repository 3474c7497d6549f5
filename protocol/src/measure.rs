//! The speed test's wire conventions between the agent and sonde's measurement server, beyond
//! the responsiveness draft's configuration (draft-ietf-ippm-responsiveness, `/.well-known/nq`).
//!
//! The draft's configuration names three URLs (`small_https_download_url`,
//! `large_https_download_url`, `https_upload_url`). sonde's server adds a fourth,
//! [`UPLOAD_STATS_URL_KEY`], where the bytes of upload body it *received* for one session can be
//! read, with the server's clock. Upload goodput is then counted where a speed test must count
//! it, at the receiver: the sender's count runs ahead by whatever its socket buffer holds, and
//! that buffer grows while the test runs. A server without the extension (any other draft
//! server) still works; the agent then counts at the sender and says so.
//!
//! Upload requests carry their session in the [`SESSION_HEADER`] header; the stats URL takes it
//! as `?session=`. The answer is an [`UploadStats`].

use serde::{Deserialize, Serialize};

/// Header naming the measurement session of an upload request.
pub const SESSION_HEADER: &str = "sonde-session";

/// Key, in the configuration's `urls`, of the upload stats URL (sonde's extension).
pub const UPLOAD_STATS_URL_KEY: &str = "upload_stats_url";

/// Longest session name a server accepts (a UUID is 36 characters).
pub const SESSION_MAX_LEN: usize = 64;

/// Whether `session` is an acceptable session name: 1 to [`SESSION_MAX_LEN`] ASCII letters,
/// digits and `-`.
pub fn valid_session(session: &str) -> bool {
    (1..=SESSION_MAX_LEN).contains(&session.len()) && session.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What the server received for one upload session, and when it read its counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStats {
    /// The session.
    pub session: String,
    /// Bytes of upload body received for it so far.
    pub bytes: u64,
    /// When the counter was read: nanoseconds on the server's monotonic clock (only
    /// differences between two answers mean anything).
    pub server_ns: u64,
}

/// `n` pseudo-random bytes from `seed` (SplitMix64): no link-layer compressor can shrink them,
/// and both ends generate them without a dependency.
pub fn incompressible(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_short_plain_names() {
        assert!(valid_session("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        for bad in ["", "a b", "x;id", "../etc", &"a".repeat(SESSION_MAX_LEN + 1)] {
            assert!(!valid_session(bad), "{bad:?}");
        }
    }

    #[test]
    fn incompressible_bytes_have_every_value_about_equally() {
        let bytes = incompressible(1 << 20, 1);
        assert_eq!(bytes.len(), 1 << 20);
        let mut counts = [0u32; 256];
        for b in &bytes {
            counts[usize::from(*b)] += 1;
        }
        let share = (1u32 << 20) / 256;
        assert!(counts.iter().all(|&c| c > share * 9 / 10 && c < share * 11 / 10));
        assert_ne!(incompressible(64, 1), incompressible(64, 2));
    }
}
