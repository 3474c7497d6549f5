//! `http`: what a browser goes through to reach a web site, one phase at a time — name
//! resolution, TCP connect, TLS handshake, time to the first response byte — for a few targets
//! at once; captive-portal detection with a `204` probe (ChromeOS CaptivePortal); HTTP and
//! HTTPS firewall detection from TCP connects to ports 80 and 443 (ChromeOS HttpFirewall,
//! HttpsFirewall); proxy settings in the environment.
//!
//! Metrics (times in ms; "median" is over the targets that completed that phase):
//!
//! | metric | meaning |
//! | --- | --- |
//! | `targets`, `targets_answering` | targets configured; targets that sent an HTTP response (any status) |
//! | `dns_ms` | median resolution time (system resolver); missing when every target is an IP literal |
//! | `connect_ms`, `tls_ms`, `ttfb_ms` | median TCP connect, TLS handshake, and request-to-first-byte times |
//! | `https_latency_ms` | **judged**: median over the HTTPS targets that answered of connect + TLS + TTFB (DNS excluded, as ChromeOS HttpsLatency warms its cache first) |
//! | `status_codes` | `url=status` for each target that answered, comma-separated |
//! | `captive_portal` | `true`/`false` from the probe; missing when the probe got no usable answer |
//! | `portal_location` | where the portal sends the user (the redirect's `Location`, else a login URL found in the page) |
//! | `portal_probe_status` | the probe's HTTP status |
//! | `http_reachable`, `https_reachable` | some plain-HTTP / HTTPS exchange got a response |
//! | `http_firewall`, `https_firewall` | no TCP connect to port 80 (443) succeeded while one to 443 (80) did |
//! | `cert_error` | the first certificate rejection, `url: reason`; missing when none |
//! | `failed_targets` | `url (phase: detail)` for each target that got no response; empty when none |
//! | `proxy` | proxy variables set in the environment (credentials masked); missing when none |
//!
//! Status, worst first: `fail` with "captive portal" when the probe says so (nothing else is
//! reported then: everything else is a consequence); `fail` when no web server answered at all;
//! `fail` when HTTPS is blocked while HTTP works, when a certificate is rejected (an
//! intercepting middlebox, a portal answering for the site, or a wrong clock), or when no target
//! answered; `warn` when HTTP is blocked while HTTPS works, or some targets failed; and the
//! judged `https_latency_ms`. The reasons are joined with "; ". A configured proxy is always
//! named in the reason: this check connects directly and never goes through a proxy, so on a
//! network that allows only proxied traffic its failures say so.
//!
//! Name resolution uses the system resolver (`getaddrinfo` through `tokio::net::lookup_host`),
//! not hickory: it is what browsers and applications use (nsswitch, `/etc/hosts`, a local
//! stub such as systemd-resolved), so a failure here is a failure users see, while the `dns`
//! check probes each resolver on its own. `getaddrinfo` cannot be cancelled: a resolution that
//! outlives its timeout is abandoned on a blocking thread, which ends on its own. IP-literal
//! targets skip resolution (and never touch DNS). The first address is tried, then the first
//! one of the other family when that fails quickly (a broken IPv6 route must not hide a
//! working IPv4 site).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use sonde_protocol::{CheckStatus, Metric, Threshold};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use super::gateway::percentile;
use super::past_limit;
use super::{Evaluation, MeasureError, ProgressSink, worst};

/// Targets measured by default. `https://www.google.com/generate_204` is Android's default
/// HTTPS validation URL (NetworkMonitor); `www.example.com` is run by IANA, on another network.
pub const DEFAULT_TARGETS: [&str; 2] = ["https://www.example.com/", "https://www.google.com/generate_204"];
/// The captive-portal probe: Android's default HTTP validation URL, answered `204` without a
/// portal in the way.
pub const DEFAULT_PORTAL_PROBE: &str = "http://connectivitycheck.gstatic.com/generate_204";
/// How long name resolution may take.
pub const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP connect may take (per target, all addresses tried included).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TLS handshake may take.
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the response head may take to arrive, from the request on.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// The whole check: every phase is cut at this bound (ChromeOS HttpsLatency's request timeout).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// ChromeOS HttpsLatency `kPotentialProblemLatencyMs`: a median above it is "potentially
/// problematic" (our `warn`).
pub const HTTPS_LATENCY_WARN_MS: f64 = 500.0;
/// ChromeOS HttpsLatency `kProblemLatencyMs`: a median above it is "problematic" (our `fail`).
pub const HTTPS_LATENCY_FAIL_MS: f64 = 1000.0;

/// The environment variables read for proxy detection (in any case).
pub const PROXY_VARIABLES: [&str; 3] = ["http_proxy", "https_proxy", "all_proxy"];

/// How the check probes.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpOptions {
    /// The sites measured (`http://` or `https://`). Each gets its own DNS, connect, TLS and
    /// TTFB timings; all are measured concurrently.
    pub targets: Vec<HttpUrl>,
    /// The captive-portal probe, a plain-HTTP URL that answers `204` when nothing is in the
    /// way. `None`: no portal detection.
    pub portal_probe: Option<HttpUrl>,
    /// Extra trusted roots (PEM), besides the Mozilla roots (webpki-roots) built in: a
    /// company's own CA, or a test network's.
    pub ca_file: Option<PathBuf>,
    /// Name resolution timeout.
    pub dns_timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// TLS handshake timeout.
    pub tls_timeout: Duration,
    /// Time allowed from sending the request to the end of the response head.
    pub response_timeout: Duration,
    /// Bound on the whole check: no phase runs past it.
    pub check_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            // Literal URLs, checked by a test.
            targets: DEFAULT_TARGETS.iter().filter_map(|u| HttpUrl::parse(u).ok()).collect(),
            portal_probe: HttpUrl::parse(DEFAULT_PORTAL_PROBE).ok(),
            ca_file: None,
            dns_timeout: DEFAULT_DNS_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tls_timeout: DEFAULT_TLS_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }
}

/// Thresholds for the HTTP check (ChromeOS HttpsLatency: 500 ms slight, 1000 ms significant).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpThresholds {
    /// `https_latency_ms` past which the check warns.
    pub https_latency_warn_ms: f64,
    /// `https_latency_ms` past which the check fails.
    pub https_latency_fail_ms: f64,
}

impl Default for HttpThresholds {
    fn default() -> Self {
        Self {
            https_latency_warn_ms: HTTPS_LATENCY_WARN_MS,
            https_latency_fail_ms: HTTPS_LATENCY_FAIL_MS,
        }
    }
}

/// The raw outcome of the check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpSamples {
    /// One entry per target, in configuration order.
    pub targets: Vec<Exchange>,
    /// The captive-portal probe, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalSamples>,
    /// TCP connects to the other of ports 80 and 443 (both, for a target on another port) at
    /// each target's address, for firewall detection.
    #[serde(default)]
    pub ports: Vec<PortProbe>,
    /// Proxy variables found in the environment (credentials masked).
    #[serde(default)]
    pub proxies: Vec<ProxySetting>,
}

/// One request to one URL, phase by phase. A phase that was not reached has no time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The URL.
    pub url: String,
    /// Whether it is `https://`.
    pub https: bool,
    /// The address connected to (or tried last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// Name resolution time (µs); missing for IP literals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_us: Option<u64>,
    /// TCP connect time (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<u64>,
    /// TLS handshake time (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_us: Option<u64>,
    /// The TLS version agreed (`1.2`, `1.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// From the request written to the first response byte (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_us: Option<u64>,
    /// The response status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The response's `Location` header, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why no response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PhaseError>,
}

/// The captive-portal probe's exchange and what its body showed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortalSamples {
    /// The request to the probe URL.
    pub exchange: Exchange,
    /// The response had a body (a `Content-Length` above 0, chunks, or bytes).
    pub has_content: bool,
    /// A login URL found in the page (meta refresh, else a form's action), as written there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_location: Option<String>,
}

/// A TCP connect made only to learn whether a port is open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortProbe {
    /// The target whose address this is.
    pub url: String,
    /// Address and port.
    pub address: SocketAddr,
    /// Connect time (µs), when it connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<u64>,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PhaseError>,
}

/// A proxy variable found in the environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySetting {
    /// The variable, as spelled (`HTTPS_PROXY`).
    pub variable: String,
    /// Its value, with any user and password replaced by `***`.
    pub value: String,
}

/// Where and how an exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseError {
    /// The phase that failed.
    pub phase: Phase,
    /// What kind of failure.
    pub kind: FailureKind,
    /// The underlying message.
    pub detail: String,
}

/// The phases of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Name resolution.
    Dns,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Tls,
    /// Request and response head.
    Http,
}

/// Kinds of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing came back in time.
    Timeout,
    /// The connection was refused (TCP RST).
    Refused,
    /// No route, or the host or network is unreachable.
    Unreachable,
    /// The name does not exist or has no address.
    NotFound,
    /// The server's certificate was rejected.
    Certificate,
    /// Another TLS failure (alert, protocol).
    Tls,
    /// The response is not HTTP.
    Malformed,
    /// The peer closed or reset the connection early.
    Closed,
    /// Anything else.
    Other,
}

