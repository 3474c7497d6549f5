//! Presentation: the live progress bar, and the report in plain language.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sonde_agent::texts::texts;
use sonde_protocol::{Audience, CheckId, Event, EventData, Lang, RunReport, RunState, Threshold, TicketState};

use crate::eta::EtaClamp;
use crate::steps::RunningSteps;

/// Shows a run's progress on stderr while it runs (when stderr is a terminal).
#[derive(Debug)]
pub struct Presenter {
    lang: Lang,
    bar: ProgressBar,
    /// Keeps the shown ETA from jumping backwards (see [`EtaClamp`]).
    eta: Mutex<EtaClamp>,
    /// The steps running now (several when the runner runs them at the same time), and the ETA
    /// text last shown beside them.
    steps: Mutex<(RunningSteps, String)>,
    epoch: Instant,
}

const BAR_LENGTH: u64 = 1000;

impl Presenter {
    /// A presenter; `live` draws the progress bar.
    pub fn new(lang: Lang, live: bool) -> Self {
        let bar = if live {
            let bar = ProgressBar::with_draw_target(Some(BAR_LENGTH), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} [{bar:32}] {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(texts(lang).message("ui-running", &[]));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            lang,
            bar,
            eta: Mutex::new(EtaClamp::default()),
            steps: Mutex::new((RunningSteps::default(), String::new())),
            epoch: Instant::now(),
        }
    }

    /// Updates the display for one event.
    pub fn on_event(&self, event: &Event) {
        let t = texts(self.lang);
        let step_event = matches!(event.data, EventData::StepStarted(_) | EventData::StepProgress(_));
        let mut steps = self.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (running, eta_text) = &mut *steps;
        let changed = running.apply(&event.data);
        if let Some(progress) = event.data.progress() {
            // The agent's fraction never decreases; `max` also guards the bar against a
            // replayed, older event.
            let position = (progress.fraction.clamp(0.0, 1.0) * BAR_LENGTH as f64).round() as u64;
            self.bar.set_position(self.bar.position().max(position));
            if step_event {
                let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                *eta_text = progress
                    .eta_ms
                    .map(|ms| match self.eta.lock() {
                        Ok(mut clamp) => clamp.update(now, ms),
                        Err(_) => ms,
                    })
                    .map(|ms| t.message("ui-eta", &[("seconds", (ms.div_ceil(1000)).into())]))
                    .unwrap_or_default();
            }
            // A step that ends while others run leaves the bar naming those (with the ETA last
            // shown); when the last one ends, the names stay until the next step starts.
            if step_event || changed {
                self.bar
                    .set_message(format!("{} — {eta_text}", running.label(self.lang)));
            }
        }
        drop(steps);
        if let EventData::Ticket(ticket) = &event.data {
            // The ticket's number and the SMS come while the person waits: say so as they do.
            let line = match (ticket.state, ticket.ticket_number.as_deref()) {
                (TicketState::Queued, _) if ticket.last_error.is_none() => Some(t.message("ui-ticket-queued", &[])),
                (TicketState::Acknowledged, Some(number)) => {
                    Some(t.message("ui-ticket-acknowledged", &[("number", number.into())]))
                }
                (TicketState::SmsSent, _) => Some(t.message("ui-ticket-sms", &[])),
                _ => None,
            };
            if let Some(line) = line {
                self.bar.println(line);
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One line on the remediation action: proposed, declined, or its outcome with the before /
/// after comparison.
fn remediation_text(remediation: &sonde_protocol::Remediation, lang: Lang) -> String {
    use sonde_protocol::{ActionState, RemediationOutcome};
    let before = remediation
        .before
        .as_ref()
        .map(|d| d.summary.as_str())
        .unwrap_or_default();
    let en = lang == Lang::En;
    let action = &remediation.action;
    match (remediation.outcome, remediation.state) {
        (Some(RemediationOutcome::Restored), _) if en => {
            format!("Action `{action}`: service restored (before: {before})")
        }
        (Some(RemediationOutcome::Restored), _) => format!("Action `{action}` : service rétabli (avant : {before})"),
        (Some(RemediationOutcome::NotRestored), _) if en => {
            format!("Action `{action}`: service not restored (before: {before}); the operator must act")
        }
        (Some(RemediationOutcome::NotRestored), _) => {
            format!("Action `{action}` : service non rétabli (avant : {before}) ; l'opérateur doit intervenir")
        }
        (_, ActionState::Declined) if en => {
            format!("Proposed action `{action}` not confirmed (run again with --yes to perform it)")
        }
        (_, ActionState::Declined) => {
            format!("Action proposée `{action}` non confirmée (relancez avec --yes pour l'effectuer)")
        }
        (_, state) => format!("`{action}`: {}", state.as_str()),
    }
}

/// The localised name of a step.
pub fn step_name(lang: Lang, check: CheckId) -> String {
    texts(lang).message(&format!("check-{check}"), &[])
}

/// The report as text for a person: the diagnosis in one sentence, what to do, then the
/// evidence and every check.
pub fn report_text(report: &RunReport, lang: Lang) -> String {
    headline_text(report, lang, false) + &evidence_text(report, lang)
}

/// The diagnosis in one sentence (bold, red or green with `color`), what to do, and the run's
/// state when it did not complete.
pub fn headline_text(report: &RunReport, lang: Lang, color: bool) -> String {
    let t = texts(lang);
    let mut out = String::new();
    let _ = writeln!(out);
    match &report.diagnosis {
        Some(diagnosis) => {
            let summary = if color {
                let tint = if diagnosis.healthy { "32" } else { "31" };
                format!("\x1b[1;{tint}m{}\x1b[0m", diagnosis.summary)
            } else {
                diagnosis.summary.clone()
            };
            let _ = writeln!(out, "{}", t.message("ui-diagnosis", &[("summary", summary.into())]));
            let root = diagnosis.findings.iter().find(|f| f.root_cause);
            if let Some(root) = root {
                let _ = writeln!(out, "\n{}", t.message("ui-what-to-do", &[]));
                for advice in root.actions.iter().filter(|a| a.audience == Audience::Customer) {
                    let _ = writeln!(out, "  • {}", advice.text);
                }
                if diagnosis.operator_must_act {
                    let _ = writeln!(out, "  • {}", t.message("ui-operator-acts", &[]));
                }
                let ticket = report.ticket.as_ref().filter(|t| t.state != TicketState::Rejected);
                match ticket.map(|t| t.ticket_number.as_deref()) {
                    Some(Some(number)) => {
                        let _ = writeln!(
                            out,
                            "  • {}",
                            t.message("ui-ticket-number", &[("number", number.into())])
                        );
                    }
                    Some(None) => {
                        let _ = writeln!(out, "  • {}", t.message("ui-ticket-queued", &[]));
                    }
                    None => {}
                }
            }
            if let Some(remediation) = &report.remediation {
                let _ = writeln!(out, "\n{}", remediation_text(remediation, lang));
            }
        }
        None => {
            let _ = writeln!(
                out,
                "{}",
                t.message("ui-run-state", &[("state", report.state.as_str().into())])
            );
        }
    }
    if report.state != RunState::Completed {
        let reason = report.reason.as_deref().unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {reason}",
            t.message("ui-run-state", &[("state", report.state.as_str().into())])
        );
    }
    out
}

/// The technical details: each finding with its evidence and the technician's advice, every
/// check's status, and the run id.
pub fn evidence_text(report: &RunReport, lang: Lang) -> String {
    let t = texts(lang);
    let mut out = String::new();
    if let Some(diagnosis) = &report.diagnosis {
        if !diagnosis.findings.is_empty() {
            let _ = writeln!(out, "\n{}", t.message("ui-evidence", &[]));
        }
        for f in &diagnosis.findings {
            let _ = writeln!(
                out,
                "  [{}] {} · {} · {} · {}",
                f.code,
                f.severity.as_str(),
                f.segment.as_str(),
                f.actor.as_str(),
                f.confidence.as_str()
            );
            let _ = writeln!(out, "    {}", f.detail);
            for e in &f.evidence {
                let threshold = threshold_text(e.threshold);
                let _ = writeln!(out, "    {}.{} = {}{threshold}", e.check, e.metric, e.value);
            }
            for advice in f.actions.iter().filter(|a| a.audience == Audience::Technician) {
                let _ = writeln!(out, "    → {}", advice.text);
            }
        }
    }
    let _ = writeln!(out, "\n{}", t.message("ui-checks", &[]));
    for check in &report.checks {
        let reason = check.reason.as_deref().map(|r| format!("  {r}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<28} {:<8} {:>6} ms{reason}",
            step_name(lang, check.id),
            check.status.as_str(),
            check.duration_ms
        );
    }
    let _ = writeln!(out, "\nrun {}", report.run);
    out
}

/// A threshold as ` (warn W, fail F)`, or nothing when there is none.
pub fn threshold_text(threshold: Option<Threshold>) -> String {
    threshold
        .map(|th| {
            let parts: Vec<String> = [("warn", th.warn), ("fail", th.fail)]
                .iter()
                .filter_map(|(n, v)| v.map(|v| format!("{n} {v}")))
                .collect();
            format!(" ({})", parts.join(", "))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use sonde_protocol::{RunId, Timestamp};

    use super::*;
    use crate::steps::tests::{finished, progressed, started};

    fn event(seq: u64, data: EventData) -> Event {
        Event {
            v: 1,
            run: RunId::new(),
            seq,
            ts: Timestamp::UNIX_EPOCH,
            data,
        }
    }

    /// The bar's message after each event: the running steps in plan order, then the ETA (the
    /// FSI/PDI marks Fluent puts around placeables removed).
    #[test]
    fn the_bar_names_every_running_step_in_plan_order() {
        use CheckId::{Dns, Gateway, InternetLatency};
        let presenter = Presenter::new(Lang::En, false);
        let cases = [
            (started(0, Gateway, 9000), "Box response — about 9 s left"),
            (
                started(2, Dns, 8000),
                "Box response · Site directory (DNS) — about 8 s left",
            ),
            (
                started(1, InternetLatency, 7000),
                "Box response · Internet response time · Site directory (DNS) — about 7 s left",
            ),
            (
                progressed(2, Dns, 6000),
                "Box response · Internet response time · Site directory (DNS) — about 6 s left",
            ),
            // The ETA moves only with step events, as before; the names follow the set.
            (
                finished(0, Gateway, 1000),
                "Internet response time · Site directory (DNS) — about 6 s left",
            ),
            (finished(2, Dns, 500), "Internet response time — about 6 s left"),
            (
                finished(1, InternetLatency, 0),
                "Internet response time — about 6 s left",
            ),
            // A re-test's result without `step_started` changes nothing.
            (
                finished(1, InternetLatency, 0),
                "Internet response time — about 6 s left",
            ),
        ];
        for (seq, (data, expected)) in cases.into_iter().enumerate() {
            presenter.on_event(&event(seq as u64 + 1, data));
            let shown = presenter.bar.message().replace(['\u{2068}', '\u{2069}'], "");
            assert_eq!(shown, expected, "after event {}", seq + 1);
        }
    }
}
