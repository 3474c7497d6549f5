//! Shared helpers of the end-to-end suites.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sonde_netsim::{Netns, veth};
use sonde_protocol::RunReport;

pub mod webdriver;

/// Path of a workspace binary, built on first use if the test run did not build it.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    // target/<profile>/deps/e2e-<hash> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf();
    let path = dir.join(name);
    // `scripts/test.sh` builds every binary first (`cargo build --workspace --bins`). Build
    // here only when one is missing, and with the same selection: building a subset of the
    // workspace unifies features differently and would rebuild half the dependency tree.
    if !path.exists() {
        BUILT.get_or_init(|| {
            let release = dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--workspace", "--bins"]);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            assert!(status.success(), "building the binaries failed");
        });
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Path of the `sonde-netsim` binary (this package's own, so cargo builds it for the tests).
pub fn netsim_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sonde-netsim"))
}

/// A customer device and its box, joined by a cable:
/// `dev` eth0 192.0.2.2/24 — `gw` eth0 192.0.2.1/24, the device's default route and resolver
/// pointing at the box. No DNS server runs on the box.
pub struct Lan {
    pub dev: Netns,
    pub gw: Netns,
}

pub const GATEWAY: &str = "192.0.2.1";

impl Lan {
    pub fn new() -> Self {
        let dev = Netns::new("dev").expect("dev namespace");
        let gw = Netns::new("gw").expect("gw namespace");
        veth(&dev, "eth0", &gw, "eth0").expect("veth");
        dev.ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"])
            .expect("dev address");
        gw.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"])
            .expect("gw address");
        dev.ip(&["route", "add", "default", "via", GATEWAY])
            .expect("default route");
        dev.set_resolv_conf(&format!("nameserver {GATEWAY}\n"))
            .expect("resolv.conf");
        anchors_nowhere(&dev);
        Self { dev, gw }
    }
}

/// Points sonde's Internet anchors and public resolvers at an address of this test's own
/// (unrouted) network, so a test never probes the real Internet's.
pub fn anchors_nowhere(ns: &Netns) {
    ns.write_state(
        "sonde.toml",
        "[latency]\nanchors = [\"198.51.100.1\"]\n[dns]\npublic = [\"198.51.100.1\"]\n\
         [http]\ntargets = [\"http://198.51.100.1/\"]\nportal-probe = \"http://198.51.100.1/generate_204\"\n",
    )
    .expect("sonde.toml");
}

fn sonde_config(ns: &Netns) -> PathBuf {
    ns.state_file("sonde.toml")
}

/// What one `sonde diagnose` invocation produced.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn report(&self) -> RunReport {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn top_code(&self) -> String {
        let report = self.report();
        report
            .findings
            .first()
            .map(|f| f.code.to_string())
            .unwrap_or_else(|| "HEALTHY".to_owned())
    }
}

