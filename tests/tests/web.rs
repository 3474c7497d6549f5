//! The web page of `sonded` (issue 9, item 4) in a real headless Chromium, driven over
//! WebDriver, against `sonded` on the `access-loss` scenario: the customer chooses the problem,
//! launches, the progress bar reaches 100 % and the diagnosis appears — though the page's event
//! stream is cut once mid-run (the page resumes with `Last-Event-ID`) — then the ticket the
//! diagnosis opened shows its number and the SMS confirmation. Screenshots at 360×740 and
//! 1280×800 go to `<target>/screenshots/`.
//!
//! chromedriver, Chromium, `sonded` and a cutting proxy all run inside the scenario's device
//! namespace, on its own loopback: the browser reaches the agent the way a phone on the box's
//! LAN would (through the proxy), and nothing leaves the namespaces this test creates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;
use sonde_protocol::{ProblemKind, RunReport, RunState};

use crate::support::webdriver::{self, Driver, png_size};
use crate::support::{CuttingProxy, Daemon, Helpdesk, http_with};

/// The customer's bearer token in this test's agent configuration.
const TOKEN: &str = "web-page-customer-token-0123456789";

/// Bytes of events the proxy lets through before cutting the page's stream: `run_started` and a
/// few step events, well before the end of a run that takes seconds.
const CUT_AFTER_BYTES: usize = 4000;

/// Whether the browser test can run; skips loudly, or fails under `SONDE_REQUIRE_NETSIM=1`.
fn require_browser(test: &str) -> bool {
    require_netsim(test) && sonde_netsim::require(test, webdriver::unavailable_reason())
}

/// `<target>/screenshots/` (the test binary is `<target>/<profile>/deps/e2e-…`).
fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create screenshots dir");
    dir
}

/// What the page shows, read through the DOM.
fn page_state(session: &webdriver::Session<'_>) -> Value {
    session.execute(
        "const b = document.body.dataset;
         return {
           state: b.state || null,
           run: b.run || null,
           progress: document.getElementById('progress').value,
           summary: document.getElementById('summary').textContent,
           resultShown: !document.getElementById('result').hidden,
           codes: [...document.querySelectorAll('#findings li[data-code]')].map(li => li.dataset.code),
           checks: [...document.querySelectorAll('#checks tbody tr')].map(tr => tr.dataset.check),
           reconnects: Number(document.getElementById('reconnects').textContent),
           lang: document.documentElement.lang,
           error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
           ticketState: document.getElementById('ticket').dataset.state || null,
           ticketNumber: document.getElementById('ticket-number').textContent,
           sms: document.getElementById('ticket-sms').textContent,
         };",
    )
}

fn report(device: &sonde_netsim::Netns, agent: SocketAddr, run: &str) -> RunReport {
    let path = format!("/v1/runs/{run}");
    let (status, body) = device
        .run_inside(move || {
            http_with(
                agent,
                "GET",
                &path,
                &format!("Authorization: Bearer {TOKEN}\r\n"),
                None,
                Duration::from_secs(10),
            )
        })
        .expect("thread")
        .expect("GET report");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not a report ({e}): {body}"))
}

