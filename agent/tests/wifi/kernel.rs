//! A test-only nl80211 encoder that writes dump messages the way the kernel's
//! `net/wireless/nl80211.c` does (`nl80211hdr_put`, `nl80211_send_iface`, `nl80211_send_station`,
//! `nl80211_put_sta_rate`, `nl80211_send_bss`, `nl80211_send_survey`), attribute numbers from
//! `include/uapi/linux/nl80211.h`, little-endian as on x86_64 (no u64 padding attributes there:
//! `nla_put_u64_64bit` pads only where unaligned access is slow). It builds the fixtures under
//! `tests/fixtures/wifi/`; the tests read those files, not this encoder.

use sonde_agent::checks::wifi::nl80211::{attr, bss, cmd, rate, sta, survey};

/// The family id nl80211 got on the laptop the `iw` outputs come from (ids are assigned at
/// boot; the parser does not depend on it).
pub const FAMILY: u16 = 0x1c;
const NLM_F_MULTI: u16 = 0x2;
const NLMSG_DONE: u16 = 3;
/// `nla_nest_start` sets NLA_F_NESTED; `nla_nest_start_noflag` (older attributes) does not.
const NLA_F_NESTED: u16 = 0x8000;
const WIPHY_FREQ_OFFSET: u16 = 290;
const CENTER_FREQ1_OFFSET: u16 = 291;
const WIPHY_CHANNEL_TYPE: u16 = 39;
const FOUR_ADDR: u16 = 83;

/// A dump being written: one or several messages, then `NLMSG_DONE`.
#[derive(Debug, Default)]
pub struct Dump {
    bytes: Vec<u8>,
    message: usize,
    nests: Vec<usize>,
    seq: u32,
}

impl Dump {
    /// A dump answering request `seq` of port 0x2a1b (iw's socket).
    pub fn new(seq: u32) -> Self {
        Self { seq, ..Self::default() }
    }

    /// `genlmsg_put(…, NLM_F_MULTI, cmd)`: netlink header, then `genlmsghdr` (version 1).
    pub fn message(&mut self, command: u8) -> &mut Self {
        self.message = self.bytes.len();
        self.header(FAMILY);
        self.bytes.extend_from_slice(&[command, 1, 0, 0]);
        self
    }

    fn header(&mut self, kind: u16) {
        self.bytes.extend_from_slice(&0u32.to_le_bytes());
        self.bytes.extend_from_slice(&kind.to_le_bytes());
        self.bytes.extend_from_slice(&NLM_F_MULTI.to_le_bytes());
        self.bytes.extend_from_slice(&self.seq.to_le_bytes());
        self.bytes.extend_from_slice(&0x2a1bu32.to_le_bytes());
    }

    /// `genlmsg_end`: the message length.
    pub fn end(&mut self) -> &mut Self {
        let len = u32::try_from(self.bytes.len() - self.message).expect("small");
        self.bytes[self.message..self.message + 4].copy_from_slice(&len.to_le_bytes());
        self
    }