/// Probes every target and the portal probe, concurrently.
///
/// Per target: resolution (skipped for IP literals), TCP connect, TLS for `https://`, then a
/// minimal `GET` and the response head, each bounded by its own timeout and all by
/// `options.check_timeout`. Once connected (or having failed to), a TCP connect to the other
/// of ports 80 and 443 at the same address runs beside the rest, for firewall detection.
///
/// `Err` only when the TLS configuration cannot be built (an unreadable or empty `ca_file`).
pub async fn measure_http(options: &HttpOptions, progress: &dyn ProgressSink) -> Result<HttpSamples, MeasureError> {
    let tls = Arc::new(client_config(options.ca_file.as_deref()).await?);
    let prober = Prober {
        options,
        tls: TlsConnector::from(tls),
        deadline: tokio::time::Instant::now() + options.check_timeout,
    };
    let tracker = Progress {
        sink: progress,
        done: AtomicUsize::new(0),
        planned: options.targets.len() + usize::from(options.portal_probe.is_some()),
    };
    let targets = join_all(options.targets.iter().map(|url| async {
        let visit = prober.visit(url, false, &tracker).await;
        tracker.advance(&visit.exchange);
        visit
    }));
    let portal = async {
        let url = options.portal_probe.as_ref()?;
        let visit = prober.visit(url, true, &tracker).await;
        tracker.advance(&visit.exchange);
        Some(visit)
    };
    let (targets, portal) = tokio::join!(targets, portal);
    let mut ports = Vec::new();
    let mut exchanges = Vec::with_capacity(targets.len());
    for visit in targets {
        ports.extend(visit.ports);
        exchanges.push(visit.exchange);
    }
    let portal = portal.map(|visit| {
        ports.extend(visit.ports);
        let page = visit
            .head
            .as_ref()
            .filter(|h| h.status == 200)
            .map(|_| page_text(&visit.body));
        PortalSamples {
            has_content: visit.head.as_ref().is_some_and(|h| h.has_content(&visit.body)),
            page_location: page.as_deref().and_then(login_url_in_page),
            exchange: visit.exchange,
        }
    });
    Ok(HttpSamples {
        targets: exchanges,
        portal,
        ports,
        proxies: proxy_settings(std::env::vars_os()),
    })
}

/// Judges an HTTP measurement.
pub fn evaluate_http(samples: &HttpSamples, thresholds: &HttpThresholds) -> Evaluation {
    let targets = &samples.targets;
    let answering: Vec<&Exchange> = targets.iter().filter(|t| t.status.is_some()).collect();
    let median_ms = |values: Vec<u64>| {
        let mut ms: Vec<f64> = values.into_iter().map(|us| us as f64 / 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        percentile(&ms, 50.0)
    };
    let dns = median_ms(targets.iter().filter_map(|t| t.dns_us).collect());
    let connect = median_ms(targets.iter().filter_map(|t| t.connect_us).collect());
    let tls = median_ms(targets.iter().filter_map(|t| t.tls_us).collect());
    let ttfb = median_ms(targets.iter().filter_map(|t| t.ttfb_us).collect());
    let https_latencies = answering
        .iter()
        .filter(|t| t.https)
        .filter_map(|t| Some(t.connect_us? + t.tls_us? + t.ttfb_us?))
        .collect();
    let https_latency = Metric::judged(
        "https_latency_ms",
        median_ms(https_latencies),
        Threshold::above(thresholds.https_latency_warn_ms, thresholds.https_latency_fail_ms),
    );
    let portal = samples.portal.as_ref().map(portal_verdict);
    let probe_answered = samples.portal.as_ref().is_some_and(|p| p.exchange.status.is_some());
    let ports = port_evidence(samples);
    let https_firewall = ports.open_443 == 0 && ports.blocked_443 > 0 && ports.open_80 > 0;
    let http_firewall = ports.open_80 == 0 && ports.blocked_80 > 0 && ports.open_443 > 0;
    let http_reachable = answering.iter().any(|t| !t.https) || probe_answered;
    let https_reachable = answering.iter().any(|t| t.https);
    let cert_errors: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            let e = t.error.as_ref().filter(|e| e.kind == FailureKind::Certificate)?;
            Some(format!("{}: {}", t.url, e.detail))
        })
        .collect();
    let failed: Vec<String> = targets
        .iter()
        .filter_map(|t| Some(format!("{} ({})", t.url, t.error.as_ref()?)))
        .collect();

    let mut verdicts: Vec<(CheckStatus, String)> = Vec::new();
    if targets.is_empty() && samples.portal.is_none() {
        verdicts.push((CheckStatus::Skipped, "no HTTP target configured".to_owned()));
    } else if let Some(PortalVerdict::Portal(location)) = &portal {
        let status = samples
            .portal
            .as_ref()
            .and_then(|p| p.exchange.status)
            .unwrap_or_default();
        let to = location
            .as_deref()
            .map(|l| format!(", login at {l}"))
            .unwrap_or_default();
        verdicts.push((
            CheckStatus::Fail,
            format!("captive portal: the probe got {status} instead of 204{to}"),
        ));
    } else if answering.is_empty() && !probe_answered {
        verdicts.push((
            CheckStatus::Fail,
            format!("no web server answered: {}", failed.join(", ")),
        ));
    } else {
        if https_firewall {
            verdicts.push((
                CheckStatus::Fail,
                "HTTPS blocked: no connection to port 443 while port 80 works (a firewall)".to_owned(),
            ));
        }
        if !cert_errors.is_empty() {
            verdicts.push((
                CheckStatus::Fail,
                format!(
                    "certificate rejected ({}): an intercepting middlebox, or a wrong clock",
                    cert_errors.join(", ")
                ),
            ));
        }
        if http_firewall {
            verdicts.push((
                CheckStatus::Warn,
                "HTTP blocked: no connection to port 80 while port 443 works (a firewall)".to_owned(),
            ));
        }
        // Certificate rejections have their own reason above.
        let other_failures: Vec<String> = targets
            .iter()
            .filter_map(|t| {
                let error = t.error.as_ref().filter(|e| e.kind != FailureKind::Certificate)?;
                Some(format!("{} ({error})", t.url))
            })
            .collect();
        if !other_failures.is_empty() {
            let (status, lead) = if answering.is_empty() {
                (CheckStatus::Fail, "no target answered")
            } else {
                (CheckStatus::Warn, "failed")
            };
            verdicts.push((status, format!("{lead}: {}", other_failures.join(", "))));
        }
        if let (Some(status), Some(past)) = (https_latency.status, past_limit(&https_latency)) {
            verdicts.push((status, past));
        }
    }
    let proxy_text = (!samples.proxies.is_empty()).then(|| {
        samples
            .proxies
            .iter()
            .map(|p| format!("{}={}", p.variable, p.value))
            .collect::<Vec<_>>()
            .join(", ")
    });

    let status = match verdicts.first() {
        Some((CheckStatus::Skipped, _)) => CheckStatus::Skipped,
        _ => worst(verdicts.iter().map(|(s, _)| *s)),
    };
    let mut reasons: Vec<String> = verdicts.into_iter().map(|(_, r)| r).collect();
    if let Some(proxy) = &proxy_text {
        reasons.push(format!("proxy configured ({proxy}), not used by this check"));
    }
    let probe = samples.portal.as_ref();
    let location = match &portal {
        Some(PortalVerdict::Portal(location)) => location.clone(),
        _ => None,
    };
    let status_codes: Vec<String> = answering
        .iter()
        .filter_map(|t| Some(format!("{}={}", t.url, t.status?)))
        .collect();
    Evaluation {
        status,
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        metrics: vec![
            Metric::new("targets", targets.len()),
            Metric::new("targets_answering", answering.len()),
            Metric::new("dns_ms", dns),
            Metric::new("connect_ms", connect),
            Metric::new("tls_ms", tls),
            Metric::new("ttfb_ms", ttfb),
            https_latency,
            Metric::new("status_codes", status_codes.join(",")),
            Metric::new(
                "captive_portal",
                portal.as_ref().and_then(|p| match p {
                    PortalVerdict::NoPortal => Some(false),
                    PortalVerdict::Portal(_) => Some(true),
                    PortalVerdict::Unknown => None,
                }),
            ),
            Metric::new("portal_location", location),
            Metric::new(
                "portal_probe_status",
                probe.and_then(|p| p.exchange.status).map(u64::from),
            ),
            Metric::new("http_reachable", http_reachable),
            Metric::new("https_reachable", https_reachable),
            Metric::new("http_firewall", http_firewall),
            Metric::new("https_firewall", https_firewall),
            Metric::new("cert_error", cert_errors.first().cloned()),
            Metric::new("failed_targets", failed.join(", ")),
            Metric::new("proxy", proxy_text),
        ],
    }
}

/// What the captive-portal probe says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortalVerdict {
    /// `204`, or `200` with an empty body (which Android accepts too: some transparent proxies
    /// turn 204 into it).
    NoPortal,
    /// Another `2xx`/`3xx` (Android's rule): a portal, with its login URL when known.
    Portal(Option<String>),
    /// No answer, or `4xx`/`5xx`: nothing can be said.
    Unknown,
}

/// Classifies the probe's answer; the login URL is the redirect's `Location` (made absolute),
/// else one found in the page.
pub fn portal_verdict(probe: &PortalSamples) -> PortalVerdict {
    let Some(status) = probe.exchange.status else {
        return PortalVerdict::Unknown;
    };
    match status {
        204 => PortalVerdict::NoPortal,
        200 if !probe.has_content => PortalVerdict::NoPortal,
        200..=399 => {
            let base = HttpUrl::parse(&probe.exchange.url).ok();
            let absolute = |location: &String| match &base {
                Some(base) => resolve_location(base, location),
                None => location.clone(),
            };
            let location = probe.exchange.location.as_ref().or(probe.page_location.as_ref());
            PortalVerdict::Portal(location.map(absolute))
        }
        _ => PortalVerdict::Unknown,
    }
}

/// TCP connects that succeeded or were blocked, per port (80 and 443), over every exchange
/// and port probe. Only connect failures count as blocked: a DNS failure says nothing of ports.
#[derive(Debug, Default)]
struct PortEvidence {
    open_80: usize,
    blocked_80: usize,
    open_443: usize,
    blocked_443: usize,
}

fn port_evidence(samples: &HttpSamples) -> PortEvidence {
    let exchanges = samples
        .targets
        .iter()
        .chain(samples.portal.as_ref().map(|p| &p.exchange));
    let connects = exchanges.map(|e| (e.address, e.connect_us, e.error.as_ref())).chain(
        samples
            .ports
            .iter()
            .map(|p| (Some(p.address), p.connect_us, p.error.as_ref())),
    );
    let mut evidence = PortEvidence::default();
    for (address, connect_us, error) in connects {
        let Some(address) = address else { continue };
        let open = connect_us.is_some();
        let blocked = !open && error.is_some_and(|e| e.phase == Phase::Connect);
        let (open_count, blocked_count) = match address.port() {
            80 => (&mut evidence.open_80, &mut evidence.blocked_80),
            443 => (&mut evidence.open_443, &mut evidence.blocked_443),
            _ => continue,
        };
        *open_count += usize::from(open);
        *blocked_count += usize::from(blocked);
    }
    evidence
}

