//! Plans: which checks a problem kind runs, with estimated durations and timeouts.

use std::time::Duration;

use sonde_protocol::{CheckId, Plan, PlanStep, ProblemKind, RunRequest};

use crate::checks::http::{self, Host};
use crate::checks::throughput;
use crate::config::Config;
use crate::progress::{ProbeSchedule, Reach, Role, StepTiming, TimedPhase};

/// Why a request cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The problem kind is not one this agent knows.
    #[error("unknown problem kind; expected one of: no-internet, slow, wifi, sites, voip-tv, mobile")]
    UnknownProblem,
    /// `options.checks` names a check this agent does not have.
    #[error("unknown check in options.checks; this agent runs: {}", available())]
    UnknownCheck,
    /// The request names a profile the agent does not ship.
    #[error(transparent)]
    Profile(#[from] crate::profiles::ProfileError),
    /// `options.checks` is empty.
    #[error("options.checks is empty: name at least one check, or leave it out for the default plan")]
    NoChecks,
    /// A check is listed twice.
    #[error("check `{0}` is listed twice in options.checks")]
    Duplicate(CheckId),
}

/// The checks this agent can run, in their natural order.
pub const AVAILABLE: [CheckId; 12] = [
    CheckId::Link,
    CheckId::Wifi,
    CheckId::Gateway,
    CheckId::InternetLatency,
    CheckId::Dns,
    CheckId::Http,
    CheckId::Path,
    CheckId::Mtu,
    CheckId::Mobile,
    CheckId::System,
    CheckId::Throughput,
    CheckId::Responsiveness,
];

