use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sonde_agent::api::{AppState, app};
use sonde_agent::checks::{BoxFuture, Checks, ProgressSink};
use sonde_agent::config::Config;
use sonde_agent::store::Store;
use sonde_protocol::{
    ApiError, CheckId, CheckResult, CheckStatus, ErrorCode, Event, EventData, Health, Metric, Plan, RunCreated, RunId,
    RunList, RunReport, RunRequest, RunStarted, RunState, Timestamp,
};
use tower::ServiceExt;

/// Checks that pass after `delay` each, reporting a little progress.
struct FakeChecks {
    delay: Duration,
}

impl Checks for FakeChecks {
    fn run<'a>(&'a self, check: CheckId, progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
        Box::pin(async move {
            tokio::time::sleep(self.delay / 2).await;
            progress.report(0.5, vec![Metric::new("rtt_ms", 1.0)]);
            tokio::time::sleep(self.delay / 2).await;
            let metrics = match check {
                CheckId::Link => vec![
                    Metric::new("interfaces_up", 1u64),
                    Metric::new("default_route_v4", true),
                ],
                CheckId::Gateway => vec![Metric::new("replies", 10u64), Metric::new("probes_sent", 10u64)],
                _ => vec![
                    Metric::new("resolvers_configured", 1u64),
                    Metric::new("resolvers_answering", 1u64),
                ],
            };
            CheckResult {
                id: check,
                status: CheckStatus::Pass,
                reason: None,
                metrics,
                duration_ms: 1,
                samples: None,
            }
        })
    }
}

fn router_with(store: Store, delay: Duration) -> (Router, AppState) {
    let state = AppState::new(
        store,
        Config::default(),
        Arc::new(move |_: &Config| Box::new(FakeChecks { delay }) as Box<dyn Checks>),
    );
    (app(state.clone()), state)
}

fn router(delay: Duration) -> Router {
    router_with(Store::in_memory().expect("store"), delay).0
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, body)
}

fn post_runs(body: &str) -> Request<Body> {
    Request::post("/v1/runs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

async fn start(app: &Router) -> RunCreated {
    let (status, body) = send(app, post_runs("{}")).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("RunCreated")
}

/// Reads an SSE body to its end (or until `limit` events), returning the decoded events.
pub(crate) async fn read_events(app: &Router, uri: &str, last_event_id: Option<u64>, limit: usize) -> Vec<Event> {
    let mut request = Request::get(uri);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = response.into_body();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while events.len() < limit {
        let frame = tokio::time::timeout_at(deadline.into(), body.frame())
            .await
            .expect("stream stalled");
        let Some(frame) = frame else { break };
        let Ok(data) = frame.expect("frame").into_data() else {
            continue;
        };
        buffer.push_str(std::str::from_utf8(&data).expect("utf-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(|v| v.trim().parse::<u64>().expect("id"));
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue; // keep-alive comment
            }
            let event: Event = serde_json::from_str(&data).expect("event JSON");
            assert_eq!(id, Some(event.seq), "the SSE id is the seq");
            events.push(event);
            if events.len() >= limit {
                break;
            }
        }
    }
    events
}

#[tokio::test]
async fn health_answers() {
    let (status, body) = send(&router(Duration::ZERO), get("/v1/health")).await;
    assert_eq!(status, StatusCode::OK);
    let health: Health = serde_json::from_slice(&body).expect("Health");
    assert_eq!(health.status, "ok");
    assert_eq!(health.running, None);
}

#[tokio::test]
async fn a_run_streams_to_completion_and_its_report_is_served() {
    let app = router(Duration::from_millis(20));
    let created = start(&app).await;
    let events = read_events(&app, &created.events, None, usize::MAX).await;
    let types: Vec<&str> = events.iter().map(Event::type_name).collect();
    assert_eq!(types.first(), Some(&"run_started"));
    assert_eq!(types.last(), Some(&"run_finished"));
    assert!(types.contains(&"diagnosis"));
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=events.len() as u64).collect::<Vec<_>>()
    );

    let (status, body) = send(&app, get(&created.report)).await;
    assert_eq!(status, StatusCode::OK);
    let report: RunReport = serde_json::from_slice(&body).expect("report");
    assert_eq!(report.state, RunState::Completed);
    assert_eq!(report.checks.len(), report.plan.steps.len());
    assert!(report.checks.len() >= 3);
    assert!(report.diagnosis.is_some_and(|d| d.healthy));

    // A finished run replays its whole stream.
    let replay = read_events(&app, &created.events, None, usize::MAX).await;
    assert_eq!(replay, events);
}

