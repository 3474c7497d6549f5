//! The progress estimate: a pure function of the plan, what has happened, and the time.
//!
//! Honest means: it never goes backwards, it does not claim a step done before the step says
//! so, and the ETA follows the pace the run actually keeps.

use sonde_protocol::{Plan, Progress};

/// Tracks one run's progress. Times are milliseconds since the run started.
#[derive(Clone, Debug)]
pub struct ProgressEstimator {
    steps: Vec<(f64, u64)>,
    done_weight: f64,
    done_estimated_ms: u64,
    done_actual_ms: u64,
    current: Option<Current>,
    last_fraction: f64,
}

#[derive(Clone, Copy, Debug)]
struct Current {
    index: usize,
    started_ms: u64,
    reported: f64,
    /// When `reported` was last raised, in ms since the run started.
    reported_at_ms: u64,
}

/// A step judged by time alone is never shown more than this much done.
const TIME_ONLY_CAP: f64 = 0.9;
/// Share of a step that its estimated duration accounts for, when judged by time alone.
const AT_ESTIMATE: f64 = 0.6;

/// How much of a step is done, judged by time alone: linear up to its estimate, then slowing
/// down towards [`TIME_ONLY_CAP`]. Steps that hit trouble (timeouts) overrun their estimates,
/// and a bar that raced to the end of such a step would then sit still.
fn by_time(elapsed: f64, expected: f64) -> f64 {
    if elapsed <= expected {
        AT_ESTIMATE * elapsed / expected
    } else {
        let overrun = (elapsed - expected) / (2.0 * expected);
        AT_ESTIMATE + (TIME_ONLY_CAP - AT_ESTIMATE) * (1.0 - (-overrun).exp())
    }
}

impl ProgressEstimator {
    /// An estimator for `plan`, at the start of the run.
    pub fn new(plan: &Plan) -> Self {
        Self {
            steps: plan.steps.iter().map(|s| (s.weight, s.estimated_ms)).collect(),
            done_weight: 0.0,
            done_estimated_ms: 0,
            done_actual_ms: 0,
            current: None,
            last_fraction: 0.0,
        }
    }

    /// Step `index` started at `now_ms`.
    pub fn start_step(&mut self, index: usize, now_ms: u64) -> Progress {
        self.current = Some(Current {
            index,
            started_ms: now_ms,
            reported: 0.0,
            reported_at_ms: now_ms,
        });
        self.estimate(now_ms)
    }

    /// The running step reported `fraction` done at `now_ms`.
    pub fn step_progress(&mut self, fraction: f64, now_ms: u64) -> Progress {
        if let Some(current) = self.current.as_mut().filter(|_| fraction.is_finite()) {
            let fraction = fraction.clamp(0.0, 1.0);
            if fraction > current.reported {
                current.reported = fraction;
                current.reported_at_ms = now_ms;
            }
        }
        self.estimate(now_ms)
    }

    /// The running step finished at `now_ms`.
    pub fn finish_step(&mut self, now_ms: u64) -> Progress {
        if let Some(current) = self.current.take() {
            let (weight, estimated) = self.steps.get(current.index).copied().unwrap_or((0.0, 0));
            self.done_weight += weight;
            self.done_estimated_ms += estimated;
            self.done_actual_ms += now_ms.saturating_sub(current.started_ms);
        }
        self.estimate(now_ms)
    }