fn available() -> String {
    AVAILABLE.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

/// The plan for a request.
pub fn plan_for(request: &RunRequest, config: &Config) -> Result<Plan, PlanError> {
    let checks: Vec<CheckId> = match &request.options.checks {
        Some(checks) => {
            if checks.is_empty() {
                return Err(PlanError::NoChecks);
            }
            for (i, check) in checks.iter().enumerate() {
                if !AVAILABLE.contains(check) {
                    return Err(PlanError::UnknownCheck);
                }
                if checks[..i].contains(check) {
                    return Err(PlanError::Duplicate(*check));
                }
            }
            checks.clone()
        }
        None => checks_for(request.problem)?.to_vec(),
    };
    let after = match request.options.checks {
        // Only these checks, in this order: one at a time.
        Some(_) => vec![None; checks.len()],
        None => side_by_side(&checks),
    };
    let timings = step_timings(&checks, config);
    let estimates: Vec<u64> = timings.iter().map(|t| t.prior_ms().round().max(0.0) as u64).collect();
    let sum: u64 = estimates.iter().sum();
    let sum_ms = (sum as f64).max(1.0);
    let steps = checks
        .iter()
        .zip(&estimates)
        .zip(after)
        .map(|((check, estimate), after)| PlanStep {
            check: *check,
            weight: *estimate as f64 / sum_ms,
            estimated_ms: *estimate,
            timeout_ms: millis(timeout(*check, config)),
            after,
        })
        .collect();
    let mut plan = Plan { steps, estimated_ms: 0 };
    // The longest chain of steps that wait for one another.
    let mut ends: Vec<u64> = Vec::with_capacity(plan.steps.len());
    for (index, step) in plan.steps.iter().enumerate() {
        let start = plan.predecessors(index).iter().map(|p| ends[*p]).max().unwrap_or(0);
        ends.push(start + step.estimated_ms);
    }
    plan.estimated_ms = ends.into_iter().max().unwrap_or(0);
    Ok(plan)
}

/// The probes of the network: the gateway's and the Internet anchors', each on its own
/// schedule.
const PROBES: [CheckId; 2] = [CheckId::Gateway, CheckId::InternetLatency];

/// Checks that ask servers on the Internet one exchange at a time — resolvers, web sites, the
/// path MTU search: they run one after the other, beside the probes.
const BESIDE_PROBES: [CheckId; 3] = [CheckId::Dns, CheckId::Http, CheckId::Mtu];

/// Each step's `after` for a problem kind's plan. The gateway and Internet latency probes and
/// the checks of [`BESIDE_PROBES`] that follow them all send a few light packets: they start
/// together once the home side is read (the link, the radio), the latter one after the other.
/// The run is shorter, and whatever costs a timeout (a resolver or a site that does not answer,
/// an anchor that is silent, loss beyond the box) shows from its first second, while the
/// progress estimate can still account for it. Every other step waits for all the steps before
/// it: the one after them waits for every lane, and the path and throughput checks have the
/// line to themselves.
fn side_by_side(checks: &[CheckId]) -> Vec<Option<Vec<usize>>> {
    let mut after = vec![None; checks.len()];
    let Some(first) = checks.iter().position(|c| PROBES.contains(c)) else {
        return after;
    };
    let start: Vec<usize> = first.checked_sub(1).into_iter().collect();
    let mut lane = start.clone();
    for (index, check) in checks.iter().enumerate().skip(first + 1) {
        if PROBES.contains(check) {
            after[index] = Some(start.clone());
        } else if BESIDE_PROBES.contains(check) {
            after[index] = Some(lane);
            lane = vec![index];
        } else {
            break;
        }
    }
    after
}

/// How each step of `plan` spends its time under `config`, for the progress estimate.
pub fn timings_for(plan: &Plan, config: &Config) -> Vec<StepTiming> {
    let checks: Vec<CheckId> = plan.steps.iter().map(|s| s.check).collect();
    step_timings(&checks, config)
}

fn step_timings(checks: &[CheckId], config: &Config) -> Vec<StepTiming> {
    checks
        .iter()
        .map(|c| {
            // Responsiveness is judged from the throughput check's load when both run.
            if *c == CheckId::Responsiveness && checks.contains(&CheckId::Throughput) {
                StepTiming::fixed(0.0)
            } else {
                step_timing(*c, config)
            }
        })
        .collect()
}

/// The checks each problem kind runs. "No Internet" stays fast; "slow" and "calls/TV" add the
/// hop-by-hop path (where loss starts); "some sites fail" adds the path MTU (black holes break
/// some sites and not others); "WiFi" stays on the home side; "slow" measures goodput and
/// latency under load (skipped without a measurement server). "Mobile" reads the modem's radio
/// right after the link. Every plan but "WiFi" ends with the box's own health (a box that just
/// restarted, or runs hot, explains a drop); netsim describes its simulated box in a snapshot,
/// so no verdict depends on the machine running the simulation.
fn checks_for(problem: ProblemKind) -> Result<&'static [CheckId], PlanError> {
    use CheckId::{
        Dns, Gateway, Http, InternetLatency, Link, Mobile, Mtu, Path, Responsiveness, System, Throughput, Wifi,
    };
    match problem {
        ProblemKind::NoInternet => Ok(&[Link, Wifi, Gateway, InternetLatency, Dns, Http, System]),
        ProblemKind::Mobile => Ok(&[Link, Mobile, Wifi, Gateway, InternetLatency, Dns, Http, System]),
        ProblemKind::Slow => Ok(&[
            Link,
            Wifi,
            Gateway,
            InternetLatency,
            Dns,
            Http,
            Path,
            Throughput,
            Responsiveness,
            System,
        ]),
        ProblemKind::VoipTv => Ok(&[Link, Wifi, Gateway, InternetLatency, Dns, Path, System]),
        ProblemKind::Sites => Ok(&[Link, Wifi, Gateway, InternetLatency, Dns, Http, Mtu]),
        ProblemKind::Wifi => Ok(&[Link, Wifi, Gateway]),
        _ => Err(PlanError::UnknownProblem),
    }
}

