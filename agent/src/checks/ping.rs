//! The echo prober: ICMP echo requests to one target or to thousands, from one socket per
//! address family, on a fixed schedule that never waits for replies. The gateway and latency
//! checks and `sonde ping` use it.
//!
//! Round `j` sends probe `j` (its sequence number: unique per target) to every target, `spacing`
//! apart; rounds start `max(interval, targets · spacing)` apart. Each probe waits `timeout` for
//! its reply; the whole run takes at most about the last send time plus `timeout`, and ends as
//! soon as every probe has its answer.
//!
//! Accuracy: the send time is read just before the send system call, and the arrival time is
//! the kernel's receive timestamp (`SO_TIMESTAMPNS`), as iputils `ping` does, so an RTT never
//! includes this process's wake-up and is never 0 µs. Replies are matched by (sender, sequence
//! number); ICMP errors by the destination they quote.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sonde_protocol::Metric;

use super::gateway::{PingSamples, Probe};
use super::path::Reply;
use super::probe::{Event, ProbeSocket};
use super::{MeasureError, ProgressSink};

/// When echo requests go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Requests per target (at most 65,536: sequence numbers are 16 bits).
    pub count: u32,
    /// Time between two requests to the same target.
    pub interval: Duration,
    /// Time between requests to successive targets (fping's `-i`); 0 sends a round at once.
    pub spacing: Duration,
    /// How long each request waits for its reply.
    pub timeout: Duration,
}

/// ICMP message bytes of a request: the 8-byte header and 56 bytes of payload, like iputils'.
const ICMP_BYTES: usize = 64;
/// Requests sent back to back before the socket is read again, so replies never pile up.
const BURST: usize = 64;
/// How long to wait before retrying a send the kernel refused for want of buffer space.
const SEND_BACKOFF: Duration = Duration::from_micros(200);

/// Probes every target as `schedule` says: one result per target, in order. IPv4 and IPv6
/// targets each go through one socket, probed concurrently; a family whose socket cannot be
/// opened gives that error for each of its targets. IPv6 link-local targets leave through
/// interface `scope_id`. Duplicate targets are probed once and reported at each place.
pub async fn ping(
    targets: &[IpAddr],
    scope_id: Option<u32>,
    schedule: &Schedule,
    progress: &dyn ProgressSink,
) -> Vec<Result<PingSamples, MeasureError>> {
    // Each target's first place in `targets`; the others are duplicates.
    let mut first: HashMap<IpAddr, usize> = HashMap::with_capacity(targets.len());
    let mut unique: Vec<IpAddr> = Vec::with_capacity(targets.len());
    for (k, target) in targets.iter().enumerate() {
        first.entry(*target).or_insert_with(|| {
            unique.push(*target);
            k
        });
    }
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = unique.iter().partition(|t| t.is_ipv4());
    let count = schedule.count.min(u32::from(u16::MAX) + 1);
    let total = unique.len().saturating_mul(count as usize);
    let ended = AtomicUsize::new(0);
    let tally = Tally {
        ended: &ended,
        total,
        progress,
    };
    let (v4_results, v6_results) = tokio::join!(
        ping_family(&v4, None, count, schedule, &tally),
        ping_family(&v6, scope_id, count, schedule, &tally)
    );
    // Move each target's samples to its (first) place; a family's socket error goes, as
    // itself, to its first target, as text to the others.
    let mut by_target: HashMap<IpAddr, Result<PingSamples, MeasureError>> = HashMap::with_capacity(unique.len());
    for (family_targets, results) in [(&v4, v4_results), (&v6, v6_results)] {
        match results {
            Ok(samples) => by_target.extend(samples.into_iter().map(|s| (s.target, Ok(s)))),
            Err(e) => {
                let text = e.to_string();
                let mut error = Some(e);
                for target in family_targets {
                    let e = error.take().unwrap_or_else(|| MeasureError::Unsupported(text.clone()));
                    by_target.insert(*target, Err(e));
                }
            }
        }
    }
    let mut results: Vec<Result<PingSamples, MeasureError>> = Vec::with_capacity(targets.len());
    for target in targets {
        let result = by_target.remove(target).unwrap_or_else(|| {
            // A duplicate: its first place has it.
            match first.get(target).and_then(|k| results.get(*k)) {
                Some(Ok(samples)) => Ok(samples.clone()),
                Some(Err(e)) => Err(MeasureError::Unsupported(e.to_string())),
                None => Err(MeasureError::Unsupported(format!("{target} was not probed"))),
            }
        });
        results.push(result);
    }
    results
}

