//! A DNS server over UDP that answers from a static zone, with the failure modes a resolver can
//! show: slow, SERVFAIL, REFUSED, silent, silent for AAAA only, and NXDOMAIN hijacking.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use std::net::Ipv4Addr;
//! use sonde_netsim::Netns;
//! use sonde_netsim::peers::dns::{self, Mode, Zone};
//!
//! let ns = Netns::new("isp")?;
//! ns.ip(&["addr", "add", "192.0.2.53/32", "dev", "lo"])?;
//! let zone = Zone::new().with("example.com", Ipv4Addr::new(203, 0, 113, 10));
//! let server = dns::spawn(&ns, "192.0.2.53:53".parse()?, zone, Mode::Normal)?;
//! // … a test queries it from inside `ns` …
//! server.set_mode(Mode::Servfail);
//! # Ok(()) }
//! ```
//!
//! Messages are decoded and encoded with hickory-proto over a tokio `UdpSocket`, rather than with
//! hickory-server: the failure modes need control that a conforming server does not offer (never
//! answering, delaying one answer without holding back the others, lying about unknown names),
//! and the whole server is one small loop. It answers as a recursive resolver would (RA set, AA
//! clear), which is what the customer's device talks to. No TCP: answers are small.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::Deserialize;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::PeerThread;
use crate::Netns;

/// How the DNS peer answers.
///
/// In a scenario TOML file, a unit mode is a string and a mode with a value is a one-key table:
///
/// ```toml
/// mode = "normal"                               # answer from the zone, NXDOMAIN for the rest
/// mode = { slow-ms = 800 }                      # as normal, each answer 800 ms late
/// mode = "servfail"                             # every query gets SERVFAIL
/// mode = "refused"                              # every query gets REFUSED
/// mode = "drop"                                 # never answer
/// mode = "drop-aaaa"                            # as normal, but never answer AAAA queries
/// mode = { nxdomain-hijack = "198.51.100.99" }  # unknown names resolve to this address
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Answer from the zone; names it does not have get NXDOMAIN.
    #[default]
    Normal,
    /// As [`Mode::Normal`], each answer sent this many milliseconds late (other queries are not
    /// held up meanwhile).
    SlowMs(u64),
    /// Every query gets SERVFAIL (the resolver cannot reach the authorities, or is broken).
    Servfail,
    /// Every query gets REFUSED (the resolver does not serve this client).
    Refused,
    /// Queries are counted and never answered (the resolver is down or unreachable).
    Drop,
    /// As [`Mode::Normal`], except that AAAA queries are counted and never answered: the box
    /// DNS relay bug that stalls every new site while IPv4 names resolve.
    DropAaaa,
    /// As [`Mode::Normal`], except that names not in the zone resolve to this address instead
    /// of NXDOMAIN, as the resolvers of ISPs that hijack typos do. Only queries of the
    /// address's own type (A for IPv4, AAAA for IPv6) get it; others get an empty answer.
    NxdomainHijack(IpAddr),
}

/// The names the DNS peer knows, with their addresses (A and AAAA records, TTL 60 s).
///
/// Names are case-insensitive, with or without the final dot. A name `*.example.com` is a
/// wildcard: it answers for every name below `example.com` (not for `example.com` itself) that
/// the zone does not list. Simplified from RFC 4592: the most specific wildcard wins, and a
/// listed name does not hide the wildcard from the names below it.
///
/// In a scenario TOML file, a table of name → addresses:
///
/// ```toml
/// [zone]
/// "example.com" = ["203.0.113.10", "2001:db8::10"]
/// "*.example.com" = ["203.0.113.11"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "BTreeMap<String, Vec<IpAddr>>")]
pub struct Zone {
    names: BTreeMap<String, Vec<IpAddr>>,
}

/// TTL of every record the peer sends.
const TTL: u32 = 60;

/// Largest datagram read; longer ones arrive cut and fail to decode.
const RECEIVE_BUFFER: usize = 4096;

/// The UDP payload size the peer advertises to EDNS clients.
const EDNS_PAYLOAD: u16 = 1232;

impl Zone {
    /// An empty zone: every name is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an address for `name` (A for IPv4, AAAA for IPv6); call again for more.
    #[must_use]
    pub fn with(mut self, name: &str, addr: impl Into<IpAddr>) -> Self {
        self.insert(name, addr);
        self
    }

    /// Adds an address for `name`.
    pub fn insert(&mut self, name: &str, addr: impl Into<IpAddr>) {
        self.names.entry(normalize(name)).or_default().push(addr.into());
    }

