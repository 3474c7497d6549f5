//! The protocol's compatibility guarantees: committed schemas are current, and every golden
//! fixture of v1 still deserializes.

use std::fs;
use std::path::{Path, PathBuf};

use sonde_protocol::{ApiError, Event, EventData, RunList, RunReport, RunRequest, ScheduleHistory};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schemas_are_current() {
    let dir = crate_dir().join("schema");
    let bless = std::env::var_os("SONDE_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, schema) in sonde_protocol::schema::all() {
        let fresh = serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n";
        let path = dir.join(name);
        let committed = fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            if bless {
                fs::create_dir_all(&dir).expect("create protocol/schema");
                fs::write(&path, fresh).expect("write schema");
            } else {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas {stale:?}: run `SONDE_BLESS=1 cargo test -p sonde-protocol` and commit protocol/schema/"
    );
}

fn fixtures(kind: &str) -> Vec<(PathBuf, String)> {
    let dir = crate_dir().join("tests/fixtures/v1").join(kind);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).expect("read fixture");
            (p, text)
        })
        .collect()
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn request_fixtures_deserialize() {
    for (path, text) in fixtures("requests") {
        let parsed: Result<RunRequest, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", name(&path), parsed.err());
    }
}

#[test]
fn event_stream_fixtures_deserialize_and_fold_into_reports() {
    for (path, text) in fixtures("events") {
        let events: Vec<Event> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{} line {}: {e}", name(&path), i + 1))
            })
            .collect();
        let first = events.first().expect("a stream has events");
        let mut report = RunReport::new(first.run, RunRequest::default(), first.ts);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                e.seq,
                i as u64 + 1,
                "{}: seq must count from 1 without gaps",
                name(&path)
            );
            report.apply(e);
        }
        // Ticket delivery may go on after the run: `ticket` events may follow `run_finished`.
        let last = events
            .iter()
            .rev()
            .find(|e| !matches!(e.data, EventData::Ticket(_)))
            .expect("a stream has events");
        assert!(
            matches!(last.data, EventData::RunFinished(_)),
            "{}: a stream ends with run_finished (then only ticket events)",
            name(&path)
        );
        assert!(report.state.is_terminal(), "{}", name(&path));
    }
}

/// The events of the stream fixture `file`, and the report they fold into.
fn folded(file: &str) -> (Vec<Event>, RunReport) {
    let path = crate_dir().join("tests/fixtures/v1/events").join(file);
    let text = fs::read_to_string(path).expect("fixture");
    let events: Vec<Event> = text.lines().map(|l| serde_json::from_str(l).expect("event")).collect();
    let mut report = RunReport::new(events[0].run, RunRequest::default(), events[0].ts);
    events.iter().for_each(|e| report.apply(e));
    (events, report)
}

#[test]
fn a_remediation_stream_folds_into_before_and_after() {
    let (_, report) = folded("remediation-restored.jsonl");
    assert!(report.request.options.confirm_actions);
    let remediation = report.remediation.expect("remediation folded");
    assert_eq!(remediation.action, "reconnect_data_session");
    assert_eq!(remediation.outcome, Some(sonde_protocol::RemediationOutcome::Restored));
    assert_eq!(remediation.device.as_deref(), Some("modem 192.0.2.1:502"));
    assert!(
        remediation.before.is_some_and(|d| !d.healthy),
        "the first diagnosis is kept"
    );
    assert!(
        report.diagnosis.is_some_and(|d| d.healthy),
        "the report shows the re-test"
    );
    assert!(report.findings.is_empty());
}

#[test]
fn steps_side_by_side_fold_in_plan_order() {
    // A "no Internet" run on netsim's box-dns-drop: DNS and HTTP beside the gateway and latency
    // probes, finishing before them.
    let (events, report) = folded("steps-side-by-side.jsonl");
    let dns = report
        .plan
        .steps
        .iter()
        .position(|s| s.check == sonde_protocol::CheckId::Dns);
    let dns = dns.expect("a dns step");
    assert!(
        report.plan.predecessors(dns).len() < dns,
        "dns runs beside earlier steps"
    );
    let finished: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::StepFinished(s) => Some(s.index),
            _ => None,
        })
        .collect();
    assert!(
        finished.windows(2).any(|w| w[1] < w[0]),
        "steps end out of order: {finished:?}"
    );
    let planned: Vec<_> = report.plan.steps.iter().map(|s| s.check).collect();
    let folded: Vec<_> = report.checks.iter().map(|c| c.id).collect();
    assert_eq!(folded, planned, "the report keeps the plan's order");
}

#[test]
fn report_fixtures_deserialize() {
    for (path, text) in fixtures("reports") {
        let parsed: Result<RunReport, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", name(&path), parsed.err());
    }
}

#[test]
fn run_list_fixtures_deserialize() {
    for (path, text) in fixtures("lists") {
        let parsed: Result<RunList, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", name(&path), parsed.err());
    }
}

#[test]
fn schedule_history_fixtures_deserialize() {
    for (path, text) in fixtures("schedule") {
        let parsed: Result<ScheduleHistory, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", name(&path), parsed.err());
    }
}

#[test]
fn error_fixtures_deserialize() {
    for (path, text) in fixtures("errors") {
        let parsed: Result<ApiError, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{}: {:?}", name(&path), parsed.err());
    }
}

#[test]
fn unknown_event_types_and_enum_values_are_tolerated() {
    let line = r#"{"v":1,"run":"0192f6a2-0000-7000-8000-000000000001","seq":7,"ts":"2026-11-26T17:52:29Z","type":"from_the_future","data":{"x":1}}"#;
    let event: Event = serde_json::from_str(line).expect("unknown type decodes");
    assert_eq!(event.data, EventData::Unknown);

    let line = r#"{"v":1,"run":"0192f6a2-0000-7000-8000-000000000001","seq":8,"ts":"2026-11-26T17:52:29Z","type":"run_finished","data":{"state":"exploded","new_field":true}}"#;
    let event: Event = serde_json::from_str(line).expect("unknown state decodes");
    match event.data {
        EventData::RunFinished(f) => assert_eq!(f.state, sonde_protocol::RunState::Unknown),
        other => panic!("expected run_finished, got {other:?}"),
    }
}

#[test]
fn empty_request_is_the_default_plan() {
    let request: RunRequest = serde_json::from_str("{}").expect("{} is a request");
    assert_eq!(request, RunRequest::default());
}

#[test]
fn a_requested_action_round_trips_and_is_left_out_when_absent() {
    let path = crate_dir().join("tests/fixtures/v1/requests/mobile-action.json");
    let text = fs::read_to_string(path).expect("fixture");
    let request: RunRequest = serde_json::from_str(&text).expect("a request");
    assert_eq!(request.options.action.as_deref(), Some("reconnect_data_session"));
    assert!(
        !request.options.confirm_actions,
        "the action needs no separate confirmation"
    );
    let again: RunRequest =
        serde_json::from_str(&serde_json::to_string(&request).expect("serializes")).expect("decodes");
    assert_eq!(again, request);
    // Older agents refuse unknown fields: a request without an action must not carry the key.
    let plain = serde_json::to_value(RunRequest::default()).expect("serializes");
    assert!(plain["options"].get("action").is_none(), "{plain}");
}
