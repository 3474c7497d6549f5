//! `wifi`: the device's WiFi association, sampled over time: SSID, BSSID, band, channel and
//! width, signal and average signal, noise and SNR, tx/rx bitrates (PHY, MCS, NSS, GI), retries
//! and failures, expected throughput, connected time, beacon loss, channel utilisation,
//! security, neighbouring networks, and the links of a WiFi 7 multi-link association.
//!
//! The radio is read through a [`WifiSource`]:
//! - nl80211 over generic netlink ([`genl`] does the I/O, [`nl80211`] parses the bytes): the
//!   interface, station, survey and scan dumps `iw` reads;
//! - `/proc/net/wireless` when the kernel has no nl80211 family (no cfg80211): signal and noise;
//! - a snapshot file — what `sonde-netsim` writes from a scenario's `[wifi]` table, since its
//!   namespaces have no radio. Its keys are [`StationSample`]'s, or an `nl80211` table of hex
//!   dumps that go through the same parser as the kernel's bytes.
//!
//! Every source yields [`StationSample`]s and [`evaluate_wifi`] judges them alike. Metrics and
//! thresholds are listed in `docs/checks.md`.
//!
//! Status: `skipped` when the device has no WiFi interface (a wired device); `fail` when not
//! associated; otherwise the worst judged metric (signal, SNR, retry ratio, channel busy), and
//! `warn` on an open, WEP or WPA-TKIP network or a disconnection while sampling.

pub mod genl;
pub mod nl80211;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Threshold};

use super::gateway::percentile;
use super::past_limit;
use super::{Evaluation, MeasureError, ProgressSink};

/// Where WiFi data comes from, and how long it is sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct WifiOptions {
    /// The source of station data.
    pub source: SourceSpec,
    /// Samples taken.
    pub samples: u32,
    /// Interval between samples.
    pub interval: Duration,
}

impl Default for WifiOptions {
    fn default() -> Self {
        Self {
            source: SourceSpec::Kernel,
            samples: 3,
            interval: Duration::from_millis(200),
        }
    }
}

/// Which [`WifiSource`] to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// The kernel's view of the local radios: nl80211, else `/proc/net/wireless`.
    Kernel,
    /// A snapshot file (TOML), re-read at every sample so a simulation can change it.
    File(PathBuf),
}

/// Thresholds for WiFi (ChromeOS SignalStrength, and common enterprise WiFi survey targets:
/// −67 dBm for voice, SNR ≥ 25 dB). Configurable in `[wifi]` (`signal-warn-dbm`…).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct WifiThresholds {
    /// Signal (dBm) at or below which the check warns.
    pub signal_warn_dbm: f64,
    /// Signal (dBm) at or below which the check fails.
    pub signal_fail_dbm: f64,
    /// SNR (dB) at or below which the check warns.
    pub snr_warn_db: f64,
    /// SNR (dB) at or below which the check fails.
    pub snr_fail_db: f64,
    /// Retry ratio (percent of transmitted frames) past which the check warns.
    pub retry_warn_percent: f64,
    /// Retry ratio past which the check fails.
    pub retry_fail_percent: f64,
    /// Channel busy time (percent) past which the check warns.
    pub busy_warn_percent: f64,
    /// Channel busy time past which the check fails.
    pub busy_fail_percent: f64,
}

impl Default for WifiThresholds {
    fn default() -> Self {
        Self {
            signal_warn_dbm: -67.0,
            signal_fail_dbm: -75.0,
            snr_warn_db: 25.0,
            snr_fail_db: 15.0,
            retry_warn_percent: 10.0,
            retry_fail_percent: 25.0,
            busy_warn_percent: 60.0,
            busy_fail_percent: 80.0,
        }
    }
}

