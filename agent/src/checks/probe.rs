//! The probe socket every active check sends through: ICMP echo (unprivileged ping socket,
//! else raw) or UDP, to one target or to many from one socket, with what answers read back —
//! echo replies, ICMP errors from the error queue, local errors — and the kernel's receive
//! timestamp of each (`SO_TIMESTAMPNS`), so user-space wake-up latency never adds to an RTT.
//!
//! Users: the gateway and latency checks and `sonde ping` (echo), the path check (rising TTL),
//! the MTU check (Don't Fragment, growing sizes).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::MeasureError;
use super::gateway::SocketKind;
use super::path::{Reply, UDP_BASE_PORT};

/// The kind of socket probes go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Unprivileged ICMP (`ping_group_range`); errors on the error queue.
    IcmpDgram,
    /// Raw ICMP (CAP_NET_RAW); errors arrive as packets (and on the error queue).
    IcmpRaw,
    /// UDP; errors on the error queue.
    Udp,
}

/// Something read from a probe socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An answer to probe `key` sent to `to`, from `from`, received at `at`.
    Reply {
        /// The probe.
        key: u16,
        /// Where the probe was sent (the echo replier, or the destination an ICMP error quotes).
        to: IpAddr,
        /// Who answered.
        from: IpAddr,
        /// What the answer was.
        reply: Reply,
        /// When it arrived: the kernel's receive timestamp (`SO_TIMESTAMPNS`) mapped onto the
        /// monotonic clock, or the time it was read when the kernel gave none.
        at: Instant,
    },
    /// An error the local stack raised (e.g. `EMSGSIZE`, with the route's MTU in `info`).
    Local {
        /// The errno.
        errno: i32,
        /// `ee_info`: the MTU for `EMSGSIZE`.
        info: u32,
    },
}

/// Why a probe could not be sent.
#[derive(Debug)]
pub(crate) struct SendFailure {
    /// The send's error.
    pub(crate) error: io::Error,
    /// The MTU the local stack reported with an `EMSGSIZE`.
    pub(crate) local_mtu: Option<u32>,
}

/// One socket that sends probes to one target (or to many: [`ProbeSocket::open_icmp_many`]) and
/// reads what answers them.
#[derive(Debug)]
pub(crate) struct ProbeSocket {
    fd: AsyncFd<Socket>,
    /// The one destination; for a socket to many, the unspecified address of the family.
    target: IpAddr,
    /// Whether answers from (or quoting) any destination count, not only `target`'s.
    any: bool,
    /// The interface of IPv6 link-local destinations.
    scope_id: u32,
    transport: Transport,
    /// The echo identifier of a raw socket (a ping socket's is chosen by the kernel).
    ident: u16,
}

/// What a queued reply costs a socket's receive buffer (its sk_buff's truesize, rounded up).
const RECEIVE_BYTES_PER_REPLY: usize = 1280;
/// The largest receive buffer a socket to many asks for.
const MAX_RECEIVE_BUFFER: usize = 32 << 20;

/// Bytes read per datagram: headers are all that matters, and errors quote at most 1280 bytes.
const READ_BUFFER: usize = 2048;
/// Reads per wake-up at most, so a flood cannot hold the task.
const MAX_READS: usize = 1024;

impl ProbeSocket {
    /// An ICMP socket to `target`: unprivileged `SOCK_DGRAM` first, else `SOCK_RAW`.
    pub(crate) fn open_icmp(target: IpAddr) -> Result<Self, MeasureError> {
        let dgram = Self::open(target, Transport::IcmpDgram);
        match dgram {
            Ok(socket) => Ok(socket),
            Err(e) if is_permission(&e) => match Self::open(target, Transport::IcmpRaw) {
                Ok(socket) => Ok(socket),
                Err(e) if is_permission(&e) => Err(MeasureError::NotPermitted(icmp_privilege_message())),
                Err(e) => Err(open_error(e, "a raw ICMP socket")),
            },
            Err(e) => Err(open_error(e, "an ICMP socket")),
        }
    }