/// Progress shared by both families: one report per probe as it ends.
struct Tally<'a> {
    ended: &'a AtomicUsize,
    total: usize,
    progress: &'a dyn ProgressSink,
}

impl Tally<'_> {
    fn probe_ended(&self, target: Option<IpAddr>, rtt_us: Option<u64>) {
        let ended = self.ended.fetch_add(1, Ordering::Relaxed) + 1;
        let fraction = ended as f64 / self.total.max(1) as f64;
        let rtt_ms = rtt_us.map(|us| us as f64 / 1000.0);
        let mut metrics = vec![Metric::new("rtt_ms", rtt_ms)];
        metrics.extend(target.map(|t| Metric::new("target", t.to_string())));
        self.progress.report(fraction.min(1.0), metrics);
    }
}

/// Probes targets of one family through one socket.
async fn ping_family(
    targets: &[IpAddr],
    scope_id: Option<u32>,
    count: u32,
    schedule: &Schedule,
    tally: &Tally<'_>,
) -> Result<Vec<PingSamples>, MeasureError> {
    let Some(first) = targets.first() else {
        return Ok(Vec::new());
    };
    let mut run = Run::new(targets, count, schedule);
    let mut socket = ProbeSocket::open_icmp_many(first.is_ipv4(), run.in_flight())?;
    if let Some(scope_id) = scope_id {
        socket.set_scope_id(scope_id);
    }
    let bytes = socket.ip_header_bytes() + ICMP_BYTES;
    let mut events = Vec::new();
    let start = Instant::now();
    loop {
        let now = Instant::now();
        let mut backoff = false;
        let mut burst = 0;
        while let Some((target, seq)) = run.next_due(start, now) {
            if burst == BURST {
                break;
            }
            burst += 1;
            match socket.send_to(target, seq, bytes, &mut events) {
                Ok(at) => run.sent(at),
                Err(failure) if is_congestion(&failure.error) && run.may_retry(start, now) => {
                    backoff = true;
                    break;
                }
                Err(failure) => run.send_failed(failure.error.to_string(), tally),
            }
        }
        run.answers(events.drain(..), tally);
        run.expire(Instant::now(), tally);
        if run.finished() {
            break;
        }
        let wake = if backoff {
            now + SEND_BACKOFF
        } else if burst == BURST {
            now
        } else {
            run.next_wake(start)
        };
        socket.read_until(wake, &mut events).await;
        run.answers(events.drain(..), tally);
    }
    Ok(run.into_samples(socket.kind()))
}

/// Whether a send failed only because the kernel's queues are full for now.
fn is_congestion(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock || error.raw_os_error() == Some(libc::ENOBUFS)
}

/// The bookkeeping of one family's probes, in send order: probe `k` is sequence `k / n` to
/// target `k % n`. Pure: times come in as arguments.
#[derive(Debug)]
struct Run<'a> {
    targets: &'a [IpAddr],
    index: HashMap<IpAddr, usize>,
    schedule: Schedule,
    /// Time between round starts.
    period: Duration,
    total: usize,
    /// The next probe to send.
    next: usize,
    /// Every probe before this one has ended (answered, failed or timed out).
    expired: usize,
    sent_at: Vec<Option<Instant>>,
    probes: Vec<Probe>,
    ended: Vec<bool>,
}

impl<'a> Run<'a> {
    fn new(targets: &'a [IpAddr], count: u32, schedule: &Schedule) -> Self {
        let n = targets.len();
        let total = n.saturating_mul(count as usize);
        let index = targets.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let round = schedule.spacing.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        let probes = (0..total)
            .map(|k| Probe {
                seq: u16::try_from(k / n.max(1)).unwrap_or(u16::MAX),
                rtt_us: None,
                error: None,
            })
            .collect();
        Self {
            targets,
            index,
            schedule: *schedule,
            period: schedule.interval.max(round),
            total,
            next: 0,
            expired: 0,
            sent_at: vec![None; total],
            probes,
            ended: vec![false; total],
        }
    }

