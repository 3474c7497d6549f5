//! The progress estimate: a pure function of the plan, what the run has observed, and the time.
//!
//! The ETA is what is left of the running step plus what each later step is expected to take.
//! A step's duration comes from its check's configuration ([`StepTiming`], built by `plan.rs`):
//! the pacing of its probes, the round trips it makes one after the other when everything
//! answers (at the RTT the run has measured so far), and the timeouts it waits out when
//! something does not answer. What the run has seen changes what the later steps are expected
//! to take: the RTTs, the loss on the home network and towards the Internet, a missing default
//! route (every send then fails at once), resolvers that timed out (names then time out too). A
//! running step that falls behind its probe schedule, or outlives its healthy duration, is
//! waiting on a timeout, and its part of the ETA counts down to that timeout.
//!
//! The fraction is the elapsed time over the elapsed time plus the ETA, and never goes down:
//! half-way on the bar is half of the run as now expected. When the ETA grows (a timeout shows),
//! the bar holds still until time catches up; when it shrinks, the bar moves on. It reaches 1
//! when the last step finishes, and only then.

use sonde_protocol::{CheckResult, CheckStatus, Metric, MetricValue, Plan, Progress};

/// Which network a step's exchanges cross: which RTT and which loss apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The device itself (netlink, files, the radio driver): no network wait.
    Local,
    /// The home network, up to the box.
    Lan,
    /// Beyond the box: anchors, resolvers, web sites, the measurement server.
    Internet,
}

/// What a step tells about the run, beyond its own duration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    /// Nothing the estimator reads.
    Other,
    /// Reads the routes (`link`): without any default route, every later send fails at once.
    Routes,
    /// Probes on a schedule whose live reports carry each probe's RTT (`rtt_ms`,
    /// `tcp_connect_ms`, missing when lost): the RTT and the loss of its [`Reach`].
    Probes,
    /// Queries resolvers (`dns`, live `latency_ms`, missing when unanswered): when they time
    /// out, names asked later time out too.
    Resolvers,
    /// Resolves names with the system resolver, waiting at most `timeout_ms` (`http`).
    ResolvesNames {
        /// The resolution timeout.
        timeout_ms: f64,
    },
}

/// Probes sent on a schedule: `rounds` per target, `interval_ms` apart, each waiting at most
/// `timeout_ms`. A probe not answered within a few RTTs of its send is taken as lost before its
/// timeout says so.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeSchedule {
    /// Probe streams (targets × methods), each reporting under its own `target`.
    pub streams: u32,
    /// Probes per stream.
    pub rounds: u32,
    /// Time between two probes to one target.
    pub interval_ms: f64,
}

impl ProbeSchedule {
    /// Share of the rounds sent by `t_ms` after the step started.
    fn share_sent_by(&self, t_ms: f64) -> f64 {
        if t_ms < 0.0 || self.rounds == 0 {
            return 0.0;
        }
        let sent = (t_ms / self.interval_ms.max(1e-3)).floor() + 1.0;
        sent.min(f64::from(self.rounds)) / f64::from(self.rounds)
    }
}

/// A stretch of a step whose live fraction runs from `from` to `from + width` in proportion to
/// its time towards `cap_ms` (the throughput check's directions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedPhase {
    /// Fraction reported when the phase starts.
    pub from: f64,
    /// Share of the fraction the phase spans.
    pub width: f64,
    /// How long the phase usually lasts.
    pub typical_ms: f64,
    /// The most it may last.
    pub cap_ms: f64,
}

/// How a step spends its time, from its check's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTiming {
    /// Which network it crosses.
    pub reach: Reach,
    /// What it tells about the run.
    pub role: Role,
    /// Time spent whatever the network does: the pacing of probes, sampling intervals.
    pub paced_ms: f64,
    /// Exchanges made one after the other when everything answers: the healthy duration is
    /// `paced_ms + round_trips × RTT`.
    pub round_trips: f64,
    /// The probe schedule, for steps that send probes on one.
    pub schedule: Option<ProbeSchedule>,
    /// Packets whose loss makes the step wait out a timeout (on a path losing a share `p` of
    /// its packets, one of them is lost with probability `1 − (1 − p)^n`).
    pub exposed_packets: f64,
    /// What the step lasts when one of those packets is lost.
    pub loss_wait_ms: f64,
    /// Where the step ends when something it asks does not answer at all (a dead server, a
    /// silent target), ascending.
    pub waits_ms: Vec<f64>,
    /// What the step lasts when nothing answers (the path is down).
    pub silent_ms: f64,
    /// What the step lasts without any route: every send fails at once, only pacing is left.
    pub unroutable_ms: f64,
    /// Time-reporting phases (empty for most checks).
    pub phases: Vec<TimedPhase>,
}

