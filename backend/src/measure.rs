//! The measurement server: the endpoints of the responsiveness test
//! (draft-ietf-ippm-responsiveness, "Responsiveness under Working Conditions"), so that sonde
//! (or any client of that draft, such as Apple's `networkQuality -C URL`) can measure goodput and
//! latency under load against the operator's own server.
//!
//! | endpoint | what it serves |
//! | --- | --- |
//! | `GET /.well-known/nq` | the draft's configuration: `{"version":1,"urls":{…}}` |
//! | `GET /measure/small` | the small object: 1 byte, never cached |
//! | `GET /measure/large` | the large object: [`LARGE_OBJECT_BYTES`] of incompressible data; honours `Range: bytes=a-b` |
//! | `POST`/`PUT /measure/upload` | the upload sink: discards the body, answers the bytes it counted |
//! | `GET /measure/upload/stats?session=S` | bytes of upload received for session `S` (header `sonde-session`), with the server's clock: upload goodput counted at the receiver |
//! | `GET /v1/measure/stats` | bytes served and received since start (a data budget is checked against these) |
//!
//! The large object is streamed from one buffer of pseudo-random bytes generated at start: each
//! body frame is a reference-counted slice of it (`Bytes`), so serving costs no copy in user
//! space — the kernel's copy into the socket is the only one, as for iperf3.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use serde_json::json;
use sonde_protocol::measure::{SESSION_HEADER, UPLOAD_STATS_URL_KEY, UploadStats, incompressible, valid_session};

/// Size of the large object: 8 GiB, more than any test moves in one request (a 10 s download at
/// 5 Gbit/s), so a client never reaches its end by accident.
pub const LARGE_OBJECT_BYTES: u64 = 8 << 30;

/// Size of the incompressible buffer the large object repeats: 4 MiB, larger than any TCP
/// window a compressing middlebox could see, small enough for a box's memory.
pub const PATTERN_BYTES: usize = 4 << 20;

/// Largest body frame handed to the HTTP stack: big enough that the per-frame cost vanishes,
/// small enough that the byte counter follows the socket closely.
const FRAME_BYTES: usize = 256 << 10;

/// The measurement endpoints' shared state: the pattern and the byte counters.
#[derive(Clone, Debug)]
pub struct Measure {
    pattern: Bytes,
    stats: Arc<Counters>,
}

#[derive(Debug)]
struct Counters {
    download_bytes: AtomicU64,
    upload_bytes: AtomicU64,
    requests: AtomicU64,
    /// The monotonic clock's origin for [`UploadStats::server_ns`].
    started: Instant,
    /// Upload bytes received per session (header [`SESSION_HEADER`]), bounded.
    sessions: Mutex<HashMap<String, Session>>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            download_bytes: AtomicU64::new(0),
            upload_bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            started: Instant::now(),
            sessions: Mutex::new(HashMap::new()),
        }
    }
}

/// One upload session's count.
#[derive(Debug)]
struct Session {
    bytes: Arc<AtomicU64>,
    last_used: Instant,
}

/// Most sessions counted at once: a test lasts seconds, so this is thousands of clients
/// measuring in the same minute, in a few hundred kilobytes.
const MAX_SESSIONS: usize = 4096;

/// A session not touched for this long may be forgotten to make room.
const SESSION_IDLE: Duration = Duration::from_secs(60);

impl Counters {
    /// The counter of `session`, created if there is room (forgetting idle sessions first).
    fn session(&self, session: &str) -> Option<Arc<AtomicU64>> {
        let mut sessions = self.sessions.lock().ok()?;
        let now = Instant::now();
        if let Some(s) = sessions.get_mut(session) {
            s.last_used = now;
            return Some(s.bytes.clone());
        }
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
            if sessions.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let bytes = Arc::new(AtomicU64::new(0));
        sessions.insert(
            session.to_owned(),
            Session {
                bytes: bytes.clone(),
                last_used: now,
            },
        );
        Some(bytes)
    }

    fn session_bytes(&self, session: &str) -> Option<u64> {
        let sessions = self.sessions.lock().ok()?;
        sessions.get(session).map(|s| s.bytes.load(Ordering::Relaxed))
    }
}

impl Default for Measure {
    fn default() -> Self {
        Self::new()
    }
}

impl Measure {
    /// Generates the pattern (a few milliseconds) and zeroes the counters.
    pub fn new() -> Self {
        Self {
            pattern: Bytes::from(incompressible(PATTERN_BYTES, 0x5eed_50de)),
            stats: Arc::new(Counters::default()),
        }
    }

    /// (bytes of body served, bytes of body received) since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.stats.download_bytes.load(Ordering::Relaxed),
            self.stats.upload_bytes.load(Ordering::Relaxed),
        )
    }

    /// The measurement routes, to merge into the backend's router.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/.well-known/nq", get(config))
            .route("/measure/small", get(small))
            .route("/measure/large", get(large))
            .route("/measure/upload", post(upload).put(upload))
            .route("/measure/upload/stats", get(upload_stats))
            .route("/v1/measure/stats", get(stats))
            .with_state(self)
    }
}

