//! The diagnosis: a pure function from check results to ranked findings (DESIGN.md §5).
//!
//! The rules, in causal order: no link explains everything after it; an unreachable gateway
//! explains DNS failing; DNS failing while the gateway answers points past the box. A finding
//! that a more fundamental one explains is not reported.

use fluent_bundle::FluentValue;
use sonde_protocol::{
    Actor, Advice, Audience, CheckId, CheckResult, CheckStatus, Confidence, Diagnosis, Evidence, Finding, FindingCode,
    Lang, MetricValue, ProfileRef, Segment, Severity,
};

use crate::config::Profile;
use crate::texts::{Args, texts};

/// Diagnoses a run from its check results.
pub fn diagnose(results: &[CheckResult], profile: &Profile, lang: Lang) -> Diagnosis {
    let mut findings = Vec::new();
    let link = find(results, CheckId::Link);
    let gateway = find(results, CheckId::Gateway);
    let dns = find(results, CheckId::Dns);

    let link_broken = link.is_some_and(|l| l.status == CheckStatus::Fail);
    if let Some(link) = link.filter(|l| l.status == CheckStatus::Fail) {
        findings.push(diagnose_link(link, lang));
    }

    // The modem's own word on the radio comes first: no service explains everything after it.
    findings.extend(
        find(results, CheckId::Mobile)
            .map(|m| diagnose_mobile(m, lang))
            .unwrap_or_default(),
    );

    let mut wifi_findings = find(results, CheckId::Wifi)
        .filter(|_| !link_broken)
        .map(|w| diagnose_wifi(w, lang))
        .unwrap_or_default();
    // A weak or crowded radio explains loss and delay to the box measured over it.
    let radio_degraded = wifi_findings.iter().any(|f| f.code != FindingCode::WifiInsecure);

    let gateway_answers = gateway.is_some_and(|g| g.number("replies").is_some_and(|r| r > 0.0));
    let mut gateway_unreachable = false;
    let mut home_findings = Vec::new();
    if let Some(finding) = gateway
        .filter(|_| !link_broken)
        .and_then(|g| diagnose_gateway(g, link, lang))
    {
        gateway_unreachable = finding.code == FindingCode::GatewayUnreachable;
        if radio_degraded && !gateway_unreachable {
            absorb(&mut wifi_findings, &[finding]);
        } else {
            home_findings.push(finding);
        }
    }

    let internet = find(results, CheckId::InternetLatency).filter(|_| !link_broken && !gateway_unreachable);
    let mut internet_findings = internet
        .map(|i| diagnose_internet(i, link, gateway, lang))
        .unwrap_or_default();
    // Loss or delay already seen on the home network explains what is seen beyond it: the home
    // finding (else the radio's) stands for both, with the gravity of the worse.
    let home_degraded = gateway.is_some_and(|g| matches!(g.status, CheckStatus::Warn | CheckStatus::Fail));
    if home_degraded {
        let (explained, rest): (Vec<Finding>, Vec<Finding>) = internet_findings
            .into_iter()
            .partition(|f| matches!(f.code, FindingCode::AccessPacketLoss | FindingCode::InternetHighLatency));
        internet_findings = rest;
        if home_findings.is_empty() {
            absorb(&mut wifi_findings, &explained);
        } else {
            absorb(&mut home_findings, &explained);
        }
    }
    findings.extend(wifi_findings);
    findings.extend(home_findings);
    let internet_down = internet_findings
        .iter()
        .any(|f| f.code == FindingCode::InternetUnreachable);

    let dns_checked = dns.filter(|_| !link_broken && !gateway_unreachable);
    let dns_finding = dns_checked.and_then(|d| diagnose_dns(d, gateway, gateway_answers, lang));
    let hijack = dns_checked.and_then(|d| diagnose_hijack(d, gateway, lang));
    let aaaa = dns_checked.and_then(|d| diagnose_aaaa(d, gateway, lang));
    match dns_finding {
        // Without Internet, a resolver beyond the box cannot answer: that is a consequence.
        // The box's own relay not answering at all is the nearest failure the device can see,
        // so it stays first.
        Some(f) if internet_down && f.segment != Segment::Box => findings.extend(internet_findings),
        Some(f) => {
            findings.push(f);
            findings.extend(internet_findings);
        }
        None => findings.extend(internet_findings),
    }
    findings.extend(hijack);
    findings.extend(aaaa);

    // Beyond name resolution: the web, the path, the MTU. Each only when what comes before
    // works, so a consequence is never reported as a cause.
    let upstream_ok = !link_broken && !gateway_unreachable && !internet_down;
    let dns_ok = dns.is_none_or(|d| matches!(d.status, CheckStatus::Pass | CheckStatus::Warn));
    if let Some(http) = find(results, CheckId::Http).filter(|_| upstream_ok) {
        findings.extend(diagnose_http(http, dns_ok, internet, lang));
    }
    if let Some(path) = find(results, CheckId::Path).filter(|_| upstream_ok) {
        refine_with_path(&mut findings, path, lang);
    }
    if let Some(mtu) = find(results, CheckId::Mtu).filter(|_| upstream_ok) {
        findings.extend(diagnose_mtu(mtu, lang));
    }
    // Slowness: goodput against the contract, latency under load. A degraded radio explains
    // both, so then they are not the operator's: the radio's finding stands for them, with
    // their gravity.
    let mut slowness = Vec::new();
    if let Some(throughput) = find(results, CheckId::Throughput).filter(|_| upstream_ok) {
        slowness.extend(diagnose_throughput(throughput, lang));
    }
    if let Some(responsiveness) = find(results, CheckId::Responsiveness).filter(|_| upstream_ok) {
        slowness.extend(diagnose_bufferbloat(responsiveness, lang));
    }
    if radio_degraded {
        let start = findings
            .iter()
            .position(|f| f.segment == Segment::Wifi)
            .unwrap_or(findings.len());
        absorb(&mut findings[start..], &slowness);
    } else {
        findings.extend(slowness);
    }

    // The box's own health last: it explains (a reboot, heat) more than it breaks, so on equal
    // severity a network finding stays the root cause.
    if let Some(system) = find(results, CheckId::System) {
        findings.extend(diagnose_system(system, lang));
    }
    if let Some(reboot) = [CheckId::System, CheckId::Mobile]
        .into_iter()
        .filter_map(|id| find(results, id))
        .find_map(|r| diagnose_reboot(r, lang))
    {
        findings.push(reboot);
    }

    if !link_broken {
        for result in results.iter().filter(|r| r.status == CheckStatus::Error) {
            findings.push(could_not_run(result, lang));
        }
    }

    rank(&mut findings);
    let healthy = findings.iter().all(|f| f.severity.rank() <= Severity::Info.rank());
    let operator_must_act = findings
        .first()
        .is_some_and(|f| f.root_cause && f.actor == Actor::Operator);
    let summary = match findings.first() {
        Some(root) if root.root_cause => root.title.clone(),
        _ if !healthy || results.iter().any(|r| r.status == CheckStatus::Error) => {
            texts(lang).message("summary-unknown", &[])
        }
        _ => texts(lang).message("summary-healthy", &[]),
    };
    Diagnosis {
        healthy,
        summary,
        findings,
        operator_must_act,
        profile: ProfileRef {
            name: profile.name.clone(),
            version: profile.version,
        },
        lang,
    }
}

fn find(results: &[CheckResult], id: CheckId) -> Option<&CheckResult> {
    results.iter().find(|r| r.id == id)
}

fn diagnose_link(link: &CheckResult, lang: Lang) -> Finding {
    let up = link.number("interfaces_up").unwrap_or(0.0);
    let code = if up == 0.0 {
        FindingCode::NoLink
    } else {
        FindingCode::NoDefaultRoute
    };
    let args: Args<'_> = &[("interfaces_up", FluentValue::from(up))];
    let evidence = evidence(link, &["interfaces_up", "default_route_v4", "default_route_v6"]);
    finding(
        code,
        Severity::Critical,
        Segment::Device,
        Actor::Customer,
        Confidence::High,
        evidence,
        args,
        lang,
    )
}

