//! sonde-backend: the operator side. It serves its health endpoint and the measurement server
//! ([`measure`]); ticket intake and the SMS gateway land with their issues.

pub mod measure;

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
    /// TCP congestion control of served connections (`cubic`, `bbr`…); default: the system's.
    /// A loss-based one (cubic, as most customer devices use) fills bottleneck queues the way
    /// real traffic does, which the responsiveness test needs to see bufferbloat.
    #[arg(long, value_name = "NAME")]
    pub congestion: Option<String>,
}

/// The backend's router, with a fresh measurement server.
pub fn app() -> Router {
    app_with(measure::Measure::new())
}

/// The backend's router around `measure` (whose counters the caller may read).
pub fn app_with(measure: measure::Measure) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .merge(measure.routes())
        .fallback(not_found)
}

/// Serves `app` on `listener` (HTTP/1.1, and HTTP/2 with prior knowledge) until `shutdown`
/// completes, setting `congestion` on every accepted connection when given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    congestion: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(move |stream| {
        let socket = socket2::SockRef::from(&*stream);
        // Small probes and responses must not wait for Nagle.
        let _ = socket.set_tcp_nodelay(true);
        if let Some(name) = &congestion
            && let Err(e) = socket.set_tcp_congestion(name.as_bytes())
        {
            eprintln!("sonde-backend: congestion control `{name}`: {e}");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
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
        Json(ApiError::new(
            ErrorCode::NotFound,
            "no such endpoint; see /v1/health and /.well-known/nq",
        )),
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
        serve(listener, app(), args.congestion, async {
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
