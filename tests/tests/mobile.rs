//! The agent's `mobile` check against the netsim Modbus modem, on real sockets inside a
//! namespace: what it reads from each register map, how it reports a modem that cannot be read
//! (not reachable, exceptions, garbage, silence), the remediation actions it performs, and
//! agreement with pymodbus, an independent Modbus implementation, on the same modem.

use std::net::SocketAddr;
use std::time::Duration;

use sonde_agent::checks::mobile::{self, MapName, MobileOptions, ModemAction, RegisterMap, WordOrder};
use sonde_agent::checks::{Checks, NoProgress, SystemChecks};
use sonde_agent::config::Config;
use sonde_netsim::peers::modbus::{self, AddressOffset, Mode, ModemState, Rat, Registration};
use sonde_netsim::{Netns, require_netsim};
use sonde_protocol::{CheckId, CheckResult, CheckStatus, Lang, MetricValue};

use crate::modbus::{PYMODBUS_SCRIPT, require_pymodbus, state};

const MODEM: &str = "192.0.2.1:502";

/// A namespace whose loopback has the box's address, and maybe a modem on it.
struct Lab {
    modem: Option<modbus::Handle>,
    ns: Netns,
}

impl Lab {
    fn empty() -> Self {
        let ns = Netns::new("mobile").expect("namespace");
        ns.ip(&["addr", "add", "192.0.2.1/32", "dev", "lo"])
            .expect("address on lo");
        Self { modem: None, ns }
    }

    fn with_modem(map: modbus::RegisterMap, state: ModemState, mode: Mode) -> Self {
        let mut lab = Self::empty();
        let modem = modbus::spawn(&lab.ns, addr(), map, state, mode).expect("start the modem");
        lab.modem = Some(modem);
        lab
    }

    fn modem(&self) -> &modbus::Handle {
        self.modem.as_ref().expect("a modem")
    }

    /// Runs the agent's mobile check (as the runner does) inside the namespace.
    fn check(&self, options: MobileOptions) -> CheckResult {
        let config = Config {
            mobile: options,
            ..Config::default()
        };
        self.inside(move || async move { SystemChecks::new(config).run(CheckId::Mobile, &NoProgress).await })
    }

    /// Runs `f`'s future on a runtime on a thread inside the namespace.
    fn inside<T, F>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        F: Future<Output = T>,
        T: Send + 'static,
    {
        self.ns
            .run_inside(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(f())
            })
            .expect("a thread inside the namespace")
    }
}

fn addr() -> SocketAddr {
    MODEM.parse().expect("address")
}

fn options(map: RegisterMap) -> MobileOptions {
    MobileOptions {
        modem: Some(addr()),
        map,
        unit_id: 1,
        timeout: Duration::from_millis(500),
    }
}

fn value(result: &CheckResult, name: &str) -> MetricValue {
    result
        .metric(name)
        .map_or_else(|| panic!("no metric {name}: {result:?}"), |m| m.value.clone())
}

fn number(result: &CheckResult, name: &str) -> f64 {
    value(result, name)
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not a number: {result:?}"))
}

fn reason(result: &CheckResult) -> &str {
    result.reason.as_deref().unwrap_or("")
}

#[test]
fn mobile_searching_modem_fails_with_its_registration_as_evidence() {
    if !require_netsim("mobile_searching_modem_fails_with_its_registration_as_evidence") {
        return;
    }
    let searching = ModemState {
        registration: Registration::Searching,
        ..state()
    };
    let lab = Lab::with_modem(modbus::RegisterMap::teltonika_rutos(), searching, Mode::Normal);
    let result = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(result.status, CheckStatus::Fail, "{result:?}");
    assert!(reason(&result).contains("no service: searching"), "{result:?}");
    let registration = result.metric("registration").expect("registration");
    assert_eq!(registration.value, MetricValue::Text("searching".to_owned()));
    assert_eq!(registration.status, Some(CheckStatus::Fail));
    let diagnosis = sonde_agent::diagnose::diagnose(&[result], &Default::default(), Lang::En);
    let root = diagnosis.findings.first().expect("a finding");
    assert_eq!(root.code.as_str(), "MOBILE_NO_SERVICE");
    assert!(
        root.evidence
            .iter()
            .any(|e| e.metric == "registration" && e.value.as_str() == Some("searching")),
        "{:?}",
        root.evidence
    );
}

