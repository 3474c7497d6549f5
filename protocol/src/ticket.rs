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

/// Delivery states of a ticket: `queued → sent → acknowledged → sms_sent`.
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
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// A remediation action's progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionEvent {
    /// The action's name (`reconnect_data_session`, `reset_modem`…).
    pub action: String,
    /// Where it stands.
    pub state: ActionState,
    /// What happened, in plain language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// States of a remediation action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionState {
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