    /// An ICMP socket for echo requests to many destinations of one family (IPv4 when `v4`);
    /// each [`Event::Reply`] says which destination it answers. `expected` replies in flight
    /// at once size the receive buffer, so a sweep loses none to a full socket.
    pub(crate) fn open_icmp_many(v4: bool, expected: usize) -> Result<Self, MeasureError> {
        let unspecified = if v4 {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        let mut socket = Self::open_icmp(unspecified)?;
        socket.any = true;
        // A reply queued on a socket costs its buffer's truesize: about 1 KiB for a small
        // ICMP packet. The kernel doubles what is asked; without CAP_NET_ADMIN it also caps it
        // at net.core.rmem_max, and then the prober reads often enough for the default.
        let wanted = expected.saturating_mul(RECEIVE_BYTES_PER_REPLY).min(MAX_RECEIVE_BUFFER);
        let wanted = i32::try_from(wanted).unwrap_or(i32::MAX);
        let fd = socket.fd.get_ref();
        if sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, wanted).is_err() {
            let _ = sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, wanted);
        }
        Ok(socket)
    }

    /// Sends IPv6 link-local probes out of interface `scope_id`.
    pub(crate) fn set_scope_id(&mut self, scope_id: u32) {
        self.scope_id = scope_id;
    }

    /// A UDP socket to `target` (no privilege needed).
    pub(crate) fn open_udp(target: IpAddr) -> Result<Self, MeasureError> {
        Self::open(target, Transport::Udp).map_err(|e| {
            if is_permission(&e) {
                MeasureError::NotPermitted(format!("opening a UDP socket was refused ({e})"))
            } else {
                open_error(e, "a UDP socket")
            }
        })
    }

    fn open(target: IpAddr, transport: Transport) -> io::Result<Self> {
        let v4 = target.is_ipv4();
        let domain = if v4 { Domain::IPV4 } else { Domain::IPV6 };
        let icmp = if v4 { Protocol::ICMPV4 } else { Protocol::ICMPV6 };
        let socket = match transport {
            Transport::IcmpDgram => Socket::new(domain, Type::DGRAM, Some(icmp))?,
            Transport::IcmpRaw => Socket::new(domain, Type::RAW, Some(icmp))?,
            Transport::Udp => Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?,
        };
        socket.set_nonblocking(true)?;
        if v4 {
            sys::set_int_option(&socket, libc::SOL_IP, libc::IP_RECVERR, 1)?;
        } else {
            sys::set_int_option(&socket, libc::SOL_IPV6, libc::IPV6_RECVERR, 1)?;
        }
        // Kernel receive timestamps: an RTT then ends when the reply arrived, not when this
        // process got round to reading it.
        sys::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        let [a, b, ..] = super::dns::random_u64().to_le_bytes();
        let fd = sys::register(socket)?;
        Ok(Self {
            fd,
            target,
            any: false,
            scope_id: 0,
            transport,
            ident: u16::from_le_bytes([a, b]),
        })
    }

    /// How probes travel.
    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    /// The socket kind, as the samples record it.
    pub(crate) fn kind(&self) -> SocketKind {
        match self.transport {
            Transport::IcmpRaw => SocketKind::Raw,
            Transport::IcmpDgram | Transport::Udp => SocketKind::Dgram,
        }
    }

    /// How many distinct probe keys this socket can tell apart.
    pub(crate) fn max_keys(&self) -> usize {
        match self.transport {
            Transport::Udp => usize::from(u16::MAX - UDP_BASE_PORT) + 1,
            Transport::IcmpDgram | Transport::IcmpRaw => usize::from(u16::MAX) + 1,
        }
    }

    /// Sets the TTL (hop limit) of the next probes.
    pub(crate) fn set_hop_limit(&self, ttl: u8) -> io::Result<()> {
        match self.target {
            IpAddr::V4(_) => self.fd.get_ref().set_ttl_v4(u32::from(ttl)),
            IpAddr::V6(_) => self.fd.get_ref().set_unicast_hops_v6(u32::from(ttl)),
        }
    }

    /// Sets the Don't Fragment bit on every probe and sends them whatever the route's cached
    /// path MTU (`IP_PMTUDISC_PROBE`); only the interface MTU still refuses larger ones, with
    /// `EMSGSIZE`.
    pub(crate) fn set_probe_path_mtu(&self) -> io::Result<()> {
        let socket = self.fd.get_ref();
        match self.target {
            IpAddr::V4(_) => sys::set_int_option(socket, libc::SOL_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_PROBE),
            IpAddr::V6(_) => {
                sys::set_int_option(
                    socket,
                    libc::SOL_IPV6,
                    libc::IPV6_MTU_DISCOVER,
                    libc::IPV6_PMTUDISC_PROBE,
                )?;
                sys::set_int_option(socket, libc::SOL_IPV6, libc::IPV6_DONTFRAG, 1)
            }
        }
    }

    /// The IP header size of this socket's packets (no options, no extension headers).
    pub(crate) fn ip_header_bytes(&self) -> usize {
        if self.target.is_ipv4() { 20 } else { 40 }
    }

    /// Sends probe `key` as an IP packet of `size` bytes. Returns the time taken just before the
    /// send system call.
    ///
    /// An ICMP error that reached the socket earlier is also reported by the next send (the
    /// kernel's pending `sk_err`, even with `IP_RECVERR`), failing it although nothing is
    /// wrong with it: so a failed send drains the error queue into `events` and is tried once
    /// more.
    pub(crate) fn send(&self, key: u16, size: usize, events: &mut Vec<Event>) -> Result<Instant, SendFailure> {
        self.send_to(self.target, key, size, events)
    }

    /// [`ProbeSocket::send`] to `destination` (for a socket to many).
    pub(crate) fn send_to(
        &self,
        destination: IpAddr,
        key: u16,
        size: usize,
        events: &mut Vec<Event>,
    ) -> Result<Instant, SendFailure> {
        let packet = self.probe_packet(key, size);
        let port = match self.transport {
            Transport::Udp => UDP_BASE_PORT.saturating_add(key),
            Transport::IcmpDgram | Transport::IcmpRaw => 0,
        };
        let address = match destination {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => {
                SockAddr::from(std::net::SocketAddrV6::new(v6, port, 0, self.scope_id))
            }
            _ => SockAddr::from(SocketAddr::new(destination, port)),
        };
        let mut local_mtu = None;
        let mut last_error = None;
        for _ in 0..2 {
            let at = Instant::now();
            match self.fd.get_ref().send_to(&packet, &address) {
                Ok(_) => return Ok(at),
                Err(e) => {
                    let before = events.len();
                    self.read_errors(events);
                    local_mtu = events[before..].iter().rev().find_map(|e| match e {
                        Event::Local { errno, info } if *errno == libc::EMSGSIZE => Some(*info),
                        _ => None,
                    });
                    last_error = Some(e);
                }
            }
        }
        Err(SendFailure {
            error: last_error.unwrap_or_else(|| io::Error::other("send failed")),
            local_mtu,
        })
    }

    /// Waits until something can be read or `deadline` passes, then reads everything there is
    /// into `events`.
    pub(crate) async fn read_until(&self, deadline: Instant, events: &mut Vec<Event>) {
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(sleep);
        tokio::select! {
            biased;
            ready = self.fd.ready(Interest::READABLE | Interest::ERROR) => {
                match ready {
                    Ok(mut guard) => {
                        self.read_errors(events);
                        self.read_data(events);
                        // Readiness set by an event after `ready` returned survives this (tokio
                        // compares the driver's tick), so no wake-up is lost.
                        guard.clear_ready();
                    }
                    Err(e) => {
                        tracing::warn!("probe socket readiness failed: {e}");
                        (&mut sleep).await;
                    }
                }
            }
            () = &mut sleep => {}
        }
    }

    /// The probe's bytes: an echo request, or a UDP payload.
    fn probe_packet(&self, key: u16, size: usize) -> Vec<u8> {
        let message = size.saturating_sub(self.ip_header_bytes()).max(8);
        let v4 = self.target.is_ipv4();
        match self.transport {
            // The UDP header (8 bytes) is the kernel's.
            Transport::Udp => vec![0x5a; message - 8],
            Transport::IcmpDgram | Transport::IcmpRaw => {
                let mut packet = vec![0x5a; message];
                packet[..8].copy_from_slice(&[0; 8]);
                packet[0] = if v4 { ICMP_ECHO_REQUEST } else { ICMP6_ECHO_REQUEST };
                // A ping socket writes its own identifier; a raw socket sends ours.
                packet[4..6].copy_from_slice(&self.ident.to_be_bytes());
                packet[6..8].copy_from_slice(&key.to_be_bytes());
                // The kernel checksums ICMPv6 and ping sockets; raw ICMPv4 is ours to checksum.
                if v4 && self.transport == Transport::IcmpRaw {
                    let sum = checksum(&packet);
                    packet[2..4].copy_from_slice(&sum.to_be_bytes());
                }
                packet
            }
        }
    }

    /// Reads the error queue until it is empty.
    fn read_errors(&self, events: &mut Vec<Event>) {
        let mut data = [0u8; READ_BUFFER];
        let mut control = [0u8; 512];
        let mut name = [0u8; sys::NAME_BYTES];
        for _ in 0..MAX_READS {
            let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
            let Ok(read) = sys::recvmsg(self.fd.get_ref().as_fd(), &mut data, &mut control, &mut name, flags) else {
                // EAGAIN: the queue is empty (reading it never blocks).
                return;
            };
            let control = parse_control(&control[..read.control.min(control.len())]);
            let at = arrival(control.stamp);
            let payload = &data[..read.data.min(data.len())];
            let Some(error) = control.error else {
                continue;
            };
            let original = parse_sockaddr(&name[..read.name.min(name.len())]);
            if let Some(event) = self.error_event(&error, payload, original, at) {
                events.push(event);
            }
        }
    }

    /// Reads data (replies) until none is left.
    fn read_data(&self, events: &mut Vec<Event>) {
        let mut data = [0u8; READ_BUFFER];
        let mut control = [0u8; 64];
        let mut name = [0u8; sys::NAME_BYTES];
        for _ in 0..MAX_READS {
            match sys::recvmsg(
                self.fd.get_ref().as_fd(),
                &mut data,
                &mut control,
                &mut name,
                libc::MSG_DONTWAIT,
            ) {
                Ok(read) => {
                    let at = arrival(parse_control(&control[..read.control.min(control.len())]).stamp);
                    let payload = &data[..read.data.min(data.len())];
                    let from = parse_sockaddr(&name[..read.name.min(name.len())]);
                    if let Some(event) = self.data_event(payload, from, at) {
                        events.push(event);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A pending ICMP error reported instead of data: it is on the error queue too.
                Err(_) => self.read_errors(events),
            }
        }
    }

    fn error_event(
        &self,
        error: &ExtendedError,
        payload: &[u8],
        original: Option<SocketAddr>,
        at: Instant,
    ) -> Option<Event> {
        if error.origin == SO_EE_ORIGIN_LOCAL {
            return Some(Event::Local {
                errno: i32::try_from(error.errno).unwrap_or(i32::MAX),
                info: error.info,
            });
        }
        let reply = icmp_error_reply(error)?;
        let from = error.offender.map(|o| o.ip())?;
        let key = match self.transport {
            Transport::Udp => {
                let port = original?.port();
                port.checked_sub(UDP_BASE_PORT)?
            }
            // The payload is the original echo request's ICMP header, as quoted by the router. A
            // ping socket's identifier is the kernel's, which matched it already; a raw socket
            // hears errors about every ICMP packet this host sent.
            Transport::IcmpDgram => quoted_echo_seq(payload, self.target.is_ipv4(), None)?,
            Transport::IcmpRaw => quoted_echo_seq(payload, self.target.is_ipv4(), Some(self.ident))?,
        };
        // The error queue names the original destination.
        let to = original.map_or(self.target, |o| o.ip());
        Some(Event::Reply {
            key,
            to,
            from,
            reply,
            at,
        })
    }

    /// The one destination whose answers count, or `None` for a socket to many.
    fn only(&self) -> Option<IpAddr> {
        (!self.any).then_some(self.target)
    }

    fn data_event(&self, payload: &[u8], from: Option<SocketAddr>, at: Instant) -> Option<Event> {
        let v4 = self.target.is_ipv4();
        match self.transport {
            Transport::Udp => {
                let from = from?;
                let key = from.port().checked_sub(UDP_BASE_PORT)?;
                let from = from.ip();
                self.only().is_none_or(|only| only == from).then_some(Event::Reply {
                    key,
                    to: from,
                    from,
                    reply: Reply::Datagram,
                    at,
                })
            }
            Transport::IcmpDgram => {
                // The kernel delivers only echo replies with this socket's identifier.
                let key = parse_echo_reply(payload, v4, None)?;
                let from = from.map_or(self.target, |f| f.ip());
                Some(Event::Reply {
                    key,
                    to: from,
                    from,
                    reply: Reply::Echo,
                    at,
                })
            }
            Transport::IcmpRaw if v4 => {
                let raw = parse_raw_icmpv4(payload, self.ident, self.only())?;
                Some(Event::Reply {
                    key: raw.key,
                    to: raw.to,
                    from: raw.from,
                    reply: raw.reply,
                    at,
                })
            }
            Transport::IcmpRaw => {
                let from = from?.ip();
                let (key, to, reply) = parse_raw_icmpv6(payload, self.ident, self.only())?;
                let to = to.unwrap_or(from);
                (reply != Reply::Echo || self.only().is_none_or(|only| only == from)).then_some(Event::Reply {
                    key,
                    to,
                    from,
                    reply,
                    at,
                })
            }
        }
    }
}

fn is_permission(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::PermissionDenied || matches!(error.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

fn open_error(error: io::Error, what: &str) -> MeasureError {
    if error.raw_os_error() == Some(libc::EAFNOSUPPORT) {
        return MeasureError::Unsupported(format!("cannot open {what}: {error} (IPv6 disabled?)"));
    }
    MeasureError::Io {
        context: format!("opening {what}"),
        source: error,
    }
}

/// Names both ways to get ICMP sockets, with this process's groups and the current range.
pub(crate) fn icmp_privilege_message() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
    };
    // `Gid:` lists real, effective, saved and filesystem gids; the kernel checks the effective
    // one and the supplementary groups.
    let gid = field("Gid:")
        .and_then(|ids| ids.get(1).map(|g| (*g).to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let groups = field("Groups:").map(|g| g.join(" ")).unwrap_or_default();
    let range = std::fs::read_to_string(PING_GROUP_RANGE).map_or_else(
        |e| format!("unreadable: {e}"),
        |r| r.split_whitespace().collect::<Vec<_>>().join(" "),
    );
    privilege_message(&gid, &groups, &range)
}

const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

fn privilege_message(gid: &str, groups: &str, range: &str) -> String {
    let groups = if groups.is_empty() {
        String::new()
    } else {
        format!(", supplementary groups {groups}")
    };
    format!(
        "cannot open an ICMP socket: unprivileged ICMP (SOCK_DGRAM) was refused because gid {gid}{groups} \
         is outside net.ipv4.ping_group_range (\"{range}\"), and a raw socket (SOCK_RAW) needs CAP_NET_RAW. \
         Fix either: give the process CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW; or \
         setcap cap_net_raw+ep on the binary), or include gid {gid} in the range \
         (sysctl -w net.ipv4.ping_group_range=\"{gid} {gid}\")"
    )
}

// ---- Parsers of what the kernel and the network hand us (never panic on garbage) ----

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_FRAG_NEEDED: u8 = 4;
const ICMP_PORT_UNREACH: u8 = 3;
const ICMP6_DEST_UNREACH: u8 = 1;
const ICMP6_PACKET_TOO_BIG: u8 = 2;
const ICMP6_TIME_EXCEEDED: u8 = 3;
const ICMP6_PORT_UNREACH: u8 = 4;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
const SO_EE_ORIGIN_LOCAL: u8 = 1;
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

/// A `struct sock_extended_err` and the offender address after it (`SO_EE_OFFENDER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExtendedError {
    pub(crate) errno: u32,
    pub(crate) origin: u8,
    pub(crate) icmp_type: u8,
    pub(crate) icmp_code: u8,
    pub(crate) info: u32,
    pub(crate) offender: Option<SocketAddr>,
}

/// What a `recvmsg` control buffer said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Control {
    /// The `IP_RECVERR`/`IPV6_RECVERR` message, on the error queue.
    pub(crate) error: Option<ExtendedError>,
    /// The kernel's receive timestamp (`SCM_TIMESTAMPNS`), as time since the Unix epoch.
    pub(crate) stamp: Option<Duration>,
}

/// Reads the extended error and the receive timestamp among a `recvmsg` control buffer's
/// cmsgs; stops at the first malformed header.
pub(crate) fn parse_control(control: &[u8]) -> Control {
    let mut parsed = Control::default();
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; }, data aligned to
    // size_t (glibc's and musl's CMSG_ALIGN).
    let word = size_of::<usize>();
    let align = |n: usize| n.div_ceil(word).checked_mul(word);
    let Some(header) = align(word + 8) else {
        return parsed;
    };
    let mut offset = 0usize;
    while let Some(rest) = control.get(offset..) {
        let Some((len, level, kind)) = cmsg_header(rest, word) else {
            break;
        };
        if len < header || len > rest.len() {
            break;
        }
        let data = &rest[header..len];
        let recverr = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
        if recverr {
            parsed.error = parse_extended_error(data);
        } else if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS {
            parsed.stamp = parse_timespec(data);
        }
        let Some(next) = align(len).and_then(|step| offset.checked_add(step)) else {
            break;
        };
        offset = next;
    }
    parsed
}

