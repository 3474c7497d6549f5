//! The HTTP SMS gateway against a local HTTP peer: the rendered body, the auth header, and the
//! dispatcher retrying a provider that fails until it takes the message — once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use sonde_backend::config::{Config, RawConfig, RawSms, Role, SmsGatewayChoice};
use sonde_backend::db::Db;
use sonde_backend::sms::{HttpGateway, SmsGateway};
use sonde_protocol::{ProblemKind, RunId, SmsRecord, TicketSubmission};
use tokio_util::sync::CancellationToken;

/// One request the provider took: its `X-Api-Key` header and its JSON body.
type Received = (Option<String>, serde_json::Value);

/// A provider that records what it receives and fails the first `failures` requests.
#[derive(Clone, Default)]
struct Provider {
    received: Arc<Mutex<Vec<Received>>>,
    failures: Arc<Mutex<u32>>,
}

async fn start(provider: Provider) -> String {
    let app = Router::new().route(
        "/send",
        post(move |headers: HeaderMap, body: String| {
            let provider = provider.clone();
            async move {
                {
                    let mut failures = provider.failures.lock().expect("lock");
                    if *failures > 0 {
                        *failures -= 1;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                }
                let auth = headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                provider.received.lock().expect("lock").push((auth, json));
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/send", listener.local_addr().expect("addr"));
    tokio::spawn(axum::serve(listener, app).into_future());
    url
}

#[tokio::test]
async fn the_http_gateway_posts_the_template_with_the_auth_header() {
    let provider = Provider::default();
    let url = start(provider.clone()).await;
    let gateway = HttpGateway::new(
        &url,
        Some("X-Api-Key: s3cret"),
        Some(r#"{"recipient": {to}, "message": {text}, "ref": {ticket}, "sender": "SONDE"}"#),
    )
    .expect("gateway");
    let message = SmsRecord {
        to: "+33612345678".into(),
        text: "Sonde : demande \"SND-000001\" enregistrée".into(),
        ticket: "SND-000001".into(),
        sent_at: jiff::Timestamp::now(),
    };
    gateway.deliver(&message).await.expect("delivered");
    let received = provider.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0.as_deref(), Some("s3cret"));
    assert_eq!(
        received[0].1,
        serde_json::json!({"recipient": "+33612345678", "message": message.text, "ref": "SND-000001", "sender": "SONDE"})
    );

    *provider.failures.lock().expect("lock") = 1;
    assert!(gateway.deliver(&message).await.is_err(), "a 503 is an error");
}

#[test]
fn bad_gateway_configurations_are_refused() {
    let http = |url: &str, header: Option<&str>, template: Option<&str>| {
        Config::from_raw(RawConfig {
            sms: RawSms {
                gateway: Some("http".into()),
                url: Some(url.into()),
                auth_header: header.map(str::to_owned),
                template: template.map(str::to_owned),
            },
            ..RawConfig::default()
        })
    };
    assert!(http("ftp://x", None, None).is_err());
    assert!(http("http://127.0.0.1:1/send", Some("no colon"), None).is_err());
    assert!(
        http("http://127.0.0.1:1/send", None, Some("{\"to\": {to}")).is_err(),
        "not JSON"
    );
    let ok = http("http://127.0.0.1:1/send", Some("Authorization: Bearer x"), None).expect("valid");
    assert!(matches!(ok.sms_gateway, SmsGatewayChoice::Http { .. }));
}

#[tokio::test]
async fn the_dispatcher_retries_a_failing_provider_and_sends_each_sms_once() {
    let provider = Provider::default();
    *provider.failures.lock().expect("lock") = 1;
    let url = start(provider.clone()).await;
    let mut config = Config::default();
    config.add_token("box", "t", Role::Device);
    let gateway = HttpGateway::new(&url, None, None).expect("gateway");
    let helpdesk = sonde_backend::tickets::Helpdesk::new(Db::in_memory().expect("db"), config, Box::new(gateway));
    let submission = TicketSubmission {
        line: "L".into(),
        contact: "+33612345678".into(),
        problem: ProblemKind::NoInternet,
        findings: vec![],
        evidence: String::new(),
        run: RunId::new(),
        agent_version: "t".into(),
        profile: None,
    };
    let (record, _) = helpdesk
        .db()
        .create_ticket("box", "k", "hash", &submission, |n| format!("ticket {n}"))
        .expect("ticket");
    let shutdown = CancellationToken::new();
    helpdesk.spawn_sms_dispatcher(shutdown.clone());
    // First attempt: 503; the retry (after 1 s) goes through.
    let deadline = Instant::now() + Duration::from_secs(10);
    while helpdesk.db().undelivered_sms(10).expect("pending").len() == 1 {
        assert!(Instant::now() < deadline, "not delivered after the provider recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received = provider.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "sent once");
    assert_eq!(received[0].1["reference"], serde_json::json!(record.number));
    shutdown.cancel();
}
