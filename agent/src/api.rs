//! The HTTP API of `sonded` (protocol v1, see `sonde_protocol`'s crate docs).
//!
//! Handlers only move data between HTTP and the runner and the store: they never compute a
//! verdict.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sonde_protocol::{
    ApiError, Diagnosis, ErrorCode, Event, EventData, Health, LineLoad, RoundOutcome, RunCreated, RunId, RunList,
    RunReport, RunRequest, RunState, ScheduleHistory, ScheduledCheck, TicketStatus, Timestamp,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::checks::Checks;
use crate::config::Config;
use crate::runner::{AGENT_VERSION, EventSink, RunSpec, execute};
use crate::security::{self, RateLimiter, Role};
use crate::store::Store;

/// Request bodies over this size get `413`. A run request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

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
    /// Per-client token buckets.
    limiter: RateLimiter,
    /// Requests in flight (a permit each).
    requests: Arc<Semaphore>,
    /// Open progress streams (a permit each, held by the stream).
    streams: Arc<Semaphore>,
    /// What `/metrics` reports.
    metrics: Mutex<Metrics>,
    /// Wakes the ticket delivery loop (a run with a ticket finished).
    outbox_wake: Arc<Notify>,
    /// Issues and checks the event-stream passes of the web page (`None`: no random source, so
    /// no pass is issued and browsers need the daemon without tokens).
    passes: Option<security::StreamPasses>,
    /// The scheduled round in progress, if any: a client's run cancels it. Locked after `active`.
    scheduled: Mutex<Option<CancellationToken>>,
    /// The scheduled rounds' history and alert.
    monitor: Mutex<crate::schedule::Monitor>,
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
        let api = &config.api;
        Self {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(api.rate_per_minute, api.rate_burst),
                requests: Arc::new(Semaphore::new(api.max_requests)),
                streams: Arc::new(Semaphore::new(api.max_event_streams)),
                metrics: Mutex::new(Metrics::default()),
                scheduled: Mutex::new(None),
                monitor: Mutex::new(crate::schedule::Monitor::new(&config.schedule)),
                store: Arc::new(store),
                config,
                checks,
                active: Mutex::new(None),
                changed,
                outbox_wake: Arc::new(Notify::new()),
                passes: security::StreamPasses::new(),
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

    /// A receiver woken after every stored event (the daemon follows runs with it for its
    /// systemd status line).
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Cancels the run in progress, if any, and the scheduled round (used at shutdown).
    pub fn cancel_active(&self) {
        let active = self.active();
        if let Some(active) = active.as_ref() {
            active.cancel.cancel();
        }
        if let Some(round) = lock(&self.inner.scheduled).take() {
            round.cancel();
        }
    }

    /// The agent's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Starts the scheduler (`[schedule]`) reading `counters`; it ends with `shutdown`. Nothing
    /// is spawned when the schedule is off.
    pub fn spawn_scheduler(&self, counters: Box<dyn crate::schedule::LineCounters>, shutdown: CancellationToken) {
        if self.inner.config.schedule.interval.is_some() {
            tokio::spawn(crate::schedule::run(self.clone(), counters, shutdown));
        }
    }

    /// Takes the slot for a scheduled round: `None` while a run is in progress. The token is
    /// canceled when a client starts a run meanwhile.
    pub fn begin_scheduled(&self) -> Option<CancellationToken> {
        let active = self.active();
        if active.is_some() {
            return None;
        }
        let token = CancellationToken::new();
        *lock(&self.inner.scheduled) = Some(token.clone());
        Some(token)
    }

    /// Frees the slot taken by [`Self::begin_scheduled`].
    pub fn end_scheduled(&self, token: &CancellationToken) {
        // One scheduler, one round at a time: the slot holds this round's token or nothing (a
        // client's run took it).
        let _active = self.active();
        token.cancel();
        *lock(&self.inner.scheduled) = None;
    }

    /// The checks a scheduled round runs (the same factory as runs).
    pub fn scheduled_checks(&self) -> Box<dyn Checks> {
        (self.inner.checks)(&self.inner.config)
    }

    /// Records a scheduled round in the history.
    pub fn record_round(
        &self,
        at: Timestamp,
        outcome: RoundOutcome,
        line: Option<LineLoad>,
        checks: Vec<ScheduledCheck>,
    ) {
        {
            let mut metrics = lock(&self.inner.metrics);
            for check in &checks {
                metrics.record_result(check.id, check.duration_ms, &check.metrics);
            }
        }
        lock(&self.inner.monitor).record(at, outcome, line, checks);
    }

    /// The scheduled rounds' history (`GET /v1/history`).
    pub fn schedule_history(&self) -> ScheduleHistory {
        lock(&self.inner.monitor).history()
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<ActiveRun>> {
        lock(&self.inner.active)
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (each update is one
/// assignment or one fold).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The router of protocol v1.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for path in crate::web::paths() {
        router = router.route(path, get(crate::web::serve));
    }
    router
        .route("/v1/health", get(health))
        .route("/v1/runs", get(list_runs).post(create_run))
        .route("/v1/runs/{id}", get(get_run).delete(cancel_run))
        .route("/v1/runs/{id}/events", get(run_events))
        .route("/v1/runs/{id}/stream-pass", axum::routing::post(stream_pass))
        .route("/v1/actions", get(list_actions))
        .route("/v1/history", get(schedule_history))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Outermost: runs first, for every path, matched or not.
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The gate every request passes, in this order: the `Host` allow-list (a foreign `Host` is a
/// DNS-rebinding attempt: 403 before anything else), the header size (431), the client's rate
/// (429 + `Retry-After`), the bearer token (401) and its role (403), then the cap on requests in
/// flight (503 + `Retry-After`). No CORS header is ever sent: browsers keep other origins out.
///
/// Two exceptions to the token: the web page's own files (they hold no data), and a run's event
/// stream opened with that run's `?pass=` (see [`security::StreamPasses`]), which a browser's
/// `EventSource` uses because it cannot send `Authorization`.
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let config = &state.inner.config;
    if let Some(host) = request.headers().get(header::HOST) {
        let allowed = host
            .to_str()
            .is_ok_and(|host| config.api.host_allowed(host, config.listen));
        if !allowed {
            return refuse(
                StatusCode::FORBIDDEN,
                ErrorCode::ForbiddenHost,
                "this agent does not answer to that Host name; add it to [api] allowed-hosts",
            );
        }
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > security::defaults::MAX_HEADER_BYTES {
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            &format!("request headers over {} bytes", security::defaults::MAX_HEADER_BYTES),
        );
    }
    // In-process requests (tests, no socket) have no peer and are not rate limited.
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(ip) = peer
        && let Err(wait) = state.inner.limiter.check(ip, std::time::Instant::now())
    {
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyRequests,
            "too many requests from this client; retry later",
        );
        response.headers_mut().insert(header::RETRY_AFTER, retry_after(wait));
        return response;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let is_asset = crate::web::is_asset(request.uri().path());
    let role = match stream_pass_of(&request) {
        Some((run, pass)) => {
            let now = unix_now();
            match state.inner.passes.as_ref() {
                Some(passes) if passes.verify(pass, run.0, now) => Ok(Role::Customer),
                _ => Err(security::AuthError::BadPass),
            }
        }
        None => config.api.authorize(authorization, peer),
    };
    let role = match role {
        Ok(role) => role,
        // The page's files hold no data: anyone the Host check and the rate let through gets them.
        Err(_) if is_asset => Role::Customer,
        Err(e) => {
            let mut response = refuse(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, &e.to_string());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sonde\""),
            );
            return response;
        }
    };
    let needed = required_role(request.method(), request.uri().path());
    if role < needed {
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            &format!("this endpoint is for the {} role", needed.as_str()),
        );
    }
    let Ok(_permit) = state.inner.requests.clone().try_acquire_owned() else {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            "too many requests in progress; retry shortly",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    request.extensions_mut().insert(role);
    next.run(request).await
}

/// The run and the pass of a `GET /v1/runs/{run}/events?pass=…` request, if it is one.
fn stream_pass_of(request: &Request) -> Option<(RunId, &str)> {
    let run = request
        .uri()
        .path()
        .strip_prefix("/v1/runs/")?
        .strip_suffix("/events")?
        .parse()
        .ok()?;
    let pass = request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("pass="))?;
    (request.method() == axum::http::Method::GET).then_some((run, pass))
}

