//! Security of the LAN API: the `[api]` configuration (roles, hashed bearer tokens, the `Host`
//! allow-list, rate limits, caps), the per-client token bucket, and the validation of every
//! string a client may send (targets, line ids, profile names).
//!
//! Everything here is pure (time is passed in) so it is tested by tables; `api.rs` wires it into
//! the router as one middleware. docs/deploy.md explains the choices.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::ConfigError;

/// Default values of the `[api]` table.
pub mod defaults {
    /// Requests per minute a client (peer IP) may make, on average.
    pub const RATE_PER_MINUTE: u32 = 120;
    /// Requests a client may make at once before the rate applies.
    pub const RATE_BURST: u32 = 60;
    /// Requests served at the same time (beyond: `503` + `Retry-After`).
    pub const MAX_REQUESTS: usize = 64;
    /// Open progress streams at the same time (beyond: `503` + `Retry-After`).
    pub const MAX_EVENT_STREAMS: usize = 16;
    /// Total size of a request's headers (beyond: `431`).
    pub const MAX_HEADER_BYTES: usize = 8 * 1024;
}

/// Who is calling. A technician may do everything a customer may, and more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The customer's app: run the diagnosis, follow it, read its report.
    Customer,
    /// A technician: also `/metrics`, and checks aimed anywhere.
    Technician,
}

impl Role {
    /// The name used in the configuration and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Technician => "technician",
        }
    }
}

/// `[api]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawApi {
    /// SHA-256 (64 hex digits) of each customer bearer token.
    pub customer_tokens: Option<Vec<String>>,
    /// SHA-256 (64 hex digits) of each technician bearer token.
    pub technician_tokens: Option<Vec<String>>,
    /// `Host` names (or addresses) the API answers to, besides loopback and the listen address.
    pub allowed_hosts: Option<Vec<String>>,
    /// The box's own administration addresses: never a customer's target.
    pub admin_addresses: Option<Vec<IpAddr>>,
    /// Requests per minute per client.
    pub rate_per_minute: Option<u32>,
    /// Requests a client may make at once.
    pub rate_burst: Option<u32>,
    /// Requests served at once.
    pub max_requests: Option<usize>,
    /// Progress streams open at once.
    pub max_event_streams: Option<usize>,
}

/// The validated `[api]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiOptions {
    /// SHA-256 of the customer tokens.
    pub customer_tokens: Vec<[u8; 32]>,
    /// SHA-256 of the technician tokens.
    pub technician_tokens: Vec<[u8; 32]>,
    /// Extra `Host` names, lowercase, without port.
    pub allowed_hosts: Vec<String>,
    /// The box's administration addresses.
    pub admin_addresses: Vec<IpAddr>,
    /// Requests per minute per client.
    pub rate_per_minute: u32,
    /// Burst per client.
    pub rate_burst: u32,
    /// Requests served at once.
    pub max_requests: usize,
    /// Progress streams open at once.
    pub max_event_streams: usize,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            customer_tokens: Vec::new(),
            technician_tokens: Vec::new(),
            allowed_hosts: Vec::new(),
            admin_addresses: Vec::new(),
            rate_per_minute: defaults::RATE_PER_MINUTE,
            rate_burst: defaults::RATE_BURST,
            max_requests: defaults::MAX_REQUESTS,
            max_event_streams: defaults::MAX_EVENT_STREAMS,
        }
    }
}

