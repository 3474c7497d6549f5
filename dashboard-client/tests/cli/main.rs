//! Tests of the `sonde` CLI's surfaces that users script against: `--help`, the JSON report, the
//! JUnit file (checked against the JUnit XSD with xmllint), exit codes, and the history.

mod exit_codes;
mod help;
mod history;
mod junit;
mod remote;
mod support;