/// A cmsghdr's length, level and type.
fn cmsg_header(bytes: &[u8], word: usize) -> Option<(usize, i32, i32)> {
    let len = usize::from_ne_bytes(bytes.get(..word)?.try_into().ok()?);
    let level = i32::from_ne_bytes(bytes.get(word..word + 4)?.try_into().ok()?);
    let kind = i32::from_ne_bytes(bytes.get(word + 4..word + 8)?.try_into().ok()?);
    Some((len, level, kind))
}

/// A `struct timespec` (`time_t` and `long`, both a machine word on the Linux targets we build
/// for) as a duration since the epoch; `None` when out of range.
fn parse_timespec(data: &[u8]) -> Option<Duration> {
    let word = size_of::<usize>();
    let seconds = isize::from_ne_bytes(data.get(..word)?.try_into().ok()?);
    let nanos = isize::from_ne_bytes(data.get(word..2 * word)?.try_into().ok()?);
    let seconds = u64::try_from(seconds).ok()?;
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(seconds, nanos))
}

/// When a packet the kernel stamped at `stamp` (wall clock) arrived, on the monotonic clock:
/// now minus the stamp's age. Both clocks are read back to back, so the mapping costs tens of
/// nanoseconds; a stamp from the future or older than a second (the wall clock was stepped)
/// is ignored and the read time used instead.
pub(crate) fn arrival(stamp: Option<Duration>) -> Instant {
    let now = Instant::now();
    let Some(stamp) = stamp else {
        return now;
    };
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    match wall.checked_sub(stamp) {
        Some(age) if age <= MAX_STAMP_AGE => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

/// How old a kernel timestamp may be and still be trusted (see [`arrival`]).
const MAX_STAMP_AGE: Duration = Duration::from_secs(1);

/// Parses `struct sock_extended_err` (16 bytes, host byte order) and the offender after it.
pub(crate) fn parse_extended_error(data: &[u8]) -> Option<ExtendedError> {
    let u32_at = |at: usize| -> Option<u32> { Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?)) };
    // The whole struct must be there, even the `ee_data` this does not read.
    data.get(..16)?;
    Some(ExtendedError {
        errno: u32_at(0)?,
        origin: *data.get(4)?,
        icmp_type: *data.get(5)?,
        icmp_code: *data.get(6)?,
        info: u32_at(8)?,
        offender: data.get(16..).and_then(parse_sockaddr),
    })
}

