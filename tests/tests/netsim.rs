//! Fidelity of the link emulator, measured with tools no one here wrote (iputils `ping`,
//! `iperf3`), and cleanup of the namespaces and TUN devices it creates.
//!
//! Tolerances are stated in each test; `scripts/bench-netsim.sh` prints the exact figures.

use std::process::Command;
use std::time::{Duration, Instant};

use sonde_netsim::Netns;
use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;

fn network(toml: &str) -> Network {
    let scenario: Scenario = toml::from_str(toml).expect("scenario parses");
    Network::up(&scenario).expect("network up")
}

/// Runs iputils ping in `ns` and returns every reply's RTT in ms, and how many were sent.
fn ping(ns: &Netns, target: &str, count: u32, interval: &str) -> (Vec<f64>, u32) {
    let out = ns
        .command("ping")
        .args(["-n", "-c", &count.to_string(), "-i", interval, "-W", "1", target])
        .output()
        .expect("run ping (Debian package iputils-ping)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rtts = text
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .collect();
    (rtts, count)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    assert!(n > 0, "no values");
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Starts a one-shot iperf3 server in `ns` bound to `addr`.
fn iperf_server(ns: &Netns, addr: &str) {
    let status = ns
        .command("iperf3")
        .args(["-s", "-1", "-D", "--idle-timeout", "30", "-B", addr])
        .status()
        .expect("run iperf3 (Debian package iperf3)");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
}

/// Runs an iperf3 TCP client; returns the receiver's goodput in Mbit/s.
fn iperf_client(ns: &Netns, server: &str, seconds: u32, extra: &[&str]) -> f64 {
    let out = ns
        .command("iperf3")
        .args(["-c", server, "-t", &seconds.to_string(), "-O", "1", "-J"])
        .args(extra)
        .output()
        .expect("run iperf3");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("iperf3 JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .expect("receiver goodput");
    bps / 1e6
}

#[test]
fn delay_of_25_ms_each_way_gives_a_50_ms_ping() {
    if !require_netsim("delay_of_25_ms_each_way_gives_a_50_ms_ping") {
        return;
    }
    let net = network("[links.access.both]\ndelay-ms = 25\n");
    let (mut rtts, sent) = ping(&net.device, "198.51.100.1", 50, "0.02");
    assert_eq!(rtts.len() as u32, sent, "no loss configured");
    let m = median(&mut rtts);
    // Tolerance stated by the issue: ± 0.5 ms.
    assert!((m - 50.0).abs() <= 0.5, "median RTT {m:.3} ms");
}

#[test]
fn five_percent_loss_is_within_three_sigma_over_2000_packets() {
    if !require_netsim("five_percent_loss_is_within_three_sigma_over_2000_packets") {
        return;
    }
    // Loss on the way up only, so each echo is lost with probability 5 %.
    let net = network("seed = 11\n[links.access.up]\nloss-percent = 5\n");
    let (rtts, sent) = ping(&net.device, "198.51.100.1", 2000, "0.002");
    let lost = f64::from(sent) - rtts.len() as f64;
    let (n, p) = (f64::from(sent), 0.05);
    let sigma = (n * p * (1.0 - p)).sqrt();
    assert!(
        (lost - n * p).abs() <= 3.0 * sigma,
        "lost {lost} of {n}: expected {} ± {:.1}",
        n * p,
        3.0 * sigma
    );
}

/// TCP payload per 1500-byte IP packet with timestamps: 1500 − 20 (IP) − 32 (TCP + options).
const TCP_EFFICIENCY: f64 = 1448.0 / 1500.0;

#[test]
fn a_20_mbit_rate_limit_gives_iperf3_its_goodput() {
    if !require_netsim("a_20_mbit_rate_limit_gives_iperf3_its_goodput") {
        return;
    }
    let net = network("[links.access.up]\nrate-mbps = 20\nqueue-kb = 64\n");
    iperf_server(&net.isp, "198.51.100.1");
    let goodput = iperf_client(&net.device, "198.51.100.1", 5, &[]);
    let truth = 20.0 * TCP_EFFICIENCY;
    // Tolerance stated by the issue: ± 5 %.
    assert!(
        (goodput - truth).abs() / truth <= 0.05,
        "goodput {goodput:.2} Mbit/s vs {truth:.2}"
    );
}

#[test]
fn a_256_kb_queue_at_20_mbit_adds_100_ms_under_load() {
    if !require_netsim("a_256_kb_queue_at_20_mbit_adds_100_ms_under_load") {
        return;
    }
    let net = network("[links.access.up]\nrate-mbps = 20\nqueue-kb = 256\n");
    let (mut idle, _) = ping(&net.device, "198.51.100.1", 20, "0.05");
    let idle = median(&mut idle);
    iperf_server(&net.isp, "198.51.100.1");
    // A loss-based congestion control fills the queue, as most customer devices' do; the
    // host's default (BBR) would keep it nearly empty. Four streams, as RRUL loads a line:
    // one cubic flow's sawtooth halves the standing queue after each loss, four desynchronised
    // ones keep it near full, which is the figure a bloated buffer is known by.
    let device = net.device.name().to_owned();
    let load = std::thread::spawn(move || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &device,
                "iperf3",
                "-c",
                "198.51.100.1",
                "-t",
                "6",
                "-P",
                "4",
                "-C",
                "cubic",
            ])
            .output()
    });
    std::thread::sleep(Duration::from_secs(2));
    let (mut loaded, _) = ping(&net.device, "198.51.100.1", 30, "0.1");
    let _ = load.join();
    let added = median(&mut loaded) - idle;
    let truth = 256_000.0 * 8.0 / 20e6 * 1000.0; // 102.4 ms
    eprintln!("added {added:.1} ms under load (truth {truth:.1} ms)");
    // Tolerance stated by the issue: ± 20 %.
    assert!(
        (added - truth).abs() / truth <= 0.2,
        "added {added:.1} ms vs {truth:.1} ms (idle {idle:.2} ms)"
    );
}