impl ApiOptions {
    /// Validates `[api]`.
    pub fn from_raw(raw: &RawApi) -> Result<Self, ConfigError> {
        let d = Self::default();
        let hashes = |key: &'static str, list: &Option<Vec<String>>| -> Result<Vec<[u8; 32]>, ConfigError> {
            list.iter()
                .flatten()
                .map(|hex| {
                    parse_sha256_hex(hex).ok_or_else(|| ConfigError::Invalid {
                        key,
                        message: "each entry is the SHA-256 of a token, 64 hex digits \
                                  (`printf %s TOKEN | sha256sum`), never the token itself"
                            .to_owned(),
                    })
                })
                .collect()
        };
        let allowed_hosts = raw
            .allowed_hosts
            .iter()
            .flatten()
            .map(|host| {
                let host = host.trim().to_ascii_lowercase();
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                if bare.parse::<IpAddr>().is_ok() || is_host_name(bare) {
                    Ok(bare.to_owned())
                } else {
                    Err(ConfigError::Invalid {
                        key: "api.allowed-hosts",
                        message: format!("`{host}` is not a host name or an address (no port, no scheme)"),
                    })
                }
            })
            .collect::<Result<_, _>>()?;
        let positive = |key: &'static str, value: Option<usize>, default: usize| match value {
            None => Ok(default),
            Some(n) if (1..=100_000).contains(&n) => Ok(n),
            Some(n) => Err(ConfigError::Invalid {
                key,
                message: format!("{n} is outside 1..=100000"),
            }),
        };
        Ok(Self {
            customer_tokens: hashes("api.customer-tokens", &raw.customer_tokens)?,
            technician_tokens: hashes("api.technician-tokens", &raw.technician_tokens)?,
            allowed_hosts,
            admin_addresses: raw.admin_addresses.clone().unwrap_or_default(),
            rate_per_minute: u32::try_from(positive(
                "api.rate-per-minute",
                raw.rate_per_minute.map(|n| n as usize),
                d.rate_per_minute as usize,
            )?)
            .unwrap_or(u32::MAX),
            rate_burst: u32::try_from(positive(
                "api.rate-burst",
                raw.rate_burst.map(|n| n as usize),
                d.rate_burst as usize,
            )?)
            .unwrap_or(u32::MAX),
            max_requests: positive("api.max-requests", raw.max_requests, d.max_requests)?,
            max_event_streams: positive("api.max-event-streams", raw.max_event_streams, d.max_event_streams)?,
        })
    }

    /// No token configured: the API is open to clients on this host only (see [`Self::authorize`]).
    pub fn is_open(&self) -> bool {
        self.customer_tokens.is_empty() && self.technician_tokens.is_empty()
    }

    /// The role of a request carrying `authorization` (the header's value, if any) from `peer`
    /// (`None`: in-process, as in tests).
    ///
    /// With no token configured, clients on this host (loopback peers) are technicians and
    /// everyone else is refused: the defaults keep local use working and expose nothing. With
    /// tokens, every request needs one, local or not.
    pub fn authorize(&self, authorization: Option<&str>, peer: Option<IpAddr>) -> Result<Role, AuthError> {
        if self.is_open() {
            return match peer {
                None => Ok(Role::Technician),
                Some(ip) if canonical(ip).is_loopback() => Ok(Role::Technician),
                Some(_) => Err(AuthError::Closed),
            };
        }
        let token = authorization
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let digest = hash_token(token);
        let matches = |list: &[[u8; 32]]| list.iter().any(|h| constant_time_eq(h, &digest));
        if matches(&self.technician_tokens) {
            Ok(Role::Technician)
        } else if matches(&self.customer_tokens) {
            Ok(Role::Customer)
        } else {
            Err(AuthError::Invalid)
        }
    }

    /// Whether the `Host` header `host` names this agent: loopback names and addresses, the
    /// listen address, or a configured name. Anything else is a DNS-rebinding attempt (a page
    /// on some site whose name now resolves to the box). The port is not compared.
    pub fn host_allowed(&self, host: &str, listen: SocketAddr) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host.as_str(), |(name, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    name
                } else {
                    host.as_str()
                }
            }),
        };
        let name = name.trim_end_matches('.');
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return canonical(ip).is_loopback()
                || (ip == listen.ip() && !ip.is_unspecified())
                || self.allowed_hosts.iter().any(|h| h.parse() == Ok(ip));
        }
        self.allowed_hosts.iter().any(|h| h == name)
    }
}

