//! A plain HTTP/1.1 server: a captive-portal probe endpoint, a small page and downloads, with the
//! failure modes a web service or a hotel's WiFi can show.
//!
//! Endpoints, in [`Mode::Normal`]:
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
//! server.set_mode(Mode::CaptivePortal("http://192.0.2.80/login".to_owned()));
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
use serde::{Deserialize, Deserializer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::PeerThread;
use crate::Netns;

/// The status type of [`Mode::Error`], re-exported so that callers need not depend on `http`.
pub use axum::http::StatusCode;

/// How the HTTP peer answers.
///
/// In a scenario TOML file, a unit mode is a string and a mode with a value is a one-key table:
///
/// ```toml
/// mode = "normal"                                            # the endpoints above
/// mode = { captive-portal = "http://192.0.2.80/login" }     # redirect everything to the portal
/// mode = { error = 503 }                                     # every request gets this status
/// mode = "drop"                                              # accept, read, never answer
/// mode = "refuse"                                            # stop listening: connections refused
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
}

/// Largest `/bytes/{n}`.
pub const MAX_BYTES: u64 = 100_000_000;

/// A running HTTP peer; dropping it stops the server, its open connections included.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
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

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode.borrow().clone()
    }

    /// Changes how the server answers, from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// How many requests arrived, in any mode (unanswered ones too).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Starts an HTTP server on TCP `addr` inside `ns` in `mode`. Returns once the socket is bound
/// (even when `mode` is [`Mode::Refuse`], so that the address is checked); a bind error is the
/// `Err`.
pub fn spawn(ns: &Netns, addr: SocketAddr, mode: Mode) -> anyhow::Result<Handle> {
    let (mode_tx, mode_rx) = watch::channel(mode);
    let requests = Arc::new(AtomicU64::new(0));
    let state = AppState {
        mode: mode_rx.clone(),
        requests: requests.clone(),
    };
    let bind = move || {
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("bind TCP {addr}"))?;
        listener.set_nonblocking(true).context("non-blocking socket")?;
        let listener = TcpListener::from_std(listener).context("register the socket with tokio")?;
        let local = listener.local_addr().context("local address")?;
        let listener = SwitchableListener {
            addr: local,
            listener: Some(listener),
            mode: mode_rx,
        };
        Ok((listener, local))
    };
    let serve = move |listener| async move {
        let _ = axum::serve(listener, app(state)).await;
    };
    let (thread, addr) = PeerThread::spawn(ns, "http", bind, serve)?;
    Ok(Handle {
        addr,
        mode: mode_tx,
        requests,
        _thread: thread,
    })
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
        Mode::Normal | Mode::Refuse => next.run(request).await,
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

/// A listener that closes its socket while the mode is [`Mode::Refuse`] and binds it again
/// afterwards.
#[derive(Debug)]
struct SwitchableListener {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    mode: watch::Receiver<Mode>,
}

impl axum::serve::Listener for SwitchableListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if *self.mode.borrow_and_update() == Mode::Refuse {
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
