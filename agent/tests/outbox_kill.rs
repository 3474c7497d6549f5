//! Crash tests of ticket delivery (issue 8): 200 tickets queued in the outbox of a real `sonded`
//! reach a real `sonde-backend` on loopback exactly once — the helpdesk ends with 200 tickets and
//! 200 SMS, none lost, none duplicated, and every outbox row acknowledged with its number — while
//! one of the two processes is SIGKILLed at random moments and restarted.
//!
//! - [`a_sigkilled_sonded_loses_and_duplicates_nothing`]: `sonded` (the daemon binary, started
//!   on a state database whose 200 finished runs have their tickets queued) is killed once
//!   between the helpdesk's `201` and its own commit, then at random moments, and restarted each
//!   time.
//! - [`a_sigkilled_helpdesk_on_sqlite_loses_and_duplicates_nothing`] and
//!   [`a_sigkilled_helpdesk_on_postgresql_loses_and_duplicates_nothing`]: the `sonde-backend`
//!   binary is killed at random moments and restarted on the same database while one `sonded`
//!   delivers. PostgreSQL needs `SONDE_TEST_POSTGRES_URL` (`scripts/postgres.sh`); without it
//!   that test skips loudly, or fails when `SONDE_REQUIRE_NETSIM=1` (CI).
//!
//! The kill moments come from a seeded generator; each test prints its seed, its kills and its
//! time, and `SONDE_CRASH_SEED=N` replays a schedule (the processes' own timing varies). Every
//! loop is bounded: at most [`MAX_KILLS`] kills, then the last process is left to finish, all
//! within [`DEADLINE`].
//!
//! The kill between the `201` and the commit is made deterministic without touching `sonded`:
//! [`AckTrap`], a loopback proxy between `sonded` and the helpdesk, forwards the first request,
//! reads the helpdesk's whole `2xx` answer — so the helpdesk has committed the ticket and its
//! SMS — and withholds it while the test SIGKILLs `sonded`. Between reading that answer and
//! committing it, `sonded` writes nothing durable (`outbox::deliver_due` goes from the answer
//! straight to `Store::settle_ticket`), so the state it restarts from is exactly the state of a
//! kill after reading and before committing; and the binary under test is the one shipped, with
//! no fault-injection switch in it. (Forwarding the `2xx` and then killing would race the commit;
//! an abort hook would put a crash switch in the release binary.) The test then checks that the
//! restarted `sonded` records the ticket number the withheld answer carried: the replay.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sonde_agent::outbox;
use sonde_agent::store::Store;
use sonde_backend::config::Database;
use sonde_backend::db::TicketFilter;
use sonde_protocol::{
    Event, EventData, ProblemKind, RunFinished, RunId, RunRequest, RunState, TicketRecord, TicketSubmission, Timestamp,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "crash-test-device";
/// Tickets queued, then delivered through the kills.
const TICKETS: usize = 200;
/// Most SIGKILLs per test; then the last process is left to finish.
const MAX_KILLS: u32 = 40;
/// Fewest SIGKILLs (with tickets still pending) for a test to count.
const MIN_KILLS: u32 = 10;
/// Lifetimes of a process before its SIGKILL, in milliseconds (from its start: some kills land
/// while it starts, most while it delivers).
const LIFETIME_MS: (u64, u64) = (5, 60);
/// Each test fails rather than run longer.
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_sonded_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let mut schedule = Schedule::seeded("a_sigkilled_sonded_loses_and_duplicates_nothing");
    let scene = Scene::new("sonded");
    let helpdesk_db = Database::Sqlite(scene.dir.join("helpdesk.db"));
    let port = free_port();
    let mut backend = scene.spawn_backend(port, &helpdesk_db);
    wait_for_listener(port, deadline).await;
    let helpdesk = sonde_backend::db::Store::open(&helpdesk_db).await.expect("helpdesk db");

    // Once: killed between the helpdesk's 201 and the local commit.
    let trap = AckTrap::start(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let mut sonded = scene.spawn_sonded(&scene.sonded_config("trap", trap.port));
    let answer = tokio::time::timeout(Duration::from_secs(20), trap.answer)
        .await
        .expect("the helpdesk answered the first ticket within 20 s")
        .expect("the trap read a whole answer");
    sonded.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    let _ = sonded.wait();
    trap.task.abort();
    assert!(answer.starts_with("HTTP/1.1 201"), "first answer: {answer}");
    let trapped: TicketRecord =
        serde_json::from_str(answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)).expect("a ticket record");
    assert_eq!(
        scene.pending(),
        TICKETS,
        "the acknowledged ticket is not committed locally"
    );
    assert_eq!(
        counts(&helpdesk).await,
        (1, 1),
        "but the helpdesk holds it, and its SMS"
    );

    // Then SIGKILL at random moments, restarting it each time, until every ticket is delivered.
    let config = scene.sonded_config("direct", port);
    let (kills, sonded) = kill_until_delivered(
        "sonded",
        || scene.spawn_sonded(&config),
        &mut backend,
        &scene,
        &mut schedule,
        deadline,
    )
    .await;
    stop(sonded);
    stop(backend);
    let numbers = assert_exactly_once(&helpdesk_db, &scene).await;
    assert_eq!(
        numbers.first(),
        Some(&trapped.number),
        "the ticket acknowledged before the kill kept its number (the helpdesk replayed its answer)"
    );
    eprintln!(
        "{TICKETS} tickets, {TICKETS} SMS: sonded SIGKILLed once after a 201, then {kills} times at random; \
         {} tickets posted again after a kill; {:.1} s",
        scene.reposted(),
        started.elapsed().as_secs_f64()
    );
    scene.clean_up();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_helpdesk_on_sqlite_loses_and_duplicates_nothing() {
    let scene = Scene::new("helpdesk-sqlite");
    let database = Database::Sqlite(scene.dir.join("helpdesk.db"));
    helpdesk_killed(
        &scene,
        &database,
        "a_sigkilled_helpdesk_on_sqlite_loses_and_duplicates_nothing",
    )
    .await;
    scene.clean_up();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_helpdesk_on_postgresql_loses_and_duplicates_nothing() {
    const TEST: &str = "a_sigkilled_helpdesk_on_postgresql_loses_and_duplicates_nothing";
    let Some(postgres) = TestPostgres::create(TEST).await else {
        return;
    };
    let scene = Scene::new("helpdesk-postgres");
    helpdesk_killed(&scene, &Database::Postgres(postgres.url.clone()), TEST).await;
    postgres.drop_database().await;
    scene.clean_up();
}

/// One `sonded` delivers the scene's tickets while the helpdesk on `database` is SIGKILLed at
/// random moments and restarted on it; then every ticket is there exactly once.
async fn helpdesk_killed(scene: &Scene, database: &Database, test: &str) {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let mut schedule = Schedule::seeded(test);
    let port = free_port();
    let mut sonded = scene.spawn_sonded(&scene.sonded_config("direct", port));
    let (kills, backend) = kill_until_delivered(
        "sonde-backend",
        || scene.spawn_backend(port, database),
        &mut sonded,
        scene,
        &mut schedule,
        deadline,
    )
    .await;
    stop(backend);
    stop(sonded);
    assert_exactly_once(database, scene).await;
    eprintln!(
        "{TICKETS} tickets, {TICKETS} SMS: sonde-backend SIGKILLed {kills} times at random; \
         {} tickets posted again; {:.1} s",
        scene.reposted(),
        started.elapsed().as_secs_f64()
    );
}

/// Runs `spawn`'s process, SIGKILLs it after a random lifetime (from its start) and starts
/// another, until the scene's outbox is empty or [`MAX_KILLS`]; then
/// waits for the last one to let it empty. `survivor`, the other process, must stay up
/// throughout. Returns the kills and the process still running.
async fn kill_until_delivered(
    what: &str,
    mut spawn: impl FnMut() -> Child,
    survivor: &mut Child,
    scene: &Scene,
    schedule: &mut Schedule,
    deadline: Instant,
) -> (u32, Child) {
    let mut kills = 0;
    let mut process = spawn();
    while scene.pending() > 0 && kills < MAX_KILLS {
        tokio::time::sleep(schedule.lifetime()).await;
        assert_running(what, &mut process, scene);
        assert_running("the process not killed", survivor, scene);
        if scene.pending() == 0 {
            break;
        }
        process.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
        let _ = process.wait();
        kills += 1;
        assert!(
            Instant::now() < deadline,
            "{} tickets still pending after {kills} kills",
            scene.pending()
        );
        process = spawn();
    }
    while scene.pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} tickets still pending {} s after the last kill",
            scene.pending(),
            DEADLINE.as_secs()
        );
        assert_running(what, &mut process, scene);
        assert_running("the process not killed", survivor, scene);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        kills >= MIN_KILLS,
        "{what} was killed only {kills} times before the tickets were delivered"
    );
    (kills, process)
}

