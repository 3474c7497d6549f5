//! The `throughput` and `responsiveness` checks: HTTP download and upload goodput against a
//! measurement server that publishes the responsiveness draft's configuration
//! (draft-ietf-ippm-responsiveness: `/.well-known/nq`), and latency under that load.
//!
//! One measurement serves both checks ([`measure_throughput`]):
//!
//! 1. **Idle latency**: [`ThroughputOptions::idle_probes`] probes on new connections (TCP
//!    connect, then a GET of the small object on it), one after the other.
//! 2. **Download**, then **upload**: parallel streams, each on its own TCP connection, fetching
//!    the large object (or posting to the upload sink) over HTTP/1.1 or HTTP/2. The [`Ramp`]
//!    adds a stream every half second while goodput still grows by more than 5 % (as
//!    networkQuality does), declares the link saturated after two flat half-seconds, and from
//!    then measures until the average over that window is stable, or the direction's cap.
//!    Saturated goodput is not yet the draft's working conditions: while the loaded latency
//!    still grows by more than 10 % from one half-second to the next, the queue is still
//!    filling, and a stream is added; the direction ends only after 1.5 s without growth, and
//!    the loaded latency is measured from the probes of that last stretch: the level the queue
//!    reaches there ([`queue_level`]), not the middle of a drop-tail queue's sawtooth.
//!    Goodput is the bytes received inside that window over its duration: slow start and the
//!    ramp are excluded, as iperf3 users exclude them by hand with `--omit`. The download is
//!    counted here as it arrives; the upload at the server, which reports what it received for
//!    this test's session with its own clock when the window starts and ends (sonde's
//!    extension of the draft's configuration, [`sonde_protocol::measure`]). Against a server
//!    without it, the upload is counted as handed to the socket, which runs ahead by the
//!    growth of the socket buffer, and the result says so (`upload_counted_at`).
//! 3. While the link is saturated, a probe on a new connection every
//!    [`ThroughputOptions::probe_interval`], and (HTTP/2) a GET of the small object on a loaded
//!    connection: the loaded latency, per direction.
//!
//! A data budget (default 50 MB on mobile access) bounds every byte of body moved: each
//! download request asks for a `Range` no larger than what is left, each upload body stops at
//! its share, so the server never sends or receives more, whatever the socket buffers hold.
//!
//! [`evaluate_throughput`] and [`evaluate_responsiveness`] are pure.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sonde_protocol::measure::{SESSION_HEADER, UPLOAD_STATS_URL_KEY, UploadStats, incompressible};
use sonde_protocol::{CheckStatus, Metric, Threshold};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_rustls::rustls;

use super::{Evaluation, MeasureError, ProgressSink, worst};

/// TCP payload per full Ethernet frame: 1448 bytes of 1514 (MTU 1500 less IPv4 20, TCP 20 and
/// timestamps 12; plus the 14-byte Ethernet header). The best goodput a line of a given rate
/// can carry, and what a contract's rate is compared against.
pub const TCP_EFFICIENCY: f64 = 1448.0 / 1514.0;

/// HTTP version of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpVersion {
    /// HTTP/1.1: one request at a time per connection (the least CPU per byte).
    Http1,
    /// HTTP/2 with prior knowledge (`h2c` on `http://`): lets probes share a loaded connection.
    Http2,
}

/// How the measurement runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ThroughputOptions {
    /// The measurement server: its base URL (`http://host:port`) or its configuration URL
    /// (ending in `/.well-known/nq` or `.json`). `None`: the checks are skipped.
    pub server: Option<String>,
    /// Longest time per direction, ramp included.
    pub max_duration: Duration,
    /// Streams opened at once when a direction starts (more are added while goodput grows).
    /// Several loss-based flows keep a bottleneck queue full, as a busy household does; one
    /// flow's sawtooth would drain it and hide bufferbloat.
    pub initial_streams: u32,
    /// Most parallel streams per direction.
    pub max_streams: u32,
    /// Most bytes of body moved in all (both directions and the probes); `None`: no limit.
    pub budget_bytes: Option<u64>,
    /// HTTP version of the load.
    pub http: HttpVersion,
    /// Measure the upload too.
    pub upload: bool,
    /// Probes on new connections before the load.
    pub idle_probes: u32,
    /// Interval between probes under load.
    pub probe_interval: Duration,
    /// Connect and probe timeout.
    pub timeout: Duration,
    /// Extra CA certificates (PEM) trusted for an `https://` server, beside the Mozilla roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for ThroughputOptions {
    fn default() -> Self {
        Self {
            server: None,
            max_duration: Duration::from_secs(10),
            initial_streams: 4,
            max_streams: 16,
            budget_bytes: None,
            http: HttpVersion::Http1,
            upload: true,
            idle_probes: 10,
            probe_interval: Duration::from_millis(100),
            timeout: Duration::from_secs(3),
            ca_file: None,
        }
    }
}

/// The data budget on mobile access when the configuration sets none: 50 MB in all.
pub const MOBILE_BUDGET_BYTES: u64 = 50_000_000;

/// Thresholds of the throughput check: goodput against the subscribed rates.
#[derive(Clone, Debug, PartialEq)]
pub struct ThroughputThresholds {
    /// Subscribed download rate (Mbit/s), from `[line]`.
    pub contract_down_mbps: Option<f64>,
    /// Subscribed upload rate (Mbit/s), from `[line]`.
    pub contract_up_mbps: Option<f64>,
    /// Goodput below this share (percent) of the expected (contract × [`TCP_EFFICIENCY`]) warns.
    pub contract_warn_percent: f64,
    /// Goodput below this share (percent) of the expected fails.
    pub contract_fail_percent: f64,
}

impl Default for ThroughputThresholds {
    fn default() -> Self {
        Self {
            contract_down_mbps: None,
            contract_up_mbps: None,
            // Ookla and Ofcom's "advertised speed" reporting treat 80 % at peak as acceptable;
            // half of it is a line that does not deliver its contract.
            contract_warn_percent: 80.0,
            contract_fail_percent: 50.0,
        }
    }
}

/// Thresholds of the responsiveness check.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponsivenessThresholds {
    /// Latency added by the load (ms) from which the link is graded "bufferbloat" (warn).
    /// Waveform's bufferbloat test grades A below 30 ms added.
    pub bufferbloat_warn_ms: f64,
    /// Latency added by the load (ms) from which the check fails (Waveform's grade D: 200 ms).
    pub bufferbloat_fail_ms: f64,
    /// RPM below which responsiveness is "low" (networkQuality's grades).
    pub rpm_low: f64,
    /// RPM from which responsiveness is "high".
    pub rpm_high: f64,
}

impl Default for ResponsivenessThresholds {
    fn default() -> Self {
        Self {
            bufferbloat_warn_ms: 30.0,
            bufferbloat_fail_ms: 200.0,
            rpm_low: 200.0,
            rpm_high: 800.0,
        }
    }
}

/// What the measurement saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputSamples {
    /// The configuration URL used.
    pub config_url: String,
    /// The large object's URL.
    pub download_url: String,
    /// The upload sink's URL.
    pub upload_url: String,
    /// Where the server reports what it received of the upload (sonde's extension), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_stats_url: Option<String>,
    /// HTTP version of the load.
    pub http: Option<HttpVersion>,
    /// The data budget in force, bytes.
    pub budget_bytes: Option<u64>,
    /// Bytes of body moved in all (load and probes).
    pub bytes_total: u64,
    /// Probes before the load.
    pub idle: Probes,
    /// The download, when measured.
    pub download: Option<Direction>,
    /// The upload, when measured.
    pub upload: Option<Direction>,
}

/// One direction's load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    /// Goodput over the measured window, Mbit/s (`None` when nothing was measured).
    pub goodput_mbps: Option<f64>,
    /// Streams running at the end.
    pub streams: u32,
    /// Bytes of body moved in this direction.
    pub bytes: u64,
    /// When the measured window started (ms after the direction's start): the end of the ramp.
    pub window_start_ms: u64,
    /// The window's length, ms.
    pub window_ms: u64,
    /// Why the direction ended.
    pub stop: Stop,
    /// Streams that failed, with the first error.
    pub errors: u32,
    /// The first stream error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Probes while the link was saturated.
    pub loaded: Probes,
    /// Where the goodput was counted.
    #[serde(default)]
    pub counted_at: CountedAt,
    /// Goodput counted at the sender over the ramp's window, when the receiver's count is the
    /// one reported (for comparison).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_goodput_mbps: Option<f64>,
}

/// Where a direction's goodput was counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountedAt {
    /// By the receiver of the bytes: the download here, the upload by the server.
    #[default]
    Receiver,
    /// By the sender, as handed to the socket (an upload to a server that does not report).
    Sender,
}

