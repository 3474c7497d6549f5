//! `mobile`: the mobile radio, read from the modem (a 4G/5G router) over Modbus TCP —
//! registration, operator, radio technology, RSSI/RSRP/RSRQ/SINR, temperature, uptime and
//! data counters — where its [register map](map) puts them.
//!
//! Metrics: `modem`, `map`, `registration` (judged: `fail` when searching, denied or not
//! registered), `operator`, `rat` (`2g`…`5g`), `rssi_dbm` (judged on 2G/3G, and on 4G/5G when
//! the modem gives no RSRP), `rsrp_dbm`, `rsrq_db`, `sinr_db` (judged on 4G/5G),
//! `temperature_c` (judged), `uptime_s` (judged: a modem that just restarted explains a drop),
//! `active_sim`, `rx_bytes_today`, `tx_bytes_today`. A value the map does not carry is the text
//! [`NOT_REPORTED`]; one the map carries but the modem left unset (RSSI 0) is `null`.
//!
//! Status: `skipped` when no modem is configured; `error` when the modem could not be read
//! (not reachable, silent, a Modbus exception, garbage or impossible values) with the reason;
//! otherwise the worst judged metric.
//!
//! Remediation: [`actions`] lists what the map supports, [`perform`] does one.

pub mod map;
mod modbus;

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, MetricValue, Threshold};

pub use self::map::{MapName, ModemAction, RegisterMap, WordOrder};
use self::map::{Quantity, Raw};
pub use self::modbus::ModemError;
use super::{Evaluation, MeasureError, past_limit};

/// The value of a metric that the modem's register map does not carry.
pub const NOT_REPORTED: &str = "not reported by this modem";

/// Where the modem is and how to read it.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileOptions {
    /// The modem's Modbus TCP address; `None`: no modem, the check is skipped.
    pub modem: Option<SocketAddr>,
    /// Its register map, with the address offset and word order in force.
    pub map: RegisterMap,
    /// The Modbus unit (device) id.
    pub unit_id: u8,
    /// How long to wait for the connection and for each answer.
    pub timeout: Duration,
}

impl Default for MobileOptions {
    fn default() -> Self {
        Self {
            modem: None,
            map: RegisterMap::teltonika_rutos(),
            unit_id: 1,
            timeout: Duration::from_millis(2000),
        }
    }
}

/// Thresholds for the mobile radio. Signal categories as operators and router vendors publish
/// them (Teltonika's "Mobile signal strength recommendations"; docs/checks.md cites each),
/// inside the 3GPP reporting ranges (TS 27.007 `+CSQ`, TS 36.133 / 38.133).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MobileThresholds {
    /// RSSI (dBm) at or below which the check warns ("fair": −85).
    pub rssi_warn_dbm: f64,
    /// RSSI (dBm) at or below which the check fails ("poor": −100).
    pub rssi_fail_dbm: f64,
    /// RSRP (dBm) at or below which the check warns ("poor": −100).
    pub rsrp_warn_dbm: f64,
    /// RSRP (dBm) at or below which the check fails (cell edge, −110).
    pub rsrp_fail_dbm: f64,
    /// RSRQ (dB) at or below which the check warns (−15).
    pub rsrq_warn_db: f64,
    /// RSRQ (dB) at or below which the check fails (−20).
    pub rsrq_fail_db: f64,
    /// SINR (dB) at or below which the check warns (0).
    pub sinr_warn_db: f64,
    /// SINR (dB) at or below which the check fails (−5).
    pub sinr_fail_db: f64,
    /// Modem temperature (°C) at or above which the check warns.
    pub temperature_warn_c: f64,
    /// Modem temperature (°C) at or above which the check fails.
    pub temperature_fail_c: f64,
    /// An uptime at or below this (s) means the modem just restarted.
    pub rebooted_within_s: f64,
}