/// The runner's timeout for a check under this configuration: past the longest the check may
/// take, so that only a check that hangs is cut.
fn timeout(check: CheckId, config: &Config) -> Duration {
    match check {
        CheckId::Link | CheckId::System => Duration::from_secs(5),
        CheckId::Gateway => {
            let g = &config.gateway;
            g.interval * g.probes.saturating_sub(1) + g.timeout + Duration::from_secs(2)
        }
        CheckId::Dns => {
            let d = &config.dns;
            d.timeout * d.queries + Duration::from_secs(2)
        }
        CheckId::Http => config.http.check_timeout + Duration::from_secs(2),
        CheckId::Path => {
            let p = &config.path;
            p.interval * p.rounds.saturating_sub(1) + p.timeout + Duration::from_secs(3)
        }
        CheckId::Mtu => {
            let m = &config.mtu;
            m.max_duration + m.timeout + Duration::from_secs(2)
        }
        CheckId::Wifi => {
            let w = &config.wifi;
            w.interval * w.samples.saturating_sub(1) + Duration::from_secs(3)
        }
        CheckId::InternetLatency => {
            let l = &config.latency;
            (l.interval * l.probes.saturating_sub(1) + l.timeout) * 2 + Duration::from_secs(2)
        }
        CheckId::Mobile => {
            let m = &config.mobile;
            let blocks = u32::try_from(m.map.blocks().len()).unwrap_or(u32::MAX);
            m.timeout * blocks.saturating_add(2) + Duration::from_secs(2)
        }
        CheckId::Throughput | CheckId::Responsiveness => {
            let t = &config.throughput;
            let directions = if t.upload { 2 } else { 1 };
            t.timeout * (t.idle_probes + 2) + t.max_duration * directions + Duration::from_secs(5)
        }
        _ => Duration::from_secs(10),
    }
}

/// Roughly how many routers answer before the destination: the last round of the path check
/// spreads its probes over them. Calibrated on the scenario matrix (3–4 hops); a longer path
/// adds at most `interval × hops / max_hops` to the estimate, a few hundred milliseconds.
const TYPICAL_HOPS: u32 = 4;
/// Reading WiFi station data (nl80211 or a snapshot file), a modem's registers, the system's
/// state: a few milliseconds each, measured on the scenario matrix.
const LOCAL_READ_MS: f64 = 5.0;

