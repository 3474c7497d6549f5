//! Scheduled monitoring: lightweight checks every `[schedule] interval-minutes`, skipped while
//! the customer uses the line, kept in a bounded history (`GET /v1/history`), with an alert
//! after `alert-after` failed rounds in a row.
//!
//! The decisions are pure and take their inputs: [`line_load`] and [`is_busy`] read two counter
//! samples, [`AlertState::record`] folds one round's outcome. [`run`] is the I/O around them: it
//! sleeps until the next round (no polling), reads the interface counters, takes the run slot
//! and runs the checks. A customer's run always wins: a round does not start while a run is in
//! progress, and a run requested during a round cancels the round (`preempted`).

use std::collections::VecDeque;
use std::time::Duration;

use sonde_protocol::{
    CheckId, CheckResult, CheckStatus, LineLoad, RoundOutcome, ScheduleHistory, ScheduledCheck, ScheduledRound,
    Timestamp,
};
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::checks::NoProgress;
use crate::config::ScheduleOptions;

/// The interface traffic is sampled over this window just before a round.
pub const BUSY_WINDOW: Duration = Duration::from_secs(5);

/// A reading of the default-route interface's byte counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterSample {
    /// The interface read.
    pub interface: String,
    /// Bytes received since the interface came up.
    pub rx_bytes: u64,
    /// Bytes sent since the interface came up.
    pub tx_bytes: u64,
}

/// Where the line's counters come from (the kernel; tests feed fakes).
pub trait LineCounters: Send + Sync {
    /// The default-route interface's counters now, or `None` when there is no default route or
    /// its counters cannot be read.
    fn read(&self) -> Option<CounterSample>;
}

/// The kernel's counters: the IPv4 (else IPv6) default route's interface from `/proc/net/route`
/// (`/proc/net/ipv6_route`), its bytes from `/sys/class/net/IF/statistics/{rx,tx}_bytes`.
#[derive(Debug, Default)]
pub struct SysfsCounters;

impl LineCounters for SysfsCounters {
    fn read(&self) -> Option<CounterSample> {
        let interface = std::fs::read_to_string("/proc/net/route")
            .ok()
            .and_then(|t| default_interface_v4(&t))
            .or_else(|| {
                std::fs::read_to_string("/proc/net/ipv6_route")
                    .ok()
                    .and_then(|t| default_interface_v6(&t))
            })?;
        let counter = |name: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{interface}/statistics/{name}"))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        Some(CounterSample {
            rx_bytes: counter("rx_bytes")?,
            tx_bytes: counter("tx_bytes")?,
            interface,
        })
    }
}

/// The interface of the IPv4 default route the kernel prefers in `/proc/net/route` text: the
/// up one with the lowest metric, the first listed on a tie (as the link check picks it).
pub fn default_interface_v4(route: &str) -> Option<String> {
    route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask …; flag 0x1 is RTF_UP.
            let up = fields.get(3).and_then(|f| u32::from_str_radix(f, 16).ok()).unwrap_or(0) & 1 == 1;
            let default = fields.len() > 7 && fields[1] == "00000000" && fields[7] == "00000000";
            let metric = fields.get(6).and_then(|m| m.parse::<u32>().ok()).unwrap_or(u32::MAX);
            (default && up).then(|| (metric, fields[0]))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, interface)| interface.to_owned())
}

/// The interface of the IPv6 default route (`::/0`, up, not via loopback) with the lowest
/// metric in `/proc/net/ipv6_route` text, the first listed on a tie.
pub fn default_interface_v6(route: &str) -> Option<String> {
    route
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Destination, its prefix length, source, its prefix length, next hop, metric,
            // refcnt, use, flags (0x1 is RTF_UP), interface; numbers in hex.
            let hex = |f: &str| u32::from_str_radix(f, 16).ok();
            let default = fields.len() == 10 && fields[0].bytes().all(|b| b == b'0') && fields[1] == "00";
            let up = hex(fields.get(8)?).unwrap_or(0) & 1 == 1;
            let metric = hex(fields[5]).unwrap_or(u32::MAX);
            (default && up && fields[9] != "lo").then(|| (metric, fields[9]))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, interface)| interface.to_owned())
}

