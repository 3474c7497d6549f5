//! The nl80211 fixtures: each one a dump as the kernel answers the request `iw` sends, with the
//! `iw` output it corresponds to as the file's comment. `SONDE_BLESS=1` rewrites the files.

use super::kernel::{
    BssSpec, Chandef, Dump, Iface, Mlo, RateSpec, StaInfo, StationSpec, SurveySpec, ht_operation, ies, interface, rsn,
    scan_result, station, survey_entry, vht_operation, wpa_tkip,
};
use sonde_agent::checks::wifi::nl80211::rate;

/// A fixture: file stem, the `iw` output it reproduces, the bytes.
pub struct Fixture {
    pub name: &'static str,
    pub iw: &'static str,
    pub bytes: Vec<u8>,
}

const WIFI5_IF: u32 = 3;
const WIFI6_IF: u32 = 4;
const WIFI7_IF: u32 = 5;

fn vht(bitrate: u32, mcs: u8, nss: u8, short_gi: bool) -> RateSpec {
    RateSpec {
        bitrate,
        phy: "vht",
        mcs,
        nss,
        gi: u8::from(short_gi),
        width_flag: rate::WIDTH_80,
    }
}

fn he(bitrate: u32, mcs: u8, nss: u8) -> RateSpec {
    RateSpec {
        bitrate,
        phy: "he",
        mcs,
        nss,
        gi: 0,
        width_flag: rate::WIDTH_80,
    }
}

fn eht(bitrate: u32, mcs: u8, width_flag: u16) -> RateSpec {
    RateSpec {
        bitrate,
        phy: "eht",
        mcs,
        nss: 2,
        gi: 0,
        width_flag,
    }
}

/// A station dump with one access point.
fn one_station(ifindex: u32, mac: &str, info: StaInfo) -> Vec<u8> {
    let mut d = Dump::new(2);
    station(
        &mut d,
        &StationSpec {
            ifindex,
            mac,
            info,
            mlo: None,
        },
    );
    d.done()
}

fn wifi5_interface() -> Vec<u8> {
    let mut d = Dump::new(1);
    interface(
        &mut d,
        &Iface {
            ifindex: WIFI5_IF,
            name: "wlp2s0",
            mac: "3c:a9:f4:12:34:56",
            ssid: Some("Livebox-1234"),
            channel: Some(Chandef {
                freq: 5180,
                width: 3,
                center1: 5210,
            }),
            links: Vec::new(),
        },
    );
    d.done()
}

fn wifi5_station(connected_s: u32, tx_packets: u32, tx_retries: u32, tx_failed: u32) -> Vec<u8> {
    one_station(
        WIFI5_IF,
        "8c:97:ea:aa:bb:cc",
        StaInfo {
            connected_s: Some(connected_s),
            inactive_ms: 120,
            rx_bytes: 912_345_678,
            tx_bytes: 123_456_789,
            signal: Some((-58, -57)),
            chains: &[-60, -61],
            tx: Some(vht(8667, 9, 2, true)),
            rx: Some(vht(7800, 8, 2, true)),
            rx_packets: 701_234,
            tx_packets,
            tx_retries,
            tx_failed,
            expected_kbps: Some(520_507),
            beacon_loss: Some(1),
            beacon_rx: Some(55_000),
        },
    )
}

fn weak_station() -> Vec<u8> {
    one_station(
        WIFI5_IF,
        "8c:97:ea:aa:bb:cc",
        StaInfo {
            connected_s: Some(95),
            inactive_ms: 40,
            rx_bytes: 5_123_456,
            tx_bytes: 2_345_678,
            signal: Some((-82, -81)),
            chains: &[-83, -85],
            tx: Some(vht(585, 1, 1, false)),
            rx: Some(vht(293, 0, 1, false)),
            rx_packets: 8_000,
            tx_packets: 10_000,
            tx_retries: 3_000,
            tx_failed: 200,
            expected_kbps: Some(31_200),
            beacon_loss: Some(4),
            beacon_rx: Some(900),
        },
    )
}

