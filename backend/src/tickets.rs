//! The ticket API: intake (idempotent, per draft-ietf-httpapi-idempotency-key-header), reading,
//! the technicians' list and status updates, and the SMS inspection endpoint.
//!
//! | method and path | who | answer |
//! | --- | --- | --- |
//! | `POST /v1/tickets` + `Idempotency-Key` | device | `201` + [`TicketRecord`]; a replay gets the original answer |
//! | `GET /v1/tickets/{number}` | the device that posted it, technician | [`TicketRecord`] |
//! | `GET /v1/tickets?status=&device=&line=&limit=` | technician | `[TicketRecord]`, newest first |
//! | `PATCH /v1/tickets/{number}` + [`TicketStatusUpdate`] | technician | [`TicketRecord`] |
//! | `GET /v1/sms?ticket=` | technician | `[SmsRecord]`: every SMS recorded (the stub gateway's record) |
//!
//! Every call carries `Authorization: Bearer TOKEN`; an unknown token is `401`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use sonde_protocol::{
    ApiError, ErrorCode, HelpdeskStatus, SmsRecord, TicketRecord, TicketStatusUpdate, TicketSubmission,
};

use crate::config::{Config, Role, hex};
use crate::db::{Store, TicketFilter, TicketOutcome, TicketRequest};
use crate::sms::{SmsGateway, confirmation_text, mask_number};

/// Longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 255;
/// Default and maximum size of a ticket list.
pub const MAX_LIST: usize = 500;

/// Shared state of the ticket API.
#[derive(Clone, Debug)]
pub struct Helpdesk {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Store>,
    config: Config,
    sms: Arc<dyn SmsGateway>,
    /// Wakes the SMS dispatcher (a ticket and its SMS were committed).
    sms_wake: Arc<tokio::sync::Notify>,
    /// `(device, key)` pairs being processed right now by this process: a concurrent duplicate
    /// gets `409` without a database round trip. (Across replicas, the storage answers
    /// [`TicketOutcome::InFlight`].)
    in_flight: Mutex<HashSet<(String, String)>>,
}

impl Helpdesk {
    /// The helpdesk over `db` (a [`Store`], or an SQLite [`crate::db::Db`]), sending SMS
    /// through `sms`.
    pub fn new(db: impl Into<Store>, config: Config, sms: Box<dyn SmsGateway>) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: Arc::new(db.into()),
                config,
                sms: Arc::from(sms),
                sms_wake: Arc::new(tokio::sync::Notify::new()),
                in_flight: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Starts the task that hands recorded SMS to the gateway; it ends with `shutdown`.
    pub fn spawn_sms_dispatcher(&self, shutdown: tokio_util::sync::CancellationToken) {
        tokio::spawn(crate::sms::dispatch(
            Arc::clone(&self.inner.db),
            Arc::clone(&self.inner.sms),
            Arc::clone(&self.inner.sms_wake),
            shutdown,
        ));
    }

    /// The database (tests inspect it).
    pub fn db(&self) -> &Store {
        &self.inner.db
    }

    /// Marks `key` of `device` in flight until the guard drops; `None` if it already is.
    pub fn begin(&self, device: &str, key: &str) -> Option<InFlight> {
        let pair = (device.to_owned(), key.to_owned());
        let inserted = self.in_flight().insert(pair.clone());
        inserted.then(|| InFlight {
            helpdesk: self.clone(),
            pair,
        })
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn authenticate(&self, headers: &HeaderMap, needed: Role) -> Result<String, Failure> {
        self.caller(headers, needed).map(|(name, _)| name)
    }

    /// The caller's name and role, if its token is known and its role suffices.
    fn caller(&self, headers: &HeaderMap, needed: Role) -> Result<(String, Role), Failure> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                Failure::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "send `Authorization: Bearer <device token>`",
                )
            })?;
        let Some((name, role)) = self.inner.config.authenticate(token) else {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "unknown device token",
            ));
        };
        if needed == Role::Technician && role != Role::Technician {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Unauthorized,
                "this endpoint is for technicians",
            ));
        }
        Ok((name.to_owned(), role))
    }
}

/// A key being processed; dropping it frees the key.
#[derive(Debug)]
pub struct InFlight {
    helpdesk: Helpdesk,
    pair: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.helpdesk.in_flight().remove(&self.pair);
    }
}

/// The ticket routes.
pub fn router(helpdesk: Helpdesk) -> Router {
    Router::new()
        .route("/v1/tickets", get(list_tickets).post(create_ticket))
        .route("/v1/tickets/{number}", get(get_ticket).patch(update_ticket))
        .route("/v1/sms", get(list_sms))
        .with_state(helpdesk)
}