/// One reading of the WiFi association. Every field is optional: sources report what they can.
/// This is also the snapshot file's format (kebab-case keys); fields after `security` were
/// added with the nl80211 source and are all optional, so older snapshots still load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StationSample {
    /// The WiFi interface.
    pub interface: Option<String>,
    /// Associated to an access point.
    pub connected: bool,
    /// Network name.
    pub ssid: Option<String>,
    /// Access point MAC (under MLO: the association link's).
    pub bssid: Option<String>,
    /// Centre frequency of the primary channel, MHz.
    pub frequency_mhz: Option<u32>,
    /// Channel width, MHz.
    pub width_mhz: Option<u32>,
    /// Signal, dBm.
    pub signal_dbm: Option<f64>,
    /// Noise floor, dBm.
    pub noise_dbm: Option<f64>,
    /// Transmit bitrate, Mbit/s.
    pub tx_bitrate_mbps: Option<f64>,
    /// Receive bitrate, Mbit/s.
    pub rx_bitrate_mbps: Option<f64>,
    /// Frames transmitted (counter).
    pub tx_packets: Option<u64>,
    /// Retransmissions (counter).
    pub tx_retries: Option<u64>,
    /// Retry ratio as the source reports it, percent (when counters are not available).
    pub retry_percent: Option<f64>,
    /// Share of time the channel was busy, percent (when survey counters are not available).
    pub channel_busy_percent: Option<f64>,
    /// Security of the current network.
    pub security: Option<Security>,
    /// Centre of the whole (bonded) channel, MHz.
    pub center_frequency_mhz: Option<u32>,
    /// The driver's running average of the signal, dBm.
    pub signal_avg_dbm: Option<f64>,
    /// PHY of the last transmit rate.
    pub tx_phy: Option<Phy>,
    /// MCS index of the last transmit rate.
    pub tx_mcs: Option<u8>,
    /// Spatial streams of the last transmit rate.
    pub tx_nss: Option<u8>,
    /// Guard interval of the last transmit rate, µs.
    pub tx_gi_us: Option<f64>,
    /// PHY of the last receive rate.
    pub rx_phy: Option<Phy>,
    /// MCS index of the last receive rate.
    pub rx_mcs: Option<u8>,
    /// Spatial streams of the last receive rate.
    pub rx_nss: Option<u8>,
    /// Guard interval of the last receive rate, µs.
    pub rx_gi_us: Option<f64>,
    /// Frames given up on after all retries (counter).
    pub tx_failed: Option<u64>,
    /// The driver's expected throughput to the AP, Mbit/s.
    pub expected_throughput_mbps: Option<f64>,
    /// Seconds since association.
    pub connected_time_s: Option<u64>,
    /// Beacon-loss events since association (counter).
    pub beacon_loss: Option<u64>,
    /// Survey of the channel in use: time the radio listened, ms (counter).
    pub channel_active_ms: Option<u64>,
    /// Survey of the channel in use: time it was sensed busy, ms (counter).
    pub channel_busy_ms: Option<u64>,
    /// WiFi 7 multi-link operation: one entry per link.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSample>,
    /// Other networks from the last scan.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<Neighbour>,
}

/// One link of a multi-link (WiFi 7) association.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LinkSample {
    /// Link id.
    pub link_id: u8,
    /// The AP's address on this link.
    pub bssid: Option<String>,
    /// MHz.
    pub frequency_mhz: Option<u32>,
    /// MHz.
    pub width_mhz: Option<u32>,
    /// dBm.
    pub signal_dbm: Option<f64>,
    /// Mbit/s.
    pub tx_bitrate_mbps: Option<f64>,
    /// Mbit/s.
    pub rx_bitrate_mbps: Option<f64>,
    /// Transmit MCS.
    pub tx_mcs: Option<u8>,
    /// Transmit spatial streams.
    pub tx_nss: Option<u8>,
}

/// A network seen in the scan results other than the current one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Neighbour {
    /// BSSID.
    pub bssid: Option<String>,
    /// Network name.
    pub ssid: Option<String>,
    /// Primary channel, MHz.
    pub frequency_mhz: Option<u32>,
    /// Operating width, MHz (20 when unknown).
    pub width_mhz: Option<u32>,
    /// Centre of its bonded channel, MHz.
    pub center_frequency_mhz: Option<u32>,
    /// dBm.
    pub signal_dbm: Option<f64>,
    /// Its security.
    pub security: Option<Security>,
}

