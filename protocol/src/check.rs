//! Check results: what one check measured and how it was judged.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Names a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckId {
    /// Interfaces, carrier, addresses, default routes, gateway.
    Link,
    /// ICMP to the default gateway: RTT, jitter, loss.
    Gateway,
    /// Latency to Internet anchors.
    InternetLatency,
    /// Resolvers present; resolution and latency per resolver.
    Dns,
    /// HTTP(S) timings, captive portal, firewalls, proxy.
    Http,
    /// Hop-by-hop loss and latency.
    Path,
    /// Path MTU and PMTU black holes.
    Mtu,
    /// Download and upload goodput.
    Throughput,
    /// Latency under load.
    Responsiveness,
    /// The WiFi association and radio.
    Wifi,
    /// The mobile radio (modem).
    Mobile,
    /// The box's own health.
    System,
    /// A check this client does not know (sent by a newer agent).
    #[serde(other)]
    Unknown,
}

impl CheckId {
    /// The name used on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Link => "link",
            CheckId::Gateway => "gateway",
            CheckId::InternetLatency => "internet_latency",
            CheckId::Dns => "dns",
            CheckId::Http => "http",
            CheckId::Path => "path",
            CheckId::Mtu => "mtu",
            CheckId::Throughput => "throughput",
            CheckId::Responsiveness => "responsiveness",
            CheckId::Wifi => "wifi",
            CheckId::Mobile => "mobile",
            CheckId::System => "system",
            CheckId::Unknown => "unknown",
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// Measured, and within thresholds.
    Pass,
    /// Measured, and past a warning threshold.
    Warn,
    /// Measured, and past a failure threshold (this includes "nothing answered").
    Fail,
    /// Could not measure (no privilege, no such interface, timed out): the reason says why.
    Error,
    /// Not run (not applicable, or a prerequisite is missing): the reason says why.
    Skipped,
    /// A status this client does not know (sent by a newer agent).
    #[serde(other)]
    Unknown,
}

impl CheckStatus {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check: its verdict, the metrics behind it, and the raw samples it was
/// computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Which check.
    pub id: CheckId,
    /// The verdict.
    pub status: CheckStatus,
    /// Why the check ended `error` or `skipped`, or a one-line technical summary otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was measured, each with the threshold it was judged against.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// How long the check took, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// The raw measurement the verdict was computed from (its shape is per check), kept so that
    /// any run can be re-evaluated later with other thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<serde_json::Value>,
}

impl CheckResult {
    /// The metric with this name, if the check reported it.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The numeric value of the metric with this name, if reported and numeric.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.metric(name).and_then(|m| m.value.as_f64())
    }
}

/// One measured quantity. The unit is in the name (`rtt_median_ms`, `loss_percent`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metric {
    /// Name with unit, snake_case.
    pub name: String,
    /// The value; `null` when it could not be measured (e.g. RTT when every probe was lost).
    pub value: MetricValue,
    /// The threshold this value was judged against, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// How this value alone was judged, when it was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
}

impl Metric {
    /// A metric with no threshold.
    pub fn new(name: impl Into<String>, value: impl Into<MetricValue>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            threshold: None,
            status: None,
        }
    }

    /// A numeric metric judged against `threshold`; its status is computed here.
    pub fn judged(name: impl Into<String>, value: Option<f64>, threshold: Threshold) -> Self {
        let status = value.map(|v| threshold.judge(v));
        Self {
            name: name.into(),
            value: value.into(),
            threshold: Some(threshold),
            status,
        }
    }
}

/// A metric's value. Whole numbers are written without a fraction (`3`, not `3.0`).
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MetricValue {
    /// A number, in the unit the metric's name says.
    Number(f64),
    /// A yes/no fact.
    Bool(bool),
    /// A text (an address, an interface name).
    Text(String),
    /// Not measured.
    Missing,
}

