//! `system`: the health of the host the agent runs on — on a box, the box itself. CPU load,
//! memory pressure, temperatures, uptime (a box that restarted three minutes ago explains a
//! drop) and per-interface error and drop counters.
//!
//! Load, memory, temperatures and uptime come from sysinfo; the interface counters from
//! `/proc/net/dev`, which is per network namespace (the device's own interfaces in a netsim
//! network; the rest is the whole host's, since namespaces share a kernel).
//!
//! Metrics: `cpus`, `load_1m`, `load_per_cpu` (judged), `memory_available_percent` (judged),
//! `temperature_max_c` (judged) and `temperature_sensor`, `uptime_s` (judged: just rebooted),
//! `interface_error_percent` (judged: the worst interface's errors per packet),
//! `interface_errors` (text, per interface with any error or drop), `interface_drops`.
//! A sensor the host has none of reads [`NOT_REPORTED`].
//!
//! Status: the worst judged metric.

use serde::{Deserialize, Serialize};
use sonde_protocol::{Direction, Metric, MetricValue, Threshold};

use super::past_limit;
use super::{Evaluation, MeasureError};

/// The value of a metric that this host has no sensor for.
pub const NOT_REPORTED: &str = "not reported by this system";

/// Thresholds for the box's health (docs/checks.md gives the reasoning for each).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SystemThresholds {
    /// 1-minute load average per CPU at or above which the check warns.
    pub load_per_cpu_warn: f64,
    /// 1-minute load average per CPU at or above which the check fails.
    pub load_per_cpu_fail: f64,
    /// Available memory (percent of total) at or below which the check warns.
    pub memory_available_warn_percent: f64,
    /// Available memory (percent of total) at or below which the check fails.
    pub memory_available_fail_percent: f64,
    /// Hottest sensor (°C) at or above which the check warns.
    pub temperature_warn_c: f64,
    /// Hottest sensor (°C) at or above which the check fails.
    pub temperature_fail_c: f64,
    /// An uptime at or below this (s) means the host just restarted.
    pub rebooted_within_s: f64,
    /// Interface errors per packet (percent) at or above which the check warns.
    pub interface_error_warn_percent: f64,
    /// Interface errors per packet (percent) at or above which the check fails.
    pub interface_error_fail_percent: f64,
}

impl Default for SystemThresholds {
    fn default() -> Self {
        Self {
            load_per_cpu_warn: 2.0,
            load_per_cpu_fail: 4.0,
            memory_available_warn_percent: 10.0,
            memory_available_fail_percent: 5.0,
            temperature_warn_c: 80.0,
            temperature_fail_c: 90.0,
            rebooted_within_s: 600.0,
            interface_error_warn_percent: 0.1,
            interface_error_fail_percent: 1.0,
        }
    }
}

/// What the system check read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemSamples {
    /// Logical CPUs.
    pub cpus: usize,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: Option<[f64; 3]>,
    /// Total memory, bytes.
    pub memory_total_bytes: Option<u64>,
    /// Memory available to new work without swapping, bytes.
    pub memory_available_bytes: Option<u64>,
    /// Seconds since boot.
    pub uptime_s: Option<u64>,
    /// Temperature sensors.
    pub temperatures: Vec<Temperature>,
    /// Interface counters (loopback left out).
    pub interfaces: Vec<InterfaceCounters>,
}

/// One temperature sensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    /// The sensor's label.
    pub label: String,
    /// Its reading, °C.
    pub celsius: f64,
}

/// One interface's counters since it came up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceCounters {
    /// The interface.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_drops: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped on transmit.
    pub tx_drops: u64,
}

/// Where the host's health comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SystemSource {
    /// The kernel, through sysinfo (load, memory, uptime, temperatures).
    #[default]
    Kernel,
    /// A snapshot file (TOML): what sonde-netsim writes for the simulated box, since its
    /// namespaces share the host's kernel. Keys: `cpus`, `load` (`[1m, 5m, 15m]`),
    /// `memory-total-bytes`, `memory-available-bytes`, `uptime-s`, `temperatures`
    /// (`[{ label, celsius }]`); a key left out is not reported. Interface counters are still
    /// read from `/proc/net/dev` (per network namespace, so the simulated device's own).
    File(std::path::PathBuf),
}

