//! Properties of `diagnose()` over real evaluations: the check results sonde produced on every
//! scenario of the netsim matrix (`fixtures/scenario-checks/`, written by the matrix with
//! `SONDE_BLESS=1`), perturbed one metric at a time.
//!
//! Monotonicity: worsening any single judged metric — moving it to its warning limit, then to
//! its failure limit, whichever is worse than its value — never makes the verdict less severe:
//! the most severe finding stays at least as severe, and a run that was not healthy never
//! becomes healthy.

use std::path::PathBuf;

use sonde_agent::config::Profile;
use sonde_agent::diagnose::diagnose;
use sonde_protocol::{CheckResult, CheckStatus, Diagnosis, Direction, Lang, MetricValue, Severity};

fn fixtures() -> Vec<(String, Vec<CheckResult>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenario-checks");
    let mut all: Vec<(String, Vec<CheckResult>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let checks = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, checks)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// How bad a diagnosis is: its most severe finding (0 when there is none).
fn gravity(diagnosis: &Diagnosis) -> u8 {
    let rank = |severity: Severity| match severity {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Critical => 3,
        _ => 0,
    };
    diagnosis.findings.iter().map(|f| rank(f.severity)).max().unwrap_or(0)
}

fn status_rank(status: CheckStatus) -> u8 {
    match status {
        CheckStatus::Pass => 0,
        CheckStatus::Warn => 1,
        CheckStatus::Fail => 2,
        _ => 0,
    }
}

/// Whether `candidate` is worse than `value` for a metric that gets worse in `direction`.
fn worse(direction: Direction, candidate: f64, value: f64) -> bool {
    match direction {
        Direction::HigherIsWorse => candidate > value,
        Direction::LowerIsWorse => candidate < value,
    }
}

#[test]
fn the_scenario_fixtures_cover_the_matrix() {
    let all = fixtures();
    assert!(
        all.len() >= 30,
        "{} scenario fixtures: bless them (see the module doc)",
        all.len()
    );
    for (name, checks) in &all {
        assert!(!checks.is_empty(), "{name}: no check results");
    }
}

#[test]
fn worsening_one_metric_never_improves_the_verdict() {
    let profile = Profile::default();
    let mut perturbations = 0;
    for (name, checks) in fixtures() {
        let base = diagnose(&checks, &profile, Lang::En);
        for (c, check) in checks.iter().enumerate() {
            // Only measured checks carry judged values; an error or a skip has no verdict to move.
            if !matches!(check.status, CheckStatus::Pass | CheckStatus::Warn | CheckStatus::Fail) {
                continue;
            }
            for (m, metric) in check.metrics.iter().enumerate() {
                let (Some(threshold), MetricValue::Number(value)) = (metric.threshold, &metric.value) else {
                    continue;
                };
                for limit in [threshold.warn, threshold.fail].into_iter().flatten() {
                    if !worse(threshold.direction, limit, *value) {
                        continue;
                    }
                    let mut perturbed = checks.clone();
                    let judged = threshold.judge(limit);
                    let target = &mut perturbed[c];
                    target.metrics[m].value = MetricValue::Number(limit);
                    target.metrics[m].status = Some(judged);
                    if status_rank(judged) > status_rank(target.status) {
                        target.status = judged;
                    }
                    let after = diagnose(&perturbed, &profile, Lang::En);
                    perturbations += 1;
                    let codes = |d: &Diagnosis| d.findings.iter().map(|f| f.code.to_string()).collect::<Vec<_>>();
                    let context = format!(
                        "{name}: {} {} {value} → {limit}: findings {:?} → {:?}",
                        check.id,
                        metric.name,
                        codes(&base),
                        codes(&after)
                    );
                    assert!(gravity(&after) >= gravity(&base), "the verdict improved: {context}");
                    assert!(base.healthy || !after.healthy, "became healthy: {context}");
                }
            }
        }
    }
    eprintln!("{perturbations} single-metric perturbations of real evaluations, none improved a verdict");
    assert!(
        perturbations >= 200,
        "only {perturbations} perturbations: too few to mean anything"
    );
}