impl Default for MobileThresholds {
    fn default() -> Self {
        Self {
            rssi_warn_dbm: -85.0,
            rssi_fail_dbm: -100.0,
            rsrp_warn_dbm: -100.0,
            rsrp_fail_dbm: -110.0,
            rsrq_warn_db: -15.0,
            rsrq_fail_db: -20.0,
            sinr_warn_db: 0.0,
            sinr_fail_db: -5.0,
            temperature_warn_c: 75.0,
            temperature_fail_c: 85.0,
            rebooted_within_s: 600.0,
        }
    }
}

/// Network registration (3GPP TS 27.007 `+CREG`/`+CEREG` `<stat>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Registration {
    /// Registered on the home network.
    Home,
    /// Registered on a visited network.
    Roaming,
    /// Not registered, searching for an operator: no service.
    Searching,
    /// Registration denied: no service.
    Denied,
    /// Not registered and not searching: no service.
    NotRegistered,
    /// The modem does not know.
    Unknown,
}

impl Registration {
    /// The name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Roaming => "roaming",
            Self::Searching => "searching",
            Self::Denied => "denied",
            Self::NotRegistered => "not-registered",
            Self::Unknown => "unknown",
        }
    }

    /// Registered (home or roaming): the modem has service.
    pub fn has_service(self) -> bool {
        matches!(self, Self::Home | Self::Roaming)
    }
}

/// Radio access technology, by generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rat {
    /// GSM/GPRS/EDGE.
    #[serde(rename = "2g")]
    G2,
    /// UMTS/HSPA.
    #[serde(rename = "3g")]
    G3,
    /// LTE.
    #[serde(rename = "4g")]
    G4,
    /// NR.
    #[serde(rename = "5g")]
    G5,
}

impl Rat {
    /// The name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::G2 => "2g",
            Self::G3 => "3g",
            Self::G4 => "4g",
            Self::G5 => "5g",
        }
    }
}

/// What the modem reported, decoded and found plausible.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MobileSamples {
    /// The modem's address.
    pub modem: String,
    /// The register map read.
    pub map: MapName,
    /// Metrics whose value the map does not carry at all.
    #[serde(default)]
    pub not_reported: Vec<String>,
    /// Network registration.
    pub registration: Option<Registration>,
    /// Radio technology; `None` when the modem names none (no service) or one unknown here.
    pub rat: Option<Rat>,
    /// The radio technology as the modem wrote it, when it did in text.
    pub rat_text: Option<String>,
    /// Operator name.
    pub operator: Option<String>,
    /// RSSI, dBm.
    pub rssi_dbm: Option<f64>,
    /// RSRP, dBm.
    pub rsrp_dbm: Option<f64>,
    /// RSRQ, dB.
    pub rsrq_db: Option<f64>,
    /// SINR, dB.
    pub sinr_db: Option<f64>,
    /// Modem temperature, °C.
    pub temperature_c: Option<f64>,
    /// Seconds since the modem started.
    pub uptime_s: Option<u64>,
    /// Active SIM slot.
    pub active_sim: Option<u8>,
    /// Mobile data received today on the active SIM, bytes.
    pub rx_bytes: Option<u64>,
    /// Mobile data sent today on the active SIM, bytes.
    pub tx_bytes: Option<u64>,
}

/// The actions `map` supports (what the mobile flow may offer).
pub fn actions(map: &RegisterMap) -> Vec<ModemAction> {
    map.actions()
}

/// Performs `action` on the modem: the map's writes, in order. `Err` when the map has no such
/// action or the modem refused or did not answer.
pub async fn perform(options: &MobileOptions, action: ModemAction) -> Result<(), ModemError> {
    let addr = options.modem.ok_or(ModemError::NotConfigured)?;
    let writes = options
        .map
        .writes(action)
        .ok_or(ModemError::Unsupported { addr, action })?;
    let mut session = modbus::Session::connect(addr, options.unit_id, options.timeout).await?;
    for write in writes {
        session.write(write).await?;
    }
    session.close().await;
    Ok(())
}

