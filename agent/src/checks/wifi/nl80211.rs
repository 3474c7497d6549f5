//! nl80211, the pure half: netlink message bytes → typed interface, station, scan and survey
//! records, and those records → one [`StationSample`]. No I/O here: the socket lives in
//! [`super::genl`], so the parsers run on fixture bytes exactly as on the kernel's.
//!
//! Attribute numbers follow the kernel's `include/uapi/linux/nl80211.h`. Everything the kernel
//! may leave out is optional; a length that does not add up, an attribute of the wrong size or a
//! kernel error is a [`ParseError`], never a panic.

use serde::{Deserialize, Serialize};

use super::{LinkSample, Neighbour, Phy, Security, StationSample};

// Netlink framing (include/uapi/linux/netlink.h, genetlink.h).
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLA_HDRLEN: usize = 4;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
/// Attribute type bits (the rest are NLA_F_NESTED and NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;

/// The generic netlink controller's family id.
pub const GENL_ID_CTRL: u16 = 0x10;
/// `CTRL_CMD_GETFAMILY`.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME`.
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// nl80211 commands (`enum nl80211_commands`).
pub mod cmd {
    /// Dump the wireless interfaces.
    pub const GET_INTERFACE: u8 = 5;
    /// One interface (the answer to `GET_INTERFACE`).
    pub const NEW_INTERFACE: u8 = 7;
    /// Dump the stations of an interface (for a client: its access point).
    pub const GET_STATION: u8 = 17;
    /// One station.
    pub const NEW_STATION: u8 = 19;
    /// Dump the cached scan results.
    pub const GET_SCAN: u8 = 32;
    /// One BSS of the scan results.
    pub const NEW_SCAN_RESULTS: u8 = 34;
    /// Dump the channel surveys.
    pub const GET_SURVEY: u8 = 50;
    /// One channel's survey.
    pub const NEW_SURVEY_RESULTS: u8 = 51;
}

/// Top-level attributes (`enum nl80211_attrs`).
pub mod attr {
    /// u32.
    pub const WIPHY: u16 = 1;
    /// u32.
    pub const IFINDEX: u16 = 3;
    /// string, NUL-terminated.
    pub const IFNAME: u16 = 4;
    /// u32, `enum nl80211_iftype`.
    pub const IFTYPE: u16 = 5;
    /// 6 bytes.
    pub const MAC: u16 = 6;
    /// nested `enum nl80211_sta_info`.
    pub const STA_INFO: u16 = 21;
    /// u32, MHz.
    pub const WIPHY_FREQ: u16 = 38;
    /// u32.
    pub const GENERATION: u16 = 46;
    /// nested `enum nl80211_bss`.
    pub const BSS: u16 = 47;
    /// bytes.
    pub const SSID: u16 = 52;
    /// nested `enum nl80211_survey_info`.
    pub const SURVEY_INFO: u16 = 84;
    /// u32, mBm.
    pub const WIPHY_TX_POWER_LEVEL: u16 = 98;
    /// u64.
    pub const WDEV: u16 = 153;
    /// u32, `enum nl80211_chan_width`.
    pub const CHANNEL_WIDTH: u16 = 159;
    /// u32, MHz.
    pub const CENTER_FREQ1: u16 = 160;
    /// u32, MHz.
    pub const CENTER_FREQ2: u16 = 161;
    /// nested array of links (MLO).
    pub const MLO_LINKS: u16 = 312;
    /// u8.
    pub const MLO_LINK_ID: u16 = 313;
    /// 6 bytes.
    pub const MLD_ADDR: u16 = 314;
}

/// Station info (`enum nl80211_sta_info`).
pub mod sta {
    /// u32, ms.
    pub const INACTIVE_TIME: u16 = 1;
    /// u32.
    pub const RX_BYTES: u16 = 2;
    /// u32.
    pub const TX_BYTES: u16 = 3;
    /// u8 holding an s8, dBm.
    pub const SIGNAL: u16 = 7;
    /// nested rate info.
    pub const TX_BITRATE: u16 = 8;
    /// u32.
    pub const RX_PACKETS: u16 = 9;
    /// u32.
    pub const TX_PACKETS: u16 = 10;
    /// u32.
    pub const TX_RETRIES: u16 = 11;
    /// u32.
    pub const TX_FAILED: u16 = 12;
    /// u8 holding an s8, dBm.
    pub const SIGNAL_AVG: u16 = 13;
    /// nested rate info.
    pub const RX_BITRATE: u16 = 14;
    /// nested.
    pub const BSS_PARAM: u16 = 15;
    /// u32, s.
    pub const CONNECTED_TIME: u16 = 16;
    /// struct nl80211_sta_flag_update (8 bytes).
    pub const STA_FLAGS: u16 = 17;
    /// u32.
    pub const BEACON_LOSS: u16 = 18;
    /// u64.
    pub const RX_BYTES64: u16 = 23;
    /// u64.
    pub const TX_BYTES64: u16 = 24;
    /// nested s8 per chain.
    pub const CHAIN_SIGNAL: u16 = 25;
    /// nested s8 per chain.
    pub const CHAIN_SIGNAL_AVG: u16 = 26;
    /// u32, kbit/s.
    pub const EXPECTED_THROUGHPUT: u16 = 27;
    /// u64.
    pub const BEACON_RX: u16 = 29;
    /// u8 holding an s8, dBm.
    pub const BEACON_SIGNAL_AVG: u16 = 30;
}

