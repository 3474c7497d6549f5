//! A running simulated network: `device — box — access — isp — internet`, each node a network
//! namespace, each link a pair of TUN devices joined by the link emulator.
//!
//! | link | ends | IPv4 | IPv6 |
//! | --- | --- | --- | --- |
//! | `lan` | device `eth0` — box `lan0` | 192.0.2.2 — 192.0.2.1 /24 | 2001:db8:1::2 — ::1 /64 |
//! | `access` | box `wan0` — isp `acc0` | 198.51.100.2 — 198.51.100.1 /24 | 2001:db8:2::2 — ::1 /64 |
//! | `core` | isp `core0` — internet `eth0` | 203.0.113.1 — 203.0.113.2 /24 | 2001:db8:3::1 — ::2 /64 |
//!
//! Services live on loopback addresses of their node: the ISP's resolver at 198.51.100.53
//! (2001:db8:2::53), a public resolver and web server on the Internet node at 203.0.113.53 and
//! 203.0.113.80 (2001:db8:3::53, ::80). Everything is in documentation ranges, routed nowhere.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::Netns;
use crate::emulator::{EmulatedLink, Impairment, LinkStats, Tun};
use crate::peers::{dns, http, modbus, speedtest};

/// The simulated box's health when a scenario does not describe it.
const HEALTHY_SYSTEM: &str = "cpus = 2\nload = [0.2, 0.2, 0.2]\nmemory-total-bytes = 1073741824\n\
                              memory-available-bytes = 644245094\nuptime-s = 259200\n\
                              temperatures = [{ label = \"soc\", celsius = 55.0 }]\n";
use crate::scenario::{LinkSpec, Scenario};

/// Well-known addresses of the simulated network.
pub mod addr {
    /// The device.
    pub const DEVICE: &str = "192.0.2.2";
    /// The box, on the LAN (the device's gateway and resolver).
    pub const BOX_LAN: &str = "192.0.2.1";
    /// The box's WAN address.
    pub const BOX_WAN: &str = "198.51.100.2";
    /// The ISP's router on the access line (the box's gateway).
    pub const ISP: &str = "198.51.100.1";
    /// The ISP's resolver.
    pub const ISP_RESOLVER: &str = "198.51.100.53";
    /// A public resolver on the Internet.
    pub const PUBLIC_RESOLVER: &str = "203.0.113.53";
    /// A web server on the Internet.
    pub const WEB: &str = "203.0.113.80";
    /// The measurement server (`[peers.speedtest]`).
    pub const SPEEDTEST: &str = "203.0.113.81";
    /// The device's IPv6 address.
    pub const DEVICE_V6: &str = "2001:db8:1::2";
    /// The box's LAN IPv6 address.
    pub const BOX_LAN_V6: &str = "2001:db8:1::1";
}

/// The nodes of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    /// The customer's device.
    Device,
    /// The home box.
    Box,
    /// The ISP's router.
    Isp,
    /// The rest of the Internet.
    Internet,
}

impl Node {
    /// The node named `name` in scenario files.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "device" => Some(Node::Device),
            "box" => Some(Node::Box),
            "isp" => Some(Node::Isp),
            "internet" => Some(Node::Internet),
            _ => None,
        }
    }
}

/// A program run by the scenario; killed with the network.
#[derive(Debug)]
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running network. Dropping it stops the timeline and the links, and removes every
/// namespace (and with them every TUN and address).
#[derive(Debug)]
pub struct Network {
    // Fields drop in order: the timeline first, then the peers, the links, the namespaces.
    _timeline: Option<Timeline>,
    processes: Vec<Process>,
    dns: BTreeMap<&'static str, dns::Handle>,
    web: Option<http::Handle>,
    modem: Option<modbus::Handle>,
    speedtest: Option<speedtest::Handle>,
    links: Arc<BTreeMap<&'static str, EmulatedLink>>,
    sonde_config: std::path::PathBuf,
    /// The customer's device.
    pub device: Netns,
    /// The home box.
    pub r#box: Netns,
    /// The ISP.
    pub isp: Netns,
    /// The Internet.
    pub internet: Netns,
}

#[derive(Debug)]
struct Timeline {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct End<'a> {
    ns: &'a Netns,
    ifname: &'a str,
    v4: &'a str,
    v6: &'a str,
}

