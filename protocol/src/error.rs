//! The body of every error answer.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::RunId;

/// The JSON body of every 4xx and 5xx answer:
/// `{"error":"run_in_progress","message":"…","run":"…"}`.
///
/// 4xx messages say what to fix; 5xx messages are generic (details go to the agent's log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    /// Machine-readable error code.
    pub error: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
    /// The run concerned, when there is one (for `run_in_progress`: the running run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
}

impl ApiError {
    /// An error without a run.
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
            run: None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error.as_str(), self.message)
    }
}

/// Machine-readable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed (bad JSON, a field of the wrong type, an unknown field).
    BadRequest,
    /// No such run or route.
    NotFound,
    /// Another run is in progress (`run` names it); one run at a time per agent.
    RunInProgress,
    /// The request body is over the size limit.
    PayloadTooLarge,
    /// The request body is not `application/json`.
    UnsupportedMediaType,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    /// The agent failed; see its log.
    Internal,
    /// The device is not known to the helpdesk, or its token is wrong (added with tickets).
    Unauthorized,
    /// A request with the same `Idempotency-Key` is still being processed (added with tickets).
    IdempotencyInFlight,
    /// The `Idempotency-Key` was already used with another body (added with tickets).
    IdempotencyMismatch,
    /// The request's `Host` is not one this agent answers to (DNS-rebinding guard).
    ForbiddenHost,
    /// The caller's role may not use this endpoint.
    Forbidden,
    /// The request headers are over the size limit.
    HeadersTooLarge,
    /// This client sent too many requests; `Retry-After` says when to try again.
    TooManyRequests,
    /// Too many requests or event streams at once; `Retry-After` says when to try again.
    Busy,
    /// The requested remediation action (`options.action`) is one this agent knows but its host
    /// cannot perform now (no modem configured, or the modem's map lacks it). Added in protocol
    /// v1, issue 9.
    ActionUnavailable,
    /// A code this client does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RunInProgress => "run_in_progress",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::IdempotencyInFlight => "idempotency_in_flight",
            ErrorCode::IdempotencyMismatch => "idempotency_mismatch",
            ErrorCode::ForbiddenHost => "forbidden_host",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Busy => "busy",
            ErrorCode::ActionUnavailable => "action_unavailable",
            ErrorCode::Unknown => "unknown",
        }
    }
}