/// A system snapshot file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct Snapshot {
    cpus: Option<usize>,
    load: Option<[f64; 3]>,
    memory_total_bytes: Option<u64>,
    memory_available_bytes: Option<u64>,
    uptime_s: Option<u64>,
    temperatures: Vec<Temperature>,
}

/// Reads the host's health. Never fails as a whole: what cannot be read is absent. A snapshot
/// that cannot be read or parsed is an error: the simulation is broken, not the box.
pub async fn measure_system(source: &SystemSource) -> Result<SystemSamples, MeasureError> {
    match source {
        SystemSource::Kernel => tokio::task::spawn_blocking(read_system)
            .await
            .map_err(|e| MeasureError::Unsupported(format!("reading the system's health: {e}"))),
        SystemSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| MeasureError::Io {
                context: format!("reading the system snapshot {}", path.display()),
                source,
            })?;
            let snapshot: Snapshot = toml::from_str(&text)
                .map_err(|e| MeasureError::Unsupported(format!("system snapshot {}: {e}", path.display())))?;
            Ok(SystemSamples {
                cpus: snapshot.cpus.unwrap_or(1).max(1),
                load: snapshot.load,
                memory_total_bytes: snapshot.memory_total_bytes.filter(|t| *t > 0),
                memory_available_bytes: snapshot.memory_available_bytes,
                uptime_s: snapshot.uptime_s,
                temperatures: snapshot.temperatures,
                interfaces: std::fs::read_to_string("/proc/net/dev")
                    .map(|text| parse_proc_net_dev(&text))
                    .unwrap_or_default(),
            })
        }
    }
}

fn read_system() -> SystemSamples {
    let mut memory = None;
    if let Ok(mut system) = sysinfo::System::new() {
        system.refresh_memory();
        memory = Some((system.total_memory(), system.available_memory()));
    }
    let temperatures = sysinfo::Components::new_with_refreshed_list()
        .map(|components| {
            components
                .iter()
                .filter_map(|c| {
                    Some(Temperature {
                        label: c.label().to_owned(),
                        celsius: f64::from(c.temperature()?),
                    })
                })
                .filter(|t| t.celsius.is_finite())
                .collect()
        })
        .unwrap_or_default();
    let interfaces = std::fs::read_to_string("/proc/net/dev")
        .map(|text| parse_proc_net_dev(&text))
        .unwrap_or_default();
    SystemSamples {
        cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        load: sysinfo::System::load_average().ok().map(|l| [l.one, l.five, l.fifteen]),
        memory_total_bytes: memory.map(|(total, _)| total).filter(|t| *t > 0),
        memory_available_bytes: memory.map(|(_, available)| available),
        uptime_s: sysinfo::System::uptime().ok(),
        temperatures,
        interfaces,
    }
}

/// Parses `/proc/net/dev`: two header lines, then per interface
/// `eth0: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed multicast tx_bytes
/// tx_packets tx_errs tx_drop …`. Loopback and unreadable lines are left out.
pub fn parse_proc_net_dev(text: &str) -> Vec<InterfaceCounters> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" || name.is_empty() {
                return None;
            }
            let n: Vec<u64> = rest.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
            if n.len() < 12 {
                return None;
            }
            Some(InterfaceCounters {
                name: name.to_owned(),
                rx_packets: n[1],
                rx_errors: n[2],
                rx_drops: n[3],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_drops: n[11],
            })
        })
        .collect()
}

