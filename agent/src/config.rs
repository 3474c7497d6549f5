//! Configuration: a raw TOML layer (every field optional, kebab-case, unknown keys rejected),
//! parsed once into validated types with defaults from [`defaults`].

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::checks::http::{HttpOptions, HttpThresholds, HttpUrl};
use crate::checks::latency::{LatencyOptions, LatencyThresholds};
use crate::checks::mobile::{MapName, MobileOptions, MobileThresholds, RegisterMap, WordOrder};
use crate::checks::mtu::{MtuOptions, MtuThresholds};
use crate::checks::path::{PathOptions, PathThresholds};
use crate::checks::system::{SystemSource, SystemThresholds};
use crate::checks::throughput::{
    HttpVersion, MOBILE_BUDGET_BYTES, ResponsivenessThresholds, ThroughputOptions, ThroughputThresholds,
};
use crate::checks::wifi::{SourceSpec, WifiOptions, WifiThresholds};

/// Default values of every setting.
pub mod defaults {
    use std::time::Duration;

    /// First retry delay of ticket delivery.
    pub const TICKET_RETRY_BASE: Duration = Duration::from_secs(1);
    /// Longest retry delay of ticket delivery.
    pub const TICKET_RETRY_MAX: Duration = Duration::from_secs(60);
    /// Where `sonded` listens: loopback only.
    pub const LISTEN: &str = "127.0.0.1:8790";
    /// ICMP echo requests sent to the gateway.
    /// Twenty probes in a second: enough that 15 % loss is seen with 99.8 % probability.
    pub const GATEWAY_PROBES: u32 = 20;
    /// Interval between gateway probes.
    pub const GATEWAY_INTERVAL: Duration = Duration::from_millis(50);
    /// How long to wait for each gateway reply.
    pub const GATEWAY_TIMEOUT: Duration = Duration::from_millis(1000);
    /// The system resolver configuration.
    pub const RESOLV_CONF: &str = "/etc/resolv.conf";
    /// Random labels are prepended to this domain so no answer comes from a cache.
    pub const DNS_PROBE_DOMAIN: &str = "example.com";
    /// Queries per resolver.
    pub const DNS_QUERIES: u32 = 3;
    /// How long to wait for each DNS answer.
    pub const DNS_TIMEOUT: Duration = Duration::from_millis(1000);

    /// Minutes between scheduled rounds: 0, off. Off by default: a box sends measurement traffic
    /// on its own only where its operator chose to (and a test host never does by surprise).
    pub const SCHEDULE_INTERVAL_MINUTES: u32 = 0;
    /// The lightweight checks a scheduled round runs: a few dozen packets in all.
    pub const SCHEDULE_CHECKS: [sonde_protocol::CheckId; 3] = [
        sonde_protocol::CheckId::Gateway,
        sonde_protocol::CheckId::Dns,
        sonde_protocol::CheckId::InternetLatency,
    ];
    /// Above this traffic (kbit/s, either direction) the line is busy and a round is skipped:
    /// a customer's video call is ~1,500 kbit/s, background chatter a few tens.
    pub const SCHEDULE_BUSY_KBPS: u32 = 500;
    /// Scheduled rounds kept: a day at 5 minutes, twelve days at an hour.
    pub const SCHEDULE_HISTORY: u32 = 288;
    /// Failed rounds in a row that raise the alert (one failure can be a blip).
    pub const SCHEDULE_ALERT_AFTER: u32 = 3;

    /// Public resolvers probed for comparison: Cloudflare's and Quad9's, anycast near most
    /// access networks.
    pub fn dns_public() -> Vec<std::net::IpAddr> {
        ["1.1.1.1", "9.9.9.9"].iter().filter_map(|a| a.parse().ok()).collect()
    }
}

/// Errors reading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration (unknown key, wrong type…).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid `{key}`: {message}")]
    Invalid {
        /// The setting, as written in the file (`gateway.probes`).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The validated configuration of an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where `sonded` listens.
    pub listen: SocketAddr,
    /// Where `sonded` keeps its run history (SQLite). `None`: in memory only.
    pub database: Option<PathBuf>,
    /// How the gateway is probed.
    pub gateway: GatewayOptions,
    /// How resolvers are probed.
    pub dns: DnsOptions,
    /// How Internet anchors are probed.
    pub latency: LatencyOptions,
    /// Where WiFi data comes from.
    pub wifi: WifiOptions,
    /// How web access is measured.
    pub http: HttpOptions,
    /// How the path is traced.
    pub path: PathOptions,
    /// How the path MTU is searched.
    pub mtu: MtuOptions,
    /// The target of the path and MTU checks. Absent: the first IPv4 Internet anchor.
    pub path_target: Option<IpAddr>,
    /// The mobile modem and how to read it.
    pub mobile: MobileOptions,
    /// Where the host's health comes from.
    pub system: SystemSource,
    /// How throughput and responsiveness are measured.
    pub throughput: ThroughputOptions,
    /// The thresholds results are judged against.
    pub profile: Profile,
    /// Who may use the API, from where, how often (`[api]`).
    pub api: crate::security::ApiOptions,
    /// Where tickets go when the operator must act. `None`: no tickets are opened.
    pub tickets: Option<TicketOptions>,
    /// Scheduled lightweight checks (`[schedule]`).
    pub schedule: ScheduleOptions,
}

/// Scheduled monitoring (`[schedule]`, see `crate::schedule`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleOptions {
    /// Time between rounds; `None`: the schedule is off.
    pub interval: Option<Duration>,
    /// The checks a round runs.
    pub checks: Vec<sonde_protocol::CheckId>,
    /// A round is skipped when the default-route interface moved more than this (kbit/s, either
    /// direction) over the sample window before it.
    pub busy_kbps: u32,
    /// Rounds kept in the history.
    pub history: usize,
    /// Failed rounds in a row that raise the alert.
    pub alert_after: u32,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        Self {
            interval: None,
            checks: defaults::SCHEDULE_CHECKS.to_vec(),
            busy_kbps: defaults::SCHEDULE_BUSY_KBPS,
            history: defaults::SCHEDULE_HISTORY as usize,
            alert_after: defaults::SCHEDULE_ALERT_AFTER,
        }
    }
}

/// Where and how tickets are delivered (`[tickets]`).
#[derive(Clone, Debug, PartialEq)]
pub struct TicketOptions {
    /// The helpdesk's base URL (`http://helpdesk.example:8791`).
    pub helpdesk: String,
    /// This device's bearer token.
    pub token: Option<String>,
    /// First retry delay.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_raw(RawConfig::default()).unwrap_or_else(|e| unreachable!("defaults are valid: {e}"))
    }
}