fn diagnose_gateway(gateway: &CheckResult, link: Option<&CheckResult>, lang: Lang) -> Option<Finding> {
    if !matches!(gateway.status, CheckStatus::Fail | CheckStatus::Warn) {
        return None;
    }
    let address = text(gateway, "gateway");
    let replies = gateway.number("replies").unwrap_or(0.0);
    let sent = gateway.number("probes_sent").unwrap_or(0.0);
    if replies == 0.0 && sent > 0.0 {
        // The link check passing means the interface, address and route are fine: the silence
        // is the box's. Without it, the local side is not ruled out.
        let confidence = if link.is_some_and(|l| l.status == CheckStatus::Pass) {
            Confidence::High
        } else {
            Confidence::Medium
        };
        let args: Args<'_> = &[("gateway", address.as_str().into()), ("probes", sent.into())];
        let evidence = evidence(gateway, &["gateway", "probes_sent", "replies", "loss_percent"]);
        return Some(finding(
            FindingCode::GatewayUnreachable,
            Severity::Critical,
            Segment::Box,
            Actor::Customer,
            confidence,
            evidence,
            args,
            lang,
        ));
    }
    let loss = gateway.metric("loss_percent");
    let loss_status = loss.and_then(|m| m.status).unwrap_or(CheckStatus::Pass);
    if matches!(loss_status, CheckStatus::Fail | CheckStatus::Warn) {
        let value = loss.and_then(|m| m.value.as_f64()).unwrap_or(0.0);
        let threshold = loss.and_then(|m| m.threshold).and_then(|t| t.warn).unwrap_or(0.0);
        let args: Args<'_> = &[
            ("gateway", address.as_str().into()),
            ("loss", round1(value).into()),
            ("threshold", threshold.into()),
        ];
        let severity = severity_of(loss_status);
        let evidence = evidence(gateway, &["loss_percent", "probes_sent", "replies"]);
        return Some(finding(
            FindingCode::GatewayPacketLoss,
            severity,
            Segment::Lan,
            Actor::Customer,
            Confidence::Medium,
            evidence,
            args,
            lang,
        ));
    }
    let args: Args<'_> = &[
        ("gateway", address.as_str().into()),
        ("rtt", round1(gateway.number("rtt_median_ms").unwrap_or(0.0)).into()),
        ("jitter", round1(gateway.number("jitter_ms").unwrap_or(0.0)).into()),
    ];
    let evidence = evidence(gateway, &["rtt_median_ms", "jitter_ms", "rtt_p95_ms"]);
    Some(finding(
        FindingCode::GatewayHighLatency,
        severity_of(gateway.status),
        Segment::Lan,
        Actor::Customer,
        Confidence::Medium,
        evidence,
        args,
        lang,
    ))
}

fn diagnose_dns(
    dns: &CheckResult,
    gateway: Option<&CheckResult>,
    gateway_answers: bool,
    lang: Lang,
) -> Option<Finding> {
    let configured = dns.number("resolvers_configured").unwrap_or(0.0);
    let answering = dns.number("resolvers_answering").unwrap_or(0.0);
    match dns.status {
        CheckStatus::Fail | CheckStatus::Warn if dns.metric("resolvers_configured").is_some() && configured == 0.0 => {
            let source = dns
                .samples
                .as_ref()
                .and_then(|s| s.get("source"))
                .and_then(|s| s.as_str())
                .unwrap_or("");
            let args: Args<'_> = &[("source", source.into())];
            let evidence = evidence(dns, &["resolvers_configured"]);
            Some(finding(
                FindingCode::DnsNoResolver,
                Severity::Critical,
                Segment::Device,
                Actor::Customer,
                Confidence::High,
                evidence,
                args,
                lang,
            ))
        }
        CheckStatus::Fail | CheckStatus::Warn if answering < configured => {
            let failing = text(dns, "failing_resolvers");
            let gateway_address = gateway.map(|g| text(g, "gateway")).unwrap_or_default();
            // The box relays DNS when the resolver is the gateway itself; otherwise the
            // resolver is the operator's.
            let segment = if failing.split(',').any(|r| !r.is_empty() && r.trim() == gateway_address) {
                Segment::Box
            } else {
                Segment::OperatorNetwork
            };
            let confidence = if gateway_answers {
                Confidence::High
            } else {
                Confidence::Low
            };
            let severity = if answering == 0.0 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let args: Args<'_> = &[
                ("failing", failing.as_str().into()),
                ("answering", answering.into()),
                ("configured", configured.into()),
            ];
            // Another resolver answering — a public one, or another of the device's — while
            // these fail pins the fault on these resolvers, not on DNS as a whole.
            let elsewhere = dns.number("public_answering").unwrap_or(0.0) > 0.0 || answering > 0.0;
            let code = if elsewhere {
                FindingCode::DnsIspResolverFailing
            } else {
                FindingCode::DnsResolverFailing
            };
            let evidence = evidence(
                dns,
                &[
                    "resolvers_configured",
                    "resolvers_answering",
                    "failing_resolvers",
                    "public_answering",
                ],
            );
            Some(finding(
                code,
                severity,
                segment,
                Actor::Operator,
                confidence,
                evidence,
                args,
                lang,
            ))
        }
        CheckStatus::Fail | CheckStatus::Warn
            if dns
                .metric("latency_median_ms")
                .and_then(|m| m.status)
                .is_some_and(|s| matches!(s, CheckStatus::Warn | CheckStatus::Fail)) =>
        {
            let latency = dns.metric("latency_median_ms");
            let threshold = latency.and_then(|m| m.threshold).and_then(|t| t.warn).unwrap_or(0.0);
            let value = latency.and_then(|m| m.value.as_f64()).unwrap_or(0.0);
            let args: Args<'_> = &[("latency", round1(value).into()), ("threshold", threshold.into())];
            let evidence = evidence(dns, &["latency_median_ms"]);
            Some(finding(
                FindingCode::DnsSlow,
                severity_of(latency.and_then(|m| m.status).unwrap_or(dns.status)),
                Segment::OperatorNetwork,
                Actor::Operator,
                Confidence::Medium,
                evidence,
                args,
                lang,
            ))
        }
        _ => None,
    }
}

/// Findings suppressed as consequences hand their gravity to the first of `causes` that is not a
/// mere remark (an insecure network), so that explaining never makes a verdict milder.
fn absorb(causes: &mut [Finding], effects: &[Finding]) {
    let Some(cause) = causes.iter_mut().find(|f| f.code != FindingCode::WifiInsecure) else {
        return;
    };
    for effect in effects {
        if effect.severity.rank() > cause.severity.rank() {
            cause.severity = effect.severity;
        }
    }
}

