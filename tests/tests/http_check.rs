//! The agent's `http` check on simulated networks: `measure_http` runs inside the device's
//! namespace against the netsim web server (203.0.113.80: HTTP on 80, HTTPS on 443 with the
//! peer's own CA), then `evaluate_http` judges it.
//!
//! Every target is an address inside the simulated network: the check's defaults name real
//! Internet hosts, so each test passes its own.

use std::path::Path;
use std::time::{Duration, Instant};

use sonde_agent::checks::NoProgress;
use sonde_agent::checks::http::{
    FailureKind, HttpOptions, HttpSamples, HttpThresholds, HttpUrl, Phase, evaluate_http, measure_http,
};
use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;
use sonde_protocol::{CheckStatus, Metric, MetricValue};

const HTTPS_TARGET: &str = "https://203.0.113.80/";
const PORTAL_PROBE: &str = "http://203.0.113.80/generate_204";

fn network(toml: &str) -> Network {
    let scenario: Scenario = toml::from_str(toml).expect("scenario parses");
    Network::up(&scenario).expect("network up")
}

/// The check's options for this network: the HTTPS target and the portal probe at the web
/// server, trusting `ca_file` (the peer's CA) when given; the default timeouts.
fn options(ca_file: Option<&Path>) -> HttpOptions {
    HttpOptions {
        targets: vec![HttpUrl::parse(HTTPS_TARGET).expect("target URL")],
        portal_probe: Some(HttpUrl::parse(PORTAL_PROBE).expect("probe URL")),
        ca_file: ca_file.map(Path::to_path_buf),
        ..HttpOptions::default()
    }
}

/// The peer's CA file.
fn web_ca(network: &Network) -> &Path {
    network.web().expect("the web peer runs").ca_file()
}

/// Runs `measure_http` inside the device's namespace; returns the samples and how long it took.
fn measure(network: &Network, options: HttpOptions) -> (HttpSamples, Duration) {
    network
        .device
        .run_inside(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let started = Instant::now();
            let samples = runtime.block_on(measure_http(&options, &NoProgress));
            (samples.expect("measured"), started.elapsed())
        })
        .expect("inside the device")
}

fn metric<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name} in {metrics:?}"))
}

fn number(metrics: &[Metric], name: &str) -> f64 {
    metric(metrics, name)
        .value
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not a number: {metrics:?}"))
}

fn flag(metrics: &[Metric], name: &str) -> Option<bool> {
    metric(metrics, name).value.as_bool()
}

fn text<'a>(metrics: &'a [Metric], name: &str) -> Option<&'a str> {
    metric(metrics, name).value.as_str()
}

#[test]
fn http_check_healthy_network() {
    if !require_netsim("http_check_healthy_network") {
        return;
    }
    let net = network("");
    let (samples, elapsed) = measure(&net, options(Some(web_ca(&net))));
    let target = &samples.targets[0];
    assert_eq!(target.status, Some(200), "{target:?}");
    assert_eq!(target.tls_version.as_deref(), Some("1.3"));
    assert_eq!(target.dns_us, None, "an IP literal is not resolved");
    for (phase, us) in [
        ("connect", target.connect_us),
        ("tls", target.tls_us),
        ("ttfb", target.ttfb_us),
    ] {
        let us = us.unwrap_or_else(|| panic!("no {phase} time: {target:?}"));
        // Unimpaired emulated links add well under a millisecond; a handshake costs a few.
        assert!(us > 0 && us < 200_000, "{phase} {us} µs");
    }
    let probe = samples.portal.as_ref().expect("probe");
    assert_eq!(probe.exchange.status, Some(204));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
    let m = &evaluation.metrics;
    assert_eq!(flag(m, "captive_portal"), Some(false));
    assert_eq!(flag(m, "https_reachable"), Some(true));
    assert_eq!(flag(m, "http_reachable"), Some(true));
    assert_eq!(flag(m, "https_firewall"), Some(false));
    assert_eq!(flag(m, "http_firewall"), Some(false));
    assert_eq!(metric(m, "cert_error").value, MetricValue::Missing);
    assert_eq!(metric(m, "dns_ms").value, MetricValue::Missing);
    let latency = number(m, "https_latency_ms");
    assert!(latency > 0.0 && latency < 300.0, "https_latency_ms {latency}");
    assert_eq!(metric(m, "https_latency_ms").status, Some(CheckStatus::Pass));
}

#[test]
fn http_check_detects_a_captive_portal_and_its_login_url() {
    if !require_netsim("http_check_detects_a_captive_portal_and_its_login_url") {
        return;
    }
    let login = "http://203.0.113.80/login";
    let net = network(&format!("[peers.web]\nmode = {{ captive-portal = \"{login}\" }}\n"));
    let (samples, _) = measure(&net, options(Some(web_ca(&net))));
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
    let reason = evaluation.reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("captive portal"), "{reason}");
    assert!(reason.contains(login), "{reason}");
    let m = &evaluation.metrics;
    assert_eq!(flag(m, "captive_portal"), Some(true));
    assert_eq!(text(m, "portal_location"), Some(login));
    assert_eq!(
        number(m, "portal_probe_status"),
        200.0,
        "the peer answers the probe with its page"
    );
}