impl CountedAt {
    fn as_str(self) -> &'static str {
        match self {
            CountedAt::Receiver => "receiver",
            CountedAt::Sender => "sender",
        }
    }
}

/// Why a direction ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The goodput average was stable.
    #[default]
    Stable,
    /// The direction's time cap.
    Cap,
    /// The data budget ran out.
    Budget,
    /// Every stream failed.
    Failed,
}

impl Stop {
    fn as_str(self) -> &'static str {
        match self {
            Stop::Stable => "stable",
            Stop::Cap => "time_cap",
            Stop::Budget => "budget",
            Stop::Failed => "failed",
        }
    }
}

/// Latency probes, each in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Probes {
    /// TCP handshakes of new connections (foreign probes).
    pub connect_ms: Vec<f64>,
    /// GETs of the small object on those new connections.
    pub http_ms: Vec<f64>,
    /// GETs of the small object on loaded connections (self probes, HTTP/2 only).
    pub self_ms: Vec<f64>,
    /// Probes that got no answer within the timeout.
    pub lost: u32,
}

/// Measures goodput both ways and latency idle and under load. `Err` when the server cannot be
/// used at all (no configuration, no address); a direction that fails is a measurement.
pub async fn measure_throughput(
    options: &ThroughputOptions,
    progress: &dyn ProgressSink,
) -> Result<ThroughputSamples, MeasureError> {
    let server = options
        .server
        .as_deref()
        .ok_or_else(|| MeasureError::Unsupported("no measurement server configured ([throughput] server)".into()))?;
    let config_url = config_url(server);
    let tls = super::http::client_config(options.ca_file.as_deref()).await?;
    let config = fetch_config(&config_url, options.timeout, &tls).await?;
    let small = resolve(&config.small, options.timeout).await?;
    let budget = Arc::new(Budget::new(options.budget_bytes));
    let mut samples = ThroughputSamples {
        config_url,
        download_url: config.large.clone(),
        upload_url: config.upload.clone(),
        upload_stats_url: config.upload_stats.clone(),
        http: Some(options.http),
        budget_bytes: options.budget_bytes,
        ..ThroughputSamples::default()
    };
    let loads: &[Load] = if options.upload {
        &[Load::Download, Load::Upload]
    } else {
        &[Load::Download]
    };
    let mut idle = Probes::default();
    for _ in 0..options.idle_probes {
        if !budget.take_probe() {
            break;
        }
        record(&mut idle, probe_new_connection(&small, options.timeout).await);
    }
    samples.idle = idle;
    progress.report(IDLE_SHARE, Vec::new());
    let width = (1.0 - IDLE_SHARE) / loads.len() as f64;
    for (i, &load) in loads.iter().enumerate() {
        // The download may use half of what is left, the upload all of what is left then.
        let share = budget.remaining().map(|r| if i + 1 < loads.len() { r / 2 } else { r });
        let phase = Phase {
            load,
            url: if load == Load::Download {
                &config.large
            } else {
                &config.upload
            },
            small: &small,
            small_url: &config.small,
            upload_stats: if load == Load::Upload {
                config.upload_stats.as_deref()
            } else {
                None
            },
            share,
            tls: &tls,
            fraction: (IDLE_SHARE + width * i as f64, width),
        };
        let direction = run_direction(options, &budget, &phase, progress).await;
        match load {
            Load::Download => samples.download = Some(direction),
            Load::Upload => samples.upload = Some(direction),
        }
    }
    let probes = [Some(&samples.idle)]
        .into_iter()
        .chain([&samples.download, &samples.upload].map(|d| d.as_ref().map(|d| &d.loaded)))
        .flatten()
        .map(|p| (p.connect_ms.len() + p.self_ms.len()) as u64)
        .sum::<u64>();
    let load = [&samples.download, &samples.upload]
        .into_iter()
        .flatten()
        .map(|d| d.bytes)
        .sum::<u64>();
    // Each answered probe carried one byte of body.
    samples.bytes_total = load + probes;
    Ok(samples)
}

/// Share of the check's progress taken by the idle probes.
const IDLE_SHARE: f64 = 0.05;

/// Where each direction's live progress runs, as `(start, width)`: after the idle probes'
/// [`IDLE_SHARE`], one equal share per direction, in proportion to its time towards
/// `options.max_duration`. (The progress estimate reads a direction's time from it.)
pub fn direction_shares(options: &ThroughputOptions) -> Vec<(f64, f64)> {
    let directions = if options.upload { 2 } else { 1 };
    let width = (1.0 - IDLE_SHARE) / f64::from(directions);
    (0..directions)
        .map(|i| (IDLE_SHARE + width * f64::from(i), width))
        .collect()
}

/// How long a direction lasts on a line that settles (the [`Ramp`] with its default
/// configuration): the first comparison after two intervals, the flat intervals that declare
/// saturation, the shortest window at working conditions, and one interval more for the
/// stability test; at most `options.max_duration`.
pub fn typical_direction(options: &ThroughputOptions) -> Duration {
    let c = RampConfig::default();
    let seconds = c.interval * f64::from(2 + c.flat_intervals) + c.min_window.max(c.min_loaded) + c.interval;
    Duration::from_secs_f64(seconds).min(options.max_duration)
}

/// The configuration URL of a server: itself when it names one, else `/.well-known/nq` on it.
pub fn config_url(server: &str) -> String {
    let trimmed = server.trim_end_matches('/');
    if trimmed.ends_with("/.well-known/nq") || trimmed.ends_with(".json") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/.well-known/nq")
    }
}

/// The three URLs of the draft's configuration, and sonde's upload stats URL if present.
#[derive(Clone, Debug, PartialEq)]
struct ServerConfig {
    small: String,
    large: String,
    upload: String,
    upload_stats: Option<String>,
}

/// Reads the draft's configuration (`{"version":1,"urls":{…}}`).
fn parse_config(body: &[u8]) -> Result<ServerConfig, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let urls = value.get("urls").ok_or("no `urls` object")?;
    let url = |name: &str| {
        urls.get(name)
            .and_then(|u| u.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("no `urls.{name}`"))
    };
    Ok(ServerConfig {
        small: url("small_https_download_url")?,
        large: url("large_https_download_url")?,
        upload: url("https_upload_url")?,
        upload_stats: url(UPLOAD_STATS_URL_KEY).ok(),
    })
}

async fn fetch_config(url: &str, timeout: Duration, tls: &rustls::ClientConfig) -> Result<ServerConfig, MeasureError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .http1_only()
        .tls_backend_preconfigured(with_alpn(tls, HttpVersion::Http1))
        .build()
        .map_err(|e| MeasureError::Unsupported(format!("HTTP client: {e}")))?;
    let unreachable = |e: String| MeasureError::Unsupported(format!("measurement server {url}: {e}"));
    let response = client.get(url).send().await.map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("answered {}", response.status())));
    }
    let body = response.bytes().await.map_err(|e| unreachable(e.to_string()))?;
    parse_config(&body).map_err(unreachable)
}

/// Where foreign probes connect, and what they ask.
#[derive(Clone, Debug)]
struct ProbeTarget {
    addr: SocketAddr,
    host: String,
    path: String,
    /// `https`: the probe times the TCP handshake only (no TLS stack here for raw probes).
    plain: bool,
}

async fn resolve(url: &str, timeout: Duration) -> Result<ProbeTarget, MeasureError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| MeasureError::Unsupported(format!("`{url}`: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| MeasureError::Unsupported(format!("`{url}` has no host")))?
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host((bare.as_str(), port))).await;
    let addr = match lookup {
        Ok(Ok(mut addrs)) => addrs.next(),
        _ => None,
    }
    .ok_or_else(|| MeasureError::Unsupported(format!("cannot resolve `{host}`")))?;
    let mut path = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        path = format!("{path}?{q}");
    }
    let host = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    Ok(ProbeTarget {
        addr,
        host,
        path,
        plain: parsed.scheme() == "http",
    })
}

/// One probe's outcome: (connect ms, GET ms) or lost.
type ProbeOutcome = Option<(f64, Option<f64>)>;

fn record(probes: &mut Probes, outcome: ProbeOutcome) {
    match outcome {
        Some((connect, http)) => {
            probes.connect_ms.push(connect);
            probes.http_ms.extend(http);
        }
        None => probes.lost += 1,
    }
}

/// A foreign probe: a new TCP connection (timed), then a GET of the small object on it (timed
/// to the end of the response's headers).
async fn probe_new_connection(target: &ProbeTarget, timeout: Duration) -> ProbeOutcome {
    let work = async {
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(target.addr).await.ok()?;
        let connect = ms(started.elapsed());
        if !target.plain {
            return Some((connect, None));
        }
        let _ = stream.set_nodelay(true);
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            target.path, target.host
        );
        let sent = Instant::now();
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        // Bounded: the answer's headers fit in the buffer, or the probe gives up.
        while seen < buf.len() {
            let n = stream.read(&mut buf[seen..]).await.ok()?;
            if n == 0 {
                break;
            }
            seen += n;
            if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
                return Some((connect, Some(ms(sent.elapsed()))));
            }
        }
        None
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Which way the load goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    Download,
    Upload,
}