#[test]
fn mobile_unreachable_modem_is_an_error_not_a_fail() {
    if !require_netsim("mobile_unreachable_modem_is_an_error_not_a_fail") {
        return;
    }
    // No modem at all on the address: the connection is refused.
    let lab = Lab::empty();
    let result = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(result.status, CheckStatus::Error, "{result:?}");
    assert_eq!(
        reason(&result),
        "modem not reachable at 192.0.2.1:502 (connection refused)"
    );
    // A modem on another port than configured.
    let lab = Lab::with_modem(modbus::RegisterMap::teltonika_rutos(), state(), Mode::Normal);
    let wrong_port = MobileOptions {
        modem: Some("192.0.2.1:503".parse().expect("address")),
        ..options(RegisterMap::teltonika_rutos())
    };
    let result = lab.check(wrong_port);
    assert_eq!(result.status, CheckStatus::Error, "{result:?}");
    assert!(
        reason(&result).starts_with("modem not reachable at 192.0.2.1:503"),
        "{result:?}"
    );
    // An address nothing answers (no route inside the namespace).
    let nowhere = MobileOptions {
        modem: Some("198.51.100.7:502".parse().expect("address")),
        ..options(RegisterMap::teltonika_rutos())
    };
    let result = lab.check(nowhere);
    assert_eq!(result.status, CheckStatus::Error, "{result:?}");
    assert!(
        reason(&result).starts_with("modem not reachable at 198.51.100.7:502"),
        "{result:?}"
    );
    assert_eq!(lab.modem().requests(), 0);
}

#[test]
fn mobile_rsrp_is_reported_where_the_map_has_it_and_said_missing_where_not() {
    if !require_netsim("mobile_rsrp_is_reported_where_the_map_has_it_and_said_missing_where_not") {
        return;
    }
    let lab = Lab::with_modem(modbus::RegisterMap::teltonika_rutos(), state(), Mode::Normal);
    let teltonika = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(teltonika.status, CheckStatus::Pass, "{teltonika:?}");
    for name in ["rsrp_dbm", "rsrq_db", "sinr_db"] {
        assert_eq!(
            value(&teltonika, name),
            MetricValue::Text("not reported by this modem".to_owned()),
            "{name}"
        );
    }
    assert_eq!(number(&teltonika, "rssi_dbm"), -71.0);
    assert_eq!(number(&teltonika, "temperature_c"), 41.5);
    assert_eq!(value(&teltonika, "operator"), MetricValue::Text("Orange F".to_owned()));
    assert_eq!(value(&teltonika, "rat"), MetricValue::Text("4g".to_owned()));
    assert_eq!(number(&teltonika, "rx_bytes_today"), 123_456_789.0);
    drop(lab);

    let sim_map = modbus::RegisterMap::generic_lte()
        .with_word_order(modbus::WordOrder::Cdab)
        .with_address_offset(AddressOffset::try_from(1).expect("offset"));
    let lab = Lab::with_modem(sim_map, state(), Mode::Normal);
    let map = RegisterMap::builtin(MapName::GenericLte)
        .with_word_order(WordOrder::Cdab)
        .with_address_offset(1);
    let lte = lab.check(options(map));
    assert_eq!(number(&lte, "rsrp_dbm"), -101.0, "{lte:?}");
    assert_eq!(number(&lte, "rsrq_db"), -11.5);
    assert_eq!(number(&lte, "sinr_db"), 7.2);
    assert_eq!(number(&lte, "uptime_s").floor(), number(&lte, "uptime_s"));
    assert!(number(&lte, "uptime_s") >= 90_061.0);
    assert_eq!(number(&lte, "tx_bytes_today"), 9_876_543.0);
    assert_eq!(lte.status, CheckStatus::Warn, "RSRP -101 is poor: {lte:?}");
    assert!(reason(&lte).contains("rsrp_dbm -101 ≤ -100 (warn)"), "{lte:?}");

    // The same modem read with the wrong word order or offset is refused or implausible, never
    // silently wrong: the simulator refuses reads that cut a field.
    let wrong = lab.check(options(RegisterMap::generic_lte()));
    assert_eq!(wrong.status, CheckStatus::Error, "{wrong:?}");
    assert!(
        reason(&wrong).contains("Modbus exception 2 (illegal data address)"),
        "{wrong:?}"
    );
}

