//! The ticket API, driven in-process: the idempotency contract's four cases, authentication,
//! the technicians' list and status updates, the SMS stub.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sonde_backend::config::{Config, Role};
use sonde_backend::db::Db;
use sonde_backend::sms::StubGateway;
use sonde_backend::tickets::Helpdesk;
use sonde_protocol::{
    ApiError, ErrorCode, HelpdeskStatus, ProblemKind, RunId, SmsRecord, TicketRecord, TicketSubmission,
};
use tower::ServiceExt;

const DEVICE: &str = "device-token";
const TECH: &str = "tech-token";
const OTHER_DEVICE: &str = "other-device-token";

fn helpdesk() -> Helpdesk {
    let mut config = Config {
        operator: "Sonde Télécom".into(),
        ..Config::default()
    };
    config.add_token("box-1", DEVICE, Role::Device);
    config.add_token("alice", TECH, Role::Technician);
    config.add_token("box-2", OTHER_DEVICE, Role::Device);
    Helpdesk::new(Db::in_memory().expect("db"), config, Box::new(StubGateway))
}

fn submission(line: &str) -> String {
    serde_json::to_string(&TicketSubmission {
        line: line.into(),
        contact: "+33612345678".into(),
        problem: ProblemKind::NoInternet,
        findings: vec!["ACCESS_PACKET_LOSS".into()],
        evidence: "loss_percent 30 > 5".into(),
        run: RunId::new(),
        agent_version: "0.1.0".into(),
        profile: Some("ftth".into()),
    })
    .expect("json")
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
    let response = app
        .clone()
        .oneshot(
            request
                .header("content-type", "application/json")
                .body(body)
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = response.status();
    (
        status,
        response.into_body().collect().await.expect("body").to_bytes().to_vec(),
    )
}

fn error(body: &[u8]) -> ApiError {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("an ApiError body: {e}: {}", String::from_utf8_lossy(body)))
}

/// name, key sent, body sent, expected status, expected error code (`None`: the original record).
type Case<'a> = (&'a str, Option<&'a str>, &'a str, StatusCode, Option<ErrorCode>);

/// The four cases of the idempotency contract, as a table over one backend.
#[tokio::test]
async fn idempotency_contract() {
    let helpdesk = helpdesk();
    let app = sonde_backend::app_with_helpdesk(helpdesk.clone());
    let first = submission("0102030405");
    let (status, body) = call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k-1"), Some(&first)).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let original: TicketRecord = serde_json::from_slice(&body).expect("record");
    assert!(original.number.starts_with("SND-"));

    // Hold `k-2` in flight, as a concurrent request with the same key would.
    let guard = helpdesk.begin("box-1", "k-2").expect("free");
    let other = submission("0607080910");
    let cases: [Case<'_>; 4] = [
        (
            "missing key",
            None,
            &first,
            StatusCode::BAD_REQUEST,
            Some(ErrorCode::BadRequest),
        ),
        (
            "same key, other body",
            Some("k-1"),
            &other,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(ErrorCode::IdempotencyMismatch),
        ),
        (
            "same key in flight",
            Some("k-2"),
            &other,
            StatusCode::CONFLICT,
            Some(ErrorCode::IdempotencyInFlight),
        ),
        ("replay", Some("k-1"), &first, StatusCode::CREATED, None),
    ];
    for (name, key, body, expected, code) in cases {
        let (status, answer) = call(&app, "POST", "/v1/tickets", Some(DEVICE), key, Some(body)).await;
        assert_eq!(status, expected, "{name}: {}", String::from_utf8_lossy(&answer));
        match code {
            Some(code) => assert_eq!(error(&answer).error, code, "{name}"),
            None => {
                let replayed: TicketRecord = serde_json::from_slice(&answer).expect("record");
                assert_eq!(replayed, original, "{name}: the original answer, byte for byte");
            }
        }
    }
    drop(guard);
    let (status, _) = call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k-2"), Some(&other)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the key is usable once no longer in flight"
    );

    let db = helpdesk.db();
    assert_eq!(
        db.tickets(&sonde_backend::db::TicketFilter {
            limit: 10,
            ..Default::default()
        })
        .expect("list")
        .len(),
        2
    );
    let sms = db.sms(None).expect("sms");
    assert_eq!(sms.len(), 2, "one SMS per ticket, none for replays");
    assert!(sms[0].text.contains(&original.number) && sms[0].text.contains("Sonde Télécom"));
}

