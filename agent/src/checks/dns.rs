//! `dns`: resolvers present; resolution and latency per configured resolver (hickory-proto
//! messages over the prober's own UDP socket, no cache, random names so nothing is answered
//! from a cache upstream), for A and AAAA.
//!
//! Metrics: `resolvers_configured`, `resolvers_answering` (counts), `resolver_addresses` (text,
//! comma-separated), `failing_resolvers` (text, comma-separated, empty when none),
//! `queries_sent`, `queries_answered`, `latency_median_ms` (judged; over answered A queries),
//! then the comparison resolvers' and hijack metrics, then the AAAA ones: `aaaa_queries_sent`,
//! `aaaa_queries_answered`, `aaaa_latency_median_ms` (evidence, over answered random AAAA
//! queries), `aaaa_failing_resolvers` (text: resolvers that answer A and none of their AAAA
//! queries), `aaaa_records_missing` (text: resolvers that answer the known `aaaa-name` without
//! AAAA records; empty when none or no name is configured).
//!
//! An answer — records, NXDOMAIN or NODATA — means the resolver works. SERVFAIL, REFUSED,
//! timeouts and unreachable resolvers mean it fails. A resolver counts as answering when at least
//! one of its A queries got an answer, and as failing when none did. One that answers A but
//! none of its AAAA queries is a box bug of its own: browsers ask A and AAAA together and wait
//! for both (Happy Eyeballs), so every new site stalls for the AAAA timeout.
//!
//! Status: `fail` when no resolver is configured (reason "no DNS resolver configured") or none
//! answers (reason "no resolver answered"); `warn` when some resolver fails while another
//! answers, hijacks NXDOMAIN, fails AAAA or returns no AAAA record for the known name;
//! otherwise the judged latency (the worst of these when several apply; the reason then names
//! each).
//!
//! Live progress: one report per query, fraction = queries done / queries planned, with
//! `resolver` (text), `type` (`A` or `AAAA`) and `latency_ms` (missing when no response came).
//!
//! Why not hickory-resolver's lookups: each built a new UDP socket and crossed several tasks,
//! adding ~0.12 ms (measured against a plain socket, `bench/dns.sh`), and its unconnected
//! sockets never see an ICMP port unreachable, so a closed port read as a timeout.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hickory_resolver::proto::op::{Edns, Message, MessageType, Query as DnsQuestion, ResponseCode};
use hickory_resolver::proto::rr::{Name, RecordType};
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
    /// The name asked (random label + probe domain, or the known `aaaa-name`).
    pub name: String,
    /// The record type asked. (Added with AAAA probing: older samples read as `A`.)
    #[serde(default)]
    pub record_type: RecordKind,
    /// Whether `name` is the configured known name rather than a random one, so records are
    /// expected. (Added with AAAA probing: older samples read as `false`.)
    #[serde(default)]
    pub known_name: bool,
    /// What came back.
    pub outcome: DnsOutcome,
    /// Time to the answer in microseconds, when one came.
    pub latency_us: Option<u64>,
}

/// The record types the check asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// IPv4 addresses.
    #[default]
    A,
    /// IPv6 addresses.
    #[serde(rename = "AAAA")]
    Aaaa,
}

impl RecordKind {
    /// `A` or `AAAA`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Aaaa => "AAAA",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
/// Resolvers are probed concurrently. Each gets two series of queries, run side by side as a
/// device's stub resolver asks A and AAAA together: `options.queries` A queries, and as many
/// AAAA queries (then one AAAA query for `options.aaaa_name` when set), each for its own
/// `<16 random [a-z0-9]>.<probe_domain>`, with one attempt and `options.timeout`. The queries
/// of a series go one after the other; when a series' first two queries both time out, the
/// rest of it is not sent, so a dead resolver costs two timeouts. Progress is reported after
/// each query.
pub async fn measure_dns_at(
    servers: &[SocketAddr],
    source: String,
    options: &DnsOptions,
    progress: &dyn ProgressSink,
) -> Result<DnsSamples, MeasureError> {
    let queries = usize::try_from(options.queries).unwrap_or(usize::MAX);
    let per_resolver = queries
        .saturating_mul(2)
        .saturating_add(usize::from(options.aaaa_name.is_some()));
    let tracker = Progress {
        sink: progress,
        done: AtomicUsize::new(0),
        planned: servers.len().saturating_mul(per_resolver),
    };
    let resolvers = join_all(servers.iter().map(|server| probe_resolver(*server, options, &tracker))).await;
    Ok(DnsSamples {
        source,
        resolvers: resolvers.into_iter().collect::<Result<_, _>>()?,
    })
}

/// Checks that `name` can be asked as it is written (`sonde dns` validates its argument with
/// this): a DNS name of at most 253 characters, without empty labels, each label at most 63
/// characters. A trailing dot is allowed. The error says what is wrong.
pub fn check_query_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if bare.len() > 253 {
        return Err(format!("the name is {} characters long (at most 253)", bare.len()));
    }
    if let Some(label) = bare.split('.').find(|l| l.is_empty() || l.len() > 63) {
        return Err(if label.is_empty() {
            "the name has an empty label (two dots in a row, or a leading dot)".to_owned()
        } else {
            format!("the label `{label}` is longer than 63 characters")
        });
    }
    if bare.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("the name contains spaces or control characters".to_owned());
    }
    Name::from_utf8(bare).map(|_| ()).map_err(|e| e.to_string())
}

