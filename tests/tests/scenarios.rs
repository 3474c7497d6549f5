//! The scenario matrix: every file under `tests/scenarios/` is played — its network built, the
//! real `sonde diagnose` run on its customer device — and the diagnosis checked against the
//! scenario's `[expect]`. Each scenario is played several times (`SONDE_SCENARIO_RUNS`,
//! default 3) and must give the same verdict every time: a flaky scenario fails.

use std::path::{Path, PathBuf};

use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;

use crate::support::sonde;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn runs() -> usize {
    std::env::var("SONDE_SCENARIO_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Plays one scenario `runs()` times and checks each diagnosis.
fn play(name: &str) {
    if !require_netsim(&format!("scenario {name}")) {
        return;
    }
    let path = scenarios_dir().join(format!("{name}.toml"));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let expect = scenario.expect.clone().unwrap_or_else(|| panic!("{name}: no [expect]"));
    for run in 1..=runs() {
        let network = Network::up(&scenario).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let problem = expect.problem.as_deref().unwrap_or("no-internet");
        let mut args = vec!["diagnose", "--json", "--lang", "en", "--problem", problem];
        if let Some(profile) = expect.profile.as_deref() {
            args.extend(["--profile", profile]);
        }
        let outcome = sonde(&network.device, &args);
        let report = outcome.report();
        if run == 1 && std::env::var("SONDE_BLESS").as_deref() == Ok("1") {
            bless_checks(name, &outcome.stdout);
        }
        let top = report.findings.first().filter(|f| f.root_cause);
        let top_code = top.map_or_else(|| "HEALTHY".to_owned(), |f| f.code.to_string());
        let codes: Vec<String> = report.findings.iter().map(|f| f.code.to_string()).collect();
        let context = format!("{name} run {run}: findings {codes:?}\n{}", outcome.stdout);
        assert_eq!(top_code, expect.top, "{context}");
        if let Some(segment) = &expect.segment {
            assert_eq!(top.map(|f| f.segment.as_str()), Some(segment.as_str()), "{context}");
        }
        for absent in &expect.absent {
            assert!(!codes.contains(absent), "{absent} must not appear: {context}");
        }
        if expect.top == "HEALTHY" {
            assert_eq!(outcome.code, 0, "{context}");
            assert!(
                report.findings.iter().all(|f| f.severity.as_str() == "info"),
                "a healthy network raises no alarm: {context}"
            );
        } else {
            assert_eq!(outcome.code, 1, "{context}");
        }
        drop(network);
    }
}

/// Keeps a scenario's check results (without raw samples) as a fixture of the diagnosis
/// property test (`agent/tests/diagnosis.rs`): real evaluations of real networks to perturb.
fn bless_checks(name: &str, report: &str) {
    let mut report: serde_json::Value = serde_json::from_str(report).expect("a JSON report");
    let checks = report
        .get_mut("checks")
        .and_then(serde_json::Value::as_array_mut)
        .expect("checks");
    for check in checks.iter_mut() {
        if let Some(check) = check.as_object_mut() {
            check.remove("samples");
            check.insert("duration_ms".to_owned(), 0.into());
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/scenario-checks");
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let text = serde_json::to_string_pretty(&checks).expect("serialise") + "\n";
    std::fs::write(dir.join(format!("{name}.json")), text).expect("write fixture");
}

macro_rules! scenarios {
    ($($name:ident => $file:literal,)*) => {
        $( #[test] fn $name() { play($file); } )*

        /// Every scenario file is in the matrix, and every matrix entry has a file.
        #[test]
        fn every_scenario_file_is_played() {
            let mut listed: Vec<&str> = vec![$($file),*];
            listed.sort_unstable();
            let mut files: Vec<String> = std::fs::read_dir(scenarios_dir())
                .expect("tests/scenarios")
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".toml").map(str::to_owned))
                .collect();
            files.sort();
            assert_eq!(files, listed);
            for file in &files {
                let scenario = Scenario::load(&scenarios_dir().join(format!("{file}.toml")))
                    .unwrap_or_else(|e| panic!("{e:#}"));
                assert!(scenario.expect.is_some(), "{file} has no [expect]");
                assert!(!scenario.description.is_empty(), "{file} has no description");
            }
        }
    };
}

scenarios! {
    healthy => "healthy",
    healthy_long_access => "healthy-long-access",
    link_down => "link-down",
    no_default_route => "no-default-route",
    box_dead => "box-dead",
    box_dns_drop => "box-dns-drop",
    box_dns_servfail => "box-dns-servfail",
    box_dns_refused => "box-dns-refused",
    box_dns_off => "box-dns-off",
    box_dns_drop_aaaa => "box-dns-drop-aaaa",
    isp_dns_down => "isp-dns-down",
    isp_dns_down_public_works => "isp-dns-down-public-works",
    dns_slow => "dns-slow",
    home_loss => "home-loss",
    home_latency => "home-latency",
    access_outage => "access-outage",
    access_loss => "access-loss",
    access_loss_3pct => "access-loss-3pct",
    access_bursty_loss => "access-bursty-loss",
    access_high_jitter => "access-high-jitter",
    internet_slow => "internet-slow",
    healthy_50m => "healthy-50m",
    throughput_below_contract => "throughput-below-contract",
    bufferbloat => "bufferbloat",
    ipv6_broken => "ipv6-broken",
    dns_hijack => "dns-hijack",
    dns_down_everywhere => "dns-down-everywhere",
    wifi_weak => "wifi-weak",
    wifi_weak_nl80211 => "wifi-weak-nl80211",
    wifi_congested => "wifi-congested",
    wifi_open => "wifi-open",
    healthy_wifi => "healthy-wifi",
    captive_portal => "captive-portal",
    https_blocked => "https-blocked",
    tls_intercepted => "tls-intercepted",
    remote_service_down => "remote-service-down",
    pmtu_black_hole => "pmtu-black-hole",
    access_loss_traced => "access-loss-traced",
    mobile_no_service => "mobile-no-service",
    mobile_weak_rsrp => "mobile-weak-rsrp",
    healthy_4g => "healthy-4g",
    box_overheating => "box-overheating",
    box_just_rebooted => "box-just-rebooted",
}