/// Rate info (`enum nl80211_rate_info`).
pub mod rate {
    /// u16, 100 kbit/s.
    pub const BITRATE: u16 = 1;
    /// u8 (HT).
    pub const MCS: u16 = 2;
    /// flag.
    pub const WIDTH_40: u16 = 3;
    /// flag (HT, VHT: 0.4 µs).
    pub const SHORT_GI: u16 = 4;
    /// u32, 100 kbit/s.
    pub const BITRATE32: u16 = 5;
    /// u8.
    pub const VHT_MCS: u16 = 6;
    /// u8.
    pub const VHT_NSS: u16 = 7;
    /// flag.
    pub const WIDTH_80: u16 = 8;
    /// flag.
    pub const WIDTH_80P80: u16 = 9;
    /// flag.
    pub const WIDTH_160: u16 = 10;
    /// flag.
    pub const WIDTH_10: u16 = 11;
    /// flag.
    pub const WIDTH_5: u16 = 12;
    /// u8.
    pub const HE_MCS: u16 = 13;
    /// u8.
    pub const HE_NSS: u16 = 14;
    /// u8, `enum nl80211_he_gi`.
    pub const HE_GI: u16 = 15;
    /// u8.
    pub const HE_DCM: u16 = 16;
    /// u8.
    pub const HE_RU_ALLOC: u16 = 17;
    /// flag.
    pub const WIDTH_320: u16 = 18;
    /// u8.
    pub const EHT_MCS: u16 = 19;
    /// u8.
    pub const EHT_NSS: u16 = 20;
    /// u8, `enum nl80211_eht_gi`.
    pub const EHT_GI: u16 = 21;
    /// u8.
    pub const EHT_RU_ALLOC: u16 = 22;
}

/// BSS attributes (`enum nl80211_bss`).
pub mod bss {
    /// 6 bytes.
    pub const BSSID: u16 = 1;
    /// u32, MHz.
    pub const FREQUENCY: u16 = 2;
    /// u64.
    pub const TSF: u16 = 3;
    /// u16, TU.
    pub const BEACON_INTERVAL: u16 = 4;
    /// u16.
    pub const CAPABILITY: u16 = 5;
    /// bytes: the information elements.
    pub const INFORMATION_ELEMENTS: u16 = 6;
    /// s32, mBm.
    pub const SIGNAL_MBM: u16 = 7;
    /// u32, `enum nl80211_bss_status`.
    pub const STATUS: u16 = 9;
    /// u32, ms.
    pub const SEEN_MS_AGO: u16 = 10;
    /// bytes.
    pub const BEACON_IES: u16 = 11;
    /// u32.
    pub const CHAN_WIDTH: u16 = 12;
    /// u64.
    pub const LAST_SEEN_BOOTTIME: u16 = 15;
    /// u8.
    pub const MLO_LINK_ID: u16 = 21;
    /// 6 bytes.
    pub const MLD_ADDR: u16 = 22;
    /// `NL80211_BSS_STATUS_ASSOCIATED`.
    pub const STATUS_ASSOCIATED: u32 = 1;
}

/// Survey attributes (`enum nl80211_survey_info`).
pub mod survey {
    /// u32, MHz.
    pub const FREQUENCY: u16 = 1;
    /// u8 holding an s8, dBm.
    pub const NOISE: u16 = 2;
    /// flag.
    pub const IN_USE: u16 = 3;
    /// u64, ms.
    pub const TIME: u16 = 4;
    /// u64, ms.
    pub const TIME_BUSY: u16 = 5;
    /// u64, ms.
    pub const TIME_EXT_BUSY: u16 = 6;
    /// u64, ms.
    pub const TIME_RX: u16 = 7;
    /// u64, ms.
    pub const TIME_TX: u16 = 8;
    /// u64, ms.
    pub const TIME_SCAN: u16 = 9;
    /// u64, ms.
    pub const TIME_BSS_RX: u16 = 11;
}

/// `NL80211_IFTYPE_STATION`.
pub const IFTYPE_STATION: u32 = 2;
/// `NL80211_IFTYPE_P2P_CLIENT`.
pub const IFTYPE_P2P_CLIENT: u32 = 8;

/// Why bytes are not a valid nl80211 answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than a header or a declared length needs.
    #[error("truncated {what} at byte {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where, in the enclosing buffer.
        offset: usize,
    },
    /// A length field smaller than its own header.
    #[error("{what} at byte {offset} declares {len} bytes, less than its header")]
    BadLength {
        /// What was being read.
        what: &'static str,
        /// Where, in the enclosing buffer.
        offset: usize,
        /// The declared length.
        len: usize,
    },
    /// An attribute whose payload has the wrong size for its type.
    #[error("{what} attribute {kind} has {len} bytes, expected {expected}")]
    AttributeSize {
        /// The attribute set.
        what: &'static str,
        /// The attribute type.
        kind: u16,
        /// Its payload length.
        len: usize,
        /// What the type needs.
        expected: usize,
    },
    /// The kernel answered with an error (`NLMSG_ERROR`, a negative errno).
    #[error("the kernel answered errno {errno} ({})", std::io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// The errno, positive.
        errno: i32,
    },
    /// The kernel dropped messages (`NLMSG_OVERRUN`).
    #[error("netlink overrun: messages were lost")]
    Overrun,
}

/// One generic netlink message of a dump: its command and attribute bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenlMessage<'a> {
    /// The family id (`nlmsg_type`).
    pub family: u16,
    /// The command (`genlmsghdr.cmd`).
    pub cmd: u8,
    /// The attributes.
    pub attrs: &'a [u8],
}

/// Where a buffer of netlink messages leaves a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpEnd {
    /// More messages follow.
    More,
    /// `NLMSG_DONE`, or the acknowledgement of a non-dump request, was seen.
    Done,
}

/// Splits a buffer of netlink messages (one or several datagrams, one or several dumps
/// concatenated) into generic netlink messages. `NLMSG_DONE`, `NOOP` and acknowledgements are
/// skipped; a kernel error or an overrun is an error.
pub fn messages(bytes: &[u8]) -> Result<Vec<GenlMessage<'_>>, ParseError> {
    let mut out = Vec::new();
    walk(bytes, |m| out.push(m))?;
    Ok(out)
}

/// Whether `datagram` ends the dump it belongs to (the socket loop's stop condition).
pub fn dump_end(datagram: &[u8]) -> Result<DumpEnd, ParseError> {
    walk(datagram, |_| {})
}

