//! `dns`: resolvers present; resolution and latency per configured resolver (hickory-resolver,
//! cache off, random names so nothing is answered from a cache upstream).
//!
//! Metrics: `resolvers_configured`, `resolvers_answering` (counts), `resolver_addresses` (text,
//! comma-separated), `failing_resolvers` (text, comma-separated, empty when none),
//! `queries_sent`, `queries_answered`, `latency_median_ms` (judged; over answered queries).
//!
//! An answer — records, NXDOMAIN or NODATA — means the resolver works. SERVFAIL, REFUSED,
//! timeouts and unreachable resolvers mean it fails. A resolver counts as answering when at least
//! one of its queries got an answer, and as failing when none did.
//!
//! Status: `fail` when no resolver is configured (reason "no DNS resolver configured") or none
//! answers (reason "no resolver answered"); `warn` when some resolver fails while another
//! answers; otherwise the judged latency (the worst of the two when both apply; the reason then
//! names the failing resolvers and the latency past its limit).
//!
//! Live progress: one report per query, fraction = queries done / (resolvers × queries), with
//! `resolver` (text) and `latency_ms` (missing when no response came).
//!
//! hickory-resolver facts this relies on (0.26): `ResolverOpts::attempts` counts *retries*
//! (0 = one try); within one try, UDP retransmits the query every max(333 ms, 1.2 × smoothed
//! RTT) until the timeout; UDP sockets are unconnected, so an ICMP port unreachable is never
//! seen and a closed port is a timeout.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Threshold};

use super::gateway::percentile;
use super::past_limit;
use super::{Evaluation, MeasureError, ProgressSink, worst};
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
    /// Why it was probed. (Added after the first samples: older samples read as `system`.)
    #[serde(default)]
    pub role: Role,
    /// Whether it is the default gateway itself (the box relaying DNS).
    #[serde(default)]
    pub is_gateway: bool,
    /// The queries, in send order.
    pub queries: Vec<Query>,
}

/// Why a resolver was probed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The device's own resolver (its `resolv.conf`, or `[dns] resolvers`).
    #[default]
    System,
    /// The box, probed as a resolver although the device does not use it.
    Box,
    /// A public resolver, probed for comparison: does DNS work elsewhere?
    Public,
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

/// Parses the `nameserver` lines of a resolv.conf, in order, without duplicates.
///
/// Lines starting with `#` or `;` are comments; other keywords (`search`, `options`…) and
/// malformed `nameserver` lines are ignored. An IPv6 zone (`fe80::1%eth0`) is dropped: the
/// address is kept without it.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    let mut servers = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with(['#', ';']) {
            continue;
        }
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(address) = words.next() else { continue };
        let address = address.split_once('%').map_or(address, |(ip, _zone)| ip);
        if let Ok(ip) = address.parse::<IpAddr>()
            && !servers.contains(&ip)
        {
            servers.push(ip);
        }
    }
    servers
}

/// Probes each configured resolver: `options.resolvers` when set, else the `nameserver`s of
/// `options.resolv_conf` (an unreadable file is zero resolvers, and the source says why), on
/// port 53.
///
/// For comparison, the box (`gateway`, when given and not already a system resolver) and the
/// public resolvers of `options.public` are probed too, with their role recorded.
pub async fn measure_dns(
    options: &DnsOptions,
    gateway: Option<IpAddr>,
    progress: &dyn ProgressSink,
) -> Result<DnsSamples, MeasureError> {
    let (source, resolvers) = match &options.resolvers {
        Some(resolvers) => ("configuration".to_owned(), resolvers.clone()),
        None => match tokio::fs::read_to_string(&options.resolv_conf).await {
            Ok(text) => (options.resolv_conf.display().to_string(), parse_resolv_conf(&text)),
            Err(e) => (
                format!("{} (unreadable: {e})", options.resolv_conf.display()),
                Vec::new(),
            ),
        },
    };
    let mut roles: Vec<(IpAddr, Role)> = resolvers.into_iter().map(|ip| (ip, Role::System)).collect();
    if let Some(gateway) = gateway.filter(|g| options.probe_gateway && !roles.iter().any(|(ip, _)| ip == g)) {
        roles.push((gateway, Role::Box));
    }
    for public in &options.public {
        if !roles.iter().any(|(ip, _)| ip == public) {
            roles.push((*public, Role::Public));
        }
    }
    let servers: Vec<SocketAddr> = roles.iter().map(|(ip, _)| SocketAddr::new(*ip, DNS_PORT)).collect();
    let mut samples = measure_dns_at(&servers, source, options, progress).await?;
    for (resolver, (_, role)) in samples.resolvers.iter_mut().zip(&roles) {
        resolver.role = *role;
        resolver.is_gateway = Some(resolver.address) == gateway;
    }
    Ok(samples)
}

