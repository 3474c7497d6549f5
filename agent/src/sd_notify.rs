//! The systemd notification protocol (`sd_notify(3)`), written out: one datagram of
//! `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET` (a path, or an abstract socket when
//! it starts with `@`). No dependency and no `unsafe`: std's `UnixDatagram` is enough.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op, so `sonded` behaves the same
//! in a terminal, a test or a unit.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A handle on the service manager's notification socket, or nothing outside systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The socket named by `$NOTIFY_SOCKET`, if set and usable (a bad value is logged once and
    /// then ignored: notifications are best effort, the service works without them).
    pub fn from_env() -> Self {
        let target = std::env::var_os("NOTIFY_SOCKET")
            .filter(|s| !s.is_empty())
            .and_then(|name| match Self::connect(&name.to_string_lossy()) {
                Ok(target) => Some(target),
                Err(e) => {
                    tracing::warn!("NOTIFY_SOCKET={}: {e}; not notifying systemd", name.to_string_lossy());
                    None
                }
            });
        Self { target }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Self { target: None }
    }

    fn connect(name: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
        let addr = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())?
        } else {
            SocketAddr::from_pathname(name)?
        };
        Ok((UnixDatagram::unbound()?, addr))
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments). Failures are logged at debug
    /// level only: a restarting systemd must not take the agent down.
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(state.as_bytes(), addr)
        {
            tracing::debug!("sd_notify {state:?}: {e}");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A `STATUS=` line (shown by `systemctl status`).
    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// `WATCHDOG=1`: "still alive".
    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when the watchdog is on and meant
/// for this process (`$WATCHDOG_PID`, when set, is ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    watchdog_interval_from(&usec)
}

/// Half of a `WATCHDOG_USEC` value; `None` when it is not a positive integer.
pub fn watchdog_interval_from(usec: &str) -> Option<Duration> {
    match usec.trim().parse::<u64>() {
        Ok(usec) if usec > 0 => Some(Duration::from_micros(usec / 2)),
        _ => None,
    }
}

/// A status text on one line (a newline would start a new assignment).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_pings_at_half_the_period() {
        assert_eq!(watchdog_interval_from("30000000"), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_interval_from("0"), None);
        assert_eq!(watchdog_interval_from("soon"), None);
    }

    #[test]
    fn notifications_reach_a_path_socket_and_an_abstract_one() {
        let dir = std::env::temp_dir().join(format!("sonde-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let notifier = Notifier {
            target: Some(Notifier::connect(&path.to_string_lossy()).expect("connect")),
        };
        notifier.ready("listening on\n127.0.0.1:1");
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=listening on 127.0.0.1:1");
        let _ = std::fs::remove_dir_all(&dir);

        use std::os::linux::net::SocketAddrExt;
        let name = format!("sonde-notify-test-{}", std::process::id());
        let receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).expect("name")).expect("bind");
        let notifier = Notifier {
            target: Some(Notifier::connect(&format!("@{name}")).expect("connect")),
        };
        notifier.watchdog();
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        assert!(!Notifier::disabled().is_enabled());
    }
}
