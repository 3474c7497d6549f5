//! `path`: hop-by-hop loss and latency to a target, like mtr or trippy, to say **where loss
//! starts**: home network, access line, operator network, or beyond.
//!
//! Probes go out with rising TTL (hop limit) 1..=`max_hops`, in `rounds` rounds paced
//! `interval` apart; within a round the TTLs are spread evenly over the interval. Each router
//! answers the probe whose TTL runs out there with ICMP "time exceeded"; the destination answers
//! an ICMP echo request with an echo reply, a UDP probe with "port unreachable". Once the
//! destination has answered at TTL `d`, no probe goes past `d`.
//!
//! Sockets, tried in this order (none needs more than CAP_NET_RAW or `ping_group_range`):
//! - [`PathProtocol::Icmp`] (default): unprivileged `SOCK_DGRAM` ICMP ("ping socket", allowed by
//!   `net.ipv4.ping_group_range`), else `SOCK_RAW` (CAP_NET_RAW), else — with no privilege at
//!   all — UDP as below (the samples say so in `fallback`).
//! - [`PathProtocol::Udp`]: classic traceroute, UDP to ports 33434 and up, one port per probe.
//!   Needs no privilege: `IP_RECVERR`/`IPV6_RECVERR` make the kernel queue the ICMP errors that
//!   answer our datagrams on the socket's error queue (`recvmsg(MSG_ERRQUEUE)`), with the
//!   offender's address and the original destination port, which names the probe.
//!
//! Metrics: `target` (text), `protocol` (`icmp`/`udp`), `socket` (`dgram`/`raw`), `hops` (the
//! destination's hop, or the last hop that answered), `destination_reached` (bool),
//! `loss_start_hop`, `loss_start_segment` (text: a [`Segment`] name), `loss_start_address`
//! (text), `worst_hop_loss_percent` (judged), `destination_loss_percent` (judged),
//! `destination_rtt_median_ms`. The per-hop table (addresses, sent, received, loss, RTT
//! min/median/max, and every probe) is in the samples.
//!
//! ## Loss that persists
//!
//! Routers rate-limit the ICMP errors they originate (Linux: `net.ipv4.icmp_ratelimit`, a burst
//! of 6 then one per second towards each destination; many others police their control plane),
//! and forwarding is done in hardware while answering is not: a hop that loses answers is often
//! just busy, and the packets it forwards arrive fine. mtr users learn to ignore loss at a hop
//! when the hops after it show none. So the loss this check attributes to hop `h` is the loss
//! that **persists downstream**: the minimum loss among the hops from `h` to the destination
//! (hops that never answer are left out: a router that never sends "time exceeded" says nothing
//! about loss). Real loss on a link is seen by every hop past it, so this minimum keeps it, and
//! a rate-limited hop followed by a clean one gets 0. `loss_start_hop` is the first hop whose
//! persisting loss reaches the warning limit; the segment is where the caller's
//! [`PathSegments`] puts that hop (loss starting at hop 2, the operator's first router, lies on
//! the access line: between hop 1 and hop 2). `worst_hop_loss_percent` is the largest
//! persisting loss among the routers on the way (not the destination), so loss that starts at
//! the destination itself (a busy target) shows in `destination_loss_percent` alone.
//!
//! Limits of the method: a hop that is both rate-limited *and* upstream of real loss gets the
//! downstream loss too (loss may then be said to start one hop early); UDP probes make the
//! destination answer with "port unreachable", which Linux rate-limits like "time exceeded",
//! so UDP's destination loss may include rate limiting (ICMP echo replies are not
//! rate-limited: prefer ICMP); a new destination port per UDP probe may take different ECMP
//! paths (classic traceroute has the same limit).
//!
//! Status: `error` when no probe could be sent; `fail` when nothing answered at all; otherwise
//! the worse of the two judged losses — an unreached destination counts as 100 % loss, and the
//! reason then says after which hop the path goes silent.
//!
//! Live progress: one report per round, fraction = time spent / planned duration, with `round`
//! and `hops` (answering so far).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Segment, Threshold};

use super::gateway::{SocketKind, percentile};
use super::past_limit;
use super::probe::{Event, ProbeSocket, SendFailure, Transport};
use super::{Evaluation, MeasureError, ProgressSink};

// ---- Options and thresholds ----

/// Hops probed at most: home broadband reaches an operator's anchors within about a dozen hops;
/// it also bounds the first round, sent before the destination's hop is known (traceroute and
/// mtr default to 30 for any Internet host).
pub const DEFAULT_MAX_HOPS: u8 = 16;
/// Rounds of probes. A Linux router (as most home boxes are) answers a burst of 6 "time
/// exceeded" then one per second towards each host (`icmp_ratelimit` = 1000 ms,
/// `XRLIM_BURST_FACTOR` = 6): nine answers in 3.2 s is the most it gives, hence nine rounds
/// 400 ms apart. One lost probe of nine reads 11 %.
pub const DEFAULT_ROUNDS: u32 = 9;
/// Interval between rounds (see [`DEFAULT_ROUNDS`]).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(400);
/// How long each probe waits for its answer: past a geostationary satellite hop's ~600 ms; the
/// whole check takes at most about `(rounds − 1) · interval + interval + timeout` ≈ 4.4 s, and
/// about 3.3 s on a healthy path.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(800);
/// Persisting loss (percent) from which a hop is where loss starts, and the checks warn: the
/// first lost probe of nine (11 %).
pub const DEFAULT_LOSS_WARN_PERCENT: f64 = 5.0;
/// Persisting loss (percent) from which the check fails: two lost probes of nine (22 %); past
/// 20 % loss interactive use and TCP throughput collapse.
pub const DEFAULT_LOSS_FAIL_PERCENT: f64 = 20.0;
/// The first UDP destination port (traceroute's, IANA-unassigned range).
pub const UDP_BASE_PORT: u16 = 33434;

