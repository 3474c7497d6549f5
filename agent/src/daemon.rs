//! `sonded`: argument parsing and the serving loop. `main.rs` only calls [`main`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use tokio_util::sync::CancellationToken;

use crate::api::{AppState, app};
use crate::checks::{Checks, SystemChecks};
use crate::config::Config;
use crate::sd_notify::{self, Notifier};
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
        println!("{}", api_summary(&config));
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

/// Who may reach the API under `config`, in one line (`sonded --check-config` prints it).
fn api_summary(config: &Config) -> String {
    let api = &config.api;
    let access = if api.is_open() {
        "no tokens: clients on this host only, as technicians".to_owned()
    } else {
        format!(
            "{} customer and {} technician token(s)",
            api.customer_tokens.len(),
            api.technician_tokens.len()
        )
    };
    let hosts = if api.allowed_hosts.is_empty() {
        String::new()
    } else {
        format!("; also answers to Host {}", api.allowed_hosts.join(", "))
    };
    format!("API on {}: {access}{hosts}", config.listen)
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
    let notifier = Arc::new(Notifier::from_env());
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
    if config.api.is_open() && !listen.ip().is_loopback() {
        tracing::warn!(
            %listen,
            "no API tokens configured: only clients on this host may use the API (see docs/deploy.md)"
        );
    }
    let state = AppState::new(
        store,
        config,
        Arc::new(|config: &Config| Box::new(SystemChecks::new(config.clone())) as Box<dyn Checks>),
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let listen = listener.local_addr().unwrap_or(listen);
    tracing::info!(%listen, database = %database.display(), "sonded serving protocol v1");
    // The ticket delivery loop runs beside the API, until the daemon stops.
    let shutdown_outbox = CancellationToken::new();
    state.spawn_outbox(shutdown_outbox.clone())?;
    // Scheduled monitoring (`[schedule]`), when on, until the daemon stops.
    state.spawn_scheduler(Box::new(crate::schedule::SysfsCounters), shutdown_outbox.clone());
    let served = serve_on(listener, state, notifier, shutdown_signal()).await;
    shutdown_outbox.cancel();
    served
}

/// Serves the API on `listener` until `shutdown` resolves (SIGTERM or Ctrl-C in `sonded`), with
/// the systemd notifications: `READY=1` once listening, `WATCHDOG=1` at half of
/// `$WATCHDOG_USEC`, `STOPPING=1` at shutdown. Shutting down cancels the run in progress and
/// waits until it is stored as `canceled` (at most [`STOP_GRACE`]) before returning.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    notifier: Arc<Notifier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr().context("listening socket")?;
    if let Some(period) = sd_notify::watchdog_interval() {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                notifier.watchdog();
            }
        });
    }
    {
        // `systemctl status sonded` says whether a run is in progress, and which.
        let notifier = notifier.clone();
        let state = state.clone();
        let mut changes = state.subscribe_changes();
        tokio::spawn(async move {
            let mut shown = None;
            while changes.changed().await.is_ok() {
                let running = state.active_run();
                if running != shown {
                    shown = running;
                    notifier.status(&match running {
                        Some(run) => format!("run {run} in progress; serving on {local}"),
                        None => format!("idle; serving protocol v1 on {local}"),
                    });
                }
            }
        });
    }
    let stopping = CancellationToken::new();
    let shutdown_state = state.clone();
    let shutdown_notifier = notifier.clone();
    let stop_started = stopping.clone();
    let server = axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop_started.cancel();
            let run = shutdown_state.active_run();
            shutdown_notifier.stopping(&match run {
                Some(run) => format!("stopping: canceling run {run}"),
                None => "stopping".to_owned(),
            });
            tracing::info!(?run, "shutting down: canceling the run in progress");
            shutdown_state.cancel_active();
            // The run slot is freed only once `run_finished` is stored: then the state is on disk.
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while shutdown_state.active_run().is_some() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Let open event streams deliver `run_finished`, then stop waiting for them.
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
    notifier.ready(&format!("serving protocol v1 on {local}"));
    tokio::select! {
        result = server => result.context("server error"),
        () = async {
            stopping.cancelled().await;
            tokio::time::sleep(STOP_GRACE + Duration::from_secs(2)).await;
        } => {
            tracing::warn!("clients still connected at shutdown: closing");
            Ok(())
        }
    }
}

/// How long shutdown waits for the run in progress to end and be stored.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

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

/// Logs to stderr: under systemd (`$JOURNAL_STREAM` names our stderr) as journald expects them
/// — no timestamp or colour of our own, a `<N>` syslog priority prefix per line (sd-daemon(3)) so
/// `journalctl -p` filters work; elsewhere as plain text with timestamps.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let _ = if stderr_is_journal() {
        builder
            .with_ansi(false)
            .event_format(JournalFormat(
                tracing_subscriber::fmt::format().without_time().with_ansi(false),
            ))
            .finish()
            .with(log_filter())
            .try_init()
    } else {
        use std::io::IsTerminal;
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .finish()
            .with(log_filter())
            .try_init()
    };
}

/// The log filter of `$SONDE_LOG`: a level, then `target=level` directives
/// (`warn,sonde_agent=debug`); `info` when unset or unreadable. (Not `EnvFilter`: its regular
/// expressions weigh ~0.2 MiB of code in a daemon meant for a box.)
fn log_filter() -> tracing_subscriber::filter::Targets {
    parse_log_filter(std::env::var("SONDE_LOG").ok().as_deref())
}

fn parse_log_filter(spec: Option<&str>) -> tracing_subscriber::filter::Targets {
    spec.and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO))
}

/// Whether stderr is the journal stream systemd gave us: `$JOURNAL_STREAM` is `DEV:INODE` of it.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(meta) => dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()),
        // Cannot tell (no /proc): trust the variable.
        Err(_) => true,
    }
}

/// The default format behind a syslog priority prefix (`<3>` error … `<7>` debug).
struct JournalFormat<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalFormat<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_log_filter;
    use tracing::Level;

    #[test]
    fn sonde_log_takes_a_level_then_target_directives() {
        let filter = parse_log_filter(Some("warn,sonde_agent=debug"));
        assert!(filter.would_enable("sonde_agent::runner", &Level::DEBUG));
        assert!(!filter.would_enable("hyper", &Level::INFO));
        assert!(filter.would_enable("hyper", &Level::WARN));
        // Unset or unreadable: info.
        for spec in [None, Some("sonde_agent=loud")] {
            let filter = parse_log_filter(spec);
            assert!(filter.would_enable("sonde_agent", &Level::INFO), "{spec:?}");
            assert!(!filter.would_enable("sonde_agent", &Level::DEBUG), "{spec:?}");
        }
    }
}
