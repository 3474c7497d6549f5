//! The mobile check's Modbus client against a scripted Modbus TCP peer on loopback (no
//! namespace, no root): what each kind of failure becomes, and a well-formed answer decoded.
//! The netsim suite (`tests/tests/mobile.rs`) covers the full simulator and pymodbus agreement.

use std::net::SocketAddr;
use std::time::Duration;

use sonde_agent::checks::mobile::{MobileOptions, ModemAction, RegisterMap, perform};
use sonde_agent::checks::{Checks, NoProgress, SystemChecks};
use sonde_agent::config::Config;
use sonde_protocol::{CheckId, CheckResult, CheckStatus, MetricValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the scripted peer answers one request PDU: `Some(pdu)` to answer, `None` to stay silent.
type Script = fn(&[u8]) -> Option<Vec<u8>>;

/// A Modbus TCP peer on 127.0.0.1 that answers each request with `script`.
async fn peer(script: Script) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut header = [0u8; 7];
                while stream.read_exact(&mut header).await.is_ok() {
                    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
                    let mut pdu = vec![0u8; len.saturating_sub(1)];
                    if stream.read_exact(&mut pdu).await.is_err() {
                        return;
                    }
                    let Some(answer) = script(&pdu) else {
                        // Silent: keep the connection open, answer nothing.
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    };
                    let len = u16::try_from(answer.len() + 1).expect("short PDU").to_be_bytes();
                    let mut frame = vec![header[0], header[1], 0, 0, len[0], len[1], header[6]];
                    frame.extend(answer);
                    if stream.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn options(addr: SocketAddr, map: RegisterMap) -> MobileOptions {
    MobileOptions {
        modem: Some(addr),
        map,
        unit_id: 1,
        timeout: Duration::from_millis(300),
    }
}

async fn check(options: MobileOptions) -> CheckResult {
    let config = Config {
        mobile: options,
        ..Config::default()
    };
    SystemChecks::new(config).run(CheckId::Mobile, &NoProgress).await
}

/// The generic-lte block (30 registers from 0): searching, 4G, RSSI −109, RSRP −118,
/// RSRQ −14.0, SINR 3.0, 41.5 °C, SIM 1, up 3600 s, 10 / 20 bytes, operator "Orange F".
fn generic_lte_searching(pdu: &[u8]) -> Option<Vec<u8>> {
    if pdu != [0x03, 0, 0, 0, 30] {
        return Some(vec![0x83, 0x02]);
    }
    let mut words: Vec<u16> = vec![2, 4];
    words.extend([-109i16, -118, -140, 30, 415].map(i16::cast_unsigned));
    words.extend([1, 0, 3600, 0, 10, 0, 20]);
    let mut operator = b"Orange F".to_vec();
    operator.resize(32, 0);
    words.extend(operator.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])));
    let mut answer = vec![0x03, 60];
    answer.extend(words.iter().flat_map(|w| w.to_be_bytes()));
    Some(answer)
}

#[tokio::test]
async fn mobile_check_decodes_a_well_formed_answer() {
    let addr = peer(generic_lte_searching).await;
    let result = check(options(addr, RegisterMap::generic_lte())).await;
    assert_eq!(result.status, CheckStatus::Fail, "{result:?}");
    assert_eq!(
        result.metric("registration").map(|m| m.value.clone()),
        Some(MetricValue::Text("searching".into()))
    );
    assert_eq!(result.number("rsrp_dbm"), Some(-118.0));
    assert_eq!(result.number("rsrq_db"), Some(-14.0));
    assert_eq!(result.number("sinr_db"), Some(3.0));
    assert_eq!(result.number("temperature_c"), Some(41.5));
    assert_eq!(result.number("uptime_s"), Some(3600.0));
    assert!(result.samples.is_some(), "raw samples are kept");
}

#[tokio::test]
async fn mobile_check_without_a_modem_is_skipped() {
    let result = check(MobileOptions::default()).await;
    assert_eq!(result.status, CheckStatus::Skipped);
    assert_eq!(result.reason.as_deref(), Some("no modem configured ([mobile] modem)"));
}

#[tokio::test]
async fn mobile_check_failures_are_errors_with_a_reason() {
    // A closed port: refused.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address")
    };
    let silent: Script = |_| None;
    let exception: Script = |_| Some(vec![0x83, 0x06]);
    let garbage: Script = |pdu| Some(vec![pdu[0], 0x07, 0xDE, 0xAD]);
    // Well framed, but 1 register where 6 were asked for.
    let short: Script = |_| Some(vec![0x03, 2, 0, 1]);
    let cases = [
        (closed, format!("modem not reachable at {closed} (connection refused)")),
        (
            peer(silent).await,
            "did not answer reading registers 1–6 within 300 ms".to_owned(),
        ),
        (
            peer(exception).await,
            "refused reading registers 1–6: Modbus exception 6 (server device busy)".to_owned(),
        ),
        (
            peer(garbage).await,
            "answered garbage to reading registers 1–6".to_owned(),
        ),
        (
            peer(short).await,
            "answered garbage to reading registers 1–6".to_owned(),
        ),
    ];
    for (addr, reason) in cases {
        let result = check(options(addr, RegisterMap::teltonika_rutos())).await;
        assert_eq!(result.status, CheckStatus::Error, "{result:?}");
        let got = result.reason.unwrap_or_default();
        assert!(got.contains(&reason), "{got:?} lacks {reason:?}");
        assert!(got.contains(&addr.to_string()), "{got:?} names the modem");
    }
}

#[tokio::test]
async fn mobile_actions_write_the_maps_registers_and_coils() {
    // Echo every write back (as a Modbus server acknowledges it); refuse anything else.
    let echo: Script = |pdu| matches!(pdu.first(), Some(0x05 | 0x06)).then(|| pdu.to_vec());
    let addr = peer(echo).await;
    for map in [
        RegisterMap::teltonika_rutos(),
        RegisterMap::generic_lte().with_address_offset(1),
    ] {
        for action in [ModemAction::ReconnectData, ModemAction::Reboot] {
            perform(&options(addr, map.clone()), action)
                .await
                .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        }
    }
    // An acknowledgement that does not echo the write is garbage, not success.
    let wrong_echo: Script = |_| Some(vec![0x06, 0, 99, 0, 1]);
    let addr = peer(wrong_echo).await;
    let err = perform(&options(addr, RegisterMap::teltonika_rutos()), ModemAction::Reboot)
        .await
        .expect_err("not echoed");
    assert!(err.to_string().contains("answered garbage"), "{err}");
    let refuse: Script = |pdu| Some(vec![pdu[0] | 0x80, 0x04]);
    let addr = peer(refuse).await;
    let err = perform(&options(addr, RegisterMap::teltonika_rutos()), ModemAction::Reboot)
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!("modem at {addr} refused writing 1 to register 206: Modbus exception 4 (server device failure)")
    );
}
