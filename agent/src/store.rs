//! The durable run store (SQLite): every run's request and its whole event stream, so a report
//! can be served and a stream replayed after a restart.
//!
//! A run's report is never stored separately: it is the fold of its events
//! ([`RunReport::apply`]), so the two cannot disagree.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use sonde_protocol::{
    Event, EventData, PROTOCOL_VERSION, RunFinished, RunId, RunReport, RunRequest, RunState, Timestamp,
};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening the database failed.
    #[error("cannot open the run database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("run database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document does not decode.
    #[error("run database holds a malformed document: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this module.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A run as listed in the history.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Its id.
    pub run: RunId,
    /// Its state.
    pub state: RunState,
    /// When it was accepted.
    pub created_at: Timestamp,
}

/// The run store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // A missing state directory is created; a failure shows up in `open` below.
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::init(conn)
    }

    /// A store that lives in memory only (nothing survives the process).
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        // WAL + FULL: an acknowledged event survives a power cut, and readers never block the
        // writer. Runs are a few dozen events, so the fsyncs cost nothing that matters.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs (
                id TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                created_at TEXT NOT NULL,
                request TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS events (
                run TEXT NOT NULL REFERENCES runs(id),
                seq INTEGER NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (run, seq)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run TEXT NOT NULL REFERENCES runs(id),
                idempotency_key TEXT NOT NULL UNIQUE,
                body TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                ticket_number TEXT,
                last_error TEXT,
                created_at TEXT NOT NULL
            );",
        )?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a newly accepted run.
    pub fn create_run(&self, run: RunId, request: &RunRequest, created_at: Timestamp) -> Result<()> {
        self.conn().execute(
            "INSERT INTO runs (id, state, created_at, request) VALUES (?1, ?2, ?3, ?4)",
            params![
                run.to_string(),
                RunState::Queued.as_str(),
                created_at.to_string(),
                serde_json::to_string(request)?
            ],
        )?;
        Ok(())
    }

    /// Appends one event of a run, and follows the run's state.
    pub fn append(&self, event: &Event) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO events (run, seq, body) VALUES (?1, ?2, ?3)",
            params![event.run.to_string(), sql_seq(event.seq), serde_json::to_string(event)?],
        )?;
        let state = match &event.data {
            EventData::RunStarted(_) => Some(RunState::Running),
            EventData::RunFinished(f) => Some(f.state),
            _ => None,
        };
        if let Some(state) = state {
            tx.execute(
                "UPDATE runs SET state = ?1 WHERE id = ?2",
                params![state.as_str(), event.run.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The events of `run` with `seq > after`, in order.
    pub fn events_after(&self, run: RunId, after: u64) -> Result<Vec<Event>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT body FROM events WHERE run = ?1 AND seq > ?2 ORDER BY seq")?;
        let bodies = stmt.query_map(params![run.to_string(), sql_seq(after)], |row| row.get::<_, String>(0))?;
        let mut events = Vec::new();
        for body in bodies {
            events.push(serde_json::from_str(&body?)?);
        }
        Ok(events)
    }

    /// The report of `run`, if it exists.
    pub fn report(&self, run: RunId) -> Result<Option<RunReport>> {
        let row = self
            .conn()
            .query_row(
                "SELECT request, created_at FROM runs WHERE id = ?1",
                params![run.to_string()],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()?;
        let Some((request, created_at)) = row else {
            return Ok(None);
        };
        let request: RunRequest = serde_json::from_str(&request)?;
        let created_at = created_at.parse().unwrap_or(Timestamp::UNIX_EPOCH);
        let mut report = RunReport::new(run, request, created_at);
        for event in self.events_after(run, 0)? {
            report.apply(&event);
        }
        Ok(Some(report))
    }

    /// The most recent runs, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<RunSummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT id, state, created_at FROM runs ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut runs = Vec::new();
        for row in rows {
            let (id, state, created_at) = row?;
            let (Ok(run), Ok(state)) = (id.parse(), serde_json::from_value(serde_json::Value::String(state))) else {
                continue;
            };
            runs.push(RunSummary {
                run,
                state,
                created_at: created_at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
            });
        }
        Ok(runs)
    }

    /// The history: the `limit` most recent runs, newest first, each summed up from its report.
    pub fn history(&self, limit: usize) -> Result<Vec<sonde_protocol::RunSummary>> {
        let mut runs = Vec::new();
        for listed in self.list(limit)? {
            if let Some(report) = self.report(listed.run)? {
                runs.push(sonde_protocol::RunSummary::from(&report));
            }
        }
        Ok(runs)
    }

    /// Ends every run that a previous process left `queued` or `running`: they were cut by a
    /// restart, so they end `interrupted` (with a final `run_finished` event, so a client
    /// replaying their stream sees an end). Returns their ids.
    pub fn recover_interrupted(&self) -> Result<Vec<RunId>> {
        let unfinished: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT id FROM runs WHERE state IN ('queued', 'running')")?;
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<_, _>>()?
        };
        let mut recovered = Vec::new();
        for id in unfinished {
            let Ok(run) = id.parse::<RunId>() else { continue };
            let last_seq: i64 = self.conn().query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run = ?1",
                params![id],
                |row| row.get(0),
            )?;
            let last_seq = u64::try_from(last_seq).unwrap_or(0);
            self.append(&Event {
                v: PROTOCOL_VERSION,
                run,
                seq: last_seq + 1,
                ts: Timestamp::now(),
                data: EventData::RunFinished(RunFinished {
                    state: RunState::Interrupted,
                    reason: Some("the agent restarted during this run".to_owned()),
                }),
            })?;
            recovered.push(run);
        }
        Ok(recovered)
    }
}

