//! Wire types of the sonde protocol, version 1.
//!
//! Every side of sonde — the agent (`sonded` or the agent embedded in the `sonde` CLI), the
//! clients, the helpdesk backend — speaks these types, and only these, to each other. This crate
//! does no I/O: it is `serde` types, their JSON Schema (committed under `protocol/schema/`), and
//! a few pure helpers such as [`RunReport::apply`].
//!
//! # Transport
//!
//! HTTP/1.1 + JSON under `/v1/`:
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `POST /v1/runs` | [`RunRequest`] (every field optional: `{}` runs the default plan) | `201` + [`RunCreated`], or `409` + [`ApiError`] naming the running run |
//! | `GET /v1/runs?limit=N` | | [`RunList`]: the last `N` runs (default 20, at most 200), newest first; technician role (added in protocol v1, issue 9) |
//! | `GET /v1/runs/{id}` | | [`RunReport`] |
//! | `GET /v1/runs/{id}/events` | | `text/event-stream` of [`Event`]s |
//! | `DELETE /v1/runs/{id}` | | `202` + [`RunReport`]; the run ends `canceled` within a second |
//! | `GET /v1/health` | | [`Health`] |
//! | `GET /v1/history` | | [`ScheduleHistory`]: the scheduled lightweight checks, their rounds and the alert state; technician role (added in protocol v1, issue 10) |
//!
//! Every 4xx/5xx answer has an [`ApiError`] body.
//!
//! # The event stream
//!
//! A run is told as a sequence of [`Event`]s. On the wire each is one JSON object, the
//! *envelope*:
//!
//! ```json
//! {"v":1,"run":"0190…","seq":3,"ts":"2026-11-26T17:52:29.123Z","type":"step_finished","data":{…}}
//! ```
//!
//! - `v` is the protocol version ([`PROTOCOL_VERSION`]).
//! - `run` is the run id; `seq` starts at 1 and grows by exactly 1 per event of that run, so a
//!   client can tell a gap from the end of the stream.
//! - `ts` is when the agent emitted the event (RFC 3339, UTC).
//! - `type` says what `data` holds; see [`EventData`] for every type.
//!
//! Over Server-Sent Events each envelope is one SSE event whose `id` is `seq` and whose `data` is
//! the envelope. A client that reconnects with `Last-Event-ID: N` receives exactly the events
//! with `seq > N`, in order; a finished run replays its whole stream and then the server closes
//! it. The last event of every run is [`EventData::RunFinished`].
//!
//! # Evolution: additive only
//!
//! Version 1 evolves without breaking old clients or old stored runs:
//!
//! - new fields are optional and carry `#[serde(default)]`, with a comment saying which protocol
//!   revision added them;
//! - no field is renamed or removed, and no field's meaning changes;
//! - new event types may appear: clients must ignore a `type` they do not know (they decode it as
//!   [`EventData::Unknown`]);
//! - enums are `#[non_exhaustive]` and decode values they do not know as their `Unknown` variant;
//! - the golden fixtures under `protocol/tests/fixtures/v1/` must keep deserializing forever (a
//!   test enforces it).
//!
//! A change that cannot follow these rules is protocol version 2, under `/v2/`.
//!
//! # Units
//!
//! Units are in names (`rtt_median_ms`, `loss_percent`, `goodput_mbps`), and each [`Metric`]
//! carries the [`Threshold`] it was judged against, so a result explains itself.
#![deny(missing_docs)]

mod check;
mod diagnosis;
mod error;
mod event;
pub mod measure;
mod report;
mod request;
mod schedule;
pub mod schema;
mod ticket;

pub use check::{CheckId, CheckResult, CheckStatus, Direction, Metric, MetricValue, Threshold};
pub use diagnosis::{
    Actor, Advice, Audience, Confidence, Diagnosis, Evidence, Finding, FindingCode, ProfileRef, Segment, Severity,
};
pub use error::{ApiError, ErrorCode};
pub use event::{
    Event, EventData, Plan, PlanStep, Progress, RunFinished, RunStarted, StepFinished, StepProgress, StepStarted,
};
pub use report::{Health, Remediation, RunCreated, RunList, RunReport, RunSummary, TopFinding};
pub use request::{Lang, LineKind, LineUnderTest, ProblemKind, RunId, RunOptions, RunRequest, RunState};
pub use schedule::{LineLoad, RoundOutcome, ScheduleHistory, ScheduledCheck, ScheduledRound};
pub use ticket::{
    ActionEvent, ActionInfo, ActionList, ActionState, HelpdeskStatus, RemediationOutcome, SmsRecord, TicketRecord,
    TicketState, TicketStatus, TicketStatusUpdate, TicketSubmission,
};

/// The protocol version carried in every envelope's `v` field.
pub const PROTOCOL_VERSION: u32 = 1;

/// A point in time on the wire: RFC 3339 in UTC, e.g. `2026-11-26T17:52:29.123Z`.
pub type Timestamp = jiff::Timestamp;