    /// Replies that may be in flight at once: what the socket's receive buffer must hold.
    fn in_flight(&self) -> usize {
        let n = self.targets.len();
        if self.schedule.interval.is_zero() {
            return self.total;
        }
        let rounds = self.schedule.timeout.as_nanos() / self.period.as_nanos().max(1) + 1;
        n.saturating_mul(usize::try_from(rounds).unwrap_or(usize::MAX))
            .min(self.total)
    }

    /// When probe `k` is due.
    fn due(&self, start: Instant, k: usize) -> Instant {
        let n = self.targets.len().max(1);
        let (round, position) = (k / n, k % n);
        start
            + self.period.saturating_mul(u32::try_from(round).unwrap_or(u32::MAX))
            + self
                .schedule
                .spacing
                .saturating_mul(u32::try_from(position).unwrap_or(u32::MAX))
    }

    /// The next probe's target and sequence number, when it is due by `now`.
    fn next_due(&self, start: Instant, now: Instant) -> Option<(IpAddr, u16)> {
        if self.next >= self.total || self.due(start, self.next) > now {
            return None;
        }
        let target = *self.targets.get(self.next % self.targets.len().max(1))?;
        Some((target, self.probes.get(self.next)?.seq))
    }

    /// The next probe went out at `at`.
    fn sent(&mut self, at: Instant) {
        if let Some(slot) = self.sent_at.get_mut(self.next) {
            *slot = Some(at);
        }
        self.next += 1;
    }

    /// The next probe could not be sent: a loss, with the reason.
    fn send_failed(&mut self, error: String, tally: &Tally<'_>) {
        let k = self.next;
        self.next += 1;
        self.end(k, Err(Some(error)), tally);
    }

    /// Whether a send refused for want of buffer space may be tried again: until the probe's
    /// own timeout would have run out.
    fn may_retry(&self, start: Instant, now: Instant) -> bool {
        now < self.due(start, self.next) + self.schedule.timeout
    }

    /// Records what answered.
    fn answers(&mut self, events: impl Iterator<Item = Event>, tally: &Tally<'_>) {
        for event in events {
            let Event::Reply {
                key,
                to,
                from,
                reply,
                at,
            } = event
            else {
                continue;
            };
            let Some(&i) = self.index.get(&to) else {
                continue;
            };
            let k = usize::from(key) * self.targets.len() + i;
            let Some(Some(sent)) = self.sent_at.get(k).copied() else {
                continue;
            };
            if self.ended.get(k).copied().unwrap_or(true) {
                continue;
            }
            let outcome = match reply {
                Reply::Echo => {
                    let rtt = at.saturating_duration_since(sent);
                    // A reply after the timeout is a loss, as it was when it was counted.
                    if rtt > self.schedule.timeout {
                        continue;
                    }
                    Ok(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX))
                }
                other => Err(Some(describe(other, from))),
            };
            self.end(k, outcome, tally);
        }
    }

    /// Ends, as lost, every probe whose timeout has passed by `now`.
    fn expire(&mut self, now: Instant, tally: &Tally<'_>) {
        while self.expired < self.next {
            let k = self.expired;
            if !self.ended.get(k).copied().unwrap_or(true) {
                match self.sent_at.get(k).copied().flatten() {
                    Some(sent) if now < sent + self.schedule.timeout => return,
                    _ => self.end(k, Err(None), tally),
                }
            }
            self.expired += 1;
        }
    }

    /// Every probe was sent and has ended.
    fn finished(&self) -> bool {
        self.next >= self.total && self.expired >= self.total
    }

    /// When something must next happen: the next send, or the oldest pending probe's timeout.
    fn next_wake(&self, start: Instant) -> Instant {
        let send = (self.next < self.total).then(|| self.due(start, self.next));
        let timeout = (self.expired..self.next)
            .find(|k| !self.ended.get(*k).copied().unwrap_or(true))
            .and_then(|k| self.sent_at.get(k).copied().flatten())
            .map(|sent| sent + self.schedule.timeout);
        match (send, timeout) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => Instant::now(),
        }
    }

    fn end(&mut self, k: usize, outcome: Result<u64, Option<String>>, tally: &Tally<'_>) {
        let (Some(ended), Some(probe)) = (self.ended.get_mut(k), self.probes.get_mut(k)) else {
            return;
        };
        if *ended {
            return;
        }
        *ended = true;
        match outcome {
            Ok(rtt_us) => probe.rtt_us = Some(rtt_us),
            Err(error) => probe.error = error,
        }
        let target = self.targets.get(k % self.targets.len().max(1)).copied();
        tally.probe_ended(target, probe.rtt_us);
    }

    fn into_samples(self, socket: super::gateway::SocketKind) -> Vec<PingSamples> {
        let n = self.targets.len();
        let mut per_target: Vec<Vec<Probe>> = vec![Vec::with_capacity(self.total / n.max(1)); n];
        for (k, probe) in self.probes.into_iter().enumerate() {
            if let Some(list) = per_target.get_mut(k % n.max(1)) {
                list.push(probe);
            }
        }
        self.targets
            .iter()
            .zip(per_target)
            .map(|(target, probes)| PingSamples {
                target: *target,
                socket,
                probes,
            })
            .collect()
    }
}

