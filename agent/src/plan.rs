//! Plans: which checks a problem kind runs, with estimated durations and timeouts.

use std::time::Duration;

use sonde_protocol::{CheckId, Plan, PlanStep, ProblemKind, RunRequest};

use crate::config::Config;

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
    let timings: Vec<(Duration, Duration)> = checks
        .iter()
        .map(|c| {
            // Responsiveness is judged from the throughput check's load when both run.
            if *c == CheckId::Responsiveness && checks.contains(&CheckId::Throughput) {
                (Duration::from_millis(20), timing(*c, config).1)
            } else {
                timing(*c, config)
            }
        })
        .collect();
    let total: Duration = timings.iter().map(|(estimate, _)| *estimate).sum();
    let total_secs = total.as_secs_f64().max(1e-3);
    let steps = checks
        .iter()
        .zip(&timings)
        .map(|(check, (estimate, timeout))| PlanStep {
            check: *check,
            weight: estimate.as_secs_f64() / total_secs,
            estimated_ms: millis(*estimate),
            timeout_ms: millis(*timeout),
        })
        .collect();
    Ok(Plan {
        steps,
        estimated_ms: millis(total),
    })
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

/// Share of the gap between a check's typical and worst durations that its estimate includes.
/// People run a diagnosis because something is wrong, so steps often meet timeouts; an estimate
/// of the healthy case alone would leave the progress bar sitting at 99 % while they do.
const TROUBLE_ALLOWANCE: f64 = 0.25;

/// (estimated duration, timeout) of a check under this configuration.
fn timing(check: CheckId, config: &Config) -> (Duration, Duration) {
    let (typical, worst, timeout) = match check {
        CheckId::Link => (
            Duration::from_millis(50),
            Duration::from_millis(50),
            Duration::from_secs(5),
        ),
        CheckId::Gateway => {
            let g = &config.gateway;
            let sending = g.interval * g.probes.saturating_sub(1);
            // Replies from a healthy gateway arrive within milliseconds of the last send; a
            // silent one keeps the last probe waiting its whole timeout.
            (
                sending + Duration::from_millis(20),
                sending + g.timeout,
                sending + g.timeout + Duration::from_secs(2),
            )
        }
        CheckId::Dns => {
            let d = &config.dns;
            // Resolvers run concurrently, queries one after the other; a healthy resolver
            // answers in tens of milliseconds, a dead one is dropped after two timeouts.
            (
                Duration::from_millis(50) * d.queries,
                d.timeout * 2,
                d.timeout * d.queries + Duration::from_secs(2),
            )
        }
        CheckId::Http => {
            let h = &config.http;
            (
                Duration::from_millis(200),
                h.check_timeout,
                h.check_timeout + Duration::from_secs(2),
            )
        }
        CheckId::Path => {
            let p = &config.path;
            let rounds = p.interval * p.rounds.saturating_sub(1);
            (
                rounds + p.timeout.min(Duration::from_millis(100)),
                rounds + p.timeout,
                rounds + p.timeout + Duration::from_secs(3),
            )
        }
        CheckId::Mtu => {
            let m = &config.mtu;
            (
                Duration::from_millis(300),
                m.max_duration,
                m.max_duration + m.timeout + Duration::from_secs(2),
            )
        }
        CheckId::Wifi => {
            let w = &config.wifi;
            let sampling = w.interval * w.samples.saturating_sub(1);
            (
                sampling + Duration::from_millis(10),
                sampling + Duration::from_millis(10),
                sampling + Duration::from_secs(3),
            )
        }
        CheckId::InternetLatency => {
            let l = &config.latency;
            // Anchors and both methods run concurrently; a nearby anchor answers in tens of
            // milliseconds, an unreachable one keeps the last probe waiting its timeout.
            let sending = l.interval * l.probes.saturating_sub(1);
            (
                sending + Duration::from_millis(50),
                sending + l.timeout,
                (sending + l.timeout) * 2 + Duration::from_secs(2),
            )
        }
        CheckId::Mobile => {
            let m = &config.mobile;
            // A handful of reads on the LAN; a silent modem costs the connect timeout, or one
            // read's, and the check stops at the first failure.
            let blocks = u32::try_from(m.map.blocks().len()).unwrap_or(u32::MAX);
            (
                Duration::from_millis(50),
                m.timeout * 2,
                m.timeout * blocks.saturating_add(2) + Duration::from_secs(2),
            )
        }
        CheckId::System => (
            Duration::from_millis(50),
            Duration::from_millis(200),
            Duration::from_secs(5),
        ),
        CheckId::Throughput | CheckId::Responsiveness => {
            let t = &config.throughput;
            let directions = if t.upload { 2 } else { 1 };
            // A healthy line is stable after ~4 s a direction; a troubled one runs to the cap.
            let idle = t.probe_interval.min(Duration::from_millis(50)) * t.idle_probes;
            (
                idle + Duration::from_secs(4) * directions,
                idle + t.max_duration * directions,
                t.timeout * (t.idle_probes + 2) + t.max_duration * directions + Duration::from_secs(5),
            )
        }
        _ => (Duration::from_secs(1), Duration::from_secs(1), Duration::from_secs(10)),
    };
    let estimate = typical + worst.saturating_sub(typical).mul_f64(TROUBLE_ALLOWANCE);
    (estimate, timeout)
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
    fn unknown_problem_is_refused() {
        let request = RunRequest {
            problem: ProblemKind::Unknown,
            ..RunRequest::default()
        };
        assert_eq!(plan_for(&request, &Config::default()), Err(PlanError::UnknownProblem));
    }
}
