//! The path and MTU checks, measured from inside the device namespace of a simulated network
//! (device — box — access — isp — internet, see `docs/netsim.md`): where loss starts, ICMP rate
//! limiting, PMTU black holes and well-behaved smaller MTUs.
//!
//! Traffic goes only to the namespaces these tests create; sysctls are set only inside them.

use std::net::IpAddr;
use std::time::Duration;

use sonde_agent::checks::NoProgress;
use sonde_agent::checks::gateway::SocketKind;
use sonde_agent::checks::mtu::{MtuOptions, MtuSamples, MtuThresholds, evaluate_mtu, measure_mtu};
use sonde_agent::checks::path::{
    PathOptions, PathProtocol, PathSamples, PathSegments, PathThresholds, Reply, evaluate_path, measure_path,
};
use sonde_agent::checks::{Evaluation, MeasureError};
use sonde_netsim::Netns;
use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;
use sonde_protocol::{CheckStatus, MetricValue, Segment};

/// The internet node: three hops from the device (box, isp, internet).
const INTERNET: &str = "203.0.113.2";
const INTERNET_V6: &str = "2001:db8:3::2";
const BOX: &str = "192.0.2.1";
const ISP: &str = "198.51.100.1";

fn network(toml: &str) -> Network {
    let scenario: Scenario = toml::from_str(toml).expect("scenario parses");
    Network::up(&scenario).expect("network up")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

fn sysctl(ns: &Netns, settings: &[&str]) {
    let status = ns
        .command("sysctl")
        .arg("-qw")
        .args(settings)
        .status()
        .expect("run sysctl (Debian package procps)");
    assert!(status.success(), "sysctl {settings:?} in {}", ns.name());
}

/// Lets the routers answer every probe: Linux limits the ICMP errors it sends to each host (a
/// burst of 6, then one per second: `icmp_ratelimit`, for the types in `icmp_ratemask`), which
/// would make every router look lossy at the probe rates these tests need.
fn unlimit_icmp(net: &Network) {
    for ns in [&net.r#box, &net.isp, &net.internet] {
        sysctl(
            ns,
            &[
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv4.icmp_ratemask=0",
                "net.ipv6.icmp.ratelimit=0",
            ],
        );
    }
}

/// Lets root (gid 0) open unprivileged ICMP sockets in `ns` (a new namespace allows nobody).
fn allow_ping_sockets(ns: &Netns) {
    sysctl(ns, &["net.ipv4.ping_group_range=0 0"]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn trace(net: &Network, target: &str, options: PathOptions) -> PathSamples {
    let target = ip(target);
    let result: Result<PathSamples, MeasureError> = net
        .device
        .run_inside(move || runtime().block_on(measure_path(target, &options, &NoProgress)))
        .expect("inside the device namespace");
    result.unwrap_or_else(|e| panic!("tracing {target}: {e}"))
}

fn search_mtu(net: &Network, target: &str) -> MtuSamples {
    let target = ip(target);
    let result: Result<MtuSamples, MeasureError> = net
        .device
        .run_inside(move || runtime().block_on(measure_mtu(target, &MtuOptions::default(), &NoProgress)))
        .expect("inside the device namespace");
    result.unwrap_or_else(|e| panic!("MTU to {target}: {e}"))
}

fn value(evaluation: &Evaluation, name: &str) -> MetricValue {
    evaluation
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}: {evaluation:?}"))
        .value
        .clone()
}

fn number(evaluation: &Evaluation, name: &str) -> f64 {
    match value(evaluation, name) {
        MetricValue::Number(n) => n,
        other => panic!("{name} is {other:?}: {evaluation:?}"),
    }
}

/// 5 % loss each way on the access line, seen from the device.
///
/// Statistics: a probe to hop 2 (the ISP's router) or hop 3 crosses the access line twice, so
/// it is lost with p = 1 − 0.95² = 9.75 %; hop 1 (the box) sees no loss. Over n = 300 rounds a
/// hop's measured loss has a standard deviation of √(p(1−p)/n) = 1.7 %. Loss is said to start
/// where the loss persisting to the destination reaches 2 % (these tests' limit): hop 2 and
/// hop 3 each fall below that with probability P(z < −4.5) ≈ 3·10⁻⁶, and hop 1 would need six
/// losses on an unimpaired link. The default nine rounds could not tell 5 % loss reliably (one
/// lost probe is 11 %); localising small loss takes long runs, like mtr's.
fn access_loss_is_seen_at_the_access_hop(protocol: PathProtocol, ping_sockets: bool) -> PathSamples {
    let net = network("seed = 5\n[links.access.both]\nloss-percent = 5\n");
    unlimit_icmp(&net);
    if ping_sockets {
        allow_ping_sockets(&net.device);
    }
    let options = PathOptions {
        protocol,
        max_hops: 8,
        rounds: 300,
        interval: Duration::from_millis(10),
        timeout: Duration::from_millis(1000),
    };
    let samples = trace(&net, INTERNET, options);
    let thresholds = PathThresholds {
        loss_warn_percent: 2.0,
        loss_fail_percent: 50.0,
    };
    let evaluation = evaluate_path(&samples, &thresholds, &PathSegments::behind_a_box());
    let table: Vec<(u8, Vec<IpAddr>, u32, u32)> = samples
        .hops
        .iter()
        .map(|h| (h.ttl, h.addresses.clone(), h.sent, h.received))
        .collect();
    assert_eq!(samples.destination_hop, Some(3), "{table:?}");
    assert_eq!(samples.hops[0].addresses, vec![ip(BOX)], "{table:?}");
    assert_eq!(samples.hops[1].addresses, vec![ip(ISP)], "{table:?}");
    assert_eq!(samples.hops[2].addresses, vec![ip(INTERNET)], "{table:?}");
    let home = samples.hops[0].loss_percent.unwrap_or(100.0);
    assert!(home < 2.0, "no loss at the home hop: {home} % ({table:?})");
    assert_eq!(
        value(&evaluation, "loss_start_hop"),
        MetricValue::Number(2.0),
        "{evaluation:?}"
    );
    assert_eq!(
        value(&evaluation, "loss_start_segment"),
        MetricValue::Text(Segment::AccessLine.as_str().to_owned())
    );
    assert_eq!(
        value(&evaluation, "loss_start_address"),
        MetricValue::Text(ISP.to_owned())
    );
    let destination = number(&evaluation, "destination_loss_percent");
    assert!((3.0..=18.0).contains(&destination), "9.75 % expected: {destination}");
    assert_eq!(evaluation.status, CheckStatus::Warn, "{evaluation:?}");
    samples
}

#[test]
fn path_sees_access_loss_at_the_access_hop_over_raw_icmp() {
    if !require_netsim("path_sees_access_loss_at_the_access_hop_over_raw_icmp") {
        return;
    }
    let samples = access_loss_is_seen_at_the_access_hop(PathProtocol::Icmp, false);
    assert_eq!(samples.protocol, PathProtocol::Icmp);
    assert_eq!(samples.socket, SocketKind::Raw);
}

#[test]
fn path_sees_access_loss_at_the_access_hop_over_ping_sockets() {
    if !require_netsim("path_sees_access_loss_at_the_access_hop_over_ping_sockets") {
        return;
    }
    let samples = access_loss_is_seen_at_the_access_hop(PathProtocol::Icmp, true);
    assert_eq!(samples.socket, SocketKind::Dgram);
}

#[test]
fn path_sees_access_loss_at_the_access_hop_over_udp() {
    if !require_netsim("path_sees_access_loss_at_the_access_hop_over_udp") {
        return;
    }
    let samples = access_loss_is_seen_at_the_access_hop(PathProtocol::Udp, false);
    assert_eq!(samples.protocol, PathProtocol::Udp);
    let last = samples.hops.last().and_then(|h| h.probes.iter().find_map(|p| p.reply));
    assert_eq!(last, Some(Reply::PortUnreachable));
}

/// The default pacing (nine rounds, 400 ms apart) stays within what a Linux router with its
/// default ICMP rate limit answers: every hop answers every probe.
#[test]
fn path_default_pacing_gets_every_answer_from_rate_limited_routers() {
    if !require_netsim("path_default_pacing_gets_every_answer_from_rate_limited_routers") {
        return;
    }
    let net = network("[links.access.both]\ndelay-ms = 5\n");
    let samples = trace(&net, INTERNET, PathOptions::default());
    let table: Vec<(u8, u32, u32)> = samples.hops.iter().map(|h| (h.ttl, h.sent, h.received)).collect();
    assert_eq!(table, vec![(1, 9, 9), (2, 9, 9), (3, 9, 9)]);
    let evaluation = evaluate_path(&samples, &PathThresholds::default(), &PathSegments::behind_a_box());
    assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
    let rtt = number(&evaluation, "destination_rtt_median_ms");
    assert!((10.0..12.0).contains(&rtt), "10 ms of access delay: {rtt}");
    assert!(samples.hops[0].rtt_median_ms.unwrap_or(99.0) < 1.0, "{table:?}");
}

/// Probing faster than the routers' ICMP rate limit: the box and the ISP's router answer only
/// some probes, the destination (echo replies are not rate-limited) all. That loss does not
/// persist downstream, so it is no loss.
#[test]
fn path_ignores_loss_at_rate_limited_routers() {
    if !require_netsim("path_ignores_loss_at_rate_limited_routers") {
        return;
    }
    let net = network("");
    let options = PathOptions {
        rounds: 40,
        interval: Duration::from_millis(25),
        ..PathOptions::default()
    };
    let samples = trace(&net, INTERNET, options);
    let routers: Vec<Option<f64>> = samples.hops[..2].iter().map(|h| h.loss_percent).collect();
    assert!(
        routers.iter().all(|l| l.is_some_and(|l| l > 50.0)),
        "a burst of 6 then 1/s answers at most ~7 of 40 probes in 1 s: {routers:?}"
    );
    assert_eq!(samples.hops[2].loss_percent, Some(0.0));
    let evaluation = evaluate_path(&samples, &PathThresholds::default(), &PathSegments::behind_a_box());
    assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
    assert_eq!(value(&evaluation, "loss_start_hop"), MetricValue::Missing);
    assert_eq!(number(&evaluation, "worst_hop_loss_percent"), 0.0);
}

/// IPv6 time exceeded and the destination's answers, over raw ICMPv6 and over UDP
/// (`IPV6_RECVERR`).
#[test]
fn path_over_ipv6() {
    if !require_netsim("path_over_ipv6") {
        return;
    }
    let net = network("");
    unlimit_icmp(&net);
    for (protocol, last) in [
        (PathProtocol::Icmp, Reply::Echo),
        (PathProtocol::Udp, Reply::PortUnreachable),
    ] {
        let options = PathOptions {
            protocol,
            rounds: 20,
            interval: Duration::from_millis(20),
            ..PathOptions::default()
        };
        let samples = trace(&net, INTERNET_V6, options);
        let table: Vec<(Vec<IpAddr>, u32)> = samples.hops.iter().map(|h| (h.addresses.clone(), h.received)).collect();
        assert_eq!(
            table,
            vec![
                (vec![ip("2001:db8:1::1")], 20),
                (vec![ip("2001:db8:2::1")], 20),
                (vec![ip(INTERNET_V6)], 20)
            ],
            "{protocol:?}"
        );
        assert_eq!(samples.hops[0].probes[0].reply, Some(Reply::TimeExceeded));
        assert_eq!(samples.hops[2].probes[0].reply, Some(last));
        let evaluation = evaluate_path(&samples, &PathThresholds::default(), &PathSegments::behind_a_box());
        assert_eq!(evaluation.status, CheckStatus::Pass, "{evaluation:?}");
    }
}

fn assert_mtu(samples: &MtuSamples, path_mtu: f64, black_hole: bool, frag_needed: bool, status: CheckStatus) {
    let evaluation = evaluate_mtu(samples, &MtuThresholds::default());
    let sizes: Vec<(u32, String)> = samples
        .probes
        .iter()
        .map(|p| (p.size, format!("{:?}", p.outcome)))
        .collect();
    assert_eq!(number(&evaluation, "path_mtu_bytes"), path_mtu, "{sizes:?}");
    assert_eq!(
        value(&evaluation, "black_hole"),
        MetricValue::Bool(black_hole),
        "{sizes:?}"
    );
    assert_eq!(
        value(&evaluation, "icmp_frag_needed_seen"),
        MetricValue::Bool(frag_needed),
        "{sizes:?}"
    );
    assert_eq!(
        value(&evaluation, "search_complete"),
        MetricValue::Bool(true),
        "{sizes:?}"
    );
    assert_eq!(evaluation.status, status, "{evaluation:?}");
}

/// Packets over 1400 bytes vanish on the access line, without ICMP: a black hole, found in
/// well under the 3 s budget, with raw sockets and then with ping sockets.
#[test]
fn mtu_finds_a_black_hole_at_1400() {
    if !require_netsim("mtu_finds_a_black_hole_at_1400") {
        return;
    }
    let net = network("[links.access.both]\nmtu = 1400\nmtu-mode = \"drop\"\n");
    let started = std::time::Instant::now();
    let raw = search_mtu(&net, INTERNET);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(raw.socket, SocketKind::Raw);
    assert_mtu(&raw, 1400.0, true, false, CheckStatus::Fail);
    let raw_v6 = search_mtu(&net, INTERNET_V6);
    assert_eq!(raw_v6.socket, SocketKind::Raw);
    assert_mtu(&raw_v6, 1400.0, true, false, CheckStatus::Fail);

    allow_ping_sockets(&net.device);
    for target in [INTERNET, INTERNET_V6] {
        let dgram = search_mtu(&net, target);
        assert_eq!(dgram.socket, SocketKind::Dgram);
        assert_mtu(&dgram, 1400.0, true, false, CheckStatus::Fail);
    }
}

/// The same MTU, well-behaved: the ISP's router answers "fragmentation needed, MTU 1400".
#[test]
fn mtu_reports_a_well_behaved_1400() {
    if !require_netsim("mtu_reports_a_well_behaved_1400") {
        return;
    }
    let net = network("[links.access.both]\nmtu = 1400\n");
    let raw = search_mtu(&net, INTERNET);
    assert_mtu(&raw, 1400.0, false, true, CheckStatus::Pass);
    let announced: Vec<(Option<IpAddr>, Option<u32>)> = raw
        .probes
        .iter()
        .filter(|p| p.mtu.is_some())
        .map(|p| (p.from, p.mtu))
        .collect();
    assert!(announced.contains(&(Some(ip(ISP)), Some(1400))), "{announced:?}");

    let raw_v6 = search_mtu(&net, INTERNET_V6);
    assert_mtu(&raw_v6, 1400.0, false, true, CheckStatus::Pass);

    allow_ping_sockets(&net.device);
    for target in [INTERNET, INTERNET_V6] {
        let dgram = search_mtu(&net, target);
        assert_eq!(dgram.socket, SocketKind::Dgram);
        assert_mtu(&dgram, 1400.0, false, true, CheckStatus::Pass);
    }
}

#[test]
fn mtu_of_a_healthy_network_is_1500() {
    if !require_netsim("mtu_of_a_healthy_network_is_1500") {
        return;
    }
    let net = network("");
    let samples = search_mtu(&net, INTERNET);
    assert_mtu(&samples, 1500.0, false, false, CheckStatus::Pass);
    assert_eq!(samples.probes.len(), 4, "one step: {samples:?}");
}