fn diagnose_internet(
    internet: &CheckResult,
    link: Option<&CheckResult>,
    gateway: Option<&CheckResult>,
    lang: Lang,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let anchors = internet.number("anchors").unwrap_or(0.0);
    let answering = internet.number("anchors_answering").unwrap_or(0.0);
    let gateway_clean = gateway.is_some_and(|g| g.status == CheckStatus::Pass);
    if internet.status == CheckStatus::Fail && anchors > 0.0 && answering == 0.0 {
        let confidence = if gateway_clean {
            Confidence::High
        } else {
            Confidence::Medium
        };
        let args: Args<'_> = &[("anchors", anchors.into())];
        let evidence = evidence(internet, &["anchors", "anchors_answering", "loss_percent"]);
        findings.push(finding(
            FindingCode::InternetUnreachable,
            Severity::Critical,
            Segment::AccessLine,
            Actor::Operator,
            confidence,
            evidence,
            args,
            lang,
        ));
        return findings;
    }
    let judged = |name: &str| {
        internet
            .metric(name)
            .and_then(|m| m.status)
            .unwrap_or(CheckStatus::Pass)
    };
    let loss_status = judged("loss_percent");
    if matches!(loss_status, CheckStatus::Warn | CheckStatus::Fail) {
        let loss = internet.metric("loss_percent");
        let args: Args<'_> = &[
            (
                "loss",
                round1(loss.and_then(|m| m.value.as_f64()).unwrap_or(0.0)).into(),
            ),
            (
                "threshold",
                loss.and_then(|m| m.threshold)
                    .and_then(|t| t.warn)
                    .unwrap_or(0.0)
                    .into(),
            ),
        ];
        let evidence = evidence(
            internet,
            &["loss_percent", "longest_outage_probes", "anchors_answering"],
        );
        findings.push(finding(
            FindingCode::AccessPacketLoss,
            severity_of(loss_status),
            Segment::AccessLine,
            Actor::Operator,
            Confidence::Medium,
            evidence,
            args,
            lang,
        ));
    }
    // Delay and jitter are a separate symptom (calls sound robotic where loss makes them cut
    // out): reported beside the loss, not hidden by it.
    {
        let delay = crate::checks::worst([judged("rtt_median_ms"), judged("jitter_ms")]);
        if matches!(delay, CheckStatus::Warn | CheckStatus::Fail) {
            let args: Args<'_> = &[
                ("rtt", round1(internet.number("rtt_median_ms").unwrap_or(0.0)).into()),
                ("jitter", round1(internet.number("jitter_ms").unwrap_or(0.0)).into()),
            ];
            let evidence = evidence(internet, &["rtt_median_ms", "jitter_ms", "rtt_p95_ms"]);
            findings.push(finding(
                FindingCode::InternetHighLatency,
                severity_of(delay),
                Segment::AccessLine,
                Actor::Operator,
                Confidence::Medium,
                evidence,
                args,
                lang,
            ));
        }
    }
    let has_v6 = link.is_some_and(|l| {
        l.metric("ipv6_global_address").and_then(|m| m.value.as_bool()) == Some(true)
            && l.metric("default_route_v6").and_then(|m| m.value.as_bool()) == Some(true)
    });
    let flag = |name: &str| internet.metric(name).and_then(|m| m.value.as_bool());
    if has_v6
        && internet.number("ipv6_anchors").unwrap_or(0.0) > 0.0
        && flag("ipv4_reachable") == Some(true)
        && flag("ipv6_reachable") == Some(false)
    {
        let evidence = evidence(internet, &["ipv4_reachable", "ipv6_reachable", "ipv6_anchors"]);
        findings.push(finding(
            FindingCode::Ipv6Broken,
            Severity::Warning,
            Segment::OperatorNetwork,
            Actor::Operator,
            Confidence::Medium,
            evidence,
            &[],
            lang,
        ));
    }
    findings
}

fn diagnose_wifi(wifi: &CheckResult, lang: Lang) -> Vec<Finding> {
    let mut findings = Vec::new();
    let judged = |name: &str| wifi.metric(name).and_then(|m| m.status).unwrap_or(CheckStatus::Pass);
    let bad = |s: CheckStatus| matches!(s, CheckStatus::Warn | CheckStatus::Fail);
    let ssid = text(wifi, "ssid");
    // A weak signal and a crowded channel are separate causes, each reported; retries are what
    // either causes (the first found stands for them), else interference.
    let radio = crate::checks::worst([judged("signal_dbm"), judged("snr_db")]);
    let busy = judged("channel_busy_percent");
    let retries = judged("retry_percent");
    let mut causes: Vec<(FindingCode, CheckStatus, &[&str])> = Vec::new();
    if bad(radio) {
        causes.push((
            FindingCode::WifiWeakSignal,
            radio,
            &["signal_dbm", "snr_db", "retry_percent", "band"],
        ));
    }
    if bad(busy) {
        causes.push((
            FindingCode::WifiCongested,
            busy,
            &["channel_busy_percent", "channel", "band"],
        ));
    }
    if causes.is_empty() && bad(retries) {
        causes.push((
            FindingCode::WifiInterference,
            retries,
            &["retry_percent", "signal_dbm", "channel"],
        ));
    }
    if let Some(first) = causes.first_mut() {
        first.1 = crate::checks::worst([first.1, retries]);
    }
    let args: Args<'_> = &[
        ("ssid", ssid.as_str().into()),
        ("signal", wifi.number("signal_dbm").unwrap_or(0.0).into()),
        (
            "snr",
            wifi.number("snr_db")
                .map_or_else(|| "?".to_owned(), |v| v.to_string())
                .into(),
        ),
        ("retries", round1(wifi.number("retry_percent").unwrap_or(0.0)).into()),
        (
            "busy",
            round1(wifi.number("channel_busy_percent").unwrap_or(0.0)).into(),
        ),
    ];
    for (code, status, names) in causes {
        findings.push(finding(
            code,
            severity_of(status),
            Segment::Wifi,
            Actor::Customer,
            Confidence::High,
            evidence(wifi, names),
            args,
            lang,
        ));
    }
    if wifi.metric("secure").and_then(|m| m.value.as_bool()) == Some(false) {
        let security = text(wifi, "security");
        let args: Args<'_> = &[("ssid", ssid.as_str().into()), ("security", security.as_str().into())];
        let evidence = evidence(wifi, &["security", "ssid"]);
        findings.push(finding(
            FindingCode::WifiInsecure,
            Severity::Warning,
            Segment::Wifi,
            Actor::Customer,
            Confidence::High,
            evidence,
            args,
            lang,
        ));
    }
    findings
}

fn diagnose_http(http: &CheckResult, dns_ok: bool, internet: Option<&CheckResult>, lang: Lang) -> Vec<Finding> {
    let flag = |name: &str| http.metric(name).and_then(|m| m.value.as_bool()) == Some(true);
    let portal = text(http, "portal_location");
    if flag("captive_portal") {
        let args: Args<'_> = &[("location", portal.as_str().into())];
        let evidence = evidence(http, &["captive_portal", "portal_location", "portal_probe_status"]);
        return vec![finding(
            FindingCode::CaptivePortal,
            Severity::Critical,
            Segment::Lan,
            Actor::Customer,
            Confidence::High,
            evidence,
            args,
            lang,
        )];
    }
    if flag("https_firewall") {
        let evidence = evidence(http, &["https_firewall", "http_reachable", "https_reachable"]);
        return vec![finding(
            FindingCode::HttpsBlocked,
            Severity::Critical,
            Segment::Lan,
            Actor::Customer,
            Confidence::Medium,
            evidence,
            &[],
            lang,
        )];
    }
    let cert = text(http, "cert_error");
    if http.metric("cert_error").is_some_and(|m| m.value.as_str().is_some()) {
        let args: Args<'_> = &[("error", cert.as_str().into())];
        let evidence = evidence(http, &["cert_error"]);
        return vec![finding(
            FindingCode::TlsIntercepted,
            Severity::Warning,
            Segment::Lan,
            Actor::Customer,
            Confidence::Medium,
            evidence,
            args,
            lang,
        )];
    }
    let answering = http.number("targets_answering").unwrap_or(0.0);
    if http.number("targets").unwrap_or(0.0) > 0.0 && answering == 0.0 && dns_ok {
        let args: Args<'_> = &[("failed", text(http, "failed_targets").into())];
        let evidence = evidence(http, &["targets", "targets_answering", "failed_targets"]);
        return vec![finding(
            FindingCode::RemoteServiceDown,
            Severity::Warning,
            Segment::RemoteService,
            Actor::Customer,
            Confidence::Medium,
            evidence,
            args,
            lang,
        )];
    }
    let latency = http.metric("https_latency_ms");
    let slow = latency
        .and_then(|m| m.status)
        .filter(|s| matches!(s, CheckStatus::Warn | CheckStatus::Fail));
    // Slow round trips to the Internet explain slow web pages.
    let network_slow = internet.is_some_and(|i| {
        i.metric("rtt_median_ms")
            .and_then(|m| m.status)
            .is_some_and(|s| s != CheckStatus::Pass)
    });
    match slow {
        Some(status) if !network_slow => {
            let args: Args<'_> = &[(
                "latency",
                round1(latency.and_then(|m| m.value.as_f64()).unwrap_or(0.0)).into(),
            )];
            let evidence = evidence(http, &["https_latency_ms", "connect_ms", "tls_ms", "ttfb_ms"]);
            vec![finding(
                FindingCode::HttpsSlow,
                severity_of(status),
                Segment::RemoteService,
                Actor::Customer,
                Confidence::Low,
                evidence,
                args,
                lang,
            )]
        }
        _ => Vec::new(),
    }
}

