//! The backend's tests, in one harness: its HTTP surface driven in-process, the ticket API and
//! the SMS gateway on each storage (SQLite and PostgreSQL), and the binary's start-up errors.

#[macro_use]
mod storage;
mod sms;
mod tickets;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sonde_protocol::{ApiError, Health};
use tower::ServiceExt;

#[tokio::test]
async fn health_and_unknown_routes() {
    let response = sonde_backend::app()
        .oneshot(Request::get("/v1/health").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let health: Health = serde_json::from_slice(&body).expect("health");
    assert_eq!(health.status, "ok");

    let response = sonde_backend::app()
        .oneshot(Request::get("/nope").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let error: ApiError = serde_json::from_slice(&body).expect("error body");
    assert!(!error.message.is_empty());
}

/// An unreachable PostgreSQL server at start: one line naming it (without its password), exit
/// code 2, no panic.
#[test]
fn an_unreachable_postgresql_is_a_one_line_error_and_exit_2() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sonde-backend"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        // Port 1 of loopback: nothing listens there, the connection is refused at once.
        .arg("postgres://sonde:s3cret@127.0.0.1:1/helpdesk")
        .env_remove("SONDE_BACKEND_DATABASE")
        .output()
        .expect("run sonde-backend");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sonde-backend:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("postgres://sonde:***@127.0.0.1:1/helpdesk"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret") && !stderr.contains("panicked"), "{stderr}");
}

/// A server that accepts the connection and then says nothing (a black hole on the way, a hung
/// server): the start gives up in time, naming it, instead of hanging.
#[tokio::test]
async fn a_silent_postgresql_is_given_up_in_time() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("postgres://sonde:s3cret@127.0.0.1:{port}/helpdesk");
    let started = std::time::Instant::now();
    let error = sonde_backend::postgres::PgDb::connect_within(&url, std::time::Duration::from_millis(300))
        .await
        .expect_err("no answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let text = error.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("no answer within 0.3 s"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}