impl StepTiming {
    /// A step of a known, fixed duration that nothing observed changes.
    pub fn fixed(ms: f64) -> Self {
        Self {
            reach: Reach::Local,
            role: Role::Other,
            paced_ms: ms,
            round_trips: 0.0,
            schedule: None,
            exposed_packets: 0.0,
            loss_wait_ms: ms,
            waits_ms: Vec::new(),
            silent_ms: ms,
            unroutable_ms: ms,
            phases: Vec::new(),
        }
    }

    /// The duration when everything answers after `rtt_ms`.
    fn healthy_ms(&self, rtt_ms: f64) -> f64 {
        STEP_OVERHEAD_MS + self.paced_ms + self.round_trips * rtt_ms
    }

    /// The duration expected before the run has measured anything: a healthy network at the
    /// prior RTTs, plus the allowance for a timeout. What `run_started` publishes.
    pub fn prior_ms(&self) -> f64 {
        ProgressEstimator::new_unchecked(vec![(self.clone(), f64::INFINITY)]).expected_ms(self, 0)
    }
}

/// RTT assumed towards the Internet until one is measured: RIPE Atlas anchors measured from
/// European access networks sit around 10–40 ms.
const PRIOR_INTERNET_RTT_MS: f64 = 20.0;
/// RTT assumed on the home network until one is measured.
const PRIOR_LAN_RTT_MS: f64 = 1.0;
/// What starting and finishing a step costs besides its check (the events, the result); about
/// 1–3 ms measured on the scenario matrix with debug binaries.
const STEP_OVERHEAD_MS: f64 = 2.0;
/// The least probability that a step crossing the network meets one timeout. A lost packet
/// now and then is normal; this keeps the bar from running to its middle before the first
/// replies of a step that crosses the network could show loss. Calibrated on the scenario
/// matrix: 2 % adds about 0.1 s to a healthy "no Internet" plan (of about 2 s).
const TROUBLE_ALLOWANCE: f64 = 0.02;
/// A reply later than two RTTs and this after its probe was sent is counted as lost before its
/// timeout says so (scheduling delays on a busy device are tens of milliseconds).
const LATE_MS: f64 = 50.0;
/// Loss from which a path is taken as down: everything on it times out.
const DOWN_LOSS: f64 = 0.9;

/// Tracks one run's progress. Times are milliseconds since the run started.
#[derive(Clone, Debug)]
pub struct ProgressEstimator {
    /// Each step's timing and the runner's timeout for it.
    steps: Vec<(StepTiming, f64)>,
    /// Steps finished (they run in plan order).
    finished: usize,
    current: Option<Current>,
    seen: Evidence,
    last_fraction: f64,
}

/// What the run has observed that bears on the steps still to come.
#[derive(Clone, Copy, Debug, Default)]
struct Evidence {
    lan_rtt_ms: Option<f64>,
    internet_rtt_ms: Option<f64>,
    lan_loss: f64,
    internet_loss: f64,
    /// No default route: sends fail at once.
    unroutable: bool,
    /// The resolvers let queries time out.
    resolvers_timed_out: bool,
}

#[derive(Clone, Debug)]
struct Current {
    index: usize,
    started_ms: u64,
    /// The highest fraction the step reported, and when.
    reported: f64,
    reported_at_ms: u64,
    /// Exchanges the step's live reports said were answered, and not.
    answered: u32,
    unanswered: u32,
    /// The largest RTT its live reports carried.
    rtt_max_ms: Option<f64>,
    /// Whether that RTT holds for the step: the first replies come from the nearest targets,
    /// so only once every probe stream answered, or a reply came after every stream's first
    /// probe had time to be answered.
    rtt_settled: bool,
    /// Answers per probe stream (a method and a `target`, when reports name one).
    streams: Vec<(String, String, u32)>,
}

