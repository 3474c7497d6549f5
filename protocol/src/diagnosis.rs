//! The verdict: findings, who must act, and the evidence behind them.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CheckId, Lang, MetricValue, Threshold};

/// The verdict on a run: what is wrong, ranked, in plain language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnosis {
    /// True when no finding is above `info`.
    pub healthy: bool,
    /// One plain sentence for the customer: the root cause, or "everything works".
    pub summary: String,
    /// Findings, most important first. At most one has `root_cause: true`, and it is first.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Whether the operator must act (a ticket is warranted).
    #[serde(default)]
    pub operator_must_act: bool,
    /// The threshold profile that judged this run.
    pub profile: ProfileRef,
    /// The language of every text in this diagnosis.
    #[serde(default)]
    pub lang: Lang,
}

/// Names a versioned threshold profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileRef {
    /// Profile name (`default`, `ftth`, `vdsl2`…).
    pub name: String,
    /// Profile version; a change of any threshold bumps it.
    pub version: u32,
}

/// One thing found wrong (or worth knowing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable code, documented in `docs/findings.md`.
    pub code: FindingCode,
    /// How bad it is.
    pub severity: Severity,
    /// Where the fault is.
    pub segment: Segment,
    /// Who must act.
    pub actor: Actor,
    /// How sure the agent is.
    pub confidence: Confidence,
    /// Whether this is the root cause (the first finding, at most one).
    #[serde(default)]
    pub root_cause: bool,
    /// One short sentence for the customer.
    pub title: String,
    /// The technician's explanation.
    #[serde(default)]
    pub detail: String,
    /// The measurements that support this finding.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// What to do, for the customer and for the technician.
    #[serde(default)]
    pub actions: Vec<Advice>,
}

/// A measurement behind a finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// The check that measured it.
    pub check: CheckId,
    /// The metric's name (unit included).
    pub metric: String,
    /// The measured value.
    pub value: MetricValue,
    /// The threshold it was judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
}

/// Something someone should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Advice {
    /// Who the text is written for.
    pub audience: Audience,
    /// The advice.
    pub text: String,
}

/// Who a text is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Audience {
    /// The customer: short, no jargon.
    Customer,
    /// The technician: every detail.
    Technician,
    /// An audience this client does not know.
    #[serde(other)]
    Unknown,
}

macro_rules! finding_codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// Stable finding codes. Each is documented in `docs/findings.md`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[non_exhaustive]
        pub enum FindingCode {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )*
            /// A code this client does not know (sent by a newer agent).
            #[serde(other, rename = "UNKNOWN")]
            Unknown,
        }

        impl FindingCode {
            /// Every known code.
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant,)*];

            /// The stable code as text (`GATEWAY_UNREACHABLE`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( FindingCode::$variant => $name, )*
                    FindingCode::Unknown => "UNKNOWN",
                }
            }
        }

        impl std::str::FromStr for FindingCode {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $name => Ok(FindingCode::$variant), )*
                    _ => Err(format!("unknown finding code `{s}`")),
                }
            }
        }
    };
}