/// The helpdesk on `database` holds each of the scene's tickets once, with one SMS each, and
/// the scene's outbox holds every ticket as delivered with the helpdesk's numbers. Returns the
/// numbers in the outbox's order.
async fn assert_exactly_once(database: &Database, scene: &Scene) -> Vec<String> {
    let helpdesk = sonde_backend::db::Store::open(database).await.expect("helpdesk db");
    let tickets = all_tickets(&helpdesk).await;
    assert_eq!(tickets.len(), TICKETS, "0 lost, 0 duplicated");
    let mut runs: Vec<RunId> = tickets.iter().map(|t| t.submission.run).collect();
    runs.sort();
    let mut queued = scene.runs.clone();
    queued.sort();
    assert_eq!(runs, queued, "each run's ticket exactly once");
    let mut numbers: Vec<String> = tickets.iter().map(|t| t.number.clone()).collect();
    numbers.sort();
    let mut sms: Vec<String> = helpdesk
        .sms(None)
        .await
        .expect("sms")
        .into_iter()
        .map(|s| s.ticket)
        .collect();
    sms.sort();
    assert_eq!(sms, numbers, "one SMS per ticket");

    let outbox = scene.store.outbox().expect("outbox");
    assert!(
        outbox.iter().all(|(state, _)| state == "delivered"),
        "every outbox row acknowledged"
    );
    let delivered: Vec<String> = outbox.into_iter().filter_map(|(_, number)| number).collect();
    let mut sorted = delivered.clone();
    sorted.sort();
    assert_eq!(sorted, numbers, "the agent holds every ticket's number");
    delivered
}