/// The PHY generation of a bitrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phy {
    /// 802.11a/b/g.
    Legacy,
    /// 802.11n, WiFi 4.
    Ht,
    /// 802.11ac, WiFi 5.
    Vht,
    /// 802.11ax, WiFi 6.
    He,
    /// 802.11be, WiFi 7.
    Eht,
}

impl Phy {
    fn as_str(self) -> &'static str {
        match self {
            Phy::Legacy => "legacy",
            Phy::Ht => "HT",
            Phy::Vht => "VHT",
            Phy::He => "HE",
            Phy::Eht => "EHT",
        }
    }
}

/// Security of a WiFi network (ChromeOS HasSecureWiFiConnection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// No encryption.
    Open,
    /// WEP: broken.
    Wep,
    /// WPA (TKIP): weak.
    Wpa,
    /// WPA2.
    Wpa2,
    /// WPA3.
    Wpa3,
}

impl Security {
    fn as_str(self) -> &'static str {
        match self {
            Security::Open => "open",
            Security::Wep => "wep",
            Security::Wpa => "wpa",
            Security::Wpa2 => "wpa2",
            Security::Wpa3 => "wpa3",
        }
    }
}

/// Reads the station's state.
pub trait WifiSource: Send + Sync {
    /// One sample; `Ok(None)` when the device has no WiFi interface at all.
    fn sample(&self) -> Result<Option<StationSample>, MeasureError>;
}

/// What the WiFi check saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WifiSamples {
    /// Which source answered.
    pub source: String,
    /// The samples, in time order; empty when there is no WiFi interface.
    pub samples: Vec<StationSample>,
}

/// The wireless-extensions table read when the kernel has no nl80211.
const PROC_WIRELESS: &str = "/proc/net/wireless";

/// Samples the station `options.samples` times.
pub async fn measure_wifi(options: &WifiOptions, progress: &dyn ProgressSink) -> Result<WifiSamples, MeasureError> {
    let (source, label): (Box<dyn WifiSource>, String) = match &options.source {
        SourceSpec::Kernel => match genl::Nl80211::open()? {
            Some(nl80211) => (Box::new(nl80211), "nl80211".to_owned()),
            None => (
                Box::new(ProcWireless {
                    path: PathBuf::from(PROC_WIRELESS),
                }),
                format!("{PROC_WIRELESS} (the kernel has no nl80211)"),
            ),
        },
        SourceSpec::File(path) => (
            Box::new(SnapshotFile { path: path.clone() }),
            path.display().to_string(),
        ),
    };
    let mut samples = Vec::new();
    for i in 0..options.samples.max(1) {
        if i > 0 {
            tokio::time::sleep(options.interval).await;
        }
        match source.sample()? {
            Some(sample) => {
                progress.report(
                    f64::from(i + 1) / f64::from(options.samples.max(1)),
                    vec![Metric::new("signal_dbm", sample.signal_dbm)],
                );
                samples.push(sample);
            }
            None => break,
        }
    }
    Ok(WifiSamples { source: label, samples })
}

/// A snapshot file in TOML, re-read at every sample: [`StationSample`]'s keys, or an `nl80211`
/// table of hex dumps (see [`parse_snapshot`]).
#[derive(Debug)]
pub struct SnapshotFile {
    /// The file.
    pub path: PathBuf,
}

impl WifiSource for SnapshotFile {
    fn sample(&self) -> Result<Option<StationSample>, MeasureError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| MeasureError::Io {
            context: format!("read {}", self.path.display()),
            source,
        })?;
        parse_snapshot(&text).map_err(|e| MeasureError::Unsupported(format!("{}: {e}", self.path.display())))
    }
}

/// The `nl80211` table of a snapshot: hex dumps as the kernel would answer them (the format of
/// [`decode_hex`]), any of them optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct Nl80211Snapshot {
    interface: String,
    station: String,
    survey: String,
    scan: String,
}