fn survey_with_noise(active: u64, busy: u64) -> Vec<u8> {
    let mut d = Dump::new(3);
    survey_entry(
        &mut d,
        WIFI5_IF,
        &SurveySpec {
            freq: 5180,
            noise: Some(-95),
            in_use: true,
            active,
            busy,
            rx: busy * 4 / 5,
            tx: busy / 10,
        },
    );
    survey_entry(
        &mut d,
        WIFI5_IF,
        &SurveySpec {
            freq: 5200,
            noise: Some(-96),
            in_use: false,
            active: 120,
            busy: 31,
            rx: 25,
            tx: 0,
        },
    );
    d.done()
}

fn scan() -> Vec<u8> {
    let mut d = Dump::new(4);
    let networks = [
        BssSpec {
            bssid: "8c:97:ea:aa:bb:cc",
            freq: 5180,
            signal_mbm: -5800,
            capability: 0x1111,
            associated: true,
            ies: ies(
                "Livebox-1234",
                &[&rsn(&[2]), &ht_operation(36, 1), &vht_operation(1, 42, 0)],
            ),
        },
        BssSpec {
            bssid: "f4:ca:e5:01:02:03",
            freq: 5180,
            signal_mbm: -7500,
            capability: 0x1111,
            associated: false,
            ies: ies(
                "Voisin-5G",
                &[&rsn(&[8]), &ht_operation(36, 1), &vht_operation(1, 42, 0)],
            ),
        },
        BssSpec {
            bssid: "00:24:d4:0a:0b:0c",
            freq: 5220,
            signal_mbm: -8000,
            capability: 0x0101,
            associated: false,
            ies: ies("FreeWifi", &[&ht_operation(44, 0)]),
        },
        BssSpec {
            bssid: "e8:ad:a6:11:22:33",
            freq: 5500,
            signal_mbm: -8500,
            capability: 0x1111,
            associated: false,
            ies: ies(
                "Bbox-XYZ",
                &[&rsn(&[2, 8]), &ht_operation(100, 1), &vht_operation(1, 106, 0)],
            ),
        },
        BssSpec {
            bssid: "00:14:6c:7e:8f:90",
            freq: 2437,
            signal_mbm: -7000,
            capability: 0x0411,
            associated: false,
            ies: ies("OldRouter", &[]),
        },
        BssSpec {
            bssid: "00:1a:2b:3c:4d:5e",
            freq: 2412,
            signal_mbm: -8800,
            capability: 0x0411,
            associated: false,
            ies: ies("Legacy-WPA", &[&wpa_tkip()]),
        },
    ];
    for network in &networks {
        scan_result(&mut d, WIFI5_IF, network);
    }
    d.done()
}

fn wifi6_interface() -> Vec<u8> {
    let mut d = Dump::new(1);
    interface(
        &mut d,
        &Iface {
            ifindex: WIFI6_IF,
            name: "wlp3s0",
            mac: "a4:c3:f0:85:11:22",
            ssid: Some("Freebox-6E"),
            channel: Some(Chandef {
                freq: 5500,
                width: 3,
                center1: 5530,
            }),
            links: Vec::new(),
        },
    );
    d.done()
}

fn wifi6_station() -> Vec<u8> {
    one_station(
        WIFI6_IF,
        "34:27:92:10:20:30",
        StaInfo {
            connected_s: Some(120),
            inactive_ms: 8,
            rx_bytes: 6_000_000_000,
            tx_bytes: 700_000_000,
            signal: Some((-71, -70)),
            chains: &[-72, -74],
            tx: Some(he(12010, 11, 2)),
            rx: Some(he(9607, 9, 2)),
            rx_packets: 4_100_000,
            tx_packets: 50_000,
            tx_retries: 6_000,
            tx_failed: 100,
            expected_kbps: Some(600_000),
            beacon_loss: Some(3),
            beacon_rx: Some(1_170),
        },
    )
}

