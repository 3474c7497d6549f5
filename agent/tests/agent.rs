//! Integration tests of the agent: the HTTP API driven in-process with `oneshot`, over fake
//! checks (the real checks are covered by their own unit tests and the netsim suites).

mod api;
mod diagnosis;
mod mobile;
mod outbox_kill;
mod schedule;
mod security;
mod throughput;
mod tickets;
mod wifi;
