//! The event stream: the envelope and every event type.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ActionEvent, CheckId, CheckResult, Diagnosis, Metric, RunId, RunRequest, RunState, TicketStatus, Timestamp,
};

/// One event of a run, in its envelope:
/// `{"v":1,"run":"…","seq":N,"ts":"…","type":"…","data":{…}}`.
///
/// `seq` starts at 1 and grows by one per event of the run; over SSE it is also the event `id`,
/// which a client sends back as `Last-Event-ID` to resume. The last event of a run is
/// `run_finished`. Event types may be added over time: decode unknown ones as
/// [`EventData::Unknown`] and ignore them.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Event {
    /// Protocol version, [`crate::PROTOCOL_VERSION`].
    pub v: u32,
    /// The run this event belongs to.
    pub run: RunId,
    /// Position in the run's stream, from 1, without gaps.
    pub seq: u64,
    /// When the agent emitted it.
    pub ts: Timestamp,
    /// The event type (`type`) and its payload (`data`).
    #[serde(flatten)]
    pub data: EventData,
}

impl Event {
    /// The `type` name of this event, as on the wire.
    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
    }
}

/// The event types. On the wire, `type` holds the snake_case name and `data` the payload.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventData {
    /// The run started: its request and its plan (steps, weights, estimated durations).
    RunStarted(RunStarted),
    /// A step (one check) started.
    StepStarted(StepStarted),
    /// A step made progress: fraction done and live metrics (current RTT, Mbit/s…).
    StepProgress(StepProgress),
    /// A step finished with its check result.
    StepFinished(StepFinished),
    /// The diagnosis of the run.
    Diagnosis(Diagnosis),
    /// A ticket's delivery progressed (`queued → sent → acknowledged → sms_sent`).
    Ticket(TicketStatus),
    /// A remediation action progressed.
    Action(ActionEvent),
    /// The run ended; no event follows.
    RunFinished(RunFinished),
    /// An event type this client does not know (sent by a newer agent): ignore it.
    #[schemars(skip)]
    Unknown,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The envelope with its payload still undecoded, so an unknown `type` can be skipped
        /// whatever its `data` holds.
        #[derive(Deserialize)]
        struct Raw {
            v: u32,
            run: RunId,
            seq: u64,
            ts: Timestamp,
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            data: serde_json::Value,
        }
        let raw = Raw::deserialize(deserializer)?;
        let data = EventData::from_parts(&raw.kind, raw.data).map_err(serde::de::Error::custom)?;
        Ok(Event {
            v: raw.v,
            run: raw.run,
            seq: raw.seq,
            ts: raw.ts,
            data,
        })
    }
}

impl EventData {
    /// Decodes a payload from its wire `type` and `data`. An unknown `type` is
    /// [`EventData::Unknown`], not an error; a known one with a malformed `data` is an error.
    pub fn from_parts(kind: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        use serde_json::from_value;
        Ok(match kind {
            "run_started" => EventData::RunStarted(from_value(data)?),
            "step_started" => EventData::StepStarted(from_value(data)?),
            "step_progress" => EventData::StepProgress(from_value(data)?),
            "step_finished" => EventData::StepFinished(from_value(data)?),
            "diagnosis" => EventData::Diagnosis(from_value(data)?),
            "ticket" => EventData::Ticket(from_value(data)?),
            "action" => EventData::Action(from_value(data)?),
            "run_finished" => EventData::RunFinished(from_value(data)?),
            _ => EventData::Unknown,
        })
    }

    /// The `type` name as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventData::RunStarted(_) => "run_started",
            EventData::StepStarted(_) => "step_started",
            EventData::StepProgress(_) => "step_progress",
            EventData::StepFinished(_) => "step_finished",
            EventData::Diagnosis(_) => "diagnosis",
            EventData::Ticket(_) => "ticket",
            EventData::Action(_) => "action",
            EventData::RunFinished(_) => "run_finished",
            EventData::Unknown => "unknown",
        }
    }

    /// The overall progress this event reports, if it reports one.
    pub fn progress(&self) -> Option<Progress> {
        match self {
            EventData::StepStarted(e) => Some(e.progress),
            EventData::StepProgress(e) => Some(e.progress),
            EventData::StepFinished(e) => Some(e.progress),
            EventData::RunFinished(_) => Some(Progress {
                fraction: 1.0,
                eta_ms: Some(0),
            }),
            _ => None,
        }
    }
}

/// Payload of `run_started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunStarted {
    /// The request, with every default filled in.
    pub request: RunRequest,
    /// What will run.
    pub plan: Plan,
    /// Version of the agent running it.
    #[serde(default)]
    pub agent_version: String,
}

/// The steps of a run, in order, with their weights and estimated durations: what an honest
/// progress bar needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// The steps, in the order they run.
    pub steps: Vec<PlanStep>,
    /// Expected duration of the run, in milliseconds, before anything is measured: the steps'
    /// estimated durations along the longest chain of steps that run one after the other (their
    /// sum when every step waits for the one before).
    pub estimated_ms: u64,
}

impl Plan {
    /// The steps that step `index` starts after: those its `after` lists (earlier steps only),
    /// else every earlier step.
    pub fn predecessors(&self, index: usize) -> Vec<usize> {
        match self.steps.get(index).and_then(|s| s.after.as_ref()) {
            Some(after) => after.iter().copied().filter(|i| *i < index).collect(),
            None => (0..index.min(self.steps.len())).collect(),
        }
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanStep {
    /// The check this step runs.
    pub check: CheckId,
    /// Share of the run's estimated duration this step accounts for (the weights sum to 1).
    pub weight: f64,
    /// Estimated duration, in milliseconds, before anything is measured (the progress estimate
    /// then follows what the run observes).
    pub estimated_ms: u64,
    /// The step is cut (status `error`) past this many milliseconds.
    pub timeout_ms: u64,
    /// Indices of the earlier steps this step starts after (added in protocol v1, issue 9).
    /// Absent: after every earlier step, one step at a time. A step whose `after` leaves out a
    /// step before it runs at the same time as that one: their events interleave, each under
    /// its own `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<usize>>,
}

/// Overall progress of a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Progress {
    /// Fraction of the run done, 0 to 1; never decreases during a run.
    pub fraction: f64,
    /// Estimated time left, in milliseconds, if the agent can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_ms: Option<u64>,
}

/// Payload of `step_started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepStarted {
    /// Index of the step in the plan, from 0.
    pub index: usize,
    /// The check that started.
    pub check: CheckId,
    /// Overall progress.
    pub progress: Progress,
}

/// Payload of `step_progress`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepProgress {
    /// Index of the step in the plan, from 0.
    pub index: usize,
    /// The check making progress.
    pub check: CheckId,
    /// Fraction of this step done, 0 to 1.
    pub fraction: f64,
    /// Live values (current RTT, current Mbit/s…).
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Overall progress.
    pub progress: Progress,
}

/// Payload of `step_finished`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepFinished {
    /// Index of the step in the plan, from 0.
    pub index: usize,
    /// The check's result.
    pub result: CheckResult,
    /// Overall progress.
    pub progress: Progress,
}

/// Payload of `run_finished`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunFinished {
    /// The terminal state.
    pub state: RunState,
    /// Why the run did not complete, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
