//! `sonde diagnose` end to end, embedded and through `sonded`, on real sockets in namespaces.

use std::net::SocketAddr;
use std::time::Duration;

use sonde_netsim::{Netns, require_netsim};
use sonde_protocol::{Event, EventData, RunReport, RunState};

use crate::support::{CuttingProxy, Daemon, GATEWAY, Lan, http, sonde};

const JSON: &[&str] = &["diagnose", "--json", "--lang", "en"];

fn assert_problem(outcome: &crate::support::Outcome, code: &str) {
    assert_eq!(
        outcome.code, 1,
        "exit code 1 (problem found); stderr:\n{}",
        outcome.stderr
    );
    assert_eq!(outcome.top_code(), code, "report:\n{}", outcome.stdout);
    let report = outcome.report();
    assert_eq!(report.state, RunState::Completed);
    let root = &report.findings[0];
    assert!(root.root_cause, "the top finding is the root cause");
    assert!(outcome.elapsed < Duration::from_secs(15), "took {:?}", outcome.elapsed);
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
}

#[test]
fn dns_failing_while_the_gateway_answers() {
    if !require_netsim("dns_failing_while_the_gateway_answers") {
        return;
    }
    let lan = Lan::new();
    let outcome = sonde(&lan.dev, JSON);
    assert_problem(&outcome, "DNS_RESOLVER_FAILING");
    let report = outcome.report();
    let gateway = report
        .checks
        .iter()
        .find(|c| c.id.as_str() == "gateway")
        .expect("gateway check");
    assert_eq!(gateway.status.as_str(), "pass", "the gateway answers: {gateway:?}");
    assert_eq!(
        report.findings[0].segment.as_str(),
        "box",
        "the resolver is the box itself"
    );
}

#[test]
fn gateway_unreachable_when_its_address_is_gone() {
    if !require_netsim("gateway_unreachable_when_its_address_is_gone") {
        return;
    }
    let lan = Lan::new();
    // The link stays up; nothing answers at the gateway's address any more.
    lan.gw.ip(&["addr", "flush", "dev", "eth0"]).expect("flush");
    let outcome = sonde(&lan.dev, JSON);
    assert_problem(&outcome, "GATEWAY_UNREACHABLE");
    let report = outcome.report();
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.code.as_str() != "DNS_RESOLVER_FAILING"),
        "DNS is not blamed when the gateway is down: {:?}",
        report.findings.iter().map(|f| f.code).collect::<Vec<_>>()
    );
}

#[test]
fn no_link_with_nothing_but_loopback() {
    if !require_netsim("no_link_with_nothing_but_loopback") {
        return;
    }
    let alone = Netns::new("alone").expect("namespace");
    alone
        .set_resolv_conf(&format!("nameserver {GATEWAY}\n"))
        .expect("resolv.conf");
    crate::support::anchors_nowhere(&alone);
    let outcome = sonde(&alone, JSON);
    assert_problem(&outcome, "NO_LINK");
}

