//! `sonde-netsim`: build a scenario's network and run commands in it.
//!
//! ```text
//! sonde-netsim check                       can this host run simulated networks?
//! sonde-netsim up SCENARIO                 build it and keep it up until Ctrl-C / `down`
//! sonde-netsim down SCENARIO               stop a network started with `up` (and clean up orphans)
//! sonde-netsim exec SCENARIO -- CMD…       build it, run CMD on the customer device, tear down
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::network::Network;
use crate::scenario::Scenario;

/// Simulated networks in network namespaces, with a userspace link emulator.
#[derive(Debug, Parser)]
#[command(name = "sonde-netsim", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that this host can run simulated networks (root, /dev/net/tun, ip).
    Check,
    /// Build the scenario's network and keep it up until interrupted or `down`.
    Up {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Stop the network `up` started for this scenario, and remove leftovers of killed runs.
    Down {
        /// The scenario file (TOML), or its name.
        scenario: PathBuf,
    },
    /// Build the network, run a command on the customer device, tear the network down, and
    /// exit with the command's status.
    Exec {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

const STATE_DIR: &str = "/run/sonde-netsim";

/// Entry point of `sonde-netsim`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sonde-netsim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check => Ok(check()),
        Command::Up { scenario } => up(&scenario),
        Command::Down { scenario } => down(&scenario),
        Command::Exec { scenario, command } => exec(&scenario, &command),
    }
}

fn check() -> ExitCode {
    let mut problems = Vec::new();
    if let Some(reason) = crate::unavailable_reason() {
        problems.push(reason);
    }
    if !Path::new("/dev/net/tun").exists() {
        problems.push(
            "/dev/net/tun is missing: load the tun module (modprobe tun) or expose it to the container".to_owned(),
        );
    }
    if problems.is_empty() {
        println!("ok: this host can run sonde-netsim networks");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("sonde-netsim: {p}");
        }
        ExitCode::from(2)
    }
}

fn load(path: &Path) -> anyhow::Result<Scenario> {
    if let Some(reason) = crate::unavailable_reason() {
        anyhow::bail!("{reason} (see `sonde-netsim check`)");
    }
    Scenario::load(path)
}

fn state_file(name: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{name}.pid"))
}

fn up(path: &Path) -> anyhow::Result<ExitCode> {
    let scenario = load(path)?;
    let signals = crate::signals::block_termination()?;
    let network = Network::up(&scenario)?;
    std::fs::create_dir_all(STATE_DIR).with_context(|| format!("create {STATE_DIR}"))?;
    let state = state_file(&scenario.name);
    std::fs::write(&state, std::process::id().to_string()).with_context(|| format!("write {}", state.display()))?;
    println!("{}: up; device namespace: {}", scenario.name, network.device.name());
    println!("run commands in it with: ip netns exec {} CMD", network.device.name());
    println!(
        "sonde's configuration for this network: {}={}",
        SONDE_CONFIG_ENV,
        network.sonde_config().display()
    );
    signals.wait();
    drop(network);
    let _ = std::fs::remove_file(&state);
    println!("{}: down", scenario.name);
    Ok(ExitCode::SUCCESS)
}

fn down(path: &Path) -> anyhow::Result<ExitCode> {
    let name = match Scenario::load(path) {
        Ok(s) => s.name,
        Err(_) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let state = state_file(&name);
    if let Ok(pid) = std::fs::read_to_string(&state).map(|p| p.trim().parse::<i32>()) {
        let pid = pid.context("malformed state file")?;
        crate::signals::terminate(pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if Path::new(&format!("/proc/{pid}")).exists() {
            crate::signals::kill(pid);
        }
        let _ = std::fs::remove_file(&state);
    }
    // Whatever a killed `up` left behind goes now.
    std::thread::sleep(Duration::from_millis(50));
    crate::remove_orphans();
    println!("{name}: down");
    Ok(ExitCode::SUCCESS)
}

/// The variable naming sonde's configuration file (as `sonde_agent::config::CONFIG_ENV`; netsim
/// does not depend on the agent).
const SONDE_CONFIG_ENV: &str = "SONDE_CONFIG";

fn exec(path: &Path, command: &[String]) -> anyhow::Result<ExitCode> {
    let scenario = load(path)?;
    let network = Network::up(&scenario)?;
    let (program, args) = command.split_first().context("no command given")?;
    let status = network
        .device
        .command(program)
        .args(args)
        .env(SONDE_CONFIG_ENV, network.sonde_config())
        .status()
        .with_context(|| format!("run `{program}` in the device namespace"))?;
    drop(network);
    let code = status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1);
    Ok(ExitCode::from(code))
}
