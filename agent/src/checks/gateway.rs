//! `gateway`: ICMP echo to the default gateway (the [echo prober](super::ping)): RTT min/median/p95/max, RFC 3550
//! jitter, loss.
//!
//! Metrics: `gateway` (text), `probes_sent`, `replies`, `loss_percent` (judged),
//! `rtt_min_ms`, `rtt_median_ms` (judged), `rtt_p95_ms`, `rtt_max_ms`, `jitter_ms` (judged),
//! `socket` (`dgram` or `raw`).
//!
//! Status: `fail` with reason "the gateway did not answer any of N probes" when nothing
//! answered; otherwise the worst of the judged metrics (the reason then names each metric past
//! its limit). `error` when the samples hold no probe at all.
//!
//! Live progress: one report per probe as it ends, fraction = probes ended / probes, with
//! `rtt_ms` (missing for a lost probe) and `target` (text).

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::past_limit;
use super::ping::{Schedule, ping};
use super::{Evaluation, MeasureError, ProgressSink};
use crate::config::{GatewayOptions, GatewayThresholds};
use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Threshold};

/// The raw outcome of probing one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingSamples {
    /// Who was probed.
    pub target: IpAddr,
    /// The kind of ICMP socket used.
    pub socket: SocketKind,
    /// One entry per probe, in send order.
    pub probes: Vec<Probe>,
}

/// The kind of ICMP socket a measurement used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketKind {
    /// Unprivileged `SOCK_DGRAM` ICMP (`net.ipv4.ping_group_range`).
    Dgram,
    /// `SOCK_RAW` (CAP_NET_RAW).
    Raw,
}

/// One echo request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// ICMP sequence number.
    pub seq: u16,
    /// Round-trip time in microseconds; `None` when no reply came in time.
    pub rtt_us: Option<u64>,
    /// Why a probe got no reply, when it was something other than silence: the send failed
    /// (e.g. `EHOSTUNREACH` after ARP/NDP failed) or an ICMP error came back. Such a probe is a
    /// loss like a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Probes `target` as `options` say, reporting progress as replies come in.
///
/// An IPv6 link-local target (fe80::/10) needs an interface: it is taken from the default route
/// through that gateway (read over netlink); use [`measure_gateway_scoped`] to give it directly.
pub async fn measure_gateway(
    target: IpAddr,
    options: &GatewayOptions,
    progress: &dyn ProgressSink,
) -> Result<PingSamples, MeasureError> {
    let scope_id = match target {
        IpAddr::V6(address) if address.is_unicast_link_local() => Some(link_local_scope(address).await?),
        _ => None,
    };
    measure_gateway_scoped(target, scope_id, options, progress).await
}

/// [`measure_gateway`] with the interface index (`scope_id`) an IPv6 link-local target needs.
///
/// Sends `options.probes` echo requests through the [echo prober](super::ping), one every
/// `options.interval` whether or not earlier ones were answered, each waiting at most
/// `options.timeout`: the whole measurement takes at most about
/// `(probes − 1) · interval + timeout`. RTTs run from just before each send to the kernel's
/// receive timestamp of the reply.
pub async fn measure_gateway_scoped(
    target: IpAddr,
    scope_id: Option<u32>,
    options: &GatewayOptions,
    progress: &dyn ProgressSink,
) -> Result<PingSamples, MeasureError> {
    let schedule = Schedule {
        count: options.probes,
        interval: options.interval,
        spacing: Duration::ZERO,
        timeout: options.timeout,
    };
    let mut results = ping(&[target], scope_id, &schedule, progress).await;
    results
        .pop()
        .unwrap_or_else(|| Err(MeasureError::Unsupported(format!("{target} was not probed"))))
}

/// Statistics over one measurement's probes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PingStats {
    /// Echo requests sent.
    pub sent: usize,
    /// Replies received.
    pub received: usize,
    /// `100 · (sent − received) / sent`; `None` when nothing was sent.
    pub loss_percent: Option<f64>,
    /// Smallest RTT.
    pub rtt_min_ms: Option<f64>,
    /// Median RTT (see [`percentile`]).
    pub rtt_median_ms: Option<f64>,
    /// 95th percentile RTT (see [`percentile`]).
    pub rtt_p95_ms: Option<f64>,
    /// Largest RTT.
    pub rtt_max_ms: Option<f64>,
    /// RFC 3550 interarrival jitter over successive replies; `None` with fewer than two.
    pub jitter_ms: Option<f64>,
    /// The longest run of consecutive lost probes, in send order.
    pub longest_loss_run: usize,
}

