//! The dashboard's state and its reducers: events from the agent and keys from the technician
//! go in, the model and commands for the I/O side come out. No terminal, no clock, no network
//! here, so all of it is tested without a terminal.

use std::collections::{BTreeMap, VecDeque};

use sonde_protocol::{
    ActionInfo, ActionList, CheckId, CheckStatus, Event, EventData, Lang, ProblemKind, RunOptions, RunReport,
    RunRequest, RunState, RunSummary,
};

use crate::eta::EtaClamp;
use crate::steps::RunningSteps;

/// How many samples a sparkline keeps.
pub const SERIES_LEN: usize = 120;

/// The checks a technician can run alone: the agent's, in their natural order.
pub use sonde_agent::plan::AVAILABLE as CHECKS;

/// A key the dashboard understands (decoupled from the terminal library's key type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Enter.
    Enter,
    /// Escape.
    Esc,
}

/// What the I/O side must do after a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Start a run with this request.
    Start(RunRequest),
    /// Cancel the running run.
    Cancel,
    /// Load the agent's remediation actions (`GET /v1/actions`), then call
    /// [`Model::actions_loaded`].
    LoadActions,
    /// Reload the run history.
    RefreshHistory,
    /// Leave the dashboard (canceling a running run).
    Quit,
}

/// The last samples of one live metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Oldest first; at most [`SERIES_LEN`].
    pub samples: VecDeque<f64>,
}

impl Series {
    /// Appends a sample, dropping the oldest past [`SERIES_LEN`].
    pub fn push(&mut self, value: f64) {
        if self.samples.len() == SERIES_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back(value);
    }

    /// The newest sample.
    pub fn last(&self) -> Option<f64> {
        self.samples.back().copied()
    }
}

/// Where the technician is in triggering a remediation action (`a`).
#[derive(Clone, Debug, PartialEq)]
pub enum ActionPrompt {
    /// The agent's list is on its way.
    Loading,
    /// Choosing among the actions this host can perform; `index` is the one under the cursor.
    Choosing {
        /// The available actions, in the agent's order.
        actions: Vec<ActionInfo>,
        /// The one under the cursor.
        index: usize,
    },
    /// Waiting for `y`/`n` on this action.
    Confirming(ActionInfo),
}

/// Everything the dashboard shows.
#[derive(Debug)]
pub struct Model {
    /// Language of the step names (the diagnosis texts come in the run's language).
    pub lang: Lang,
    /// Where runs happen: `embedded` or the daemon's URL.
    pub source: String,
    /// The current (or last) run, folded from its events.
    pub report: Option<RunReport>,
    /// Whether a run is in progress.
    pub running: bool,
    /// Overall fraction done, 0 to 1.
    pub fraction: f64,
    /// The ETA shown, in ms (smoothed, see `EtaClamp`).
    pub eta_ms: Option<u64>,
    eta: EtaClamp,
    /// The steps running now (several when the runner runs them at the same time).
    pub steps: RunningSteps,
    /// Live RTT per target: the gateway, the Internet anchors, and RTT under load.
    pub rtt: BTreeMap<&'static str, Series>,
    /// Loss per target, from the finished checks' `loss_percent`.
    pub loss: BTreeMap<&'static str, f64>,
    /// DNS query latencies, as they come.
    pub dns_ms: Series,
    /// Goodput during the speed test: direction and current Mbit/s.
    pub throughput: Option<(&'static str, f64)>,
    /// Highest goodput seen in this run (the gauge's scale).
    pub throughput_peak: f64,
    /// WiFi signal over time, in dBm.
    pub wifi_dbm: Series,
    /// Past runs, newest first.
    pub history: Vec<RunSummary>,
    /// Choosing and confirming a remediation action, when under way.
    pub action_prompt: Option<ActionPrompt>,
    /// The check the cursor is on, an index into [`CHECKS`].
    pub selected: usize,
    /// The problem of the last run started from the dashboard.
    pub problem: ProblemKind,
    /// A one-line message for the technician (errors, hints).
    pub status: String,
}

impl Model {
    /// An empty dashboard.
    pub fn new(lang: Lang, source: String) -> Self {
        Self {
            lang,
            source,
            report: None,
            running: false,
            fraction: 0.0,
            eta_ms: None,
            eta: EtaClamp::default(),
            steps: RunningSteps::default(),
            rtt: BTreeMap::new(),
            loss: BTreeMap::new(),
            dns_ms: Series::default(),
            throughput: None,
            throughput_peak: 0.0,
            wifi_dbm: Series::default(),
            history: Vec::new(),
            action_prompt: None,
            selected: 0,
            problem: ProblemKind::NoInternet,
            status: "1-6: start a run · ↑↓ + enter: one check · q: quit".to_owned(),
        }
    }

