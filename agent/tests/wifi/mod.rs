//! The WiFi check's nl80211 parsers and evaluator on fixtures that reproduce the kernel's dumps
//! (`fixtures/wifi/*.hex`, written by the [`kernel`] encoder), and fuzzed.
//!
//! `SONDE_BLESS=1` rewrites the fixture files; `SONDE_FUZZ_SECS=60` fuzzes for a minute
//! (default 2 s); `SONDE_FUZZ_SEED` picks another seed.

mod fixtures;
mod kernel;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sonde_agent::checks::wifi::nl80211::{self, ParseError};
use sonde_agent::checks::wifi::{
    WifiOptions, WifiSamples, WifiThresholds, decode_hex, evaluate_wifi, measure_wifi, parse_proc_wireless,
    parse_snapshot,
};
use sonde_protocol::CheckStatus;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wifi")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_hex(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Samples as the nl80211 source takes them: per sample, the dumps concatenated and parsed.
fn sampled(samples: &[&[&str]]) -> WifiSamples {
    let mut out = WifiSamples {
        source: "nl80211".into(),
        samples: Vec::new(),
    };
    for dumps in samples {
        let bytes: Vec<u8> = dumps.iter().flat_map(|name| fixture(name)).collect();
        let capture = nl80211::parse_capture(&bytes).unwrap_or_else(|e| panic!("{dumps:?}: {e}"));
        match nl80211::station_sample(&capture) {
            Some(sample) => out.samples.push(sample),
            None => break,
        }
    }
    out
}

#[test]
fn wifi_fixtures_are_what_the_kernel_encoder_writes() {
    let bless = std::env::var_os("SONDE_BLESS").is_some();
    for f in fixtures::all() {
        let path = fixture_dir().join(format!("{}.hex", f.name));
        let text = fixtures::render(&f);
        if bless {
            std::fs::create_dir_all(fixture_dir()).expect("fixture dir");
            std::fs::write(&path, &text).expect("write fixture");
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            stored == text,
            "{} differs from the encoder's output; run with SONDE_BLESS=1",
            path.display()
        );
    }
}

