//! `sonde history` and `sonde show RUN`: past runs, from a daemon (`GET /v1/runs`,
//! `GET /v1/runs/{id}`) or from the local history the embedded agent of `sonde diagnose` keeps.
//!
//! The local history is the agent's own run store ([`Store`]), in its own file:
//! `$SONDE_HISTORY`, else `$XDG_STATE_HOME/sonde/history.db`, else
//! `~/.local/state/sonde/history.db`. It is a convenience: when it cannot be written, `sonde
//! diagnose` says so once and runs anyway.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use sonde_agent::store::Store;
use sonde_protocol::{Event, RunId, RunList, RunRequest, RunState, RunSummary};

use crate::cli::AgentArgs;
use crate::remote;

/// Environment variable naming the local history file.
pub const HISTORY_ENV: &str = "SONDE_HISTORY";

/// Arguments of `sonde history`.
#[derive(Debug, clap::Parser)]
pub struct HistoryArgs {
    /// The daemon whose runs to list (technician role); default: this machine's own history.
    #[command(flatten)]
    pub remote: AgentArgs,
    /// How many runs to list, newest first.
    #[arg(long, short = 'n', default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub limit: u16,
    /// Print the list as JSON (the `GET /v1/runs` document).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `sonde show`.
#[derive(Debug, clap::Parser)]
pub struct ShowArgs {
    /// The run's id, as `sonde history` lists it.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// The daemon that ran it; default: this machine's own history.
    #[command(flatten)]
    pub remote: AgentArgs,
    /// Print the report as JSON (the same document as `sonde diagnose --json`).
    #[arg(long)]
    pub json: bool,
}

/// `sonde history`.
pub async fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    let limit = usize::from(args.limit);
    let list = match &args.remote.agent {
        Some(url) => {
            remote::Agent::new(url, args.remote.token.as_deref())?
                .list(limit)
                .await?
        }
        None => local_history(limit)?,
    };
    let text = if args.json {
        serde_json::to_string_pretty(&list)? + "\n"
    } else {
        history_text(&list.runs)
    };
    print_out(&text)
}

/// This machine's `limit` most recent runs, newest first (none when there is no history yet).
pub fn local_history(limit: usize) -> anyhow::Result<RunList> {
    Ok(match open_local()? {
        Some(store) => RunList {
            runs: store.history(limit)?,
        },
        None => RunList::default(),
    })
}

/// `sonde show RUN`.
pub async fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let run: RunId = args
        .run
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("`{}` is not a run id (see `sonde history`)", args.run))?;
    let report = match &args.remote.agent {
        Some(url) => {
            remote::Agent::new(url, args.remote.token.as_deref())?
                .report(run)
                .await?
        }
        None => open_local()?
            .map(|store| store.report(run))
            .transpose()?
            .flatten()
            .with_context(|| format!("no run {run} in the local history ({})", describe_path()))?,
    };
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        let lang = report
            .diagnosis
            .as_ref()
            .map_or(report.request.options.lang, |d| d.lang);
        crate::render::report_text(&report, lang)
    };
    print_out(&text)
}

/// The history as a table, one run a line.
pub fn history_text(runs: &[RunSummary]) -> String {
    if runs.is_empty() {
        return "no run yet\n".to_owned();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<19}  {:<11}  {:<11}  TOP FINDING",
        "RUN", "STARTED (UTC)", "PROBLEM", "OUTCOME"
    );
    for run in runs {
        let finding = run.top_finding.as_ref().map_or_else(String::new, |f| {
            format!("{} ({}): {}", f.code, f.severity.as_str(), f.title)
        });
        let line = format!(
            "{:<36}  {:<19}  {:<11}  {:<11}  {finding}",
            run.run.to_string(),
            run.created_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            run.problem.as_str(),
            outcome(run)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// A run's outcome in one word: `healthy`, `problem`, or how it ended when it did not complete.
fn outcome(run: &RunSummary) -> &'static str {
    match (run.state, run.healthy) {
        (RunState::Completed, Some(true)) => "healthy",
        (RunState::Completed, Some(false)) => "problem",
        (state, _) => state.as_str(),
    }
}

/// Records the embedded agent's events in the local history.
#[derive(Debug)]
pub struct Recorder {
    store: Store,
    request: RunRequest,
    state: Mutex<Recording>,
}

/// Where a recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recording {
    /// No event yet: the first one creates the run.
    NotStarted,
    /// The run is in the store.
    Started,
    /// A write failed (and was reported): the rest of the run is not recorded.
    Abandoned,
}

impl Recorder {
    /// The recorder of a run of `request`, or `None` (said on stderr) when the history cannot
    /// be opened.
    pub fn open(request: &RunRequest) -> Option<Self> {
        Self::at(&history_path()?, request)
    }

    /// The recorder of a run of `request` into the history at `path`.
    pub fn at(path: &std::path::Path, request: &RunRequest) -> Option<Self> {
        match Store::open(path) {
            Ok(store) => Some(Self {
                store,
                request: request.clone(),
                state: Mutex::new(Recording::NotStarted),
            }),
            Err(e) => {
                eprintln!("sonde: this run is not kept in the history: {e}");
                None
            }
        }
    }

    /// Stores one event (the first one creates the run).
    pub fn record(&self, event: &Event) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = match *state {
            Recording::Abandoned => return,
            Recording::Started => self.store.append(event),
            Recording::NotStarted => self
                .store
                .create_run(event.run, &self.request, event.ts)
                .and_then(|()| self.store.append(event)),
        };
        *state = match stored {
            Ok(()) => Recording::Started,
            Err(e) => {
                eprintln!("sonde: this run is not kept in the history: {e}");
                Recording::Abandoned
            }
        };
    }
}

/// Where the local history lives, if anywhere.
pub fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(HISTORY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state.join("sonde/history.db"))
}

/// The local history for reading, `None` when there is none yet.
fn open_local() -> anyhow::Result<Option<Store>> {
    let Some(path) = history_path().filter(|p| p.exists()) else {
        return Ok(None);
    };
    Ok(Some(Store::open(&path)?))
}

fn describe_path() -> String {
    history_path().map_or_else(
        || "no history file: HOME is not set".to_owned(),
        |p| p.display().to_string(),
    )
}

/// Prints `text`; a closed stdout (`| head`) is not an error.
fn print_out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}