/// Parses a `sockaddr_in` or `sockaddr_in6` (family in host order, port big-endian).
pub(crate) fn parse_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(bytes.get(..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let octets: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::from(octets), port))
        }
        libc::AF_INET6 => {
            let octets: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::from(octets), port))
        }
        _ => None,
    }
}

/// What an ICMP error from the error queue means for a probe; `None` for anything else.
pub(crate) fn icmp_error_reply(error: &ExtendedError) -> Option<Reply> {
    let (time_exceeded, unreachable, too_big, port_unreachable) = match error.origin {
        SO_EE_ORIGIN_ICMP => (ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACH, None, ICMP_PORT_UNREACH),
        SO_EE_ORIGIN_ICMP6 => (
            ICMP6_TIME_EXCEEDED,
            ICMP6_DEST_UNREACH,
            Some(ICMP6_PACKET_TOO_BIG),
            ICMP6_PORT_UNREACH,
        ),
        _ => return None,
    };
    let (kind, code) = (error.icmp_type, error.icmp_code);
    if kind == time_exceeded {
        Some(Reply::TimeExceeded)
    } else if Some(kind) == too_big
        || (error.origin == SO_EE_ORIGIN_ICMP && kind == unreachable && code == ICMP_FRAG_NEEDED)
    {
        Some(Reply::TooBig { mtu: error.info })
    } else if kind == unreachable && code == port_unreachable {
        Some(Reply::PortUnreachable)
    } else if kind == unreachable {
        Some(Reply::Unreachable { code })
    } else {
        None
    }
}