/// How the path is probed.
#[derive(Clone, Debug, PartialEq)]
pub struct PathOptions {
    /// ICMP echo (default) or UDP.
    pub protocol: PathProtocol,
    /// Highest TTL probed.
    pub max_hops: u8,
    /// Probes per hop.
    pub rounds: u32,
    /// Interval between rounds.
    pub interval: Duration,
    /// How long each probe waits for its answer.
    pub timeout: Duration,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self {
            protocol: PathProtocol::Icmp,
            max_hops: DEFAULT_MAX_HOPS,
            rounds: DEFAULT_ROUNDS,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Thresholds for the path check (applied to persisting loss, see the module documentation).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PathThresholds {
    /// Persisting loss (percent) where loss is said to start, and the check warns.
    pub loss_warn_percent: f64,
    /// Persisting loss (percent) past which the check fails.
    pub loss_fail_percent: f64,
}

impl Default for PathThresholds {
    fn default() -> Self {
        Self {
            loss_warn_percent: DEFAULT_LOSS_WARN_PERCENT,
            loss_fail_percent: DEFAULT_LOSS_FAIL_PERCENT,
        }
    }
}

/// Which segment of the line a hop's loss lies on, as the caller knows the topology.
///
/// Loss that *starts* at hop `h` lies between hop `h − 1` and hop `h`: seen from a device
/// behind a box, hop 1 is the box (loss starting there is on the home network), hop 2 the
/// operator's first router (the access line), later hops the operator's network.
#[derive(Clone, Debug, PartialEq)]
pub struct PathSegments {
    /// `by_hop[i]`: the segment of loss starting at hop `i + 1`.
    pub by_hop: Vec<Segment>,
    /// The segment of loss starting at a later router.
    pub beyond: Segment,
    /// The segment of loss starting at the destination itself, when it lies past `by_hop`.
    pub destination: Segment,
}

impl PathSegments {
    /// A device behind a home box: hop 1 the box (home network), hop 2 the access line, then
    /// the operator's network; a destination further away is a remote service.
    pub fn behind_a_box() -> Self {
        Self {
            by_hop: vec![Segment::Lan, Segment::AccessLine],
            beyond: Segment::OperatorNetwork,
            destination: Segment::RemoteService,
        }
    }

    /// The segment of loss starting at `hop` (`destination`: that hop is the destination).
    pub fn segment(&self, hop: u8, destination: bool) -> Segment {
        let index = usize::from(hop.max(1) - 1);
        match self.by_hop.get(index) {
            Some(segment) => *segment,
            None if destination => self.destination,
            None => self.beyond,
        }
    }
}

impl Default for PathSegments {
    fn default() -> Self {
        Self::behind_a_box()
    }
}

/// What the probes are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathProtocol {
    /// ICMP echo requests (mtr's and trippy's default): the destination's echo replies are
    /// not rate-limited.
    #[default]
    Icmp,
    /// UDP datagrams to high ports (classic traceroute); needs no privilege.
    Udp,
}

impl PathProtocol {
    fn as_str(self) -> &'static str {
        match self {
            PathProtocol::Icmp => "icmp",
            PathProtocol::Udp => "udp",
        }
    }
}

// ---- Samples ----

/// The raw outcome of tracing the path to one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathSamples {
    /// Who was traced.
    pub target: IpAddr,
    /// The probes actually used.
    pub protocol: PathProtocol,
    /// The kind of socket used.
    pub socket: SocketKind,
    /// Why ICMP was asked for and UDP used instead (no ICMP privilege).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Rounds sent.
    pub rounds: u32,
    /// The TTL at which the destination answered first, when it did.
    pub destination_hop: Option<u8>,
    /// One entry per TTL from 1, up to the destination's hop (or every TTL probed).
    pub hops: Vec<HopSamples>,
}

/// The probes with one TTL, and their summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HopSamples {
    /// The TTL (hop number, from 1).
    pub ttl: u8,
    /// Who answered, in order of first answer (several under load balancing).
    pub addresses: Vec<IpAddr>,
    /// Probes sent.
    pub sent: u32,
    /// Probes answered.
    pub received: u32,
    /// `100 · (sent − received) / sent`; `None` when nothing was sent.
    pub loss_percent: Option<f64>,
    /// Smallest RTT.
    pub rtt_min_ms: Option<f64>,
    /// Median RTT.
    pub rtt_median_ms: Option<f64>,
    /// Largest RTT.
    pub rtt_max_ms: Option<f64>,
    /// Every probe, in send order.
    pub probes: Vec<HopProbe>,
}

/// One probe of a hop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HopProbe {
    /// Its round, from 0.
    pub round: u32,
    /// Who answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpAddr>,
    /// What the answer was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    /// Round-trip time in microseconds, when answered in time.
    pub rtt_us: Option<u64>,
    /// Why the probe could not be sent (it counts as lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What answered a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reply {
    /// An ICMP echo reply: the destination.
    Echo,
    /// A UDP datagram back (something listens on the probe's port): the destination.
    Datagram,
    /// ICMP time exceeded: a router on the way.
    TimeExceeded,
    /// ICMP port unreachable: the destination, for UDP probes.
    PortUnreachable,
    /// Another ICMP destination unreachable (network, host, prohibited…), with its code.
    Unreachable {
        /// The ICMP (or ICMPv6) code.
        code: u8,
    },
    /// ICMP fragmentation needed / ICMPv6 packet too big, with the MTU announced.
    TooBig {
        /// The next-hop MTU the router announced (0 when it did not say).
        mtu: u32,
    },
}

impl HopSamples {
    /// A hop's summary from its probes.
    pub fn from_probes(ttl: u8, probes: Vec<HopProbe>) -> Self {
        let mut addresses: Vec<IpAddr> = Vec::new();
        for from in probes.iter().filter_map(|p| p.from) {
            if !addresses.contains(&from) {
                addresses.push(from);
            }
        }
        let mut rtts: Vec<f64> = probes
            .iter()
            .filter_map(|p| p.rtt_us)
            .map(|us| us as f64 / 1000.0)
            .collect();
        rtts.sort_by(f64::total_cmp);
        let sent = u32::try_from(probes.len()).unwrap_or(u32::MAX);
        let received = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
        Self {
            ttl,
            addresses,
            sent,
            received,
            loss_percent: (sent > 0).then(|| 100.0 * f64::from(sent - received) / f64::from(sent)),
            rtt_min_ms: rtts.first().copied(),
            rtt_median_ms: percentile(&rtts, 50.0),
            rtt_max_ms: rtts.last().copied(),
            probes,
        }
    }
}

// ---- Measurement ----