/// A snapshot: either [`StationSample`]'s keys, or only an `nl80211` table of hex dumps
/// (`interface`, `station`, `survey`, `scan`), parsed exactly like the kernel's answers. `None`
/// when the dumps show no WiFi interface.
pub fn parse_snapshot(text: &str) -> Result<Option<StationSample>, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let Some(dumps) = table.remove("nl80211") else {
        return StationSample::deserialize(table).map(Some).map_err(|e| e.to_string());
    };
    if let Some(key) = table.keys().next() {
        return Err(format!(
            "`{key}` cannot be combined with an `nl80211` table (the dumps say it all)"
        ));
    }
    let dumps: Nl80211Snapshot = dumps.try_into().map_err(|e: toml::de::Error| format!("nl80211: {e}"))?;
    let mut bytes = Vec::new();
    for (name, hex) in [
        ("interface", &dumps.interface),
        ("station", &dumps.station),
        ("survey", &dumps.survey),
        ("scan", &dumps.scan),
    ] {
        bytes.extend(decode_hex(hex).map_err(|e| format!("nl80211.{name}: {e}"))?);
    }
    let capture = nl80211::parse_capture(&bytes).map_err(|e| format!("nl80211: {e}"))?;
    Ok(nl80211::station_sample(&capture))
}

/// Hex bytes, whitespace-separated or not; lines starting with `#` are comments (the format of
/// the fixtures under `agent/tests/fixtures/wifi/`).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.bytes().filter(|b| !b.is_ascii_whitespace()))
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".to_owned());
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| "not hex".to_owned())?;
            u8::from_str_radix(text, 16).map_err(|_| format!("`{text}` is not a hex byte"))
        })
        .collect()
}

/// The kernel's wireless-extensions table, `/proc/net/wireless`: signal and noise per
/// interface (present on most WiFi drivers, even where nl80211 tools are missing).
#[derive(Debug)]
pub struct ProcWireless {
    /// Usually `/proc/net/wireless`.
    pub path: PathBuf,
}

impl WifiSource for ProcWireless {
    fn sample(&self) -> Result<Option<StationSample>, MeasureError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(parse_proc_wireless(&text)),
            // No file: no wireless interface on this host.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(MeasureError::Io {
                context: format!("read {}", self.path.display()),
                source,
            }),
        }
    }
}

/// Parses `/proc/net/wireless`: two header lines, then per interface
/// `wlan0: 0000   54.  -56.  -95.  0  0  0  0  0  0`. Returns the first interface; `None` when
/// there is none. Garbage never panics: unreadable lines are skipped.
pub fn parse_proc_wireless(text: &str) -> Option<StationSample> {
    text.lines().skip(2).find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.trim_end_matches('.').parse::<f64>().ok());
        let signal = number(2)?;
        // Old drivers report levels as unsigned 0..255 (dBm + 256).
        let dbm = |v: f64| if v > 0.0 { v - 256.0 } else { v };
        let noise = number(3).map(dbm).filter(|n| *n < 0.0 && *n > -120.0);
        Some(StationSample {
            interface: Some(name.trim().to_owned()),
            connected: true,
            signal_dbm: Some(dbm(signal)),
            noise_dbm: noise,
            ..StationSample::default()
        })
    })
}