fn walk<'a>(bytes: &'a [u8], mut each: impl FnMut(GenlMessage<'a>)) -> Result<DumpEnd, ParseError> {
    let mut offset = 0;
    let mut end = DumpEnd::More;
    while offset < bytes.len() {
        let header = bytes.get(offset..offset + NLMSG_HDRLEN).ok_or(ParseError::Truncated {
            what: "netlink header",
            offset,
        })?;
        let len = le_u32(&header[0..4]) as usize;
        let kind = u16::from_le_bytes([header[4], header[5]]);
        if len < NLMSG_HDRLEN {
            return Err(ParseError::BadLength {
                what: "netlink message",
                offset,
                len,
            });
        }
        let message = bytes
            .get(offset..offset.saturating_add(len))
            .ok_or(ParseError::Truncated {
                what: "netlink message",
                offset,
            })?;
        let payload = &message[NLMSG_HDRLEN..];
        match kind {
            NLMSG_NOOP => {}
            NLMSG_DONE => end = DumpEnd::Done,
            NLMSG_OVERRUN => return Err(ParseError::Overrun),
            NLMSG_ERROR => {
                let code = payload.get(0..4).ok_or(ParseError::Truncated {
                    what: "netlink error",
                    offset,
                })?;
                let code = i32::from_le_bytes([code[0], code[1], code[2], code[3]]);
                if code != 0 {
                    return Err(ParseError::Kernel {
                        errno: code.saturating_neg(),
                    });
                }
                // errno 0: the acknowledgement that ends a request.
                end = DumpEnd::Done;
            }
            family => {
                let genl = payload.get(0..GENL_HDRLEN).ok_or(ParseError::Truncated {
                    what: "generic netlink header",
                    offset,
                })?;
                each(GenlMessage {
                    family,
                    cmd: genl[0],
                    attrs: &payload[GENL_HDRLEN..],
                });
            }
        }
        // Messages are 4-byte aligned; the last one may end without padding.
        offset = offset.saturating_add(align4(len));
    }
    Ok(end)
}

/// One attribute: its type (flags masked off) and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type, without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`.
    pub kind: u16,
    /// The payload.
    pub payload: &'a [u8],
    /// The attribute set it belongs to, for error messages.
    what: &'static str,
}

/// Parses a run of attributes; `what` names the set in errors.
pub fn attributes<'a>(bytes: &'a [u8], what: &'static str) -> Result<Vec<Attr<'a>>, ParseError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let header = bytes
            .get(offset..offset + NLA_HDRLEN)
            .ok_or(ParseError::Truncated { what, offset })?;
        let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
        if len < NLA_HDRLEN {
            return Err(ParseError::BadLength { what, offset, len });
        }
        let attr = bytes
            .get(offset..offset + len)
            .ok_or(ParseError::Truncated { what, offset })?;
        out.push(Attr {
            kind: u16::from_le_bytes([header[2], header[3]]) & NLA_TYPE_MASK,
            payload: &attr[NLA_HDRLEN..],
            what,
        });
        offset += align4(len);
    }
    Ok(out)
}

impl<'a> Attr<'a> {
    fn sized<const N: usize>(&self) -> Result<[u8; N], ParseError> {
        self.payload.try_into().map_err(|_| ParseError::AttributeSize {
            what: self.what,
            kind: self.kind,
            len: self.payload.len(),
            expected: N,
        })
    }

    /// A u8.
    pub fn u8(&self) -> Result<u8, ParseError> {
        Ok(self.sized::<1>()?[0])
    }

    /// An s8 carried in a u8 (dBm values).
    pub fn i8(&self) -> Result<i8, ParseError> {
        Ok(i8::from_le_bytes(self.sized::<1>()?))
    }

    /// A u16.
    pub fn u16(&self) -> Result<u16, ParseError> {
        Ok(u16::from_le_bytes(self.sized::<2>()?))
    }

    /// A u32.
    pub fn u32(&self) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.sized::<4>()?))
    }

    /// An s32.
    pub fn i32(&self) -> Result<i32, ParseError> {
        Ok(i32::from_le_bytes(self.sized::<4>()?))
    }

    /// A u64.
    pub fn u64(&self) -> Result<u64, ParseError> {
        Ok(u64::from_le_bytes(self.sized::<8>()?))
    }

    /// A MAC address, `aa:bb:cc:dd:ee:ff`.
    pub fn mac(&self) -> Result<String, ParseError> {
        let m = self.sized::<6>()?;
        Ok(format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ))
    }

    /// A NUL-terminated (or not) string, lossily decoded.
    pub fn string(&self) -> String {
        let bytes = self.payload.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// The attributes nested inside this one.
    pub fn nested(&self, what: &'static str) -> Result<Vec<Attr<'a>>, ParseError> {
        attributes(self.payload, what)
    }
}

/// A channel definition (`nl80211_send_chandef`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Primary channel, MHz.
    pub frequency_mhz: Option<u32>,
    /// Width, MHz (from `enum nl80211_chan_width`).
    pub width_mhz: Option<u32>,
    /// Centre of the (first segment of the) channel, MHz.
    pub center_freq1_mhz: Option<u32>,
}

/// One `NL80211_CMD_NEW_INTERFACE` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    /// Interface index (absent for a P2P device without a netdev).
    pub ifindex: Option<u32>,
    /// Name.
    pub name: Option<String>,
    /// `enum nl80211_iftype`.
    pub iftype: Option<u32>,
    /// Own MAC address.
    pub mac: Option<String>,
    /// SSID of the current association.
    pub ssid: Option<String>,
    /// The operating channel (non-MLO).
    pub channel: Channel,
    /// Transmit power, mBm.
    pub tx_power_mbm: Option<u32>,
    /// MLO links: link id and channel.
    pub links: Vec<(u8, Channel)>,
}