struct Case {
    name: &'static str,
    samples: &'static [&'static [&'static str]],
    status: CheckStatus,
    reason: Option<&'static str>,
    metrics: Vec<(&'static str, Value)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "WiFi 5 (VHT) sampled twice, with noise, survey and scan",
            samples: &[
                &[
                    "interface-wifi5",
                    "station-wifi5-t0",
                    "survey-noise-t0",
                    "scan-neighbours",
                ],
                &[
                    "interface-wifi5",
                    "station-wifi5-t1",
                    "survey-noise-t1",
                    "scan-neighbours",
                ],
            ],
            status: CheckStatus::Pass,
            reason: None,
            metrics: vec![
                ("interface", json!("wlp2s0")),
                ("ssid", json!("Livebox-1234")),
                ("bssid", json!("8c:97:ea:aa:bb:cc")),
                ("band", json!("5 GHz")),
                ("channel", json!(36)),
                ("frequency_mhz", json!(5180)),
                ("width_mhz", json!(80)),
                ("signal_dbm", json!(-58)),
                ("signal_min_dbm", json!(-58)),
                ("signal_max_dbm", json!(-58)),
                ("signal_avg_dbm", json!(-57)),
                ("noise_dbm", json!(-95)),
                ("snr_db", json!(37)),
                ("retry_percent", json!(4)),
                ("tx_failed_percent", json!(0.1)),
                ("channel_busy_percent", json!(30)),
                ("tx_bitrate_mbps", json!(866.7)),
                ("tx_phy", json!("VHT")),
                ("tx_mcs", json!(9)),
                ("tx_nss", json!(2)),
                ("tx_gi_us", json!(0.4)),
                ("rx_bitrate_mbps", json!(780)),
                ("rx_phy", json!("VHT")),
                ("rx_mcs", json!(8)),
                ("rx_nss", json!(2)),
                ("rx_gi_us", json!(0.4)),
                ("expected_throughput_mbps", json!(520.507)),
                ("connected_time_s", json!(3601)),
                ("beacon_loss_count", json!(0)),
                ("security", json!("wpa2")),
                ("secure", json!(true)),
                ("neighbours_same_channel", json!(1)),
                ("neighbours_overlapping", json!(1)),
                ("strongest_neighbour_dbm", json!(-75)),
                ("disconnections", json!(0)),
                ("mlo_links", json!(0)),
                ("mlo_links_detail", Value::Null),
            ],
        },
        Case {
            name: "WiFi 6 (HE), survey without noise, no scan",
            samples: &[&["interface-wifi6", "station-wifi6", "survey-no-noise"]],
            status: CheckStatus::Warn,
            reason: Some("signal_dbm -71 ≤ -67 (warn); retry_percent 12 ≥ 10 (warn)"),
            metrics: vec![
                ("interface", json!("wlp3s0")),
                ("ssid", json!("Freebox-6E")),
                ("bssid", json!("34:27:92:10:20:30")),
                ("channel", json!(100)),
                ("width_mhz", json!(80)),
                ("signal_dbm", json!(-71)),
                ("signal_avg_dbm", json!(-70)),
                ("noise_dbm", Value::Null),
                ("snr_db", Value::Null),
                ("retry_percent", json!(12)),
                ("tx_failed_percent", json!(0.2)),
                ("channel_busy_percent", json!(40)),
                ("tx_bitrate_mbps", json!(1201)),
                ("tx_phy", json!("HE")),
                ("tx_mcs", json!(11)),
                ("tx_nss", json!(2)),
                ("tx_gi_us", json!(0.8)),
                ("rx_bitrate_mbps", json!(960.7)),
                ("rx_mcs", json!(9)),
                ("expected_throughput_mbps", json!(600)),
                ("connected_time_s", json!(120)),
                ("beacon_loss_count", json!(3)),
                ("security", Value::Null),
                ("secure", Value::Null),
                ("neighbours_same_channel", Value::Null),
            ],
        },
        Case {
            name: "WiFi 7 multi-link (EHT), per-link statistics",
            samples: &[&["interface-wifi7-mlo", "station-wifi7-mlo"]],
            status: CheckStatus::Pass,
            reason: None,
            metrics: vec![
                ("interface", json!("wlan0")),
                ("ssid", json!("Livebox-7")),
                ("bssid", json!("a0:11:22:33:44:01")),
                ("band", json!("5 GHz")),
                ("channel", json!(36)),
                ("width_mhz", json!(160)),
                ("signal_dbm", json!(-52)),
                ("signal_avg_dbm", json!(-51)),
                ("tx_bitrate_mbps", json!(2401.9)),
                ("tx_phy", json!("EHT")),
                ("tx_mcs", json!(11)),
                ("tx_nss", json!(2)),
                ("tx_gi_us", json!(0.8)),
                ("rx_bitrate_mbps", json!(1921.6)),
                ("retry_percent", json!(2)),
                ("tx_failed_percent", json!(0.01)),
                ("expected_throughput_mbps", json!(1800)),
                ("connected_time_s", json!(600)),
                ("beacon_loss_count", json!(0)),
                ("mlo_links", json!(2)),
                (
                    "mlo_links_detail",
                    json!(
                        "link 0 5180 MHz 160 MHz wide -52 dBm tx 2401.9 Mbit/s; \
                         link 1 6135 MHz 320 MHz wide -60 dBm tx 5764.7 Mbit/s"
                    ),
                ),
            ],
        },
        Case {
            name: "weak signal (-82 dBm) and 30 % retries",
            samples: &[&["interface-wifi5", "station-weak", "survey-noise-t0"]],
            status: CheckStatus::Fail,
            reason: Some("signal_dbm -82 ≤ -75 (fail); snr_db 13 ≤ 15 (fail); retry_percent 30 ≥ 25 (fail)"),
            metrics: vec![
                ("signal_dbm", json!(-82)),
                ("snr_db", json!(13)),
                ("retry_percent", json!(30)),
                ("tx_failed_percent", json!(2)),
                ("channel_busy_percent", json!(25)),
                ("tx_bitrate_mbps", json!(58.5)),
                ("tx_mcs", json!(1)),
                ("tx_nss", json!(1)),
                ("tx_gi_us", json!(0.8)),
                ("beacon_loss_count", json!(4)),
            ],
        },
        Case {
            name: "a drop between samples",
            samples: &[
                &["interface-wifi5", "station-wifi5-t0", "survey-noise-t0"],
                &["interface-disconnected", "empty-dump"],
                &["interface-wifi5", "station-wifi5-t1", "survey-noise-t1"],
            ],
            status: CheckStatus::Warn,
            reason: Some("1 disconnection(s) while sampling"),
            metrics: vec![("disconnections", json!(1)), ("signal_dbm", json!(-58))],
        },
        Case {
            name: "not associated",
            samples: &[&["interface-disconnected", "empty-dump"]],
            status: CheckStatus::Fail,
            reason: Some("not associated to any WiFi network"),
            metrics: vec![("interface", json!("wlp2s0")), ("signal_dbm", Value::Null)],
        },
        Case {
            name: "no WiFi interface",
            samples: &[&["empty-dump"]],
            status: CheckStatus::Skipped,
            reason: Some("no WiFi interface (a wired connection)"),
            metrics: vec![],
        },
    ]
}

