//! The measurement server of `sonde-backend` (the `/.well-known/nq` configuration, the large
//! download, the upload sink) as a peer of the simulated network, so the throughput and
//! responsiveness checks measure across the emulated links.
//!
//! ```toml
//! [peers.speedtest]
//! enabled = true                 # default false: a speed test moves real bytes through the emulator
//! ```

use std::net::SocketAddr;

use anyhow::Context;
use serde::Deserialize;

use super::PeerThread;
use crate::Netns;

/// `[peers.speedtest]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Whether the network has a measurement server (default: no).
    pub enabled: bool,
}

/// A running measurement server; stopped when dropped.
#[derive(Debug)]
pub struct Handle {
    _thread: PeerThread,
    addr: SocketAddr,
    measure: sonde_backend::measure::Measure,
}

impl Handle {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes served and received so far (the server's own count).
    pub fn totals(&self) -> (u64, u64) {
        self.measure.totals()
    }
}

/// Starts the measurement server in `ns` on `addr` (HTTP/1.1 and HTTP/2 with prior knowledge).
pub fn spawn(ns: &Netns, addr: SocketAddr) -> anyhow::Result<Handle> {
    let measure = sonde_backend::measure::Measure::new();
    let app = sonde_backend::app_with(measure.clone());
    let bind = move || {
        let std_listener = std::net::TcpListener::bind(addr).with_context(|| format!("bind {addr}"))?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        Ok((listener, local))
    };
    let serve = move |listener: tokio::net::TcpListener| async move {
        if let Err(e) = sonde_backend::serve(listener, app, None, std::future::pending()).await {
            eprintln!("speedtest peer: {e}");
        }
    };
    let (thread, addr) = PeerThread::spawn(ns, "speedtest", bind, serve)?;
    Ok(Handle {
        _thread: thread,
        addr,
        measure,
    })
}
