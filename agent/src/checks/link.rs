//! `link`: interfaces, carrier, addresses, default routes and the gateway, read over netlink.
//!
//! Metrics (names are a contract with `diagnose` and clients):
//! - `interfaces_up` — non-loopback interfaces with carrier and at least one address (count):
//!   an IPv4 address other than link-local 169.254.0.0/16, or a global-scope IPv6 address (see
//!   [`Interface::counts_as_up`]);
//! - `ipv4_address`, `ipv6_global_address` — bool: some non-loopback interface with carrier has
//!   such an address;
//! - `default_route_v4`, `default_route_v6` — bool;
//! - `gateway_v4`, `gateway_v6` — text, or missing;
//! - `interface` — text: the interface of the preferred default route, or missing.
//!
//! Status: `fail` when `interfaces_up == 0` (reason "no network link") or when there is no
//! default route at all (reason "no default route"); `pass` otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};
use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric};

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
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| MeasureError::Netlink(format!("cannot open a netlink socket: {e}")))?;
    // The connection drives the socket; it ends when this measurement is done (aborted below, so
    // a reply the kernel never sends cannot keep the task alive).
    let driver = tokio::spawn(connection);
    let result = dump(&handle).await;
    driver.abort();
    result
}

/// Judges the link.
pub fn evaluate_link(samples: &LinkSamples) -> Evaluation {
    let usable: Vec<&Interface> = samples.interfaces.iter().filter(|i| i.counts_as_up()).collect();
    let connected: Vec<&Interface> = samples.interfaces.iter().filter(|i| !i.loopback && i.carrier).collect();
    let ipv4_address = connected
        .iter()
        .any(|i| i.addresses.iter().any(IfAddress::is_usable_v4));
    let ipv6_global_address = connected
        .iter()
        .any(|i| i.addresses.iter().any(IfAddress::is_global_v6));
    let has_route = |v6: bool| samples.default_routes.iter().any(|r| r.ipv6 == v6);
    let (default_route_v4, default_route_v6) = (has_route(false), has_route(true));
    let gateway_of = |v6: bool| {
        samples
            .default_routes
            .iter()
            .filter(|r| r.ipv6 == v6)
            .filter_map(|r| r.gateway.map(|g| (r.metric.unwrap_or(0), g)))
            .min_by_key(|(metric, _)| *metric)
            .map(|(_, g)| g.to_string())
    };
    let interface = samples.preferred_route().and_then(|r| r.interface.clone());

    let metrics = vec![
        Metric::new("interfaces_up", usable.len()),
        Metric::new("ipv4_address", ipv4_address),
        Metric::new("ipv6_global_address", ipv6_global_address),
        Metric::new("default_route_v4", default_route_v4),
        Metric::new("default_route_v6", default_route_v6),
        Metric::new("gateway_v4", gateway_of(false)),
        Metric::new("gateway_v6", gateway_of(true)),
        Metric::new("interface", interface),
    ];
    let (status, reason) = if usable.is_empty() {
        (CheckStatus::Fail, Some("no network link".to_owned()))
    } else if !default_route_v4 && !default_route_v6 {
        (CheckStatus::Fail, Some("no default route".to_owned()))
    } else {
        (CheckStatus::Pass, None)
    };
    Evaluation {
        status,
        reason,
        metrics,
    }
}

impl LinkSamples {
    /// The default route the kernel prefers: the IPv4 one with the lowest metric, else the IPv6
    /// one with the lowest metric (first in dump order on a tie), with or without a gateway.
    pub fn preferred_route(&self) -> Option<&DefaultRoute> {
        let best = |v6: bool| {
            self.default_routes
                .iter()
                .filter(|r| r.ipv6 == v6)
                .min_by_key(|r| r.metric.unwrap_or(0))
        };
        best(false).or_else(|| best(true))
    }

    /// The kernel index of the interface named `name`.
    pub fn interface_index(&self, name: &str) -> Option<u32> {
        self.interfaces.iter().find(|i| i.name == name).map(|i| i.index)
    }
}

impl Interface {
    /// Whether this interface counts in `interfaces_up`: not the loopback, has a carrier
    /// (`IFF_LOWER_UP`, which the kernel only reports for an administratively up interface), and
    /// has a usable IPv4 address or a global IPv6 address.
    pub fn counts_as_up(&self) -> bool {
        !self.loopback && self.carrier && self.addresses.iter().any(|a| a.is_usable_v4() || a.is_global_v6())
    }
}

