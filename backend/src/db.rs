//! The helpdesk's storage: tickets, the idempotency records of `POST /v1/tickets`, and the SMS
//! messages. [`Store`] is what the API uses: SQLite embedded ([`Db`], WAL,
//! `synchronous=FULL`; the default) or a PostgreSQL server ([`crate::postgres::PgDb`], for
//! stateless backend replicas sharing one database).
//!
//! A ticket, its idempotency record and its confirmation SMS are written in **one**
//! transaction: after a crash either all three exist (and a retry with the same key replays the
//! original answer) or none does (and the retry creates them). The transaction itself checks
//! that the key is unused (and on PostgreSQL that no other replica holds it), and the key is the
//! idempotency table's primary key: however many requests or replicas race on one key, one
//! ticket is created. That is what makes delivery exactly-once as seen from the agent.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sonde_protocol::{HelpdeskStatus, SmsRecord, TicketRecord, TicketSubmission, Timestamp};

use crate::postgres::PgDb;

/// Errors of the storage.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A query failed.
    #[error("helpdesk database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL query failed. (Its causes are in the message, not a `source`: the
    /// driver's own text is only "db error".)
    #[error("helpdesk database (PostgreSQL): {}", error_chain(.0))]
    Postgres(tokio_postgres::Error),
    /// The PostgreSQL server is unreachable or refuses us. `url` is without its password.
    #[error("cannot connect to PostgreSQL at {url}: {}", error_chain(.error))]
    Connect {
        /// The server's URL, password masked.
        url: String,
        /// Why.
        error: tokio_postgres::Error,
    },
    /// The PostgreSQL connection did not come up in time. `url` is without its password.
    #[error("cannot connect to PostgreSQL at {url}: no answer within {seconds} s")]
    ConnectTimeout {
        /// The server's URL, password masked.
        url: String,
        /// How long we waited.
        seconds: f64,
    },
    /// A stored document does not decode.
    #[error("helpdesk database holds a malformed document: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        DbError::Postgres(error)
    }
}

/// `error` and its causes, `: `-separated, each said once (the driver repeats itself).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Result alias of this module.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// What an `Idempotency-Key` already stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    /// SHA-256 (hex) of the request body first sent with the key.
    pub request_hash: String,
    /// The HTTP status first answered.
    pub status: u16,
    /// The body first answered.
    pub body: String,
}

/// A ticket to create: who posts it, under which `Idempotency-Key`, the SHA-256 (hex) of the
/// body, and the body.
#[derive(Clone, Copy, Debug)]
pub struct TicketRequest<'a> {
    /// The posting device.
    pub device: &'a str,
    /// Its `Idempotency-Key`.
    pub key: &'a str,
    /// SHA-256 (hex) of the request body.
    pub request_hash: &'a str,
    /// The ticket.
    pub submission: &'a TicketSubmission,
}

/// What [`Store::create_ticket`] did with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketOutcome {
    /// The key was new: the ticket and its SMS were created (with the key's record).
    Created(Box<TicketRecord>, SmsRecord),
    /// The key was used before: what it was first answered (nothing was written).
    Existing(StoredResponse),
    /// Another backend replica is creating a ticket with this key right now (PostgreSQL).
    InFlight,
}

/// Technicians' filters on the ticket list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Only tickets in this status.
    pub status: Option<HelpdeskStatus>,
    /// Only tickets from this device.
    pub device: Option<String>,
    /// Only tickets about this line.
    pub line: Option<String>,
    /// At most this many (newest first).
    pub limit: usize,
}

/// Where the helpdesk keeps its data, as the API uses it.
#[derive(Debug)]
pub enum Store {
    /// SQLite embedded (one backend process).
    Sqlite(Db),
    /// A PostgreSQL server (any number of backend replicas).
    Postgres(Box<PgDb>),
}

impl From<Db> for Store {
    fn from(db: Db) -> Self {
        Store::Sqlite(db)
    }
}