impl ProgressEstimator {
    /// An estimator for `plan`, at the start of the run. `timings` gives each step's timing;
    /// without them (a plan from elsewhere) each step is taken to last its published estimate.
    pub fn new(plan: &Plan, timings: &[StepTiming]) -> Self {
        let steps = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let timing = match timings.get(i) {
                    Some(t) if timings.len() == plan.steps.len() => t.clone(),
                    _ => StepTiming::fixed((step.estimated_ms as f64 - STEP_OVERHEAD_MS).max(0.0)),
                };
                (timing, step.timeout_ms as f64)
            })
            .collect();
        Self::new_unchecked(steps)
    }

    fn new_unchecked(steps: Vec<(StepTiming, f64)>) -> Self {
        Self {
            steps,
            finished: 0,
            current: None,
            seen: Evidence::default(),
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
            answered: 0,
            unanswered: 0,
            rtt_max_ms: None,
            rtt_settled: false,
            streams: Vec::new(),
        });
        self.estimate(now_ms)
    }

    /// The running step reported `fraction` done at `now_ms`, with its live `metrics`. Call it
    /// for every report, also those not passed on to clients: each probe's outcome counts.
    pub fn observe(&mut self, fraction: f64, metrics: &[Metric], now_ms: u64) {
        let Some(current) = self.current.as_mut() else { return };
        let streams = self
            .steps
            .get(current.index)
            .and_then(|(t, _)| t.schedule)
            .map_or(usize::MAX, |s| s.streams as usize);
        if fraction.is_finite() && fraction.clamp(0.0, 1.0) > current.reported {
            current.reported = fraction.clamp(0.0, 1.0);
            current.reported_at_ms = now_ms;
        }
        let target = metrics
            .iter()
            .find(|m| m.name == "target")
            .and_then(|m| m.value.as_str());
        for metric in metrics {
            if !matches!(metric.name.as_str(), "rtt_ms" | "tcp_connect_ms" | "latency_ms") {
                continue;
            }
            match metric.value {
                MetricValue::Number(ms) if ms.is_finite() && ms >= 0.0 => {
                    current.answered += 1;
                    let max = current.rtt_max_ms.map_or(ms, |m| m.max(ms));
                    current.rtt_max_ms = Some(max);
                    if let Some(target) = target {
                        let stream = current
                            .streams
                            .iter_mut()
                            .find(|(m, t, _)| *m == metric.name && t == target);
                        match stream {
                            Some((_, _, answered)) => *answered += 1,
                            None => current.streams.push((metric.name.clone(), target.to_owned(), 1)),
                        }
                    }
                    let elapsed = now_ms.saturating_sub(current.started_ms) as f64;
                    current.rtt_settled |= elapsed >= 2.0 * max + LATE_MS || current.streams.len() >= streams;
                }
                MetricValue::Missing => current.unanswered += 1,
                _ => {}
            }
        }
    }

    /// [`observe`](Self::observe), then the estimate at `now_ms` (the tests' shorthand; the
    /// runner observes every report but estimates only for those it passes on).
    #[cfg(test)]
    fn step_progress(&mut self, fraction: f64, metrics: &[Metric], now_ms: u64) -> Progress {
        self.observe(fraction, metrics, now_ms);
        self.estimate(now_ms)
    }

    /// The running step finished at `now_ms` with `result`.
    pub fn finish_step(&mut self, result: &CheckResult, now_ms: u64) -> Progress {
        if let Some(current) = self.current.take() {
            if let Some((timing, _)) = self.steps.get(current.index) {
                let took = now_ms.saturating_sub(current.started_ms) as f64;
                self.seen.learn(timing, &current, result, took);
            }
            self.finished = self.finished.max(current.index + 1);
        }
        self.estimate(now_ms)
    }

    /// The estimate at `now_ms`.
    pub fn estimate(&mut self, now_ms: u64) -> Progress {
        let next = self.current.as_ref().map_or(self.finished, |c| c.index + 1);
        if self.current.is_none() && next >= self.steps.len() {
            self.last_fraction = 1.0;
            return Progress {
                fraction: 1.0,
                eta_ms: Some(0),
            };
        }
        let running = self.current.as_ref().map_or(0.0, |c| self.left_of_running(c, now_ms));
        let later: f64 = self
            .steps
            .iter()
            .skip(next)
            .map(|(t, _)| self.expected_ms(t, now_ms))
            .sum();
        let eta = (running + later).max(1.0);
        let elapsed = now_ms as f64;
        // Below 1 until the last step says it is done.
        let fraction = (elapsed / (elapsed + eta)).min(0.999);
        self.last_fraction = self.last_fraction.max(fraction);
        Progress {
            fraction: self.last_fraction,
            eta_ms: Some(eta.round() as u64),
        }
    }

    /// The RTT of `reach`: measured, else the prior.
    fn rtt_ms(&self, reach: Reach) -> f64 {
        let lan = self.seen.lan_rtt_ms.unwrap_or(PRIOR_LAN_RTT_MS);
        match reach {
            Reach::Local => 0.0,
            Reach::Lan => self
                .seen
                .lan_rtt_ms
                .or_else(|| self.running_rtt_ms(Reach::Lan, PRIOR_LAN_RTT_MS))
                .unwrap_or(PRIOR_LAN_RTT_MS),
            Reach::Internet => {
                let prior = PRIOR_INTERNET_RTT_MS.max(lan);
                self.seen
                    .internet_rtt_ms
                    .or_else(|| self.running_rtt_ms(Reach::Internet, prior))
                    .unwrap_or(prior)
            }
        }
    }

    /// The running step, when it probes `reach` on a schedule.
    fn running_probes(&self, reach: Reach) -> Option<&Current> {
        let current = self.current.as_ref()?;
        let (timing, _) = self.steps.get(current.index)?;
        (timing.role == Role::Probes && timing.reach == reach).then_some(current)
    }

    /// The RTT of a running probe step: its largest so far once settled; before, at least that
    /// (some targets have yet to answer), the prior when that is more.
    fn running_rtt_ms(&self, reach: Reach, prior: f64) -> Option<f64> {
        let c = self.running_probes(reach)?;
        let max = c.rtt_max_ms?;
        Some(if c.rtt_settled { max } else { max.max(prior) })
    }

    /// Loss of `reach` as seen so far, for the steps after the running one. A running probe
    /// step tells when nothing answers it (the path is down), else by its loss over the
    /// targets that answer: one target that never answers (an IPv6 path that is down) says
    /// nothing of the paths the later steps take. Reports that name no target count whole on
    /// the home network (one gateway), not beyond.
    fn loss(&self, reach: Reach, now_ms: u64) -> f64 {
        let running = |r: Reach| {
            let Some(c) = self.running_probes(r) else { return 0.0 };
            match self.step_loss(c, now_ms) {
                Some(p) if p >= DOWN_LOSS => p,
                own => self
                    .answering_loss(c, now_ms)
                    .or(own.filter(|_| r == Reach::Lan))
                    .unwrap_or(0.0),
            }
        };
        let lan = self.seen.lan_loss.max(running(Reach::Lan));
        match reach {
            Reach::Local => 0.0,
            Reach::Lan => lan,
            Reach::Internet => lan.max(self.seen.internet_loss).max(running(Reach::Internet)),
        }
    }

    /// The loss a running probe step shows: of the probes that should have been answered by
    /// now (sent more than two RTTs and [`LATE_MS`] ago), the share that was not — counted per
    /// probe stream when the reports name their target, else from how far its fraction lags.
    fn step_loss(&self, c: &Current, now_ms: u64) -> Option<f64> {
        let (timing, _) = self.steps.get(c.index)?;
        let schedule = timing.schedule?;
        let elapsed = now_ms.saturating_sub(c.started_ms) as f64;
        let late = 2.0 * self.rtt_ms(timing.reach) + LATE_MS;
        let due = schedule.share_sent_by(elapsed - late);
        if due <= 0.0 {
            return None;
        }
        if !c.streams.is_empty() {
            let rounds = due * f64::from(schedule.rounds);
            let streams = f64::from(schedule.streams).max(c.streams.len() as f64);
            let answered: f64 = c.streams.iter().map(|(_, _, n)| f64::from(*n).min(rounds)).sum();
            return Some((1.0 - answered / (rounds * streams)).clamp(0.0, 1.0));
        }
        let reports = c.answered + c.unanswered;
        if reports == 0 && c.reported >= due {
            return None;
        }
        let lost_share = if reports > 0 {
            f64::from(c.unanswered) / f64::from(reports)
        } else {
            0.0
        };
        let done = c.reported;
        Some((((due - done).max(0.0) + done * lost_share) / due.max(done)).clamp(0.0, 1.0))
    }

    /// The loss a running probe step shows on the probe streams that answered at least once:
    /// of the probes each should have had answered by now, the share that was not.
    fn answering_loss(&self, c: &Current, now_ms: u64) -> Option<f64> {
        let (timing, _) = self.steps.get(c.index)?;
        let schedule = timing.schedule?;
        let elapsed = now_ms.saturating_sub(c.started_ms) as f64;
        let late = 2.0 * self.rtt_ms(timing.reach) + LATE_MS;
        let due = schedule.share_sent_by(elapsed - late) * f64::from(schedule.rounds);
        if due < 1.0 || c.streams.is_empty() {
            return None;
        }
        let answered: f64 = c.streams.iter().map(|(_, _, n)| f64::from(*n).min(due)).sum();
        Some((1.0 - answered / (due * c.streams.len() as f64)).clamp(0.0, 1.0))
    }

    /// What a step not started yet is expected to take, as seen at `now_ms`.
    fn expected_ms(&self, timing: &StepTiming, now_ms: u64) -> f64 {
        self.expected_with_loss(timing, self.loss(timing.reach, now_ms))
    }

    fn expected_with_loss(&self, timing: &StepTiming, loss: f64) -> f64 {
        let healthy = timing.healthy_ms(self.rtt_ms(timing.reach));
        if timing.reach == Reach::Local {
            return healthy;
        }
        if self.seen.unroutable {
            return STEP_OVERHEAD_MS + timing.unroutable_ms;
        }
        if loss >= DOWN_LOSS {
            return STEP_OVERHEAD_MS + timing.silent_ms;
        }
        let hit = (1.0 - (1.0 - loss).powf(timing.exposed_packets)).max(TROUBLE_ALLOWANCE);
        let mut expected = healthy + hit * (timing.loss_wait_ms - healthy).max(0.0);
        if let Role::ResolvesNames { timeout_ms } = timing.role
            && self.seen.resolvers_timed_out
        {
            expected = expected.max(timeout_ms);
        }
        expected
    }

    /// What is left of the running step at `now_ms`.
    fn left_of_running(&self, c: &Current, now_ms: u64) -> f64 {
        let Some((timing, timeout)) = self.steps.get(c.index) else {
            return 0.0;
        };
        let elapsed = now_ms.saturating_sub(c.started_ms) as f64;
        let end = self.running_end_ms(timing, c, elapsed, now_ms);
        // The runner cuts the step at its timeout.
        (end.min(*timeout) - elapsed).max(1.0)
    }

    /// When the running step is expected to end, in ms after its start.
    fn running_end_ms(&self, timing: &StepTiming, c: &Current, elapsed: f64, now_ms: u64) -> f64 {
        let offline = self.seen.unroutable && timing.reach != Reach::Local;
        if !timing.phases.is_empty() && !offline {
            return self.phased_end_ms(timing, c, elapsed, now_ms);
        }
        let rtt = self.rtt_ms(timing.reach);
        let healthy = timing.healthy_ms(rtt);
        let own = self
            .running_probes(timing.reach)
            .and_then(|c| self.step_loss(c, now_ms));
        let loss = self.loss(timing.reach, now_ms).max(own.unwrap_or(0.0));
        let expected = self.expected_with_loss(timing, loss);
        if timing.reach == Reach::Local {
            // A local step has no timeout to wait on; one that runs long is only slow.
            return if elapsed < expected { expected } else { 1.5 * elapsed };
        }
        if c.reported >= 1.0 || elapsed <= healthy + 2.0 * rtt + LATE_MS {
            // On time, or done with its exchanges and concluding.
            return expected.max(elapsed + 1.0);
        }
        // Past its healthy end, the step waits on a timeout: the next one it can end at. A
        // lost packet ends it at `loss_wait_ms`, something that does not answer at all at one
        // of `waits_ms`.
        let partial_loss = loss > 0.0 && loss < DOWN_LOSS;
        let lost_packet = partial_loss.then_some(timing.loss_wait_ms);
        let down = (loss >= DOWN_LOSS).then_some(timing.silent_ms);
        timing
            .waits_ms
            .iter()
            .copied()
            .chain(lost_packet)
            .chain(down)
            .map(|w| w + STEP_OVERHEAD_MS)
            .filter(|w| *w > elapsed)
            .reduce(f64::min)
            // Past every timeout it knows of: the runner's own cuts it.
            .unwrap_or(f64::INFINITY)
    }

    /// When a step with time-reporting phases is expected to end: the rest of the phase it is
    /// in (its typical length, or its cap once past it), then the later phases' typical lengths.
    fn phased_end_ms(&self, timing: &StepTiming, c: &Current, elapsed: f64, now_ms: u64) -> f64 {
        let Some(i) = timing.phases.iter().rposition(|p| c.reported >= p.from - 1e-9) else {
            // Before the first phase (the idle probes).
            let healthy = timing.healthy_ms(self.rtt_ms(timing.reach));
            return healthy.max(elapsed + 1.0);
        };
        let phase = timing.phases[i];
        let since_report = now_ms.saturating_sub(c.reported_at_ms) as f64;
        let into = (c.reported - phase.from) / phase.width.max(1e-9) * phase.cap_ms + since_report;
        let rest = if into < phase.typical_ms {
            phase.typical_ms - into
        } else {
            (phase.cap_ms - into).max(0.0)
        };
        let later: f64 = timing.phases[i + 1..].iter().map(|p| p.typical_ms).sum();
        elapsed + rest + later + STEP_OVERHEAD_MS
    }
}

