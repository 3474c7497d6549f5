//! TUN devices: opened in this process's namespace, then moved into the namespace they serve.
//! The open file keeps working after the move, so one process can hold both ends of a link.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, bail};

/// An open TUN device (layer 3, no packet-information header). Removed by the kernel when the
/// last handle closes — including when the process dies.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tun {
    /// Creates the TUN device `name` (at most 15 bytes), non-blocking.
    pub fn create(name: &str) -> anyhow::Result<Self> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            bail!("TUN name `{name}` must be 1 to {} bytes", libc::IFNAMSIZ - 1);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .context("open /dev/net/tun (is the tun module loaded, and are we root?)")?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        set_iff(file.as_raw_fd(), &mut req).with_context(|| format!("TUNSETIFF {name}"))?;
        Ok(Self {
            file,
            name: name.to_owned(),
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw descriptor (for `poll`).
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads one packet; `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one packet.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }

    /// Waits up to `timeout_ms` for a packet to read. Returns whether one is ready.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        poll_in(self.fd(), timeout_ms)
    }
}

#[allow(unsafe_code)]
fn set_iff(fd: RawFd, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `IfReq` lays out (name,
    // then the flags union, padded to 40 bytes); `req` outlives the call.
    let rc = unsafe { libc::ioctl(fd, TUNSETIFF as _, req as *mut IfReq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[allow(unsafe_code)]
fn poll_in(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    match rc {
        n if n < 0 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}