/// Runs `sonde <args>` inside `ns`.
pub fn sonde(ns: &Netns, args: &[&str]) -> Outcome {
    let started = Instant::now();
    let mut cmd = ns.command(bin("sonde"));
    // The embedded agent's run history: one per namespace, removed with it.
    cmd.env("SONDE_HISTORY", ns.state_file("history.db"));
    if sonde_config(ns).exists() {
        cmd.env("SONDE_CONFIG", sonde_config(ns));
    }
    let out = cmd.args(args).stdin(Stdio::null()).output().expect("run sonde");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// A `sonded` running inside a namespace; killed on drop.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `sonded` in `ns` on `addr` (the namespace's own loopback), and waits until it
    /// answers.
    pub fn start(ns: &Netns, addr: SocketAddr, database: &str) -> Self {
        Self::start_with_config(ns, addr, database, &sonde_config(ns), "/v1/health")
    }

    /// Starts `sonded` in `ns` with the configuration `config`, and waits until `GET ready_path`
    /// answers 200 (with API tokens configured, `/v1/health` needs one: probe the page, `/`).
    pub fn start_with_config(
        ns: &Netns,
        addr: SocketAddr,
        database: &str,
        config: &std::path::Path,
        ready_path: &'static str,
    ) -> Self {
        let child = ns
            .command(bin("sonded"))
            .args(["--listen", &addr.to_string(), "--database", database])
            .env("SONDE_LOG", "warn")
            .env("SONDE_CONFIG", config)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sonded");
        let daemon = Self { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe = ns
                .run_inside(move || http(addr, "GET", ready_path, None))
                .expect("thread");
            if probe.is_ok_and(|(status, _)| status == 200) {
                return daemon;
            }
            assert!(Instant::now() < deadline, "sonded did not answer within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `sonde-backend` helpdesk for a scenario: it runs on the simulated Internet at
/// [`Helpdesk::ADDR`], with its configuration and database in a temporary directory (removed on
/// drop).
pub struct Helpdesk {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub database: PathBuf,
}

impl Helpdesk {
    /// Where the helpdesk listens, on the scenario's Internet.
    pub const ADDR: &'static str = "203.0.113.90:8791";
    /// The box's device token at the helpdesk.
    pub const TOKEN: &'static str = "netsim-box-token";

    /// Writes the helpdesk's configuration (one device, the box) under a directory named after
    /// `tag`.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sonde-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("helpdesk.toml");
        std::fs::write(
            &config,
            format!(
                "operator = \"Sonde Télécom\"\n[[devices]]\nname = \"box-netsim\"\ntoken-sha256 = \"{}\"\n",
                sonde_backend::config::hash_token(Self::TOKEN)
            ),
        )
        .expect("helpdesk config");
        let database = dir.join("helpdesk.db");
        Self { dir, config, database }
    }

    /// The scenario lines that run this helpdesk on the Internet node.
    pub fn scenario_peer(&self) -> String {
        let ip = Self::ADDR.split(':').next().unwrap_or_default();
        format!(
            "[[peers.process]]\nnode = \"internet\"\naddress = \"{ip}\"\n\
             command = [\"{}\", \"--listen\", \"{}\", \"--config\", \"{}\", \"--database\", \"{}\"]\n",
            bin("sonde-backend").display(),
            Self::ADDR,
            self.config.display(),
            self.database.display()
        )
    }

    /// The agent's `[tickets]` table for this helpdesk (quick retries, for tests).
    pub fn agent_tickets(&self) -> String {
        format!(
            "[tickets]\nhelpdesk = \"http://{}\"\ntoken = \"{}\"\nretry-base-ms = 100\nretry-max-ms = 500\n",
            Self::ADDR,
            Self::TOKEN
        )
    }
}

impl Drop for Helpdesk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GET /v1/runs/{run}` of the agent at `addr`, from inside `ns`.
/// `POST /v1/runs` with `request` from inside `ns`: the new run's id (asserting the 201).
pub fn start_run(ns: &Netns, addr: SocketAddr, request: &'static str) -> sonde_protocol::RunId {
    let (status, body) = ns
        .run_inside(move || http(addr, "POST", "/v1/runs", Some(request)))
        .expect("thread")
        .expect("POST");
    assert_eq!(status, 201, "{body}");
    serde_json::from_str::<sonde_protocol::RunCreated>(&body)
        .expect("created")
        .run
}

pub fn run_report(ns: &Netns, addr: SocketAddr, run: sonde_protocol::RunId) -> RunReport {
    let (status, body) = ns
        .run_inside(move || http(addr, "GET", &format!("/v1/runs/{run}"), None))
        .expect("thread")
        .expect("GET report");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("report")
}

/// Polls `GET /v1/runs/{run}` until `done` holds for the report, which it returns; fails the
/// test (naming `what`) after `limit`.
pub fn wait_report(
    ns: &Netns,
    addr: SocketAddr,
    run: sonde_protocol::RunId,
    limit: Duration,
    what: &str,
    done: impl Fn(&RunReport) -> bool,
) -> RunReport {
    let deadline = Instant::now() + limit;
    loop {
        let report = run_report(ns, addr, run);
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}: {:?} {:?} {:?}",
            report.state,
            report.ticket,
            report.remediation
        );
        // 2.5 polls a second: within the API's rate limit (a burst of 60, then 2 a second) for
        // the longest wait here, two minutes.
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// The run's events so far, from `GET /v1/runs/{run}/events` (the stream closes once the run and
/// its ticket are settled).
pub fn run_events(ns: &Netns, addr: SocketAddr, run: sonde_protocol::RunId) -> Vec<sonde_protocol::Event> {
    let (status, body) = ns
        .run_inside(move || http(addr, "GET", &format!("/v1/runs/{run}/events"), None))
        .expect("thread")
        .expect("GET events");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).expect("event"))
        .collect()
}

/// A minimal HTTP/1.1 exchange (`Connection: close`), for tests that must speak from inside a
/// namespace thread. Returns the status and the body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, "", body, Duration::from_secs(10))
}

/// [`http`] with extra header lines (each ending in `\r\n`) and a read timeout.
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // Read to the end of the body its Content-Length announces (a server may keep the
    // connection open despite `Connection: close`, as chromedriver does), else to the close.
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(length) = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            && body.len() >= length
        {
            break;
        }
    }
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A TCP proxy inside a namespace that cuts the first event-stream connection once it has
/// carried `cut_after` bytes of events, as a phone's WiFi dropping mid-run would.
pub struct CuttingProxy {
    pub addr: SocketAddr,
    pub cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub fn start(ns: &Netns, listen: SocketAddr, upstream: SocketAddr, cut_after: usize) -> Self {
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let listener = ns
            .run_inside(move || TcpListener::bind(listen))
            .expect("thread")
            .expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        // The listener already belongs to the namespace; the accept loop can run anywhere, but
        // upstream connections must be made from inside it.
        let ns_path = PathBuf::from("/run/netns").join(ns.name());
        std::thread::spawn(move || {
            let _ = enter(&ns_path);
            for client in listener.incoming().take(64) {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let flag = flag.clone();
                std::thread::spawn(move || relay(client, server, cut_after, &flag));
            }
        });
        Self { addr, cut }
    }
}

fn enter(path: &std::path::Path) -> anyhow::Result<()> {
    sonde_netsim::enter_thread(path)
}

fn relay(client: TcpStream, server: TcpStream, cut_after: usize, cut: &AtomicBool) {
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = client_r.read(&mut buf) {
            if n == 0 || server_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = server_w.shutdown(Shutdown::Write);
    });
    let (mut server_r, mut client_w) = (server, client);
    let mut buf = [0u8; 8192];
    let mut event_bytes: Option<usize> = None;
    while let Ok(n) = server_r.read(&mut buf) {
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if event_bytes.is_none() && String::from_utf8_lossy(chunk).contains("text/event-stream") {
            event_bytes = Some(0);
        }
        if client_w.write_all(chunk).is_err() {
            break;
        }
        // Cut once the client has some events: a stream cut before its first byte is retried
        // by the browser's network stack on its own, unseen by the page.
        if let Some(total) = event_bytes.as_mut() {
            *total += n;
            if *total > cut_after && !cut.swap(true, Ordering::SeqCst) {
                let _ = client_w.shutdown(Shutdown::Both);
                let _ = server_r.shutdown(Shutdown::Both);
                return;
            }
        }
    }
    let _ = client_w.shutdown(Shutdown::Write);
}
