//! The fake service peers on real sockets: each test makes a namespace, gives its loopback a
//! documentation address, starts a peer there and talks to it from inside the same namespace.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sonde_netsim::peers::{dns, http};
use sonde_netsim::{Netns, require_netsim};

const DNS_ADDR: &str = "192.0.2.53:53";
const HTTP_ADDR: &str = "192.0.2.80:80";
const WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const WEB6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const WILD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);
const HIJACK: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 99);
/// What a client waits for an answer that must not come.
const SHORT: Duration = Duration::from_millis(500);
/// What a client waits for an answer that must come.
const LONG: Duration = Duration::from_secs(5);

// ---- DNS ----

/// A namespace with a DNS peer on 192.0.2.53:53 (fields drop in order: the peer first).
struct DnsLab {
    server: dns::Handle,
    ns: Netns,
}

impl DnsLab {
    fn new(mode: dns::Mode) -> Self {
        let ns = namespace_with("dns", "192.0.2.53/32");
        let zone = dns::Zone::new()
            .with("example.com", WEB)
            .with("example.com", WEB6)
            .with("*.example.com", WILD);
        let server = dns::spawn(&ns, addr(DNS_ADDR), zone, mode).expect("start the DNS peer");
        assert_eq!(server.addr(), addr(DNS_ADDR));
        Self { server, ns }
    }

    /// One query from inside the namespace.
    fn query(&self, name: &str, query_type: RecordType, timeout: Duration) -> io::Result<Message> {
        let server = self.server.addr();
        let name = name.to_owned();
        inside(&self.ns, move || dns_query(server, &name, query_type, timeout))
    }

    fn code(&self, name: &str, query_type: RecordType) -> ResponseCode {
        self.query(name, query_type, LONG)
            .expect("an answer")
            .metadata
            .response_code
    }
}

#[test]
fn dns_peer_answers_from_its_zone_and_nxdomain_otherwise() {
    if !require_netsim("dns_peer_answers_from_its_zone_and_nxdomain_otherwise") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::Normal);
    let a = lab.query("example.com.", RecordType::A, LONG).expect("A answer");
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.recursion_available, "RA set");
    assert_eq!(addresses(&a), [IpAddr::V4(WEB)]);
    let aaaa = lab.query("EXAMPLE.com.", RecordType::AAAA, LONG).expect("AAAA answer");
    assert_eq!(addresses(&aaaa), [IpAddr::V6(WEB6)]);
    let wild = lab
        .query("www.example.com.", RecordType::A, LONG)
        .expect("wildcard answer");
    assert_eq!(addresses(&wild), [IpAddr::V4(WILD)]);
    let unknown = lab.query("exmaple.com.", RecordType::A, LONG).expect("NXDOMAIN");
    assert_eq!(unknown.metadata.response_code, ResponseCode::NXDomain);
    assert!(unknown.answers.is_empty());
    assert_eq!(lab.server.queries(), 4);
    assert_eq!(lab.server.malformed(), 0);
}

#[test]
fn dns_peer_slow_mode_delays_each_answer_without_holding_back_the_others() {
    if !require_netsim("dns_peer_slow_mode_delays_each_answer_without_holding_back_the_others") {
        return;
    }
    const DELAY: Duration = Duration::from_millis(400);
    let lab = DnsLab::new(dns::Mode::SlowMs(400));
    let server = lab.server.addr();
    // Three queries at once on one socket: served one after the other, they would take 1.2 s.
    let (elapsed, codes) = inside(&lab.ns, move || -> io::Result<_> {
        let socket = client_socket(server, LONG)?;
        let names = ["example.com.", "www.example.com.", "exmaple.com."];
        let started = Instant::now();
        for (id, name) in (1u16..).zip(names) {
            socket.send(&query_bytes(id, name, RecordType::A))?;
        }
        let mut codes = Vec::new();
        let mut buf = [0; 4096];
        for _ in names {
            let len = socket.recv(&mut buf)?;
            let response = Message::from_vec(&buf[..len]).map_err(io::Error::other)?;
            codes.push((response.metadata.id, response.metadata.response_code));
        }
        codes.sort_unstable_by_key(|(id, _)| *id);
        Ok((started.elapsed(), codes))
    })
    .expect("three answers");
    assert!(
        elapsed >= DELAY,
        "answered after {elapsed:?}, before the {DELAY:?} delay"
    );
    assert!(
        elapsed < DELAY * 2,
        "{elapsed:?}: the answers were delayed one after the other"
    );
    assert_eq!(
        codes,
        [
            (1, ResponseCode::NoError),
            (2, ResponseCode::NoError),
            (3, ResponseCode::NXDomain)
        ]
    );
}