#[test]
fn mobile_modbus_exceptions_garbage_and_silence_are_errors_with_a_reason() {
    if !require_netsim("mobile_modbus_exceptions_garbage_and_silence_are_errors_with_a_reason") {
        return;
    }
    let lab = Lab::with_modem(modbus::RegisterMap::teltonika_rutos(), state(), Mode::Exception(4));
    let result = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(result.status, CheckStatus::Error);
    assert_eq!(
        reason(&result),
        "modem at 192.0.2.1:502 refused reading registers 1–6: Modbus exception 4 (server device failure)"
    );
    lab.modem().set_mode(Mode::Garbage);
    let result = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(result.status, CheckStatus::Error);
    assert!(
        reason(&result).starts_with("modem at 192.0.2.1:502 answered garbage to reading registers 1–6"),
        "{result:?}"
    );
    lab.modem().set_mode(Mode::Drop);
    let result = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(result.status, CheckStatus::Error);
    assert_eq!(
        reason(&result),
        "modem at 192.0.2.1:502 did not answer reading registers 1–6 within 500 ms"
    );
    // Impossible values in well-formed answers are garbage too.
    lab.modem().set_mode(Mode::Normal);
    lab.modem().set_state(ModemState {
        temperature_c: 900.0,
        ..state()
    });
    let result = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(result.status, CheckStatus::Error);
    assert!(
        reason(&result).contains("answered garbage to register 5: temperature (°C) 900"),
        "{result:?}"
    );
}

#[test]
fn mobile_actions_performed_by_the_agent_are_seen_by_the_modem() {
    if !require_netsim("mobile_actions_performed_by_the_agent_are_seen_by_the_modem") {
        return;
    }
    let stale = ModemState {
        stale_data_session: true,
        ..state()
    };
    let lab = Lab::with_modem(modbus::RegisterMap::teltonika_rutos(), stale.clone(), Mode::Normal);
    let map = RegisterMap::teltonika_rutos();
    assert_eq!(mobile::actions(&map), [ModemAction::ReconnectData, ModemAction::Reboot]);
    let opts = options(map);
    let reconnect = lab.inside(move || async move { mobile::perform(&opts, ModemAction::ReconnectData).await });
    reconnect.expect("reconnect");
    assert_eq!(lab.modem().actions(), ["mobile-data-off", "mobile-data-on"]);
    assert!(!lab.modem().state().stale_data_session, "session re-established");
    let opts = options(RegisterMap::teltonika_rutos());
    lab.inside(move || async move { mobile::perform(&opts, ModemAction::Reboot).await })
        .expect("reboot");
    assert_eq!(lab.modem().actions().last().map(String::as_str), Some("reboot"));
    assert!(lab.modem().state().uptime_s < 5, "rebooted");
    drop(lab);

    let sim_map = modbus::RegisterMap::generic_lte().with_address_offset(AddressOffset::try_from(1).expect("offset"));
    let lab = Lab::with_modem(sim_map, stale, Mode::Normal);
    let opts = options(RegisterMap::generic_lte().with_address_offset(1));
    lab.inside(move || async move { mobile::perform(&opts, ModemAction::ReconnectData).await })
        .expect("reconnect");
    assert_eq!(lab.modem().actions(), ["reconnect"]);
    assert!(!lab.modem().state().stale_data_session);
    // A refused action is an error naming the exception, and the modem is left as it was.
    lab.modem().set_mode(Mode::Exception(6));
    let opts = options(RegisterMap::generic_lte().with_address_offset(1));
    let refused = lab.inside(move || async move { mobile::perform(&opts, ModemAction::Reboot).await });
    let text = refused.expect_err("refused").to_string();
    assert_eq!(
        text,
        "modem at 192.0.2.1:502 refused writing ON to coil 2: Modbus exception 6 (server device busy)"
    );
    assert_eq!(lab.modem().actions(), ["reconnect"]);
}

// ---- pymodbus: an independent implementation reads the same modem ----

/// pymodbus's readings of the lab's modem (the modbus suite's script: `name:address:count:type:
/// word-order` per value), or `None` (after a loud skip) when pymodbus is missing and netsim is
/// not required.
fn pymodbus(lab: &Lab, test: &str, specs: &[&str]) -> Option<Vec<(String, String)>> {
    if !require_pymodbus(test) {
        return None;
    }
    let out = lab
        .ns
        .command("python3")
        .args(["-c", PYMODBUS_SCRIPT, "192.0.2.1", "502"])
        .args(specs)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pymodbus failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
    )
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or_else(|| panic!("pymodbus gave no {name}: {pairs:?}"), |(_, v)| v.as_str())
}

