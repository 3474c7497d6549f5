//! `link`: interfaces, carrier, addresses, default routes and the gateway, read over netlink.
//!
//! Metrics (names are a contract with `diagnose` and clients):
//! - `interfaces_up` — non-loopback interfaces with carrier and at least one address (count);
//! - `ipv4_address`, `ipv6_global_address` — bool;
//! - `default_route_v4`, `default_route_v6` — bool;
//! - `gateway_v4`, `gateway_v6` — text, or missing;
//! - `interface` — text: the interface of the preferred default route, or missing.
//!
//! Status: `fail` when `interfaces_up == 0` (reason "no network link") or when there is no
//! default route at all (reason "no default route"); `pass` otherwise.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Evaluation, MeasureError};

/// What netlink said about this host's interfaces and default routes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkSamples {
    /// Every interface, loopback included.
    pub interfaces: Vec<Interface>,
    /// Default routes (IPv4 and IPv6), main table.
    pub default_routes: Vec<DefaultRoute>,
}

/// One network interface.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Has a carrier (`IFF_LOWER_UP`).
    pub carrier: bool,
    /// Is the loopback.
    pub loopback: bool,
    /// Addresses, with prefix length.
    pub addresses: Vec<IfAddress>,
}

/// An address on an interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IfAddress {
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
}

/// A default route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefaultRoute {
    /// The next hop, if the route has one.
    pub gateway: Option<IpAddr>,
    /// Name of the outgoing interface.
    pub interface: Option<String>,
    /// Route metric (priority); lower is preferred.
    pub metric: Option<u32>,
    /// Whether the route is IPv6.
    pub ipv6: bool,
}

impl LinkSamples {
    /// The gateway to probe: the IPv4 default route's next hop with the lowest metric, else the
    /// IPv6 one's.
    pub fn gateway(&self) -> Option<IpAddr> {
        let best = |v6: bool| {
            self.default_routes
                .iter()
                .filter(|r| r.ipv6 == v6)
                .filter_map(|r| r.gateway.map(|g| (r.metric.unwrap_or(0), g)))
                .min_by_key(|(metric, _)| *metric)
                .map(|(_, g)| g)
        };
        best(false).or_else(|| best(true))
    }
}

/// Reads interfaces, addresses and default routes from the kernel.
pub async fn measure_link() -> Result<LinkSamples, MeasureError> {
    Err(MeasureError::Unsupported(
        "link measurement not implemented yet".to_owned(),
    ))
}

/// Judges the link.
pub fn evaluate_link(_samples: &LinkSamples) -> Evaluation {
    Evaluation {
        status: sonde_protocol::CheckStatus::Error,
        reason: Some("not implemented".to_owned()),
        metrics: Vec::new(),
    }
}
