//! Tickets end to end on a simulated network: the access line is cut, `sonded` diagnoses it,
//! queues the ticket while the helpdesk (a `sonde-backend` beyond the access line) is
//! unreachable, the line heals, and the ticket is delivered once; the SMS stub holds exactly one
//! confirmation with the ticket number, and the run's event stream shows that number.

use std::net::SocketAddr;
use std::time::Duration;

use sonde_netsim::emulator::Impairment;
use sonde_netsim::network::Network;
use sonde_netsim::require_netsim;
use sonde_netsim::scenario::Scenario;
use sonde_protocol::{EventData, TicketState};

use crate::support::{Daemon, Helpdesk, run_events, start_run, wait_report};

const AGENT: &str = "127.0.0.1:8790";

#[test]
fn a_ticket_queued_on_a_cut_line_is_delivered_once_when_the_line_heals() {
    if !require_netsim("a_ticket_queued_on_a_cut_line_is_delivered_once_when_the_line_heals") {
        return;
    }
    let helpdesk = Helpdesk::new("tickets");
    let dir = helpdesk.dir.clone();
    let scenario: Scenario = toml::from_str(&format!(
        "[network]\nnat = true\n[links.access.both]\noutage = true\n{}",
        helpdesk.scenario_peer()
    ))
    .expect("scenario");
    let net = Network::up(&scenario).expect("network up");

    // The device's agent knows the helpdesk; it retries quickly for the test.
    let mut config = std::fs::read_to_string(net.sonde_config()).expect("sonde config");
    config.push_str(&helpdesk.agent_tickets());
    std::fs::write(net.sonde_config(), config).expect("write sonde config");
    let addr: SocketAddr = AGENT.parse().expect("addr");
    let agent_db = dir.join("sonded.db");
    let _daemon = Daemon::start(&net.device, addr, agent_db.to_str().expect("utf-8 path"));

    let request = r#"{"line":{"kind":"box","id":"0102030405"},"problem":"no-internet","contact":"+33612345678"}"#;
    let run = start_run(&net.device, addr, request);

    // Diagnosed; the ticket waits: the helpdesk is beyond the cut line.
    let queued = wait_report(
        &net.device,
        addr,
        run,
        Duration::from_secs(60),
        "a failed delivery",
        |r| r.state.is_terminal() && r.ticket.as_ref().is_some_and(|t| t.last_error.is_some()),
    );
    assert!(
        queued.diagnosis.as_ref().is_some_and(|d| d.operator_must_act),
        "{:?}",
        queued.findings.iter().map(|f| f.code).collect::<Vec<_>>()
    );
    assert_eq!(queued.ticket.as_ref().map(|t| t.state), Some(TicketState::Queued));
    assert!(queued.ticket.as_ref().is_some_and(|t| t.ticket_number.is_none()));

    // The line heals; the ticket goes through.
    net.set_link("access", Impairment::default(), Impairment::default())
        .expect("heal");
    let delivered = wait_report(
        &net.device,
        addr,
        run,
        Duration::from_secs(30),
        "delivered after the heal",
        |r| r.ticket.as_ref().is_some_and(|t| t.ticket_number.is_some()),
    );
    assert_eq!(delivered.ticket.as_ref().map(|t| t.state), Some(TicketState::SmsSent));
    let number = delivered.ticket.and_then(|t| t.ticket_number).expect("ticket number");

    // The client's stream shows the number (and closes once the ticket is settled).
    let events = run_events(&net.device, addr, run);
    let numbers: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Ticket(t) => t.ticket_number.clone(),
            _ => None,
        })
        .collect();
    assert!(numbers.contains(&number), "{numbers:?}");

    // The helpdesk holds exactly one ticket and one SMS, with that number.
    let db = sonde_backend::db::Db::open(&helpdesk.database).expect("helpdesk db");
    let tickets = db
        .tickets(&sonde_backend::db::TicketFilter {
            limit: 10,
            ..Default::default()
        })
        .expect("tickets");
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].number, number);
    let sms = db.sms(None).expect("sms");
    assert_eq!(sms.len(), 1, "exactly one confirmation");
    assert!(sms[0].text.contains(&number), "{}", sms[0].text);
    drop(net);
}