/// Marks requests that came over TLS ([`crate::serve_tls`] adds it), so the configuration's
/// URLs keep the scheme the client used.
#[derive(Clone, Copy, Debug)]
pub struct ServedOverTls;

/// The draft's configuration, with URLs on the host (and scheme) the client asked for, so it
/// works behind any name or address the server is reached by.
async fn config(tls: Option<axum::Extension<ServedOverTls>>, headers: HeaderMap) -> Response {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "a Host header is required to build the URLs"})),
        )
            .into_response();
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{host}");
    Json(json!({
        "version": 1,
        "urls": {
            "small_https_download_url": format!("{base}/measure/small"),
            "large_https_download_url": format!("{base}/measure/large"),
            "https_upload_url": format!("{base}/measure/upload"),
            UPLOAD_STATS_URL_KEY: format!("{base}/measure/upload/stats"),
        },
    }))
    .into_response()
}

async fn small(State(state): State<Measure>) -> Response {
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    state.stats.download_bytes.fetch_add(1, Ordering::Relaxed);
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        state.pattern.slice(..1),
    )
        .into_response()
}

async fn large(State(state): State<Measure>, headers: HeaderMap) -> Response {
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    let range = headers.get(header::RANGE).and_then(|r| r.to_str().ok());
    let (status, start, len) = match range.map(|r| parse_range(r, LARGE_OBJECT_BYTES)) {
        None => (StatusCode::OK, 0, LARGE_OBJECT_BYTES),
        Some(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Some(None) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{LARGE_OBJECT_BYTES}"))],
            )
                .into_response();
        }
    };
    let body = PatternBody {
        pattern: state.pattern.clone(),
        // The pattern repeats, so the offset in it is the position modulo its length.
        offset: usize::try_from(start % state.pattern.len() as u64).unwrap_or(0),
        remaining: len,
        counter: state.stats.clone(),
    };
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{LARGE_OBJECT_BYTES}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within an object of `size` bytes: the inclusive byte
/// range, or `None` when unsatisfiable or not understood (one range only).
fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (size.checked_sub(n)?, size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size - 1
        } else {
            b.parse::<u64>().ok()?.min(size - 1)
        };
        (start, end)
    };
    (start <= end && end < size).then_some((start, end))
}

/// Streams `remaining` bytes of the repeated pattern, counting what it hands over.
struct PatternBody {
    pattern: Bytes,
    offset: usize,
    remaining: u64,
    counter: Arc<Counters>,
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let available = (self.pattern.len() - self.offset).min(FRAME_BYTES);
        let n = usize::try_from(self.remaining).map_or(available, |r| r.min(available));
        let chunk = self.pattern.slice(self.offset..self.offset + n);
        self.offset = (self.offset + n) % self.pattern.len();
        self.remaining -= n as u64;
        self.counter.download_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Discards the body, counting it as it arrives (the counter moves while the upload runs, so a
/// client that disconnects mid-body is still counted).
async fn upload(State(state): State<Measure>, request: Request) -> Response {
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    let session = match request.headers().get(SESSION_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(name)) if valid_session(name) => state.stats.session(name),
        Some(_) => return bad_session(),
    };
    let mut body = request.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    received += data.len() as u64;
                    state.stats.upload_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    if let Some(session) = &session {
                        session.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            // The client went away: what arrived is counted, there is no one to answer.
            Err(_) => break,
        }
    }
    Json(json!({ "bytes": received })).into_response()
}

fn bad_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": format!("`{SESSION_HEADER}` must be 1 to 64 ASCII letters, digits or `-`"),
        })),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    session: String,
}

/// What one upload session has received so far, read now on the server's clock.
async fn upload_stats(
    State(state): State<Measure>,
    query: Result<Query<SessionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_session();
    };
    if !valid_session(&query.session) {
        return bad_session();
    }
    let server_ns = u64::try_from(state.stats.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    match state.stats.session_bytes(&query.session) {
        Some(bytes) => Json(UploadStats {
            session: query.session,
            bytes,
            server_ns,
        })
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no upload was received for this session (or it was forgotten)"})),
        )
            .into_response(),
    }
}