    /// The addresses of `name`: its own, else those of the most specific wildcard above it.
    /// `None` when the zone does not know the name.
    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        let name = normalize(name);
        if let Some(addrs) = self.names.get(&name) {
            return Some(addrs);
        }
        let mut rest = name.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(addrs) = self.names.get(&format!("*.{parent}")) {
                return Some(addrs);
            }
            rest = parent;
        }
        None
    }
}

impl From<BTreeMap<String, Vec<IpAddr>>> for Zone {
    fn from(raw: BTreeMap<String, Vec<IpAddr>>) -> Self {
        let mut zone = Self::new();
        for (name, addrs) in raw {
            for addr in addrs {
                zone.insert(&name, addr);
            }
        }
        zone
    }
}

/// A running DNS peer; dropping it stops the server and closes its socket.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    counters: Arc<Counters>,
    // Last: dropped (stopped and joined) after the rest.
    _thread: PeerThread,
}

impl Handle {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode.borrow().clone()
    }

    /// Changes how the server answers from the next query on.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// How many DNS queries arrived, in any mode (dropped ones too).
    pub fn queries(&self) -> u64 {
        self.counters.queries.load(Ordering::Relaxed)
    }

    /// How many datagrams were ignored because they were not DNS queries (undecodable, or
    /// responses).
    pub fn malformed(&self) -> u64 {
        self.counters.malformed.load(Ordering::Relaxed)
    }
}

/// Starts a DNS server on UDP `addr` inside `ns`, answering from `zone` in `mode`. Returns once
/// the socket is bound; a bind error (address not in the namespace, port taken) is the `Err`.
pub fn spawn(ns: &Netns, addr: SocketAddr, zone: Zone, mode: Mode) -> anyhow::Result<Handle> {
    let (mode_tx, mode_rx) = watch::channel(mode);
    let counters = Arc::new(Counters::default());
    let served = counters.clone();
    let bind = move || {
        let socket = std::net::UdpSocket::bind(addr).with_context(|| format!("bind UDP {addr}"))?;
        socket.set_nonblocking(true).context("non-blocking socket")?;
        let socket = UdpSocket::from_std(socket).context("register the socket with tokio")?;
        let local = socket.local_addr().context("local address")?;
        Ok((socket, local))
    };
    let serve = move |socket| serve(socket, zone, mode_rx, served);
    let (thread, addr) = PeerThread::spawn(ns, "dns", bind, serve)?;
    Ok(Handle {
        addr,
        mode: mode_tx,
        counters,
        _thread: thread,
    })
}

#[derive(Debug, Default)]
struct Counters {
    queries: AtomicU64,
    malformed: AtomicU64,
}

async fn serve(socket: UdpSocket, zone: Zone, mode: watch::Receiver<Mode>, counters: Arc<Counters>) {
    let socket = Arc::new(socket);
    let mut buf = vec![0; RECEIVE_BUFFER];
    loop {
        let Ok((len, client)) = socket.recv_from(&mut buf).await else {
            // Nothing here is fatal (e.g. an ICMP error reported on the socket): keep serving,
            // after a pause so that a persistent error cannot spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Some(query) = buf.get(..len).and_then(|bytes| Message::from_vec(bytes).ok()) else {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if query.metadata.message_type != MessageType::Query {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counters.queries.fetch_add(1, Ordering::Relaxed);
        let mode = mode.borrow().clone();
        let Some(bytes) = answer(&zone, &mode, &query).and_then(|response| encode(&response, &query)) else {
            continue;
        };
        match mode {
            Mode::SlowMs(ms) => {
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let _ = socket.send_to(&bytes, client).await;
                });
            }
            _ => {
                let _ = socket.send_to(&bytes, client).await;
            }
        }
    }
}

/// The response to `query` in `mode`, or `None` when the peer stays silent.
fn answer(zone: &Zone, mode: &Mode, query: &Message) -> Option<Message> {
    let aaaa = query.queries.iter().any(|q| q.query_type() == RecordType::AAAA);
    if *mode == Mode::Drop || (*mode == Mode::DropAaaa && aaaa) {
        return None;
    }
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.checking_disabled = query.metadata.checking_disabled;
    response.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        // RFC 6891: a response to an EDNS query carries an OPT record too.
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    response.metadata.response_code = match mode {
        Mode::Servfail => ResponseCode::ServFail,
        Mode::Refused => ResponseCode::Refused,
        _ if query.metadata.op_code != OpCode::Query => ResponseCode::NotImp,
        _ => match query.queries.as_slice() {
            [question] if question.query_class() == DNSClass::IN => {
                let name = question.name();
                match (zone.lookup(&name.to_ascii()), mode) {
                    (Some(addrs), _) => answer_with(&mut response, name, question.query_type(), addrs),
                    (None, Mode::NxdomainHijack(addr)) => {
                        answer_with(&mut response, name, question.query_type(), &[*addr])
                    }
                    (None, _) => ResponseCode::NXDomain,
                }
            }
            [_] => ResponseCode::Refused,
            _ => ResponseCode::FormErr,
        },
    };
    Some(response)
}

