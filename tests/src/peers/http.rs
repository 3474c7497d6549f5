//! An HTTP/1.1 server, plain and over TLS: a captive-portal probe endpoint, a small page and
//! downloads, with the failure modes a web service, a hotel's WiFi or a firewall can show.
//!
//! It serves plain HTTP on the address it is given and HTTPS on port 443 of the same IP (on
//! another free port when the address asks for port 0). The TLS certificate is made at start:
//! a small CA ("sonde-netsim test CA") signs a leaf for the server's IP and for `example.com`,
//! `www.example.com` and `localhost`; clients trust it with [`Handle::ca_pem`], or the file
//! [`Handle::ca_file`] (PEM, in the namespace's state directory, removed with it). TLS 1.2 and
//! 1.3, HTTP/1.1 by ALPN.
//!
//! Endpoints, on both ports, in [`Mode::Normal`]:
//!
//! - `GET /generate_204` → `204 No Content`, empty (the connectivity probe of Android and
//!   ChromeOS: anything else means a portal is in the way);
//! - `GET /` → `200`, a small HTML page;
//! - `GET /bytes/{n}` → `200`, `n` zero bytes (at most 100 MB), streamed;
//! - anything else → `404`.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use sonde_netsim::Netns;
//! use sonde_netsim::peers::http::{self, Mode};
//!
//! let ns = Netns::new("inet")?;
//! ns.ip(&["addr", "add", "192.0.2.80/32", "dev", "lo"])?;
//! let server = http::spawn(&ns, "192.0.2.80:80".parse()?, Mode::Normal)?;
//! assert_eq!(server.https_addr(), "192.0.2.80:443".parse()?);
//! let trust = server.ca_file(); // hand this to the client
//! server.set_mode(Mode::CaptivePortal("http://192.0.2.80/login".to_owned()));
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use serde::{Deserialize, Deserializer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

use super::PeerThread;
use crate::Netns;

/// The status type of [`Mode::Error`], re-exported so that callers need not depend on `http`.
pub use axum::http::StatusCode;

/// How the HTTP peer answers. Unless a mode names one port, it applies to both (80 and 443).
///
/// In a scenario TOML file, a unit mode is a string and a mode with a value is a one-key table:
///
/// ```toml
/// mode = "normal"                                            # the endpoints above
/// mode = { captive-portal = "http://192.0.2.80/login" }     # redirect everything to the portal
/// mode = { error = 503 }                                     # every request gets this status
/// mode = "drop"                                              # accept, read, never answer
/// mode = "refuse"                                            # stop listening: connections refused
/// mode = "refuse-https"                                      # port 443 refused, port 80 served
/// mode = "refuse-http"                                       # port 80 refused, port 443 served
/// mode = "tls-intercept"                                     # HTTPS with a certificate of an unknown CA
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Serve the endpoints.
    #[default]
    Normal,
    /// A captive portal with its login page at this URL: every request gets `302 Found` to it,
    /// except the probe `GET /generate_204`, which gets `200` and the login page (as real
    /// portals answer it), and requests for the login page itself (same path, and same host
    /// when the request names one).
    CaptivePortal(String),
    /// Every request gets this status, with a one-line text body. From TOML: 400–599.
    Error(#[serde(deserialize_with = "error_status")] StatusCode),
    /// Connections are accepted and requests read, but never answered: a service that hangs,
    /// bounded only by the client's timeouts.
    Drop,
    /// The listening socket is closed, so new connections are refused (TCP RST), as when the
    /// service is not running; it listens again when the mode changes. Connections accepted
    /// before the change keep being served.
    Refuse,
    /// Like [`Mode::Refuse`] for port 443 only, port 80 serving normally: a firewall that
    /// rejects HTTPS.
    RefuseHttps,
    /// Like [`Mode::Refuse`] for port 80 only, port 443 serving normally: a firewall that
    /// rejects plain HTTP.
    RefuseHttp,
    /// Both ports serve normally, but HTTPS presents a certificate for the same names signed by
    /// another CA ("sonde-netsim intercepting middlebox"), which clients trusting
    /// [`Handle::ca_pem`] reject: a TLS-intercepting proxy or firewall.
    TlsIntercept,
}

impl Mode {
    /// Whether connections to `port` are refused in this mode.
    fn refuses(&self, port: Port) -> bool {
        matches!(
            (self, port),
            (Mode::Refuse, _) | (Mode::RefuseHttps, Port::Https) | (Mode::RefuseHttp, Port::Http)
        )
    }
}

/// The peer's two listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Http,
    Https,
}