/// How the gateway is probed.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayOptions {
    /// Echo requests sent.
    pub probes: u32,
    /// Interval between them.
    pub interval: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
}

/// How resolvers are probed.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsOptions {
    /// The resolver configuration to read (`/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// Resolvers to probe instead of those in `resolv_conf`, when set.
    pub resolvers: Option<Vec<IpAddr>>,
    /// Random labels are prepended to this domain.
    pub probe_domain: String,
    /// Queries per resolver and record type (A, AAAA).
    pub queries: u32,
    /// A name known to have AAAA records, asked once more for AAAA: a resolver that answers it
    /// without records hides IPv6 addresses.
    pub aaaa_name: Option<String>,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// Public resolvers probed for comparison ("does DNS work elsewhere?").
    pub public: Vec<IpAddr>,
    /// Also probe the default gateway as a resolver when the device does not use it.
    pub probe_gateway: bool,
}

/// A versioned set of thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Its name (`default`).
    pub name: String,
    /// Its version; any threshold change bumps it.
    pub version: u32,
    /// Gateway thresholds.
    pub gateway: GatewayThresholds,
    /// DNS thresholds.
    pub dns: DnsThresholds,
    /// Internet latency thresholds.
    pub latency: LatencyThresholds,
    /// WiFi thresholds.
    pub wifi: WifiThresholds,
    /// HTTP thresholds.
    pub http: HttpThresholds,
    /// Path thresholds.
    pub path: PathThresholds,
    /// MTU thresholds.
    pub mtu: MtuThresholds,
    /// Mobile radio thresholds.
    pub mobile: MobileThresholds,
    /// Box health thresholds.
    pub system: SystemThresholds,
    /// Throughput thresholds (the subscribed rates).
    pub throughput: ThroughputThresholds,
    /// Responsiveness thresholds.
    pub responsiveness: ResponsivenessThresholds,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            version: 1,
            gateway: GatewayThresholds::default(),
            dns: DnsThresholds::default(),
            latency: LatencyThresholds::default(),
            wifi: WifiThresholds::default(),
            http: HttpThresholds::default(),
            path: PathThresholds::default(),
            mtu: MtuThresholds::default(),
            mobile: MobileThresholds::default(),
            system: SystemThresholds::default(),
            throughput: ThroughputThresholds::default(),
            responsiveness: ResponsivenessThresholds::default(),
        }
    }
}

/// Thresholds for the gateway check. The gateway is one hop away on the home network, so
/// anything but a few milliseconds and no loss is a problem (ChromeOS GatewayCanBePinged).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GatewayThresholds {
    /// Loss (percent) past which the check warns.
    pub loss_warn_percent: f64,
    /// Loss (percent) past which the check fails.
    pub loss_fail_percent: f64,
    /// Median RTT (ms) past which the check warns.
    pub rtt_median_warn_ms: f64,
    /// Median RTT (ms) past which the check fails.
    pub rtt_median_fail_ms: f64,
    /// Jitter (ms, RFC 3550) past which the check warns.
    pub jitter_warn_ms: f64,
    /// Jitter (ms, RFC 3550) past which the check fails.
    pub jitter_fail_ms: f64,
}

impl Default for GatewayThresholds {
    fn default() -> Self {
        Self {
            loss_warn_percent: 1.0,
            loss_fail_percent: 10.0,
            rtt_median_warn_ms: 20.0,
            rtt_median_fail_ms: 100.0,
            jitter_warn_ms: 10.0,
            jitter_fail_ms: 30.0,
        }
    }
}

/// Thresholds for the DNS check (ChromeOS DnsLatency: 400 ms slight, 500 ms significant).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DnsThresholds {
    /// Median resolution latency (ms) past which the check warns.
    pub latency_warn_ms: f64,
    /// Median resolution latency (ms) past which the check fails.
    pub latency_fail_ms: f64,
}

impl Default for DnsThresholds {
    fn default() -> Self {
        Self {
            latency_warn_ms: 400.0,
            latency_fail_ms: 500.0,
        }
    }
}

/// The configuration file as written: every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawConfig {
    /// `listen = "127.0.0.1:8790"`.
    pub listen: Option<String>,
    /// `profile = "ftth"`: a shipped threshold profile, or the path of a profile file.
    pub profile: Option<String>,
    /// `database = "/var/lib/sonde/sonded.db"`.
    pub database: Option<PathBuf>,
    /// `[gateway]`.
    pub gateway: RawGateway,
    /// `[dns]`.
    pub dns: RawDns,
    /// `[latency]`.
    pub latency: RawLatency,
    /// `[wifi]`.
    pub wifi: RawWifi,
    /// `[path]`.
    pub path: RawPath,
    /// `[http]`.
    pub http: RawHttp,
    /// `[line]`: the subscribed line (used by later checks).
    pub line: RawLine,
    /// `[throughput]`.
    pub throughput: RawThroughput,
    /// `[tickets]`.
    pub tickets: RawTickets,
    /// `[mobile]`.
    pub mobile: RawMobile,
    /// `[system]`.
    pub system: RawSystem,
    /// `[api]`: tokens, allowed hosts, limits (see `crate::security`).
    pub api: crate::security::RawApi,
    /// `[schedule]`: scheduled lightweight checks.
    pub schedule: RawSchedule,
}

/// `[schedule]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawSchedule {
    /// Minutes between rounds; 0 turns the schedule off.
    pub interval_minutes: Option<u32>,
    /// Lightweight checks only: link, gateway, dns, internet_latency, http.
    pub checks: Option<Vec<sonde_protocol::CheckId>>,
    /// Busy-line threshold, kbit/s.
    pub busy_kbps: Option<u32>,
    /// Rounds kept.
    pub history: Option<u32>,
    /// Failed rounds in a row that raise the alert.
    pub alert_after: Option<u32>,
}

/// `[gateway]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawGateway {
    /// Echo requests sent.
    pub probes: Option<u32>,
    /// Interval between them, in ms.
    pub interval_ms: Option<u64>,
    /// Reply timeout, in ms.
    pub timeout_ms: Option<u64>,
}