/// Computes loss, RTT order statistics and jitter over `samples` (pure).
///
/// Jitter follows RFC 3550 §6.4.1 with RTTs in place of transit times: for each reply after the
/// first (in send order, lost probes skipped), `D` is its RTT minus the previous reply's and
/// `J += (|D| − J) / 16`, starting from 0. With few samples this estimator is still far below its
/// steady state (after 9 differences it has reached about 44 % of it): it is the standard figure
/// that VoIP equipment reports, not a standard deviation.
pub fn ping_stats(samples: &PingSamples) -> PingStats {
    let rtts: Vec<f64> = samples
        .probes
        .iter()
        .filter_map(|p| p.rtt_us)
        .map(|us| us as f64 / 1000.0)
        .collect();
    let sent = samples.probes.len();
    let received = rtts.len();
    let mut sorted = rtts.clone();
    sorted.sort_by(f64::total_cmp);
    let jitter_ms = (received >= 2).then(|| {
        rtts.windows(2)
            .fold(0.0, |j, pair| j + ((pair[1] - pair[0]).abs() - j) / 16.0)
    });
    let longest_loss_run = samples
        .probes
        .iter()
        .fold((0, 0), |(longest, run), p| {
            let run = if p.rtt_us.is_none() { run + 1 } else { 0 };
            (longest.max(run), run)
        })
        .0;
    PingStats {
        sent,
        received,
        loss_percent: (sent > 0).then(|| 100.0 * (sent - received) as f64 / sent as f64),
        rtt_min_ms: sorted.first().copied(),
        rtt_median_ms: percentile(&sorted, 50.0),
        rtt_p95_ms: percentile(&sorted, 95.0),
        rtt_max_ms: sorted.last().copied(),
        jitter_ms,
        longest_loss_run,
    }
}

/// The `p`th percentile (0–100) of ascending `sorted` values, interpolated linearly between the
/// closest ranks (rank `p/100 · (n − 1)`, the default of numpy and of R's type 7): the median of
/// an even count is the mean of the middle two. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p.clamp(0.0, 100.0) / 100.0) * last as f64;
    // `rank` is within 0..=last, so both indices are in bounds.
    let lower = rank.floor() as usize;
    let upper = rank.ceil() as usize;
    let (low, high) = (sorted[lower], sorted[upper]);
    Some(low + (high - low) * (rank - lower as f64))
}

/// Judges a gateway measurement.
pub fn evaluate_gateway(samples: &PingSamples, thresholds: &GatewayThresholds) -> Evaluation {
    let stats = ping_stats(samples);
    let loss = Metric::judged(
        "loss_percent",
        stats.loss_percent,
        Threshold::above(thresholds.loss_warn_percent, thresholds.loss_fail_percent),
    );
    let median = Metric::judged(
        "rtt_median_ms",
        stats.rtt_median_ms,
        Threshold::above(thresholds.rtt_median_warn_ms, thresholds.rtt_median_fail_ms),
    );
    let jitter = Metric::judged(
        "jitter_ms",
        stats.jitter_ms,
        Threshold::above(thresholds.jitter_warn_ms, thresholds.jitter_fail_ms),
    );
    let (status, reason) = if stats.sent == 0 {
        (CheckStatus::Error, Some("no probe was sent".to_owned()))
    } else if stats.received == 0 {
        (
            CheckStatus::Fail,
            Some(format!("the gateway did not answer any of {} probes", stats.sent)),
        )
    } else {
        let judged = [&loss, &median, &jitter];
        let status = super::worst(judged.iter().filter_map(|m| m.status));
        let past: Vec<String> = judged.iter().filter_map(|m| past_limit(m)).collect();
        (status, (!past.is_empty()).then(|| past.join("; ")))
    };
    let socket = match samples.socket {
        SocketKind::Dgram => "dgram",
        SocketKind::Raw => "raw",
    };
    Evaluation {
        status,
        reason,
        metrics: vec![
            Metric::new("gateway", samples.target.to_string()),
            Metric::new("probes_sent", stats.sent),
            Metric::new("replies", stats.received),
            loss,
            Metric::new("rtt_min_ms", stats.rtt_min_ms),
            median,
            Metric::new("rtt_p95_ms", stats.rtt_p95_ms),
            Metric::new("rtt_max_ms", stats.rtt_max_ms),
            jitter,
            Metric::new("socket", socket),
        ],
    }
}