impl From<PgDb> for Store {
    fn from(db: PgDb) -> Self {
        Store::Postgres(Box::new(db))
    }
}

impl Store {
    /// Opens the SQLite file `location`, or connects to the PostgreSQL server when it is a
    /// `postgres://` URL (creating the schema if needed, in both cases).
    pub async fn open(location: &crate::config::Database) -> Result<Self> {
        Ok(match location {
            crate::config::Database::Sqlite(path) if path.as_os_str() == ":memory:" => Db::in_memory()?.into(),
            crate::config::Database::Sqlite(path) => Db::open(path)?.into(),
            crate::config::Database::Postgres(url) => PgDb::connect(url).await?.into(),
        })
    }

    /// See [`Db::create_ticket`]; on PostgreSQL, [`TicketOutcome::InFlight`] when another
    /// replica holds `key`.
    pub async fn create_ticket(
        &self,
        request: TicketRequest<'_>,
        sms_text: impl FnOnce(&str) -> String,
    ) -> Result<TicketOutcome> {
        match self {
            Store::Sqlite(db) => db.create_ticket(request, sms_text),
            Store::Postgres(db) => db.create_ticket(request, sms_text).await,
        }
    }

    /// The ticket numbered `number`.
    pub async fn ticket(&self, number: &str) -> Result<Option<TicketRecord>> {
        match self {
            Store::Sqlite(db) => db.ticket(number),
            Store::Postgres(db) => db.ticket(number).await,
        }
    }

    /// Tickets matching `filter`, newest first.
    pub async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<TicketRecord>> {
        match self {
            Store::Sqlite(db) => db.tickets(filter),
            Store::Postgres(db) => db.tickets(filter).await,
        }
    }

    /// Moves a ticket to `status`; `None` when there is no such ticket.
    pub async fn update_status(&self, number: &str, status: HelpdeskStatus) -> Result<Option<TicketRecord>> {
        match self {
            Store::Sqlite(db) => db.update_status(number, status),
            Store::Postgres(db) => db.update_status(number, status).await,
        }
    }

    /// SMS not yet handed to the gateway, oldest first, with their rows.
    pub async fn undelivered_sms(&self, limit: usize) -> Result<Vec<(i64, SmsRecord)>> {
        match self {
            Store::Sqlite(db) => db.undelivered_sms(limit),
            Store::Postgres(db) => db.undelivered_sms(limit).await,
        }
    }

    /// The oldest undelivered SMS that this process may hand to the gateway now, if any. On
    /// SQLite (one process), the oldest undelivered; on PostgreSQL, the oldest that no other
    /// replica claimed in the last [`crate::postgres::SMS_CLAIM`], claimed for this one, so that
    /// two replicas' SMS dispatchers do not send one message twice.
    pub async fn claim_sms(&self) -> Result<Option<(i64, SmsRecord)>> {
        match self {
            Store::Sqlite(db) => Ok(db.undelivered_sms(1)?.into_iter().next()),
            Store::Postgres(db) => db.claim_sms().await,
        }
    }

    /// Gives back the claim on SMS `id` (its delivery failed): the next try may be anyone's.
    pub async fn release_sms(&self, id: i64) -> Result<()> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(db) => db.release_sms(id).await,
        }
    }

    /// Records that the gateway took SMS `id`.
    pub async fn mark_sms_delivered(&self, id: i64) -> Result<()> {
        match self {
            Store::Sqlite(db) => db.mark_sms_delivered(id),
            Store::Postgres(db) => db.mark_sms_delivered(id).await,
        }
    }

    /// Every SMS recorded, oldest first, optionally only those of one ticket.
    pub async fn sms(&self, ticket: Option<&str>) -> Result<Vec<SmsRecord>> {
        match self {
            Store::Sqlite(db) => db.sms(ticket),
            Store::Postgres(db) => db.sms(ticket).await,
        }
    }
}