impl Network {
    /// Builds the network a scenario describes and starts its timeline.
    pub fn up(scenario: &Scenario) -> anyhow::Result<Self> {
        let device = Netns::new("device")?;
        let r#box = Netns::new("box")?;
        let isp = Netns::new("isp")?;
        let internet = Netns::new("internet")?;
        let v6 = scenario.network.ipv6;
        let mut links = BTreeMap::new();
        let specs: [(&'static str, &LinkSpec, End<'_>, End<'_>); 3] = [
            (
                "lan",
                &scenario.links.lan,
                End {
                    ns: &r#box,
                    ifname: "lan0",
                    v4: "192.0.2.1/24",
                    v6: "2001:db8:1::1/64",
                },
                End {
                    ns: &device,
                    ifname: "eth0",
                    v4: "192.0.2.2/24",
                    v6: "2001:db8:1::2/64",
                },
            ),
            (
                "access",
                &scenario.links.access,
                End {
                    ns: &isp,
                    ifname: "acc0",
                    v4: "198.51.100.1/24",
                    v6: "2001:db8:2::1/64",
                },
                End {
                    ns: &r#box,
                    ifname: "wan0",
                    v4: "198.51.100.2/24",
                    v6: "2001:db8:2::2/64",
                },
            ),
            (
                "core",
                &scenario.links.core,
                End {
                    ns: &internet,
                    ifname: "eth0",
                    v4: "203.0.113.2/24",
                    v6: "2001:db8:3::2/64",
                },
                End {
                    ns: &isp,
                    ifname: "core0",
                    v4: "203.0.113.1/24",
                    v6: "2001:db8:3::1/64",
                },
            ),
        ];
        for (i, (name, spec, upstream, downstream)) in specs.into_iter().enumerate() {
            let (up, down) = spec.resolve();
            let seed = scenario.seed.wrapping_mul(31).wrapping_add(i as u64);
            let link = tun_link(&downstream, &upstream, up, down, v6, seed).with_context(|| format!("link {name}"))?;
            links.insert(name, link);
        }

        // Service addresses on loopback.
        isp.ip(&["addr", "add", "198.51.100.53/32", "dev", "lo"])?;
        internet.ip(&["addr", "add", "203.0.113.53/32", "dev", "lo"])?;
        internet.ip(&["addr", "add", "203.0.113.80/32", "dev", "lo"])?;
        if v6 {
            isp.ip(&["addr", "add", "2001:db8:2::53/128", "dev", "lo"])?;
            internet.ip(&["addr", "add", "2001:db8:3::53/128", "dev", "lo"])?;
            internet.ip(&["addr", "add", "2001:db8:3::80/128", "dev", "lo"])?;
        }

        // Routing: every router forwards; default routes point towards the Internet, and the
        // Internet knows the way back.
        for router in [&r#box, &isp, &internet] {
            sysctl(router, "net.ipv4.ip_forward", "1")?;
            if v6 {
                sysctl(router, "net.ipv6.conf.all.forwarding", "1")?;
            }
        }
        if !scenario.device.no_default_route {
            device.ip(&["route", "add", "default", "via", addr::BOX_LAN])?;
            if v6 {
                device.ip(&["-6", "route", "add", "default", "via", addr::BOX_LAN_V6])?;
            }
        }
        r#box.ip(&["route", "add", "default", "via", addr::ISP])?;
        isp.ip(&["route", "add", "default", "via", "203.0.113.2"])?;
        isp.ip(&["route", "add", "192.0.2.0/24", "via", addr::BOX_WAN])?;
        internet.ip(&["route", "add", "198.51.100.0/24", "via", "203.0.113.1"])?;
        internet.ip(&["route", "add", "192.0.2.0/24", "via", "203.0.113.1"])?;
        if v6 {
            if scenario.network.ipv6_upstream {
                r#box.ip(&["-6", "route", "add", "default", "via", "2001:db8:2::1"])?;
            }
            isp.ip(&["-6", "route", "add", "default", "via", "2001:db8:3::2"])?;
            isp.ip(&["-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:2::2"])?;
            internet.ip(&["-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:3::1"])?;
            internet.ip(&["-6", "route", "add", "2001:db8:2::/64", "via", "2001:db8:3::1"])?;
        }
        if scenario.network.nat {
            let status = r#box
                .command("iptables")
                .args(["-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE"])
                .status()
                .context("run iptables (Debian package iptables) for the box's NAT")?;
            anyhow::ensure!(status.success(), "iptables MASQUERADE on the box failed");
        }

        let resolvers = scenario
            .device
            .resolvers
            .clone()
            .unwrap_or_else(|| vec![parse(addr::BOX_LAN)]);
        let resolv: String = resolvers.iter().map(|r| format!("nameserver {r}\n")).collect();
        device.set_resolv_conf(&resolv)?;
        // sonde run on the device (`sonde-netsim exec`, the scenario matrix) measures against
        // this network's own services, never the real Internet's.
        let v6_anchor = if v6 { ", \"2001:db8:3::53\"" } else { "" };
        // The device's radio, when the scenario gives it one: a station snapshot sonde reads
        // instead of the kernel (namespaces have no radio).
        let wifi_source = match &scenario.wifi {
            Some(station) => {
                let text = toml::to_string(station).context("the scenario's [wifi] table")?;
                let path = device.write_state("wifi.toml", &text)?;
                format!("[wifi]\nsource = \"{}\"\n", path.display())
            }
            None => String::new(),
        };
        // The box's health: the scenario's, else a healthy box, never this host's.
        let system_text = match &scenario.system {
            Some(table) => toml::to_string(table).context("the scenario's [system] table")?,
            None => HEALTHY_SYSTEM.to_owned(),
        };
        let system_path = device.write_state("system.toml", &system_text)?;
        let system_source = format!("[system]\nsource = \"{}\"\n", system_path.display());
        if scenario.device.link_down {
            device.ip(&["link", "set", "eth0", "down"])?;
        }

        let mut dns_peers = BTreeMap::new();
        let peers = &scenario.peers;
        for (name, spec, ns, address) in [
            ("box-dns", &peers.box_dns, &r#box, addr::BOX_LAN),
            ("isp-dns", &peers.isp_dns, &isp, addr::ISP_RESOLVER),
            ("public-dns", &peers.public_dns, &internet, addr::PUBLIC_RESOLVER),
        ] {
            if spec.enabled {
                let zone = spec.zone.clone().unwrap_or_else(default_zone);
                let socket = SocketAddr::new(parse(address), 53);
                let handle = dns::spawn(ns, socket, zone, spec.mode.clone()).with_context(|| format!("peer {name}"))?;
                dns_peers.insert(name, handle);
            }
        }
        // sonde on the device reads the modem where the scenario puts it, with the scenario's map.
        let mobile = peers.modem.as_ref().map(mobile_config).unwrap_or_default();
        let modem = match &peers.modem {
            Some(config) => {
                let socket = SocketAddr::new(parse(addr::BOX_LAN), 502);
                let handle = modbus::spawn(&r#box, socket, config.register_map(), config.state.clone(), config.mode)
                    .context("peer modem")?;
                Some(handle)
            }
            None => None,
        };
        let web = if peers.web.enabled {
            let socket = SocketAddr::new(parse(addr::WEB), 80);
            Some(http::spawn(&internet, socket, peers.web.mode.clone()).context("peer web")?)
        } else {
            None
        };
        let speedtest = if peers.speedtest.enabled {
            let socket = SocketAddr::new(parse(addr::SPEEDTEST), 8080);
            internet.ip(&["addr", "add", &format!("{}/32", addr::SPEEDTEST), "dev", "lo"])?;
            Some(speedtest::spawn(&internet, socket).context("peer speedtest")?)
        } else {
            None
        };
        let throughput = speedtest
            .as_ref()
            .map(|s| format!("[throughput]\nserver = \"http://{}\"\n", s.addr()))
            .unwrap_or_default();
        let line = match &scenario.device.line {
            Some(table) => format!(
                "[line]\n{}",
                toml::to_string(table).context("the scenario's [device.line]")?
            ),
            None => String::new(),
        };
        // The web check measures this network's web server, trusting its test CA.
        let ca = web
            .as_ref()
            .map(|w| format!("ca-file = \"{}\"\n", w.ca_file().display()))
            .unwrap_or_default();
        let sonde_config = device.write_state(
            "sonde.toml",
            &format!(
                "[latency]\nanchors = [\"203.0.113.53\", \"203.0.113.80\"{v6_anchor}]\n\
                 [dns]\npublic = [\"203.0.113.53\"]\n\
                 [http]\ntargets = [\"https://203.0.113.80/\", \"http://www.example.com/\"]\n\
                 portal-probe = \"http://203.0.113.80/generate_204\"\n{ca}{wifi_source}{system_source}{mobile}{throughput}{line}"
            ),
        )?;

        let mut network = Self {
            _timeline: None,
            processes: Vec::new(),
            dns: dns_peers,
            web,
            modem,
            speedtest,
            links: Arc::new(links),
            sonde_config,
            device,
            r#box,
            isp,
            internet,
        };
        for spec in &peers.process {
            let ns = network.node(Node::parse(&spec.node).with_context(|| format!("node `{}`", spec.node))?);
            if let Some(address) = spec.address {
                ns.ip(&["addr", "add", &address.to_string(), "dev", "lo"])?;
            }
            let (program, args) = spec.command.split_first().context("peers.process: empty command")?;
            let child = ns
                .command(program)
                .args(args)
                .spawn()
                .with_context(|| format!("start `{program}`"))?;
            network.processes.push(Process(child));
        }
        // A stale data session carries nothing: the access link is out until the modem's data
        // session is re-established (a reconnect or reboot action, or a new state).
        if let Some(modem) = &network.modem {
            // Only an outage the modem caused is lifted: a scenario's own outage stays.
            let links = network.links.clone();
            let forced = AtomicBool::new(false);
            modem.on_data_session(move |carrying| {
                let Some(access) = links.get("access") else { return };
                if carrying != forced.load(Ordering::SeqCst) {
                    return;
                }
                forced.store(!carrying, Ordering::SeqCst);
                let (mut up, mut down) = access.impairments();
                (up.outage, down.outage) = (!carrying, !carrying);
                access.set(up, down);
            });
        }
        network._timeline = start_timeline(scenario, network.links.clone());
        Ok(network)
    }

    /// The namespace of a node.
    pub fn node(&self, node: Node) -> &Netns {
        match node {
            Node::Device => &self.device,
            Node::Box => &self.r#box,
            Node::Isp => &self.isp,
            Node::Internet => &self.internet,
        }
    }

    /// The sonde configuration for the device (`SONDE_CONFIG`): Internet anchors in this
    /// network.
    pub fn sonde_config(&self) -> &std::path::Path {
        &self.sonde_config
    }

    /// A running DNS peer: `box-dns`, `isp-dns` or `public-dns`.
    pub fn dns(&self, name: &str) -> Option<&dns::Handle> {
        self.dns.get(name)
    }

    /// The measurement server, when the scenario enables it.
    pub fn speedtest(&self) -> Option<&speedtest::Handle> {
        self.speedtest.as_ref()
    }

    /// The modem, when the scenario has one.
    pub fn modem(&self) -> Option<&modbus::Handle> {
        self.modem.as_ref()
    }

    /// The web server, when it runs.
    pub fn web(&self) -> Option<&http::Handle> {
        self.web.as_ref()
    }

    /// Changes a link's impairments now (`up` towards the Internet, `down` towards the device).
    pub fn set_link(&self, link: &str, up: Impairment, down: Impairment) -> anyhow::Result<()> {
        let l = self.links.get(link).with_context(|| format!("no link `{link}`"))?;
        l.set(up, down);
        Ok(())
    }

    /// A link's counters: (up, down).
    pub fn link_stats(&self, link: &str) -> Option<(LinkStats, LinkStats)> {
        // Each link's forward direction carries packets from its downstream end, upwards.
        self.links.get(link).map(EmulatedLink::stats)
    }
}

/// Creates a TUN pair between `downstream` and `upstream` and starts the emulator on it.
/// `up` applies to packets going upstream (towards the Internet), `down` to the others.
fn tun_link(
    downstream: &End<'_>,
    upstream: &End<'_>,
    up: Impairment,
    down: Impairment,
    v6: bool,
    seed: u64,
) -> anyhow::Result<EmulatedLink> {
    static N: AtomicU32 = AtomicU32::new(0);
    let mut tuns = Vec::new();
    for end in [downstream, upstream] {
        // Created here (unique name in this namespace), then moved and renamed.
        let temp = format!(
            "sn{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let tun = Tun::create(&temp)?;
        let status = std::process::Command::new("ip")
            .args(["link", "set", "dev", &temp, "netns", end.ns.name()])
            .status()
            .context("ip link set netns")?;
        anyhow::ensure!(status.success(), "moving {temp} into {} failed", end.ns.name());
        end.ns.ip(&["link", "set", "dev", &temp, "name", end.ifname])?;
        // Room for bursts while the forwarder thread is not scheduled (as a NIC's ring
        // would); the emulated queue itself is the model's, not this one.
        end.ns
            .ip(&["link", "set", "dev", end.ifname, "txqueuelen", TUN_TXQUEUELEN])?;
        end.ns.ip(&["addr", "add", end.v4, "dev", end.ifname])?;
        if v6 {
            end.ns.ip(&["addr", "add", end.v6, "dev", end.ifname, "nodad"])?;
        }
        end.ns.ip(&["link", "set", "dev", end.ifname, "up"])?;
        tuns.push(tun);
    }
    let addrs = |end: &End<'_>| -> Vec<IpAddr> {
        [end.v4, end.v6]
            .iter()
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect()
    };
    let (down_addrs, up_addrs) = (addrs(downstream), addrs(upstream));
    let upstream_tun = tuns.pop().context("two TUNs")?;
    let downstream_tun = tuns.pop().context("two TUNs")?;
    // Packets read from the downstream TUN travel up, and ICMP errors about them come from the
    // upstream end.
    Ok(EmulatedLink::start(
        downstream_tun,
        upstream_tun,
        up,
        down,
        &down_addrs,
        &up_addrs,
        seed,
    ))
}

/// Packets the kernel holds for a TUN's reader before dropping.
const TUN_TXQUEUELEN: &str = "4096";

/// The names every DNS peer knows unless its scenario says otherwise.
fn default_zone() -> dns::Zone {
    dns::Zone::new()
        .with("example.com", parse(addr::WEB))
        .with("example.com", parse("2001:db8:3::80"))
        .with("www.example.com", parse(addr::WEB))
        .with("www.example.com", parse("2001:db8:3::80"))
}

/// Parses one of this module's address constants.
fn parse(text: &str) -> IpAddr {
    // The constants are literal addresses, checked by the tests.
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn sysctl(ns: &Netns, key: &str, value: &str) -> anyhow::Result<()> {
    let out = ns
        .command("sysctl")
        .args(["-qw", &format!("{key}={value}")])
        .output()
        .context("run sysctl")?;
    anyhow::ensure!(
        out.status.success(),
        "sysctl {key} in {}: {}",
        ns.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn start_timeline(scenario: &Scenario, links: Arc<BTreeMap<&'static str, EmulatedLink>>) -> Option<Timeline> {
    if scenario.timeline.is_empty() {
        return None;
    }
    let events = scenario.timeline.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        for event in events {
            let at = Duration::from_millis(event.at_ms);
            while start.elapsed() < at {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep((at - start.elapsed()).min(Duration::from_millis(20)));
            }
            if let Some(link) = links.get(event.link.as_str()) {
                let (up, down) = LinkSpec::from(&event.set).resolve();
                link.set(up, down);
            }
        }
    });
    Some(Timeline {
        stop,
        thread: Some(thread),
    })
}

/// The device's `[mobile]` table for a scenario's modem: at the box's Modbus address, read with
/// the map, address offset and word order the modem serves.
fn mobile_config(modem: &modbus::Config) -> String {
    let map = match modem.map {
        modbus::MapName::TeltonikaRutos => "teltonika-rutos",
        modbus::MapName::GenericLte => "generic-lte",
    };
    let order = match modem.word_order {
        modbus::WordOrder::Abcd => "abcd",
        modbus::WordOrder::Cdab => "cdab",
    };
    format!(
        "[mobile]\nmodem = \"{}:502\"\nmap = \"{map}\"\naddress-offset = {}\nword-order = \"{order}\"\n",
        addr::BOX_LAN,
        modem.address_offset.get(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_constants_parse() {
        for a in [
            addr::DEVICE,
            addr::BOX_LAN,
            addr::BOX_WAN,
            addr::ISP,
            addr::ISP_RESOLVER,
            addr::PUBLIC_RESOLVER,
            addr::WEB,
            addr::DEVICE_V6,
            addr::BOX_LAN_V6,
        ] {
            assert!(a.parse::<IpAddr>().is_ok(), "{a}");
        }
    }
}