/// The path check tells where loss starts: the access line, the operator's network, or
/// beyond. It sharpens the loss finding from the Internet latency check, or makes one.
fn refine_with_path(findings: &mut Vec<Finding>, path: &CheckResult, lang: Lang) {
    if !matches!(path.status, CheckStatus::Warn | CheckStatus::Fail) {
        return;
    }
    let segment = match text(path, "loss_start_segment").as_str() {
        "access_line" => Segment::AccessLine,
        "operator_network" => Segment::OperatorNetwork,
        "remote_service" => Segment::RemoteService,
        // Loss from the first hop is the home network's, which the gateway check reports.
        _ => return,
    };
    let path_evidence = evidence(
        path,
        &[
            "loss_start_hop",
            "loss_start_address",
            "loss_start_segment",
            "worst_hop_loss_percent",
        ],
    );
    if let Some(existing) = findings.iter_mut().find(|f| f.code == FindingCode::AccessPacketLoss) {
        existing.evidence.extend(path_evidence);
        if segment == Segment::RemoteService {
            // Loss to every anchor is on the part of the path they share, not at one remote
            // host: the path, which saw it start only at its destination (bursts that happened
            // to hit the last hop's probes), conflicts with that, so the finding keeps its
            // segment with less confidence.
            existing.confidence = Confidence::Low;
        } else {
            existing.segment = segment;
            existing.confidence = Confidence::High;
        }
        return;
    }
    let loss = path
        .number("worst_hop_loss_percent")
        .or_else(|| path.number("destination_loss_percent"))
        .unwrap_or(0.0);
    let args: Args<'_> = &[("loss", round1(loss).into()), ("threshold", 0.0.into())];
    findings.push(finding(
        FindingCode::AccessPacketLoss,
        severity_of(path.status),
        segment,
        Actor::Operator,
        Confidence::Medium,
        path_evidence,
        args,
        lang,
    ));
}

fn diagnose_mtu(mtu: &CheckResult, lang: Lang) -> Vec<Finding> {
    if mtu.metric("black_hole").and_then(|m| m.value.as_bool()) != Some(true) {
        return Vec::new();
    }
    let size = mtu.number("largest_answered_bytes").unwrap_or(0.0);
    let args: Args<'_> = &[("mtu", size.into())];
    let evidence = evidence(
        mtu,
        &[
            "black_hole",
            "largest_answered_bytes",
            "smallest_failed_bytes",
            "icmp_frag_needed_seen",
        ],
    );
    vec![finding(
        FindingCode::PmtuBlackHole,
        Severity::Critical,
        Segment::OperatorNetwork,
        Actor::Operator,
        Confidence::High,
        evidence,
        args,
        lang,
    )]
}

fn diagnose_throughput(throughput: &CheckResult, lang: Lang) -> Option<Finding> {
    // The direction furthest below its contract.
    let (direction, metric) = ["download", "upload"]
        .into_iter()
        .filter_map(|d| throughput.metric(&format!("{d}_mbps")).map(|m| (d, m)))
        .filter(|(_, m)| matches!(m.status, Some(CheckStatus::Warn | CheckStatus::Fail)))
        .min_by(|a, b| {
            let share = |(d, m): &(&str, &sonde_protocol::Metric)| {
                m.value.as_f64().unwrap_or(0.0) / throughput.number(&format!("expected_{d}_mbps")).unwrap_or(1.0)
            };
            share(a).total_cmp(&share(b))
        })?;
    let number = |name: String| throughput.number(&name).unwrap_or(0.0);
    let args: Args<'_> = &[
        ("direction", direction.into()),
        ("goodput", round1(metric.value.as_f64().unwrap_or(0.0)).into()),
        (
            "percent",
            round1(number(format!("{direction}_percent_of_expected"))).into(),
        ),
        ("expected", round1(number(format!("expected_{direction}_mbps"))).into()),
        ("contract", number(format!("contract_{direction}_mbps")).into()),
        ("efficiency", round1(number("tcp_efficiency_percent".to_owned())).into()),
    ];
    let names = [
        format!("{direction}_mbps"),
        format!("expected_{direction}_mbps"),
        format!("contract_{direction}_mbps"),
        format!("{direction}_percent_of_expected"),
        format!("{direction}_streams"),
        "tcp_efficiency_percent".to_owned(),
    ];
    let evidence = evidence(throughput, &names.iter().map(String::as_str).collect::<Vec<_>>());
    Some(finding(
        FindingCode::ThroughputBelowContract,
        severity_of(metric.status.unwrap_or(CheckStatus::Warn)),
        Segment::AccessLine,
        Actor::Operator,
        Confidence::Medium,
        evidence,
        args,
        lang,
    ))
}

fn diagnose_bufferbloat(responsiveness: &CheckResult, lang: Lang) -> Option<Finding> {
    let added = responsiveness.metric("added_delay_ms")?;
    let status = added
        .status
        .filter(|s| matches!(s, CheckStatus::Warn | CheckStatus::Fail))?;
    let args: Args<'_> = &[
        (
            "idle",
            round1(responsiveness.number("idle_latency_ms").unwrap_or(0.0)).into(),
        ),
        (
            "loaded",
            round1(responsiveness.number("loaded_latency_ms").unwrap_or(0.0)).into(),
        ),
        ("added", round1(added.value.as_f64().unwrap_or(0.0)).into()),
        ("rpm", responsiveness.number("rpm").unwrap_or(0.0).into()),
    ];
    let evidence = evidence(
        responsiveness,
        &[
            "added_delay_ms",
            "idle_latency_ms",
            "loaded_latency_ms",
            "rpm",
            "bufferbloat_grade",
        ],
    );
    Some(finding(
        FindingCode::Bufferbloat,
        severity_of(status),
        Segment::AccessLine,
        Actor::Operator,
        Confidence::Medium,
        evidence,
        args,
        lang,
    ))
}

fn diagnose_hijack(dns: &CheckResult, gateway: Option<&CheckResult>, lang: Lang) -> Option<Finding> {
    let hijacking = text(dns, "hijacking_resolvers");
    if hijacking.is_empty() {
        return None;
    }
    let gateway_address = gateway.map(|g| text(g, "gateway")).unwrap_or_default();
    let segment = if hijacking.split(',').any(|r| r.trim() == gateway_address) {
        Segment::Box
    } else {
        Segment::OperatorNetwork
    };
    let args: Args<'_> = &[("resolvers", hijacking.as_str().into())];
    let evidence = evidence(dns, &["hijacking_resolvers"]);
    Some(finding(
        FindingCode::DnsHijack,
        Severity::Warning,
        segment,
        Actor::Operator,
        Confidence::High,
        evidence,
        args,
        lang,
    ))
}

/// The judged status of a metric, `pass` when it was not judged.
fn judged(result: &CheckResult, name: &str) -> CheckStatus {
    result.metric(name).and_then(|m| m.status).unwrap_or(CheckStatus::Pass)
}

fn bad(status: CheckStatus) -> bool {
    matches!(status, CheckStatus::Warn | CheckStatus::Fail)
}

fn warn_limit(result: &CheckResult, name: &str) -> f64 {
    let metric = result.metric(name);
    let threshold = metric.and_then(|m| m.threshold);
    match metric.and_then(|m| m.status) {
        Some(CheckStatus::Fail) => threshold.and_then(|t| t.fail),
        _ => threshold.and_then(|t| t.warn),
    }
    .unwrap_or(0.0)
}

