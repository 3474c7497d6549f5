//! Scenario files: one TOML per scenario — the network's shape, its links' impairments, a
//! timeline of changes, the peers that run in it, and the findings a diagnosis must make.
//!
//! ```toml
//! description = "Access line loses 3 % of packets"
//! seed = 7
//!
//! [network]
//! nat = true
//!
//! [links.access.both]
//! delay-ms = 5
//! loss-percent = 3
//!
//! [[timeline]]
//! at-ms = 2000
//! link = "access"
//! both = { outage = true }
//!
//! [expect]
//! top = "GATEWAY_UNREACHABLE"
//! segment = "box"
//! ```

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::emulator::Impairment;

/// A scenario, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Scenario {
    /// Its name (defaults to the file's stem).
    pub name: String,
    /// What it simulates, in a sentence.
    pub description: String,
    /// Seed of every random decision (loss, jitter), so a scenario plays the same each time.
    pub seed: u64,
    /// The network's shape.
    pub network: NetworkSpec,
    /// The customer device.
    pub device: DeviceSpec,
    /// The device's WiFi association, as sonde's WiFi check reads it (namespaces have no radio):
    /// a table of station fields — `connected`, `ssid`, `bssid`, `frequency-mhz`, `width-mhz`,
    /// `signal-dbm`, `noise-dbm`, `tx-bitrate-mbps`, `rx-bitrate-mbps`, `tx-packets`,
    /// `tx-retries`, `retry-percent`, `channel-busy-percent`, `security` (`open`, `wep`, `wpa`,
    /// `wpa2`, `wpa3`). Absent: a wired device.
    pub wifi: Option<toml::Table>,
    /// The health of the machine sonde runs on, as its `system` check reads it (namespaces
    /// share the host's kernel, so the check reads this instead): `cpus`, `load` (`[1m, 5m,
    /// 15m]`), `memory-total-bytes`, `memory-available-bytes`, `uptime-s`, `temperatures`
    /// (`[{ label, celsius }]`). Absent: a healthy box (2 CPUs, light load, 60 % memory free,
    /// up 3 days, 55 °C).
    pub system: Option<toml::Table>,
    /// Impairments per link.
    pub links: LinksSpec,
    /// The fake services that run in the network.
    pub peers: PeersSpec,
    /// Changes while the network runs.
    pub timeline: Vec<TimelineEvent>,
    /// What a diagnosis on this network must say.
    pub expect: Option<Expect>,
}

/// The network's shape: `device — box — access — isp — internet`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// The box masquerades the LAN behind its WAN address (IPv4), as home boxes do; otherwise
    /// it routes the LAN prefix.
    pub nat: bool,
    /// Give every node IPv6 addresses and routes too.
    pub ipv6: bool,
    /// The box routes IPv6 upstream. `false`: the LAN has IPv6 but the box's IPv6 uplink is
    /// down ("IPv6 broken, IPv4 fine").
    pub ipv6_upstream: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            nat: false,
            ipv6: true,
            ipv6_upstream: true,
        }
    }
}

/// The customer device.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DeviceSpec {
    /// Its resolvers (its `resolv.conf`). Default: the box, 192.0.2.1.
    pub resolvers: Option<Vec<IpAddr>>,
    /// Its interface is down (cable unplugged).
    pub link_down: bool,
    /// It has no default route (broken DHCP).
    pub no_default_route: bool,
    /// The subscribed line, as the device's configuration says it (`[line]`: `access`,
    /// `down-mbps`, `up-mbps`): the contract the throughput check compares with.
    pub line: Option<toml::Table>,
}

/// Impairments of the three links.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LinksSpec {
    /// Device — box (the home network).
    pub lan: LinkSpec,
    /// Box — ISP (the access line).
    pub access: LinkSpec,
    /// ISP — Internet.
    pub core: LinkSpec,
}

/// One link's impairments: `both` directions, or `up` (towards the Internet) and `down`
/// (towards the device) separately; `up`/`down` win over `both`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LinkSpec {
    /// Both directions.
    pub both: Option<Impairment>,
    /// Towards the Internet.
    pub up: Option<Impairment>,
    /// Towards the device.
    pub down: Option<Impairment>,
}

impl LinkSpec {
    /// The (up, down) impairments this spec gives.
    pub fn resolve(&self) -> (Impairment, Impairment) {
        let both = self.both.clone().unwrap_or_default();
        (
            self.up.clone().unwrap_or_else(|| both.clone()),
            self.down.clone().unwrap_or(both),
        )
    }
}

/// The fake services of the network. Each runs by default, answering normally.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PeersSpec {
    /// The box's DNS relay, at 192.0.2.1:53 (the device's default resolver).
    pub box_dns: DnsPeerSpec,
    /// The ISP's resolver, at 198.51.100.53:53.
    pub isp_dns: DnsPeerSpec,
    /// A public resolver on the Internet, at 203.0.113.53:53.
    pub public_dns: DnsPeerSpec,
    /// A web server on the Internet, at 203.0.113.80:80 (`/generate_204`, `/`, `/bytes/N`).
    pub web: HttpPeerSpec,
    /// A mobile modem/router answering Modbus TCP on the box, at 192.0.2.1:502 (absent: none).
    /// See [`crate::peers::modbus`] for the table's keys.
    pub modem: Option<crate::peers::modbus::Config>,
    /// The measurement server of `sonde-backend`, at 203.0.113.81:8080 (off unless enabled: a
    /// speed test moves real bytes through the emulator). See [`crate::peers::speedtest`].
    pub speedtest: crate::peers::speedtest::Config,
    /// Programs to run in a node for the network's lifetime: the hook that starts
    /// `sonde-backend` (measurement server, helpdesk) or any real server a test needs.
    pub process: Vec<ProcessSpec>,
}