#[test]
fn mobile_agent_reads_what_pymodbus_reads_on_the_teltonika_map() {
    const TEST: &str = "mobile_agent_reads_what_pymodbus_reads_on_the_teltonika_map";
    if !require_netsim(TEST) {
        return;
    }
    let roaming_3g = ModemState {
        registration: Registration::Roaming,
        rat: Rat::G3,
        rssi_dbm: -93,
        temperature_c: 57.3,
        sim_slot: 2,
        ..state()
    };
    let lab = Lab::with_modem(modbus::RegisterMap::teltonika_rutos(), roaming_3g, Mode::Normal);
    let Some(py) = pymodbus(
        &lab,
        TEST,
        &[
            "rssi:3:2:INT32:big",
            "temperature:5:2:INT32:big",
            "operator:23:16:STRING:big",
            "registration:103:16:STRING:big",
            "network-type:119:16:STRING:big",
            "active-sim:205:1:UINT16:big",
            "rx-sim2:300:2:UINT32:big",
            "tx-sim2:302:2:UINT32:big",
        ],
    ) else {
        return;
    };
    let ours = lab.check(options(RegisterMap::teltonika_rutos()));
    assert_eq!(number(&ours, "rssi_dbm").to_string(), get(&py, "rssi"));
    // pymodbus gives the raw register (0.1 °C); the agent scales it.
    assert_eq!(
        (number(&ours, "temperature_c") * 10.0).round().to_string(),
        get(&py, "temperature")
    );
    assert_eq!(value(&ours, "operator").as_str(), Some(get(&py, "operator")));
    assert_eq!(get(&py, "registration"), "Registered, roaming");
    assert_eq!(value(&ours, "registration").as_str(), Some("roaming"));
    assert_eq!(get(&py, "network-type"), "WCDMA");
    assert_eq!(value(&ours, "rat").as_str(), Some("3g"));
    assert_eq!(number(&ours, "active_sim").to_string(), get(&py, "active-sim"));
    assert_eq!(number(&ours, "rx_bytes_today").to_string(), get(&py, "rx-sim2"));
    assert_eq!(number(&ours, "tx_bytes_today").to_string(), get(&py, "tx-sim2"));
    assert_eq!(ours.status, CheckStatus::Warn, "3G RSSI -93 is fair: {ours:?}");
}

#[test]
fn mobile_agent_reads_what_pymodbus_reads_on_the_generic_lte_map_word_swapped_and_offset() {
    const TEST: &str = "mobile_agent_reads_what_pymodbus_reads_on_the_generic_lte_map_word_swapped_and_offset";
    if !require_netsim(TEST) {
        return;
    }
    let sim_map = modbus::RegisterMap::generic_lte()
        .with_word_order(modbus::WordOrder::Cdab)
        .with_address_offset(AddressOffset::try_from(1).expect("offset"));
    let five_g = ModemState {
        rat: Rat::G5,
        rsrp_dbm: -87,
        rsrq_db: -8.5,
        sinr_db: 21.4,
        rx_bytes: 3_000_000_000,
        ..state()
    };
    let lab = Lab::with_modem(sim_map, five_g, Mode::Normal);
    // pymodbus's word_order "little" is CDAB for 32-bit values.
    let Some(py) = pymodbus(
        &lab,
        TEST,
        &[
            "registration:1:1:UINT16:big",
            "rat:2:1:UINT16:big",
            "rssi:3:1:INT16:big",
            "rsrp:4:1:INT16:big",
            "rsrq:5:1:INT16:big",
            "sinr:6:1:INT16:big",
            "rx:11:2:UINT32:little",
            "tx:13:2:UINT32:little",
            "operator:15:16:STRING:big",
        ],
    ) else {
        return;
    };
    let map = RegisterMap::generic_lte()
        .with_word_order(WordOrder::Cdab)
        .with_address_offset(1);
    let ours = lab.check(options(map));
    assert_eq!(ours.status, CheckStatus::Pass, "{ours:?}");
    assert_eq!(
        (get(&py, "registration"), value(&ours, "registration").as_str()),
        ("1", Some("home"))
    );
    assert_eq!((get(&py, "rat"), value(&ours, "rat").as_str()), ("5", Some("5g")));
    assert_eq!(number(&ours, "rssi_dbm").to_string(), get(&py, "rssi"));
    assert_eq!(number(&ours, "rsrp_dbm").to_string(), get(&py, "rsrp"));
    assert_eq!((number(&ours, "rsrq_db") * 10.0).round().to_string(), get(&py, "rsrq"));
    assert_eq!((number(&ours, "sinr_db") * 10.0).round().to_string(), get(&py, "sinr"));
    assert_eq!(number(&ours, "rx_bytes_today").to_string(), get(&py, "rx"));
    assert_eq!(get(&py, "rx"), "3000000000");
    assert_eq!(number(&ours, "tx_bytes_today").to_string(), get(&py, "tx"));
    assert_eq!(value(&ours, "operator").as_str(), Some(get(&py, "operator")));
}
