//! What a client asks for: the run request, and the states a run goes through.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::CheckId;

/// Identifies one run. A UUID (version 7, so ids sort by creation time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RunId(pub uuid::Uuid);

impl RunId {
    /// A new, unique, time-ordered run id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RunId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

/// Asks an agent to diagnose a line. Every field has a default, so `{}` is a valid request that
/// runs the default ("no Internet") plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RunRequest {
    /// The line the customer confirmed they want tested. Absent: the agent's own line.
    pub line: Option<LineUnderTest>,
    /// The nature of the problem the customer reports; it selects the plan.
    pub problem: ProblemKind,
    /// Name of the threshold profile to judge with (e.g. `ftth`). Absent: the agent's configured
    /// profile.
    pub profile: Option<String>,
    /// Options that tune the run.
    pub options: RunOptions,
    /// Where the customer wants the ticket confirmation SMS (a phone number), should the operator
    /// have to act. Absent: no ticket is opened. Added in protocol v1, issue 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// The line under test, as the customer confirmed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineUnderTest {
    /// Box Internet access or mobile data.
    pub kind: LineKind,
    /// The line's identifier as the customer knows it: Internet account or mobile number.
    #[serde(default)]
    pub id: Option<String>,
}

/// The kind of line under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineKind {
    /// Fixed broadband through a box (FTTH, VDSL2, ADSL).
    Box,
    /// Mobile data (4G, 5G).
    Mobile,
    /// A kind this client does not know (sent by a newer agent).
    #[serde(other)]
    Unknown,
}

/// The nature of the problem the customer reports. It selects which checks run and for how
/// long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// "No Internet": the fast plan (link, gateway, DNS).
    #[default]
    NoInternet,
    /// "It's slow".
    Slow,
    /// "The WiFi drops".
    Wifi,
    /// "Some sites or apps fail".
    Sites,
    /// "Calls or TV break up" (VoIP, IPTV).
    VoipTv,
    /// "Mobile data does not work".
    Mobile,
    /// A kind this agent does not know (sent by a newer client).
    #[serde(other)]
    Unknown,
}

impl ProblemKind {
    /// Every problem kind a user can choose, in menu order.
    pub const ALL: [ProblemKind; 6] = [
        ProblemKind::NoInternet,
        ProblemKind::Slow,
        ProblemKind::Wifi,
        ProblemKind::Sites,
        ProblemKind::VoipTv,
        ProblemKind::Mobile,
    ];

    /// The name used on the wire and on the command line (`no-internet`, `voip-tv`…).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::NoInternet => "no-internet",
            ProblemKind::Slow => "slow",
            ProblemKind::Wifi => "wifi",
            ProblemKind::Sites => "sites",
            ProblemKind::VoipTv => "voip-tv",
            ProblemKind::Mobile => "mobile",
            ProblemKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options that tune a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RunOptions {
    /// Language of the texts in the diagnosis.
    pub lang: Lang,
    /// Run only these checks (in plan order). Absent: the problem kind's plan.
    pub checks: Option<Vec<CheckId>>,
    /// The client confirms, in advance, the remediation action the diagnosis may propose
    /// (reconnect the mobile data session): the run performs it, re-tests and reports
    /// `restored` or `not_restored`. `false`: the action is only proposed (`declined`).
    /// Added in protocol v1, issue 8.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirm_actions: bool,
    /// A remediation action to perform once the plan has measured, whatever the diagnosis
    /// proposes (a name from `GET /v1/actions`, e.g. `reconnect_data_session`). The request
    /// itself is the confirmation: the run performs it, re-tests and reports `restored` or
    /// `not_restored`. An action the agent does not know, or that its host cannot perform, is
    /// refused when the run is requested. Added in protocol v1, issue 9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// Language of human-readable texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Lang {
    /// French, the default.
    #[default]
    Fr,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag (`fr`, `en`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
}

/// Where a run is in its life, after TR-181 diagnostics states:
/// `queued → running → completed | canceled | failed | interrupted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunState {
    /// Accepted, not started yet.
    Queued,
    /// Checks are running.
    Running,
    /// Every step ran (some checks may have failed or errored: that is a result, not a failure).
    Completed,
    /// Stopped by a client.
    Canceled,
    /// The agent could not run the plan at all.
    Failed,
    /// Cut short by an agent restart.
    Interrupted,
    /// A state this client does not know (sent by a newer agent).
    #[serde(other)]
    Unknown,
}

impl RunState {
    /// Whether the run is over: no more events will follow.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunState::Queued | RunState::Running)
    }

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Canceled => "canceled",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
            RunState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