/// One direction's plan.
struct Phase<'a> {
    load: Load,
    url: &'a str,
    small: &'a ProbeTarget,
    small_url: &'a str,
    /// Where the server reports the upload it received (upload only; `None`: count here).
    upload_stats: Option<&'a str>,
    /// The TLS client of `https://` servers.
    tls: &'a rustls::ClientConfig,
    /// Bytes this direction may move (`None`: no budget).
    share: Option<u64>,
    /// (start, width) of this direction in the check's progress.
    fraction: (f64, f64),
}

/// Bytes of body a probe is charged against the budget: its 1-byte answer, plus the headers
/// both ways, which a metered mobile link counts too.
const PROBE_COST_BYTES: u64 = 600;

/// The data budget, shared by every stream and probe. Bytes are reserved before they move.
#[derive(Debug)]
struct Budget {
    limit: Option<u64>,
    used: AtomicU64,
}

impl Budget {
    fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            used: AtomicU64::new(0),
        }
    }

    fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used.load(Ordering::Relaxed)))
    }

    /// Reserves up to `want` bytes; returns what was granted (0: nothing left). Without a
    /// budget, grants everything.
    fn reserve(&self, want: u64) -> u64 {
        let Some(limit) = self.limit else {
            return want;
        };
        let mut granted = 0;
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            granted = want.min(limit.saturating_sub(used));
            Some(used + granted)
        });
        granted
    }

    /// Gives back bytes reserved but not moved.
    fn release(&self, unused: u64) {
        if self.limit.is_some() {
            self.used.fetch_sub(unused, Ordering::Relaxed);
        }
    }

    fn take_probe(&self) -> bool {
        self.reserve(PROBE_COST_BYTES) == PROBE_COST_BYTES
    }
}

/// Largest request of a stream: each request is a `Range` of the large object (or an upload
/// body) of at most this size, so the budget is reserved in pieces and streams share it.
const REQUEST_BYTES: u64 = 1 << 30;

/// What the streams of one direction share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes of body received (download) or handed to the socket (upload).
    bytes: AtomicU64,
    /// Bytes this direction may still reserve.
    share_left: AtomicU64,
    limited: bool,
    errors: Mutex<(u32, Option<String>)>,
    exhausted: AtomicBool,
    /// The upload's session at the server (header [`SESSION_HEADER`]).
    session: Option<String>,
}

impl Shared {
    /// Reserves the next request's size from this direction's share and the global budget.
    fn lease(&self, budget: &Budget) -> u64 {
        let want = if self.limited {
            let mut granted = 0;
            let _ = self
                .share_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    // Small pieces, so that parallel streams share a small budget.
                    granted = left.min(REQUEST_BYTES).min((left / 8).max(256 << 10));
                    Some(left - granted)
                });
            granted
        } else {
            REQUEST_BYTES
        };
        let granted = if want == 0 { 0 } else { budget.reserve(want) };
        if granted == 0 {
            self.exhausted.store(true, Ordering::Relaxed);
        }
        granted
    }

    fn failed(&self, error: String) {
        if let Ok(mut e) = self.errors.lock() {
            e.0 += 1;
            e.1.get_or_insert(error);
        }
    }
}

/// How often the load is sampled: the goodput window's boundaries are this precise.
const TICK: Duration = Duration::from_millis(50);

/// How often live progress is reported (a bar and a gauge move 5 times a second).
const REPORT_INTERVAL: Duration = Duration::from_millis(200);

/// When probes under load start if the link never looks saturated.
const PROBE_AFTER: f64 = 2.0;

/// Upload body pieces: small enough that the byte count follows the socket closely at 10
/// Mbit/s, large enough that hyper's per-piece cost is negligible at gigabits.
const UPLOAD_PIECE: usize = 64 << 10;

/// The upload body's incompressible content, repeated.
const UPLOAD_PATTERN_BYTES: usize = 1 << 20;

/// Seed of the upload body's content.
const UPLOAD_SEED: u64 = 0x0bad_5eed_1234_5678;

async fn run_direction(
    options: &ThroughputOptions,
    budget: &Arc<Budget>,
    phase: &Phase<'_>,
    progress: &dyn ProgressSink,
) -> Direction {
    let shared = Arc::new(Shared {
        share_left: AtomicU64::new(phase.share.unwrap_or(u64::MAX)),
        limited: phase.share.is_some(),
        session: (phase.load == Load::Upload).then(|| uuid::Uuid::now_v7().to_string()),
        ..Shared::default()
    });
    let pattern = bytes::Bytes::from(incompressible(UPLOAD_PATTERN_BYTES, UPLOAD_SEED));
    let mut receiver = phase
        .upload_stats
        .zip(shared.session.as_deref())
        .and_then(|(url, session)| ReceiverCount::new(url, session, options.timeout, phase.tls));
    let mut clients: Vec<reqwest::Client> = Vec::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    // Probes under load, each with the time it started (seconds since the direction's start).
    let mut probes: JoinSet<(f64, ProbeOutcome)> = JoinSet::new();
    let mut self_probes: JoinSet<(f64, Option<f64>)> = JoinSet::new();
    let mut foreign: Vec<(f64, ProbeOutcome)> = Vec::new();
    let mut own: Vec<(f64, f64)> = Vec::new();
    let initial = options.initial_streams.clamp(1, options.max_streams.max(1));
    let mut ramp = Ramp::with_streams(
        initial,
        RampConfig {
            max_streams: options.max_streams,
            max_duration: options.max_duration.as_secs_f64(),
            ..RampConfig::default()
        },
    );
    let spawn_stream = |tasks: &mut JoinSet<()>, clients: &mut Vec<reqwest::Client>| match client(options, phase.tls) {
        Ok(client) => {
            clients.push(client.clone());
            let (shared, budget, url) = (shared.clone(), budget.clone(), phase.url.to_owned());
            match phase.load {
                Load::Download => tasks.spawn(download_stream(client, url, shared, budget)),
                Load::Upload => tasks.spawn(upload_stream(client, url, shared, budget, pattern.clone())),
            };
        }
        Err(e) => shared.failed(e),
    };
    let started = Instant::now();
    for _ in 0..initial {
        spawn_stream(&mut tasks, &mut clients);
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut next_probe, mut next_report) = (started, started);
    let mut last_rtt: Option<f64> = None;
    let mut probe_turn = 0usize;
    let stop = loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = probes.join_next(), if !probes.is_empty() => {
                if let Ok((at, outcome)) = done {
                    if let Some((connect, _)) = outcome {
                        last_rtt = Some(connect);
                        ramp.probe(at, connect);
                    }
                    foreign.push((at, outcome));
                }
                continue;
            }
            Some(done) = self_probes.join_next(), if !self_probes.is_empty() => {
                if let Ok((at, Some(rtt))) = done {
                    own.push((at, rtt));
                }
                continue;
            }
        }
        while tasks.try_join_next().is_some() {}
        let now = Instant::now();
        let t = now.duration_since(started).as_secs_f64();
        let exhausted = shared.exhausted.load(Ordering::Relaxed);
        let state = match (tasks.is_empty(), exhausted) {
            (true, true) => LoadState::BudgetSpent,
            (true, false) => LoadState::AllFailed,
            _ => LoadState::Running,
        };
        let decision = ramp.tick(t, shared.bytes.load(Ordering::Relaxed), state);
        // The receiver's window starts with the sender's, or, on a link whose goodput never
        // settles, when the probes under load start.
        if (ramp.saturated() || t >= PROBE_AFTER)
            && let Some(receiver) = &mut receiver
        {
            receiver.start();
        }
        match decision {
            Decision::Stop(stop) => break stop,
            Decision::AddStream => spawn_stream(&mut tasks, &mut clients),
            Decision::Continue => {}
        }
        // Probes under load once the link is saturated (the working conditions), or once the
        // load has run long enough to fill any queue when goodput never settles.
        if (ramp.saturated() || t >= PROBE_AFTER) && now >= next_probe {
            next_probe = now + options.probe_interval;
            if budget.take_probe() {
                let (target, timeout) = (phase.small.clone(), options.timeout);
                probes.spawn(async move { (t, probe_new_connection(&target, timeout).await) });
            }
            if options.http == HttpVersion::Http2 && !clients.is_empty() && budget.take_probe() {
                probe_turn = (probe_turn + 1) % clients.len();
                let (client, url, timeout) = (clients[probe_turn].clone(), phase.small_url.to_owned(), options.timeout);
                self_probes.spawn(async move { (t, probe_loaded(&client, &url, timeout).await) });
            }
        }
        if now >= next_report {
            next_report = now + REPORT_INTERVAL;
            let (start, width) = phase.fraction;
            let name = match phase.load {
                Load::Download => "download_mbps",
                Load::Upload => "upload_mbps",
            };
            let mut metrics = vec![
                Metric::new(name, round2(ramp.current_mbps())),
                Metric::new("streams", u64::from(ramp.streams())),
            ];
            if let Some(rtt) = last_rtt {
                metrics.push(Metric::new("loaded_rtt_ms", round2(rtt)));
            }
            progress.report(start + width * (t / ramp.config.max_duration).min(1.0), metrics);
        }
    };
    // The receiver's count of the window ends while the streams still run (a budget stop has
    // no streams left, and its window is counted here).
    let received = match receiver {
        Some(receiver) if matches!(stop, Stop::Stable | Stop::Cap) => receiver.finish().await,
        _ => None,
    };
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    // Probes still in flight are neither answers nor losses.
    probes.abort_all();
    self_probes.abort_all();
    while probes.join_next().await.is_some() {}
    while self_probes.join_next().await.is_some() {}
    let moved = shared.bytes.load(Ordering::Relaxed);
    if let Some(share) = phase.share {
        // Reserved but unmoved bytes go back to the budget, for the next direction.
        let reserved = share.saturating_sub(shared.share_left.load(Ordering::Relaxed));
        budget.release(reserved.saturating_sub(moved));
    }
    let (errors, first_error) = shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let loaded = working_conditions(&foreign, &own, ramp.loaded_since());
    let window = ramp.window();
    let sender = window.map(|w| round2(w.mbps));
    let (goodput_mbps, window_ms, counted_at, sender_goodput_mbps) = match (received, phase.load) {
        (Some(r), _) => (
            Some(round2(r.mbps)),
            (r.seconds * 1000.0) as u64,
            CountedAt::Receiver,
            sender,
        ),
        (None, Load::Download) => (sender, window_ms(window), CountedAt::Receiver, None),
        (None, Load::Upload) => (sender, window_ms(window), CountedAt::Sender, None),
    };
    Direction {
        goodput_mbps,
        streams: ramp.streams(),
        bytes: moved,
        window_start_ms: window.map_or(0, |w| (w.start * 1000.0) as u64),
        window_ms,
        stop,
        errors,
        first_error,
        loaded,
        counted_at,
        sender_goodput_mbps,
    }
}