    /// The estimate at `now_ms`.
    pub fn estimate(&mut self, now_ms: u64) -> Progress {
        // Observed pace of finished steps (actual / estimated), bounded so one outlier does
        // not swing the ETA wildly.
        let pace = if self.done_estimated_ms > 0 {
            (self.done_actual_ms as f64 / self.done_estimated_ms as f64).clamp(0.5, 3.0)
        } else {
            1.0
        };
        let next = self.current.map_or(self.next_unstarted(), |c| c.index + 1);
        let future_ms: f64 = self.steps.iter().skip(next).map(|(_, e)| *e as f64).sum::<f64>() * pace;

        let (current_weight, current_fraction, current_left_ms) = match self.current {
            Some(c) => {
                let (weight, estimated) = self.steps.get(c.index).copied().unwrap_or((0.0, 0));
                let elapsed = now_ms.saturating_sub(c.started_ms) as f64;
                let expected = (estimated as f64 * pace).max(1.0);
                let fraction = c.reported.max(by_time(elapsed, expected)).min(0.99);
                // Past its estimate a silent step is likely waiting on a timeout: assume it is
                // two thirds done rather than about to end.
                let by_estimate = (expected - elapsed).max(elapsed * 0.5);
                let left = if c.reported > 0.0 {
                    // The pace of the step's own reports, counted down since the last one,
                    // trusted more as the step reports more of itself done.
                    let at = c.reported_at_ms.saturating_sub(c.started_ms) as f64;
                    let since = elapsed - at;
                    let by_reports = (at * (1.0 - c.reported) / c.reported - since).max(0.0);
                    c.reported * by_reports + (1.0 - c.reported) * by_estimate
                } else {
                    by_estimate
                };
                (weight, fraction, left)
            }
            None => (0.0, 0.0, 0.0),
        };
        let fraction = (self.done_weight + current_weight * current_fraction).clamp(0.0, 1.0);
        self.last_fraction = self.last_fraction.max(fraction);
        Progress {
            fraction: self.last_fraction,
            eta_ms: Some((current_left_ms + future_ms).round() as u64),
        }
    }

    fn next_unstarted(&self) -> usize {
        // Without a running step, the finished steps are a prefix of the plan: their weights
        // tell how many.
        let mut weight = 0.0;
        for (i, (w, _)) in self.steps.iter().enumerate() {
            if weight >= self.done_weight - 1e-9 {
                return i;
            }
            weight += w;
        }
        self.steps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::{CheckId, PlanStep};

    fn plan(estimates: &[u64]) -> Plan {
        let total: u64 = estimates.iter().sum();
        Plan {
            steps: estimates
                .iter()
                .map(|e| PlanStep {
                    check: CheckId::Dns,
                    weight: *e as f64 / total as f64,
                    estimated_ms: *e,
                    timeout_ms: e * 3,
                })
                .collect(),
            estimated_ms: total,
        }
    }

    #[test]
    fn fraction_is_monotonic_and_reaches_one_only_when_steps_finish() {
        let mut p = ProgressEstimator::new(&plan(&[1000, 3000]));
        let mut last = 0.0;
        let mut check = |progress: Progress| {
            assert!(progress.fraction >= last, "{} < {last}", progress.fraction);
            assert!((0.0..=1.0).contains(&progress.fraction));
            last = progress.fraction;
            progress
        };
        check(p.start_step(0, 0));
        // A step overrunning its estimate stalls below its end instead of running ahead.
        let stalled = check(p.estimate(5000));
        assert!(stalled.fraction < 0.25, "{}", stalled.fraction);
        check(p.step_progress(0.5, 5100));
        check(p.step_progress(0.2, 5200)); // a lower report does not move the bar back
        let done = check(p.finish_step(6000));
        assert!((done.fraction - 0.25).abs() < 1e-9);
        check(p.start_step(1, 6000));
        check(p.estimate(7000));
        let end = check(p.finish_step(9000));
        assert!((end.fraction - 1.0).abs() < 1e-9);
        assert_eq!(end.eta_ms, Some(0));
    }

    #[test]
    fn eta_follows_the_observed_pace() {
        let mut p = ProgressEstimator::new(&plan(&[1000, 1000, 1000]));
        p.start_step(0, 0);
        assert_eq!(p.estimate(0).eta_ms, Some(3000));
        p.finish_step(2000); // twice slower than estimated
        let at = p.start_step(1, 2000);
        assert_eq!(at.eta_ms, Some(4000), "two steps left at twice the estimate");
    }

    #[test]
    fn reported_fraction_drives_the_step_eta() {
        let mut p = ProgressEstimator::new(&plan(&[1000]));
        p.start_step(0, 0);
        let half = p.step_progress(0.5, 400);
        // Half by its reports (400 ms more at that pace), half by its estimate (600 ms left).
        assert_eq!(half.eta_ms, Some(500));
        // Without news, the count-down goes on rather than the estimate growing.
        let later = p.estimate(600);
        assert!(later.eta_ms < half.eta_ms, "{later:?}");
        assert!((half.fraction - 0.5).abs() < 1e-9);
    }
}
