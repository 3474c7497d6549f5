//! `gateway`: ICMP echo to the default gateway (surge-ping): RTT min/median/p95/max, RFC 3550
//! jitter, loss.
//!
//! Metrics: `gateway` (text), `probes_sent`, `replies`, `loss_percent` (judged),
//! `rtt_min_ms`, `rtt_median_ms` (judged), `rtt_p95_ms`, `rtt_max_ms`, `jitter_ms` (judged),
//! `socket` (`dgram` or `raw`).
//!
//! Status: `fail` with reason "the gateway did not answer any of N probes" when nothing
//! answered; otherwise the worst of the judged metrics.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Evaluation, MeasureError, ProgressSink};
use crate::config::{GatewayOptions, GatewayThresholds};

/// The raw outcome of probing one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingSamples {
    /// Who was probed.
    pub target: IpAddr,
    /// The kind of ICMP socket used.
    pub socket: SocketKind,
    /// One entry per probe, in send order.
    pub probes: Vec<Probe>,
}

/// The kind of ICMP socket a measurement used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketKind {
    /// Unprivileged `SOCK_DGRAM` ICMP (`net.ipv4.ping_group_range`).
    Dgram,
    /// `SOCK_RAW` (CAP_NET_RAW).
    Raw,
}

/// One echo request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// ICMP sequence number.
    pub seq: u16,
    /// Round-trip time in microseconds; `None` when no reply came in time.
    pub rtt_us: Option<u64>,
}

/// Probes `target` as `options` say, reporting progress as replies come in.
pub async fn measure_gateway(
    _target: IpAddr,
    _options: &GatewayOptions,
    _progress: &dyn ProgressSink,
) -> Result<PingSamples, MeasureError> {
    Err(MeasureError::Unsupported(
        "gateway measurement not implemented yet".to_owned(),
    ))
}

/// Judges a gateway measurement.
pub fn evaluate_gateway(_samples: &PingSamples, _thresholds: &GatewayThresholds) -> Evaluation {
    Evaluation {
        status: sonde_protocol::CheckStatus::Error,
        reason: Some("not implemented".to_owned()),
        metrics: Vec::new(),
    }
}