/// A transmit or receive rate (`enum nl80211_rate_info`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rate {
    /// Bitrate, Mbit/s.
    pub bitrate_mbps: Option<f64>,
    /// PHY generation.
    pub phy: Option<Phy>,
    /// MCS index.
    pub mcs: Option<u8>,
    /// Spatial streams.
    pub nss: Option<u8>,
    /// Guard interval, µs.
    pub gi_us: Option<f64>,
    /// Width, MHz (absent for an HE/EHT resource unit).
    pub width_mhz: Option<u32>,
}

/// Station statistics (`NL80211_ATTR_STA_INFO`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StationInfo {
    /// dBm.
    pub signal_dbm: Option<i8>,
    /// dBm, the driver's average.
    pub signal_avg_dbm: Option<i8>,
    /// Last transmit rate.
    pub tx: Option<Rate>,
    /// Last receive rate.
    pub rx: Option<Rate>,
    /// Counters.
    pub rx_packets: Option<u32>,
    /// Frames transmitted.
    pub tx_packets: Option<u32>,
    /// Retransmissions.
    pub tx_retries: Option<u32>,
    /// Frames given up on.
    pub tx_failed: Option<u32>,
    /// kbit/s.
    pub expected_throughput_kbps: Option<u32>,
    /// Seconds since association.
    pub connected_time_s: Option<u32>,
    /// ms.
    pub inactive_time_ms: Option<u32>,
    /// Beacon-loss events since association.
    pub beacon_loss: Option<u32>,
    /// Beacons received.
    pub beacon_rx: Option<u64>,
}

/// One `NL80211_CMD_NEW_STATION` message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Station {
    /// Interface index.
    pub ifindex: Option<u32>,
    /// The peer (for a client: the AP's BSSID, or its MLD address under MLO).
    pub mac: Option<String>,
    /// Statistics (for MLO: the whole MLD).
    pub info: StationInfo,
    /// MLO: the association link.
    pub assoc_link_id: Option<u8>,
    /// MLO: the peer's MLD address.
    pub mld_addr: Option<String>,
    /// MLO: per-link id, peer link address and statistics.
    pub links: Vec<(u8, Option<String>, StationInfo)>,
}

/// One `NL80211_CMD_NEW_SCAN_RESULTS` message: a BSS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bss {
    /// Interface index.
    pub ifindex: Option<u32>,
    /// BSSID.
    pub bssid: Option<String>,
    /// Primary channel, MHz.
    pub frequency_mhz: Option<u32>,
    /// Signal, mBm.
    pub signal_mbm: Option<i32>,
    /// `NL80211_BSS_STATUS_*`.
    pub status: Option<u32>,
    /// Capability field (bit 4: privacy).
    pub capability: Option<u16>,
    /// From the IEs.
    pub ssid: Option<String>,
    /// From the IEs (RSN, WPA) and the privacy bit.
    pub security: Option<Security>,
    /// Operating width, MHz, from the HT/VHT operation IEs.
    pub width_mhz: Option<u32>,
    /// Operating centre, MHz, from the HT/VHT operation IEs.
    pub center_freq1_mhz: Option<u32>,
    /// MLO link id of this BSS.
    pub mlo_link_id: Option<u8>,
    /// ms since last seen.
    pub seen_ms_ago: Option<u32>,
}

/// One `NL80211_CMD_NEW_SURVEY_RESULTS` message: a channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Interface index.
    pub ifindex: Option<u32>,
    /// MHz.
    pub frequency_mhz: Option<u32>,
    /// dBm.
    pub noise_dbm: Option<i8>,
    /// The channel the interface is on.
    pub in_use: bool,
    /// Time the radio was on the channel, ms (cumulative).
    pub active_ms: Option<u64>,
    /// Time the channel was sensed busy, ms (cumulative).
    pub busy_ms: Option<u64>,
    /// Time spent receiving, ms.
    pub rx_ms: Option<u64>,
    /// Time spent transmitting, ms.
    pub tx_ms: Option<u64>,
}

/// Everything one sampling round read: interface, station, scan and survey dumps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capture {
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Stations.
    pub stations: Vec<Station>,
    /// Scan results.
    pub bss: Vec<Bss>,
    /// Channel surveys.
    pub surveys: Vec<Survey>,
}

/// Parses dumps (any mix of the four, concatenated) into a [`Capture`]. Messages of other
/// commands are ignored.
pub fn parse_capture(bytes: &[u8]) -> Result<Capture, ParseError> {
    let mut capture = Capture::default();
    for message in messages(bytes)? {
        match message.cmd {
            cmd::NEW_INTERFACE => capture.interfaces.push(parse_interface(message.attrs)?),
            cmd::NEW_STATION => capture.stations.push(parse_station(message.attrs)?),
            cmd::NEW_SCAN_RESULTS => capture.bss.push(parse_bss(message.attrs)?),
            cmd::NEW_SURVEY_RESULTS => capture.surveys.push(parse_survey(message.attrs)?),
            _ => {}
        }
    }
    Ok(capture)
}

/// The family id from the controller's answer to `CTRL_CMD_GETFAMILY`; `None` when the kernel
/// says the family does not exist (ENOENT: no cfg80211 here).
pub fn parse_family_id(bytes: &[u8]) -> Result<Option<u16>, ParseError> {
    const ENOENT: i32 = 2;
    match messages(bytes) {
        Err(ParseError::Kernel { errno: ENOENT }) => Ok(None),
        Err(e) => Err(e),
        Ok(messages) => {
            for message in messages {
                for a in attributes(message.attrs, "ctrl")? {
                    if a.kind == CTRL_ATTR_FAMILY_ID {
                        return a.u16().map(Some);
                    }
                }
            }
            Err(ParseError::Truncated {
                what: "CTRL_ATTR_FAMILY_ID",
                offset: bytes.len(),
            })
        }
    }
}

