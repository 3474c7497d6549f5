//! The HTTP API of `sonded` (protocol v1, see `sonde_protocol`'s crate docs).
//!
//! Handlers only move data between HTTP and the runner and the store: they never compute a
//! verdict.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sonde_protocol::{
    ApiError, Diagnosis, ErrorCode, Event, EventData, Health, RunCreated, RunId, RunReport, RunRequest, RunState,
    TicketStatus, Timestamp,
};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::checks::Checks;
use crate::config::Config;
use crate::runner::{AGENT_VERSION, EventSink, RunSpec, execute};
use crate::store::Store;

/// Request bodies over this size get `413`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the check set for one run (the real one measures; tests inject fakes).
pub type ChecksFactory = Arc<dyn Fn(&Config) -> Box<dyn Checks> + Send + Sync>;

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<Store>,
    config: Config,
    checks: ChecksFactory,
    active: Mutex<Option<ActiveRun>>,
    /// Bumped after every stored event; event streams wait on it.
    changed: watch::Sender<u64>,
    /// Wakes the ticket delivery loop (a run with a ticket finished).
    outbox_wake: Arc<Notify>,
}

#[derive(Clone)]
struct ActiveRun {
    run: RunId,
    cancel: CancellationToken,
}

impl AppState {
    /// State over `store`, running checks built by `checks`.
    pub fn new(store: Store, config: Config, checks: ChecksFactory) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                config,
                checks,
                active: Mutex::new(None),
                changed,
                outbox_wake: Arc::new(Notify::new()),
            }),
        }
    }

    /// The run store (shared with the ticket delivery loop).
    pub fn store(&self) -> Arc<Store> {
        Arc::clone(&self.inner.store)
    }

    /// What wakes the ticket delivery loop.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.outbox_wake)
    }

    /// Wakes the event streams after events were stored outside the runner (ticket delivery).
    pub fn notify_changed(&self) {
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// Starts the ticket delivery loop when `[tickets]` is configured; it ends with `shutdown`.
    pub fn spawn_outbox(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Some(options) = self.inner.config.tickets.clone() else {
            return Ok(());
        };
        let helpdesk = crate::outbox::HttpHelpdesk::new(&options)?;
        let state = self.clone();
        tokio::spawn(crate::outbox::run(
            self.store(),
            Box::new(helpdesk),
            options,
            self.outbox_wake(),
            Box::new(move || state.notify_changed()),
            shutdown,
        ));
        Ok(())
    }

    /// The run in progress, if any.
    pub fn active_run(&self) -> Option<RunId> {
        self.active().as_ref().map(|a| a.run)
    }

    /// Cancels the run in progress, if any (used at shutdown).
    pub fn cancel_active(&self) {
        if let Some(active) = self.active().as_ref() {
            active.cancel.cancel();
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<ActiveRun>> {
        self.inner
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The router of protocol v1.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/runs", axum::routing::post(create_run))
        .route("/v1/runs/{id}", get(get_run).delete(cancel_run))
        .route("/v1/runs/{id}/events", get(run_events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: AGENT_VERSION.to_owned(),
        running: state.active_run(),
    })
}

async fn create_run(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RunRequest>,
) -> Result<Response, Failure> {
    let spec = crate::prepare(request, &state.inner.config)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, e.to_string()))?;
    let run = spec.run;
    let config = state
        .inner
        .config
        .for_request(&spec.request)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, e.to_string()))?;
    let cancel = CancellationToken::new();
    {
        // Check-and-set under one lock: of two concurrent requests exactly one gets the slot.
        let mut active = state.active();
        if let Some(running) = active.as_ref() {
            return Err(Failure {
                status: StatusCode::CONFLICT,
                body: ApiError {
                    error: ErrorCode::RunInProgress,
                    message: format!(
                        "run {} is in progress; one run at a time (cancel it or wait)",
                        running.run
                    ),
                    run: Some(running.run),
                },
            });
        }
        state
            .inner
            .store
            .create_run(run, &spec.request, Timestamp::now())
            .map_err(Failure::internal)?;
        *active = Some(ActiveRun {
            run,
            cancel: cancel.clone(),
        });
    }
    let task_state = state.clone();
    tokio::spawn(async move {
        let checks = (task_state.inner.checks)(&config);
        let sink = StoreSink {
            state: task_state.clone(),
        };
        let outcome = execute(spec, checks.as_ref(), &sink, cancel).await;
        tracing::info!(%run, state = %outcome, "run finished");
    });
    let created = RunCreated {
        run,
        state: RunState::Queued,
        report: format!("/v1/runs/{run}"),
        events: format!("/v1/runs/{run}/events"),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, created.report.clone())],
        Json(created),
    )
        .into_response())
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RunReport>, Failure> {
    let run = parse_run_id(&id)?;
    Ok(Json(report(&state, run)?))
}