/// The sequence number of an echo reply (an ICMP message without IP header); with `ident`,
/// only when its identifier matches.
pub(crate) fn parse_echo_reply(message: &[u8], v4: bool, ident: Option<u16>) -> Option<u16> {
    echo_seq(message, if v4 { ICMP_ECHO_REPLY } else { ICMP6_ECHO_REPLY }, ident)
}

/// The sequence number of a quoted echo request (an ICMP header as quoted in an error).
fn quoted_echo_seq(quoted: &[u8], v4: bool, ident: Option<u16>) -> Option<u16> {
    echo_seq(quoted, if v4 { ICMP_ECHO_REQUEST } else { ICMP6_ECHO_REQUEST }, ident)
}

/// The sequence number of an echo header of type `kind`; with `ident`, only when its
/// identifier matches.
fn echo_seq(header: &[u8], kind: u8, ident: Option<u16>) -> Option<u16> {
    if *header.first()? != kind {
        return None;
    }
    let id = u16::from_be_bytes(header.get(4..6)?.try_into().ok()?);
    if ident.is_some_and(|ident| ident != id) {
        return None;
    }
    Some(u16::from_be_bytes(header.get(6..8)?.try_into().ok()?))
}

/// A packet read from a raw ICMPv4 socket that answers one of our probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawAnswer {
    pub(crate) key: u16,
    /// The probe's destination (the replier, or the destination the error quotes).
    pub(crate) to: IpAddr,
    pub(crate) from: IpAddr,
    pub(crate) reply: Reply,
}

/// Parses an IPv4 packet from a raw ICMP socket: an echo reply with our identifier from
/// `target`, or an ICMP error quoting one of our echo requests to `target` (with `None`: to any
/// destination).
pub(crate) fn parse_raw_icmpv4(packet: &[u8], ident: u16, target: Option<IpAddr>) -> Option<RawAnswer> {
    let (from, icmp) = split_ipv4(packet)?;
    let from = IpAddr::from(from);
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    if kind == ICMP_ECHO_REPLY {
        let key = parse_echo_reply(icmp, true, Some(ident))?;
        return target.is_none_or(|t| t == from).then_some(RawAnswer {
            key,
            to: from,
            from,
            reply: Reply::Echo,
        });
    }
    let reply = match (kind, code) {
        (ICMP_TIME_EXCEEDED, _) => Reply::TimeExceeded,
        (ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED) => Reply::TooBig {
            mtu: u32::from(u16::from_be_bytes(icmp.get(6..8)?.try_into().ok()?)),
        },
        (ICMP_DEST_UNREACH, ICMP_PORT_UNREACH) => Reply::PortUnreachable,
        (ICMP_DEST_UNREACH, code) => Reply::Unreachable { code },
        _ => return None,
    };
    let (quoted_destination, quoted) = split_ipv4_quoted(icmp.get(8..)?)?;
    let to = IpAddr::from(quoted_destination);
    if target.is_some_and(|t| t != to) {
        return None;
    }
    let key = quoted_echo_seq(quoted, true, Some(ident))?;
    Some(RawAnswer { key, to, from, reply })
}

/// Parses an ICMPv6 message from a raw ICMPv6 socket (no IPv6 header): an echo reply with our
/// identifier, or an error quoting one of our echo requests to `target` (with `None`: to any
/// destination). Returns the key, the quoted destination of an error (an echo reply's is its
/// sender, which only the caller knows), and the reply.
pub(crate) fn parse_raw_icmpv6(
    message: &[u8],
    ident: u16,
    target: Option<IpAddr>,
) -> Option<(u16, Option<IpAddr>, Reply)> {
    let (kind, code) = (*message.first()?, *message.get(1)?);
    if kind == ICMP6_ECHO_REPLY {
        return Some((parse_echo_reply(message, false, Some(ident))?, None, Reply::Echo));
    }
    let reply = match (kind, code) {
        (ICMP6_TIME_EXCEEDED, _) => Reply::TimeExceeded,
        (ICMP6_PACKET_TOO_BIG, _) => Reply::TooBig {
            mtu: u32::from_be_bytes(message.get(4..8)?.try_into().ok()?),
        },
        (ICMP6_DEST_UNREACH, ICMP6_PORT_UNREACH) => Reply::PortUnreachable,
        (ICMP6_DEST_UNREACH, code) => Reply::Unreachable { code },
        _ => return None,
    };
    // The quoted IPv6 header (40 bytes, no extension headers for our probes), then ICMPv6.
    let quoted = message.get(8..)?;
    if *quoted.first()? >> 4 != 6 || *quoted.get(6)? != 58 {
        return None;
    }
    let destination: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
    let to = IpAddr::from(destination);
    if target.is_some_and(|t| t != to) {
        return None;
    }
    let key = quoted_echo_seq(quoted.get(40..)?, false, Some(ident))?;
    Some((key, Some(to), reply))
}

/// Splits an IPv4 packet into its source address and its payload (checks version and header
/// length).
fn split_ipv4(packet: &[u8]) -> Option<([u8; 4], &[u8])> {
    let first = *packet.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 {
        return None;
    }
    let source: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    Some((source, packet.get(ihl..)?))
}

