//! `mtu`: the path MTU to a target, and PMTU black holes.
//!
//! ICMP echo requests of chosen sizes go to the target with the Don't Fragment bit set
//! (`IP_PMTUDISC_PROBE`: the kernel sends them whatever path MTU it has cached, so each
//! measurement starts afresh; IPv6 also sets `IPV6_DONTFRAG`). The target answers an echo
//! request of any size, so a size passes when its echo reply comes back. A size that does not
//! pass either gets an ICMP "fragmentation needed" / ICMPv6 "packet too big" from the router
//! that cannot forward it, announcing its MTU (read from the socket's error queue: `ee_info`),
//! or, over the interface's own MTU, `EMSGSIZE` from the local stack — both well-behaved — or
//! it **vanishes silently**: a PMTU black hole (a router drops it without telling, or a
//! firewall drops the ICMP). TCP connections through a black hole hang as soon as they send a
//! full-size segment: pages that start loading and never finish.
//!
//! The search: first a small probe (is the target answering at all?) and one at `max_bytes`
//! (the usual case: everything passes, done in one round trip). Then, between the largest size
//! that passed and the smallest that did not, `sizes_per_step` sizes at a time, each with
//! `probes_per_size` probes, until the two are adjacent; an announced MTU is probed directly.
//! When the bound above comes from silence, it is probed once more with one probe more before
//! being believed, so random loss is not taken for a black hole. Probes wait
//! `4 × RTT` (at least `min_timeout`, at most `timeout`, which also applies until an RTT is
//! known). No step starts after `max_duration`: the search then reports how far it got.
//!
//! Sizes are whole IP packets (IPv4: 20-byte header + 8-byte ICMP header + payload; IPv6: 40 +
//! 8 + payload), as MTUs are.
//!
//! Metrics: `target` (text), `socket` (`dgram`/`raw`), `path_mtu_bytes` (judged: the largest
//! size that passed), `black_hole` (bool), `largest_answered_bytes`, `smallest_failed_bytes`
//! (the smallest size that did not pass, when one did not), `icmp_frag_needed_seen` (bool: a
//! router announced its MTU), `interface_mtu_bytes` (when the local stack refused a size),
//! `search_complete` (bool: the two bounds met), `probes_sent`.
//!
//! Status: `fail` for a black hole; `warn` when the path MTU is below the profile's limit (IPv4
//! 1400, IPv6 1280 by default); `error` when the target answered nothing (the MTU could not be
//! measured: the path and latency checks say why) or no probe could be sent.
//!
//! Needs CAP_NET_RAW or `net.ipv4.ping_group_range` (like ping); the error names both.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Direction, Metric, Threshold};

use super::gateway::SocketKind;
use super::path::{Reply, socket_name};
use super::probe::{Event, ProbeSocket};
use super::{Evaluation, MeasureError, ProgressSink};

// ---- Options and thresholds ----

/// The largest size probed: Ethernet's MTU (RFC 894), the Internet's usual one; an interface
/// with a smaller MTU refuses larger probes locally and the search goes on below.
pub const DEFAULT_MAX_BYTES: u32 = 1500;
/// Probes per size: one random loss does not make a size fail.
pub const DEFAULT_PROBES_PER_SIZE: u32 = 2;
/// Sizes probed at once: 1500 − 84 bytes are narrowed to one in six or seven steps.
pub const DEFAULT_SIZES_PER_STEP: u32 = 3;
/// How long a probe waits for its answer until the target's RTT is known (and at most).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
/// The least a probe waits once the RTT is known (it then waits 4 × RTT).
pub const DEFAULT_MIN_TIMEOUT: Duration = Duration::from_millis(200);
/// No search step starts after this long; the search then reports the bounds it reached (a
/// step under way may add one probe timeout). A black hole at 1400 bytes on a LAN-fast path
/// takes about 1 s, a healthy path one round trip.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(3);
/// IPv4 path MTUs below this warn: broadband encapsulations (PPPoE 1492, DS-Lite 1460, GRE
/// 1476, WireGuard 1420, IPsec ~1400–1440) stay above it, so less means stacked tunnels or a
/// misconfiguration, and costs every full-size packet.
pub const DEFAULT_WARN_BELOW_V4_BYTES: u32 = 1400;
/// IPv6 path MTUs below this warn: 1280 is IPv6's minimum link MTU (RFC 8200 §5), so less is a
/// broken path.
pub const DEFAULT_WARN_BELOW_V6_BYTES: u32 = 1280;
/// The first, small probe: ping's default size (56 bytes of payload).
const SMALL_BYTES_V4: u32 = 84;
/// The first, small probe over IPv6 (ping's default, 56 bytes of payload).
const SMALL_BYTES_V6: u32 = 104;