/// Fewest probes the loaded latency is measured from: when the last stream was added just
/// before the end, the latest probes are kept even if some started under a lighter load.
const MIN_LOADED_PROBES: usize = 5;

/// The probes that measure the loaded latency: those started once the load reached working
/// conditions (`since`: goodput saturated and latency no longer growing), or the latest
/// [`MIN_LOADED_PROBES`] of each kind.
fn working_conditions(foreign: &[(f64, ProbeOutcome)], own: &[(f64, f64)], since: f64) -> Probes {
    fn latest<T: Clone>(all: &[(f64, T)], since: f64) -> Vec<T> {
        let mut sorted = all.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let after = sorted.partition_point(|(t, _)| *t < since);
        let from = after.min(sorted.len().saturating_sub(MIN_LOADED_PROBES));
        sorted[from..].iter().map(|(_, v)| v.clone()).collect()
    }
    let mut probes = Probes::default();
    for outcome in latest(foreign, since) {
        record(&mut probes, outcome);
    }
    probes.self_ms = latest(own, since);
    probes
}

fn window_ms(window: Option<Window>) -> u64 {
    window.map_or(0, |w| (w.duration * 1000.0) as u64)
}

/// Shortest window the receiver's count is trusted over; shorter, the sender's count is kept.
/// The first reading can come late when the client's CPU is the bottleneck (loopback at
/// gigabits); on a network bottleneck it comes one loaded round trip after saturation.
const MIN_RECEIVER_WINDOW: f64 = 0.25;

/// The upload's goodput as the server counted it: its byte counter for this test's session,
/// read with its clock when the window starts and again when it ends, while the streams run.
/// Both readings come a one-way trip (and the queue) after the moment asked for; in a
/// saturated, steady link both are delayed alike, and bytes and time are both the receiver's.
struct ReceiverCount {
    client: reqwest::Client,
    url: String,
    start: Option<tokio::task::JoinHandle<Option<UploadStats>>>,
}

/// Goodput counted at the receiver.
struct Received {
    mbps: f64,
    seconds: f64,
}

impl ReceiverCount {
    fn new(url: &str, session: &str, timeout: Duration, tls: &rustls::ClientConfig) -> Option<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .http1_only()
            .tls_backend_preconfigured(with_alpn(tls, HttpVersion::Http1))
            .no_proxy()
            .build()
            .ok()?;
        let separator = if url.contains('?') { '&' } else { '?' };
        Some(Self {
            client,
            url: format!("{url}{separator}session={session}"),
            start: None,
        })
    }

    /// Reads the counter at the window's start (once).
    fn start(&mut self) {
        if self.start.is_none() {
            let (client, url) = (self.client.clone(), self.url.clone());
            self.start = Some(tokio::spawn(async move { read_upload_stats(&client, &url).await }));
        }
    }

    /// Reads the counter at the window's end: the goodput between both readings.
    async fn finish(self) -> Option<Received> {
        let start = self.start?.await.ok()??;
        let end = read_upload_stats(&self.client, &self.url).await?;
        let seconds = end.server_ns.checked_sub(start.server_ns)? as f64 / 1e9;
        let bytes = end.bytes.checked_sub(start.bytes)?;
        (seconds >= MIN_RECEIVER_WINDOW).then(|| Received {
            mbps: bytes as f64 * 8e-6 / seconds,
            seconds,
        })
    }
}

async fn read_upload_stats(client: &reqwest::Client, url: &str) -> Option<UploadStats> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    serde_json::from_slice(&response.bytes().await.ok()?).ok()
}

/// `tls` offering only `http` by ALPN (`https://` servers; reqwest uses a preconfigured TLS
/// client as it is).
fn with_alpn(tls: &rustls::ClientConfig, http: HttpVersion) -> rustls::ClientConfig {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![match http {
        HttpVersion::Http1 => b"http/1.1".to_vec(),
        HttpVersion::Http2 => b"h2".to_vec(),
    }];
    tls
}

/// A client for one stream: its own connection pool, so each stream is its own TCP
/// connection (as networkQuality's are), also over HTTP/2.
fn client(options: &ThroughputOptions, tls: &rustls::ClientConfig) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .connect_timeout(options.timeout)
        .tcp_nodelay(true)
        .tls_backend_preconfigured(with_alpn(tls, options.http))
        .no_proxy();
    let builder = match options.http {
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2 => builder.http2_prior_knowledge().http2_adaptive_window(true),
    };
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// One download stream: `Range` requests of the large object (whole-object requests without a
/// budget), read chunk by chunk and counted, never buffered.
async fn download_stream(client: reqwest::Client, url: String, shared: Arc<Shared>, budget: Arc<Budget>) {
    loop {
        let lease = shared.lease(&budget);
        if lease == 0 {
            return;
        }
        let mut request = client.get(&url);
        if shared.limited {
            request = request.header(reqwest::header::RANGE, format!("bytes=0-{}", lease - 1));
        }
        let mut response = match request.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return shared.failed(format!("GET {url}: {}", r.status())),
            Err(e) => return shared.failed(format!("GET {url}: {e}")),
        };
        let mut received = 0u64;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    shared.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    // A server that ignores `Range` is cut off at the lease.
                    if shared.limited && received >= lease {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return shared.failed(format!("GET {url}: {e}")),
            }
        }
        if shared.limited && received < lease {
            budget.release(lease - received);
        }
    }
}

/// One upload stream: POST bodies of the lease's size, streamed from the shared pattern and
/// counted as the HTTP stack takes them.
async fn upload_stream(
    client: reqwest::Client,
    url: String,
    shared: Arc<Shared>,
    budget: Arc<Budget>,
    pattern: bytes::Bytes,
) {
    loop {
        let lease = shared.lease(&budget);
        if lease == 0 {
            return;
        }
        let counter = shared.clone();
        let pieces = body_pieces(pattern.clone(), lease).map(move |piece| {
            counter.bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
            Ok::<_, std::io::Error>(piece)
        });
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
        let mut request = client.post(&url).body(body);
        if let Some(session) = &shared.session {
            request = request.header(SESSION_HEADER, session);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
            }
            Ok(r) => return shared.failed(format!("POST {url}: {}", r.status())),
            Err(e) => return shared.failed(format!("POST {url}: {e}")),
        }
    }
}

