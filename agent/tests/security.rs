//! Security of the LAN API (issue 10, item 3) and the daemon's life under systemd (item 2):
//! DNS rebinding, tokens and roles, SSRF targets, the injection corpus, size limits, rate
//! limits, the one-run rule under 50 concurrent clients, sd_notify and SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sonde_agent::api::{AppState, app};
use sonde_agent::checks::{BoxFuture, Checks, ProgressSink};
use sonde_agent::config::Config;
use sonde_agent::security::{self, InputError, Role};
use sonde_agent::store::Store;
use sonde_protocol::{ApiError, CheckId, CheckResult, CheckStatus, ErrorCode, Metric, RunCreated, RunReport, RunState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

pub(crate) const CUSTOMER_TOKEN: &str = "customer-secret-0123456789";
pub(crate) const TECHNICIAN_TOKEN: &str = "technician-secret-9876543210";

/// Checks that pass after `delay`, counting how many were built (a built check set is the only
/// way the API ever starts work: zero means nothing ran).
struct SlowChecks {
    delay: Duration,
}

impl Checks for SlowChecks {
    fn run<'a>(&'a self, check: CheckId, _progress: &'a dyn ProgressSink) -> BoxFuture<'a, CheckResult> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            CheckResult {
                id: check,
                status: CheckStatus::Pass,
                reason: None,
                metrics: vec![Metric::new("rtt_median_ms", 1.5), Metric::new("loss_percent", 0.0)],
                duration_ms: 3,
                samples: None,
            }
        })
    }
}

pub(crate) fn hex(token: &str) -> String {
    security::hash_token(token).iter().map(|b| format!("{b:02x}")).collect()
}

fn config_with(extra: &str) -> Config {
    let text = format!(
        "[api]\ncustomer-tokens = [\"{}\"]\ntechnician-tokens = [\"{}\"]\nallowed-hosts = [\"box.home\"]\n{extra}",
        hex(CUSTOMER_TOKEN),
        hex(TECHNICIAN_TOKEN)
    );
    Config::parse(&text, std::path::Path::new("test.toml")).expect("config")
}

struct Agent {
    app: Router,
    state: AppState,
    checks_built: Arc<AtomicUsize>,
}

fn agent(config: Config, delay: Duration) -> Agent {
    let checks_built = Arc::new(AtomicUsize::new(0));
    let counter = checks_built.clone();
    let state = AppState::new(
        Store::in_memory().expect("store"),
        config,
        Arc::new(move |_: &Config| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::new(SlowChecks { delay }) as Box<dyn Checks>
        }),
    );
    Agent {
        app: app(state.clone()),
        state,
        checks_built,
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, headers, body)
}

pub(crate) fn request(method: &str, uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "127.0.0.1:8790");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder.body(Body::from(body.to_owned())).expect("request")
}