/// How the path MTU is searched.
#[derive(Clone, Debug, PartialEq)]
pub struct MtuOptions {
    /// The largest size probed (bytes, whole IP packets).
    pub max_bytes: u32,
    /// Probes per size.
    pub probes_per_size: u32,
    /// Sizes probed at once.
    pub sizes_per_step: u32,
    /// The wait for an answer before the RTT is known, and at most.
    pub timeout: Duration,
    /// The least wait for an answer once the RTT is known.
    pub min_timeout: Duration,
    /// When the search stops, converged or not.
    pub max_duration: Duration,
}

impl Default for MtuOptions {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            probes_per_size: DEFAULT_PROBES_PER_SIZE,
            sizes_per_step: DEFAULT_SIZES_PER_STEP,
            timeout: DEFAULT_TIMEOUT,
            min_timeout: DEFAULT_MIN_TIMEOUT,
            max_duration: DEFAULT_MAX_DURATION,
        }
    }
}

/// Thresholds for the MTU check (a black hole always fails).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MtuThresholds {
    /// IPv4 path MTUs below this many bytes warn.
    pub warn_below_v4_bytes: u32,
    /// IPv6 path MTUs below this many bytes warn.
    pub warn_below_v6_bytes: u32,
}

impl Default for MtuThresholds {
    fn default() -> Self {
        Self {
            warn_below_v4_bytes: DEFAULT_WARN_BELOW_V4_BYTES,
            warn_below_v6_bytes: DEFAULT_WARN_BELOW_V6_BYTES,
        }
    }
}

// ---- Samples ----

/// The raw outcome of an MTU search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MtuSamples {
    /// Who was probed.
    pub target: IpAddr,
    /// The kind of ICMP socket used.
    pub socket: SocketKind,
    /// The largest size the search was allowed.
    pub max_bytes: u32,
    /// Every probe, in send order.
    pub probes: Vec<MtuProbe>,
    /// Whether the search converged (it stops after `max_duration` otherwise).
    pub complete: bool,
}

/// One echo request of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MtuProbe {
    /// Its size in bytes (the whole IP packet).
    pub size: u32,
    /// The step of the search it belongs to, from 0.
    pub step: u32,
    /// What became of it.
    pub outcome: MtuOutcome,
    /// Round-trip time in microseconds, when answered (echo reply or ICMP error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// Who answered (the target, or the router announcing its MTU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpAddr>,
    /// The MTU announced (by a router, or by the local stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Why it could not be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What became of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MtuOutcome {
    /// The target's echo reply came back: this size passes.
    Answered,
    /// A router answered "fragmentation needed" / "packet too big".
    TooBig,
    /// The local stack refused it (`EMSGSIZE`): larger than the interface's MTU.
    LocalTooBig,
    /// Nothing came back in time.
    Silent,
    /// It could not be sent for another reason (it says nothing about the MTU).
    Failed,
}

/// Why the smallest failing size fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failing {
    /// It vanished: no answer, no ICMP (a black hole, once confirmed).
    Silent,
    /// A router announced a smaller MTU.
    TooBig {
        /// The announced MTU.
        mtu: u32,
    },
    /// Larger than the interface's MTU.
    Local {
        /// The interface's MTU.
        mtu: u32,
    },
}

/// What a search's probes establish (pure; used by the search and by the evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtuBounds {
    /// The largest size answered.
    pub largest_answered: Option<u32>,
    /// The smallest size above it known not to pass, and why.
    pub smallest_failing: Option<(u32, Failing)>,
    /// Whether a router announced an MTU.
    pub frag_needed_seen: bool,
    /// The interface's MTU, when the local stack refused a size.
    pub interface_mtu: Option<u32>,
}

impl MtuBounds {
    /// A PMTU black hole: small sizes pass, and the next size up vanishes without a word.
    pub fn black_hole(&self) -> bool {
        self.largest_answered.is_some() && matches!(self.smallest_failing, Some((_, Failing::Silent)))
    }
}

