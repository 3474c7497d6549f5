//! The helpdesk's storage on a PostgreSQL server, for deployments that outgrow one machine:
//! any number of stateless backend replicas share one database.
//!
//! Same tables and semantics as the SQLite storage ([`crate::db`]), and what makes them hold
//! across replicas:
//! - a ticket, its SMS and its key's record are written in one transaction, which first takes a
//!   transaction-scoped advisory lock on the `(device, key)` pair (`pg_try_advisory_xact_lock`):
//!   a replica that finds it taken answers `409` (another replica is creating that ticket; two
//!   keys whose 64-bit hashes met would share a lock: a needless `409`, never a lost or second
//!   ticket); the key is also the idempotency table's primary key, the backstop;
//! - ticket numbers come from a sequence (`ticket_ids`), unique across replicas;
//! - an SMS dispatcher claims the messages it sends for [`SMS_CLAIM`] (`FOR UPDATE SKIP LOCKED`),
//!   so two replicas do not send one message twice;
//! - the schema is created at start under an advisory lock (replicas may start together).
//!
//! One connection per replica, behind a lock, reopened when it drops (the server restarted): a
//! helpdesk's load is a few tickets a second at most. No TLS: reach the server over loopback or
//! a private network (see docs/deploy.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sonde_protocol::{HelpdeskStatus, SmsRecord, TicketRecord, Timestamp};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row};

use crate::config::redact_url;
use crate::db::{
    DbError, Result, SmsRow, StoredResponse, TicketFilter, TicketOutcome, TicketRequest, TicketRow, decode_sms,
    decode_ticket, new_ticket, ticket_number,
};

/// How long a replica's SMS dispatcher owns the messages it claimed: past that (it crashed
/// mid-delivery), another replica sends them.
pub const SMS_CLAIM: Duration = Duration::from_secs(300);

/// How long connecting (and creating the schema) may take before the backend gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The helpdesk database on a PostgreSQL server.
pub struct PgDb {
    config: tokio_postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    client: Mutex<Option<Client>>,
    /// An operation failed in a way that breaks the connection: open another.
    broken: AtomicBool,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb").field("url", &self.shown).finish_non_exhaustive()
    }
}