/// The line's load between two samples `elapsed` apart, or `None` when they cannot be compared
/// (another interface, counters reset, no time elapsed).
pub fn line_load(before: &CounterSample, after: &CounterSample, elapsed: Duration) -> Option<LineLoad> {
    let seconds = elapsed.as_secs_f64();
    if before.interface != after.interface || seconds <= 0.0 {
        return None;
    }
    let rx = after.rx_bytes.checked_sub(before.rx_bytes)?;
    let tx = after.tx_bytes.checked_sub(before.tx_bytes)?;
    let kbps = |bytes: u64| (bytes as f64 * 8.0 / 1000.0 / seconds * 10.0).round() / 10.0;
    Some(LineLoad {
        interface: after.interface.clone(),
        rx_kbps: kbps(rx),
        tx_kbps: kbps(tx),
    })
}

/// Whether the customer is using the line: more than `busy_kbps` in either direction.
pub fn is_busy(load: &LineLoad, busy_kbps: u32) -> bool {
    let limit = f64::from(busy_kbps);
    load.rx_kbps > limit || load.tx_kbps > limit
}

/// A round fails when any of its checks failed or could not measure.
pub fn round_outcome(checks: &[CheckResult]) -> RoundOutcome {
    if checks
        .iter()
        .any(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
    {
        RoundOutcome::Failed
    } else {
        RoundOutcome::Passed
    }
}

/// Consecutive failures and the alert. Skipped and preempted rounds neither count nor reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertState {
    /// Failures in a row that raise the alert.
    pub alert_after: u32,
    /// Failed rounds in a row now.
    pub consecutive_failures: u32,
    /// Whether the alert is raised.
    pub raised: bool,
}

/// What one round did to the alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertChange {
    /// Nothing changed state.
    None,
    /// This round raised it.
    Raised,
    /// This round (a success) cleared it.
    Cleared,
}

impl AlertState {
    /// No failure yet.
    pub fn new(alert_after: u32) -> Self {
        Self {
            alert_after: alert_after.max(1),
            consecutive_failures: 0,
            raised: false,
        }
    }

    /// Folds one round's outcome.
    pub fn record(&mut self, outcome: RoundOutcome) -> AlertChange {
        match outcome {
            RoundOutcome::Failed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if !self.raised && self.consecutive_failures >= self.alert_after {
                    self.raised = true;
                    return AlertChange::Raised;
                }
                AlertChange::None
            }
            RoundOutcome::Passed => {
                self.consecutive_failures = 0;
                if std::mem::take(&mut self.raised) {
                    AlertChange::Cleared
                } else {
                    AlertChange::None
                }
            }
            _ => AlertChange::None,
        }
    }
}

/// The history and the alert, shared by the scheduler, `/v1/history` and `/metrics`.
#[derive(Debug)]
pub struct Monitor {
    interval_minutes: u32,
    capacity: usize,
    rounds: VecDeque<ScheduledRound>,
    alert: AlertState,
}

impl Monitor {
    /// An empty history for `options`.
    pub fn new(options: &ScheduleOptions) -> Self {
        Self {
            interval_minutes: options
                .interval
                .map_or(0, |i| u32::try_from(i.as_secs() / 60).unwrap_or(u32::MAX)),
            capacity: options.history.max(1),
            rounds: VecDeque::new(),
            alert: AlertState::new(options.alert_after),
        }
    }

