//! The JUnit file: its content (snapshot), and its validity against the JUnit XSD that CI
//! servers read (`tests/fixtures/junit.xsd`), checked with xmllint.

use std::process::Command;

use sonde_dashboard::Expect;
use sonde_dashboard::junit::junit_xml;
use sonde_protocol::{RunReport, RunState};

use crate::support::{Scratch, fixture_report, fixtures};

/// Validates `xml` against the JUnit XSD; returns xmllint's verdict as an error.
fn validate(xml: &str, scratch: &Scratch, name: &str) -> Result<(), String> {
    let file = scratch.path(name);
    std::fs::write(&file, xml).expect("write the JUnit file");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(fixtures().join("junit.xsd"))
        .arg(&file)
        .output()
        // CI must fail rather than skip: the validation is the point of this test.
        .unwrap_or_else(|e| panic!("cannot run xmllint ({e}): install libxml2-utils (scripts/install-test-deps.sh)"));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_junit_file_maps_each_check_and_the_verdict() {
    let xml = junit_xml(&fixture_report(), "ci-runner", None);
    insta::assert_snapshot!("junit_fixture", xml);
}

#[test]
fn the_junit_file_is_valid_against_the_xsd_in_every_outcome() {
    let scratch = Scratch::new("junit-xsd");
    let report = fixture_report();
    let met: Expect = "DNS_RESOLVER_FAILING".parse().expect("expect");
    let mut healthy = report.clone();
    healthy.checks.retain(|c| c.status.as_str() == "pass");
    if let Some(d) = healthy.diagnosis.as_mut() {
        d.healthy = true;
        d.findings.clear();
    }
    healthy.findings.clear();
    let failed = RunReport {
        state: RunState::Failed,
        reason: Some("no network interface at all <none>".to_owned()),
        diagnosis: None,
        findings: Vec::new(),
        checks: Vec::new(),
        finished_at: None,
        ..report.clone()
    };
    let cases = [
        ("problem.xml", junit_xml(&report, "ci-runner", None)),
        ("expect-met.xml", junit_xml(&report, "ci-runner", Some(&met))),
        (
            "expect-healthy.xml",
            junit_xml(&report, "ci-runner", Some(&Expect::Healthy)),
        ),
        ("healthy.xml", junit_xml(&healthy, "box.home", None)),
        (
            "failed.xml",
            junit_xml(&failed, "host \"with\" <odd> name & more", None),
        ),
        ("blank-hostname.xml", junit_xml(&report, " ", None)),
    ];
    for (name, xml) in &cases {
        if let Err(e) = validate(xml, &scratch, name) {
            panic!("{name} is not valid JUnit:\n{e}\n{xml}");
        }
    }
    let count = |xml: &str, tag: &str| xml.matches(tag).count();
    // The diagnosis test case follows --expect: met, it passes; not met, it fails.
    assert_eq!(count(&cases[0].1, "<failure "), 2, "dns and the diagnosis");
    assert_eq!(count(&cases[1].1, "<failure "), 1, "dns only: the expectation holds");
    assert_eq!(count(&cases[3].1, "<failure "), 0);
    assert_eq!(
        count(&cases[4].1, "<error "),
        1,
        "a run that did not complete is an error"
    );
}

#[test]
fn the_xsd_rejects_what_ci_servers_would_not_read() {
    // The validation is only worth something if the schema says no.
    let scratch = Scratch::new("junit-xsd-negative");
    let good = junit_xml(&fixture_report(), "ci-runner", None);
    let broken = [
        ("no-hostname.xml", good.replacen(" hostname=\"ci-runner\"", "", 1)),
        ("bad-time.xml", good.replacen("time=\"0.901\"", "time=\"soon\"", 1)),
        (
            "zoned-timestamp.xml",
            good.replacen(
                "timestamp=\"2026-11-26T18:17:07\"",
                "timestamp=\"2026-11-26T18:17:07Z\"",
                1,
            ),
        ),
        (
            "two-outcomes.xml",
            good.replacen("<skipped ", "<failure type=\"x\"/><skipped ", 1),
        ),
    ];
    for (name, xml) in &broken {
        assert_ne!(xml, &good, "{name}: the fixture changed; update this test");
        assert!(validate(xml, &scratch, name).is_err(), "{name} should be invalid");
    }
}

#[test]
fn sonde_diagnose_refuses_a_junit_path_it_cannot_write_before_running() {
    let scratch = Scratch::new("junit-path");
    let history = scratch.path("history.db");
    for (path, message) in [
        ("/nonexistent-sonde-dir/report.xml", "does not exist"),
        (scratch.0.to_str().expect("utf-8 path"), "is a directory"),
    ] {
        let out = crate::support::sonde(&["diagnose", "--yes", "--junit", path], &history);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let stderr = crate::support::text(&out.stderr);
        assert!(stderr.contains(message), "{path}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!history.exists(), "nothing ran");
}
