//! `wifi`: the device's WiFi association, sampled over time: SSID, BSSID, band, channel and
//! width, signal and noise (SNR), bitrates, retries, channel utilisation, security.
//!
//! The radio is read through a [`WifiSource`]: the kernel (`/proc/net/wireless` here; nl80211
//! station and survey dumps join it), or a snapshot file — what `sonde-netsim` writes from a
//! scenario's `[wifi]` table, since its namespaces have no radio.
//!
//! Metrics: `interface`, `ssid`, `bssid`, `band`, `channel`, `width_mhz`, `signal_dbm` (judged;
//! the median over the samples), `signal_min_dbm`, `noise_dbm`, `snr_db` (judged), `retry_percent`
//! (judged; Δretries/Δpackets between the first and last sample, or the snapshot's own
//! figure), `tx_bitrate_mbps`, `rx_bitrate_mbps`, `channel_busy_percent` (judged), `security`,
//! `secure` (bool: WPA2 or better), `disconnections` (samples not associated after one that was).
//!
//! Status: `skipped` when the device has no WiFi interface (a wired device); `fail` when not
//! associated; otherwise the worst judged metric, and `warn` on an open or WEP network.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Threshold};

use super::gateway::{past_limit, percentile};
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
    /// The kernel's view of the local radios.
    Kernel,
    /// A snapshot file (TOML), re-read at every sample so a simulation can change it.
    File(PathBuf),
}

/// Thresholds for WiFi (ChromeOS SignalStrength, and common enterprise WiFi survey targets:
/// −67 dBm for voice, SNR ≥ 25 dB).
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StationSample {
    /// The WiFi interface.
    pub interface: Option<String>,
    /// Associated to an access point.
    pub connected: bool,
    /// Network name.
    pub ssid: Option<String>,
    /// Access point MAC.
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
    /// Share of time the channel was busy, percent.
    pub channel_busy_percent: Option<f64>,
    /// Security of the current network.
    pub security: Option<Security>,
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

/// Samples the station `options.samples` times.
pub async fn measure_wifi(options: &WifiOptions, progress: &dyn ProgressSink) -> Result<WifiSamples, MeasureError> {
    let (source, label): (Box<dyn WifiSource>, String) = match &options.source {
        SourceSpec::Kernel => {
            let path = PathBuf::from("/proc/net/wireless");
            let label = path.display().to_string();
            (Box::new(ProcWireless { path }), label)
        }
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

/// A snapshot file in TOML ([`StationSample`]'s keys), re-read at every sample.
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
        let sample: StationSample =
            toml::from_str(&text).map_err(|e| MeasureError::Unsupported(format!("{}: {e}", self.path.display())))?;
        Ok(Some(sample))
    }
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
    let disconnections = samples
        .samples
        .windows(2)
        .filter(|w| w[0].connected && !w[1].connected)
        .count();
    let mut signals: Vec<f64> = connected.iter().filter_map(|s| s.signal_dbm).collect();
    signals.sort_by(f64::total_cmp);
    let signal = percentile(&signals, 50.0);
    let noise = connected.iter().rev().find_map(|s| s.noise_dbm);
    let snr = signal.zip(noise).map(|(s, n)| s - n);
    let retry = retry_percent(&connected);
    let busy = connected.iter().rev().find_map(|s| s.channel_busy_percent);
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
    Evaluation {
        status,
        reason,
        metrics: vec![
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
        ],
    }
}

/// Retries per transmitted frame between the first and last connected samples, in percent;
/// else the latest figure the source reported itself.
fn retry_percent(connected: &[&StationSample]) -> Option<f64> {
    let first = connected.first()?;
    let last = connected.last()?;
    if let (Some(p0), Some(p1), Some(r0), Some(r1)) =
        (first.tx_packets, last.tx_packets, first.tx_retries, last.tx_retries)
    {
        let packets = p1.saturating_sub(p0);
        if packets > 0 {
            return Some(100.0 * r1.saturating_sub(r0) as f64 / packets as f64);
        }
    }
    connected.iter().rev().find_map(|s| s.retry_percent)
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
        assert_eq!(retry_percent(&[&a, &b]), Some(20.0));
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
