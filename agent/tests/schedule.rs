//! Scheduled monitoring through the API: `GET /v1/history` (technician role, shape), rounds
//! skipped while the line is busy or a run is in progress, a client's run preempting a round,
//! and the alert after N failed rounds in `/metrics`. Fake checks and fake interface counters:
//! nothing leaves the process.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use sonde_agent::api::{AppState, app};
use sonde_agent::checks::{BoxFuture, Checks, ProgressSink};
use sonde_agent::config::Config;
use sonde_agent::schedule::{self, CounterSample, LineCounters};
use sonde_agent::store::Store;
use sonde_protocol::{CheckId, CheckResult, CheckStatus, Metric, RoundOutcome, ScheduleHistory};
use tower::ServiceExt;

use crate::security::{CUSTOMER_TOKEN, TECHNICIAN_TOKEN, hex, request};

/// Checks that pass (or fail, when `failing` is set) after `delay`.
struct FakeChecks {
    delay: Duration,
    failing: Arc<AtomicBool>,
}

impl Checks for FakeChecks {
    fn run<'a>(&'a self, check: CheckId, _progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            let failing = self.failing.load(Ordering::SeqCst);
            CheckResult {
                id: check,
                status: if failing { CheckStatus::Fail } else { CheckStatus::Pass },
                reason: failing.then(|| "no reply".to_owned()),
                metrics: vec![
                    Metric::new("rtt_median_ms", 2.5),
                    Metric::new("loss_percent", if failing { 100.0 } else { 0.0 }),
                ],
                duration_ms: 4,
                samples: None,
            }
        })
    }
}

/// Interface counters read from a script, then repeating the last reading.
struct ScriptedCounters(Mutex<VecDeque<CounterSample>>);

impl ScriptedCounters {
    /// `rx` and `tx` bytes, reading after reading, on `eth0`.
    fn new(readings: &[(u64, u64)]) -> Self {
        Self(Mutex::new(
            readings
                .iter()
                .map(|&(rx_bytes, tx_bytes)| CounterSample {
                    interface: "eth0".to_owned(),
                    rx_bytes,
                    tx_bytes,
                })
                .collect(),
        ))
    }
}

impl LineCounters for ScriptedCounters {
    fn read(&self) -> Option<CounterSample> {
        let mut readings = self.0.lock().expect("lock");
        if readings.len() > 1 {
            readings.pop_front()
        } else {
            readings.front().cloned()
        }
    }
}

/// A quiet line: no byte moves.
fn quiet() -> ScriptedCounters {
    ScriptedCounters::new(&[(1_000, 1_000)])
}

/// The sample window of the tests (short; the daemon's is `schedule::BUSY_WINDOW`).
const WINDOW: Duration = Duration::from_millis(100);

struct Agent {
    app: Router,
    state: AppState,
    checks_built: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

fn agent(delay: Duration) -> Agent {
    let text = format!(
        "[api]\ncustomer-tokens = [\"{}\"]\ntechnician-tokens = [\"{}\"]\n\
         [schedule]\ninterval-minutes = 60\nbusy-kbps = 500\nhistory = 4\nalert-after = 2\n",
        hex(CUSTOMER_TOKEN),
        hex(TECHNICIAN_TOKEN)
    );
    let config = Config::parse(&text, std::path::Path::new("test.toml")).expect("config");
    let checks_built = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (counter, fail) = (checks_built.clone(), failing.clone());
    let state = AppState::new(
        Store::in_memory().expect("store"),
        config,
        Arc::new(move |_: &Config| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::new(FakeChecks {
                delay,
                failing: fail.clone(),
            }) as Box<dyn Checks>
        }),
    );
    Agent {
        app: app(state.clone()),
        state,
        checks_built,
        failing,
    }
}

async fn send(app: &Router, method: &str, uri: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let body = if method == "POST" { "{}" } else { "" };
    let response = app
        .clone()
        .oneshot(request(method, uri, token, body))
        .await
        .expect("infallible");
    let status = response.status();
    (
        status,
        response.into_body().collect().await.expect("body").to_bytes().to_vec(),
    )
}