/// Traces the path to `target` as `options` say (see the module documentation).
pub async fn measure_path(
    target: IpAddr,
    options: &PathOptions,
    progress: &dyn ProgressSink,
) -> Result<PathSamples, MeasureError> {
    let (socket, fallback) = match options.protocol {
        PathProtocol::Udp => (ProbeSocket::open_udp(target)?, None),
        PathProtocol::Icmp => match ProbeSocket::open_icmp(target) {
            Ok(socket) => (socket, None),
            Err(MeasureError::NotPermitted(why)) => (ProbeSocket::open_udp(target)?, Some(why)),
            Err(e) => return Err(e),
        },
    };
    let protocol = match socket.transport() {
        Transport::Udp => PathProtocol::Udp,
        Transport::IcmpDgram | Transport::IcmpRaw => PathProtocol::Icmp,
    };
    let mut tracer = Tracer::new(target, options, socket.max_keys(), Instant::now());
    let planned = tracer.planned_duration();
    let mut events = Vec::new();
    let mut reported_round = None;
    loop {
        while let Some(order) = tracer.poll_send(Instant::now()) {
            let sent = socket
                .set_hop_limit(order.ttl)
                .map_err(|e| SendFailure {
                    error: e,
                    local_mtu: None,
                })
                .and_then(|()| socket.send(order.key, PATH_PROBE_BYTES, &mut events));
            match sent {
                Ok(at) => tracer.on_sent(order.key, at),
                Err(failure) => tracer.on_send_failed(order.key, failure.error.to_string()),
            }
            if reported_round != Some(order.round) {
                reported_round = Some(order.round);
                let elapsed = tracer.start.elapsed().as_secs_f64();
                progress.report(
                    (elapsed / planned.as_secs_f64().max(1e-3)).min(0.99),
                    vec![
                        Metric::new("round", u64::from(order.round) + 1),
                        Metric::new("hops", tracer.answering_hops()),
                    ],
                );
            }
        }
        for event in events.drain(..) {
            if let Event::Reply {
                key, from, reply, at, ..
            } = event
            {
                tracer.on_reply(key, from, reply, at);
            }
        }
        let now = Instant::now();
        if tracer.is_done(now) {
            break;
        }
        let deadline = tracer.next_deadline(now);
        socket.read_until(deadline, &mut events).await;
    }
    progress.report(1.0, vec![Metric::new("hops", tracer.answering_hops())]);
    Ok(tracer.into_samples(protocol, socket.kind(), fallback))
}

/// The size of each path probe, as an IP packet (IPv4: 20 bytes of header, 8 of ICMP or UDP
/// header, 36 of payload; IPv6 probes are 64 bytes with 16 of payload).
const PATH_PROBE_BYTES: usize = 64;

// ---- Evaluation ----

/// Judges a path measurement; `segments` says where each hop's loss lies.
pub fn evaluate_path(samples: &PathSamples, thresholds: &PathThresholds, segments: &PathSegments) -> Evaluation {
    let analysis = analyse(samples, thresholds);
    let loss_threshold = Threshold::above(thresholds.loss_warn_percent, thresholds.loss_fail_percent);
    let worst = Metric::judged("worst_hop_loss_percent", analysis.worst_hop_loss, loss_threshold);
    let destination_loss = Metric::judged("destination_loss_percent", analysis.destination_loss, loss_threshold);
    let start_hop = analysis.loss_start.map(|start| start.hop);
    let start_segment = analysis
        .loss_start
        .map(|start| segments.segment(start.hop, start.destination).as_str());
    let start_address = analysis
        .loss_start
        .and_then(|start| start.address)
        .map(|a| a.to_string());

    let sent: u32 = samples.hops.iter().map(|h| h.sent).sum();
    let (status, reason) = if sent == 0 {
        (CheckStatus::Error, Some("no probe was sent".to_owned()))
    } else if analysis.last_answering.is_none() {
        (
            CheckStatus::Fail,
            Some(format!(
                "nothing answered any of {sent} probes: neither {} nor a router on the way",
                samples.target
            )),
        )
    } else {
        let mut reasons = Vec::new();
        if let Some(start) = analysis.loss_start {
            let segment = segments.segment(start.hop, start.destination).as_str();
            let at = start
                .address
                .map_or_else(|| segment.to_owned(), |a| format!("{a}, {segment}"));
            reasons.push(match start.persisting {
                Some(loss) => format!(
                    "loss starts at hop {} ({at}): {} % persists to the destination",
                    start.hop,
                    round2(loss)
                ),
                None => format!(
                    "{} did not answer: the path goes silent at hop {} ({segment})",
                    samples.target, start.hop
                ),
            });
        }
        reasons.extend([&worst, &destination_loss].into_iter().filter_map(past_limit));
        let status = super::worst([worst.status, destination_loss.status].into_iter().flatten());
        (status, (!reasons.is_empty()).then(|| reasons.join("; ")))
    };
    Evaluation {
        status,
        reason,
        metrics: vec![
            Metric::new("target", samples.target.to_string()),
            Metric::new("protocol", samples.protocol.as_str()),
            Metric::new("socket", socket_name(samples.socket)),
            Metric::new(
                "hops",
                samples.destination_hop.or(analysis.last_answering).map(u64::from),
            ),
            Metric::new("destination_reached", samples.destination_hop.is_some()),
            Metric::new("loss_start_hop", start_hop.map(u64::from)),
            Metric::new("loss_start_segment", start_segment),
            Metric::new("loss_start_address", start_address),
            worst,
            destination_loss,
            Metric::new("destination_rtt_median_ms", analysis.destination_rtt_median_ms),
        ],
    }
}

/// The loss that persists from each hop to the destination (see the module documentation),
/// per TTL: `None` for a hop that never answered. When the destination was not reached, it
/// counts as a hop past the last one with 100 % loss.
pub fn persisting_loss(samples: &PathSamples) -> Vec<(u8, Option<f64>)> {
    let reached = samples.destination_hop.is_some();
    let mut downstream: f64 = if reached { f64::INFINITY } else { 100.0 };
    let mut out: Vec<(u8, Option<f64>)> = samples
        .hops
        .iter()
        .rev()
        .map(|hop| {
            if hop.received == 0 {
                return (hop.ttl, None);
            }
            downstream = downstream.min(hop.loss_percent.unwrap_or(100.0));
            (hop.ttl, Some(downstream))
        })
        .collect();
    out.reverse();
    out
}