/// The modem's radio: no service, else a weak signal; and its temperature.
fn diagnose_mobile(mobile: &CheckResult, lang: Lang) -> Vec<Finding> {
    let mut findings = Vec::new();
    const SIGNAL: [&str; 4] = ["rsrp_dbm", "rsrq_db", "sinr_db", "rssi_dbm"];
    if judged(mobile, "registration") == CheckStatus::Fail {
        let args: Args<'_> = &[
            ("registration", text(mobile, "registration").into()),
            ("operator", text(mobile, "operator").into()),
        ];
        let evidence = evidence(mobile, &["registration", "operator", "rat", "rssi_dbm", "rsrp_dbm"]);
        findings.push(finding(
            FindingCode::MobileNoService,
            Severity::Critical,
            Segment::MobileRadio,
            Actor::Operator,
            Confidence::High,
            evidence,
            args,
            lang,
        ));
    } else {
        let radio = crate::checks::worst(SIGNAL.map(|name| judged(mobile, name)));
        if bad(radio) {
            let units = [
                ("rsrp_dbm", "RSRP", "dBm"),
                ("rsrq_db", "RSRQ", "dB"),
                ("sinr_db", "SINR", "dB"),
                ("rssi_dbm", "RSSI", "dBm"),
            ];
            let signal: Vec<String> = units
                .iter()
                .filter(|(name, _, _)| bad(judged(mobile, name)))
                .map(|(name, label, unit)| format!("{label} {} {unit}", text(mobile, name)))
                .collect();
            let args: Args<'_> = &[
                ("rat", text(mobile, "rat").to_uppercase().into()),
                ("signal", signal.join(", ").into()),
            ];
            let evidence = evidence(mobile, &["rat", "rsrp_dbm", "rsrq_db", "sinr_db", "rssi_dbm"]);
            findings.push(finding(
                FindingCode::MobileWeakSignal,
                severity_of(radio),
                Segment::MobileRadio,
                Actor::Customer,
                Confidence::High,
                evidence,
                args,
                lang,
            ));
        }
    }
    let heat = judged(mobile, "temperature_c");
    if bad(heat) {
        let args: Args<'_> = &[
            ("temperature", mobile.number("temperature_c").unwrap_or(0.0).into()),
            ("threshold", warn_limit(mobile, "temperature_c").into()),
        ];
        findings.push(finding(
            FindingCode::ModemOverheating,
            severity_of(heat),
            Segment::Box,
            Actor::Customer,
            Confidence::High,
            evidence(mobile, &["temperature_c"]),
            args,
            lang,
        ));
    }
    findings
}

/// The box's own health: heat, memory, processor load.
fn diagnose_system(system: &CheckResult, lang: Lang) -> Vec<Finding> {
    let mut findings = Vec::new();
    let heat = judged(system, "temperature_max_c");
    if bad(heat) {
        let args: Args<'_> = &[
            ("sensor", text(system, "temperature_sensor").into()),
            ("temperature", system.number("temperature_max_c").unwrap_or(0.0).into()),
            ("threshold", warn_limit(system, "temperature_max_c").into()),
        ];
        findings.push(finding(
            FindingCode::BoxOverheating,
            severity_of(heat),
            Segment::Box,
            Actor::Customer,
            Confidence::High,
            evidence(system, &["temperature_max_c", "temperature_sensor"]),
            args,
            lang,
        ));
    }
    let memory = judged(system, "memory_available_percent");
    if bad(memory) {
        let args: Args<'_> = &[
            (
                "available",
                system.number("memory_available_percent").unwrap_or(0.0).into(),
            ),
            ("threshold", warn_limit(system, "memory_available_percent").into()),
        ];
        findings.push(finding(
            FindingCode::BoxMemoryPressure,
            severity_of(memory),
            Segment::Box,
            Actor::Customer,
            Confidence::Medium,
            evidence(system, &["memory_available_percent"]),
            args,
            lang,
        ));
    }
    if bad(judged(system, "load_per_cpu")) {
        let args: Args<'_> = &[
            ("load", system.number("load_per_cpu").unwrap_or(0.0).into()),
            ("threshold", warn_limit(system, "load_per_cpu").into()),
        ];
        // A busy processor slows the box; it does not cut the connection: a warning at most.
        findings.push(finding(
            FindingCode::BoxCpuOverload,
            Severity::Warning,
            Segment::Box,
            Actor::Customer,
            Confidence::Medium,
            evidence(system, &["load_per_cpu", "load_1m", "cpus"]),
            args,
            lang,
        ));
    }
    findings
}

/// A box or modem that restarted minutes ago: worth knowing (it explains a cut), not broken.
fn diagnose_reboot(result: &CheckResult, lang: Lang) -> Option<Finding> {
    if !bad(judged(result, "uptime_s")) {
        return None;
    }
    let check = texts(lang).message(&format!("check-{}", result.id), &[]);
    let args: Args<'_> = &[
        ("check", check.as_str().into()),
        ("uptime", result.number("uptime_s").unwrap_or(0.0).into()),
    ];
    Some(finding(
        FindingCode::BoxJustRebooted,
        Severity::Info,
        Segment::Box,
        Actor::Customer,
        Confidence::High,
        evidence(result, &["uptime_s"]),
        args,
        lang,
    ))
}

/// A resolver answering A but not AAAA (timeouts, SERVFAIL), or answering a name known to have
/// AAAA records without them. Devices ask both and wait for AAAA before opening a connection,
/// so every new name stalls: a fault of the resolver — the box's when it is the gateway.
fn diagnose_aaaa(dns: &CheckResult, gateway: Option<&CheckResult>, lang: Lang) -> Option<Finding> {
    let mut resolvers: Vec<String> = Vec::new();
    for metric in ["aaaa_failing_resolvers", "aaaa_records_missing"] {
        for resolver in text(dns, metric).split(',').map(str::trim).filter(|r| !r.is_empty()) {
            if !resolvers.iter().any(|known| known == resolver) {
                resolvers.push(resolver.to_owned());
            }
        }
    }
    if resolvers.is_empty() {
        return None;
    }
    let gateway_address = gateway.map(|g| text(g, "gateway")).unwrap_or_default();
    let segment = if resolvers.contains(&gateway_address) {
        Segment::Box
    } else {
        Segment::OperatorNetwork
    };
    let resolvers = resolvers.join(",");
    let args: Args<'_> = &[
        ("resolvers", resolvers.as_str().into()),
        ("answered", dns.number("aaaa_queries_answered").unwrap_or(0.0).into()),
        ("sent", dns.number("aaaa_queries_sent").unwrap_or(0.0).into()),
    ];
    let evidence = evidence(
        dns,
        &[
            "aaaa_failing_resolvers",
            "aaaa_records_missing",
            "aaaa_queries_sent",
            "aaaa_queries_answered",
        ],
    );
    Some(finding(
        FindingCode::DnsAaaaFailing,
        Severity::Warning,
        segment,
        Actor::Operator,
        Confidence::High,
        evidence,
        args,
        lang,
    ))
}

fn could_not_run(result: &CheckResult, lang: Lang) -> Finding {
    let reason = result.reason.clone().unwrap_or_default();
    let check = texts(lang).message(&format!("check-{}", result.id), &[]);
    let args: Args<'_> = &[("check", check.as_str().into()), ("reason", reason.as_str().into())];
    // Without link or DNS results the verdict is blind; a missing gateway probe only weakens it.
    let severity = if result.id == CheckId::Gateway {
        Severity::Info
    } else {
        Severity::Warning
    };
    let evidence = vec![Evidence {
        check: result.id,
        metric: "reason".to_owned(),
        value: MetricValue::Text(reason.clone()),
        threshold: None,
    }];
    finding(
        FindingCode::CheckCouldNotRun,
        severity,
        Segment::Device,
        Actor::Customer,
        Confidence::Low,
        evidence,
        args,
        lang,
    )
}

/// Orders findings by severity (stable, so rule order breaks ties) and marks the first as the
/// root cause when it is a problem.
fn rank(findings: &mut [Finding]) {
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity.rank()));
    for f in findings.iter_mut() {
        f.root_cause = false;
    }
    if let Some(first) = findings.first_mut() {
        first.root_cause = first.severity.rank() > Severity::Info.rank() && first.code != FindingCode::CheckCouldNotRun;
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    code: FindingCode,
    severity: Severity,
    segment: Segment,
    actor: Actor,
    confidence: Confidence,
    evidence: Vec<Evidence>,
    args: Args<'_>,
    lang: Lang,
) -> Finding {
    let t = texts(lang);
    let id = code.as_str();
    Finding {
        code,
        severity,
        segment,
        actor,
        confidence,
        root_cause: false,
        title: t.message(id, args),
        detail: t.attribute(id, "detail", args),
        evidence,
        actions: vec![
            Advice {
                audience: Audience::Customer,
                text: t.attribute(id, "customer", args),
            },
            Advice {
                audience: Audience::Technician,
                text: t.attribute(id, "technician", args),
            },
        ],
    }
}

fn evidence(result: &CheckResult, names: &[&str]) -> Vec<Evidence> {
    names
        .iter()
        .filter_map(|name| result.metric(name))
        .map(|m| Evidence {
            check: result.id,
            metric: m.name.clone(),
            value: m.value.clone(),
            threshold: m.threshold,
        })
        .collect()
}