/// The helpdesk database (SQLite).
#[derive(Debug)]
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // A missing state directory is created; a failure shows up in `open` below.
            let _ = std::fs::create_dir_all(dir);
        }
        Self::init(Connection::open(path)?)
    }

    /// A database in memory (tests).
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        // FULL: a 201 the agent saw survives a power cut of the backend.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS tickets (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                number TEXT NOT NULL UNIQUE,
                device TEXT NOT NULL,
                status TEXT NOT NULL,
                line TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                sms_sent INTEGER NOT NULL,
                submission TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS idempotency (
                device TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                status INTEGER NOT NULL,
                body TEXT NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (device, key)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS sms (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                to_number TEXT NOT NULL,
                text TEXT NOT NULL,
                ticket TEXT NOT NULL,
                sent_at TEXT NOT NULL,
                delivered_at TEXT
            );",
        )?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // SQLite keeps itself consistent with its own transactions: a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a ticket, its confirmation SMS (text from `sms_text(number)`) and the
    /// idempotency record of `key`, in one transaction — unless `key` was used before, which
    /// the same transaction checks first.
    pub fn create_ticket(
        &self,
        request: TicketRequest<'_>,
        sms_text: impl FnOnce(&str) -> String,
    ) -> Result<TicketOutcome> {
        let TicketRequest {
            device,
            key,
            request_hash,
            submission,
        } = request;
        let now = Timestamp::now();
        let mut conn = self.conn();
        // IMMEDIATE: the write lock is taken before the check, so another process on the same
        // file waits for our commit and then finds the key used.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(stored) = select_idempotent(&tx, device, key)? {
            return Ok(TicketOutcome::Existing(stored));
        }
        tx.execute(
            "INSERT INTO tickets (number, device, status, line, created_at, updated_at, sms_sent, submission)
             VALUES ('', ?1, ?2, ?3, ?4, ?4, 1, ?5)",
            params![
                device,
                HelpdeskStatus::Open.as_str(),
                submission.line,
                now.to_string(),
                serde_json::to_string(submission)?
            ],
        )?;
        let number = ticket_number(tx.last_insert_rowid());
        tx.execute(
            "UPDATE tickets SET number = ?1 WHERE id = ?2",
            params![number, tx.last_insert_rowid()],
        )?;
        let (record, sms) = new_ticket(device, number, submission, now, sms_text);
        tx.execute(
            "INSERT INTO sms (to_number, text, ticket, sent_at) VALUES (?1, ?2, ?3, ?4)",
            params![sms.to, sms.text, sms.ticket, now.to_string()],
        )?;
        tx.execute(
            "INSERT INTO idempotency (device, key, request_hash, status, body, created_at)
             VALUES (?1, ?2, ?3, 201, ?4, ?5)",
            params![
                device,
                key,
                request_hash,
                serde_json::to_string(&record)?,
                now.to_string()
            ],
        )?;
        tx.commit()?;
        Ok(TicketOutcome::Created(Box::new(record), sms))
    }

    /// The ticket numbered `number`.
    pub fn ticket(&self, number: &str) -> Result<Option<TicketRecord>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("{SELECT_TICKET} WHERE number = ?1"),
                params![number],
                ticket_row,
            )
            .optional()?;
        row.map(decode_ticket).transpose()
    }

    /// Tickets matching `filter`, newest first.
    pub fn tickets(&self, filter: &TicketFilter) -> Result<Vec<TicketRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT_TICKET} WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR device = ?2)
             AND (?3 IS NULL OR line = ?3) ORDER BY id DESC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.status.map(HelpdeskStatus::as_str),
                filter.device,
                filter.line,
                i64::try_from(filter.limit).unwrap_or(i64::MAX)
            ],
            ticket_row,
        )?;
        let mut tickets = Vec::new();
        for row in rows {
            tickets.push(decode_ticket(row?)?);
        }
        Ok(tickets)
    }

    /// Moves a ticket to `status`; `None` when there is no such ticket.
    pub fn update_status(&self, number: &str, status: HelpdeskStatus) -> Result<Option<TicketRecord>> {
        let changed = self.conn().execute(
            "UPDATE tickets SET status = ?1, updated_at = ?2 WHERE number = ?3",
            params![status.as_str(), Timestamp::now().to_string(), number],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        self.ticket(number)
    }

    /// SMS not yet handed to the gateway, oldest first, with their rows.
    pub fn undelivered_sms(&self, limit: usize) -> Result<Vec<(i64, SmsRecord)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, to_number, text, ticket, sent_at FROM sms WHERE delivered_at IS NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?),
            ))
        })?;
        let mut messages = Vec::new();
        for row in rows {
            let (id, sms) = row?;
            messages.push((id, decode_sms(sms)));
        }
        Ok(messages)
    }

    /// Records that the gateway took SMS `id`.
    pub fn mark_sms_delivered(&self, id: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE sms SET delivered_at = ?2 WHERE id = ?1",
            params![id, Timestamp::now().to_string()],
        )?;
        Ok(())
    }

    /// Every SMS recorded, oldest first, optionally only those of one ticket.
    pub fn sms(&self, ticket: Option<&str>) -> Result<Vec<SmsRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT to_number, text, ticket, sent_at FROM sms WHERE (?1 IS NULL OR ticket = ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![ticket], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
        let mut messages = Vec::new();
        for row in rows {
            messages.push(decode_sms(row?));
        }
        Ok(messages)
    }
}