/// Sends queries to one resolver exactly as the `dns` check does — the check and `sonde dns`
/// share it, so what the CLI measures is what the check measures.
///
/// Messages are built and read with hickory-proto; the exchange is this prober's own: one UDP
/// socket, connected to the resolver (so an ICMP port or host unreachable is seen, not waited
/// out), made once and reused for every query, and read by a blocking thread. The clock is read
/// just before the query is sent and just after the answer is received, on that thread, so the
/// async runtime's scheduling (a wake-up handed from one worker to another costs ~0.1 ms) is not
/// in the figure. One attempt per query, no cache, no search domain (names are absolute).
/// Queries on one prober are serialised; run concurrent series on separate probers.
pub struct DnsProber {
    server: SocketAddr,
    timeout: Duration,
    /// The connected socket, or why there is none (every query then reports it).
    socket: Arc<Mutex<Result<std::net::UdpSocket, String>>>,
}

impl std::fmt::Debug for DnsProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsProber")
            .field("server", &self.server)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DnsProber {
    /// A prober asking only `server`, each query waiting up to `timeout`. A socket that cannot
    /// be made or connected (no IPv6 route…) is not an error here: each query's outcome is then
    /// `unreachable` with the reason, a measurement like any other.
    pub fn new(server: SocketAddr, timeout: Duration) -> Self {
        let local: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = std::net::UdpSocket::bind(local)
            .and_then(|socket| socket.connect(server).map(|()| socket))
            .map_err(|e| e.to_string());
        Self {
            server,
            timeout,
            socket: Arc::new(Mutex::new(socket)),
        }
    }

    /// The resolver asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Asks for `record_type` records of `name` (a trailing dot is optional: the name is always
    /// taken as absolute) and times the answer. A name that does not parse is a `failed` outcome.
    pub async fn query(&self, name: &str, record_type: RecordKind) -> Query {
        let name = name.trim_end_matches('.');
        let dns_type = match record_type {
            RecordKind::A => RecordType::A,
            RecordKind::Aaaa => RecordType::AAAA,
        };
        let (outcome, latency) = match query_message(name, dns_type) {
            Err(reason) => (DnsOutcome::Failed(reason), None),
            Ok(message) => {
                let socket = self.socket.clone();
                let timeout = self.timeout;
                tokio::task::spawn_blocking(move || match socket.lock() {
                    Ok(socket) => match socket.as_ref() {
                        Ok(socket) => exchange(socket, &message, timeout),
                        Err(reason) => (DnsOutcome::Unreachable(reason.clone()), None),
                    },
                    Err(_) => (DnsOutcome::Failed("socket lock poisoned".to_owned()), None),
                })
                .await
                .unwrap_or_else(|e| (DnsOutcome::Failed(format!("query thread: {e}")), None))
            }
        };
        Query {
            name: name.to_owned(),
            record_type,
            known_name: false,
            latency_us: latency.map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)),
            outcome,
        }
    }
}

/// A recursive query for `name` (taken as absolute, trailing dot or not), with a random id and
/// EDNS (1232-byte payload).
fn query_message(name: &str, record_type: RecordType) -> Result<Message, String> {
    let name = name.trim_end_matches('.');
    let name = Name::from_utf8(format!("{name}.")).map_err(|e| format!("`{name}`: {e}"))?;
    let mut message = Message::query();
    // Truncation to 16 bits is the point: any 16 random bits make an id.
    message.metadata.id = random_u64() as u16;
    message.metadata.recursion_desired = true;
    message.add_query(DnsQuestion::query(name, record_type));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    message.set_edns(edns);
    Ok(message)
}