/// Reads the modem. `Err` (status `error`) when it cannot be read or answers garbage.
pub async fn measure_mobile(options: &MobileOptions) -> Result<MobileSamples, MeasureError> {
    let addr = options.modem.ok_or(ModemError::NotConfigured)?;
    let map = &options.map;
    let mut session = modbus::Session::connect(addr, options.unit_id, options.timeout).await?;
    let mut values = Vec::new();
    for block in map.blocks() {
        let words = session.read(block.start, block.count).await?;
        let mut at = 0usize;
        for field in block.fields {
            let n = usize::from(field.encoding.words());
            let raw = words
                .get(at..at + n)
                .and_then(|w| map.decode(field, w))
                .ok_or_else(|| ModemError::Garbage {
                    addr,
                    what: format!("register {}", map.wire_address(field)),
                    detail: "too few registers".to_owned(),
                })?;
            values.push((*field, map.wire_address(field), raw));
            at += n;
        }
    }
    session.close().await;
    interpret(addr, map, &values).map_err(MeasureError::from)
}

/// Turns decoded fields into samples, refusing impossible values: a modem that answers them
/// is answering garbage.
pub fn interpret(
    addr: SocketAddr,
    map: &RegisterMap,
    values: &[(map::Field, u16, Raw)],
) -> Result<MobileSamples, ModemError> {
    let mut s = MobileSamples {
        modem: addr.to_string(),
        map: map.name(),
        not_reported: Vec::new(),
        registration: None,
        rat: None,
        rat_text: None,
        operator: None,
        rssi_dbm: None,
        rsrp_dbm: None,
        rsrq_db: None,
        sinr_db: None,
        temperature_c: None,
        uptime_s: None,
        active_sim: None,
        rx_bytes: None,
        tx_bytes: None,
    };
    for (quantity, metric) in [
        (Quantity::Registration, "registration"),
        (Quantity::Operator, "operator"),
        (Quantity::Rat, "rat"),
        (Quantity::RssiDbm, "rssi_dbm"),
        (Quantity::RsrpDbm, "rsrp_dbm"),
        (Quantity::RsrqDb, "rsrq_db"),
        (Quantity::SinrDb, "sinr_db"),
        (Quantity::TemperatureC, "temperature_c"),
        (Quantity::UptimeS, "uptime_s"),
        (Quantity::ActiveSim, "active_sim"),
        (Quantity::RxBytes(None), "rx_bytes_today"),
        (Quantity::TxBytes(None), "tx_bytes_today"),
    ] {
        if !map.carries(quantity) {
            s.not_reported.push(metric.to_owned());
        }
    }
    let mut per_sim: Vec<(Quantity, u64)> = Vec::new();
    for (field, register, raw) in values {
        let garbage = |detail: String| ModemError::Garbage {
            addr,
            what: format!("register {register}"),
            detail,
        };
        match (field.quantity, raw) {
            (quantity, Raw::Text(bytes)) => {
                let text = ascii(bytes).ok_or_else(|| garbage(format!("non-text bytes {bytes:02X?}")))?;
                match quantity {
                    Quantity::Operator => s.operator = Some(text),
                    Quantity::Registration => {
                        s.registration = Some(
                            registration_from_text(&text)
                                .ok_or_else(|| garbage(format!("registration \"{text}\" is no known state")))?,
                        );
                    }
                    Quantity::Rat => {
                        s.rat = rat_from_text(&text);
                        s.rat_text = Some(text);
                    }
                    other => return Err(garbage(format!("text where a number ({other:?}) was expected"))),
                }
            }
            (quantity, Raw::Int(n)) => {
                let n = *n;
                let scaled = n as f64 * field.scale;
                let ranged = |lo: f64, hi: f64, what: &str| {
                    if (lo..=hi).contains(&scaled) {
                        Ok(Some(scaled))
                    } else {
                        Err(garbage(format!("{what} {scaled} is outside {lo}..={hi}")))
                    }
                };
                match quantity {
                    Quantity::Registration => {
                        s.registration = Some(
                            registration_from_code(n)
                                .ok_or_else(|| garbage(format!("registration code {n} is no 3GPP state")))?,
                        );
                    }
                    Quantity::Rat => {
                        s.rat = match n {
                            0 => None,
                            2 => Some(Rat::G2),
                            3 => Some(Rat::G3),
                            4 => Some(Rat::G4),
                            5 => Some(Rat::G5),
                            other => return Err(garbage(format!("radio generation {other} does not exist"))),
                        };
                    }
                    // 0 is what modems show for "not known" (CSQ 99); 3GPP ranges otherwise.
                    Quantity::RssiDbm if n == 0 => s.rssi_dbm = None,
                    Quantity::RssiDbm => s.rssi_dbm = ranged(-150.0, -20.0, "RSSI (dBm)")?,
                    Quantity::RsrpDbm if n == 0 => s.rsrp_dbm = None,
                    Quantity::RsrpDbm => s.rsrp_dbm = ranged(-160.0, -20.0, "RSRP (dBm)")?,
                    Quantity::RsrqDb => s.rsrq_db = ranged(-45.0, 20.0, "RSRQ (dB)")?,
                    Quantity::SinrDb => s.sinr_db = ranged(-40.0, 60.0, "SINR (dB)")?,
                    Quantity::TemperatureC => s.temperature_c = ranged(-60.0, 150.0, "temperature (°C)")?,
                    Quantity::UptimeS => s.uptime_s = u64::try_from(n).ok(),
                    Quantity::ActiveSim => {
                        s.active_sim = match n {
                            0 => None,
                            1 | 2 => u8::try_from(n).ok(),
                            other => return Err(garbage(format!("SIM slot {other} does not exist"))),
                        };
                    }
                    Quantity::RxBytes(None) => s.rx_bytes = u64::try_from(n).ok(),
                    Quantity::TxBytes(None) => s.tx_bytes = u64::try_from(n).ok(),
                    q @ (Quantity::RxBytes(Some(_)) | Quantity::TxBytes(Some(_))) => {
                        per_sim.push((q, u64::try_from(n).unwrap_or(0)));
                    }
                    Quantity::Operator => return Err(garbage("a number where text was expected".to_owned())),
                }
            }
        }
    }
    // Per-SIM counters: the active SIM's (slot 1 when the modem does not say).
    let sim = s.active_sim.unwrap_or(1);
    for (quantity, bytes) in per_sim {
        match quantity {
            Quantity::RxBytes(Some(slot)) if slot == sim => s.rx_bytes = Some(bytes),
            Quantity::TxBytes(Some(slot)) if slot == sim => s.tx_bytes = Some(bytes),
            _ => {}
        }
    }
    Ok(s)
}