/// The port HTTPS is served on (unless the HTTP address asks for any port).
pub const HTTPS_PORT: u16 = 443;

/// Largest `/bytes/{n}`.
pub const MAX_BYTES: u64 = 100_000_000;

/// A running HTTP peer; dropping it stops the server, its open connections included.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    https_addr: SocketAddr,
    ca_pem: String,
    ca_file: PathBuf,
    mode: watch::Sender<Mode>,
    requests: Arc<AtomicU64>,
    // Last: dropped (stopped and joined) after the rest.
    _thread: PeerThread,
}

impl Handle {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address HTTPS is served on: port 443 of [`Handle::addr`]'s IP (or the port given
    /// when 0 was asked for).
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The CA certificate that signed the server's certificate (PEM): what a client must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A file holding [`Handle::ca_pem`] (in the namespace's state directory).
    pub fn ca_file(&self) -> &FsPath {
        &self.ca_file
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode.borrow().clone()
    }

    /// Changes how the server answers, from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// How many requests arrived on either port, in any mode (unanswered ones too).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Starts an HTTP server on TCP `addr` inside `ns` in `mode`, and HTTPS on port 443 of the
/// same IP (any free port when `addr`'s port is 0). Returns once both sockets are bound (even
/// when `mode` refuses connections, so that the addresses are checked); a bind error, or a
/// failure to make the certificates or write the CA file, is the `Err`.
pub fn spawn(ns: &Netns, addr: SocketAddr, mode: Mode) -> anyhow::Result<Handle> {
    let https_wanted = SocketAddr::new(addr.ip(), if addr.port() == 0 { 0 } else { HTTPS_PORT });
    let pki = TestPki::new(addr.ip()).context("make the TLS certificates")?;
    let ca_file = ns.write_state(&format!("web-ca-{}.pem", addr.ip()), &pki.ca_pem)?;
    let (mode_tx, mode_rx) = watch::channel(mode);
    let requests = Arc::new(AtomicU64::new(0));
    let state = AppState {
        mode: mode_rx.clone(),
        requests: requests.clone(),
    };
    let https_bound = Arc::new(OnceLock::new());
    let https_local = https_bound.clone();
    let (certified, intercepting) = (pki.certified.clone(), pki.intercepting.clone());
    let bind = move || {
        let http = SwitchableListener::bind(addr, Port::Http, mode_rx.clone())?;
        let https = SwitchableListener::bind(https_wanted, Port::Https, mode_rx.clone())?;
        let _ = https_local.set(https.addr);
        let http_addr = http.addr;
        let https = TlsListener {
            tcp: https,
            mode: mode_rx,
            certified: TlsAcceptor::from(certified),
            intercepting: TlsAcceptor::from(intercepting),
            handshakes: JoinSet::new(),
        };
        Ok(((http, https), http_addr))
    };
    let serve = move |(http, https): (SwitchableListener, TlsListener)| async move {
        let plain = axum::serve(http, app(state.clone())).into_future();
        let secure = axum::serve(https, app(state)).into_future();
        let _ = tokio::join!(plain, secure);
    };
    let (thread, addr) = PeerThread::spawn(ns, "http", bind, serve)?;
    // `PeerThread::spawn` returns after `bind` succeeded, which set it.
    let https_addr = https_bound.get().copied().unwrap_or(https_wanted);
    Ok(Handle {
        addr,
        https_addr,
        ca_pem: pki.ca_pem,
        ca_file,
        mode: mode_tx,
        requests,
        _thread: thread,
    })
}

/// The certificates of one peer: a CA and the leaf it signs, and a second, untrusted chain for
/// [`Mode::TlsIntercept`].
struct TestPki {
    ca_pem: String,
    certified: Arc<rustls::ServerConfig>,
    intercepting: Arc<rustls::ServerConfig>,
}

impl TestPki {
    fn new(ip: IpAddr) -> anyhow::Result<Self> {
        let names = vec![
            ip.to_string(),
            "example.com".to_owned(),
            "www.example.com".to_owned(),
            "localhost".to_owned(),
        ];
        let (ca_pem, certified) = signed_server_config("sonde-netsim test CA", &names)?;
        let (_, intercepting) = signed_server_config("sonde-netsim intercepting middlebox", &names)?;
        Ok(Self {
            ca_pem,
            certified,
            intercepting,
        })
    }
}