/// (tickets, SMS) the helpdesk holds.
async fn counts(helpdesk: &sonde_backend::db::Store) -> (usize, usize) {
    let tickets = all_tickets(helpdesk).await.len();
    (tickets, helpdesk.sms(None).await.expect("sms").len())
}

/// Every ticket the helpdesk holds (up to ten times as many as were queued).
async fn all_tickets(helpdesk: &sonde_backend::db::Store) -> Vec<TicketRecord> {
    let filter = TicketFilter {
        limit: 10 * TICKETS,
        ..TicketFilter::default()
    };
    helpdesk.tickets(&filter).await.expect("tickets")
}

/// A scratch directory with the helpdesk's configuration and an agent state database holding
/// [`TICKETS`] finished runs with their tickets queued.
struct Scene {
    dir: PathBuf,
    agent_db: PathBuf,
    store: Store,
    runs: Vec<RunId>,
}

impl Scene {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sonde-outbox-kill-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("helpdesk.toml"),
            format!(
                "operator = \"Sonde Télécom\"\n[[devices]]\nname = \"box\"\ntoken-sha256 = \"{}\"\n",
                sonde_backend::config::hash_token(TOKEN)
            ),
        )
        .expect("helpdesk config");
        let agent_db = dir.join("sonded.db");
        let store = Store::open(&agent_db).expect("store");
        let runs = finished_runs_with_tickets(&store);
        Self {
            dir,
            agent_db,
            store,
            runs,
        }
    }

    /// Writes `sonded-NAME.toml`: tickets go to the helpdesk on loopback `port`, retried after
    /// 10 ms to 50 ms (the backoff of the real daemon, shortened).
    fn sonded_config(&self, name: &str, port: u16) -> PathBuf {
        let path = self.dir.join(format!("sonded-{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[tickets]\nhelpdesk = \"http://127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\
                 retry-base-ms = 10\nretry-max-ms = 50\n"
            ),
        )
        .expect("sonded config");
        path
    }

    /// The `sonded` binary on the scene's state database, its API on a free loopback port, its
    /// log appended to `sonded.log`.
    fn spawn_sonded(&self, config: &Path) -> Child {
        let mut command = command(Path::new(env!("CARGO_BIN_EXE_sonded")));
        command
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--database")
            .arg(&self.agent_db)
            .env("SONDE_LOG", "info");
        spawn_logged(command, &self.dir.join("sonded.log"))
    }

    /// The `sonde-backend` binary on loopback `port` and `database`, its log appended to
    /// `sonde-backend.log`.
    fn spawn_backend(&self, port: u16, database: &Database) -> Child {
        let mut command = command(&backend_binary());
        command
            .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
            .arg(self.dir.join("helpdesk.toml"))
            .env("SONDE_LOG", "warn");
        match database {
            Database::Sqlite(path) => command.arg("--database").arg(path),
            // From the environment, the password stays out of the process list.
            Database::Postgres(url) => command.env("SONDE_BACKEND_DATABASE", url),
        };
        spawn_logged(command, &self.dir.join("sonde-backend.log"))
    }

    /// Tickets not yet acknowledged in the agent's outbox.
    fn pending(&self) -> usize {
        let outbox = self.store.outbox().expect("outbox");
        outbox.iter().filter(|(state, _)| state == "queued").count()
    }

    /// Tickets posted more than once: a kill cut an attempt (before the helpdesk's commit, or
    /// after it, and then the helpdesk replayed its answer).
    fn reposted(&self) -> usize {
        let db = rusqlite::Connection::open(&self.agent_db).expect("agent db");
        db.query_row("SELECT COUNT(*) FROM outbox WHERE attempts > 1", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    /// Removes the scratch directory (kept when a test fails, for its logs).
    fn clean_up(self) {
        drop(self.store);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A command for `program` without the variables that would send it elsewhere than loopback
/// (HTTP proxies), talk to a service manager, or pick another configuration or database.
fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "JOURNAL_STREAM",
        "SONDE_CONFIG",
        "SONDE_BACKEND_DATABASE",
    ] {
        command.env_remove(var);
    }
    command
}

/// Starts `command` with stdout and stderr appended to `log`.
fn spawn_logged(mut command: Command, log: &Path) -> Child {
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file")
    };
    command
        .stdin(Stdio::null())
        .stdout(open())
        .stderr(open())
        .spawn()
        .expect("spawn")
}