/// The interface index of the default route through the link-local gateway `address`.
async fn link_local_scope(address: Ipv6Addr) -> Result<u32, MeasureError> {
    let link = super::link::measure_link().await?;
    link.default_routes
        .iter()
        .filter(|r| r.gateway == Some(IpAddr::V6(address)))
        .find_map(|r| r.interface.as_deref().and_then(|name| link.interface_index(name)))
        .ok_or_else(|| {
            MeasureError::Unsupported(format!(
                "{address} is link-local and no default route says on which interface"
            ))
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use sonde_protocol::MetricValue;

    use super::*;

    fn samples(rtts_ms: &[Option<f64>]) -> PingSamples {
        PingSamples {
            target: IpAddr::from([192, 168, 1, 1]),
            socket: SocketKind::Raw,
            probes: (0..)
                .zip(rtts_ms)
                .map(|(seq, rtt)| Probe {
                    seq,
                    rtt_us: rtt.map(|ms| (ms * 1000.0).round() as u64),
                    error: None,
                })
                .collect(),
        }
    }

    fn all(rtt_ms: f64, count: usize) -> Vec<Option<f64>> {
        vec![Some(rtt_ms); count]
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn percentile_interpolates_between_closest_ranks() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 9.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 10.0], 50.0), Some(2.5));
        let one_to_twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        // rank 0.95 · 19 = 18.05: between 19 and 20.
        assert!(close(percentile(&one_to_twenty, 95.0), 19.05));
        assert_eq!(percentile(&one_to_twenty, 0.0), Some(1.0));
        assert_eq!(percentile(&one_to_twenty, 100.0), Some(20.0));
    }

    #[test]
    fn ping_stats_of_a_hand_computed_example() {
        // RTTs 10, 12, (lost), 11, 15 ms. Differences between successive replies: 2, −1, 4.
        // J = 0 + (2 − 0)/16 = 0.125; J = 0.125 + (1 − 0.125)/16 = 0.1796875;
        // J = 0.1796875 + (4 − 0.1796875)/16 = 0.41845703125.
        let stats = ping_stats(&samples(&[Some(10.0), Some(12.0), None, Some(11.0), Some(15.0)]));
        assert_eq!(stats.sent, 5);
        assert_eq!(stats.received, 4);
        assert!(close(stats.loss_percent, 20.0));
        assert_eq!(stats.rtt_min_ms, Some(10.0));
        assert_eq!(stats.rtt_max_ms, Some(15.0));
        // Sorted 10, 11, 12, 15: median (11 + 12)/2; p95 at rank 2.85: 12 + 0.85 · 3.
        assert!(close(stats.rtt_median_ms, 11.5));
        assert!(close(stats.rtt_p95_ms, 14.55));
        assert!(close(stats.jitter_ms, 0.418_457_031_25));
        assert_eq!(stats.longest_loss_run, 1);
    }

    #[test]
    fn ping_stats_edge_cases() {
        let none = ping_stats(&samples(&[]));
        assert_eq!(none, PingStats::default());

        let silent = ping_stats(&samples(&[None, None, None]));
        assert_eq!((silent.sent, silent.received), (3, 0));
        assert!(close(silent.loss_percent, 100.0));
        assert_eq!(silent.rtt_median_ms, None);
        assert_eq!(silent.jitter_ms, None);
        assert_eq!(silent.longest_loss_run, 3);

        let one = ping_stats(&samples(&[Some(3.0)]));
        assert_eq!(one.rtt_min_ms, Some(3.0));
        assert_eq!(one.rtt_median_ms, Some(3.0));
        assert_eq!(one.rtt_p95_ms, Some(3.0));
        assert_eq!(one.jitter_ms, None, "jitter needs two replies");
        assert!(close(one.loss_percent, 0.0));

        let bursts = ping_stats(&samples(&[Some(1.0), None, None, Some(1.0), None, None, None]));
        assert_eq!(bursts.longest_loss_run, 3);
        assert_eq!(bursts.jitter_ms, Some(0.0));
    }

    struct Case {
        name: &'static str,
        rtts: Vec<Option<f64>>,
        status: CheckStatus,
        reason: Option<&'static str>,
    }

    #[test]
    fn evaluate_gateway_table() {
        let alternating = (0..20).map(|i| Some(if i % 2 == 0 { 1.0 } else { 19.0 })).collect();
        let cases = [
            Case {
                name: "healthy",
                rtts: all(1.2, 10),
                status: CheckStatus::Pass,
                reason: None,
            },
            Case {
                name: "nothing answered",
                rtts: vec![None; 10],
                status: CheckStatus::Fail,
                reason: Some("the gateway did not answer any of 10 probes"),
            },
            Case {
                name: "nothing sent",
                rtts: vec![],
                status: CheckStatus::Error,
                reason: Some("no probe was sent"),
            },
            Case {
                name: "a single probe, answered: no jitter to judge",
                rtts: vec![Some(2.0)],
                status: CheckStatus::Pass,
                reason: None,
            },
            Case {
                name: "1 lost of 20 is 5 %: warn",
                rtts: [all(1.0, 19), vec![None]].concat(),
                status: CheckStatus::Warn,
                reason: Some("loss_percent 5 ≥ 1 (warn)"),
            },
            Case {
                name: "1 lost of 10 is 10 %: fail, the limit is inclusive",
                rtts: [vec![None], all(1.0, 9)].concat(),
                status: CheckStatus::Fail,
                reason: Some("loss_percent 10 ≥ 10 (fail)"),
            },
            Case {
                name: "slow gateway",
                rtts: all(25.0, 10),
                status: CheckStatus::Warn,
                reason: Some("rtt_median_ms 25 ≥ 20 (warn)"),
            },
            Case {
                name: "very slow gateway, with loss",
                rtts: [all(150.0, 9), vec![None]].concat(),
                status: CheckStatus::Fail,
                reason: Some("loss_percent 10 ≥ 10 (fail); rtt_median_ms 150 ≥ 100 (fail)"),
            },
            Case {
                // Median (1 + 19)/2 = 10 passes; J after 19 differences of 18 ms is
                // 18 · (1 − (15/16)^19) ≈ 12.72 ms.
                name: "jittery gateway",
                rtts: alternating,
                status: CheckStatus::Warn,
                reason: Some("jitter_ms 12.72 ≥ 10 (warn)"),
            },
        ];
        for case in cases {
            let evaluation = evaluate_gateway(&samples(&case.rtts), &GatewayThresholds::default());
            assert_eq!(evaluation.status, case.status, "{}", case.name);
            assert_eq!(evaluation.reason.as_deref(), case.reason, "{}", case.name);
        }
    }

    #[test]
    fn evaluate_gateway_reports_the_contract_metrics() {
        let evaluation = evaluate_gateway(&samples(&[Some(1.0), None]), &GatewayThresholds::default());
        let names: Vec<&str> = evaluation.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "gateway",
                "probes_sent",
                "replies",
                "loss_percent",
                "rtt_min_ms",
                "rtt_median_ms",
                "rtt_p95_ms",
                "rtt_max_ms",
                "jitter_ms",
                "socket"
            ]
        );
        let metric = |name: &str| {
            evaluation
                .metrics
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(metric("gateway").value, MetricValue::Text("192.168.1.1".to_owned()));
        assert_eq!(metric("socket").value, MetricValue::Text("raw".to_owned()));
        assert_eq!(metric("replies").value, MetricValue::Number(1.0));
        let loss = metric("loss_percent");
        assert_eq!(loss.value, MetricValue::Number(50.0));
        assert_eq!(loss.threshold, Some(Threshold::above(1.0, 10.0)));
        assert_eq!(loss.status, Some(CheckStatus::Fail));
        let jitter = metric("jitter_ms");
        assert_eq!(jitter.value, MetricValue::Missing);
        assert_eq!(jitter.status, None);
        assert!(jitter.threshold.is_some());
        assert!(metric("rtt_p95_ms").threshold.is_none());
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(f64, Vec<Metric>)>>);

    impl ProgressSink for Recorder {
        fn report(&self, fraction: f64, metrics: Vec<Metric>) {
            if let Ok(mut reports) = self.0.lock() {
                reports.push((fraction, metrics));
            }
        }
    }

    fn loopback_options() -> GatewayOptions {
        GatewayOptions {
            probes: 5,
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(1000),
        }
    }

    /// The socket the prober should open here: DGRAM when our effective gid is inside
    /// ping_group_range (it is tried first), else RAW.
    fn expected_socket() -> SocketKind {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let gid: Option<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Gid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|g| g.parse().ok());
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
        let bounds: Vec<u32> = range.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        match (gid, bounds.as_slice()) {
            (Some(gid), [low, high]) if (*low..=*high).contains(&gid) => SocketKind::Dgram,
            _ => SocketKind::Raw,
        }
    }

    /// Real ICMP, to loopback only. Needs CAP_NET_RAW or a ping_group_range that includes us
    /// (CI runs as root); without either, the error must be the explanatory one, and the test
    /// is skipped loudly (or fails when SONDE_REQUIRE_NETSIM=1, as in CI).
    async fn ping_loopback(target: IpAddr) {
        let recorder = Recorder::default();
        let samples = match measure_gateway(target, &loopback_options(), &recorder).await {
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
        assert_eq!(samples.target, target);
        assert_eq!(samples.socket, expected_socket());
        assert_eq!(samples.probes.len(), 5);
        for probe in &samples.probes {
            let rtt = probe.rtt_us.unwrap_or_else(|| panic!("no reply: {probe:?}"));
            assert!(rtt > 0 && rtt < 50_000, "{probe:?}");
        }
        let evaluation = evaluate_gateway(&samples, &GatewayThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
        assert_eq!(recorder.0.lock().map(|r| r.len()).unwrap_or_default(), 5);
    }

    #[tokio::test]
    async fn measure_gateway_pings_ipv4_loopback() {
        ping_loopback(IpAddr::from([127, 0, 0, 1])).await;
    }

    #[tokio::test]
    async fn measure_gateway_pings_ipv6_loopback() {
        ping_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
    }
}