finding_codes! {
    /// No interface other than loopback has a carrier and an address.
    NoLink = "NO_LINK",
    /// An interface is up with an address, but there is no default route.
    NoDefaultRoute = "NO_DEFAULT_ROUTE",
    /// The default gateway does not answer.
    GatewayUnreachable = "GATEWAY_UNREACHABLE",
    /// The gateway answers, but loses packets.
    GatewayPacketLoss = "GATEWAY_PACKET_LOSS",
    /// The gateway answers slowly or irregularly.
    GatewayHighLatency = "GATEWAY_HIGH_LATENCY",
    /// The box answers, but no Internet anchor does.
    InternetUnreachable = "INTERNET_UNREACHABLE",
    /// Packets are lost beyond the box (the home network is clean).
    AccessPacketLoss = "ACCESS_PACKET_LOSS",
    /// Round trips to the Internet are slow or irregular beyond the box.
    InternetHighLatency = "INTERNET_HIGH_LATENCY",
    /// The device has IPv6, but IPv6 does not reach the Internet while IPv4 does.
    Ipv6Broken = "IPV6_BROKEN",
    /// No DNS resolver is configured.
    DnsNoResolver = "DNS_NO_RESOLVER",
    /// DNS resolution fails while the gateway answers.
    DnsResolverFailing = "DNS_RESOLVER_FAILING",
    /// The device's resolver fails while public resolvers work.
    DnsIspResolverFailing = "DNS_ISP_RESOLVER_FAILING",
    /// A resolver answers names that do not exist (NXDOMAIN hijacking).
    DnsHijack = "DNS_HIJACK",
    /// DNS resolution works but is slow.
    DnsSlow = "DNS_SLOW",
    /// A resolver answers A queries but not AAAA ones (or hides a name's AAAA records).
    DnsAaaaFailing = "DNS_AAAA_FAILING",
    /// The WiFi signal is weak (low signal or SNR).
    WifiWeakSignal = "WIFI_WEAK_SIGNAL",
    /// The WiFi channel is crowded (high busy time).
    WifiCongested = "WIFI_CONGESTED",
    /// Many WiFi retransmissions with a decent signal: interference.
    WifiInterference = "WIFI_INTERFERENCE",
    /// The WiFi network is open or uses WEP/WPA-TKIP.
    WifiInsecure = "WIFI_INSECURE",
    /// A captive portal intercepts web traffic: the customer must log in.
    CaptivePortal = "CAPTIVE_PORTAL",
    /// HTTPS is blocked while HTTP works (a firewall).
    HttpsBlocked = "HTTPS_BLOCKED",
    /// HTTPS certificates are not trusted: something intercepts TLS (or the clock is wrong).
    TlsIntercepted = "TLS_INTERCEPTED",
    /// The network works, but the web sites measured do not answer.
    RemoteServiceDown = "REMOTE_SERVICE_DOWN",
    /// Web pages are slow to start while the network's round trips are fine.
    HttpsSlow = "HTTPS_SLOW",
    /// Large packets vanish on the path while small ones pass: a PMTU black hole.
    PmtuBlackHole = "PMTU_BLACK_HOLE",
    /// Goodput is well below what the subscribed line should carry.
    ThroughputBelowContract = "THROUGHPUT_BELOW_CONTRACT",
    /// Latency rises sharply while the line is loaded: oversized queues (bufferbloat).
    Bufferbloat = "BUFFERBLOAT",
    /// A check that matters could not measure (no privilege, timeout).
    CheckCouldNotRun = "CHECK_COULD_NOT_RUN",
    /// The mobile modem has no service: searching, registration denied, or not registered.
    MobileNoService = "MOBILE_NO_SERVICE",
    /// The mobile radio signal is weak (RSSI on 2G/3G; RSRP, RSRQ or SINR on 4G/5G).
    MobileWeakSignal = "MOBILE_WEAK_SIGNAL",
    /// The mobile modem is overheating.
    ModemOverheating = "MODEM_OVERHEATING",
    /// The box (or the mobile modem) restarted a few minutes ago.
    BoxJustRebooted = "BOX_JUST_REBOOTED",
    /// The box is overheating.
    BoxOverheating = "BOX_OVERHEATING",
    /// The box is short of memory.
    BoxMemoryPressure = "BOX_MEMORY_PRESSURE",
    /// The box's processor is overloaded.
    BoxCpuOverload = "BOX_CPU_OVERLOAD",
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; nothing is broken.
    Info,
    /// Degraded: things work, badly.
    Warning,
    /// Broken: something the customer needs does not work.
    Critical,
    /// A severity this client does not know.
    #[serde(other)]
    Unknown,
}

impl Severity {
    /// Rank for ordering, higher is worse; an unknown severity ranks lowest.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Unknown => 0,
            Severity::Info => 1,
            Severity::Warning => 2,
            Severity::Critical => 3,
        }
    }

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
            Severity::Unknown => "unknown",
        }
    }
}

/// The part of the path at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Segment {
    /// The customer's device itself (its interfaces, configuration).
    Device,
    /// The WiFi between device and box.
    Wifi,
    /// The wired home network.
    Lan,
    /// The box.
    Box,
    /// The access line (fibre, copper) between box and operator.
    AccessLine,
    /// The operator's network (core, DNS resolvers).
    OperatorNetwork,
    /// The mobile radio link.
    MobileRadio,
    /// A remote service beyond the operator.
    RemoteService,
    /// A segment this client does not know.
    #[serde(other)]
    Unknown,
}

impl Segment {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Device => "device",
            Segment::Wifi => "wifi",
            Segment::Lan => "lan",
            Segment::Box => "box",
            Segment::AccessLine => "access_line",
            Segment::OperatorNetwork => "operator_network",
            Segment::MobileRadio => "mobile_radio",
            Segment::RemoteService => "remote_service",
            Segment::Unknown => "unknown",
        }
    }
}

/// Who must act on a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// The customer can fix it (a cable, a setting, a restart).
    Customer,
    /// The operator must act (a ticket).
    Operator,
    /// An actor this client does not know.
    #[serde(other)]
    Unknown,
}

/// How sure the agent is of a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Confidence {
    /// Evidence conflicts, or checks that matter could not run.
    Low,
    /// Consistent but partial evidence.
    Medium,
    /// Consistent, complete evidence.
    High,
    /// A confidence this client does not know.
    #[serde(other)]
    Unknown,
}

impl Confidence {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
            Confidence::Unknown => "unknown",
        }
    }
}

impl Actor {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Customer => "customer",
            Actor::Operator => "operator",
            Actor::Unknown => "unknown",
        }
    }
}