/// Why a request is not authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("this endpoint needs `Authorization: Bearer <token>`")]
    Missing,
    /// A token that matches no configured hash.
    #[error("unknown token")]
    Invalid,
    /// No token is configured, and the client is not on this host.
    #[error("the API takes no LAN clients until tokens are configured ([api] in sonded.toml)")]
    Closed,
    /// An event-stream pass that is expired, forged, or for another run.
    #[error("this stream pass is expired or not for this run; ask POST /v1/runs/{{id}}/stream-pass for a new one")]
    BadPass,
}

/// SHA-256 of a bearer token: what the configuration stores.
pub fn hash_token(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Compares two digests in time independent of where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A token bucket per client address: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Clients remembered at most; past it, full buckets are forgotten first.
const MAX_TRACKED_CLIENTS: usize = 4096;

impl RateLimiter {
    /// A limiter allowing `burst` requests at once and `per_minute` on average.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`; `Err(wait)` says when one will be available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - *tokens;
            Err(Duration::from_secs_f64(
                missing / self.per_second.max(f64::MIN_POSITIVE),
            ))
        }
    }
}

/// Read-only passes to one run's event stream, for clients that cannot send an
/// `Authorization` header there (a browser's `EventSource`).
///
/// A pass is `<expiry>.<tag>`: the expiry in Unix seconds (hex) and an HMAC-SHA256 over the run
/// id and the expiry, keyed by a random secret drawn when the agent starts (a restart voids every
/// pass). It grants the customer role on `GET /v1/runs/{run}/events` of that one run and nothing
/// else, until it expires: a pass leaked through a log or a history reads one run's progress for
/// a few minutes at most. Pure: the time is passed in.
pub struct StreamPasses {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for StreamPasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPasses").finish_non_exhaustive()
    }
}

impl StreamPasses {
    /// How long a pass is valid: the longest plan and its ticket's delivery, with room to spare.
    /// A client whose pass expired asks for another one and resumes with `?after=`.
    pub const TTL_SECONDS: u64 = 15 * 60;

    /// Passes keyed by a fresh random secret; `None` if the system has no random source.
    pub fn new() -> Option<Self> {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).ok()?;
        Some(Self { key })
    }

    /// A pass to `run`'s events, issued at `now` (Unix seconds).
    pub fn issue(&self, run: uuid::Uuid, now: u64) -> String {
        let expires = now.saturating_add(Self::TTL_SECONDS);
        let tag = ring::hmac::sign(&self.key, &Self::message(run, expires));
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{expires:x}.{hex}")
    }

    /// Whether `pass` opens `run`'s events at `now`.
    pub fn verify(&self, pass: &str, run: uuid::Uuid, now: u64) -> bool {
        let Some((expires, tag)) = pass.split_once('.') else {
            return false;
        };
        let Ok(expires) = u64::from_str_radix(expires, 16) else {
            return false;
        };
        // A pass lives at most TTL_SECONDS: a later expiry was not issued by this agent.
        if expires < now || expires > now.saturating_add(Self::TTL_SECONDS) {
            return false;
        }
        let Some(tag) = parse_sha256_hex(tag) else {
            return false;
        };
        ring::hmac::verify(&self.key, &Self::message(run, expires), &tag).is_ok()
    }

    fn message(run: uuid::Uuid, expires: u64) -> Vec<u8> {
        let mut message = b"sonde-events\0".to_vec();
        message.extend_from_slice(run.as_bytes());
        message.extend_from_slice(&expires.to_be_bytes());
        message
    }
}

