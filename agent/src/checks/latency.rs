//! `internet_latency`: round trips to Internet anchors, IPv4 and IPv6, by ICMP echo and by TCP
//! connect (for networks that filter ICMP): RTT min/median/p95/max, RFC 3550 jitter, loss, and
//! the longest outage (consecutive losses). Anchors are probed concurrently.
//!
//! Metrics: `anchors`, `anchors_answering` (either method), `loss_percent` (judged; ICMP, pooled
//! over the anchors that answered at least once), `rtt_median_ms` (judged; the median of the answering anchors' medians),
//! `rtt_min_ms`, `rtt_p95_ms`, `jitter_ms` (judged; the median of the anchors'), `longest_outage_probes`,
//! `tcp_connect_median_ms`, `tcp_answering`, `ipv4_reachable`, `ipv6_reachable`,
//! `ipv6_anchors` (count configured).
//!
//! Status: `fail` with reason "no Internet anchor answered" when none answers by any method;
//! otherwise the worst judged metric.
//!
//! Live progress: one report per probe as it ends, fraction = the mean over the echo requests
//! (all anchors) and each anchor's TCP connects of probes ended / probes, with `rtt_ms` or
//! `tcp_connect_ms` (missing for a lost probe) and `target` (the anchor, text).

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Threshold};

use super::gateway::{PingSamples, Probe, percentile, ping_stats};
use super::ping::{Schedule, ping};
use super::{Evaluation, MeasureError, ProgressSink};

/// How anchors are probed.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyOptions {
    /// The anchors: stable, well-connected hosts that answer ICMP and accept TCP connections.
    pub anchors: Vec<IpAddr>,
    /// TCP port for connect probes (a connection refused is an answer too).
    pub tcp_port: u16,
    /// Echo requests and connect attempts per anchor.
    pub probes: u32,
    /// Interval between probes to one anchor.
    pub interval: Duration,
    /// How long to wait for each answer.
    pub timeout: Duration,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        Self {
            // Public anycast resolvers: answer ICMP and TCP/53 from everywhere, with local
            // instances near most access networks.
            anchors: ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "2001:4860:4860::8888"]
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            tcp_port: 53,
            probes: 10,
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(1000),
        }
    }
}

/// Thresholds for Internet latency (RIPE Atlas anchor measurements from European access
/// networks sit around 10–40 ms; beyond 100 ms interactive use suffers).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LatencyThresholds {
    /// Loss (percent) past which the check warns.
    pub loss_warn_percent: f64,
    /// Loss (percent) past which the check fails.
    pub loss_fail_percent: f64,
    /// Median RTT (ms) past which the check warns.
    pub rtt_median_warn_ms: f64,
    /// Median RTT (ms) past which the check fails.
    pub rtt_median_fail_ms: f64,
    /// Jitter (ms) past which the check warns.
    pub jitter_warn_ms: f64,
    /// Jitter (ms) past which the check fails.
    pub jitter_fail_ms: f64,
}

impl Default for LatencyThresholds {
    fn default() -> Self {
        Self {
            loss_warn_percent: 1.0,
            loss_fail_percent: 5.0,
            rtt_median_warn_ms: 100.0,
            rtt_median_fail_ms: 300.0,
            jitter_warn_ms: 15.0,
            jitter_fail_ms: 40.0,
        }
    }
}

/// The raw outcome of probing the anchors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySamples {
    /// One entry per anchor, in configuration order.
    pub anchors: Vec<AnchorSamples>,
}

/// What one anchor answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorSamples {
    /// The anchor.
    pub address: IpAddr,
    /// ICMP echo, when a socket could be opened.
    pub icmp: Option<PingSamples>,
    /// Why ICMP could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_error: Option<String>,
    /// TCP connect attempts (`rtt_us` = handshake time; a refusal counts as an answer).
    pub tcp: Vec<Probe>,
}

