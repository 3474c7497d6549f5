//! `sonde diagnose` exit codes: 0 when the diagnosis (or `--expect`) holds, 1 when it does not,
//! 2 when the run could not be made or the input is bad.

use sonde_dashboard::{Expect, exit_code};
use sonde_protocol::RunState;

use crate::support::{Scratch, fixture_report, sonde, text};

#[test]
fn expect_maps_to_exit_codes() {
    let problem = fixture_report();
    let mut healthy = problem.clone();
    if let Some(d) = healthy.diagnosis.as_mut() {
        d.healthy = true;
        d.findings.clear();
    }
    let expect = |s: &str| s.parse::<Expect>().expect("expect");
    let cases = [
        (&healthy, None, 0),
        (&problem, None, 1),
        (&healthy, Some(expect("healthy")), 0),
        (&problem, Some(expect("healthy")), 1),
        (&problem, Some(expect("dns_resolver_failing")), 0),
        (&problem, Some(expect("DNS_RESOLVER_FAILING,GATEWAY_UNREACHABLE")), 1),
        (&healthy, Some(expect("DNS_RESOLVER_FAILING")), 1),
    ];
    for (report, expect, code) in &cases {
        assert_eq!(exit_code(report, expect.as_ref()), *code, "{expect:?}");
    }
    for state in [RunState::Canceled, RunState::Failed, RunState::Interrupted] {
        let mut cut = healthy.clone();
        cut.state = state;
        assert_eq!(exit_code(&cut, Some(&Expect::Healthy)), 2, "{state}");
    }
    let mut undiagnosed = healthy.clone();
    undiagnosed.diagnosis = None;
    assert_eq!(exit_code(&undiagnosed, None), 2);
}

#[test]
fn bad_expect_values_exit_2_with_a_message() {
    let scratch = Scratch::new("bad-expect");
    for bad in ["", ",", "NOT_A_CODE", "healthy,"] {
        let out = sonde(&["diagnose", "--yes", "--expect", bad], &scratch.path("history.db"));
        assert_eq!(out.status.code(), Some(2), "--expect {bad:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("--expect"), "{bad:?}: {stderr}");
    }
}

#[test]
fn an_action_this_host_cannot_perform_exits_2_before_measuring_anything() {
    let scratch = Scratch::new("unavailable-action");
    for (action, expected) in [
        (
            "reconnect_data_session",
            "action `reconnect_data_session` is not available on this host: no modem configured ([mobile] modem)",
        ),
        ("format_disk", "unknown action `format_disk` in options.action"),
    ] {
        let out = sonde(
            &["diagnose", "--yes", "--lang", "en", "--action", action],
            &scratch.path("history.db"),
        );
        assert_eq!(out.status.code(), Some(2), "--action {action}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "--action {action}: {stderr}");
    }
}