/// [`measure_dns`] against resolvers at explicit socket addresses (tests run their own
/// resolver on a loopback port; `measure_dns` uses port 53). `source` is recorded as is.
///
/// Resolvers are probed concurrently, each one's queries one after the other: `options.queries`
/// A queries for `<16 random [a-z0-9]>.<probe_domain>`, each with one attempt and
/// `options.timeout`. When a resolver's first two queries both time out, its remaining queries
/// are not sent, so a dead resolver costs two timeouts. Progress is reported after each query.
pub async fn measure_dns_at(
    servers: &[SocketAddr],
    source: String,
    options: &DnsOptions,
    progress: &dyn ProgressSink,
) -> Result<DnsSamples, MeasureError> {
    let queries = usize::try_from(options.queries).unwrap_or(usize::MAX);
    let tracker = Progress {
        sink: progress,
        done: AtomicUsize::new(0),
        planned: servers.len().saturating_mul(queries),
    };
    let resolvers = join_all(servers.iter().map(|server| probe_resolver(*server, options, &tracker))).await;
    Ok(DnsSamples {
        source,
        resolvers: resolvers.into_iter().collect::<Result<_, _>>()?,
    })
}

/// Judges a DNS measurement. The verdict is about the device's own (system) resolvers; the box
/// and public resolvers probed for comparison are reported alongside, so the diagnosis can tell
/// "your resolver fails, public ones work" from "DNS fails everywhere".
pub fn evaluate_dns(samples: &DnsSamples, thresholds: &DnsThresholds) -> Evaluation {
    let system: Vec<&ResolverSamples> = samples.resolvers.iter().filter(|r| r.role == Role::System).collect();
    let answering: Vec<&ResolverSamples> = system.iter().copied().filter(|r| r.answers()).collect();
    let failing: Vec<&ResolverSamples> = system.iter().copied().filter(|r| !r.answers()).collect();
    let public: Vec<&ResolverSamples> = samples.resolvers.iter().filter(|r| r.role == Role::Public).collect();
    let box_resolver = samples.resolvers.iter().find(|r| r.role == Role::Box);
    // A random name cannot exist: records for it mean the resolver invents answers.
    let hijacking: Vec<&ResolverSamples> = samples.resolvers.iter().filter(|r| r.hijacks()).collect();
    let answered_latencies = system
        .iter()
        .flat_map(|r| &r.queries)
        .filter(|q| q.outcome.is_answer())
        .filter_map(|q| q.latency_us);
    let mut latencies: Vec<f64> = answered_latencies.map(|us| us as f64 / 1000.0).collect();
    latencies.sort_by(f64::total_cmp);
    let queries = system.iter().flat_map(|r| &r.queries);
    let queries_sent = queries.clone().count();
    let queries_answered = queries.filter(|q| q.outcome.is_answer()).count();
    let addresses = |resolvers: &[&ResolverSamples]| {
        resolvers
            .iter()
            .map(|r| r.address.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let latency = Metric::judged(
        "latency_median_ms",
        percentile(&latencies, 50.0),
        Threshold::above(thresholds.latency_warn_ms, thresholds.latency_fail_ms),
    );

    let (status, reason) = if system.is_empty() {
        (CheckStatus::Fail, Some("no DNS resolver configured".to_owned()))
    } else if answering.is_empty() {
        (CheckStatus::Fail, Some("no resolver answered".to_owned()))
    } else {
        let failures = failing
            .iter()
            .map(|r| format!("resolver {} failing ({})", r.address, r.summary()));
        let hijacks = hijacking
            .iter()
            .map(|r| format!("resolver {} answers names that do not exist", r.address));
        let reasons: Vec<String> = failures.chain(hijacks).chain(past_limit(&latency)).collect();
        let failing_status = (!failing.is_empty() || !hijacking.is_empty()).then_some(CheckStatus::Warn);
        let status = worst(failing_status.into_iter().chain(latency.status));
        (status, (!reasons.is_empty()).then(|| reasons.join("; ")))
    };
    Evaluation {
        status,
        reason,
        metrics: vec![
            Metric::new("resolvers_configured", system.len()),
            Metric::new("resolvers_answering", answering.len()),
            Metric::new("resolver_addresses", addresses(&system)),
            Metric::new("failing_resolvers", addresses(&failing)),
            Metric::new("queries_sent", queries_sent),
            Metric::new("queries_answered", queries_answered),
            latency,
            Metric::new("public_resolvers", public.len()),
            Metric::new("public_answering", public.iter().filter(|r| r.answers()).count()),
            Metric::new("box_resolver_answering", box_resolver.map(ResolverSamples::answers)),
            Metric::new("hijacking_resolvers", addresses(&hijacking)),
        ],
    }
}

impl ResolverSamples {
    /// Whether this resolver answered a random (non-existent) name with records: NXDOMAIN
    /// hijacking.
    pub fn hijacks(&self) -> bool {
        self.queries
            .iter()
            .any(|q| matches!(q.outcome, DnsOutcome::Answer(n) if n > 0))
    }

    /// Whether this resolver answered at least one query (records, NXDOMAIN or NODATA). One
    /// that answered none is failing.
    pub fn answers(&self) -> bool {
        self.queries.iter().any(|q| q.outcome.is_answer())
    }

    /// "2 timeout, 1 servfail": what its queries got, most frequent first.
    fn summary(&self) -> String {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for query in &self.queries {
            let label = query.outcome.label();
            match counts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
        if counts.is_empty() {
            return "no query sent".to_owned();
        }
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        counts
            .iter()
            .map(|(label, n)| format!("{n} {label}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl DnsOutcome {
    /// Records, NXDOMAIN or NODATA: the resolver did its job.
    pub fn is_answer(&self) -> bool {
        matches!(self, DnsOutcome::Answer(_) | DnsOutcome::NxDomain | DnsOutcome::NoData)
    }

    /// A short name for this kind of outcome.
    pub fn label(&self) -> &'static str {
        match self {
            DnsOutcome::Answer(_) => "answer",
            DnsOutcome::NxDomain => "nxdomain",
            DnsOutcome::NoData => "nodata",
            DnsOutcome::ServFail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Unreachable(_) => "unreachable",
            DnsOutcome::Failed(_) => "failed",
        }
    }

    /// Whether a response came back from the resolver (so the query has a latency).
    fn is_response(&self) -> bool {
        self.is_answer() || matches!(self, DnsOutcome::ServFail | DnsOutcome::Refused)
    }
}

/// The port resolvers listen on.
const DNS_PORT: u16 = 53;

/// Counts queries done across the concurrently probed resolvers.
struct Progress<'a> {
    sink: &'a dyn ProgressSink,
    done: AtomicUsize,
    planned: usize,
}

impl Progress<'_> {
    /// `count` more queries are done (sent, or given up without sending).
    fn advance(&self, count: usize, metrics: Vec<Metric>) {
        let done = self.done.fetch_add(count, Ordering::Relaxed) + count;
        let fraction = if self.planned == 0 {
            1.0
        } else {
            (done as f64 / self.planned as f64).min(1.0)
        };
        self.sink.report(fraction, metrics);
    }
}

async fn probe_resolver(
    server: SocketAddr,
    options: &DnsOptions,
    progress: &Progress<'_>,
) -> Result<ResolverSamples, MeasureError> {
    let resolver = resolver_for(server, options.timeout)?;
    let planned = usize::try_from(options.queries).unwrap_or(usize::MAX);
    let domain = options.probe_domain.trim_end_matches('.');
    let mut queries: Vec<Query> = Vec::with_capacity(planned);
    for sent in 1..=planned {
        let name = format!("{}.{domain}", random_label());
        let started = Instant::now();
        // The trailing dot makes the name absolute: no search domain is appended.
        let result = resolver.ipv4_lookup(format!("{name}.")).await;
        let elapsed = started.elapsed();
        let outcome = dns_outcome(result);
        let latency_us = outcome
            .is_response()
            .then(|| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        let live = vec![
            Metric::new("resolver", server.ip().to_string()),
            Metric::new("latency_ms", latency_us.map(|us| us as f64 / 1000.0)),
        ];
        queries.push(Query {
            name,
            outcome,
            latency_us,
        });
        let dead = sent == 2 && queries.iter().all(|q| q.outcome == DnsOutcome::Timeout);
        // A resolver whose first two queries timed out is not asked again: the rest count as
        // done for progress, and are not recorded.
        progress.advance(if dead { planned - sent + 1 } else { 1 }, live);
        if dead {
            break;
        }
    }
    Ok(ResolverSamples {
        address: server.ip(),
        role: Role::System,
        is_gateway: false,
        queries,
    })
}

/// A resolver that asks only `server`, over UDP, once per query (hickory counts *retries* in
/// `attempts`: 0 means a single try), without cache or hosts file.
fn resolver_for(server: SocketAddr, timeout: Duration) -> Result<TokioResolver, MeasureError> {
    let mut name_server = NameServerConfig::udp(server.ip());
    for connection in &mut name_server.connections {
        connection.port = server.port();
    }
    let config = ResolverConfig::from_name_servers(vec![name_server]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    let opts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 0;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.num_concurrent_reqs = 1;
    opts.try_tcp_on_error = false;
    builder.build().map_err(|e| MeasureError::Io {
        context: format!("building a resolver for {server}"),
        source: io::Error::other(e),
    })
}

/// The one place hickory's results become outcomes.
fn dns_outcome(result: Result<Lookup, NetError>) -> DnsOutcome {
    match result {
        Ok(lookup) => DnsOutcome::Answer(lookup.answers().len()),
        Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
            if no_records.response_code == ResponseCode::NXDomain {
                DnsOutcome::NxDomain
            } else {
                DnsOutcome::NoData
            }
        }
        Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))) => DnsOutcome::ServFail,
        Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused))) => DnsOutcome::Refused,
        Err(NetError::Timeout) => DnsOutcome::Timeout,
        Err(NetError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => DnsOutcome::Timeout,
        Err(NetError::Io(e)) => DnsOutcome::Unreachable(e.to_string()),
        Err(NetError::NoConnections) => DnsOutcome::Unreachable("no connection to the resolver".to_owned()),
        Err(e) => DnsOutcome::Failed(e.to_string()),
    }
}

