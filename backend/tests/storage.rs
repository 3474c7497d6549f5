//! The storages the helpdesk suite runs on: SQLite (a file per test) and PostgreSQL (a database
//! per test, on the server at `SONDE_TEST_POSTGRES_URL`, which `scripts/postgres.sh` starts and
//! `scripts/test.sh` exports). Without that variable the PostgreSQL tests skip loudly — or fail
//! when `SONDE_REQUIRE_NETSIM=1`, as in CI, so a skip never passes for a success there.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sonde_backend::db::{Db, Store};
use sonde_backend::postgres::PgDb;

/// Generates, for each `async fn NAME(storage: Storage)` listed, the tests `sqlite::NAME` and
/// `postgres::NAME` in the calling module.
macro_rules! on_each_storage {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::storage::Storage::sqlite(stringify!($test))).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(storage) = crate::storage::Storage::postgres(stringify!($test)).await {
                        super::$test(storage).await;
                    }
                }
            )+
        }
    };
}

/// A fresh, empty storage for one test; [`Storage::open`] gives handles on it (several handles
/// on one storage are a restart, or replicas).
#[derive(Debug)]
pub enum Storage {
    /// The SQLite file in this directory (removed on drop).
    Sqlite(PathBuf),
    /// The PostgreSQL database at this URL.
    Postgres(String),
}

/// The variable naming the test PostgreSQL server (its `postgres` database).
pub const POSTGRES_URL_VAR: &str = "SONDE_TEST_POSTGRES_URL";

/// Prefix of the databases the tests create: `sonde_t_<pid>_<n>`.
const DATABASE_PREFIX: &str = "sonde_t_";

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Storage {
    /// A fresh SQLite storage.
    pub fn sqlite(test: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sonde-backend-{test}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Storage::Sqlite(dir)
    }

    /// A fresh PostgreSQL database, or `None` (after a loud notice) when there is no test
    /// server; panics instead when `SONDE_REQUIRE_NETSIM=1`.
    pub async fn postgres(test: &str) -> Option<Self> {
        let Some(admin_url) = std::env::var(POSTGRES_URL_VAR).ok().filter(|v| !v.is_empty()) else {
            let reason = format!("{POSTGRES_URL_VAR} is not set (scripts/postgres.sh starts a test server)");
            if std::env::var("SONDE_REQUIRE_NETSIM").is_ok_and(|v| v == "1") {
                panic!("{test}: SONDE_REQUIRE_NETSIM=1 but {reason}");
            }
            eprintln!("\n!!! SKIPPED postgres::{test}: {reason} (set SONDE_REQUIRE_NETSIM=1 to make this a failure)\n");
            return None;
        };
        let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{test}: the test PostgreSQL server ({POSTGRES_URL_VAR}): {e}"));
        tokio::spawn(connection);
        drop_databases_of_finished_runs(&admin).await;
        let name = format!(
            "{DATABASE_PREFIX}{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("{test}: CREATE DATABASE {name}: {e}"));
        Some(Storage::Postgres(with_database(&admin_url, &name)))
    }

    /// A handle on this storage, as a backend process opens it.
    pub async fn open(&self) -> Store {
        match self {
            Storage::Sqlite(dir) => Db::open(&dir.join("helpdesk.db")).expect("sqlite").into(),
            Storage::Postgres(url) => PgDb::connect(url).await.expect("postgres").into(),
        }
    }

    /// Whether this is PostgreSQL (where replicas also exclude each other's SMS sends).
    pub fn is_postgres(&self) -> bool {
        matches!(self, Storage::Postgres(_))
    }

    /// PostgreSQL: ends the server side of every backend connection to this database, as a
    /// server restart would; returns how many.
    pub async fn cut_backend_connections(&self) -> i64 {
        let Storage::Postgres(url) = self else {
            panic!("only PostgreSQL connections can be cut");
        };
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'sonde-backend'",
                &[],
            )
            .await
            .expect("terminate")
            .get(0)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // A PostgreSQL database outlives its test (dropping needs the runtime, which is going
        // away); the next test process drops it.
        if let Storage::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = rest.split_once('?').map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Drops the test databases whose process is gone (nextest runs each test in its own process,
/// so the live ones belong to tests running now).
async fn drop_databases_of_finished_runs(admin: &tokio_postgres::Client) {
    let Ok(rows) = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&format!("{DATABASE_PREFIX}%")],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name[DATABASE_PREFIX.len()..].split('_').next().unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            // Another process may be dropping it too: errors do not matter.
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}

#[test]
fn the_database_name_replaces_the_servers() {
    assert_eq!(
        with_database("postgres://u:p@127.0.0.1:54329/postgres", "t1"),
        "postgres://u:p@127.0.0.1:54329/t1"
    );
    assert_eq!(
        with_database("postgresql://127.0.0.1:54329?sslmode=disable", "t1"),
        "postgresql://127.0.0.1:54329/t1?sslmode=disable"
    );
}