/// Splits a quoted IPv4 header (in an ICMP error) into its destination and what follows; only
/// for quoted ICMP packets.
fn split_ipv4_quoted(quoted: &[u8]) -> Option<([u8; 4], &[u8])> {
    let first = *quoted.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || *quoted.get(9)? != 1 {
        return None;
    }
    let destination: [u8; 4] = quoted.get(16..20)?.try_into().ok()?;
    Some((destination, quoted.get(ihl..)?))
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The system calls socket2 does not wrap — `setsockopt` with an int, and `recvmsg` (for the
/// error queue's control messages) — and tokio's registration of a socket. The only `unsafe` of
/// the path and MTU checks.
mod sys {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

    use socket2::Socket;
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// Registers `socket` with tokio's reactor for readability and errors (the error queue).
    #[allow(unsafe_code)]
    pub(crate) fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
        // SAFETY: the `Socket` owns its descriptor and moves into the `AsyncFd`, which hands out
        // only shared references to it: the descriptor stays open, and the same, until the
        // `AsyncFd` is dropped.
        unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE | Interest::ERROR) }
            .map_err(io::Error::from)
    }

    /// Room for a `sockaddr_in6` (28 bytes) and more.
    pub(crate) const NAME_BYTES: usize = 128;

    /// What one `recvmsg` read: byte counts of the data, control and name buffers used.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Read {
        pub(crate) data: usize,
        pub(crate) control: usize,
        pub(crate) name: usize,
    }

    /// `setsockopt(fd, level, name, &value, sizeof(int))`.
    #[allow(unsafe_code)]
    pub(crate) fn set_int_option(socket: &impl AsFd, level: i32, name: i32, value: i32) -> io::Result<()> {
        let fd = socket.as_fd().as_raw_fd();
        let size = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap_or(4);
        // SAFETY: `fd` is a live descriptor borrowed for the call; the option value points to a
        // c_int on this stack frame and `size` is its size; the kernel only reads it.
        let result = unsafe { libc::setsockopt(fd, level, name, (&raw const value).cast(), size) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `recvmsg(fd, …, flags)` into plain byte buffers; never blocks with `MSG_DONTWAIT`.
    #[allow(unsafe_code)]
    pub(crate) fn recvmsg(
        fd: BorrowedFd<'_>,
        data: &mut [u8],
        control: &mut [u8],
        name: &mut [u8; NAME_BYTES],
        flags: i32,
    ) -> io::Result<Read> {
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain data for which all-zero bytes are a valid value (null
        // pointers, zero lengths); musl's has private padding, hence zeroed over a literal.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = name.as_mut_ptr().cast();
        msg.msg_namelen = libc::socklen_t::try_from(name.len()).unwrap_or(0);
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // `msg_controllen` is a size_t with glibc, a socklen_t with musl.
        #[allow(clippy::useless_conversion)]
        let control_len = control.len().try_into().unwrap_or(0);
        msg.msg_controllen = control_len;
        // SAFETY: every pointer in `msg` points into a buffer borrowed mutably for this call
        // with its true length (`iov` lives on this frame); the kernel writes at most those
        // lengths and reports how much it used in the return value and `msg`.
        let read = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, flags) };
        let Ok(read) = usize::try_from(read) else {
            return Err(io::Error::last_os_error());
        };
        Ok(Read {
            data: read,
            #[allow(clippy::useless_conversion)]
            control: usize::try_from(msg.msg_controllen).unwrap_or(0),
            name: usize::try_from(msg.msg_namelen).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn the_privilege_message_names_both_fixes() {
        let text = privilege_message("1000", "1000 27", "1 0");
        for needle in [
            "CAP_NET_RAW",
            "net.ipv4.ping_group_range",
            "gid 1000",
            "groups 1000 27",
            "(\"1 0\")",
            "ping_group_range=\"1000 1000\"",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }

    const ROUTER1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const ROUTER2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

    // ---- Parsers ----

    fn sockaddr_v4(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u16::try_from(libc::AF_INET).unwrap_or(2).to_ne_bytes());
        bytes.extend_from_slice(&port.to_be_bytes());
        bytes.extend_from_slice(&ip);
        bytes.extend_from_slice(&[0; 8]);
        bytes
    }

    fn sockaddr_v6(ip: Ipv6Addr, port: u16) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u16::try_from(libc::AF_INET6).unwrap_or(10).to_ne_bytes());
        bytes.extend_from_slice(&port.to_be_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&ip.octets());
        bytes.extend_from_slice(&[0; 4]);
        bytes
    }

    fn extended_error(errno: u32, origin: u8, kind: u8, code: u8, info: u32, offender: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&errno.to_ne_bytes());
        bytes.extend_from_slice(&[origin, kind, code, 0]);
        bytes.extend_from_slice(&info.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(offender);
        bytes
    }

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let word = size_of::<usize>();
        let header = (word + 8).div_ceil(word) * word;
        let len = header + data.len();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&level.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.resize(header, 0);
        bytes.extend_from_slice(data);
        bytes.resize(len.div_ceil(word) * word, 0);
        bytes
    }

    #[test]
    fn control_messages_give_the_extended_error_and_offender() {
        let offender = sockaddr_v4([198, 51, 100, 1], 0);
        let error = extended_error(113, SO_EE_ORIGIN_ICMP, 11, 0, 0, &offender);
        // A receive timestamp first (1 s and 2 ns past the epoch), then the error.
        let stamp = [1isize.to_ne_bytes(), 2isize.to_ne_bytes()].concat();
        let control = [
            cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &stamp),
            cmsg(libc::SOL_IP, libc::IP_RECVERR, &error),
        ]
        .concat();
        let both = parse_control(&control);
        assert_eq!(both.stamp, Some(Duration::new(1, 2)));
        let parsed = both.error.unwrap_or_else(|| panic!("no error in {control:?}"));
        assert_eq!(parsed.errno, 113);
        assert_eq!(icmp_error_reply(&parsed), Some(Reply::TimeExceeded));
        assert_eq!(parsed.offender, Some(SocketAddr::new(ROUTER2, 0)));

        let too_big = extended_error(90, SO_EE_ORIGIN_ICMP, 3, 4, 1400, &offender);
        let parsed = parse_control(&cmsg(libc::SOL_IP, libc::IP_RECVERR, &too_big)).error;
        assert_eq!(
            parsed.and_then(|e| icmp_error_reply(&e)),
            Some(Reply::TooBig { mtu: 1400 })
        );

        let router6: Ipv6Addr = "2001:db8:2::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let ptb = extended_error(90, SO_EE_ORIGIN_ICMP6, 2, 0, 1400, &sockaddr_v6(router6, 0));
        let parsed = parse_control(&cmsg(libc::SOL_IPV6, libc::IPV6_RECVERR, &ptb)).error;
        assert_eq!(
            parsed.and_then(|e| e.offender),
            Some(SocketAddr::new(IpAddr::V6(router6), 0))
        );
        assert_eq!(
            parsed.and_then(|e| icmp_error_reply(&e)),
            Some(Reply::TooBig { mtu: 1400 })
        );
    }

    #[test]
    fn icmp_errors_map_to_replies() {
        let error = |origin, kind, code| ExtendedError {
            errno: 0,
            origin,
            icmp_type: kind,
            icmp_code: code,
            info: 1280,
            offender: None,
        };
        let table = [
            (error(SO_EE_ORIGIN_ICMP, 11, 0), Some(Reply::TimeExceeded)),
            (error(SO_EE_ORIGIN_ICMP, 3, 3), Some(Reply::PortUnreachable)),
            (error(SO_EE_ORIGIN_ICMP, 3, 4), Some(Reply::TooBig { mtu: 1280 })),
            (error(SO_EE_ORIGIN_ICMP, 3, 1), Some(Reply::Unreachable { code: 1 })),
            (error(SO_EE_ORIGIN_ICMP, 12, 0), None),
            (error(SO_EE_ORIGIN_ICMP6, 3, 0), Some(Reply::TimeExceeded)),
            (error(SO_EE_ORIGIN_ICMP6, 1, 4), Some(Reply::PortUnreachable)),
            (error(SO_EE_ORIGIN_ICMP6, 1, 3), Some(Reply::Unreachable { code: 3 })),
            (error(SO_EE_ORIGIN_ICMP6, 2, 0), Some(Reply::TooBig { mtu: 1280 })),
            (error(SO_EE_ORIGIN_ICMP6, 4, 0), None),
            (error(SO_EE_ORIGIN_LOCAL, 3, 4), None),
            (error(0, 11, 0), None),
        ];
        for (error, expected) in table {
            assert_eq!(icmp_error_reply(&error), expected, "{error:?}");
        }
    }

    /// An IPv4 header (20 bytes) from `source` to `destination` carrying `protocol`.
    fn ipv4(source: [u8; 4], destination: [u8; 4], protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, protocol, 0, 0];
        packet.extend_from_slice(&source);
        packet.extend_from_slice(&destination);
        packet.extend_from_slice(payload);
        packet
    }

    fn echo(kind: u8, ident: u16, seq: u16) -> Vec<u8> {
        let mut message = vec![kind, 0, 0, 0];
        message.extend_from_slice(&ident.to_be_bytes());
        message.extend_from_slice(&seq.to_be_bytes());
        message.extend_from_slice(&[0x5a; 8]);
        message
    }

    /// An ICMPv4 error from `from` quoting our echo request `seq` to the target.
    fn icmpv4_error(from: [u8; 4], kind: u8, code: u8, mtu: u16, ident: u16, seq: u16) -> Vec<u8> {
        let quoted = ipv4([192, 0, 2, 2], [203, 0, 113, 2], 1, &echo(8, ident, seq)[..8]);
        let mut icmp = vec![kind, code, 0, 0, 0, 0];
        icmp.extend_from_slice(&mtu.to_be_bytes());
        icmp.extend_from_slice(&quoted);
        ipv4(from, [192, 0, 2, 2], 1, &icmp)
    }

    #[test]
    fn raw_icmpv4_answers_are_matched_to_probes() {
        let reply = ipv4([203, 0, 113, 2], [192, 0, 2, 2], 1, &echo(0, 7, 42));
        assert_eq!(
            parse_raw_icmpv4(&reply, 7, Some(TARGET)),
            Some(RawAnswer {
                key: 42,
                to: TARGET,
                from: TARGET,
                reply: Reply::Echo
            })
        );
        assert_eq!(parse_raw_icmpv4(&reply, 8, Some(TARGET)), None, "another ping's reply");
        assert_eq!(
            parse_raw_icmpv4(&reply, 7, Some(ROUTER1)),
            None,
            "a reply from elsewhere"
        );
        assert_eq!(
            parse_raw_icmpv4(&reply, 7, None).map(|a| (a.to, a.from)),
            Some((TARGET, TARGET)),
            "a socket to many takes a reply from any destination"
        );
        let exceeded = icmpv4_error([198, 51, 100, 1], 11, 0, 0, 7, 3);
        assert_eq!(
            parse_raw_icmpv4(&exceeded, 7, Some(TARGET)),
            Some(RawAnswer {
                key: 3,
                to: TARGET,
                from: ROUTER2,
                reply: Reply::TimeExceeded
            })
        );
        let frag = icmpv4_error([198, 51, 100, 1], 3, 4, 1400, 7, 5);
        assert_eq!(
            parse_raw_icmpv4(&frag, 7, Some(TARGET)).map(|a| a.reply),
            Some(Reply::TooBig { mtu: 1400 })
        );
        assert_eq!(
            parse_raw_icmpv4(&frag, 7, Some(ROUTER1)),
            None,
            "quotes a probe to another target"
        );
        assert_eq!(parse_raw_icmpv4(&frag, 7, None).map(|a| a.to), Some(TARGET));
    }

    #[test]
    fn raw_icmpv6_answers_are_matched_to_probes() {
        let target = IpAddr::V6("2001:db8:3::2".parse().unwrap_or(Ipv6Addr::LOCALHOST));
        let only = Some(target);
        assert_eq!(
            parse_raw_icmpv6(&echo(129, 9, 11), 9, only),
            Some((11, None, Reply::Echo))
        );
        assert_eq!(parse_raw_icmpv6(&echo(128, 9, 11), 9, only), None, "our own request");
        let mut quoted = vec![0x60, 0, 0, 0, 0, 16, 58, 1];
        quoted.extend_from_slice(&[0; 16]);
        if let IpAddr::V6(v6) = target {
            quoted.extend_from_slice(&v6.octets());
        }
        quoted.extend_from_slice(&echo(128, 9, 12)[..8]);
        let mut too_big = vec![2, 0, 0, 0, 0, 0, 0x05, 0x78];
        too_big.extend_from_slice(&quoted);
        assert_eq!(
            parse_raw_icmpv6(&too_big, 9, only),
            Some((12, only, Reply::TooBig { mtu: 1400 }))
        );
        let mut exceeded = vec![3, 0, 0, 0, 0, 0, 0, 0];
        exceeded.extend_from_slice(&quoted);
        assert_eq!(
            parse_raw_icmpv6(&exceeded, 9, only),
            Some((12, only, Reply::TimeExceeded))
        );
        assert_eq!(parse_raw_icmpv6(&exceeded, 10, only), None, "another identifier");
        assert_eq!(
            parse_raw_icmpv6(&exceeded, 9, None),
            Some((12, only, Reply::TimeExceeded))
        );
    }

    #[test]
    fn echo_replies_and_quotes() {
        assert_eq!(parse_echo_reply(&echo(0, 1, 2), true, None), Some(2));
        assert_eq!(parse_echo_reply(&echo(129, 1, 2), false, Some(1)), Some(2));
        assert_eq!(parse_echo_reply(&echo(129, 1, 2), true, None), None);
        assert_eq!(quoted_echo_seq(&echo(8, 1, 300), true, None), Some(300));
        assert_eq!(quoted_echo_seq(&echo(128, 1, 300), false, Some(2)), None);
    }

    /// Garbage never panics a parser: a table of malformed inputs, every prefix of valid
    /// inputs, and pseudo-random bytes.
    #[test]
    fn parsers_survive_malformed_input() {
        let word = size_of::<usize>();
        let valid_error = extended_error(113, 2, 11, 0, 0, &sockaddr_v4([198, 51, 100, 1], 0));
        let mut huge_len = cmsg(libc::SOL_IP, libc::IP_RECVERR, &valid_error);
        huge_len[..word].copy_from_slice(&usize::MAX.to_ne_bytes());
        let mut zero_len = cmsg(libc::SOL_IP, libc::IP_RECVERR, &valid_error);
        zero_len[..word].copy_from_slice(&0usize.to_ne_bytes());
        let controls: Vec<Vec<u8>> = vec![
            vec![],
            vec![0; 3],
            vec![0xff; 64],
            huge_len,
            zero_len,
            cmsg(libc::SOL_IP, libc::IP_RECVERR, &[1, 2, 3]),
            cmsg(libc::SOL_IP, libc::IP_RECVERR, &valid_error[..15]),
            cmsg(libc::SOL_IPV6, libc::IPV6_RECVERR, &[]),
        ];
        for control in &controls {
            let parsed = parse_control(control);
            if let Some(error) = parsed.error {
                let _ = icmp_error_reply(&error);
            }
        }
        assert_eq!(parse_control(&controls[5]).error, None, "a truncated extended error");
        assert_eq!(parse_control(&controls[6]).error, None, "15 bytes of a 16-byte struct");
        let bad_stamps = [vec![0u8; 3], [(-1isize).to_ne_bytes(), 0isize.to_ne_bytes()].concat()];
        for stamp in &bad_stamps {
            let control = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, stamp);
            assert_eq!(parse_control(&control).stamp, None, "{stamp:?}");
        }

        let sockaddrs: Vec<Vec<u8>> = vec![
            vec![],
            vec![2],
            sockaddr_v4([1, 2, 3, 4], 5)[..7].to_vec(),
            sockaddr_v6(Ipv6Addr::LOCALHOST, 1)[..23].to_vec(),
            vec![0xff; 28],
        ];
        for bytes in &sockaddrs {
            assert_eq!(parse_sockaddr(bytes), None, "{bytes:?}");
        }

        let packets: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x45],
            vec![0x41; 40], // IHL 4: too short a header
            vec![0x4f; 30], // IHL 15 past the end
            vec![0x65; 40], // version 6
            ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1, &[]),
            ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1, &[11, 0, 0, 0, 0, 0, 0, 0]),
            ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1, &[11, 0, 0, 0, 0, 0, 0, 0, 0x4f]),
            ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1, &[3, 4, 0, 0, 0, 0]),
            ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1, &[0, 0, 0, 0, 0, 7]),
        ];
        for packet in &packets {
            assert_eq!(parse_raw_icmpv4(packet, 7, Some(TARGET)), None, "{packet:?}");
            let _ = parse_raw_icmpv6(packet, 7, Some(TARGET));
            let _ = parse_echo_reply(packet, true, Some(7));
        }

        let valid: Vec<Vec<u8>> = vec![
            icmpv4_error([198, 51, 100, 1], 11, 0, 0, 7, 3),
            icmpv4_error([198, 51, 100, 1], 3, 4, 1400, 7, 3),
            ipv4([203, 0, 113, 2], [192, 0, 2, 2], 1, &echo(0, 7, 42)),
            cmsg(libc::SOL_IP, libc::IP_RECVERR, &valid_error),
        ];
        let v6_target = IpAddr::V6(Ipv6Addr::LOCALHOST);
        for bytes in &valid {
            for end in 0..bytes.len() {
                let prefix = &bytes[..end];
                let _ = parse_raw_icmpv4(prefix, 7, Some(TARGET));
                let _ = parse_raw_icmpv6(prefix, 7, Some(v6_target));
                let _ = parse_control(prefix);
                let _ = parse_sockaddr(prefix);
                let _ = parse_extended_error(prefix);
            }
        }

        // A fixed xorshift stream: the same "random" inputs every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = usize::try_from(state % 96).unwrap_or(0);
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state.rotate_left(u32::try_from(i % 64).unwrap_or(0)) & 0xff) as u8)
                .collect();
            let _ = parse_raw_icmpv4(&bytes, 7, Some(TARGET));
            let _ = parse_raw_icmpv6(&bytes, 7, Some(v6_target));
            let _ = parse_control(&bytes);
            let _ = parse_sockaddr(&bytes);
            if let Some(error) = parse_extended_error(&bytes) {
                let _ = icmp_error_reply(&error);
            }
        }
    }

    #[test]
    fn checksum_of_an_echo_request_verifies() {
        let mut message = echo(8, 0x1234, 1);
        let sum = checksum(&message);
        message[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&message), 0);
        assert_eq!(checksum(&[0xff]), !0xff00);
    }
}