    /// Records a round (dropping the oldest beyond the capacity) and logs an alert change.
    pub fn record(
        &mut self,
        at: Timestamp,
        outcome: RoundOutcome,
        line: Option<LineLoad>,
        checks: Vec<ScheduledCheck>,
    ) -> AlertChange {
        let change = self.alert.record(outcome);
        match change {
            AlertChange::Raised => {
                let failing: Vec<&str> = checks
                    .iter()
                    .filter(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
                    .map(|c| c.id.as_str())
                    .collect();
                tracing::warn!(
                    consecutive_failures = self.alert.consecutive_failures,
                    failing = failing.join(","),
                    "scheduled checks failing: alert raised"
                );
            }
            AlertChange::Cleared => tracing::info!("scheduled checks pass again: alert cleared"),
            AlertChange::None => {}
        }
        if self.rounds.len() >= self.capacity {
            self.rounds.pop_front();
        }
        self.rounds.push_back(ScheduledRound {
            at,
            outcome,
            line,
            checks,
            consecutive_failures: self.alert.consecutive_failures,
            alert: self.alert.raised,
        });
        change
    }

    /// The alert state now.
    pub fn alert(&self) -> AlertState {
        self.alert
    }

    /// What `GET /v1/history` answers.
    pub fn history(&self) -> ScheduleHistory {
        ScheduleHistory {
            interval_minutes: self.interval_minutes,
            alert_after: self.alert.alert_after,
            consecutive_failures: self.alert.consecutive_failures,
            alert: self.alert.raised,
            rounds: self.rounds.iter().cloned().collect(),
        }
    }
}

/// Runs rounds every `interval` until `shutdown`; returns at once when the schedule is off.
/// Between rounds the task sleeps on a timer: an idle scheduler costs nothing.
pub async fn run(state: AppState, counters: Box<dyn LineCounters>, shutdown: CancellationToken) {
    let Some(interval) = state.config().schedule.interval else {
        return;
    };
    tracing::info!(interval_minutes = interval.as_secs() / 60, "scheduled monitoring on");
    let mut next = tokio::time::Instant::now() + interval;
    loop {
        // Wake one sample window early: the window ends when the round is due.
        let wake = next.checked_sub(BUSY_WINDOW).unwrap_or(next);
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = shutdown.cancelled() => return,
        }
        tokio::select! {
            _ = round(&state, counters.as_ref(), BUSY_WINDOW) => {}
            () = shutdown.cancelled() => return,
        }
        next += interval;
        let now = tokio::time::Instant::now();
        if next <= now {
            // A round overran (or the host slept): the next one is a whole interval away.
            next = now + interval;
        }
    }
}

/// One round: samples the line over `window`, then runs the checks unless the line is busy or a
/// run is in progress, and records the round.
pub async fn round(state: &AppState, counters: &dyn LineCounters, window: Duration) -> RoundOutcome {
    let options = &state.config().schedule;
    let before = counters.read();
    let started = tokio::time::Instant::now();
    tokio::time::sleep(window).await;
    let after = counters.read();
    let line = match (&before, &after) {
        (Some(before), Some(after)) => line_load(before, after, started.elapsed()),
        _ => None,
    };
    let at = Timestamp::now();
    if let Some(load) = line.as_ref().filter(|load| is_busy(load, options.busy_kbps)) {
        tracing::info!(
            interface = %load.interface,
            rx_kbps = load.rx_kbps,
            tx_kbps = load.tx_kbps,
            "line busy: scheduled round skipped"
        );
        state.record_round(at, RoundOutcome::SkippedBusy, line, Vec::new());
        return RoundOutcome::SkippedBusy;
    }
    let Some(cancel) = state.begin_scheduled() else {
        state.record_round(at, RoundOutcome::SkippedRunInProgress, line, Vec::new());
        return RoundOutcome::SkippedRunInProgress;
    };
    let checks = state.scheduled_checks();
    let mut results = Vec::with_capacity(options.checks.len());
    let mut preempted = false;
    for &check in &options.checks {
        tokio::select! {
            result = checks.run(check, &NoProgress) => results.push(result),
            () = cancel.cancelled() => {
                preempted = true;
                break;
            }
        }
    }
    state.end_scheduled(&cancel);
    let outcome = if preempted {
        RoundOutcome::Preempted
    } else {
        round_outcome(&results)
    };
    let checks = results.into_iter().map(scheduled_check).collect();
    state.record_round(at, outcome, line, checks);
    outcome
}

/// A check result as the history keeps it: no raw samples.
fn scheduled_check(result: CheckResult) -> ScheduledCheck {
    ScheduledCheck {
        id: result.id,
        status: result.status,
        reason: result.reason,
        duration_ms: result.duration_ms,
        metrics: result.metrics,
    }
}

