//! The sonde agent: checks (measure + evaluate), the diagnosis, the runner, the HTTP API with
//! its progress stream, and the durable run store.
//!
//! Data flows one way: measure → evaluate → diagnose → present. Checks never know about HTTP;
//! the API never computes a verdict.

pub mod api;
pub mod checks;
pub mod config;
pub mod daemon;
pub mod diagnose;
pub mod outbox;
pub mod plan;
pub mod profiles;
pub mod progress;
pub mod remediation;
pub mod runner;
pub mod schedule;
pub mod sd_notify;
pub mod security;
pub mod store;
pub mod texts;
pub mod web;

use sonde_protocol::{RunId, RunRequest, RunState};
use tokio_util::sync::CancellationToken;

pub use runner::{EventSink, RunSpec};

/// Why a request cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrepareError {
    /// The plan cannot be made (unknown problem, check or profile…).
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// The requested remediation action (`options.action`) is unknown or not available here.
    #[error(transparent)]
    Action(#[from] remediation::ActionError),
}

impl From<profiles::ProfileError> for PrepareError {
    fn from(e: profiles::ProfileError) -> Self {
        Self::Plan(e.into())
    }
}

/// Plans a request: the run spec with a new run id, or why the request cannot run.
pub fn prepare(request: RunRequest, config: &config::Config) -> Result<RunSpec, PrepareError> {
    let config = config.for_request(&request)?;
    remediation::requested(&request, &config.mobile)?;
    let plan = plan::plan_for(&request, &config)?;
    let timings = plan::timings_for(&plan, &config);
    Ok(RunSpec {
        run: RunId::new(),
        request,
        plan,
        profile: config.profile.clone(),
        timings,
    })
}

/// Runs a diagnosis in this process with the real checks (the embedded agent of `sonde
/// diagnose`): the same runner and events as `sonded`, without a daemon.
pub async fn run_embedded(
    request: RunRequest,
    config: &config::Config,
    sink: &dyn EventSink,
    cancel: CancellationToken,
) -> Result<RunState, PrepareError> {
    let checks = checks::SystemChecks::new(config.for_request(&request)?);
    let spec = prepare(request, config)?;
    Ok(runner::execute(spec, &checks, sink, cancel).await)
}