    /// Folds one event of the current run in; `now_ms` (any monotonic clock) paces the ETA.
    pub fn apply(&mut self, event: &Event, now_ms: u64) {
        if let EventData::RunStarted(_) = &event.data {
            self.start_run_state();
        }
        let report = self
            .report
            .get_or_insert_with(|| RunReport::new(event.run, RunRequest::default(), event.ts));
        report.apply(event);
        self.steps.apply(&event.data);
        if let Some(progress) = event.data.progress() {
            // The agent's fraction never decreases; `max` also ignores a replayed event.
            self.fraction = self.fraction.max(progress.fraction.clamp(0.0, 1.0));
            self.eta_ms = progress.eta_ms.map(|ms| self.eta.update(now_ms, ms));
        }
        match &event.data {
            EventData::StepProgress(step) => {
                for metric in &step.metrics {
                    if let Some(value) = metric.value.as_f64() {
                        self.live_metric(step.check, &metric.name, value);
                    }
                }
            }
            EventData::StepFinished(step) => {
                if let Some(loss) = step.result.number("loss_percent") {
                    self.loss.insert(target_name(step.result.id), loss);
                }
            }
            EventData::Action(action) => {
                self.status = format!(
                    "action {}: {}{}",
                    action.action,
                    action.state.as_str(),
                    action.message.as_deref().map(|m| format!(" — {m}")).unwrap_or_default()
                );
            }
            EventData::RunFinished(finished) => {
                self.running = false;
                self.eta_ms = None;
                // A remediation's outcome stays in view after the run's end.
                let outcome = self
                    .report
                    .as_ref()
                    .and_then(|r| r.remediation.as_ref())
                    .and_then(|r| r.outcome.map(|o| format!(" · {}: {}", r.action, o.as_str())))
                    .unwrap_or_default();
                self.status = format!("run {}: {}{outcome}", event.run, finished.state.as_str());
            }
            _ => {}
        }
    }

    /// The run could not start or its stream was lost.
    pub fn run_failed(&mut self, error: &str) {
        self.running = false;
        self.steps = RunningSteps::default();
        self.status = format!("the run failed: {error}");
    }

    /// The handler of one key; returns what the I/O side must do.
    pub fn on_key(&mut self, key: Key) -> Option<Command> {
        if let Some(prompt) = self.action_prompt.take() {
            return self.on_action_key(prompt, key);
        }
        match key {
            Key::Char('q') => Some(Command::Quit),
            Key::Char(c @ '1'..='6') => {
                let index = usize::from(c as u8 - b'1');
                let problem = ProblemKind::ALL[index];
                self.start(problem, None, None)
            }
            Key::Up | Key::Char('k') => {
                self.selected = self.selected.checked_sub(1).unwrap_or(CHECKS.len() - 1);
                None
            }
            Key::Down | Key::Char('j') => {
                self.selected = (self.selected + 1) % CHECKS.len();
                None
            }
            Key::Enter | Key::Char('r') => self.start(self.problem, Some(CHECKS[self.selected]), None),
            Key::Char('x') | Key::Esc => {
                if self.running {
                    self.status = "canceling…".to_owned();
                    Some(Command::Cancel)
                } else {
                    self.status = "no run to cancel".to_owned();
                    None
                }
            }
            Key::Char('a') => {
                if self.running {
                    self.status = "a run is in progress (x cancels it)".to_owned();
                    return None;
                }
                self.action_prompt = Some(ActionPrompt::Loading);
                self.status = "loading the agent's actions… (esc: cancel)".to_owned();
                Some(Command::LoadActions)
            }
            Key::Char('h') => Some(Command::RefreshHistory),
            Key::Char(_) => None,
        }
    }