/// Printable ASCII, or `None` (control characters, bytes above 0x7E).
fn ascii(bytes: &[u8]) -> Option<String> {
    bytes
        .iter()
        .all(|b| (0x20..=0x7E).contains(b))
        .then(|| String::from_utf8_lossy(bytes).trim().to_owned())
}

/// 3GPP TS 27.007 `+CREG`/`+CEREG` `<stat>`: 0 not registered, 1 home, 2 searching, 3 denied,
/// 4 unknown, 5 roaming; 6/7 and 9/10 are home/roaming with restrictions (SMS only, CSFB not
/// preferred); 8 is emergency bearer services only (no service for the customer).
fn registration_from_code(code: i64) -> Option<Registration> {
    Some(match code {
        0 | 8 => Registration::NotRegistered,
        1 | 6 | 9 => Registration::Home,
        2 => Registration::Searching,
        3 => Registration::Denied,
        4 => Registration::Unknown,
        5 | 7 | 10 => Registration::Roaming,
        _ => return None,
    })
}

/// RutOS words the registration as `gsmctl -g` prints it ("Registered, home", "Searching"…).
fn registration_from_text(text: &str) -> Option<Registration> {
    let t = text.to_ascii_lowercase();
    Some(if t.contains("not registered") || t.is_empty() {
        Registration::NotRegistered
    } else if t.contains("denied") {
        Registration::Denied
    } else if t.contains("searching") {
        Registration::Searching
    } else if t.contains("roaming") {
        Registration::Roaming
    } else if t.contains("home") || t.contains("registered") {
        Registration::Home
    } else if t.contains("unknown") {
        Registration::Unknown
    } else {
        return None;
    })
}

