//! The runner: executes a plan step by step, streams events, enforces per-step timeouts and
//! cancellation, and never lets one check's failure (or panic) abort the run.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sonde_protocol::{
    ActionEvent, ActionState, CheckId, CheckResult, CheckStatus, Diagnosis, Event, EventData, Metric, PROTOCOL_VERSION,
    Plan, PlanStep, Progress, RemediationOutcome, RunFinished, RunId, RunRequest, RunStarted, RunState, StepFinished,
    StepProgress, StepStarted, TicketStatus, Timestamp,
};
use tokio_util::sync::CancellationToken;

use crate::checks::mobile::ModemAction;
use crate::checks::{Checks, ProgressSink, unmeasured};
use crate::config::Profile;
use crate::diagnose::diagnose;
use crate::progress::{ProgressEstimator, StepTiming};
use crate::remediation::{self, Remediator};

/// The agent's version, as reported in `run_started`.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Receives a run's events, in order. Called from the run's task; must not block for long.
pub trait EventSink: Send + Sync {
    /// One event, `seq` already assigned.
    fn emit(&self, event: Event);

    /// The diagnosis is made: if the run must open a ticket, commit it durably (the outbox) and
    /// return the `queued` status the runner streams before `run_finished`. Default: no tickets.
    fn open_ticket(&self, _spec: &RunSpec, _diagnosis: &Diagnosis) -> Option<TicketStatus> {
        None
    }

    /// A remediation action did not restore service: open the ticket for the diagnosis after
    /// it, whatever its actor, with `evidence` (both measurements) as its evidence summary.
    /// Default: no tickets.
    fn open_ticket_after_remediation(
        &self,
        _spec: &RunSpec,
        _after: &Diagnosis,
        _evidence: &str,
    ) -> Option<TicketStatus> {
        None
    }
}

/// Everything a run needs to start.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Its id.
    pub run: RunId,
    /// The request, defaults filled in.
    pub request: RunRequest,
    /// What to run.
    pub plan: Plan,
    /// Thresholds for the diagnosis.
    pub profile: Profile,
    /// How each step of the plan spends its time (see `crate::plan::timings_for`); empty: each
    /// step is taken to last its published estimate.
    pub timings: Vec<StepTiming>,
}

/// How often a running step's progress is refreshed when the check itself says nothing.
const TICK: Duration = Duration::from_millis(250);
/// Checks' own progress reports are passed on at most this often.
const MIN_REPORT_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `spec` to its end and returns the terminal state. Every event goes to `sink`, the last
/// one being `run_finished`.
pub async fn execute(spec: RunSpec, checks: &dyn Checks, sink: &dyn EventSink, cancel: CancellationToken) -> RunState {
    let clock = Instant::now();
    let emitter = Emitter {
        run: spec.run,
        next_seq: Mutex::new(1),
        sink,
    };
    let estimator = Mutex::new(ProgressEstimator::new(&spec.plan, &spec.timings));
    emitter.emit(EventData::RunStarted(RunStarted {
        request: spec.request.clone(),
        plan: spec.plan.clone(),
        agent_version: AGENT_VERSION.to_owned(),
    }));

    let Some(results) = run_steps(&spec.plan, checks, &emitter, &estimator, clock, true, &cancel).await else {
        return finish(&emitter, RunState::Canceled, Some("canceled by a client"));
    };

    let diagnosis = diagnose(&results, &spec.profile, spec.request.options.lang);
    if let Some(remediator) = checks.remediator()
        && let Some(action) = remediation::chosen(&spec.request, &diagnosis, &remediator.available())
    {
        let flow = Remediation {
            spec: &spec,
            checks,
            remediator,
            emitter: &emitter,
            action,
        };
        return flow.run(diagnosis, &estimator, clock, &cancel).await;
    }
    let ticket = sink.open_ticket(&spec, &diagnosis);
    emitter.emit(EventData::Diagnosis(diagnosis));
    if let Some(ticket) = ticket {
        emitter.emit(EventData::Ticket(ticket));
    }
    finish(&emitter, RunState::Completed, None)
}