/// 16 random characters from `[a-z0-9]`.
fn random_label() -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // 36^8 < 2^64: each u64 gives 8 characters.
    let mut label = String::with_capacity(16);
    for _ in 0..2 {
        let mut bits = random_u64();
        for _ in 0..8 {
            // The remainder is below 36, a valid index.
            label.push(char::from(ALPHABET[(bits % 36) as usize]));
            bits /= 36;
        }
    }
    label
}

/// 64 random bits without a random-number crate: std's `RandomState` is seeded per process from
/// the OS and its keys change with every instance; a counter and the clock are hashed in too.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use hickory_resolver::net::NoRecords;
    use hickory_resolver::proto::op::Query as DnsQuery;
    use sonde_protocol::MetricValue;
    use tokio::net::UdpSocket;
    use tokio::task::JoinHandle;

    use super::*;

    const RESOLV_CONF: &str = "\
# Generated by NetworkManager
search home.lan example.org
options edns0 trust-ad timeout:2
nameserver 192.168.1.1
; a comment in the other style
  # an indented comment: nameserver 10.9.9.9
nameserver    2a01:cb00::53   # trailing words are ignored
nameserver fe80::1%wlan0
nameserver not-an-address
nameserver
nameserver 192.168.1.1
nameservers 10.0.0.1
domain home.lan
nameserver 9.9.9.9
";

    #[test]
    fn parse_resolv_conf_keeps_nameservers_in_order() {
        let expected: Vec<IpAddr> = ["192.168.1.1", "2a01:cb00::53", "fe80::1", "9.9.9.9"]
            .iter()
            .map(|a| a.parse().expect("test address"))
            .collect();
        assert_eq!(parse_resolv_conf(RESOLV_CONF), expected);
        assert!(parse_resolv_conf("").is_empty());
        assert!(parse_resolv_conf("search lan\noptions ndots:2\n").is_empty());
        assert_eq!(
            parse_resolv_conf("nameserver 127.0.0.53\r\n"),
            vec![IpAddr::from([127, 0, 0, 53])]
        );
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn resolver(address: &str, outcomes: &[(DnsOutcome, Option<f64>)]) -> ResolverSamples {
        ResolverSamples {
            address: ip(address),
            role: Role::System,
            is_gateway: false,
            queries: outcomes
                .iter()
                .enumerate()
                .map(|(i, (outcome, latency_ms))| Query {
                    name: format!("q{i}.example.com"),
                    outcome: outcome.clone(),
                    latency_us: latency_ms.map(|ms| (ms * 1000.0).round() as u64),
                })
                .collect(),
        }
    }

    fn nx(ms: f64) -> (DnsOutcome, Option<f64>) {
        (DnsOutcome::NxDomain, Some(ms))
    }

    fn timeout() -> (DnsOutcome, Option<f64>) {
        (DnsOutcome::Timeout, None)
    }

    struct Case {
        name: &'static str,
        resolvers: Vec<ResolverSamples>,
        status: CheckStatus,
        reason: Option<&'static str>,
        answering: f64,
        failing: &'static str,
        median: Option<f64>,
    }

    #[test]
    fn evaluate_dns_table() {
        let cases = [
            Case {
                name: "no resolver",
                resolvers: vec![],
                status: CheckStatus::Fail,
                reason: Some("no DNS resolver configured"),
                answering: 0.0,
                failing: "",
                median: None,
            },
            Case {
                name: "all NXDOMAIN is the expected answer",
                resolvers: vec![resolver("192.168.1.1", &[nx(10.0), nx(30.0), nx(20.0)])],
                status: CheckStatus::Pass,
                reason: None,
                answering: 1.0,
                failing: "",
                median: Some(20.0),
            },
            Case {
                name: "records for a random name: it answers, but hijacks NXDOMAIN",
                resolvers: vec![resolver(
                    "192.168.1.1",
                    &[(DnsOutcome::Answer(1), Some(5.0)), (DnsOutcome::NoData, Some(7.0))],
                )],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.1 answers names that do not exist"),
                answering: 1.0,
                failing: "",
                median: Some(6.0),
            },
            Case {
                name: "one resolver dead, another answering",
                resolvers: vec![
                    resolver("192.168.1.1", &[timeout(), timeout()]),
                    resolver("9.9.9.9", &[nx(15.0), nx(15.0), nx(15.0)]),
                ],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.1 failing (2 timeout)"),
                answering: 1.0,
                failing: "192.168.1.1",
                median: Some(15.0),
            },
            Case {
                name: "SERVFAIL and REFUSED are failures, and their latency is not counted",
                resolvers: vec![
                    resolver(
                        "192.168.1.1",
                        &[
                            (DnsOutcome::ServFail, Some(900.0)),
                            (DnsOutcome::ServFail, Some(900.0)),
                            (DnsOutcome::Refused, Some(900.0)),
                        ],
                    ),
                    resolver("2a01:cb00::53", &[nx(12.0)]),
                ],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.1 failing (2 servfail, 1 refused)"),
                answering: 1.0,
                failing: "192.168.1.1",
                median: Some(12.0),
            },
            Case {
                name: "nothing answers",
                resolvers: vec![
                    resolver("192.168.1.1", &[timeout(), timeout()]),
                    resolver(
                        "9.9.9.9",
                        &[(DnsOutcome::Unreachable("network unreachable".to_owned()), None)],
                    ),
                ],
                status: CheckStatus::Fail,
                reason: Some("no resolver answered"),
                answering: 0.0,
                failing: "192.168.1.1,9.9.9.9",
                median: None,
            },
            Case {
                name: "a resolver that answers some queries is answering",
                resolvers: vec![resolver("192.168.1.1", &[timeout(), nx(40.0), nx(60.0)])],
                status: CheckStatus::Pass,
                reason: None,
                answering: 1.0,
                failing: "",
                median: Some(50.0),
            },
            Case {
                name: "slow: warn at 400 ms",
                resolvers: vec![resolver("192.168.1.1", &[nx(400.0), nx(420.0), nx(100.0)])],
                status: CheckStatus::Warn,
                reason: Some("latency_median_ms 400 ≥ 400 (warn)"),
                answering: 1.0,
                failing: "",
                median: Some(400.0),
            },
            Case {
                name: "very slow and a resolver failing: the worst wins",
                resolvers: vec![
                    resolver("192.168.1.1", &[nx(700.0)]),
                    resolver("9.9.9.9", &[timeout(), timeout()]),
                ],
                status: CheckStatus::Fail,
                reason: Some("resolver 9.9.9.9 failing (2 timeout); latency_median_ms 700 ≥ 500 (fail)"),
                answering: 1.0,
                failing: "9.9.9.9",
                median: Some(700.0),
            },
        ];
        for case in cases {
            let samples = DnsSamples {
                source: "/etc/resolv.conf".to_owned(),
                resolvers: case.resolvers,
            };
            let evaluation = evaluate_dns(&samples, &DnsThresholds::default());
            let name = case.name;
            let metric = |metric: &str| {
                evaluation
                    .metrics
                    .iter()
                    .find(|m| m.name == metric)
                    .unwrap_or_else(|| panic!("{name}: {metric} missing"))
            };
            assert_eq!(evaluation.status, case.status, "{name}");
            assert_eq!(evaluation.reason.as_deref(), case.reason, "{name}");
            assert_eq!(
                metric("resolvers_configured").value,
                MetricValue::from(samples.resolvers.len()),
                "{name}"
            );
            assert_eq!(
                metric("resolvers_answering").value,
                MetricValue::Number(case.answering),
                "{name}"
            );
            assert_eq!(
                metric("failing_resolvers").value,
                MetricValue::from(case.failing),
                "{name}"
            );
            assert_eq!(
                metric("latency_median_ms").value,
                MetricValue::from(case.median),
                "{name}"
            );
        }
    }

    #[test]
    fn evaluate_dns_reports_the_contract_metrics() {
        let samples = DnsSamples {
            source: "configuration".to_owned(),
            resolvers: vec![
                resolver("192.168.1.1", &[nx(10.0), timeout(), nx(30.0)]),
                resolver("2a01:cb00::53", &[nx(20.0)]),
            ],
        };
        let evaluation = evaluate_dns(&samples, &DnsThresholds::default());
        let names: Vec<&str> = evaluation.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "resolvers_configured",
                "resolvers_answering",
                "resolver_addresses",
                "failing_resolvers",
                "queries_sent",
                "queries_answered",
                "latency_median_ms",
                "public_resolvers",
                "public_answering",
                "box_resolver_answering",
                "hijacking_resolvers"
            ]
        );
        let value = |name: &str| {
            evaluation
                .metrics
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.value.clone())
        };
        assert_eq!(value("resolver_addresses"), Some("192.168.1.1,2a01:cb00::53".into()));
        assert_eq!(value("queries_sent"), Some(MetricValue::Number(4.0)));
        assert_eq!(value("queries_answered"), Some(MetricValue::Number(3.0)));
        assert_eq!(value("latency_median_ms"), Some(MetricValue::Number(20.0)));
        let latency = evaluation
            .metrics
            .iter()
            .find(|m| m.name == "latency_median_ms")
            .expect("latency metric");
        assert_eq!(latency.threshold, Some(Threshold::above(400.0, 500.0)));
        assert_eq!(latency.status, Some(CheckStatus::Pass));
    }

    #[test]
    fn hickory_errors_map_to_outcomes() {
        let no_records = |code| Err(NetError::from(NoRecords::new(DnsQuery::default(), code)));
        assert_eq!(dns_outcome(no_records(ResponseCode::NXDomain)), DnsOutcome::NxDomain);
        assert_eq!(dns_outcome(no_records(ResponseCode::NoError)), DnsOutcome::NoData);
        let code = |code| Err(NetError::Dns(DnsError::ResponseCode(code)));
        assert_eq!(dns_outcome(code(ResponseCode::ServFail)), DnsOutcome::ServFail);
        assert_eq!(dns_outcome(code(ResponseCode::Refused)), DnsOutcome::Refused);
        assert!(matches!(
            dns_outcome(code(ResponseCode::FormErr)),
            DnsOutcome::Failed(_)
        ));
        assert_eq!(dns_outcome(Err(NetError::Timeout)), DnsOutcome::Timeout);
        let io_error = |kind| Err(NetError::Io(Arc::new(io::Error::from(kind))));
        assert_eq!(dns_outcome(io_error(io::ErrorKind::TimedOut)), DnsOutcome::Timeout);
        assert!(matches!(
            dns_outcome(io_error(io::ErrorKind::ConnectionRefused)),
            DnsOutcome::Unreachable(_)
        ));
        assert!(matches!(
            dns_outcome(Err(NetError::NoConnections)),
            DnsOutcome::Unreachable(_)
        ));
        assert!(matches!(
            dns_outcome(Err(NetError::Msg("odd".to_owned()))),
            DnsOutcome::Failed(text) if text == "odd"
        ));
    }

    #[test]
    fn random_labels_are_16_lowercase_alphanumerics_and_differ() {
        let labels: Vec<String> = (0..100).map(|_| random_label()).collect();
        for label in &labels {
            assert_eq!(label.len(), 16, "{label}");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{label}"
            );
        }
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), labels.len());
    }

    fn options(queries: u32, timeout_ms: u64) -> DnsOptions {
        DnsOptions {
            resolv_conf: PathBuf::from("/nonexistent/sonde-test/resolv.conf"),
            resolvers: None,
            probe_domain: "example.com.".to_owned(),
            queries,
            timeout: Duration::from_millis(timeout_ms),
            public: Vec::new(),
            probe_gateway: false,
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<f64>>);

    impl ProgressSink for Recorder {
        fn report(&self, fraction: f64, _metrics: Vec<Metric>) {
            if let Ok(mut fractions) = self.0.lock() {
                fractions.push(fraction);
            }
        }
    }

    #[tokio::test]
    async fn an_unreadable_resolv_conf_is_zero_resolvers_not_an_error() {
        let samples = measure_dns(&options(3, 100), None, &Recorder::default())
            .await
            .expect("not an error");
        assert!(samples.resolvers.is_empty());
        assert!(samples.source.starts_with("/nonexistent/sonde-test/resolv.conf"));
        assert!(samples.source.contains("unreadable"), "{}", samples.source);
        let evaluation = evaluate_dns(&samples, &DnsThresholds::default());
        assert_eq!(evaluation.reason.as_deref(), Some("no DNS resolver configured"));

        let mut configured = options(3, 100);
        configured.resolvers = Some(Vec::new());
        let samples = measure_dns(&configured, None, &Recorder::default())
            .await
            .expect("not an error");
        assert_eq!(samples.source, "configuration");
        assert!(samples.resolvers.is_empty());
    }

    #[tokio::test]
    async fn resolvers_come_from_the_resolv_conf_file() {
        let dir = std::env::temp_dir().join(format!("sonde-dns-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("resolv.conf");
        // No nameserver line: nothing is sent anywhere.
        std::fs::write(&path, "search lan\noptions ndots:1\n").expect("write resolv.conf");
        let mut from_file = options(3, 100);
        from_file.resolv_conf = path.clone();
        let samples = measure_dns(&from_file, None, &Recorder::default())
            .await
            .expect("not an error");
        assert_eq!(samples.source, path.display().to_string());
        assert!(samples.resolvers.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// How a test resolver on loopback behaves.
    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Answers with this RCODE and, when `answer`, one A record.
        Reply { rcode: u8, answer: bool },
        /// Reads queries and never answers.
        Silent,
    }

    /// A resolver on 127.0.0.1:<random port>. Counts the datagrams it receives.
    async fn test_resolver(behaviour: Behaviour) -> (SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind test resolver");
        let address = socket.local_addr().expect("local address");
        let received = Arc::new(AtomicUsize::new(0));
        let counter = received.clone();
        let task = tokio::spawn(async move {
            let mut buffer = [0u8; 1500];
            while let Ok((len, peer)) = socket.recv_from(&mut buffer).await {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Behaviour::Reply { rcode, answer } = behaviour
                    && let Some(response) = response_to(&buffer[..len], rcode, answer)
                {
                    let _ = socket.send_to(&response, peer).await;
                }
            }
        });
        (address, received, task)
    }

    /// A hand-made response: the query's id and question, QR and RA set, RD copied, `rcode`,
    /// and one A record (192.0.2.1) when `answer`.
    fn response_to(query: &[u8], rcode: u8, answer: bool) -> Option<Vec<u8>> {
        let mut end = 12;
        loop {
            let len = usize::from(*query.get(end)?);
            end += 1;
            if len == 0 {
                break;
            }
            end += len;
        }
        end += 4; // QTYPE and QCLASS
        let question = query.get(12..end)?;
        let mut response = Vec::with_capacity(end + 16);
        response.extend_from_slice(query.get(0..2)?); // id
        response.push(0x80 | (query.get(2)? & 0x79)); // QR, opcode and RD of the query
        response.push(0x80 | rcode); // RA
        response.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
        response.extend_from_slice(question);
        if answer {
            // Name: pointer to the question; A, IN, TTL 60, 4 bytes.
            response.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        }
        Some(response)
    }

    /// A loopback port with nothing listening.
    async fn closed_port() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.local_addr().expect("local address")
    }

    #[tokio::test]
    async fn measure_dns_at_against_loopback_resolvers() {
        let (nxdomain, _, nx_task) = test_resolver(Behaviour::Reply {
            rcode: 3,
            answer: false,
        })
        .await;
        let (records, _, records_task) = test_resolver(Behaviour::Reply { rcode: 0, answer: true }).await;
        let (nodata, _, nodata_task) = test_resolver(Behaviour::Reply {
            rcode: 0,
            answer: false,
        })
        .await;
        let (servfail, _, servfail_task) = test_resolver(Behaviour::Reply {
            rcode: 2,
            answer: false,
        })
        .await;
        let (refused, _, refused_task) = test_resolver(Behaviour::Reply {
            rcode: 5,
            answer: false,
        })
        .await;
        let (silent, silent_received, silent_task) = test_resolver(Behaviour::Silent).await;
        let closed = closed_port().await;
        let servers = [nxdomain, records, nodata, servfail, refused, silent, closed];

        let timeout_ms = 300;
        let recorder = Recorder::default();
        let started = Instant::now();
        let samples = measure_dns_at(&servers, "test".to_owned(), &options(3, timeout_ms), &recorder)
            .await
            .expect("measured");
        let elapsed = started.elapsed();
        for task in [
            nx_task,
            records_task,
            nodata_task,
            servfail_task,
            refused_task,
            silent_task,
        ] {
            task.abort();
        }

        // Resolvers run concurrently and a silent one stops after two timeouts: about 2 × 300 ms
        // in all, where one after the other would take over 2 s.
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
        assert_eq!(samples.source, "test");
        assert_eq!(samples.resolvers.len(), servers.len());
        let outcomes = |i: usize| {
            samples.resolvers[i]
                .queries
                .iter()
                .map(|q| q.outcome.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(outcomes(0), vec![DnsOutcome::NxDomain; 3]);
        assert_eq!(outcomes(1), vec![DnsOutcome::Answer(1); 3]);
        assert_eq!(outcomes(2), vec![DnsOutcome::NoData; 3]);
        assert_eq!(outcomes(3), vec![DnsOutcome::ServFail; 3]);
        assert_eq!(outcomes(4), vec![DnsOutcome::Refused; 3]);
        assert_eq!(outcomes(5), vec![DnsOutcome::Timeout; 2], "the third query is skipped");
        // Nothing listens: the kernel answers ICMP port unreachable, which an unconnected UDP
        // socket (hickory's) never sees, so this is a timeout too.
        let closed_outcomes = outcomes(6);
        assert_eq!(closed_outcomes.len(), 2, "{closed_outcomes:?}");
        assert!(
            closed_outcomes
                .iter()
                .all(|o| matches!(o, DnsOutcome::Timeout | DnsOutcome::Unreachable(_))),
            "{closed_outcomes:?}"
        );
        // One attempt per query, and the timeout (300 ms) is below hickory's first UDP
        // retransmission (333 ms): the silent resolver saw exactly one datagram per query.
        assert_eq!(silent_received.load(Ordering::SeqCst), 2);

        for resolver in &samples.resolvers[..5] {
            assert_eq!(resolver.address, IpAddr::from([127, 0, 0, 1]));
            for query in &resolver.queries {
                let latency = query.latency_us.unwrap_or_else(|| panic!("no latency: {query:?}"));
                assert!(latency > 0 && latency < timeout_ms * 1000, "{query:?}");
                let (label, domain) = query.name.split_once('.').unwrap_or_default();
                assert_eq!(domain, "example.com", "{query:?}");
                assert_eq!(label.len(), 16, "{query:?}");
            }
        }
        assert!(samples.resolvers[5].queries.iter().all(|q| q.latency_us.is_none()));

        let fractions = recorder.0.lock().map(|f| f.clone()).unwrap_or_default();
        assert_eq!(fractions.len(), 5 * 3 + 2 + 2, "one report per query sent");
        assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
        assert_eq!(fractions.last().copied(), Some(1.0));

        let evaluation = evaluate_dns(&samples, &DnsThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Warn, "{evaluation:?}");
        let failing = evaluation
            .metrics
            .iter()
            .find(|m| m.name == "failing_resolvers")
            .map(|m| m.value.clone());
        assert_eq!(
            failing,
            Some(MetricValue::from("127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1"))
        );
    }
}

#[cfg(test)]
mod comparison_tests {
    use super::*;

    fn resolver(address: &str, role: Role, outcome: DnsOutcome) -> ResolverSamples {
        let query = Query {
            name: "x.example.com".into(),
            outcome,
            latency_us: Some(10_000),
        };
        ResolverSamples {
            address: address.parse().expect("ip"),
            role,
            is_gateway: false,
            queries: vec![query],
        }
    }

    fn metric(e: &Evaluation, name: &str) -> MetricValueOwned {
        e.metrics.iter().find(|m| m.name == name).map(|m| m.value.clone())
    }

    type MetricValueOwned = Option<sonde_protocol::MetricValue>;

    #[test]
    fn comparison_resolvers_do_not_change_the_verdict_but_are_reported() {
        let samples = DnsSamples {
            source: "test".into(),
            resolvers: vec![
                resolver("192.0.2.1", Role::System, DnsOutcome::Timeout),
                resolver("203.0.113.53", Role::Public, DnsOutcome::NxDomain),
            ],
        };
        let e = evaluate_dns(&samples, &DnsThresholds::default());
        assert_eq!(e.status, CheckStatus::Fail, "the device's own resolver fails");
        assert_eq!(metric(&e, "resolvers_configured").and_then(|v| v.as_f64()), Some(1.0));
        assert_eq!(metric(&e, "public_answering").and_then(|v| v.as_f64()), Some(1.0));
        assert_eq!(
            metric(&e, "box_resolver_answering"),
            Some(sonde_protocol::MetricValue::Missing)
        );
    }

    #[test]
    fn a_hijacking_public_resolver_is_reported_without_failing_the_system_one() {
        let samples = DnsSamples {
            source: "test".into(),
            resolvers: vec![
                resolver("192.0.2.1", Role::System, DnsOutcome::Answer(1)),
                resolver("203.0.113.53", Role::Public, DnsOutcome::NxDomain),
            ],
        };
        let e = evaluate_dns(&samples, &DnsThresholds::default());
        assert_eq!(e.status, CheckStatus::Warn);
        assert_eq!(
            metric(&e, "hijacking_resolvers").and_then(|v| v.as_str().map(str::to_owned)),
            Some("192.0.2.1".into())
        );
    }
}