    /// `nla_put`.
    pub fn put(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = u16::try_from(4 + payload.len()).expect("small");
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&kind.to_le_bytes());
        self.bytes.extend_from_slice(payload);
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        self
    }

    /// `nla_put_flag`.
    pub fn flag(&mut self, kind: u16) -> &mut Self {
        self.put(kind, &[])
    }

    /// `nla_put_u8`.
    pub fn u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.put(kind, &[v])
    }

    /// `nla_put_u8` of an s8 (signals).
    pub fn s8(&mut self, kind: u16, v: i8) -> &mut Self {
        self.put(kind, &v.to_le_bytes())
    }

    /// `nla_put_u16`.
    pub fn u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put(kind, &v.to_le_bytes())
    }

    /// `nla_put_u32`.
    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.put(kind, &v.to_le_bytes())
    }

    /// `nla_put_s32`.
    pub fn s32(&mut self, kind: u16, v: i32) -> &mut Self {
        self.put(kind, &v.to_le_bytes())
    }

    /// `nla_put_u64_64bit` (x86_64: no pad attribute).
    pub fn u64(&mut self, kind: u16, v: u64) -> &mut Self {
        self.put(kind, &v.to_le_bytes())
    }

    /// `nla_nest_start_noflag` (`flagged = false`) or `nla_nest_start`.
    pub fn nest(&mut self, kind: u16, flagged: bool) -> &mut Self {
        self.nests.push(self.bytes.len());
        self.put(kind | if flagged { NLA_F_NESTED } else { 0 }, &[])
    }

    /// `nla_nest_end`.
    pub fn unnest(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("an open nest");
        let len = u16::try_from(self.bytes.len() - start).expect("small");
        self.bytes[start..start + 2].copy_from_slice(&len.to_le_bytes());
        self
    }

    /// `NLMSG_DONE` (errno 0), and the bytes.
    pub fn done(mut self) -> Vec<u8> {
        self.message = self.bytes.len();
        self.header(NLMSG_DONE);
        self.bytes.extend_from_slice(&0i32.to_le_bytes());
        self.end();
        self.bytes
    }
}

/// A MAC address from text.
pub fn mac(text: &str) -> [u8; 6] {
    let mut out = [0; 6];
    for (o, part) in out.iter_mut().zip(text.split(':')) {
        *o = u8::from_str_radix(part, 16).expect("hex");
    }
    out
}

/// A channel as `nl80211_send_chandef` writes it.
#[derive(Clone, Copy, Debug)]
pub struct Chandef {
    pub freq: u32,
    /// `enum nl80211_chan_width`.
    pub width: u32,
    pub center1: u32,
}

fn chandef(d: &mut Dump, c: Chandef) {
    d.u32(attr::WIPHY_FREQ, c.freq).u32(WIPHY_FREQ_OFFSET, 0);
    // NOHT/20/40 also get the legacy channel type.
    match c.width {
        0 => {
            d.u32(WIPHY_CHANNEL_TYPE, 0);
        }
        1 => {
            d.u32(WIPHY_CHANNEL_TYPE, 1);
        }
        2 => {
            d.u32(WIPHY_CHANNEL_TYPE, if c.center1 > c.freq { 3 } else { 2 });
        }
        _ => {}
    }
    d.u32(attr::CHANNEL_WIDTH, c.width)
        .u32(attr::CENTER_FREQ1, c.center1)
        .u32(CENTER_FREQ1_OFFSET, 0);
}

/// `nl80211_send_iface` for a managed interface.
pub struct Iface<'a> {
    pub ifindex: u32,
    pub name: &'a str,
    pub mac: &'a str,
    pub ssid: Option<&'a str>,
    /// Non-MLO channel.
    pub channel: Option<Chandef>,
    /// MLO links: id, own link address, channel.
    pub links: Vec<(u8, &'a str, Chandef)>,
}

pub fn interface(d: &mut Dump, i: &Iface<'_>) {
    let mut name = i.name.as_bytes().to_vec();
    name.push(0);
    d.message(cmd::NEW_INTERFACE)
        .u32(attr::IFINDEX, i.ifindex)
        .put(attr::IFNAME, &name)
        .u32(attr::IFTYPE, 2)
        .u32(attr::WIPHY, 0)
        .u64(attr::WDEV, 1)
        .put(attr::MAC, &mac(i.mac))
        .u32(attr::GENERATION, 7)
        .u8(FOUR_ADDR, 0);
    if i.links.is_empty() {
        if let Some(c) = i.channel {
            chandef(d, c);
        }
        d.u32(attr::WIPHY_TX_POWER_LEVEL, 2200);
    } else {
        d.nest(attr::MLO_LINKS, true);
        for (n, (id, address, c)) in i.links.iter().enumerate() {
            d.nest(u16::try_from(n + 1).expect("few"), true)
                .u8(attr::MLO_LINK_ID, *id)
                .put(attr::MAC, &mac(address));
            chandef(d, *c);
            d.u32(attr::WIPHY_TX_POWER_LEVEL, 2000).unnest();
        }
        d.unnest();
    }
    if let Some(ssid) = i.ssid {
        d.put(attr::SSID, ssid.as_bytes());
    }
    d.end();
}

