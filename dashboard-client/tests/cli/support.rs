//! Shared helpers: the fixture report, the `sonde` binary, scratch directories, a seeded
//! history.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sonde_agent::store::Store;
use sonde_protocol::{
    Event, EventData, PROTOCOL_VERSION, Progress, RunFinished, RunId, RunReport, RunStarted, StepFinished,
};

/// The directory of the test fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A finished run with a finding and a check of every status (and an unknown one), whose texts
/// need XML escaping.
pub fn fixture_report() -> RunReport {
    let text = std::fs::read_to_string(fixtures().join("report.json")).expect("read the fixture report");
    serde_json::from_str(&text).expect("the fixture report decodes")
}

/// Runs the `sonde` binary with `args`, its history in `history`, without the caller's token
/// or configuration.
pub fn sonde(args: &[&str], history: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sonde"))
        .args(args)
        .env("SONDE_HISTORY", history)
        .env_remove("SONDE_TOKEN")
        .env("SONDE_CONFIG", fixtures().join("empty.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("run sonde")
}

/// The text of an output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory of its own for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sonde-cli-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stores `report` in the history at `path` as a daemon's store holds it.
pub fn seed_history(path: &Path, report: &RunReport) {
    let store = Store::open(path).expect("open the history");
    store
        .create_run(report.run, &report.request, report.created_at)
        .expect("create the run");
    for event in events_of(report) {
        store.append(&event).expect("append an event");
    }
}

/// The events that tell `report`, from `run_started` to `run_finished`.
pub fn events_of(report: &RunReport) -> Vec<Event> {
    let mut data = vec![EventData::RunStarted(RunStarted {
        request: report.request.clone(),
        plan: report.plan.clone(),
        agent_version: report.agent_version.clone(),
    })];
    for (index, result) in report.checks.iter().enumerate() {
        data.push(EventData::StepFinished(StepFinished {
            index,
            result: result.clone(),
            progress: Progress {
                fraction: (index + 1) as f64 / report.checks.len() as f64,
                eta_ms: None,
            },
        }));
    }
    if let Some(diagnosis) = &report.diagnosis {
        data.push(EventData::Diagnosis(diagnosis.clone()));
    }
    data.push(EventData::RunFinished(RunFinished {
        state: report.state,
        reason: report.reason.clone(),
    }));
    let mut events = Vec::new();
    for (i, data) in data.into_iter().enumerate() {
        let finished = matches!(data, EventData::RunFinished(_));
        events.push(Event {
            v: PROTOCOL_VERSION,
            run: report.run,
            seq: i as u64 + 1,
            ts: if finished {
                report.finished_at.unwrap_or(report.created_at)
            } else {
                report.created_at
            },
            data,
        });
    }
    events
}

/// A run id of our choosing.
pub fn run_id(text: &str) -> RunId {
    text.parse().expect("a run id")
}

/// Replaces what differs from run to run (ids, times) so that a snapshot holds across fixtures.
pub fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if matches!(key.as_str(), "run" | "created_at" | "finished_at" | "ts") && !value.is_null() {
                    *value = serde_json::Value::String(format!("[{key}]"));
                } else {
                    redact(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}