/// `[dns]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawDns {
    /// Resolver configuration file.
    pub resolv_conf: Option<PathBuf>,
    /// Resolvers to probe instead of the system's.
    pub resolvers: Option<Vec<IpAddr>>,
    /// Domain under which random names are queried.
    pub probe_domain: Option<String>,
    /// Queries per resolver.
    pub queries: Option<u32>,
    /// A name with AAAA records, asked for AAAA once per resolver.
    pub aaaa_name: Option<String>,
    /// Answer timeout, in ms.
    pub timeout_ms: Option<u64>,
    /// Public resolvers probed for comparison.
    pub public: Option<Vec<IpAddr>>,
    /// Also probe the gateway as a resolver.
    pub probe_gateway: Option<bool>,
}

/// `[http]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawHttp {
    /// Sites measured (`http://` or `https://` URLs).
    pub targets: Option<Vec<String>>,
    /// The captive-portal probe (plain HTTP, answers 204); `""` turns detection off.
    pub portal_probe: Option<String>,
    /// Extra trusted roots (PEM).
    pub ca_file: Option<PathBuf>,
}

/// `[path]` as written (the path and MTU checks).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawPath {
    /// Where the path is traced to, and the MTU searched. Default: the first IPv4 anchor.
    pub target: Option<IpAddr>,
    /// Probes per hop.
    pub rounds: Option<u32>,
    /// Interval between rounds, in ms.
    pub interval_ms: Option<u64>,
    /// Highest TTL probed.
    pub max_hops: Option<u8>,
}

/// `[wifi]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawWifi {
    /// `kernel`, or the path of a station snapshot file (what sonde-netsim writes).
    pub source: Option<String>,
    /// Samples taken.
    pub samples: Option<u32>,
    /// Interval between samples, in ms.
    pub interval_ms: Option<u64>,
    /// Signal (dBm) at or below which the check warns.
    pub signal_warn_dbm: Option<f64>,
    /// Signal (dBm) at or below which the check fails.
    pub signal_fail_dbm: Option<f64>,
    /// SNR (dB) at or below which the check warns.
    pub snr_warn_db: Option<f64>,
    /// SNR (dB) at or below which the check fails.
    pub snr_fail_db: Option<f64>,
    /// Retry ratio (percent) past which the check warns.
    pub retry_warn_percent: Option<f64>,
    /// Retry ratio (percent) past which the check fails.
    pub retry_fail_percent: Option<f64>,
    /// Channel busy time (percent) past which the check warns.
    pub busy_warn_percent: Option<f64>,
    /// Channel busy time (percent) past which the check fails.
    pub busy_fail_percent: Option<f64>,
}

/// `[latency]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawLatency {
    /// Internet anchors (IPv4 and IPv6 addresses).
    pub anchors: Option<Vec<IpAddr>>,
    /// TCP port of the connect probes.
    pub tcp_port: Option<u16>,
    /// Probes per anchor.
    pub probes: Option<u32>,
    /// Interval between probes, in ms.
    pub interval_ms: Option<u64>,
    /// Answer timeout, in ms.
    pub timeout_ms: Option<u64>,
}

/// `[line]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawLine {
    /// `ftth`, `vdsl2`, `adsl`, `4g`, `5g`.
    pub access: Option<String>,
    /// Subscribed download rate.
    pub down_mbps: Option<f64>,
    /// Subscribed upload rate.
    pub up_mbps: Option<f64>,
}

/// `[throughput]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawThroughput {
    /// The measurement server's URL (its base, or its `/.well-known/nq` configuration).
    pub server: Option<String>,
    /// Longest time per direction, in seconds.
    pub max_seconds: Option<f64>,
    /// Most parallel streams per direction.
    pub max_streams: Option<u32>,
    /// Most megabytes (10^6 bytes) moved in all; `0`: no limit. Default: 50 on mobile access
    /// (`[line] access = "4g"` or `"5g"`), else no limit.
    pub budget_mb: Option<f64>,
    /// `http1` or `http2`.
    pub protocol: Option<String>,
    /// Measure the upload too.
    pub upload: Option<bool>,
    /// Extra CA certificates (PEM) for an `https://` server.
    pub ca_file: Option<PathBuf>,
    /// Goodput below this share (percent) of the expected rate warns.
    pub contract_warn_percent: Option<f64>,
    /// Goodput below this share (percent) of the expected rate fails.
    pub contract_fail_percent: Option<f64>,
    /// Latency added under load (ms) graded "bufferbloat".
    pub bufferbloat_warn_ms: Option<f64>,
    /// Latency added under load (ms) that fails the check.
    pub bufferbloat_fail_ms: Option<f64>,
}

/// `[tickets]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawTickets {
    /// The helpdesk backend's URL.
    pub helpdesk: Option<String>,
    /// This device's bearer token at the helpdesk.
    pub token: Option<String>,
    /// First retry delay of ticket delivery, in milliseconds.
    pub retry_base_ms: Option<u64>,
    /// Longest retry delay of ticket delivery, in milliseconds.
    pub retry_max_ms: Option<u64>,
}

/// `[system]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawSystem {
    /// `kernel`, or the path of a system snapshot file (what sonde-netsim writes).
    pub source: Option<String>,
}

/// `[mobile]` as written: the modem, its register map, and the radio thresholds.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawMobile {
    /// The modem's Modbus TCP address (`192.168.1.1:502`). Absent: no modem, check skipped.
    pub modem: Option<SocketAddr>,
    /// `teltonika-rutos` or `generic-lte`.
    pub map: Option<MapName>,
    /// 0 (addresses as documented go on the wire) or 1 (the device wants them one higher).
    pub address_offset: Option<u16>,
    /// `abcd` (high word first) or `cdab`.
    pub word_order: Option<WordOrder>,
    /// Modbus unit (device) id.
    pub unit_id: Option<u8>,
    /// Connection and answer timeout, in ms.
    pub timeout_ms: Option<u64>,
    /// RSSI warn limit, dBm.
    pub rssi_warn_dbm: Option<f64>,
    /// RSSI fail limit, dBm.
    pub rssi_fail_dbm: Option<f64>,
    /// RSRP warn limit, dBm.
    pub rsrp_warn_dbm: Option<f64>,
    /// RSRP fail limit, dBm.
    pub rsrp_fail_dbm: Option<f64>,
    /// RSRQ warn limit, dB.
    pub rsrq_warn_db: Option<f64>,
    /// RSRQ fail limit, dB.
    pub rsrq_fail_db: Option<f64>,
    /// SINR warn limit, dB.
    pub sinr_warn_db: Option<f64>,
    /// SINR fail limit, dB.
    pub sinr_fail_db: Option<f64>,
    /// Modem temperature warn limit, °C.
    pub temperature_warn_c: Option<f64>,
    /// Modem temperature fail limit, °C.
    pub temperature_fail_c: Option<f64>,
}