/// A duration in milliseconds, as the estimator counts.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How a check spends its time under this configuration (see [`StepTiming`]): derived from
/// its probe counts, intervals and timeouts, so that the estimate follows the configuration.
fn step_timing(check: CheckId, config: &Config) -> StepTiming {
    let internet = |round_trips: f64| StepTiming {
        reach: Reach::Internet,
        round_trips,
        ..StepTiming::fixed(0.0)
    };
    match check {
        CheckId::Link => StepTiming {
            role: Role::Routes,
            ..StepTiming::fixed(1.0)
        },
        CheckId::System => StepTiming::fixed(1.0),
        CheckId::Wifi => {
            let w = &config.wifi;
            StepTiming::fixed(ms(w.interval * w.samples.saturating_sub(1)) + LOCAL_READ_MS)
        }
        CheckId::Gateway => {
            let g = &config.gateway;
            probes(Reach::Lan, g.probes, g.interval, g.timeout, 1)
        }
        CheckId::InternetLatency => {
            let l = &config.latency;
            // Each anchor by ICMP and by TCP connect.
            let targets = u32::try_from(l.anchors.len() * 2).unwrap_or(u32::MAX);
            probes(Reach::Internet, l.probes, l.interval, l.timeout, targets)
        }
        CheckId::Dns => {
            let d = &config.dns;
            let queries = f64::from(d.queries.max(1));
            let system = d.resolvers.as_ref().map_or(1, Vec::len);
            let resolvers = (system + d.public.len()) as f64;
            // Resolvers side by side, each asked A and AAAA side by side, the queries of a
            // series one after the other. A lost query or answer costs one timeout; a resolver
            // that does not answer is dropped after two.
            let timeout = ms(d.timeout);
            let dropped = timeout * queries.min(2.0);
            StepTiming {
                role: Role::Resolvers,
                exposed_packets: 2.0 * 2.0 * queries * resolvers,
                loss_wait_ms: timeout,
                waits_ms: (2..=d.queries.max(2)).map(|n| timeout * f64::from(n)).collect(),
                silent_ms: dropped,
                ..internet(queries)
            }
        }
        CheckId::Http => {
            let h = &config.http;
            let names = h
                .targets
                .iter()
                .chain(&h.portal_probe)
                .filter(|u| matches!(u.host(), Host::Name(_)))
                .count();
            let cap = |d: Duration| ms(d.min(h.check_timeout));
            // A target that does not answer: its connect times out, then the probe of its
            // other port; one that accepts and never answers: the response timeout.
            let mut waits = vec![
                cap(h.dns_timeout),
                cap(h.connect_timeout),
                cap(h.response_timeout),
                cap(h.connect_timeout * 2),
                ms(h.check_timeout),
            ];
            waits.sort_by(f64::total_cmp);
            waits.dedup();
            let resolution = if names > 0 { h.dns_timeout } else { Duration::ZERO };
            StepTiming {
                role: if names > 0 {
                    Role::ResolvesNames {
                        timeout_ms: cap(h.dns_timeout),
                        response_ms: cap(h.response_timeout),
                    }
                } else {
                    Role::Other
                },
                // The system resolver asks A and AAAA for each name: a lost query or answer
                // waits out the resolution timeout.
                exposed_packets: 4.0 * names as f64,
                loss_wait_ms: cap(h.dns_timeout),
                // Each page's connection, and the probes of its other ports beside it.
                handshakes: h
                    .targets
                    .iter()
                    .chain(&h.portal_probe)
                    .map(|u| 1.0 + http::other_ports(u.port()).len() as f64)
                    .sum(),
                waits_ms: waits,
                silent_ms: cap(resolution.max(h.connect_timeout * 2)),
                // Connect, TLS handshake, request: one round trip each, the targets side by side.
                ..internet(3.0)
            }
        }
        CheckId::Path => {
            let p = &config.path;
            let rounds = ms(p.interval * p.rounds.saturating_sub(1));
            let gap = ms(p.interval) / f64::from(p.max_hops.max(1));
            let paced = rounds + gap * f64::from(TYPICAL_HOPS.min(u32::from(p.max_hops)).saturating_sub(1));
            let silent = rounds + gap * f64::from(p.max_hops.saturating_sub(1)) + ms(p.timeout);
            StepTiming {
                paced_ms: paced,
                // A probe of the last round lost waits its timeout.
                exposed_packets: 2.0 * f64::from(TYPICAL_HOPS),
                loss_wait_ms: paced + ms(p.timeout),
                waits_ms: vec![paced + ms(p.timeout)],
                silent_ms: silent,
                unroutable_ms: paced,
                ..internet(1.0)
            }
        }
        CheckId::Mtu => {
            let m = &config.mtu;
            // The small probe and one at the largest size go together: everything passes in
            // one round trip. Until an RTT is known a probe waits `timeout`; a search that
            // meets silence runs up to `max_duration`, and a step under way may add a timeout.
            StepTiming {
                exposed_packets: 4.0,
                loss_wait_ms: ms(m.timeout),
                waits_ms: vec![ms(m.timeout), ms(m.max_duration), ms(m.max_duration + m.timeout)],
                silent_ms: ms(m.timeout),
                ..internet(1.0)
            }
        }
        CheckId::Mobile => {
            let m = &config.mobile;
            if m.modem.is_none() {
                // Skipped: no modem configured.
                return StepTiming::fixed(0.0);
            }
            // Connect, then one read per register block; the check stops at the first failure.
            let exchanges = (m.map.blocks().len() + 1) as f64;
            StepTiming {
                reach: Reach::Lan,
                paced_ms: LOCAL_READ_MS,
                round_trips: exchanges,
                exposed_packets: 2.0 * exchanges,
                loss_wait_ms: ms(m.timeout),
                waits_ms: vec![ms(m.timeout), ms(m.timeout * 2)],
                silent_ms: ms(m.timeout),
                ..StepTiming::fixed(0.0)
            }
        }
        CheckId::Throughput | CheckId::Responsiveness => {
            let t = &config.throughput;
            if t.server.is_none() {
                // Skipped: no measurement server configured.
                return StepTiming::fixed(0.0);
            }
            let typical = ms(throughput::typical_direction(t));
            let phases: Vec<TimedPhase> = throughput::direction_shares(t)
                .into_iter()
                .map(|(from, width)| TimedPhase {
                    from,
                    width,
                    typical_ms: typical,
                    cap_ms: ms(t.max_duration),
                })
                .collect();
            let directions = phases.len() as f64;
            StepTiming {
                paced_ms: typical * directions,
                // Each idle probe connects, then fetches the small object.
                round_trips: 2.0 * f64::from(t.idle_probes),
                loss_wait_ms: typical * directions,
                waits_ms: vec![ms(t.max_duration) * directions],
                // A server that does not answer: its configuration fetch times out.
                silent_ms: ms(t.timeout),
                phases,
                ..internet(0.0)
            }
        }
        _ => StepTiming::fixed(1000.0),
    }
}

