//! sonde-backend: the operator side. For now it serves its health endpoint; ticket intake,
//! the SMS gateway and the measurement endpoints land with their issues.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use sonde_protocol::{ApiError, ErrorCode, Health};

/// sonde's operator backend: helpdesk ticket intake, SMS confirmation, measurement server.
#[derive(Debug, Parser)]
#[command(name = "sonde-backend", version)]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8791")]
    pub listen: SocketAddr,
    /// Database: a SQLite path or a `postgres://` URL.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

/// The backend's router.
pub fn app() -> Router {
    Router::new().route("/v1/health", get(health)).fallback(not_found)
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        running: None,
    })
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(ApiError::new(ErrorCode::NotFound, "no such endpoint; see /v1/health")),
    )
}

/// Entry point of `sonde-backend`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sonde-backend: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!("sonde-backend listening on {}", args.listen);
        axum::serve(listener, app())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sonde-backend: {e}");
            ExitCode::FAILURE
        }
    }
}