/// Computes what `probes` establish. A size passes when any of its probes was answered, fails
/// with a reason when any got an ICMP or local refusal, and is silent when every probe timed
/// out. Only failures above the largest size that passed count (a silent size below it was
/// random loss). An announced MTU `m` bounds sizes above `m`. At equal sizes an explained
/// failure wins over silence.
pub fn mtu_bounds(probes: &[MtuProbe]) -> MtuBounds {
    let largest_answered = probes
        .iter()
        .filter(|p| p.outcome == MtuOutcome::Answered)
        .map(|p| p.size)
        .max();
    let above = |size: u32| largest_answered.is_none_or(|lo| size > lo);
    let mut candidates: Vec<(u32, Failing)> = Vec::new();
    for probe in probes {
        let failing = match (probe.outcome, probe.mtu) {
            (MtuOutcome::TooBig, mtu) => Failing::TooBig { mtu: mtu.unwrap_or(0) },
            (MtuOutcome::LocalTooBig, mtu) => Failing::Local { mtu: mtu.unwrap_or(0) },
            (MtuOutcome::Silent, _) => {
                let size_silent = probes
                    .iter()
                    .filter(|p| p.size == probe.size)
                    .all(|p| matches!(p.outcome, MtuOutcome::Silent | MtuOutcome::Failed));
                if !size_silent {
                    continue;
                }
                Failing::Silent
            }
            (MtuOutcome::Answered | MtuOutcome::Failed, _) => continue,
        };
        if above(probe.size) {
            candidates.push((probe.size, failing));
        }
        // An announced MTU says every size above it fails (when it is plausible: above what
        // passed and below the probe).
        if let Failing::TooBig { mtu } | Failing::Local { mtu } = failing {
            let bound = mtu.saturating_add(1);
            if mtu > 0 && bound < probe.size && above(bound) {
                candidates.push((bound, failing));
            }
        }
    }
    let rank = |failing: &Failing| match failing {
        Failing::TooBig { .. } | Failing::Local { .. } => 0,
        Failing::Silent => 1,
    };
    let smallest_failing = candidates
        .into_iter()
        .min_by_key(|(size, failing)| (*size, rank(failing)));
    MtuBounds {
        largest_answered,
        smallest_failing,
        frag_needed_seen: probes.iter().any(|p| p.outcome == MtuOutcome::TooBig),
        interface_mtu: probes
            .iter()
            .filter(|p| p.outcome == MtuOutcome::LocalTooBig)
            .filter_map(|p| p.mtu)
            .min(),
    }
}

// ---- Measurement ----

/// Searches the path MTU to `target` as `options` say (see the module documentation).
pub async fn measure_mtu(
    target: IpAddr,
    options: &MtuOptions,
    progress: &dyn ProgressSink,
) -> Result<MtuSamples, MeasureError> {
    let socket = ProbeSocket::open_icmp(target)?;
    socket.set_probe_path_mtu().map_err(|source| MeasureError::Io {
        context: "setting Don't Fragment (IP_MTU_DISCOVER) on the ICMP socket".to_owned(),
        source,
    })?;
    let mut search = MtuSearch::new(target, options);
    let started = Instant::now();
    let mut events = Vec::new();
    let mut next_key: u16 = 0;
    let mut step: u32 = 0;
    while let Some(sizes) = search.next_step() {
        if started.elapsed() >= options.max_duration {
            break;
        }
        // (key, index in search.probes, sent at) of the probes awaiting an answer.
        let mut pending: Vec<(u16, usize, Instant)> = Vec::new();
        for (size, count) in sizes {
            for _ in 0..count {
                let key = next_key;
                next_key = next_key.wrapping_add(1);
                let packet_size = usize::try_from(size).unwrap_or(usize::MAX);
                let index = search.probes.len();
                match socket.send(key, packet_size, &mut events) {
                    Ok(at) => {
                        search.probes.push(MtuProbe::new(size, step, MtuOutcome::Silent));
                        pending.push((key, index, at));
                    }
                    Err(failure) => {
                        let too_big = failure.error.raw_os_error() == Some(libc::EMSGSIZE);
                        let mut probe = MtuProbe::new(
                            size,
                            step,
                            if too_big {
                                MtuOutcome::LocalTooBig
                            } else {
                                MtuOutcome::Failed
                            },
                        );
                        probe.mtu = failure.local_mtu.filter(|_| too_big);
                        probe.error = (!too_big).then(|| failure.error.to_string());
                        search.probes.push(probe);
                    }
                }
            }
        }
        loop {
            for event in events.drain(..) {
                let Event::Reply {
                    key, from, reply, at, ..
                } = event
                else {
                    continue;
                };
                let Some(position) = pending.iter().position(|(k, _, _)| *k == key) else {
                    continue;
                };
                let (_, index, sent_at) = pending[position];
                let outcome = match reply {
                    Reply::Echo => MtuOutcome::Answered,
                    Reply::TooBig { .. } => MtuOutcome::TooBig,
                    // Time exceeded or unreachable: says nothing about this size.
                    _ => MtuOutcome::Failed,
                };
                let rtt = at.saturating_duration_since(sent_at);
                if outcome == MtuOutcome::Answered {
                    search.on_rtt(rtt);
                }
                if let Some(probe) = search.probes.get_mut(index) {
                    probe.outcome = outcome;
                    probe.from = Some(from);
                    probe.rtt_us = Some(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX));
                    if let Reply::TooBig { mtu } = reply {
                        probe.mtu = Some(mtu);
                    }
                }
                pending.swap_remove(position);
            }
            let timeout = search.timeout();
            let Some(deadline) = pending.iter().map(|(_, _, at)| *at + timeout).min() else {
                break;
            };
            let now = Instant::now();
            if now >= deadline {
                // The probes past their wait stay `Silent`.
                pending.retain(|(_, _, at)| now < *at + timeout);
                continue;
            }
            socket.read_until(deadline, &mut events).await;
        }
        step += 1;
        let elapsed = started.elapsed().as_secs_f64() / options.max_duration.as_secs_f64().max(1e-3);
        progress.report(
            elapsed.min(0.99),
            vec![Metric::new(
                "largest_answered_bytes",
                mtu_bounds(&search.probes).largest_answered.map(u64::from),
            )],
        );
    }
    let complete = search.next_step().is_none();
    progress.report(1.0, Vec::new());
    Ok(MtuSamples {
        target,
        socket: socket.kind(),
        max_bytes: search.max,
        probes: search.probes,
        complete,
    })
}