#[tokio::test]
async fn unknown_devices_get_401_and_devices_cannot_list() {
    let app = sonde_backend::app_with_helpdesk(helpdesk());
    let body = submission("0102030405");
    for token in [None, Some("wrong")] {
        let (status, answer) = call(&app, "POST", "/v1/tickets", token, Some("k"), Some(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error(&answer).error, ErrorCode::Unauthorized);
    }
    let (status, _) = call(&app, "GET", "/v1/tickets", Some(DEVICE), None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some("{\"line\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&answer).error, ErrorCode::BadRequest);
}

#[tokio::test]
async fn technicians_list_filter_and_move_tickets() {
    let app = sonde_backend::app_with_helpdesk(helpdesk());
    for (i, line) in ["L1", "L2", "L1"].iter().enumerate() {
        let (status, _) = call(
            &app,
            "POST",
            "/v1/tickets",
            Some(DEVICE),
            Some(&format!("k{i}")),
            Some(&submission(line)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let list = |uri: &'static str| {
        let app = app.clone();
        async move {
            let (status, body) = call(&app, "GET", uri, Some(TECH), None, None).await;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            serde_json::from_slice::<Vec<TicketRecord>>(&body).expect("list")
        }
    };
    assert_eq!(list("/v1/tickets").await.len(), 3);
    let l1 = list("/v1/tickets?line=L1").await;
    assert_eq!(l1.len(), 2);
    let number = l1[0].number.clone();
    for status in ["in_progress", "resolved_self_care"] {
        let (code, body) = call(
            &app,
            "PATCH",
            &format!("/v1/tickets/{number}"),
            Some(TECH),
            None,
            Some(&format!("{{\"status\":\"{status}\"}}")),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    let resolved = list("/v1/tickets?status=resolved_self_care").await;
    assert_eq!(
        resolved.iter().map(|t| t.number.as_str()).collect::<Vec<_>>(),
        [number.as_str()]
    );
    assert_eq!(resolved[0].status, HelpdeskStatus::ResolvedSelfCare);
    assert_eq!(list("/v1/tickets?status=open&limit=1").await.len(), 1);

    let (code, body) = call(&app, "GET", &format!("/v1/tickets/{number}"), Some(DEVICE), None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<TicketRecord>(&body).expect("record").status,
        HelpdeskStatus::ResolvedSelfCare
    );
    let (code, _) = call(
        &app,
        "GET",
        &format!("/v1/tickets/{number}"),
        Some(OTHER_DEVICE),
        None,
        None,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "a device reads its own tickets only");
    let (code, _) = call(&app, "GET", &format!("/v1/tickets/{number}"), Some(TECH), None, None).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call(&app, "GET", "/v1/tickets/SND-999999", Some(DEVICE), None, None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = call(
        &app,
        "PATCH",
        &format!("/v1/tickets/{number}"),
        Some(TECH),
        None,
        Some("{\"status\":\"closed\"}"),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = call(&app, "GET", "/v1/tickets?status=nope", Some(TECH), None, None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let (code, body) = call(&app, "GET", &format!("/v1/sms?ticket={number}"), Some(TECH), None, None).await;
    assert_eq!(code, StatusCode::OK);
    let sms: Vec<SmsRecord> = serde_json::from_slice(&body).expect("sms");
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].to, "+33612345678");
    assert!(sms[0].text.contains(&number));
}

/// A replay after a restart returns the original answer: the key's record is durable.
#[tokio::test]
async fn a_replay_after_a_restart_returns_the_original() {
    let dir = std::env::temp_dir().join(format!("sonde-backend-replay-{}", std::process::id()));
    let path = dir.join("helpdesk.db");
    let body = submission("L9");
    let open = || {
        let mut config = Config::default();
        config.add_token("box-1", DEVICE, Role::Device);
        sonde_backend::app_with_helpdesk(Helpdesk::new(
            Db::open(&path).expect("db"),
            config,
            Box::new(StubGateway),
        ))
    };
    let (status, first) = call(&open(), "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = call(&open(), "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first, again);
    let _ = std::fs::remove_dir_all(dir);
}