fn survey_without_noise() -> Vec<u8> {
    let mut d = Dump::new(3);
    for (freq, in_use, active, busy) in [(5500, true, 50_000, 20_000), (5520, false, 110, 4)] {
        survey_entry(
            &mut d,
            WIFI6_IF,
            &SurveySpec {
                freq,
                noise: None,
                in_use,
                active,
                busy,
                rx: busy / 2,
                tx: busy / 4,
            },
        );
    }
    d.done()
}

fn wifi7_interface() -> Vec<u8> {
    let mut d = Dump::new(1);
    interface(
        &mut d,
        &Iface {
            ifindex: WIFI7_IF,
            name: "wlan0",
            mac: "f0:9e:4a:55:66:77",
            ssid: Some("Livebox-7"),
            channel: None,
            links: vec![
                (
                    0,
                    "f0:9e:4a:55:66:78",
                    Chandef {
                        freq: 5180,
                        width: 5,
                        center1: 5250,
                    },
                ),
                (
                    1,
                    "f0:9e:4a:55:66:79",
                    Chandef {
                        freq: 6135,
                        width: 13,
                        center1: 6105,
                    },
                ),
            ],
        },
    );
    d.done()
}

fn wifi7_station() -> Vec<u8> {
    let link = |signal: i8, tx: RateSpec, rx: RateSpec, tx_packets: u32, expected: u32| StaInfo {
        connected_s: None,
        inactive_ms: 10,
        rx_bytes: 3_000_000_000,
        tx_bytes: 400_000_000,
        signal: Some((signal, signal + 1)),
        chains: &[],
        tx: Some(tx),
        rx: Some(rx),
        rx_packets: 2_000_000,
        tx_packets,
        tx_retries: tx_packets / 50,
        tx_failed: tx_packets / 10_000,
        expected_kbps: Some(expected),
        beacon_loss: None,
        beacon_rx: None,
    };
    let mut d = Dump::new(2);
    station(
        &mut d,
        &StationSpec {
            ifindex: WIFI7_IF,
            mac: "02:11:22:33:44:55",
            info: StaInfo {
                connected_s: Some(600),
                inactive_ms: 10,
                rx_bytes: 6_000_000_000,
                tx_bytes: 800_000_000,
                signal: None,
                chains: &[],
                tx: None,
                rx: None,
                rx_packets: 4_000_000,
                tx_packets: 300_000,
                tx_retries: 6_000,
                tx_failed: 30,
                expected_kbps: None,
                beacon_loss: Some(0),
                beacon_rx: Some(6_000),
            },
            mlo: Some(Mlo {
                assoc: 0,
                mld: "f0:9e:4a:55:66:77",
                links: vec![
                    (
                        0,
                        "a0:11:22:33:44:01",
                        link(
                            -52,
                            eht(24019, 11, rate::WIDTH_160),
                            eht(19216, 9, rate::WIDTH_160),
                            100_000,
                            1_800_000,
                        ),
                    ),
                    (
                        1,
                        "a0:11:22:33:44:02",
                        link(
                            -60,
                            eht(57647, 13, rate::WIDTH_320),
                            eht(51882, 12, rate::WIDTH_320),
                            200_000,
                            4_100_000,
                        ),
                    ),
                ],
            }),
        },
    );
    d.done()
}

fn disconnected_interface() -> Vec<u8> {
    let mut d = Dump::new(1);
    interface(
        &mut d,
        &Iface {
            ifindex: WIFI5_IF,
            name: "wlp2s0",
            mac: "3c:a9:f4:12:34:56",
            ssid: None,
            channel: None,
            links: Vec::new(),
        },
    );
    d.done()
}