impl Evidence {
    /// What a finished step tells about the rest of the run.
    fn learn(&mut self, timing: &StepTiming, step: &Current, result: &CheckResult, took_ms: f64) {
        let measured = !matches!(result.status, CheckStatus::Skipped | CheckStatus::Error);
        match timing.role {
            Role::Routes if measured => {
                let route = |name| result.metric(name).and_then(|m| m.value.as_bool());
                if route("default_route_v4") == Some(false) && route("default_route_v6") == Some(false) {
                    self.unroutable = true;
                }
            }
            Role::Probes if measured => {
                let loss = result.number("loss_percent").map(|p| (p / 100.0).clamp(0.0, 1.0));
                let rtt = result.number("rtt_p95_ms").or(step.rtt_max_ms);
                // Nothing answered at all: the loss metric is missing, the path is down.
                let loss = loss.or((step.answered == 0 && step.unanswered > 0).then_some(1.0));
                match timing.reach {
                    Reach::Lan => {
                        self.lan_loss = loss.unwrap_or(self.lan_loss);
                        self.lan_rtt_ms = rtt.or(self.lan_rtt_ms);
                    }
                    Reach::Internet => {
                        let down = result.number("anchors_answering") == Some(0.0);
                        self.internet_loss = if down { 1.0 } else { loss.unwrap_or(self.internet_loss) };
                        self.internet_rtt_ms = rtt.or(self.internet_rtt_ms);
                    }
                    Reach::Local => {}
                }
            }
            // A query that got no answer within a timeout: the resolvers let names time out.
            Role::Resolvers
                if result.status != CheckStatus::Skipped
                    && step.unanswered > 0
                    && took_ms >= 0.9 * timing.loss_wait_ms =>
            {
                self.resolvers_timed_out = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::{CheckId, PlanStep};

    fn plan(timings: &[StepTiming]) -> Plan {
        let estimates: Vec<u64> = timings.iter().map(|t| t.prior_ms().round() as u64).collect();
        let total: u64 = estimates.iter().sum();
        Plan {
            steps: estimates
                .iter()
                .map(|e| PlanStep {
                    check: CheckId::Dns,
                    weight: *e as f64 / total as f64,
                    estimated_ms: *e,
                    timeout_ms: 60_000,
                })
                .collect(),
            estimated_ms: total,
        }
    }

    /// A gateway-like step: 20 probes 50 ms apart, each waiting 1 s.
    fn probes(reach: Reach) -> StepTiming {
        StepTiming {
            reach,
            role: Role::Probes,
            paced_ms: 950.0,
            round_trips: 1.0,
            schedule: Some(ProbeSchedule {
                streams: 1,
                rounds: 20,
                interval_ms: 50.0,
            }),
            exposed_packets: 2.0,
            loss_wait_ms: 1950.0,
            waits_ms: vec![1950.0],
            silent_ms: 1950.0,
            unroutable_ms: 950.0,
            phases: Vec::new(),
        }
    }

    /// A dns-like step: three queries one after the other, a dead resolver costs two 1 s
    /// timeouts.
    fn resolvers() -> StepTiming {
        StepTiming {
            reach: Reach::Internet,
            role: Role::Resolvers,
            paced_ms: 0.0,
            round_trips: 3.0,
            schedule: None,
            exposed_packets: 12.0,
            loss_wait_ms: 1000.0,
            waits_ms: vec![2000.0, 3000.0],
            silent_ms: 2000.0,
            unroutable_ms: 0.0,
            phases: Vec::new(),
        }
    }

    fn web() -> StepTiming {
        StepTiming {
            role: Role::ResolvesNames { timeout_ms: 2000.0 },
            exposed_packets: 4.0,
            loss_wait_ms: 2000.0,
            waits_ms: vec![2000.0, 3000.0, 4000.0],
            silent_ms: 4000.0,
            ..resolvers()
        }
    }

    fn result(check: CheckId, status: CheckStatus, metrics: Vec<Metric>) -> CheckResult {
        CheckResult {
            id: check,
            status,
            reason: None,
            metrics,
            duration_ms: 0,
            samples: None,
        }
    }

    fn passed() -> CheckResult {
        result(CheckId::Dns, CheckStatus::Pass, Vec::new())
    }

    fn rtt(ms: Option<f64>) -> Vec<Metric> {
        vec![Metric::new("rtt_ms", ms)]
    }

    fn eta(progress: Progress) -> f64 {
        progress.eta_ms.expect("an ETA") as f64
    }

    #[test]
    fn fraction_is_monotonic_and_reaches_one_only_when_the_last_step_finishes() {
        let mut p = ProgressEstimator::new(
            &plan(&[StepTiming::fixed(1000.0), resolvers()]),
            &[StepTiming::fixed(1000.0), resolvers()],
        );
        let mut last = 0.0;
        let mut check = |progress: Progress| {
            assert!(progress.fraction >= last, "{} < {last}", progress.fraction);
            assert!((0.0..=1.0).contains(&progress.fraction));
            assert!(progress.eta_ms.is_some());
            last = progress.fraction;
            progress
        };
        check(p.start_step(0, 0));
        check(p.estimate(500));
        check(p.finish_step(&passed(), 1000));
        check(p.start_step(1, 1000));
        // The resolvers do not answer: the ETA grows to their timeouts, the bar holds still.
        let before = check(p.estimate(1010));
        let waiting = check(p.estimate(1500));
        assert!(eta(waiting) > eta(before), "{waiting:?} after {before:?}");
        assert!((waiting.fraction - before.fraction).abs() < 1e-9, "{waiting:?}");
        let late = check(p.estimate(2900));
        assert!(late.fraction < 1.0);
        let end = check(p.finish_step(&passed(), 3000));
        assert_eq!(end.fraction, 1.0);
        assert_eq!(end.eta_ms, Some(0));
    }

    #[test]
    fn the_bar_is_the_share_of_the_expected_time_elapsed() {
        let timings = [StepTiming::fixed(1000.0), StepTiming::fixed(1000.0)];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        let quarter = p.estimate(500);
        assert!((quarter.fraction - 0.25).abs() < 0.01, "{quarter:?}");
        assert!((eta(quarter) - 1500.0).abs() < 10.0, "{quarter:?}");
    }

    #[test]
    fn a_healthy_gateway_is_expected_to_end_one_rtt_after_its_last_probe() {
        let timings = [probes(Reach::Lan)];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        for k in 0..10u32 {
            p.observe(f64::from(k + 1) / 20.0, &rtt(Some(0.5)), u64::from(k) * 50 + 1);
        }
        let half = p.estimate(480);
        // 950 ms of pacing, the last reply, the overhead, the 2 % allowance for a lost probe.
        let healthy = 950.0 + 0.5 + 2.0;
        let expected = healthy + 0.02 * (1950.0 - healthy) - 480.0;
        assert!((eta(half) - expected).abs() < 1.0, "{half:?} vs {expected}");
    }

    #[test]
    fn probes_left_unanswered_make_the_step_wait_its_timeout() {
        let timings = [probes(Reach::Lan), StepTiming::fixed(10.0)];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        // Nothing answers: by 300 ms, five probes are overdue.
        let silent = p.estimate(300);
        assert!((eta(silent) - (1950.0 - 300.0 + 12.0)).abs() < 20.0, "{silent:?}");
    }

    #[test]
    fn a_dead_gateway_predicts_timeouts_beyond_it() {
        let timings = [probes(Reach::Lan), resolvers(), web()];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        let healthy_rest = p.estimate(0);
        let silent = p.estimate(300);
        // The gateway waits its timeout, the resolvers are dropped after two, the web times out.
        let expected = (1950.0 - 300.0) + 2000.0 + 4000.0;
        assert!((eta(silent) - expected).abs() < 50.0, "{silent:?} vs {expected}");
        assert!(eta(healthy_rest) < 2000.0, "{healthy_rest:?}");
    }

    #[test]
    fn loss_on_the_gateway_is_expected_beyond_it() {
        let timings = [probes(Reach::Lan), web()];
        let run = |lost_every: u64| {
            let mut p = ProgressEstimator::new(&plan(&timings), &timings);
            p.start_step(0, 0);
            let mut answered = 0u32;
            for k in 0..19u64 {
                if lost_every == 0 || k % lost_every != 0 {
                    answered += 1;
                    p.observe(f64::from(answered) / 20.0, &rtt(Some(0.5)), k * 50 + 1);
                }
            }
            p
        };
        let clean = eta(run(0).estimate(1000));
        let mut lossy = run(4);
        let lossy_eta = eta(lossy.estimate(1000));
        // Lost probes show before they time out, and beyond the gateway a packet is lost often.
        assert!(lossy_eta > clean + 1000.0, "{lossy_eta} vs {clean}");
        let loss = vec![Metric::new("loss_percent", 25.0)];
        let finished = lossy.finish_step(&result(CheckId::Gateway, CheckStatus::Fail, loss), 1950);
        // Three round trips at the prior 20 ms; one of 4 packets lost with 1 − 0.75⁴ ≈ 68 %.
        let healthy = 2.0 + 3.0 * 20.0;
        let expected = healthy + (1.0 - 0.75f64.powi(4)) * (2000.0 - healthy);
        assert!((eta(finished) - expected).abs() < 1.0, "{finished:?} vs {expected}");
    }

    #[test]
    fn loss_beyond_the_gateway_counts_on_the_targets_that_answer() {
        let anchors = StepTiming {
            schedule: Some(ProbeSchedule {
                streams: 2,
                rounds: 10,
                interval_ms: 100.0,
            }),
            paced_ms: 900.0,
            loss_wait_ms: 1900.0,
            waits_ms: vec![1900.0],
            silent_ms: 1900.0,
            unroutable_ms: 900.0,
            ..probes(Reach::Internet)
        };
        let timings = [anchors, web()];
        let run = |answers: &dyn Fn(u64, &str) -> bool| {
            let mut p = ProgressEstimator::new(&plan(&timings), &timings);
            p.start_step(0, 0);
            let mut ended = 0u32;
            for k in 0..5u64 {
                for target in ["192.0.2.1", "2001:db8::1"] {
                    if answers(k, target) {
                        ended += 1;
                        let metrics = [Metric::new("rtt_ms", 10.0), Metric::new("target", target)];
                        p.observe(f64::from(ended) / 20.0, &metrics, k * 100 + 10);
                    }
                }
            }
            eta(p.estimate(480))
        };
        let clean = run(&|_, _| true);
        // One target never answers: the step waits its timeout, the web step is not expected
        // to lose anything.
        let one_down = run(&|_, target| target == "192.0.2.1");
        // Both answer one probe in two: the web step is expected to lose a packet.
        let lossy = run(&|k, _| k % 2 == 0);
        assert!(one_down > clean + 500.0, "{one_down} vs {clean}");
        assert!(lossy > one_down + 1000.0, "{lossy} vs {one_down}");
    }

    #[test]
    fn the_first_reply_does_not_settle_the_rtt() {
        let two_targets = StepTiming {
            schedule: Some(ProbeSchedule {
                streams: 2,
                rounds: 20,
                interval_ms: 50.0,
            }),
            ..probes(Reach::Internet)
        };
        let timings = [two_targets, web()];
        let reply = |target: &str| [Metric::new("rtt_ms", 0.3), Metric::new("target", target)];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        let prior = eta(p.estimate(2));
        // The nearest target answers first: later steps are still taken at the prior RTT
        // (a slower reply would have raised it).
        let first = eta(p.step_progress(0.05, &reply("192.0.2.1"), 2));
        assert!((first - prior).abs() < 1.0, "{first} vs {prior}");
        // Once every target answered, the RTT is the step's: the web step's three round trips
        // shrink from 3 × 20 ms to 3 × 0.3 ms.
        let settled = eta(p.step_progress(0.1, &reply("2001:db8::1"), 3));
        let gain = 3.0 * (20.0 - 0.3);
        assert!(prior - settled > gain, "{settled} vs {prior}");
    }

    #[test]
    fn a_step_past_its_healthy_end_counts_down_to_its_next_timeout() {
        let timings = [resolvers()];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        // Three queries at the prior 20 ms RTT, the allowance for one timeout.
        let start = eta(p.estimate(0));
        assert!((start - (62.0 + 0.02 * 938.0)).abs() < 5.0, "{start}");
        // Silent past its healthy end: a resolver that does not answer is dropped after two
        // timeouts.
        assert!((eta(p.estimate(500)) - 1502.0).abs() < 5.0);
        assert!((eta(p.estimate(1900)) - 102.0).abs() < 5.0);
        // Still running past them: the next one.
        assert!((eta(p.estimate(2100)) - 902.0).abs() < 5.0);
    }

    #[test]
    fn resolvers_that_timed_out_predict_names_that_time_out() {
        let timings = [resolvers(), web()];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        p.step_progress(0.5, &[Metric::new("latency_ms", None::<f64>)], 1000);
        let after = p.finish_step(&result(CheckId::Dns, CheckStatus::Fail, Vec::new()), 2000);
        assert!((eta(after) - 2000.0).abs() < 1.0, "{after:?}");
    }

    #[test]
    fn without_a_route_only_the_pacing_is_left() {
        let timings = [
            StepTiming {
                role: Role::Routes,
                ..StepTiming::fixed(5.0)
            },
            probes(Reach::Internet),
            resolvers(),
        ];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        let routes = vec![
            Metric::new("default_route_v4", false),
            Metric::new("default_route_v6", false),
        ];
        let after = p.finish_step(&result(CheckId::Link, CheckStatus::Fail, routes), 5);
        assert!((eta(after) - (952.0 + 2.0)).abs() < 1.0, "{after:?}");
    }

    #[test]
    fn the_internet_rtt_scales_the_later_exchanges() {
        let timings = [probes(Reach::Internet), web()];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        p.step_progress(0.05, &rtt(Some(80.0)), 80);
        let later = p.finish_step(
            &result(
                CheckId::InternetLatency,
                CheckStatus::Pass,
                vec![Metric::new("loss_percent", 0.0), Metric::new("rtt_p95_ms", 80.0)],
            ),
            1030,
        );
        // Three round trips at 80 ms, the overhead, the allowance.
        let expected = 242.0 + 0.02 * (2000.0 - 242.0);
        assert!((eta(later) - expected).abs() < 1.0, "{later:?} vs {expected}");
    }

    #[test]
    fn a_timed_phase_counts_down_its_typical_length_then_its_cap() {
        let timings = [StepTiming {
            phases: vec![
                TimedPhase {
                    from: 0.0,
                    width: 0.5,
                    typical_ms: 4000.0,
                    cap_ms: 10_000.0,
                },
                TimedPhase {
                    from: 0.5,
                    width: 0.5,
                    typical_ms: 4000.0,
                    cap_ms: 10_000.0,
                },
            ],
            ..StepTiming::fixed(8000.0)
        }];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        // 2 s into the first direction: 2 s left of it, then the second.
        let early = p.step_progress(0.1, &[], 2000);
        assert!((eta(early) - 6002.0).abs() < 1.0, "{early:?}");
        // 6 s into it, past its typical length: it may run to its cap.
        let long = p.step_progress(0.3, &[], 6000);
        assert!((eta(long) - 8002.0).abs() < 1.0, "{long:?}");
    }

    #[test]
    fn a_plan_without_timings_follows_its_estimates() {
        let timings = [StepTiming::fixed(1000.0), StepTiming::fixed(3000.0)];
        let plan = plan(&timings);
        let mut p = ProgressEstimator::new(&plan, &[]);
        p.start_step(0, 0);
        assert_eq!(p.estimate(0).eta_ms, Some(plan.estimated_ms));
    }
}