#[test]
fn ci_mode_junit_expect_and_history() {
    if !require_netsim("ci_mode_junit_expect_and_history") {
        return;
    }
    let lan = Lan::new();
    let junit = lan.dev.state_file("sonde-junit.xml");
    let junit_arg = junit.to_str().expect("utf-8 path");
    let outcome = sonde(
        &lan.dev,
        &[
            "diagnose",
            "--json",
            "--lang",
            "en",
            "--expect",
            "DNS_RESOLVER_FAILING",
            "--junit",
            junit_arg,
        ],
    );
    assert_eq!(outcome.code, 0, "the expectation holds; stderr:\n{}", outcome.stderr);
    let report = outcome.report();
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    let xsd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dashboard-client/tests/fixtures/junit.xsd"
    );
    let lint = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", xsd, junit_arg])
        .output()
        .expect("xmllint (libxml2-utils, scripts/install-test-deps.sh)");
    assert!(
        lint.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(
        xml.contains("<failure message=\"no resolver answered\" type=\"fail\">"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<property name=\"sonde.run\" value=\"{}\"/>", report.run)),
        "{xml}"
    );

    let outcome = sonde(&lan.dev, &["diagnose", "--yes", "--expect", "healthy"]);
    assert_eq!(outcome.code, 1, "not healthy; stderr:\n{}", outcome.stderr);

    // Both runs are in the history, newest first; `show --json` is the report `--json` printed.
    let history = sonde(&lan.dev, &["history"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let lines: Vec<&str> = history.stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{}", history.stdout);
    assert!(lines[1].starts_with(&report.run.to_string()), "{}", history.stdout);
    assert!(lines[1].contains("DNS_RESOLVER_FAILING"), "{}", history.stdout);
    let shown = sonde(&lan.dev, &["show", &report.run.to_string(), "--json"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.report(), report);
}

#[test]
fn human_output_is_french_by_default() {
    if !require_netsim("human_output_is_french_by_default") {
        return;
    }
    let alone = Netns::new("alone").expect("namespace");
    alone
        .set_resolv_conf(&format!("nameserver {GATEWAY}\n"))
        .expect("resolv.conf");
    crate::support::anchors_nowhere(&alone);
    let outcome = sonde(&alone, &["diagnose"]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .contains("Diagnostic : Votre appareil n'est connecté à aucun réseau."),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("Que faire"), "{}", outcome.stdout);
}

const AGENT: &str = "127.0.0.1:8790";

fn codes(report: &RunReport) -> Vec<String> {
    report.findings.iter().map(|f| f.code.to_string()).collect()
}

fn statuses(report: &RunReport) -> Vec<(String, String)> {
    report
        .checks
        .iter()
        .map(|c| (c.id.to_string(), c.status.to_string()))
        .collect()
}

#[test]
fn daemon_and_embedded_agree() {
    if !require_netsim("daemon_and_embedded_agree") {
        return;
    }
    let lan = Lan::new();
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let _daemon = Daemon::start(&lan.dev, addr, ":memory:");
    let embedded = sonde(&lan.dev, JSON);
    let url = format!("http://{addr}");
    let remote = sonde(&lan.dev, &["diagnose", "--json", "--lang", "en", "--agent", &url]);
    assert_eq!(remote.code, embedded.code, "remote stderr:\n{}", remote.stderr);
    let (e, r) = (embedded.report(), remote.report());
    assert_eq!(codes(&r), codes(&e));
    assert_eq!(statuses(&r), statuses(&e));
    assert_eq!(
        r.diagnosis.as_ref().map(|d| &d.summary),
        e.diagnosis.as_ref().map(|d| &d.summary)
    );

    // The daemon keeps the run: its report is served by id.
    let run = r.run;
    let (status, body) = lan
        .dev
        .run_inside(move || http(addr, "GET", &format!("/v1/runs/{run}"), None))
        .expect("thread")
        .expect("GET");
    assert_eq!(status, 200);
    let stored: RunReport = serde_json::from_str(&body).expect("report");
    assert_eq!(codes(&stored), codes(&e));
}

#[test]
fn a_client_cut_mid_run_resumes_and_gets_every_event_once() {
    if !require_netsim("a_client_cut_mid_run_resumes_and_gets_every_event_once") {
        return;
    }
    let lan = Lan::new();
    let upstream: SocketAddr = AGENT.parse().expect("addr");
    let _daemon = Daemon::start(&lan.dev, upstream, ":memory:");
    let proxy = CuttingProxy::start(&lan.dev, "127.0.0.1:0".parse().expect("addr"), upstream, 1500);
    let url = format!("http://{}", proxy.addr);
    let outcome = sonde(&lan.dev, &["diagnose", "--json=events", "--agent", &url]);
    assert!(
        proxy.cut.load(std::sync::atomic::Ordering::SeqCst),
        "the proxy cut the stream"
    );
    assert!(
        outcome.stderr.contains("resuming after event"),
        "the client noticed the cut:\n{}",
        outcome.stderr
    );
    let events: Vec<Event> = outcome
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}")))
        .collect();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "every event exactly once, in order"
    );
    assert!(matches!(
        events.last().map(|e| &e.data),
        Some(EventData::RunFinished(_))
    ));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
}

#[test]
fn a_run_cut_by_a_daemon_crash_reads_interrupted_after_restart() {
    if !require_netsim("a_run_cut_by_a_daemon_crash_reads_interrupted_after_restart") {
        return;
    }
    let lan = Lan::new();
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let dir = std::env::temp_dir().join(format!("sonde-e2e-crash-{}", std::process::id()));
    let db = dir.join("sonded.db");
    let db = db.to_str().expect("utf-8 path");
    let mut daemon = Daemon::start(&lan.dev, addr, db);
    let (status, body) = lan
        .dev
        .run_inside(move || http(addr, "POST", "/v1/runs", Some("{}")))
        .expect("thread")
        .expect("POST");
    assert_eq!(status, 201, "answer: {body}");
    let created: sonde_protocol::RunCreated = serde_json::from_str(&body).expect("created");
    std::thread::sleep(Duration::from_millis(300));
    daemon.kill(); // SIGKILL, mid-run
    let _daemon = Daemon::start(&lan.dev, addr, db);
    let run = created.run;
    let (status, body) = lan
        .dev
        .run_inside(move || http(addr, "GET", &format!("/v1/runs/{run}"), None))
        .expect("thread")
        .expect("GET");
    assert_eq!(status, 200, "answer: {body}");
    let report: RunReport = serde_json::from_str(&body).expect("report");
    assert_eq!(report.state, RunState::Interrupted);
    let _ = std::fs::remove_dir_all(dir);
}