/// Seconds since the Unix epoch (0 if the clock is before it: every pass then reads expired).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The least role an endpoint needs. The histories list every client's runs and the line's
/// monitoring: technicians only.
fn required_role(method: &axum::http::Method, path: &str) -> Role {
    if path == "/metrics" || path == "/v1/history" || (path == "/v1/runs" && method == axum::http::Method::GET) {
        Role::Technician
    } else {
        Role::Customer
    }
}

/// A refusal from the gate, in the [`ApiError`] shape. Its codes are newer than protocol v1's
/// [`ErrorCode`] list: old clients read them as `unknown`, with the message.
fn refuse(status: StatusCode, error: ErrorCode, message: &str) -> Response {
    (status, Json(ApiError::new(error, message))).into_response()
}

fn retry_after(wait: Duration) -> HeaderValue {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(seconds.max(1))
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
    role: Option<axum::Extension<Role>>,
    JsonBody(request): JsonBody<RunRequest>,
) -> Result<Response, Failure> {
    // Every string a client sends is checked before anything reads it.
    security::check_run_request(&request)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, e.to_string()))?;
    // A customer confirms remediation only on the mobile line (the flow's one action,
    // reconnecting the data session, is harmless there); a technician may on any line.
    let customer = role.is_none_or(|axum::Extension(role)| role == Role::Customer);
    let on_mobile = request
        .line
        .as_ref()
        .is_none_or(|l| l.kind == sonde_protocol::LineKind::Mobile);
    let confirmed = crate::remediation::confirmed(&request);
    if confirmed && customer && !on_mobile {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "a customer may confirm remediation actions only on a mobile line",
        ));
    }
    // ... and request only the actions the catalogue allows customers (not a modem restart).
    if let Some(name) = request.options.action.as_deref()
        && customer
        && crate::remediation::catalogue(&state.inner.config.mobile)
            .actions
            .iter()
            .any(|a| a.action == name && !a.customer_allowed)
    {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("action `{name}` is for the technician role (see GET /v1/actions, customer_allowed)"),
        ));
    }
    if confirmed {
        tracing::info!(
            role = if customer { "customer" } else { "technician" },
            action = request.options.action.as_deref().unwrap_or("as proposed"),
            "run requested with remediation confirmed"
        );
    }
    let spec = crate::prepare(request, &state.inner.config).map_err(|e| {
        let (status, code) = match &e {
            crate::PrepareError::Action(crate::remediation::ActionError::Unavailable { .. }) => {
                (StatusCode::CONFLICT, ErrorCode::ActionUnavailable)
            }
            _ => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
        };
        Failure::new(status, code, e.to_string())
    })?;
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
        // A client is never refused for a scheduled round: the round is canceled instead.
        if let Some(round) = lock(&state.inner.scheduled).take() {
            tracing::info!(%run, "a run was requested: the scheduled round is canceled");
            round.cancel();
        }
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

