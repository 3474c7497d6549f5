//! The mobile restoration flow end to end (DESIGN.md §1): a 4G router whose data session is
//! stale (registered, good signal, but nothing passes until the session is reconnected — the
//! simulated access link is out while it lasts). `sonded` diagnoses it, reconnects the data
//! session through the modem's Modbus registers (confirmed by the request), re-tests and
//! compares: `restored` and no ticket, or — when the modem stays broken — `not_restored` and
//! exactly one ticket at the helpdesk carrying both measurements. And on demand: a request
//! naming the action (`options.action`) performs it on a healthy modem too.

use std::net::SocketAddr;
use std::time::Duration;

use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;
use sonde_protocol::{ActionState, EventData, RemediationOutcome, RunReport, TicketState};

use crate::support::{Daemon, Helpdesk, run_events, start_run, wait_report};

const AGENT: &str = "127.0.0.1:8792";

const REQUEST: &str = r#"{"line":{"kind":"mobile","id":"0612345678"},"problem":"mobile","contact":"+33612345678","options":{"lang":"en","confirm_actions":true}}"#;

/// The technician's request: reconnect the data session, whatever the diagnosis says.
const ACTION_REQUEST: &str = r#"{"line":{"kind":"mobile","id":"0612345678"},"problem":"mobile","contact":"+33612345678","options":{"lang":"en","action":"reconnect_data_session"}}"#;

/// A stale data session on a Teltonika router, with the helpdesk on the Internet; `persists`:
/// reconnecting does not help.
fn stale_session(helpdesk: &Helpdesk, persists: bool) -> Network {
    modem_network(
        helpdesk,
        &format!("stale-data-session = true\nstale-data-session-persists = {persists}\n"),
    )
}

/// A Teltonika router whose `[peers.modem.state]` is `state`, with the helpdesk on the Internet.
fn modem_network(helpdesk: &Helpdesk, state: &str) -> Network {
    let scenario: Scenario = toml::from_str(&format!(
        "[network]\nnat = true\n[peers.modem]\nmap = \"teltonika-rutos\"\n[peers.modem.state]\n{state}{}",
        helpdesk.scenario_peer()
    ))
    .expect("scenario");
    let net = Network::up(&scenario).expect("network up");
    let mut config = std::fs::read_to_string(net.sonde_config()).expect("sonde config");
    config.push_str(&helpdesk.agent_tickets());
    std::fs::write(net.sonde_config(), config).expect("write sonde config");
    net
}

/// Starts the network (a stale session, `persists` or not), the agent and the run; returns
/// them with the finished run's report.
fn run_flow(tag: &str, persists: bool) -> (Helpdesk, Network, Daemon, RunReport) {
    let helpdesk = Helpdesk::new(tag);
    let net = stale_session(&helpdesk, persists);
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let db = helpdesk.dir.join("sonded.db");
    let daemon = Daemon::start(&net.device, addr, db.to_str().expect("utf-8 path"));
    let report = run_to_the_end(&net, addr);
    (helpdesk, net, daemon, report)
}

/// Starts the run and waits for its end.
fn run_to_the_end(net: &Network, addr: SocketAddr) -> RunReport {
    run_request_to_the_end(net, addr, REQUEST)
}

/// Starts a run of `request` and waits for its end.
fn run_request_to_the_end(net: &Network, addr: SocketAddr, request: &'static str) -> RunReport {
    let run = start_run(&net.device, addr, request);
    wait_report(&net.device, addr, run, Duration::from_secs(120), "the run's end", |r| {
        r.state.is_terminal()
    })
}

/// The states of the run's `action` events, in order.
fn action_states(net: &Network, addr: SocketAddr, run: sonde_protocol::RunId) -> Vec<ActionState> {
    run_events(&net.device, addr, run)
        .into_iter()
        .filter_map(|e| match e.data {
            EventData::Action(a) => Some(a.state),
            _ => None,
        })
        .collect()
}

fn helpdesk_tickets(helpdesk: &Helpdesk) -> Vec<sonde_protocol::TicketRecord> {
    let db = sonde_backend::db::Db::open(&helpdesk.database).expect("helpdesk db");
    db.tickets(&sonde_backend::db::TicketFilter {
        limit: 10,
        ..Default::default()
    })
    .expect("tickets")
}

#[test]
fn a_stale_data_session_is_restored_by_a_reconnect_and_no_ticket_is_opened() {
    if !require_netsim("a_stale_data_session_is_restored_by_a_reconnect_and_no_ticket_is_opened") {
        return;
    }
    let (helpdesk, net, _daemon, report) = run_flow("restored", false);
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let remediation = report.remediation.as_ref().expect("a remediation");
    assert_eq!(remediation.action, "reconnect_data_session");
    assert_eq!(
        remediation.outcome,
        Some(RemediationOutcome::Restored),
        "{remediation:?}"
    );
    let before = remediation.before.as_ref().expect("the diagnosis before");
    assert!(!before.healthy, "the stale session broke the Internet: {before:?}");
    assert!(
        report.diagnosis.as_ref().is_some_and(|d| d.healthy),
        "healthy after the reconnect: {:?}",
        report.findings.iter().map(|f| f.code).collect::<Vec<_>>()
    );
    assert_eq!(
        net.modem().expect("modem").actions(),
        ["mobile-data-off", "mobile-data-on"]
    );
    assert!(report.ticket.is_none(), "{:?}", report.ticket);
    assert_eq!(
        action_states(&net, addr, report.run),
        [
            ActionState::Proposed,
            ActionState::Confirmed,
            ActionState::Started,
            ActionState::Succeeded,
            ActionState::Succeeded,
        ]
    );
    // Nothing reached the helpdesk (which is reachable again now).
    std::thread::sleep(Duration::from_secs(1));
    assert!(helpdesk_tickets(&helpdesk).is_empty());
    drop(net);
}