impl MtuProbe {
    fn new(size: u32, step: u32, outcome: MtuOutcome) -> Self {
        Self {
            size,
            step,
            outcome,
            rtt_us: None,
            from: None,
            mtu: None,
            error: None,
        }
    }
}

/// The search's state: the probes so far and what to send next (pure, no I/O).
#[derive(Debug)]
struct MtuSearch {
    small: u32,
    max: u32,
    probes_per_size: u32,
    sizes_per_step: u32,
    timeout: Duration,
    min_timeout: Duration,
    /// The smallest RTT seen.
    rtt: Option<Duration>,
    probes: Vec<MtuProbe>,
}

impl MtuSearch {
    fn new(target: IpAddr, options: &MtuOptions) -> Self {
        let small = if target.is_ipv4() {
            SMALL_BYTES_V4
        } else {
            SMALL_BYTES_V6
        };
        Self {
            small,
            max: options.max_bytes.clamp(small + 1, u32::from(u16::MAX)),
            probes_per_size: options.probes_per_size.clamp(1, 10),
            sizes_per_step: options.sizes_per_step.clamp(1, 16),
            timeout: options.timeout,
            min_timeout: options.min_timeout.min(options.timeout),
            rtt: None,
            probes: Vec::new(),
        }
    }

    fn on_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(self.rtt.map_or(rtt, |r| r.min(rtt)));
    }

    /// How long a probe waits now: 4 × RTT within [min_timeout, timeout], or `timeout`.
    fn timeout(&self) -> Duration {
        self.rtt
            .map_or(self.timeout, |rtt| (rtt * 4).clamp(self.min_timeout, self.timeout))
    }

    fn tried(&self, size: u32) -> bool {
        self.probes
            .iter()
            .any(|p| p.size == size && p.outcome != MtuOutcome::Failed)
    }

    /// The sizes to probe next, with how many probes each; `None` when the search is over.
    fn next_step(&self) -> Option<Vec<(u32, u32)>> {
        let n = self.probes_per_size;
        if self.probes.is_empty() {
            return Some(vec![(self.small, n), (self.max, n)]);
        }
        let bounds = mtu_bounds(&self.probes);
        // Nothing answered, not even the small probe: the target is not answering.
        let lo = bounds.largest_answered?;
        let (hi, failing) = bounds
            .smallest_failing
            .unwrap_or((self.max.saturating_add(1), Failing::Silent));
        if hi > self.max && lo >= self.max {
            return None;
        }
        if hi <= lo.saturating_add(1) {
            // Adjacent. Silence is believed once it held for one probe more than usual.
            let silent_probes = self
                .probes
                .iter()
                .filter(|p| p.size == hi && p.outcome == MtuOutcome::Silent)
                .count();
            let confirmed = usize::try_from(n).unwrap_or(usize::MAX) < silent_probes;
            return (failing == Failing::Silent && !confirmed).then(|| vec![(hi, n + 1)]);
        }
        if let Failing::TooBig { mtu } | Failing::Local { mtu } = failing
            && mtu > lo
            && mtu < hi
            && !self.tried(mtu)
        {
            return Some(vec![(mtu, n)]);
        }
        let span = u64::from(hi - lo);
        let parts = u64::from(self.sizes_per_step) + 1;
        let mut sizes: Vec<u32> = (1..parts)
            .filter_map(|i| u32::try_from(u64::from(lo) + span * i / parts).ok())
            .filter(|size| *size > lo && *size < hi && !self.tried(*size))
            .collect();
        sizes.dedup();
        if sizes.is_empty() {
            // Every size between was tried and failed to send: nothing more to learn.
            return None;
        }
        Some(sizes.into_iter().map(|size| (size, n)).collect())
    }
}