/// Where loss starts.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LossStart {
    hop: u8,
    /// Whether that hop is the destination.
    destination: bool,
    address: Option<IpAddr>,
    /// The persisting loss there; `None` when the path goes silent at that hop.
    persisting: Option<f64>,
}

#[derive(Debug, PartialEq)]
struct Analysis {
    last_answering: Option<u8>,
    loss_start: Option<LossStart>,
    worst_hop_loss: Option<f64>,
    destination_loss: Option<f64>,
    destination_rtt_median_ms: Option<f64>,
}

fn analyse(samples: &PathSamples, thresholds: &PathThresholds) -> Analysis {
    let persisting = persisting_loss(samples);
    let last_answering = samples.hops.iter().filter(|h| h.received > 0).map(|h| h.ttl).max();
    let destination = samples
        .destination_hop
        .and_then(|d| samples.hops.iter().find(|h| h.ttl == d));
    let hop = |ttl: u8| samples.hops.iter().find(|h| h.ttl == ttl);
    let mut loss_start = persisting
        .iter()
        .find(|(_, loss)| loss.is_some_and(|l| l >= thresholds.loss_warn_percent))
        .map(|(ttl, loss)| LossStart {
            hop: *ttl,
            destination: samples.destination_hop == Some(*ttl),
            address: hop(*ttl).and_then(|h| h.addresses.first().copied()),
            persisting: *loss,
        });
    if loss_start.is_none()
        && samples.destination_hop.is_none()
        && let Some(last) = last_answering
    {
        // Every answering hop is clean and the destination silent: the path ends after them.
        loss_start = Some(LossStart {
            hop: last.saturating_add(1),
            destination: false,
            address: None,
            persisting: None,
        });
    }
    let worst_hop_loss = persisting
        .iter()
        .filter(|(ttl, _)| samples.destination_hop != Some(*ttl))
        .filter_map(|(_, loss)| *loss)
        .reduce(f64::max);
    let destination_loss = match destination {
        Some(hop) => hop.loss_percent,
        None if samples.hops.iter().any(|h| h.sent > 0) => Some(100.0),
        None => None,
    };
    Analysis {
        last_answering,
        loss_start,
        worst_hop_loss,
        destination_loss,
        destination_rtt_median_ms: destination.and_then(|h| h.rtt_median_ms),
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

pub(super) fn socket_name(kind: SocketKind) -> &'static str {
    match kind {
        SocketKind::Dgram => "dgram",
        SocketKind::Raw => "raw",
    }
}

// ---- The tracer: which probe to send when, and what the answers mean (pure) ----

/// A probe to send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SendOrder {
    key: u16,
    round: u32,
    ttl: u8,
}

#[derive(Clone, Debug)]
struct TraceProbe {
    round: u32,
    ttl: u8,
    sent_at: Option<Instant>,
    answer: Option<(IpAddr, Reply, Duration)>,
    error: Option<String>,
}

/// Schedules the probes and interprets their answers. Time is passed in; no I/O.
#[derive(Debug)]
struct Tracer {
    target: IpAddr,
    max_hops: u8,
    rounds: u32,
    interval: Duration,
    /// Between two TTLs of one round: `interval / max_hops`.
    gap: Duration,
    timeout: Duration,
    start: Instant,
    probes: Vec<TraceProbe>,
    next_round: u32,
    next_ttl: u8,
    /// The smallest TTL the destination answered.
    destination_hop: Option<u8>,
    /// The smallest TTL a router answered with "unreachable": nothing goes past it.
    end_hop: Option<u8>,
}

impl Tracer {
    /// `max_keys` bounds the probes (probe keys are ICMP sequence numbers or UDP port offsets).
    fn new(target: IpAddr, options: &PathOptions, max_keys: usize, start: Instant) -> Self {
        let max_hops = options.max_hops.max(1);
        let most_rounds = u32::try_from(max_keys / usize::from(max_hops)).unwrap_or(u32::MAX);
        Self {
            target,
            max_hops,
            rounds: options.rounds.clamp(1, most_rounds.max(1)),
            interval: options.interval,
            gap: options.interval / u32::from(max_hops),
            timeout: options.timeout,
            start,
            probes: Vec::new(),
            next_round: 0,
            next_ttl: 1,
            destination_hop: None,
            end_hop: None,
        }
    }

    /// The highest TTL worth probing now.
    fn last_ttl(&self) -> u8 {
        [self.destination_hop, self.end_hop]
            .into_iter()
            .flatten()
            .fold(self.max_hops, u8::min)
    }

    fn send_time(&self, round: u32, ttl: u8) -> Instant {
        self.start + self.interval.saturating_mul(round) + self.gap.saturating_mul(u32::from(ttl) - 1)
    }

    /// The longest the trace should take.
    fn planned_duration(&self) -> Duration {
        self.interval.saturating_mul(self.rounds) + self.timeout
    }

    /// The next probe due at `now`, if any.
    fn poll_send(&mut self, now: Instant) -> Option<SendOrder> {
        loop {
            if self.next_round >= self.rounds {
                return None;
            }
            if self.next_ttl > self.last_ttl() {
                self.next_round += 1;
                self.next_ttl = 1;
                continue;
            }
            if self.send_time(self.next_round, self.next_ttl) > now {
                return None;
            }
            let key = u16::try_from(self.probes.len()).ok()?;
            let order = SendOrder {
                key,
                round: self.next_round,
                ttl: self.next_ttl,
            };
            self.probes.push(TraceProbe {
                round: order.round,
                ttl: order.ttl,
                sent_at: None,
                answer: None,
                error: None,
            });
            self.next_ttl += 1;
            return Some(order);
        }
    }

    fn on_sent(&mut self, key: u16, at: Instant) {
        if let Some(probe) = self.probes.get_mut(usize::from(key)) {
            probe.sent_at = Some(at);
        }
    }

    fn on_send_failed(&mut self, key: u16, error: String) {
        if let Some(probe) = self.probes.get_mut(usize::from(key)) {
            probe.error = Some(error);
        }
    }