#[test]
fn http_check_detects_an_https_firewall() {
    if !require_netsim("http_check_detects_an_https_firewall") {
        return;
    }
    let net = network("[peers.web]\nmode = \"refuse-https\"\n");
    let (samples, _) = measure(&net, options(Some(web_ca(&net))));
    let error = samples.targets[0].error.as_ref().expect("HTTPS fails");
    assert_eq!(
        (error.phase, error.kind),
        (Phase::Connect, FailureKind::Refused),
        "{error:?}"
    );
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
    assert!(
        evaluation
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("HTTPS blocked")),
        "{evaluation:?}"
    );
    let m = &evaluation.metrics;
    assert_eq!(flag(m, "https_firewall"), Some(true));
    assert_eq!(flag(m, "http_firewall"), Some(false));
    assert_eq!(flag(m, "https_reachable"), Some(false));
    assert_eq!(flag(m, "http_reachable"), Some(true));
    assert_eq!(flag(m, "captive_portal"), Some(false));
}

#[test]
fn http_check_detects_an_http_firewall() {
    if !require_netsim("http_check_detects_an_http_firewall") {
        return;
    }
    let net = network("[peers.web]\nmode = \"refuse-http\"\n");
    let (samples, _) = measure(&net, options(Some(web_ca(&net))));
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Warn, "{evaluation:?}");
    let m = &evaluation.metrics;
    assert_eq!(flag(m, "http_firewall"), Some(true));
    assert_eq!(flag(m, "https_firewall"), Some(false));
    assert_eq!(flag(m, "https_reachable"), Some(true));
    assert_eq!(
        metric(m, "captive_portal").value,
        MetricValue::Missing,
        "no answer: unknown"
    );
}

#[test]
fn http_check_judges_https_latency_on_a_slow_access_link() {
    if !require_netsim("http_check_judges_https_latency_on_a_slow_access_link") {
        return;
    }
    // 200 ms each way: every round trip takes 400 ms.
    let net = network("[links.access.both]\ndelay-ms = 200\n");
    let (samples, elapsed) = measure(&net, options(Some(web_ca(&net))));
    let target = &samples.targets[0];
    assert_eq!(target.status, Some(200), "{target:?}");
    // TCP connect, the TLS 1.3 handshake and the request each take one round trip.
    for (phase, us) in [
        ("connect", target.connect_us),
        ("tls", target.tls_us),
        ("ttfb", target.ttfb_us),
    ] {
        let ms = us.unwrap_or_else(|| panic!("no {phase} time: {target:?}")) as f64 / 1000.0;
        assert!((395.0..480.0).contains(&ms), "{phase} {ms} ms");
    }
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    let latency = metric(&evaluation.metrics, "https_latency_ms");
    assert!(latency.value.as_f64().is_some_and(|ms| ms >= 1000.0), "{latency:?}");
    assert_eq!(latency.status, Some(CheckStatus::Fail));
    assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
    assert!(
        evaluation
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("https_latency_ms")),
        "{evaluation:?}"
    );
}

#[test]
fn http_check_reports_a_certificate_it_does_not_trust() {
    if !require_netsim("http_check_reports_a_certificate_it_does_not_trust") {
        return;
    }
    let net = network("");
    // The peer's CA is not among the built-in roots.
    let (samples, _) = measure(&net, options(None));
    let error = samples.targets[0].error.as_ref().expect("rejected");
    assert_eq!(
        (error.phase, error.kind),
        (Phase::Tls, FailureKind::Certificate),
        "{error:?}"
    );
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
    let cert_error = text(&evaluation.metrics, "cert_error").unwrap_or_default();
    assert!(cert_error.contains("UnknownIssuer"), "{cert_error}");
    assert_eq!(
        flag(&evaluation.metrics, "https_firewall"),
        Some(false),
        "port 443 answered"
    );
    assert_eq!(flag(&evaluation.metrics, "captive_portal"), Some(false));
}

#[test]
fn http_check_reports_an_intercepting_middlebox() {
    if !require_netsim("http_check_reports_an_intercepting_middlebox") {
        return;
    }
    // The right CA is trusted, but HTTPS comes back signed by another one.
    let net = network("[peers.web]\nmode = \"tls-intercept\"\n");
    let (samples, _) = measure(&net, options(Some(web_ca(&net))));
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
    let cert_error = text(&evaluation.metrics, "cert_error").unwrap_or_default();
    assert!(cert_error.contains("UnknownIssuer"), "{cert_error}");
    assert!(
        evaluation
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("intercepting middlebox")),
        "{evaluation:?}"
    );
}

#[test]
fn http_check_is_bounded_when_the_server_hangs() {
    if !require_netsim("http_check_is_bounded_when_the_server_hangs") {
        return;
    }
    let net = network("[peers.web]\nmode = \"drop\"\n");
    let (samples, elapsed) = measure(&net, options(Some(web_ca(&net))));
    // Default timeouts: the response timeout (3 s) ends it, well within the 5 s bound.
    assert!(elapsed < Duration::from_millis(5500), "{elapsed:?}");
    for exchange in samples
        .targets
        .iter()
        .chain(samples.portal.as_ref().map(|p| &p.exchange))
    {
        let error = exchange.error.as_ref().expect("no answer");
        assert_eq!(
            (error.phase, error.kind),
            (Phase::Http, FailureKind::Timeout),
            "{exchange:?}"
        );
    }
    let evaluation = evaluate_http(&samples, &HttpThresholds::default());
    assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
    assert!(
        evaluation
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("no web server answered")),
        "{evaluation:?}"
    );
    assert_eq!(
        metric(&evaluation.metrics, "captive_portal").value,
        MetricValue::Missing
    );
}