async fn cancel_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Failure> {
    let run = parse_run_id(&id)?;
    let report = report(&state, run)?;
    let active = state.active().clone();
    match active {
        Some(active) if active.run == run => {
            active.cancel.cancel();
            Ok((StatusCode::ACCEPTED, Json(report)).into_response())
        }
        // Already over: canceling is a no-op, the report says how it ended.
        _ => Ok((StatusCode::OK, Json(report)).into_response()),
    }
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Same as `Last-Event-ID`, for clients that cannot set headers.
    after: Option<u64>,
}

async fn run_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, Failure> {
    let run = parse_run_id(&id)?;
    report(&state, run)?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Failure::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::BadRequest,
                        "Last-Event-ID must be an event seq (an integer)",
                    )
                })?,
        ),
    };
    let after = last_event_id.or(query.after).unwrap_or(0);
    let stream = EventStream {
        state: state.clone(),
        run,
        after,
        finished: false,
        changed: state.inner.changed.subscribe(),
    };
    Ok(Sse::new(stream.into_stream()).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Replays the stored events after `after`, then follows the live ones until `run_finished` —
/// or, when the run opened a ticket, until its delivery settles (ticket events follow
/// `run_finished`).
struct EventStream {
    state: AppState,
    run: RunId,
    after: u64,
    finished: bool,
    changed: watch::Receiver<u64>,
}

impl EventStream {
    fn into_stream(self) -> impl Stream<Item = Result<sse::Event, Infallible>> {
        futures_util::stream::unfold(
            (self, Vec::<Event>::new().into_iter(), false),
            |(mut s, mut pending, done)| async move {
                loop {
                    if let Some(event) = pending.next() {
                        s.after = event.seq;
                        s.finished |= matches!(event.data, EventData::RunFinished(_));
                        let finished = s.finished && !s.state.inner.store.ticket_pending(s.run).unwrap_or(false);
                        let sse = sse::Event::default()
                            .id(event.seq.to_string())
                            .data(serde_json::to_string(&event).unwrap_or_default());
                        return Some((Ok(sse), (s, pending, done || finished)));
                    }
                    if done {
                        return None;
                    }
                    // Mark the current version seen *before* reading, so an event stored after the
                    // read wakes us instead of being missed.
                    s.changed.borrow_and_update();
                    match s.state.inner.store.events_after(s.run, s.after) {
                        Ok(events) if !events.is_empty() => pending = events.into_iter(),
                        Ok(_) => {
                            if s.changed.changed().await.is_err() {
                                return None;
                            }
                        }
                        Err(e) => {
                            tracing::error!(run = %s.run, "event stream: {e}");
                            return None;
                        }
                    }
                }
            },
        )
    }
}

/// Stores each event and wakes the streams; frees the run slot at `run_finished`.
struct StoreSink {
    state: AppState,
}

impl EventSink for StoreSink {
    fn emit(&self, event: Event) {
        let inner = &self.state.inner;
        if let Err(e) = inner.store.append(&event) {
            tracing::error!(run = %event.run, seq = event.seq, "cannot store event: {e}");
        }
        if matches!(event.data, EventData::RunFinished(_)) {
            let mut active = self.state.active();
            if active.as_ref().is_some_and(|a| a.run == event.run) {
                *active = None;
            }
            // Its ticket, if any, may go now (the runner no longer numbers this run's events).
            inner.outbox_wake.notify_one();
        }
        inner.changed.send_modify(|n| *n += 1);
    }

    fn open_ticket(&self, spec: &RunSpec, diagnosis: &Diagnosis) -> Option<TicketStatus> {
        let inner = &self.state.inner;
        inner.config.tickets.as_ref()?;
        let submission =
            crate::outbox::ticket_for(spec.run, &spec.request, diagnosis, &spec.profile.name, AGENT_VERSION)?;
        match crate::outbox::enqueue(&inner.store, &submission) {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::error!(run = %spec.run, "cannot queue the ticket: {e}");
                None
            }
        }
    }
}

fn report(state: &AppState, run: RunId) -> Result<RunReport, Failure> {
    state
        .inner
        .store
        .report(run)
        .map_err(Failure::internal)?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no run {run}")))
}

fn parse_run_id(id: &str) -> Result<RunId, Failure> {
    id.parse().map_err(|_| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("`{id}` is not a run id (a UUID)"),
        )
    })
}

async fn not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint; see /v1/health, /v1/runs",
    )
}

async fn method_not_allowed() -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "method not allowed on this path",
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
            "internal error; see the agent log",
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A JSON body with our error shape for every rejection. An empty body is the default value
/// (so `POST /v1/runs` with no body runs the default plan, like `{}`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Failure::new(
                    status,
                    ErrorCode::PayloadTooLarge,
                    format!("request body over {MAX_BODY_BYTES} bytes"),
                )
            } else {
                Failure::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, e.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if let Some(ct) = content_type {
            let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if essence != "application/json" {
                return Err(Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::UnsupportedMediaType,
                    format!("Content-Type `{ct}` is not application/json"),
                ));
            }
        }
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                format!("invalid request body: {e}"),
            )
        })
    }
}