/// Environment variable naming the configuration file (below `--config`, above the default
/// path).
pub const CONFIG_ENV: &str = "SONDE_CONFIG";
/// The configuration file read when neither `--config` nor `SONDE_CONFIG` names one, if it
/// exists.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sonde/sonded.toml";

/// WiFi samples taken when the customer reports WiFi drops: 15 s at one per second, long
/// enough to see the signal swing and the association drop, instead of a snapshot.
pub const WIFI_DROPS_SAMPLES: u32 = 15;

/// Echo requests (and TCP connects) per anchor in the calls/TV plan.
pub const VOIP_PROBES: u32 = 50;

impl Config {
    /// The configuration a run is measured and judged with: [`Config::for_problem`], and the
    /// profile the request names (shipped profiles only; a request cannot read files) instead of
    /// the configured one.
    pub fn for_request(&self, request: &sonde_protocol::RunRequest) -> Result<Self, crate::profiles::ProfileError> {
        let mut config = self.for_problem(request.problem);
        if let Some(name) = request.profile.as_deref()
            && name != config.profile.name
        {
            config.profile = crate::profiles::builtin(name)?;
        }
        Ok(config)
    }

    /// The configuration for a run about `problem`: "the WiFi drops" samples the radio longer
    /// (unless the configuration already asks for more).
    pub fn for_problem(&self, problem: sonde_protocol::ProblemKind) -> Self {
        let mut config = self.clone();
        // Calls and TV suffer from a loss rate of a percent or two, which 10 probes per anchor
        // cannot tell from none: that plan sends a voice-like stream, 50 per anchor, 20 ms apart.
        if problem == sonde_protocol::ProblemKind::VoipTv && config.latency.probes < VOIP_PROBES {
            config.latency.probes = VOIP_PROBES;
            config.latency.interval = Duration::from_millis(20);
        }
        if problem == sonde_protocol::ProblemKind::Wifi && config.wifi.samples < WIFI_DROPS_SAMPLES {
            config.wifi.samples = WIFI_DROPS_SAMPLES;
            config.wifi.interval = Duration::from_secs(1);
        }
        config
    }

    /// The configuration in force: the file named on the command line, else by `SONDE_CONFIG`,
    /// else `/etc/sonde/sonded.toml` when it exists, else the defaults.
    pub fn discover(cli: Option<&Path>) -> Result<Self, ConfigError> {
        if let Some(path) = cli {
            return Self::load(path);
        }
        if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
            return Self::load(Path::new(&path));
        }
        let default = Path::new(DEFAULT_CONFIG_PATH);
        if default.exists() {
            Self::load(default)
        } else {
            Ok(Self::default())
        }
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_raw(raw)
    }

    /// Validates a raw configuration, filling in defaults.
    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let listen = raw.listen.as_deref().unwrap_or(defaults::LISTEN);
        let listen = listen.parse().map_err(|e| ConfigError::Invalid {
            key: "listen",
            message: format!("`{listen}` is not an address:port ({e})"),
        })?;
        let gateway = GatewayOptions {
            probes: in_range(
                "gateway.probes",
                raw.gateway.probes.unwrap_or(defaults::GATEWAY_PROBES),
                1,
                1000,
            )?,
            interval: millis(
                "gateway.interval-ms",
                raw.gateway.interval_ms,
                defaults::GATEWAY_INTERVAL,
                10,
                10_000,
            )?,
            timeout: millis(
                "gateway.timeout-ms",
                raw.gateway.timeout_ms,
                defaults::GATEWAY_TIMEOUT,
                10,
                10_000,
            )?,
        };
        let probe_domain = raw
            .dns
            .probe_domain
            .unwrap_or_else(|| defaults::DNS_PROBE_DOMAIN.to_owned());
        if !plausible_domain(&probe_domain, 200) {
            return Err(ConfigError::Invalid {
                key: "dns.probe-domain",
                message: format!("`{probe_domain}` is not a domain name"),
            });
        }
        if let Some(name) = raw.dns.aaaa_name.as_deref().filter(|name| !plausible_domain(name, 253)) {
            return Err(ConfigError::Invalid {
                key: "dns.aaaa-name",
                message: format!("`{name}` is not a domain name"),
            });
        }
        let dns = DnsOptions {
            resolv_conf: raw
                .dns
                .resolv_conf
                .unwrap_or_else(|| PathBuf::from(defaults::RESOLV_CONF)),
            resolvers: raw.dns.resolvers,
            probe_domain,
            queries: in_range("dns.queries", raw.dns.queries.unwrap_or(defaults::DNS_QUERIES), 1, 100)?,
            aaaa_name: raw.dns.aaaa_name,
            timeout: millis("dns.timeout-ms", raw.dns.timeout_ms, defaults::DNS_TIMEOUT, 10, 30_000)?,
            public: raw.dns.public.unwrap_or_else(defaults::dns_public),
            probe_gateway: raw.dns.probe_gateway.unwrap_or(true),
        };
        let latency_defaults = LatencyOptions::default();
        let latency = LatencyOptions {
            anchors: raw.latency.anchors.unwrap_or(latency_defaults.anchors),
            tcp_port: raw.latency.tcp_port.unwrap_or(latency_defaults.tcp_port),
            probes: in_range(
                "latency.probes",
                raw.latency.probes.unwrap_or(latency_defaults.probes),
                1,
                1000,
            )?,
            interval: millis(
                "latency.interval-ms",
                raw.latency.interval_ms,
                latency_defaults.interval,
                10,
                10_000,
            )?,
            timeout: millis(
                "latency.timeout-ms",
                raw.latency.timeout_ms,
                latency_defaults.timeout,
                10,
                10_000,
            )?,
        };
        let wifi_defaults = WifiOptions::default();
        let wifi = WifiOptions {
            source: match raw.wifi.source.as_deref() {
                None | Some("kernel") => SourceSpec::Kernel,
                Some(path) => SourceSpec::File(PathBuf::from(path)),
            },
            samples: in_range(
                "wifi.samples",
                raw.wifi.samples.unwrap_or(wifi_defaults.samples),
                1,
                600,
            )?,
            interval: millis(
                "wifi.interval-ms",
                raw.wifi.interval_ms,
                wifi_defaults.interval,
                10,
                60_000,
            )?,
        };
        let (throughput, throughput_thresholds, responsiveness_thresholds) =
            throughput_settings(&raw.throughput, &raw.line)?;
        let path_defaults = PathOptions::default();
        let path = PathOptions {
            rounds: in_range("path.rounds", raw.path.rounds.unwrap_or(path_defaults.rounds), 1, 1000)?,
            interval: millis(
                "path.interval-ms",
                raw.path.interval_ms,
                path_defaults.interval,
                10,
                10_000,
            )?,
            max_hops: match raw.path.max_hops.unwrap_or(path_defaults.max_hops) {
                hops @ 1..=64 => hops,
                hops => {
                    return Err(ConfigError::Invalid {
                        key: "path.max-hops",
                        message: format!("{hops} is outside 1..=64"),
                    });
                }
            },
            ..path_defaults
        };
        let http_defaults = HttpOptions::default();
        let url = |key: &'static str, text: &str| {
            HttpUrl::parse(text).map_err(|e| ConfigError::Invalid {
                key,
                message: format!("`{text}`: {e}"),
            })
        };
        let http = HttpOptions {
            targets: match raw.http.targets {
                Some(targets) => targets
                    .iter()
                    .map(|t| url("http.targets", t))
                    .collect::<Result<_, _>>()?,
                None => http_defaults.targets.clone(),
            },
            portal_probe: match raw.http.portal_probe.as_deref() {
                None => http_defaults.portal_probe.clone(),
                Some("") => None,
                Some(probe) => Some(url("http.portal-probe", probe)?),
            },
            ca_file: raw.http.ca_file,
            ..http_defaults
        };
        // The line's access type picks its profile unless one is named.
        let base = load_profile(raw.profile.as_deref().or(raw.line.access.as_deref()))?;
        let (mobile, mobile_thresholds) = mobile_from_raw(&raw.mobile, &base.mobile)?;
        let profile = Profile {
            wifi: wifi_thresholds(&raw.wifi, &base.wifi)?,
            mobile: mobile_thresholds,
            throughput: throughput_thresholds,
            responsiveness: responsiveness_thresholds,
            ..base.clone()
        };
        Ok(Self {
            listen,
            database: raw.database,
            http,
            gateway,
            dns,
            latency,
            wifi,
            path,
            mtu: MtuOptions::default(),
            path_target: raw.path.target,
            mobile,
            system: match raw.system.source.as_deref() {
                None | Some("kernel") => SystemSource::Kernel,
                Some(path) => SystemSource::File(PathBuf::from(path)),
            },
            throughput,
            profile,
            api: crate::security::ApiOptions::from_raw(&raw.api)?,
            tickets: tickets_from_raw(&raw.tickets)?,
            schedule: schedule_from_raw(&raw.schedule)?,
        })
    }
}

