//! `sonde ping`, the agent's echo prober on the command line: a sweep of many targets from one
//! socket, RTTs across an emulated link, ICMP errors as losses with their reason, and bad input.
//!
//! Traffic goes only to the namespaces these tests create.

use sonde_netsim::network::Network;
use sonde_netsim::scenario::Scenario;
use sonde_netsim::{Netns, require_netsim, veth};

use crate::support::sonde;

/// A prober namespace and a responder namespace joined by a veth pair; the responder answers
/// for every address of `local` (an AnyIP route), and has no route at all to 10.9.0.0/16.
fn sweep_pair(local: &str) -> (Netns, Netns) {
    let prober = Netns::new("prober").expect("prober namespace");
    let responder = Netns::new("responder").expect("responder namespace");
    veth(&prober, "eth0", &responder, "eth0").expect("veth");
    prober
        .ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"])
        .expect("prober address");
    responder
        .ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"])
        .expect("responder address");
    prober
        .ip(&["route", "add", "default", "via", "192.0.2.1"])
        .expect("default route");
    responder
        .ip(&["route", "add", "local", local, "dev", "lo"])
        .expect("AnyIP route");
    (prober, responder)
}

/// 1,024 targets, one probe each, unpaced: every reply counted, one summary line per target.
#[test]
fn sweep_counts_every_reply() {
    if !require_netsim("sweep_counts_every_reply") {
        return;
    }
    let (prober, _responder) = sweep_pair("198.18.0.0/22");
    let targets: String = (0..1024).map(|i| format!("198.18.{}.{}\n", i / 256, i % 256)).collect();
    let file = prober
        .write_state("targets.txt", &format!("# the sweep\n{targets}"))
        .expect("targets file");
    let file = file.to_string_lossy();
    let out = sonde(&prober, &["ping", "-f", &file, "-c", "1", "--spacing-ms", "0", "-q"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let summary = out.stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("1024 targets: 1024 sent, 1024 received, 0 silent, 0 not probed"),
        "{summary}"
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains(": 1 sent, 1 received"))
            .count(),
        1024
    );
}

/// A destination the network says it cannot reach is a loss with the ICMP error's reason, and
/// the exit code says some target stayed silent.
#[test]
fn unreachable_targets_are_losses_with_their_reason() {
    if !require_netsim("unreachable_targets_are_losses_with_their_reason") {
        return;
    }
    let (prober, responder) = sweep_pair("198.18.0.0/30");
    // A router (forwarding on) that knows 10.9.0.0/16 is unreachable, and says so.
    let forwarding = responder
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=1"])
        .status()
        .expect("run sysctl (Debian package procps)");
    assert!(forwarding.success());
    responder
        .ip(&["route", "add", "unreachable", "10.9.0.0/16"])
        .expect("unreachable route");
    let out = sonde(
        &prober,
        &["ping", "198.18.0.1", "10.9.0.1", "-c", "2", "-i", "50", "-W", "500"],
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("198.18.0.1: seq=1 time="), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("10.9.0.1: seq=0 lost (destination unreachable (code 1) from 192.0.2.1)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2 targets: 4 sent, 2 received, 1 silent"),
        "{}",
        out.stdout
    );
}

/// Across an emulated 25 ms each way link, the RTT is the link's and never less.
#[test]
fn rtt_across_an_emulated_link() {
    if !require_netsim("rtt_across_an_emulated_link") {
        return;
    }
    let scenario: Scenario = toml::from_str("[links.access.both]\ndelay-ms = 25\n").expect("scenario");
    let net = Network::up(&scenario).expect("network up");
    let out = sonde(&net.device, &["ping", "198.51.100.1", "-c", "10", "-i", "20"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let rtts: Vec<f64> = out
        .stdout
        .lines()
        .filter_map(|l| l.split("time=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(rtts.len(), 10, "{}", out.stdout);
    for rtt in rtts {
        assert!((50.0..55.0).contains(&rtt), "{rtt} ms across 2 × 25 ms");
    }
}

/// Bad input: a clear message and exit code 2, before any packet is sent.
#[test]
fn bad_targets_are_usage_errors() {
    if !require_netsim("bad_targets_are_usage_errors") {
        return;
    }
    let (prober, _responder) = sweep_pair("198.18.0.0/30");
    let file = prober
        .write_state("bad.txt", "198.18.0.1\n\n# fine so far\n198.18.0.2; id\n")
        .expect("targets file");
    let file = file.to_string_lossy();
    let out = sonde(&prober, &["ping", "-f", &file]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("bad.txt:4: not an IP address: \"198.18.0.2; id\""),
        "{}",
        out.stderr
    );
    let out = sonde(&prober, &["ping"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no target"), "{}", out.stderr);
    let out = sonde(&prober, &["ping", "-f", "/nonexistent/targets"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("reading targets from /nonexistent/targets"),
        "{}",
        out.stderr
    );
    let out = sonde(&prober, &["ping", "$(id)"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}