/// Panics if `process` has exited (it only ever stops by our SIGKILL).
fn assert_running(what: &str, process: &mut Child, scene: &Scene) {
    if let Some(status) = process.try_wait().expect("try_wait") {
        panic!(
            "{what} exited on its own ({status}); see the logs in {}",
            scene.dir.display()
        );
    }
}

/// SIGKILLs a process that is done with.
fn stop(mut process: Child) {
    process.kill().expect("SIGKILL");
    let _ = process.wait();
}

/// A loopback port nobody listens on (for a process to bind, again after each restart).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until something accepts connections on loopback `port`.
async fn wait_for_listener(port: u16, deadline: Instant) {
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        tokio::time::sleep(Duration::from_millis(10)).await;
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

/// A loopback proxy that forwards one connection to the helpdesk and withholds the helpdesk's
/// first answer: `answer` receives it (status line, headers and body) instead of the client.
struct AckTrap {
    port: u16,
    answer: tokio::sync::oneshot::Receiver<String>,
    /// Holds both connections open until aborted.
    task: tokio::task::JoinHandle<()>,
}

impl AckTrap {
    async fn start(helpdesk: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the trap");
        let port = listener.local_addr().expect("trap address").port();
        let (tx, answer) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(helpdesk).await else {
                return;
            };
            let (mut from_client, _to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            let request = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                let _ = to_server.shutdown().await;
            });
            if let Some(answer) = read_response(&mut from_server).await {
                let _ = tx.send(answer);
            }
            // Keep `_to_client` open (the client waits) until the test has killed it.
            std::future::pending::<()>().await;
            request.abort();
        });
        Self { port, answer, task }
    }
}