/// Runs the plan's steps, each once the steps it comes after have finished (one at a time
/// unless the plan says otherwise, see [`Plan::predecessors`]); `None` when canceled. A `live`
/// pass streams every step (started, progress, finished) and moves the progress estimator; a
/// re-test streams only the results, at the progress already reached. The results are in the
/// plan's order.
async fn run_steps(
    plan: &Plan,
    checks: &dyn Checks,
    emitter: &Emitter<'_>,
    estimator: &Mutex<ProgressEstimator>,
    clock: Instant,
    live: bool,
    cancel: &CancellationToken,
) -> Option<Vec<CheckResult>> {
    let reporters: Vec<StepReporter<'_>> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| StepReporter {
            emitter,
            estimator,
            clock,
            index,
            check: step.check,
            last_report: Mutex::new(None),
            live,
        })
        .collect();
    let predecessors: Vec<Vec<usize>> = (0..plan.steps.len()).map(|i| plan.predecessors(i)).collect();
    let mut results: Vec<Option<CheckResult>> = vec![None; plan.steps.len()];
    let mut started = vec![false; plan.steps.len()];
    let mut running = FuturesUnordered::new();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    loop {
        if cancel.is_cancelled() {
            return None;
        }
        for (index, step) in plan.steps.iter().enumerate() {
            if started[index] || predecessors[index].iter().any(|p| results[*p].is_none()) {
                continue;
            }
            started[index] = true;
            if live {
                let progress = with(estimator, |e| e.start_step(index, ms(clock)));
                emitter.emit(EventData::StepStarted(StepStarted {
                    index,
                    check: step.check,
                    progress,
                }));
            }
            running.push(run_step(index, step, checks, &reporters[index]));
        }
        if running.is_empty() {
            break;
        }
        let (index, result) = tokio::select! {
            Some(done) = running.next() => done,
            () = cancel.cancelled() => return None,
            _ = ticks.tick(), if live => {
                // One estimate per tick, passed on by every step under way.
                let progress = with(estimator, |e| e.estimate(ms(clock)));
                for (index, reporter) in reporters.iter().enumerate() {
                    if started[index] && results[index].is_none() {
                        reporter.emit_progress(None, Vec::new(), progress);
                    }
                }
                continue;
            }
        };
        let progress = if live {
            with(estimator, |e| e.finish_step(index, &result, ms(clock)))
        } else {
            with(estimator, |e| e.estimate(ms(clock)))
        };
        emitter.emit(EventData::StepFinished(StepFinished {
            index,
            result: result.clone(),
            progress,
        }));
        results[index] = Some(result);
    }
    results.into_iter().collect()
}

/// Runs one step's check under its timeout; a panic or a timeout becomes an `error` result.
async fn run_step(
    index: usize,
    step: &PlanStep,
    checks: &dyn Checks,
    reporter: &StepReporter<'_>,
) -> (usize, CheckResult) {
    let started = Instant::now();
    let timeout = Duration::from_millis(step.timeout_ms);
    let run_check = AssertUnwindSafe(checks.run(step.check, reporter)).catch_unwind();
    let result = match tokio::time::timeout(timeout, run_check).await {
        Ok(Ok(mut result)) => {
            // A check reports under its own id; keep the plan's id authoritative.
            result.id = step.check;
            result
        }
        Ok(Err(panic)) => {
            tracing::error!(check = %step.check, "check panicked: {}", panic_message(&panic));
            unmeasured(
                step.check,
                CheckStatus::Error,
                "internal error in this check (see the agent log)",
                started,
            )
        }
        Err(_) => unmeasured(
            step.check,
            CheckStatus::Error,
            format!("timed out after {:.1} s", timeout.as_secs_f64()),
            started,
        ),
    };
    (index, result)
}

/// The mobile restoration flow of DESIGN.md §1, once the diagnosis proposed `action` (or the
/// request named it, `options.action`): confirm → perform → settle → re-test → compare →
/// `restored`, or `not_restored` and a ticket with both measurements.
struct Remediation<'a> {
    spec: &'a RunSpec,
    checks: &'a dyn Checks,
    remediator: &'a dyn Remediator,
    emitter: &'a Emitter<'a>,
    action: ModemAction,
}