#[test]
fn dns_peer_servfail_then_refused() {
    if !require_netsim("dns_peer_servfail_then_refused") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::Servfail);
    let failed = lab.query("example.com.", RecordType::A, LONG).expect("SERVFAIL");
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    assert!(failed.answers.is_empty());
    lab.server.set_mode(dns::Mode::Refused);
    assert_eq!(lab.server.mode(), dns::Mode::Refused);
    assert_eq!(lab.code("example.com.", RecordType::A), ResponseCode::Refused);
    assert_eq!(lab.code("exmaple.com.", RecordType::A), ResponseCode::Refused);
}

#[test]
fn dns_peer_drop_mode_counts_queries_and_never_answers() {
    if !require_netsim("dns_peer_drop_mode_counts_queries_and_never_answers") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::Drop);
    let error = lab.query("example.com.", RecordType::A, SHORT).expect_err("no answer");
    assert!(is_timeout(&error), "a timeout, not {error:?}");
    assert_eq!(lab.server.queries(), 1, "the query arrived");
}

#[test]
fn dns_peer_mode_changes_while_it_runs() {
    if !require_netsim("dns_peer_mode_changes_while_it_runs") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::Normal);
    assert_eq!(lab.code("example.com.", RecordType::A), ResponseCode::NoError);
    lab.server.set_mode(dns::Mode::Drop);
    let error = lab.query("example.com.", RecordType::A, SHORT).expect_err("dropped");
    assert!(is_timeout(&error), "{error:?}");
    lab.server.set_mode(dns::Mode::Servfail);
    assert_eq!(lab.code("example.com.", RecordType::A), ResponseCode::ServFail);
    lab.server.set_mode(dns::Mode::Normal);
    assert_eq!(lab.code("example.com.", RecordType::A), ResponseCode::NoError);
    assert_eq!(lab.server.queries(), 4);
}

#[test]
fn dns_peer_hijacks_unknown_names() {
    if !require_netsim("dns_peer_hijacks_unknown_names") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::NxdomainHijack(HIJACK.into()));
    let typo = lab.query("exmaple.com.", RecordType::A, LONG).expect("hijacked");
    assert_eq!(typo.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&typo), [IpAddr::V4(HIJACK)]);
    let known = lab.query("example.com.", RecordType::A, LONG).expect("known");
    assert_eq!(addresses(&known), [IpAddr::V4(WEB)], "known names are answered truly");
    let typo6 = lab.query("exmaple.com.", RecordType::AAAA, LONG).expect("AAAA");
    assert_eq!(typo6.metadata.response_code, ResponseCode::NoError);
    assert!(typo6.answers.is_empty(), "an IPv4 hijack address answers no AAAA");
}

#[test]
fn dns_peer_ignores_malformed_packets_and_keeps_serving() {
    if !require_netsim("dns_peer_ignores_malformed_packets_and_keeps_serving") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::Normal);
    let server = lab.server.addr();
    let mut response = Message::from_vec(&query_bytes(7, "example.com.", RecordType::A)).expect("decode");
    response.metadata.message_type = MessageType::Response;
    let response = response.to_vec().expect("encode");
    let junk: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x12],
        vec![0xff; 300],
        // A header announcing a question whose name runs past the end.
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc".to_vec(),
        response,
    ];
    let count = junk.len() as u64;
    inside(&lab.ns, move || -> io::Result<()> {
        let socket = client_socket(server, SHORT)?;
        for packet in &junk {
            socket.send(packet)?;
        }
        let mut buf = [0; 512];
        match socket.recv(&mut buf) {
            Err(e) if is_timeout(&e) => Ok(()),
            Err(e) => Err(e),
            Ok(len) => Err(io::Error::other(format!("answered junk with {len} bytes"))),
        }
    })
    .expect("junk is not answered");
    let a = lab.query("example.com.", RecordType::A, LONG).expect("still serving");
    assert_eq!(addresses(&a), [IpAddr::V4(WEB)]);
    assert_eq!(lab.server.malformed(), count);
    assert_eq!(lab.server.queries(), 1);
}

#[test]
fn dns_peer_stops_promptly_when_dropped() {
    if !require_netsim("dns_peer_stops_promptly_when_dropped") {
        return;
    }
    let DnsLab { server, ns } = DnsLab::new(dns::Mode::SlowMs(30_000));
    let addr = server.addr();
    // An answer is pending (30 s away) when the handle drops: it must not hold up the stop.
    inside(&ns, move || {
        client_socket(addr, LONG).and_then(|s| s.send(&query_bytes(1, "example.com.", RecordType::A)))
    })
    .expect("send a query");
    wait_for(|| server.queries() == 1, "the query to arrive");
    let started = Instant::now();
    drop(server);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "stopping took {elapsed:?}");
    // Nothing listens any more: the kernel answers port unreachable, seen as refused.
    let error = inside(&ns, move || dns_query(addr, "example.com.", RecordType::A, LONG)).expect_err("stopped");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error:?}");
    // And the port is free again.
    let again = dns::spawn(&ns, addr, dns::Zone::new(), dns::Mode::Normal).expect("bind the port again");
    let r = inside(&ns, move || dns_query(addr, "example.com.", RecordType::A, LONG)).expect("answer");
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    drop(again);
}