/// Judges the WiFi samples.
pub fn evaluate_wifi(samples: &WifiSamples, thresholds: &WifiThresholds) -> Evaluation {
    let Some(last) = samples.samples.last() else {
        return Evaluation {
            status: CheckStatus::Skipped,
            reason: Some("no WiFi interface (a wired connection)".to_owned()),
            metrics: Vec::new(),
        };
    };
    let connected: Vec<&StationSample> = samples.samples.iter().filter(|s| s.connected).collect();
    let disconnections = disconnections(&samples.samples);
    let mut signals: Vec<f64> = connected.iter().filter_map(|s| s.signal_dbm).collect();
    signals.sort_by(f64::total_cmp);
    let signal = percentile(&signals, 50.0);
    let noise = connected.iter().rev().find_map(|s| s.noise_dbm);
    let snr = signal.zip(noise).map(|(s, n)| s - n);
    let retry =
        counter_ratio(&connected, |s| s.tx_retries).or_else(|| connected.iter().rev().find_map(|s| s.retry_percent));
    let failed = counter_ratio(&connected, |s| s.tx_failed);
    let busy = channel_busy_percent(&connected);
    let current = connected.last().copied().unwrap_or(last);
    let signal_m = Metric::judged(
        "signal_dbm",
        signal,
        Threshold::below(thresholds.signal_warn_dbm, thresholds.signal_fail_dbm),
    );
    let snr_m = Metric::judged(
        "snr_db",
        snr,
        Threshold::below(thresholds.snr_warn_db, thresholds.snr_fail_db),
    );
    let retry_m = Metric::judged(
        "retry_percent",
        retry,
        Threshold::above(thresholds.retry_warn_percent, thresholds.retry_fail_percent),
    );
    let busy_m = Metric::judged(
        "channel_busy_percent",
        busy,
        Threshold::above(thresholds.busy_warn_percent, thresholds.busy_fail_percent),
    );
    let security = current.security;
    let secure = security.map(|s| matches!(s, Security::Wpa2 | Security::Wpa3));
    let (status, reason) = if connected.is_empty() {
        (CheckStatus::Fail, Some("not associated to any WiFi network".to_owned()))
    } else {
        let judged = [&signal_m, &snr_m, &retry_m, &busy_m];
        let mut past: Vec<String> = judged.iter().filter_map(|m| past_limit(m)).collect();
        let mut statuses: Vec<CheckStatus> = judged.iter().filter_map(|m| m.status).collect();
        if secure == Some(false) {
            statuses.push(CheckStatus::Warn);
            past.push(format!(
                "the network is {}",
                security.map_or("insecure", Security::as_str)
            ));
        }
        if disconnections > 0 {
            statuses.push(CheckStatus::Warn);
            past.push(format!("{disconnections} disconnection(s) while sampling"));
        }
        (super::worst(statuses), (!past.is_empty()).then(|| past.join("; ")))
    };
    let neighbours = Neighbourhood::of(current);
    let mut metrics = vec![
        Metric::new("interface", current.interface.clone()),
        Metric::new("ssid", current.ssid.clone()),
        Metric::new("bssid", current.bssid.clone()),
        Metric::new("band", current.frequency_mhz.map(band)),
        Metric::new("channel", current.frequency_mhz.and_then(channel).map(u64::from)),
        Metric::new("width_mhz", current.width_mhz.map(u64::from)),
        signal_m,
        Metric::new("signal_min_dbm", signals.first().copied()),
        Metric::new("noise_dbm", noise),
        snr_m,
        retry_m,
        Metric::new("tx_bitrate_mbps", current.tx_bitrate_mbps),
        Metric::new("rx_bitrate_mbps", current.rx_bitrate_mbps),
        busy_m,
        Metric::new("security", security.map(Security::as_str)),
        Metric::new("secure", secure),
        Metric::new("disconnections", disconnections),
        Metric::new("signal_max_dbm", signals.last().copied()),
        Metric::new("signal_avg_dbm", current.signal_avg_dbm),
        Metric::new("frequency_mhz", current.frequency_mhz.map(u64::from)),
        Metric::new("tx_failed_percent", failed),
        Metric::new("expected_throughput_mbps", current.expected_throughput_mbps),
        Metric::new("connected_time_s", current.connected_time_s),
        Metric::new("beacon_loss_count", beacon_losses(&connected)),
        Metric::new("neighbours_same_channel", neighbours.same_channel),
        Metric::new("neighbours_overlapping", neighbours.overlapping),
        Metric::new("strongest_neighbour_dbm", neighbours.strongest_dbm),
        Metric::new("mlo_links", current.links.len()),
        Metric::new("mlo_links_detail", links_detail(&current.links)),
    ];
    for (direction, phy, mcs, nss, gi) in [
        ("tx", current.tx_phy, current.tx_mcs, current.tx_nss, current.tx_gi_us),
        ("rx", current.rx_phy, current.rx_mcs, current.rx_nss, current.rx_gi_us),
    ] {
        metrics.push(Metric::new(format!("{direction}_phy"), phy.map(Phy::as_str)));
        metrics.push(Metric::new(format!("{direction}_mcs"), mcs.map(u64::from)));
        metrics.push(Metric::new(format!("{direction}_nss"), nss.map(u64::from)));
        metrics.push(Metric::new(format!("{direction}_gi_us"), gi));
    }
    Evaluation {
        status,
        reason,
        metrics,
    }
}

