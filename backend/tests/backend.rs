//! The backend's HTTP surface, driven in-process.

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
