//! `--help` is a surface users read and scripts grep: snapshots make every change to it
//! deliberate. The completion scripts and the manual page are generated from the same
//! definition.

use crate::support::{Scratch, sonde, text};

fn help(args: &[&str]) -> String {
    let scratch = Scratch::new(&format!("help-{}", args.join("-")));
    let out = sonde(args, &scratch.path("history.db"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn sonde_help() {
    insta::assert_snapshot!("sonde_help", help(&["--help"]));
}

#[test]
fn sonde_diagnose_help() {
    insta::assert_snapshot!("sonde_diagnose_help", help(&["diagnose", "--help"]));
}

#[test]
fn sonde_history_and_show_help() {
    insta::assert_snapshot!("sonde_history_help", help(&["history", "--help"]));
    insta::assert_snapshot!("sonde_show_help", help(&["show", "--help"]));
}

#[test]
fn sonde_dashboard_help() {
    insta::assert_snapshot!("sonde_dashboard_help", help(&["dashboard", "--help"]));
}

#[test]
fn the_dashboard_needs_a_terminal() {
    let scratch = Scratch::new("dashboard-no-tty");
    let out = sonde(&["dashboard"], &scratch.path("history.db"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("needs a terminal"), "{}", text(&out.stderr));
}

#[test]
fn completions_and_the_manual_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let script = help(&["completions", shell]);
        for word in ["diagnose", "history", "show", "junit", "expect"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let man = help(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH sonde 1"), "{man}");
    for word in ["diagnose", "history", "show", "completions"] {
        assert!(man.contains(word), "the manual lacks {word}");
    }
    let scratch = Scratch::new("bad-shell");
    let out = sonde(&["completions", "tcsh"], &scratch.path("history.db"));
    assert_eq!(out.status.code(), Some(2));
}