impl fmt::Display for PhaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.phase, self.detail)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Http => "http",
        })
    }
}

impl PhaseError {
    fn new(phase: Phase, kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            phase,
            kind,
            detail: detail.into(),
        }
    }

    fn timeout(phase: Phase, started: Instant) -> Self {
        Self::new(
            phase,
            FailureKind::Timeout,
            format!("timed out after {} ms", started.elapsed().as_millis()),
        )
    }
}

// ---- URLs ----

/// An `http://` or `https://` URL, parsed once (no user info; IPv6 literals in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    https: bool,
    host: Host,
    port: u16,
    path: String,
}

/// A URL's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A name (lowercase).
    Name(String),
    /// An address literal.
    Ip(IpAddr),
}

/// Why a text is not an HTTP URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{url}` is not an http(s) URL: {why}")]
pub struct UrlError {
    url: String,
    why: &'static str,
}

impl HttpUrl {
    /// Parses `http[s]://host[:port][/path][?query]`; a fragment is dropped.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let fail = |why| UrlError {
            url: text.to_owned(),
            why,
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains spaces or control characters"));
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(|| fail("no scheme"))?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(fail("the scheme is neither http nor https"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(fail("user names in URLs are not supported"));
        }
        let (host, port) = split_host_port(authority).map_err(fail)?;
        let path = tail.split('#').next().unwrap_or_default();
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Self {
            https,
            host,
            port: port.unwrap_or(if https { 443 } else { 80 }),
            path,
        })
    }

    /// Whether this is `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port (the scheme's default when none is written).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query (at least `/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }

    /// `host[:port]`, as in a `Host` header (the port only when not the default).
    pub fn authority(&self) -> String {
        let host = match &self.host {
            Host::Name(name) => name.clone(),
            Host::Ip(IpAddr::V4(ip)) => ip.to_string(),
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme(), self.authority(), self.path)
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn split_host_port(authority: &str) -> Result<(Host, Option<u16>), &'static str> {
    let port = |text: &str| match text {
        "" => Ok(None),
        p => match p.parse::<u16>() {
            Ok(0) | Err(_) => Err("the port is not a number in 1..=65535"),
            Ok(port) => Ok(Some(port)),
        },
    };
    if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest.split_once(']').ok_or("an IPv6 address without its `]`")?;
        let ip: Ipv6Addr = literal.parse().map_err(|_| "not an IPv6 address in brackets")?;
        let after = match after {
            "" => None,
            a => Some(a.strip_prefix(':').ok_or("garbage after the IPv6 address")?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), after.map(port).transpose()?.flatten()));
    }
    let (host, port_text) = match authority.rsplit_once(':') {
        Some((host, p)) => (host, Some(p)),
        None => (authority, None),
    };
    let port = port_text.map(port).transpose()?.flatten();
    if host.is_empty() {
        return Err("no host");
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((Host::Ip(IpAddr::V4(ip)), port));
    }
    let valid = host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        return Err("the host is not a name or an address");
    }
    Ok((Host::Name(host.to_ascii_lowercase()), port))
}

/// `location` made absolute against the URL it came from (absolute, `//host/…`, `/path`, or
/// relative to the request's directory).
pub fn resolve_location(base: &HttpUrl, location: &str) -> String {
    let location = location.trim();
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        location.to_owned()
    } else if location.starts_with("//") {
        format!("{}:{location}", base.scheme())
    } else if location.starts_with('/') {
        format!("{}://{}{location}", base.scheme(), base.authority())
    } else {
        let path = base.path.split('?').next().unwrap_or("/");
        let directory = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{}://{}{directory}/{location}", base.scheme(), base.authority())
    }
}

// ---- Responses ----

/// What the check needs of a response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code (100–599).
    pub status: u16,
    /// The `Location` header.
    pub location: Option<String>,
    /// The `Content-Length` header, when a number.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

/// The result of parsing the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// The head is complete; the body starts at `body_start`.
    Complete {
        /// The parsed head.
        head: ResponseHead,
        /// Offset of the first body byte in the buffer.
        body_start: usize,
    },
    /// More bytes are needed.
    Incomplete,
    /// This is not an HTTP/1 response.
    Invalid(String),
}

/// Largest response head accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most body bytes kept from the portal probe's answer (to look for a login URL).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Parses an HTTP/1 response head (status line and headers) from the start of `buffer`. The
/// status line is checked as soon as it is complete, so a non-HTTP answer is rejected early.
/// Lines end with CRLF or a bare LF; header lines without a colon are ignored.
pub fn parse_response_head(buffer: &[u8]) -> HeadParse {
    let Some(first_end) = buffer.iter().position(|&b| b == b'\n') else {
        return if buffer.len() > MAX_HEAD_BYTES || (!buffer.is_empty() && !b"HTTP/".starts_with(prefix(buffer, 5))) {
            HeadParse::Invalid("not an HTTP response".to_owned())
        } else {
            HeadParse::Incomplete
        };
    };
    let status = match parse_status_line(trim_cr(&buffer[..first_end])) {
        Ok(status) => status,
        Err(why) => return HeadParse::Invalid(why),
    };
    // The head ends at the first empty line.
    let mut head = ResponseHead {
        status,
        location: None,
        content_length: None,
        chunked: false,
    };
    let mut start = first_end + 1;
    loop {
        let Some(len) = buffer[start..].iter().position(|&b| b == b'\n') else {
            return if buffer.len() > MAX_HEAD_BYTES {
                HeadParse::Invalid(format!("response head over {MAX_HEAD_BYTES} bytes"))
            } else {
                HeadParse::Incomplete
            };
        };
        let line = trim_cr(&buffer[start..start + len]);
        start += len + 1;
        if line.is_empty() {
            return HeadParse::Complete {
                head,
                body_start: start,
            };
        }
        if start > MAX_HEAD_BYTES {
            return HeadParse::Invalid(format!("response head over {MAX_HEAD_BYTES} bytes"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        let value = String::from_utf8_lossy(&line[colon + 1..]).trim().to_owned();
        if name.eq_ignore_ascii_case(b"location") {
            head.location = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            head.content_length = value.parse().ok();
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
}

/// The status of `HTTP/<version> <3 digits>[ <reason>]`.
fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(line);
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let shown: String = text.chars().take(40).collect();
    if !version.starts_with("HTTP/") || version.len() < 6 {
        return Err(format!("not an HTTP status line: {shown:?}"));
    }
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("no status code in {shown:?}"));
    }
    match code.parse::<u16>() {
        Ok(status) if (100..=599).contains(&status) => Ok(status),
        _ => Err(format!("status out of range in {shown:?}")),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn prefix(bytes: &[u8], n: usize) -> &[u8] {
    &bytes[..bytes.len().min(n)]
}

impl ResponseHead {
    /// Whether a body follows (as far as the head and the bytes read say).
    fn has_content(&self, body: &[u8]) -> bool {
        self.content_length
            .map_or(self.chunked || !body.is_empty(), |len| len > 0)
    }

    /// Whether `body` holds everything the response will send.
    fn body_complete(&self, body: &[u8]) -> bool {
        if matches!(self.status, 100..=199 | 204 | 304) {
            return true;
        }
        match self.content_length {
            Some(len) => body.len() as u64 >= len,
            None => self.chunked && body.ends_with(b"0\r\n\r\n"),
        }
    }
}

/// A login URL in a portal's page: a meta refresh's target, else the first form's action. As
/// written in the page, with `&amp;` decoded.
pub fn login_url_in_page(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let tags = |name: &'static str| {
        let lower = lower.clone();
        let open = format!("<{name}");
        let mut from = 0;
        std::iter::from_fn(move || {
            let start = from + lower.get(from..)?.find(&open)?;
            let end = start + lower.get(start..)?.find('>').unwrap_or(lower.len() - start);
            from = end;
            Some((start, end))
        })
    };
    let meta_refresh = tags("meta").find_map(|(start, end)| {
        let tag = html.get(start..end)?;
        let is_refresh = attribute(tag, "http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh"));
        let content = attribute(tag, "content").filter(|_| is_refresh)?;
        let at = content.to_ascii_lowercase().find("url=")?;
        let url = content.get(at + 4..)?.trim().trim_matches(['\'', '"']);
        (!url.is_empty()).then(|| url.to_owned())
    });
    let found = meta_refresh.or_else(|| {
        tags("form").find_map(|(start, end)| attribute(html.get(start..end)?, "action").filter(|a| !a.is_empty()))
    })?;
    Some(found.replace("&amp;", "&"))
}

/// The value of attribute `name` in one tag's text (`name="v"`, `name='v'` or `name=v`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower.get(from..).and_then(|rest| rest.find(name)) {
        let at = from + found;
        from = at + name.len();
        // A whole attribute name: preceded by a space, followed by `=` (spaces allowed).
        let preceded = at > 0 && lower.as_bytes().get(at - 1).is_some_and(u8::is_ascii_whitespace);
        let rest = tag.get(from..)?.trim_start();
        let Some(value) = rest.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        if !preceded {
            continue;
        }
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => value.get(1..)?.split(quote).next()?,
            _ => value.split(|c: char| c.is_whitespace() || c == '>').next()?,
        };
        return Some(value.to_owned());
    }
    None
}

fn page_text(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_BYTES)]).into_owned()
}

// ---- Proxies ----

/// The proxy variables among `vars` (any case, non-empty), sorted, credentials masked.
pub fn proxy_settings(vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>) -> Vec<ProxySetting> {
    let mut found: Vec<ProxySetting> = vars
        .into_iter()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            let value = value.to_string_lossy().trim().to_owned();
            let wanted = PROXY_VARIABLES.iter().any(|v| name.eq_ignore_ascii_case(v));
            (wanted && !value.is_empty()).then(|| ProxySetting {
                value: mask_credentials(&value),
                variable: name,
            })
        })
        .collect();
    found.sort_by(|a, b| a.variable.cmp(&b.variable));
    found
}

/// `http://user:pass@proxy:3128` → `http://***@proxy:3128`.
pub fn mask_credentials(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..authority_start], &url[authority_start + at..]),
        None => url.to_owned(),
    }
}

// ---- Measurement ----

struct Prober<'a> {
    options: &'a HttpOptions,
    tls: TlsConnector,
    deadline: tokio::time::Instant,
}