/// Why a client-supplied string is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Not a host name or an address (shell metacharacters, spaces, an option…).
    #[error("`{field}`: {value:?} is not a host name or an IP address")]
    NotATarget {
        /// The field.
        field: &'static str,
        /// What was sent (escaped by `{:?}`).
        value: String,
    },
    /// A target a customer may not aim at.
    #[error("`{field}`: {address} is {why}; a customer may only aim checks at public Internet addresses")]
    ForbiddenTarget {
        /// The field.
        field: &'static str,
        /// The address, as resolved.
        address: IpAddr,
        /// Loopback, private, link-local…
        why: &'static str,
    },
    /// The name did not resolve.
    #[error("`{field}`: {value} does not resolve")]
    Unresolved {
        /// The field.
        field: &'static str,
        /// The name.
        value: String,
    },
    /// A value of a closed list that this agent does not know.
    #[error("`{field}`: unknown value; see the protocol documentation for the accepted ones")]
    UnknownValue {
        /// The field.
        field: &'static str,
    },
    /// Not a phone number the SMS gateway can reach.
    #[error("`contact`: {value:?} is not a phone number (E.164: an optional `+` then 6 to 15 digits)")]
    BadPhoneNumber {
        /// What was sent.
        value: String,
    },
    /// A free-text identifier with characters outside its alphabet.
    #[error("`{field}`: {value:?} may only hold letters, digits and `{extra}`, at most {max} characters")]
    BadIdentifier {
        /// The field.
        field: &'static str,
        /// What was sent.
        value: String,
        /// Punctuation allowed besides letters and digits.
        extra: &'static str,
        /// Longest accepted.
        max: usize,
    },
}

/// A check target as a client wrote it: an address or a DNS name, never anything a shell or a
/// command line could read as more (no spaces, metacharacters, or leading `-`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An IP address.
    Address(IpAddr),
    /// A DNS host name (LDH labels).
    Name(String),
}

/// Parses a target string.
pub fn parse_target(field: &'static str, text: &str) -> Result<Target, InputError> {
    let not_a_target = || InputError::NotATarget {
        field,
        value: text.to_owned(),
    };
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Target::Address(ip));
    }
    if is_host_name(text) {
        Ok(Target::Name(text.trim_end_matches('.').to_ascii_lowercase()))
    } else {
        Err(not_a_target())
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 253 bytes
/// at most, not all-numeric (that would be a mistyped address).
pub fn is_host_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && !name.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit()))
}

/// Why `ip` may not be a customer's target, if it may not: the box itself, the home network
/// and anything that is not a unicast Internet address (SSRF through the agent).
pub fn forbidden_for_customer(ip: IpAddr, admin_addresses: &[IpAddr]) -> Option<&'static str> {
    let ip = canonical(ip);
    if admin_addresses.iter().any(|a| canonical(*a) == ip) {
        return Some("an administration address of the box");
    }
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        Some("a private address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is (so `::ffff:127.0.0.1` is loopback).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Checks a target for `role`: technicians may aim anywhere; for a customer every address the
/// name resolves to must be a public one (checked on the resolved addresses, so a name pointing
/// at 127.0.0.1 is refused like the address itself). Returns the addresses to use — the checks
/// must connect to these, not resolve the name again (DNS rebinding between check and use).
pub async fn check_target(
    field: &'static str,
    text: &str,
    role: Role,
    admin_addresses: &[IpAddr],
) -> Result<Vec<IpAddr>, InputError> {
    let addresses = match parse_target(field, text)? {
        Target::Address(ip) => vec![ip],
        Target::Name(name) => {
            let resolved = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
                .unwrap_or_default();
            if resolved.is_empty() {
                return Err(InputError::Unresolved { field, value: name });
            }
            resolved
        }
    };
    if role == Role::Customer {
        for &address in &addresses {
            if let Some(why) = forbidden_for_customer(address, admin_addresses) {
                return Err(InputError::ForbiddenTarget { field, address, why });
            }
        }
    }
    Ok(addresses)
}

/// A free-text identifier (a line id, a profile name): letters, digits and `extra` only, not
/// starting with `-`, at most `max` characters.
pub fn check_identifier(field: &'static str, value: &str, extra: &'static str, max: usize) -> Result<(), InputError> {
    let ok = !value.is_empty()
        && value.chars().count() <= max
        && !value.starts_with('-')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(InputError::BadIdentifier {
            field,
            value: value.to_owned(),
            extra,
            max,
        })
    }
}