    /// The agent's actions arrived (`Err`: why they could not be loaded). Ignored unless the
    /// technician is still waiting for them.
    pub fn actions_loaded(&mut self, list: Result<ActionList, String>) {
        if self.action_prompt != Some(ActionPrompt::Loading) {
            return;
        }
        self.action_prompt = None;
        let list = match list {
            Ok(list) => list,
            Err(e) => {
                self.status = format!("actions: {e}");
                return;
            }
        };
        let (available, unavailable): (Vec<ActionInfo>, Vec<ActionInfo>) =
            list.actions.into_iter().partition(|a| a.available);
        if available.is_empty() {
            // The first reason is the one that matters most (the modem's, in the agent's order).
            let why = unavailable
                .iter()
                .find_map(|a| a.detail.as_deref())
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            self.status = format!("no remediation action available on this agent{why}");
            return;
        }
        self.choose(available, 0);
    }

    /// A key while an action is being chosen or confirmed.
    fn on_action_key(&mut self, prompt: ActionPrompt, key: Key) -> Option<Command> {
        match (prompt, key) {
            (ActionPrompt::Loading, Key::Esc | Key::Char('n' | 'q')) => {
                self.status = "no action run".to_owned();
                None
            }
            (prompt @ ActionPrompt::Loading, _) => {
                self.action_prompt = Some(prompt);
                None
            }
            (ActionPrompt::Choosing { actions, index }, key) => {
                let count = actions.len();
                let chosen = match key {
                    Key::Char('a' | 'j') | Key::Down => {
                        self.choose(actions, (index + 1) % count);
                        return None;
                    }
                    Key::Char('k') | Key::Up => {
                        self.choose(actions, index.checked_sub(1).unwrap_or(count - 1));
                        return None;
                    }
                    Key::Enter => index,
                    Key::Char(c @ '1'..='9') if usize::from(c as u8 - b'1') < count => usize::from(c as u8 - b'1'),
                    Key::Esc | Key::Char('n' | 'q' | 'x') => {
                        self.status = "no action run".to_owned();
                        return None;
                    }
                    Key::Char(_) => {
                        self.choose(actions, index);
                        return None;
                    }
                };
                let action = actions.into_iter().nth(chosen)?;
                // The question first: a narrow terminal cuts the end of the line.
                self.status = format!(
                    "y/n: run {} on {}? {} — the run measures (mobile), acts, then re-tests",
                    action.action,
                    action.detail.as_deref().unwrap_or("this agent's device"),
                    action.description
                );
                self.action_prompt = Some(ActionPrompt::Confirming(action));
                None
            }
            (ActionPrompt::Confirming(action), Key::Char('y' | 'Y')) => {
                let command = self.start(ProblemKind::Mobile, None, Some(action.action.clone()));
                if command.is_some() {
                    self.status = format!("starting a mobile run that performs {}…", action.action);
                }
                command
            }
            (ActionPrompt::Confirming(action), _) => {
                self.status = format!("{} not run", action.action);
                None
            }
        }
    }

    /// Puts the cursor on `actions[index]` and says what it is and which keys do what.
    fn choose(&mut self, actions: Vec<ActionInfo>, index: usize) {
        let count = actions.len();
        if let Some(action) = actions.get(index) {
            self.status = format!(
                "action {}/{count}: {} (a ↑↓: next · 1-{count} enter: choose · esc: cancel) — {}",
                index + 1,
                action.action,
                action.description
            );
        }
        self.action_prompt = Some(ActionPrompt::Choosing { actions, index });
    }

    /// A start command, unless a run is in progress.
    fn start(&mut self, problem: ProblemKind, check: Option<CheckId>, action: Option<String>) -> Option<Command> {
        if self.running {
            self.status = "a run is in progress (x cancels it)".to_owned();
            return None;
        }
        self.problem = problem;
        self.running = true;
        self.status = match check {
            Some(check) => format!("starting {} alone…", check.as_str()),
            None => format!("starting a run: {}…", problem.as_str()),
        };
        Some(Command::Start(RunRequest {
            problem,
            options: RunOptions {
                lang: self.lang,
                checks: check.map(|c| vec![c]),
                // A technician's run never acts on the device by itself: only the action the
                // technician chose and confirmed (`a`, then `y`).
                confirm_actions: false,
                action,
            },
            ..RunRequest::default()
        }))
    }