/// `[schedule]`: only checks that send a few packets may run unattended.
fn schedule_from_raw(raw: &RawSchedule) -> Result<ScheduleOptions, ConfigError> {
    let minutes = in_range(
        "schedule.interval-minutes",
        raw.interval_minutes.unwrap_or(defaults::SCHEDULE_INTERVAL_MINUTES),
        0,
        7 * 24 * 60,
    )?;
    let checks = raw.checks.clone().unwrap_or_else(|| defaults::SCHEDULE_CHECKS.to_vec());
    if checks.is_empty() {
        return Err(ConfigError::Invalid {
            key: "schedule.checks",
            message: "name at least one check (or set interval-minutes = 0)".to_owned(),
        });
    }
    if let Some(heavy) = checks.iter().find(|c| !crate::schedule::is_lightweight(**c)) {
        return Err(ConfigError::Invalid {
            key: "schedule.checks",
            message: format!("`{heavy}` is not a lightweight check (link, gateway, dns, internet_latency, http)"),
        });
    }
    Ok(ScheduleOptions {
        interval: (minutes > 0).then(|| Duration::from_secs(u64::from(minutes) * 60)),
        checks,
        busy_kbps: in_range(
            "schedule.busy-kbps",
            raw.busy_kbps.unwrap_or(defaults::SCHEDULE_BUSY_KBPS),
            1,
            10_000_000,
        )?,
        history: in_range(
            "schedule.history",
            raw.history.unwrap_or(defaults::SCHEDULE_HISTORY),
            1,
            100_000,
        )? as usize,
        alert_after: in_range(
            "schedule.alert-after",
            raw.alert_after.unwrap_or(defaults::SCHEDULE_ALERT_AFTER),
            1,
            1000,
        )?,
    })
}

/// `[throughput]` and `[line]`: how to measure, and what the line promises.
fn throughput_settings(
    raw: &RawThroughput,
    line: &RawLine,
) -> Result<(ThroughputOptions, ThroughputThresholds, ResponsivenessThresholds), ConfigError> {
    let d = ThroughputOptions::default();
    let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
    let mobile = match line.access.as_deref() {
        None | Some("ftth" | "vdsl2" | "adsl") => false,
        Some("4g" | "5g") => true,
        Some(other) => {
            return Err(invalid(
                "line.access",
                format!("`{other}` is not one of ftth, vdsl2, adsl, 4g, 5g"),
            ));
        }
    };
    for (key, rate) in [("line.down-mbps", line.down_mbps), ("line.up-mbps", line.up_mbps)] {
        if rate.is_some_and(|r| !(r > 0.0 && r <= 100_000.0)) {
            return Err(invalid(key, format!("{rate:?} is outside 0..=100000")));
        }
    }
    let max_seconds = raw.max_seconds.unwrap_or(d.max_duration.as_secs_f64());
    if !(1.0..=60.0).contains(&max_seconds) {
        return Err(invalid(
            "throughput.max-seconds",
            format!("{max_seconds} is outside 1..=60"),
        ));
    }
    let budget_bytes = match raw.budget_mb {
        Some(mb) if !(0.0..=1_000_000.0).contains(&mb) => {
            return Err(invalid("throughput.budget-mb", format!("{mb} is outside 0..=1000000")));
        }
        Some(0.0) => None,
        Some(mb) => Some((mb * 1e6) as u64),
        None => mobile.then_some(MOBILE_BUDGET_BYTES),
    };
    let http = match raw.protocol.as_deref() {
        None | Some("http1") => HttpVersion::Http1,
        Some("http2") => HttpVersion::Http2,
        Some(other) => {
            return Err(invalid(
                "throughput.protocol",
                format!("`{other}` is not http1 or http2"),
            ));
        }
    };
    if let Some(server) = &raw.server
        && !(server.starts_with("http://") || server.starts_with("https://"))
    {
        return Err(invalid(
            "throughput.server",
            format!("`{server}` is not an http:// or https:// URL"),
        ));
    }
    let options = ThroughputOptions {
        server: raw.server.clone(),
        max_duration: Duration::from_secs_f64(max_seconds),
        max_streams: in_range(
            "throughput.max-streams",
            raw.max_streams.unwrap_or(d.max_streams),
            1,
            64,
        )?,
        budget_bytes,
        http,
        upload: raw.upload.unwrap_or(d.upload),
        ca_file: raw.ca_file.clone(),
        ..d
    };
    let td = ThroughputThresholds::default();
    let (warn, fail) = (
        raw.contract_warn_percent.unwrap_or(td.contract_warn_percent),
        raw.contract_fail_percent.unwrap_or(td.contract_fail_percent),
    );
    if !(0.0..=100.0).contains(&warn) || !(0.0..=warn).contains(&fail) {
        return Err(invalid(
            "throughput.contract-fail-percent",
            format!("need 0 <= fail ({fail}) <= warn ({warn}) <= 100"),
        ));
    }
    let thresholds = ThroughputThresholds {
        contract_down_mbps: line.down_mbps,
        contract_up_mbps: line.up_mbps,
        contract_warn_percent: warn,
        contract_fail_percent: fail,
    };
    let rd = ResponsivenessThresholds::default();
    let (warn, fail) = (
        raw.bufferbloat_warn_ms.unwrap_or(rd.bufferbloat_warn_ms),
        raw.bufferbloat_fail_ms.unwrap_or(rd.bufferbloat_fail_ms),
    );
    if !(0.0..=10_000.0).contains(&warn) || !(warn..=10_000.0).contains(&fail) {
        return Err(invalid(
            "throughput.bufferbloat-fail-ms",
            format!("need 0 <= warn ({warn}) <= fail ({fail}) <= 10000"),
        ));
    }
    let responsiveness = ResponsivenessThresholds {
        bufferbloat_warn_ms: warn,
        bufferbloat_fail_ms: fail,
        ..rd
    };
    Ok((options, thresholds, responsiveness))
}