fn select_idempotent(conn: &Connection, device: &str, key: &str) -> Result<Option<StoredResponse>> {
    Ok(conn
        .query_row(
            "SELECT request_hash, status, body FROM idempotency WHERE device = ?1 AND key = ?2",
            params![device, key],
            |row| {
                Ok(StoredResponse {
                    request_hash: row.get(0)?,
                    status: row.get(1)?,
                    body: row.get(2)?,
                })
            },
        )
        .optional()?)
}

const SELECT_TICKET: &str = "SELECT number, device, status, created_at, updated_at, sms_sent, submission FROM tickets";

fn ticket_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

// What both storages share: the ticket number, the new records, the decoding of stored rows.

/// The number of the ticket with row id `id`; both storages number from one counter (SQLite's
/// rowid, PostgreSQL's sequence), so numbers are unique across replicas.
pub(crate) fn ticket_number(id: i64) -> String {
    format!("SND-{id:06}")
}

/// A new open ticket `number` and its confirmation SMS.
pub(crate) fn new_ticket(
    device: &str,
    number: String,
    submission: &TicketSubmission,
    now: Timestamp,
    sms_text: impl FnOnce(&str) -> String,
) -> (TicketRecord, SmsRecord) {
    let sms = SmsRecord {
        to: submission.contact.clone(),
        text: sms_text(&number),
        ticket: number.clone(),
        sent_at: now,
    };
    let record = TicketRecord {
        number,
        status: HelpdeskStatus::Open,
        device: device.to_owned(),
        created_at: now,
        updated_at: now,
        sms_sent: true,
        submission: submission.clone(),
    };
    (record, sms)
}

/// A stored ticket: number, device, status, created, updated, SMS sent, submission (JSON).
pub(crate) type TicketRow = (String, String, String, String, String, bool, String);

pub(crate) fn decode_ticket(
    (number, device, status, created_at, updated_at, sms_sent, submission): TicketRow,
) -> Result<TicketRecord> {
    Ok(TicketRecord {
        number,
        status: serde_json::from_value(serde_json::Value::String(status))?,
        device,
        created_at: created_at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
        updated_at: updated_at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
        sms_sent,
        submission: serde_json::from_str(&submission)?,
    })
}

/// A stored SMS: to, text, ticket, sent at.
pub(crate) type SmsRow = (String, String, String, String);

pub(crate) fn decode_sms((to, text, ticket, sent_at): SmsRow) -> SmsRecord {
    SmsRecord {
        to,
        text,
        ticket,
        sent_at: sent_at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
    }
}
