//! Tickets end to end on loopback: the agent diagnoses an operator fault, queues the ticket while
//! the helpdesk is down, and delivers it exactly once when the helpdesk comes up; the SMS stub
//! holds one confirmation with the ticket number and the client's stream shows that number.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sonde_agent::api::{AppState, app};
use sonde_agent::checks::{BoxFuture, Checks, ProgressSink};
use sonde_agent::config::{Config, TicketOptions};
use sonde_agent::store::Store;
use sonde_backend::config::Role;
use sonde_backend::db::{Db, TicketFilter};
use sonde_protocol::{CheckId, CheckResult, CheckStatus, EventData, Metric, RunCreated, RunReport, TicketState};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Link and gateway fine, no Internet anchor answers: the access line is down (operator's side).
struct AccessLineDown;

impl Checks for AccessLineDown {
    fn run<'a>(&'a self, check: CheckId, _progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
        Box::pin(async move {
            let (status, metrics) = match check {
                CheckId::Link => (
                    CheckStatus::Pass,
                    vec![
                        Metric::new("interfaces_up", 1u64),
                        Metric::new("default_route_v4", true),
                    ],
                ),
                CheckId::Gateway => (
                    CheckStatus::Pass,
                    vec![Metric::new("replies", 10u64), Metric::new("probes_sent", 10u64)],
                ),
                _ => (
                    CheckStatus::Fail,
                    vec![
                        Metric::new("anchors", 4u64),
                        Metric::new("anchors_answering", 0u64),
                        Metric::new("loss_percent", 100.0),
                    ],
                ),
            };
            CheckResult {
                id: check,
                status,
                reason: None,
                metrics,
                duration_ms: 1,
                samples: None,
            }
        })
    }
}

const TOKEN: &str = "box-0001-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_queued_during_an_outage_is_delivered_once_when_the_helpdesk_returns() {
    // A loopback port with nobody listening yet: the helpdesk is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = Config {
        tickets: Some(TicketOptions {
            helpdesk: format!("http://127.0.0.1:{port}"),
            token: Some(TOKEN.to_owned()),
            retry_base: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
        }),
        ..Config::default()
    };
    let state = AppState::new(
        Store::in_memory().expect("store"),
        config,
        Arc::new(|_: &Config| Box::new(AccessLineDown) as Box<dyn Checks>),
    );
    let shutdown = CancellationToken::new();
    state.spawn_outbox(shutdown.clone()).expect("outbox");
    let agent = app(state.clone());

    let request = r#"{"line":{"kind":"box","id":"0102030405"},"contact":"+33612345678",
        "options":{"checks":["link","gateway","internet_latency"]}}"#;
    let response = agent
        .clone()
        .oneshot(
            Request::post("/v1/runs")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(request))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: RunCreated =
        serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes()).expect("created");

    // The client follows the stream from the start, in the background.
    let stream = tokio::spawn({
        let agent = agent.clone();
        let uri = created.events.clone();
        async move { crate::api::read_events(&agent, &uri, None, 1000).await }
    });

    // The run ends with the ticket queued; deliveries fail while the helpdesk is down.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = report(&agent, &created.report).await;
        let waiting = report
            .ticket
            .as_ref()
            .is_some_and(|t| t.state == TicketState::Queued && t.last_error.is_some());
        if report.state.is_terminal() && waiting {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed delivery seen: {:?}",
            report.ticket
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let a few more attempts fail.
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The helpdesk comes up on that port.
    let mut backend_config = sonde_backend::config::Config {
        operator: "Sonde Télécom".into(),
        ..sonde_backend::config::Config::default()
    };
    backend_config.add_token("box-0001", TOKEN, Role::Device);
    let helpdesk = sonde_backend::tickets::Helpdesk::new(
        Db::in_memory().expect("db"),
        backend_config,
        Box::new(sonde_backend::sms::StubGateway),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the helpdesk");
    tokio::spawn(axum::serve(listener, sonde_backend::app_with_helpdesk(helpdesk.clone())).into_future());

    // The client's stream ends once the ticket is settled, and shows the number.
    let events = tokio::time::timeout(Duration::from_secs(15), stream)
        .await
        .expect("the stream ends after delivery")
        .expect("stream task");
    let tickets: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Ticket(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let states: Vec<_> = tickets.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [
            TicketState::Queued,
            TicketState::Sent,
            TicketState::Queued,
            TicketState::Acknowledged,
            TicketState::SmsSent
        ],
        "{tickets:?}"
    );
    let number = tickets
        .last()
        .and_then(|t| t.ticket_number.clone())
        .expect("the stream shows the ticket number");
    assert!(tickets.last().is_some_and(|t| t.attempts >= 3), "{tickets:?}");

    let db = helpdesk.db();
    let all = db
        .tickets(&TicketFilter {
            limit: 10,
            ..TicketFilter::default()
        })
        .await
        .expect("tickets");
    assert_eq!(all.len(), 1, "delivered exactly once");
    assert_eq!(all[0].number, number);
    assert_eq!(all[0].submission.line, "0102030405");
    assert_eq!(all[0].submission.findings, ["INTERNET_UNREACHABLE"]);
    let sms = db.sms(None).await.expect("sms");
    assert_eq!(sms.len(), 1, "exactly one confirmation");
    assert_eq!(sms[0].to, "+33612345678");
    assert!(sms[0].text.contains(&number), "{}", sms[0].text);

    let report = report(&agent, &created.report).await;
    assert_eq!(report.ticket.and_then(|t| t.ticket_number), Some(number));
    shutdown.cancel();
}

async fn report(agent: &axum::Router, uri: &str) -> RunReport {
    let response = agent
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes()).expect("report")
}