/// Counter deltas over fewer frames than this are noise (two frames, one retry: 50 %).
pub const MIN_FRAMES: u64 = 50;

/// A counter per transmitted frame, in percent: between the first and last connected samples
/// when at least [`MIN_FRAMES`] went out in between, else since association (the latest
/// counters), else `None`.
fn counter_ratio(connected: &[&StationSample], counter: fn(&StationSample) -> Option<u64>) -> Option<f64> {
    let with = || {
        connected
            .iter()
            .filter(|s| s.tx_packets.is_some() && counter(s).is_some())
    };
    let (first, last) = (with().next()?, with().next_back()?);
    let (p0, p1) = (first.tx_packets?, last.tx_packets?);
    let (c0, c1) = (counter(first)?, counter(last)?);
    let packets = p1.saturating_sub(p0);
    if packets >= MIN_FRAMES && c1 >= c0 {
        return Some(100.0 * (c1 - c0) as f64 / packets as f64);
    }
    (p1 >= MIN_FRAMES).then(|| 100.0 * c1 as f64 / p1 as f64)
}

/// Channel utilisation of the channel in use: Δbusy/Δactive between the first and last survey
/// samples on the same frequency; one sample (or counters reset): its own busy/active since the
/// radio tuned to the channel; else the source's figure.
fn channel_busy_percent(connected: &[&StationSample]) -> Option<f64> {
    let with = || {
        connected
            .iter()
            .filter(|s| s.channel_active_ms.is_some_and(|a| a > 0) && s.channel_busy_ms.is_some())
    };
    if let Some(last) = with().next_back() {
        let (a1, b1) = (last.channel_active_ms?, last.channel_busy_ms?);
        let first = with().find(|s| s.frequency_mhz == last.frequency_mhz)?;
        let (a0, b0) = (first.channel_active_ms?, first.channel_busy_ms?);
        let percent = if a1 > a0 && b1 >= b0 {
            100.0 * (b1 - b0) as f64 / (a1 - a0) as f64
        } else {
            100.0 * b1 as f64 / a1 as f64
        };
        return Some(percent.clamp(0.0, 100.0));
    }
    connected.iter().rev().find_map(|s| s.channel_busy_percent)
}

/// Drops while sampling: a sample not associated after one that was, or an association whose
/// connected time went back (it dropped and came back between two samples).
fn disconnections(samples: &[StationSample]) -> usize {
    samples
        .windows(2)
        .filter(|w| match (w[0].connected, w[1].connected) {
            (true, false) => true,
            (true, true) => matches!((w[0].connected_time_s, w[1].connected_time_s), (Some(a), Some(b)) if b < a),
            _ => false,
        })
        .count()
}

/// Beacon-loss events while sampling (Δ of the counter within one association); with one
/// sample, since association.
fn beacon_losses(connected: &[&StationSample]) -> Option<u64> {
    let counts: Vec<u64> = connected.iter().filter_map(|s| s.beacon_loss).collect();
    match counts.as_slice() {
        [] => None,
        [only] => Some(*only),
        [first, .., last] if last >= first => Some(last - first),
        [.., last] => Some(*last),
    }
}

/// Other networks that share the airtime of ours.
struct Neighbourhood {
    same_channel: Option<u64>,
    overlapping: Option<u64>,
    strongest_dbm: Option<f64>,
}

impl Neighbourhood {
    /// Neighbours on the same primary channel, and on other channels whose span overlaps ours;
    /// nothing when there was no scan.
    fn of(current: &StationSample) -> Self {
        let none = Self {
            same_channel: None,
            overlapping: None,
            strongest_dbm: None,
        };
        let Some(frequency) = current.frequency_mhz else {
            return none;
        };
        if current.neighbours.is_empty() {
            return none;
        }
        let ours = span(frequency, current.center_frequency_mhz, current.width_mhz);
        let (mut same, mut overlapping, mut strongest) = (0, 0, None::<f64>);
        for n in &current.neighbours {
            let Some(f) = n.frequency_mhz else { continue };
            let theirs = span(f, n.center_frequency_mhz, n.width_mhz);
            if f == frequency {
                same += 1;
            } else if theirs.0 < ours.1 && ours.0 < theirs.1 {
                overlapping += 1;
            } else {
                continue;
            }
            if let Some(s) = n.signal_dbm {
                strongest = Some(strongest.map_or(s, |m| m.max(s)));
            }
        }
        Self {
            same_channel: Some(same),
            overlapping: Some(overlapping),
            strongest_dbm: strongest,
        }
    }
}

