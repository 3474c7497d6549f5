//! The HTTP SMS gateway against a local HTTP peer: the rendered body, the auth header, and the
//! dispatcher retrying a provider that fails until it takes the message — once (on SQLite and
//! on PostgreSQL), also with two replicas' dispatchers on one PostgreSQL database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use sonde_backend::config::{Config, RawConfig, RawSms, Role, SmsGatewayChoice};
use sonde_backend::db::{TicketOutcome, TicketRequest};
use sonde_backend::sms::{HttpGateway, SmsGateway};
use sonde_backend::tickets::Helpdesk;
use sonde_protocol::{ProblemKind, RunId, SmsRecord, TicketSubmission};
use tokio_util::sync::CancellationToken;

use crate::storage::Storage;

on_each_storage!(the_dispatcher_retries_a_failing_provider_and_sends_each_sms_once);

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

async fn the_dispatcher_retries_a_failing_provider_and_sends_each_sms_once(storage: Storage) {
    let provider = Provider::default();
    *provider.failures.lock().expect("lock") = 1;
    let url = start(provider.clone()).await;
    let helpdesk = helpdesk_posting_to(&url, &storage).await;
    let number = create_ticket(&helpdesk, "k").await;
    let shutdown = CancellationToken::new();
    helpdesk.spawn_sms_dispatcher(shutdown.clone());
    // First attempt: 503; the retry (after 1 s) goes through.
    wait_until_delivered(&helpdesk).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received = provider.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "sent once");
    assert_eq!(received[0].1["reference"], serde_json::json!(number));
    shutdown.cancel();
}

/// Two replicas' SMS dispatchers on one PostgreSQL database, woken together: each message
/// reaches the provider once. (SQLite serves one process: it has no such claim.)
#[tokio::test]
async fn two_replicas_dispatchers_send_each_sms_once() {
    const TICKETS: usize = 10;
    let Some(storage) = Storage::postgres("two_replicas_dispatchers_send_each_sms_once").await else {
        return;
    };
    assert!(storage.is_postgres());
    let provider = Provider::default();
    let url = start(provider.clone()).await;
    let replicas = [
        helpdesk_posting_to(&url, &storage).await,
        helpdesk_posting_to(&url, &storage).await,
    ];
    let mut numbers = Vec::new();
    for k in 0..TICKETS {
        numbers.push(create_ticket(&replicas[k % 2], &format!("k{k}")).await);
    }
    let shutdown = CancellationToken::new();
    for replica in &replicas {
        replica.spawn_sms_dispatcher(shutdown.clone());
    }
    wait_until_delivered(&replicas[0]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sent: Vec<String> = provider
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| body["reference"].as_str().unwrap_or_default().to_owned())
        .collect();
    sent.sort();
    numbers.sort();
    assert_eq!(sent, numbers, "each SMS sent once");
    shutdown.cancel();
}

async fn helpdesk_posting_to(url: &str, storage: &Storage) -> Helpdesk {
    let mut config = Config::default();
    config.add_token("box", "t", Role::Device);
    let gateway = HttpGateway::new(url, None, None).expect("gateway");
    Helpdesk::new(storage.open().await, config, Box::new(gateway))
}

/// Creates a ticket (and its SMS) with `key` straight in the database; its number.
async fn create_ticket(helpdesk: &Helpdesk, key: &str) -> String {
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
    let outcome = helpdesk
        .db()
        .create_ticket(
            TicketRequest {
                device: "box",
                key,
                request_hash: "hash",
                submission: &submission,
            },
            |n| format!("ticket {n}"),
        )
        .await
        .expect("ticket");
    let TicketOutcome::Created(record, _) = outcome else {
        panic!("{key}: a new key, yet {outcome:?}");
    };
    record.number
}

async fn wait_until_delivered(helpdesk: &Helpdesk) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !helpdesk.db().undelivered_sms(10).await.expect("pending").is_empty() {
        assert!(Instant::now() < deadline, "not delivered after the provider recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
