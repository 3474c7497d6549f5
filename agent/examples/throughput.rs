//! Runs the throughput measurement once against a measurement server and prints its samples
//! as JSON (used by `bench/throughput.sh`).
//!
//! `throughput URL [--download-only] [--max-seconds N] [--streams N] [--budget-mb N] [--http2]`

use std::process::ExitCode;
use std::time::Duration;

use sonde_agent::checks::NoProgress;
use sonde_agent::checks::throughput::{HttpVersion, ThroughputOptions, measure_throughput};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = ThroughputOptions::default();
    let mut i = 0;
    while i < args.len() {
        let value = |i: usize| args.get(i + 1).and_then(|v| v.parse::<f64>().ok());
        match args[i].as_str() {
            "--download-only" => options.upload = false,
            "--http2" => options.http = HttpVersion::Http2,
            "--max-seconds" => {
                options.max_duration = Duration::from_secs_f64(value(i).unwrap_or(10.0));
                i += 1;
            }
            "--streams" => {
                let n = value(i).unwrap_or(4.0) as u32;
                options.initial_streams = n;
                options.max_streams = n;
                i += 1;
            }
            "--budget-mb" => {
                options.budget_bytes = value(i).map(|mb| (mb * 1e6) as u64);
                i += 1;
            }
            url => options.server = Some(url.to_owned()),
        }
        i += 1;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("throughput: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(measure_throughput(&options, &NoProgress)) {
        Ok(samples) => {
            println!("{}", serde_json::to_string(&samples).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("throughput: {e}");
            ExitCode::FAILURE
        }
    }
}