/// A ticket in the outbox, due for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its row.
    pub id: i64,
    /// The run that opened it.
    pub run: RunId,
    /// The `Idempotency-Key` every attempt carries.
    pub key: String,
    /// The JSON body every attempt posts, byte for byte.
    pub body: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// How a ticket's delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The helpdesk acknowledged it.
    Delivered,
    /// The helpdesk refused it for good (a 4xx that retrying cannot fix).
    Rejected,
}

impl Store {
    /// Commits a ticket to the outbox (before the client is told `queued`). Returns its row.
    pub fn enqueue_ticket(&self, run: RunId, key: &str, body: &str) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO outbox (run, idempotency_key, body, state, created_at) VALUES (?1, ?2, ?3, 'queued', ?4)",
            params![run.to_string(), key, body, Timestamp::now().to_string()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Tickets still to deliver, oldest first. Tickets of runs still in progress wait: the
    /// runner owns a run's `seq` until `run_finished`.
    pub fn due_tickets(&self) -> Result<Vec<OutboxEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.run, o.idempotency_key, o.body, o.attempts FROM outbox o JOIN runs r ON r.id = o.run
             WHERE o.state = 'queued' AND r.state NOT IN ('queued', 'running') ORDER BY o.id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })?;
        let mut due = Vec::new();
        for row in rows {
            let (id, run, key, body, attempts) = row?;
            let Ok(run) = run.parse() else { continue };
            due.push(OutboxEntry {
                id,
                run,
                key,
                body,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            });
        }
        Ok(due)
    }

    /// Whether `run` has a ticket not yet delivered (its event stream stays open for it).
    pub fn ticket_pending(&self, run: RunId) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE run = ?1 AND state = 'queued')",
            params![run.to_string()],
            |row| row.get(0),
        )?)
    }

    /// Counts an attempt that is about to post, and appends `event` (if any) to the run's
    /// stream, in one transaction.
    pub fn begin_attempt(&self, id: i64, run: RunId, event: Option<EventData>) -> Result<()> {
        self.update_outbox(
            id,
            run,
            "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?1",
            None,
            event,
        )
    }

    /// Records why an attempt failed, and appends `event` (if any) to the run's stream.
    pub fn attempt_failed(&self, id: i64, run: RunId, error: &str, event: Option<EventData>) -> Result<()> {
        self.update_outbox(
            id,
            run,
            "UPDATE outbox SET last_error = ?2 WHERE id = ?1",
            Some(error),
            event,
        )
    }

    fn update_outbox(
        &self,
        id: i64,
        run: RunId,
        sql: &str,
        error: Option<&str>,
        event: Option<EventData>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match error {
            Some(error) => tx.execute(sql, params![id, error])?,
            None => tx.execute(sql, params![id])?,
        };
        if let Some(data) = event {
            append_next(&tx, run, data)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Ends a ticket's delivery and appends its last events, in one transaction: after a crash
    /// either both happened or neither (and the next attempt replays the helpdesk's answer).
    pub fn settle_ticket(
        &self,
        id: i64,
        run: RunId,
        outcome: Settled,
        ticket_number: Option<&str>,
        events: Vec<EventData>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let state = match outcome {
            Settled::Delivered => "delivered",
            Settled::Rejected => "rejected",
        };
        tx.execute(
            "UPDATE outbox SET state = ?2, ticket_number = ?3 WHERE id = ?1",
            params![id, state, ticket_number],
        )?;
        for data in events {
            append_next(&tx, run, data)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Tickets queued and not yet delivered (`sonde_outbox_depth`).
    pub fn outbox_depth(&self) -> Result<u64> {
        let depth: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM outbox WHERE state = 'queued'", [], |row| {
                row.get(0)
            })?;
        Ok(u64::try_from(depth).unwrap_or(0))
    }

    /// Every outbox row's ticket number and state (tests and diagnostics).
    pub fn outbox(&self) -> Result<Vec<(String, Option<String>)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT state, ticket_number FROM outbox ORDER BY id")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Appends an event after a run's last one (ticket events outlive the run's runner).
fn append_next(tx: &rusqlite::Transaction<'_>, run: RunId, data: EventData) -> Result<()> {
    let last: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run = ?1",
        params![run.to_string()],
        |row| row.get(0),
    )?;
    let event = Event {
        v: PROTOCOL_VERSION,
        run,
        seq: u64::try_from(last).unwrap_or(0) + 1,
        ts: Timestamp::now(),
        data,
    };
    tx.execute(
        "INSERT INTO events (run, seq, body) VALUES (?1, ?2, ?3)",
        params![run.to_string(), sql_seq(event.seq), serde_json::to_string(&event)?],
    )?;
    Ok(())
}

/// SQLite integers are signed; sequence numbers never come near 2^63.
fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::{Plan, RunStarted};

    fn event(run: RunId, seq: u64, data: EventData) -> Event {
        Event {
            v: 1,
            run,
            seq,
            ts: Timestamp::now(),
            data,
        }
    }

    fn started() -> EventData {
        EventData::RunStarted(RunStarted {
            request: RunRequest::default(),
            plan: Plan::default(),
            agent_version: "test".into(),
        })
    }

    #[test]
    fn events_replay_after_a_sequence_number() {
        let store = Store::in_memory().expect("store");
        let run = RunId::new();
        store
            .create_run(run, &RunRequest::default(), Timestamp::now())
            .expect("create");
        store.append(&event(run, 1, started())).expect("append");
        store.append(&event(run, 2, EventData::Unknown)).expect("append");
        let after_1: Vec<u64> = store
            .events_after(run, 1)
            .expect("events")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(after_1, vec![2]);
        assert_eq!(
            store.report(run).expect("report").map(|r| r.state),
            Some(RunState::Running)
        );
        assert!(
            store.append(&event(run, 2, EventData::Unknown)).is_err(),
            "a seq is stored once"
        );
    }

    #[test]
    fn a_restart_marks_unfinished_runs_interrupted() {
        let dir = std::env::temp_dir().join(format!("sonde-store-test-{}", std::process::id()));
        let path = dir.join("runs.db");
        let run = RunId::new();
        {
            let store = Store::open(&path).expect("open");
            store
                .create_run(run, &RunRequest::default(), Timestamp::now())
                .expect("create");
            store.append(&event(run, 1, started())).expect("append");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.recover_interrupted().expect("recover"), vec![run]);
        let report = store.report(run).expect("report").expect("exists");
        assert_eq!(report.state, RunState::Interrupted);
        assert_eq!(report.last_seq, 2);
        assert!(
            store.recover_interrupted().expect("again").is_empty(),
            "recovery is idempotent"
        );
        assert_eq!(
            store.list(10).expect("list").first().map(|r| r.state),
            Some(RunState::Interrupted)
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