/// A step sending `count` probes `interval` apart on each of `targets` streams, each probe
/// waiting at most `timeout`: it ends one RTT after its last probe, or when its last lost probe
/// times out.
fn probes(reach: Reach, count: u32, interval: Duration, timeout: Duration, targets: u32) -> StepTiming {
    let sending = ms(interval * count.saturating_sub(1));
    let waited = sending + ms(timeout);
    // A probe lost within its timeout of the last send makes the step wait past its end.
    let late = (ms(timeout) / ms(interval).max(1e-3)).ceil().min(f64::from(count));
    StepTiming {
        reach,
        role: Role::Probes,
        paced_ms: sending,
        round_trips: 1.0,
        schedule: Some(ProbeSchedule {
            streams: targets,
            rounds: count,
            interval_ms: ms(interval),
        }),
        exposed_packets: 2.0 * late * f64::from(targets),
        loss_wait_ms: waited,
        handshakes: 0.0,
        waits_ms: vec![waited],
        silent_ms: waited,
        unroutable_ms: sending,
        phases: Vec::new(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::RunOptions;

    #[test]
    fn default_plan_runs_the_fast_checks_with_weights_summing_to_one() {
        let plan = plan_for(&RunRequest::default(), &Config::default()).expect("default plan");
        let checks: Vec<_> = plan.steps.iter().map(|s| s.check).collect();
        let mut expected = AVAILABLE[..6].to_vec();
        expected.push(CheckId::System);
        assert_eq!(checks, expected);
        let sum: f64 = plan.steps.iter().map(|s| s.weight).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert!(plan.steps.iter().all(|s| s.timeout_ms > s.estimated_ms));
        assert!(
            plan.estimated_ms < 10_000,
            "no-internet is the fast plan: {}",
            plan.estimated_ms
        );
    }

    #[test]
    fn explicit_checks_are_validated() {
        let with = |checks: Vec<CheckId>| RunRequest {
            options: RunOptions {
                checks: Some(checks),
                ..RunOptions::default()
            },
            ..RunRequest::default()
        };
        let config = Config::default();
        assert_eq!(plan_for(&with(vec![]), &config), Err(PlanError::NoChecks));
        assert_eq!(
            plan_for(&with(vec![CheckId::Unknown]), &config),
            Err(PlanError::UnknownCheck)
        );
        assert_eq!(
            plan_for(&with(vec![CheckId::Dns, CheckId::Dns]), &config),
            Err(PlanError::Duplicate(CheckId::Dns))
        );
        let plan = plan_for(&with(vec![CheckId::Dns]), &config).expect("dns alone");
        assert_eq!(plan.steps.len(), 1);
        assert!((plan.steps[0].weight - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_wifi_plan_samples_the_radio_longer() {
        let config = Config::default();
        let request = RunRequest {
            problem: ProblemKind::Wifi,
            ..RunRequest::default()
        };
        let plan = crate::prepare(request, &config).expect("wifi plan").plan;
        let wifi = plan.steps.iter().find(|s| s.check == CheckId::Wifi).expect("wifi step");
        assert!(wifi.estimated_ms >= 14_000, "{}", wifi.estimated_ms);
        let quick = plan_for(&RunRequest::default(), &config).expect("default plan");
        let wifi = quick
            .steps
            .iter()
            .find(|s| s.check == CheckId::Wifi)
            .expect("wifi step");
        assert!(wifi.estimated_ms < 1_000, "{}", wifi.estimated_ms);
    }

    #[test]
    fn the_mobile_plan_reads_the_modem_and_the_box_quickly() {
        let request = RunRequest {
            problem: ProblemKind::Mobile,
            ..RunRequest::default()
        };
        let plan = plan_for(&request, &Config::default()).expect("mobile plan");
        let checks: Vec<_> = plan.steps.iter().map(|s| s.check).collect();
        assert_eq!(checks[..2], [CheckId::Link, CheckId::Mobile]);
        assert_eq!(checks.last(), Some(&CheckId::System));
        assert!(plan.estimated_ms < 10_000, "{}", plan.estimated_ms);
        assert!(plan.steps.iter().all(|s| s.timeout_ms > s.estimated_ms));
    }

    #[test]
    fn estimates_follow_the_configuration() {
        let request = RunRequest::default();
        let mut config = Config::default();
        let before = plan_for(&request, &config).expect("default plan");
        config.gateway.probes *= 2;
        config.latency.interval *= 2;
        let after = plan_for(&request, &config).expect("default plan");
        let grew = |check| {
            let of = |plan: &Plan| {
                plan.steps
                    .iter()
                    .find(|s| s.check == check)
                    .map(|s| s.estimated_ms as i64)
                    .expect("step")
            };
            of(&after) - of(&before)
        };
        // 20 more probes 50 ms apart; 9 intervals of 100 ms more.
        assert!((grew(CheckId::Gateway) - 1000).abs() <= 1, "{}", grew(CheckId::Gateway));
        assert!(
            (grew(CheckId::InternetLatency) - 900).abs() <= 1,
            "{}",
            grew(CheckId::InternetLatency)
        );
        assert_eq!(grew(CheckId::Dns), 0);
        let timings = timings_for(&after, &config);
        assert_eq!(timings.len(), after.steps.len());
    }

    #[test]
    fn dns_and_http_run_beside_the_gateway_and_latency_probes() {
        let config = Config::default();
        let plan_of = |problem| {
            let request = RunRequest {
                problem,
                ..RunRequest::default()
            };
            plan_for(&request, &config).expect("plan")
        };
        let order = |plan: &Plan| -> Vec<(CheckId, Vec<usize>)> {
            (0..plan.steps.len())
                .map(|i| (plan.steps[i].check, plan.predecessors(i)))
                .collect()
        };
        let quick = plan_of(ProblemKind::NoInternet);
        assert_eq!(
            order(&quick),
            vec![
                (CheckId::Link, vec![]),
                (CheckId::Wifi, vec![0]),
                (CheckId::Gateway, vec![0, 1]),
                (CheckId::InternetLatency, vec![1]),
                (CheckId::Dns, vec![1]),
                (CheckId::Http, vec![4]),
                (CheckId::System, vec![0, 1, 2, 3, 4, 5]),
            ]
        );
        // The run lasts its longest lane (the gateway's 20 probes), not the sum of its steps.
        let sum: u64 = quick.steps.iter().map(|s| s.estimated_ms).sum();
        let gateway: u64 = [0, 1, 2, 6].iter().map(|i| quick.steps[*i].estimated_ms).sum();
        assert!(quick.estimated_ms < sum, "{} vs {sum}", quick.estimated_ms);
        assert_eq!(quick.estimated_ms, gateway);

        // "Some sites": the MTU search follows HTTP in the same lane.
        let sites = plan_of(ProblemKind::Sites);
        assert_eq!(sites.steps[6].check, CheckId::Mtu);
        assert_eq!(sites.predecessors(6), vec![5]);
        // "Slow": the path and the throughput wait for both lanes, alone on the line.
        let slow = plan_of(ProblemKind::Slow);
        assert_eq!(slow.steps[6].check, CheckId::Path);
        assert_eq!(slow.predecessors(6), (0..6).collect::<Vec<_>>());
        assert!(slow.steps[7..].iter().all(|s| s.after.is_none()));
        // "WiFi" has nothing to run beside its probes.
        assert!(plan_of(ProblemKind::Wifi).steps.iter().all(|s| s.after.is_none()));

        // Checks the client lists run one at a time, in its order.
        let listed = RunRequest {
            options: RunOptions {
                checks: Some(vec![CheckId::Gateway, CheckId::Dns, CheckId::Http]),
                ..RunOptions::default()
            },
            ..RunRequest::default()
        };
        let listed = plan_for(&listed, &config).expect("listed");
        assert!(listed.steps.iter().all(|s| s.after.is_none()));
        assert_eq!(
            listed.estimated_ms,
            listed.steps.iter().map(|s| s.estimated_ms).sum::<u64>()
        );
    }

    #[test]
    fn unknown_problem_is_refused() {
        let request = RunRequest {
            problem: ProblemKind::Unknown,
            ..RunRequest::default()
        };
        assert_eq!(plan_for(&request, &Config::default()), Err(PlanError::UnknownProblem));
    }
}