fn save_screenshot(session: &webdriver::Session<'_>, width: u32, height: u32, mobile: bool) -> PathBuf {
    session.set_viewport(width, height, mobile);
    // Let the page lay itself out at the new size.
    std::thread::sleep(Duration::from_millis(300));
    let png = session.screenshot();
    assert_eq!(png_size(&png), Some((width, height)), "a {width}×{height} PNG");
    let path = screenshots_dir().join(format!("web-{width}x{height}.png"));
    std::fs::write(&path, &png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
    path
}

#[test]
fn the_page_runs_a_diagnosis_through_a_cut_connection() {
    if !require_browser("web page in Chromium") {
        return;
    }
    let started = Instant::now();
    // The scenario, with the operator's helpdesk on its Internet.
    let helpdesk = Helpdesk::new("web");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/access-loss.toml");
    let text = std::fs::read_to_string(&path).expect("scenario file");
    let scenario: Scenario =
        toml::from_str(&format!("{text}\n{}", helpdesk.scenario_peer())).unwrap_or_else(|e| panic!("{e}"));
    scenario.validate().unwrap_or_else(|e| panic!("{e:#}"));
    let network = Network::up(&scenario).unwrap_or_else(|e| panic!("{e:#}"));
    let device = &network.device;

    // The scenario's agent configuration, with the helpdesk and a customer token: the page must
    // pass the daemon's authentication as a phone on the LAN would.
    let hash: String = sonde_agent::security::hash_token(TOKEN)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let base = std::fs::read_to_string(network.sonde_config()).expect("scenario config");
    let config = device
        .write_state(
            "sonded-web.toml",
            &format!(
                "{base}\n{}\n[api]\ncustomer-tokens = [\"{hash}\"]\n",
                helpdesk.agent_tickets()
            ),
        )
        .expect("config");
    let agent: SocketAddr = "127.0.0.1:8790".parse().expect("addr");
    let _daemon = Daemon::start_with_config(device, agent, ":memory:", &config, "/");
    let proxy = CuttingProxy::start(device, "127.0.0.1:0".parse().expect("addr"), agent, CUT_AFTER_BYTES);
    let driver = Driver::start(device, 9515);
    let session = driver.session();
    session.set_viewport(360, 740, true);
    session.navigate(&format!("http://{}/", proxy.addr));

    // The page speaks French and English, and says which in `lang`.
    let heading = "return [document.documentElement.lang, document.querySelector('h1').textContent]";
    session.click("#lang option[value='fr']");
    assert_eq!(session.execute(heading), serde_json::json!(["fr", "Diagnostic réseau"]));
    session.click("#lang option[value='en']");
    assert_eq!(session.execute(heading), serde_json::json!(["en", "Network diagnosis"]));

    // The customer's flow, through the labelled controls.
    session.click("#settings summary");
    session.type_into("#token", TOKEN);
    session.type_into("#line-id", "0102030405");
    session.type_into("#contact", "+33612345678");
    session.click("input[name='problem'][value='slow']");
    session.click("input[name='problem'][value='no-internet']");
    session.click("#launch");

    // Follow the page until the run ends; note whether the cut came while the run was running.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut cut_while = None;
    let mut last_progress = 0.0;
    let state = loop {
        let state = page_state(&session);
        assert!(state["error"].is_null(), "the page shows an error: {state}");
        let progress = state["progress"].as_f64().unwrap_or(0.0);
        assert!(
            progress >= last_progress,
            "the progress bar went back: {last_progress} → {progress}"
        );
        last_progress = progress;
        if cut_while.is_none()
            && proxy.cut.load(Ordering::SeqCst)
            && let Some(run) = state["run"].as_str()
        {
            cut_while = Some(report(device, agent, run).state);
        }
        if state["state"].as_str().is_some_and(|s| s != "running") {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "the page did not finish within 120 s: {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("page at the end: {state}");

    assert_eq!(state["state"], "completed", "{state}");
    assert_eq!(state["progress"].as_f64(), Some(100.0), "{state}");
    assert_eq!(state["lang"], "en");
    assert!(state["resultShown"] == true, "{state}");
    assert_eq!(
        cut_while,
        Some(RunState::Running),
        "the proxy cut the page's stream while the run was running"
    );
    assert!(state["reconnects"].as_u64() >= Some(1), "the page saw the cut: {state}");

    // The page shows the daemon's complete result: the same findings, in the same order, the
    // same summary, every check.
    let run = state["run"].as_str().expect("run id");
    let report = report(device, agent, run);
    assert_eq!(report.state, RunState::Completed);
    assert_eq!(
        report.request.problem,
        ProblemKind::NoInternet,
        "the problem chosen on the page"
    );
    let codes: Vec<String> = report.findings.iter().map(|f| f.code.to_string()).collect();
    assert!(!codes.is_empty(), "access-loss has a finding");
    assert_eq!(
        codes.first().map(String::as_str),
        Some("ACCESS_PACKET_LOSS"),
        "{codes:?}"
    );
    let shown: Vec<String> = serde_json::from_value(state["codes"].clone()).expect("codes");
    assert_eq!(shown, codes, "the findings shown are the report's");
    let diagnosis = report.diagnosis.as_ref().expect("diagnosis");
    assert!(!diagnosis.summary.is_empty());
    assert_eq!(state["summary"], diagnosis.summary.as_str(), "the diagnosis sentence");
    let checks: Vec<String> = report.checks.iter().map(|c| c.id.as_str().to_owned()).collect();
    let shown_checks: Vec<String> = serde_json::from_value(state["checks"].clone()).expect("checks");
    assert_eq!(shown_checks, checks, "one row per check, each once");

    // The diagnosis says the operator must act: the page follows the ticket to its SMS.
    assert!(diagnosis.operator_must_act, "{codes:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let state = page_state(&session);
        if state["ticketState"] == "sms_sent" {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "no SMS confirmation on the page within 60 s: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let report = self::report(device, agent, run);
    let ticket = report.ticket.as_ref().expect("a ticket");
    let number = ticket.ticket_number.as_deref().expect("a ticket number");
    assert_eq!(state["ticketNumber"], format!("Ticket number: {number}"), "{state}");
    assert_eq!(state["sms"], "A confirmation SMS was sent to you.", "{state}");

    save_screenshot(&session, 360, 740, true);
    session.click("#tech-toggle");
    save_screenshot(&session, 1280, 800, false);
    eprintln!("web page test: {:.1} s", started.elapsed().as_secs_f64());
}