#[test]
fn dns_peer_bind_errors_are_returned() {
    if !require_netsim("dns_peer_bind_errors_are_returned") {
        return;
    }
    let lab = DnsLab::new(dns::Mode::Normal);
    let taken = dns::spawn(&lab.ns, addr(DNS_ADDR), dns::Zone::new(), dns::Mode::Normal);
    let error = taken.expect_err("the port is taken");
    assert!(format!("{error:#}").contains("bind UDP 192.0.2.53:53"), "{error:#}");
    let foreign = dns::spawn(&lab.ns, addr("192.0.2.99:53"), dns::Zone::new(), dns::Mode::Normal);
    assert!(foreign.is_err(), "an address that is not in the namespace");
}

// ---- HTTP ----

/// A namespace with an HTTP peer on 192.0.2.80:80 (fields drop in order: the peer first).
struct HttpLab {
    server: http::Handle,
    ns: Netns,
}

impl HttpLab {
    fn new(mode: http::Mode) -> Self {
        let ns = namespace_with("http", "192.0.2.80/32");
        let server = http::spawn(&ns, addr(HTTP_ADDR), mode).expect("start the HTTP peer");
        assert_eq!(server.addr(), addr(HTTP_ADDR));
        Self { server, ns }
    }

    fn get(&self, path: &str, timeout: Duration) -> io::Result<Response> {
        let server = self.server.addr();
        let path = path.to_owned();
        inside(&self.ns, move || http_get(server, &path, timeout))
    }
}

#[test]
fn http_peer_serves_the_probe_a_page_and_downloads() {
    if !require_netsim("http_peer_serves_the_probe_a_page_and_downloads") {
        return;
    }
    let lab = HttpLab::new(http::Mode::Normal);
    let probe = lab.get("/generate_204", LONG).expect("probe");
    assert_eq!((probe.status, probe.body.len()), (204, 0));
    let page = lab.get("/", LONG).expect("page");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(String::from_utf8_lossy(&page.body).contains("<html>"));
    let download = lab.get("/bytes/3000000", LONG).expect("download");
    assert_eq!(download.status, 200);
    assert_eq!(download.body.len(), 3_000_000);
    let too_big = lab.get("/bytes/100000001", LONG).expect("refusal");
    assert_eq!(too_big.status, 400);
    assert_eq!(lab.server.requests(), 4);
}

#[test]
fn http_peer_becomes_a_captive_portal() {
    if !require_netsim("http_peer_becomes_a_captive_portal") {
        return;
    }
    let lab = HttpLab::new(http::Mode::Normal);
    assert_eq!(lab.get("/generate_204", LONG).expect("probe").status, 204);
    let login = "http://192.0.2.80/login";
    lab.server.set_mode(http::Mode::CaptivePortal(login.to_owned()));
    let redirected = lab.get("/", LONG).expect("redirect");
    assert_eq!(redirected.status, 302);
    assert_eq!(redirected.header("location"), Some(login));
    let probe = lab.get("/generate_204", LONG).expect("probe");
    assert_eq!(probe.status, 200, "the probe gets the portal's page, not 204");
    assert!(!probe.body.is_empty());
    assert_eq!(lab.get("/login", LONG).expect("login page").status, 200);
}

#[test]
fn http_peer_error_mode_answers_every_request_with_its_status() {
    if !require_netsim("http_peer_error_mode_answers_every_request_with_its_status") {
        return;
    }
    let lab = HttpLab::new(http::Mode::Error(http::StatusCode::BAD_GATEWAY));
    for path in ["/", "/generate_204", "/bytes/10"] {
        assert_eq!(lab.get(path, LONG).expect("answer").status, 502, "{path}");
    }
}

#[test]
fn http_peer_drop_mode_accepts_and_never_answers() {
    if !require_netsim("http_peer_drop_mode_accepts_and_never_answers") {
        return;
    }
    let lab = HttpLab::new(http::Mode::Drop);
    let started = Instant::now();
    let error = lab.get("/generate_204", SHORT).expect_err("no answer");
    assert!(is_timeout(&error), "connected, then a read timeout, not {error:?}");
    assert!(started.elapsed() >= SHORT);
    assert_eq!(lab.server.requests(), 1, "the request arrived");
}

