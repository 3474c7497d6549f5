//! Crash test of the ticket outbox: a process delivering tickets is SIGKILLed at random moments
//! (and once between the helpdesk's `201` and its own commit); the helpdesk must end with every
//! ticket and every SMS exactly once.
//!
//! The delivering process is this test binary re-run with `SONDE_OUTBOX_CHILD` set (then
//! [`outbox_child`] delivers instead of returning at once).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sonde_agent::config::TicketOptions;
use sonde_agent::outbox::{self, Backoff, Helpdesk, HttpHelpdesk, PostOutcome};
use sonde_agent::store::Store;
use sonde_backend::config::Role;
use sonde_backend::db::{Db, TicketFilter};
use sonde_protocol::{
    Event, EventData, ProblemKind, RunFinished, RunId, RunRequest, RunState, TicketSubmission, Timestamp,
};

const TOKEN: &str = "crash-test-device";
const TICKETS: usize = 60;
const CHILD_TEST: &str = "outbox_kill::outbox_child";

/// Passes the real helpdesk's answers through, 10 ms after each call; with `abort_after_ack`, dies right after the
/// first acknowledgement, before the outbox commits it.
struct Crashing {
    inner: HttpHelpdesk,
    abort_after_ack: bool,
}

impl Helpdesk for Crashing {
    fn post<'a>(&'a self, key: &'a str, body: &'a str) -> Pin<Box<dyn Future<Output = PostOutcome> + Send + 'a>> {
        Box::pin(async move {
            // Paced, so that the kills land during the deliveries.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let outcome = self.inner.post(key, body).await;
            if self.abort_after_ack && matches!(outcome, PostOutcome::Acknowledged(_)) {
                std::process::abort();
            }
            outcome
        })
    }
}

/// The child: delivers every due ticket of `SONDE_OUTBOX_CHILD`'s store, then exits.
#[test]
fn outbox_child() {
    let Some(db) = std::env::var_os("SONDE_OUTBOX_CHILD") else {
        return; // not a child: nothing to do
    };
    let url = std::env::var("SONDE_OUTBOX_HELPDESK").expect("helpdesk url");
    let abort_after_ack = std::env::var_os("SONDE_OUTBOX_ABORT_AFTER_ACK").is_some();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = Store::open(&PathBuf::from(db)).expect("store");
        let options = TicketOptions {
            helpdesk: url,
            token: Some(TOKEN.into()),
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(50),
        };
        let helpdesk = Crashing {
            inner: HttpHelpdesk::new(&options).expect("client"),
            abort_after_ack,
        };
        let mut backoff = Backoff::new(options.retry_base, options.retry_max);
        let deadline = Instant::now() + Duration::from_secs(30);
        while outbox::deliver_due(&store, &helpdesk, &mut backoff, Instant::now, || 0.5, &|| {})
            .await
            .expect("deliver")
        {
            assert!(Instant::now() < deadline, "child gave up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

fn spawn_child(db: &std::path::Path, url: &str, abort_after_ack: bool) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env("SONDE_OUTBOX_CHILD", db)
        .env("SONDE_OUTBOX_HELPDESK", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if abort_after_ack {
        command.env("SONDE_OUTBOX_ABORT_AFTER_ACK", "1");
    }
    command.spawn().expect("spawn the child")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_deliveries_lose_and_duplicate_nothing() {
    if std::env::var_os("SONDE_OUTBOX_CHILD").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sonde-outbox-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let agent_db = dir.join("agent.db");

    // The helpdesk, in this process, on loopback.
    let mut config = sonde_backend::config::Config::default();
    config.add_token("box", TOKEN, Role::Device);
    let helpdesk = sonde_backend::tickets::Helpdesk::new(
        Db::open(&dir.join("helpdesk.db")).expect("db"),
        config,
        Box::new(sonde_backend::sms::StubGateway),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(axum::serve(listener, sonde_backend::app_with_helpdesk(helpdesk.clone())).into_future());

    // TICKETS finished runs, each with a ticket in the outbox.
    let mut runs = {
        let store = Store::open(&agent_db).expect("store");
        finished_runs_with_tickets(&store)
    };
    let store = Arc::new(Store::open(&agent_db).expect("store"));
    let delivered = || {
        store
            .outbox()
            .expect("outbox")
            .iter()
            .filter(|(state, _)| state == "delivered")
            .count()
    };

    // Once: die between the helpdesk's 201 and the local commit.
    let status = tokio::task::spawn_blocking({
        let (db, url) = (agent_db.clone(), url.clone());
        move || spawn_child(&db, &url, true).wait().expect("wait")
    })
    .await
    .expect("join");
    assert!(!status.success(), "the child aborted after an acknowledgement");
    assert_eq!(delivered(), 0, "the acknowledged ticket was not committed locally");
    assert_eq!(
        helpdesk.db().sms(None).await.expect("sms").len(),
        1,
        "but the helpdesk has it"
    );

    // Then SIGKILL at random moments until everything is delivered (bounded).
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut kills = 0;
    while delivered() < TICKETS {
        assert!(
            Instant::now() < deadline,
            "not delivered in time: {}/{TICKETS}",
            delivered()
        );
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let lifetime = Duration::from_millis(20 + (seed >> 33) % 150);
        let mut child = spawn_child(&agent_db, &url, false);
        tokio::time::sleep(lifetime).await;
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(kills >= 3, "the test killed the child only {kills} times");
    eprintln!("{TICKETS} tickets delivered across {kills} SIGKILLed deliverers");

    let tickets = helpdesk
        .db()
        .tickets(&TicketFilter {
            limit: 10 * TICKETS,
            ..TicketFilter::default()
        })
        .await
        .expect("tickets");
    assert_eq!(tickets.len(), TICKETS, "0 lost, 0 duplicated (after {kills} kills)");
    let mut seen: Vec<RunId> = tickets.iter().map(|t| t.submission.run).collect();
    seen.sort();
    runs.sort();
    assert_eq!(seen, runs, "each run's ticket exactly once");
    assert_eq!(
        helpdesk.db().sms(None).await.expect("sms").len(),
        TICKETS,
        "one SMS per ticket"
    );
    let outbox = store.outbox().expect("outbox");
    let mut numbers: Vec<_> = outbox.iter().filter_map(|(_, n)| n.clone()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), TICKETS, "the agent holds every ticket number");
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits 10 ms before each post.
struct Paced(HttpHelpdesk);

impl Helpdesk for Paced {
    fn post<'a>(&'a self, key: &'a str, body: &'a str) -> Pin<Box<dyn Future<Output = PostOutcome> + Send + 'a>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.0.post(key, body).await
        })
    }
}

/// The `sonde-backend` binary next to this test binary (`target/<profile>/`), built if missing.
fn backend_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf();
    let path = dir.join("sonde-backend");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "sonde-backend", "--bin", "sonde-backend"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build sonde-backend");
    }
    path
}