#[test]
fn wifi_fixture_table() {
    let thresholds = WifiThresholds::default();
    for case in cases() {
        let samples = sampled(case.samples);
        let e = evaluate_wifi(&samples, &thresholds);
        assert_eq!(e.status, case.status, "{}: {:?}", case.name, e.reason);
        assert_eq!(e.reason.as_deref(), case.reason, "{}", case.name);
        for (name, expected) in &case.metrics {
            let metric = e
                .metrics
                .iter()
                .find(|m| m.name == *name)
                .unwrap_or_else(|| panic!("{}: no metric {name}", case.name));
            let got = serde_json::to_value(&metric.value).expect("serializes");
            assert_eq!(&got, expected, "{}: {name}", case.name);
        }
    }
}

/// SSID, frequency, security, width of a scan result.
type Seen<'a> = (Option<&'a str>, Option<u32>, Option<&'static str>, Option<u32>);

#[test]
fn wifi_scan_fixture_classifies_security_and_channels() {
    let capture = nl80211::parse_capture(&fixture("scan-neighbours")).expect("parses");
    let seen: Vec<Seen<'_>> = capture
        .bss
        .iter()
        .map(|b| {
            (
                b.ssid.as_deref(),
                b.frequency_mhz,
                b.security.map(|s| match s {
                    sonde_agent::checks::wifi::Security::Open => "open",
                    sonde_agent::checks::wifi::Security::Wep => "wep",
                    sonde_agent::checks::wifi::Security::Wpa => "wpa",
                    sonde_agent::checks::wifi::Security::Wpa2 => "wpa2",
                    sonde_agent::checks::wifi::Security::Wpa3 => "wpa3",
                }),
                b.width_mhz,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (Some("Livebox-1234"), Some(5180), Some("wpa2"), Some(80)),
            (Some("Voisin-5G"), Some(5180), Some("wpa3"), Some(80)),
            (Some("FreeWifi"), Some(5220), Some("open"), Some(20)),
            (Some("Bbox-XYZ"), Some(5500), Some("wpa2"), Some(80)),
            (Some("OldRouter"), Some(2437), Some("wep"), None),
            (Some("Legacy-WPA"), Some(2412), Some("wpa"), None),
        ]
    );
    assert_eq!(capture.bss[0].status, Some(1), "the associated BSS is marked");
}

#[test]
fn wifi_snapshot_can_carry_nl80211_dumps() {
    let hex = |name: &str| std::fs::read_to_string(fixture_dir().join(format!("{name}.hex"))).expect("fixture");
    let text = format!(
        "[nl80211]\ninterface = '''\n{}'''\nstation = '''\n{}'''\nsurvey = '''\n{}'''\n",
        hex("interface-wifi5"),
        hex("station-weak"),
        hex("survey-noise-t0")
    );
    let sample = parse_snapshot(&text).expect("parses").expect("a WiFi interface");
    let direct = sampled(&[&["interface-wifi5", "station-weak", "survey-noise-t0"]]);
    assert_eq!(Some(&sample), direct.samples.first());
    assert!(
        parse_snapshot("ssid = \"x\"\n[nl80211]\nstation = \"00\"\n")
            .expect_err("mixed")
            .contains("ssid")
    );
    assert!(parse_snapshot("[nl80211]\nstation = \"0\"\n").is_err(), "odd hex");
    // The plain format still loads.
    let plain = parse_snapshot("connected = true\nsignal-dbm = -82\nretry-percent = 30\n")
        .expect("parses")
        .expect("a sample");
    assert_eq!(plain.signal_dbm, Some(-82.0));
}

#[test]
fn wifi_kernel_errors_are_errors_with_a_reason() {
    // NLMSG_ERROR with -EPERM in answer to a dump.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&36u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&[0; 10]);
    bytes.extend_from_slice(&(-1i32).to_le_bytes());
    bytes.extend_from_slice(&[0; 16]);
    let e = nl80211::parse_capture(&bytes).expect_err("kernel error");
    assert_eq!(e, ParseError::Kernel { errno: 1 });
    assert!(e.to_string().contains("errno 1"), "{e}");
    // A station dump cut in the middle.
    let station = fixture("station-wifi5-t0");
    let e = nl80211::parse_capture(&station[..100]).expect_err("truncated");
    assert!(e.to_string().contains("truncated"), "{e}");
    // A signal attribute of the wrong size.
    let mut bad = station.clone();
    let at = find_attr(&bad, 7, 1).expect("a signal attribute");
    bad[at] = 6; // nla_len 6: two bytes for an s8
    assert!(nl80211::parse_capture(&bad).is_err());
}

/// The offset of the first attribute header with this type and payload length.
fn find_attr(bytes: &[u8], kind: u16, payload: u16) -> Option<usize> {
    let len = (4 + payload).to_le_bytes();
    let kind = kind.to_le_bytes();
    (0..bytes.len().saturating_sub(4))
        .step_by(4)
        .find(|&i| bytes[i..i + 2] == len && bytes[i + 2..i + 4] == kind)
}

#[tokio::test]
async fn wifi_kernel_source_reads_nl80211_or_falls_back() {
    // This host may have a radio, nl80211 without one, or no nl80211 at all (then
    // /proc/net/wireless); in no case may the check fail to measure as root.
    let options = WifiOptions {
        samples: 1,
        ..WifiOptions::default()
    };
    match measure_wifi(&options, &sonde_agent::checks::NoProgress).await {
        Ok(samples) => {
            assert!(
                samples.source == "nl80211" || samples.source.starts_with("/proc/net/wireless"),
                "{}",
                samples.source
            );
            eprintln!(
                "kernel WiFi source: {} ({} samples)",
                samples.source,
                samples.samples.len()
            );
        }
        Err(e) => panic!("the kernel source could not measure: {e}"),
    }
}

/// splitmix64: small, deterministic, good enough to drive mutations (and the crash tests' kills).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// One mutation of `input`: bit flips, random bytes, truncation, length-field corruption,
/// splices of another seed, duplication, or fresh random bytes.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    match rng.below(8) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = rng.next() as u8;
        }
        2 => {
            let keep = rng.below(input.len() + 1);
            input.truncate(keep);
        }
        3 if input.len() >= 4 => {
            // A netlink or attribute length field: every header starts 4-byte aligned.
            let i = rng.below(input.len() / 4) * 4;
            let value: u16 = match rng.below(4) {
                0 => 0,
                1 => rng.below(8) as u16,
                2 => u16::MAX,
                _ => rng.next() as u16,
            };
            input[i..i + 2].copy_from_slice(&value.to_le_bytes());
        }
        4 => {
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len());
            let to = from + rng.below(other.len() - from + 1);
            let at = rng.below(input.len() + 1);
            input.splice(at..at, other[from..to].iter().copied());
        }
        5 if !input.is_empty() => {
            let from = rng.below(input.len());
            let to = (from + rng.below(64)).min(input.len());
            let chunk = input[from..to].to_vec();
            input.splice(from..from, chunk);
        }
        6 => {
            let len = rng.below(512);
            *input = (0..len).map(|_| rng.next() as u8).collect();
        }
        _ => {
            // Nest flags and type bits on a random aligned header.
            if input.len() >= 4 {
                let i = rng.below(input.len() / 4) * 4 + 3;
                input[i] ^= 0xc0;
            }
        }
    }
}

