//! Checks. Each is two parts (DESIGN.md §4):
//!
//! - `measure_*`: the only code that touches sockets, netlink or files. Returns plain serde
//!   samples, or [`MeasureError`] when it *could not measure* (no privilege, no such interface).
//!   Loss, timeouts and NXDOMAIN are measurements, not errors.
//! - `evaluate_*`: pure, `(&Samples, &Thresholds) -> Evaluation`, tested by tables.
//!
//! [`SystemChecks`] glues them to the runner: it runs one check by id, keeps the facts a later
//! check needs (the gateway found by `link`), and turns every outcome into a [`CheckResult`].

pub mod dns;
pub mod gateway;
pub mod http;
pub mod latency;
pub mod link;
pub mod mobile;
pub mod mtu;
pub mod path;
pub mod ping;
pub mod probe;
pub mod system;
pub mod throughput;
pub mod wifi;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use sonde_protocol::{CheckId, CheckResult, CheckStatus, Direction, Metric, MetricValue};

use crate::config::Config;

/// A boxed, sendable future (checks are driven through a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Receives a running check's live progress.
pub trait ProgressSink: Send + Sync {
    /// `fraction` of this check done (0 to 1) and live values (current RTT…).
    fn report(&self, fraction: f64, metrics: Vec<Metric>);
}

/// A progress sink that drops everything (for tests and one-off measurements).
#[derive(Debug, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _fraction: f64, _metrics: Vec<Metric>) {}
}

/// Runs checks by id. The runner drives one of these per run; tests drive fakes.
pub trait Checks: Send + Sync {
    /// Runs `check` to completion. Never panics and never fails: an outcome that could not be
    /// measured is a result with status `error` and a reason.
    fn run<'a>(&'a self, check: CheckId, progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult>;

    /// What performs remediation actions on this host's devices (the mobile modem), if
    /// anything can. Default: nothing.
    fn remediator(&self) -> Option<&dyn crate::remediation::Remediator> {
        None
    }
}

/// Why a check could not measure. Becomes status `error` with this text as the reason.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The process lacks a privilege the measurement needs; the text says which.
    #[error("{0}")]
    NotPermitted(String),
    /// A system call or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading interfaces, addresses or routes from the kernel failed.
    #[error("netlink: {0}")]
    Netlink(String),
    /// The check cannot run here; the text says why.
    #[error("{0}")]
    Unsupported(String),
    /// A device the check reads (the modem) could not be read; the text says why and names it.
    #[error("{0}")]
    Device(String),
}

/// The pure half of a check: its verdict and the metrics behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The verdict.
    pub status: CheckStatus,
    /// Why (for `error`, `skipped`, `fail`): one line, technical.
    pub reason: Option<String>,
    /// Metrics, each with its threshold when judged.
    pub metrics: Vec<Metric>,
}

impl Evaluation {
    /// Assembles the wire result of a check from its samples and verdict.
    pub fn into_result<S: Serialize>(self, id: CheckId, samples: &S, started: Instant) -> CheckResult {
        CheckResult {
            id,
            status: self.status,
            reason: self.reason,
            metrics: self.metrics,
            duration_ms: elapsed_ms(started),
            samples: serde_json::to_value(samples).ok(),
        }
    }
}

