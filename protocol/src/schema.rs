//! JSON Schemas of the wire types, as committed under `protocol/schema/`.
//!
//! `cargo test -p sonde-protocol` fails when the committed files are stale; regenerate them with
//! `SONDE_BLESS=1 cargo test -p sonde-protocol`.

use schemars::{JsonSchema, Schema, generate::SchemaSettings};

use crate::{
    ActionList, ApiError, Event, Health, RunCreated, RunList, RunReport, RunRequest, ScheduleHistory, SmsRecord,
    TicketRecord, TicketStatusUpdate, TicketSubmission,
};

/// Every top-level wire document: the file name under `protocol/schema/` and its schema.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("run-request.schema.json", generate::<RunRequest>()),
        ("run-created.schema.json", generate::<RunCreated>()),
        ("event.schema.json", generate::<Event>()),
        ("run-report.schema.json", generate::<RunReport>()),
        ("run-list.schema.json", generate::<RunList>()),
        ("schedule-history.schema.json", generate::<ScheduleHistory>()),
        ("api-error.schema.json", generate::<ApiError>()),
        ("health.schema.json", generate::<Health>()),
        ("ticket-submission.schema.json", generate::<TicketSubmission>()),
        ("ticket-record.schema.json", generate::<TicketRecord>()),
        ("ticket-status-update.schema.json", generate::<TicketStatusUpdate>()),
        ("sms-record.schema.json", generate::<SmsRecord>()),
        ("action-list.schema.json", generate::<ActionList>()),
    ]
}

/// The schema of one type, draft 2020-12.
pub fn generate<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
}