/// Every fixture.
pub fn all() -> Vec<Fixture> {
    vec![
        Fixture {
            name: "interface-wifi5",
            iw: "iw dev wlp2s0 info\n\
                 Interface wlp2s0\n\tifindex 3\n\twdev 0x1\n\taddr 3c:a9:f4:12:34:56\n\tssid Livebox-1234\n\
                 \ttype managed\n\twiphy 0\n\tchannel 36 (5180 MHz), width: 80 MHz, center1: 5210 MHz\n\
                 \ttxpower 22.00 dBm",
            bytes: wifi5_interface(),
        },
        Fixture {
            name: "station-wifi5-t0",
            iw: "iw dev wlp2s0 station dump   (WiFi 5, VHT)\n\
                 Station 8c:97:ea:aa:bb:cc (on wlp2s0)\n\tinactive time:\t120 ms\n\trx bytes:\t912345678\n\
                 \trx packets:\t701234\n\ttx bytes:\t123456789\n\ttx packets:\t200000\n\ttx retries:\t9000\n\
                 \ttx failed:\t40\n\tbeacon loss:\t1\n\tbeacon rx:\t55000\n\tsignal:  \t-58 [-60, -61] dBm\n\
                 \tsignal avg:\t-57 [-59, -60] dBm\n\tbeacon signal avg:\t-56 dBm\n\
                 \ttx bitrate:\t866.7 MBit/s VHT-MCS 9 80MHz short GI VHT-NSS 2\n\
                 \trx bitrate:\t780.0 MBit/s VHT-MCS 8 80MHz short GI VHT-NSS 2\n\
                 \texpected throughput:\t520.507Mbps\n\tauthorized:\tyes\n\tauthenticated:\tyes\n\
                 \tassociated:\tyes\n\tWMM/WME:\tyes\n\tMFP:\t\tyes\n\tDTIM period:\t2\n\
                 \tbeacon interval:100\n\tshort preamble:\tyes\n\tshort slot time:yes\n\
                 \tconnected time:\t3600 seconds",
            bytes: wifi5_station(3600, 200_000, 9_000, 40),
        },
        Fixture {
            name: "station-wifi5-t1",
            iw: "iw dev wlp2s0 station dump, one second later\n\
                 Station 8c:97:ea:aa:bb:cc (on wlp2s0)\n\ttx packets:\t201000\n\ttx retries:\t9040\n\
                 \ttx failed:\t41\n\t(the rest as in station-wifi5-t0)\n\tconnected time:\t3601 seconds",
            bytes: wifi5_station(3601, 201_000, 9_040, 41),
        },
        Fixture {
            name: "station-weak",
            iw: "iw dev wlp2s0 station dump   (far from the AP)\n\
                 Station 8c:97:ea:aa:bb:cc (on wlp2s0)\n\ttx packets:\t10000\n\ttx retries:\t3000\n\
                 \ttx failed:\t200\n\tbeacon loss:\t4\n\tsignal:  \t-82 [-83, -85] dBm\n\
                 \tsignal avg:\t-81 [-82, -84] dBm\n\ttx bitrate:\t58.5 MBit/s VHT-MCS 1 80MHz VHT-NSS 1\n\
                 \trx bitrate:\t29.3 MBit/s VHT-MCS 0 80MHz VHT-NSS 1\n\texpected throughput:\t31.200Mbps\n\
                 \tconnected time:\t95 seconds",
            bytes: weak_station(),
        },
        Fixture {
            name: "survey-noise-t0",
            iw: "iw dev wlp2s0 survey dump   (ath10k: noise and channel times)\n\
                 Survey data from wlp2s0\n\tfrequency:\t\t\t5180 MHz [in use]\n\tnoise:\t\t\t\t-95 dBm\n\
                 \tchannel active time:\t\t1000000 ms\n\tchannel busy time:\t\t250000 ms\n\
                 \tchannel receive time:\t\t200000 ms\n\tchannel transmit time:\t\t25000 ms\n\
                 Survey data from wlp2s0\n\tfrequency:\t\t\t5200 MHz\n\tnoise:\t\t\t\t-96 dBm\n\
                 \tchannel active time:\t\t120 ms\n\tchannel busy time:\t\t31 ms\n\
                 \tchannel receive time:\t\t25 ms\n\tchannel transmit time:\t\t0 ms",
            bytes: survey_with_noise(1_000_000, 250_000),
        },
        Fixture {
            name: "survey-noise-t1",
            iw: "iw dev wlp2s0 survey dump, one second later\n\
                 Survey data from wlp2s0\n\tfrequency:\t\t\t5180 MHz [in use]\n\tnoise:\t\t\t\t-95 dBm\n\
                 \tchannel active time:\t\t1001000 ms\n\tchannel busy time:\t\t250300 ms\n\t…",
            bytes: survey_with_noise(1_001_000, 250_300),
        },
        Fixture {
            name: "scan-neighbours",
            iw: "iw dev wlp2s0 scan dump   (cached results; six BSSs)\n\
                 BSS 8c:97:ea:aa:bb:cc(on wlp2s0) -- associated\n\tfreq: 5180\n\tcapability: ESS Privacy \
                 SpectrumMgmt RadioMeasure (0x1111)\n\tsignal: -58.00 dBm\n\tSSID: Livebox-1234\n\
                 \tRSN:\t * Version: 1\n\t\t * Group cipher: CCMP\n\t\t * Pairwise ciphers: CCMP\n\
                 \t\t * Authentication suites: PSK\n\tHT operation: * primary channel: 36 * secondary channel \
                 offset: above\n\tVHT operation: * channel width: 1 (80 MHz) * center freq segment 1: 42\n\
                 BSS f4:ca:e5:01:02:03(on wlp2s0)\n\tfreq: 5180\n\tsignal: -75.00 dBm\n\tSSID: Voisin-5G\n\
                 \tRSN: * Authentication suites: SAE\n\
                 BSS 00:24:d4:0a:0b:0c(on wlp2s0)\n\tfreq: 5220\n\tcapability: ESS (0x0101)\n\
                 \tsignal: -80.00 dBm\n\tSSID: FreeWifi\n\tHT operation: * secondary channel offset: no secondary\n\
                 BSS e8:ad:a6:11:22:33(on wlp2s0)\n\tfreq: 5500\n\tsignal: -85.00 dBm\n\tSSID: Bbox-XYZ\n\
                 \tRSN: * Authentication suites: PSK SAE\n\
                 BSS 00:14:6c:7e:8f:90(on wlp2s0)\n\tfreq: 2437\n\tcapability: ESS Privacy ShortSlotTime \
                 (0x0411)\n\tsignal: -70.00 dBm\n\tSSID: OldRouter\n\
                 BSS 00:1a:2b:3c:4d:5e(on wlp2s0)\n\tfreq: 2412\n\tsignal: -88.00 dBm\n\tSSID: Legacy-WPA\n\
                 \tWPA:\t * Version: 1\n\t\t * Group cipher: TKIP\n\t\t * Pairwise ciphers: TKIP\n\
                 \t\t * Authentication suites: PSK",
            bytes: scan(),
        },
        Fixture {
            name: "interface-wifi6",
            iw: "iw dev wlp3s0 info\n\
                 Interface wlp3s0\n\tifindex 4\n\taddr a4:c3:f0:85:11:22\n\tssid Freebox-6E\n\ttype managed\n\
                 \tchannel 100 (5500 MHz), width: 80 MHz, center1: 5530 MHz",
            bytes: wifi6_interface(),
        },
        Fixture {
            name: "station-wifi6",
            iw: "iw dev wlp3s0 station dump   (WiFi 6, HE)\n\
                 Station 34:27:92:10:20:30 (on wlp3s0)\n\ttx packets:\t50000\n\ttx retries:\t6000\n\
                 \ttx failed:\t100\n\tbeacon loss:\t3\n\tsignal:  \t-71 [-72, -74] dBm\n\
                 \tsignal avg:\t-70 [-71, -73] dBm\n\
                 \ttx bitrate:\t1201.0 MBit/s 80MHz HE-MCS 11 HE-NSS 2 HE-GI 0 HE-DCM 0\n\
                 \trx bitrate:\t960.7 MBit/s 80MHz HE-MCS 9 HE-NSS 2 HE-GI 0 HE-DCM 0\n\
                 \texpected throughput:\t600.000Mbps\n\tconnected time:\t120 seconds",
            bytes: wifi6_station(),
        },
        Fixture {
            name: "survey-no-noise",
            iw: "iw dev wlp3s0 survey dump   (a driver without noise figures)\n\
                 Survey data from wlp3s0\n\tfrequency:\t\t\t5500 MHz [in use]\n\
                 \tchannel active time:\t\t50000 ms\n\tchannel busy time:\t\t20000 ms\n\
                 \tchannel receive time:\t\t10000 ms\n\tchannel transmit time:\t\t5000 ms\n\
                 Survey data from wlp3s0\n\tfrequency:\t\t\t5520 MHz\n\tchannel active time:\t\t110 ms\n\
                 \tchannel busy time:\t\t4 ms",
            bytes: survey_without_noise(),
        },
        Fixture {
            name: "interface-wifi7-mlo",
            iw: "iw dev wlan0 info   (WiFi 7 multi-link)\n\
                 Interface wlan0\n\tifindex 5\n\taddr f0:9e:4a:55:66:77\n\tssid Livebox-7\n\ttype managed\n\
                 \tMLD with links:\n\t - link ID  0 link addr f0:9e:4a:55:66:78\n\
                 \t   channel 36 (5180 MHz), width: 160 MHz, center1: 5250 MHz\n\
                 \t - link ID  1 link addr f0:9e:4a:55:66:79\n\
                 \t   channel 37 (6135 MHz), width: 320 MHz, center1: 6105 MHz",
            bytes: wifi7_interface(),
        },
        Fixture {
            name: "station-wifi7-mlo",
            iw: "iw dev wlan0 station dump   (WiFi 7 MLO, per-link statistics, Linux 6.17+)\n\
                 Station 02:11:22:33:44:55 (on wlan0)\n\ttx packets:\t300000\n\ttx retries:\t6000\n\
                 \ttx failed:\t30\n\tbeacon loss:\t0\n\tconnected time:\t600 seconds\n\
                 \tMLD address:\tf0:9e:4a:55:66:77\n\
                 \tLink 0:\n\t\taddress: a0:11:22:33:44:01\n\t\tsignal: -52 dBm\n\
                 \t\ttx bitrate: 2401.9 MBit/s 160MHz EHT-MCS 11 EHT-NSS 2 EHT-GI 0\n\
                 \t\trx bitrate: 1921.6 MBit/s 160MHz EHT-MCS 9 EHT-NSS 2 EHT-GI 0\n\
                 \t\texpected throughput: 1800.000Mbps\n\
                 \tLink 1:\n\t\taddress: a0:11:22:33:44:02\n\t\tsignal: -60 dBm\n\
                 \t\ttx bitrate: 5764.7 MBit/s 320MHz EHT-MCS 13 EHT-NSS 2 EHT-GI 0\n\
                 \t\trx bitrate: 5188.2 MBit/s 320MHz EHT-MCS 12 EHT-NSS 2 EHT-GI 0",
            bytes: wifi7_station(),
        },
        Fixture {
            name: "interface-disconnected",
            iw: "iw dev wlp2s0 info   (not associated: no ssid, no channel)\n\
                 Interface wlp2s0\n\tifindex 3\n\taddr 3c:a9:f4:12:34:56\n\ttype managed\n\twiphy 0",
            bytes: disconnected_interface(),
        },
        Fixture {
            name: "empty-dump",
            iw: "iw dev   (or a station dump) with nothing to list: NLMSG_DONE alone",
            bytes: Dump::new(1).done(),
        },
    ]
}

/// The file text of a fixture: the `iw` output as `#` comments, then 16 bytes a line.
pub fn render(fixture: &Fixture) -> String {
    let mut out = String::from("# nl80211 dump, as the kernel answers:\n");
    for line in fixture.iw.lines() {
        out.push_str("#   ");
        out.push_str(&line.replace('\t', "    "));
        out.push('\n');
    }
    for chunk in fixture.bytes.chunks(16) {
        let line: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&line.join(" "));
        out.push('\n');
    }
    out
}