fn error_code(body: &[u8]) -> String {
    let value: serde_json::Value =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    value["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_foreign_host_is_refused_before_anything_else() {
    let agent = agent(config_with(""), Duration::ZERO);
    let big = "x".repeat(17 * 1024);
    for (method, uri, token, body) in [
        ("GET", "/v1/health", Some(TECHNICIAN_TOKEN), ""),
        ("GET", "/v1/health", None, ""),
        ("POST", "/v1/runs", Some(TECHNICIAN_TOKEN), "{}"),
        ("POST", "/v1/runs", None, big.as_str()),
        ("GET", "/metrics", Some(CUSTOMER_TOKEN), ""),
        ("GET", "/no/such/path", None, ""),
    ] {
        for host in [
            "evil.example",
            "evil.example:8790",
            "box.home.evil.example",
            "192.168.1.66:8790",
        ] {
            let mut req = request(method, uri, token, body);
            req.headers_mut().insert(header::HOST, host.parse().expect("host"));
            let (status, headers, body) = send(&agent.app, req).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri} Host: {host}");
            assert_eq!(error_code(&body), "forbidden_host");
            assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        }
    }
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 0, "no run started");
    // The configured name and loopback are fine.
    for host in ["box.home:8790", "localhost:8790", "[::1]:8790"] {
        let mut req = request("GET", "/v1/health", Some(CUSTOMER_TOKEN), "");
        req.headers_mut().insert(header::HOST, host.parse().expect("host"));
        assert_eq!(send(&agent.app, req).await.0, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn no_token_is_401_and_a_customer_on_a_technician_endpoint_is_403() {
    let agent = agent(config_with(""), Duration::ZERO);
    for token in [None, Some("wrong-token")] {
        for (method, uri) in [("GET", "/v1/health"), ("POST", "/v1/runs"), ("GET", "/metrics")] {
            let (status, headers, body) = send(&agent.app, request(method, uri, token, "")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
            assert_eq!(error_code(&body), "unauthorized");
            assert!(headers.get(header::WWW_AUTHENTICATE).is_some());
        }
    }
    let (status, _, body) = send(&agent.app, request("GET", "/metrics", Some(CUSTOMER_TOKEN), "")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "forbidden");
    let (status, _, _) = send(&agent.app, request("GET", "/v1/health", Some(CUSTOMER_TOKEN), "")).await;
    assert_eq!(status, StatusCode::OK);
    // The history lists every client's runs: technicians only (a customer may still start one).
    let (status, _, body) = send(&agent.app, request("GET", "/v1/runs", Some(CUSTOMER_TOKEN), "")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "forbidden");
    let (status, _, _) = send(&agent.app, request("GET", "/v1/runs", Some(TECHNICIAN_TOKEN), "")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = send(&agent.app, request("GET", "/metrics", Some(TECHNICIAN_TOKEN), "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4"))
    );
    let text = String::from_utf8(body).expect("utf-8");
    assert!(text.contains("sonde_sse_clients 0"), "{text}");
}

#[tokio::test]
async fn without_tokens_only_this_host_may_call() {
    let agent = agent(Config::default(), Duration::ZERO);
    let from = |peer: &str| {
        let mut req = request("GET", "/v1/health", None, "");
        req.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().expect("peer")));
        req
    };
    assert_eq!(send(&agent.app, from("127.0.0.1:40000")).await.0, StatusCode::OK);
    assert_eq!(send(&agent.app, from("[::1]:40000")).await.0, StatusCode::OK);
    let (status, _, body) = send(&agent.app, from("192.168.1.20:40000")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&body).contains("tokens"));
}

#[tokio::test]
async fn customers_cannot_aim_checks_at_the_home_network_or_the_box() {
    // SSRF: checked on the resolved address. Protocol v1's run request has no target field
    // yet; this is the gate every target goes through when it does.
    let admin = ["203.0.113.1".parse().expect("ip")];
    for target in [
        "127.0.0.1",
        "localhost",
        "::1",
        "[::1]",
        "0.0.0.0",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "fd12:3456::1",
        "224.0.0.251",
        "ff02::1",
        "::ffff:127.0.0.1",
        "203.0.113.1",
    ] {
        let err = security::check_target("target", target, Role::Customer, &admin)
            .await
            .expect_err(target);
        assert!(matches!(err, InputError::ForbiddenTarget { .. }), "{target}: {err}");
    }
    assert!(
        security::check_target("target", "192.168.1.1", Role::Technician, &admin)
            .await
            .is_ok(),
        "a technician on site may aim at the LAN"
    );
    assert!(
        security::check_target("target", "1.1.1.1", Role::Customer, &admin)
            .await
            .is_ok()
    );
}

/// Shell and option-injection attempts, fed to every field a run request has.
const INJECTION_CORPUS: &[&str] = &[
    ";id",
    "x;id",
    "$(id)",
    "$(touch /tmp/pwned)",
    "`id`",
    "x`id`",
    "|id",
    "x | id",
    "x\nid",
    "\nid",
    "-oProxyCommand=id",
    "--help",
    "-c 1",
    "x && id",
    "x > /tmp/pwned",
    "${IFS}id",
    "../../etc/passwd",
    "x\u{0}id",
    "",
];