/// A new CA named `ca_name`, and a TLS server configuration whose certificate (for `names`:
/// addresses or DNS names) it signs. Returns the CA's PEM and the configuration.
fn signed_server_config(ca_name: &str, names: &[String]) -> anyhow::Result<(String, Arc<rustls::ServerConfig>)> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params = CertificateParams::new(names.to_vec())?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, names.first().map_or("sonde-netsim", String::as_str));
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

    let chain = vec![leaf_cert.der().clone(), CertificateDer::from(ca_cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((ca_cert.pem(), Arc::new(config)))
}

#[derive(Debug, Clone)]
struct AppState {
    mode: watch::Receiver<Mode>,
    requests: Arc<AtomicU64>,
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/generate_204", get(StatusCode::NO_CONTENT))
        .route("/", get(Html(HOME_PAGE)))
        .route("/bytes/{n}", get(zeros))
        .fallback(StatusCode::NOT_FOUND)
        // After the routes and the fallback, so that it wraps them all.
        .layer(middleware::from_fn_with_state(state, apply_mode))
}

/// Counts the request, then answers it as the mode says.
async fn apply_mode(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let mode = state.mode.borrow().clone();
    match mode {
        Mode::Normal | Mode::Refuse | Mode::RefuseHttps | Mode::RefuseHttp | Mode::TlsIntercept => {
            next.run(request).await
        }
        Mode::CaptivePortal(login_url) => captive_portal(&login_url, &request),
        Mode::Error(status) => (status, format!("{status}\n")).into_response(),
        Mode::Drop => std::future::pending().await,
    }
}

fn captive_portal(login_url: &str, request: &Request) -> Response {
    let login = login_url.parse::<Uri>().ok();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(Authority::as_str));
    let is_login_page = login.as_ref().is_some_and(|login| {
        login.path() == request.uri().path()
            && match (login.authority(), host.and_then(|h| h.parse::<Authority>().ok())) {
                (Some(login_host), Some(host)) => {
                    let default_port = if login.scheme_str() == Some("https") { 443 } else { 80 };
                    login_host.host().eq_ignore_ascii_case(host.host())
                        && login_host.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(80)
                }
                _ => true,
            }
    });
    if is_login_page || request.uri().path() == "/generate_204" {
        return Html(login_page(login_url)).into_response();
    }
    match HeaderValue::from_str(login_url) {
        Ok(location) => (
            StatusCode::FOUND,
            [(header::LOCATION, location)],
            Html(login_page(login_url)),
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the captive portal's login URL is not a valid Location header\n",
        )
            .into_response(),
    }
}

/// `GET /bytes/{n}`: `n` zero bytes, streamed in chunks so that a large download costs no
/// memory.
async fn zeros(Path(n): Path<u64>) -> Response {
    const CHUNK: usize = 64 * 1024;
    static ZEROS: [u8; CHUNK] = [0; CHUNK];
    if n > MAX_BYTES {
        return (StatusCode::BAD_REQUEST, format!("at most {MAX_BYTES} bytes\n")).into_response();
    }
    let chunks = (0..n).step_by(CHUNK).map(move |start| {
        let len = usize::try_from(n - start).map_or(CHUNK, |rest| rest.min(CHUNK));
        Ok::<_, Infallible>(Bytes::from_static(&ZEROS[..len]))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(n)),
        ],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

const HOME_PAGE: &str = "<!doctype html>\n<html><head><title>sonde test site</title></head>\
<body><h1>It works</h1><p>A page served by sonde-netsim's HTTP peer.</p></body></html>\n";

fn login_page(login_url: &str) -> String {
    let url = escape_html(login_url);
    format!(
        "<!doctype html>\n<html><head><title>Log in to the WiFi</title></head>\
<body><h1>Welcome</h1><p>Accept the terms to use the Internet.</p>\
<form method=\"post\" action=\"{url}\"><button>Log in</button></form></body></html>\n"
    )
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn error_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<StatusCode, D::Error> {
    let code = u16::deserialize(deserializer)?;
    match StatusCode::from_u16(code) {
        Ok(status) if status.is_client_error() || status.is_server_error() => Ok(status),
        _ => Err(serde::de::Error::custom(format!(
            "{code} is not an error status (400–599)"
        ))),
    }
}

/// A listener that closes its socket while the mode refuses its port and binds it again
/// afterwards.
#[derive(Debug)]
struct SwitchableListener {
    addr: SocketAddr,
    port: Port,
    listener: Option<TcpListener>,
    mode: watch::Receiver<Mode>,
}

impl SwitchableListener {
    /// Binds `addr` now (inside the peer's runtime), so that a bind error reaches the caller.
    fn bind(addr: SocketAddr, port: Port, mode: watch::Receiver<Mode>) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("bind TCP {addr}"))?;
        listener.set_nonblocking(true).context("non-blocking socket")?;
        let listener = TcpListener::from_std(listener).context("register the socket with tokio")?;
        let local = listener.local_addr().context("local address")?;
        Ok(Self {
            addr: local,
            port,
            listener: Some(listener),
            mode,
        })
    }
}