/// What an ICMP error answering an echo request says, and who sent it.
fn describe(reply: Reply, from: IpAddr) -> String {
    match reply {
        Reply::Unreachable { code } => format!("destination unreachable (code {code}) from {from}"),
        Reply::PortUnreachable => format!("port unreachable from {from}"),
        Reply::TimeExceeded => format!("time exceeded from {from}"),
        Reply::TooBig { mtu } => format!("packet too big (MTU {mtu}) from {from}"),
        Reply::Echo | Reply::Datagram => format!("unexpected answer from {from}"),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Mutex;

    use super::*;
    use crate::checks::NoProgress;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn schedule(count: u32, interval_ms: u64, spacing_ms: u64, timeout_ms: u64) -> Schedule {
        Schedule {
            count,
            interval: Duration::from_millis(interval_ms),
            spacing: Duration::from_millis(spacing_ms),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn tally(ended: &AtomicUsize) -> Tally<'_> {
        Tally {
            ended,
            total: 1,
            progress: &NoProgress,
        }
    }

    fn reply(to: IpAddr, key: u16, reply: Reply, at: Instant) -> Event {
        Event::Reply {
            key,
            to,
            from: to,
            reply,
            at,
        }
    }

    #[test]
    fn rounds_send_to_every_target_spacing_apart() {
        let targets = [v4(1), v4(2), v4(3)];
        // 3 targets 10 ms apart need 30 ms a round: longer than the 20 ms interval.
        let run = Run::new(&targets, 2, &schedule(2, 20, 10, 100));
        let start = Instant::now();
        let offsets: Vec<u128> = (0..6).map(|k| (run.due(start, k) - start).as_millis()).collect();
        assert_eq!(offsets, [0, 10, 20, 30, 40, 50]);
        let seqs: Vec<u16> = run.probes.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [0, 0, 0, 1, 1, 1]);
        // Unspaced: a round at once, rounds an interval apart.
        let run = Run::new(&targets, 2, &schedule(2, 20, 0, 100));
        let offsets: Vec<u128> = (0..6).map(|k| (run.due(start, k) - start).as_millis()).collect();
        assert_eq!(offsets, [0, 0, 0, 20, 20, 20]);
        assert_eq!(run.next_due(start, start), Some((v4(1), 0)));
    }

    #[test]
    fn replies_are_matched_by_target_and_sequence() {
        let targets = [v4(1), v4(2)];
        let ended = AtomicUsize::new(0);
        let tally = tally(&ended);
        let mut run = Run::new(&targets, 2, &schedule(2, 10, 0, 100));
        let start = Instant::now();
        for _ in 0..4 {
            run.sent(start);
        }
        let ms = Duration::from_millis;
        run.answers(
            [
                reply(v4(2), 1, Reply::Echo, start + ms(3)),
                reply(v4(1), 0, Reply::Echo, start + ms(1)),
                // A duplicate, an unknown target, a sequence never sent: ignored.
                reply(v4(1), 0, Reply::Echo, start + ms(9)),
                reply(v4(9), 0, Reply::Echo, start + ms(1)),
                reply(v4(1), 7, Reply::Echo, start + ms(1)),
                // An ICMP error quoting a request to target 2, sequence 0.
                Event::Reply {
                    key: 0,
                    to: v4(2),
                    from: v4(254),
                    reply: Reply::Unreachable { code: 1 },
                    at: start + ms(2),
                },
                // Past the timeout: a loss.
                reply(v4(1), 1, Reply::Echo, start + ms(150)),
            ]
            .into_iter(),
            &tally,
        );
        let rtts: Vec<Option<u64>> = run.probes.iter().map(|p| p.rtt_us).collect();
        assert_eq!(rtts, [Some(1000), None, None, Some(3000)]);
        assert_eq!(
            run.probes[1].error.as_deref(),
            Some("destination unreachable (code 1) from 192.0.2.254")
        );
        assert_eq!(ended.load(Ordering::Relaxed), 3);
        assert!(!run.finished());
        run.expire(start + ms(99), &tally);
        assert!(!run.finished(), "the late probe's timeout has not passed");
        run.expire(start + ms(100), &tally);
        assert!(run.finished());
        assert_eq!(ended.load(Ordering::Relaxed), 4);
        let samples = run.into_samples(super::super::gateway::SocketKind::Dgram);
        assert_eq!(
            samples[0].probes.iter().map(|p| p.rtt_us).collect::<Vec<_>>(),
            [Some(1000), None]
        );
        assert_eq!(samples[1].probes.iter().map(|p| p.seq).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn the_receive_buffer_is_sized_for_the_replies_in_flight() {
        let targets: Vec<IpAddr> = (0..=255).map(v4).collect();
        assert_eq!(Run::new(&targets, 1, &schedule(1, 1000, 0, 1000)).in_flight(), 256);
        // 2 rounds fit in a timeout: 2 rounds of replies may be queued.
        assert_eq!(Run::new(&targets, 10, &schedule(10, 500, 0, 1000)).in_flight(), 3 * 256);
    }

    /// Records every progress report.
    #[derive(Default)]
    struct Reports(Mutex<Vec<f64>>);

    impl ProgressSink for Reports {
        fn report(&self, fraction: f64, _metrics: Vec<Metric>) {
            if let Ok(mut all) = self.0.lock() {
                all.push(fraction);
            }
        }
    }

    /// The loopback addresses answer on any machine; when no ICMP socket may be opened (not
    /// root, gid outside `ping_group_range`) the test says so and checks the error names the
    /// missing privilege.
    #[tokio::test]
    async fn pings_many_loopback_targets_from_one_socket_per_family() {
        let mut targets: Vec<IpAddr> = (1..=50).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))).collect();
        targets.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        targets.push(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        let reports = Reports::default();
        let results = ping(&targets, None, &schedule(3, 20, 0, 1000), &reports).await;
        assert_eq!(results.len(), targets.len());
        for (target, result) in targets.iter().zip(&results) {
            let samples = match result {
                Ok(samples) => samples,
                Err(MeasureError::NotPermitted(why)) => {
                    assert!(why.contains("CAP_NET_RAW"), "{why}");
                    assert!(
                        std::env::var("SONDE_REQUIRE_NETSIM").as_deref() != Ok("1"),
                        "no ICMP privilege, and SONDE_REQUIRE_NETSIM=1: {why}"
                    );
                    eprintln!("SKIPPED: no ICMP socket here: {why}");
                    return;
                }
                Err(MeasureError::Unsupported(why)) if target.is_ipv6() => {
                    eprintln!("no IPv6 here: {why}");
                    continue;
                }
                Err(e) => panic!("{target}: {e}"),
            };
            assert_eq!(samples.target, *target);
            let seqs: Vec<u16> = samples.probes.iter().map(|p| p.seq).collect();
            assert_eq!(seqs, [0, 1, 2]);
            for probe in &samples.probes {
                let rtt = probe
                    .rtt_us
                    .unwrap_or_else(|| panic!("{target} seq {} lost", probe.seq));
                assert!(rtt < 100_000, "{target}: {rtt} µs on loopback");
            }
        }
        let reports = reports.0.lock().map(|r| r.clone()).unwrap_or_default();
        // 51 distinct targets × 3 probes, one report each, ending at 1.
        assert_eq!(reports.len(), 153);
        assert!((reports.last().copied().unwrap_or(0.0) - 1.0).abs() < 1e-9);
    }
}