impl PgDb {
    /// Connects to the server at `url` (`postgres://user:password@host:port/database`) and
    /// creates the schema if needed, within [`CONNECT_TIMEOUT`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_within(url, CONNECT_TIMEOUT).await
    }

    /// [`PgDb::connect`], giving up after `timeout`.
    pub async fn connect_within(url: &str, timeout: Duration) -> Result<Self> {
        let shown = redact_url(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|error| DbError::Connect {
            url: shown.clone(),
            error,
        })?;
        config.connect_timeout(timeout);
        if config.get_application_name().is_none() {
            config.application_name("sonde-backend");
        }
        let db = Self {
            config,
            shown,
            client: Mutex::new(None),
            broken: AtomicBool::new(false),
        };
        tokio::time::timeout(timeout, db.migrate())
            .await
            .map_err(|_| DbError::ConnectTimeout {
                url: db.shown.clone(),
                seconds: timeout.as_secs_f64(),
            })??;
        Ok(db)
    }

    /// See [`crate::db::Store::create_ticket`].
    pub async fn create_ticket(
        &self,
        request: TicketRequest<'_>,
        sms_text: impl FnOnce(&str) -> String,
    ) -> Result<TicketOutcome> {
        let TicketRequest { device, key, .. } = request;
        self.checked(async {
            let now = Timestamp::now();
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let locked: bool = tx
                .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&key_lock(device, key)])
                .await?
                .get(0);
            if !locked {
                tx.rollback().await?;
                return Ok(TicketOutcome::InFlight);
            }
            if let Some(row) = tx.query_opt(SELECT_IDEMPOTENT, &[&device, &key]).await? {
                // Awaited, not left to `Drop`: the key's lock must be free before we answer, or
                // the client's next try on another replica could find it held.
                tx.rollback().await?;
                return Ok(TicketOutcome::Existing(stored_response(&row)));
            }
            let id: i64 = tx.query_one("SELECT nextval('ticket_ids')", &[]).await?.get(0);
            let (record, sms) = new_ticket(device, ticket_number(id), request.submission, now, sms_text);
            let now = now.to_string();
            tx.execute(
                "INSERT INTO tickets (id, number, device, status, line, created_at, updated_at, sms_sent, submission)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, TRUE, $7)",
                &[
                    &id,
                    &record.number,
                    &device,
                    &HelpdeskStatus::Open.as_str(),
                    &request.submission.line,
                    &now,
                    &serde_json::to_string(request.submission)?,
                ],
            )
            .await?;
            tx.execute(
                "INSERT INTO sms (to_number, text, ticket, sent_at) VALUES ($1, $2, $3, $4)",
                &[&sms.to, &sms.text, &sms.ticket, &now],
            )
            .await?;
            let inserted = tx
                .execute(
                    "INSERT INTO idempotency (device, key, request_hash, status, body, created_at)
                     VALUES ($1, $2, $3, 201, $4, $5)",
                    &[
                        &device,
                        &key,
                        &request.request_hash,
                        &serde_json::to_string(&record)?,
                        &now,
                    ],
                )
                .await;
            match inserted {
                Ok(_) => {}
                // Only a writer that skipped the key's lock (another program on these tables) gets
                // here: the key it committed stands, our ticket is rolled back.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    tx.rollback().await?;
                    return match client.query_opt(SELECT_IDEMPOTENT, &[&device, &key]).await? {
                        Some(row) => Ok(TicketOutcome::Existing(stored_response(&row))),
                        None => Err(e.into()),
                    };
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            Ok(TicketOutcome::Created(Box::new(record), sms))
        })
        .await
    }

    /// The ticket numbered `number`.
    pub async fn ticket(&self, number: &str) -> Result<Option<TicketRecord>> {
        self.checked(async {
            let client = self.client().await?;
            let row = client
                .query_opt(&format!("{SELECT_TICKET} WHERE number = $1"), &[&number])
                .await?;
            row.as_ref().map(ticket_row).map(decode_ticket).transpose()
        })
        .await
    }

    /// Tickets matching `filter`, newest first.
    pub async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<TicketRecord>> {
        self.checked(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    &format!(
                        "{SELECT_TICKET} WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR device = $2)
                         AND ($3::text IS NULL OR line = $3) ORDER BY id DESC LIMIT $4"
                    ),
                    &[
                        &filter.status.map(HelpdeskStatus::as_str),
                        &filter.device,
                        &filter.line,
                        &i64::try_from(filter.limit).unwrap_or(i64::MAX),
                    ],
                )
                .await?;
            rows.iter().map(ticket_row).map(decode_ticket).collect()
        })
        .await
    }

    /// Moves a ticket to `status`; `None` when there is no such ticket.
    pub async fn update_status(&self, number: &str, status: HelpdeskStatus) -> Result<Option<TicketRecord>> {
        self.checked(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    &format!(
                        "UPDATE tickets SET status = $1, updated_at = $2 WHERE number = $3 RETURNING {TICKET_COLUMNS}"
                    ),
                    &[&status.as_str(), &Timestamp::now().to_string(), &number],
                )
                .await?;
            row.as_ref().map(ticket_row).map(decode_ticket).transpose()
        })
        .await
    }

    /// SMS not yet handed to the gateway, oldest first, with their rows (claimed or not).
    pub async fn undelivered_sms(&self, limit: usize) -> Result<Vec<(i64, SmsRecord)>> {
        self.checked(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id, to_number, text, ticket, sent_at FROM sms WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
                    &[&i64::try_from(limit).unwrap_or(i64::MAX)],
                )
                .await?;
            Ok(rows.iter().map(numbered_sms_row).collect())
        })
        .await
    }

    /// Claims for this replica, for [`SMS_CLAIM`], the oldest undelivered SMS that no other
    /// replica holds.
    pub async fn claim_sms(&self) -> Result<Option<(i64, SmsRecord)>> {
        self.checked(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "UPDATE sms SET claimed_until = now() + make_interval(secs => $1) WHERE id = (
                        SELECT id FROM sms WHERE delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING id, to_number, text, ticket, sent_at",
                    &[&SMS_CLAIM.as_secs_f64()],
                )
                .await?;
            Ok(row.as_ref().map(numbered_sms_row))
        })
        .await
    }

    /// Gives back this replica's claim on SMS `id`.
    pub async fn release_sms(&self, id: i64) -> Result<()> {
        self.checked(async {
            self.client()
                .await?
                .execute("UPDATE sms SET claimed_until = NULL WHERE id = $1", &[&id])
                .await?;
            Ok(())
        })
        .await
    }

    /// Records that the gateway took SMS `id`.
    pub async fn mark_sms_delivered(&self, id: i64) -> Result<()> {
        self.checked(async {
            self.client()
                .await?
                .execute(
                    "UPDATE sms SET delivered_at = $2 WHERE id = $1",
                    &[&id, &Timestamp::now().to_string()],
                )
                .await?;
            Ok(())
        })
        .await
    }

    /// Every SMS recorded, oldest first, optionally only those of one ticket.
    pub async fn sms(&self, ticket: Option<&str>) -> Result<Vec<SmsRecord>> {
        self.checked(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT to_number, text, ticket, sent_at FROM sms WHERE ($1::text IS NULL OR ticket = $1) ORDER BY id",
                    &[&ticket],
                )
                .await?;
            Ok(rows.iter().map(|row| decode_sms(sms_row(row, 0))).collect())
        })
        .await
    }

    /// `operation`'s result, noting whether its failure broke the connection.
    async fn checked<T>(&self, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let result = operation.await;
        if let Err(DbError::Postgres(e)) = &result
            && connection_broken(e)
        {
            self.broken.store(true, Ordering::Relaxed);
        }
        result
    }

    /// The connection, opened (again) if there is none, it dropped, or an operation found it
    /// broken (its task may not have noticed yet: the next request must not fail too).
    async fn client(&self) -> Result<MappedMutexGuard<'_, Client>> {
        let mut slot = self.client.lock().await;
        let broken = self.broken.swap(false, Ordering::Relaxed);
        let client = match slot.take() {
            Some(client) if !broken && !client.is_closed() => client,
            _ => self.open_connection().await?,
        };
        Ok(MutexGuard::map(slot, |slot| slot.insert(client)))
    }

    async fn open_connection(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|error| DbError::Connect {
            url: self.shown.clone(),
            error,
        })?;
        let shown = self.shown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection to {shown} lost: {e}");
            }
        });
        Ok(client)
    }

    /// Creates the tables if missing. Each statement is idempotent; the advisory lock keeps two
    /// replicas starting together from racing on the catalog.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE SEQUENCE IF NOT EXISTS ticket_ids;
            CREATE TABLE IF NOT EXISTS tickets (
                id BIGINT PRIMARY KEY,
                number TEXT NOT NULL UNIQUE,
                device TEXT NOT NULL,
                status TEXT NOT NULL,
                line TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                sms_sent BOOLEAN NOT NULL,
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
            );
            CREATE TABLE IF NOT EXISTS sms (
                id BIGSERIAL PRIMARY KEY,
                to_number TEXT NOT NULL,
                text TEXT NOT NULL,
                ticket TEXT NOT NULL,
                sent_at TEXT NOT NULL,
                delivered_at TEXT,
                claimed_until TIMESTAMPTZ
            );
            CREATE INDEX IF NOT EXISTS sms_undelivered ON sms (id) WHERE delivered_at IS NULL;",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The advisory lock (first half of the two-key form, which never meets the one-key form of
