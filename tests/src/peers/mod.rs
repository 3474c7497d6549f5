//! Fake services that run inside a simulated network's namespaces: a DNS server with failure
//! modes, an HTTP server with a `204` endpoint and a captive-portal mode.
//!
//! Each peer runs on its own thread, which enters the namespace first (so its sockets live
//! there), with a single-threaded tokio runtime. Its mode can change while it runs; dropping the
//! handle stops it.
//!
//! Both peers have the same shape: `spawn(ns, addr, …, mode) -> anyhow::Result<Handle>` binds
//! before it returns (a bind error is the caller's `Err`), and the handle offers `addr()`,
//! `mode()`, `set_mode(mode)` and a count of what arrived. Modes deserialize from the scenario
//! TOML files; each peer's `Mode` documents its shape.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tokio::sync::oneshot;

use crate::Netns;

pub mod dns;
pub mod http;
pub mod modbus;
pub mod speedtest;

/// How long a peer may take to enter its namespace and bind.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long dropping a handle waits for the peer's thread to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A peer's server thread: inside a namespace, a current-thread tokio runtime running one
/// `serve` future. Dropping it stops the runtime — which cancels every task the peer spawned
/// (open connections, delayed answers) and closes its sockets — and joins the thread.
#[derive(Debug)]
struct PeerThread {
    name: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PeerThread {
    /// Starts a thread in `ns` that calls `bind` (inside the runtime's context, so it may create
    /// tokio sockets) and then runs `serve` with what `bind` returned, until stopped. Returns
    /// once `bind` has succeeded, with the address it reported; its error is returned as is.
    fn spawn<S, Fut>(
        ns: &Netns,
        peer: &str,
        bind: impl FnOnce() -> anyhow::Result<(S, SocketAddr)> + Send + 'static,
        serve: impl FnOnce(S) -> Fut + Send + 'static,
    ) -> anyhow::Result<(Self, SocketAddr)>
    where
        Fut: Future<Output = ()> + 'static,
    {
        let name = format!("{peer} peer in {}", ns.name());
        let path = Path::new("/run/netns").join(ns.name());
        let (ready_tx, ready_rx) = mpsc::sync_channel::<anyhow::Result<SocketAddr>>(1);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("{peer}-peer"))
            .spawn(move || {
                let setup = || -> anyhow::Result<_> {
                    crate::enter_thread(&path)?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .enable_time()
                        .build()
                        .context("start a tokio runtime")?;
                    let (state, addr) = {
                        let _context = runtime.enter();
                        bind()?
                    };
                    Ok((runtime, state, addr))
                };
                let (runtime, state, addr) = match setup() {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if ready_tx.send(Ok(addr)).is_err() {
                    return; // The caller gave up waiting.
                }
                runtime.block_on(async move {
                    tokio::select! {
                        () = serve(state) => {}
                        _ = stop_rx => {}
                    }
                });
                // `runtime` drops here: its tasks are cancelled and the sockets closed.
            })
            .with_context(|| format!("start the {name}"))?;
        let addr = match ready_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e.context(format!("start the {name}")));
            }
            Err(_) => return Err(anyhow!("the {name} did not start within {STARTUP_TIMEOUT:?}")),
        };
        Ok((
            Self {
                name,
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            addr,
        ))
    }
}

impl Drop for PeerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        // `JoinHandle` has no timed join: poll, so that a stuck peer cannot hang a test.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                eprintln!("the {} did not stop within {STOP_TIMEOUT:?}; leaving it", self.name);
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = thread.join();
    }
}
