//! `sonde history` and `sonde show` over the local history, seeded as `sonde diagnose` writes
//! it; and the JSON report (`show --json` prints what `diagnose --json` prints).

use sonde_protocol::{RunList, RunReport};

use crate::support::{Scratch, events_of, fixture_report, redact, run_id, seed_history, sonde, text};

const OLDER: &str = "01a21913-5803-7663-ae10-48d10206053a";
const NEWER: &str = "01a21913-6000-7000-8000-000000000001";

fn seeded(name: &str) -> (Scratch, std::path::PathBuf) {
    let scratch = Scratch::new(name);
    let history = scratch.path("history.db");
    let older = fixture_report();
    assert_eq!(older.run, run_id(OLDER), "the fixture's run id");
    let mut newer = RunReport {
        run: run_id(NEWER),
        ..fixture_report()
    };
    newer.state = sonde_protocol::RunState::Canceled;
    newer.reason = Some("canceled by the user".to_owned());
    newer.diagnosis = None;
    newer.findings.clear();
    seed_history(&history, &older);
    seed_history(&history, &newer);
    (scratch, history)
}

#[test]
fn history_lists_runs_newest_first() {
    let (_scratch, history) = seeded("history-list");
    let out = sonde(&["history"], &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("history_text", text(&out.stdout));

    let out = sonde(&["history", "--json", "--limit", "1"], &history);
    assert_eq!(out.status.code(), Some(0));
    let list: RunList = serde_json::from_slice(&out.stdout).expect("RunList");
    assert_eq!(list.runs.len(), 1);
    assert_eq!(list.runs[0].run, run_id(NEWER));
}

#[test]
fn an_empty_history_is_not_an_error() {
    let scratch = Scratch::new("history-empty");
    let out = sonde(&["history"], &scratch.path("none.db"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "no run yet\n");
    assert!(!scratch.path("none.db").exists(), "listing creates nothing");
}

#[test]
fn show_json_is_the_report_folded_from_the_stored_events() {
    let (_scratch, history) = seeded("show-json");
    let out = sonde(&["show", OLDER, "--json"], &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: RunReport = serde_json::from_slice(&out.stdout).expect("a report");
    let fixture = fixture_report();
    assert_eq!(report.checks, fixture.checks);
    assert_eq!(report.diagnosis, fixture.diagnosis);
    let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    redact(&mut json);
    insta::assert_snapshot!("report_json", serde_json::to_string_pretty(&json).expect("JSON"));
}

#[test]
fn show_text_and_its_errors() {
    let (_scratch, history) = seeded("show-text");
    let out = sonde(&["show", OLDER], &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("DNS_RESOLVER_FAILING"), "{stdout}");
    assert!(stdout.contains(OLDER), "{stdout}");

    for (run, message) in [
        ("not-a-run", "is not a run id"),
        ("01a21913-7000-7000-8000-00000000dead", "no run"),
    ] {
        let out = sonde(&["show", run], &history);
        assert_eq!(out.status.code(), Some(2), "{run}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{run}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn what_the_embedded_agent_records_is_what_show_prints() {
    let scratch = Scratch::new("recorder");
    let history = scratch.path("state/sonde/history.db");
    let report = fixture_report();
    let recorder = sonde_dashboard::history::Recorder::at(&history, &report.request).expect("open the history");
    for event in events_of(&report) {
        recorder.record(&event);
    }
    drop(recorder);
    let out = sonde(&["show", OLDER, "--json"], &history);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: RunReport = serde_json::from_slice(&out.stdout).expect("a report");
    assert_eq!(shown.checks, report.checks);
    assert_eq!(shown.diagnosis, report.diagnosis);
    assert_eq!((shown.state, shown.created_at), (report.state, report.created_at));
}