/// Checks every string field of a run request before anything else reads it.
pub fn check_run_request(request: &sonde_protocol::RunRequest) -> Result<(), InputError> {
    use sonde_protocol::{CheckId, LineKind, ProblemKind};
    // Closed lists read unknown values as `Unknown` (for forward compatibility of responses);
    // in a request they are a client's mistake.
    if request.line.as_ref().is_some_and(|l| l.kind == LineKind::Unknown) {
        return Err(InputError::UnknownValue { field: "line.kind" });
    }
    if request.problem == ProblemKind::Unknown {
        return Err(InputError::UnknownValue { field: "problem" });
    }
    if request.options.checks.iter().flatten().any(|c| *c == CheckId::Unknown) {
        return Err(InputError::UnknownValue {
            field: "options.checks",
        });
    }
    if let Some(id) = request.line.as_ref().and_then(|l| l.id.as_deref()) {
        // Account ids and phone numbers (`+33 6…` is sent without spaces).
        check_identifier("line.id", id, "+._@-", 64)?;
    }
    if let Some(profile) = &request.profile {
        check_identifier("profile", profile, "-_", 32)?;
    }
    if let Some(contact) = &request.contact {
        check_phone_number(contact)?;
    }
    if let Some(action) = &request.options.action {
        // Action names are snake_case words (`reconnect_data_session`).
        check_identifier("options.action", action, "_", 64)?;
    }
    Ok(())
}

