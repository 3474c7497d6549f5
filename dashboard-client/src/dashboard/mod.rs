//! `sonde dashboard`: the technician's TUI (ratatui on crossterm). It starts runs on the
//! embedded agent or on a daemon, and draws their event stream live; see docs/dashboard.md.
//!
//! The state and its reducers are in [`model`] (tested without a terminal), the drawing in
//! [`view`] (tested on ratatui's `TestBackend`); this module only moves keys, events and
//! history between them and the outside.

pub mod model;
pub mod view;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self as term, KeyCode, KeyEventKind};
use sonde_agent::config::Config;
use sonde_protocol::{ActionList, Event, Lang, RunList, RunRequest};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio_util::sync::CancellationToken;

use self::model::{Command, Key, Model};
use crate::cli::{AgentArgs, LangArg};
use crate::remote;

/// Arguments of `sonde dashboard`.
#[derive(Debug, clap::Parser)]
pub struct DashboardArgs {
    /// The daemon to run on, if any.
    #[command(flatten)]
    pub remote: AgentArgs,
    /// Configuration file (TOML) of the embedded agent. Default: $SONDE_CONFIG, else
    /// /etc/sonde/sonded.toml if it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Language of the step names and of the diagnosis.
    #[arg(long, value_enum, default_value = "fr")]
    pub lang: LangArg,
}

/// How many past runs the history pane lists.
const HISTORY_LIMIT: usize = 15;

/// What the loop reacts to.
enum Msg {
    Key(Key),
    /// Boxed: an event is far larger than every other message.
    Event(Box<Event>),
    RunEnded(Result<(), String>),
    History(Result<RunList, String>),
    Actions(Result<ActionList, String>),
    Tick,
}

/// Where runs happen.
#[derive(Clone)]
enum Source {
    Embedded(Arc<Config>),
    Daemon(remote::Agent),
}

/// Runs the dashboard until the technician quits.
pub async fn dashboard(args: &DashboardArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    anyhow::ensure!(
        std::io::stdout().is_terminal() && std::io::stdin().is_terminal(),
        "the dashboard needs a terminal (use `sonde diagnose` in scripts)"
    );
    let source = match &args.remote.agent {
        Some(url) => Source::Daemon(remote::Agent::new(url, args.remote.token.as_deref())?),
        None => Source::Embedded(Arc::new(Config::discover(args.config.as_deref())?)),
    };
    let label = args.remote.agent.clone().unwrap_or_else(|| "embedded".to_owned());
    let mut model = Model::new(Lang::from(args.lang), label);

    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let outcome = event_loop(&mut terminal, &mut model, &source).await;
    ratatui::restore();
    outcome
}

async fn event_loop(terminal: &mut ratatui::DefaultTerminal, model: &mut Model, source: &Source) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let input_done = CancellationToken::new();
    spawn_input(tx.clone(), input_done.clone());
    let ticker = tx.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(250));
        while ticker.send(Msg::Tick).is_ok() {
            interval.tick().await;
        }
    });
    load_history(source, &tx);
    let epoch = Instant::now();
    let mut cancel: Option<CancellationToken> = None;
    let outcome = loop {
        if let Err(e) = terminal.draw(|frame| view::draw(frame, model)) {
            break Err(e).context("cannot draw");
        }
        let Some(msg) = rx.recv().await else { break Ok(()) };
        let command = match msg {
            Msg::Key(key) => model.on_key(key),
            Msg::Event(event) => {
                let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                model.apply(&event, now);
                None
            }
            Msg::RunEnded(outcome) => {
                if let Err(e) = outcome {
                    model.run_failed(&e);
                } else if model.running {
                    model.run_failed("the stream ended without run_finished");
                }
                cancel = None;
                load_history(source, &tx);
                None
            }
            Msg::History(Ok(list)) => {
                model.history = list.runs;
                None
            }
            Msg::History(Err(e)) => {
                model.status = format!("history: {e}");
                None
            }
            Msg::Actions(list) => {
                model.actions_loaded(list);
                None
            }
            Msg::Tick => None,
        };
        match command {
            Some(Command::Start(request)) => {
                let token = CancellationToken::new();
                cancel = Some(token.clone());
                start_run(source, request, &tx, token);
            }
            Some(Command::Cancel) => {
                if let Some(token) = &cancel {
                    token.cancel();
                }
            }
            Some(Command::LoadActions) => load_actions(source, &tx),
            Some(Command::RefreshHistory) => load_history(source, &tx),
            Some(Command::Quit) => {
                if let Some(token) = &cancel {
                    token.cancel();
                }
                break Ok(());
            }
            None => {}
        }
    };
    input_done.cancel();
    outcome
}