/// Probes every anchor.
pub async fn measure_latency(
    options: &LatencyOptions,
    progress: &dyn ProgressSink,
) -> Result<LatencySamples, MeasureError> {
    if options.anchors.is_empty() {
        return Ok(LatencySamples::default());
    }
    // Progress slots: the echo requests to every anchor (one socket per family), then each
    // anchor's TCP connects.
    let done = Mutex::new(vec![0.0f64; options.anchors.len() + 1]);
    let report = |slot: usize, fraction: f64, metrics: Vec<Metric>| {
        let Ok(mut done) = done.lock() else { return };
        if let Some(s) = done.get_mut(slot) {
            *s = fraction;
        }
        let overall = done.iter().sum::<f64>() / done.len() as f64;
        progress.report(overall, metrics);
    };
    let schedule = Schedule {
        count: options.probes,
        interval: options.interval,
        spacing: Duration::ZERO,
        timeout: options.timeout,
    };
    let icmp_sink = SlotSink {
        slot: 0,
        report: &report,
    };
    let tcp = options.anchors.iter().enumerate().map(|(i, anchor)| {
        let report = &report;
        tcp_probes(SocketAddr::new(*anchor, options.tcp_port), options, i + 1, report)
    });
    let (icmp, tcp) = tokio::join!(ping(&options.anchors, None, &schedule, &icmp_sink), join_all(tcp));
    let anchors: Vec<AnchorSamples> = options
        .anchors
        .iter()
        .zip(icmp)
        .zip(tcp)
        .map(|((anchor, icmp), tcp)| {
            let (icmp, icmp_error) = match icmp {
                Ok(samples) => (Some(samples), None),
                Err(e) => (None, Some(e.to_string())),
            };
            AnchorSamples {
                address: *anchor,
                icmp,
                icmp_error,
                tcp,
            }
        })
        .collect();

    // Without any socket at all there is nothing to judge: that is a measurement error.
    if anchors.iter().all(|a| a.icmp.is_none()) && anchors.iter().all(|a| a.tcp.is_empty()) {
        let reason = anchors.iter().find_map(|a| a.icmp_error.clone()).unwrap_or_default();
        return Err(MeasureError::Unsupported(format!("no probe could be sent: {reason}")));
    }
    Ok(LatencySamples { anchors })
}

struct SlotSink<'a, F: Fn(usize, f64, Vec<Metric>) + Sync> {
    slot: usize,
    report: &'a F,
}

impl<F: Fn(usize, f64, Vec<Metric>) + Sync> ProgressSink for SlotSink<'_, F> {
    fn report(&self, fraction: f64, metrics: Vec<Metric>) {
        (self.report)(self.slot, fraction, metrics);
    }
}

/// `options.probes` TCP connects to `target`, one every `interval` whether or not earlier ones
/// finished (like the echo requests), each bounded by the timeout.
async fn tcp_probes<F: Fn(usize, f64, Vec<Metric>) + Sync>(
    target: SocketAddr,
    options: &LatencyOptions,
    slot: usize,
    report: &F,
) -> Vec<Probe> {
    let start = tokio::time::Instant::now();
    let finished = std::sync::atomic::AtomicU32::new(0);
    let attempts = (0..options.probes).zip(0u16..).map(|(i, seq)| {
        let finished = &finished;
        async move {
            tokio::time::sleep_until(start + options.interval.saturating_mul(i)).await;
            let sent = Instant::now();
            let outcome = tokio::time::timeout(options.timeout, tokio::net::TcpStream::connect(target)).await;
            let elapsed = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            let probe = match outcome {
                Ok(Ok(_stream)) => Probe {
                    seq,
                    rtt_us: Some(elapsed),
                    error: None,
                },
                // A RST is an answer from the far end: it took one round trip.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe {
                    seq,
                    rtt_us: Some(elapsed),
                    error: None,
                },
                Ok(Err(e)) => Probe {
                    seq,
                    rtt_us: None,
                    error: Some(e.to_string()),
                },
                Err(_) => Probe {
                    seq,
                    rtt_us: None,
                    error: None,
                },
            };
            let done = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let rtt = probe.rtt_us.map(|us| us as f64 / 1000.0);
            report(
                slot,
                f64::from(done) / f64::from(options.probes.max(1)),
                vec![
                    Metric::new("tcp_connect_ms", rtt),
                    Metric::new("target", target.ip().to_string()),
                ],
            );
            probe
        }
    });
    join_all(attempts).await
}