    /// Clears what belongs to the previous run.
    fn start_run_state(&mut self) {
        self.report = None;
        self.running = true;
        self.fraction = 0.0;
        self.eta_ms = None;
        self.eta = EtaClamp::default();
        self.rtt.clear();
        self.loss.clear();
        self.dns_ms = Series::default();
        self.throughput = None;
        self.throughput_peak = 0.0;
        self.wifi_dbm = Series::default();
    }

    fn live_metric(&mut self, check: CheckId, name: &str, value: f64) {
        match name {
            "rtt_ms" => self.rtt.entry(target_name(check)).or_default().push(value),
            "loaded_rtt_ms" => self.rtt.entry("under load").or_default().push(value),
            "latency_ms" if check == CheckId::Dns => self.dns_ms.push(value),
            "download_mbps" | "upload_mbps" => {
                let direction = if name == "download_mbps" { "download" } else { "upload" };
                self.throughput = Some((direction, value));
                self.throughput_peak = self.throughput_peak.max(value);
            }
            "signal_dbm" => self.wifi_dbm.push(value),
            _ => {}
        }
    }

    /// The results of the current run's checks, by check, in plan order (planned ones with no
    /// result yet show as `None`).
    pub fn check_rows(&self) -> Vec<(CheckId, Option<CheckStatus>, Option<u64>, String)> {
        let Some(report) = &self.report else { return Vec::new() };
        let mut rows: Vec<_> = report
            .plan
            .steps
            .iter()
            .map(|step| {
                let result = report.checks.iter().find(|c| c.id == step.check);
                (
                    step.check,
                    result.map(|r| r.status),
                    result.map(|r| r.duration_ms),
                    result.and_then(|r| r.reason.clone()).unwrap_or_default(),
                )
            })
            .collect();
        // Results of checks outside the plan (an older agent's report) still show.
        for result in &report.checks {
            if !rows.iter().any(|row| row.0 == result.id) {
                rows.push((
                    result.id,
                    Some(result.status),
                    Some(result.duration_ms),
                    result.reason.clone().unwrap_or_default(),
                ));
            }
        }
        rows
    }

