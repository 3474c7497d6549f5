//! `sonded`: argument parsing and the serving loop. `main.rs` only calls [`main`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::api::{AppState, app};
use crate::checks::{Checks, SystemChecks};
use crate::config::Config;
use crate::store::Store;

/// sonde's diagnostics agent: runs network checks on request and streams their progress over
/// HTTP (protocol v1).
#[derive(Debug, Parser)]
#[command(name = "sonded", version)]
pub struct Args {
    /// Configuration file (TOML). Default: $SONDE_CONFIG, else /etc/sonde/sonded.toml if it
    /// exists, else built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides the configuration). Default: 127.0.0.1:8790.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Run history database (SQLite), or `:memory:`. Default: $STATE_DIRECTORY/sonded.db, else
    /// ~/.local/state/sonde/sonded.db.
    #[arg(long, value_name = "PATH")]
    pub database: Option<PathBuf>,
    /// Validate the configuration and exit (0 valid, 2 invalid).
    #[arg(long)]
    pub check_config: bool,
}

/// Entry point of `sonded`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sonded: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sonded: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sonded: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = Config::discover(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(database) = &args.database {
        config.database = Some(database.clone());
    }
    Ok(config)
}

fn default_database() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(dir).join("sonded.db");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("sonde/sonded.db")
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let database = config.database.clone().unwrap_or_else(default_database);
    let store = if database.as_os_str() == ":memory:" {
        Store::in_memory()?
    } else {
        Store::open(&database)?
    };
    let interrupted = store.recover_interrupted()?;
    if !interrupted.is_empty() {
        tracing::warn!(
            count = interrupted.len(),
            "runs cut by the previous shutdown are marked interrupted"
        );
    }
    let listen = config.listen;
    let state = AppState::new(
        store,
        config,
        Arc::new(|config: &Config| Box::new(SystemChecks::new(config.clone())) as Box<dyn Checks>),
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(%listen, database = %database.display(), "sonded serving protocol v1");
    let shutdown_outbox = tokio_util::sync::CancellationToken::new();
    state.spawn_outbox(shutdown_outbox.clone())?;
    let shutdown_state = state.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: canceling the run in progress");
            shutdown_state.cancel_active();
            shutdown_outbox.cancel();
            // Let open event streams deliver `run_finished`, then stop waiting for them.
            tokio::time::sleep(Duration::from_millis(500)).await;
        })
        .await
        .context("server error")
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SONDE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