#[test]
fn wifi_parsers_survive_fuzzing() {
    let secs: u64 = std::env::var("SONDE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("SONDE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_50de);
    let seeds: Vec<Vec<u8>> = fixtures::all().into_iter().map(|f| f.bytes).collect();
    let thresholds = WifiThresholds::default();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut parsed, mut with_sample) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                mutate(&mut rng, &mut input, &seeds);
            }
            runs += 1;
            let outcome = std::panic::catch_unwind(|| {
                let _ = nl80211::messages(&input);
                let _ = nl80211::dump_end(&input);
                let _ = nl80211::parse_family_id(&input);
                let text = String::from_utf8_lossy(&input);
                let _ = parse_proc_wireless(&text);
                let _ = decode_hex(&text);
                match nl80211::parse_capture(&input) {
                    Ok(capture) => match nl80211::station_sample(&capture) {
                        Some(sample) => {
                            let samples = WifiSamples {
                                source: "fuzz".into(),
                                samples: vec![sample.clone(), sample],
                            };
                            let _ = evaluate_wifi(&samples, &thresholds);
                            (true, true)
                        }
                        None => (true, false),
                    },
                    Err(_) => (false, false),
                }
            });
            match outcome {
                Ok((p, s)) => {
                    parsed += u64::from(p);
                    with_sample += u64::from(s);
                }
                Err(_) => {
                    let hex: Vec<String> = input.iter().map(|b| format!("{b:02x}")).collect();
                    panic!("a parser panicked (seed {seed}, run {runs}) on:\n{}", hex.join(" "));
                }
            }
        }
    }
    eprintln!(
        "fuzzed the WiFi parsers for {secs} s (seed {seed}): {runs} inputs, {parsed} parsed, \
         {with_sample} gave a station sample, no panic"
    );
}