/// `GET /v1/actions`: the remediation actions this agent knows, and whether this host can
/// perform them.
async fn list_actions(State(state): State<AppState>) -> Json<sonde_protocol::ActionList> {
    Json(crate::remediation::catalogue(&state.inner.config.mobile))
}

/// `GET /v1/runs?limit=N`: the last runs, newest first.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

/// Runs `GET /v1/runs` lists when the client does not say.
pub const DEFAULT_LIST_LIMIT: usize = 20;
/// The most runs one `GET /v1/runs` lists (each is folded from its events).
pub const MAX_LIST_LIMIT: usize = 200;

async fn list_runs(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<RunList>, Failure> {
    let bad_limit = || {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("limit must be a number between 1 and {MAX_LIST_LIMIT}"),
        )
    };
    let Ok(Query(query)) = query else {
        return Err(bad_limit());
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(bad_limit());
    }
    let runs = state.inner.store.history(limit).map_err(Failure::internal)?;
    Ok(Json(RunList { runs }))
}

/// `GET /v1/history`: the scheduled rounds, oldest first, and the alert state.
async fn schedule_history(State(state): State<AppState>) -> Json<ScheduleHistory> {
    Json(state.schedule_history())
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

/// A pass to one run's event stream (see [`security::StreamPasses`]).
#[derive(Debug, serde::Serialize)]
struct StreamPass {
    /// Goes in `?pass=` of `GET /v1/runs/{id}/events`.
    pass: String,
    /// Seconds it stays valid.
    expires_in_s: u64,
}

/// `POST /v1/runs/{id}/stream-pass`: a pass to that run's events, for a browser's `EventSource`.
async fn stream_pass(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<StreamPass>, Failure> {
    let run = parse_run_id(&id)?;
    report(&state, run)?;
    let passes = state
        .inner
        .passes
        .as_ref()
        .ok_or_else(|| Failure::internal("no random source: cannot issue stream passes"))?;
    let now = unix_now();
    Ok(Json(StreamPass {
        pass: passes.issue(run.0, now),
        expires_in_s: security::StreamPasses::TTL_SECONDS,
    }))
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
) -> Result<Response, Failure> {
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
    let Ok(permit) = state.inner.streams.clone().try_acquire_owned() else {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            "too many progress streams open; retry shortly or read the report",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(response);
    };
    let stream = EventStream {
        _permit: permit,
        state: state.clone(),
        run,
        after,
        finished: false,
        changed: state.inner.changed.subscribe(),
    };
    Ok(Sse::new(stream.into_stream())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Replays the stored events after `after`, then follows the live ones until `run_finished` —
/// or, when the run opened a ticket, until its delivery settles (ticket events follow
/// `run_finished`).
struct EventStream {
    /// Counts this stream against the cap until it ends.
    _permit: OwnedSemaphorePermit,
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

/// `/metrics`, in the Prometheus text format (technicians only).
async fn metrics(State(state): State<AppState>) -> Response {
    let inner = &state.inner;
    let streams = inner.config.api.max_event_streams - inner.streams.available_permits();
    let outbox = match inner.store.outbox_depth() {
        Ok(depth) => Some(depth),
        Err(e) => {
            tracing::error!("cannot count the outbox: {e}");
            None
        }
    };
    let schedule = (inner.config.schedule.interval.is_some()).then(|| lock(&inner.monitor).alert());
    let text = lock(&inner.metrics).render(&Gauges {
        sse_clients: streams,
        running: state.active_run().is_some(),
        outbox_depth: outbox,
        schedule,
    });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Values `/metrics` reads at the time of the request.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Progress streams open.
    pub sse_clients: usize,
    /// Whether a run is in progress.
    pub running: bool,
    /// Tickets not yet delivered (`None`: the store could not say).
    pub outbox_depth: Option<u64>,
    /// The scheduled checks' alert (`None`: the schedule is off).
    pub schedule: Option<crate::schedule::AlertState>,
}

/// Counters and last values since the agent started, fed by the event stream.
#[derive(Debug, Default)]
pub struct Metrics {
    runs: std::collections::BTreeMap<String, u64>,
    /// Per check: (sum of durations in seconds, count).
    durations: std::collections::BTreeMap<&'static str, (f64, u64)>,
    /// Last values of the headline metrics, by Prometheus name.
    last: std::collections::BTreeMap<&'static str, f64>,
}

impl Metrics {
    /// Takes what it reports from one event.
    pub fn record(&mut self, event: &Event) {
        match &event.data {
            EventData::RunFinished(finished) => *self.runs.entry(finished.state.to_string()).or_default() += 1,
            EventData::StepFinished(step) => {
                let result = &step.result;
                self.record_result(result.id, result.duration_ms, &result.metrics);
            }
            _ => {}
        }
    }

    /// Takes a check's duration and headline values (from a run or a scheduled round).
    pub fn record_result(&mut self, id: sonde_protocol::CheckId, duration_ms: u64, metrics: &[sonde_protocol::Metric]) {
        use sonde_protocol::CheckId;
        let entry = self.durations.entry(id.as_str()).or_default();
        entry.0 += duration_ms as f64 / 1000.0;
        entry.1 += 1;
        let wanted: &[(&str, &'static str)] = match id {
            CheckId::Gateway => &[
                ("rtt_median_ms", "sonde_last_gateway_rtt_ms"),
                ("loss_percent", "sonde_last_gateway_loss_percent"),
            ],
            CheckId::InternetLatency => &[
                ("rtt_median_ms", "sonde_last_internet_rtt_ms"),
                ("loss_percent", "sonde_last_internet_loss_percent"),
            ],
            CheckId::Dns => &[("latency_median_ms", "sonde_last_dns_latency_ms")],
            CheckId::Throughput => &[
                ("download_mbps", "sonde_last_download_mbps"),
                ("upload_mbps", "sonde_last_upload_mbps"),
            ],
            _ => &[],
        };
        for (metric, name) in wanted {
            if let Some(sonde_protocol::MetricValue::Number(value)) =
                metrics.iter().find(|m| m.name == *metric).map(|m| &m.value)
            {
                self.last.insert(name, *value);
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: &Gauges) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP sonde_runs_total Runs ended since the agent started, by outcome."
        );
        let _ = writeln!(out, "# TYPE sonde_runs_total counter");
        for (state, n) in &self.runs {
            let _ = writeln!(out, "sonde_runs_total{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP sonde_check_duration_seconds Time each check took.");
        let _ = writeln!(out, "# TYPE sonde_check_duration_seconds summary");
        for (check, (sum, count)) in &self.durations {
            let _ = writeln!(out, "sonde_check_duration_seconds_sum{{check=\"{check}\"}} {sum}");
            let _ = writeln!(out, "sonde_check_duration_seconds_count{{check=\"{check}\"}} {count}");
        }
        for (name, help) in [
            (
                "sonde_last_gateway_rtt_ms",
                "Median RTT to the gateway in the last gateway check.",
            ),
            (
                "sonde_last_gateway_loss_percent",
                "Loss to the gateway in the last gateway check.",
            ),
            (
                "sonde_last_internet_rtt_ms",
                "Median RTT to the Internet anchors in the last Internet latency check.",
            ),
            (
                "sonde_last_internet_loss_percent",
                "Loss to the Internet anchors in the last Internet latency check.",
            ),
            (
                "sonde_last_dns_latency_ms",
                "Median DNS resolution latency in the last DNS check.",
            ),
            (
                "sonde_last_download_mbps",
                "Download goodput in the last throughput check.",
            ),
            ("sonde_last_upload_mbps", "Upload goodput in the last throughput check."),
        ] {
            if let Some(value) = self.last.get(name) {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
            }
        }
        let _ = writeln!(out, "# HELP sonde_sse_clients Progress streams open now.");
        let _ = writeln!(
            out,
            "# TYPE sonde_sse_clients gauge\nsonde_sse_clients {}",
            gauges.sse_clients
        );
        let _ = writeln!(out, "# HELP sonde_run_in_progress 1 while a run is in progress.");
        let _ = writeln!(
            out,
            "# TYPE sonde_run_in_progress gauge\nsonde_run_in_progress {}",
            u8::from(gauges.running)
        );
        if let Some(depth) = gauges.outbox_depth {
            let _ = writeln!(
                out,
                "# HELP sonde_outbox_depth Tickets queued for the helpdesk, not yet delivered."
            );
            let _ = writeln!(out, "# TYPE sonde_outbox_depth gauge\nsonde_outbox_depth {depth}");
        }
        if let Some(alert) = gauges.schedule {
            let _ = writeln!(
                out,
                "# HELP sonde_schedule_consecutive_failures Scheduled rounds failed in a row."
            );
            let _ = writeln!(
                out,
                "# TYPE sonde_schedule_consecutive_failures gauge\nsonde_schedule_consecutive_failures {}",
                alert.consecutive_failures
            );
            let _ = writeln!(
                out,
                "# HELP sonde_schedule_alert 1 once alert-after scheduled rounds failed in a row, until one passes."
            );
            let _ = writeln!(
                out,
                "# TYPE sonde_schedule_alert gauge\nsonde_schedule_alert {}",
                u8::from(alert.raised)
            );
        }
        out
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
        inner
            .metrics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(&event);
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
        self.state.inner.config.tickets.as_ref()?;
        let submission =
            crate::outbox::ticket_for(spec.run, &spec.request, diagnosis, &spec.profile.name, AGENT_VERSION)?;
        self.enqueue(spec, &submission)
    }

    fn open_ticket_after_remediation(&self, spec: &RunSpec, after: &Diagnosis, evidence: &str) -> Option<TicketStatus> {
        self.state.inner.config.tickets.as_ref()?;
        let submission = crate::outbox::ticket_after_remediation(
            spec.run,
            &spec.request,
            after,
            &spec.profile.name,
            AGENT_VERSION,
            evidence,
        )?;
        self.enqueue(spec, &submission)
    }
}

impl StoreSink {
    fn enqueue(&self, spec: &RunSpec, submission: &sonde_protocol::TicketSubmission) -> Option<TicketStatus> {
        match crate::outbox::enqueue(&self.state.inner.store, submission) {
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