/// The result of a check that could not run or measure.
pub fn unmeasured(id: CheckId, status: CheckStatus, reason: impl Into<String>, started: Instant) -> CheckResult {
    CheckResult {
        id,
        status,
        reason: Some(reason.into()),
        metrics: Vec::new(),
        duration_ms: elapsed_ms(started),
        samples: None,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// "rsrp_dbm -115 ≤ -110 (fail)" for a judged metric past a limit, with the comparison its
/// direction means; else `None`.
pub(crate) fn past_limit(metric: &Metric) -> Option<String> {
    let threshold = metric.threshold?;
    let (limit, level) = match metric.status? {
        CheckStatus::Fail => (threshold.fail?, "fail"),
        CheckStatus::Warn => (threshold.warn?, "warn"),
        _ => return None,
    };
    let sign = match threshold.direction {
        Direction::HigherIsWorse => "≥",
        Direction::LowerIsWorse => "≤",
    };
    Some(format!(
        "{} {} {sign} {} ({level})",
        metric.name,
        metric.value,
        MetricValue::from(limit)
    ))
}

/// The worst of several statuses (`fail` > `warn` > `pass`; `error`/`skipped` are not verdicts
/// and are ignored here).
pub fn worst(statuses: impl IntoIterator<Item = CheckStatus>) -> CheckStatus {
    statuses.into_iter().fold(CheckStatus::Pass, |acc, s| match (acc, s) {
        (CheckStatus::Fail, _) | (_, CheckStatus::Fail) => CheckStatus::Fail,
        (CheckStatus::Warn, _) | (_, CheckStatus::Warn) => CheckStatus::Warn,
        _ => acc,
    })
}

/// The checks of this host, measured for real.
#[derive(Debug)]
pub struct SystemChecks {
    config: Config,
    facts: Mutex<Facts>,
    remediator: Option<crate::remediation::ModemRemediator>,
}

/// What earlier checks of a run learned that later ones need.
#[derive(Debug, Default)]
struct Facts {
    link: Option<link::LinkSamples>,
    /// One load measurement serves both `throughput` and `responsiveness`.
    throughput: Option<Result<throughput::ThroughputSamples, String>>,
}

impl SystemChecks {
    /// Checks judged and tuned by `config`.
    pub fn new(config: Config) -> Self {
        Self {
            remediator: crate::remediation::ModemRemediator::new(&config.mobile),
            config,
            facts: Mutex::new(Facts::default()),
        }
    }

    async fn run_link(&self, started: Instant) -> CheckResult {
        let measured = link::measure_link().await;
        // Later checks (gateway, DNS) need the gateway this found.
        if let (Ok(samples), Ok(mut facts)) = (&measured, self.facts.lock()) {
            facts.link = Some(samples.clone());
        }
        conclude(CheckId::Link, started, measured, link::evaluate_link)
    }

    /// The link facts of this run: the `link` check's, else read now.
    async fn link_samples(&self) -> Result<link::LinkSamples, MeasureError> {
        let known = self.facts.lock().ok().and_then(|f| f.link.clone());
        match known {
            Some(samples) => Ok(samples),
            None => link::measure_link().await,
        }
    }

    async fn run_gateway(&self, started: Instant, progress: &dyn ProgressSink) -> CheckResult {
        let link = match self.link_samples().await {
            Ok(link) => link,
            Err(e) => return unmeasured(CheckId::Gateway, CheckStatus::Error, e.to_string(), started),
        };
        let Some(target) = link.gateway() else {
            return unmeasured(CheckId::Gateway, CheckStatus::Skipped, "no default gateway", started);
        };
        let measured = gateway::measure_gateway(target, &self.config.gateway, progress).await;
        conclude(CheckId::Gateway, started, measured, |s| {
            gateway::evaluate_gateway(s, &self.config.profile.gateway)
        })
    }

    /// Where the path and MTU checks probe: the configured target, else the first IPv4 anchor.
    fn path_target(&self) -> Option<std::net::IpAddr> {
        self.config.path_target.or_else(|| {
            self.config
                .latency
                .anchors
                .iter()
                .copied()
                .find(std::net::IpAddr::is_ipv4)
        })
    }

    async fn run_path(&self, started: Instant, progress: &dyn ProgressSink) -> CheckResult {
        let Some(target) = self.path_target() else {
            return unmeasured(
                CheckId::Path,
                CheckStatus::Skipped,
                "no path target configured",
                started,
            );
        };
        let measured = path::measure_path(target, &self.config.path, progress).await;
        conclude(CheckId::Path, started, measured, |s| {
            path::evaluate_path(s, &self.config.profile.path, &path::PathSegments::default())
        })
    }

    async fn run_mtu(&self, started: Instant, progress: &dyn ProgressSink) -> CheckResult {
        let Some(target) = self.path_target() else {
            return unmeasured(CheckId::Mtu, CheckStatus::Skipped, "no MTU target configured", started);
        };
        let measured = mtu::measure_mtu(target, &self.config.mtu, progress).await;
        conclude(CheckId::Mtu, started, measured, |s| {
            mtu::evaluate_mtu(s, &self.config.profile.mtu)
        })
    }

    async fn run_dns(&self, started: Instant, progress: &dyn ProgressSink) -> CheckResult {
        let gateway = self.link_samples().await.ok().and_then(|l| l.gateway());
        let measured = dns::measure_dns(&self.config.dns, gateway, progress).await;
        conclude(CheckId::Dns, started, measured, |s| {
            dns::evaluate_dns(s, &self.config.profile.dns)
        })
    }
}

impl SystemChecks {
    /// The throughput measurement of this run: the one already made, else made now (and kept).
    async fn throughput_samples(
        &self,
        progress: &dyn ProgressSink,
    ) -> Option<Result<throughput::ThroughputSamples, MeasureError>> {
        self.config.throughput.server.as_ref()?;
        let known = self.facts.lock().ok().and_then(|f| f.throughput.clone());
        let measured = match known {
            Some(known) => known.map_err(MeasureError::Unsupported),
            None => {
                let measured = throughput::measure_throughput(&self.config.throughput, progress).await;
                if let Ok(mut facts) = self.facts.lock() {
                    facts.throughput = Some(measured.as_ref().map(Clone::clone).map_err(ToString::to_string));
                }
                measured
            }
        };
        Some(measured)
    }

    async fn run_throughput(&self, id: CheckId, started: Instant, progress: &dyn ProgressSink) -> CheckResult {
        let Some(measured) = self.throughput_samples(progress).await else {
            return unmeasured(
                id,
                CheckStatus::Skipped,
                "no measurement server configured ([throughput] server)",
                started,
            );
        };
        let profile = &self.config.profile;
        conclude(id, started, measured, |s| {
            if id == CheckId::Throughput {
                throughput::evaluate_throughput(s, &profile.throughput)
            } else {
                throughput::evaluate_responsiveness(s, &profile.responsiveness)
            }
        })
    }
}

/// A check's result from its measurement: evaluated when it measured, `error` with the reason
/// when it could not.
fn conclude<S: Serialize>(
    id: CheckId,
    started: Instant,
    measured: Result<S, MeasureError>,
    evaluate: impl FnOnce(&S) -> Evaluation,
) -> CheckResult {
    match measured {
        Ok(samples) => evaluate(&samples).into_result(id, &samples, started),
        Err(e) => unmeasured(id, CheckStatus::Error, e.to_string(), started),
    }
}

impl Checks for SystemChecks {
    fn run<'a>(&'a self, check: CheckId, progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
        Box::pin(async move {
            let started = Instant::now();
            let config = &self.config;
            match check {
                CheckId::Link => self.run_link(started).await,
                CheckId::Wifi => {
                    let measured = wifi::measure_wifi(&config.wifi, progress).await;
                    conclude(check, started, measured, |s| {
                        wifi::evaluate_wifi(s, &config.profile.wifi)
                    })
                }
                CheckId::Gateway => self.run_gateway(started, progress).await,
                CheckId::InternetLatency => {
                    let measured = latency::measure_latency(&config.latency, progress).await;
                    conclude(check, started, measured, |s| {
                        latency::evaluate_latency(s, &config.profile.latency)
                    })
                }
                CheckId::Dns => self.run_dns(started, progress).await,
                CheckId::Http => {
                    let measured = http::measure_http(&config.http, progress).await;
                    conclude(check, started, measured, |s| {
                        http::evaluate_http(s, &config.profile.http)
                    })
                }
                CheckId::Path => self.run_path(started, progress).await,
                CheckId::Mtu => self.run_mtu(started, progress).await,
                CheckId::Mobile if config.mobile.modem.is_none() => unmeasured(
                    check,
                    CheckStatus::Skipped,
                    "no modem configured ([mobile] modem)",
                    started,
                ),
                CheckId::Mobile => {
                    let measured = mobile::measure_mobile(&config.mobile).await;
                    conclude(check, started, measured, |s| {
                        mobile::evaluate_mobile(s, &config.profile.mobile)
                    })
                }
                CheckId::System => {
                    let measured = system::measure_system(&config.system).await;
                    conclude(check, started, measured, |s| {
                        system::evaluate_system(s, &config.profile.system)
                    })
                }
                CheckId::Throughput | CheckId::Responsiveness => self.run_throughput(check, started, progress).await,
                other => unmeasured(
                    other,
                    CheckStatus::Skipped,
                    "not implemented by this agent yet",
                    started,
                ),
            }
        })
    }

    fn remediator(&self) -> Option<&dyn crate::remediation::Remediator> {
        self.remediator
            .as_ref()
            .map(|r| r as &dyn crate::remediation::Remediator)
    }
}