#[test]
fn impairments_change_while_the_network_runs() {
    if !require_netsim("impairments_change_while_the_network_runs") {
        return;
    }
    let net = network("[[timeline]]\nat-ms = 600\nlink = \"access\"\nboth = { outage = true }\n");
    let (before, _) = ping(&net.device, "198.51.100.1", 3, "0.05");
    assert_eq!(before.len(), 3, "the line works before the outage");
    std::thread::sleep(Duration::from_millis(700));
    let (during, _) = ping(&net.device, "198.51.100.1", 3, "0.05");
    assert!(during.is_empty(), "the timeline's outage cuts the line");
    let delayed = sonde_netsim::emulator::Impairment {
        delay_ms: 10.0,
        ..Default::default()
    };
    net.set_link("access", delayed.clone(), delayed).expect("set");
    let (mut after, _) = ping(&net.device, "198.51.100.1", 5, "0.05");
    assert_eq!(after.len(), 5, "the control API ends the outage");
    assert!((median(&mut after) - 20.0).abs() < 1.0);
}

#[test]
fn pmtu_black_hole_and_icmp_mtu() {
    if !require_netsim("pmtu_black_hole_and_icmp_mtu") {
        return;
    }
    let net = network("[links.access.both]\nmtu = 1400\n");
    // 1400-byte IP packets pass; 1472 + 28 = 1500 do not, and ping hears "frag needed".
    let ok = net
        .device
        .command("ping")
        .args(["-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1372", "198.51.100.1"])
        .output()
        .expect("ping");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    let big = net
        .device
        .command("ping")
        .args(["-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "198.51.100.1"])
        .output()
        .expect("ping");
    let text = String::from_utf8_lossy(&big.stdout);
    assert!(text.contains("Frag needed") || text.contains("mtu = 1400"), "{text}");

    let hole = network("[links.access.both]\nmtu = 1400\nmtu-mode = \"drop\"\n");
    let big = hole
        .device
        .command("ping")
        .args(["-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "198.51.100.1"])
        .output()
        .expect("ping");
    let text = String::from_utf8_lossy(&big.stdout);
    assert!(
        !big.status.success() && !text.contains("Frag needed"),
        "a black hole says nothing: {text}"
    );
}

#[test]
fn nat_and_ipv6_reach_the_internet() {
    if !require_netsim("nat_and_ipv6_reach_the_internet") {
        return;
    }
    let net = network("[network]\nnat = true\n");
    let (v4, _) = ping(&net.device, "203.0.113.80", 3, "0.05");
    assert_eq!(v4.len(), 3);
    let (v6, _) = ping(&net.device, "2001:db8:3::80", 3, "0.05");
    assert_eq!(v6.len(), 3);
}

#[test]
fn a_killed_netsim_leaves_nothing_after_the_next_down() {
    if !require_netsim("a_killed_netsim_leaves_nothing_after_the_next_down") {
        return;
    }
    let bin = crate::support::netsim_bin();
    let dir = std::env::temp_dir().join(format!("sonde-netsim-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario = dir.join("killed.toml");
    std::fs::write(
        &scenario,
        "description = \"to be killed\"\n[links.access.both]\ndelay-ms = 5\n",
    )
    .expect("write");
    let mut child = Command::new(&bin)
        .arg("up")
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start sonde-netsim up");
    let pid = child.id();
    let prefix = format!("sonde-{pid}-");
    let deadline = Instant::now() + Duration::from_secs(10);
    while namespaces(&prefix).len() < 4 {
        assert!(Instant::now() < deadline, "the network did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert_eq!(
        namespaces(&prefix).len(),
        4,
        "a SIGKILLed process cannot clean up by itself"
    );
    let status = Command::new(&bin)
        .arg("down")
        .arg(&scenario)
        .status()
        .expect("sonde-netsim down");
    assert!(status.success());
    assert!(namespaces(&prefix).is_empty(), "left behind: {:?}", namespaces(&prefix));
    // TUN devices die with the process's descriptors; veths with their namespaces. Nothing of
    // this run is left in the root namespace either.
    let links = Command::new("ip").args(["-o", "link"]).output().expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(&format!("sn{}x", pid % 100_000)), "{links}");
    assert!(
        !std::path::Path::new("/etc/netns")
            .join(format!("{prefix}0-device"))
            .exists()
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn namespaces(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_process_hook_runs_the_backend_inside_the_network() {
    if !require_netsim("a_process_hook_runs_the_backend_inside_the_network") {
        return;
    }
    let backend = crate::support::bin("sonde-backend");
    let net = network(&format!(
        "[network]\nnat = true\n[[peers.process]]\nnode = \"internet\"\naddress = \"203.0.113.90\"\ncommand = [\"{}\", \"--listen\", \"203.0.113.90:8791\"]\n",
        backend.display()
    ));
    let addr: std::net::SocketAddr = "203.0.113.90:8791".parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = net
            .device
            .run_inside(move || crate::support::http(addr, "GET", "/v1/health", None))
            .expect("thread");
        match answer {
            Ok((200, body)) => {
                assert!(body.contains("\"ok\""), "{body}");
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "the backend did not answer through the network: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_scenario_modem_answers_modbus_from_the_device() {
    if !require_netsim("a_scenario_modem_answers_modbus_from_the_device") {
        return;
    }
    let net = network(
        "[peers.modem]\nmap = \"generic-lte\"\n[peers.modem.state]\nregistration = \"searching\"\nrat = \"4g\"\n",
    );
    let addr: std::net::SocketAddr = "192.0.2.1:502".parse().expect("addr");
    let reply = net
        .device
        .run_inside(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            // MBAP (transaction 1, protocol 0, length 6, unit 1), read holding registers 0..2.
            stream.write_all(&[0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2])?;
            let mut reply = vec![0u8; 13];
            stream.read_exact(&mut reply)?;
            Ok(reply)
        })
        .expect("thread")
        .expect("modbus exchange");
    assert_eq!(&reply[7..9], &[3, 4], "function 3, 4 bytes: {reply:?}");
    // generic-lte: register 0 = 3GPP registration code (2 = searching), 1 = RAT generation.
    assert_eq!(&reply[9..13], &[0, 2, 0, 4], "{reply:?}");
    assert_eq!(net.modem().map(sonde_netsim::peers::modbus::Handle::requests), Some(1));
}