/// A phone number for the confirmation SMS: E.164, an optional `+` then 6 to 15 digits.
fn check_phone_number(number: &str) -> Result<(), InputError> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(InputError::BadPhoneNumber {
            value: number.chars().take(32).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn a_stream_pass_opens_one_run_until_it_expires() {
        let passes = StreamPasses::new().expect("random source");
        let (run, other) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let now = 1_800_000_000;
        let pass = passes.issue(run, now);
        let ttl = StreamPasses::TTL_SECONDS;
        let flipped = {
            let mut bytes = pass.clone().into_bytes();
            let last = bytes.len() - 1;
            bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
            String::from_utf8(bytes).expect("ascii")
        };
        let (expiry, tag) = pass.split_once('.').expect("two parts");
        let later_expiry = format!("{:x}.{tag}", u64::from_str_radix(expiry, 16).expect("hex") + 1);
        for (what, pass, run, at, opens) in [
            ("fresh", pass.as_str(), run, now, true),
            ("at its last second", pass.as_str(), run, now + ttl, true),
            ("expired", pass.as_str(), run, now + ttl + 1, false),
            ("another run", pass.as_str(), other, now, false),
            ("a flipped tag bit", flipped.as_str(), run, now, false),
            ("a moved expiry", later_expiry.as_str(), run, now, false),
            ("empty", "", run, now, false),
            ("no tag", expiry, run, now, false),
            ("not hex", "zz.zz", run, now, false),
        ] {
            assert_eq!(passes.verify(pass, run, at), opens, "{what}");
        }
        let restarted = StreamPasses::new().expect("random source");
        assert!(!restarted.verify(&pass, run, now), "a restart voids every pass");
    }

    #[test]
    fn tokens_are_checked_against_their_hashes() {
        let hex = |t: &str| hash_token(t).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let raw = RawApi {
            customer_tokens: Some(vec![hex("cust")]),
            technician_tokens: Some(vec![format!("sha256:{}", hex("tech"))]),
            ..RawApi::default()
        };
        let api = ApiOptions::from_raw(&raw).expect("valid");
        let peer = Some(ip("127.0.0.1"));
        assert_eq!(api.authorize(Some("Bearer cust"), peer), Ok(Role::Customer));
        assert_eq!(api.authorize(Some("bearer tech"), peer), Ok(Role::Technician));
        assert_eq!(api.authorize(Some("Bearer nope"), peer), Err(AuthError::Invalid));
        assert_eq!(api.authorize(None, peer), Err(AuthError::Missing));
        assert_eq!(api.authorize(Some("Basic dGVjaA=="), peer), Err(AuthError::Missing));

        let open = ApiOptions::default();
        assert_eq!(open.authorize(None, peer), Ok(Role::Technician));
        assert_eq!(open.authorize(None, Some(ip("::ffff:127.0.0.1"))), Ok(Role::Technician));
        assert_eq!(open.authorize(None, Some(ip("192.168.1.20"))), Err(AuthError::Closed));

        let plain = RawApi {
            technician_tokens: Some(vec!["hunter2".to_owned()]),
            ..RawApi::default()
        };
        let err = ApiOptions::from_raw(&plain).expect_err("a plain token");
        assert!(err.to_string().contains("api.technician-tokens"), "{err}");
    }

    #[test]
    fn the_host_allow_list_defeats_dns_rebinding() {
        let api = ApiOptions::from_raw(&RawApi {
            allowed_hosts: Some(vec!["Box.Home".to_owned(), "192.168.1.1".to_owned()]),
            ..RawApi::default()
        })
        .expect("valid");
        let listen: SocketAddr = "0.0.0.0:8790".parse().expect("addr");
        for host in [
            "localhost",
            "localhost:8790",
            "127.0.0.1:8790",
            "[::1]:8790",
            "box.home",
            "BOX.HOME:8790",
            "192.168.1.1",
        ] {
            assert!(api.host_allowed(host, listen), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8790",
            "0.0.0.0:8790",
            "box.home.evil.example",
            "10.0.0.1",
        ] {
            assert!(!api.host_allowed(host, listen), "{host}");
        }
        assert!(api.host_allowed("10.0.0.1:8790", "10.0.0.1:8790".parse().expect("addr")));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        let client = ip("192.0.2.7");
        for _ in 0..3 {
            assert_eq!(limiter.check(client, t0), Ok(()));
        }
        let wait = limiter.check(client, t0).expect_err("burst spent");
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO, "{wait:?}");
        assert_eq!(limiter.check(ip("192.0.2.8"), t0), Ok(()), "per client");
        assert_eq!(limiter.check(client, t0 + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn customers_may_not_aim_at_the_home_network_or_the_box() {
        let admin = [ip("203.0.113.1")];
        for target in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "0.0.0.0",
            "::",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "fe80::1",
            "fd00::1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            "203.0.113.1",
        ] {
            assert!(forbidden_for_customer(ip(target), &admin).is_some(), "{target} allowed");
        }
        for target in ["1.1.1.1", "2606:4700:4700::1111", "203.0.113.2"] {
            assert_eq!(forbidden_for_customer(ip(target), &admin), None, "{target}");
        }
    }

    #[tokio::test]
    async fn resolved_names_are_checked_too() {
        let err = check_target("target", "localhost", Role::Customer, &[])
            .await
            .expect_err("localhost resolves to loopback");
        assert!(matches!(err, InputError::ForbiddenTarget { .. }), "{err}");
        assert!(check_target("target", "localhost", Role::Technician, &[]).await.is_ok());
        assert!(check_target("target", "[::1]", Role::Customer, &[]).await.is_err());
    }

    #[test]
    fn targets_are_hosts_or_addresses_never_shell_text() {
        for good in [
            "example.com",
            "example.com.",
            "a-b.example",
            "1.1.1.1",
            "[2001:db8::1]",
            "2001:db8::1",
        ] {
            assert!(parse_target("target", good).is_ok(), "{good}");
        }
        for bad in injection_corpus() {
            assert!(parse_target("target", bad).is_err(), "{bad:?} accepted");
            assert!(check_identifier("profile", bad, "-_", 32).is_err(), "{bad:?} accepted");
            assert!(
                check_identifier("line.id", bad, "+._@-", 64).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    /// What a command-injection attempt looks like.
    pub(crate) fn injection_corpus() -> Vec<&'static str> {
        vec![
            ";id",
            "example.com;id",
            "$(id)",
            "$(reboot)",
            "`id`",
            "1.1.1.1`id`",
            "a|id",
            "| id",
            "a\nid",
            "example.com\nid",
            "-oProxyCommand=id",
            "--help",
            "-c1",
            "a && id",
            "a > /tmp/x",
            "${IFS}id",
            "../../etc/passwd",
            "",
            " ",
        ]
    }
}