impl Remediation<'_> {
    async fn run(
        self,
        before: Diagnosis,
        estimator: &Mutex<ProgressEstimator>,
        clock: Instant,
        cancel: &CancellationToken,
    ) -> RunState {
        let (spec, emitter, action) = (self.spec, self.emitter, self.action);
        let name = remediation::action_name(action);
        let device = self.remediator.device();
        emitter.emit(EventData::Diagnosis(before.clone()));
        let requested = spec.request.options.action.is_some();
        if !requested {
            self.emit(
                ActionState::Proposed,
                "the diagnosis points at the mobile data session",
                None,
            );
        }
        if !remediation::confirmed(&spec.request) {
            tracing::info!(run = %spec.run, action = name, %device, "action proposed, not confirmed");
            self.emit(ActionState::Declined, "not confirmed: nothing was done", None);
            let ticket = emitter.sink.open_ticket(spec, &before);
            if let Some(ticket) = ticket {
                emitter.emit(EventData::Ticket(ticket));
            }
            return finish(emitter, RunState::Completed, None);
        }
        let confirmation = if requested {
            "requested by the client"
        } else {
            "confirmed by the client"
        };
        self.emit(ActionState::Confirmed, confirmation, None);
        tracing::info!(run = %spec.run, action = name, %device, "performing a confirmed action");
        self.emit(ActionState::Started, "performing the action", None);
        let performed = tokio::select! {
            performed = self.remediator.perform(action) => performed,
            () = cancel.cancelled() => return finish(emitter, RunState::Canceled, Some("canceled by a client")),
        };
        if let Err(error) = performed {
            tracing::warn!(run = %spec.run, action = name, %device, "action failed: {error}");
            self.emit(ActionState::Failed, &error, Some(RemediationOutcome::NotRestored));
            let ticket = emitter.sink.open_ticket(spec, &before);
            if let Some(ticket) = ticket {
                emitter.emit(EventData::Ticket(ticket));
            }
            return finish(emitter, RunState::Completed, None);
        }
        tracing::info!(run = %spec.run, action = name, %device, "action done; re-testing");
        self.emit(
            ActionState::Succeeded,
            "done; waiting for the device, then re-testing",
            None,
        );
        tokio::select! {
            () = tokio::time::sleep(self.remediator.settle_time(action)) => {}
            () = cancel.cancelled() => return finish(emitter, RunState::Canceled, Some("canceled by a client")),
        }
        let Some(results) = run_steps(&spec.plan, self.checks, emitter, estimator, clock, false, cancel).await else {
            return finish(emitter, RunState::Canceled, Some("canceled by a client"));
        };
        let after = diagnose(&results, &spec.profile, spec.request.options.lang);
        let outcome = remediation::judge(&after);
        tracing::info!(run = %spec.run, action = name, %device, outcome = outcome.as_str(), "re-test done");
        let ticket = match outcome {
            RemediationOutcome::NotRestored => emitter.sink.open_ticket_after_remediation(
                spec,
                &after,
                &remediation::ticket_evidence(action, &before, &after),
            ),
            _ => None,
        };
        emitter.emit(EventData::Diagnosis(after));
        let (state, message) = match outcome {
            RemediationOutcome::Restored => (ActionState::Succeeded, "service restored"),
            _ => (ActionState::Failed, "service not restored: the operator must act"),
        };
        self.emit(state, message, Some(outcome));
        if let Some(ticket) = ticket {
            emitter.emit(EventData::Ticket(ticket));
        }
        finish(emitter, RunState::Completed, None)
    }

    fn emit(&self, state: ActionState, message: &str, outcome: Option<RemediationOutcome>) {
        self.emitter.emit(EventData::Action(ActionEvent {
            action: remediation::action_name(self.action).to_owned(),
            state,
            message: Some(message.to_owned()),
            device: Some(self.remediator.device()),
            outcome,
        }));
    }
}

fn finish(emitter: &Emitter<'_>, state: RunState, reason: Option<&str>) -> RunState {
    emitter.emit(EventData::RunFinished(RunFinished {
        state,
        reason: reason.map(str::to_owned),
    }));
    state
}

/// Builds a run's events: assigns `seq` and `ts`, and hands them to the sink.
struct Emitter<'a> {
    run: RunId,
    next_seq: Mutex<u64>,
    sink: &'a dyn EventSink,
}