/// One URL visited: the exchange, the port probes beside it, and what was read.
struct Visit {
    exchange: Exchange,
    ports: Vec<PortProbe>,
    head: Option<ResponseHead>,
    body: Vec<u8>,
}

impl Prober<'_> {
    /// When a phase that may take `limit` and starts now must end.
    fn phase_deadline(&self, limit: Duration) -> tokio::time::Instant {
        (tokio::time::Instant::now() + limit).min(self.deadline)
    }

    async fn visit(&self, url: &HttpUrl, keep_body: bool, progress: &Progress<'_>) -> Visit {
        let mut visit = Visit {
            exchange: Exchange {
                url: url.to_string(),
                https: url.is_https(),
                address: None,
                dns_us: None,
                connect_us: None,
                tls_us: None,
                tls_version: None,
                ttfb_us: None,
                status: None,
                location: None,
                error: None,
            },
            ports: Vec::new(),
            head: None,
            body: Vec::new(),
        };
        let candidates = match self.resolve(url, &mut visit.exchange).await {
            Ok(candidates) => candidates,
            Err(error) => {
                visit.exchange.error = Some(error);
                return visit;
            }
        };
        let stream = self.connect(&candidates, &mut visit.exchange).await;
        if let Some(connect_us) = visit.exchange.connect_us {
            progress.connected(url, connect_us);
        }
        let Some(address) = visit.exchange.address else {
            return visit;
        };
        let probes = join_all(
            other_ports(url.port())
                .iter()
                .map(|port| self.port_probe(url, SocketAddr::new(address.ip(), *port))),
        );
        let rest = async {
            match stream {
                Ok(tcp) => self.secure_and_request(url, tcp, keep_body, &mut visit).await,
                Err(error) => visit.exchange.error = Some(error),
            }
        };
        let (ports, ()) = tokio::join!(probes, rest);
        visit.ports = ports;
        visit
    }

    /// The addresses to try: the first one resolved, then the first of the other family.
    async fn resolve(&self, url: &HttpUrl, exchange: &mut Exchange) -> Result<Vec<SocketAddr>, PhaseError> {
        let name = match url.host() {
            Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, url.port())]),
            Host::Name(name) => name,
        };
        let started = Instant::now();
        let deadline = self.phase_deadline(self.options.dns_timeout);
        let resolved = timeout_at(deadline, tokio::net::lookup_host((name.as_str(), url.port()))).await;
        let addresses: Vec<SocketAddr> = match resolved {
            Err(_) => return Err(PhaseError::timeout(Phase::Dns, started)),
            Ok(Err(e)) => return Err(dns_failure(&e)),
            Ok(Ok(addresses)) => addresses.collect(),
        };
        exchange.dns_us = Some(micros(started));
        let first = *addresses
            .first()
            .ok_or_else(|| PhaseError::new(Phase::Dns, FailureKind::NotFound, "no address"))?;
        let mut candidates = vec![first];
        candidates.extend(addresses.iter().find(|a| a.is_ipv4() != first.is_ipv4()));
        Ok(candidates)
    }

    /// Connects to the first candidate that accepts, within one connect timeout. Records the
    /// address used (or tried last) and the successful attempt's time.
    async fn connect(&self, candidates: &[SocketAddr], exchange: &mut Exchange) -> Result<TcpStream, PhaseError> {
        let deadline = self.phase_deadline(self.options.connect_timeout);
        let mut last = PhaseError::new(Phase::Connect, FailureKind::Other, "no address to connect to");
        for address in candidates {
            exchange.address = Some(*address);
            let started = Instant::now();
            match timeout_at(deadline, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => {
                    exchange.connect_us = Some(micros(started));
                    // One small request: no reason to wait for more data before sending it.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => {
                    let mut error = io_failure(Phase::Connect, &e);
                    error.detail = format!("{address}: {}", error.detail);
                    last = error;
                }
                // The budget is spent: no other address can be tried.
                Err(_) => return Err(PhaseError::timeout(Phase::Connect, started)),
            }
        }
        Err(last)
    }

    async fn port_probe(&self, url: &HttpUrl, address: SocketAddr) -> PortProbe {
        let started = Instant::now();
        let deadline = self.phase_deadline(self.options.connect_timeout);
        let (connect_us, error) = match timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(_stream)) => (Some(micros(started)), None),
            Ok(Err(e)) => (None, Some(io_failure(Phase::Connect, &e))),
            Err(_) => (None, Some(PhaseError::timeout(Phase::Connect, started))),
        };
        PortProbe {
            url: url.to_string(),
            address,
            connect_us,
            error,
        }
    }

    /// TLS when `https://`, then the request.
    async fn secure_and_request(&self, url: &HttpUrl, tcp: TcpStream, keep_body: bool, visit: &mut Visit) {
        if !url.is_https() {
            let mut tcp = tcp;
            return self.request(url, &mut tcp, keep_body, visit).await;
        }
        let server_name = match url.host() {
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
            Host::Name(name) => match ServerName::try_from(name.clone()) {
                Ok(name) => name,
                Err(e) => {
                    visit.exchange.error = Some(PhaseError::new(Phase::Tls, FailureKind::Tls, e.to_string()));
                    return;
                }
            },
        };
        let started = Instant::now();
        let deadline = self.phase_deadline(self.options.tls_timeout);
        match timeout_at(deadline, self.tls.connect(server_name, tcp)).await {
            Ok(Ok(mut stream)) => {
                visit.exchange.tls_us = Some(micros(started));
                visit.exchange.tls_version = stream.get_ref().1.protocol_version().map(tls_version_name);
                self.request(url, &mut stream, keep_body, visit).await;
            }
            Ok(Err(e)) => visit.exchange.error = Some(tls_failure(&e)),
            Err(_) => visit.exchange.error = Some(PhaseError::timeout(Phase::Tls, started)),
        }
    }

    /// Sends a minimal `GET` and reads the response head (and, with `keep_body`, up to
    /// 16 KiB of the body, for at most one more second).
    async fn request<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        url: &HttpUrl,
        stream: &mut S,
        keep_body: bool,
        visit: &mut Visit,
    ) {
        let started = Instant::now();
        let deadline = self.phase_deadline(self.options.response_timeout);
        let mut reading = Reading::default();
        let head = timeout_at(deadline, read_head(stream, &request_bytes(url), &mut reading)).await;
        visit.exchange.ttfb_us = reading.ttfb_us;
        let head = match head {
            Ok(Ok(head)) => head,
            Ok(Err(error)) => {
                visit.exchange.error = Some(error);
                return;
            }
            Err(_) => {
                let mut error = PhaseError::timeout(Phase::Http, started);
                if reading.ttfb_us.is_some() {
                    error.detail = format!("incomplete response head: {}", error.detail);
                }
                visit.exchange.error = Some(error);
                return;
            }
        };
        visit.exchange.status = Some(head.status);
        visit.exchange.location.clone_from(&head.location);
        if keep_body {
            let body_deadline = deadline.min(tokio::time::Instant::now() + BODY_GRACE);
            // Whatever arrived in time is enough to look for a login URL.
            let _ = timeout_at(body_deadline, read_body(stream, &head, &mut reading.buffer)).await;
        }
        visit.body = reading.buffer;
        visit.head = Some(head);
    }
}

/// How long the portal probe's body may keep coming after its head.
const BODY_GRACE: Duration = Duration::from_secs(1);

/// What `read_head` has read so far (kept when it times out).
#[derive(Default)]
struct Reading {
    ttfb_us: Option<u64>,
    buffer: Vec<u8>,
}

/// Writes `request`, then reads until the response head is complete. On success the buffer
/// holds the body bytes read with the head.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
    reading: &mut Reading,
) -> Result<ResponseHead, PhaseError> {
    stream
        .write_all(request)
        .await
        .map_err(|e| io_failure(Phase::Http, &e))?;
    stream.flush().await.map_err(|e| io_failure(Phase::Http, &e))?;
    let sent = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return Err(io_failure(Phase::Http, &e)),
        };
        if n == 0 {
            let detail = if reading.buffer.is_empty() {
                "connection closed without a response"
            } else {
                "connection closed inside the response head"
            };
            return Err(PhaseError::new(Phase::Http, FailureKind::Closed, detail));
        }
        if reading.ttfb_us.is_none() {
            reading.ttfb_us = Some(micros(sent));
        }
        reading.buffer.extend_from_slice(&chunk[..n]);
        match parse_response_head(&reading.buffer) {
            HeadParse::Complete { head, body_start } => {
                reading.buffer.drain(..body_start);
                return Ok(head);
            }
            HeadParse::Incomplete => {}
            HeadParse::Invalid(why) => return Err(PhaseError::new(Phase::Http, FailureKind::Malformed, why)),
        }
    }
}

/// Reads the body into `body` until it is complete, the peer closes, or 16 KiB are held.
async fn read_body<S: AsyncRead + Unpin>(stream: &mut S, head: &ResponseHead, body: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    while body.len() < MAX_BODY_BYTES && !head.body_complete(body) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
}

/// `GET <path> HTTP/1.1` with `Host`, and `Connection: close` so the server ends the exchange.
fn request_bytes(url: &HttpUrl) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sonde/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path(),
        url.authority(),
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// The TLS client: ring, TLS 1.3 and 1.2, the Mozilla roots plus `ca_file`'s, HTTP/1.1 by ALPN
/// (the throughput check sets its own ALPN).
pub(crate) async fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, MeasureError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let pem = tokio::fs::read(path).await.map_err(|source| MeasureError::Io {
            context: format!("reading the CA file {}", path.display()),
            source,
        })?;
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| MeasureError::Unsupported(format!("CA file {}: {e}", path.display())))?;
        let (added, _ignored) = roots.add_parsable_certificates(certificates);
        if added == 0 {
            return Err(MeasureError::Unsupported(format!(
                "CA file {}: no usable certificate",
                path.display()
            )));
        }
    }
    tls_client_config(roots)
}