/// `total` bytes of `pattern`, repeated, in pieces of [`UPLOAD_PIECE`] (zero-copy slices).
fn body_pieces(pattern: bytes::Bytes, total: u64) -> impl Iterator<Item = bytes::Bytes> + Send {
    let piece = UPLOAD_PIECE.min(pattern.len()) as u64;
    let count = total.div_ceil(piece);
    (0..count).map(move |i| {
        let len = piece.min(total - i * piece) as usize;
        let offset = ((i * piece) % (pattern.len() as u64 - piece + 1)) as usize;
        pattern.slice(offset..offset + len)
    })
}

/// A self probe: a GET of the small object on a loaded connection (HTTP/2 multiplexes it
/// behind the load's data).
async fn probe_loaded(client: &reqwest::Client, url: &str, timeout: Duration) -> Option<f64> {
    let started = Instant::now();
    let work = async {
        let response = client.get(url).send().await.ok()?;
        response.bytes().await.ok()?;
        Some(ms(started.elapsed()))
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The load's state, as the measuring loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadState {
    /// Streams are running.
    Running,
    /// Every stream ended because the data budget is spent.
    BudgetSpent,
    /// Every stream ended with an error.
    AllFailed,
}

/// What the ramp asks for after a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Keep going.
    Continue,
    /// Open one more stream.
    AddStream,
    /// End the direction.
    Stop(Stop),
}

/// The ramp's tuning. Times in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RampConfig {
    /// Goodput is compared between consecutive intervals of this length.
    pub interval: f64,
    /// Relative growth above which goodput is "still growing" (and a stream is added).
    pub growth: f64,
    /// Consecutive flat intervals after which the link is saturated.
    pub flat_intervals: u32,
    /// Shortest measured window.
    pub min_window: f64,
    /// The window's average is stable when it moved less than this (relative) over
    /// `stability_span`.
    pub stability: f64,
    /// See `stability`.
    pub stability_span: f64,
    /// Most streams.
    pub max_streams: u32,
    /// Longest direction, ramp included.
    pub max_duration: f64,
    /// Once goodput is saturated, relative growth of the loaded latency (median of an
    /// interval's probes against the previous interval's) above which the queue is still
    /// filling, and a stream is added: the draft's "working conditions" saturate latency too.
    pub latency_growth: f64,
    /// Shortest time at working conditions (after the last stream added for latency) before
    /// the direction may end: the loaded latency's probes come from it.
    pub min_loaded: f64,
}

impl Default for RampConfig {
    fn default() -> Self {
        Self {
            interval: 0.5,
            growth: 0.05,
            flat_intervals: 2,
            min_window: 2.0,
            stability: 0.004,
            stability_span: 1.0,
            max_streams: 16,
            max_duration: 10.0,
            latency_growth: 0.10,
            min_loaded: 1.5,
        }
    }
}

/// The goodput window a direction measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Its start, seconds after the direction's.
    pub start: f64,
    /// Its length, seconds.
    pub duration: f64,
    /// Goodput over it, Mbit/s.
    pub mbps: f64,
}

/// Adds streams while goodput grows, then measures a window until its average is stable. Pure:
/// fed `(seconds since start, cumulative bytes)` samples; it decides.
#[derive(Clone, Debug)]
pub struct Ramp {
    config: RampConfig,
    samples: Vec<(f64, u64)>,
    streams: u32,
    last_eval: f64,
    flat: u32,
    window_start: Option<(f64, u64)>,
    /// Loaded-latency probes: (seconds since start, ms).
    probes: Vec<(f64, f64)>,
    /// Consecutive intervals over which the loaded latency did not grow.
    latency_flat: u32,
    /// When the last stream was added for latency (probes before it saw a lighter load).
    loaded_since: f64,
}

impl Ramp {
    /// A ramp with one stream running.
    pub fn new(config: RampConfig) -> Self {
        Self::with_streams(1, config)
    }

    /// A ramp with `streams` running.
    pub fn with_streams(streams: u32, config: RampConfig) -> Self {
        Self {
            config,
            samples: vec![(0.0, 0)],
            streams,
            last_eval: 0.0,
            flat: 0,
            window_start: None,
            probes: Vec::new(),
            latency_flat: 0,
            loaded_since: 0.0,
        }
    }

    /// Records a loaded-latency probe that completed at `t` seconds, of `ms`.
    pub fn probe(&mut self, t: f64, ms: f64) {
        self.probes.push((t, ms));
    }

    /// Since when (seconds) the load is at working conditions: probes from then on measure
    /// the loaded latency.
    pub fn loaded_since(&self) -> f64 {
        self.loaded_since
    }

    /// The median of the probes that completed in `(from, to]`.
    fn latency_between(&self, from: f64, to: f64) -> Option<f64> {
        let values: Vec<f64> = self
            .probes
            .iter()
            .filter(|(t, _)| *t > from && *t <= to)
            .map(|(_, ms)| *ms)
            .collect();
        median(&values)
    }

    /// After goodput saturated, every interval: whether the queue is still filling (the last
    /// interval's latency grew past the previous one's), and so a stream should be added.
    fn latency_still_growing(&mut self, t: f64) -> bool {
        let c = self.config;
        let (recent, previous) = (
            self.latency_between(t - c.interval, t),
            self.latency_between(t - 2.0 * c.interval, t - c.interval),
        );
        match (recent, previous) {
            (Some(r), Some(p)) if r > p * (1.0 + c.latency_growth) => {
                self.latency_flat = 0;
                true
            }
            (Some(_), Some(_)) => {
                self.latency_flat += 1;
                false
            }
            // No probes (the budget has none left, or none answered): latency cannot hold the
            // direction up.
            _ => {
                self.latency_flat = c.flat_intervals;
                false
            }
        }
    }

    /// Streams running.
    pub fn streams(&self) -> u32 {
        self.streams
    }

    /// Whether the link is saturated (the measured window has started).
    pub fn saturated(&self) -> bool {
        self.window_start.is_some()
    }

    /// Takes a sample at `t` seconds: `bytes` moved so far, the load's state.
    pub fn tick(&mut self, t: f64, bytes: u64, state: LoadState) -> Decision {
        self.samples.push((t, bytes));
        match state {
            LoadState::BudgetSpent => return Decision::Stop(Stop::Budget),
            LoadState::AllFailed => return Decision::Stop(Stop::Failed),
            LoadState::Running => {}
        }
        if t >= self.config.max_duration {
            return Decision::Stop(Stop::Cap);
        }
        let c = self.config;
        if let Some(start) = self.window_start {
            // Goodput is saturated; latency may not be yet: while each interval's loaded
            // latency grows, the queue is still filling, and one more stream fills it further.
            if t - self.last_eval >= c.interval {
                self.last_eval = t;
                if self.latency_still_growing(t) && self.streams < c.max_streams {
                    self.streams += 1;
                    self.loaded_since = t;
                    return Decision::AddStream;
                }
            }
            if t - start.0 >= c.min_window
                && self.latency_flat >= c.flat_intervals
                && t - self.loaded_since >= c.min_loaded
            {
                let now = rate(start, (t, bytes));
                let before = rate(start, self.at(t - c.stability_span));
                if now > 0.0 && (now - before).abs() <= c.stability * now {
                    return Decision::Stop(Stop::Stable);
                }
            }
            return Decision::Continue;
        }
        if t - self.last_eval < c.interval || t < 2.0 * c.interval {
            return Decision::Continue;
        }
        self.last_eval = t;
        let (mid, old) = (self.at(t - c.interval), self.at(t - 2.0 * c.interval));
        let (recent, previous) = (rate(mid, (t, bytes)), rate(old, mid));
        if recent > 0.0 && previous > 0.0 && recent <= previous * (1.0 + c.growth) {
            self.flat += 1;
        } else {
            self.flat = 0;
        }
        if self.flat >= c.flat_intervals {
            self.window_start = Some((t, bytes));
            self.loaded_since = t;
            Decision::Continue
        } else if self.flat == 0 && self.streams < c.max_streams {
            self.streams += 1;
            Decision::AddStream
        } else {
            Decision::Continue
        }
    }

    /// Goodput over the last interval, Mbit/s (the live gauge).
    pub fn current_mbps(&self) -> f64 {
        let Some(&last) = self.samples.last() else {
            return 0.0;
        };
        rate(self.at(last.0 - self.config.interval), last) * 8e-6
    }

    /// The measured window: from saturation to the last sample. Without saturation (the cap
    /// or the budget came first), the second half of the transfer, after its first byte.
    pub fn window(&self) -> Option<Window> {
        let &end = self.samples.last()?;
        let start = match self.window_start {
            Some(start) if end.0 - start.0 > 0.2 => start,
            _ => {
                let first = *self.samples.iter().find(|s| s.1 > 0)?;
                self.at(first.0 + (end.0 - first.0) / 2.0)
            }
        };
        let duration = end.0 - start.0;
        (duration > 0.0).then(|| Window {
            start: start.0,
            duration,
            mbps: rate(start, end) * 8e-6,
        })
    }