/// A rate as `nl80211_put_sta_rate` writes it.
#[derive(Clone, Copy, Debug)]
pub struct RateSpec {
    /// 100 kbit/s (what `cfg80211_calculate_bitrate` returns).
    pub bitrate: u32,
    /// `vht`, `he`, `eht` or `ht`.
    pub phy: &'static str,
    pub mcs: u8,
    pub nss: u8,
    /// HT/VHT: short GI; HE/EHT: the GI enum value.
    pub gi: u8,
    /// `rate::WIDTH_*` flag, 0 for 20 MHz.
    pub width_flag: u16,
}

fn put_rate(d: &mut Dump, kind: u16, r: RateSpec) {
    d.nest(kind, false).u32(rate::BITRATE32, r.bitrate);
    if let Ok(compat) = u16::try_from(r.bitrate) {
        d.u16(rate::BITRATE, compat);
    }
    if r.width_flag != 0 {
        d.flag(r.width_flag);
    }
    match r.phy {
        "ht" => {
            d.u8(rate::MCS, r.mcs);
            if r.gi != 0 {
                d.flag(rate::SHORT_GI);
            }
        }
        "vht" => {
            d.u8(rate::VHT_MCS, r.mcs).u8(rate::VHT_NSS, r.nss);
            if r.gi != 0 {
                d.flag(rate::SHORT_GI);
            }
        }
        "he" => {
            d.u8(rate::HE_MCS, r.mcs)
                .u8(rate::HE_NSS, r.nss)
                .u8(rate::HE_GI, r.gi)
                .u8(rate::HE_DCM, 0);
        }
        "eht" => {
            d.u8(rate::EHT_MCS, r.mcs)
                .u8(rate::EHT_NSS, r.nss)
                .u8(rate::EHT_GI, r.gi);
        }
        _ => {}
    }
    d.unnest();
}

/// The station statistics a mac80211 driver fills, in `nl80211_send_station`'s order.
#[derive(Clone, Copy, Debug, Default)]
pub struct StaInfo {
    pub connected_s: Option<u32>,
    pub inactive_ms: u32,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub signal: Option<(i8, i8)>,
    pub chains: &'static [i8],
    pub tx: Option<RateSpec>,
    pub rx: Option<RateSpec>,
    pub rx_packets: u32,
    pub tx_packets: u32,
    pub tx_retries: u32,
    pub tx_failed: u32,
    pub expected_kbps: Option<u32>,
    pub beacon_loss: Option<u32>,
    pub beacon_rx: Option<u64>,
}