#[test]
fn http_peer_refuse_mode_closes_the_port_until_the_mode_changes() {
    if !require_netsim("http_peer_refuse_mode_closes_the_port_until_the_mode_changes") {
        return;
    }
    let lab = HttpLab::new(http::Mode::Normal);
    assert_eq!(lab.get("/generate_204", LONG).expect("probe").status, 204);
    lab.server.set_mode(http::Mode::Refuse);
    wait_for(
        || {
            lab.get("/", SHORT)
                .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
        },
        "connections to be refused",
    );
    lab.server.set_mode(http::Mode::Normal);
    wait_for(
        || lab.get("/generate_204", SHORT).is_ok_and(|r| r.status == 204),
        "the peer to listen again",
    );
}

#[test]
fn http_peer_stops_promptly_when_dropped_even_with_a_hanging_connection() {
    if !require_netsim("http_peer_stops_promptly_when_dropped_even_with_a_hanging_connection") {
        return;
    }
    let HttpLab { server, ns } = HttpLab::new(http::Mode::Drop);
    let addr = server.addr();
    // A request left hanging on an open connection.
    let mut hanging = inside(&ns, move || -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect_timeout(&addr, LONG)?;
        write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
        Ok(stream)
    })
    .expect("connect");
    wait_for(|| server.requests() == 1, "the request to arrive");
    let started = Instant::now();
    drop(server);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "stopping took {elapsed:?}");
    // The hanging connection was closed with the peer, and the port is closed.
    hanging.set_read_timeout(Some(LONG)).expect("timeout");
    let mut rest = Vec::new();
    let closed = hanging.read_to_end(&mut rest);
    assert!(
        closed.as_ref().is_ok_and(|n| *n == 0) || closed.as_ref().is_err_and(|e| !is_timeout(e)),
        "{closed:?}"
    );
    let error = inside(&ns, move || TcpStream::connect_timeout(&addr, LONG)).expect_err("refused");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error:?}");
}

#[test]
fn http_peer_bind_errors_are_returned() {
    if !require_netsim("http_peer_bind_errors_are_returned") {
        return;
    }
    let lab = HttpLab::new(http::Mode::Normal);
    let error = http::spawn(&lab.ns, addr(HTTP_ADDR), http::Mode::Normal).expect_err("the port is taken");
    assert!(format!("{error:#}").contains("bind TCP 192.0.2.80:80"), "{error:#}");
    let foreign = http::spawn(&lab.ns, addr("192.0.2.99:80"), http::Mode::Refuse);
    assert!(
        foreign.is_err(),
        "an address that is not in the namespace, even when refusing"
    );
}

// ---- helpers ----

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

/// A new namespace whose loopback also has `cidr`: the peers' address, reachable only inside.
fn namespace_with(role: &str, cidr: &str) -> Netns {
    let ns = Netns::new(role).expect("namespace");
    ns.ip(&["addr", "add", cidr, "dev", "lo"]).expect("address on lo");
    ns
}

/// Runs `f` on a thread inside `ns`.
fn inside<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    ns.run_inside(f).expect("a thread inside the namespace")
}

/// Polls `done` for up to 5 s.
fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "waited 5 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A read timeout, as `SO_RCVTIMEO` reports it.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

fn client_socket(server: SocketAddr, timeout: Duration) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    // Connected: only the server's datagrams arrive, and a closed port is reported as refused.
    socket.connect(server)?;
    socket.set_read_timeout(Some(timeout))?;
    Ok(socket)
}

fn query_bytes(id: u16, name: &str, query_type: RecordType) -> Vec<u8> {
    let mut query = Message::query();
    query.metadata.id = id;
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).expect("a name"), query_type));
    query.to_vec().expect("encode a query")
}

/// One DNS query over UDP; checks that the response matches it (id, question, QR).
fn dns_query(server: SocketAddr, name: &str, query_type: RecordType, timeout: Duration) -> io::Result<Message> {
    let socket = client_socket(server, timeout)?;
    let id = 0x5eed;
    let query = query_bytes(id, name, query_type);
    socket.send(&query)?;
    let mut buf = [0; 4096];
    let len = socket.recv(&mut buf)?;
    let response = Message::from_vec(&buf[..len]).map_err(io::Error::other)?;
    let query = Message::from_vec(&query).map_err(io::Error::other)?;
    assert_eq!(response.metadata.id, id, "the id is copied");
    assert_eq!(response.metadata.message_type, MessageType::Response, "QR set");
    assert!(response.metadata.recursion_desired, "RD copied");
    assert_eq!(response.queries, query.queries, "the question is copied");
    Ok(response)
}

fn addresses(response: &Message) -> Vec<IpAddr> {
    response.answers.iter().filter_map(|r| r.data.ip_addr()).collect()
}

/// An HTTP response as the minimal client below read it.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `GET path` over HTTP/1.1 with `Connection: close`; `timeout` bounds the connect and each read.
fn http_get(server: SocketAddr, path: &str, timeout: Duration) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no status in {head:?}")))?;
    Ok(Response {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}
