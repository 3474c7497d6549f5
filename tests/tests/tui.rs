//! `sonde dashboard` and the guided `sonde diagnose`, driven as a person would: in a terminal
//! (tmux, on a socket of this test's own), keys sent with `send-keys`, the screen read back with
//! `capture-pane`, inside a scenario's device namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sonde_netsim::network::Network;
use sonde_netsim::scenario::Scenario;
use sonde_netsim::{Netns, require_netsim};

use crate::support::{Lan, bin};

/// A tmux server of this test's own (its own socket), with one session running a command;
/// killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `command` (run by a shell) in a detached `width`×`height` session.
    fn start(tag: &str, command: &str) -> Self {
        let socket = std::env::temp_dir().join(format!("sonde-tmux-{}-{tag}", std::process::id()));
        let tmux = Self { socket };
        let out = tmux.run(&["new-session", "-d", "-s", "t", "-x", "160", "-y", "50", command]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Keep the screen after the program exits, so its last words can be read.
        tmux.run(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// Types `keys` (tmux key names: `Enter`, `q`, `1`…).
    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "tmux send-keys: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The screen's text now.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Polls the screen until `done` holds for it, for at most `limit`; returns the screen.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Whether tmux can run here: skips loudly, or fails under `SONDE_REQUIRE_NETSIM=1`.
fn require_tmux(test: &str) -> bool {
    let found = Command::new("tmux").arg("-V").stdout(Stdio::null()).status().is_ok();
    let missing = (!found).then(|| "tmux is missing (scripts/install-test-deps.sh installs it)".to_owned());
    sonde_netsim::require(test, missing)
}

/// The shell command running `sonde <args>` in `ns` with the scenario's configuration and a
/// history of its own.
fn sonde_in(ns: &Netns, args: &str) -> String {
    sonde_with_config(ns, &ns.state_file("sonde.toml"), args)
}

/// The shell command running `sonde <args>` in `ns` with the configuration `config` and a
/// history of its own.
fn sonde_with_config(ns: &Netns, config: &Path, args: &str) -> String {
    let history = ns.state_file("history.db");
    format!(
        "ip netns exec {} env SONDE_CONFIG={} SONDE_HISTORY={} {} {args}",
        ns.name(),
        quote(config),
        quote(&history),
        quote(&bin("sonde"))
    )
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display())
}

#[test]
fn dashboard_runs_a_diagnosis_to_completion_and_shows_its_findings() {
    if !require_netsim("dashboard_runs_a_diagnosis_to_completion_and_shows_its_findings")
        || !require_tmux("dashboard_runs_a_diagnosis_to_completion_and_shows_its_findings")
    {
        return;
    }
    // The gateway answers, nothing serves DNS: the diagnosis is DNS_RESOLVER_FAILING.
    let lan = Lan::new();
    let tmux = Tmux::start("dashboard", &sonde_in(&lan.dev, "dashboard --lang en"));
    tmux.wait_for("dashboard", Duration::from_secs(10), |s| {
        s.contains("press 1-6 to start a run")
    });
    tmux.send(&["1"]);
    let screen = tmux.wait_for("finished run", Duration::from_secs(30), |s| {
        s.contains("completed") && s.contains("DNS_RESOLVER_FAILING")
    });
    eprintln!("the dashboard after the run:\n{screen}");
    for expected in ["gateway", "pass", "dns", "fail", "RTT gateway"] {
        assert!(
            screen.contains(expected),
            "{expected:?} missing from the screen:\n{screen}"
        );
    }
    // The run is now in the history pane too (read back from the history store).
    tmux.wait_for("history entry", Duration::from_secs(5), |s| {
        s.contains("no-internet DNS_RESOLVER_FAILING")
    });
    // The remediation key says what it can do: nothing here, and why.
    tmux.send(&["a"]);
    tmux.wait_for("action answer", Duration::from_secs(5), |s| {
        s.contains("no remediation action available on this agent: no modem configured")
    });
    tmux.send(&["q"]);
    tmux.wait_for("exit", Duration::from_secs(5), |s| !s.contains("x cancel"));
}

#[test]
fn dashboard_runs_a_chosen_remediation_action_after_confirmation() {
    if !require_netsim("dashboard_runs_a_chosen_remediation_action_after_confirmation")
        || !require_tmux("dashboard_runs_a_chosen_remediation_action_after_confirmation")
    {
        return;
    }
    // A healthy 4G router behind the box: its actions are available to the embedded agent.
    let scenario: Scenario =
        toml::from_str("[network]\nnat = true\n[peers.modem]\nmap = \"teltonika-rutos\"\n").expect("scenario");
    let net = Network::up(&scenario).expect("network up");
    let tmux = Tmux::start(
        "dashboard-action",
        &sonde_with_config(&net.device, net.sonde_config(), "dashboard --lang en"),
    );
    tmux.wait_for("dashboard", Duration::from_secs(10), |s| {
        s.contains("press 1-6 to start a run")
    });
    tmux.send(&["a"]);
    tmux.wait_for("the actions", Duration::from_secs(5), |s| {
        s.contains("action 1/2: reconnect_data_session") && s.contains("2 reset_modem")
    });
    // `n` runs nothing and writes nothing.
    tmux.send(&["1"]);
    tmux.wait_for("confirmation", Duration::from_secs(5), |s| {
        s.contains("y/n: run reconnect_data_session on modem")
    });
    tmux.send(&["n"]);
    tmux.wait_for("declined", Duration::from_secs(5), |s| {
        s.contains("reconnect_data_session not run")
    });
    assert!(net.modem().expect("modem").actions().is_empty());
    // `a`, Enter, `y`: a mobile run that performs it, re-tests and says the outcome.
    tmux.send(&["a"]);
    tmux.wait_for("the actions", Duration::from_secs(5), |s| {
        s.contains("action 1/2: reconnect_data_session")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("confirmation", Duration::from_secs(5), |s| s.contains("y/n"));
    tmux.send(&["y"]);
    let screen = tmux.wait_for("the run's end", Duration::from_secs(120), |s| {
        s.contains("reconnect_data_session: restored")
    });
    eprintln!("the dashboard after the action:\n{screen}");
    assert!(screen.contains("mobile · completed"), "{screen}");
    assert_eq!(
        net.modem().expect("modem").actions(),
        ["mobile-data-off", "mobile-data-on"]
    );
    tmux.send(&["q"]);
    tmux.wait_for("exit", Duration::from_secs(5), |s| !s.contains("x cancel"));
    drop(tmux);
    drop(net);
}

#[test]
fn guided_diagnose_asks_the_line_and_the_problem_and_answers_in_one_sentence() {
    if !require_netsim("guided_diagnose_asks_the_line_and_the_problem_and_answers_in_one_sentence")
        || !require_tmux("guided_diagnose_asks_the_line_and_the_problem_and_answers_in_one_sentence")
    {
        return;
    }
    let lan = Lan::new();
    let tmux = Tmux::start("guided", &sonde_in(&lan.dev, "diagnose --lang en"));
    tmux.wait_for("line question", Duration::from_secs(10), |s| {
        s.contains("Which line do you want to test?")
    });
    tmux.send(&["1", "Enter"]);
    tmux.wait_for("line id question", Duration::from_secs(5), |s| {
        s.contains("Internet account or mobile number")
    });
    tmux.send(&["fti/1234567", "Enter"]);
    tmux.wait_for("problem question", Duration::from_secs(5), |s| {
        s.contains("What is the problem?")
    });
    tmux.send(&["1", "Enter"]);
    let screen = tmux.wait_for("diagnosis", Duration::from_secs(30), |s| {
        s.contains("Enter: show the technical")
    });
    let headline = screen
        .lines()
        .find(|l| l.starts_with("Diagnosis: "))
        .unwrap_or_else(|| panic!("no one-sentence diagnosis on the screen:\n{screen}"));
    assert!(headline.contains("DNS") || headline.contains("name"), "{headline}");
    assert!(screen.contains("What to do"), "{screen}");
    assert!(
        !screen.contains("[DNS_RESOLVER_FAILING]"),
        "the evidence waits for a key:\n{screen}"
    );
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("evidence", Duration::from_secs(5), |s| {
        s.contains("[DNS_RESOLVER_FAILING]")
    });
    assert!(screen.contains("Technical details"), "{screen}");
}