/// The frequencies a channel occupies, MHz: its bonded width around its centre; a 20 MHz
/// 2.4 GHz channel spreads over 22 MHz (the DSSS mask that makes channels 1, 6, 11 the only
/// non-overlapping ones).
fn span(primary: u32, center: Option<u32>, width: Option<u32>) -> (f64, f64) {
    let width = f64::from(width.unwrap_or(20));
    let center = f64::from(center.unwrap_or(primary));
    let half = if primary < 3000 && width <= 20.0 {
        11.0
    } else {
        width / 2.0
    };
    (center - half, center + half)
}

/// "link 0: 5180 MHz 160 MHz -55 dBm tx 2401.9 Mbit/s; link 1: …", or `None` without MLO.
fn links_detail(links: &[LinkSample]) -> Option<String> {
    let text: Vec<String> = links
        .iter()
        .map(|l| {
            let mut part = format!("link {}", l.link_id);
            if let Some(f) = l.frequency_mhz {
                part.push_str(&format!(" {f} MHz"));
            }
            if let Some(w) = l.width_mhz {
                part.push_str(&format!(" {w} MHz wide"));
            }
            if let Some(s) = l.signal_dbm {
                part.push_str(&format!(" {s} dBm"));
            }
            if let Some(r) = l.tx_bitrate_mbps {
                part.push_str(&format!(" tx {r} Mbit/s"));
            }
            part
        })
        .collect();
    (!text.is_empty()).then(|| text.join("; "))
}

/// "2.4 GHz", "5 GHz", "6 GHz" from a centre frequency.
fn band(mhz: u32) -> &'static str {
    match mhz {
        2400..=2500 => "2.4 GHz",
        5150..=5924 => "5 GHz",
        5925..=7125 => "6 GHz",
        _ => "other",
    }
}