#[test]
fn a_modem_that_stays_broken_ends_not_restored_with_one_ticket_holding_both_measurements() {
    if !require_netsim("a_modem_that_stays_broken_ends_not_restored_with_one_ticket_holding_both_measurements") {
        return;
    }
    let (helpdesk, net, _daemon, report) = run_flow("not-restored", true);
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let remediation = report.remediation.as_ref().expect("a remediation");
    assert_eq!(
        remediation.outcome,
        Some(RemediationOutcome::NotRestored),
        "{remediation:?}"
    );
    assert!(remediation.before.as_ref().is_some_and(|d| !d.healthy));
    assert!(report.diagnosis.as_ref().is_some_and(|d| !d.healthy));
    assert_eq!(
        net.modem().expect("modem").actions(),
        ["mobile-data-off", "mobile-data-on"]
    );
    // Opened, not delivered yet: the helpdesk is beyond the still-broken session.
    assert!(
        report
            .ticket
            .as_ref()
            .is_some_and(|t| matches!(t.state, TicketState::Queued | TicketState::Sent) && t.ticket_number.is_none()),
        "{:?}",
        report.ticket
    );

    // The operator repairs the session; the queued ticket goes through, once.
    let modem = net.modem().expect("modem");
    modem.set_state(sonde_netsim::peers::modbus::ModemState {
        stale_data_session: false,
        ..modem.state()
    });
    let number = wait_report(
        &net.device,
        addr,
        report.run,
        Duration::from_secs(30),
        "delivered",
        |r| r.ticket.as_ref().is_some_and(|t| t.ticket_number.is_some()),
    )
    .ticket
    .and_then(|t| t.ticket_number)
    .expect("ticket number");
    // The stream (complete once the ticket is settled) ends the flow not restored.
    assert_eq!(
        action_states(&net, addr, report.run).last(),
        Some(&ActionState::Failed),
        "the flow ends not restored"
    );
    let tickets = helpdesk_tickets(&helpdesk);
    assert_eq!(tickets.len(), 1, "exactly one ticket");
    assert_eq!(tickets[0].number, number);
    let submission = &tickets[0].submission;
    assert_eq!(submission.line, "0612345678");
    assert!(
        submission.findings.iter().any(|f| f == "INTERNET_UNREACHABLE"),
        "{submission:?}"
    );
    let evidence = &submission.evidence;
    assert!(
        evidence.starts_with("self-care `reconnect_data_session` did not restore service; before: ")
            && evidence.contains("; after: INTERNET_UNREACHABLE"),
        "{evidence}"
    );
    drop(net);
}

#[test]
fn a_requested_reconnect_is_performed_on_a_healthy_modem_and_judged_by_the_re_test() {
    if !require_netsim("a_requested_reconnect_is_performed_on_a_healthy_modem_and_judged_by_the_re_test") {
        return;
    }
    let helpdesk = Helpdesk::new("requested");
    let net = modem_network(&helpdesk, "stale-data-session = false\n");
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let db = helpdesk.dir.join("sonded.db");
    let _daemon = Daemon::start(&net.device, addr, db.to_str().expect("utf-8 path"));
    let report = run_request_to_the_end(&net, addr, ACTION_REQUEST);
    assert_eq!(report.state, sonde_protocol::RunState::Completed);
    assert_eq!(
        report.request.options.action.as_deref(),
        Some("reconnect_data_session"),
        "the report keeps the request"
    );
    let remediation = report.remediation.as_ref().expect("a remediation");
    assert_eq!(remediation.action, "reconnect_data_session");
    assert_eq!(
        remediation.device.as_deref().map(|d| d.starts_with("modem ")),
        Some(true)
    );
    // Healthy before (nothing proposed it), performed anyway, healthy after: restored.
    assert!(
        remediation.before.as_ref().is_some_and(|d| d.healthy),
        "healthy before: {:?}",
        remediation.before
    );
    assert_eq!(
        remediation.outcome,
        Some(RemediationOutcome::Restored),
        "{remediation:?}"
    );
    assert!(
        report.diagnosis.as_ref().is_some_and(|d| d.healthy),
        "{:?}",
        report.findings
    );
    assert_eq!(
        net.modem().expect("modem").actions(),
        ["mobile-data-off", "mobile-data-on"],
        "the modem's writes happened"
    );
    let actions: Vec<(ActionState, Option<String>)> = run_events(&net.device, addr, report.run)
        .into_iter()
        .filter_map(|e| match e.data {
            EventData::Action(a) => Some((a.state, a.message)),
            _ => None,
        })
        .collect();
    let states: Vec<ActionState> = actions.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        states,
        [
            ActionState::Confirmed,
            ActionState::Started,
            ActionState::Succeeded,
            ActionState::Succeeded,
        ],
        "no `proposed`: the request asked for it"
    );
    assert_eq!(actions[0].1.as_deref(), Some("requested by the client"));
    assert_eq!(actions[3].1.as_deref(), Some("service restored"));
    assert!(report.ticket.is_none(), "{:?}", report.ticket);
    std::thread::sleep(Duration::from_secs(1));
    assert!(helpdesk_tickets(&helpdesk).is_empty());
    drop(net);
}