/// Reads keys on a thread of its own (crossterm's reads block) until `done`.
fn spawn_input(tx: UnboundedSender<Msg>, done: CancellationToken) {
    std::thread::spawn(move || {
        while !done.is_cancelled() {
            match term::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            let Ok(term::Event::Key(key)) = term::read() else {
                continue;
            };
            if key.kind == KeyEventKind::Release {
                continue;
            }
            let key = match key.code {
                KeyCode::Char('c') if key.modifiers.contains(term::KeyModifiers::CONTROL) => Key::Char('q'),
                KeyCode::Char(c) => Key::Char(c),
                KeyCode::Up => Key::Up,
                KeyCode::Down => Key::Down,
                KeyCode::Enter => Key::Enter,
                KeyCode::Esc => Key::Esc,
                _ => continue,
            };
            if tx.send(Msg::Key(key)).is_err() {
                break;
            }
        }
    });
}

/// Starts a run on a task of its own; its events, then its end, come back as messages.
fn start_run(source: &Source, request: RunRequest, tx: &UnboundedSender<Msg>, cancel: CancellationToken) {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Event>();
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let forward = tx.clone();
    tokio::spawn(async move {
        while let Some(event) = events_rx.recv().await {
            let _ = forward.send(Msg::Event(Box::new(event)));
        }
        // The run's sender is gone: every event is delivered, so the end goes last.
        let outcome = ended_rx.await.unwrap_or_else(|_| Err("the run task ended".to_owned()));
        let _ = forward.send(Msg::RunEnded(outcome));
    });
    let source = source.clone();
    tokio::spawn(async move {
        let outcome = match source {
            Source::Embedded(config) => {
                let sink = crate::cli::ChannelSink::new(events_tx, crate::history::Recorder::open(&request));
                let outcome = sonde_agent::run_embedded(request, &config, &sink, cancel).await;
                drop(sink);
                outcome.map(drop).map_err(|e| format!("{e:#}"))
            }
            Source::Daemon(agent) => {
                let outcome = async {
                    let run = agent.start(&request).await?;
                    agent.follow(run, &events_tx, &cancel).await
                }
                .await;
                drop(events_tx);
                outcome.map_err(|e| format!("{e:#}"))
            }
        };
        let _ = ended_tx.send(outcome);
    });
}

/// Loads the remediation actions (the daemon's `GET /v1/actions`, or the embedded agent's
/// catalogue for its configuration) on a task of its own.
fn load_actions(source: &Source, tx: &UnboundedSender<Msg>) {
    let source = source.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let list = match source {
            Source::Daemon(agent) => agent.actions().await.map_err(|e| format!("{e:#}")),
            Source::Embedded(config) => Ok(sonde_agent::remediation::catalogue(&config.mobile)),
        };
        let _ = tx.send(Msg::Actions(list));
    });
}

/// Loads the run history (the daemon's, or this machine's) on a task of its own.
fn load_history(source: &Source, tx: &UnboundedSender<Msg>) {
    let source = source.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let list = match source {
            Source::Daemon(agent) => agent.list(HISTORY_LIMIT).await.map_err(|e| format!("{e:#}")),
            Source::Embedded(_) => crate::history::local_history(HISTORY_LIMIT).map_err(|e| format!("{e:#}")),
        };
        let _ = tx.send(Msg::History(list));
    });
}
