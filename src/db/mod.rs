//! The database: the connection pool, migrations and the embedded default cluster.

pub mod changes;
pub mod embedded;
pub mod jobs;

use std::str::FromStr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub use embedded::EmbeddedPostgres;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where the database is: a URL, or the embedded default under the data folder.
pub struct Database {
    /// For the workers and the command-line commands: waits up to [`WORKER_ACQUIRE`].
    pub pool: PgPool,
    /// For web requests: gives up after [`WEB_ACQUIRE`], so that during an outage a page
    /// answers 503 at once instead of holding the request (see [`web_pool`]).
    pub web: PgPool,
    /// Set when Berth runs its own cluster; stop it on shutdown.
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `url`, or starts the embedded default under `data_dir/postgres` when
    /// there is no URL. Creates the `berth` database in the embedded cluster if needed.
    pub async fn open(url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        match url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
                Ok(Self {
                    pool: pool(options.clone()).await?,
                    web: web_pool(options),
                    embedded: None,
                })
            }
            None => {
                let dir = data_dir.join("postgres");
                let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&dir)).await??;
                let admin = pg.connect_options("postgres");
                ensure_database(admin).await?;
                let pool = pool(pg.connect_options(embedded::DATABASE)).await?;
                Ok(Self {
                    pool,
                    web: web_pool(pg.connect_options(embedded::DATABASE)),
                    embedded: Some(pg),
                })
            }
        }
    }

    pub async fn close(self) {
        self.web.close().await;
        self.pool.close().await;
        if let Some(pg) = self.embedded {
            let _ = tokio::task::spawn_blocking(move || pg.stop()).await;
        }
    }
}

/// How long a worker (or a command) waits for a connection before its attempt fails.
pub const WORKER_ACQUIRE: Duration = Duration::from_secs(5);
/// How long a web request waits for a connection: short, so that while the database is
/// down a page answers 503 at once, yet long enough for a burst of requests to queue for
/// the 32 connections.
pub const WEB_ACQUIRE: Duration = Duration::from_secs(1);
/// An idle connection unused for longer than this is tested before it is handed out: a
/// database restart while nothing ran then costs a ping, not a failed request. Under load
/// connections are reused within milliseconds and skip the test.
const TEST_WHEN_IDLE: Duration = Duration::from_millis(250);

/// The workers' and commands' pool (connects at once, so a wrong URL fails the start).
/// The workers run one step or batch at a time: a few connections are enough, and with
/// the web pool's 32 a replica stays within 42.
pub async fn pool(options: PgConnectOptions) -> anyhow::Result<PgPool> {
    options_with(WORKER_ACQUIRE, 10)
        .connect_with(quiet(options))
        .await
        .context("cannot connect to PostgreSQL")
}

/// The web requests' pool: like [`pool`] with a short acquire timeout; connects on first
/// use.
pub fn web_pool(options: PgConnectOptions) -> PgPool {
    options_with(WEB_ACQUIRE, 32).connect_lazy_with(quiet(options))
}

fn quiet(options: PgConnectOptions) -> PgConnectOptions {
    options.log_statements(tracing::log::LevelFilter::Trace)
}

fn options_with(acquire: Duration, max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .min_connections(2)
        // sqlx pings every connection when it is released; on acquire only the ones that
        // may have died while idle are pinged (a failed ping discards the connection and
        // the pool takes or opens the next one), so a dead connection costs one round trip
        // rather than the request that would have used it.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > TEST_WHEN_IDLE || idle_since_last_error(meta.idle_for) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .acquire_timeout(acquire)
}

/// When a connection error was last seen, in milliseconds after [`START`] plus one (0: never).
static LAST_CONNECTION_ERROR: AtomicU64 = AtomicU64::new(0);
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Whether `err` means the connection or the server is gone (rather than a bad query): a
/// broken socket, a server shutting down or restarting, or no connection to be had.
pub fn is_connection_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot
        // connect now (starting up or shutting down).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// Records `err` when it is a connection error, so that every connection idle since then
/// is tested before its next use; `true` when it was one.
pub fn note_error(err: &sqlx::Error) -> bool {
    let connection = is_connection_error(err);
    if connection {
        note_connection_error();
    }
    connection
}

/// Whether a worker's failure came from a lost or unreachable database (and records it,
/// see [`note_error`]).
pub fn is_lost_database(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<sqlx::Error>().is_some_and(note_error))
}