    /// An answer to probe `key`. Only the first answer counts, and only within the timeout.
    fn on_reply(&mut self, key: u16, from: IpAddr, reply: Reply, at: Instant) {
        let timeout = self.timeout;
        let Some(probe) = self.probes.get_mut(usize::from(key)) else {
            return;
        };
        let Some(sent_at) = probe.sent_at else { return };
        let rtt = at.saturating_duration_since(sent_at);
        if probe.answer.is_some() || rtt > timeout {
            return;
        }
        probe.answer = Some((from, reply, rtt));
        let ttl = probe.ttl;
        let reached = from == self.target || matches!(reply, Reply::Echo | Reply::Datagram | Reply::PortUnreachable);
        if reached {
            self.destination_hop = Some(self.destination_hop.map_or(ttl, |d| d.min(ttl)));
        } else if matches!(reply, Reply::Unreachable { .. }) {
            self.end_hop = Some(self.end_hop.map_or(ttl, |e| e.min(ttl)));
        }
    }

    fn resolved(&self, probe: &TraceProbe, now: Instant) -> bool {
        probe.answer.is_some()
            || probe.error.is_some()
            || probe.sent_at.is_some_and(|at| now >= at + self.timeout)
            || probe.ttl > self.last_ttl()
    }

    /// Everything sent, and every probe answered or timed out.
    fn is_done(&mut self, now: Instant) -> bool {
        // Skips the TTLs past the destination, so that a finished last round counts as done.
        if self.next_round < self.rounds && self.next_ttl > self.last_ttl() {
            self.next_round += 1;
            self.next_ttl = 1;
        }
        self.next_round >= self.rounds && self.probes.iter().all(|p| self.resolved(p, now))
    }

    /// When something is due next: a send, or a probe's timeout.
    fn next_deadline(&self, now: Instant) -> Instant {
        let send = (self.next_round < self.rounds).then(|| self.send_time(self.next_round, self.next_ttl));
        let timeouts = self
            .probes
            .iter()
            .filter(|p| !self.resolved(p, now))
            .filter_map(|p| p.sent_at.map(|at| at + self.timeout));
        send.into_iter()
            .chain(timeouts)
            .min()
            .unwrap_or(now + Duration::from_millis(10))
    }

    /// TTLs that answered so far (for progress).
    fn answering_hops(&self) -> usize {
        let mut ttls: Vec<u8> = self
            .probes
            .iter()
            .filter(|p| p.answer.is_some() && p.ttl <= self.last_ttl())
            .map(|p| p.ttl)
            .collect();
        ttls.sort_unstable();
        ttls.dedup();
        ttls.len()
    }