impl IfAddress {
    /// An IPv4 address other than loopback and link-local (169.254.0.0/16, what a host gives
    /// itself when DHCP failed).
    pub fn is_usable_v4(&self) -> bool {
        matches!(self.address, IpAddr::V4(a) if !a.is_loopback() && !a.is_link_local() && !a.is_unspecified())
    }

    /// An IPv6 address of global scope, as the kernel counts it (`ip -6 addr show scope global`):
    /// not loopback, unspecified, multicast, link-local (fe80::/10) or site-local (fec0::/10).
    /// Unique local addresses (fc00::/7) are global scope.
    pub fn is_global_v6(&self) -> bool {
        match self.address {
            IpAddr::V6(a) => {
                let first = a.segments()[0];
                !a.is_loopback()
                    && !a.is_unspecified()
                    && !a.is_multicast()
                    && first & 0xffc0 != 0xfe80
                    && first & 0xffc0 != 0xfec0
            }
            IpAddr::V4(_) => false,
        }
    }
}

/// The main routing table's id (`RT_TABLE_MAIN`).
const MAIN_TABLE: u32 = 254;

async fn dump(handle: &Handle) -> Result<LinkSamples, MeasureError> {
    let mut interfaces = Vec::new();
    let mut links = handle.link().get().execute();
    while let Some(message) = links.try_next().await.map_err(|e| netlink("listing links", &e))? {
        interfaces.push(interface_from(&message));
    }

    let mut addresses = handle.address().get().execute();
    while let Some(message) = addresses
        .try_next()
        .await
        .map_err(|e| netlink("listing addresses", &e))?
    {
        if let Some((index, address)) = address_from(&message)
            && let Some(interface) = interfaces.iter_mut().find(|i| i.index == index)
        {
            interface.addresses.push(address);
        }
    }

    let mut default_routes = Vec::new();
    for request in [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ] {
        let mut routes = handle.route().get(request).execute();
        while let Some(message) = routes.try_next().await.map_err(|e| netlink("listing routes", &e))? {
            default_routes.extend(default_routes_from(&message, &interfaces));
        }
    }

    Ok(LinkSamples {
        interfaces,
        default_routes,
    })
}

fn netlink(context: &str, error: &rtnetlink::Error) -> MeasureError {
    MeasureError::Netlink(format!("{context}: {error}"))
}

fn interface_from(message: &LinkMessage) -> Interface {
    let flags = message.header.flags;
    let name = message
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(name) => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("if{}", message.header.index));
    Interface {
        name,
        index: message.header.index,
        up: flags.contains(LinkFlags::Up),
        carrier: flags.contains(LinkFlags::LowerUp),
        loopback: flags.contains(LinkFlags::Loopback),
        addresses: Vec::new(),
    }
}

/// The interface index and address of an address message. `IFA_LOCAL` is the interface's own
/// address; `IFA_ADDRESS` is the peer's on a point-to-point link, so it is used only without
/// `IFA_LOCAL` (iproute2 does the same).
fn address_from(message: &AddressMessage) -> Option<(u32, IfAddress)> {
    let find = |local: bool| {
        message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) if local => Some(*ip),
            AddressAttribute::Address(ip) if !local => Some(*ip),
            _ => None,
        })
    };
    let address = find(true).or_else(|| find(false))?;
    Some((
        message.header.index,
        IfAddress {
            address,
            prefix_len: message.header.prefix_len,
        },
    ))
}