/// The longest wait between two tries of a worker while the database stays unreachable.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// A worker's wait before its next try after `failures` connection errors in a row: none
/// after the first (it was most likely a connection that died with a restarted server;
/// the pool now tests its idle ones), then 50 ms, 100 ms, … up to one second while the
/// database stays down.
pub fn retry_wait(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(50u64 << (failures - 1).min(10)).min(MAX_RETRY_WAIT)
}

/// Records that a connection error was seen now (for errors that arrive without their
/// `sqlx::Error`, e.g. through the session store).
pub fn note_connection_error() {
    let now = START.elapsed().as_millis() as u64 + 1;
    LAST_CONNECTION_ERROR.fetch_max(now, Ordering::Relaxed);
}

/// Whether a connection error was seen within the last `period`.
pub fn connection_error_within(period: Duration) -> bool {
    let last = LAST_CONNECTION_ERROR.load(Ordering::Relaxed);
    last != 0 && START.elapsed().saturating_sub(Duration::from_millis(last - 1)) <= period
}

/// Whether a connection idle for `idle_for` was already idle when the last connection
/// error was seen (it may have died with the server).
fn idle_since_last_error(idle_for: Duration) -> bool {
    let last = LAST_CONNECTION_ERROR.load(Ordering::Relaxed);
    if last == 0 {
        return false;
    }
    let since = START.elapsed().saturating_sub(Duration::from_millis(last - 1));
    idle_for >= since
}

/// Creates the [`embedded::DATABASE`] database unless it exists (the embedded cluster starts
/// with only `postgres`).
pub async fn ensure_database(admin: PgConnectOptions) -> anyhow::Result<()> {
    let mut conn = admin.connect().await.context("cannot connect to PostgreSQL")?;
    let exists = sqlx::query_scalar!(
        r#"select exists(select 1 from pg_database where datname = $1) as "exists!""#,
        embedded::DATABASE
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        // A name cannot be a parameter: it is written out, and must match `embedded::DATABASE`.
        const _: () = assert!(matches!(embedded::DATABASE.as_bytes(), b"berth"));
        sqlx::query!("create database berth").execute(&mut conn).await?;
    }
    Ok(())
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("database migrations failed")
}

/// Declares a status or type column's values: a Rust enum stored as checked text (the
/// column's CHECK constraint lists the same spellings), shown as it is stored.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize)]
        #[sqlx(type_name = "text")]
        pub enum $name {
            $(
                #[sqlx(rename = $text)]
                #[serde(rename = $text)]
                $variant,
            )*
        }

        impl $name {
            /// As stored (and shown).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A typed `bigint` id: `id_type!(/// doc… KeyId, AclId)`. Shown and parsed as its number,
/// stored transparently.
#[macro_export]
macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

/// A transaction that runs its after-commit effects (clearing a cache, waking a worker) once
/// it has committed, and never when it rolls back: the one way to follow a commit. Derefs
/// to the connection, so queries take `&mut *tx` as with a plain transaction.
pub struct Tx<'c> {
    tx: sqlx::Transaction<'c, sqlx::Postgres>,
    after: Vec<Box<dyn FnOnce() + Send>>,
}

impl Tx<'static> {
    pub async fn begin(pool: &PgPool) -> sqlx::Result<Self> {
        Ok(Self {
            tx: pool.begin().await?,
            after: Vec::new(),
        })
    }
}

impl Tx<'_> {
    /// Runs `effect` after the commit, in the order added; dropped with a rollback.
    pub fn after_commit(&mut self, effect: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(effect));
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await?;
        for effect in self.after {
            effect();
        }
        Ok(())
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = sqlx::PgConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// The unique or foreign-key constraint `err` broke, by name; `None` for any other error.
/// Operations turn the names they expect into their own errors ("That name is taken").
pub fn violated(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(e) if e.is_unique_violation() || e.is_foreign_key_violation() => e.constraint(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_retries_at_once_then_backs_off_up_to_a_second() {
        let waits: Vec<u128> = (0..8).map(|n| retry_wait(n).as_millis()).collect();
        assert_eq!(waits, [0, 50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(retry_wait(u32::MAX), MAX_RETRY_WAIT);
    }

    #[test]
    fn connection_errors_are_told_from_query_errors() {
        assert!(is_connection_error(&sqlx::Error::PoolTimedOut));
        assert!(is_connection_error(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_connection_error(&sqlx::Error::RowNotFound));
    }
}