async fn history(agent: &Agent) -> ScheduleHistory {
    let (status, body) = send(&agent.app, "GET", "/v1/history", Some(TECHNICIAN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("ScheduleHistory")
}

async fn metrics(agent: &Agent) -> String {
    let (status, body) = send(&agent.app, "GET", "/metrics", Some(TECHNICIAN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(body).expect("utf-8")
}

#[tokio::test]
async fn the_schedule_history_is_for_technicians_and_says_how_it_is_configured() {
    let agent = agent(Duration::ZERO);
    let (status, _) = send(&agent.app, "GET", "/v1/history", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&agent.app, "GET", "/v1/history", Some(CUSTOMER_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let empty = history(&agent).await;
    assert_eq!(
        (
            empty.interval_minutes,
            empty.alert_after,
            empty.consecutive_failures,
            empty.alert
        ),
        (60, 2, 0, false)
    );
    assert!(empty.rounds.is_empty());

    assert_eq!(
        schedule::round(&agent.state, &quiet(), WINDOW).await,
        RoundOutcome::Passed
    );
    let (status, body) = send(&agent.app, "GET", "/v1/history", Some(TECHNICIAN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let round = &json["rounds"][0];
    assert_eq!(round["outcome"], "passed");
    assert_eq!(round["line"]["interface"], "eth0");
    assert_eq!(round["line"]["rx_kbps"], 0.0);
    let checks: Vec<&str> = round["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(checks, ["gateway", "dns", "internet_latency"]);
    assert_eq!(round["checks"][0]["status"], "pass");
    assert_eq!(round["checks"][0]["metrics"][0]["name"], "rtt_median_ms");
    assert!(round["checks"][0].get("samples").is_none(), "raw samples are not kept");
}

#[tokio::test]
async fn a_round_is_skipped_while_the_line_is_busy_and_nothing_is_measured() {
    let agent = agent(Duration::ZERO);
    // 100 ms at 8 Mbit/s down: 100,000 bytes; the threshold is 500 kbit/s.
    let busy = ScriptedCounters::new(&[(0, 0), (100_000, 2_000)]);
    assert_eq!(
        schedule::round(&agent.state, &busy, WINDOW).await,
        RoundOutcome::SkippedBusy
    );
    assert_eq!(
        agent.checks_built.load(Ordering::SeqCst),
        0,
        "no check may run on a busy line"
    );
    // Upload alone makes the line busy too.
    let uploading = ScriptedCounters::new(&[(0, 0), (0, 100_000)]);
    assert_eq!(
        schedule::round(&agent.state, &uploading, WINDOW).await,
        RoundOutcome::SkippedBusy
    );
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 0);
    let rounds = history(&agent).await.rounds;
    assert_eq!(rounds.len(), 2);
    let line = rounds[0].line.as_ref().expect("the load is recorded");
    assert!(line.rx_kbps > 500.0 && line.rx_kbps < 8_001.0, "{line:?}");
    assert!(rounds[0].checks.is_empty());
    // Background chatter (a few kbit/s) is not the customer using the line.
    let chatter = ScriptedCounters::new(&[(0, 0), (500, 300)]);
    assert_eq!(
        schedule::round(&agent.state, &chatter, WINDOW).await,
        RoundOutcome::Passed
    );
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_alert_rises_after_n_failed_rounds_in_metrics_and_clears_on_success() {
    let agent = agent(Duration::ZERO);
    let text = metrics(&agent).await;
    assert!(text.lines().any(|l| l == "sonde_schedule_alert 0"), "{text}");
    assert!(text.lines().any(|l| l == "sonde_outbox_depth 0"), "{text}");
    agent.failing.store(true, Ordering::SeqCst);
    assert_eq!(
        schedule::round(&agent.state, &quiet(), WINDOW).await,
        RoundOutcome::Failed
    );
    assert!(
        !history(&agent).await.alert,
        "one failure is not an alert (alert-after = 2)"
    );
    let busy = ScriptedCounters::new(&[(0, 0), (1_000_000, 0)]);
    assert_eq!(
        schedule::round(&agent.state, &busy, WINDOW).await,
        RoundOutcome::SkippedBusy
    );
    assert_eq!(
        schedule::round(&agent.state, &quiet(), WINDOW).await,
        RoundOutcome::Failed
    );
    let now = history(&agent).await;
    assert!(now.alert);
    assert_eq!(now.consecutive_failures, 2);
    let text = metrics(&agent).await;
    for line in [
        "sonde_schedule_alert 1",
        "sonde_schedule_consecutive_failures 2",
        "sonde_last_gateway_loss_percent 100",
        "sonde_last_internet_rtt_ms 2.5",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    agent.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        schedule::round(&agent.state, &quiet(), WINDOW).await,
        RoundOutcome::Passed
    );
    let text = metrics(&agent).await;
    assert!(text.lines().any(|l| l == "sonde_schedule_alert 0"), "{text}");
    assert!(
        text.lines().any(|l| l == "sonde_schedule_consecutive_failures 0"),
        "{text}"
    );
    // The history is bounded (history = 4): the oldest round went.
    let rounds = history(&agent).await.rounds;
    let outcomes: Vec<RoundOutcome> = rounds.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            RoundOutcome::Failed,
            RoundOutcome::SkippedBusy,
            RoundOutcome::Failed,
            RoundOutcome::Passed
        ]
    );
}

#[tokio::test]
async fn a_run_is_never_refused_for_a_scheduled_round_it_preempts_the_round() {
    let agent = agent(Duration::from_millis(300));
    let state = agent.state.clone();
    let round = tokio::spawn(async move { schedule::round(&state, &quiet(), Duration::ZERO).await });
    while agent.checks_built.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, body) = send(&agent.app, "POST", "/v1/runs", Some(CUSTOMER_TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    assert_eq!(round.await.expect("round"), RoundOutcome::Preempted);
    // While that run is in progress, a round does not start.
    assert!(agent.state.active_run().is_some());
    assert_eq!(
        schedule::round(&agent.state, &quiet(), Duration::ZERO).await,
        RoundOutcome::SkippedRunInProgress
    );
    let history = history(&agent).await;
    assert_eq!(
        history.consecutive_failures, 0,
        "skipped and preempted rounds are not failures"
    );
}
