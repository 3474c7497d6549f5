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
    /// Resolves names with the system resolver, waiting at most `timeout_ms`, then fetches
    /// pages (`http`: live reports name each page's `url`, with `connect_ms` once connected and
    /// `status` once done). A connected page not answered waits `response_ms` from its connect.
    ResolvesNames {
        /// The resolution timeout.
        timeout_ms: f64,
        /// How long a connected page may wait for its answer.
        response_ms: f64,
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
    /// TCP connections the step opens side by side (beside those exchanges): a lost SYN or
    /// SYN-ACK delays one by the kernel's initial retransmission timeout ([`TCP_RTO_MS`]).
    pub handshakes: f64,
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
            handshakes: 0.0,
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
/// The initial retransmission timeout of a TCP handshake (RFC 6298, Linux's `TCP_TIMEOUT_INIT`).
pub const TCP_RTO_MS: f64 = 1000.0;
/// Loss from which a path is taken as down: everything on it times out.
const DOWN_LOSS: f64 = 0.9;
/// Loss below which a query left unanswered is taken as a resolver that does not answer rather
/// than a lost packet.
const QUIET_LOSS: f64 = 0.05;

/// Tracks one run's progress. Times are milliseconds since the run started.
#[derive(Clone, Debug)]
pub struct ProgressEstimator {
    /// Each step's timing and the runner's timeout for it.
    steps: Vec<(StepTiming, f64)>,
    /// The steps each step starts after (see `Plan::predecessors`).
    predecessors: Vec<Vec<usize>>,
    /// When each finished step ended.
    finished_at: Vec<Option<f64>>,
    /// The steps under way.
    running: Vec<Current>,
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
    /// The slowest answer a resolver gave.
    resolver_rtt_ms: Option<f64>,
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
    /// Pages connected and not answered yet, with when they connected.
    awaiting: Vec<(String, u64)>,
}

impl ProgressEstimator {
    /// An estimator for `plan`, at the start of the run. `timings` gives each step's timing;
    /// without them (a plan from elsewhere) each step is taken to last its published estimate.
    pub fn new(plan: &Plan, timings: &[StepTiming]) -> Self {
        let steps: Vec<(StepTiming, f64)> = plan
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
        let predecessors = (0..steps.len()).map(|i| plan.predecessors(i)).collect();
        Self::with_order(steps, predecessors)
    }

    /// Steps that run one after the other.
    fn new_unchecked(steps: Vec<(StepTiming, f64)>) -> Self {
        let predecessors = (0..steps.len()).map(|i| (0..i).collect()).collect();
        Self::with_order(steps, predecessors)
    }

    fn with_order(steps: Vec<(StepTiming, f64)>, predecessors: Vec<Vec<usize>>) -> Self {
        Self {
            finished_at: vec![None; steps.len()],
            steps,
            predecessors,
            running: Vec::new(),
            seen: Evidence::default(),
            last_fraction: 0.0,
        }
    }

    /// Step `index` started at `now_ms`.
    pub fn start_step(&mut self, index: usize, now_ms: u64) -> Progress {
        self.running.retain(|c| c.index != index);
        self.running.push(Current {
            index,
            started_ms: now_ms,
            reported: 0.0,
            reported_at_ms: now_ms,
            answered: 0,
            unanswered: 0,
            rtt_max_ms: None,
            rtt_settled: false,
            streams: Vec::new(),
            awaiting: Vec::new(),
        });
        self.estimate(now_ms)
    }

    /// Running step `index` reported `fraction` done at `now_ms`, with its live `metrics`. Call
    /// it for every report, also those not passed on to clients: each probe's outcome counts.
    pub fn observe(&mut self, index: usize, fraction: f64, metrics: &[Metric], now_ms: u64) {
        let Some(current) = self.running.iter_mut().find(|c| c.index == index) else {
            return;
        };
        let streams = self
            .steps
            .get(current.index)
            .and_then(|(t, _)| t.schedule)
            .map_or(usize::MAX, |s| s.streams as usize);
        if fraction.is_finite() && fraction.clamp(0.0, 1.0) > current.reported {
            current.reported = fraction.clamp(0.0, 1.0);
            current.reported_at_ms = now_ms;
        }
        let named = |name: &str| metrics.iter().find(|m| m.name == name);
        let target = named("target").and_then(|m| m.value.as_str());
        if let Some(url) = named("url").and_then(|m| m.value.as_str()) {
            if named("status").is_some() {
                current.awaiting.retain(|(u, _)| u != url);
            } else if named("connect_ms").is_some() {
                current.awaiting.push((url.to_owned(), now_ms));
            }
        }
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
        self.observe_current(fraction, metrics, now_ms);
        self.estimate(now_ms)
    }

    /// The tests' shorthand for one step at a time: the last step started reports.
    #[cfg(test)]
    fn observe_current(&mut self, fraction: f64, metrics: &[Metric], now_ms: u64) {
        let index = self.running.last().map_or(0, |c| c.index);
        self.observe(index, fraction, metrics, now_ms);
    }

    /// The tests' shorthand for one step at a time: the last step started finishes.
    #[cfg(test)]
    fn finish_current(&mut self, result: &CheckResult, now_ms: u64) -> Progress {
        let index = self.running.last().map_or(0, |c| c.index);
        self.finish_step(index, result, now_ms)
    }

    /// Step `index` finished at `now_ms` with `result`.
    pub fn finish_step(&mut self, index: usize, result: &CheckResult, now_ms: u64) -> Progress {
        if let Some(at) = self.running.iter().position(|c| c.index == index) {
            let current = self.running.remove(at);
            if let Some((timing, _)) = self.steps.get(index) {
                let took = now_ms.saturating_sub(current.started_ms) as f64;
                self.seen.learn(timing, &current, result, took);
            }
        }
        if let Some(finished) = self.finished_at.get_mut(index) {
            *finished = Some(now_ms as f64);
        }
        self.estimate(now_ms)
    }

    /// The estimate at `now_ms`.
    pub fn estimate(&mut self, now_ms: u64) -> Progress {
        if self.finished_at.iter().all(Option::is_some) {
            self.last_fraction = 1.0;
            return Progress {
                fraction: 1.0,
                eta_ms: Some(0),
            };
        }
        // When each step is expected to end: a finished one when it did, a running one when
        // what is left of it is done, a later one its expected duration after the last of the
        // steps it comes after (the steps come after earlier ones only).
        let now = now_ms as f64;
        let mut ends: Vec<f64> = Vec::with_capacity(self.steps.len());
        for (index, (timing, _)) in self.steps.iter().enumerate() {
            let end = if let Some(at) = self.finished_at[index] {
                at
            } else if let Some(c) = self.running.iter().find(|c| c.index == index) {
                now + self.left_of_running(c, now_ms)
            } else {
                let start = self.predecessors[index]
                    .iter()
                    .filter_map(|p| ends.get(*p))
                    .fold(now, |a, b| a.max(*b));
                start + self.expected_ms(timing, now_ms)
            };
            ends.push(end);
        }
        let eta = (ends.iter().fold(now, |a, b| a.max(*b)) - now).max(1.0);
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

    /// The running step that probes `reach` on a schedule, if one does.
    fn running_probes(&self, reach: Reach) -> Option<&Current> {
        self.running.iter().find(|c| {
            self.steps
                .get(c.index)
                .is_some_and(|(t, _)| t.role == Role::Probes && t.reach == reach)
        })
    }

    /// The running step that queries resolvers, if one does.
    fn running_resolvers(&self) -> Option<(&StepTiming, &Current)> {
        self.running.iter().find_map(|c| {
            let (timing, _) = self.steps.get(c.index)?;
            (timing.role == Role::Resolvers).then_some((timing, c))
        })
    }

    /// The slowest answer from a resolver so far, if it is slower than the Internet RTT: the
    /// round trips of DNS queries, and of names resolved later, take that long.
    fn resolver_rtt_ms(&self) -> Option<f64> {
        let running = self.running_resolvers().and_then(|(_, c)| c.rtt_max_ms);
        let slowest = self.seen.resolver_rtt_ms.into_iter().chain(running).reduce(f64::max)?;
        (slowest > self.rtt_ms(Reach::Internet)).then_some(slowest)
    }

    /// Whether names asked from now on are expected to wait out the resolution timeout: the
    /// resolvers let queries time out, or the running DNS step is past its healthy end on a
    /// path that loses nothing (a resolver that does not answer, not a lost packet).
    fn resolvers_silent(&self, now_ms: u64) -> bool {
        if self.seen.resolvers_timed_out {
            return true;
        }
        let Some((timing, c)) = self.running_resolvers() else {
            return false;
        };
        let elapsed = now_ms.saturating_sub(c.started_ms) as f64;
        if waited_out_a_query(timing, c, elapsed) {
            // What the step will teach when it ends (see `Evidence::learn`).
            return true;
        }
        let rtt = self.rtt_ms(timing.reach);
        c.reported < 1.0
            && elapsed > self.healthy_ms(timing) + 2.0 * rtt + LATE_MS
            && self.loss(timing.reach, now_ms) < QUIET_LOSS
    }

    /// A step's duration when everything answers, at the RTTs measured so far (queries and
    /// names at the resolvers' pace when they answer slower than the path).
    fn healthy_ms(&self, timing: &StepTiming) -> f64 {
        let rtt = self.rtt_ms(timing.reach);
        let resolver = self.resolver_rtt_ms();
        match (timing.role, resolver) {
            (Role::Resolvers, Some(r)) => timing.healthy_ms(r),
            (Role::ResolvesNames { .. }, Some(r)) => timing.healthy_ms(rtt) + (r - rtt),
            _ => timing.healthy_ms(rtt),
        }
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
        self.expected_with_loss(timing, self.loss(timing.reach, now_ms), now_ms)
    }

    fn expected_with_loss(&self, timing: &StepTiming, loss: f64, now_ms: u64) -> f64 {
        let healthy = self.healthy_ms(timing);
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
        // A handshake that loses a packet ends one retransmission timeout late; the step waits
        // for the later of that and its other exchanges (they run side by side).
        let handshake_hit = 1.0 - (1.0 - loss).powf(2.0 * timing.handshakes);
        let mut expected = healthy
            + hit * (timing.loss_wait_ms - healthy).max(0.0)
            + (1.0 - hit) * handshake_hit * TCP_RTO_MS.min(timing.loss_wait_ms);
        if let Role::ResolvesNames { timeout_ms, .. } = timing.role
            && self.resolvers_silent(now_ms)
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
        let healthy = self.healthy_ms(timing);
        let own = self
            .running_probes(timing.reach)
            .and_then(|c| self.step_loss(c, now_ms));
        let loss = self.loss(timing.reach, now_ms).max(own.unwrap_or(0.0));
        let expected = self.expected_with_loss(timing, loss, now_ms);
        if timing.reach == Reach::Local {
            // A local step has no timeout to wait on; one that runs long is only slow.
            return if elapsed < expected { expected } else { 1.5 * elapsed };
        }
        if c.reported >= 1.0 || elapsed <= healthy + 2.0 * rtt + LATE_MS {
            // On time, or done with its exchanges and concluding.
            return expected.max(elapsed + 1.0);
        }
        // Past its healthy end, the step waits on a timeout. On a path that is down nothing
        // will answer: it waits them all out.
        if loss >= DOWN_LOSS && timing.silent_ms + STEP_OVERHEAD_MS > elapsed {
            return timing.silent_ms + STEP_OVERHEAD_MS;
        }
        // A page connected and not answered
        // waits for its answer until its response timeout.
        if let Role::ResolvesNames { response_ms, .. } = timing.role
            && let Some(connected) = c.awaiting.iter().map(|(_, at)| *at).max()
        {
            let end = connected.saturating_sub(c.started_ms) as f64 + response_ms + STEP_OVERHEAD_MS;
            if end > elapsed {
                return end;
            }
        }
        // Else the next timeout it can end at. A lost packet ends it at `loss_wait_ms`,
        // something that does not answer at all at one of `waits_ms`.
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
            return self.healthy_ms(timing).max(elapsed + 1.0);
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

/// Whether a resolvers step, `elapsed_ms` in, has let a query go unanswered for its timeout:
/// the resolvers let names time out.
fn waited_out_a_query(timing: &StepTiming, step: &Current, elapsed_ms: f64) -> bool {
    step.unanswered > 0 && elapsed_ms >= 0.9 * timing.loss_wait_ms
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
            Role::Resolvers if result.status != CheckStatus::Skipped => {
                // A query that got no answer within a timeout: the resolvers let names time out.
                if waited_out_a_query(timing, step, took_ms) {
                    self.resolvers_timed_out = true;
                }
                self.resolver_rtt_ms = step.rtt_max_ms.or(self.resolver_rtt_ms);
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
                    after: None,
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
            handshakes: 0.0,
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
            handshakes: 0.0,
            waits_ms: vec![2000.0, 3000.0],
            silent_ms: 2000.0,
            unroutable_ms: 0.0,
            phases: Vec::new(),
        }
    }

    fn web() -> StepTiming {
        StepTiming {
            role: Role::ResolvesNames {
                timeout_ms: 2000.0,
                response_ms: 3000.0,
            },
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
        check(p.finish_current(&passed(), 1000));
        check(p.start_step(1, 1000));
        // The resolvers do not answer: the ETA grows to their timeouts, the bar holds still.
        let before = check(p.estimate(1010));
        let waiting = check(p.estimate(1500));
        assert!(eta(waiting) > eta(before), "{waiting:?} after {before:?}");
        assert!((waiting.fraction - before.fraction).abs() < 1e-9, "{waiting:?}");
        let late = check(p.estimate(2900));
        assert!(late.fraction < 1.0);
        let end = check(p.finish_current(&passed(), 3000));
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
            p.observe_current(f64::from(k + 1) / 20.0, &rtt(Some(0.5)), u64::from(k) * 50 + 1);
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
                    p.observe_current(f64::from(answered) / 20.0, &rtt(Some(0.5)), k * 50 + 1);
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
        let finished = lossy.finish_current(&result(CheckId::Gateway, CheckStatus::Fail, loss), 1950);
        // Three round trips at the prior 20 ms; one of 4 packets lost with 1 − 0.75⁴ ≈ 68 %.
        let healthy = 2.0 + 3.0 * 20.0;
        let expected = healthy + (1.0 - 0.75f64.powi(4)) * (2000.0 - healthy);
        assert!((eta(finished) - expected).abs() < 1.0, "{finished:?} vs {expected}");
    }

    #[test]
    fn handshakes_that_lose_a_packet_wait_a_retransmission() {
        let with = |handshakes: f64| {
            let timings = [probes(Reach::Lan), StepTiming { handshakes, ..web() }];
            let mut p = ProgressEstimator::new(&plan(&timings), &timings);
            p.start_step(0, 0);
            let loss = vec![Metric::new("loss_percent", 25.0)];
            eta(p.finish_current(&result(CheckId::Gateway, CheckStatus::Fail, loss), 1950))
        };
        // Three pages, each with a probe of its other port: 12 packets, one of them lost with
        // 1 − 0.75¹² ≈ 97 %; that costs 1 s when the name resolution (68 %) did not already
        // cost its 2 s.
        let name_hit = 1.0 - 0.75f64.powi(4);
        let extra = (1.0 - name_hit) * (1.0 - 0.75f64.powi(12)) * TCP_RTO_MS;
        assert!(
            (with(6.0) - with(0.0) - extra).abs() < 1.0,
            "{} vs {}",
            with(6.0),
            with(0.0)
        );
        assert!(extra > 300.0, "{extra}");
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
                        p.observe_current(f64::from(ended) / 20.0, &metrics, k * 100 + 10);
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

    /// A gateway probe step, then DNS and HTTP beside it (`after` the step before the gateway:
    /// none here), then a last step after all of them.
    fn side_by_side() -> (Plan, Vec<StepTiming>) {
        let timings = vec![probes(Reach::Lan), resolvers(), web(), StepTiming::fixed(1.0)];
        let mut plan = plan(&timings);
        plan.steps[1].after = Some(Vec::new());
        plan.steps[2].after = Some(vec![1]);
        (plan, timings)
    }

    /// [`side_by_side`] at its start: the gateway and DNS under way.
    fn gateway_and_dns_under_way() -> (ProgressEstimator, Vec<StepTiming>) {
        let (plan, timings) = side_by_side();
        let mut p = ProgressEstimator::new(&plan, &timings);
        p.start_step(0, 0);
        p.start_step(1, 0);
        (p, timings)
    }

    /// The gateway (step 0) answers probes `rounds`, 0.5 ms after each is sent.
    fn gateway_answers(p: &mut ProgressEstimator, rounds: std::ops::Range<u64>) {
        for k in rounds {
            p.observe(0, (k + 1) as f64 / 20.0, &rtt(Some(0.5)), k * 50 + 1);
        }
    }

    #[test]
    fn steps_side_by_side_end_with_the_longer_lane() {
        let (mut p, timings) = gateway_and_dns_under_way();
        let lanes = eta(p.estimate(0));
        // The probes' ~0.95 s, not the sum with DNS and HTTP (a few round trips).
        assert!((950.0..1200.0).contains(&lanes), "{lanes}");
        let mut sequential = ProgressEstimator::new(&plan(&timings), &timings);
        sequential.start_step(0, 0);
        assert!(eta(sequential.estimate(0)) > lanes + 100.0);

        // DNS answers fast and finishes; the probes go on: still the probes' lane.
        p.observe(1, 1.0, &[Metric::new("latency_ms", 1.0)], 10);
        p.finish_step(1, &passed(), 10);
        p.start_step(2, 10);
        gateway_answers(&mut p, 0..2);
        let left = eta(p.estimate(100));
        assert!((850.0..1100.0).contains(&left), "{left}");
    }

    #[test]
    fn a_resolver_silent_beside_the_probes_predicts_its_timeouts_early() {
        let (mut p, _) = gateway_and_dns_under_way();
        // The gateway answers every probe; one resolver answered, another does not.
        gateway_answers(&mut p, 0..6);
        p.observe(1, 0.5, &[Metric::new("latency_ms", 1.0)], 5);
        // 300 ms in, far past three queries at the resolvers' pace on a path losing nothing:
        // the silent resolver is dropped after two timeouts (2 s), then HTTP waits its 2 s
        // resolution timeout.
        let left = eta(p.estimate(300));
        assert!((3500.0..4000.0).contains(&left), "{left}");

        // Its two timeouts reported (every query done), the step not finished yet: names are
        // still expected to time out, the bar does not jump ahead.
        gateway_answers(&mut p, 6..20);
        p.finish_step(0, &passed(), 952);
        p.observe(1, 1.0, &[Metric::new("latency_ms", MetricValue::Missing)], 2001);
        let left = eta(p.estimate(2001));
        assert!(left > 1900.0, "{left}");
    }

    #[test]
    fn a_slow_resolver_is_not_taken_as_silent() {
        let (mut p, _) = gateway_and_dns_under_way();
        // Every answer takes 600 ms: three queries in a row, then one more for HTTP's name.
        gateway_answers(&mut p, 0..14);
        p.observe(1, 0.3, &[Metric::new("latency_ms", 600.0)], 600);
        let left = eta(p.estimate(700));
        let expected = 3.0 * 600.0 - 700.0 + 600.0;
        assert!((left - expected).abs() < 150.0, "{left} vs {expected}");
    }

    #[test]
    fn a_page_connected_and_not_answered_waits_its_response_timeout() {
        let (mut p, _) = gateway_and_dns_under_way();
        p.observe(1, 1.0, &[Metric::new("latency_ms", 1.0)], 5);
        p.finish_step(1, &passed(), 6);
        p.start_step(2, 6);
        let page = [
            Metric::new("url", "https://www.example.com/"),
            Metric::new("connect_ms", 1.0),
        ];
        p.observe(2, 0.0, &page, 8);
        gateway_answers(&mut p, 0..20);
        p.finish_step(0, &passed(), 952);
        // Past its healthy end, before any timeout: the page waits until 3 s after its connect.
        let left = eta(p.estimate(1000));
        assert!((left - 2010.0).abs() < 50.0, "{left}");
        // Answered: the wait is over.
        let done = [
            Metric::new("url", "https://www.example.com/"),
            Metric::new("status", 200u64),
            Metric::new("latency_ms", 5.0),
        ];
        p.observe(2, 1.0, &done, 1100);
        assert!(eta(p.estimate(1100)) < 100.0);
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
        let after = p.finish_current(&result(CheckId::Dns, CheckStatus::Fail, Vec::new()), 2000);
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
        let after = p.finish_current(&result(CheckId::Link, CheckStatus::Fail, routes), 5);
        assert!((eta(after) - (952.0 + 2.0)).abs() < 1.0, "{after:?}");
    }

    #[test]
    fn the_internet_rtt_scales_the_later_exchanges() {
        let timings = [probes(Reach::Internet), web()];
        let mut p = ProgressEstimator::new(&plan(&timings), &timings);
        p.start_step(0, 0);
        p.step_progress(0.05, &rtt(Some(80.0)), 80);
        let later = p.finish_current(
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
