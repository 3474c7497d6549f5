//! `dns`: resolvers present; resolution and latency per configured resolver (hickory-resolver,
//! cache off, random names so nothing is answered from a cache upstream).
//!
//! Metrics: `resolvers_configured`, `resolvers_answering` (counts), `resolver_addresses` (text,
//! comma-separated), `failing_resolvers` (text, comma-separated, empty when none),
//! `queries_sent`, `queries_answered`, `latency_median_ms` (judged; over answered queries).
//!
//! An answer — records, NXDOMAIN or NODATA — means the resolver works. SERVFAIL, REFUSED,
//! timeouts and unreachable resolvers mean it fails.
//!
//! Status: `fail` when no resolver is configured (reason "no DNS resolver configured") or none
//! answers (reason "no resolver answered"); `warn` when some resolver fails while another
//! answers; otherwise the judged latency.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Evaluation, MeasureError, ProgressSink};
use crate::config::{DnsOptions, DnsThresholds};

/// The raw outcome of probing the resolvers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsSamples {
    /// Where the resolvers came from (a resolv.conf path, or `configuration`).
    pub source: String,
    /// One entry per resolver, in configuration order.
    pub resolvers: Vec<ResolverSamples>,
}

/// The queries sent to one resolver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolverSamples {
    /// The resolver's address (port 53).
    pub address: IpAddr,
    /// The queries, in send order.
    pub queries: Vec<Query>,
}

/// One query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// The name asked (random label + probe domain).
    pub name: String,
    /// What came back.
    pub outcome: DnsOutcome,
    /// Time to the answer in microseconds, when one came.
    pub latency_us: Option<u64>,
}

/// What a query got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum DnsOutcome {
    /// Records came back (count).
    Answer(usize),
    /// The name does not exist (the expected answer for a random name).
    NxDomain,
    /// The name exists without records of that type.
    NoData,
    /// The resolver answered SERVFAIL.
    ServFail,
    /// The resolver refused.
    Refused,
    /// No answer in time.
    Timeout,
    /// Could not reach the resolver (e.g. ICMP port unreachable).
    Unreachable(String),
    /// Anything else.
    Failed(String),
}

/// Parses the `nameserver` lines of a resolv.conf.
pub fn parse_resolv_conf(_text: &str) -> Vec<IpAddr> {
    Vec::new()
}

/// Probes each configured resolver.
pub async fn measure_dns(_options: &DnsOptions, _progress: &dyn ProgressSink) -> Result<DnsSamples, MeasureError> {
    Err(MeasureError::Unsupported(
        "dns measurement not implemented yet".to_owned(),
    ))
}

/// Judges a DNS measurement.
pub fn evaluate_dns(_samples: &DnsSamples, _thresholds: &DnsThresholds) -> Evaluation {
    Evaluation {
        status: sonde_protocol::CheckStatus::Error,
        reason: Some("not implemented".to_owned()),
        metrics: Vec::new(),
    }
}

/// 64 random bits without a random-number crate: std's `RandomState` is seeded per process from
/// the OS and its keys change with every instance; a counter and the clock are hashed in too.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}