    /// Whether the last run ended, and how.
    pub fn run_state(&self) -> Option<RunState> {
        self.report.as_ref().map(|r| r.state)
    }
}

/// The name of a wire enum value (`sms_sent`), empty for a value that is not a string.
pub fn wire_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The name of the target a check's live RTT measures.
fn target_name(check: CheckId) -> &'static str {
    match check {
        CheckId::Gateway => "gateway",
        CheckId::InternetLatency => "internet",
        other => other.as_str(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sonde_protocol::{
        CheckResult, Diagnosis, Metric, Plan, PlanStep, Progress, RunFinished, RunId, RunStarted, StepFinished,
        StepProgress, StepStarted, Timestamp,
    };

    use super::*;

    /// An event of run `run` with sequence `seq`.
    fn event(run: RunId, seq: u64, data: EventData) -> Event {
        Event {
            v: 1,
            run,
            seq,
            ts: Timestamp::UNIX_EPOCH,
            data,
        }
    }

    fn progress(fraction: f64, eta_ms: u64) -> Progress {
        Progress {
            fraction,
            eta_ms: Some(eta_ms),
        }
    }

    fn step(check: CheckId) -> PlanStep {
        PlanStep {
            check,
            weight: 0.5,
            estimated_ms: 1000,
            timeout_ms: 5000,
            after: None,
        }
    }

    /// A short run: gateway (live RTT then pass with loss), dns (fail), diagnosis, end.
    pub(crate) fn events(run: RunId) -> Vec<Event> {
        let started = RunStarted {
            request: RunRequest::default(),
            plan: Plan {
                steps: vec![step(CheckId::Gateway), step(CheckId::Dns)],
                estimated_ms: 2000,
            },
            agent_version: "test".to_owned(),
        };
        let gateway = CheckResult {
            id: CheckId::Gateway,
            status: CheckStatus::Pass,
            reason: None,
            metrics: vec![Metric::new("loss_percent", 0.0)],
            duration_ms: 900,
            samples: None,
        };
        let dns = CheckResult {
            id: CheckId::Dns,
            status: CheckStatus::Fail,
            reason: Some("no answer".to_owned()),
            metrics: Vec::new(),
            duration_ms: 1100,
            samples: None,
        };
        let diagnosis: Diagnosis = serde_json::from_value(serde_json::json!({
            "healthy": false,
            "summary": "The box does not answer DNS.",
            "findings": [],
            "operator_must_act": false,
            "profile": {"name": "default", "version": 1},
            "lang": "en"
        }))
        .expect("diagnosis fixture");
        let live = |seq, fraction, eta, rtt: f64| {
            event(
                run,
                seq,
                EventData::StepProgress(StepProgress {
                    index: 0,
                    check: CheckId::Gateway,
                    fraction,
                    metrics: vec![Metric::new("rtt_ms", rtt)],
                    progress: progress(fraction / 2.0, eta),
                }),
            )
        };
        vec![
            event(run, 1, EventData::RunStarted(started)),
            event(
                run,
                2,
                EventData::StepStarted(StepStarted {
                    index: 0,
                    check: CheckId::Gateway,
                    progress: progress(0.0, 2000),
                }),
            ),
            live(3, 0.5, 1500, 1.25),
            live(4, 0.9, 5000, 2.5),
            event(
                run,
                5,
                EventData::StepFinished(StepFinished {
                    index: 0,
                    result: gateway,
                    progress: progress(0.5, 1000),
                }),
            ),
            event(
                run,
                6,
                EventData::StepProgress(StepProgress {
                    index: 1,
                    check: CheckId::Dns,
                    fraction: 0.5,
                    metrics: vec![Metric::new("latency_ms", 12.5)],
                    progress: progress(0.75, 500),
                }),
            ),
            event(
                run,
                7,
                EventData::StepFinished(StepFinished {
                    index: 1,
                    result: dns,
                    progress: progress(1.0, 0),
                }),
            ),
            event(run, 8, EventData::Diagnosis(diagnosis)),
            event(
                run,
                9,
                EventData::RunFinished(RunFinished {
                    state: RunState::Completed,
                    reason: None,
                }),
            ),
        ]
    }

    #[test]
    fn a_run_folds_into_live_series_check_rows_and_the_diagnosis() {
        let run = RunId::new();
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        let events = events(run);
        for (i, e) in events.iter().take(4).enumerate() {
            model.apply(e, i as u64 * 100);
        }
        assert!(model.running);
        assert_eq!(model.steps.checks(), [CheckId::Gateway]);
        assert_eq!(model.rtt["gateway"].samples, [1.25, 2.5]);
        // The agent said 5 s left after 1.5 s: the shown ETA rises by at most half of 100 ms.
        assert_eq!(model.eta_ms, Some(1550));
        let rows = model.check_rows();
        assert_eq!(rows.len(), 2, "planned steps show before their results");
        assert_eq!(rows[0].1, None);
        for (i, e) in events.iter().enumerate().skip(4) {
            model.apply(e, i as u64 * 100);
        }
        assert!(!model.running);
        assert_eq!(model.run_state(), Some(RunState::Completed));
        assert_eq!(model.loss.get("gateway"), Some(&0.0));
        assert_eq!(model.dns_ms.last(), Some(12.5));
        assert!((model.fraction - 1.0).abs() < f64::EPSILON);
        let rows = model.check_rows();
        assert_eq!(rows[1].1, Some(CheckStatus::Fail));
        assert_eq!(rows[1].3, "no answer");
        let summary = model
            .report
            .as_ref()
            .and_then(|r| r.diagnosis.as_ref())
            .map(|d| d.summary.as_str());
        assert_eq!(summary, Some("The box does not answer DNS."));
    }

    #[test]
    fn a_new_run_clears_the_previous_runs_series() {
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        for e in &events(RunId::new()) {
            model.apply(e, 0);
        }
        let second = RunId::new();
        model.apply(&events(second)[0], 0);
        assert!(model.rtt.is_empty() && model.loss.is_empty() && model.dns_ms.samples.is_empty());
        assert_eq!(model.report.as_ref().map(|r| r.run), Some(second));
        assert!(model.fraction.abs() < f64::EPSILON);
    }

    #[test]
    fn keys_start_runs_by_problem_and_single_checks_and_refuse_a_second_run() {
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        let Some(Command::Start(request)) = model.on_key(Key::Char('2')) else {
            panic!("2 starts a run")
        };
        assert_eq!(request.problem, ProblemKind::Slow);
        assert_eq!(request.options.lang, Lang::En);
        assert_eq!(request.options.checks, None);
        assert_eq!(model.on_key(Key::Char('1')), None, "one run at a time");
        assert!(model.status.contains("in progress"), "{}", model.status);
        assert_eq!(model.on_key(Key::Char('x')), Some(Command::Cancel));
        model.run_failed("canceled");
        for _ in 0..4 {
            model.on_key(Key::Down);
        }
        assert_eq!(CHECKS[model.selected], CheckId::Dns);
        let Some(Command::Start(request)) = model.on_key(Key::Enter) else {
            panic!("enter runs the selected check")
        };
        assert_eq!(request.options.checks, Some(vec![CheckId::Dns]));
        assert_eq!(request.problem, ProblemKind::Slow, "the last problem kind");
        model.run_failed("done");
        model.on_key(Key::Up);
        assert_eq!(CHECKS[model.selected], CheckId::InternetLatency);
        assert_eq!(model.on_key(Key::Char('q')), Some(Command::Quit));
    }

    fn action(name: &str, available: bool) -> ActionInfo {
        ActionInfo {
            action: name.to_owned(),
            description: format!("{name} described"),
            available,
            detail: Some(if available {
                "modem 192.0.2.1:502 (teltonika-rutos)".to_owned()
            } else {
                "no modem configured ([mobile] modem)".to_owned()
            }),
            customer_allowed: false,
        }
    }

    #[test]
    fn the_action_key_loads_the_agents_list_and_says_when_none_is_available() {
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        assert_eq!(model.on_key(Key::Char('a')), Some(Command::LoadActions));
        assert_eq!(model.action_prompt, Some(ActionPrompt::Loading));
        assert_eq!(model.on_key(Key::Char('1')), None, "no run starts while the list loads");
        model.actions_loaded(Ok(ActionList {
            actions: vec![action("reconnect_data_session", false), action("renew_dhcp", false)],
        }));
        assert_eq!(model.action_prompt, None);
        assert_eq!(
            model.status,
            "no remediation action available on this agent: no modem configured ([mobile] modem)"
        );
        // The agent could not be asked.
        model.on_key(Key::Char('a'));
        model.actions_loaded(Err("cannot reach the agent".to_owned()));
        assert_eq!(model.status, "actions: cannot reach the agent");
        // Canceled while loading: the late list changes nothing.
        model.on_key(Key::Char('a'));
        assert_eq!(model.on_key(Key::Esc), None);
        model.actions_loaded(Ok(ActionList {
            actions: vec![action("reset_modem", true)],
        }));
        assert_eq!(model.action_prompt, None);
        assert_eq!(model.status, "no action run");
        // Not during a run.
        model.on_key(Key::Char('1'));
        assert_eq!(model.on_key(Key::Char('a')), None);
        assert!(model.status.contains("in progress"), "{}", model.status);
    }

    #[test]
    fn an_available_action_is_chosen_confirmed_and_started_as_a_mobile_run() {
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        model.on_key(Key::Char('a'));
        model.actions_loaded(Ok(ActionList {
            actions: vec![
                action("reconnect_data_session", true),
                action("reset_modem", true),
                action("renew_dhcp", false),
            ],
        }));
        let index = |model: &Model| match &model.action_prompt {
            Some(ActionPrompt::Choosing { actions, index }) => {
                assert_eq!(actions.len(), 2, "only the available ones");
                Some(*index)
            }
            _ => None,
        };
        assert_eq!(index(&model), Some(0));
        assert!(
            model.status.starts_with("action 1/2: reconnect_data_session"),
            "{}",
            model.status
        );
        model.on_key(Key::Char('a'));
        assert_eq!(index(&model), Some(1), "a cycles");
        model.on_key(Key::Down);
        assert_eq!(index(&model), Some(0), "and wraps");
        model.on_key(Key::Up);
        assert_eq!(index(&model), Some(1));
        assert_eq!(model.selected, 0, "the arrows move the action cursor, not the check's");
        // `n` at the confirmation runs nothing.
        assert_eq!(model.on_key(Key::Enter), None);
        assert!(
            model
                .status
                .starts_with("y/n: run reset_modem on modem 192.0.2.1:502 (teltonika-rutos)? reset_modem described"),
            "{}",
            model.status
        );
        assert_eq!(model.on_key(Key::Char('n')), None);
        assert_eq!(model.action_prompt, None);
        assert_eq!(model.status, "reset_modem not run");
        assert!(!model.running);
        // A digit chooses directly; `y` starts a mobile run that performs it.
        model.on_key(Key::Char('a'));
        model.actions_loaded(Ok(ActionList {
            actions: vec![action("reconnect_data_session", true), action("reset_modem", true)],
        }));
        assert_eq!(model.on_key(Key::Char('3')), None, "no third action");
        assert_eq!(model.on_key(Key::Char('1')), None);
        assert!(
            matches!(&model.action_prompt, Some(ActionPrompt::Confirming(a)) if a.action == "reconnect_data_session")
        );
        let Some(Command::Start(request)) = model.on_key(Key::Char('y')) else {
            panic!("y starts the run")
        };
        assert_eq!(request.problem, ProblemKind::Mobile);
        assert_eq!(request.options.action.as_deref(), Some("reconnect_data_session"));
        assert_eq!(request.options.lang, Lang::En);
        assert!(!request.options.confirm_actions, "only the chosen action, nothing else");
        assert!(model.running);
        assert_eq!(model.action_prompt, None);
        // The run's `action` events show in the status line.
        model.apply(
            &event(
                RunId::new(),
                1,
                EventData::Action(sonde_protocol::ActionEvent {
                    action: "reconnect_data_session".to_owned(),
                    state: sonde_protocol::ActionState::Confirmed,
                    message: Some("requested by the client".to_owned()),
                    device: None,
                    outcome: None,
                }),
            ),
            0,
        );
        assert_eq!(
            model.status,
            "action reconnect_data_session: confirmed — requested by the client"
        );
        let run = model.report.as_ref().map(|r| r.run).expect("a run");
        model.apply(
            &event(
                run,
                2,
                EventData::Action(sonde_protocol::ActionEvent {
                    action: "reconnect_data_session".to_owned(),
                    state: sonde_protocol::ActionState::Succeeded,
                    message: Some("service restored".to_owned()),
                    device: None,
                    outcome: Some(sonde_protocol::RemediationOutcome::Restored),
                }),
            ),
            0,
        );
        model.apply(
            &event(
                run,
                3,
                EventData::RunFinished(RunFinished {
                    state: RunState::Completed,
                    reason: None,
                }),
            ),
            0,
        );
        assert_eq!(
            model.status,
            format!("run {run}: completed · reconnect_data_session: restored"),
            "the outcome stays in view"
        );
    }

    #[test]
    fn steps_running_at_the_same_time_all_show_and_leave_independently() {
        use crate::steps::tests::{finished, progressed, started};
        let run = RunId::new();
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        let mut seq = 0;
        let mut feed = |model: &mut Model, data| {
            seq += 1;
            model.apply(&event(run, seq, data), seq * 100);
        };
        feed(&mut model, events(run).remove(0).data);
        feed(&mut model, started(0, CheckId::Gateway, 3000));
        feed(&mut model, started(1, CheckId::Dns, 2500));
        feed(&mut model, progressed(0, CheckId::Gateway, 2000));
        assert_eq!(model.steps.checks(), [CheckId::Gateway, CheckId::Dns]);
        assert_eq!(model.steps.label(Lang::En), "Box response · Site directory (DNS)");
        // The ETA logic is the same as with one step: the agent's 2 s after 2.5 s.
        assert_eq!(model.eta_ms, Some(2000));
        feed(&mut model, finished(1, CheckId::Dns, 1000));
        assert_eq!(model.steps.checks(), [CheckId::Gateway]);
        let rows = model.check_rows();
        assert_eq!(rows[0].1, None, "the gateway still runs");
        assert_eq!(rows[1].1, Some(CheckStatus::Pass), "DNS is done");
        feed(&mut model, finished(0, CheckId::Gateway, 0));
        assert!(model.steps.checks().is_empty());
        assert_eq!(model.steps.label(Lang::En), "Box response", "no flicker to nothing");
    }

    #[test]
    fn series_keep_the_last_samples() {
        let mut series = Series::default();
        for i in 0..(SERIES_LEN + 5) {
            series.push(i as f64);
        }
        assert_eq!(series.samples.len(), SERIES_LEN);
        assert_eq!(series.samples.front(), Some(&5.0));
    }
}
