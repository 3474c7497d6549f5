//! The `sonde` command line: `sonde diagnose` runs a diagnosis, with the agent embedded in this
//! process (the default) or on a `sonded` daemon (`--agent URL`), and presents it.
//!
//! `sonde ping` and `sonde dns` measure one target with the checks' own probers. `sonde history`
//! and `sonde show` read past runs; `sonde dashboard` is the technician's live terminal UI; `sonde completions` and `sonde man` document the CLI.
//!
//! Both paths produce the same event stream and the same report; this crate never computes a
//! verdict, it only presents the agent's.

mod cli;
pub mod dashboard;
mod dns;
mod eta;
pub mod history;
pub mod junit;
mod prompt;
mod remote;
mod render;
mod steps;

use std::process::ExitCode;

pub use cli::{AgentArgs, Cli, Command, DiagnoseArgs, Expect, JsonMode, exit_code, man_page};

/// Exit status: healthy.
pub const EXIT_HEALTHY: u8 = 0;
/// Exit status: a problem was found (or `--expect` was not met).
pub const EXIT_PROBLEM: u8 = 1;
/// Exit status: the diagnosis could not run.
pub const EXIT_COULD_NOT_RUN: u8 = 2;

/// Entry point of `sonde`.
pub fn main() -> ExitCode {
    use clap::Parser;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_COULD_NOT_RUN
            } else {
                EXIT_HEALTHY
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // `sonde ping` is one task on one socket per family: a single-threaded runtime serves it
    // with less memory (a sweep is judged on its footprint next to fping's). A diagnosis runs
    // checks side by side on two workers.
    let runtime = if matches!(cli.command, Command::Ping(_)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sonde: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_COULD_NOT_RUN);
        }
    };
    let code = runtime.block_on(cli::run(cli));
    ExitCode::from(code)
}