/// Judges the host's health.
pub fn evaluate_system(s: &SystemSamples, t: &SystemThresholds) -> Evaluation {
    let cpus = s.cpus.max(1);
    let load_1m = s.load.map(|l| l[0]);
    let load = Metric::judged(
        "load_per_cpu",
        load_1m.map(|l| round2(l / cpus as f64)),
        Threshold::above(t.load_per_cpu_warn, t.load_per_cpu_fail),
    );
    let memory_percent = s
        .memory_total_bytes
        .zip(s.memory_available_bytes)
        .map(|(total, available)| round2(100.0 * available as f64 / total as f64));
    let memory = Metric::judged(
        "memory_available_percent",
        memory_percent,
        Threshold::below(t.memory_available_warn_percent, t.memory_available_fail_percent),
    );
    let hottest = s.temperatures.iter().max_by(|a, b| a.celsius.total_cmp(&b.celsius));
    let (temperature, sensor) = match hottest {
        Some(h) => (
            Metric::judged(
                "temperature_max_c",
                Some(h.celsius),
                Threshold::above(t.temperature_warn_c, t.temperature_fail_c),
            ),
            Metric::new("temperature_sensor", h.label.as_str()),
        ),
        None => (
            Metric::new("temperature_max_c", NOT_REPORTED),
            Metric::new("temperature_sensor", NOT_REPORTED),
        ),
    };
    let uptime = Metric::judged(
        "uptime_s",
        s.uptime_s.map(|u| u as f64),
        rebooted_within(t.rebooted_within_s),
    );
    let error_percent = s
        .interfaces
        .iter()
        .filter_map(|i| {
            let packets = i.rx_packets.saturating_add(i.tx_packets);
            (packets > 0).then(|| 100.0 * i.rx_errors.saturating_add(i.tx_errors) as f64 / packets as f64)
        })
        .max_by(f64::total_cmp);
    let errors = Metric::judged(
        "interface_error_percent",
        error_percent.map(round2),
        Threshold::above(t.interface_error_warn_percent, t.interface_error_fail_percent),
    );
    let troubled: Vec<String> = s
        .interfaces
        .iter()
        .filter(|i| i.rx_errors + i.tx_errors + i.rx_drops + i.tx_drops > 0)
        .map(|i| {
            format!(
                "{}: rx {} errors {} drops, tx {} errors {} drops",
                i.name, i.rx_errors, i.rx_drops, i.tx_errors, i.tx_drops
            )
        })
        .collect();
    let drops: u64 = s.interfaces.iter().map(|i| i.rx_drops.saturating_add(i.tx_drops)).sum();

    let judged = [&load, &memory, &temperature, &uptime, &errors];
    let status = super::worst(judged.iter().filter_map(|m| m.status));
    let notes: Vec<String> = judged.iter().filter_map(|m| past_limit(m)).collect();
    Evaluation {
        status,
        reason: (!notes.is_empty()).then(|| notes.join("; ")),
        metrics: vec![
            Metric::new("cpus", s.cpus),
            Metric::new("load_1m", load_1m),
            load,
            memory,
            temperature,
            sensor,
            uptime,
            errors,
            Metric::new(
                "interface_errors",
                if troubled.is_empty() {
                    MetricValue::Text("none".to_owned())
                } else {
                    MetricValue::Text(troubled.join("; "))
                },
            ),
            Metric::new("interface_drops", drops),
        ],
    }
}