fn tickets_from_raw(raw: &RawTickets) -> Result<Option<TicketOptions>, ConfigError> {
    let Some(helpdesk) = raw.helpdesk.as_deref().filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    if !(helpdesk.starts_with("http://") || helpdesk.starts_with("https://")) {
        return Err(ConfigError::Invalid {
            key: "tickets.helpdesk",
            message: format!("`{helpdesk}` is not an http:// or https:// URL"),
        });
    }
    let retry_base = millis(
        "tickets.retry-base-ms",
        raw.retry_base_ms,
        defaults::TICKET_RETRY_BASE,
        10,
        600_000,
    )?;
    let retry_max = millis(
        "tickets.retry-max-ms",
        raw.retry_max_ms,
        defaults::TICKET_RETRY_MAX,
        10,
        3_600_000,
    )?;
    Ok(Some(TicketOptions {
        helpdesk: helpdesk.trim_end_matches('/').to_owned(),
        token: raw.token.clone(),
        retry_base,
        retry_max: retry_max.max(retry_base),
    }))
}

/// The WiFi thresholds of `[wifi]`: each within its physical range, and warn on the healthy
/// side of fail.
fn wifi_thresholds(raw: &RawWifi, d: &WifiThresholds) -> Result<WifiThresholds, ConfigError> {
    let (signal_warn_dbm, signal_fail_dbm) = Limits::new("wifi.signal-warn-dbm", "wifi.signal-fail-dbm")
        .range(-120.0, 0.0)
        .lower_is_worse()
        .resolve(
            (raw.signal_warn_dbm, raw.signal_fail_dbm),
            (d.signal_warn_dbm, d.signal_fail_dbm),
        )?;
    let (snr_warn_db, snr_fail_db) = Limits::new("wifi.snr-warn-db", "wifi.snr-fail-db")
        .range(0.0, 100.0)
        .lower_is_worse()
        .resolve((raw.snr_warn_db, raw.snr_fail_db), (d.snr_warn_db, d.snr_fail_db))?;
    let (retry_warn_percent, retry_fail_percent) = Limits::new("wifi.retry-warn-percent", "wifi.retry-fail-percent")
        .range(0.0, 1000.0)
        .resolve(
            (raw.retry_warn_percent, raw.retry_fail_percent),
            (d.retry_warn_percent, d.retry_fail_percent),
        )?;
    let (busy_warn_percent, busy_fail_percent) = Limits::new("wifi.busy-warn-percent", "wifi.busy-fail-percent")
        .range(0.0, 100.0)
        .resolve(
            (raw.busy_warn_percent, raw.busy_fail_percent),
            (d.busy_warn_percent, d.busy_fail_percent),
        )?;
    Ok(WifiThresholds {
        signal_warn_dbm,
        signal_fail_dbm,
        snr_warn_db,
        snr_fail_db,
        retry_warn_percent,
        retry_fail_percent,
        busy_warn_percent,
        busy_fail_percent,
    })
}

/// A warn/fail pair of limits in the file: each value from the file or the default, within its
/// physical range, and warn on the healthy side of fail.
#[derive(Clone, Copy, Debug)]
struct Limits {
    warn_key: &'static str,
    fail_key: &'static str,
    min: f64,
    max: f64,
    lower_is_worse: bool,
}

impl Limits {
    /// Higher is worse and any finite value goes, until said otherwise.
    fn new(warn_key: &'static str, fail_key: &'static str) -> Self {
        Self {
            warn_key,
            fail_key,
            min: f64::MIN,
            max: f64::MAX,
            lower_is_worse: false,
        }
    }

    fn range(self, min: f64, max: f64) -> Self {
        Self { min, max, ..self }
    }

    fn lower_is_worse(self) -> Self {
        Self {
            lower_is_worse: true,
            ..self
        }
    }

    fn resolve(
        &self,
        (warn, fail): (Option<f64>, Option<f64>),
        defaults: (f64, f64),
    ) -> Result<(f64, f64), ConfigError> {
        let (warn, fail) = (warn.unwrap_or(defaults.0), fail.unwrap_or(defaults.1));
        for (key, value) in [(self.warn_key, warn), (self.fail_key, fail)] {
            if !(self.min..=self.max).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("{value} is outside {}..={}", self.min, self.max),
                });
            }
        }
        let ordered = if self.lower_is_worse {
            warn >= fail
        } else {
            warn <= fail
        };
        if !ordered {
            return Err(ConfigError::Invalid {
                key: self.fail_key,
                message: format!("{fail} is on the healthy side of {} ({warn})", self.warn_key),
            });
        }
        Ok((warn, fail))
    }
}