    /// The last sample at or before `t`.
    fn at(&self, t: f64) -> (f64, u64) {
        let i = self.samples.partition_point(|s| s.0 <= t);
        self.samples[i.saturating_sub(1)]
    }
}

/// Bytes per second between two samples.
fn rate(from: (f64, u64), to: (f64, u64)) -> f64 {
    let dt = to.0 - from.0;
    if dt <= 0.0 {
        return 0.0;
    }
    to.1.saturating_sub(from.1) as f64 / dt
}

/// The mean of the values at or below the 95th percentile (nearest rank): the draft's
/// trimmed mean, which drops the slowest 5 % (a SYN lost in a full queue, a scheduling hiccup).
pub fn trimmed_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let keep = ((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[..keep].iter().sum::<f64>() / keep as f64)
}

/// The median (the mean of the middle two of an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    } else {
        sorted[mid]
    })
}

/// Latency on new connections: the mean of `stat` over the TCP handshakes and over the GETs on
/// them (each one round trip), as the draft weighs its foreign probes.
fn foreign_latency(p: &Probes, stat: fn(&[f64]) -> Option<f64>) -> Option<f64> {
    let parts: Vec<f64> = [stat(&p.connect_ms), stat(&p.http_ms)].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64)
}

/// The idle latency: medians. The path's latency without load is what most probes wait; a
/// probe whose SYN or request was lost waits a retransmission timeout (a second for a SYN)
/// instead: one such loss among ten handshakes would add 100 ms to their mean.
fn idle_latency(p: &Probes) -> Option<f64> {
    foreign_latency(p, median)
}

/// The loaded latency: the level the loaded line's queue reaches, [`queue_level`] of the
/// probes. Its difference to [`idle_latency`] is the delay the line's buffer adds (bufferbloat).
fn loaded_latency(p: &Probes) -> Option<f64> {
    foreign_latency(p, queue_level)
}

/// Percentile (nearest rank) of the loaded probes that is read as the queue's level. A
/// drop-tail buffer under loss-based load is full at each loss and drained between losses by
/// the flows' backoff, so its delay saws between a low that depends on the load (how many
/// flows, which congestion control, how synchronised their losses: 80 to 105 ms with four
/// cubic flows in a 256 KiB queue at 20 Mbit/s) and the buffer's full delay, which depends on
/// the line alone. The median reads the middle of that sawtooth; the 90th percentile its top.
pub const LOADED_PERCENTILE: f64 = 0.90;

/// Probes above the third quartile plus this many interquartile ranges (Tukey's "far out"
/// fence) are set aside before [`LOADED_PERCENTILE`] is taken: they waited a retransmission
/// timeout (at least 200 ms, a second for a SYN) on top of the queue because the full queue
/// dropped their packet. A queue's own sawtooth never reaches that fence (uniform between a
/// low and a high, the fence is 1.25 sawtooth heights above its top).
pub const FAR_OUT_IQR: f64 = 3.0;

/// The level a loaded queue reaches: the [`LOADED_PERCENTILE`] of `values`, those above
/// Tukey's far-out fence ([`FAR_OUT_IQR`]) set aside. Probes that waited a retransmission do
/// not move it unless they are a quarter of them or more: then the line is losing, not
/// queueing, and they count.
pub fn queue_level(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q3) = (nearest_rank(&sorted, 0.25)?, nearest_rank(&sorted, 0.75)?);
    let fence = q3 + FAR_OUT_IQR * (q3 - q1);
    sorted.retain(|&v| v <= fence);
    nearest_rank(&sorted, LOADED_PERCENTILE)
}

/// The nearest-rank percentile `p` (in (0, 1]) of `sorted`.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// The draft's RPM: 60000 / (½ foreign + ½ self) with trimmed means; foreign alone without
/// self probes (HTTP/1.1 cannot share a loaded connection).
fn rpm(p: &Probes) -> Option<f64> {
    let foreign = foreign_latency(p, trimmed_mean)?;
    let delay = match trimmed_mean(&p.self_ms) {
        Some(own) => (foreign + own) / 2.0,
        None => foreign,
    };
    (delay > 0.0).then(|| 60_000.0 / delay)
}

/// Judges goodput against the subscribed rates.
pub fn evaluate_throughput(samples: &ThroughputSamples, t: &ThroughputThresholds) -> Evaluation {
    let mut metrics = Vec::new();
    let mut statuses = Vec::new();
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    for (name, direction, contract) in [
        ("download", &samples.download, t.contract_down_mbps),
        ("upload", &samples.upload, t.contract_up_mbps),
    ] {
        let Some(d) = direction else { continue };
        let expected = contract.map(|c| c * TCP_EFFICIENCY);
        let metric = match expected {
            Some(e) => Metric::judged(
                format!("{name}_mbps"),
                d.goodput_mbps,
                Threshold::below(e * t.contract_warn_percent / 100.0, e * t.contract_fail_percent / 100.0),
            ),
            None => Metric::new(format!("{name}_mbps"), d.goodput_mbps),
        };
        statuses.extend(metric.status);
        metrics.push(metric);
        metrics.push(Metric::new(format!("{name}_streams"), u64::from(d.streams)));
        metrics.push(Metric::new(format!("{name}_window_ms"), d.window_ms));
        metrics.push(Metric::new(format!("{name}_counted_at"), d.counted_at.as_str()));
        metrics.push(Metric::new(format!("{name}_stop"), d.stop.as_str()));
        if let Some(c) = contract {
            metrics.push(Metric::new(format!("contract_{name}_mbps"), c));
        }
        if let Some(e) = expected {
            metrics.push(Metric::new(format!("expected_{name}_mbps"), round2(e)));
            if let Some(g) = d.goodput_mbps {
                metrics.push(Metric::new(
                    format!("{name}_percent_of_expected"),
                    round2(100.0 * g / e),
                ));
            }
        }
        match d.goodput_mbps {
            Some(g) => summary.push(format!("{name} {g:.1} Mbit/s ({} streams)", d.streams)),
            None => failures.push(format!(
                "{name}: {}",
                d.first_error.as_deref().unwrap_or("nothing was received")
            )),
        }
    }
    metrics.push(Metric::new("tcp_efficiency_percent", round2(TCP_EFFICIENCY * 100.0)));
    metrics.push(Metric::new("bytes_total", samples.bytes_total));
    if let Some(b) = samples.budget_bytes {
        metrics.push(Metric::new("budget_bytes", b));
    }
    let (status, reason) = if !failures.is_empty() {
        (CheckStatus::Fail, Some(failures.join("; ")))
    } else if summary.is_empty() {
        (CheckStatus::Skipped, Some("no direction measured".to_owned()))
    } else {
        (worst(statuses), Some(summary.join(", ")))
    };
    Evaluation {
        status,
        reason,
        metrics,
    }
}