/// [`key_lock`]) held while creating the schema: "SND" in ASCII.
const MIGRATION_LOCK: i32 = 0x0053_4e44;

const TICKET_COLUMNS: &str = "number, device, status, created_at, updated_at, sms_sent, submission";
const SELECT_TICKET: &str = "SELECT number, device, status, created_at, updated_at, sms_sent, submission FROM tickets";
const SELECT_IDEMPOTENT: &str = "SELECT request_hash, status, body FROM idempotency WHERE device = $1 AND key = $2";

/// Whether `error` leaves the connection unusable: the socket or protocol failed, or the server
/// ended the session (class 08, connection exception; 57P, operator intervention: shutdown,
/// `pg_terminate_backend`).
fn connection_broken(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_none_or(|e| {
        let code = e.code().code();
        code.starts_with("08") || code.starts_with("57P")
    })
}

/// The advisory lock of `key` of `device`: 64 bits of SHA-256 over both.
fn key_lock(device: &str, key: &str) -> i64 {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(device.as_bytes());
    context.update(&[0]);
    context.update(key.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&context.finish().as_ref()[..8]);
    i64::from_be_bytes(head)
}

// The row readers below index columns of the queries above, on tables this module creates:
// their types are known, so `Row::get` cannot meet a mismatch.

fn stored_response(row: &Row) -> StoredResponse {
    StoredResponse {
        request_hash: row.get(0),
        // Only 201 is ever stored; anything else read back is a server error.
        status: u16::try_from(row.get::<_, i32>(1)).unwrap_or(500),
        body: row.get(2),
    }
}

fn ticket_row(row: &Row) -> TicketRow {
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
    )
}

fn sms_row(row: &Row, first: usize) -> SmsRow {
    (
        row.get(first),
        row.get(first + 1),
        row.get(first + 2),
        row.get(first + 3),
    )
}

fn numbered_sms_row(row: &Row) -> (i64, SmsRecord) {
    (row.get(0), decode_sms(sms_row(row, 1)))
}