// ---- Evaluation ----

/// Judges an MTU search.
pub fn evaluate_mtu(samples: &MtuSamples, thresholds: &MtuThresholds) -> Evaluation {
    let bounds = mtu_bounds(&samples.probes);
    let warn_below = if samples.target.is_ipv4() {
        thresholds.warn_below_v4_bytes
    } else {
        thresholds.warn_below_v6_bytes
    };
    // Limits are inclusive (a value at a limit is past it), and MTUs are whole bytes: "below
    // 1400" is "at most 1399".
    let threshold = Threshold {
        warn: Some(f64::from(warn_below.saturating_sub(1))),
        fail: None,
        direction: Direction::LowerIsWorse,
    };
    let path_mtu = Metric::judged("path_mtu_bytes", bounds.largest_answered.map(f64::from), threshold);
    let smallest_failed = bounds.smallest_failing.map(|(size, _)| size);
    let sent = samples
        .probes
        .iter()
        .filter(|p| p.outcome != MtuOutcome::Failed)
        .count();

    let (status, reason) = if samples.probes.is_empty() || sent == 0 {
        let why = samples.probes.iter().find_map(|p| p.error.as_deref());
        (
            CheckStatus::Error,
            Some(why.map_or_else(
                || "no probe was sent".to_owned(),
                |e| format!("no probe could be sent: {e}"),
            )),
        )
    } else if let Some(lo) = bounds.largest_answered {
        let mut reasons = Vec::new();
        if bounds.black_hole() {
            let hole = smallest_failed.unwrap_or(lo.saturating_add(1));
            let before = if bounds.frag_needed_seen {
                " (a router announced a larger MTU before it)"
            } else {
                ""
            };
            reasons.push(format!(
                "PMTU black hole: {hole}-byte packets vanish without an ICMP \"fragmentation needed\"{before}; \
                 the largest that passes is {lo} bytes"
            ));
        }
        if path_mtu.status == Some(CheckStatus::Warn) {
            reasons.push(format!("path_mtu_bytes {lo} < {warn_below} (warn)"));
        }
        if !samples.complete
            && let Some(hi) = smallest_failed
        {
            reasons.push(format!(
                "search stopped early: the path MTU is between {lo} and {}",
                hi - 1
            ));
        }
        let status = if bounds.black_hole() {
            CheckStatus::Fail
        } else {
            path_mtu.status.unwrap_or(CheckStatus::Pass)
        };
        (status, (!reasons.is_empty()).then(|| reasons.join("; ")))
    } else {
        let smallest = samples.probes.iter().map(|p| p.size).min().unwrap_or_default();
        (
            CheckStatus::Error,
            Some(format!(
                "{} answered none of {sent} echo requests, not even {smallest}-byte ones: no MTU to measure",
                samples.target
            )),
        )
    };
    Evaluation {
        status,
        reason,
        metrics: vec![
            Metric::new("target", samples.target.to_string()),
            Metric::new("socket", socket_name(samples.socket)),
            path_mtu,
            Metric::new("black_hole", bounds.black_hole()),
            Metric::new("largest_answered_bytes", bounds.largest_answered.map(u64::from)),
            Metric::new("smallest_failed_bytes", smallest_failed.map(u64::from)),
            Metric::new("icmp_frag_needed_seen", bounds.frag_needed_seen),
            Metric::new("interface_mtu_bytes", bounds.interface_mtu.map(u64::from)),
            Metric::new("search_complete", samples.complete),
            Metric::new("probes_sent", sent),
        ],
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use sonde_protocol::MetricValue;

    use super::*;

    const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
    const ROUTER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    use MtuOutcome::{Answered, Failed, LocalTooBig, Silent, TooBig};

    fn probe(size: u32, outcome: MtuOutcome, mtu: Option<u32>) -> MtuProbe {
        MtuProbe {
            size,
            step: 0,
            outcome,
            rtt_us: matches!(outcome, Answered | TooBig).then_some(1000),
            from: match outcome {
                Answered => Some(TARGET),
                TooBig => Some(ROUTER),
                _ => None,
            },
            mtu,
            error: None,
        }
    }

    fn samples(probes: Vec<MtuProbe>) -> MtuSamples {
        MtuSamples {
            target: TARGET,
            socket: SocketKind::Raw,
            max_bytes: 1500,
            probes,
            complete: true,
        }
    }

    fn metric<'a>(evaluation: &'a Evaluation, name: &str) -> &'a Metric {
        evaluation
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// What a search against a path with `mtu` and `icmp` behaviour would have recorded.
    fn searched(path_mtu: u32, icmp: bool) -> Vec<MtuProbe> {
        let mut search = MtuSearch::new(TARGET, &MtuOptions::default());
        let mut steps = 0;
        while let Some(sizes) = search.next_step() {
            steps += 1;
            assert!(steps < 20, "the search converges: {:?}", search.probes);
            for (size, count) in sizes {
                for _ in 0..count {
                    let outcome = match (size <= path_mtu, icmp) {
                        (true, _) => Answered,
                        (false, true) => TooBig,
                        (false, false) => Silent,
                    };
                    let mtu = (outcome == TooBig).then_some(path_mtu);
                    search.probes.push(probe(size, outcome, mtu));
                }
            }
        }
        search.probes
    }

    struct Case {
        name: &'static str,
        probes: Vec<MtuProbe>,
        status: CheckStatus,
        path_mtu: Option<f64>,
        black_hole: bool,
        frag_needed: bool,
    }

    #[test]
    fn evaluate_mtu_table() {
        let cases = [
            Case {
                name: "all good: 1500 passes",
                probes: vec![probe(84, Answered, None), probe(1500, Answered, None)],
                status: CheckStatus::Pass,
                path_mtu: Some(1500.0),
                black_hole: false,
                frag_needed: false,
            },
            Case {
                name: "well-behaved 1400: a router says so",
                probes: searched(1400, true),
                status: CheckStatus::Pass,
                path_mtu: Some(1400.0),
                black_hole: false,
                frag_needed: true,
            },
            Case {
                name: "black hole at 1400",
                probes: searched(1400, false),
                status: CheckStatus::Fail,
                path_mtu: Some(1400.0),
                black_hole: true,
                frag_needed: false,
            },
            Case {
                name: "well-behaved but small: warn",
                probes: searched(1300, true),
                status: CheckStatus::Warn,
                path_mtu: Some(1300.0),
                black_hole: false,
                frag_needed: true,
            },
            Case {
                name: "the interface's own MTU (PPPoE) is no black hole",
                probes: vec![
                    probe(84, Answered, None),
                    probe(1500, LocalTooBig, Some(1492)),
                    probe(1492, Answered, None),
                ],
                status: CheckStatus::Pass,
                path_mtu: Some(1492.0),
                black_hole: false,
                frag_needed: false,
            },
            Case {
                name: "a router announces 1450, but 1450 vanishes: black hole below an honest router",
                probes: vec![
                    probe(84, Answered, None),
                    probe(1500, TooBig, Some(1450)),
                    probe(1450, Silent, None),
                    probe(1450, Silent, None),
                    probe(1420, Answered, None),
                    probe(1421, Silent, None),
                    probe(1421, Silent, None),
                    probe(1421, Silent, None),
                ],
                status: CheckStatus::Fail,
                path_mtu: Some(1420.0),
                black_hole: true,
                frag_needed: true,
            },
            Case {
                name: "random loss below the largest answered is no black hole",
                probes: vec![
                    probe(84, Answered, None),
                    probe(1000, Silent, None),
                    probe(1000, Silent, None),
                    probe(1500, Answered, None),
                ],
                status: CheckStatus::Pass,
                path_mtu: Some(1500.0),
                black_hole: false,
                frag_needed: false,
            },
            Case {
                name: "one of two probes lost at a size: it passes",
                probes: vec![
                    probe(84, Answered, None),
                    probe(1500, Silent, None),
                    probe(1500, Answered, None),
                ],
                status: CheckStatus::Pass,
                path_mtu: Some(1500.0),
                black_hole: false,
                frag_needed: false,
            },
            Case {
                name: "the target answers nothing: no MTU to measure",
                probes: vec![probe(84, Silent, None), probe(1500, Silent, None)],
                status: CheckStatus::Error,
                path_mtu: None,
                black_hole: false,
                frag_needed: false,
            },
            Case {
                name: "nothing could be sent",
                probes: vec![MtuProbe {
                    error: Some("Network is unreachable (os error 101)".to_owned()),
                    ..probe(84, Failed, None)
                }],
                status: CheckStatus::Error,
                path_mtu: None,
                black_hole: false,
                frag_needed: false,
            },
        ];
        for case in cases {
            let evaluation = evaluate_mtu(&samples(case.probes), &MtuThresholds::default());
            assert_eq!(evaluation.status, case.status, "{}: {evaluation:?}", case.name);
            assert_eq!(
                metric(&evaluation, "path_mtu_bytes").value,
                MetricValue::from(case.path_mtu),
                "{}",
                case.name
            );
            assert_eq!(
                metric(&evaluation, "black_hole").value,
                MetricValue::Bool(case.black_hole),
                "{}",
                case.name
            );
            assert_eq!(
                metric(&evaluation, "icmp_frag_needed_seen").value,
                MetricValue::Bool(case.frag_needed),
                "{}",
                case.name
            );
            if case.status != CheckStatus::Pass {
                assert!(evaluation.reason.is_some(), "{}", case.name);
            }
        }
    }

    #[test]
    fn evaluate_mtu_reasons_and_metrics() {
        let hole = evaluate_mtu(&samples(searched(1400, false)), &MtuThresholds::default());
        assert_eq!(
            hole.reason.as_deref(),
            Some(
                "PMTU black hole: 1401-byte packets vanish without an ICMP \"fragmentation needed\"; \
                 the largest that passes is 1400 bytes"
            )
        );
        assert_eq!(
            metric(&hole, "smallest_failed_bytes").value,
            MetricValue::Number(1401.0)
        );
        assert_eq!(metric(&hole, "search_complete").value, MetricValue::Bool(true));
        let names: Vec<&str> = hole.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "target",
                "socket",
                "path_mtu_bytes",
                "black_hole",
                "largest_answered_bytes",
                "smallest_failed_bytes",
                "icmp_frag_needed_seen",
                "interface_mtu_bytes",
                "search_complete",
                "probes_sent"
            ]
        );
        let small = evaluate_mtu(&samples(searched(1300, true)), &MtuThresholds::default());
        assert_eq!(small.reason.as_deref(), Some("path_mtu_bytes 1300 < 1400 (warn)"));
        let threshold = metric(&small, "path_mtu_bytes").threshold;
        assert_eq!(
            threshold,
            Some(Threshold {
                warn: Some(1399.0),
                fail: None,
                direction: Direction::LowerIsWorse
            })
        );
        // The limit itself passes: "below 1400".
        let at_limit = evaluate_mtu(&samples(searched(1400, true)), &MtuThresholds::default());
        assert_eq!(at_limit.status, CheckStatus::Pass);

        let early = MtuSamples {
            complete: false,
            ..samples(vec![
                probe(84, Answered, None),
                probe(1000, Answered, None),
                probe(1500, Silent, None),
                probe(1500, Silent, None),
            ])
        };
        let evaluation = evaluate_mtu(&early, &MtuThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Fail, "silence above what passed");
        assert!(
            evaluation
                .reason
                .as_deref()
                .is_some_and(|r| r.ends_with("search stopped early: the path MTU is between 1000 and 1499")),
            "{evaluation:?}"
        );

        let v6 = MtuSamples {
            target: IpAddr::V6(Ipv6Addr::LOCALHOST),
            ..samples(vec![
                probe(104, Answered, None),
                probe(1500, TooBig, Some(1280)),
                probe(1280, Answered, None),
            ])
        };
        let evaluation = evaluate_mtu(&v6, &MtuThresholds::default());
        assert_eq!(
            evaluation.status,
            CheckStatus::Pass,
            "1280 is IPv6's minimum, not below it"
        );
    }

    #[test]
    fn bounds_prefer_an_explanation_at_equal_sizes() {
        let bounds = mtu_bounds(&[
            probe(84, Answered, None),
            probe(1500, TooBig, Some(1400)),
            probe(1401, Silent, None),
            probe(1401, Silent, None),
        ]);
        assert_eq!(bounds.smallest_failing, Some((1401, Failing::TooBig { mtu: 1400 })));
        assert!(!bounds.black_hole());
        // A router announcing an MTU no larger than what passed is not believed.
        let bogus = mtu_bounds(&[probe(1400, Answered, None), probe(1500, TooBig, Some(576))]);
        assert_eq!(bogus.smallest_failing, Some((1500, Failing::TooBig { mtu: 576 })));
        // Nor one announcing 0 ("not said", RFC 1191's old routers).
        let unsaid = mtu_bounds(&[probe(84, Answered, None), probe(1500, TooBig, Some(0))]);
        assert_eq!(unsaid.smallest_failing, Some((1500, Failing::TooBig { mtu: 0 })));
    }

    #[test]
    fn the_search_is_short() {
        // Everything passes: one step.
        let all = searched(1500, true);
        assert_eq!(all.len(), 4, "{all:?}");
        // Well-behaved: the announced MTU is probed directly.
        let honest = searched(1400, true);
        assert_eq!(
            honest.iter().map(|p| p.size).collect::<Vec<_>>(),
            [84, 84, 1500, 1500, 1400, 1400]
        );
        // Black hole: a few steps, then the silent size once more with three probes.
        let hole = searched(1400, false);
        assert!(hole.len() <= 40, "{} probes", hole.len());
        let last: Vec<u32> = hole.iter().rev().take(3).map(|p| p.size).collect();
        assert_eq!(last, [1401, 1401, 1401]);
        for mtu in [576, 1000, 1279, 1280, 1454, 1499] {
            for icmp in [true, false] {
                let bounds = mtu_bounds(&searched(mtu, icmp));
                assert_eq!(bounds.largest_answered, Some(mtu), "mtu {mtu} icmp {icmp}");
                assert_eq!(bounds.black_hole(), !icmp, "mtu {mtu} icmp {icmp}");
            }
        }
    }

    #[test]
    fn a_confirmation_that_answers_resumes_the_search() {
        let mut search = MtuSearch::new(TARGET, &MtuOptions::default());
        search.probes = vec![
            probe(84, Answered, None),
            probe(1400, Answered, None),
            probe(1401, Silent, None),
            probe(1401, Silent, None),
        ];
        assert_eq!(search.next_step(), Some(vec![(1401, 3)]), "confirm the silence");
        search.probes.push(probe(1401, Answered, None));
        let next = search.next_step().unwrap_or_default();
        assert!(next.iter().all(|(size, _)| *size > 1401 && *size <= 1500), "{next:?}");
    }

    #[test]
    fn the_timeout_follows_the_rtt() {
        let mut search = MtuSearch::new(TARGET, &MtuOptions::default());
        assert_eq!(search.timeout(), DEFAULT_TIMEOUT);
        search.on_rtt(Duration::from_millis(1));
        assert_eq!(search.timeout(), DEFAULT_MIN_TIMEOUT);
        search.on_rtt(Duration::from_millis(100));
        assert_eq!(search.timeout(), DEFAULT_MIN_TIMEOUT, "the smallest RTT counts");
        let mut slow = MtuSearch::new(TARGET, &MtuOptions::default());
        slow.on_rtt(Duration::from_millis(120));
        assert_eq!(slow.timeout(), Duration::from_millis(480));
        slow.on_rtt(Duration::from_millis(110));
        assert_eq!(slow.timeout(), Duration::from_millis(440));
    }

    #[test]
    fn samples_round_trip_through_json() {
        let samples = samples(searched(1400, true));
        let json = serde_json::to_string(&samples).unwrap_or_default();
        assert!(json.contains("\"outcome\":\"too_big\""), "{json}");
        let back: MtuSamples = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(back, samples);
    }

    // ---- Real sockets, loopback only ----

    /// Loopback's MTU is 65536: 1500 passes at once.
    async fn mtu_loopback(target: IpAddr) {
        let samples = match measure_mtu(target, &MtuOptions::default(), &super::super::NoProgress).await {
            Ok(samples) => samples,
            Err(MeasureError::NotPermitted(text)) => {
                assert!(text.contains("CAP_NET_RAW"), "{text}");
                assert!(
                    std::env::var("SONDE_REQUIRE_NETSIM").as_deref() != Ok("1"),
                    "no ICMP privilege, and SONDE_REQUIRE_NETSIM=1: {text}"
                );
                eprintln!("SKIPPED: no ICMP privilege here: {text}");
                return;
            }
            Err(e) => panic!("measuring {target}: {e}"),
        };
        assert!(samples.complete, "{samples:?}");
        assert_eq!(samples.probes.len(), 4, "{samples:?}");
        assert!(samples.probes.iter().all(|p| p.outcome == Answered), "{samples:?}");
        assert!(
            samples.probes.iter().all(|p| p.rtt_us.is_some_and(|us| us > 0)),
            "{samples:?}"
        );
        let evaluation = evaluate_mtu(&samples, &MtuThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
        assert_eq!(metric(&evaluation, "path_mtu_bytes").value, MetricValue::Number(1500.0));
    }

    #[tokio::test]
    async fn mtu_of_ipv4_loopback() {
        mtu_loopback(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    }

    #[tokio::test]
    async fn mtu_of_ipv6_loopback() {
        mtu_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
    }

    /// Past the interface's MTU the local stack refuses, and says the MTU: loopback's is 65536,
    /// so 65535-byte probes pass; this checks that large sizes are built and sent correctly.
    #[tokio::test]
    async fn large_probes_on_loopback() {
        let options = MtuOptions {
            max_bytes: 9000,
            ..MtuOptions::default()
        };
        let samples = match measure_mtu(IpAddr::V4(Ipv4Addr::LOCALHOST), &options, &super::super::NoProgress).await {
            Ok(samples) => samples,
            Err(MeasureError::NotPermitted(_)) => return,
            Err(e) => panic!("{e}"),
        };
        let bounds = mtu_bounds(&samples.probes);
        assert_eq!(bounds.largest_answered, Some(9000), "{samples:?}");
    }
}