impl Emitter<'_> {
    fn emit(&self, data: EventData) {
        // Holding the lock across `sink.emit` keeps events in seq order even when a check
        // reports progress from another task.
        let Ok(mut next) = self.next_seq.lock() else { return };
        let event = Event {
            v: PROTOCOL_VERSION,
            run: self.run,
            seq: *next,
            ts: Timestamp::now(),
            data,
        };
        *next += 1;
        self.sink.emit(event);
    }
}

struct StepReporter<'a> {
    emitter: &'a Emitter<'a>,
    estimator: &'a Mutex<ProgressEstimator>,
    clock: Instant,
    index: usize,
    check: CheckId,
    last_report: Mutex<Option<(Instant, f64)>>,
    /// A re-test reports no progress.
    live: bool,
}

impl StepReporter<'_> {
    fn emit_progress(&self, fraction: Option<f64>, metrics: Vec<Metric>, progress: Progress) {
        let step_fraction = fraction
            .or_else(|| self.last_report.lock().ok().and_then(|l| l.map(|(_, f)| f)))
            .unwrap_or(0.0);
        self.emitter.emit(EventData::StepProgress(StepProgress {
            index: self.index,
            check: self.check,
            fraction: step_fraction,
            metrics,
            progress,
        }));
    }
}

impl ProgressSink for StepReporter<'_> {
    fn report(&self, fraction: f64, metrics: Vec<Metric>) {
        if !self.live {
            return;
        }
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Every report counts for the estimate (each probe's outcome); clients get them at
        // most every MIN_REPORT_INTERVAL.
        with(self.estimator, |e| {
            e.observe(self.index, fraction, &metrics, ms(self.clock));
        });
        {
            let Ok(mut last) = self.last_report.lock() else { return };
            if last.is_some_and(|(at, _)| at.elapsed() < MIN_REPORT_INTERVAL) && fraction < 1.0 {
                return;
            }
            *last = Some((Instant::now(), fraction));
        }
        let progress = with(self.estimator, |e| e.estimate(ms(self.clock)));
        self.emit_progress(Some(fraction), metrics, progress);
    }
}

fn with<T>(estimator: &Mutex<ProgressEstimator>, f: impl FnOnce(&mut ProgressEstimator) -> T) -> T {
    // A poisoned estimator only means a panic elsewhere mid-update; its numbers are still sane.
    let mut guard = estimator.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}

