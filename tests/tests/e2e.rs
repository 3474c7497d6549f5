//! End-to-end suites: the real `sonde` and `sonded` binaries, real sockets, inside network
//! namespaces built by sonde-netsim. Each test skips loudly when not root, and fails instead
//! when `SONDE_REQUIRE_NETSIM=1`.

mod support;

mod diagnose;
mod dns;
mod http_check;
mod mobile;
mod modbus;
mod netsim;
mod path;
mod peers;
mod ping;
mod remediation;
mod scenarios;
mod throughput;
mod tickets;
mod tui;
mod web;