/// One whole HTTP/1.1 response (its headers and its `Content-Length` body) read from `stream`.
async fn read_response(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())?;
            if body.len() >= length {
                return Some(text.into_owned());
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A fresh database for one test on the PostgreSQL server at `SONDE_TEST_POSTGRES_URL`, named
/// like the helpdesk suite's (`sonde_t_<pid>_…`, so that suite drops it if this test cannot).
struct TestPostgres {
    admin: tokio_postgres::Client,
    name: String,
    url: String,
}

impl TestPostgres {
    /// `None` (after a loud notice) without a test server; panics instead when
    /// `SONDE_REQUIRE_NETSIM=1`.
    async fn create(test: &str) -> Option<Self> {
        const VAR: &str = "SONDE_TEST_POSTGRES_URL";
        let Some(admin_url) = std::env::var(VAR).ok().filter(|v| !v.is_empty()) else {
            let reason = format!("{VAR} is not set (scripts/postgres.sh starts a test server)");
            assert!(
                std::env::var("SONDE_REQUIRE_NETSIM").as_deref() != Ok("1"),
                "{test}: SONDE_REQUIRE_NETSIM=1 but {reason}"
            );
            eprintln!("\n!!! SKIPPED {test}: {reason} (set SONDE_REQUIRE_NETSIM=1 to make this a failure)\n");
            return None;
        };
        let config: tokio_postgres::Config = admin_url.parse().expect("a PostgreSQL URL");
        assert!(
            config.get_hosts().iter().all(|host| match host {
                tokio_postgres::config::Host::Tcp(name) => ["127.0.0.1", "::1", "localhost"].contains(&name.as_str()),
                tokio_postgres::config::Host::Unix(_) => true,
            }),
            "{VAR} must name a server on loopback"
        );
        let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{test}: the test PostgreSQL server ({VAR}): {e}"));
        tokio::spawn(connection);
        let name = format!("sonde_t_{}_crash", std::process::id());
        // Two statements: CREATE DATABASE cannot share a (implicit) transaction.
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("{test}: CREATE DATABASE {name}: {e:?}"));
        // The server's URL with the database's name in place of its own.
        let (base, query) = admin_url
            .split_once('?')
            .map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
        let server = base
            .rsplit_once('/')
            .filter(|(s, _)| s.contains("//"))
            .map_or(base, |(s, _)| s);
        let url = format!("{server}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
        Some(Self { admin, name, url })
    }

    /// Drops the database (every backend using it is dead by now).
    async fn drop_database(self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name))
            .await;
    }
}

/// The kill schedule: random lifetimes in [`LIFETIME_MS`] from a seeded generator; the seed is
/// printed, and `SONDE_CRASH_SEED` sets it.
struct Schedule(crate::wifi::Rng);

impl Schedule {
    fn seeded(test: &str) -> Self {
        let seed = std::env::var("SONDE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                u64::from(nanos) ^ (u64::from(std::process::id()) << 32)
            });
        eprintln!("{test}: seed {seed} (SONDE_CRASH_SEED={seed} replays the kill schedule)");
        Self(crate::wifi::Rng(seed))
    }

    /// The next process's lifetime.
    fn lifetime(&mut self) -> Duration {
        let (low, high) = LIFETIME_MS;
        let span = usize::try_from(high - low + 1).unwrap_or(usize::MAX);
        Duration::from_millis(low + self.0.below(span) as u64)
    }
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