/// A request: netlink header, generic netlink header, attributes (type, payload).
pub fn request(family: u16, flags: u16, seq: u32, command: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = vec![command, 1, 0, 0];
    for (kind, payload) in attrs {
        let len = NLA_HDRLEN + payload.len();
        body.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes());
        body.extend_from_slice(&kind.to_le_bytes());
        body.extend_from_slice(payload);
        body.resize(align4(body.len()), 0);
    }
    let len = u32::try_from(NLMSG_HDRLEN + body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&family.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The client interface of a capture: a station or P2P client, else the first with an index.
pub fn client_interface(capture: &Capture) -> Option<&Interface> {
    let with_index = || capture.interfaces.iter().filter(|i| i.ifindex.is_some());
    with_index()
        .find(|i| matches!(i.iftype, Some(IFTYPE_STATION | IFTYPE_P2P_CLIENT)))
        .or_else(|| with_index().next())
}

/// One reading of the station from a capture: the client interface (station or P2P client,
/// else the first with an index), its access point, the channel survey and the scan results.
/// `None` when there is no WiFi interface at all.
pub fn station_sample(capture: &Capture) -> Option<StationSample> {
    let interface = client_interface(capture)?;
    let ifindex = interface.ifindex;
    let mut sample = StationSample {
        interface: interface.name.clone(),
        ssid: interface.ssid.clone(),
        ..StationSample::default()
    };
    let Some(station) = capture
        .stations
        .iter()
        .find(|s| s.ifindex == ifindex || s.ifindex.is_none())
    else {
        return Some(sample);
    };
    sample.connected = true;
    // MLO: the association link is the primary one; its channel is the interface's.
    let assoc = station
        .assoc_link_id
        .or_else(|| station.links.first().map(|l| l.0))
        .filter(|_| !station.links.is_empty());
    let channel = match assoc {
        Some(id) => interface
            .links
            .iter()
            .find(|(l, _)| *l == id)
            .map(|(_, c)| c.clone())
            .unwrap_or_default(),
        None => interface.channel.clone(),
    };
    let assoc_link = assoc.and_then(|id| station.links.iter().find(|l| l.0 == id));
    sample.bssid = assoc_link.and_then(|l| l.1.clone()).or_else(|| station.mac.clone());
    sample.frequency_mhz = channel.frequency_mhz;
    sample.width_mhz = channel.width_mhz;
    sample.center_frequency_mhz = channel.center_freq1_mhz;
    let info = &station.info;
    let primary = assoc_link.map(|l| &l.2);
    let pick = |f: fn(&StationInfo) -> Option<i8>| f(info).or_else(|| primary.and_then(f)).map(f64::from);
    sample.signal_dbm = pick(|i| i.signal_dbm);
    sample.signal_avg_dbm = pick(|i| i.signal_avg_dbm);
    let tx = info.tx.as_ref().or_else(|| primary.and_then(|p| p.tx.as_ref()));
    let rx = info.rx.as_ref().or_else(|| primary.and_then(|p| p.rx.as_ref()));
    if let Some(tx) = tx {
        sample.tx_bitrate_mbps = tx.bitrate_mbps;
        sample.tx_phy = tx.phy;
        sample.tx_mcs = tx.mcs;
        sample.tx_nss = tx.nss;
        sample.tx_gi_us = tx.gi_us;
    }
    if let Some(rx) = rx {
        sample.rx_bitrate_mbps = rx.bitrate_mbps;
        sample.rx_phy = rx.phy;
        sample.rx_mcs = rx.mcs;
        sample.rx_nss = rx.nss;
        sample.rx_gi_us = rx.gi_us;
    }
    let counter = |f: fn(&StationInfo) -> Option<u32>| {
        f(info)
            .or_else(|| {
                // MLO without MLD-level counters: the sum over the links.
                let per_link: Vec<u32> = station.links.iter().filter_map(|l| f(&l.2)).collect();
                (!per_link.is_empty())
                    .then(|| per_link.iter().map(|v| u64::from(*v)).sum::<u64>())
                    .and_then(|s| u32::try_from(s).ok())
            })
            .map(u64::from)
    };
    sample.tx_packets = counter(|i| i.tx_packets);
    sample.tx_retries = counter(|i| i.tx_retries);
    sample.tx_failed = counter(|i| i.tx_failed);
    sample.beacon_loss = counter(|i| i.beacon_loss);
    sample.expected_throughput_mbps = info
        .expected_throughput_kbps
        .or_else(|| primary.and_then(|p| p.expected_throughput_kbps))
        .map(|k| f64::from(k) / 1000.0);
    sample.connected_time_s = info.connected_time_s.map(u64::from);
    sample.links = station
        .links
        .iter()
        .map(|(id, mac, link)| {
            let channel = interface.links.iter().find(|(l, _)| l == id).map(|(_, c)| c);
            LinkSample {
                link_id: *id,
                bssid: mac.clone(),
                frequency_mhz: channel.and_then(|c| c.frequency_mhz),
                width_mhz: channel.and_then(|c| c.width_mhz),
                signal_dbm: link.signal_dbm.map(f64::from),
                tx_bitrate_mbps: link.tx.as_ref().and_then(|r| r.bitrate_mbps),
                rx_bitrate_mbps: link.rx.as_ref().and_then(|r| r.bitrate_mbps),
                tx_mcs: link.tx.as_ref().and_then(|r| r.mcs),
                tx_nss: link.tx.as_ref().and_then(|r| r.nss),
            }
        })
        .collect();
    // The survey of the channel in use: noise and the busy/active counters.
    let survey = capture
        .surveys
        .iter()
        .filter(|s| s.ifindex == ifindex || s.ifindex.is_none())
        .find(|s| s.in_use)
        .or_else(|| {
            capture
                .surveys
                .iter()
                .find(|s| s.frequency_mhz.is_some() && s.frequency_mhz == sample.frequency_mhz)
        });
    if let Some(survey) = survey {
        sample.noise_dbm = survey.noise_dbm.map(f64::from);
        sample.channel_active_ms = survey.active_ms;
        sample.channel_busy_ms = survey.busy_ms;
    }
    // Scan results: ours (associated, or our BSSIDs) give the security; the others are
    // neighbours.
    let ours: Vec<&str> = std::iter::once(station.mac.as_deref())
        .chain(station.links.iter().map(|l| l.1.as_deref()))
        .flatten()
        .collect();
    let scan = capture
        .bss
        .iter()
        .filter(|b| b.ifindex == ifindex || b.ifindex.is_none());
    let (associated, others): (Vec<&Bss>, Vec<&Bss>) = scan.partition(|b| {
        b.status == Some(bss::STATUS_ASSOCIATED) || b.bssid.as_deref().is_some_and(|m| ours.contains(&m))
    });
    let current = associated
        .iter()
        .find(|b| b.bssid.is_some() && b.bssid == sample.bssid)
        .or_else(|| associated.first());
    if let Some(current) = current {
        sample.security = current.security;
        if sample.ssid.is_none() {
            sample.ssid.clone_from(&current.ssid);
        }
    }
    sample.neighbours = others
        .iter()
        .map(|b| Neighbour {
            bssid: b.bssid.clone(),
            ssid: b.ssid.clone(),
            frequency_mhz: b.frequency_mhz,
            width_mhz: b.width_mhz,
            center_frequency_mhz: b.center_freq1_mhz,
            signal_dbm: b.signal_mbm.map(|m| f64::from(m) / 100.0),
            security: b.security,
        })
        .collect();
    Some(sample)
}

fn parse_channel_attr(channel: &mut Channel, a: &Attr<'_>) -> Result<(), ParseError> {
    match a.kind {
        attr::WIPHY_FREQ => channel.frequency_mhz = Some(a.u32()?),
        attr::CHANNEL_WIDTH => channel.width_mhz = chan_width_mhz(a.u32()?),
        attr::CENTER_FREQ1 => channel.center_freq1_mhz = Some(a.u32()?),
        _ => {}
    }
    Ok(())
}

fn parse_interface(bytes: &[u8]) -> Result<Interface, ParseError> {
    let mut out = Interface::default();
    for a in attributes(bytes, "interface")? {
        match a.kind {
            attr::IFINDEX => out.ifindex = Some(a.u32()?),
            attr::IFNAME => out.name = Some(a.string()),
            attr::IFTYPE => out.iftype = Some(a.u32()?),
            attr::MAC => out.mac = Some(a.mac()?),
            attr::SSID => out.ssid = Some(String::from_utf8_lossy(a.payload).into_owned()),
            attr::WIPHY_TX_POWER_LEVEL => out.tx_power_mbm = Some(a.u32()?),
            attr::MLO_LINKS => {
                for link in a.nested("interface MLO links")? {
                    let mut id = None;
                    let mut channel = Channel::default();
                    for l in link.nested("interface MLO link")? {
                        if l.kind == attr::MLO_LINK_ID {
                            id = Some(l.u8()?);
                        }
                        parse_channel_attr(&mut channel, &l)?;
                    }
                    if let Some(id) = id {
                        out.links.push((id, channel));
                    }
                }
            }
            _ => parse_channel_attr(&mut out.channel, &a)?,
        }
    }
    Ok(out)
}

fn parse_station(bytes: &[u8]) -> Result<Station, ParseError> {
    let mut out = Station::default();
    for a in attributes(bytes, "station")? {
        match a.kind {
            attr::IFINDEX => out.ifindex = Some(a.u32()?),
            attr::MAC => out.mac = Some(a.mac()?),
            attr::STA_INFO => out.info = parse_station_info(a.payload)?,
            attr::MLO_LINK_ID => out.assoc_link_id = Some(a.u8()?),
            attr::MLD_ADDR => out.mld_addr = Some(a.mac()?),
            attr::MLO_LINKS => {
                for link in a.nested("station MLO links")? {
                    let (mut id, mut mac, mut info) = (None, None, StationInfo::default());
                    for l in link.nested("station MLO link")? {
                        match l.kind {
                            attr::MLO_LINK_ID => id = Some(l.u8()?),
                            attr::MAC => mac = Some(l.mac()?),
                            attr::STA_INFO => info = parse_station_info(l.payload)?,
                            _ => {}
                        }
                    }
                    if let Some(id) = id {
                        out.links.push((id, mac, info));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parse_station_info(bytes: &[u8]) -> Result<StationInfo, ParseError> {
    let mut out = StationInfo::default();
    for a in attributes(bytes, "station info")? {
        match a.kind {
            sta::SIGNAL => out.signal_dbm = Some(a.i8()?),
            sta::SIGNAL_AVG => out.signal_avg_dbm = Some(a.i8()?),
            sta::TX_BITRATE => out.tx = Some(parse_rate(a.payload)?),
            sta::RX_BITRATE => out.rx = Some(parse_rate(a.payload)?),
            sta::RX_PACKETS => out.rx_packets = Some(a.u32()?),
            sta::TX_PACKETS => out.tx_packets = Some(a.u32()?),
            sta::TX_RETRIES => out.tx_retries = Some(a.u32()?),
            sta::TX_FAILED => out.tx_failed = Some(a.u32()?),
            sta::EXPECTED_THROUGHPUT => out.expected_throughput_kbps = Some(a.u32()?),
            sta::CONNECTED_TIME => out.connected_time_s = Some(a.u32()?),
            sta::INACTIVE_TIME => out.inactive_time_ms = Some(a.u32()?),
            sta::BEACON_LOSS => out.beacon_loss = Some(a.u32()?),
            sta::BEACON_RX => out.beacon_rx = Some(a.u64()?),
            _ => {}
        }
    }
    Ok(out)
}

fn parse_rate(bytes: &[u8]) -> Result<Rate, ParseError> {
    let mut out = Rate::default();
    let (mut bitrate16, mut bitrate32, mut short_gi, mut resource_unit) = (None, None, false, false);
    let mut width = 20;
    for a in attributes(bytes, "rate info")? {
        match a.kind {
            rate::BITRATE => bitrate16 = Some(u32::from(a.u16()?)),
            rate::BITRATE32 => bitrate32 = Some(a.u32()?),
            rate::MCS => (out.phy, out.mcs) = (Some(Phy::Ht), Some(a.u8()?)),
            rate::VHT_MCS => (out.phy, out.mcs) = (Some(Phy::Vht), Some(a.u8()?)),
            rate::HE_MCS => (out.phy, out.mcs) = (Some(Phy::He), Some(a.u8()?)),
            rate::EHT_MCS => (out.phy, out.mcs) = (Some(Phy::Eht), Some(a.u8()?)),
            rate::VHT_NSS | rate::HE_NSS | rate::EHT_NSS => out.nss = Some(a.u8()?),
            rate::SHORT_GI => short_gi = true,
            rate::HE_GI | rate::EHT_GI => out.gi_us = he_gi_us(a.u8()?),
            rate::HE_RU_ALLOC | rate::EHT_RU_ALLOC => resource_unit = true,
            rate::WIDTH_5 => width = 5,
            rate::WIDTH_10 => width = 10,
            rate::WIDTH_40 => width = 40,
            rate::WIDTH_80 => width = 80,
            rate::WIDTH_80P80 | rate::WIDTH_160 => width = 160,
            rate::WIDTH_320 => width = 320,
            _ => {}
        }
    }
    // The kernel sends BITRATE32 always and BITRATE (u16) only while it fits.
    out.bitrate_mbps = bitrate32.or(bitrate16).map(|r| f64::from(r) / 10.0);
    match out.phy {
        Some(Phy::Ht | Phy::Vht) => out.gi_us = Some(if short_gi { 0.4 } else { 0.8 }),
        None => out.phy = Some(Phy::Legacy),
        _ => {}
    }
    out.width_mhz = (!resource_unit).then_some(width);
    Ok(out)
}

fn parse_bss(bytes: &[u8]) -> Result<Bss, ParseError> {
    let mut out = Bss::default();
    for a in attributes(bytes, "scan result")? {
        match a.kind {
            attr::IFINDEX => out.ifindex = Some(a.u32()?),
            attr::BSS => {
                let mut ies = None;
                let mut beacon_ies = None;
                for b in a.nested("BSS")? {
                    match b.kind {
                        bss::BSSID => out.bssid = Some(b.mac()?),
                        bss::FREQUENCY => out.frequency_mhz = Some(b.u32()?),
                        bss::SIGNAL_MBM => out.signal_mbm = Some(b.i32()?),
                        bss::STATUS => out.status = Some(b.u32()?),
                        bss::CAPABILITY => out.capability = Some(b.u16()?),
                        bss::SEEN_MS_AGO => out.seen_ms_ago = Some(b.u32()?),
                        bss::MLO_LINK_ID => out.mlo_link_id = Some(b.u8()?),
                        bss::INFORMATION_ELEMENTS => ies = Some(b.payload),
                        bss::BEACON_IES => beacon_ies = Some(b.payload),
                        _ => {}
                    }
                }
                if let Some(ies) = ies.or(beacon_ies) {
                    let elements = Elements::parse(ies);
                    out.security = Some(elements.security(out.capability.unwrap_or(0)));
                    if let Some(primary) = out.frequency_mhz {
                        (out.width_mhz, out.center_freq1_mhz) = elements.operating_channel(primary);
                    }
                    out.ssid = elements.ssid;
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parse_survey(bytes: &[u8]) -> Result<Survey, ParseError> {
    let mut out = Survey::default();
    for a in attributes(bytes, "survey")? {
        match a.kind {
            attr::IFINDEX => out.ifindex = Some(a.u32()?),
            attr::SURVEY_INFO => {
                for s in a.nested("survey info")? {
                    match s.kind {
                        survey::FREQUENCY => out.frequency_mhz = Some(s.u32()?),
                        survey::NOISE => out.noise_dbm = Some(s.i8()?),
                        survey::IN_USE => out.in_use = true,
                        survey::TIME => out.active_ms = Some(s.u64()?),
                        survey::TIME_BUSY => out.busy_ms = Some(s.u64()?),
                        survey::TIME_RX => out.rx_ms = Some(s.u64()?),
                        survey::TIME_TX => out.tx_ms = Some(s.u64()?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// What the information elements of a BSS say (IEEE 802.11-2020 §9.4.2).
#[derive(Debug, Default)]
struct Elements {
    ssid: Option<String>,
    /// AKM suite types of the RSN element (OUI 00-0F-AC).
    rsn_akms: Option<Vec<u8>>,
    wpa: bool,
    /// HT operation: secondary channel offset (1 above, 3 below).
    ht_secondary: Option<u8>,
    /// VHT operation: channel width, centre segments 0 and 1 (channel numbers).
    vht: Option<(u8, u8, u8)>,
}

impl Elements {
    /// Reads elements until one does not fit (APs send what they like; a short tail is not a
    /// netlink error).
    fn parse(mut ies: &[u8]) -> Self {
        let mut out = Self::default();
        while let [id, len, rest @ ..] = ies {
            let Some(body) = rest.get(..usize::from(*len)) else {
                break;
            };
            match id {
                0 => out.ssid = Some(String::from_utf8_lossy(body).into_owned()),
                48 => out.rsn_akms = Some(rsn_akms(body)),
                61 => out.ht_secondary = body.get(1).map(|b| b & 0x03),
                192 => {
                    if let [width, seg0, seg1, ..] = body {
                        out.vht = Some((*width, *seg0, *seg1));
                    }
                }
                221 if body.starts_with(&[0x00, 0x50, 0xf2, 0x01]) => out.wpa = true,
                _ => {}
            }
            ies = &rest[usize::from(*len)..];
        }
        out
    }

    /// The weakest security the network accepts: a WPA2/WPA3 transition network is WPA2.
    fn security(&self, capability: u16) -> Security {
        const PRIVACY: u16 = 0x0010;
        match &self.rsn_akms {
            // 802.1X, PSK, FT-802.1X, FT-PSK, 802.1X-SHA256, PSK-SHA256.
            Some(akms) if akms.iter().any(|a| matches!(a, 1..=6)) => Security::Wpa2,
            // SAE, FT-SAE, Suite B, FT-802.1X-SHA384, OWE, SAE-EXT-KEY, FT-SAE-EXT-KEY…
            Some(akms) if !akms.is_empty() => Security::Wpa3,
            // An RSN element without AKMs defaults to 802.1X (802.11-2020 §9.4.2.24.1).
            Some(_) => Security::Wpa2,
            None if self.wpa => Security::Wpa,
            None if capability & PRIVACY != 0 => Security::Wep,
            None => Security::Open,
        }
    }

    /// Width and centre frequency from the HT and VHT operation elements.
    fn operating_channel(&self, primary: u32) -> (Option<u32>, Option<u32>) {
        let base = if primary < 3000 { 2407 } else { 5000 };
        if let Some((1.., seg0, seg1)) = self.vht {
            let center0 = base + 5 * u32::from(seg0);
            // 160 MHz is signalled by a second segment 8 channels from the first.
            if seg1 != 0 && seg1.abs_diff(seg0) == 8 {
                return (Some(160), Some(base + 5 * u32::from(seg1)));
            }
            return (Some(80), Some(center0));
        }
        match self.ht_secondary {
            Some(1) => (Some(40), Some(primary + 10)),
            Some(3) => (Some(40), primary.checked_sub(10)),
            Some(_) => (Some(20), Some(primary)),
            None => (None, None),
        }
    }
}

fn rsn_akms(body: &[u8]) -> Vec<u8> {
    // version (2), group cipher (4), pairwise count (2) + suites, AKM count (2) + suites.
    let Some(pairwise) = body.get(6..8).map(|c| usize::from(u16::from_le_bytes([c[0], c[1]]))) else {
        return Vec::new();
    };
    let at = 8 + 4 * pairwise;
    let Some(count) = body
        .get(at..at + 2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
    else {
        return Vec::new();
    };
    body.get(at + 2..)
        .unwrap_or_default()
        .chunks_exact(4)
        .take(count)
        .filter(|s| s[..3] == [0x00, 0x0f, 0xac])
        .map(|s| s[3])
        .collect()
}

/// `enum nl80211_chan_width` → MHz.
fn chan_width_mhz(width: u32) -> Option<u32> {
    Some(match width {
        0 | 1 => 20,
        2 => 40,
        3 => 80,
        4 | 5 => 160,
        6 => 5,
        7 => 10,
        8 => 1,
        9 => 2,
        10 => 4,
        11 => 8,
        12 => 16,
        13 => 320,
        _ => return None,
    })
}

/// `enum nl80211_he_gi` / `nl80211_eht_gi` → µs.
fn he_gi_us(gi: u8) -> Option<f64> {
    match gi {
        0 => Some(0.8),
        1 => Some(1.6),
        2 => Some(3.2),
        _ => None,
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_well_formed() {
        let r = request(
            0x1c,
            NLM_F_REQUEST | NLM_F_DUMP,
            7,
            cmd::GET_STATION,
            &[(attr::IFINDEX, &3u32.to_le_bytes())],
        );
        assert_eq!(r.len(), 16 + 4 + 8);
        assert_eq!(&r[0..4], &28u32.to_le_bytes());
        assert_eq!(&r[4..6], &0x1cu16.to_le_bytes());
        assert_eq!(r[16], cmd::GET_STATION);
        let attrs = attributes(&r[20..], "t").expect("parses");
        assert_eq!(attrs[0].u32(), Ok(3));
    }

    #[test]
    fn kernel_errors_and_absent_families() {
        let mut enoent = vec![];
        enoent.extend_from_slice(&36u32.to_le_bytes());
        enoent.extend_from_slice(&NLMSG_ERROR.to_le_bytes());
        enoent.extend_from_slice(&[0; 10]);
        enoent.extend_from_slice(&(-2i32).to_le_bytes());
        enoent.extend_from_slice(&[0; 16]);
        assert_eq!(parse_family_id(&enoent), Ok(None));
        enoent[16..20].copy_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(parse_family_id(&enoent), Err(ParseError::Kernel { errno: 1 }));
    }

    #[test]
    fn security_from_elements() {
        let rsn = |akms: &[u8]| {
            let mut body = vec![1, 0, 0x00, 0x0f, 0xac, 4, 1, 0, 0x00, 0x0f, 0xac, 4];
            body.extend_from_slice(&u16::try_from(akms.len()).expect("few").to_le_bytes());
            for a in akms {
                body.extend_from_slice(&[0x00, 0x0f, 0xac, *a]);
            }
            let mut ie = vec![48, u8::try_from(body.len()).expect("short")];
            ie.extend(body);
            ie
        };
        assert_eq!(Elements::parse(&rsn(&[2])).security(0x11), Security::Wpa2);
        assert_eq!(Elements::parse(&rsn(&[8])).security(0x11), Security::Wpa3);
        assert_eq!(Elements::parse(&rsn(&[2, 8])).security(0x11), Security::Wpa2);
        assert_eq!(Elements::parse(&[]).security(0x11), Security::Wep);
        assert_eq!(Elements::parse(&[]).security(0x01), Security::Open);
        assert_eq!(
            Elements::parse(&[221, 6, 0x00, 0x50, 0xf2, 0x01, 1, 0]).security(0x11),
            Security::Wpa
        );
        // A truncated element ends the walk without a panic.
        assert_eq!(Elements::parse(&[0, 40, b'x']).ssid, None);
    }
}