impl axum::serve::Listener for SwitchableListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if self.mode.borrow_and_update().refuses(self.port) {
                self.listener = None;
                if self.mode.changed().await.is_err() {
                    // The handle is gone; the peer is being stopped.
                    return std::future::pending().await;
                }
                continue;
            }
            if self.listener.is_none() {
                match TcpListener::bind(self.addr).await {
                    Ok(listener) => self.listener = Some(listener),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            let Some(listener) = &self.listener else {
                continue;
            };
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(connection) => return connection,
                    // E.g. out of file descriptors: wait rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                changed = self.mode.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTPS listener: accepts TCP connections from a [`SwitchableListener`] and hands them
/// over once their TLS handshake is done. Handshakes run concurrently, so a slow or silent
/// client does not hold up the others; one that fails is dropped.
struct TlsListener {
    tcp: SwitchableListener,
    mode: watch::Receiver<Mode>,
    certified: TlsAcceptor,
    intercepting: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("addr", &self.tcp.addr)
            .finish_non_exhaustive()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        loop {
            tokio::select! {
                (stream, peer) = self.tcp.accept() => {
                    let acceptor = if *self.mode.borrow() == Mode::TlsIntercept {
                        self.intercepting.clone()
                    } else {
                        self.certified.clone()
                    };
                    self.handshakes.spawn(async move {
                        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                        Some((handshake.ok()?.ok()?, peer))
                    });
                }
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.tcp.addr)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    const LOGIN: &str = "http://192.0.2.80/login?from=probe&lang=en";

    async fn get_with(mode: Mode, uri: &str, host: &str) -> (StatusCode, axum::http::HeaderMap, Bytes) {
        let (_tx, rx) = watch::channel(mode);
        let state = AppState {
            mode: rx,
            requests: Arc::new(AtomicU64::new(0)),
        };
        let request = Request::get(uri)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        let response = app(state.clone()).oneshot(request).await.unwrap();
        assert_eq!(state.requests.load(Ordering::Relaxed), 1, "counted");
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
    }

    async fn get(mode: Mode, uri: &str) -> (StatusCode, axum::http::HeaderMap, Bytes) {
        get_with(mode, uri, "connectivitycheck.example").await
    }

    #[tokio::test]
    async fn normal_endpoints() {
        let (status, _, body) = get(Mode::Normal, "/generate_204").await;
        assert_eq!((status, body.len()), (StatusCode::NO_CONTENT, 0));
        let (status, headers, body) = get(Mode::Normal, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert!(String::from_utf8_lossy(&body).contains("It works"));
        assert_eq!(get(Mode::Normal, "/nothing").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn bytes_are_counted_exactly_and_bounded() {
        for n in [0, 1, 65_535, 65_536, 200_001] {
            let (status, headers, body) = get(Mode::Normal, &format!("/bytes/{n}")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers[header::CONTENT_LENGTH], n.to_string().as_str());
            assert_eq!(body.len(), usize::try_from(n).unwrap());
        }
        let too_many = get(Mode::Normal, &format!("/bytes/{}", MAX_BYTES + 1)).await;
        assert_eq!(too_many.0, StatusCode::BAD_REQUEST);
        assert_eq!(get(Mode::Normal, "/bytes/lots").await.0, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn captive_portal_redirects_everything_but_answers_the_probe_with_its_page() {
        let portal = || Mode::CaptivePortal(LOGIN.to_owned());
        for path in ["/", "/bytes/10", "/anything"] {
            let (status, headers, _) = get(portal(), path).await;
            assert_eq!(status, StatusCode::FOUND, "{path}");
            assert_eq!(headers[header::LOCATION], LOGIN, "{path}");
        }
        let (status, _, body) = get(portal(), "/generate_204").await;
        assert_eq!(status, StatusCode::OK, "the probe sees a page, not 204");
        let page = String::from_utf8_lossy(&body);
        assert!(
            page.contains("Log in") && page.contains("from=probe&amp;lang=en"),
            "{page}"
        );
        let (status, _, _) = get_with(portal(), "/login", "192.0.2.80").await;
        assert_eq!(status, StatusCode::OK, "the login page itself");
        let (status, _, _) = get_with(portal(), "/login", "192.0.2.80:80").await;
        assert_eq!(status, StatusCode::OK, "the login page, with the default port named");
        let (status, _, _) = get_with(portal(), "/login", "192.0.2.80:8080").await;
        assert_eq!(status, StatusCode::FOUND, "another port's /login is redirected");
        let (status, _, _) = get_with(portal(), "/login", "elsewhere.example").await;
        assert_eq!(status, StatusCode::FOUND, "another host's /login is redirected");
    }

    #[tokio::test]
    async fn error_mode_answers_every_request_with_its_status() {
        for path in ["/", "/generate_204", "/nothing"] {
            let (status, _, body) = get(Mode::Error(StatusCode::SERVICE_UNAVAILABLE), path).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body, "503 Service Unavailable\n");
        }
    }

    #[test]
    fn modes_refuse_their_ports() {
        let cases = [
            (Mode::Normal, false, false),
            (Mode::Refuse, true, true),
            (Mode::RefuseHttps, false, true),
            (Mode::RefuseHttp, true, false),
            (Mode::TlsIntercept, false, false),
            (Mode::Drop, false, false),
        ];
        for (mode, http, https) in cases {
            assert_eq!(
                (mode.refuses(Port::Http), mode.refuses(Port::Https)),
                (http, https),
                "{mode:?}"
            );
        }
    }

    /// A TLS handshake over an in-memory pipe: `server` against a client that trusts `ca_pem`
    /// and asks for `name`.
    async fn handshake(server: Arc<rustls::ServerConfig>, ca_pem: &str, name: &str) -> Result<String, String> {
        use tokio_rustls::rustls::pki_types::ServerName;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let accept = tokio::spawn(async move { TlsAcceptor::from(server).accept(server_io).await.map(|_| ()) });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let result = connector.connect(name, client_io).await;
        let _ = accept.await;
        result
            .map(|stream| format!("{:?}", stream.get_ref().1.protocol_version()))
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn the_certificate_is_trusted_through_the_ca_and_the_interceptor_is_not() {
        let pki = TestPki::new("203.0.113.80".parse().unwrap()).unwrap();
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"), "{}", pki.ca_pem);
        for name in ["203.0.113.80", "www.example.com", "example.com", "localhost"] {
            let version = handshake(pki.certified.clone(), &pki.ca_pem, name).await;
            assert_eq!(version.as_deref(), Ok("Some(TLSv1_3)"), "{name}");
        }
        let wrong_name = handshake(pki.certified.clone(), &pki.ca_pem, "other.example").await;
        let error = wrong_name.expect_err("another name");
        assert!(error.contains("not valid for name"), "{error}");
        let intercepted = handshake(pki.intercepting.clone(), &pki.ca_pem, "203.0.113.80").await;
        let error = intercepted.expect_err("an unknown CA");
        assert!(error.contains("UnknownIssuer"), "{error}");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html(r#"a&b<"c">'d'"#), "a&amp;b&lt;&quot;c&quot;&gt;&#39;d&#39;");
    }

    #[test]
    fn modes_parse_from_toml() {
        #[derive(Deserialize)]
        struct Peer {
            mode: Mode,
        }
        let cases = [
            (r#"mode = "normal""#, Mode::Normal),
            (
                r#"mode = { captive-portal = "http://192.0.2.80/login" }"#,
                Mode::CaptivePortal("http://192.0.2.80/login".to_owned()),
            ),
            ("mode = { error = 503 }", Mode::Error(StatusCode::SERVICE_UNAVAILABLE)),
            (r#"mode = "drop""#, Mode::Drop),
            (r#"mode = "refuse""#, Mode::Refuse),
            (r#"mode = "refuse-https""#, Mode::RefuseHttps),
            (r#"mode = "refuse-http""#, Mode::RefuseHttp),
            (r#"mode = "tls-intercept""#, Mode::TlsIntercept),
        ];
        for (text, mode) in cases {
            assert_eq!(toml::from_str::<Peer>(text).unwrap().mode, mode, "{text}");
        }
        for bad in [
            "mode = { error = 200 }",
            "mode = { error = 1000 }",
            r#"mode = "captive-portal""#,
        ] {
            assert!(toml::from_str::<Peer>(bad).is_err(), "{bad}");
        }
    }
}
