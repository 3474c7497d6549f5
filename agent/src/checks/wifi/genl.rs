//! nl80211, the I/O half: a generic netlink socket (netlink-sys) that resolves the `nl80211`
//! family and dumps interfaces, stations, scan results and surveys. The bytes go to the pure
//! parsers of [`super::nl80211`], so this file only sends, receives and maps errors.

use std::io;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use super::nl80211::{self, DumpEnd, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, ParseError, attr, cmd};
use super::{StationSample, WifiSource};
use crate::checks::MeasureError;

/// How long one netlink answer may take before the read gives up (the kernel answers in
/// microseconds; this only guards against a wedged driver).
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Receive buffer: a dump datagram is at most 32 KiB (netlink_dump's allocation cap).
const DATAGRAM: usize = 64 * 1024;

/// A generic netlink socket bound to the nl80211 family.
#[derive(Debug)]
pub struct Nl80211 {
    socket: Socket,
    family: u16,
}

impl Nl80211 {
    /// Opens the socket and resolves the family; `Ok(None)` when the kernel has no nl80211
    /// (no cfg80211: no WiFi driver, as in containers and on this kind of host).
    pub fn open() -> Result<Option<Self>, MeasureError> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(|e| io_error("open a NETLINK_GENERIC socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| io_error("bind the generic netlink socket", e))?;
        socket2::SockRef::from(&socket)
            .set_read_timeout(Some(RECEIVE_TIMEOUT))
            .map_err(|e| io_error("set the netlink receive timeout", e))?;
        let mut this = Self {
            socket,
            family: nl80211::GENL_ID_CTRL,
        };
        let answer = this.exchange(
            nl80211::GENL_ID_CTRL,
            NLM_F_REQUEST | NLM_F_ACK,
            nl80211::CTRL_CMD_GETFAMILY,
            &[(nl80211::CTRL_ATTR_FAMILY_NAME, b"nl80211\0")],
        )?;
        match nl80211::parse_family_id(&answer) {
            Ok(Some(family)) => {
                this.family = family;
                Ok(Some(this))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(parse_error("resolve the nl80211 family", &e)),
        }
    }

    /// One dump of `command`, optionally for one interface: the raw bytes of every datagram.
    fn dump(&self, command: u8, ifindex: Option<u32>) -> Result<Vec<u8>, MeasureError> {
        let index = ifindex.map(u32::to_le_bytes);
        let attrs: Vec<(u16, &[u8])> = index.iter().map(|i| (attr::IFINDEX, &i[..])).collect();
        self.exchange(self.family, NLM_F_REQUEST | NLM_F_DUMP, command, &attrs)
    }

    /// Sends a request and reads datagrams until the dump or the acknowledgement ends.
    fn exchange(&self, family: u16, flags: u16, command: u8, attrs: &[(u16, &[u8])]) -> Result<Vec<u8>, MeasureError> {
        let request = nl80211::request(family, flags, 1, command, attrs);
        let kernel = SocketAddr::new(0, 0);
        self.socket
            .send_to(&request, &kernel, 0)
            .map_err(|e| io_error("send a netlink request", e))?;
        let mut answer = Vec::new();
        loop {
            let mut datagram = Vec::with_capacity(DATAGRAM);
            let size = self
                .socket
                .recv(&mut datagram, 0)
                .map_err(|e| io_error("read a netlink answer", e))?;
            if size > datagram.len() {
                return Err(MeasureError::Netlink(format!(
                    "nl80211 answer truncated ({size} bytes > {DATAGRAM})"
                )));
            }
            let end = nl80211::dump_end(&datagram);
            answer.extend_from_slice(&datagram);
            match end {
                Ok(DumpEnd::Done) => return Ok(answer),
                Ok(DumpEnd::More) if datagram.is_empty() => return Ok(answer),
                Ok(DumpEnd::More) => {}
                // The caller parses the whole answer and maps the error with its context.
                Err(_) => return Ok(answer),
            }
        }
    }

    /// One capture: the interfaces, then for the client interface its station, survey and
    /// scan dumps. A driver without surveys (EOPNOTSUPP) or scan results just leaves them out.
    fn capture(&self) -> Result<Vec<u8>, MeasureError> {
        let mut bytes = self.dump(cmd::GET_INTERFACE, None)?;
        let interfaces = nl80211::parse_capture(&bytes).map_err(|e| parse_error("nl80211 interface dump", &e))?;
        let Some(ifindex) = nl80211::client_interface(&interfaces).and_then(|i| i.ifindex) else {
            return Ok(bytes);
        };
        for (command, what, required) in [
            (cmd::GET_STATION, "nl80211 station dump", true),
            (cmd::GET_SURVEY, "nl80211 survey dump", false),
            (cmd::GET_SCAN, "nl80211 scan dump", false),
        ] {
            let dump = self.dump(command, Some(ifindex))?;
            match nl80211::messages(&dump) {
                Ok(_) => bytes.extend_from_slice(&dump),
                Err(ParseError::Kernel { errno }) if !required || errno == libc::ENODEV || errno == libc::ENOLINK => {
                    tracing::debug!(what, errno, "left out");
                }
                Err(e) => return Err(parse_error(what, &e)),
            }
        }
        Ok(bytes)
    }
}

impl WifiSource for Nl80211 {
    fn sample(&self) -> Result<Option<StationSample>, MeasureError> {
        let bytes = self.capture()?;
        let capture = nl80211::parse_capture(&bytes).map_err(|e| parse_error("nl80211 dump", &e))?;
        Ok(nl80211::station_sample(&capture))
    }
}

/// Socket errors, with the privilege to grant when the kernel refuses.
fn io_error(context: &str, source: io::Error) -> MeasureError {
    match source.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => MeasureError::NotPermitted(format!(
            "{context}: {source} — nl80211 needs a NETLINK_GENERIC socket (allowed by the seccomp/LSM \
             policy) and CAP_NET_ADMIN for some drivers' station data"
        )),
        _ => MeasureError::Io {
            context: context.to_owned(),
            source,
        },
    }
}

/// Parse and kernel errors; a refusal names the privilege.
fn parse_error(context: &str, error: &ParseError) -> MeasureError {
    match error {
        ParseError::Kernel {
            errno: libc::EPERM | libc::EACCES,
        } => MeasureError::NotPermitted(format!(
            "{context}: the kernel refused ({error}); grant CAP_NET_ADMIN (or run as root)"
        )),
        _ => MeasureError::Netlink(format!("{context}: {error}")),
    }
}