/// Adds the records of `addrs` that answer a `query_type` query for `name`; NOERROR, with an
/// empty answer when none does.
fn answer_with(response: &mut Message, name: &Name, query_type: RecordType, addrs: &[IpAddr]) -> ResponseCode {
    for addr in addrs {
        let data = match (addr, query_type) {
            (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => RData::A(A(*v4)),
            (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => RData::AAAA(AAAA(*v6)),
            _ => continue,
        };
        response.add_answer(Record::from_rdata(name.clone(), TTL, data));
    }
    ResponseCode::NoError
}

/// The response's bytes, truncated (TC set, no records) when they exceed what the client
/// accepts over UDP.
fn encode(response: &Message, query: &Message) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= usize::from(query.max_payload()) {
        return Some(bytes);
    }
    response.truncate().to_vec().ok()
}

/// A name as the zone keys it: lower case, without the final dot.
fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::op::Query;

    use super::*;

    const WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
    const WEB6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
    const WILD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);
    const HIJACK: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 99);

    fn zone() -> Zone {
        Zone::new()
            .with("Example.com.", WEB)
            .with("example.com", WEB6)
            .with("*.example.com", WILD)
    }

    fn query(name: &str, query_type: RecordType) -> Message {
        let mut query = Message::query();
        query.metadata.id = 0x1234;
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(Name::from_ascii(name).unwrap(), query_type));
        query
    }

    fn addrs(response: &Message) -> Vec<IpAddr> {
        response.answers.iter().filter_map(|r| r.data.ip_addr()).collect()
    }

    #[test]
    fn zone_lookup_is_case_insensitive_and_falls_back_to_the_closest_wildcard() {
        let zone = zone().with("*.b.example.com", HIJACK);
        let web = [IpAddr::V4(WEB), IpAddr::V6(WEB6)];
        assert_eq!(zone.lookup("EXAMPLE.com."), Some(&web[..]));
        assert_eq!(zone.lookup("www.example.com"), Some(&[IpAddr::V4(WILD)][..]));
        assert_eq!(zone.lookup("a.www.example.com"), Some(&[IpAddr::V4(WILD)][..]));
        assert_eq!(zone.lookup("a.b.example.com"), Some(&[IpAddr::V4(HIJACK)][..]));
        assert_eq!(zone.lookup("example.org"), None);
        assert_eq!(zone.lookup("com"), None);
        assert_eq!(zone.lookup("."), None);
    }

    #[test]
    fn normal_answers_by_type_and_nxdomain_for_unknown_names() {
        let zone = zone();
        let cases: &[(&str, RecordType, ResponseCode, &[IpAddr])] = &[
            ("example.com.", RecordType::A, ResponseCode::NoError, &[IpAddr::V4(WEB)]),
            (
                "example.com.",
                RecordType::AAAA,
                ResponseCode::NoError,
                &[IpAddr::V6(WEB6)],
            ),
            ("example.com.", RecordType::MX, ResponseCode::NoError, &[]),
            (
                "www.example.com.",
                RecordType::A,
                ResponseCode::NoError,
                &[IpAddr::V4(WILD)],
            ),
            ("nope.example.org.", RecordType::A, ResponseCode::NXDomain, &[]),
        ];
        for (name, query_type, code, expected) in cases {
            let q = query(name, *query_type);
            let r = answer(&zone, &Mode::Normal, &q).unwrap();
            assert_eq!(r.metadata.response_code, *code, "{name} {query_type}");
            assert_eq!(addrs(&r), *expected, "{name} {query_type}");
            assert_eq!(r.metadata.id, 0x1234);
            assert_eq!(r.metadata.message_type, MessageType::Response);
            assert!(r.metadata.recursion_available && r.metadata.recursion_desired);
            assert_eq!(r.queries, q.queries, "the question is copied");
            assert!(r.answers.iter().all(|a| a.name == *q.queries[0].name()));
        }
    }

    #[test]
    fn failure_modes() {
        let zone = zone();
        let known = query("example.com.", RecordType::A);
        let unknown = query("exmaple.com.", RecordType::A);
        let code = |mode: &Mode, q: &Message| answer(&zone, mode, q).map(|r| r.metadata.response_code);
        assert_eq!(code(&Mode::Servfail, &known), Some(ResponseCode::ServFail));
        assert_eq!(code(&Mode::Refused, &known), Some(ResponseCode::Refused));
        assert_eq!(code(&Mode::Drop, &known), None);
        assert_eq!(code(&Mode::DropAaaa, &known), Some(ResponseCode::NoError));
        assert_eq!(code(&Mode::DropAaaa, &unknown), Some(ResponseCode::NXDomain));
        assert_eq!(code(&Mode::DropAaaa, &query("example.com.", RecordType::AAAA)), None);
        assert_eq!(code(&Mode::DropAaaa, &query("exmaple.com.", RecordType::AAAA)), None);
        assert_eq!(code(&Mode::SlowMs(10), &unknown), Some(ResponseCode::NXDomain));

        let hijack = Mode::NxdomainHijack(HIJACK.into());
        let r = answer(&zone, &hijack, &unknown).unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(addrs(&r), [IpAddr::V4(HIJACK)]);
        let r = answer(&zone, &hijack, &query("exmaple.com.", RecordType::AAAA)).unwrap();
        assert_eq!((r.metadata.response_code, r.answers.len()), (ResponseCode::NoError, 0));
        let r = answer(&zone, &hijack, &known).unwrap();
        assert_eq!(addrs(&r), [IpAddr::V4(WEB)], "known names are not hijacked");
    }

    #[test]
    fn odd_queries_get_errors_not_panics() {
        let zone = zone();
        let mut none = query("example.com.", RecordType::A);
        none.queries.clear();
        assert_eq!(
            answer(&zone, &Mode::Normal, &none).unwrap().metadata.response_code,
            ResponseCode::FormErr
        );
        let mut chaos = query("version.bind.", RecordType::TXT);
        chaos.queries[0].set_query_class(DNSClass::CH);
        assert_eq!(
            answer(&zone, &Mode::Normal, &chaos).unwrap().metadata.response_code,
            ResponseCode::Refused
        );
        let mut notify = query("example.com.", RecordType::SOA);
        notify.metadata.op_code = OpCode::Notify;
        assert_eq!(
            answer(&zone, &Mode::Normal, &notify).unwrap().metadata.response_code,
            ResponseCode::NotImp
        );
        for junk in [
            &b""[..],
            b"\x12",
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc",
        ] {
            assert!(Message::from_vec(junk).is_err(), "{junk:?} does not decode");
        }
    }

    #[test]
    fn edns_queries_get_an_opt_record_and_oversized_answers_are_truncated() {
        let mut big = Zone::new();
        for i in 0..100u8 {
            big.insert("many.example.com", Ipv4Addr::new(203, 0, 113, i));
        }
        let plain = query("many.example.com.", RecordType::A);
        let r = answer(&big, &Mode::Normal, &plain).unwrap();
        assert!(r.edns.is_none());
        let bytes = encode(&r, &plain).unwrap();
        let decoded = Message::from_vec(&bytes).unwrap();
        assert!(decoded.metadata.truncation && decoded.answers.is_empty() && bytes.len() <= 512);

        let mut with_edns = plain.clone();
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        with_edns.set_edns(edns);
        let r = answer(&big, &Mode::Normal, &with_edns).unwrap();
        let decoded = Message::from_vec(&encode(&r, &with_edns).unwrap()).unwrap();
        assert!(!decoded.metadata.truncation);
        assert_eq!(decoded.answers.len(), 100);
        assert!(decoded.edns.is_some());
    }

    #[test]
    fn modes_and_zones_parse_from_toml() {
        #[derive(Deserialize)]
        struct Peer {
            mode: Mode,
            #[serde(default)]
            zone: Zone,
        }
        let cases = [
            (r#"mode = "normal""#, Mode::Normal),
            ("mode = { slow-ms = 800 }", Mode::SlowMs(800)),
            (r#"mode = "servfail""#, Mode::Servfail),
            (r#"mode = "refused""#, Mode::Refused),
            (r#"mode = "drop""#, Mode::Drop),
            (r#"mode = "drop-aaaa""#, Mode::DropAaaa),
            (
                r#"mode = { nxdomain-hijack = "198.51.100.99" }"#,
                Mode::NxdomainHijack(HIJACK.into()),
            ),
        ];
        for (text, mode) in cases {
            assert_eq!(toml::from_str::<Peer>(text).unwrap().mode, mode, "{text}");
        }
        for bad in [
            r#"mode = "sloow""#,
            "mode = { slow-ms = -1 }",
            r#"mode = { nxdomain-hijack = "x" }"#,
        ] {
            assert!(toml::from_str::<Peer>(bad).is_err(), "{bad}");
        }
        let peer: Peer = toml::from_str(
            r#"
            mode = "normal"
            [zone]
            "Example.com" = ["203.0.113.10", "2001:db8::10"]
            "*.example.com" = ["203.0.113.11"]
            "#,
        )
        .unwrap();
        assert_eq!(peer.zone, zone());
    }
}
