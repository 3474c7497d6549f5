//! Fake services that run inside a simulated network's namespaces: a DNS server with failure
//! modes, an HTTP server with a `204` endpoint and a captive-portal mode.
//!
//! Each peer runs on its own thread, which enters the namespace first (so its sockets live
//! there), with a single-threaded tokio runtime. Its mode can change while it runs; dropping the
//! handle stops it.

pub mod dns;
pub mod http;