/// The default routes a route message describes: none unless it is a unicast route to /0 in the
/// main table; one per next hop for a multipath route.
fn default_routes_from(message: &RouteMessage, interfaces: &[Interface]) -> Vec<DefaultRoute> {
    let header = &message.header;
    let ipv6 = match header.address_family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return Vec::new(),
    };
    // Tables above 255 only fit in the attribute; the header then says RT_TABLE_COMPAT.
    let table = message
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(header.table));
    if header.destination_prefix_length != 0 || header.kind != RouteType::Unicast || table != MAIN_TABLE {
        return Vec::new();
    }
    let name_of = |index: u32| interfaces.iter().find(|i| i.index == index).map(|i| i.name.clone());
    let metric = message.attributes.iter().find_map(|a| match a {
        RouteAttribute::Priority(p) => Some(*p),
        _ => None,
    });
    let hop = |attributes: &[RouteAttribute], oif: Option<u32>| DefaultRoute {
        gateway: attributes.iter().find_map(|a| match a {
            RouteAttribute::Gateway(address) => ip_of(address),
            _ => None,
        }),
        interface: oif.and_then(name_of),
        metric,
        ipv6,
    };
    let multipath = message.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(hops) => Some(hops),
        _ => None,
    });
    match multipath {
        Some(hops) => hops
            .iter()
            .map(|h| hop(&h.attributes, Some(h.interface_index)))
            .collect(),
        None => {
            let oif = message.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(index) => Some(*index),
                _ => None,
            });
            vec![hop(&message.attributes, oif)]
        }
    }
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::route::RouteNextHop;
    use sonde_protocol::MetricValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn iface(name: &str, index: u32, carrier: bool, addresses: &[&str]) -> Interface {
        Interface {
            name: name.to_owned(),
            index,
            up: carrier,
            carrier,
            loopback: name == "lo",
            addresses: addresses
                .iter()
                .map(|a| {
                    let (address, prefix_len) = a.split_once('/').expect("address/prefix");
                    IfAddress {
                        address: ip(address),
                        prefix_len: prefix_len.parse().expect("prefix"),
                    }
                })
                .collect(),
        }
    }

    fn lo() -> Interface {
        iface("lo", 1, true, &["127.0.0.1/8", "::1/128"])
    }

    fn route(gateway: Option<&str>, interface: &str, metric: Option<u32>) -> DefaultRoute {
        let gateway = gateway.map(ip);
        DefaultRoute {
            ipv6: gateway.is_some_and(|g| g.is_ipv6()),
            gateway,
            interface: Some(interface.to_owned()),
            metric,
        }
    }

    fn value<'a>(evaluation: &'a Evaluation, name: &str) -> &'a MetricValue {
        &evaluation
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("metric {name} missing"))
            .value
    }

    struct Case {
        name: &'static str,
        samples: LinkSamples,
        status: CheckStatus,
        reason: Option<&'static str>,
        interfaces_up: f64,
        ipv4: bool,
        ipv6: bool,
        gateway_v4: Option<&'static str>,
        gateway_v6: Option<&'static str>,
        interface: Option<&'static str>,
    }

    #[test]
    fn evaluate_link_table() {
        let cases = [
            Case {
                name: "dual stack home network",
                samples: LinkSamples {
                    interfaces: vec![
                        lo(),
                        iface(
                            "eth0",
                            2,
                            true,
                            &["192.168.1.20/24", "2a01:cb00::20/64", "fe80::1234/64"],
                        ),
                    ],
                    default_routes: vec![
                        route(Some("192.168.1.1"), "eth0", None),
                        route(Some("fe80::1"), "eth0", Some(1024)),
                    ],
                },
                status: CheckStatus::Pass,
                reason: None,
                interfaces_up: 1.0,
                ipv4: true,
                ipv6: true,
                gateway_v4: Some("192.168.1.1"),
                gateway_v6: Some("fe80::1"),
                interface: Some("eth0"),
            },
            Case {
                name: "loopback only",
                samples: LinkSamples {
                    interfaces: vec![lo()],
                    default_routes: vec![],
                },
                status: CheckStatus::Fail,
                reason: Some("no network link"),
                interfaces_up: 0.0,
                ipv4: false,
                ipv6: false,
                gateway_v4: None,
                gateway_v6: None,
                interface: None,
            },
            Case {
                name: "cable unplugged: address but no carrier",
                samples: LinkSamples {
                    interfaces: vec![lo(), iface("eth0", 2, false, &["192.168.1.20/24"])],
                    default_routes: vec![route(Some("192.168.1.1"), "eth0", None)],
                },
                status: CheckStatus::Fail,
                reason: Some("no network link"),
                interfaces_up: 0.0,
                ipv4: false,
                ipv6: false,
                gateway_v4: Some("192.168.1.1"),
                gateway_v6: None,
                interface: Some("eth0"),
            },
            Case {
                name: "carrier with IPv6 link-local only does not count",
                samples: LinkSamples {
                    interfaces: vec![lo(), iface("eth0", 2, true, &["fe80::1234/64"])],
                    default_routes: vec![],
                },
                status: CheckStatus::Fail,
                reason: Some("no network link"),
                interfaces_up: 0.0,
                ipv4: false,
                ipv6: false,
                gateway_v4: None,
                gateway_v6: None,
                interface: None,
            },
            Case {
                name: "DHCP failed: IPv4 link-local only does not count",
                samples: LinkSamples {
                    interfaces: vec![lo(), iface("wlan0", 3, true, &["169.254.10.20/16", "fe80::1/64"])],
                    default_routes: vec![],
                },
                status: CheckStatus::Fail,
                reason: Some("no network link"),
                interfaces_up: 0.0,
                ipv4: false,
                ipv6: false,
                gateway_v4: None,
                gateway_v6: None,
                interface: None,
            },
            Case {
                name: "address but no default route",
                samples: LinkSamples {
                    interfaces: vec![lo(), iface("eth0", 2, true, &["192.168.1.20/24"])],
                    default_routes: vec![],
                },
                status: CheckStatus::Fail,
                reason: Some("no default route"),
                interfaces_up: 1.0,
                ipv4: true,
                ipv6: false,
                gateway_v4: None,
                gateway_v6: None,
                interface: None,
            },
            Case {
                name: "IPv6 only, unique local address counts as global",
                samples: LinkSamples {
                    interfaces: vec![lo(), iface("eth0", 2, true, &["fd00::2/64", "fe80::2/64"])],
                    default_routes: vec![route(Some("fd00::1"), "eth0", Some(1024))],
                },
                status: CheckStatus::Pass,
                reason: None,
                interfaces_up: 1.0,
                ipv4: false,
                ipv6: true,
                gateway_v4: None,
                gateway_v6: Some("fd00::1"),
                interface: Some("eth0"),
            },
            Case {
                name: "point-to-point default route without gateway",
                samples: LinkSamples {
                    interfaces: vec![lo(), iface("wwan0", 4, true, &["10.64.1.2/30"])],
                    default_routes: vec![DefaultRoute {
                        gateway: None,
                        interface: Some("wwan0".to_owned()),
                        metric: None,
                        ipv6: false,
                    }],
                },
                status: CheckStatus::Pass,
                reason: None,
                interfaces_up: 1.0,
                ipv4: true,
                ipv6: false,
                gateway_v4: None,
                gateway_v6: None,
                interface: Some("wwan0"),
            },
            Case {
                name: "two uplinks: the lower metric wins",
                samples: LinkSamples {
                    interfaces: vec![
                        lo(),
                        iface("eth0", 2, true, &["192.168.1.20/24"]),
                        iface("wlan0", 3, true, &["192.168.1.21/24"]),
                    ],
                    default_routes: vec![
                        route(Some("192.168.1.254"), "wlan0", Some(600)),
                        route(Some("192.168.1.1"), "eth0", Some(100)),
                    ],
                },
                status: CheckStatus::Pass,
                reason: None,
                interfaces_up: 2.0,
                ipv4: true,
                ipv6: false,
                gateway_v4: Some("192.168.1.1"),
                gateway_v6: None,
                interface: Some("eth0"),
            },
        ];
        for case in cases {
            let evaluation = evaluate_link(&case.samples);
            let name = case.name;
            assert_eq!(evaluation.status, case.status, "{name}");
            assert_eq!(evaluation.reason.as_deref(), case.reason, "{name}");
            assert_eq!(
                value(&evaluation, "interfaces_up"),
                &MetricValue::Number(case.interfaces_up),
                "{name}"
            );
            assert_eq!(
                value(&evaluation, "ipv4_address"),
                &MetricValue::Bool(case.ipv4),
                "{name}"
            );
            assert_eq!(
                value(&evaluation, "ipv6_global_address"),
                &MetricValue::Bool(case.ipv6),
                "{name}"
            );
            let has_v4 = case.samples.default_routes.iter().any(|r| !r.ipv6);
            let has_v6 = case.samples.default_routes.iter().any(|r| r.ipv6);
            assert_eq!(
                value(&evaluation, "default_route_v4"),
                &MetricValue::Bool(has_v4),
                "{name}"
            );
            assert_eq!(
                value(&evaluation, "default_route_v6"),
                &MetricValue::Bool(has_v6),
                "{name}"
            );
            assert_eq!(value(&evaluation, "gateway_v4"), &case.gateway_v4.into(), "{name}");
            assert_eq!(value(&evaluation, "gateway_v6"), &case.gateway_v6.into(), "{name}");
            assert_eq!(value(&evaluation, "interface"), &case.interface.into(), "{name}");
        }
    }

    #[test]
    fn evaluate_link_reports_every_contract_metric_in_order() {
        let evaluation = evaluate_link(&LinkSamples::default());
        let names: Vec<&str> = evaluation.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "interfaces_up",
                "ipv4_address",
                "ipv6_global_address",
                "default_route_v4",
                "default_route_v6",
                "gateway_v4",
                "gateway_v6",
                "interface"
            ]
        );
        assert!(evaluation.metrics.iter().all(|m| m.threshold.is_none()));
    }

    #[test]
    fn global_ipv6_scope_matches_the_kernel() {
        let global = |a: &str| {
            IfAddress {
                address: ip(a),
                prefix_len: 64,
            }
            .is_global_v6()
        };
        assert!(global("2a01:cb00::1"));
        assert!(global("fd00::2"));
        assert!(!global("fe80::1"));
        assert!(!global("febf::1"));
        assert!(!global("fec0::1"));
        assert!(!global("::1"));
        assert!(!global("::"));
        assert!(!global("ff02::1"));
        assert!(!global("192.0.2.1"));
    }

    fn route_message(table: u8, prefix: u8, kind: RouteType, attributes: Vec<RouteAttribute>) -> RouteMessage {
        let mut message = RouteMessage::default();
        message.header.address_family = AddressFamily::Inet;
        message.header.table = table;
        message.header.destination_prefix_length = prefix;
        message.header.kind = kind;
        message.attributes = attributes;
        message
    }

    #[test]
    fn only_unicast_default_routes_of_the_main_table_are_kept() {
        let interfaces = [lo(), iface("eth0", 2, true, &["192.0.2.2/24"])];
        let gateway = RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(192, 0, 2, 1)));
        let default = route_message(
            254,
            0,
            RouteType::Unicast,
            vec![gateway.clone(), RouteAttribute::Oif(2), RouteAttribute::Priority(100)],
        );
        assert_eq!(
            default_routes_from(&default, &interfaces),
            vec![DefaultRoute {
                gateway: Some(ip("192.0.2.1")),
                interface: Some("eth0".to_owned()),
                metric: Some(100),
                ipv6: false,
            }]
        );
        let subnet = route_message(254, 24, RouteType::Unicast, vec![RouteAttribute::Oif(2)]);
        assert!(default_routes_from(&subnet, &interfaces).is_empty());
        let other_table = route_message(100, 0, RouteType::Unicast, vec![gateway.clone()]);
        assert!(default_routes_from(&other_table, &interfaces).is_empty());
        let big_table = route_message(252, 0, RouteType::Unicast, vec![gateway, RouteAttribute::Table(1000)]);
        assert!(default_routes_from(&big_table, &interfaces).is_empty());
        let main_by_attribute = route_message(252, 0, RouteType::Unicast, vec![RouteAttribute::Table(254)]);
        assert_eq!(default_routes_from(&main_by_attribute, &interfaces).len(), 1);
        let unreachable = route_message(254, 0, RouteType::Unreachable, vec![]);
        assert!(default_routes_from(&unreachable, &interfaces).is_empty());
    }

    #[test]
    fn a_multipath_default_route_gives_one_route_per_next_hop() {
        let interfaces = [lo(), iface("eth0", 2, true, &[]), iface("eth1", 3, true, &[])];
        let hop = |index: u32, last: u8| {
            let mut hop = RouteNextHop::default();
            hop.interface_index = index;
            hop.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(
                10, 0, 0, last,
            )))];
            hop
        };
        let message = route_message(
            254,
            0,
            RouteType::Unicast,
            vec![RouteAttribute::MultiPath(vec![hop(2, 1), hop(3, 2)])],
        );
        let routes = default_routes_from(&message, &interfaces);
        let summary: Vec<(Option<IpAddr>, Option<&str>)> =
            routes.iter().map(|r| (r.gateway, r.interface.as_deref())).collect();
        assert_eq!(
            summary,
            [
                (Some(ip("10.0.0.1")), Some("eth0")),
                (Some(ip("10.0.0.2")), Some("eth1"))
            ]
        );
    }

    #[test]
    fn the_local_address_wins_over_the_peer_address() {
        let mut message = AddressMessage::default();
        message.header.index = 7;
        message.header.prefix_len = 32;
        message.attributes = vec![
            AddressAttribute::Address(ip("10.0.0.1")),
            AddressAttribute::Local(ip("10.0.0.2")),
        ];
        let (index, address) = address_from(&message).expect("an address");
        assert_eq!(index, 7);
        assert_eq!(address.address, ip("10.0.0.2"));
        assert_eq!(address.prefix_len, 32);
        message.attributes = vec![AddressAttribute::Address(ip("2001:db8::1"))];
        assert_eq!(address_from(&message).map(|(_, a)| a.address), Some(ip("2001:db8::1")));
    }

    /// Reads this host's real interfaces, but asserts only on the loopback: the other interfaces
    /// belong to whatever machine runs the tests.
    #[tokio::test]
    async fn measure_link_sees_the_loopback() {
        let samples = measure_link().await.expect("netlink is readable");
        let lo = samples
            .interfaces
            .iter()
            .find(|i| i.loopback)
            .expect("a loopback interface");
        assert!(lo.up, "{lo:?}");
        assert!(
            lo.addresses
                .iter()
                .any(|a| a.address == ip("127.0.0.1") && a.prefix_len == 8),
            "{lo:?}"
        );
        assert!(!lo.counts_as_up());
    }
}