/// The `[mobile]` table: where the modem is, how to read it, and the radio thresholds.
fn mobile_from_raw(raw: &RawMobile, d: &MobileThresholds) -> Result<(MobileOptions, MobileThresholds), ConfigError> {
    let defaults = MobileOptions::default();
    let offset = match raw.address_offset.unwrap_or(0) {
        offset @ (0 | 1) => offset,
        other => {
            return Err(ConfigError::Invalid {
                key: "mobile.address-offset",
                message: format!("{other} is neither 0 nor 1"),
            });
        }
    };
    let map = raw.map.map_or(defaults.map, RegisterMap::builtin);
    let options = MobileOptions {
        modem: raw.modem,
        map: map
            .with_address_offset(offset)
            .with_word_order(raw.word_order.unwrap_or_default()),
        unit_id: raw.unit_id.unwrap_or(defaults.unit_id),
        timeout: millis("mobile.timeout-ms", raw.timeout_ms, defaults.timeout, 50, 30_000)?,
    };
    let rssi = Limits::new("mobile.rssi-warn-dbm", "mobile.rssi-fail-dbm")
        .range(-120.0, -20.0)
        .lower_is_worse()
        .resolve(
            (raw.rssi_warn_dbm, raw.rssi_fail_dbm),
            (d.rssi_warn_dbm, d.rssi_fail_dbm),
        )?;
    let rsrp = Limits::new("mobile.rsrp-warn-dbm", "mobile.rsrp-fail-dbm")
        .range(-156.0, -31.0)
        .lower_is_worse()
        .resolve(
            (raw.rsrp_warn_dbm, raw.rsrp_fail_dbm),
            (d.rsrp_warn_dbm, d.rsrp_fail_dbm),
        )?;
    let rsrq = Limits::new("mobile.rsrq-warn-db", "mobile.rsrq-fail-db")
        .range(-43.0, 20.0)
        .lower_is_worse()
        .resolve((raw.rsrq_warn_db, raw.rsrq_fail_db), (d.rsrq_warn_db, d.rsrq_fail_db))?;
    let sinr = Limits::new("mobile.sinr-warn-db", "mobile.sinr-fail-db")
        .range(-23.0, 40.0)
        .lower_is_worse()
        .resolve((raw.sinr_warn_db, raw.sinr_fail_db), (d.sinr_warn_db, d.sinr_fail_db))?;
    let temperature = Limits::new("mobile.temperature-warn-c", "mobile.temperature-fail-c")
        .range(-40.0, 150.0)
        .resolve(
            (raw.temperature_warn_c, raw.temperature_fail_c),
            (d.temperature_warn_c, d.temperature_fail_c),
        )?;
    let thresholds = MobileThresholds {
        rssi_warn_dbm: rssi.0,
        rssi_fail_dbm: rssi.1,
        rsrp_warn_dbm: rsrp.0,
        rsrp_fail_dbm: rsrp.1,
        rsrq_warn_db: rsrq.0,
        rsrq_fail_db: rsrq.1,
        sinr_warn_db: sinr.0,
        sinr_fail_db: sinr.1,
        temperature_warn_c: temperature.0,
        temperature_fail_c: temperature.1,
        ..d.clone()
    };
    Ok((options, thresholds))
}

/// Not empty, at most `max` bytes, no whitespace: enough to catch a typo in a name that a
/// resolver will then judge.
fn plausible_domain(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && !name.contains(char::is_whitespace)
}

/// The configured profile: a shipped one by name, a file by path (with a `/`), else `default`.
fn load_profile(spec: Option<&str>) -> Result<Profile, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: "profile",
        message,
    };
    match spec {
        // The shipped `default` profile is the built-in thresholds (a test holds them equal):
        // no file to parse at every start.
        None => Ok(Profile::default()),
        Some(path) if path.contains('/') => {
            let text = std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
            crate::profiles::parse(path, &text).map_err(|e| invalid(e.to_string()))
        }
        Some(name) => crate::profiles::builtin(name).map_err(|e| invalid(e.to_string())),
    }
}

fn in_range(key: &'static str, value: u32, min: u32, max: u32) -> Result<u32, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            key,
            message: format!("{value} is outside {min}..={max}"),
        })
    }
}