fn spawn_backend(binary: &std::path::Path, dir: &std::path::Path, port: u16) -> Child {
    Command::new(binary)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(dir.join("helpdesk.toml"))
        .arg("--database")
        .arg(dir.join("helpdesk.db"))
        .env("SONDE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sonde-backend")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_helpdesk_loses_and_duplicates_nothing() {
    if std::env::var_os("SONDE_OUTBOX_CHILD").is_some() {
        return;
    }
    let binary = backend_binary();
    let dir = std::env::temp_dir().join(format!("sonde-helpdesk-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("helpdesk.toml"),
        format!(
            "operator = \"Sonde Télécom\"\n[[devices]]\nname = \"box\"\ntoken-sha256 = \"{}\"\n",
            sonde_backend::config::hash_token(TOKEN)
        ),
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();

    let store = Arc::new(Store::open(&dir.join("agent.db")).expect("store"));
    finished_runs_with_tickets(&store);

    // The agent delivers in the background, retrying through the helpdesk's deaths.
    let options = TicketOptions {
        helpdesk: format!("http://127.0.0.1:{port}"),
        token: Some(TOKEN.into()),
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
    };
    let delivery = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            // Paced (10 ms before each post) so that the kills land during the deliveries.
            let helpdesk = Paced(HttpHelpdesk::new(&options).expect("client"));
            let mut backoff = Backoff::new(options.retry_base, options.retry_max);
            let deadline = Instant::now() + Duration::from_secs(90);
            while outbox::deliver_due(&store, &helpdesk, &mut backoff, Instant::now, || 0.5, &|| {})
                .await
                .expect("deliver")
            {
                assert!(Instant::now() < deadline, "not delivered in time");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    let mut seed = u64::from(std::process::id()) ^ 0x2545_f491_4f6c_dd1d;
    let mut kills = 0;
    let mut backend = spawn_backend(&binary, &dir, port);
    while !delivery.is_finished() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        tokio::time::sleep(Duration::from_millis(5 + (seed >> 33) % 60)).await;
        if delivery.is_finished() {
            break;
        }
        backend.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
        let _ = backend.wait();
        kills += 1;
        backend = spawn_backend(&binary, &dir, port);
    }
    delivery.await.expect("delivery task");
    backend.kill().expect("SIGKILL");
    let _ = backend.wait();
    assert!(kills >= 3, "the helpdesk was killed only {kills} times");
    eprintln!("{TICKETS} tickets delivered across {kills} SIGKILLed helpdesks");

    let db = Db::open(&dir.join("helpdesk.db")).expect("helpdesk db");
    let tickets = db
        .tickets(&TicketFilter {
            limit: 10 * TICKETS,
            ..TicketFilter::default()
        })
        .expect("tickets");
    assert_eq!(tickets.len(), TICKETS, "0 lost, 0 duplicated (after {kills} kills)");
    assert_eq!(db.sms(None).expect("sms").len(), TICKETS, "one SMS per ticket");
    let delivered = store
        .outbox()
        .expect("outbox")
        .iter()
        .filter(|(state, n)| state == "delivered" && n.is_some())
        .count();
    assert_eq!(delivered, TICKETS);
    let _ = std::fs::remove_dir_all(dir);
}

/// TICKETS finished runs in `store`, each with a ticket queued in its outbox; their ids.
fn finished_runs_with_tickets(store: &Store) -> Vec<RunId> {
    (0..TICKETS)
        .map(|i| {
            let run = RunId::new();
            store
                .create_run(run, &RunRequest::default(), Timestamp::now())
                .expect("run");
            store
                .append(&Event {
                    v: 1,
                    run,
                    seq: 1,
                    ts: Timestamp::now(),
                    data: EventData::RunFinished(RunFinished {
                        state: RunState::Completed,
                        reason: None,
                    }),
                })
                .expect("finished");
            let submission = TicketSubmission {
                line: format!("line-{i}"),
                contact: "+33612345678".into(),
                problem: ProblemKind::NoInternet,
                findings: vec!["INTERNET_UNREACHABLE".into()],
                evidence: String::new(),
                run,
                agent_version: "test".into(),
                profile: None,
            };
            outbox::enqueue(store, &submission).expect("enqueue");
            run
        })
        .collect()
}