/// The IEEE channel number of a centre frequency.
fn channel(mhz: u32) -> Option<u32> {
    match mhz {
        2484 => Some(14),
        2412..=2472 => Some((mhz - 2407) / 5),
        5955..=7115 => Some((mhz - 5950) / 5),
        5160..=5885 => Some((mhz - 5000) / 5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(signal: f64, noise: f64) -> StationSample {
        StationSample {
            interface: Some("wlan0".into()),
            connected: true,
            ssid: Some("Livebox-1234".into()),
            frequency_mhz: Some(5180),
            signal_dbm: Some(signal),
            noise_dbm: Some(noise),
            security: Some(Security::Wpa2),
            ..StationSample::default()
        }
    }

    fn metric(e: &Evaluation, name: &str) -> Option<sonde_protocol::MetricValue> {
        e.metrics.iter().find(|m| m.name == name).map(|m| m.value.clone())
    }

    #[test]
    fn evaluation_by_table() {
        let t = WifiThresholds::default();
        let weak = WifiSamples {
            source: "t".into(),
            samples: vec![StationSample {
                retry_percent: Some(30.0),
                ..sample(-82.0, -95.0)
            }],
        };
        let good = WifiSamples {
            source: "t".into(),
            samples: vec![sample(-50.0, -95.0)],
        };
        let open = WifiSamples {
            source: "t".into(),
            samples: vec![StationSample {
                security: Some(Security::Open),
                ..sample(-50.0, -95.0)
            }],
        };
        let busy = WifiSamples {
            source: "t".into(),
            samples: vec![StationSample {
                channel_busy_percent: Some(85.0),
                ..sample(-50.0, -95.0)
            }],
        };
        let gone = WifiSamples {
            source: "t".into(),
            samples: vec![StationSample {
                connected: false,
                ..StationSample::default()
            }],
        };
        let wired = WifiSamples::default();
        let cases = [
            ("weak signal, many retries", weak, CheckStatus::Fail),
            ("good", good, CheckStatus::Pass),
            ("open network", open, CheckStatus::Warn),
            ("congested channel", busy, CheckStatus::Fail),
            ("not associated", gone, CheckStatus::Fail),
            ("wired", wired, CheckStatus::Skipped),
        ];
        for (name, samples, status) in cases {
            assert_eq!(evaluate_wifi(&samples, &t).status, status, "{name}");
        }
    }

    #[test]
    fn metrics_of_a_weak_station() {
        let samples = WifiSamples {
            source: "t".into(),
            samples: vec![StationSample {
                retry_percent: Some(30.0),
                ..sample(-82.0, -95.0)
            }],
        };
        let e = evaluate_wifi(&samples, &WifiThresholds::default());
        assert_eq!(metric(&e, "signal_dbm").and_then(|v| v.as_f64()), Some(-82.0));
        assert_eq!(metric(&e, "snr_db").and_then(|v| v.as_f64()), Some(13.0));
        assert_eq!(metric(&e, "retry_percent").and_then(|v| v.as_f64()), Some(30.0));
        assert_eq!(
            metric(&e, "band").and_then(|v| v.as_str().map(str::to_owned)),
            Some("5 GHz".into())
        );
        assert_eq!(metric(&e, "channel").and_then(|v| v.as_f64()), Some(36.0));
        assert!(
            e.reason.as_deref().is_some_and(|r| r.contains("signal_dbm -82")),
            "{:?}",
            e.reason
        );
    }

    #[test]
    fn retries_come_from_counter_deltas() {
        let a = StationSample {
            tx_packets: Some(1000),
            tx_retries: Some(100),
            ..sample(-60.0, -95.0)
        };
        let b = StationSample {
            tx_packets: Some(2000),
            tx_retries: Some(300),
            ..sample(-60.0, -95.0)
        };
        assert_eq!(counter_ratio(&[&a, &b], |s| s.tx_retries), Some(20.0));
    }

    #[test]
    fn disconnections_between_samples_warn() {
        let samples = WifiSamples {
            source: "t".into(),
            samples: vec![
                sample(-55.0, -95.0),
                StationSample {
                    connected: false,
                    ..StationSample::default()
                },
                sample(-55.0, -95.0),
            ],
        };
        let e = evaluate_wifi(&samples, &WifiThresholds::default());
        assert_eq!(e.status, CheckStatus::Warn);
        assert_eq!(metric(&e, "disconnections").and_then(|v| v.as_f64()), Some(1.0));
    }

    #[test]
    fn proc_wireless_parses_and_survives_garbage() {
        let text = "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n \
                    face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n\
                    wlan0: 0000   54.  -56.  -95.        0      0      0      0      0        0\n";
        let s = parse_proc_wireless(text).expect("one interface");
        assert_eq!(s.interface.as_deref(), Some("wlan0"));
        assert_eq!(s.signal_dbm, Some(-56.0));
        assert_eq!(s.noise_dbm, Some(-95.0));
        let unsigned = "h\nh\nwlan1: 0000 40. 200. 161. 0 0 0 0 0 0\n";
        assert_eq!(parse_proc_wireless(unsigned).and_then(|s| s.signal_dbm), Some(-56.0));
        for garbage in [
            "",
            "h\nh\n",
            "h\nh\nwlan0:",
            "h\nh\nwlan0: x y z",
            "h\nh\n::::\n",
            "\u{0}\u{1}",
        ] {
            assert_eq!(parse_proc_wireless(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn snapshot_files_parse_and_reject_unknown_keys() {
        let s: StationSample = toml::from_str(
            "connected = true\nssid = \"x\"\nsignal-dbm = -82\nretry-percent = 30\nsecurity = \"wpa2\"\n",
        )
        .expect("parses");
        assert_eq!(s.signal_dbm, Some(-82.0));
        assert!(toml::from_str::<StationSample>("signal = -82\n").is_err());
    }
}