/// Judges an Internet latency measurement.
pub fn evaluate_latency(samples: &LatencySamples, thresholds: &LatencyThresholds) -> Evaluation {
    let mut medians = Vec::new();
    let mut jitters = Vec::new();
    let mut mins = Vec::new();
    let mut p95s = Vec::new();
    let (mut sent, mut received, mut longest_outage) = (0usize, 0usize, 0usize);
    let mut tcp_medians = Vec::new();
    let (mut v4_up, mut v6_up) = (false, false);
    let mut answering = 0;
    let mut tcp_answering = 0;
    for anchor in &samples.anchors {
        let stats = anchor.icmp.as_ref().map(ping_stats);
        let icmp_ok = stats.as_ref().is_some_and(|s| s.received > 0);
        // Loss is pooled over anchors that answer at all: an anchor that never answers is
        // unreachable (its address family may be broken), which `anchors_answering` and
        // `ipv*_reachable` report, not a lossy line.
        if let Some(s) = stats.as_ref().filter(|s| s.received > 0) {
            sent += s.sent;
            received += s.received;
            longest_outage = longest_outage.max(s.longest_loss_run);
            medians.extend(s.rtt_median_ms);
            jitters.extend(s.jitter_ms);
            mins.extend(s.rtt_min_ms);
            p95s.extend(s.rtt_p95_ms);
        }
        let mut tcp: Vec<f64> = anchor
            .tcp
            .iter()
            .filter_map(|p| p.rtt_us)
            .map(|us| us as f64 / 1000.0)
            .collect();
        tcp.sort_by(f64::total_cmp);
        let tcp_ok = !tcp.is_empty();
        tcp_medians.extend(percentile(&tcp, 50.0));
        if icmp_ok || tcp_ok {
            answering += 1;
            match anchor.address {
                IpAddr::V4(_) => v4_up = true,
                IpAddr::V6(_) => v6_up = true,
            }
        }
        tcp_answering += usize::from(tcp_ok);
    }
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let median_of = |v: Vec<f64>| percentile(&sorted(v), 50.0);
    let loss = (sent > 0).then(|| 100.0 * (sent - received) as f64 / sent as f64);
    let loss = Metric::judged(
        "loss_percent",
        loss,
        Threshold::above(thresholds.loss_warn_percent, thresholds.loss_fail_percent),
    );
    let rtt = Metric::judged(
        "rtt_median_ms",
        median_of(medians),
        Threshold::above(thresholds.rtt_median_warn_ms, thresholds.rtt_median_fail_ms),
    );
    let jitter = Metric::judged(
        "jitter_ms",
        median_of(jitters),
        Threshold::above(thresholds.jitter_warn_ms, thresholds.jitter_fail_ms),
    );
    let v6_anchors = samples.anchors.iter().filter(|a| a.address.is_ipv6()).count();
    let (status, reason) = if samples.anchors.is_empty() {
        (CheckStatus::Skipped, Some("no Internet anchor configured".to_owned()))
    } else if answering == 0 {
        (CheckStatus::Fail, Some("no Internet anchor answered".to_owned()))
    } else {
        let judged = [&loss, &rtt, &jitter];
        let status = super::worst(judged.iter().filter_map(|m| m.status));
        let past: Vec<String> = judged.iter().filter_map(|m| super::past_limit(m)).collect();
        (status, (!past.is_empty()).then(|| past.join("; ")))
    };
    Evaluation {
        status,
        reason,
        metrics: vec![
            Metric::new("anchors", samples.anchors.len()),
            Metric::new("anchors_answering", answering as u64),
            loss,
            rtt,
            Metric::new("rtt_min_ms", sorted(mins).first().copied()),
            Metric::new("rtt_p95_ms", median_of(p95s)),
            jitter,
            Metric::new("longest_outage_probes", longest_outage),
            Metric::new("tcp_connect_median_ms", median_of(tcp_medians)),
            Metric::new("tcp_answering", tcp_answering as u64),
            Metric::new("ipv4_reachable", v4_up),
            Metric::new("ipv6_reachable", v6_up),
            Metric::new("ipv6_anchors", v6_anchors),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::gateway::SocketKind;

    fn icmp(address: &str, rtts: &[Option<u64>]) -> AnchorSamples {
        let address: IpAddr = address.parse().expect("address");
        let probes = (0u16..)
            .zip(rtts)
            .map(|(seq, rtt)| Probe {
                seq,
                rtt_us: *rtt,
                error: None,
            })
            .collect();
        AnchorSamples {
            address,
            icmp: Some(PingSamples {
                target: address,
                socket: SocketKind::Raw,
                probes,
            }),
            icmp_error: None,
            tcp: Vec::new(),
        }
    }

    fn status_and(samples: &LatencySamples, name: &str) -> (CheckStatus, Option<f64>) {
        let e = evaluate_latency(samples, &LatencyThresholds::default());
        let value = e.metrics.iter().find(|m| m.name == name).and_then(|m| m.value.as_f64());
        (e.status, value)
    }

    #[test]
    fn evaluation_by_table() {
        let ms = |v: u64| Some(v * 1000);
        let cases: Vec<(&str, LatencySamples, CheckStatus, &str, Option<f64>)> = vec![
            (
                "healthy",
                LatencySamples {
                    anchors: vec![icmp("203.0.113.53", &[ms(20); 10])],
                },
                CheckStatus::Pass,
                "rtt_median_ms",
                Some(20.0),
            ),
            (
                "slow",
                LatencySamples {
                    anchors: vec![icmp("203.0.113.53", &[ms(150); 10])],
                },
                CheckStatus::Warn,
                "rtt_median_ms",
                Some(150.0),
            ),
            (
                "lossy",
                LatencySamples {
                    anchors: vec![icmp(
                        "203.0.113.53",
                        &[
                            ms(20),
                            None,
                            ms(20),
                            ms(20),
                            None,
                            ms(20),
                            ms(20),
                            ms(20),
                            ms(20),
                            ms(20),
                        ],
                    )],
                },
                CheckStatus::Fail,
                "loss_percent",
                Some(20.0),
            ),
            (
                "dead",
                LatencySamples {
                    anchors: vec![icmp("203.0.113.53", &[None; 10])],
                },
                CheckStatus::Fail,
                "anchors_answering",
                Some(0.0),
            ),
            (
                "unconfigured",
                LatencySamples::default(),
                CheckStatus::Skipped,
                "anchors",
                Some(0.0),
            ),
        ];
        for (name, samples, status, metric, value) in cases {
            assert_eq!(status_and(&samples, metric), (status, value), "{name}");
        }
    }

    #[test]
    fn ipv6_broken_while_ipv4_works_shows() {
        let samples = LatencySamples {
            anchors: vec![
                icmp("203.0.113.53", &[Some(20_000); 10]),
                icmp("2001:db8:3::53", &[None; 10]),
            ],
        };
        let e = evaluate_latency(&samples, &LatencyThresholds::default());
        let get = |n: &str| e.metrics.iter().find(|m| m.name == n).map(|m| m.value.clone());
        assert_eq!(get("ipv4_reachable").and_then(|v| v.as_bool()), Some(true));
        assert_eq!(get("ipv6_reachable").and_then(|v| v.as_bool()), Some(false));
        assert_eq!(get("ipv6_anchors").and_then(|v| v.as_f64()), Some(1.0));
    }

    #[test]
    fn tcp_answers_count_when_icmp_is_filtered() {
        // An anchor that never answers ICMP but accepts TCP sits behind an ICMP filter: it is
        // reachable, and its silence to pings is not loss.
        let mut anchor = icmp("203.0.113.53", &[None; 10]);
        anchor.tcp = vec![Probe {
            seq: 0,
            rtt_us: Some(30_000),
            error: None,
        }];
        let samples = LatencySamples { anchors: vec![anchor] };
        let (status, answering) = status_and(&samples, "anchors_answering");
        assert_eq!(answering, Some(1.0));
        assert_eq!(status, CheckStatus::Pass);
        assert_eq!(status_and(&samples, "loss_percent").1, None);
        assert_eq!(status_and(&samples, "tcp_connect_median_ms").1, Some(30.0));
    }

    #[test]
    fn measure_latency_on_loopback() {
        // Runs with or without ICMP privilege: the TCP probes answer either way.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let options = LatencyOptions {
            anchors: vec!["127.0.0.1".parse().expect("addr")],
            tcp_port: 9, // nothing listens: refused, which still measures a round trip
            probes: 3,
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(500),
        };
        let samples = runtime
            .block_on(measure_latency(&options, &super::super::NoProgress))
            .expect("measured");
        let e = evaluate_latency(&samples, &LatencyThresholds::default());
        assert_eq!(e.status, CheckStatus::Pass, "{e:?}");
        let tcp = &samples.anchors[0].tcp;
        assert_eq!(tcp.len(), 3);
        assert!(tcp.iter().all(|p| p.rtt_us.is_some_and(|us| us > 0)), "{tcp:?}");
    }
}
