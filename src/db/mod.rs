//! The database: the connection pool, migrations and the embedded default cluster.

pub mod embedded;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub use embedded::EmbeddedPostgres;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where the database is: a URL, or the embedded default under the data folder.
pub struct Database {
    pub pool: PgPool,
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
                    pool: pool(options).await?,
                    embedded: None,
                })
            }
            None => {
                let dir = data_dir.join("postgres");
                let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&dir)).await??;
                let admin = pg.connect_options("postgres");
                ensure_database(admin, embedded::DATABASE).await?;
                let pool = pool(pg.connect_options(embedded::DATABASE)).await?;
                Ok(Self {
                    pool,
                    embedded: Some(pg),
                })
            }
        }
    }

    pub async fn close(self) {
        self.pool.close().await;
        if let Some(pg) = self.embedded {
            let _ = tokio::task::spawn_blocking(move || pg.stop()).await;
        }
    }
}

pub async fn pool(options: PgConnectOptions) -> anyhow::Result<PgPool> {
    let options = options.log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(32)
        .min_connections(2)
        // A broken connection fails its query and is replaced; pinging before every
        // statement would double the round trips.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")
}

/// Creates `name` unless it exists (the embedded cluster starts with only `postgres`).
pub async fn ensure_database(admin: PgConnectOptions, name: &str) -> anyhow::Result<()> {
    let mut conn = admin.connect().await.context("cannot connect to PostgreSQL")?;
    let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        sqlx::query(&format!("create database \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("database migrations failed")
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