/// The checks a round may name (the rest move too much traffic to run unattended).
pub fn is_lightweight(check: CheckId) -> bool {
    matches!(
        check,
        CheckId::Link | CheckId::Gateway | CheckId::Dns | CheckId::InternetLatency | CheckId::Http
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(interface: &str, rx_bytes: u64, tx_bytes: u64) -> CounterSample {
        CounterSample {
            interface: interface.to_owned(),
            rx_bytes,
            tx_bytes,
        }
    }

    #[test]
    fn the_line_is_busy_above_the_threshold_in_either_direction() {
        let window = Duration::from_secs(5);
        // 5 s at 1 Mbit/s down = 625,000 bytes.
        let cases = [
            (
                sample("eth0", 0, 0),
                sample("eth0", 625_000, 0),
                Some((1000.0, 0.0)),
                true,
            ),
            (
                sample("eth0", 0, 0),
                sample("eth0", 0, 625_000),
                Some((0.0, 1000.0)),
                true,
            ),
            (
                sample("eth0", 100, 100),
                sample("eth0", 20_100, 10_100),
                Some((32.0, 16.0)),
                false,
            ),
            // Exactly at the threshold is not busy.
            (
                sample("eth0", 0, 0),
                sample("eth0", 312_500, 0),
                Some((500.0, 0.0)),
                false,
            ),
            // Counters reset (interface bounced) or the route moved: unknown, not busy.
            (sample("eth0", 1_000_000, 0), sample("eth0", 10, 0), None, false),
            (sample("eth0", 0, 0), sample("wwan0", 9_000_000, 0), None, false),
        ];
        for (before, after, expected, busy) in cases {
            let load = line_load(&before, &after, window);
            assert_eq!(
                load.as_ref().map(|l| (l.rx_kbps, l.tx_kbps)),
                expected,
                "{before:?} → {after:?}"
            );
            assert_eq!(load.is_some_and(|l| is_busy(&l, 500)), busy, "{before:?} → {after:?}");
        }
        assert_eq!(line_load(&sample("a", 0, 0), &sample("a", 1, 1), Duration::ZERO), None);
    }

    #[test]
    fn the_alert_rises_after_n_failures_in_a_row_and_clears_on_success() {
        use RoundOutcome::{Failed, Passed, Preempted, SkippedBusy, SkippedRunInProgress};
        let mut alert = AlertState::new(3);
        let steps = [
            (Failed, 1, false, AlertChange::None),
            (Passed, 0, false, AlertChange::None),
            (Failed, 1, false, AlertChange::None),
            (Failed, 2, false, AlertChange::None),
            // Skips neither count nor reset.
            (SkippedBusy, 2, false, AlertChange::None),
            (SkippedRunInProgress, 2, false, AlertChange::None),
            (Preempted, 2, false, AlertChange::None),
            (Failed, 3, true, AlertChange::Raised),
            (Failed, 4, true, AlertChange::None),
            (Passed, 0, false, AlertChange::Cleared),
            (Passed, 0, false, AlertChange::None),
        ];
        for (i, (outcome, failures, raised, change)) in steps.into_iter().enumerate() {
            assert_eq!(alert.record(outcome), change, "step {i}: {outcome:?}");
            assert_eq!(
                (alert.consecutive_failures, alert.raised),
                (failures, raised),
                "step {i}"
            );
        }
    }

    #[test]
    fn the_history_is_bounded_and_oldest_first() {
        let options = ScheduleOptions {
            history: 3,
            alert_after: 2,
            interval: Some(Duration::from_secs(3600)),
            ..ScheduleOptions::default()
        };
        let mut monitor = Monitor::new(&options);
        let t0 = Timestamp::UNIX_EPOCH;
        for i in 0..5i64 {
            let at = t0 + jiff::SignedDuration::from_secs(i);
            monitor.record(at, RoundOutcome::Failed, None, Vec::new());
        }
        let history = monitor.history();
        assert_eq!(history.interval_minutes, 60);
        assert_eq!(history.rounds.len(), 3);
        assert_eq!(history.rounds[0].at, t0 + jiff::SignedDuration::from_secs(2));
        assert_eq!(history.rounds[0].consecutive_failures, 3);
        assert!(history.alert && history.rounds[2].alert);
        assert_eq!(history.consecutive_failures, 5);
    }

    #[test]
    fn default_routes_are_found_in_proc_net_route() {
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth1\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_interface_v4(v4).as_deref(), Some("eth0"));
        assert_eq!(default_interface_v4("Iface\tDestination\n"), None);
        let v6 = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003    wwan0\n";
        assert_eq!(default_interface_v6(v6).as_deref(), Some("wwan0"));
    }

    #[test]
    fn the_default_route_with_the_lowest_metric_is_the_line() {
        // Two uplinks, as the link check sees them: the lower metric wins, whatever the order.
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  wwan0\t00000000\t0101A8C0\t0003\t0\t0\t700\t00000000\t0\t0\t0\n\
                  eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                  eth2\t00000000\t0103A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(
            default_interface_v4(v4).as_deref(),
            Some("eth0"),
            "eth2's route is down"
        );
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003    wwan0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000100 00000001 00000000 00000003     eth0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert_eq!(default_interface_v6(v6).as_deref(), Some("eth0"));
    }
}