fn sta_info(d: &mut Dump, s: &StaInfo) {
    d.nest(attr::STA_INFO, false);
    if let Some(c) = s.connected_s {
        d.u32(sta::CONNECTED_TIME, c);
    }
    d.u32(sta::INACTIVE_TIME, s.inactive_ms);
    // The u32 byte counters only while they fit, the u64 ones always.
    if let Ok(rx) = u32::try_from(s.rx_bytes) {
        d.u32(sta::RX_BYTES, rx);
    }
    if let Ok(tx) = u32::try_from(s.tx_bytes) {
        d.u32(sta::TX_BYTES, tx);
    }
    d.u64(sta::RX_BYTES64, s.rx_bytes).u64(sta::TX_BYTES64, s.tx_bytes);
    if let Some((signal, avg)) = s.signal {
        d.s8(sta::SIGNAL, signal).s8(sta::SIGNAL_AVG, avg);
        if !s.chains.is_empty() {
            d.nest(sta::CHAIN_SIGNAL, false);
            for (i, c) in s.chains.iter().enumerate() {
                d.s8(u16::try_from(i).expect("few"), *c);
            }
            d.unnest().nest(sta::CHAIN_SIGNAL_AVG, false);
            for (i, c) in s.chains.iter().enumerate() {
                d.s8(u16::try_from(i).expect("few"), c + 1);
            }
            d.unnest();
        }
    }
    if let Some(tx) = s.tx {
        put_rate(d, sta::TX_BITRATE, tx);
    }
    if let Some(rx) = s.rx {
        put_rate(d, sta::RX_BITRATE, rx);
    }
    d.u32(sta::RX_PACKETS, s.rx_packets)
        .u32(sta::TX_PACKETS, s.tx_packets)
        .u32(sta::TX_RETRIES, s.tx_retries)
        .u32(sta::TX_FAILED, s.tx_failed);
    if let Some(e) = s.expected_kbps {
        d.u32(sta::EXPECTED_THROUGHPUT, e);
    }
    if let Some(b) = s.beacon_loss {
        d.u32(sta::BEACON_LOSS, b);
    }
    if s.connected_s.is_some() {
        // BSS parameters: DTIM period 2, beacon interval 100 TU, short preamble and slot time.
        d.nest(sta::BSS_PARAM, false)
            .flag(2)
            .flag(3)
            .u8(4, 2)
            .u16(5, 100)
            .unnest();
        // Flags: mask and set (authorized, authenticated, associated, WME, MFP).
        d.put(sta::STA_FLAGS, &[0x6e, 0, 0, 0, 0x6e, 0, 0, 0]);
    }
    if let Some(b) = s.beacon_rx {
        d.u64(sta::BEACON_RX, b);
    }
    if let Some((signal, _)) = s.signal {
        d.s8(sta::BEACON_SIGNAL_AVG, signal + 2);
    }
    d.unnest();
}

/// `nl80211_send_station` for a client's access point; with `links`, an MLO station.
pub struct StationSpec<'a> {
    pub ifindex: u32,
    pub mac: &'a str,
    pub info: StaInfo,
    pub mlo: Option<Mlo<'a>>,
}

/// The MLO part of a station.
pub struct Mlo<'a> {
    /// Association link id.
    pub assoc: u8,
    /// Own MLD address.
    pub mld: &'a str,
    /// Links: id, AP link address, statistics.
    pub links: Vec<(u8, &'a str, StaInfo)>,
}

pub fn station(d: &mut Dump, s: &StationSpec<'_>) {
    d.message(cmd::NEW_STATION)
        .u32(attr::IFINDEX, s.ifindex)
        .put(attr::MAC, &mac(s.mac))
        .u32(attr::GENERATION, 9);
    sta_info(d, &s.info);
    if let Some(mlo) = &s.mlo {
        d.u8(attr::MLO_LINK_ID, mlo.assoc).put(attr::MLD_ADDR, &mac(mlo.mld));
        d.nest(attr::MLO_LINKS, true);
        for (id, address, info) in &mlo.links {
            d.nest(u16::from(*id) + 1, true)
                .u8(attr::MLO_LINK_ID, *id)
                .put(attr::MAC, &mac(address));
            sta_info(d, info);
            d.unnest();
        }
        d.unnest();
    }
    d.end();
}

/// `nl80211_send_bss` for one scan result.
pub struct BssSpec<'a> {
    pub bssid: &'a str,
    pub freq: u32,
    pub signal_mbm: i32,
    pub capability: u16,
    pub associated: bool,
    pub ies: Vec<u8>,
}

