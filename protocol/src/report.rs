//! The report of a run, and small API answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ActionEvent, ActionState, CheckResult, Diagnosis, Event, EventData, Finding, FindingCode, Plan, ProblemKind,
    RemediationOutcome, RunId, RunRequest, RunState, Severity, TicketStatus, Timestamp,
};

/// Everything known about a run: `GET /v1/runs/{id}`, and what `sonde diagnose --json` prints.
///
/// A report is a fold of the run's events ([`RunReport::apply`]): the agent and every client
/// build it the same way, so the embedded and the daemon paths print the same report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// The run's id.
    pub run: RunId,
    /// Where the run is in its life.
    pub state: RunState,
    /// The request, defaults filled in.
    pub request: RunRequest,
    /// When the run was accepted.
    pub created_at: Timestamp,
    /// When the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Why the run did not complete, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Findings, ranked (a copy of `diagnosis.findings`).
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Check results, in plan order.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// The diagnosis, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// The ticket, when one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketStatus>,
    /// The remediation action of the run's flow, when one was proposed. Then `diagnosis`,
    /// `findings` and `checks` are the re-test's (after the action) and `remediation.before`
    /// holds the first diagnosis. Added in protocol v1, issue 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    /// The plan that ran.
    #[serde(default)]
    pub plan: Plan,
    /// Version of the agent that ran it.
    #[serde(default)]
    pub agent_version: String,
    /// `seq` of the last event folded into this report.
    #[serde(default)]
    pub last_seq: u64,
}

impl RunReport {
    /// The report of a run that was just accepted.
    pub fn new(run: RunId, request: RunRequest, created_at: Timestamp) -> Self {
        Self {
            run,
            state: RunState::Queued,
            request,
            created_at,
            finished_at: None,
            reason: None,
            findings: Vec::new(),
            checks: Vec::new(),
            diagnosis: None,
            ticket: None,
            remediation: None,
            plan: Plan::default(),
            agent_version: String::new(),
            last_seq: 0,
        }
    }

    /// Folds one event into the report. Events of other runs, and events already folded
    /// (`seq` not above `last_seq`), are ignored, so replaying a stream twice is harmless.
    pub fn apply(&mut self, event: &Event) {
        if event.run != self.run || event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        match &event.data {
            EventData::RunStarted(started) => {
                self.state = RunState::Running;
                self.request = started.request.clone();
                self.plan = started.plan.clone();
                self.agent_version.clone_from(&started.agent_version);
            }
            EventData::StepFinished(finished) => {
                // A re-test's result replaces the same check's result from before the action.
                match self.checks.iter_mut().find(|c| c.id == finished.result.id) {
                    Some(earlier) if self.remediation.is_some() => *earlier = finished.result.clone(),
                    _ => {
                        // Steps that run at the same time may finish out of order: keep the
                        // plan's order.
                        let position = |id| self.plan.steps.iter().position(|s| s.check == id);
                        let at = self
                            .checks
                            .iter()
                            .position(|c| position(c.id).is_some_and(|p| p > finished.index))
                            .unwrap_or(self.checks.len());
                        self.checks.insert(at, finished.result.clone());
                    }
                }
            }
            EventData::Diagnosis(diagnosis) => {
                if let Some(remediation) = self.remediation.as_mut()
                    && remediation.before.is_none()
                {
                    remediation.before = self.diagnosis.take();
                }
                self.findings.clone_from(&diagnosis.findings);
                self.diagnosis = Some(diagnosis.clone());
            }
            EventData::Action(action) => {
                let remediation = self.remediation.get_or_insert_with(|| Remediation::new(action));
                remediation.action.clone_from(&action.action);
                remediation.state = action.state;
                if action.device.is_some() {
                    remediation.device.clone_from(&action.device);
                }
                if action.outcome.is_some() {
                    remediation.outcome = action.outcome;
                }
                if action.message.is_some() {
                    remediation.message.clone_from(&action.message);
                }
            }
            EventData::Ticket(ticket) => self.ticket = Some(ticket.clone()),
            EventData::RunFinished(finished) => {
                self.state = finished.state;
                self.reason.clone_from(&finished.reason);
                self.finished_at = Some(event.ts);
            }
            EventData::StepStarted(_) | EventData::StepProgress(_) | EventData::Unknown => {}
        }
    }
}

/// The remediation of a run's flow, folded from its `action` events (added in protocol v1,
/// issue 8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Remediation {
    /// The action's name (`reconnect_data_session`…).
    pub action: String,
    /// Its last state.
    pub state: ActionState,
    /// The device acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Its last message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `restored` or `not_restored`, once re-tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RemediationOutcome>,
    /// The diagnosis before the action (the report's `diagnosis` is the one after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Diagnosis>,
}

impl Remediation {
    fn new(first: &ActionEvent) -> Self {
        Self {
            action: first.action.clone(),
            state: first.state,
            device: None,
            message: None,
            outcome: None,
            before: None,
        }
    }
}

/// Answer to `GET /v1/runs?limit=N` (added in protocol v1, issue 9): the most recent runs, newest
/// first, for `sonde history`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunList {
    /// The runs, newest first.
    #[serde(default)]
    pub runs: Vec<RunSummary>,
}

/// One run of the history: enough to pick a run, whose whole report is `GET /v1/runs/{id}`
/// (added in protocol v1, issue 9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// The run's id.
    pub run: RunId,
    /// Where the run is in its life.
    pub state: RunState,
    /// The problem the run diagnosed.
    #[serde(default)]
    pub problem: ProblemKind,
    /// When the run was accepted.
    pub created_at: Timestamp,
    /// When the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// The diagnosis's verdict, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// The first-ranked finding, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_finding: Option<TopFinding>,
}

/// The first-ranked finding of a run, as the history lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopFinding {
    /// Its code.
    pub code: FindingCode,
    /// How bad it is.
    pub severity: Severity,
    /// Its sentence for the customer.
    pub title: String,
}

impl From<&RunReport> for RunSummary {
    fn from(report: &RunReport) -> Self {
        Self {
            run: report.run,
            state: report.state,
            problem: report.request.problem,
            created_at: report.created_at,
            finished_at: report.finished_at,
            healthy: report.diagnosis.as_ref().map(|d| d.healthy),
            top_finding: report.findings.first().map(|f| TopFinding {
                code: f.code,
                severity: f.severity,
                title: f.title.clone(),
            }),
        }
    }
}

/// Answer to `POST /v1/runs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunCreated {
    /// The new run's id.
    pub run: RunId,
    /// Its state (`queued` or `running`).
    pub state: RunState,
    /// Path of its report.
    pub report: String,
    /// Path of its event stream.
    pub events: String,
}

/// Answer to `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok` when the agent is serving.
    pub status: String,
    /// Agent version.
    pub version: String,
    /// The run in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<RunId>,
}
