//! Waiting for SIGINT/SIGTERM without an async runtime, and signalling another process.

#![allow(unsafe_code)]

use std::io;

/// SIGINT and SIGTERM blocked in this thread (and threads spawned after), to be taken with
/// [`Blocked::wait`].
#[derive(Debug)]
pub struct Blocked {
    set: libc::sigset_t,
}

/// Blocks SIGINT and SIGTERM. Call before spawning threads, so none of them takes the signal.
pub fn block_termination() -> io::Result<Blocked> {
    // SAFETY: sigemptyset/sigaddset initialise a local sigset_t; pthread_sigmask reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Blocked { set })
    }
}

impl Blocked {
    /// Waits until SIGINT or SIGTERM arrives.
    pub fn wait(&self) {
        let mut signal = 0;
        // SAFETY: `set` was initialised by `block_termination`; `signal` is a valid out pointer.
        unsafe {
            libc::sigwait(&self.set, &mut signal);
        }
    }
}

/// Sends SIGTERM to `pid`.
pub fn terminate(pid: i32) {
    // SAFETY: kill(2) with a pid and a valid signal number has no memory effects.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: i32) {
    // SAFETY: as in `terminate`.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}