/// A program run inside a node's namespace while the network is up, killed when it goes down.
///
/// ```toml
/// [[peers.process]]
/// node = "internet"
/// address = "203.0.113.90"
/// command = ["sonde-backend", "--listen", "203.0.113.90:8791"]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProcessSpec {
    /// Where: `device`, `box`, `isp` or `internet`.
    pub node: String,
    /// An address to add on the node's loopback first (for the program to listen on).
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// A DNS peer: `enabled`, its `mode` (see [`crate::peers::dns::Mode`]) and its `zone`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DnsPeerSpec {
    /// Whether it runs at all (not running: its port is closed).
    pub enabled: bool,
    /// How it answers.
    pub mode: crate::peers::dns::Mode,
    /// The names it knows. Default: `example.com` and `www.example.com` at the web server.
    pub zone: Option<crate::peers::dns::Zone>,
}

impl Default for DnsPeerSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: crate::peers::dns::Mode::default(),
            zone: None,
        }
    }
}

/// An HTTP peer: `enabled` and its `mode` (see [`crate::peers::http::Mode`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct HttpPeerSpec {
    /// Whether it runs at all.
    pub enabled: bool,
    /// How it answers.
    pub mode: crate::peers::http::Mode,
}

impl Default for HttpPeerSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: crate::peers::http::Mode::default(),
        }
    }
}

/// A change at a point of the scenario's time.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TimelineEvent {
    /// When, in milliseconds after the network is up.
    pub at_ms: u64,
    /// Which link: `lan`, `access` or `core`.
    pub link: String,
    /// Its new impairments, as in [`LinkSpec`].
    #[serde(flatten)]
    pub set: LinkSpecInline,
}

/// [`LinkSpec`] inside a timeline event (flattened, so without `deny_unknown_fields`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct LinkSpecInline {
    /// Both directions.
    pub both: Option<Impairment>,
    /// Towards the Internet.
    pub up: Option<Impairment>,
    /// Towards the device.
    pub down: Option<Impairment>,
}

impl From<&LinkSpecInline> for LinkSpec {
    fn from(s: &LinkSpecInline) -> Self {
        Self {
            both: s.both.clone(),
            up: s.up.clone(),
            down: s.down.clone(),
        }
    }
}

/// What a diagnosis on this network must say.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Expect {
    /// The problem the customer reports (`sonde diagnose --problem`), which selects the
    /// checks. Default: `no-internet`.
    pub problem: Option<String>,
    /// The threshold profile to judge with (`sonde diagnose --profile`). Default: the agent's.
    pub profile: Option<String>,
    /// The top finding's code, or `HEALTHY` for no finding above info.
    pub top: String,
    /// The top finding's segment.
    pub segment: Option<String>,
    /// Codes that must not appear at all.
    pub absent: Vec<String>,
}

/// The node names a scenario may use.
pub const NODES: [&str; 4] = ["device", "box", "isp", "internet"];

/// The link names a scenario may use.
pub const LINKS: [&str; 3] = ["lan", "access", "core"];

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let mut scenario: Scenario = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        if scenario.name.is_empty() {
            scenario.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        scenario.validate().with_context(|| format!("{}", path.display()))?;
        Ok(scenario)
    }

    /// Checks what TOML's types cannot: link and node names, timeline order.
    pub fn validate(&self) -> anyhow::Result<()> {
        for process in &self.peers.process {
            anyhow::ensure!(
                NODES.contains(&process.node.as_str()),
                "peers.process: unknown node `{}` (expected one of {NODES:?})",
                process.node
            );
            anyhow::ensure!(!process.command.is_empty(), "peers.process: empty command");
        }
        for event in &self.timeline {
            anyhow::ensure!(
                LINKS.contains(&event.link.as_str()),
                "timeline: unknown link `{}` (expected one of {LINKS:?})",
                event.link
            );
        }
        anyhow::ensure!(
            self.timeline.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
            "timeline: events must be in time order"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = "description = \"x\"\nseed = 7\n[network]\nnat = true\n[links.access.both]\ndelay-ms = 5\nloss-percent = 3\n\
                    [[timeline]]\nat-ms = 2000\nlink = \"access\"\nboth = { outage = true }\n[expect]\ntop = \"GATEWAY_UNREACHABLE\"\nsegment = \"box\"\n";
        let s: Scenario = toml::from_str(text).expect("parses");
        s.validate().expect("valid");
        let (up, down) = s.links.access.resolve();
        assert_eq!(up.loss_percent, 3.0);
        assert_eq!(down.delay_ms, 5.0);
        assert!(s.timeline[0].set.both.as_ref().is_some_and(|i| i.outage));
    }

    #[test]
    fn peers_default_to_running_and_take_modes() {
        let s: Scenario =
            toml::from_str("[peers.box-dns]\nmode = \"drop\"\n[peers.web]\nmode = { error = 503 }\n").expect("parses");
        assert!(s.peers.isp_dns.enabled);
        assert_eq!(s.peers.box_dns.mode, crate::peers::dns::Mode::Drop);
        assert!(toml::from_str::<Scenario>("[peers.dns]\nmode = \"drop\"\n").is_err());
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(toml::from_str::<Scenario>("[links.acces.both]\ndelay-ms = 1\n").is_err());
        let s: Scenario = toml::from_str("[[timeline]]\nat-ms = 1\nlink = \"wan\"\n").expect("parses");
        assert!(s.validate().is_err());
    }
}