pub fn scan_result(d: &mut Dump, ifindex: u32, b: &BssSpec<'_>) {
    d.message(cmd::NEW_SCAN_RESULTS)
        .u32(attr::GENERATION, 41)
        .u32(attr::IFINDEX, ifindex)
        .u64(attr::WDEV, 1)
        .nest(attr::BSS, false)
        .put(bss::BSSID, &mac(b.bssid))
        .u64(bss::TSF, 81_234_567_890)
        .put(bss::INFORMATION_ELEMENTS, &b.ies)
        .u16(bss::BEACON_INTERVAL, 100)
        .u16(bss::CAPABILITY, b.capability)
        .u32(bss::FREQUENCY, b.freq)
        .u32(20, 0) // NL80211_BSS_FREQUENCY_OFFSET
        .u32(bss::CHAN_WIDTH, 0)
        .u32(bss::SEEN_MS_AGO, 1200)
        .u64(bss::LAST_SEEN_BOOTTIME, 9_876_543_210_000)
        .s32(bss::SIGNAL_MBM, b.signal_mbm);
    if b.associated {
        d.u32(bss::STATUS, bss::STATUS_ASSOCIATED);
    }
    d.unnest().end();
}

/// Information elements: SSID, supported rates, and what else is given.
pub fn ies(ssid: &str, extra: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0, u8::try_from(ssid.len()).expect("short")];
    out.extend_from_slice(ssid.as_bytes());
    out.extend_from_slice(&[1, 8, 0x8c, 0x12, 0x98, 0x24, 0xb0, 0x48, 0x60, 0x6c]);
    for e in extra {
        out.extend_from_slice(e);
    }
    out
}

/// An RSN element with CCMP and the given AKM suite types.
pub fn rsn(akms: &[u8]) -> Vec<u8> {
    let mut body = vec![1, 0, 0x00, 0x0f, 0xac, 4, 1, 0, 0x00, 0x0f, 0xac, 4];
    body.extend_from_slice(&u16::try_from(akms.len()).expect("few").to_le_bytes());
    for a in akms {
        body.extend_from_slice(&[0x00, 0x0f, 0xac, *a]);
    }
    // RSN capabilities (MFP capable).
    body.extend_from_slice(&[0x80, 0x00]);
    let mut out = vec![48, u8::try_from(body.len()).expect("short")];
    out.extend(body);
    out
}

/// The WPA vendor element (TKIP, PSK).
pub fn wpa_tkip() -> Vec<u8> {
    vec![
        221, 22, 0x00, 0x50, 0xf2, 0x01, 1, 0, 0x00, 0x50, 0xf2, 2, 1, 0, 0x00, 0x50, 0xf2, 2, 1, 0, 0x00, 0x50, 0xf2,
        2,
    ]
}

/// HT operation: primary channel, secondary offset (0 none, 1 above, 3 below).
pub fn ht_operation(primary: u8, secondary: u8) -> Vec<u8> {
    let mut out = vec![61, 22, primary, secondary | 0x04];
    out.extend_from_slice(&[0; 20]);
    out
}

/// VHT operation: width (1: 80/160), centre segments 0 and 1.
pub fn vht_operation(width: u8, seg0: u8, seg1: u8) -> Vec<u8> {
    vec![192, 5, width, seg0, seg1, 0xfc, 0xff]
}

/// `nl80211_send_survey` for one channel.
pub struct SurveySpec {
    pub freq: u32,
    pub noise: Option<i8>,
    pub in_use: bool,
    pub active: u64,
    pub busy: u64,
    pub rx: u64,
    pub tx: u64,
}

pub fn survey_entry(d: &mut Dump, ifindex: u32, s: &SurveySpec) {
    d.message(cmd::NEW_SURVEY_RESULTS)
        .u32(attr::IFINDEX, ifindex)
        .nest(attr::SURVEY_INFO, false)
        .u32(survey::FREQUENCY, s.freq);
    if let Some(n) = s.noise {
        d.s8(survey::NOISE, n);
    }
    if s.in_use {
        d.flag(survey::IN_USE);
    }
    d.u64(survey::TIME, s.active)
        .u64(survey::TIME_BUSY, s.busy)
        .u64(survey::TIME_RX, s.rx)
        .u64(survey::TIME_TX, s.tx)
        .unnest()
        .end();
}
