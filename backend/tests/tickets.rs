//! The ticket API, driven in-process: the idempotency contract's four cases, authentication,
//! the technicians' list and status updates, the SMS stub, concurrent requests and replicas —
//! each on SQLite and on PostgreSQL (`tickets::sqlite::…`, `tickets::postgres::…`).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::future::join_all;
use http_body_util::BodyExt;
use sonde_backend::config::{Config, Role};
use sonde_backend::db::{Store, TicketFilter};
use sonde_backend::sms::StubGateway;
use sonde_backend::tickets::Helpdesk;
use sonde_protocol::{
    ApiError, ErrorCode, HelpdeskStatus, ProblemKind, RunId, SmsRecord, TicketRecord, TicketSubmission,
};
use tower::ServiceExt;

use crate::storage::Storage;

on_each_storage!(
    idempotency_contract,
    unknown_devices_get_401_and_devices_cannot_list,
    technicians_list_filter_and_move_tickets,
    a_replay_after_a_restart_returns_the_original,
    concurrent_posts_with_one_key_make_one_ticket,
    two_replicas_racing_on_keys_make_one_ticket_each,
);

const DEVICE: &str = "device-token";
const TECH: &str = "tech-token";
const OTHER_DEVICE: &str = "other-device-token";

fn helpdesk(store: Store) -> Helpdesk {
    let mut config = Config {
        operator: "Sonde Télécom".into(),
        ..Config::default()
    };
    config.add_token("box-1", DEVICE, Role::Device);
    config.add_token("alice", TECH, Role::Technician);
    config.add_token("box-2", OTHER_DEVICE, Role::Device);
    Helpdesk::new(store, config, Box::new(StubGateway))
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
async fn idempotency_contract(storage: Storage) {
    let helpdesk = helpdesk(storage.open().await);
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
    assert_eq!(count_tickets(db).await, 2);
    let sms = db.sms(None).await.expect("sms");
    assert_eq!(sms.len(), 2, "one SMS per ticket, none for replays");
    assert!(sms[0].text.contains(&original.number) && sms[0].text.contains("Sonde Télécom"));
}

async fn unknown_devices_get_401_and_devices_cannot_list(storage: Storage) {
    let app = sonde_backend::app_with_helpdesk(helpdesk(storage.open().await));
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

async fn technicians_list_filter_and_move_tickets(storage: Storage) {
    let app = sonde_backend::app_with_helpdesk(helpdesk(storage.open().await));
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
async fn a_replay_after_a_restart_returns_the_original(storage: Storage) {
    let body = submission("L9");
    let mut answers = Vec::new();
    // Each request on a backend just opened on the storage: the second one after a "restart".
    for _ in 0..2 {
        let app = sonde_backend::app_with_helpdesk(helpdesk(storage.open().await));
        answers.push(call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some(&body)).await);
    }
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!(answers[1], answers[0], "the replay after the restart is the original");
}

/// Many requests at once with one key, on one backend: one ticket, one SMS; every answer is
/// the ticket (created or replayed, the same bytes) or `409`.
async fn concurrent_posts_with_one_key_make_one_ticket(storage: Storage) {
    let helpdesk = helpdesk(storage.open().await);
    let app = sonde_backend::app_with_helpdesk(helpdesk.clone());
    let body = submission("L1");
    let answers =
        join_all((0..8).map(|_| call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some(&body)))).await;
    check_one_ticket_per_key(&answers);
    assert_eq!(count_tickets(helpdesk.db()).await, 1);
    assert_eq!(helpdesk.db().sms(None).await.expect("sms").len(), 1);
}

/// Two backend replicas on one database (two processes' worth of state: two stores, two
/// in-flight sets) race on the same keys: one ticket and one SMS per key, and the loser of
/// each race gets the ticket (a replay) or `409`, never a second ticket.
async fn two_replicas_racing_on_keys_make_one_ticket_each(storage: Storage) {
    const KEYS: usize = 20;
    let replicas = [helpdesk(storage.open().await), helpdesk(storage.open().await)];
    let apps = replicas.clone().map(sonde_backend::app_with_helpdesk);
    let body = submission("L1");
    let mut conflicts = 0;
    for k in 0..KEYS {
        let key = format!("race-{k}");
        let answers = join_all(
            apps.iter()
                .map(|app| call(app, "POST", "/v1/tickets", Some(DEVICE), Some(&key), Some(&body))),
        )
        .await;
        conflicts += answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::CONFLICT)
            .count();
        let created = check_one_ticket_per_key(&answers);
        // After the race, both replicas replay the one ticket.
        for app in &apps {
            let (status, again) = call(app, "POST", "/v1/tickets", Some(DEVICE), Some(&key), Some(&body)).await;
            assert_eq!((status, &again), (StatusCode::CREATED, &created), "{key}: the replay");
        }
    }
    eprintln!("{KEYS} races between two replicas: {conflicts} answered 409, the others the ticket");
    for replica in &replicas {
        assert_eq!(count_tickets(replica.db()).await, KEYS, "one ticket per key");
        let sms = replica.db().sms(None).await.expect("sms");
        assert_eq!(sms.len(), KEYS, "one SMS per key");
    }
    let mut numbers: Vec<_> = replicas[0]
        .db()
        .tickets(&TicketFilter {
            limit: 100,
            ..TicketFilter::default()
        })
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.number)
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), KEYS, "ticket numbers are unique across replicas");
}

/// A replica whose connection the server cut (a restart, a failover) opens a new one: at most
/// the request that met the cut fails (`500`; the agent retries it), the next ones go through.
#[tokio::test]
async fn a_replica_reconnects_after_the_server_cuts_its_connection() {
    let Some(storage) = Storage::postgres("a_replica_reconnects_after_the_server_cuts_its_connection").await else {
        return;
    };
    let helpdesk = helpdesk(storage.open().await);
    let app = sonde_backend::app_with_helpdesk(helpdesk.clone());
    let body = submission("L1");
    let (status, first) = call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(storage.cut_backend_connections().await, 1);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, answer) = call(&app, "POST", "/v1/tickets", Some(DEVICE), Some("k"), Some(&body)).await;
        statuses.push(status);
        if status == StatusCode::CREATED {
            assert_eq!(answer, first, "the replay");
            break;
        }
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::CREATED), "{statuses:?}");
    assert!(statuses.len() <= 2, "one failure at most: {statuses:?}");
    assert_eq!(count_tickets(helpdesk.db()).await, 1);
}

/// Checks that concurrent answers for one key are the ticket (created, or replayed byte for
/// byte) or `409`, with at least one ticket; returns the ticket's bytes.
fn check_one_ticket_per_key(answers: &[(StatusCode, Vec<u8>)]) -> Vec<u8> {
    let mut ticket = None;
    for (status, body) in answers {
        match *status {
            StatusCode::CREATED => match &ticket {
                None => ticket = Some(body.clone()),
                Some(first) => assert_eq!(first, body, "every 201 is the same ticket"),
            },
            StatusCode::CONFLICT => assert_eq!(error(body).error, ErrorCode::IdempotencyInFlight),
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(body)),
        }
    }
    ticket.expect("one request created the ticket")
}

async fn count_tickets(db: &Store) -> usize {
    db.tickets(&TicketFilter {
        limit: 1000,
        ..TicketFilter::default()
    })
    .await
    .expect("list")
    .len()
}