async fn create_ticket(State(helpdesk): State<Helpdesk>, headers: HeaderMap, body: Bytes) -> Result<Response, Failure> {
    let device = helpdesk.authenticate(&headers, Role::Device)?;
    let key = idempotency_key(&headers)?;
    let submission: TicketSubmission = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("invalid ticket: {e}"),
        )
    })?;
    if submission.contact.trim().is_empty() || submission.line.trim().is_empty() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "a ticket needs a line and a contact number",
        ));
    }
    let request_hash = hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());

    let in_flight = || {
        Failure::new(
            StatusCode::CONFLICT,
            ErrorCode::IdempotencyInFlight,
            "a request with this Idempotency-Key is being processed; retry later",
        )
    };
    let Some(_in_flight) = helpdesk.begin(&device, &key) else {
        return Err(in_flight());
    };
    let config = &helpdesk.inner.config;
    let request = TicketRequest {
        device: &device,
        key: &key,
        request_hash: &request_hash,
        submission: &submission,
    };
    let outcome = helpdesk
        .db()
        .create_ticket(request, |number| {
            confirmation_text(config.sms_lang, &config.operator, number)
        })
        .await
        .map_err(Failure::internal)?;
    let record = match outcome {
        TicketOutcome::Created(record, _sms) => *record,
        TicketOutcome::InFlight => return Err(in_flight()),
        TicketOutcome::Existing(stored) if stored.request_hash != request_hash => {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyMismatch,
                "this Idempotency-Key was used with another body; use a new key for a new ticket",
            ));
        }
        TicketOutcome::Existing(stored) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            return Ok((status, [(header::CONTENT_TYPE, "application/json")], stored.body).into_response());
        }
    };
    tracing::info!(
        ticket = %record.number,
        %device,
        contact = %mask_number(&submission.contact),
        run = %submission.run,
        "ticket opened"
    );
    // The SMS is committed with the ticket; the dispatcher hands it to the gateway.
    helpdesk.inner.sms_wake.notify_one();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/tickets/{}", record.number))],
        Json(record),
    )
        .into_response())
}

async fn get_ticket(
    State(helpdesk): State<Helpdesk>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Json<TicketRecord>, Failure> {
    let (caller, role) = helpdesk.caller(&headers, Role::Device)?;
    helpdesk
        .db()
        .ticket(&number)
        .await
        .map_err(Failure::internal)?
        // A device sees its own tickets only (they hold customers' numbers).
        .filter(|t| role == Role::Technician || t.device == caller)
        .map(Json)
        .ok_or_else(|| no_ticket(&number))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<HelpdeskStatus>,
    device: Option<String>,
    line: Option<String>,
    limit: Option<usize>,
}

async fn list_tickets(
    State(helpdesk): State<Helpdesk>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TicketRecord>>, Failure> {
    helpdesk.authenticate(&headers, Role::Technician)?;
    let Query(query) = query.map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("invalid filter: {}", e.body_text()),
        )
    })?;
    if query.status == Some(HelpdeskStatus::Unknown) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "status must be open, in_progress, resolved or resolved_self_care",
        ));
    }
    let filter = TicketFilter {
        status: query.status,
        device: query.device,
        line: query.line,
        limit: query.limit.unwrap_or(MAX_LIST).min(MAX_LIST),
    };
    Ok(Json(helpdesk.db().tickets(&filter).await.map_err(Failure::internal)?))
}

async fn update_ticket(
    State(helpdesk): State<Helpdesk>,
    headers: HeaderMap,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<TicketRecord>, Failure> {
    helpdesk.authenticate(&headers, Role::Technician)?;
    let update: TicketStatusUpdate = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("invalid status update: {e}"),
        )
    })?;
    if update.status == HelpdeskStatus::Unknown {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "status must be open, in_progress, resolved or resolved_self_care",
        ));
    }
    helpdesk
        .db()
        .update_status(&number, update.status)
        .await
        .map_err(Failure::internal)?
        .map(Json)
        .ok_or_else(|| no_ticket(&number))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsQuery {
    ticket: Option<String>,
}

async fn list_sms(
    State(helpdesk): State<Helpdesk>,
    headers: HeaderMap,
    query: Result<Query<SmsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SmsRecord>>, Failure> {
    helpdesk.authenticate(&headers, Role::Technician)?;
    let Query(query) =
        query.map_err(|e| Failure::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, e.body_text()))?;
    Ok(Json(
        helpdesk
            .db()
            .sms(query.ticket.as_deref())
            .await
            .map_err(Failure::internal)?,
    ))
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, Failure> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("POST /v1/tickets needs an Idempotency-Key header (1 to {MAX_KEY_LEN} characters)"),
        ));
    }
    Ok(key)
}

fn no_ticket(number: &str) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("no ticket {number}"),
    )
}

/// An error answer: a status and an [`ApiError`] body.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    body: ApiError,
}

impl Failure {
    fn new(status: StatusCode, error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiError::new(error, message),
        }
    }

    /// A 500 whose detail goes to the log, not to the client.
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; see the backend log",
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