#[tokio::test]
async fn the_history_lists_runs_newest_first_within_the_limit() {
    let app = router(Duration::ZERO);
    let (status, body) = send(&app, get("/v1/runs")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(serde_json::from_slice::<RunList>(&body).expect("RunList").runs, vec![]);
    let mut started = Vec::new();
    for _ in 0..3 {
        let created = start(&app).await;
        read_events(&app, &created.events, None, usize::MAX).await;
        started.push(created.run);
    }
    let (status, body) = send(&app, get("/v1/runs?limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    let list: RunList = serde_json::from_slice(&body).expect("RunList");
    let listed: Vec<RunId> = list.runs.iter().map(|r| r.run).collect();
    assert_eq!(listed, vec![started[2], started[1]]);
    assert!(
        list.runs
            .iter()
            .all(|r| r.state == RunState::Completed && r.healthy == Some(true))
    );
    for bad in ["/v1/runs?limit=0", "/v1/runs?limit=201", "/v1/runs?limit=many"] {
        let (status, body) = send(&app, get(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let error: ApiError = serde_json::from_slice(&body).expect("ApiError");
        assert!(error.message.contains("limit"), "{bad}: {}", error.message);
    }
}

#[tokio::test]
async fn resuming_with_last_event_id_delivers_each_event_exactly_once() {
    let app = router(Duration::from_millis(150));
    let created = start(&app).await;
    // Disconnect after three events, mid-run.
    let first = read_events(&app, &created.events, None, 3).await;
    assert_eq!(first.len(), 3);
    let last = first.last().map(|e| e.seq);
    let rest = read_events(&app, &created.events, last, usize::MAX).await;
    let all: Vec<u64> = first.iter().chain(&rest).map(|e| e.seq).collect();
    assert_eq!(
        all,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert!(matches!(rest.last().map(|e| &e.data), Some(EventData::RunFinished(_))));
}

#[tokio::test]
async fn two_concurrent_posts_start_one_run_and_the_other_names_it() {
    let app = router(Duration::from_millis(300));
    let (a, b) = tokio::join!(send(&app, post_runs("{}")), send(&app, post_runs("{}")));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let (created, conflict) = if a.0 == StatusCode::CREATED {
        (a.1, b.1)
    } else {
        (b.1, a.1)
    };
    let created: RunCreated = serde_json::from_slice(&created).expect("created");
    let conflict: ApiError = serde_json::from_slice(&conflict).expect("error body");
    assert_eq!(conflict.error, ErrorCode::RunInProgress);
    assert_eq!(conflict.run, Some(created.run));
}

#[tokio::test]
async fn delete_cancels_within_a_second() {
    let app = router(Duration::from_secs(5));
    let created = start(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (status, _) = send(
        &app,
        Request::delete(&created.report).body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    loop {
        let (_, body) = send(&app, get(&created.report)).await;
        let report: RunReport = serde_json::from_slice(&body).expect("report");
        if report.state == RunState::Canceled {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still {} after 1 s",
            report.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The slot is free again.
    start(&app).await;
}

#[tokio::test]
async fn bad_input_gets_a_json_error() {
    let app = router(Duration::ZERO);
    let big = format!("{{\"profile\":\"{}\"}}", "x".repeat(65 * 1024));
    let cases: Vec<(Request<Body>, StatusCode, ErrorCode)> = vec![
        (post_runs("{not json"), StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
        (
            post_runs("{\"problem\":42}"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post_runs("{\"surprise\":true}"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post_runs("{\"problem\":\"teleport\"}"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post_runs("{\"profile\":\"fibre\"}"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post_runs("{\"profile\":\"/etc/passwd\"}"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post_runs("{\"options\":{\"checks\":[]}}"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            post_runs(&big),
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
        ),
        (
            Request::post("/v1/runs")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("{}"))
                .expect("req"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
        ),
        (
            get("/v1/runs/not-a-uuid"),
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
        ),
        (
            get("/v1/runs/0192f6a2-0000-7000-8000-000000000001"),
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
        ),
        (
            get("/v1/runs/0192f6a2-0000-7000-8000-000000000001/events"),
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
        ),
        (get("/v2/anything"), StatusCode::NOT_FOUND, ErrorCode::NotFound),
        (
            Request::put("/v1/health").body(Body::empty()).expect("req"),
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
        ),
    ];
    for (request, expected_status, expected_code) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (status, body) = send(&app, request).await;
        assert_eq!(status, expected_status, "{what}: {}", String::from_utf8_lossy(&body));
        let error: ApiError = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{what}: body is not an ApiError ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        assert_eq!(error.error, expected_code, "{what}");
        assert!(!error.message.is_empty(), "{what}");
    }
}

#[tokio::test]
async fn an_empty_body_runs_the_default_plan() {
    let app = router(Duration::ZERO);
    let (status, _) = send(&app, Request::post("/v1/runs").body(Body::empty()).expect("req")).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_run_cut_by_a_restart_reads_interrupted() {
    let dir = std::env::temp_dir().join(format!("sonde-api-restart-{}", std::process::id()));
    let path = dir.join("sonded.db");
    // What a killed daemon leaves behind: a run accepted and started, never finished.
    let run = RunId::new();
    {
        let store = Store::open(&path).expect("open");
        store
            .create_run(run, &RunRequest::default(), Timestamp::now())
            .expect("create");
        let started = RunStarted {
            request: RunRequest::default(),
            plan: Plan::default(),
            agent_version: "0".into(),
        };
        let event = Event {
            v: 1,
            run,
            seq: 1,
            ts: Timestamp::now(),
            data: EventData::RunStarted(started),
        };
        store.append(&event).expect("append");
    }
    // The restart: the daemon recovers before serving.
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.recover_interrupted().expect("recover"), vec![run]);
    let (app, _) = router_with(store, Duration::ZERO);
    let (status, body) = send(&app, get(&format!("/v1/runs/{run}"))).await;
    assert_eq!(status, StatusCode::OK);
    let report: RunReport = serde_json::from_slice(&body).expect("report");
    assert_eq!(report.state, RunState::Interrupted);
    let replay = read_events(&app, &format!("/v1/runs/{run}/events"), None, usize::MAX).await;
    assert_eq!(replay.len(), 2);
    assert!(
        matches!(replay.last().map(|e| &e.data), Some(EventData::RunFinished(_))),
        "the replay ends"
    );
    // And the agent takes new runs.
    start(&app).await;
    let _ = std::fs::remove_dir_all(dir);
}
