//! DNS end to end: a box whose DNS relay answers A and swallows AAAA, diagnosed by the real
//! `sonde diagnose` on the device, and measured by `sonde dns`; `sonde dns` argument errors.

use std::process::Stdio;
use std::time::Duration;

use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;
use sonde_protocol::{CheckResult, MetricValue};

use crate::support::{GATEWAY, bin, sonde};

const BOX_DROPS_AAAA: &str = r#"
name = "box-dns-drop-aaaa"
description = "The box's DNS relay answers A queries and never AAAA ones"
seed = 7
[peers.box-dns]
mode = "drop-aaaa"
"#;

fn network(text: &str) -> Network {
    let scenario: Scenario = toml::from_str(text).expect("scenario");
    scenario.validate().expect("valid scenario");
    Network::up(&scenario).unwrap_or_else(|e| panic!("{e:#}"))
}

fn metric(check: &CheckResult, name: &str) -> MetricValue {
    check
        .metrics
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.value.clone())
        .unwrap_or_else(|| panic!("{name} missing: {check:?}"))
}

#[test]
fn a_box_dropping_aaaa_is_reported_while_a_works() {
    if !require_netsim("a_box_dropping_aaaa_is_reported_while_a_works") {
        return;
    }
    let network = network(BOX_DROPS_AAAA);
    let outcome = sonde(&network.device, &["diagnose", "--json", "--lang", "en"]);
    let report = outcome.report();
    let codes: Vec<String> = report.findings.iter().map(|f| f.code.to_string()).collect();
    let context = format!("findings {codes:?}\n{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.code, 1, "{context}");
    let dns = report
        .checks
        .iter()
        .find(|c| c.id.as_str() == "dns")
        .expect("dns check");
    assert_eq!(dns.status.as_str(), "warn", "{context}");
    // A works: every A query to the box was answered, and it counts as answering.
    assert_eq!(metric(dns, "resolver_addresses"), MetricValue::from(GATEWAY));
    assert_eq!(metric(dns, "resolvers_answering"), MetricValue::Number(1.0));
    assert_eq!(metric(dns, "failing_resolvers"), MetricValue::from(""));
    let sent = metric(dns, "queries_sent").as_f64();
    assert!(sent.is_some_and(|n| n >= 3.0), "{context}");
    assert_eq!(metric(dns, "queries_answered").as_f64(), sent, "{context}");
    // AAAA does not: the series gave up after two timeouts.
    assert_eq!(metric(dns, "aaaa_queries_sent"), MetricValue::Number(2.0), "{context}");
    assert_eq!(
        metric(dns, "aaaa_queries_answered"),
        MetricValue::Number(0.0),
        "{context}"
    );
    assert_eq!(metric(dns, "aaaa_failing_resolvers"), MetricValue::from(GATEWAY));
    let reason = dns.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("resolver 192.0.2.1 answers A but not AAAA (2 timeout)"),
        "{reason}"
    );

    let top = report.findings.first().expect("a finding");
    assert_eq!(top.code.to_string(), "DNS_AAAA_FAILING", "{context}");
    assert!(top.root_cause, "{context}");
    assert_eq!(
        top.segment.as_str(),
        "box",
        "the failing relay is the gateway: {context}"
    );
    assert!(
        !codes.iter().any(|c| c.contains("RESOLVER_FAILING")),
        "A works: the resolver is not failing: {context}"
    );
    // The peer saw the AAAA queries it dropped.
    let box_dns = network.dns("box-dns").expect("box-dns peer");
    assert!(box_dns.queries() >= 3 + 2, "{}", box_dns.queries());
    assert!(outcome.elapsed < Duration::from_secs(30), "took {:?}", outcome.elapsed);
}

#[test]
fn sonde_dns_measures_the_box_with_the_checks_query_path() {
    if !require_netsim("sonde_dns_measures_the_box_with_the_checks_query_path") {
        return;
    }
    let network = network(BOX_DROPS_AAAA);
    let a = sonde(
        &network.device,
        &["dns", "www.example.com", "--server", GATEWAY, "-c", "3", "-i", "10"],
    );
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    let lines: Vec<&str> = a.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", a.stdout);
    for (seq, line) in (1..).zip(&lines[..3]) {
        let expected = format!("www.example.com A @192.0.2.1:53: seq={seq} answer (1 record) time=");
        assert!(line.starts_with(&expected), "{line}");
        // Microseconds: three decimals of a millisecond.
        let time = line.rsplit("time=").next().and_then(|t| t.strip_suffix(" ms"));
        let decimals = time.and_then(|t| t.split_once('.')).map(|(_, d)| d.len());
        assert_eq!(decimals, Some(3), "{line}");
    }
    assert!(
        lines[3].starts_with("3 sent, 3 answered, 3 responses; latency min/median/max = "),
        "{}",
        lines[3]
    );

    let aaaa = sonde(
        &network.device,
        &[
            "dns",
            "www.example.com",
            "-s",
            GATEWAY,
            "-c",
            "2",
            "-i",
            "10",
            "-W",
            "200",
            "--type",
            "AAAA",
        ],
    );
    assert_eq!(aaaa.code, 1, "nothing answered: {}\n{}", aaaa.stdout, aaaa.stderr);
    assert!(
        aaaa.stdout
            .contains("www.example.com AAAA @192.0.2.1:53: seq=1 timeout\n"),
        "{}",
        aaaa.stdout
    );
    assert!(
        aaaa.stdout
            .contains("2 sent, 0 answered, 0 responses; latency min/median/max = -/-/- ms"),
        "{}",
        aaaa.stdout
    );
}

/// Bad input is refused before anything is sent, with exit status 2: no namespace needed.
#[test]
fn sonde_dns_argument_errors_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["dns"], "<NAME>"),
        (&["dns", "a..b", "--server", "192.0.2.53"], "empty label"),
        (
            &["dns", "example.com", "--server", "resolver.example"],
            "not an IP address",
        ),
        (&["dns", "example.com", "-s", "192.0.2.53", "-c", "0"], "-c"),
        (&["dns", "example.com", "-s", "192.0.2.53", "--type", "MX"], "MX"),
    ];
    for (args, hint) in cases {
        let out = std::process::Command::new(bin("sonde"))
            .args(*args)
            .stdin(Stdio::null())
            .output()
            .expect("run sonde");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
