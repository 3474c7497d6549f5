//! Scheduled monitoring (added in protocol v1, issue 10): the answer to `GET /v1/history`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CheckId, CheckStatus, Metric, Timestamp};

/// Answer to `GET /v1/history` (technician role): the bounded history of the agent's scheduled
/// lightweight checks, oldest first, and the alert state now. Not the run history
/// (`GET /v1/runs`): scheduled rounds are not runs, have no event stream and are kept in memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleHistory {
    /// Minutes between scheduled rounds; `0` when the schedule is off.
    #[serde(default)]
    pub interval_minutes: u32,
    /// How many failed rounds in a row raise the alert.
    #[serde(default)]
    pub alert_after: u32,
    /// Failed rounds in a row now (skipped rounds neither count nor reset).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Whether the alert is raised now.
    #[serde(default)]
    pub alert: bool,
    /// The rounds kept (at most the configured `history`), oldest first.
    #[serde(default)]
    pub rounds: Vec<ScheduledRound>,
}

/// One scheduled round: run, or skipped and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledRound {
    /// When the round was due.
    pub at: Timestamp,
    /// How it ended.
    pub outcome: RoundOutcome,
    /// The line's traffic over the sample window before the round, kbit/s, when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<LineLoad>,
    /// The checks that ran (empty when skipped).
    #[serde(default)]
    pub checks: Vec<ScheduledCheck>,
    /// Failed rounds in a row after this one.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Whether the alert was raised after this round.
    #[serde(default)]
    pub alert: bool,
}

/// How a scheduled round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoundOutcome {
    /// Every check passed or warned.
    Passed,
    /// At least one check failed or could not measure.
    Failed,
    /// Not run: the line carried customer traffic above the `busy-kbps` threshold.
    SkippedBusy,
    /// Not run: a diagnosis run was in progress.
    SkippedRunInProgress,
    /// Started, then canceled because a client started a run (a client is never refused for a
    /// scheduled round).
    Preempted,
    /// An outcome this client does not know (sent by a newer agent).
    #[serde(other)]
    Unknown,
}

/// Traffic on the default-route interface over the sample window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineLoad {
    /// The interface read.
    pub interface: String,
    /// Received, kbit/s.
    pub rx_kbps: f64,
    /// Sent, kbit/s.
    pub tx_kbps: f64,
}

/// One check of a scheduled round: its verdict and headline metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledCheck {
    /// Which check.
    pub id: CheckId,
    /// The verdict.
    pub status: CheckStatus,
    /// Why, when the check failed, could not measure or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the check took, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// The check's metrics (raw samples are not kept).
    #[serde(default)]
    pub metrics: Vec<Metric>,
}