async fn stats(State(state): State<Measure>) -> Json<serde_json::Value> {
    let (download, upload) = state.totals();
    Json(json!({
        "download_bytes": download,
        "upload_bytes": upload,
        "requests": state.stats.requests.load(Ordering::Relaxed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    #[test]
    fn ranges_parse_within_the_object() {
        for (header, expected) in [
            ("bytes=0-99", Some((0, 99))),
            ("bytes=100-", Some((100, 999))),
            ("bytes=-10", Some((990, 999))),
            ("bytes=0-5000", Some((0, 999))),
            ("bytes=1000-", None),
            ("bytes=5-4", None),
            ("bytes=0-1,5-6", None),
            ("items=0-1", None),
        ] {
            assert_eq!(parse_range(header, 1000), expected, "{header}");
        }
    }

    async fn call(app: Router, request: HttpRequest<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = app.oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn config_names_the_three_urls_on_the_requested_host() {
        let request = HttpRequest::get("/.well-known/nq")
            .header("host", "203.0.113.80:8080")
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = call(Measure::new().routes(), request).await;
        assert_eq!(status, StatusCode::OK);
        let config: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(config["version"], 1);
        assert_eq!(
            config["urls"]["large_https_download_url"],
            "http://203.0.113.80:8080/measure/large"
        );
        assert!(config["urls"]["small_https_download_url"].is_string());
        assert!(config["urls"]["https_upload_url"].is_string());
    }

    #[tokio::test]
    async fn a_range_of_the_large_object_is_served_exactly_and_counted() {
        let measure = Measure::new();
        let request = HttpRequest::get("/measure/large")
            .header("range", "bytes=4194000-4194999")
            .body(Body::empty())
            .expect("request");
        let (status, headers, body) = call(measure.clone().routes(), request).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body.len(), 1000);
        // It wraps around the pattern's end and continues from its start.
        let expected: Vec<u8> = (4_194_000..4_195_000)
            .map(|i| measure.pattern[i % PATTERN_BYTES])
            .collect();
        assert_eq!(&body[..], &expected[..]);
        assert_eq!(
            headers.get("content-range").and_then(|v| v.to_str().ok()),
            Some(format!("bytes 4194000-4194999/{LARGE_OBJECT_BYTES}").as_str())
        );
        assert_eq!(measure.totals(), (1000, 0));
    }

    #[tokio::test]
    async fn an_unsatisfiable_range_is_refused() {
        let request = HttpRequest::get("/measure/large")
            .header("range", format!("bytes={LARGE_OBJECT_BYTES}-"))
            .body(Body::empty())
            .expect("request");
        let (status, _, _) = call(Measure::new().routes(), request).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    }

    #[tokio::test]
    async fn the_upload_sink_counts_and_discards() {
        let measure = Measure::new();
        let request = HttpRequest::post("/measure/upload")
            .body(Body::from(vec![7u8; 123_456]))
            .expect("request");
        let (status, _, body) = call(measure.clone().routes(), request).await;
        assert_eq!(status, StatusCode::OK);
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(answer["bytes"], 123_456);
        assert_eq!(measure.totals(), (0, 123_456));
        let request = HttpRequest::get("/v1/measure/stats")
            .body(Body::empty())
            .expect("request");
        let (_, _, body) = call(measure.routes(), request).await;
        let stats: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(stats["upload_bytes"], 123_456);
    }

    #[tokio::test]
    async fn upload_sessions_are_counted_apart_and_read_with_the_server_clock() {
        let measure = Measure::new();
        for (session, n) in [("a-1", 1000), ("b-2", 50), ("a-1", 234)] {
            let request = HttpRequest::post("/measure/upload")
                .header(SESSION_HEADER, session)
                .body(Body::from(vec![1u8; n]))
                .expect("request");
            assert_eq!(call(measure.clone().routes(), request).await.0, StatusCode::OK);
        }
        let read = |session: &str| {
            let request = HttpRequest::get(format!("/measure/upload/stats?session={session}"))
                .body(Body::empty())
                .expect("request");
            call(measure.clone().routes(), request)
        };
        let (status, _, body) = read("a-1").await;
        assert_eq!(status, StatusCode::OK);
        let first: UploadStats = serde_json::from_slice(&body).expect("stats");
        assert_eq!((first.session.as_str(), first.bytes), ("a-1", 1234));
        let (_, _, body) = read("a-1").await;
        let second: UploadStats = serde_json::from_slice(&body).expect("stats");
        assert!(second.server_ns > first.server_ns, "{first:?} then {second:?}");
        assert_eq!(read("unknown").await.0, StatusCode::NOT_FOUND);
        for bad in ["x%3Bid", ""] {
            let (status, _, body) = read(bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
                "a JSON error"
            );
        }
        let request = HttpRequest::get("/measure/upload/stats")
            .body(Body::empty())
            .expect("request");
        assert_eq!(call(measure.clone().routes(), request).await.0, StatusCode::BAD_REQUEST);
        let request = HttpRequest::post("/measure/upload")
            .header(SESSION_HEADER, "no spaces")
            .body(Body::from(vec![1u8; 10]))
            .expect("request");
        assert_eq!(call(measure.clone().routes(), request).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(measure.totals(), (0, 1284));
    }

    #[tokio::test]
    async fn the_small_object_is_one_byte() {
        let request = HttpRequest::get("/measure/small").body(Body::empty()).expect("request");
        let (status, headers, body) = call(Measure::new().routes(), request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), 1);
        assert_eq!(
            headers.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
    }
}
