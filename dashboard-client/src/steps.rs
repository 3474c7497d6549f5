//! The steps of a run that are running now, for the progress bar and the dashboard.
//!
//! A runner may run steps at the same time (DNS and HTTP beside the gateway and Internet
//! latency probes): their events interleave — `step_started` A, `step_started` B,
//! `step_progress` A, `step_finished` B… — each naming its plan `index`. So a client keeps the
//! set of running steps by index, not one "current step", and shows them all in plan order.

use std::collections::BTreeMap;

use sonde_protocol::{CheckId, EventData, Lang};

use crate::render::step_name;

/// Steps running now, by plan index, and what the label last showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunningSteps {
    /// By plan index, so iteration is in plan order.
    running: BTreeMap<usize, CheckId>,
    /// The running steps as last shown while any ran: between one step's end and the next
    /// one's start the label keeps them, rather than flickering to nothing.
    shown: Vec<CheckId>,
}

impl RunningSteps {
    /// Takes one event in; returns whether the set of running steps changed.
    pub fn apply(&mut self, data: &EventData) -> bool {
        let changed = match data {
            EventData::RunStarted(_) | EventData::RunFinished(_) => {
                self.shown.clear();
                !std::mem::take(&mut self.running).is_empty()
            }
            EventData::StepStarted(step) => self.running.insert(step.index, step.check) != Some(step.check),
            // A client that joined mid-step learns of it from its progress.
            EventData::StepProgress(step) => self.running.insert(step.index, step.check) != Some(step.check),
            // A re-test's results come without `step_started`: removing nothing is fine.
            EventData::StepFinished(step) => self.running.remove(&step.index).is_some(),
            _ => false,
        };
        if !self.running.is_empty() {
            self.shown = self.running.values().copied().collect();
        }
        changed
    }

    /// Whether `check` is running now.
    pub fn contains(&self, check: CheckId) -> bool {
        self.running.values().any(|c| *c == check)
    }

    /// The steps running now, in plan order.
    #[cfg(test)]
    pub fn checks(&self) -> Vec<CheckId> {
        self.running.values().copied().collect()
    }

    /// The running steps' names in plan order, joined (`Passerelle · DNS`); between two steps,
    /// the last ones shown. Empty before the first step and after the run.
    pub fn label(&self, lang: Lang) -> String {
        self.shown
            .iter()
            .map(|check| step_name(lang, *check))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sonde_protocol::{
        CheckResult, CheckStatus, Plan, Progress, RunFinished, RunRequest, RunStarted, RunState, StepFinished,
        StepProgress, StepStarted,
    };

    use super::*;

    fn progress(fraction: f64, eta_ms: u64) -> Progress {
        Progress {
            fraction,
            eta_ms: Some(eta_ms),
        }
    }

    pub(crate) fn started(index: usize, check: CheckId, eta_ms: u64) -> EventData {
        EventData::StepStarted(StepStarted {
            index,
            check,
            progress: progress(0.1, eta_ms),
        })
    }

    pub(crate) fn progressed(index: usize, check: CheckId, eta_ms: u64) -> EventData {
        EventData::StepProgress(StepProgress {
            index,
            check,
            fraction: 0.5,
            metrics: Vec::new(),
            progress: progress(0.5, eta_ms),
        })
    }

    pub(crate) fn finished(index: usize, check: CheckId, eta_ms: u64) -> EventData {
        EventData::StepFinished(StepFinished {
            index,
            result: CheckResult {
                id: check,
                status: CheckStatus::Pass,
                reason: None,
                metrics: Vec::new(),
                duration_ms: 1,
                samples: None,
            },
            progress: progress(0.6, eta_ms),
        })
    }

    fn run_started() -> EventData {
        EventData::RunStarted(RunStarted {
            request: RunRequest::default(),
            plan: Plan {
                steps: Vec::new(),
                estimated_ms: 0,
            },
            agent_version: "test".to_owned(),
        })
    }

    #[test]
    fn interleaved_steps_show_together_in_plan_order_without_flicker() {
        use CheckId::{Dns, Gateway, Http, Link};
        let mut steps = RunningSteps::default();
        // (event, set changed, running after, label after)
        let cases: Vec<(EventData, bool, Vec<CheckId>, &str)> = vec![
            (run_started(), false, vec![], ""),
            (started(0, Link, 5000), true, vec![Link], "Network connection"),
            (finished(0, Link, 4000), true, vec![], "Network connection"),
            // Started out of plan order: shown in plan order.
            (started(3, Http, 4000), true, vec![Http], "Web access"),
            (
                started(1, Gateway, 4000),
                true,
                vec![Gateway, Http],
                "Box response · Web access",
            ),
            (
                progressed(3, Http, 3000),
                false,
                vec![Gateway, Http],
                "Box response · Web access",
            ),
            (
                started(2, Dns, 3000),
                true,
                vec![Gateway, Dns, Http],
                "Box response · Site directory (DNS) · Web access",
            ),
            (
                progressed(1, Gateway, 3000),
                false,
                vec![Gateway, Dns, Http],
                "Box response · Site directory (DNS) · Web access",
            ),
            (
                finished(3, Http, 2000),
                true,
                vec![Gateway, Dns],
                "Box response · Site directory (DNS)",
            ),
            (finished(1, Gateway, 1000), true, vec![Dns], "Site directory (DNS)"),
            (finished(2, Dns, 0), true, vec![], "Site directory (DNS)"),
            // A re-test streams results only: nothing to remove, nothing breaks.
            (finished(1, Gateway, 0), false, vec![], "Site directory (DNS)"),
            (
                EventData::RunFinished(RunFinished {
                    state: RunState::Completed,
                    reason: None,
                }),
                false,
                vec![],
                "",
            ),
        ];
        for (i, (event, changed, running, label)) in cases.into_iter().enumerate() {
            assert_eq!(steps.apply(&event), changed, "event {i}");
            assert_eq!(steps.checks(), running, "event {i}");
            assert_eq!(steps.label(Lang::En), label, "event {i}");
        }
        assert!(!steps.contains(Dns));
    }

    #[test]
    fn a_stream_joined_mid_step_learns_the_step_from_its_progress() {
        let mut steps = RunningSteps::default();
        assert!(steps.apply(&progressed(4, CheckId::Dns, 100)));
        assert!(steps.contains(CheckId::Dns));
        assert!(steps.apply(&run_started()), "a new run forgets the old one's steps");
        assert!(steps.checks().is_empty());
        assert_eq!(steps.label(Lang::Fr), "");
    }
}