impl Serialize for MetricValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// Below 2^53 every whole f64 is an exact integer.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        match self {
            MetricValue::Number(n) if n.fract() == 0.0 && n.abs() < EXACT => serializer.serialize_i64(*n as i64),
            MetricValue::Number(n) => serializer.serialize_f64(*n),
            MetricValue::Bool(b) => serializer.serialize_bool(*b),
            MetricValue::Text(t) => serializer.serialize_str(t),
            MetricValue::Missing => serializer.serialize_none(),
        }
    }
}

impl MetricValue {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            MetricValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as a yes/no fact, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            MetricValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetricValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{n:.0}"),
            MetricValue::Number(n) => write!(f, "{n:.2}"),
            MetricValue::Bool(b) => write!(f, "{b}"),
            MetricValue::Text(s) => f.write_str(s),
            MetricValue::Missing => f.write_str("—"),
        }
    }
}

impl From<f64> for MetricValue {
    fn from(v: f64) -> Self {
        if v.is_finite() {
            MetricValue::Number(v)
        } else {
            MetricValue::Missing
        }
    }
}

impl From<u64> for MetricValue {
    fn from(v: u64) -> Self {
        // Counters in a network check stay far below 2^53, where f64 is exact.
        MetricValue::Number(v as f64)
    }
}

impl From<usize> for MetricValue {
    fn from(v: usize) -> Self {
        MetricValue::Number(v as f64)
    }
}

impl From<bool> for MetricValue {
    fn from(v: bool) -> Self {
        MetricValue::Bool(v)
    }
}

impl From<String> for MetricValue {
    fn from(v: String) -> Self {
        MetricValue::Text(v)
    }
}

impl From<&str> for MetricValue {
    fn from(v: &str) -> Self {
        MetricValue::Text(v.to_owned())
    }
}

impl<T: Into<MetricValue>> From<Option<T>> for MetricValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(MetricValue::Missing, Into::into)
    }
}

/// The limits a metric is judged against.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Threshold {
    /// Past this value the metric is `warn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<f64>,
    /// Past this value the metric is `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<f64>,
    /// Which way is "past".
    pub direction: Direction,
}

impl Threshold {
    /// Limits for a metric where bigger is worse (latency, loss).
    pub const fn above(warn: f64, fail: f64) -> Self {
        Self {
            warn: Some(warn),
            fail: Some(fail),
            direction: Direction::HigherIsWorse,
        }
    }

    /// Limits for a metric where smaller is worse (throughput, signal).
    pub const fn below(warn: f64, fail: f64) -> Self {
        Self {
            warn: Some(warn),
            fail: Some(fail),
            direction: Direction::LowerIsWorse,
        }
    }

    /// Judges `value`: `fail` past the failure limit, `warn` past the warning limit, else `pass`.
    /// A value exactly at a limit is past it.
    pub fn judge(&self, value: f64) -> CheckStatus {
        let past = |limit: Option<f64>| {
            limit.is_some_and(|l| match self.direction {
                Direction::HigherIsWorse => value >= l,
                Direction::LowerIsWorse => value <= l,
            })
        };
        if past(self.fail) {
            CheckStatus::Fail
        } else if past(self.warn) {
            CheckStatus::Warn
        } else {
            CheckStatus::Pass
        }
    }
}

/// Which way a metric gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Bigger values are worse (latency, loss, jitter).
    HigherIsWorse,
    /// Smaller values are worse (throughput, signal strength).
    LowerIsWorse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_judges_limits_inclusively() {
        let t = Threshold::above(10.0, 20.0);
        assert_eq!(t.judge(9.9), CheckStatus::Pass);
        assert_eq!(t.judge(10.0), CheckStatus::Warn);
        assert_eq!(t.judge(20.0), CheckStatus::Fail);
        let t = Threshold::below(-70.0, -80.0);
        assert_eq!(t.judge(-60.0), CheckStatus::Pass);
        assert_eq!(t.judge(-75.0), CheckStatus::Warn);
        assert_eq!(t.judge(-85.0), CheckStatus::Fail);
    }

    #[test]
    fn non_finite_numbers_become_missing() {
        assert_eq!(MetricValue::from(f64::NAN), MetricValue::Missing);
        assert_eq!(
            serde_json::to_string(&MetricValue::Missing).ok().as_deref(),
            Some("null")
        );
    }
}