fn millis(
    key: &'static str,
    value: Option<u64>,
    default: Duration,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(ms) if (min..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
        Some(ms) => Err(ConfigError::Invalid {
            key,
            message: format!("{ms} ms is outside {min}..={max} ms"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        let config = Config::parse("", Path::new("empty.toml")).expect("empty config parses");
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), defaults::LISTEN);
    }

    #[test]
    fn tickets_are_off_by_default_and_the_helpdesk_must_be_an_http_url() {
        assert_eq!(Config::default().tickets, None);
        let parse = |text: &str| Config::from_raw(toml::from_str(text).expect("toml"));
        let config = parse("[tickets]\nhelpdesk = \"http://helpdesk.test:8791/\"\ntoken = \"t\"\n").expect("valid");
        assert_eq!(
            config.tickets,
            Some(TicketOptions {
                helpdesk: "http://helpdesk.test:8791".into(),
                token: Some("t".into()),
                retry_base: defaults::TICKET_RETRY_BASE,
                retry_max: defaults::TICKET_RETRY_MAX,
            })
        );
        assert!(parse("[tickets]\nhelpdesk = \"helpdesk.test\"\n").is_err());
        assert!(parse("[tickets]\nhelpdesk = \"http://h\"\nretry-base-ms = 0\n").is_err());
    }

    #[test]
    fn the_shipped_sample_is_the_defaults() {
        let sample = include_str!("../sonded.toml.sample");
        let config = Config::parse(sample, Path::new("sonded.toml.sample")).expect("the sample parses");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = Config::parse("[gateway]\nprobez = 3\n", Path::new("x.toml")).expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("probez"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn wifi_thresholds_are_configurable_and_checked() {
        let config = Config::parse(
            "[wifi]\nsignal-warn-dbm = -60\nbusy-fail-percent = 90\n",
            Path::new("x.toml"),
        )
        .expect("parses");
        assert_eq!(config.profile.wifi.signal_warn_dbm, -60.0);
        assert_eq!(config.profile.wifi.busy_fail_percent, 90.0);
        assert_eq!(config.profile.wifi.snr_fail_db, WifiThresholds::default().snr_fail_db);
        for (text, key) in [
            ("[wifi]\nsignal-fail-dbm = -60\n", "wifi.signal-fail-dbm"),
            ("[wifi]\nsignal-warn-dbm = 10\n", "wifi.signal-warn-dbm"),
            ("[wifi]\nretry-fail-percent = 5\n", "wifi.retry-fail-percent"),
            ("[wifi]\nbusy-warn-percent = 101\n", "wifi.busy-warn-percent"),
        ] {
            let err = Config::parse(text, Path::new("x.toml")).expect_err(text);
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn the_mobile_table_configures_the_modem() {
        let config = Config::parse(
            "[mobile]\nmodem = \"192.0.2.1:502\"\nmap = \"generic-lte\"\naddress-offset = 1\n\
             word-order = \"cdab\"\nunit-id = 0\ntimeout-ms = 500\nrsrp-fail-dbm = -115\n",
            Path::new("x.toml"),
        )
        .expect("parses");
        assert_eq!(config.mobile.modem, Some("192.0.2.1:502".parse().expect("address")));
        assert_eq!(
            config.mobile.map,
            RegisterMap::generic_lte()
                .with_address_offset(1)
                .with_word_order(WordOrder::Cdab)
        );
        assert_eq!(
            (config.mobile.unit_id, config.mobile.timeout),
            (0, Duration::from_millis(500))
        );
        assert_eq!(config.profile.mobile.rsrp_fail_dbm, -115.0);
        assert_eq!(Config::default().mobile.modem, None, "no modem unless configured");
        for bad in [
            "[mobile]\naddress-offset = 2\n",
            "[mobile]\nmap = \"huawei\"\n",
            "[mobile]\nword-order = \"badc\"\n",
            "[mobile]\nrsrp-warn-dbm = -120\n",
            "[mobile]\nmodem = \"192.0.2.1\"\n",
        ] {
            assert!(Config::parse(bad, Path::new("x.toml")).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn mobile_access_gets_a_data_budget_and_the_contract_is_read() {
        let config = Config::parse(
            "[line]\naccess = \"4g\"\ndown-mbps = 50\nup-mbps = 10\n",
            Path::new("x.toml"),
        )
        .expect("parses");
        assert_eq!(config.throughput.budget_bytes, Some(MOBILE_BUDGET_BYTES));
        assert_eq!(config.profile.throughput.contract_down_mbps, Some(50.0));
        let config = Config::parse(
            "[line]\naccess = \"5g\"\n[throughput]\nbudget-mb = 0\n",
            Path::new("x.toml"),
        )
        .expect("parses");
        assert_eq!(config.throughput.budget_bytes, None, "0 turns the budget off");
        let config = Config::parse("[throughput]\nbudget-mb = 5\n", Path::new("x.toml")).expect("parses");
        assert_eq!(config.throughput.budget_bytes, Some(5_000_000));
        for (text, key) in [
            ("[line]\naccess = \"fibre\"\n", "line.access"),
            ("[throughput]\nprotocol = \"h3\"\n", "throughput.protocol"),
            ("[throughput]\nmax-seconds = 0.5\n", "throughput.max-seconds"),
            (
                "[throughput]\nbufferbloat-fail-ms = 10\n",
                "throughput.bufferbloat-fail-ms",
            ),
            ("[throughput]\nserver = \"ftp://x\"\n", "throughput.server"),
        ] {
            let err = Config::parse(text, Path::new("x.toml")).expect_err(text);
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn a_profile_is_chosen_by_name_or_path_and_the_file_adjusts_it() {
        let config = Config::parse(
            "profile = \"ftth\"\n[wifi]\nsignal-warn-dbm = -60\n",
            Path::new("x.toml"),
        )
        .expect("parses");
        let ftth = crate::profiles::builtin("ftth").expect("ftth");
        assert_eq!((config.profile.name.as_str(), config.profile.version), ("ftth", 1));
        assert_eq!(config.profile.latency, ftth.latency);
        assert_eq!(config.profile.wifi.signal_warn_dbm, -60.0);
        assert_eq!(config.profile.wifi.signal_fail_dbm, ftth.wifi.signal_fail_dbm);

        let err = Config::parse("profile = \"fibre\"\n", Path::new("x.toml")).expect_err("unknown");
        assert!(
            err.to_string().contains("`profile`") && err.to_string().contains("vdsl2"),
            "{err}"
        );

        let dir = std::env::temp_dir().join(format!("sonde-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("isp.toml");
        std::fs::write(
            &file,
            "name = \"isp\"\nversion = 3\ndescription = \"ours\"\n[dns]\nlatency-warn-ms = 150.0\nlatency-fail-ms = 300.0\n",
        )
        .expect("write");
        let config =
            Config::parse(&format!("profile = \"{}\"\n", file.display()), Path::new("x.toml")).expect("parses");
        assert_eq!((config.profile.name.as_str(), config.profile.version), ("isp", 3));
        assert_eq!(config.profile.dns.latency_warn_ms, 150.0);
        let _ = std::fs::remove_dir_all(&dir);

        let request = |profile: Option<&str>| sonde_protocol::RunRequest {
            line: None,
            problem: sonde_protocol::ProblemKind::Slow,
            profile: profile.map(str::to_owned),
            options: sonde_protocol::RunOptions::default(),
            contact: None,
        };
        let config = Config::default();
        assert_eq!(
            config.for_request(&request(None)).expect("default").profile.name,
            "default"
        );
        assert_eq!(config.for_request(&request(Some("4g"))).expect("4g").profile.name, "4g");
        assert!(
            config.for_request(&request(Some("/etc/passwd"))).is_err(),
            "a request cannot read files"
        );
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let err = Config::parse("[gateway]\nprobes = 0\n", Path::new("x.toml")).expect_err("zero probes");
        assert!(err.to_string().contains("gateway.probes"), "{err}");
    }

    #[test]
    fn dns_aaaa_name_is_optional_and_checked() {
        assert_eq!(Config::default().dns.aaaa_name, None);
        let config = Config::parse("[dns]\naaaa-name = \"www.example.com\"\n", Path::new("x.toml")).expect("valid");
        assert_eq!(config.dns.aaaa_name.as_deref(), Some("www.example.com"));
        for bad in ["", "www example.com"] {
            let text = format!("[dns]\naaaa-name = \"{bad}\"\n");
            let err = Config::parse(&text, Path::new("x.toml")).expect_err(bad);
            assert!(err.to_string().contains("dns.aaaa-name"), "{err}");
        }
    }
}