    fn into_samples(self, protocol: PathProtocol, socket: SocketKind, fallback: Option<String>) -> PathSamples {
        let last = self.last_ttl();
        let probed = self.probes.iter().map(|p| p.ttl).max().unwrap_or(0).min(last);
        let rounds = self.probes.iter().map(|p| p.round + 1).max().unwrap_or(0);
        let hops = (1..=probed)
            .map(|ttl| {
                let probes = self
                    .probes
                    .iter()
                    .filter(|p| p.ttl == ttl)
                    .map(|p| HopProbe {
                        round: p.round,
                        from: p.answer.map(|(from, _, _)| from),
                        reply: p.answer.map(|(_, reply, _)| reply),
                        rtt_us: p
                            .answer
                            .map(|(_, _, rtt)| u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX)),
                        error: p.error.clone(),
                    })
                    .collect();
                HopSamples::from_probes(ttl, probes)
            })
            .collect();
        PathSamples {
            target: self.target,
            protocol,
            socket,
            fallback,
            rounds,
            destination_hop: self.destination_hop,
            hops,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use sonde_protocol::MetricValue;

    use super::*;

    const ROUTER1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const ROUTER2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    const ROUTER3: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
    const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

    /// A hop with `answered` of `sent` probes answered by `from` in 1 ms · ttl.
    fn hop(ttl: u8, from: IpAddr, sent: u32, answered: u32) -> HopSamples {
        let probes = (0..sent)
            .map(|round| {
                let ok = round < answered;
                HopProbe {
                    round,
                    from: ok.then_some(from),
                    reply: ok.then_some(if from == TARGET {
                        Reply::Echo
                    } else {
                        Reply::TimeExceeded
                    }),
                    rtt_us: ok.then_some(1000 * u64::from(ttl)),
                    error: None,
                }
            })
            .collect();
        HopSamples::from_probes(ttl, probes)
    }

    /// A path of hops given as (answered of 100) per TTL; the last reaches the target when
    /// `reached`.
    fn path(answered: &[u32], reached: bool) -> PathSamples {
        let routers = [ROUTER1, ROUTER2, ROUTER3];
        let count = answered.len();
        let hops: Vec<HopSamples> = (1u8..)
            .zip(answered)
            .map(|(ttl, n)| {
                let last = usize::from(ttl) == count;
                let from = if last && reached {
                    TARGET
                } else {
                    routers
                        .get(usize::from(ttl) - 1)
                        .copied()
                        .unwrap_or(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 100 + ttl)))
                };
                hop(ttl, from, 100, *n)
            })
            .collect();
        PathSamples {
            target: TARGET,
            protocol: PathProtocol::Icmp,
            socket: SocketKind::Raw,
            fallback: None,
            rounds: 100,
            destination_hop: reached.then(|| u8::try_from(count).unwrap_or(u8::MAX)),
            hops,
        }
    }

    fn metric<'a>(evaluation: &'a Evaluation, name: &str) -> &'a Metric {
        evaluation
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    struct Case {
        name: &'static str,
        answered: Vec<u32>,
        reached: bool,
        status: CheckStatus,
        loss_start: Option<u8>,
        segment: Option<&'static str>,
        worst: Option<f64>,
        destination: Option<f64>,
    }

    #[test]
    fn evaluate_path_localises_loss() {
        let cases = [
            Case {
                name: "clean path",
                answered: vec![100, 100, 100],
                reached: true,
                status: CheckStatus::Pass,
                loss_start: None,
                segment: None,
                worst: Some(0.0),
                destination: Some(0.0),
            },
            Case {
                name: "loss on the access line: seen from hop 2 on, not at hop 1",
                answered: vec![100, 90, 90],
                reached: true,
                status: CheckStatus::Warn,
                loss_start: Some(2),
                segment: Some("access_line"),
                worst: Some(10.0),
                destination: Some(10.0),
            },
            Case {
                name: "a rate-limited router whose loss does not persist is no loss",
                answered: vec![100, 40, 100],
                reached: true,
                status: CheckStatus::Pass,
                loss_start: None,
                segment: None,
                worst: Some(0.0),
                destination: Some(0.0),
            },
            Case {
                name: "rate-limited box, loss later: the minimum downstream, not the box's own",
                answered: vec![60, 70, 70, 70],
                reached: true,
                status: CheckStatus::Fail,
                loss_start: Some(1),
                segment: Some("lan"),
                worst: Some(30.0),
                destination: Some(30.0),
            },
            Case {
                name: "loss on the home network",
                answered: vec![75, 75, 75],
                reached: true,
                status: CheckStatus::Fail,
                loss_start: Some(1),
                segment: Some("lan"),
                worst: Some(25.0),
                destination: Some(25.0),
            },
            Case {
                name: "loss starts in the operator network",
                answered: vec![100, 100, 92, 92],
                reached: true,
                status: CheckStatus::Warn,
                loss_start: Some(3),
                segment: Some("operator_network"),
                worst: Some(8.0),
                destination: Some(8.0),
            },
            Case {
                name: "a busy destination: loss at the destination only",
                answered: vec![100, 100, 100, 70],
                reached: true,
                status: CheckStatus::Fail,
                loss_start: Some(4),
                segment: Some("remote_service"),
                worst: Some(0.0),
                destination: Some(30.0),
            },
            Case {
                name: "loss just under the warning limit is not where loss starts",
                answered: vec![100, 96, 96],
                reached: true,
                status: CheckStatus::Pass,
                loss_start: None,
                segment: None,
                worst: Some(4.0),
                destination: Some(4.0),
            },
            Case {
                name: "a router that never answers says nothing",
                answered: vec![100, 0, 100],
                reached: true,
                status: CheckStatus::Pass,
                loss_start: None,
                segment: None,
                worst: Some(0.0),
                destination: Some(0.0),
            },
            Case {
                name: "silent router before real loss: the next answering hop is blamed",
                answered: vec![100, 0, 80, 80],
                reached: true,
                status: CheckStatus::Fail,
                loss_start: Some(3),
                segment: Some("operator_network"),
                worst: Some(20.0),
                destination: Some(20.0),
            },
            Case {
                name: "destination never answers: the path goes silent after hop 2",
                answered: vec![100, 100, 0, 0],
                reached: false,
                status: CheckStatus::Fail,
                loss_start: Some(3),
                segment: Some("operator_network"),
                worst: Some(0.0),
                destination: Some(100.0),
            },
            Case {
                name: "destination never answers and hop 2 loses some",
                answered: vec![100, 85, 0],
                reached: false,
                status: CheckStatus::Fail,
                loss_start: Some(2),
                segment: Some("access_line"),
                worst: Some(15.0),
                destination: Some(100.0),
            },
            Case {
                name: "nothing answers at all",
                answered: vec![0, 0, 0],
                reached: false,
                status: CheckStatus::Fail,
                loss_start: None,
                segment: None,
                worst: None,
                destination: Some(100.0),
            },
        ];
        for case in cases {
            let samples = path(&case.answered, case.reached);
            let evaluation = evaluate_path(&samples, &PathThresholds::default(), &PathSegments::default());
            assert_eq!(evaluation.status, case.status, "{}: {evaluation:?}", case.name);
            assert_eq!(
                metric(&evaluation, "loss_start_hop").value,
                MetricValue::from(case.loss_start.map(u64::from)),
                "{}",
                case.name
            );
            assert_eq!(
                metric(&evaluation, "loss_start_segment").value,
                MetricValue::from(case.segment),
                "{}",
                case.name
            );
            assert_eq!(
                metric(&evaluation, "worst_hop_loss_percent").value,
                MetricValue::from(case.worst),
                "{}",
                case.name
            );
            assert_eq!(
                metric(&evaluation, "destination_loss_percent").value,
                MetricValue::from(case.destination),
                "{}",
                case.name
            );
            if case.status != CheckStatus::Pass {
                assert!(evaluation.reason.is_some(), "{}: a reason", case.name);
            }
        }
    }

    #[test]
    fn evaluate_path_reasons_and_contract_metrics() {
        let evaluation = evaluate_path(
            &path(&[100, 90, 90], true),
            &PathThresholds::default(),
            &PathSegments::default(),
        );
        assert_eq!(
            evaluation.reason.as_deref(),
            Some(
                "loss starts at hop 2 (198.51.100.1, access_line): 10 % persists to the destination; \
                 worst_hop_loss_percent 10 ≥ 5 (warn); destination_loss_percent 10 ≥ 5 (warn)"
            )
        );
        let names: Vec<&str> = evaluation.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "target",
                "protocol",
                "socket",
                "hops",
                "destination_reached",
                "loss_start_hop",
                "loss_start_segment",
                "loss_start_address",
                "worst_hop_loss_percent",
                "destination_loss_percent",
                "destination_rtt_median_ms"
            ]
        );
        assert_eq!(metric(&evaluation, "hops").value, MetricValue::Number(3.0));
        assert_eq!(
            metric(&evaluation, "destination_reached").value,
            MetricValue::Bool(true)
        );
        assert_eq!(
            metric(&evaluation, "loss_start_address").value,
            MetricValue::Text("198.51.100.1".to_owned())
        );
        assert_eq!(
            metric(&evaluation, "destination_rtt_median_ms").value,
            MetricValue::Number(3.0)
        );
        let loss = metric(&evaluation, "destination_loss_percent");
        assert_eq!(loss.threshold, Some(Threshold::above(5.0, 20.0)));

        let silent = evaluate_path(
            &path(&[100, 100, 0], false),
            &PathThresholds::default(),
            &PathSegments::default(),
        );
        assert_eq!(
            silent.reason.as_deref(),
            Some(
                "203.0.113.2 did not answer: the path goes silent at hop 3 (operator_network); \
                 destination_loss_percent 100 ≥ 20 (fail)"
            )
        );
        assert_eq!(metric(&silent, "hops").value, MetricValue::Number(2.0));

        let none = PathSamples {
            hops: Vec::new(),
            destination_hop: None,
            ..path(&[], false)
        };
        let evaluation = evaluate_path(&none, &PathThresholds::default(), &PathSegments::default());
        assert_eq!(evaluation.status, CheckStatus::Error);
        assert_eq!(
            metric(&evaluation, "destination_loss_percent").value,
            MetricValue::Missing
        );
    }

    #[test]
    fn persisting_loss_is_the_minimum_downstream() {
        let samples = path(&[50, 100, 0, 90, 95], true);
        let loss = persisting_loss(&samples);
        assert_eq!(
            loss,
            vec![
                (1, Some(0.0)),
                (2, Some(0.0)),
                (3, None),
                (4, Some(5.0)),
                (5, Some(5.0))
            ]
        );
        // Not reached: the destination counts as a 100 % hop after the last.
        let loss = persisting_loss(&path(&[100, 80, 0], false));
        assert_eq!(loss, vec![(1, Some(0.0)), (2, Some(20.0)), (3, None)]);
    }

    #[test]
    fn segments_map_hops_and_the_destination() {
        let segments = PathSegments::behind_a_box();
        assert_eq!(segments.segment(1, false), Segment::Lan);
        assert_eq!(segments.segment(2, true), Segment::AccessLine, "an explicit hop wins");
        assert_eq!(segments.segment(3, false), Segment::OperatorNetwork);
        assert_eq!(segments.segment(7, true), Segment::RemoteService);
        assert_eq!(segments.segment(0, false), Segment::Lan, "hop 0 is read as hop 1");
        let on_the_box = PathSegments {
            by_hop: vec![Segment::AccessLine],
            beyond: Segment::OperatorNetwork,
            destination: Segment::RemoteService,
        };
        assert_eq!(on_the_box.segment(1, false), Segment::AccessLine);
    }

    #[test]
    fn hop_summary_from_probes() {
        let probes = [Some(3000), None, Some(1000), Some(2000)]
            .into_iter()
            .zip(0..)
            .map(|(rtt, round)| HopProbe {
                round,
                from: rtt.map(|_| if round == 3 { ROUTER3 } else { ROUTER2 }),
                reply: rtt.map(|_| Reply::TimeExceeded),
                rtt_us: rtt,
                error: None,
            })
            .collect();
        let hop = HopSamples::from_probes(2, probes);
        assert_eq!((hop.sent, hop.received), (4, 3));
        assert_eq!(hop.addresses, vec![ROUTER2, ROUTER3]);
        assert_eq!(hop.loss_percent, Some(25.0));
        assert_eq!(
            (hop.rtt_min_ms, hop.rtt_median_ms, hop.rtt_max_ms),
            (Some(1.0), Some(2.0), Some(3.0))
        );
        let empty = HopSamples::from_probes(1, Vec::new());
        assert_eq!((empty.loss_percent, empty.rtt_median_ms), (None, None));
    }

    #[test]
    fn samples_round_trip_through_json() {
        let samples = path(&[100, 90, 90], true);
        let json = serde_json::to_string(&samples).unwrap_or_default();
        assert!(json.contains("\"kind\":\"time_exceeded\""), "{json}");
        let back: PathSamples = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(back, samples);
    }

    // ---- The tracer ----

    fn options(rounds: u32, max_hops: u8) -> PathOptions {
        PathOptions {
            protocol: PathProtocol::Icmp,
            max_hops,
            rounds,
            interval: Duration::from_millis(400),
            timeout: Duration::from_millis(800),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends everything due at `now`, answering nothing.
    fn send_due(tracer: &mut Tracer, now: Instant) -> Vec<SendOrder> {
        let mut sent = Vec::new();
        while let Some(order) = tracer.poll_send(now) {
            tracer.on_sent(order.key, now);
            sent.push(order);
        }
        sent
    }

    #[test]
    fn tracer_spreads_ttls_over_the_interval_and_paces_rounds() {
        let start = Instant::now();
        let mut tracer = Tracer::new(TARGET, &options(3, 4), 65536, start);
        // Gap = 400 ms / 4 hops = 100 ms.
        let first = send_due(&mut tracer, start);
        assert_eq!(first.iter().map(|o| o.ttl).collect::<Vec<_>>(), [1]);
        assert_eq!(tracer.next_deadline(start), start + ms(100));
        let more = send_due(&mut tracer, start + ms(250));
        assert_eq!(more.iter().map(|o| o.ttl).collect::<Vec<_>>(), [2, 3]);
        let next = send_due(&mut tracer, start + ms(400));
        assert_eq!(
            next.iter().map(|o| (o.round, o.ttl)).collect::<Vec<_>>(),
            [(0, 4), (1, 1)]
        );
        assert_eq!(
            next.iter().map(|o| o.key).collect::<Vec<_>>(),
            [3, 4],
            "keys are unique"
        );
        assert!(!tracer.is_done(start + ms(400)));
    }

    #[test]
    fn tracer_stops_at_the_destination_hop() {
        let start = Instant::now();
        let mut tracer = Tracer::new(TARGET, &options(3, 8), 65536, start);
        let round0 = send_due(&mut tracer, start + ms(150));
        assert_eq!(round0.len(), 4, "TTLs 1–4 due by 150 ms (gap 50 ms)");
        tracer.on_reply(0, ROUTER1, Reply::TimeExceeded, start + ms(5));
        tracer.on_reply(1, ROUTER2, Reply::TimeExceeded, start + ms(60));
        // The destination answers the TTL-4 probe, then the TTL-3 one: it is 3 hops away.
        tracer.on_reply(3, TARGET, Reply::Echo, start + ms(160));
        tracer.on_reply(2, TARGET, Reply::Echo, start + ms(170));
        assert_eq!(tracer.destination_hop, Some(3));
        let later = send_due(&mut tracer, start + ms(2000));
        assert_eq!(
            later.iter().map(|o| (o.round, o.ttl)).collect::<Vec<_>>(),
            [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)],
            "nothing past hop 3 after round 0"
        );
        for order in &later {
            let from = [ROUTER1, ROUTER2, TARGET][usize::from(order.ttl) - 1];
            let reply = if from == TARGET {
                Reply::Echo
            } else {
                Reply::TimeExceeded
            };
            tracer.on_reply(order.key, from, reply, start + ms(2001));
        }
        assert!(tracer.is_done(start + ms(2001)));
        let samples = tracer.into_samples(PathProtocol::Icmp, SocketKind::Raw, None);
        assert_eq!(samples.rounds, 3);
        assert_eq!(samples.destination_hop, Some(3));
        assert_eq!(samples.hops.len(), 3, "the TTL-4 probe is dropped");
        assert_eq!(samples.hops[2].addresses, vec![TARGET]);
        assert_eq!(samples.hops.iter().map(|h| h.received).collect::<Vec<_>>(), [3, 3, 3]);
    }

    #[test]
    fn tracer_times_out_late_and_unknown_answers() {
        let start = Instant::now();
        let mut tracer = Tracer::new(TARGET, &options(1, 2), 65536, start);
        let sent = send_due(&mut tracer, start + ms(300));
        assert_eq!(sent.len(), 2);
        tracer.on_reply(0, ROUTER1, Reply::TimeExceeded, start + ms(300) + ms(801));
        tracer.on_reply(9, ROUTER1, Reply::TimeExceeded, start + ms(301));
        tracer.on_reply(1, TARGET, Reply::Echo, start + ms(302));
        tracer.on_reply(1, ROUTER2, Reply::TimeExceeded, start + ms(303));
        assert!(!tracer.is_done(start + ms(1099)), "probe 0 is still pending");
        assert_eq!(tracer.next_deadline(start + ms(400)), start + ms(1100));
        assert!(tracer.is_done(start + ms(1100)));
        let samples = tracer.into_samples(PathProtocol::Icmp, SocketKind::Dgram, None);
        assert_eq!(samples.hops[0].received, 0, "a late answer is a loss");
        assert_eq!(samples.hops[1].addresses, vec![TARGET], "only the first answer counts");
        assert_eq!(samples.hops[1].probes[0].rtt_us, Some(2000));
    }

    #[test]
    fn tracer_ends_the_path_at_an_unreachable_and_records_send_errors() {
        let start = Instant::now();
        let mut tracer = Tracer::new(TARGET, &options(2, 5), 65536, start);
        let sent = send_due(&mut tracer, start + ms(200));
        assert_eq!(sent.len(), 3);
        tracer.on_reply(1, ROUTER2, Reply::Unreachable { code: 1 }, start + ms(201));
        tracer.on_send_failed(0, "No route to host".to_owned());
        let second = send_due(&mut tracer, start + ms(1000));
        assert_eq!(second.iter().map(|o| o.ttl).collect::<Vec<_>>(), [1, 2]);
        assert!(tracer.is_done(start + ms(1000) + ms(800)));
        let samples = tracer.into_samples(PathProtocol::Udp, SocketKind::Dgram, None);
        assert_eq!(samples.hops.len(), 2);
        assert_eq!(samples.destination_hop, None);
        assert_eq!(samples.hops[0].probes[0].error.as_deref(), Some("No route to host"));
        assert_eq!(samples.hops[0].loss_percent, Some(100.0));
    }

    #[test]
    fn tracer_bounds_rounds_by_the_keys_it_can_tell_apart() {
        let tracer = Tracer::new(TARGET, &options(10_000, 16), 32102, Instant::now());
        assert_eq!(tracer.rounds, 2006);
        let tracer = Tracer::new(TARGET, &options(0, 0), 65536, Instant::now());
        assert_eq!((tracer.rounds, tracer.max_hops), (1, 1));
    }

    // ---- Real sockets, loopback only ----

    fn skip_without_privilege(error: &MeasureError) -> bool {
        let MeasureError::NotPermitted(text) = error else {
            return false;
        };
        assert!(text.contains("CAP_NET_RAW"), "{text}");
        assert!(
            std::env::var("SONDE_REQUIRE_NETSIM").as_deref() != Ok("1"),
            "no ICMP privilege, and SONDE_REQUIRE_NETSIM=1: {text}"
        );
        eprintln!("SKIPPED: no ICMP privilege here: {text}");
        true
    }

    fn quick(protocol: PathProtocol) -> PathOptions {
        PathOptions {
            protocol,
            max_hops: 4,
            rounds: 3,
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(500),
        }
    }

    /// Loopback is one hop away: the destination answers at TTL 1, every time.
    async fn trace_loopback(target: IpAddr, protocol: PathProtocol) {
        let samples = match measure_path(target, &quick(protocol), &super::super::NoProgress).await {
            Ok(samples) => samples,
            Err(e) if skip_without_privilege(&e) => return,
            Err(e) => panic!("tracing {target}: {e}"),
        };
        assert_eq!(samples.destination_hop, Some(1), "{samples:?}");
        assert_eq!(samples.hops.len(), 1, "{samples:?}");
        let hop = &samples.hops[0];
        assert_eq!((hop.sent, hop.received), (3, 3), "{samples:?}");
        assert_eq!(hop.addresses, vec![target]);
        for probe in &hop.probes {
            let rtt = probe.rtt_us.unwrap_or_default();
            assert!(rtt > 0 && rtt < 100_000, "{probe:?}");
        }
        let expected_reply = match samples.protocol {
            PathProtocol::Icmp => Reply::Echo,
            PathProtocol::Udp => Reply::PortUnreachable,
        };
        assert_eq!(hop.probes[0].reply, Some(expected_reply));
        if protocol == PathProtocol::Udp {
            assert_eq!(samples.protocol, PathProtocol::Udp);
        }
        let evaluation = evaluate_path(&samples, &PathThresholds::default(), &PathSegments::default());
        assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
    }

    #[tokio::test]
    async fn path_to_ipv4_loopback_over_icmp() {
        trace_loopback(IpAddr::V4(Ipv4Addr::LOCALHOST), PathProtocol::Icmp).await;
    }

    #[tokio::test]
    async fn path_to_ipv6_loopback_over_icmp() {
        trace_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST), PathProtocol::Icmp).await;
    }

    /// Unprivileged: UDP with IP_RECVERR needs no capability at all.
    #[tokio::test]
    async fn path_to_ipv4_loopback_over_udp() {
        trace_loopback(IpAddr::V4(Ipv4Addr::LOCALHOST), PathProtocol::Udp).await;
    }

    #[tokio::test]
    async fn path_to_ipv6_loopback_over_udp() {
        trace_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST), PathProtocol::Udp).await;
    }

    #[test]
    fn the_privilege_message_names_both_fixes() {
        let text = super::super::probe::icmp_privilege_message();
        assert!(text.contains("CAP_NET_RAW"), "{text}");
        assert!(text.contains("net.ipv4.ping_group_range"), "{text}");
    }
}