#[tokio::test]
async fn the_injection_corpus_is_refused_in_every_field_and_nothing_runs() {
    let agent = agent(config_with(""), Duration::ZERO);
    let mut cases = 0;
    for payload in INJECTION_CORPUS {
        let value = serde_json::Value::String((*payload).to_owned());
        for body in [
            serde_json::json!({ "profile": value }),
            serde_json::json!({ "line": { "kind": "box", "id": value } }),
            serde_json::json!({ "line": { "kind": value } }),
            serde_json::json!({ "problem": value }),
            serde_json::json!({ "options": { "lang": value } }),
            serde_json::json!({ "options": { "checks": [value] } }),
        ] {
            let body = body.to_string();
            let (status, _, answer) =
                send(&agent.app, request("POST", "/v1/runs", Some(TECHNICIAN_TOKEN), &body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            let error: ApiError = serde_json::from_slice(&answer).expect("ApiError");
            assert_eq!(error.error, ErrorCode::BadRequest, "{body}");
            cases += 1;
        }
    }
    assert!(cases > 100);
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 0, "no check ever started");
    assert_eq!(agent.state.active_run(), None);
}

#[tokio::test]
async fn a_17_kib_body_is_413() {
    let agent = agent(config_with(""), Duration::ZERO);
    let body = format!("{{\"profile\":\"{}\"}}", "x".repeat(17 * 1024));
    let (status, _, answer) = send(&agent.app, request("POST", "/v1/runs", Some(TECHNICIAN_TOKEN), &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let error: ApiError = serde_json::from_slice(&answer).expect("ApiError");
    assert_eq!(error.error, ErrorCode::PayloadTooLarge);
    let mut req = request("GET", "/v1/health", Some(TECHNICIAN_TOKEN), "");
    req.headers_mut()
        .insert("x-padding", "y".repeat(9 * 1024).parse().expect("value"));
    assert_eq!(
        send(&agent.app, req).await.0,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let agent = agent(config_with("rate-per-minute = 6\nrate-burst = 3\n"), Duration::ZERO);
    let from = |peer: &str| {
        let mut req = request("GET", "/v1/health", Some(CUSTOMER_TOKEN), "");
        req.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().expect("peer")));
        req
    };
    for _ in 0..3 {
        assert_eq!(send(&agent.app, from("192.168.1.20:1000")).await.0, StatusCode::OK);
    }
    let (status, headers, body) = send(&agent.app, from("192.168.1.20:1001")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&body), "too_many_requests");
    let retry: u64 = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(
        send(&agent.app, from("192.168.1.21:1000")).await.0,
        StatusCode::OK,
        "another client is not affected"
    );
}

#[tokio::test]
async fn no_cors_headers_are_ever_sent() {
    let agent = agent(config_with(""), Duration::ZERO);
    let mut req = request("GET", "/v1/health", Some(CUSTOMER_TOKEN), "");
    req.headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().expect("origin"));
    let (status, headers, _) = send(&agent.app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let mut preflight = request("OPTIONS", "/v1/runs", Some(CUSTOMER_TOKEN), "");
    preflight
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().expect("origin"));
    let (status, headers, _) = send(&agent.app, preflight).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn listen(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_run_requests_start_one_run_and_49_conflicts_name_it() {
    let agent = agent(config_with(""), Duration::from_secs(2));
    let addr = listen(agent.state.clone()).await;
    let answers = futures_util::future::join_all(
        (0..50).map(|_| tokio::spawn(http(addr, "POST", "/v1/runs", CUSTOMER_TOKEN, "{}"))),
    )
    .await;
    let answers: Vec<(u16, String)> = answers.into_iter().map(|a| a.expect("task")).collect();
    let created: Vec<RunCreated> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| serde_json::from_str(body).expect("RunCreated"))
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let run = created[0].run;
    let conflicts: Vec<ApiError> = answers
        .iter()
        .filter(|(status, _)| *status == 409)
        .map(|(_, body)| serde_json::from_str(body).expect("ApiError"))
        .collect();
    assert_eq!(conflicts.len(), 49, "{answers:?}");
    for conflict in conflicts {
        assert_eq!(conflict.error, ErrorCode::RunInProgress);
        assert_eq!(conflict.run, Some(run));
        assert!(conflict.message.contains(&run.to_string()));
    }
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 1);
    agent.state.cancel_active();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_run_stores_it_canceled_then_returns() {
    let agent = agent(config_with(""), Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sonde_agent::daemon::serve_on(
        listener,
        agent.state.clone(),
        Arc::new(sonde_agent::sd_notify::Notifier::disabled()),
        async move {
            let _ = stopped.await;
        },
    ));
    let (status, body) = http(addr, "POST", "/v1/runs", TECHNICIAN_TOKEN, "{}").await;
    assert_eq!(status, 201, "{body}");
    let created: RunCreated = serde_json::from_str(&body).expect("created");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve_on returns within 5 s")
        .expect("task")
        .expect("clean exit");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _, body) = send(&agent.app, request("GET", &created.report, Some(TECHNICIAN_TOKEN), "")).await;
    assert_eq!(status, StatusCode::OK);
    let report: RunReport = serde_json::from_slice(&body).expect("report");
    assert_eq!(report.state, RunState::Canceled, "stored before the daemon returned");
}