#[test]
fn wifi_tables_of_the_netsim_scenarios_are_valid_snapshots() {
    // sonde-netsim writes a scenario's [wifi] table as the snapshot file; each must load and
    // judge as its scenario expects.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let expected = [
        ("wifi-weak", CheckStatus::Fail),
        ("wifi-congested", CheckStatus::Fail),
        ("wifi-open", CheckStatus::Warn),
        ("healthy-wifi", CheckStatus::Pass),
    ];
    for (name, status) in expected {
        let text = std::fs::read_to_string(dir.join(format!("{name}.toml"))).expect("scenario");
        let scenario: toml::Table = toml::from_str(&text).expect("TOML");
        let wifi = scenario.get("wifi").and_then(toml::Value::as_table).expect("[wifi]");
        let snapshot = toml::to_string(wifi).expect("serializes");
        let sample = parse_snapshot(&snapshot)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .expect("a sample");
        let samples = WifiSamples {
            source: name.into(),
            samples: vec![sample.clone(), sample],
        };
        let e = evaluate_wifi(&samples, &WifiThresholds::default());
        assert_eq!(e.status, status, "{name}: {:?}", e.reason);
        if name == "wifi-weak" {
            let reason = e.reason.unwrap_or_default();
            assert!(reason.starts_with("signal_dbm -82"), "{reason}");
        }
        if name == "wifi-congested" {
            let same = e.metrics.iter().find(|m| m.name == "neighbours_same_channel");
            assert_eq!(same.and_then(|m| m.value.as_f64()), Some(2.0));
            let overlapping = e.metrics.iter().find(|m| m.name == "neighbours_overlapping");
            assert_eq!(overlapping.and_then(|m| m.value.as_f64()), Some(1.0));
        }
    }
}