fn ms(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::BoxFuture;
    use sonde_protocol::{PlanStep, RunReport};

    /// A check set whose behaviour per check is scripted.
    struct Scripted;

    impl Checks for Scripted {
        fn run<'a>(&'a self, check: CheckId, progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
            Box::pin(async move {
                match check {
                    CheckId::Link => {
                        for i in 1..=4 {
                            tokio::time::sleep(Duration::from_millis(120)).await;
                            progress.report(f64::from(i) / 4.0, vec![Metric::new("rtt_ms", 1.5)]);
                        }
                        CheckResult {
                            id: check,
                            status: CheckStatus::Pass,
                            reason: None,
                            metrics: vec![Metric::new("interfaces_up", 1u64)],
                            duration_ms: 480,
                            samples: None,
                        }
                    }
                    CheckId::Gateway => panic!("scripted panic"),
                    CheckId::Dns => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        unreachable!("the runner times this out")
                    }
                    _ => std::future::pending().await,
                }
            })
        }
    }

    #[derive(Default)]
    struct Collect(Mutex<Vec<Event>>);

    impl EventSink for Collect {
        fn emit(&self, event: Event) {
            self.0.lock().expect("test sink").push(event);
        }
    }

    fn spec(steps: &[(CheckId, u64)]) -> RunSpec {
        let total: u64 = steps.iter().map(|(_, e)| e).sum();
        RunSpec {
            run: RunId::new(),
            request: RunRequest::default(),
            plan: Plan {
                steps: steps
                    .iter()
                    .map(|(check, est)| PlanStep {
                        check: *check,
                        weight: *est as f64 / total as f64,
                        estimated_ms: *est,
                        timeout_ms: 600,
                        after: None,
                    })
                    .collect(),
                estimated_ms: total,
            },
            profile: Profile::default(),
            timings: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_panic_and_a_timeout_do_not_abort_the_run() {
        let spec = spec(&[(CheckId::Link, 400), (CheckId::Gateway, 100), (CheckId::Dns, 100)]);
        let sink = Collect::default();
        let state = execute(spec.clone(), &Scripted, &sink, CancellationToken::new()).await;
        assert_eq!(state, RunState::Completed);
        let events = sink.0.into_inner().expect("events");

        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "seq counts from 1 without gaps"
        );
        assert_eq!(events[0].type_name(), "run_started");
        assert_eq!(events.last().map(Event::type_name), Some("run_finished"));

        let mut report = RunReport::new(spec.run, RunRequest::default(), events[0].ts);
        events.iter().for_each(|e| report.apply(e));
        let statuses: Vec<_> = report.checks.iter().map(|c| (c.id, c.status)).collect();
        assert_eq!(
            statuses,
            vec![
                (CheckId::Link, CheckStatus::Pass),
                (CheckId::Gateway, CheckStatus::Error),
                (CheckId::Dns, CheckStatus::Error),
            ]
        );
        assert!(
            report.checks[2]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("timed out"))
        );
        assert!(report.diagnosis.is_some());

        let fractions: Vec<f64> = events
            .iter()
            .filter_map(|e| e.data.progress())
            .map(|p| p.fraction)
            .collect();
        assert!(
            fractions.windows(2).all(|w| w[1] >= w[0]),
            "progress is monotonic: {fractions:?}"
        );
        assert_eq!(fractions.last().copied(), Some(1.0));
        let live = events
            .iter()
            .filter(|e| matches!(&e.data, EventData::StepProgress(p) if !p.metrics.is_empty()))
            .count();
        assert!(live >= 3, "live metrics reach the stream: {live}");
    }

    /// Each check passes after a set time.
    struct Timed;

    impl Checks for Timed {
        fn run<'a>(&'a self, check: CheckId, _progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
            Box::pin(async move {
                let ms = match check {
                    CheckId::Gateway => 300,
                    CheckId::Dns | CheckId::Http => 100,
                    _ => 10,
                };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                CheckResult {
                    id: check,
                    status: CheckStatus::Pass,
                    reason: None,
                    metrics: Vec::new(),
                    duration_ms: ms,
                    samples: None,
                }
            })
        }
    }

    #[tokio::test]
    async fn steps_the_plan_puts_side_by_side_run_at_the_same_time() {
        let mut spec = spec(&[
            (CheckId::Gateway, 300),
            (CheckId::Dns, 100),
            (CheckId::Http, 100),
            (CheckId::System, 10),
        ]);
        for step in &mut spec.plan.steps {
            step.timeout_ms = 5_000;
        }
        spec.plan.steps[1].after = Some(Vec::new());
        spec.plan.steps[2].after = Some(vec![1]);
        let sink = Collect::default();
        let started = Instant::now();
        let state = execute(spec.clone(), &Timed, &sink, CancellationToken::new()).await;
        let took = started.elapsed();
        assert_eq!(state, RunState::Completed);
        // DNS then HTTP (200 ms) beside the gateway (300 ms), then the last step: not 510 ms.
        assert!(took < Duration::from_millis(450), "{took:?}");

        let events = sink.0.into_inner().expect("events");
        let steps: Vec<(&str, usize)> = events
            .iter()
            .filter_map(|e| match &e.data {
                EventData::StepStarted(s) => Some(("started", s.index)),
                EventData::StepFinished(s) => Some(("finished", s.index)),
                _ => None,
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                ("started", 0),
                ("started", 1),
                ("finished", 1),
                ("started", 2),
                ("finished", 2),
                ("finished", 0),
                ("started", 3),
                ("finished", 3),
            ]
        );
        let fractions: Vec<f64> = events
            .iter()
            .filter_map(|e| e.data.progress())
            .map(|p| p.fraction)
            .collect();
        assert!(fractions.windows(2).all(|w| w[1] >= w[0]), "{fractions:?}");
        assert_eq!(fractions.last().copied(), Some(1.0));

        // The report keeps the plan's order, whatever order the steps ended in.
        let mut report = RunReport::new(spec.run, RunRequest::default(), events[0].ts);
        events.iter().for_each(|e| report.apply(e));
        let checks: Vec<CheckId> = report.checks.iter().map(|c| c.id).collect();
        assert_eq!(
            checks,
            vec![CheckId::Gateway, CheckId::Dns, CheckId::Http, CheckId::System]
        );
    }

    #[tokio::test]
    async fn cancel_ends_the_run_within_a_second() {
        let spec = spec(&[(CheckId::Wifi, 100)]);
        let sink = Collect::default();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let started = Instant::now();
        let mut spec = spec;
        spec.plan.steps[0].timeout_ms = 60_000;
        let state = execute(spec, &Scripted, &sink, cancel).await;
        assert_eq!(state, RunState::Canceled);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        let events = sink.0.into_inner().expect("events");
        assert!(matches!(
            &events.last().expect("events").data,
            EventData::RunFinished(RunFinished {
                state: RunState::Canceled,
                ..
            })
        ));
    }

    /// A line whose checks all pass, and a modem that records the actions it performs.
    #[derive(Default)]
    struct HealthyModem {
        performed: Mutex<Vec<ModemAction>>,
    }

    impl Checks for HealthyModem {
        fn run<'a>(&'a self, check: CheckId, _progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
            Box::pin(async move {
                CheckResult {
                    id: check,
                    status: CheckStatus::Pass,
                    reason: None,
                    metrics: vec![
                        Metric::new("interfaces_up", 1u64),
                        Metric::new("default_route_v4", true),
                    ],
                    duration_ms: 1,
                    samples: None,
                }
            })
        }

        fn remediator(&self) -> Option<&dyn Remediator> {
            Some(self)
        }
    }

    impl Remediator for HealthyModem {
        fn available(&self) -> Vec<ModemAction> {
            vec![ModemAction::ReconnectData]
        }

        fn device(&self) -> String {
            "modem 192.0.2.1:502".to_owned()
        }

        fn perform(&self, action: ModemAction) -> BoxFuture<'_, Result<(), String>> {
            self.performed.lock().expect("test modem").push(action);
            Box::pin(async { Ok(()) })
        }

        fn settle_time(&self, _action: ModemAction) -> Duration {
            Duration::ZERO
        }
    }

    #[tokio::test]
    async fn a_requested_action_runs_on_a_healthy_line_and_is_judged_by_the_re_test() {
        let mut spec = spec(&[(CheckId::Link, 100)]);
        spec.request.problem = sonde_protocol::ProblemKind::Mobile;
        spec.request.options.action = Some("reconnect_data_session".to_owned());
        let (sink, modem) = (Collect::default(), HealthyModem::default());
        let state = execute(spec.clone(), &modem, &sink, CancellationToken::new()).await;
        assert_eq!(state, RunState::Completed);
        assert_eq!(
            *modem.performed.lock().expect("performed"),
            [ModemAction::ReconnectData]
        );
        let events = sink.0.into_inner().expect("events");
        let actions: Vec<(ActionState, Option<&str>, Option<RemediationOutcome>)> = events
            .iter()
            .filter_map(|e| match &e.data {
                EventData::Action(a) => Some((a.state, a.message.as_deref(), a.outcome)),
                _ => None,
            })
            .collect();
        // Not `proposed`: the diagnosis proposed nothing; the request asked for it.
        assert_eq!(
            actions,
            [
                (ActionState::Confirmed, Some("requested by the client"), None),
                (ActionState::Started, Some("performing the action"), None),
                (
                    ActionState::Succeeded,
                    Some("done; waiting for the device, then re-testing"),
                    None
                ),
                (
                    ActionState::Succeeded,
                    Some("service restored"),
                    Some(RemediationOutcome::Restored)
                ),
            ]
        );
        let mut report = RunReport::new(spec.run, RunRequest::default(), events[0].ts);
        events.iter().for_each(|e| report.apply(e));
        let remediation = report.remediation.expect("a remediation");
        assert!(remediation.before.is_some_and(|d| d.healthy), "healthy before");
        assert!(report.diagnosis.is_some_and(|d| d.healthy), "healthy after");

        // Without the request, a healthy line gets no action at all.
        spec.request.options.action = None;
        spec.request.options.confirm_actions = true;
        let (sink, modem) = (Collect::default(), HealthyModem::default());
        execute(spec, &modem, &sink, CancellationToken::new()).await;
        assert!(modem.performed.lock().expect("performed").is_empty());
        let events = sink.0.into_inner().expect("events");
        assert!(!events.iter().any(|e| matches!(e.data, EventData::Action(_))));
    }
}