/// The TLS client on `roots`: ring, TLS 1.3 and 1.2, HTTP/1.1 by ALPN. Every reqwest client of
/// the agent needs one: reqwest is built without a default crypto provider.
pub(crate) fn tls_client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, MeasureError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| MeasureError::Unsupported(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A reqwest client builder whose TLS is `tls_client_config` on the Mozilla roots. Every
/// reqwest client of sonde starts from it: reqwest is built without a crypto provider of its
/// own (`rustls-no-provider`), and building a client without one panics.
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, MeasureError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_client_config(roots)?))
}

fn tls_version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_2 => "1.2".to_owned(),
        rustls::ProtocolVersion::TLSv1_3 => "1.3".to_owned(),
        other => format!("{other:?}"),
    }
}

/// The one place socket errors become failure kinds.
fn io_failure(phase: Phase, error: &io::Error) -> PhaseError {
    let kind = match error.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::Refused,
        io::ErrorKind::TimedOut => FailureKind::Timeout,
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable | io::ErrorKind::AddrNotAvailable => {
            FailureKind::Unreachable
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => FailureKind::Closed,
        _ => FailureKind::Other,
    };
    PhaseError::new(phase, kind, error.to_string())
}

/// TLS handshake errors: rustls's own (inside the `io::Error` tokio-rustls returns) are
/// certificate rejections or other TLS failures; the rest are socket errors.
fn tls_failure(error: &io::Error) -> PhaseError {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(reason)) => PhaseError::new(
            Phase::Tls,
            FailureKind::Certificate,
            format!("certificate rejected: {reason:?}"),
        ),
        Some(other) => PhaseError::new(Phase::Tls, FailureKind::Tls, other.to_string()),
        None => io_failure(Phase::Tls, error),
    }
}

/// `getaddrinfo` errors carry only a message: "not known" (EAI_NONAME) and "no address"
/// (EAI_NODATA) mean the name has no address; the rest are failures to ask.
fn dns_failure(error: &io::Error) -> PhaseError {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    let kind = if lower.contains("not known") || lower.contains("no address") {
        FailureKind::NotFound
    } else {
        FailureKind::Other
    };
    PhaseError::new(Phase::Dns, kind, text)
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The web ports probed beside a page's own (HTTP and HTTPS firewalls show as one open and
/// the other not).
pub(crate) fn other_ports(port: u16) -> &'static [u16] {
    match port {
        80 => &[443],
        443 => &[80],
        _ => &[80, 443],
    }
}

/// Counts URLs done across the concurrent visits.
struct Progress<'a> {
    sink: &'a dyn ProgressSink,
    done: AtomicUsize,
    planned: usize,
}