/// Sends `query` on the connected `socket` and waits up to `timeout` for its answer; datagrams
/// that are not its answer (a late answer to an earlier query, garbage) are skipped. Returns the
/// outcome and, when a response came, the time from just before sending to just after
/// receiving it.
fn exchange(socket: &std::net::UdpSocket, query: &Message, timeout: Duration) -> (DnsOutcome, Option<Duration>) {
    let bytes = match query.to_vec() {
        Ok(bytes) => bytes,
        Err(e) => return (DnsOutcome::Failed(e.to_string()), None),
    };
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let started = Instant::now();
    let deadline = started + timeout;
    if let Err(e) = socket.send(&bytes) {
        return (socket_outcome(&e), None);
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (DnsOutcome::Timeout, None);
        }
        if let Err(e) = socket.set_read_timeout(Some(left)) {
            return (socket_outcome(&e), None);
        }
        match socket.recv(&mut buffer) {
            Ok(len) => {
                let elapsed = started.elapsed();
                let response = buffer.get(..len).and_then(|bytes| Message::from_vec(bytes).ok());
                if let Some(response) = response.filter(|r| answers_query(r, query)) {
                    return (response_outcome(&response), Some(elapsed));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (socket_outcome(&e), None),
        }
    }
}

/// Whether `response` is the answer to `query`: same id, a response, the same question.
fn answers_query(response: &Message, query: &Message) -> bool {
    response.metadata.id == query.metadata.id
        && response.metadata.message_type == MessageType::Response
        && response.queries.len() == query.queries.len()
        && response
            .queries
            .iter()
            .zip(&query.queries)
            .all(|(r, q)| r.query_type() == q.query_type() && r.name().eq_ignore_root(q.name()))
}

/// The one place a response becomes an outcome: NOERROR with records of the asked type is an
/// answer (their count), without any it is NODATA.
fn response_outcome(response: &Message) -> DnsOutcome {
    match response.metadata.response_code {
        ResponseCode::NoError => {
            let asked = response.queries.first().map(DnsQuestion::query_type);
            let records = response
                .answers
                .iter()
                .filter(|r| Some(r.record_type()) == asked)
                .count();
            if records == 0 {
                DnsOutcome::NoData
            } else {
                DnsOutcome::Answer(records)
            }
        }
        ResponseCode::NXDomain => DnsOutcome::NxDomain,
        ResponseCode::ServFail => DnsOutcome::ServFail,
        ResponseCode::Refused => DnsOutcome::Refused,
        other => DnsOutcome::Failed(format!("response code {other}")),
    }
}

/// The one place a socket error becomes an outcome.
fn socket_outcome(error: &io::Error) -> DnsOutcome {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => DnsOutcome::Timeout,
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::AddrNotAvailable => DnsOutcome::Unreachable(error.to_string()),
        _ => DnsOutcome::Failed(error.to_string()),
    }
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
    // Working for A, not for AAAA: a fault of its own (a resolver failing A is already failing).
    let aaaa_failing: Vec<&ResolverSamples> = answering.iter().copied().filter(|r| r.fails_aaaa()).collect();
    let aaaa_missing: Vec<&ResolverSamples> = answering
        .iter()
        .copied()
        .filter(|r| r.known_aaaa_missing().is_some())
        .collect();
    let a_queries = || system.iter().flat_map(|r| r.queries_of(RecordKind::A));
    let aaaa_queries = || system.iter().flat_map(|r| r.queries_of(RecordKind::Aaaa));
    let addresses = |resolvers: &[&ResolverSamples]| {
        resolvers
            .iter()
            .map(|r| r.address.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let latency = Metric::judged(
        "latency_median_ms",
        median_latency_ms(a_queries()),
        Threshold::above(thresholds.latency_warn_ms, thresholds.latency_fail_ms),
    );

    let (status, reason) = if system.is_empty() {
        (CheckStatus::Fail, Some("no DNS resolver configured".to_owned()))
    } else if answering.is_empty() {
        (CheckStatus::Fail, Some("no resolver answered".to_owned()))
    } else {
        let failures = failing
            .iter()
            .map(|r| format!("resolver {} failing ({})", r.address, r.summary(RecordKind::A)));
        let hijacks = hijacking
            .iter()
            .map(|r| format!("resolver {} answers names that do not exist", r.address));
        let aaaa_failures = aaaa_failing.iter().map(|r| {
            format!(
                "resolver {} answers A but not AAAA ({})",
                r.address,
                r.summary(RecordKind::Aaaa)
            )
        });
        let missing = aaaa_missing.iter().filter_map(|r| {
            r.known_aaaa_missing().map(|q| {
                format!(
                    "resolver {} returns no AAAA record for {} ({})",
                    r.address,
                    q.name,
                    q.outcome.label()
                )
            })
        });
        let reasons: Vec<String> = failures
            .chain(hijacks)
            .chain(aaaa_failures)
            .chain(missing)
            .chain(past_limit(&latency))
            .collect();
        let degraded =
            !failing.is_empty() || !hijacking.is_empty() || !aaaa_failing.is_empty() || !aaaa_missing.is_empty();
        let status = worst(degraded.then_some(CheckStatus::Warn).into_iter().chain(latency.status));
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
            Metric::new("queries_sent", a_queries().count()),
            Metric::new(
                "queries_answered",
                a_queries().filter(|q| q.outcome.is_answer()).count(),
            ),
            latency,
            Metric::new("public_resolvers", public.len()),
            Metric::new("public_answering", public.iter().filter(|r| r.answers()).count()),
            Metric::new("box_resolver_answering", box_resolver.map(ResolverSamples::answers)),
            Metric::new("hijacking_resolvers", addresses(&hijacking)),
            Metric::new("aaaa_queries_sent", aaaa_queries().count()),
            Metric::new(
                "aaaa_queries_answered",
                aaaa_queries().filter(|q| q.outcome.is_answer()).count(),
            ),
            Metric::new(
                "aaaa_latency_median_ms",
                median_latency_ms(aaaa_queries().filter(|q| !q.known_name)),
            ),
            Metric::new("aaaa_failing_resolvers", addresses(&aaaa_failing)),
            Metric::new("aaaa_records_missing", addresses(&aaaa_missing)),
        ],
    }
}

/// The median latency of the answered queries among `queries`, in milliseconds.
fn median_latency_ms<'a>(queries: impl Iterator<Item = &'a Query>) -> Option<f64> {
    let mut latencies: Vec<f64> = queries
        .filter(|q| q.outcome.is_answer())
        .filter_map(|q| q.latency_us)
        .map(|us| us as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    percentile(&latencies, 50.0)
}

impl ResolverSamples {
    /// Whether this resolver answered a random (non-existent) name with records: NXDOMAIN
    /// hijacking.
    pub fn hijacks(&self) -> bool {
        self.queries
            .iter()
            .any(|q| !q.known_name && matches!(q.outcome, DnsOutcome::Answer(n) if n > 0))
    }

    /// Whether this resolver answered at least one A query (records, NXDOMAIN or NODATA). One
    /// that answered none is failing.
    pub fn answers(&self) -> bool {
        self.queries_of(RecordKind::A).any(|q| q.outcome.is_answer())
    }

    /// Whether this resolver was asked for AAAA records and answered none of those queries.
    pub fn fails_aaaa(&self) -> bool {
        let mut aaaa = self.queries_of(RecordKind::Aaaa).peekable();
        aaaa.peek().is_some() && !aaaa.any(|q| q.outcome.is_answer())
    }

    /// The known-name AAAA query, when it was answered without records (NXDOMAIN, NODATA): the
    /// resolver hides the name's IPv6 addresses.
    pub fn known_aaaa_missing(&self) -> Option<&Query> {
        self.queries_of(RecordKind::Aaaa).find(|q| {
            q.known_name
                && matches!(
                    q.outcome,
                    DnsOutcome::Answer(0) | DnsOutcome::NxDomain | DnsOutcome::NoData
                )
        })
    }

    /// Its queries of one record type.
    fn queries_of(&self, record_type: RecordKind) -> impl Iterator<Item = &Query> {
        self.queries.iter().filter(move |q| q.record_type == record_type)
    }

    /// "2 timeout, 1 servfail": what its queries of one type got, most frequent first.
    fn summary(&self, record_type: RecordKind) -> String {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for query in self.queries_of(record_type) {
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
}

/// The port resolvers listen on.
const DNS_PORT: u16 = 53;

/// The UDP payload size advertised with EDNS (the DNS flag day 2020 figure, as hickory's).
const EDNS_PAYLOAD: u16 = 1232;

/// Largest datagram read; longer ones arrive cut and fail to decode (then are skipped).
const RECEIVE_BUFFER: usize = 4096;

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
    // One prober per series: the A and AAAA series run side by side.
    let (a_prober, aaaa_prober) = (
        DnsProber::new(server, options.timeout),
        DnsProber::new(server, options.timeout),
    );
    let planned = usize::try_from(options.queries).unwrap_or(usize::MAX);
    let domain = options.probe_domain.trim_end_matches('.');
    let random_names = || (0..planned).map(|_| (format!("{}.{domain}", random_label()), false));
    let a_names: Vec<(String, bool)> = random_names().collect();
    let known = options.aaaa_name.iter().map(|name| (name.clone(), true));
    let aaaa_names: Vec<(String, bool)> = random_names().chain(known).collect();
    let (mut queries, aaaa) = futures_util::future::join(
        probe_series(&a_prober, RecordKind::A, a_names, progress),
        probe_series(&aaaa_prober, RecordKind::Aaaa, aaaa_names, progress),
    )
    .await;
    queries.extend(aaaa);
    Ok(ResolverSamples {
        address: server.ip(),
        role: Role::System,
        is_gateway: false,
        queries,
    })
}

/// Queries `names` (name, whether it is the known name) one after the other. When the first two
/// queries both get no response (timeout, unreachable), the rest are not sent: they count as done for progress and are not
/// recorded.
async fn probe_series(
    prober: &DnsProber,
    record_type: RecordKind,
    names: Vec<(String, bool)>,
    progress: &Progress<'_>,
) -> Vec<Query> {
    let planned = names.len();
    let mut queries: Vec<Query> = Vec::with_capacity(planned);
    for (sent, (name, known_name)) in (1..).zip(names) {
        let mut query = prober.query(&name, record_type).await;
        query.known_name = known_name;
        let live = vec![
            Metric::new("resolver", prober.server().ip().to_string()),
            Metric::new("type", record_type.as_str()),
            Metric::new("latency_ms", query.latency_us.map(|us| us as f64 / 1000.0)),
        ];
        queries.push(query);
        let dead = sent == 2 && queries.iter().all(|q| q.latency_us.is_none());
        progress.advance(if dead { planned - sent + 1 } else { 1 }, live);
        if dead {
            break;
        }
    }
    queries
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
                    record_type: RecordKind::A,
                    known_name: false,
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
                "hijacking_resolvers",
                "aaaa_queries_sent",
                "aaaa_queries_answered",
                "aaaa_latency_median_ms",
                "aaaa_failing_resolvers",
                "aaaa_records_missing"
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

    /// A response to `query` with `code` and these records (A 192.0.2.1 or AAAA 2001:db8::1).
    fn response(query: &Message, code: ResponseCode, records: &[RecordType]) -> Message {
        use hickory_resolver::proto::rr::rdata::{A, AAAA};
        use hickory_resolver::proto::rr::{RData, Record};
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.response_code = code;
        response.add_queries(query.queries.iter().cloned());
        let name = query.queries[0].name().clone();
        for record_type in records {
            let data = match record_type {
                RecordType::AAAA => RData::AAAA(AAAA(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
                _ => RData::A(A(std::net::Ipv4Addr::new(192, 0, 2, 1))),
            };
            response.add_answer(Record::from_rdata(name.clone(), 60, data));
        }
        response
    }

    #[test]
    fn responses_and_socket_errors_map_to_outcomes() {
        let query = query_message("x.example.com", RecordType::A).expect("query");
        assert!(query.metadata.recursion_desired && query.edns.is_some());
        let cases = [
            (ResponseCode::NXDomain, &[][..], DnsOutcome::NxDomain),
            (ResponseCode::NoError, &[][..], DnsOutcome::NoData),
            (
                ResponseCode::NoError,
                &[RecordType::A, RecordType::A][..],
                DnsOutcome::Answer(2),
            ),
            // Records of another type only (an AAAA for an A question): no data of the type asked.
            (ResponseCode::NoError, &[RecordType::AAAA][..], DnsOutcome::NoData),
            (ResponseCode::ServFail, &[][..], DnsOutcome::ServFail),
            (ResponseCode::Refused, &[][..], DnsOutcome::Refused),
        ];
        for (code, records, outcome) in cases {
            assert_eq!(response_outcome(&response(&query, code, records)), outcome, "{code}");
        }
        assert!(matches!(
            response_outcome(&response(&query, ResponseCode::FormErr, &[])),
            DnsOutcome::Failed(text) if text.contains("response code")
        ));
        let io_error = |kind| socket_outcome(&io::Error::from(kind));
        assert_eq!(io_error(io::ErrorKind::TimedOut), DnsOutcome::Timeout);
        assert_eq!(io_error(io::ErrorKind::WouldBlock), DnsOutcome::Timeout);
        assert!(matches!(
            io_error(io::ErrorKind::ConnectionRefused),
            DnsOutcome::Unreachable(_)
        ));
        assert!(matches!(
            io_error(io::ErrorKind::NetworkUnreachable),
            DnsOutcome::Unreachable(_)
        ));
        assert!(matches!(
            io_error(io::ErrorKind::PermissionDenied),
            DnsOutcome::Failed(_)
        ));
    }

    #[test]
    fn only_the_answer_to_this_query_counts() {
        let query = query_message("x.example.com.", RecordType::AAAA).expect("query");
        assert_eq!(query.queries[0].name().to_ascii(), "x.example.com.");
        let answer = response(&query, ResponseCode::NXDomain, &[]);
        assert!(answers_query(&answer, &query));
        let mut stale = answer.clone();
        stale.metadata.id = query.metadata.id.wrapping_add(1);
        assert!(!answers_query(&stale, &query), "a late answer to an earlier query");
        let other = query_message("y.example.com", RecordType::AAAA).expect("query");
        let mut other_question = response(&other, ResponseCode::NXDomain, &[]);
        other_question.metadata.id = query.metadata.id;
        assert!(!answers_query(&other_question, &query));
        assert!(!answers_query(&query, &query), "a query is not an answer");
        assert!(query_message("a..b", RecordType::A).is_err());
    }

    #[test]
    fn query_names_are_checked_before_anything_is_sent() {
        for good in [
            "example.com",
            "example.com.",
            "a",
            "xn--bcher-kva.example",
            "_dmarc.example.com",
        ] {
            assert_eq!(check_query_name(good), Ok(()), "{good}");
        }
        let long_label = "a".repeat(64);
        let long_name = ["a"; 127].join(".") + ".bc";
        for (bad, why) in [
            ("", "empty"),
            (".", "empty"),
            ("a..b", "empty label"),
            (".example.com", "empty label"),
            (long_label.as_str(), "longer than 63"),
            (long_name.as_str(), "at most 253"),
            ("exa mple.com", "spaces"),
            ("exa\tmple.com", "spaces"),
        ] {
            let error = check_query_name(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
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
            aaaa_name: None,
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
        /// Answers with this RCODE and, when `answer`, one record of the asked type.
        Reply { rcode: u8, answer: bool },
        /// Reads queries and never answers.
        Silent,
        /// Answers A queries with one record, never answers AAAA queries (the box bug).
        DropAaaa,
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
                let query = &buffer[..len];
                let response = match behaviour {
                    Behaviour::Reply { rcode, answer } => response_to(query, rcode, answer),
                    Behaviour::DropAaaa if question_type(query) == Some(QTYPE_AAAA) => None,
                    Behaviour::DropAaaa => response_to(query, 0, true),
                    Behaviour::Silent => None,
                };
                if let Some(response) = response {
                    let _ = socket.send_to(&response, peer).await;
                }
            }
        });
        (address, received, task)
    }

    const QTYPE_AAAA: u16 = 28;

    /// Where the question (name, QTYPE, QCLASS) of a query ends.
    fn question_end(query: &[u8]) -> Option<usize> {
        let mut end = 12;
        loop {
            let len = usize::from(*query.get(end)?);
            end += 1;
            if len == 0 {
                break;
            }
            end += len;
        }
        Some(end + 4)
    }

    fn question_type(query: &[u8]) -> Option<u16> {
        let end = question_end(query)?;
        Some(u16::from_be_bytes([*query.get(end - 4)?, *query.get(end - 3)?]))
    }

    /// A hand-made response: the query's id and question, QR and RA set, RD copied, `rcode`,
    /// and when `answer` one record of the asked type: AAAA 2001:db8::1 for AAAA, else A
    /// 192.0.2.1.
    fn response_to(query: &[u8], rcode: u8, answer: bool) -> Option<Vec<u8>> {
        let end = question_end(query)?;
        let question = query.get(12..end)?;
        let mut response = Vec::with_capacity(end + 16);
        response.extend_from_slice(query.get(0..2)?); // id
        response.push(0x80 | (query.get(2)? & 0x79)); // QR, opcode and RD of the query
        response.push(0x80 | rcode); // RA
        response.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
        response.extend_from_slice(question);
        if answer && question_type(query) == Some(QTYPE_AAAA) {
            // Name: pointer to the question; AAAA, IN, TTL 60, 16 bytes.
            response.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
            response.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        } else if answer {
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

        // Resolvers run concurrently, their A and AAAA series too, and a silent one stops each
        // series after two timeouts: about 2 × 300 ms in all, where one after the other would
        // take over 2 s.
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
        assert_eq!(samples.source, "test");
        assert_eq!(samples.resolvers.len(), servers.len());
        let outcomes_of = |i: usize, record_type: RecordKind| {
            samples.resolvers[i]
                .queries
                .iter()
                .filter(|q| q.record_type == record_type)
                .map(|q| q.outcome.clone())
                .collect::<Vec<_>>()
        };
        let outcomes = |i: usize| outcomes_of(i, RecordKind::A);
        // Every resolver got its AAAA series, with the same outcomes as its A one.
        for i in 0..servers.len() {
            assert_eq!(outcomes_of(i, RecordKind::Aaaa), outcomes(i), "resolver {i}");
        }
        assert!(
            samples
                .resolvers
                .iter()
                .all(|r| r.queries.iter().all(|q| !q.known_name))
        );
        assert_eq!(outcomes(0), vec![DnsOutcome::NxDomain; 3]);
        assert_eq!(outcomes(1), vec![DnsOutcome::Answer(1); 3]);
        assert_eq!(outcomes(2), vec![DnsOutcome::NoData; 3]);
        assert_eq!(outcomes(3), vec![DnsOutcome::ServFail; 3]);
        assert_eq!(outcomes(4), vec![DnsOutcome::Refused; 3]);
        assert_eq!(outcomes(5), vec![DnsOutcome::Timeout; 2], "the third query is skipped");
        // Nothing listens: the kernel answers ICMP port unreachable, which the prober's connected
        // socket sees at once; two such queries and the series stops, as after two timeouts.
        let closed_outcomes = outcomes(6);
        assert_eq!(closed_outcomes.len(), 2, "{closed_outcomes:?}");
        assert!(
            closed_outcomes.iter().all(|o| matches!(o, DnsOutcome::Unreachable(_))),
            "{closed_outcomes:?}"
        );
        // One attempt per query, never a retransmission: the silent resolver saw exactly one
        // datagram per query, two A and two AAAA.
        assert_eq!(silent_received.load(Ordering::SeqCst), 4);

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
        assert_eq!(fractions.len(), 2 * (5 * 3 + 2 + 2), "one report per query sent");
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

    #[tokio::test]
    async fn a_resolver_dropping_aaaa_is_reported_while_a_works() {
        let (drops_aaaa, received, drop_task) = test_resolver(Behaviour::DropAaaa).await;
        let (nxdomain, _, nx_task) = test_resolver(Behaviour::Reply {
            rcode: 3,
            answer: false,
        })
        .await;
        let mut options = options(3, 200);
        options.aaaa_name = Some("www.example.com".to_owned());
        let started = Instant::now();
        let samples = measure_dns_at(
            &[drops_aaaa, nxdomain],
            "test".to_owned(),
            &options,
            &crate::checks::NoProgress,
        )
        .await
        .expect("measured");
        let elapsed = started.elapsed();
        drop_task.abort();
        nx_task.abort();

        // The AAAA series gives up after two timeouts, known name included, while A goes on.
        assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");
        assert_eq!(received.load(Ordering::SeqCst), 3 + 2);
        let kinds = |i: usize| {
            samples.resolvers[i]
                .queries
                .iter()
                .map(|q| (q.record_type, q.known_name, q.outcome.clone()))
                .collect::<Vec<_>>()
        };
        let answer = (RecordKind::A, false, DnsOutcome::Answer(1));
        let dropped = (RecordKind::Aaaa, false, DnsOutcome::Timeout);
        assert_eq!(
            kinds(0),
            vec![answer.clone(), answer.clone(), answer, dropped.clone(), dropped]
        );
        let nx = |record_type| (record_type, false, DnsOutcome::NxDomain);
        let mut expected = vec![nx(RecordKind::A); 3];
        expected.extend(vec![nx(RecordKind::Aaaa); 3]);
        expected.push((RecordKind::Aaaa, true, DnsOutcome::NxDomain));
        assert_eq!(kinds(1), expected);
        assert_eq!(samples.resolvers[1].queries[6].name, "www.example.com");

        let evaluation = evaluate_dns(&samples, &DnsThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Warn);
        // Records for random names from the first resolver: it hijacks too, as the peer answers
        // every A query.
        let value = |name: &str| {
            evaluation
                .metrics
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.value.clone())
        };
        assert_eq!(value("aaaa_failing_resolvers"), Some(MetricValue::from("127.0.0.1")));
        assert_eq!(value("aaaa_records_missing"), Some(MetricValue::from("127.0.0.1")));
        assert_eq!(value("aaaa_queries_sent"), Some(MetricValue::Number(6.0)));
        assert_eq!(value("aaaa_queries_answered"), Some(MetricValue::Number(4.0)));
        let reason = evaluation.reason.unwrap_or_default();
        assert!(reason.contains("answers A but not AAAA (2 timeout)"), "{reason}");
        assert!(
            reason.contains("returns no AAAA record for www.example.com (nxdomain)"),
            "{reason}"
        );
    }
}

#[cfg(test)]
mod comparison_tests {
    use super::*;

    fn resolver(address: &str, role: Role, outcome: DnsOutcome) -> ResolverSamples {
        let query = Query {
            name: "x.example.com".into(),
            record_type: RecordKind::A,
            known_name: false,
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

#[cfg(test)]
mod aaaa_tests {
    use sonde_protocol::MetricValue;

    use super::*;

    fn query(record_type: RecordKind, outcome: DnsOutcome, latency_ms: Option<u64>) -> Query {
        Query {
            name: "r.example.com".into(),
            record_type,
            known_name: false,
            outcome,
            latency_us: latency_ms.map(|ms| ms * 1000),
        }
    }

    fn a(outcome: DnsOutcome, ms: u64) -> Query {
        query(RecordKind::A, outcome, Some(ms))
    }

    fn aaaa(outcome: DnsOutcome, ms: u64) -> Query {
        query(RecordKind::Aaaa, outcome, Some(ms))
    }

    fn aaaa_timeout() -> Query {
        query(RecordKind::Aaaa, DnsOutcome::Timeout, None)
    }

    fn known(outcome: DnsOutcome) -> Query {
        Query {
            name: "www.example.com".into(),
            known_name: true,
            ..query(RecordKind::Aaaa, outcome, Some(1))
        }
    }

    fn resolver(address: &str, role: Role, queries: Vec<Query>) -> ResolverSamples {
        ResolverSamples {
            address: address.parse().expect("test address"),
            role,
            is_gateway: false,
            queries,
        }
    }

    fn system(address: &str, queries: Vec<Query>) -> ResolverSamples {
        resolver(address, Role::System, queries)
    }

    struct Case {
        name: &'static str,
        resolvers: Vec<ResolverSamples>,
        status: CheckStatus,
        reason: Option<&'static str>,
        aaaa_sent: f64,
        aaaa_answered: f64,
        aaaa_median: Option<f64>,
        aaaa_failing: &'static str,
        records_missing: &'static str,
    }

    #[test]
    fn evaluate_dns_aaaa_table() {
        use DnsOutcome::{Answer, NoData, NxDomain, ServFail, Timeout};
        let cases = [
            Case {
                name: "A and AAAA both answered",
                resolvers: vec![system(
                    "192.168.1.1",
                    vec![a(NxDomain, 10), a(NxDomain, 12), aaaa(NxDomain, 20), aaaa(NxDomain, 30)],
                )],
                status: CheckStatus::Pass,
                reason: None,
                aaaa_sent: 2.0,
                aaaa_answered: 2.0,
                aaaa_median: Some(25.0),
                aaaa_failing: "",
                records_missing: "",
            },
            Case {
                name: "the box answers A and drops AAAA",
                resolvers: vec![system(
                    "192.168.1.1",
                    vec![a(NxDomain, 10), a(NxDomain, 12), aaaa_timeout(), aaaa_timeout()],
                )],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.1 answers A but not AAAA (2 timeout)"),
                aaaa_sent: 2.0,
                aaaa_answered: 0.0,
                aaaa_median: None,
                aaaa_failing: "192.168.1.1",
                records_missing: "",
            },
            Case {
                name: "SERVFAIL on AAAA is failing AAAA too, and its latency is not counted",
                resolvers: vec![system(
                    "192.168.1.1",
                    vec![
                        a(NxDomain, 10),
                        aaaa(ServFail, 900),
                        aaaa(ServFail, 900),
                        aaaa_timeout(),
                    ],
                )],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.1 answers A but not AAAA (2 servfail, 1 timeout)"),
                aaaa_sent: 3.0,
                aaaa_answered: 0.0,
                aaaa_median: None,
                aaaa_failing: "192.168.1.1",
                records_missing: "",
            },
            Case {
                name: "one AAAA answer is enough, as for A",
                resolvers: vec![system(
                    "192.168.1.1",
                    vec![a(NxDomain, 10), aaaa_timeout(), aaaa(NxDomain, 40)],
                )],
                status: CheckStatus::Pass,
                reason: None,
                aaaa_sent: 2.0,
                aaaa_answered: 1.0,
                aaaa_median: Some(40.0),
                aaaa_failing: "",
                records_missing: "",
            },
            Case {
                name: "failing both: a failing resolver, not an AAAA fault",
                resolvers: vec![
                    system("192.168.1.1", vec![a(NxDomain, 10), aaaa(NxDomain, 11)]),
                    system(
                        "192.168.1.2",
                        vec![
                            query(RecordKind::A, Timeout, None),
                            query(RecordKind::A, Timeout, None),
                            aaaa_timeout(),
                            aaaa_timeout(),
                        ],
                    ),
                ],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.2 failing (2 timeout)"),
                aaaa_sent: 3.0,
                aaaa_answered: 1.0,
                aaaa_median: Some(11.0),
                aaaa_failing: "",
                records_missing: "",
            },
            Case {
                name: "samples from before AAAA probing: nothing to judge",
                resolvers: vec![system("192.168.1.1", vec![a(NxDomain, 10)])],
                status: CheckStatus::Pass,
                reason: None,
                aaaa_sent: 0.0,
                aaaa_answered: 0.0,
                aaaa_median: None,
                aaaa_failing: "",
                records_missing: "",
            },
            Case {
                name: "the known name's AAAA records come back: not a hijack, not in the latency",
                resolvers: vec![system(
                    "192.168.1.1",
                    vec![a(NxDomain, 10), aaaa(NxDomain, 20), known(Answer(2))],
                )],
                status: CheckStatus::Pass,
                reason: None,
                aaaa_sent: 2.0,
                aaaa_answered: 2.0,
                aaaa_median: Some(20.0),
                aaaa_failing: "",
                records_missing: "",
            },
            Case {
                name: "the known name without AAAA records: IPv6 addresses hidden",
                resolvers: vec![system(
                    "192.168.1.1",
                    vec![a(NxDomain, 10), aaaa(NxDomain, 20), known(NoData)],
                )],
                status: CheckStatus::Warn,
                reason: Some("resolver 192.168.1.1 returns no AAAA record for www.example.com (nodata)"),
                aaaa_sent: 2.0,
                aaaa_answered: 2.0,
                aaaa_median: Some(20.0),
                aaaa_failing: "",
                records_missing: "192.168.1.1",
            },
            Case {
                name: "a public resolver failing AAAA does not touch the device's verdict",
                resolvers: vec![
                    system("192.168.1.1", vec![a(NxDomain, 10), aaaa(NxDomain, 10)]),
                    resolver("9.9.9.9", Role::Public, vec![a(NxDomain, 10), aaaa_timeout()]),
                ],
                status: CheckStatus::Pass,
                reason: None,
                aaaa_sent: 1.0,
                aaaa_answered: 1.0,
                aaaa_median: Some(10.0),
                aaaa_failing: "",
                records_missing: "",
            },
        ];
        for case in cases {
            let samples = DnsSamples {
                source: "test".to_owned(),
                resolvers: case.resolvers,
            };
            let evaluation = evaluate_dns(&samples, &DnsThresholds::default());
            let name = case.name;
            let value = |metric: &str| {
                evaluation
                    .metrics
                    .iter()
                    .find(|m| m.name == metric)
                    .map(|m| m.value.clone())
                    .unwrap_or_else(|| panic!("{name}: {metric} missing"))
            };
            assert_eq!(evaluation.status, case.status, "{name}");
            assert_eq!(evaluation.reason.as_deref(), case.reason, "{name}");
            assert_eq!(
                value("aaaa_queries_sent"),
                MetricValue::Number(case.aaaa_sent),
                "{name}"
            );
            assert_eq!(
                value("aaaa_queries_answered"),
                MetricValue::Number(case.aaaa_answered),
                "{name}"
            );
            assert_eq!(
                value("aaaa_latency_median_ms"),
                MetricValue::from(case.aaaa_median),
                "{name}"
            );
            assert_eq!(
                value("aaaa_failing_resolvers"),
                MetricValue::from(case.aaaa_failing),
                "{name}"
            );
            assert_eq!(
                value("aaaa_records_missing"),
                MetricValue::from(case.records_missing),
                "{name}"
            );
            assert_eq!(value("hijacking_resolvers"), MetricValue::from(""), "{name}");
        }
    }

    #[test]
    fn samples_from_before_aaaa_probing_read_as_random_a_queries() {
        let old = r#"{"source":"/etc/resolv.conf","resolvers":[{"address":"192.0.2.1","queries":[
            {"name":"abc.example.com","outcome":{"kind":"nx_domain"},"latency_us":1200}]}]}"#;
        let samples: DnsSamples = serde_json::from_str(old).expect("old samples load");
        let query = &samples.resolvers[0].queries[0];
        assert_eq!((query.record_type, query.known_name), (RecordKind::A, false));
        let written = serde_json::to_value(query).expect("serialize");
        assert_eq!(written["record_type"], "A");
        assert_eq!(
            serde_json::to_value(RecordKind::Aaaa).expect("serialize"),
            serde_json::json!("AAAA")
        );
    }
}
