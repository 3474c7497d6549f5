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
pub mod mtu;
pub mod path;
pub mod wifi;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use sonde_protocol::{CheckId, CheckResult, CheckStatus, Metric};

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
}

/// What earlier checks of a run learned that later ones need.
#[derive(Debug, Default)]
struct Facts {
    link: Option<link::LinkSamples>,
}

impl SystemChecks {
    /// Checks judged and tuned by `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            facts: Mutex::new(Facts::default()),
        }
    }

    async fn run_link(&self) -> CheckResult {
        let started = Instant::now();
        match link::measure_link().await {
            Ok(samples) => {
                let result = link::evaluate_link(&samples).into_result(CheckId::Link, &samples, started);
                if let Ok(mut facts) = self.facts.lock() {
                    facts.link = Some(samples);
                }
                result
            }
            Err(e) => unmeasured(CheckId::Link, CheckStatus::Error, e.to_string(), started),
        }
    }

    async fn link_samples(&self) -> Result<link::LinkSamples, MeasureError> {
        let known = self.facts.lock().ok().and_then(|f| f.link.clone());
        match known {
            Some(samples) => Ok(samples),
            None => link::measure_link().await,
        }
    }

    async fn run_gateway(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        let link = match self.link_samples().await {
            Ok(link) => link,
            Err(e) => return unmeasured(CheckId::Gateway, CheckStatus::Error, e.to_string(), started),
        };
        let Some(target) = link.gateway() else {
            return unmeasured(CheckId::Gateway, CheckStatus::Skipped, "no default gateway", started);
        };
        match gateway::measure_gateway(target, &self.config.gateway, progress).await {
            Ok(samples) => gateway::evaluate_gateway(&samples, &self.config.profile.gateway).into_result(
                CheckId::Gateway,
                &samples,
                started,
            ),
            Err(e) => unmeasured(CheckId::Gateway, CheckStatus::Error, e.to_string(), started),
        }
    }

    async fn run_latency(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        match latency::measure_latency(&self.config.latency, progress).await {
            Ok(samples) => latency::evaluate_latency(&samples, &self.config.profile.latency).into_result(
                CheckId::InternetLatency,
                &samples,
                started,
            ),
            Err(e) => unmeasured(CheckId::InternetLatency, CheckStatus::Error, e.to_string(), started),
        }
    }

    async fn run_wifi(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        match wifi::measure_wifi(&self.config.wifi, progress).await {
            Ok(samples) => {
                wifi::evaluate_wifi(&samples, &self.config.profile.wifi).into_result(CheckId::Wifi, &samples, started)
            }
            Err(e) => unmeasured(CheckId::Wifi, CheckStatus::Error, e.to_string(), started),
        }
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

    async fn run_http(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        match http::measure_http(&self.config.http, progress).await {
            Ok(samples) => {
                http::evaluate_http(&samples, &self.config.profile.http).into_result(CheckId::Http, &samples, started)
            }
            Err(e) => unmeasured(CheckId::Http, CheckStatus::Error, e.to_string(), started),
        }
    }

    async fn run_path(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        let Some(target) = self.path_target() else {
            return unmeasured(
                CheckId::Path,
                CheckStatus::Skipped,
                "no path target configured",
                started,
            );
        };
        match path::measure_path(target, &self.config.path, progress).await {
            Ok(samples) => path::evaluate_path(&samples, &self.config.profile.path, &path::PathSegments::default())
                .into_result(CheckId::Path, &samples, started),
            Err(e) => unmeasured(CheckId::Path, CheckStatus::Error, e.to_string(), started),
        }
    }

    async fn run_mtu(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        let Some(target) = self.path_target() else {
            return unmeasured(CheckId::Mtu, CheckStatus::Skipped, "no MTU target configured", started);
        };
        match mtu::measure_mtu(target, &self.config.mtu, progress).await {
            Ok(samples) => {
                mtu::evaluate_mtu(&samples, &self.config.profile.mtu).into_result(CheckId::Mtu, &samples, started)
            }
            Err(e) => unmeasured(CheckId::Mtu, CheckStatus::Error, e.to_string(), started),
        }
    }

    async fn run_dns(&self, progress: &dyn ProgressSink) -> CheckResult {
        let started = Instant::now();
        let gateway = self.link_samples().await.ok().and_then(|l| l.gateway());
        match dns::measure_dns(&self.config.dns, gateway, progress).await {
            Ok(samples) => {
                dns::evaluate_dns(&samples, &self.config.profile.dns).into_result(CheckId::Dns, &samples, started)
            }
            Err(e) => unmeasured(CheckId::Dns, CheckStatus::Error, e.to_string(), started),
        }
    }
}

impl Checks for SystemChecks {
    fn run<'a>(&'a self, check: CheckId, progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
        Box::pin(async move {
            match check {
                CheckId::Link => self.run_link().await,
                CheckId::Gateway => self.run_gateway(progress).await,
                CheckId::Dns => self.run_dns(progress).await,
                CheckId::InternetLatency => self.run_latency(progress).await,
                CheckId::Wifi => self.run_wifi(progress).await,
                CheckId::Path => self.run_path(progress).await,
                CheckId::Http => self.run_http(progress).await,
                CheckId::Mtu => self.run_mtu(progress).await,
                other => unmeasured(
                    other,
                    CheckStatus::Skipped,
                    "not implemented by this agent yet",
                    Instant::now(),
                ),
            }
        })
    }
}
