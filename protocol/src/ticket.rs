//! Ticket delivery status and remediation actions, as streamed to clients.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a ticket's delivery to the helpdesk stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketStatus {
    /// The delivery state.
    pub state: TicketState,
    /// The helpdesk's ticket number, once acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last delivery error, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Delivery states of a ticket: `queued → sent → acknowledged → sms_sent`, or `rejected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TicketState {
    /// Committed to the agent's durable outbox; delivery pending.
    Queued,
    /// Posted to the helpdesk, no answer yet.
    Sent,
    /// The helpdesk accepted it and gave a ticket number.
    Acknowledged,
    /// The confirmation SMS went out.
    SmsSent,
    /// The helpdesk refused the ticket for good (`last_error` says why); it will not be retried.
    /// Added with ticket delivery (issue 8).
    Rejected,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// A remediation action's progress: payload of the `action` event.
///
/// An action the run's flow offers goes `proposed → confirmed → started → succeeded | failed`
/// (or `proposed → declined` when the client did not confirm it); the flow's re-test then
/// ends with one more `succeeded` or `failed` event carrying the `outcome`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionEvent {
    /// The action's name (`reconnect_data_session`, `reset_modem`…).
    pub action: String,
    /// Where it stands.
    pub state: ActionState,
    /// What happened, in plain language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The device acted on (`modem 192.0.2.1:502`). Added in protocol v1, issue 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The verdict of the re-test after the action, on the flow's last event. Added in
    /// protocol v1, issue 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RemediationOutcome>,
}

/// States of a remediation action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionState {
    /// The diagnosis suggests it; it waits for the client's confirmation. Added in protocol v1,
    /// issue 8.
    Proposed,
    /// The client confirmed it. Added in protocol v1, issue 8.
    Confirmed,
    /// The client did not confirm it: nothing was done. Added in protocol v1, issue 8.
    Declined,
    /// Asked for, running.
    Started,
    /// Done.
    Succeeded,
    /// Tried, and did not work.
    Failed,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

impl ActionState {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Proposed => "proposed",
            ActionState::Confirmed => "confirmed",
            ActionState::Declined => "declined",
            ActionState::Started => "started",
            ActionState::Succeeded => "succeeded",
            ActionState::Failed => "failed",
            ActionState::Unknown => "unknown",
        }
    }
}

/// Whether service came back after a remediation action, judged by re-running the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemediationOutcome {
    /// The re-test is healthy: no ticket (a queued one is marked resolved by self-care).
    Restored,
    /// The fault is still there: a ticket is opened with the before and after measurements.
    NotRestored,
    /// An outcome this client does not know.
    #[serde(other)]
    Unknown,
}

impl RemediationOutcome {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationOutcome::Restored => "restored",
            RemediationOutcome::NotRestored => "not_restored",
            RemediationOutcome::Unknown => "unknown",
        }
    }
}

/// A remediation action this agent can perform: an entry of `GET /v1/actions` (added in
/// protocol v1, issue 8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionInfo {
    /// The action's name, as in `action` events.
    pub action: String,
    /// What it does, in plain language.
    pub description: String,
    /// Whether this host can perform it.
    pub available: bool,
    /// Why not, when it cannot; or the device it acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether a customer may trigger it (with explicit confirmation); technicians may trigger
    /// any available action.
    #[serde(default)]
    pub customer_allowed: bool,
}

/// Answer to `GET /v1/actions` (added in protocol v1, issue 8).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionList {
    /// Every action the agent knows, available here or not.
    #[serde(default)]
    pub actions: Vec<ActionInfo>,
}

/// A diagnosis ticket as the agent posts it to the helpdesk: `POST /v1/tickets` with an
/// `Idempotency-Key` header (added in protocol v1, issue 8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TicketSubmission {
    /// The line concerned (box line or mobile number), as the customer confirmed it.
    pub line: String,
    /// Where to send the confirmation SMS.
    pub contact: String,
    /// The problem the customer reported.
    pub problem: crate::ProblemKind,
    /// The codes of the findings the operator must act on, most important first.
    #[serde(default)]
    pub findings: Vec<String>,
    /// A short evidence summary for the technician (metric, value, threshold).
    #[serde(default)]
    pub evidence: String,
    /// The run that diagnosed it.
    pub run: crate::RunId,
    /// Version of the agent that ran it.
    #[serde(default)]
    pub agent_version: String,
    /// The threshold profile the run was judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A ticket as the helpdesk holds it: the answer to `POST /v1/tickets` and `GET /v1/tickets/{number}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TicketRecord {
    /// The helpdesk's ticket number (`SND-000042`).
    pub number: String,
    /// Where the helpdesk stands on it.
    pub status: HelpdeskStatus,
    /// The device that posted it.
    pub device: String,
    /// When the helpdesk accepted it.
    pub created_at: crate::Timestamp,
    /// When its status last changed.
    pub updated_at: crate::Timestamp,
    /// Whether the confirmation SMS went out.
    #[serde(default)]
    pub sms_sent: bool,
    /// What the agent posted.
    pub submission: TicketSubmission,
}

/// The helpdesk's status of a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HelpdeskStatus {
    /// Accepted, nobody on it yet.
    Open,
    /// A technician is on it.
    InProgress,
    /// Fixed by the operator.
    Resolved,
    /// The customer fixed it with the self-care advice.
    ResolvedSelfCare,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

impl HelpdeskStatus {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HelpdeskStatus::Open => "open",
            HelpdeskStatus::InProgress => "in_progress",
            HelpdeskStatus::Resolved => "resolved",
            HelpdeskStatus::ResolvedSelfCare => "resolved_self_care",
            HelpdeskStatus::Unknown => "unknown",
        }
    }
}

/// Body of `PATCH /v1/tickets/{number}`: a technician moves a ticket along.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketStatusUpdate {
    /// The new status.
    pub status: HelpdeskStatus,
}

/// One SMS the helpdesk sent, as the stub gateway records it (`GET /v1/sms`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SmsRecord {
    /// The recipient.
    pub to: String,
    /// The text.
    pub text: String,
    /// The ticket it confirms.
    pub ticket: String,
    /// When it was sent.
    pub sent_at: crate::Timestamp,
}