fn text(result: &CheckResult, name: &str) -> String {
    result.metric(name).map(|m| m.value.to_string()).unwrap_or_default()
}

fn severity_of(status: CheckStatus) -> Severity {
    match status {
        CheckStatus::Fail => Severity::Critical,
        CheckStatus::Warn => Severity::Warning,
        _ => Severity::Info,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::{Metric, Threshold};

    fn result(id: CheckId, status: CheckStatus, metrics: Vec<Metric>) -> CheckResult {
        CheckResult {
            id,
            status,
            reason: None,
            metrics,
            duration_ms: 1,
            samples: None,
        }
    }

    fn link_ok() -> CheckResult {
        result(
            CheckId::Link,
            CheckStatus::Pass,
            vec![
                Metric::new("interfaces_up", 1u64),
                Metric::new("default_route_v4", true),
                Metric::new("gateway_v4", "192.0.2.1"),
            ],
        )
    }

    fn link_down() -> CheckResult {
        result(
            CheckId::Link,
            CheckStatus::Fail,
            vec![
                Metric::new("interfaces_up", 0u64),
                Metric::new("default_route_v4", false),
            ],
        )
    }

    fn link_no_route() -> CheckResult {
        result(
            CheckId::Link,
            CheckStatus::Fail,
            vec![
                Metric::new("interfaces_up", 1u64),
                Metric::new("default_route_v4", false),
            ],
        )
    }

    fn gateway(status: CheckStatus, replies: u64, loss: f64, rtt: f64) -> CheckResult {
        let t = crate::config::GatewayThresholds::default();
        result(
            CheckId::Gateway,
            status,
            vec![
                Metric::new("gateway", "192.0.2.1"),
                Metric::new("probes_sent", 10u64),
                Metric::new("replies", replies),
                Metric::judged(
                    "loss_percent",
                    Some(loss),
                    Threshold::above(t.loss_warn_percent, t.loss_fail_percent),
                ),
                Metric::judged(
                    "rtt_median_ms",
                    Some(rtt),
                    Threshold::above(t.rtt_median_warn_ms, t.rtt_median_fail_ms),
                ),
                Metric::new("jitter_ms", 0.5),
            ],
        )
    }

    fn dns(status: CheckStatus, configured: u64, answering: u64, failing: &str, latency: Option<f64>) -> CheckResult {
        result(
            CheckId::Dns,
            status,
            vec![
                Metric::new("resolvers_configured", configured),
                Metric::new("resolvers_answering", answering),
                Metric::new("failing_resolvers", failing),
                Metric::judged("latency_median_ms", latency, Threshold::above(400.0, 500.0)),
            ],
        )
    }

    fn internet(status: CheckStatus, answering: u64, loss: f64, v4: bool, v6: bool) -> CheckResult {
        let t = crate::checks::latency::LatencyThresholds::default();
        result(
            CheckId::InternetLatency,
            status,
            vec![
                Metric::new("anchors", 4u64),
                Metric::new("anchors_answering", answering),
                Metric::judged(
                    "loss_percent",
                    Some(loss),
                    Threshold::above(t.loss_warn_percent, t.loss_fail_percent),
                ),
                Metric::judged(
                    "rtt_median_ms",
                    Some(20.0),
                    Threshold::above(t.rtt_median_warn_ms, t.rtt_median_fail_ms),
                ),
                Metric::new("ipv4_reachable", v4),
                Metric::new("ipv6_reachable", v6),
                Metric::new("ipv6_anchors", 2u64),
            ],
        )
    }

    fn link_dual_stack() -> CheckResult {
        let mut link = link_ok();
        link.metrics.push(Metric::new("ipv6_global_address", true));
        link.metrics.push(Metric::new("default_route_v6", true));
        link
    }

    fn with(mut result: CheckResult, name: &str, value: f64) -> CheckResult {
        result.metrics.push(Metric::new(name, value));
        result
    }

    fn hijacking(mut result: CheckResult, resolvers: &str) -> CheckResult {
        result.metrics.push(Metric::new("hijacking_resolvers", resolvers));
        result
    }

    fn aaaa_failing(mut result: CheckResult, failing: &str, missing: &str) -> CheckResult {
        result.metrics.push(Metric::new("aaaa_queries_sent", 3u64));
        result.metrics.push(Metric::new("aaaa_queries_answered", 0u64));
        result.metrics.push(Metric::new("aaaa_failing_resolvers", failing));
        result.metrics.push(Metric::new("aaaa_records_missing", missing));
        result
    }

    fn error(id: CheckId, reason: &str) -> CheckResult {
        CheckResult {
            reason: Some(reason.to_owned()),
            ..result(id, CheckStatus::Error, vec![])
        }
    }

    /// (name, results, expected top code or None for healthy, expected segment, operator must act)
    type Case = (
        &'static str,
        Vec<CheckResult>,
        Option<FindingCode>,
        Option<Segment>,
        bool,
    );

    #[test]
    fn top_findings_by_table() {
        use CheckStatus::*;
        let cases: Vec<Case> = vec![
            (
                "all good",
                vec![link_ok(), gateway(Pass, 10, 0.0, 1.0), dns(Pass, 1, 1, "", Some(20.0))],
                None,
                None,
                false,
            ),
            (
                "no link explains everything",
                vec![
                    link_down(),
                    error(CheckId::Gateway, "no route"),
                    dns(Fail, 1, 0, "192.0.2.1", None),
                ],
                Some(FindingCode::NoLink),
                Some(Segment::Device),
                false,
            ),
            (
                "no default route",
                vec![link_no_route(), dns(Fail, 1, 0, "192.0.2.1", None)],
                Some(FindingCode::NoDefaultRoute),
                Some(Segment::Device),
                false,
            ),
            (
                "gateway unreachable suppresses dns",
                vec![
                    link_ok(),
                    gateway(Fail, 0, 100.0, f64::NAN),
                    dns(Fail, 1, 0, "192.0.2.1", None),
                ],
                Some(FindingCode::GatewayUnreachable),
                Some(Segment::Box),
                false,
            ),
            (
                "dns failing at the box while the gateway answers",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    dns(Fail, 1, 0, "192.0.2.1", None),
                ],
                Some(FindingCode::DnsResolverFailing),
                Some(Segment::Box),
                true,
            ),
            (
                "dns failing at the operator while the gateway answers",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    dns(Fail, 1, 0, "198.51.100.53", None),
                ],
                Some(FindingCode::DnsResolverFailing),
                Some(Segment::OperatorNetwork),
                true,
            ),
            (
                "no resolver",
                vec![link_ok(), gateway(Pass, 10, 0.0, 1.0), dns(Fail, 0, 0, "", None)],
                Some(FindingCode::DnsNoResolver),
                Some(Segment::Device),
                false,
            ),
            (
                "slow dns",
                vec![link_ok(), gateway(Pass, 10, 0.0, 1.0), dns(Warn, 1, 1, "", Some(450.0))],
                Some(FindingCode::DnsSlow),
                Some(Segment::OperatorNetwork),
                true,
            ),
            (
                "gateway loss",
                vec![link_ok(), gateway(Fail, 7, 30.0, 2.0), dns(Pass, 1, 1, "", Some(20.0))],
                Some(FindingCode::GatewayPacketLoss),
                Some(Segment::Lan),
                false,
            ),
            (
                "gateway slow",
                vec![link_ok(), gateway(Warn, 10, 0.0, 50.0), dns(Pass, 1, 1, "", Some(20.0))],
                Some(FindingCode::GatewayHighLatency),
                Some(Segment::Lan),
                false,
            ),
            (
                "internet down, dns beyond the box is its consequence",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    internet(Fail, 0, 100.0, false, false),
                    dns(Fail, 1, 0, "198.51.100.53", None),
                ],
                Some(FindingCode::InternetUnreachable),
                Some(Segment::AccessLine),
                true,
            ),
            (
                "internet down, the box's own relay not answering comes first",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    internet(Fail, 0, 100.0, false, false),
                    dns(Fail, 1, 0, "192.0.2.1", None),
                ],
                Some(FindingCode::DnsResolverFailing),
                Some(Segment::Box),
                true,
            ),
            (
                "loss beyond a clean home network",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    internet(Fail, 4, 6.0, true, true),
                    dns(Pass, 1, 1, "", Some(20.0)),
                ],
                Some(FindingCode::AccessPacketLoss),
                Some(Segment::AccessLine),
                true,
            ),
            (
                "loss at home explains loss beyond",
                vec![
                    link_ok(),
                    gateway(Fail, 7, 30.0, 2.0),
                    internet(Fail, 4, 30.0, true, true),
                    dns(Pass, 1, 1, "", Some(20.0)),
                ],
                Some(FindingCode::GatewayPacketLoss),
                Some(Segment::Lan),
                false,
            ),
            (
                "ipv6 broken while ipv4 works",
                vec![
                    link_dual_stack(),
                    gateway(Pass, 10, 0.0, 1.0),
                    internet(Pass, 2, 0.0, true, false),
                    dns(Pass, 1, 1, "", Some(20.0)),
                ],
                Some(FindingCode::Ipv6Broken),
                Some(Segment::OperatorNetwork),
                true,
            ),
            (
                "no ipv6 on the device is not broken ipv6",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    internet(Pass, 2, 0.0, true, false),
                    dns(Pass, 1, 1, "", Some(20.0)),
                ],
                None,
                None,
                false,
            ),
            (
                "the box's resolver fails, public ones work",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    with(dns(Fail, 1, 0, "192.0.2.1", None), "public_answering", 2.0),
                ],
                Some(FindingCode::DnsIspResolverFailing),
                Some(Segment::Box),
                true,
            ),
            (
                "a hijacking resolver",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    hijacking(dns(Warn, 1, 1, "", Some(20.0)), "192.0.2.1"),
                ],
                Some(FindingCode::DnsHijack),
                Some(Segment::Box),
                true,
            ),
            (
                "the box answers A but drops AAAA",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    aaaa_failing(dns(Warn, 1, 1, "", Some(20.0)), "192.0.2.1", ""),
                ],
                Some(FindingCode::DnsAaaaFailing),
                Some(Segment::Box),
                true,
            ),
            (
                "the operator's resolver hides AAAA records",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    aaaa_failing(dns(Warn, 1, 1, "", Some(20.0)), "", "198.51.100.53"),
                ],
                Some(FindingCode::DnsAaaaFailing),
                Some(Segment::OperatorNetwork),
                true,
            ),
            (
                "dns results from before AAAA probing (no AAAA metrics) stay healthy",
                vec![link_ok(), gateway(Pass, 10, 0.0, 1.0), dns(Pass, 1, 1, "", Some(20.0))],
                None,
                None,
                false,
            ),
            (
                "a resolver failing outright is that, not an AAAA fault; AAAA comes after",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    aaaa_failing(dns(Fail, 1, 0, "192.0.2.1", None), "", ""),
                ],
                Some(FindingCode::DnsResolverFailing),
                Some(Segment::Box),
                true,
            ),
            (
                "gateway unreachable suppresses the AAAA finding",
                vec![
                    link_ok(),
                    gateway(Fail, 0, 100.0, f64::NAN),
                    aaaa_failing(dns(Warn, 1, 1, "", Some(20.0)), "192.0.2.1", ""),
                ],
                Some(FindingCode::GatewayUnreachable),
                Some(Segment::Box),
                false,
            ),
            (
                "gateway probe not permitted is only info",
                vec![
                    link_ok(),
                    error(CheckId::Gateway, "no ICMP"),
                    dns(Pass, 1, 1, "", Some(20.0)),
                ],
                None,
                None,
                false,
            ),
        ];
        for (name, results, code, segment, operator) in cases {
            let d = diagnose(&results, &Profile::default(), Lang::Fr);
            let root = d.findings.first().filter(|f| f.root_cause);
            assert_eq!(root.map(|f| f.code), code, "{name}: {:#?}", d.findings);
            assert_eq!(root.map(|f| f.segment), segment, "{name}");
            assert_eq!(d.healthy, code.is_none(), "{name}");
            assert_eq!(d.operator_must_act, operator, "{name}");
            assert!(d.findings.iter().filter(|f| f.root_cause).count() <= 1, "{name}");
            if let Some(root) = root {
                assert_eq!(d.summary, root.title, "{name}");
                assert!(!root.evidence.is_empty(), "{name}: a root cause carries evidence");
            }
        }
    }

    fn mobile(
        registration: &str,
        registration_status: CheckStatus,
        rsrp: Option<f64>,
        temperature: f64,
    ) -> CheckResult {
        let t = crate::checks::mobile::MobileThresholds::default();
        let status = crate::checks::worst([registration_status]);
        result(
            CheckId::Mobile,
            status,
            vec![
                Metric {
                    status: Some(registration_status),
                    ..Metric::new("registration", registration)
                },
                Metric::new("operator", "Orange F"),
                Metric::new("rat", "4g"),
                match rsrp {
                    Some(v) => Metric::judged("rsrp_dbm", Some(v), Threshold::below(t.rsrp_warn_dbm, t.rsrp_fail_dbm)),
                    None => Metric::new("rsrp_dbm", crate::checks::mobile::NOT_REPORTED),
                },
                Metric::judged(
                    "temperature_c",
                    Some(temperature),
                    Threshold::above(t.temperature_warn_c, t.temperature_fail_c),
                ),
                Metric::judged(
                    "uptime_s",
                    Some(3600.0),
                    crate::checks::system::rebooted_within(t.rebooted_within_s),
                ),
            ],
        )
    }

    fn system(load: f64, memory: f64, temperature: f64, uptime: f64) -> CheckResult {
        let t = crate::checks::system::SystemThresholds::default();
        let metrics = vec![
            Metric::judged(
                "load_per_cpu",
                Some(load),
                Threshold::above(t.load_per_cpu_warn, t.load_per_cpu_fail),
            ),
            Metric::judged(
                "memory_available_percent",
                Some(memory),
                Threshold::below(t.memory_available_warn_percent, t.memory_available_fail_percent),
            ),
            Metric::judged(
                "temperature_max_c",
                Some(temperature),
                Threshold::above(t.temperature_warn_c, t.temperature_fail_c),
            ),
            Metric::new("temperature_sensor", "soc"),
            Metric::judged(
                "uptime_s",
                Some(uptime),
                crate::checks::system::rebooted_within(t.rebooted_within_s),
            ),
        ];
        let status = crate::checks::worst(metrics.iter().filter_map(|m| m.status));
        result(CheckId::System, status, metrics)
    }

    #[test]
    fn mobile_and_box_findings_by_table() {
        use CheckStatus::{Fail, Pass};
        let healthy_net = || vec![link_ok(), gateway(Pass, 10, 0.0, 1.0), dns(Pass, 1, 1, "", Some(20.0))];
        let with_more = |extra: Vec<CheckResult>| {
            let mut all = healthy_net();
            all.extend(extra);
            all
        };
        let cases: Vec<Case> = vec![
            (
                "modem searching: no service, the operator's side",
                with_more(vec![mobile("searching", Fail, Some(-90.0), 40.0)]),
                Some(FindingCode::MobileNoService),
                Some(Segment::MobileRadio),
                true,
            ),
            (
                "no service explains the Internet being down",
                vec![
                    link_ok(),
                    gateway(Pass, 10, 0.0, 1.0),
                    internet(Fail, 0, 100.0, false, false),
                    mobile("denied", Fail, None, 40.0),
                ],
                Some(FindingCode::MobileNoService),
                Some(Segment::MobileRadio),
                true,
            ),
            (
                "weak RSRP",
                with_more(vec![mobile("home", Pass, Some(-115.0), 40.0)]),
                Some(FindingCode::MobileWeakSignal),
                Some(Segment::MobileRadio),
                false,
            ),
            (
                "a healthy modem without RSRP",
                with_more(vec![mobile("home", Pass, None, 40.0)]),
                None,
                None,
                false,
            ),
            (
                "roaming is no fault",
                with_more(vec![mobile("roaming", Pass, Some(-90.0), 40.0)]),
                None,
                None,
                false,
            ),
            (
                "hot modem",
                with_more(vec![mobile("home", Pass, Some(-90.0), 90.0)]),
                Some(FindingCode::ModemOverheating),
                Some(Segment::Box),
                false,
            ),
            (
                "hot box",
                with_more(vec![system(0.5, 50.0, 95.0, 86_400.0)]),
                Some(FindingCode::BoxOverheating),
                Some(Segment::Box),
                false,
            ),
            (
                "box short of memory",
                with_more(vec![system(0.5, 3.0, 50.0, 86_400.0)]),
                Some(FindingCode::BoxMemoryPressure),
                Some(Segment::Box),
                false,
            ),
            (
                "busy box is a warning",
                with_more(vec![system(5.0, 50.0, 50.0, 86_400.0)]),
                Some(FindingCode::BoxCpuOverload),
                Some(Segment::Box),
                false,
            ),
            (
                "a box that just rebooted is worth knowing, not a fault",
                with_more(vec![system(0.5, 50.0, 50.0, 180.0)]),
                None,
                None,
                false,
            ),
            (
                "a busy box does not hide a dead gateway",
                vec![
                    link_ok(),
                    gateway(Fail, 0, 100.0, f64::NAN),
                    system(5.0, 50.0, 50.0, 86_400.0),
                ],
                Some(FindingCode::GatewayUnreachable),
                Some(Segment::Box),
                false,
            ),
        ];
        for (name, results, code, segment, operator) in cases {
            let d = diagnose(&results, &Profile::default(), Lang::En);
            let root = d.findings.first().filter(|f| f.root_cause);
            assert_eq!(root.map(|f| f.code), code, "{name}: {:#?}", d.findings);
            assert_eq!(root.map(|f| f.segment), segment, "{name}");
            assert_eq!(d.healthy, code.is_none(), "{name}");
            assert_eq!(d.operator_must_act, operator, "{name}");
            if let Some(root) = root {
                assert!(!root.evidence.is_empty(), "{name}: a root cause carries evidence");
            }
        }
        let rebooted = diagnose(
            &with_more(vec![system(0.5, 50.0, 50.0, 180.0)]),
            &Profile::default(),
            Lang::En,
        );
        let info = rebooted
            .findings
            .iter()
            .find(|f| f.code == FindingCode::BoxJustRebooted)
            .expect("reboot said");
        assert_eq!(info.severity, Severity::Info);
        assert!(info.detail.contains("180"), "{}", info.detail);
        let no_service = diagnose(
            &with_more(vec![mobile("searching", Fail, Some(-90.0), 40.0)]),
            &Profile::default(),
            Lang::En,
        );
        let root = &no_service.findings[0];
        assert!(
            root.evidence
                .iter()
                .any(|e| e.metric == "registration" && e.value.as_str() == Some("searching")),
            "{:?}",
            root.evidence
        );
        assert!(root.detail.contains("searching"), "{}", root.detail);
    }

    #[test]
    fn gateway_unreachable_is_high_confidence_only_when_the_link_is_fine() {
        let with_link = diagnose(
            &[link_ok(), gateway(CheckStatus::Fail, 0, 100.0, f64::NAN)],
            &Profile::default(),
            Lang::En,
        );
        assert_eq!(with_link.findings[0].confidence, Confidence::High);
        let without = diagnose(
            &[gateway(CheckStatus::Fail, 0, 100.0, f64::NAN)],
            &Profile::default(),
            Lang::En,
        );
        assert_eq!(without.findings[0].confidence, Confidence::Medium);
    }

    #[test]
    fn texts_follow_the_language() {
        let results = [link_down()];
        let fr = diagnose(&results, &Profile::default(), Lang::Fr);
        let en = diagnose(&results, &Profile::default(), Lang::En);
        assert!(fr.summary.contains("connecté"), "{}", fr.summary);
        assert!(en.summary.contains("not connected"), "{}", en.summary);
        assert_eq!(fr.lang, Lang::Fr);
    }

    #[test]
    fn a_blind_run_is_not_called_healthy() {
        let d = diagnose(
            &[error(CheckId::Link, "netlink refused"), error(CheckId::Dns, "x")],
            &Profile::default(),
            Lang::En,
        );
        assert!(!d.healthy);
        assert!(d.findings.iter().all(|f| f.code == FindingCode::CheckCouldNotRun));
        assert_eq!(d.summary, texts(Lang::En).message("summary-unknown", &[]));
    }

    /// Results as the throughput evaluators make them: `down`/`up` goodput on a 100/50 line,
    /// and latency idle → loaded.
    fn slowness(down: f64, up: f64, idle: f64, loaded: f64) -> Vec<CheckResult> {
        use crate::checks::throughput::{
            Direction, Probes, ResponsivenessThresholds, ThroughputSamples, ThroughputThresholds,
            evaluate_responsiveness, evaluate_throughput,
        };
        let probes = |ms: f64| Probes {
            connect_ms: vec![ms; 20],
            http_ms: vec![ms; 20],
            ..Probes::default()
        };
        let direction = |g: f64| Direction {
            goodput_mbps: Some(g),
            streams: 4,
            loaded: probes(loaded),
            ..Direction::default()
        };
        let samples = ThroughputSamples {
            idle: probes(idle),
            download: Some(direction(down)),
            upload: Some(direction(up)),
            ..ThroughputSamples::default()
        };
        let contract = ThroughputThresholds {
            contract_down_mbps: Some(100.0),
            contract_up_mbps: Some(50.0),
            ..ThroughputThresholds::default()
        };
        let started = std::time::Instant::now();
        vec![
            link_ok(),
            gateway(CheckStatus::Pass, 10, 0.0, 1.0),
            evaluate_throughput(&samples, &contract).into_result(CheckId::Throughput, &samples, started),
            evaluate_responsiveness(&samples, &ResponsivenessThresholds::default()).into_result(
                CheckId::Responsiveness,
                &samples,
                started,
            ),
        ]
    }

    #[test]
    fn slowness_findings_by_table() {
        for (name, results, codes) in [
            ("a healthy line", slowness(95.0, 47.0, 5.0, 8.0), vec![]),
            (
                "download below contract",
                slowness(40.0, 47.0, 5.0, 8.0),
                vec![FindingCode::ThroughputBelowContract],
            ),
            (
                "bufferbloat",
                slowness(95.0, 47.0, 5.0, 105.0),
                vec![FindingCode::Bufferbloat],
            ),
            (
                "both",
                slowness(95.0, 20.0, 5.0, 300.0),
                vec![FindingCode::ThroughputBelowContract, FindingCode::Bufferbloat],
            ),
        ] {
            let d = diagnose(&results, &Profile::default(), Lang::En);
            let found: Vec<_> = d.findings.iter().map(|f| f.code).collect();
            assert_eq!(found, codes, "{name}: {d:?}");
            assert_eq!(d.healthy, codes.is_empty(), "{name}");
            if let Some(f) = d.findings.first() {
                assert_eq!(f.actor, Actor::Operator, "{name}");
                assert!(!f.title.is_empty() && !f.detail.contains('{'), "{name}: {f:?}");
            }
        }
        // Over a weak radio, the slowness is the radio's: no operator finding, and the radio's
        // finding carries the gravity of what it explains.
        let mut over_weak_wifi = slowness(20.0, 47.0, 5.0, 300.0);
        over_weak_wifi.push(result(
            CheckId::Wifi,
            CheckStatus::Warn,
            vec![
                Metric::new("ssid", "Livebox-1234"),
                Metric::judged("signal_dbm", Some(-70.0), Threshold::below(-67.0, -75.0)),
            ],
        ));
        let d = diagnose(&over_weak_wifi, &Profile::default(), Lang::En);
        let found: Vec<_> = d.findings.iter().map(|f| (f.code, f.severity)).collect();
        assert_eq!(found, [(FindingCode::WifiWeakSignal, Severity::Critical)], "{d:?}");
        assert!(!d.operator_must_act);
        let d = diagnose(&slowness(20.0, 47.0, 5.0, 8.0), &Profile::default(), Lang::Fr);
        let f = &d.findings[0];
        assert!(f.detail.contains("95,6") || f.detail.contains("95.6"), "{}", f.detail);
        assert!(f.evidence.iter().any(|e| e.metric == "expected_download_mbps"));
    }
}