/// Judges latency under load: RPM, the added delay (bufferbloat) and their grades.
pub fn evaluate_responsiveness(samples: &ThroughputSamples, t: &ResponsivenessThresholds) -> Evaluation {
    let idle = idle_latency(&samples.idle);
    let loaded: Vec<(&str, &Probes)> = [("down", &samples.download), ("up", &samples.upload)]
        .into_iter()
        .filter_map(|(name, d)| d.as_ref().map(|d| (name, &d.loaded)))
        .collect();
    let mut metrics = vec![Metric::new("idle_latency_ms", idle.map(round2))];
    // The worse direction is the customer's experience: a call stalls whichever way it fills.
    let mut worst_dir: Option<(f64, &Probes)> = None;
    let mut lost = samples.idle.lost;
    for (name, probes) in &loaded {
        let latency = loaded_latency(probes);
        metrics.push(Metric::new(format!("loaded_latency_{name}_ms"), latency.map(round2)));
        lost += probes.lost;
        if let Some(l) = latency
            && worst_dir.is_none_or(|(w, _)| l > w)
        {
            worst_dir = Some((l, probes));
        }
    }
    metrics.push(Metric::new("probes_lost", u64::from(lost)));
    let Some((loaded_ms, probes)) = worst_dir else {
        return Evaluation {
            status: CheckStatus::Error,
            reason: Some("no probe answered under load".to_owned()),
            metrics,
        };
    };
    let rpm = rpm(probes);
    let added = idle.map(|i| (loaded_ms - i).max(0.0));
    let added_metric = Metric::judged(
        "added_delay_ms",
        added.map(round2),
        Threshold::above(t.bufferbloat_warn_ms, t.bufferbloat_fail_ms),
    );
    let status = added_metric.status.unwrap_or(CheckStatus::Pass);
    let bufferbloat = match status {
        CheckStatus::Fail => "severe_bufferbloat",
        CheckStatus::Warn => "bufferbloat",
        _ => "good",
    };
    let grade = rpm.map(|r| {
        if r < t.rpm_low {
            "low"
        } else if r < t.rpm_high {
            "medium"
        } else {
            "high"
        }
    });
    metrics.push(Metric::new("loaded_latency_ms", round2(loaded_ms)));
    metrics.push(added_metric);
    metrics.push(Metric::new("rpm", rpm.map(f64::round)));
    metrics.push(Metric::new("rpm_grade", grade));
    metrics.push(Metric::new("bufferbloat_grade", bufferbloat));
    let reason = format!(
        "{} RPM ({}), loaded {loaded_ms:.1} ms vs idle {} ms: {bufferbloat}",
        rpm.map_or_else(|| "?".to_owned(), |r| format!("{r:.0}")),
        grade.unwrap_or("?"),
        idle.map_or_else(|| "?".to_owned(), |i| format!("{i:.1}")),
    );
    Evaluation {
        status: if idle.is_none() { CheckStatus::Error } else { status },
        reason: Some(reason),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a ramp a constant-rate link (`mbps`, reached after `ramp_s` of linear slow start)
    /// sampled every 50 ms; returns the decisions' outcome.
    fn drive(mbps: f64, ramp_s: f64, config: RampConfig) -> (Stop, Ramp, f64) {
        let mut ramp = Ramp::new(config);
        let rate = mbps * 1e6 / 8.0;
        let mut bytes = 0.0;
        for i in 1..=400 {
            let t = f64::from(i) * 0.05;
            let current = if t < ramp_s { rate * t / ramp_s } else { rate };
            bytes += current * 0.05;
            if let Decision::Stop(stop) = ramp.tick(t, bytes as u64, LoadState::Running) {
                return (stop, ramp, t);
            }
        }
        panic!("the ramp never stopped");
    }

    #[test]
    fn a_steady_link_is_measured_exactly_once_the_ramp_is_over() {
        for (mbps, ramp_s) in [(10.0, 0.2), (50.0, 1.0), (200.0, 2.0), (1000.0, 0.1)] {
            let (stop, ramp, t) = drive(mbps, ramp_s, RampConfig::default());
            assert_eq!(stop, Stop::Stable, "{mbps}");
            let w = ramp.window().expect("a window");
            assert!(w.start >= ramp_s, "{mbps}: the window {w:?} includes the ramp");
            assert!((w.mbps - mbps).abs() / mbps < 0.001, "{mbps}: {w:?}");
            assert!(t <= 6.0, "{mbps}: took {t} s");
            assert!(w.duration >= 2.0);
        }
    }

    #[test]
    fn streams_are_added_while_goodput_grows() {
        let (_, ramp, _) = drive(100.0, 2.5, RampConfig::default());
        assert!(ramp.streams() >= 4, "{}", ramp.streams());
        let (_, ramp, _) = drive(100.0, 0.1, RampConfig::default());
        assert!(ramp.streams() <= 3, "{}", ramp.streams());
        let capped = RampConfig {
            max_streams: 2,
            ..RampConfig::default()
        };
        let (_, ramp, _) = drive(100.0, 4.0, capped);
        assert_eq!(ramp.streams(), 2);
    }

    #[test]
    fn an_unstable_link_stops_at_the_cap() {
        let config = RampConfig {
            max_duration: 5.0,
            ..RampConfig::default()
        };
        let mut ramp = Ramp::new(config);
        let mut bytes = 0u64;
        let mut outcome = None;
        for i in 1..=200 {
            let t = f64::from(i) * 0.05;
            // Alternates 10 and 30 Mbit/s every 0.7 s: never flat, never stable.
            let mbps = if ((t / 0.7) as u64).is_multiple_of(2) {
                10.0
            } else {
                30.0
            };
            bytes += (mbps * 1e6 / 8.0 * 0.05) as u64;
            if let Decision::Stop(stop) = ramp.tick(t, bytes, LoadState::Running) {
                outcome = Some((stop, t));
                break;
            }
        }
        let (stop, t) = outcome.expect("stopped");
        assert_eq!(stop, Stop::Cap);
        assert!((5.0..5.1).contains(&t));
        assert!(ramp.window().is_some_and(|w| w.mbps > 10.0 && w.mbps < 30.0));
    }

    #[test]
    fn budget_and_failures_stop_at_once() {
        let mut ramp = Ramp::new(RampConfig::default());
        assert_eq!(ramp.tick(0.05, 1000, LoadState::Running), Decision::Continue);
        assert_eq!(
            ramp.tick(0.10, 5000, LoadState::BudgetSpent),
            Decision::Stop(Stop::Budget)
        );
        assert!(ramp.window().is_some(), "goodput over what moved");
        let mut ramp = Ramp::new(RampConfig::default());
        assert_eq!(ramp.tick(0.05, 0, LoadState::AllFailed), Decision::Stop(Stop::Failed));
        assert_eq!(ramp.window(), None);
    }

    #[test]
    fn trimmed_mean_drops_the_slowest_five_percent() {
        assert_eq!(trimmed_mean(&[]), None);
        assert_eq!(trimmed_mean(&[4.0]), Some(4.0));
        let mut values: Vec<f64> = vec![10.0; 19];
        values.push(1000.0);
        assert_eq!(trimmed_mean(&values), Some(10.0));
        // Ten values: the 95th percentile is the tenth (nearest rank), nothing is dropped.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(trimmed_mean(&ten), Some(5.5));
    }

    #[test]
    fn streams_are_added_while_the_loaded_latency_grows() {
        // A 50 Mbit/s link, saturated from the start; after saturation the queue keeps filling
        // for two seconds (its delay grows), then stays full.
        let config = RampConfig::default();
        let mut ramp = Ramp::with_streams(4, config);
        let (mut t, mut bytes, mut stop) = (0.0_f64, 0u64, None);
        let (mut added_at, mut saturated_at) = (Vec::new(), None);
        while stop.is_none() && t < 20.0 {
            t += 0.05;
            bytes += 50_000_000 / 8 / 20;
            if ramp.saturated() {
                let since = t - *saturated_at.get_or_insert(t);
                ramp.probe(t, 50.0 + 25.0 * since.min(2.0));
            }
            match ramp.tick(t, bytes, LoadState::Running) {
                Decision::AddStream => added_at.push(t),
                Decision::Stop(s) => stop = Some(s),
                Decision::Continue => {}
            }
        }
        assert_eq!(stop, Some(Stop::Stable), "{added_at:?}");
        assert!(ramp.streams() >= 6, "{} streams, added at {added_at:?}", ramp.streams());
        assert!(
            added_at.iter().all(|&a| a <= 4.0),
            "none once the queue is full: {added_at:?}"
        );
        assert!(ramp.loaded_since() >= *added_at.last().expect("streams were added"));
        // Flat latency from the start: no stream is added for it.
        let mut flat = Ramp::with_streams(4, config);
        let (mut t, mut bytes) = (0.0, 0u64);
        loop {
            t += 0.05;
            bytes += 50_000_000 / 8 / 20;
            if flat.saturated() {
                flat.probe(t, 50.0);
            }
            match flat.tick(t, bytes, LoadState::Running) {
                Decision::Stop(s) => break assert_eq!(s, Stop::Stable),
                Decision::AddStream => assert!(!flat.saturated(), "added for latency at {t}"),
                Decision::Continue => {}
            }
        }
    }

    #[test]
    fn loaded_latency_counts_probes_from_working_conditions() {
        let foreign: Vec<(f64, ProbeOutcome)> = (0..20)
            .map(|i| (f64::from(i) * 0.1, Some((f64::from(i), Some(f64::from(i))))))
            .collect();
        let own = vec![(0.5, 1.0), (1.5, 2.0)];
        let p = working_conditions(&foreign, &own, 1.0);
        assert_eq!(p.connect_ms, (10..20).map(f64::from).collect::<Vec<_>>());
        assert_eq!(p.self_ms, vec![1.0, 2.0], "fewer than five: the latest kept");
        let late = working_conditions(&foreign, &own, 1.85);
        assert_eq!(late.connect_ms.len(), MIN_LOADED_PROBES);
    }

    #[test]
    fn a_retransmitted_probe_moves_neither_latency() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        // Eighteen probes at 20 ms, one whose SYN waited the 1 s retransmission timeout.
        let mut connect = vec![20.0; 17];
        connect.push(1020.0);
        let probes = Probes {
            connect_ms: connect,
            http_ms: vec![20.0; 18],
            ..Probes::default()
        };
        assert_eq!(idle_latency(&probes), Some(20.0));
        assert_eq!(loaded_latency(&probes), Some(20.0));
        // RPM, the draft's figure, still feels it (18 probes: nothing is trimmed).
        assert!(rpm(&probes).is_some_and(|r| r < 60_000.0 / 40.0), "{:?}", rpm(&probes));
    }

    /// Probes read evenly across a drop-tail queue's sawtooth, from `low` to `high` ms.
    fn sawtooth(low: f64, high: f64, n: u32) -> Vec<f64> {
        (0..n)
            .map(|i| low + (high - low) * f64::from(i) / f64::from(n - 1))
            .collect()
    }

    #[test]
    fn the_loaded_latency_reads_the_top_of_a_drop_tail_sawtooth() {
        // Four cubic flows in a 256 KiB queue at 20 Mbit/s (full: 104.86 ms) saw between 82
        // and 104.9 ms: the median reads the middle, more than 5 % short of the buffer.
        let probes = sawtooth(82.0, 104.86, 16);
        let full = 104.86;
        let middle = median(&probes).expect("probes");
        assert!(full - middle > 0.05 * full, "{middle}");
        let level = queue_level(&probes).expect("probes");
        assert!(level <= full && full - level < 0.02 * full, "{level}");
        // A retransmitted SYN (1 s) and a retransmitted GET (an RTO of 300 ms) in the same run
        // are set aside; the level stays on the sawtooth.
        let mut lossy = probes.clone();
        lossy.extend([1104.0, 404.0]);
        assert_eq!(queue_level(&lossy), Some(level));
        // A flat queue reads its level whatever the percentile.
        assert_eq!(queue_level(&[6.5; 12]), Some(6.5));
    }

    #[test]
    fn far_out_probes_are_set_aside_only_while_they_are_few() {
        assert_eq!(queue_level(&[]), None);
        assert_eq!(queue_level(&[7.0]), Some(7.0));
        // Five probes, the fewest a direction keeps: one retransmission is set aside.
        assert_eq!(queue_level(&[20.0, 21.0, 20.0, 1020.0, 19.0]), Some(21.0));
        // The ninetieth percentile by nearest rank: the 9th of ten.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(queue_level(&ten), Some(9.0));
        // When most probes wait a retransmission the line is losing, not queueing: they count.
        let mut losing = vec![20.0; 4];
        losing.extend([1020.0; 4]);
        assert_eq!(queue_level(&losing), Some(1020.0));
        // Nor does the fence cut a wide but genuine spread: a queue between 10 and 200 ms.
        assert_eq!(
            queue_level(&sawtooth(10.0, 200.0, 20)),
            Some(sawtooth(10.0, 200.0, 20)[17])
        );
    }

    #[test]
    fn config_urls_and_documents() {
        assert_eq!(config_url("http://h:8791"), "http://h:8791/.well-known/nq");
        assert_eq!(config_url("http://h:8791/"), "http://h:8791/.well-known/nq");
        assert_eq!(config_url("https://h/.well-known/nq"), "https://h/.well-known/nq");
        assert_eq!(config_url("https://h/config.json"), "https://h/config.json");
        let doc = br#"{"version":1,"urls":{"small_https_download_url":"http://h/s",
            "large_https_download_url":"http://h/l","https_upload_url":"http://h/u"},"test_endpoint":"x"}"#;
        assert_eq!(
            parse_config(doc),
            Ok(ServerConfig {
                small: "http://h/s".into(),
                large: "http://h/l".into(),
                upload: "http://h/u".into(),
                upload_stats: None,
            })
        );
        let sonde = br#"{"version":1,"urls":{"small_https_download_url":"http://h/s",
            "large_https_download_url":"http://h/l","https_upload_url":"http://h/u",
            "upload_stats_url":"http://h/u/stats"}}"#;
        assert_eq!(
            parse_config(sonde).map(|c| c.upload_stats),
            Ok(Some("http://h/u/stats".to_owned()))
        );
        assert!(parse_config(br#"{"version":1,"urls":{}}"#).is_err_and(|e| e.contains("small_https")));
        assert!(parse_config(b"<html>").is_err());
    }

    #[test]
    fn upload_bodies_have_exactly_the_leased_size() {
        let pattern = bytes::Bytes::from(incompressible(UPLOAD_PATTERN_BYTES, UPLOAD_SEED));
        for total in [1u64, 65_535, 65_536, 65_537, 5_000_000] {
            let sum: u64 = body_pieces(pattern.clone(), total).map(|p| p.len() as u64).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn the_budget_is_never_overdrawn() {
        let budget = Budget::new(Some(1_000_000));
        let shared = Shared {
            share_left: AtomicU64::new(600_000),
            limited: true,
            ..Shared::default()
        };
        let mut granted = 0;
        for _ in 0..100 {
            granted += shared.lease(&budget);
        }
        assert_eq!(granted, 600_000, "a direction takes its share, no more");
        assert!(shared.exhausted.load(Ordering::Relaxed));
        budget.release(100_000);
        assert_eq!(budget.remaining(), Some(500_000));
        let unlimited = Budget::new(None);
        assert_eq!(unlimited.reserve(REQUEST_BYTES), REQUEST_BYTES);
        assert_eq!(unlimited.remaining(), None);
    }

    fn probes(connect: &[f64], http: &[f64]) -> Probes {
        Probes {
            connect_ms: connect.to_vec(),
            http_ms: http.to_vec(),
            ..Probes::default()
        }
    }

    fn samples(down: Option<f64>, up: Option<f64>, idle_ms: f64, loaded_ms: f64) -> ThroughputSamples {
        let direction = |g: Option<f64>| Direction {
            goodput_mbps: g,
            streams: 4,
            window_ms: 2000,
            first_error: g.is_none().then(|| "connection refused".to_owned()),
            loaded: probes(&[loaded_ms; 20], &[loaded_ms; 20]),
            ..Direction::default()
        };
        ThroughputSamples {
            idle: probes(&[idle_ms; 10], &[idle_ms; 10]),
            download: Some(direction(down)),
            upload: Some(direction(up)),
            ..ThroughputSamples::default()
        }
    }

    #[test]
    fn throughput_is_judged_against_the_contract_by_table() {
        let contract = ThroughputThresholds {
            contract_down_mbps: Some(100.0),
            contract_up_mbps: Some(50.0),
            ..ThroughputThresholds::default()
        };
        for (down, up, thresholds, status) in [
            (Some(94.0), Some(47.0), &contract, CheckStatus::Pass),
            (Some(70.0), Some(47.0), &contract, CheckStatus::Warn),
            (Some(94.0), Some(20.0), &contract, CheckStatus::Fail),
            (
                Some(1.0),
                Some(1.0),
                &ThroughputThresholds::default(),
                CheckStatus::Pass,
            ),
            (None, Some(47.0), &contract, CheckStatus::Fail),
        ] {
            let e = evaluate_throughput(&samples(down, up, 5.0, 5.0), thresholds);
            assert_eq!(e.status, status, "{down:?} {up:?}: {e:?}");
        }
        let e = evaluate_throughput(&samples(Some(94.0), Some(47.0), 5.0, 5.0), &contract);
        let expected = e.metrics.iter().find(|m| m.name == "expected_download_mbps");
        assert_eq!(expected.and_then(|m| m.value.as_f64()), Some(95.64));
        assert!(e.metrics.iter().any(|m| m.name == "tcp_efficiency_percent"));
    }

    #[test]
    fn responsiveness_grades_bufferbloat_by_table() {
        for (idle, loaded, grade, status, rpm) in [
            (5.0, 11.0, "good", CheckStatus::Pass, 5455.0),
            (5.0, 105.0, "bufferbloat", CheckStatus::Warn, 571.0),
            (20.0, 400.0, "severe_bufferbloat", CheckStatus::Fail, 150.0),
        ] {
            let e = evaluate_responsiveness(
                &samples(Some(1.0), Some(1.0), idle, loaded),
                &ResponsivenessThresholds::default(),
            );
            assert_eq!(e.status, status, "{loaded}: {e:?}");
            let m = |name: &str| e.metrics.iter().find(|m| m.name == name).map(|m| m.value.clone());
            assert_eq!(
                m("bufferbloat_grade")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .as_deref(),
                Some(grade)
            );
            assert_eq!(m("rpm").and_then(|v| v.as_f64()), Some(rpm));
            assert_eq!(m("added_delay_ms").and_then(|v| v.as_f64()), Some(loaded - idle));
        }
        let mut s = samples(Some(1.0), Some(1.0), 5.0, 5.0);
        if let Some(d) = s.download.as_mut() {
            d.loaded = Probes::default();
        }
        if let Some(d) = s.upload.as_mut() {
            d.loaded = Probes::default();
        }
        assert_eq!(
            evaluate_responsiveness(&s, &ResponsivenessThresholds::default()).status,
            CheckStatus::Error
        );
    }

    #[test]
    fn self_probes_weigh_half_of_rpm() {
        let mut p = probes(&[10.0; 20], &[10.0; 20]);
        assert_eq!(rpm(&p), Some(6000.0));
        p.self_ms = vec![30.0; 20];
        assert_eq!(rpm(&p), Some(3000.0));
    }
}