impl Progress<'_> {
    fn fraction(&self, done: usize) -> f64 {
        if self.planned == 0 {
            1.0
        } else {
            (done as f64 / self.planned as f64).min(1.0)
        }
    }

    /// `url`'s connection is open: what is left of its visit is TLS and the request (the
    /// progress estimate then knows it waits for an answer, not a name or a connection).
    fn connected(&self, url: &HttpUrl, connect_us: u64) {
        let fraction = self.fraction(self.done.load(Ordering::Relaxed));
        self.sink.report(
            fraction,
            vec![
                Metric::new("url", url.to_string()),
                Metric::new("connect_ms", connect_us as f64 / 1000.0),
            ],
        );
    }

    /// `exchange`'s visit is over.
    fn advance(&self, exchange: &Exchange) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let fraction = self.fraction(done);
        let total_us = exchange
            .connect_us
            .zip(exchange.ttfb_us)
            .map(|(c, t)| c + t + exchange.tls_us.unwrap_or(0));
        self.sink.report(
            fraction,
            vec![
                Metric::new("url", exchange.url.as_str()),
                Metric::new("status", exchange.status.map(u64::from)),
                Metric::new("latency_ms", total_us.map(|us| us as f64 / 1000.0)),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::sync::Mutex;

    use sonde_protocol::MetricValue;

    use super::*;

    // ---- URLs ----

    #[test]
    fn the_defaults_parse() {
        let options = HttpOptions::default();
        assert_eq!(options.targets.len(), DEFAULT_TARGETS.len());
        assert_eq!(
            options.portal_probe.as_ref().map(ToString::to_string).as_deref(),
            Some(DEFAULT_PORTAL_PROBE)
        );
        assert_eq!(HttpThresholds::default().https_latency_warn_ms, 500.0);
        assert_eq!(HttpThresholds::default().https_latency_fail_ms, 1000.0);
    }

    #[test]
    fn urls_parse_by_table() {
        let ip = |s: &str| Host::Ip(s.parse().expect("address"));
        let name = |s: &str| Host::Name(s.to_owned());
        let good = [
            (
                "https://www.example.com/",
                true,
                name("www.example.com"),
                443,
                "/",
                "https://www.example.com/",
            ),
            (
                "http://203.0.113.80/generate_204",
                false,
                ip("203.0.113.80"),
                80,
                "/generate_204",
                "http://203.0.113.80/generate_204",
            ),
            (
                "HTTPS://Example.COM",
                true,
                name("example.com"),
                443,
                "/",
                "https://example.com/",
            ),
            (
                "http://example.com:8080?q=1#top",
                false,
                name("example.com"),
                8080,
                "/?q=1",
                "http://example.com:8080/?q=1",
            ),
            (
                "https://[2001:db8:3::80]/x",
                true,
                ip("2001:db8:3::80"),
                443,
                "/x",
                "https://[2001:db8:3::80]/x",
            ),
            (
                "https://[2001:db8::1]:8443/",
                true,
                ip("2001:db8::1"),
                8443,
                "/",
                "https://[2001:db8::1]:8443/",
            ),
            (
                "http://example.com:80/",
                false,
                name("example.com"),
                80,
                "/",
                "http://example.com/",
            ),
            (
                "http://example.com:/",
                false,
                name("example.com"),
                80,
                "/",
                "http://example.com/",
            ),
            (
                "http://host_1.lan/a#frag",
                false,
                name("host_1.lan"),
                80,
                "/a",
                "http://host_1.lan/a",
            ),
        ];
        for (text, https, host, port, path, shown) in good {
            let url = HttpUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (url.is_https(), url.host(), url.port(), url.path()),
                (https, &host, port, path),
                "{text}"
            );
            assert_eq!(url.to_string(), shown, "{text}");
            assert_eq!(HttpUrl::parse(shown).as_ref(), Ok(&url), "{text} round trip");
        }
        let bad = [
            "",
            "example.com",
            "ftp://example.com/",
            "https://",
            "https:///path",
            "https://user:pass@example.com/",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://example.com:http/",
            "https://[2001:db8::1/",
            "https://[not-v6]/",
            "https://[2001:db8::1]x/",
            "https://exa mple.com/",
            "https://example.com/\n",
            "https://exa*mple.com/",
            "https://ex%41mple.com/",
        ];
        for text in bad {
            assert!(HttpUrl::parse(text).is_err(), "{text:?} should not parse");
        }
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base = HttpUrl::parse("http://203.0.113.80/dir/generate_204?x=1").expect("url");
        let cases = [
            ("http://192.0.2.1/login", "http://192.0.2.1/login"),
            ("HTTPS://portal.example/login", "HTTPS://portal.example/login"),
            ("//portal.example/login", "http://portal.example/login"),
            ("/login?next=%2F", "http://203.0.113.80/login?next=%2F"),
            ("login", "http://203.0.113.80/dir/login"),
            ("  /padded  ", "http://203.0.113.80/padded"),
        ];
        for (location, expected) in cases {
            assert_eq!(resolve_location(&base, location), expected, "{location}");
        }
    }

    // ---- Response heads ----

    fn complete(
        status: u16,
        location: Option<&str>,
        content_length: Option<u64>,
        chunked: bool,
        body_start: usize,
    ) -> HeadParse {
        HeadParse::Complete {
            head: ResponseHead {
                status,
                location: location.map(str::to_owned),
                content_length,
                chunked,
            },
            body_start,
        }
    }

    #[test]
    fn response_heads_parse_by_table() {
        let redirect = "HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1/login?a=1&b=2\r\nContent-Length: 0\r\n\r\n";
        let cases: Vec<(&str, &[u8], HeadParse)> = vec![
            (
                "204",
                b"HTTP/1.1 204 No Content\r\n\r\n",
                complete(204, None, None, false, 27),
            ),
            (
                "302 with Location",
                redirect.as_bytes(),
                complete(
                    302,
                    Some("http://192.0.2.1/login?a=1&b=2"),
                    Some(0),
                    false,
                    redirect.len(),
                ),
            ),
            (
                "header names in any case, values trimmed",
                b"HTTP/1.0 301 Moved\r\nlOcAtIoN:   /elsewhere \r\nTRANSFER-ENCODING: gzip, Chunked\r\n\r\nbody",
                complete(301, Some("/elsewhere"), None, true, 81),
            ),
            (
                "bare LF line ends",
                b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
                complete(200, None, Some(5), false, 35),
            ),
            (
                "no reason phrase",
                b"HTTP/1.1 204\r\n\r\n",
                complete(204, None, None, false, 16),
            ),
            (
                "HTTP/2 style version",
                b"HTTP/2 200 \r\n\r\n",
                complete(200, None, None, false, 15),
            ),
            (
                "a header line without a colon is ignored",
                b"HTTP/1.1 200 OK\r\nnonsense\r\nContent-Length: x\r\n\r\n",
                complete(200, None, None, false, 48),
            ),
            ("nothing yet", b"", HeadParse::Incomplete),
            ("a prefix of the status line", b"HTTP/1.", HeadParse::Incomplete),
            ("status line only", b"HTTP/1.1 200 OK\r\n", HeadParse::Incomplete),
            (
                "headers not finished",
                b"HTTP/1.1 200 OK\r\nServer: x\r\n",
                HeadParse::Incomplete,
            ),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(parse_response_head(bytes), expected, "{name}");
        }
        let invalid: Vec<(&str, Vec<u8>)> = vec![
            ("an SSH banner", b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
            ("an SSH banner, before its line ends", b"SSH-2.0".to_vec()),
            (
                "a TLS alert on a plain port",
                vec![0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x32],
            ),
            ("lowercase http", b"http/1.1 200 OK\r\n\r\n".to_vec()),
            ("no version", b"HTTP/ 200 OK\r\n\r\n".to_vec()),
            ("two-digit status", b"HTTP/1.1 20 OK\r\n\r\n".to_vec()),
            ("four-digit status", b"HTTP/1.1 2000 OK\r\n\r\n".to_vec()),
            ("status out of range", b"HTTP/1.1 600 Nope\r\n\r\n".to_vec()),
            ("status with a sign", b"HTTP/1.1 +20 OK\r\n\r\n".to_vec()),
            ("no status", b"HTTP/1.1\r\n\r\n".to_vec()),
            ("an HTML page", b"<html>\n".to_vec()),
            (
                "an endless head",
                [
                    b"HTTP/1.1 200 OK\r\n".as_slice(),
                    &b"X-Pad: aaaaaaaaaaaaaaaa\r\n".repeat(1000),
                ]
                .concat(),
            ),
            (
                "an endless status line",
                [b"HTTP/1.1 200 ".as_slice(), &[b'a'; 20_000]].concat(),
            ),
        ];
        for (name, bytes) in invalid {
            assert!(
                matches!(parse_response_head(&bytes), HeadParse::Invalid(_)),
                "{name}: {:?}",
                parse_response_head(&bytes)
            );
        }
    }

    #[test]
    fn the_head_parser_never_panics_on_prefixes_or_noise() {
        let samples: [&[u8]; 4] = [
            b"HTTP/1.1 302 Found\r\nLocation: http://x/\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 \xff\xfe 0\r\n\xc3\x28: \xa0\xa1\r\n\r\n",
            b"\r\n\r\n\n\n:::\r\n",
            "HTTP/1.1 200 \u{1F600}\r\nLocation: \u{e9}\r\n\r\n".as_bytes(),
        ];
        for sample in samples {
            for end in 0..=sample.len() {
                let _ = parse_response_head(&sample[..end]);
            }
        }
        // A fixed pseudo-random byte stream, biased towards the bytes HTTP cares about.
        let mut state: u32 = 0x2545_f491;
        let alphabet = b"HTTP/1. 0123456789\r\n:Location";
        let mut noise = Vec::new();
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let byte = if state.is_multiple_of(4) {
                (state >> 8) as u8
            } else {
                alphabet[(state as usize >> 8) % alphabet.len()]
            };
            noise.push(byte);
            if noise.len() % 64 == 0 {
                let _ = parse_response_head(&noise);
                noise.clear();
            }
        }
    }

    #[test]
    fn bodies_are_complete_by_length_or_final_chunk() {
        let head = |status, content_length, chunked| ResponseHead {
            status,
            location: None,
            content_length,
            chunked,
        };
        assert!(head(204, None, false).body_complete(b""));
        assert!(head(200, Some(3), false).body_complete(b"abc"));
        assert!(!head(200, Some(3), false).body_complete(b"ab"));
        assert!(head(200, None, true).body_complete(b"3\r\nabc\r\n0\r\n\r\n"));
        assert!(!head(200, None, true).body_complete(b"3\r\nabc\r\n"));
        assert!(!head(200, None, false).body_complete(b"until the peer closes"));
        assert!(head(200, Some(10), false).has_content(b""));
        assert!(!head(200, Some(0), false).has_content(b""));
        assert!(head(200, None, false).has_content(b"x"));
        assert!(!head(200, None, false).has_content(b""));
        assert!(head(200, None, true).has_content(b""));
    }

    #[test]
    fn login_urls_are_found_in_portal_pages() {
        let cases = [
            (
                r#"<html><head><meta http-equiv="refresh" content="0; url=http://192.0.2.1/login?a=1&amp;b=2"></head></html>"#,
                Some("http://192.0.2.1/login?a=1&b=2"),
            ),
            ("<META HTTP-EQUIV='Refresh' CONTENT='5;URL=/portal'>", Some("/portal")),
            (
                r#"<meta charset="utf-8"><form method="post" action="http://192.0.2.80/login?from=probe&amp;lang=en"><button>Log in</button></form>"#,
                Some("http://192.0.2.80/login?from=probe&lang=en"),
            ),
            ("<form action=/accept method=post>", Some("/accept")),
            (r#"<form data-action="no" action="/yes">"#, Some("/yes")),
            (r#"<meta name="viewport" content="width=device-width; url=nope">"#, None),
            ("<form method=post>", None),
            ("<p>No link here</p>", None),
            ("", None),
            ("<meta http-equiv=refresh content=", None),
            ("<form action=\"", None),
        ];
        for (page, expected) in cases {
            assert_eq!(login_url_in_page(page).as_deref(), expected, "{page}");
        }
        // Truncated pages never panic.
        let page = cases[0].0;
        for end in 0..=page.len() {
            if let Some(prefix) = page.get(..end) {
                let _ = login_url_in_page(prefix);
            }
        }
    }

    // ---- Proxies ----

    #[test]
    fn proxy_variables_are_found_in_any_case_with_credentials_masked() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect::<Vec<_>>()
        };
        let found = proxy_settings(env(&[
            ("PATH", "/usr/bin"),
            ("https_proxy", "http://alice:s3cret@proxy.lan:3128"),
            ("HTTP_PROXY", "http://proxy.lan:3128/"),
            ("All_Proxy", "socks5://bob@10.0.0.1:1080"),
            ("no_proxy", "localhost"),
            ("ftp_proxy", "http://proxy.lan:3128"),
            ("HTTPS_PROXY", "   "),
        ]));
        let shown: Vec<(&str, &str)> = found.iter().map(|p| (p.variable.as_str(), p.value.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("All_Proxy", "socks5://***@10.0.0.1:1080"),
                ("HTTP_PROXY", "http://proxy.lan:3128/"),
                ("https_proxy", "http://***@proxy.lan:3128"),
            ]
        );
        assert!(proxy_settings(env(&[("HOME", "/root")])).is_empty());
        assert_eq!(mask_credentials("user:pw@proxy:8080"), "***@proxy:8080");
        assert_eq!(mask_credentials("http://proxy/a@b"), "http://proxy/a@b");
        assert_eq!(mask_credentials("proxy:8080"), "proxy:8080");
    }

    // ---- Evaluation ----

    const WEB: &str = "https://203.0.113.80/";
    const PROBE: &str = "http://203.0.113.80/generate_204";

    /// An exchange that got `status` after connect, TLS (for https) and TTFB of `ms` each.
    fn answered(url: &str, status: u16, ms: u64) -> Exchange {
        let parsed = HttpUrl::parse(url).expect("url");
        let address = match parsed.host() {
            Host::Ip(ip) => SocketAddr::new(*ip, parsed.port()),
            Host::Name(_) => SocketAddr::new(IpAddr::from([203, 0, 113, 80]), parsed.port()),
        };
        Exchange {
            url: url.to_owned(),
            https: parsed.is_https(),
            address: Some(address),
            dns_us: matches!(parsed.host(), Host::Name(_)).then_some(ms * 1000),
            connect_us: Some(ms * 1000),
            tls_us: parsed.is_https().then_some(ms * 1000),
            tls_version: parsed.is_https().then(|| "1.3".to_owned()),
            ttfb_us: Some(ms * 1000),
            status: Some(status),
            location: None,
            error: None,
        }
    }

    fn failed(url: &str, phase: Phase, kind: FailureKind, detail: &str) -> Exchange {
        let mut exchange = answered(url, 0, 0);
        exchange.status = None;
        exchange.ttfb_us = None;
        if matches!(phase, Phase::Connect | Phase::Dns) {
            exchange.connect_us = None;
        }
        if phase != Phase::Http {
            exchange.tls_us = None;
            exchange.tls_version = None;
        }
        if phase == Phase::Dns {
            exchange.address = None;
            exchange.dns_us = None;
        }
        exchange.error = Some(PhaseError::new(phase, kind, detail));
        exchange
    }

    fn probe(exchange: Exchange, has_content: bool, page_location: Option<&str>) -> Option<PortalSamples> {
        Some(PortalSamples {
            exchange,
            has_content,
            page_location: page_location.map(str::to_owned),
        })
    }

    fn port(port: u16, open: bool) -> PortProbe {
        PortProbe {
            url: WEB.to_owned(),
            address: SocketAddr::new(IpAddr::from([203, 0, 113, 80]), port),
            connect_us: open.then_some(1000),
            error: (!open).then(|| PhaseError::new(Phase::Connect, FailureKind::Refused, "refused")),
        }
    }

    fn healthy() -> HttpSamples {
        HttpSamples {
            targets: vec![answered(WEB, 200, 20), answered("https://www.example.com/", 200, 40)],
            portal: probe(answered(PROBE, 204, 20), false, None),
            ports: vec![port(80, true), port(80, true)],
            proxies: Vec::new(),
        }
    }

    struct Case {
        name: &'static str,
        samples: HttpSamples,
        status: CheckStatus,
        reason: Option<&'static str>,
        /// (metric, expected value)
        metrics: Vec<(&'static str, MetricValue)>,
    }

    fn text(s: &str) -> MetricValue {
        MetricValue::from(s)
    }

    #[test]
    fn evaluate_http_table() {
        let mut redirected = answered(PROBE, 302, 20);
        redirected.location = Some("/login?from=probe".to_owned());
        let mut slow = healthy();
        slow.targets = vec![answered(WEB, 200, 200), answered("https://www.example.com/", 200, 250)];
        let mut very_slow = healthy();
        very_slow.targets = vec![answered(WEB, 200, 400)];
        let mut one_down = healthy();
        one_down.targets[1] = failed(
            "https://www.example.com/",
            Phase::Connect,
            FailureKind::Timeout,
            "timed out after 2000 ms",
        );
        let mut proxied = healthy();
        proxied.proxies = vec![ProxySetting {
            variable: "HTTPS_PROXY".to_owned(),
            value: "http://***@proxy.lan:3128".to_owned(),
        }];
        let cases = vec![
            Case {
                name: "healthy",
                samples: healthy(),
                status: CheckStatus::Pass,
                reason: None,
                metrics: vec![
                    ("targets", MetricValue::Number(2.0)),
                    ("targets_answering", MetricValue::Number(2.0)),
                    ("dns_ms", MetricValue::Number(40.0)),
                    ("connect_ms", MetricValue::Number(30.0)),
                    ("tls_ms", MetricValue::Number(30.0)),
                    ("ttfb_ms", MetricValue::Number(30.0)),
                    ("https_latency_ms", MetricValue::Number(90.0)),
                    (
                        "status_codes",
                        text("https://203.0.113.80/=200,https://www.example.com/=200"),
                    ),
                    ("captive_portal", MetricValue::Bool(false)),
                    ("portal_location", MetricValue::Missing),
                    ("portal_probe_status", MetricValue::Number(204.0)),
                    ("http_reachable", MetricValue::Bool(true)),
                    ("https_reachable", MetricValue::Bool(true)),
                    ("http_firewall", MetricValue::Bool(false)),
                    ("https_firewall", MetricValue::Bool(false)),
                    ("cert_error", MetricValue::Missing),
                    ("failed_targets", text("")),
                    ("proxy", MetricValue::Missing),
                ],
            },
            Case {
                name: "captive portal by redirect: the login URL is made absolute",
                samples: HttpSamples {
                    targets: vec![failed(
                        WEB,
                        Phase::Tls,
                        FailureKind::Certificate,
                        "certificate rejected: NotValidForName",
                    )],
                    portal: probe(redirected, false, None),
                    ports: vec![port(80, true)],
                    proxies: Vec::new(),
                },
                status: CheckStatus::Fail,
                reason: Some(
                    "captive portal: the probe got 302 instead of 204, login at http://203.0.113.80/login?from=probe",
                ),
                metrics: vec![
                    ("captive_portal", MetricValue::Bool(true)),
                    ("portal_location", text("http://203.0.113.80/login?from=probe")),
                    ("portal_probe_status", MetricValue::Number(302.0)),
                    (
                        "cert_error",
                        text("https://203.0.113.80/: certificate rejected: NotValidForName"),
                    ),
                ],
            },
            Case {
                name: "captive portal by page: the login URL comes from the page",
                samples: HttpSamples {
                    targets: vec![answered(WEB, 302, 20)],
                    portal: probe(answered(PROBE, 200, 20), true, Some("http://192.0.2.1/login")),
                    ports: vec![port(80, true)],
                    proxies: Vec::new(),
                },
                status: CheckStatus::Fail,
                reason: Some("captive portal: the probe got 200 instead of 204, login at http://192.0.2.1/login"),
                metrics: vec![
                    ("captive_portal", MetricValue::Bool(true)),
                    ("portal_location", text("http://192.0.2.1/login")),
                ],
            },
            Case {
                name: "an empty 200 is no portal (a proxy rewrote the 204)",
                samples: HttpSamples {
                    portal: probe(answered(PROBE, 200, 20), false, None),
                    ..healthy()
                },
                status: CheckStatus::Pass,
                reason: None,
                metrics: vec![("captive_portal", MetricValue::Bool(false))],
            },
            Case {
                name: "a 5xx probe says nothing about portals",
                samples: HttpSamples {
                    portal: probe(answered(PROBE, 503, 20), true, None),
                    ..healthy()
                },
                status: CheckStatus::Pass,
                reason: None,
                metrics: vec![
                    ("captive_portal", MetricValue::Missing),
                    ("portal_probe_status", MetricValue::Number(503.0)),
                ],
            },
            Case {
                name: "HTTPS firewall: 443 refused, 80 works",
                samples: HttpSamples {
                    targets: vec![failed(
                        WEB,
                        Phase::Connect,
                        FailureKind::Refused,
                        "203.0.113.80:443: connection refused",
                    )],
                    portal: probe(answered(PROBE, 204, 20), false, None),
                    ports: vec![port(80, true), port(443, false)],
                    proxies: Vec::new(),
                },
                status: CheckStatus::Fail,
                reason: Some(
                    "HTTPS blocked: no connection to port 443 while port 80 works (a firewall); \
                     no target answered: https://203.0.113.80/ (connect: 203.0.113.80:443: connection refused)",
                ),
                metrics: vec![
                    ("https_firewall", MetricValue::Bool(true)),
                    ("http_firewall", MetricValue::Bool(false)),
                    ("https_reachable", MetricValue::Bool(false)),
                    ("http_reachable", MetricValue::Bool(true)),
                    ("https_latency_ms", MetricValue::Missing),
                    ("captive_portal", MetricValue::Bool(false)),
                ],
            },
            Case {
                name: "HTTP firewall: 80 blocked, 443 works",
                samples: HttpSamples {
                    targets: vec![answered(WEB, 200, 20)],
                    portal: probe(
                        failed(PROBE, Phase::Connect, FailureKind::Timeout, "timed out after 2000 ms"),
                        false,
                        None,
                    ),
                    ports: vec![port(80, false)],
                    proxies: Vec::new(),
                },
                status: CheckStatus::Warn,
                reason: Some("HTTP blocked: no connection to port 80 while port 443 works (a firewall)"),
                metrics: vec![
                    ("http_firewall", MetricValue::Bool(true)),
                    ("https_firewall", MetricValue::Bool(false)),
                    ("captive_portal", MetricValue::Missing),
                    ("http_reachable", MetricValue::Bool(false)),
                    ("https_reachable", MetricValue::Bool(true)),
                ],
            },
            Case {
                name: "certificate rejected (an intercepting middlebox)",
                samples: HttpSamples {
                    targets: vec![failed(
                        WEB,
                        Phase::Tls,
                        FailureKind::Certificate,
                        "certificate rejected: UnknownIssuer",
                    )],
                    ..healthy()
                },
                status: CheckStatus::Fail,
                reason: Some(
                    "certificate rejected (https://203.0.113.80/: certificate rejected: UnknownIssuer): \
                     an intercepting middlebox, or a wrong clock",
                ),
                metrics: vec![
                    (
                        "cert_error",
                        text("https://203.0.113.80/: certificate rejected: UnknownIssuer"),
                    ),
                    ("https_reachable", MetricValue::Bool(false)),
                    ("https_firewall", MetricValue::Bool(false)),
                    ("connect_ms", MetricValue::Number(0.0)),
                    ("tls_ms", MetricValue::Missing),
                    (
                        "failed_targets",
                        text("https://203.0.113.80/ (tls: certificate rejected: UnknownIssuer)"),
                    ),
                ],
            },
            Case {
                name: "slow: warn past 500 ms",
                samples: slow,
                status: CheckStatus::Warn,
                reason: Some("https_latency_ms 675 ≥ 500 (warn)"),
                metrics: vec![("https_latency_ms", MetricValue::Number(675.0))],
            },
            Case {
                name: "very slow: fail past 1000 ms",
                samples: very_slow,
                status: CheckStatus::Fail,
                reason: Some("https_latency_ms 1200 ≥ 1000 (fail)"),
                metrics: vec![("https_latency_ms", MetricValue::Number(1200.0))],
            },
            Case {
                name: "one target down, another up",
                samples: one_down,
                status: CheckStatus::Warn,
                reason: Some("failed: https://www.example.com/ (connect: timed out after 2000 ms)"),
                metrics: vec![
                    ("targets_answering", MetricValue::Number(1.0)),
                    (
                        "failed_targets",
                        text("https://www.example.com/ (connect: timed out after 2000 ms)"),
                    ),
                ],
            },
            Case {
                name: "nothing reachable",
                samples: HttpSamples {
                    targets: vec![failed(
                        WEB,
                        Phase::Connect,
                        FailureKind::Timeout,
                        "timed out after 2000 ms",
                    )],
                    portal: probe(
                        failed(PROBE, Phase::Connect, FailureKind::Timeout, "timed out after 2000 ms"),
                        false,
                        None,
                    ),
                    ports: vec![],
                    proxies: Vec::new(),
                },
                status: CheckStatus::Fail,
                reason: Some("no web server answered: https://203.0.113.80/ (connect: timed out after 2000 ms)"),
                metrics: vec![
                    ("http_reachable", MetricValue::Bool(false)),
                    ("https_reachable", MetricValue::Bool(false)),
                    ("http_firewall", MetricValue::Bool(false)),
                    ("https_firewall", MetricValue::Bool(false)),
                    ("captive_portal", MetricValue::Missing),
                ],
            },
            Case {
                name: "a DNS failure is not a firewall",
                samples: HttpSamples {
                    targets: vec![
                        failed(
                            "https://www.example.com/",
                            Phase::Dns,
                            FailureKind::NotFound,
                            "Name or service not known",
                        ),
                        answered(WEB, 200, 20),
                    ],
                    ..healthy()
                },
                status: CheckStatus::Warn,
                reason: Some("failed: https://www.example.com/ (dns: Name or service not known)"),
                metrics: vec![("https_firewall", MetricValue::Bool(false))],
            },
            Case {
                name: "a proxy is always named",
                samples: proxied,
                status: CheckStatus::Pass,
                reason: Some("proxy configured (HTTPS_PROXY=http://***@proxy.lan:3128), not used by this check"),
                metrics: vec![("proxy", text("HTTPS_PROXY=http://***@proxy.lan:3128"))],
            },
            Case {
                name: "nothing configured",
                samples: HttpSamples::default(),
                status: CheckStatus::Skipped,
                reason: Some("no HTTP target configured"),
                metrics: vec![("targets", MetricValue::Number(0.0))],
            },
        ];
        for case in cases {
            let evaluation = evaluate_http(&case.samples, &HttpThresholds::default());
            let name = case.name;
            assert_eq!(evaluation.status, case.status, "{name}: {evaluation:?}");
            assert_eq!(evaluation.reason.as_deref(), case.reason, "{name}");
            for (metric, value) in case.metrics {
                let found = evaluation.metrics.iter().find(|m| m.name == metric);
                assert_eq!(found.map(|m| &m.value), Some(&value), "{name}: {metric}");
            }
        }
    }

    #[test]
    fn evaluate_http_reports_the_contract_metrics_and_judges_https_latency() {
        let evaluation = evaluate_http(&healthy(), &HttpThresholds::default());
        let names: Vec<&str> = evaluation.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "targets",
                "targets_answering",
                "dns_ms",
                "connect_ms",
                "tls_ms",
                "ttfb_ms",
                "https_latency_ms",
                "status_codes",
                "captive_portal",
                "portal_location",
                "portal_probe_status",
                "http_reachable",
                "https_reachable",
                "http_firewall",
                "https_firewall",
                "cert_error",
                "failed_targets",
                "proxy",
            ]
        );
        let latency = evaluation.metrics.iter().find(|m| m.name == "https_latency_ms");
        assert_eq!(latency.and_then(|m| m.threshold), Some(Threshold::above(500.0, 1000.0)));
        assert_eq!(latency.and_then(|m| m.status), Some(CheckStatus::Pass));
        // Samples survive a round trip through JSON (they are stored to be re-evaluated).
        let json = serde_json::to_string(&healthy()).expect("serialize");
        let back: HttpSamples = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, healthy());
    }

    #[test]
    fn errors_map_to_failure_kinds() {
        let kind = |e: io::ErrorKind| io_failure(Phase::Connect, &io::Error::from(e)).kind;
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), FailureKind::Refused);
        assert_eq!(kind(io::ErrorKind::TimedOut), FailureKind::Timeout);
        assert_eq!(kind(io::ErrorKind::NetworkUnreachable), FailureKind::Unreachable);
        assert_eq!(kind(io::ErrorKind::HostUnreachable), FailureKind::Unreachable);
        assert_eq!(kind(io::ErrorKind::ConnectionReset), FailureKind::Closed);
        assert_eq!(kind(io::ErrorKind::PermissionDenied), FailureKind::Other);
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let error = tls_failure(&cert);
        assert_eq!((error.phase, error.kind), (Phase::Tls, FailureKind::Certificate));
        assert!(error.detail.contains("UnknownIssuer"), "{}", error.detail);
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert_eq!(tls_failure(&alert).kind, FailureKind::Tls);
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(
            (tls_failure(&eof).phase, tls_failure(&eof).kind),
            (Phase::Tls, FailureKind::Closed)
        );
        let gai = |text: &str| dns_failure(&io::Error::other(text.to_owned())).kind;
        assert_eq!(
            gai("failed to lookup address information: Name or service not known"),
            FailureKind::NotFound
        );
        assert_eq!(
            gai("failed to lookup address information: Temporary failure in name resolution"),
            FailureKind::Other
        );
    }

    // ---- Exchanges over in-memory streams ----

    /// Runs `read_head` against a peer that answers `response` (then closes).
    async fn head_from(response: &'static [u8]) -> (Result<ResponseHead, PhaseError>, Reading) {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let peer = tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let _ = server.read(&mut request).await;
            let _ = server.write_all(response).await;
            let _ = server.shutdown().await;
            request
        });
        let mut reading = Reading::default();
        let url = HttpUrl::parse("http://192.0.2.80:8080/generate_204").expect("url");
        let result = read_head(&mut client, &request_bytes(&url), &mut reading).await;
        let request = peer.await.expect("peer");
        let request = String::from_utf8_lossy(&request);
        assert!(
            request.starts_with("GET /generate_204 HTTP/1.1\r\nHost: 192.0.2.80:8080\r\n"),
            "{request}"
        );
        assert!(request.contains("Connection: close\r\n"), "{request}");
        (result, reading)
    }

    #[tokio::test]
    async fn read_head_reports_status_ttfb_and_what_is_wrong() {
        let (result, reading) =
            head_from(b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 4\r\n\r\nbody").await;
        let head = result.expect("a head");
        assert_eq!((head.status, head.location.as_deref()), (302, Some("/login")));
        assert_eq!(reading.buffer, b"body", "the body bytes read with the head are kept");
        assert!(reading.ttfb_us.is_some());

        let (result, reading) = head_from(b"").await;
        let error = result.expect_err("nothing came");
        assert_eq!((error.phase, error.kind), (Phase::Http, FailureKind::Closed));
        assert_eq!(reading.ttfb_us, None);

        let (result, _) = head_from(b"HTTP/1.1 200 OK\r\nServer: half").await;
        let error = result.expect_err("cut short");
        assert_eq!(error.kind, FailureKind::Closed);
        assert!(error.detail.contains("inside the response head"), "{error}");

        for garbage in [
            &b"SSH-2.0-OpenSSH\r\n"[..],
            b"\x15\x03\x03\x00\x02\x02\x46",
            b"HTTP/1.1 99999\r\n\r\n",
        ] {
            let (mut client, mut server) = tokio::io::duplex(1024);
            let peer = tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = server.read(&mut request).await;
                let _ = server.write_all(garbage).await;
                server
            });
            let mut reading = Reading::default();
            let url = HttpUrl::parse("http://192.0.2.80/").expect("url");
            let error = read_head(&mut client, &request_bytes(&url), &mut reading)
                .await
                .expect_err("not HTTP");
            assert_eq!(
                (error.phase, error.kind),
                (Phase::Http, FailureKind::Malformed),
                "{garbage:?}"
            );
            drop(peer.await);
        }
    }

    // ---- On loopback ----

    /// A server on 127.0.0.1 that answers each connection with `response` (or, when `None`,
    /// reads and never answers), until the test ends.
    async fn loopback_server(response: Option<&'static [u8]>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    match response {
                        Some(response) => {
                            let _ = stream.write_all(response).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                });
            }
        });
        address
    }

    /// A loopback port with nothing listening.
    async fn closed_port() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address")
    }

    fn options(targets: &[String], probe: Option<&String>, timeout_ms: u64) -> HttpOptions {
        let parse = |u: &String| HttpUrl::parse(u).expect("test URL");
        HttpOptions {
            targets: targets.iter().map(parse).collect(),
            portal_probe: probe.map(parse),
            ca_file: None,
            dns_timeout: Duration::from_millis(timeout_ms),
            connect_timeout: Duration::from_millis(timeout_ms),
            tls_timeout: Duration::from_millis(timeout_ms),
            response_timeout: Duration::from_millis(timeout_ms),
            check_timeout: Duration::from_millis(2 * timeout_ms),
        }
    }

    #[derive(Default)]
    /// Each report's fraction, and whether it says a connection opened.
    struct Recorder(Mutex<Vec<(f64, bool)>>);

    impl ProgressSink for Recorder {
        fn report(&self, fraction: f64, metrics: Vec<Metric>) {
            if let Ok(mut reports) = self.0.lock() {
                reports.push((fraction, metrics.iter().any(|m| m.name == "connect_ms")));
            }
        }
    }

    #[tokio::test]
    async fn measure_http_on_loopback() {
        let ok = loopback_server(Some(b"HTTP/1.1 204 No Content\r\n\r\n")).await;
        let portal = loopback_server(Some(
            b"HTTP/1.1 200 OK\r\nContent-Length: 56\r\n\r\n<meta http-equiv=\"refresh\" content=\"0;url=/login\">......",
        ))
        .await;
        let silent = loopback_server(None).await;
        let closed = closed_port().await;
        let targets = [
            format!("http://{ok}/generate_204"),
            format!("http://{silent}/"),
            format!("http://{closed}/"),
        ];
        let probe = format!("http://{portal}/generate_204");
        let recorder = Recorder::default();
        let started = Instant::now();
        let samples = measure_http(&options(&targets, Some(&probe), 400), &recorder)
            .await
            .expect("measured");
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(800),
            "bounded by the timeouts: {elapsed:?}"
        );

        let [ok, silent, closed] = &samples.targets[..] else {
            panic!("three targets: {samples:?}");
        };
        assert_eq!(ok.status, Some(204));
        assert!(
            ok.connect_us.is_some_and(|us| us > 0) && ok.ttfb_us.is_some_and(|us| us > 0),
            "{ok:?}"
        );
        assert_eq!((ok.dns_us, ok.tls_us), (None, None), "IP literal, plain HTTP");
        let silent_error = silent.error.as_ref().expect("no answer");
        assert_eq!(
            (silent_error.phase, silent_error.kind),
            (Phase::Http, FailureKind::Timeout)
        );
        assert!(silent.connect_us.is_some());
        let closed_error = closed.error.as_ref().expect("refused");
        assert_eq!(
            (closed_error.phase, closed_error.kind),
            (Phase::Connect, FailureKind::Refused)
        );

        let probe = samples.portal.as_ref().expect("probe");
        assert_eq!(probe.exchange.status, Some(200));
        assert!(probe.has_content);
        assert_eq!(probe.page_location.as_deref(), Some("/login"));
        // Each target's other port (80 and 443 for these high ports) was tried on loopback.
        assert_eq!(samples.ports.len(), 2 * 4, "{:?}", samples.ports);

        let reports = recorder.0.lock().map(|f| f.clone()).unwrap_or_default();
        let (connects, ends): (Vec<&(f64, bool)>, Vec<_>) = reports.iter().partition(|(_, connect)| *connect);
        assert_eq!(ends.len(), 4, "one report per URL done: {reports:?}");
        assert_eq!(
            connects.len(),
            3,
            "one per connection opened (not the refused one): {reports:?}"
        );
        assert_eq!(reports.last().map(|(f, _)| *f), Some(1.0));

        let evaluation = evaluate_http(&samples, &HttpThresholds::default());
        assert_eq!(evaluation.status, CheckStatus::Fail, "{evaluation:?}");
        let location = evaluation.metrics.iter().find(|m| m.name == "portal_location");
        let expected = format!("http://{portal}/login");
        assert_eq!(location.map(|m| &m.value), Some(&MetricValue::from(expected.as_str())));
    }

    #[tokio::test]
    async fn the_whole_check_is_bounded_by_check_timeout() {
        let silent = loopback_server(None).await;
        let mut options = options(&[format!("http://{silent}/")], None, 5000);
        options.check_timeout = Duration::from_millis(300);
        let started = Instant::now();
        let samples = measure_http(&options, &Recorder::default()).await.expect("measured");
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
        let error = samples.targets[0].error.as_ref().expect("timed out");
        assert_eq!(error.kind, FailureKind::Timeout);
    }

    #[tokio::test]
    async fn a_bad_ca_file_is_a_measurement_error() {
        let dir = std::env::temp_dir().join(format!("sonde-http-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let mut options = options(&[], None, 100);
        options.ca_file = Some(empty);
        let error = measure_http(&options, &Recorder::default())
            .await
            .expect_err("no certificate");
        assert!(error.to_string().contains("no usable certificate"), "{error}");
        options.ca_file = Some(dir.join("missing.pem"));
        let error = measure_http(&options, &Recorder::default()).await.expect_err("no file");
        assert!(error.to_string().contains("reading the CA file"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