/// A generation from the network-type text (`GSM`, `WCDMA`, `LTE`, `5G-NSA`…); `None` for
/// "no service" wordings and names unknown here (a newer firmware's).
fn rat_from_text(text: &str) -> Option<Rat> {
    let t = text.to_ascii_uppercase();
    let t = t.trim();
    if t.starts_with("5G") || t.starts_with("NR") {
        Some(Rat::G5)
    } else if t.starts_with("LTE") || t.starts_with("4G") || t == "CAT-M1" || t == "NB-IOT" {
        Some(Rat::G4)
    } else if [
        "WCDMA", "UMTS", "HSPA", "HSDPA", "HSUPA", "HSPA+", "3G", "TD-SCDMA", "CDMA",
    ]
    .contains(&t)
    {
        Some(Rat::G3)
    } else if ["GSM", "GPRS", "EDGE", "2G"].contains(&t) {
        Some(Rat::G2)
    } else {
        None
    }
}

/// Judges what the modem reported.
pub fn evaluate_mobile(s: &MobileSamples, t: &MobileThresholds) -> Evaluation {
    let reported = |name: &str| !s.not_reported.iter().any(|n| n == name);
    let value = |name: &str, v: MetricValue| {
        if reported(name) {
            v
        } else {
            MetricValue::Text(NOT_REPORTED.to_owned())
        }
    };
    let plain = |name: &str, v: MetricValue| Metric::new(name, value(name, v));
    let judged = |name: &str, v: Option<f64>, threshold: Threshold| {
        if reported(name) {
            Metric::judged(name, v, threshold)
        } else {
            plain(name, MetricValue::Missing)
        }
    };
    let lte_like = matches!(s.rat, Some(Rat::G4 | Rat::G5));
    let has_rsrp = s.rsrp_dbm.is_some();
    let rssi = if lte_like && has_rsrp {
        plain("rssi_dbm", s.rssi_dbm.into())
    } else {
        judged(
            "rssi_dbm",
            s.rssi_dbm,
            Threshold::below(t.rssi_warn_dbm, t.rssi_fail_dbm),
        )
    };
    let lte_metric = |name: &str, v: Option<f64>, threshold: Threshold| {
        if lte_like {
            judged(name, v, threshold)
        } else {
            plain(name, v.into())
        }
    };
    let rsrp = lte_metric(
        "rsrp_dbm",
        s.rsrp_dbm,
        Threshold::below(t.rsrp_warn_dbm, t.rsrp_fail_dbm),
    );
    let rsrq = lte_metric("rsrq_db", s.rsrq_db, Threshold::below(t.rsrq_warn_db, t.rsrq_fail_db));
    let sinr = lte_metric("sinr_db", s.sinr_db, Threshold::below(t.sinr_warn_db, t.sinr_fail_db));
    let temperature = judged(
        "temperature_c",
        s.temperature_c,
        Threshold::above(t.temperature_warn_c, t.temperature_fail_c),
    );
    let uptime = judged(
        "uptime_s",
        s.uptime_s.map(|u| u as f64),
        super::system::rebooted_within(t.rebooted_within_s),
    );
    let registration_status = match s.registration {
        Some(r) if r.has_service() => CheckStatus::Pass,
        Some(Registration::Unknown) | None => CheckStatus::Warn,
        Some(_) => CheckStatus::Fail,
    };
    let registration = Metric {
        status: reported("registration").then_some(registration_status),
        ..plain("registration", s.registration.map(Registration::as_str).into())
    };

    let mut notes = Vec::new();
    let mut statuses = Vec::new();
    if reported("registration") {
        statuses.push(registration_status);
        match s.registration {
            Some(Registration::Searching) => notes.push("no service: searching for a network".to_owned()),
            Some(Registration::Denied) => notes.push("no service: registration denied".to_owned()),
            Some(Registration::NotRegistered) => notes.push("no service: not registered".to_owned()),
            Some(Registration::Unknown) | None => notes.push("registration unknown".to_owned()),
            Some(Registration::Roaming) => notes.push("registered on a visited network (roaming)".to_owned()),
            Some(Registration::Home) => {}
        }
    }
    for m in [&rssi, &rsrp, &rsrq, &sinr, &temperature, &uptime] {
        if let Some(status) = m.status {
            statuses.push(status);
            if let Some(note) = past_limit(m) {
                notes.push(note);
            }
        }
    }
    let status = super::worst(statuses);
    Evaluation {
        status,
        reason: (!notes.is_empty()).then(|| notes.join("; ")),
        metrics: vec![
            Metric::new("modem", s.modem.as_str()),
            Metric::new("map", s.map.as_str()),
            registration,
            plain("operator", s.operator.clone().into()),
            plain(
                "rat",
                s.rat
                    .map(Rat::as_str)
                    .map(str::to_owned)
                    .or_else(|| s.rat_text.clone().filter(|t| !t.is_empty()))
                    .into(),
            ),
            rssi,
            rsrp,
            rsrq,
            sinr,
            temperature,
            uptime,
            plain("active_sim", s.active_sim.map(u64::from).into()),
            plain("rx_bytes_today", s.rx_bytes.into()),
            plain("tx_bytes_today", s.tx_bytes.into()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lte(registration: Registration) -> MobileSamples {
        MobileSamples {
            modem: "192.0.2.1:502".to_owned(),
            map: MapName::GenericLte,
            not_reported: Vec::new(),
            registration: Some(registration),
            rat: Some(Rat::G4),
            rat_text: None,
            operator: Some("Orange F".to_owned()),
            rssi_dbm: Some(-65.0),
            rsrp_dbm: Some(-90.0),
            rsrq_db: Some(-9.0),
            sinr_db: Some(15.0),
            temperature_c: Some(40.0),
            uptime_s: Some(3600),
            active_sim: Some(1),
            rx_bytes: Some(10),
            tx_bytes: Some(20),
        }
    }

    fn teltonika(rat: Rat, rssi: f64) -> MobileSamples {
        MobileSamples {
            map: MapName::TeltonikaRutos,
            not_reported: vec!["rsrp_dbm".into(), "rsrq_db".into(), "sinr_db".into()],
            rat: Some(rat),
            rssi_dbm: Some(rssi),
            rsrp_dbm: None,
            rsrq_db: None,
            sinr_db: None,
            ..lte(Registration::Home)
        }
    }

    fn metric(e: &Evaluation, name: &str) -> MetricValue {
        e.metrics
            .iter()
            .find(|m| m.name == name)
            .map_or(MetricValue::Missing, |m| m.value.clone())
    }

    #[test]
    fn evaluation_by_table() {
        use CheckStatus::{Fail, Pass, Warn};
        let t = MobileThresholds::default();
        let cases: Vec<(&str, MobileSamples, CheckStatus, &str)> = vec![
            ("healthy 4G at home", lte(Registration::Home), Pass, ""),
            ("searching", lte(Registration::Searching), Fail, "no service: searching"),
            ("denied", lte(Registration::Denied), Fail, "registration denied"),
            (
                "not registered",
                lte(Registration::NotRegistered),
                Fail,
                "not registered",
            ),
            (
                "roaming is said, not judged",
                lte(Registration::Roaming),
                Pass,
                "roaming",
            ),
            ("unknown registration", lte(Registration::Unknown), Warn, "unknown"),
            (
                "weak RSRP",
                MobileSamples {
                    rsrp_dbm: Some(-115.0),
                    ..lte(Registration::Home)
                },
                Fail,
                "rsrp_dbm -115 ≤ -110 (fail)",
            ),
            (
                "poor RSRQ",
                MobileSamples {
                    rsrq_db: Some(-16.5),
                    ..lte(Registration::Home)
                },
                Warn,
                "rsrq_db",
            ),
            (
                "low SINR",
                MobileSamples {
                    sinr_db: Some(-6.0),
                    ..lte(Registration::Home)
                },
                Fail,
                "sinr_db",
            ),
            (
                "4G RSSI is not judged when RSRP is there",
                MobileSamples {
                    rssi_dbm: Some(-101.0),
                    ..lte(Registration::Home)
                },
                Pass,
                "",
            ),
            ("2G judged by RSSI", teltonika(Rat::G2, -101.0), Fail, "rssi_dbm -101"),
            ("3G fair RSSI", teltonika(Rat::G3, -90.0), Warn, "rssi_dbm -90"),
            (
                "4G without RSRP falls back to RSSI",
                teltonika(Rat::G4, -101.0),
                Fail,
                "rssi_dbm",
            ),
            ("good 4G RSSI", teltonika(Rat::G4, -70.0), Pass, ""),
            (
                "5G weak",
                MobileSamples {
                    rat: Some(Rat::G5),
                    rsrp_dbm: Some(-105.0),
                    ..lte(Registration::Home)
                },
                Warn,
                "rsrp_dbm",
            ),
            (
                "overheating",
                MobileSamples {
                    temperature_c: Some(88.0),
                    ..lte(Registration::Home)
                },
                Fail,
                "temperature_c 88 ≥ 85 (fail)",
            ),
            (
                "just rebooted",
                MobileSamples {
                    uptime_s: Some(180),
                    ..lte(Registration::Home)
                },
                Warn,
                "uptime_s 180 ≤ 600 (warn)",
            ),
        ];
        for (name, samples, status, reason) in cases {
            let e = evaluate_mobile(&samples, &t);
            assert_eq!(e.status, status, "{name}: {:?}", e.reason);
            let got = e.reason.clone().unwrap_or_default();
            assert!(got.contains(reason), "{name}: {got:?} lacks {reason:?}");
        }
    }

    #[test]
    fn values_the_map_lacks_are_said_not_reported() {
        let e = evaluate_mobile(&teltonika(Rat::G4, -70.0), &MobileThresholds::default());
        for name in ["rsrp_dbm", "rsrq_db", "sinr_db"] {
            assert_eq!(metric(&e, name), MetricValue::Text(NOT_REPORTED.to_owned()), "{name}");
        }
        assert_eq!(metric(&e, "rssi_dbm"), MetricValue::Number(-70.0));
        let e = evaluate_mobile(&lte(Registration::Home), &MobileThresholds::default());
        assert_eq!(metric(&e, "rsrp_dbm"), MetricValue::Number(-90.0));
        assert_eq!(metric(&e, "registration"), MetricValue::Text("home".to_owned()));
        assert_eq!(metric(&e, "rat"), MetricValue::Text("4g".to_owned()));
    }

    fn addr() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], 502))
    }

    fn text(s: &str) -> Raw {
        Raw::Text(s.as_bytes().to_vec())
    }

    /// The fields of `map` with these raw values (by quantity), others left out.
    fn values(map: &RegisterMap, raws: &[(Quantity, Raw)]) -> Vec<(map::Field, u16, Raw)> {
        raws.iter()
            .filter_map(|(q, raw)| {
                let f = map.fields().iter().find(|f| f.quantity == *q)?;
                Some((*f, map.wire_address(f), raw.clone()))
            })
            .collect()
    }

    #[test]
    fn teltonika_values_are_interpreted() {
        let map = RegisterMap::teltonika_rutos();
        let got = interpret(
            addr(),
            &map,
            &values(
                &map,
                &[
                    (Quantity::UptimeS, Raw::Int(90_061)),
                    (Quantity::RssiDbm, Raw::Int(-71)),
                    (Quantity::TemperatureC, Raw::Int(415)),
                    (Quantity::Operator, text("Orange F")),
                    (Quantity::Registration, text("Registered, roaming")),
                    (Quantity::Rat, text("LTE")),
                    (Quantity::ActiveSim, Raw::Int(2)),
                    (Quantity::RxBytes(Some(1)), Raw::Int(5)),
                    (Quantity::RxBytes(Some(2)), Raw::Int(123_456_789)),
                    (Quantity::TxBytes(Some(2)), Raw::Int(9_876_543)),
                ],
            ),
        )
        .expect("plausible");
        assert_eq!(got.registration, Some(Registration::Roaming));
        assert_eq!(got.rat, Some(Rat::G4));
        assert_eq!(got.temperature_c, Some(41.5));
        assert_eq!(got.rssi_dbm, Some(-71.0));
        assert_eq!((got.rx_bytes, got.tx_bytes), (Some(123_456_789), Some(9_876_543)));
        assert_eq!(got.not_reported, ["rsrp_dbm", "rsrq_db", "sinr_db"]);
    }

    #[test]
    fn registration_wordings_and_codes() {
        for (text, expected) in [
            ("Registered, home", Some(Registration::Home)),
            ("Registered, roaming", Some(Registration::Roaming)),
            ("Searching", Some(Registration::Searching)),
            ("Denied", Some(Registration::Denied)),
            ("Not registered", Some(Registration::NotRegistered)),
            ("Unknown", Some(Registration::Unknown)),
            ("banana", None),
        ] {
            assert_eq!(registration_from_text(text), expected, "{text}");
        }
        assert_eq!(registration_from_code(5), Some(Registration::Roaming));
        assert_eq!(registration_from_code(2), Some(Registration::Searching));
        assert_eq!(registration_from_code(11), None);
        assert_eq!(rat_from_text("5G-NSA"), Some(Rat::G5));
        assert_eq!(rat_from_text("WCDMA"), Some(Rat::G3));
        assert_eq!(rat_from_text("GSM"), Some(Rat::G2));
        assert_eq!(rat_from_text("N/A"), None);
    }

    /// (name, raw values, what the reason names)
    type GarbageCase = (&'static str, Vec<(Quantity, Raw)>, &'static str);

    #[test]
    fn impossible_values_are_garbage_with_a_reason() {
        let map = RegisterMap::generic_lte();
        let cases: Vec<GarbageCase> = vec![
            ("RSRP above zero", vec![(Quantity::RsrpDbm, Raw::Int(12))], "RSRP"),
            (
                "registration code",
                vec![(Quantity::Registration, Raw::Int(99))],
                "registration code 99",
            ),
            ("6G", vec![(Quantity::Rat, Raw::Int(6))], "generation 6"),
            ("boiling", vec![(Quantity::TemperatureC, Raw::Int(3000))], "temperature"),
            (
                "binary operator",
                vec![(Quantity::Operator, Raw::Text(vec![0xDE, 0xAD]))],
                "non-text",
            ),
            ("SIM 7", vec![(Quantity::ActiveSim, Raw::Int(7))], "SIM slot 7"),
        ];
        for (name, raws, reason) in cases {
            let err = interpret(addr(), &map, &values(&map, &raws)).expect_err(name);
            let text = err.to_string();
            assert!(
                text.contains("answered garbage") && text.contains(reason),
                "{name}: {text}"
            );
        }
        let teltonika = RegisterMap::teltonika_rutos();
        let err = interpret(
            addr(),
            &teltonika,
            &values(&teltonika, &[(Quantity::Registration, text("Bananas"))]),
        );
        assert!(err.is_err());
        // "Not known" placeholders are not garbage.
        let ok = interpret(addr(), &map, &values(&map, &[(Quantity::RssiDbm, Raw::Int(0))])).expect("0 dBm");
        assert_eq!(ok.rssi_dbm, None);
    }
}