/// The real binary under a fake systemd: READY=1 with a status once it listens, STOPPING=1 on
/// SIGTERM, then exit 0. No run is started, so nothing is measured.
#[test]
fn sonded_notifies_systemd_and_stops_cleanly_on_sigterm() {
    use std::os::unix::net::UnixDatagram;
    let dir = std::env::temp_dir().join(format!("sonde-sdnotify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).expect("bind");
    socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let config = dir.join("sonded.toml");
    std::fs::write(&config, "").expect("config");
    // Its stderr is "the journal": JOURNAL_STREAM names that file's device and inode.
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let journal_stream = {
        use std::os::unix::fs::MetadataExt;
        let meta = log.metadata().expect("stat");
        format!("{}:{}", meta.dev(), meta.ino())
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sonded"))
        .args(["--listen", "127.0.0.1:0", "--database", ":memory:", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .env("SONDE_LOG", "info")
        .env("JOURNAL_STREAM", &journal_stream)
        .stdin(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn sonded");
    let mut buf = [0u8; 512];
    let mut received = Vec::new();
    let recv = |received: &mut Vec<String>, buf: &mut [u8]| {
        let n = socket.recv(buf).expect("a notification within 20 s");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        received.push(text.clone());
        text
    };
    let ready = loop {
        let text = recv(&mut received, &mut buf);
        if text.contains("READY=1") {
            break text;
        }
    };
    assert!(ready.contains("STATUS=serving protocol v1 on 127.0.0.1:"), "{ready}");
    // The watchdog: WATCHDOG=1 every 100 ms.
    loop {
        if recv(&mut received, &mut buf) == "WATCHDOG=1" {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    loop {
        if recv(&mut received, &mut buf).contains("STOPPING=1") {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "sonded still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}; notifications: {received:?}");
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.lines()
            .any(|l| l.starts_with("<6>") && l.contains("sonded serving protocol v1")),
        "journal lines carry their priority: {log}"
    );
    assert!(!log.contains('\u{1b}'), "no colour codes in the journal: {log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn progress_streams_are_capped_and_metrics_count_runs_and_streams() {
    let agent = agent(config_with("max-event-streams = 1\n"), Duration::from_millis(100));
    let (status, _, body) = send(&agent.app, request("POST", "/v1/runs", Some(CUSTOMER_TOKEN), "{}")).await;
    assert_eq!(status, StatusCode::CREATED);
    let created: RunCreated = serde_json::from_slice(&body).expect("created");
    let first = agent
        .app
        .clone()
        .oneshot(request("GET", &created.events, Some(CUSTOMER_TOKEN), ""))
        .await
        .expect("infallible");
    assert_eq!(first.status(), StatusCode::OK);
    let (status, headers, body) = send(&agent.app, request("GET", &created.events, Some(CUSTOMER_TOKEN), "")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "busy");
    assert!(headers.get(header::RETRY_AFTER).is_some());
    let (_, _, metrics) = send(&agent.app, request("GET", "/metrics", Some(TECHNICIAN_TOKEN), "")).await;
    assert!(String::from_utf8_lossy(&metrics).contains("sonde_sse_clients 1"));
    // The stream ends with the run, and frees its slot.
    first.into_body().collect().await.expect("stream to its end");
    let (_, _, metrics) = send(&agent.app, request("GET", "/metrics", Some(TECHNICIAN_TOKEN), "")).await;
    let text = String::from_utf8(metrics).expect("utf-8");
    for line in [
        "sonde_sse_clients 0",
        "sonde_runs_total{state=\"completed\"} 1",
        "sonde_last_gateway_rtt_ms 1.5",
        "sonde_last_gateway_loss_percent 0",
        "sonde_check_duration_seconds_count{check=\"gateway\"} 1",
        "sonde_run_in_progress 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
}

#[test]
fn check_config_says_who_may_reach_the_api_and_rejects_plain_tokens() {
    let dir = std::env::temp_dir().join(format!("sonde-checkconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |text: &str| {
        let path = dir.join("sonded.toml");
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sonded"))
            .args(["--check-config", "--config"])
            .arg(&path)
            .output()
            .expect("run sonded");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run("");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("clients on this host only"), "{text}");
    let (code, text) = run(&format!(
        "[api]\ncustomer-tokens = [\"{}\"]\nallowed-hosts = [\"box.home\"]\n",
        hex(CUSTOMER_TOKEN)
    ));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("1 customer and 0 technician token(s)") && text.contains("box.home"),
        "{text}"
    );
    for bad in [
        "[api]\ntechnician-tokens = [\"hunter2\"]\n",
        "[api]\nallowed-hosts = [\"http://box.home\"]\n",
        "[api]\nrate-burst = 0\n",
        "[api]\nwildcard-cors = true\n",
    ] {
        let (code, text) = run(bad);
        assert_eq!(code, Some(2), "{bad}: {text}");
        assert!(text.contains("api") || text.contains("wildcard-cors"), "{bad}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- The web page (issue 9, item 4) ----------------------------------------------------------

#[tokio::test]
async fn the_page_is_served_without_a_token_under_a_strict_policy() {
    let agent = agent(config_with(""), Duration::ZERO);
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/i18n.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, body) = send(&agent.app, request("GET", path, None, "")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let header_of = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(header_of(header::CONTENT_TYPE), content_type, "{path}");
        let policy = header_of(header::CONTENT_SECURITY_POLICY);
        assert!(policy.starts_with("default-src 'self';"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(header_of(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{path}");
        assert!(!body.is_empty(), "{path}");
    }
    // A foreign Host gets nothing, not even the page (DNS rebinding).
    let mut req = request("GET", "/", None, "");
    req.headers_mut()
        .insert(header::HOST, "evil.example:8790".parse().expect("host"));
    assert_eq!(send(&agent.app, req).await.0, StatusCode::FORBIDDEN);
    // The page's files are the only ones open: the API still needs the token.
    assert_eq!(
        send(&agent.app, request("GET", "/v1/health", None, "")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn the_page_has_no_inline_script_style_or_handler_and_every_control_is_labelled() {
    let html = include_str!("../web/index.html");
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains("src=\"/"), "an inline or foreign script: <script{tag}>");
        assert!(
            script.trim_start_matches(|c| c != '>').starts_with("></script>"),
            "a script with a body"
        );
    }
    assert!(!html.contains("<style"), "inline style element");
    assert!(!html.contains(" style=\""), "inline style attribute");
    assert!(
        !html
            .split_whitespace()
            .any(|word| word.starts_with("on") && word.contains("=\"")),
        "inline event handler"
    );
    assert!(html.contains("<html lang="));
    // Every input and select has a <label for=…> or sits inside a <label>.
    for (i, control) in html.match_indices("<input").chain(html.match_indices("<select")) {
        let tag = &html[i..html[i..].find('>').map_or(html.len(), |end| i + end)];
        let id = tag.split("id=\"").nth(1).and_then(|rest| rest.split('"').next());
        let labelled_for = id.is_some_and(|id| html.contains(&format!("for=\"{id}\"")));
        let wrapped = html[..i]
            .rfind("<label")
            .is_some_and(|open| !html[open..i].contains("</label>"));
        assert!(labelled_for || wrapped, "unlabelled control: {tag} ({control})");
    }
    assert!(
        html.contains("<progress"),
        "the progress bar is a <progress> (role progressbar)"
    );
}

#[tokio::test]
async fn a_stream_pass_opens_its_runs_events_and_nothing_else() {
    let agent = agent(config_with(""), Duration::from_millis(50));
    let (status, _, body) = send(&agent.app, request("POST", "/v1/runs", Some(CUSTOMER_TOKEN), "{}")).await;
    assert_eq!(status, StatusCode::CREATED);
    let run = serde_json::from_slice::<RunCreated>(&body).expect("created").run;
    let pass_path = format!("/v1/runs/{run}/stream-pass");

    // Only a caller with a token gets a pass.
    let (status, _, _) = send(&agent.app, request("POST", &pass_path, None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(&agent.app, request("POST", &pass_path, Some(CUSTOMER_TOKEN), "")).await;
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let pass = answer["pass"].as_str().expect("pass").to_owned();
    assert_eq!(answer["expires_in_s"], security::StreamPasses::TTL_SECONDS);

    // The pass opens this run's event stream without a token…
    let events = format!("/v1/runs/{run}/events?pass={pass}");
    let response = agent
        .app
        .clone()
        .oneshot(request("GET", &events, None, ""))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    );
    drop(response);

    // …and nothing else: not the report, not another run, not altered.
    let (status, _, body) = send(&agent.app, request("POST", "/v1/runs", Some(CUSTOMER_TOKEN), "{}")).await;
    let other = match status {
        StatusCode::CREATED => serde_json::from_slice::<RunCreated>(&body).expect("created").run,
        // The first run still runs: any well-formed id of another run will do.
        _ => sonde_protocol::RunId::new(),
    };
    let mut altered = pass.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).expect("ascii");
    for uri in [
        format!("/v1/runs/{run}?pass={pass}"),
        format!("/v1/runs/{other}/events?pass={pass}"),
        format!("/v1/runs/{run}/events?pass={altered}"),
        format!("/v1/runs/{run}/stream-pass?pass={pass}"),
        "/metrics?pass=".to_owned() + &pass,
    ] {
        let method = if uri.contains("stream-pass") { "POST" } else { "GET" };
        let (status, _, body) = send(&agent.app, request(method, &uri, None, "")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(error_code(&body), "unauthorized", "{uri}");
    }
}

/// The keys of one language's table in `i18n.js` (`  key: "…",` or `  "key.sub": "…",` lines
/// between `lang: {` and the next `},`).
fn dictionary_keys(js: &str, lang: &str) -> std::collections::BTreeSet<String> {
    let start = js
        .find(&format!("\n  {lang}: {{\n"))
        .unwrap_or_else(|| panic!("no {lang} table"));
    js[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.trim() != "},")
        .filter_map(|line| {
            line.trim()
                .split_once(": ")
                .map(|(key, _)| key.trim_matches('"').to_owned())
        })
        .collect()
}

#[test]
fn the_page_speaks_french_and_english_with_no_text_missing() {
    let js = include_str!("../web/i18n.js");
    let (fr, en) = (dictionary_keys(js, "fr"), dictionary_keys(js, "en"));
    assert!(fr.len() > 50, "{fr:?}");
    assert_eq!(
        fr.symmetric_difference(&en).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "keys in one language only"
    );
    let html = include_str!("../web/index.html");
    for key in html
        .split("data-i18n=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        assert!(fr.contains(key), "index.html uses `{key}`, which i18n.js lacks");
    }
    let app = include_str!("../web/app.js");
    // Keys built at run time (`"status." + result.status`) are prefixes: skipped.
    let used = app.split("tr(\"").skip(1).filter_map(|rest| rest.split('"').next());
    for key in used.filter(|key| !key.ends_with('.')) {
        assert!(fr.contains(key), "app.js uses `{key}`, which i18n.js lacks");
    }
    for problem in ["no-internet", "slow", "wifi", "sites", "voip-tv", "mobile"] {
        assert!(fr.contains(&format!("problem.{problem}")), "{problem}");
        assert!(
            html.contains(&format!("value=\"{problem}\"")),
            "{problem} has a radio button"
        );
    }
}

/// `options.action` is checked when the run is requested: a refused action never starts a run.
#[tokio::test]
async fn a_requested_action_is_refused_unless_known_available_and_allowed_to_the_role() {
    let post = |token, body: &str| request("POST", "/v1/runs", Some(token), body);
    let action = |name: &str, line: &str| {
        format!(r#"{{"line":{{"kind":"{line}"}},"problem":"mobile","options":{{"action":"{name}"}}}}"#)
    };

    // No modem configured: the modem's actions are known but not available here.
    let agent = agent(config_with(""), Duration::ZERO);
    let cases: &[(&str, &str, StatusCode, &str, &str)] = &[
        (
            TECHNICIAN_TOKEN,
            "reconnect_data_session",
            StatusCode::CONFLICT,
            "action_unavailable",
            "action `reconnect_data_session` is not available on this host: no modem configured ([mobile] modem)",
        ),
        (
            TECHNICIAN_TOKEN,
            "renew_dhcp",
            StatusCode::CONFLICT,
            "action_unavailable",
            "not available on this host: the agent does not drive the DHCP client",
        ),
        (
            TECHNICIAN_TOKEN,
            "format_disk",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown action `format_disk` in options.action; this agent knows: reconnect_data_session, reset_modem, \
             restart_wifi_radio, renew_dhcp",
        ),
        (
            TECHNICIAN_TOKEN,
            "../../etc",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "options.action",
        ),
    ];
    for (token, name, status, code, message) in cases {
        let (got, _, body) = send(&agent.app, post(token, &action(name, "mobile"))).await;
        let error: ApiError = serde_json::from_slice(&body).expect("an API error");
        assert_eq!((got, error.error.as_str()), (*status, *code), "{name}: {error:?}");
        assert!(error.message.contains(message), "{name}: {:?}", error.message);
    }
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 0, "no run started");

    // With a modem: a customer may reconnect their own mobile line's session, not restart the
    // modem, and not act on a box line; a technician may restart it.
    let agent = agent_with_modem();
    for (body, what) in [
        (action("reset_modem", "mobile"), "a customer restarting the modem"),
        (
            action("reconnect_data_session", "box"),
            "a customer acting on a box line",
        ),
    ] {
        let (status, _, body) = send(&agent.app, post(CUSTOMER_TOKEN, &body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(error_code(&body), "forbidden", "{what}");
    }
    assert_eq!(agent.checks_built.load(Ordering::SeqCst), 0, "no run started");
    let (status, _, body) = send(&agent.app, post(TECHNICIAN_TOKEN, &action("reset_modem", "mobile"))).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let agent = agent_with_modem();
    let (status, _, body) = send(
        &agent.app,
        post(CUSTOMER_TOKEN, &action("reconnect_data_session", "mobile")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
}

fn agent_with_modem() -> Agent {
    agent(
        config_with("[mobile]\nmodem = \"192.0.2.1:502\"\nmap = \"teltonika-rutos\"\n"),
        Duration::from_secs(3600),
    )
}
