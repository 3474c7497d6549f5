//! sonde-backend: the operator side. It serves its health endpoint, the measurement server of
//! the speed test ([`measure`]), and ticket intake with the SMS confirmation ([`tickets`]).

pub mod measure;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use sonde_protocol::{ApiError, ErrorCode, Health};
use tokio_rustls::rustls;

pub mod config;
pub mod db;
pub mod postgres;
pub mod sms;
pub mod tickets;

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
    /// Database: a SQLite path or a `postgres://user:password@host/database` URL (default:
    /// the configuration's, else a SQLite file in the state directory). From the environment,
    /// a password stays out of the process list.
    #[arg(
        long,
        value_name = "PATH|URL",
        env = "SONDE_BACKEND_DATABASE",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// TCP congestion control of served connections (`cubic`, `bbr`…); default: the system's.
    /// A loss-based one (cubic, as most customer devices use) fills bottleneck queues the way
    /// real traffic does, which the responsiveness test needs to see bufferbloat.
    #[arg(long, value_name = "NAME")]
    pub congestion: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs `--tls-key`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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
    serve_tls(listener, app, congestion, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given ([`tls::TlsListener`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    congestion: Option<String>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let tune = move |stream: &tokio::net::TcpStream| {
        let socket = socket2::SockRef::from(stream);
        // Small probes and responses must not wait for Nagle.
        let _ = socket.set_tcp_nodelay(true);
        if let Some(name) = &congestion
            && let Err(e) = socket.set_tcp_congestion(name.as_bytes())
        {
            eprintln!("sonde-backend: congestion control `{name}`: {e}");
        }
    };
    match tls {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config, tune)?;
            let app = app.layer(axum::Extension(measure::ServedOverTls));
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        }
        None => {
            let listener = listener.tap_io(move |stream| tune(stream));
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        }
    }
}

/// The backend's router with the ticket API served by `helpdesk` (and a fresh measurement
/// server).
pub fn app_with_helpdesk(helpdesk: tickets::Helpdesk) -> Router {
    app().merge(tickets::router(helpdesk))
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
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        // `$SONDE_LOG`: a level, then `target=level` directives; `info` when unset or unreadable.
        let filter = std::env::var("SONDE_LOG")
            .ok()
            .and_then(|spec| spec.parse().ok())
            .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .finish()
            .with(filter)
            .try_init();
    }
    let tls = match args.tls_cert.as_deref().zip(args.tls_key.as_deref()) {
        Some((cert, key)) => match tls::load(cert, key) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("sonde-backend: {e:#}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
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
    // A bad configuration or an unreachable database is the operator's to fix: exit 2.
    let helpdesk = match runtime.block_on(open_helpdesk(&args)) {
        Ok(helpdesk) => helpdesk,
        Err(e) => {
            eprintln!("sonde-backend: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        helpdesk.spawn_sms_dispatcher(shutdown.clone());
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("sonde-backend listening on {scheme}://{}", args.listen);
        serve_tls(
            listener,
            app_with_helpdesk(helpdesk),
            args.congestion,
            tls,
            async move {
                let _ = tokio::signal::ctrl_c().await;
                shutdown.cancel();
            },
        )
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

async fn open_helpdesk(args: &Args) -> anyhow::Result<tickets::Helpdesk> {
    let mut config = match &args.config {
        Some(path) => config::Config::load(path)?,
        None => config::Config::default(),
    };
    if let Some(database) = &args.database {
        config.database = Some(config::Database::parse(database)?);
    }
    let location = config
        .database
        .clone()
        .unwrap_or_else(|| config::Database::Sqlite(default_database()));
    let store = db::Store::open(&location).await.map_err(|e| match e {
        // The connection errors name the server (without its password) already.
        db::DbError::Connect { .. } | db::DbError::ConnectTimeout { .. } => anyhow::anyhow!(e),
        e => anyhow::anyhow!("cannot open {location}: {e}"),
    })?;
    if config.credentials.is_empty() {
        tracing::warn!("no [[devices]] configured: every ticket post will be refused (401)");
    }
    let gateway = config.sms_gateway.build()?;
    tracing::info!(database = %location, "helpdesk storage open");
    Ok(tickets::Helpdesk::new(store, config, gateway))
}

fn default_database() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(dir).join("sonde-backend.db");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("sonde/sonde-backend.db")
}
