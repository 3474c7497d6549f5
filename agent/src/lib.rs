//! The sonde agent: checks (measure + evaluate), the diagnosis, the runner, the HTTP API with
//! its progress stream, and the durable run store.
//!
//! Data flows one way: measure → evaluate → diagnose → present. Checks never know about HTTP;
//! the API never computes a verdict.

pub mod checks;
pub mod config;
pub mod diagnose;
pub mod plan;
pub mod progress;
pub mod runner;
pub mod texts;