/// The threshold of an uptime: at or below `seconds`, the host (or modem) just restarted. A
/// warning only — a restart explains a cut, it is not one.
pub fn rebooted_within(seconds: f64) -> Threshold {
    Threshold {
        warn: Some(seconds),
        fail: None,
        direction: Direction::LowerIsWorse,
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::CheckStatus;

    fn healthy() -> SystemSamples {
        SystemSamples {
            cpus: 2,
            load: Some([0.5, 0.4, 0.3]),
            memory_total_bytes: Some(1000),
            memory_available_bytes: Some(600),
            uptime_s: Some(86_400),
            temperatures: vec![Temperature {
                label: "cpu_thermal".into(),
                celsius: 55.0,
            }],
            interfaces: vec![InterfaceCounters {
                name: "eth0".into(),
                rx_packets: 10_000,
                tx_packets: 10_000,
                ..InterfaceCounters::default()
            }],
        }
    }

    #[test]
    fn evaluation_by_table() {
        use CheckStatus::{Fail, Pass, Warn};
        let cases: Vec<(&str, SystemSamples, CheckStatus, &str)> = vec![
            ("healthy", healthy(), Pass, ""),
            (
                "busy CPU",
                SystemSamples {
                    load: Some([5.0, 4.0, 3.0]),
                    ..healthy()
                },
                Warn,
                "load_per_cpu 2.50 ≥ 2 (warn)",
            ),
            (
                "overloaded CPU",
                SystemSamples {
                    load: Some([9.0, 4.0, 3.0]),
                    ..healthy()
                },
                Fail,
                "load_per_cpu 4.5",
            ),
            (
                "memory pressure",
                SystemSamples {
                    memory_available_bytes: Some(40),
                    ..healthy()
                },
                Fail,
                "memory_available_percent 4 ≤ 5 (fail)",
            ),
            (
                "hot",
                SystemSamples {
                    temperatures: vec![
                        Temperature {
                            label: "a".into(),
                            celsius: 50.0,
                        },
                        Temperature {
                            label: "soc".into(),
                            celsius: 92.0,
                        },
                    ],
                    ..healthy()
                },
                Fail,
                "temperature_max_c 92",
            ),
            (
                "just rebooted",
                SystemSamples {
                    uptime_s: Some(180),
                    ..healthy()
                },
                Warn,
                "uptime_s 180 ≤ 600 (warn)",
            ),
            (
                "interface errors",
                SystemSamples {
                    interfaces: vec![InterfaceCounters {
                        name: "eth0".into(),
                        rx_packets: 1000,
                        rx_errors: 30,
                        ..InterfaceCounters::default()
                    }],
                    ..healthy()
                },
                Fail,
                "interface_error_percent 3",
            ),
            (
                "no sensors is not a problem",
                SystemSamples {
                    temperatures: Vec::new(),
                    ..healthy()
                },
                Pass,
                "",
            ),
            ("nothing readable", SystemSamples::default(), Pass, ""),
        ];
        let t = SystemThresholds::default();
        for (name, samples, status, reason) in cases {
            let e = evaluate_system(&samples, &t);
            assert_eq!(e.status, status, "{name}: {:?}", e.reason);
            let got = e.reason.unwrap_or_default();
            assert!(got.contains(reason), "{name}: {got:?} lacks {reason:?}");
        }
    }

    #[test]
    fn missing_sensors_are_said_not_reported() {
        let e = evaluate_system(
            &SystemSamples {
                temperatures: Vec::new(),
                ..healthy()
            },
            &SystemThresholds::default(),
        );
        let m = e
            .metrics
            .iter()
            .find(|m| m.name == "temperature_max_c")
            .expect("metric");
        assert_eq!(m.value, MetricValue::Text(NOT_REPORTED.to_owned()));
        assert_eq!(m.status, None);
    }

    #[test]
    fn proc_net_dev_parses_and_survives_garbage() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    \
                    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n  \
                    eth0: 5000 40 3 7 0 0 0 0 6000 50 1 2 0 0 0 0\n";
        assert_eq!(
            parse_proc_net_dev(text),
            [InterfaceCounters {
                name: "eth0".into(),
                rx_packets: 40,
                rx_errors: 3,
                rx_drops: 7,
                tx_packets: 50,
                tx_errors: 1,
                tx_drops: 2,
            }]
        );
        for garbage in ["", "h\nh\n", "h\nh\neth0:", "h\nh\neth0: 1 2 x", "h\nh\n:::\n", "\u{0}"] {
            assert!(parse_proc_net_dev(garbage).is_empty(), "{garbage:?}");
        }
    }

    /// Reads this machine for real: the values are whatever they are, but they are read and
    /// judged without error.
    #[tokio::test]
    async fn measure_system_reads_this_machine() {
        let samples = measure_system(&SystemSource::Kernel).await.expect("measures");
        assert!(samples.cpus >= 1);
        assert!(samples.uptime_s.is_some_and(|u| u > 0), "{samples:?}");
        assert!(samples.memory_total_bytes.is_some_and(|m| m > 0), "{samples:?}");
        let e = evaluate_system(&samples, &SystemThresholds::default());
        assert!(
            matches!(e.status, CheckStatus::Pass | CheckStatus::Warn | CheckStatus::Fail),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_snapshot_stands_in_for_the_host() {
        let dir = std::env::temp_dir().join(format!("sonde-system-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("system.toml");
        std::fs::write(
            &path,
            "cpus = 2\nload = [0.5, 0.4, 0.3]\nuptime-s = 120\ntemperatures = [{ label = \"soc\", celsius = 96.5 }]\n",
        )
        .expect("write");
        let samples = measure_system(&SystemSource::File(path.clone()))
            .await
            .expect("measures");
        assert_eq!(
            (samples.cpus, samples.load, samples.uptime_s),
            (2, Some([0.5, 0.4, 0.3]), Some(120))
        );
        assert_eq!(samples.memory_total_bytes, None, "left out: not reported");
        let evaluation = evaluate_system(&samples, &SystemThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
        std::fs::write(&path, "load-average = 1\n").expect("write");
        let err = measure_system(&SystemSource::File(path))
            .await
            .expect_err("unknown key");
        assert!(err.to_string().contains("load-average"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
