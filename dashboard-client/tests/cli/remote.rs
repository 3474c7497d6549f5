//! `sonde history` and `sonde show` against a `sonded` API on loopback (`GET /v1/runs`,
//! `GET /v1/runs/{id}`), its store seeded with finished runs.

use std::sync::Arc;

use sonde_agent::api::AppState;
use sonde_agent::checks::{Checks, SystemChecks};
use sonde_agent::config::Config;
use sonde_agent::sd_notify::Notifier;
use sonde_agent::store::Store;
use sonde_protocol::{RunList, RunReport};
use tokio_util::sync::CancellationToken;

use crate::support::{Scratch, fixture_report, seed_history, sonde, text};

/// A daemon serving the runs stored at `database`; stops when the token is canceled.
async fn daemon(database: &std::path::Path) -> (String, CancellationToken) {
    let store = Store::open(database).expect("open the store");
    // No run is started here: the checks are never called.
    let state = AppState::new(
        store,
        Config::default(),
        Arc::new(|config: &Config| Box::new(SystemChecks::new(config.clone())) as Box<dyn Checks>),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(sonde_agent::daemon::serve_on(
        listener,
        state,
        Arc::new(Notifier::disabled()),
        async move { shutdown.cancelled().await },
    ));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_show_read_a_daemon() {
    let scratch = Scratch::new("remote");
    let database = scratch.path("sonded.db");
    let report = fixture_report();
    seed_history(&database, &report);
    let (url, stop) = daemon(&database).await;
    // The local history stays empty: what is listed comes from the daemon.
    let local = scratch.path("local.db");
    let run = report.run.to_string();

    let cli = move |args: Vec<String>| {
        let local = local.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sonde(&args, &local)
        })
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let out = cli(args(&["history", "--json", "--agent", &url])).await.expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list: RunList = serde_json::from_slice(&out.stdout).expect("RunList");
    assert_eq!(list.runs.len(), 1);
    assert_eq!(list.runs[0].run, report.run);
    assert_eq!(
        list.runs[0].top_finding.as_ref().map(|f| f.code.as_str()),
        Some("DNS_RESOLVER_FAILING")
    );

    let out = cli(args(&["show", &run, "--json", "--agent", &url]))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: RunReport = serde_json::from_slice(&out.stdout).expect("RunReport");
    assert_eq!(shown.checks, report.checks);

    let unknown = "01a21913-7000-7000-8000-00000000dead";
    let out = cli(args(&["show", unknown, "--agent", &url])).await.expect("join");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("404") && stderr.contains(unknown), "{stderr}");

    stop.cancel();
}
