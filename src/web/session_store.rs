//! The session store: PostgreSQL, with a small in-process cache in front so that a page
//! view does not always read its session row. Entries live two seconds at most, so with
//! several Berth processes a sign-out on one is seen by the others within two seconds; in
//! this process it is seen at once. The account's auth version is checked on every request
//! (see `session::SignedIn`) against the customer's copy, which every process forgets as
//! soon as PostgreSQL notifies a change (`db::changes`). The two seconds go by
//! `AppState::clock`, as the sessions' own timeouts do.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

use crate::clock::Clock;

pub const CACHE_TTL: Duration = Duration::from_secs(2);
const CACHE_ENTRIES: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct CachedStore {
    store: PostgresStore,
    pool: PgPool,
    /// Each record with the time it was cached at, by `clock`.
    cache: moka::future::Cache<Id, (Record, OffsetDateTime)>,
    clock: Clock,
}

/// How a session-store error says the database is unreachable (the store's errors carry
/// only text; see [`is_unavailable`]).
const UNAVAILABLE: &str = "database unavailable: ";

impl CachedStore {
    pub fn new(pool: PgPool, clock: Clock) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(CACHE_ENTRIES)
            .time_to_live(CACHE_TTL)
            .build();
        Self {
            store: PostgresStore::new(pool.clone()),
            pool,
            cache,
            clock,
        }
    }

    async fn remember(&self, record: &Record) {
        self.cache.insert(record.id, (record.clone(), self.clock.now())).await;
    }

    /// Runs `call` again once when it failed in the database and the database answers:
    /// the store's errors do not say whether the connection was lost, so any failure gets
    /// the pool's idle connections tested and a probe. When the probe fails too, the
    /// error says so at once, and the page answers 503 rather than 500.
    async fn retry<T, F, Fut>(&self, call: F) -> session_store::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = session_store::Result<T>>,
    {
        match call().await {
            Err(session_store::Error::Backend(msg)) => {
                crate::db::note_connection_error();
                match sqlx::query!("select 1 as probe").fetch_one(&self.pool).await {
                    Ok(_) => call().await,
                    Err(err) if crate::db::note_error(&err) => {
                        Err(session_store::Error::Backend(format!("{UNAVAILABLE}{msg}")))
                    }
                    Err(_) => Err(session_store::Error::Backend(msg)),
                }
            }
            other => other,
        }
    }
}

/// Whether a session error means the database is unreachable (see [`CachedStore::retry`]).
pub fn is_unavailable(err: &tower_sessions::session::Error) -> bool {
    matches!(
        err,
        tower_sessions::session::Error::Store(session_store::Error::Backend(msg)) if msg.starts_with(UNAVAILABLE)
    )
}

/// Deletes expired sessions every `period`, for as long as Berth runs: a failed round
/// (the database restarting) is logged and the next one runs as planned.
pub fn spawn_cleanup(pool: PgPool, period: Duration) -> tokio::task::JoinHandle<()> {
    let store = PostgresStore::new(pool);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.tick().await; // The first tick is at once; the first round waits a period.
        loop {
            interval.tick().await;
            if let Err(err) = store.delete_expired().await {
                tracing::warn!(%err, "deleting expired sessions failed; trying again next round");
            }
        }
    })
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // `create` may change the id (on a collision), so each try starts from the original.
        let created = self
            .retry(|| {
                let mut r = record.clone();
                async move {
                    let result = self.store.create(&mut r).await;
                    result.map(|()| r)
                }
            })
            .await?;
        *record = created;
        self.remember(record).await;
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // New sessions go through `create`; `save` only updates. A session deleted meanwhile
        // (signed out by another request) stays deleted rather than coming back.
        if self.retry(|| self.store.load(&record.id)).await?.is_none() {
            self.cache.invalidate(&record.id).await;
            return Ok(());
        }
        self.retry(|| self.store.save(record)).await?;
        self.remember(record).await;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = self.clock.now();
        if let Some((record, cached_at)) = self.cache.get(id).await
            && now - cached_at < CACHE_TTL
            && record.expiry_date > now
        {
            return Ok(Some(record));
        }
        let record = self.retry(|| self.store.load(id)).await?;
        match &record {
            Some(r) => self.remember(r).await,
            None => self.cache.invalidate(id).await,
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.cache.invalidate(id).await;
        self.retry(|| self.store.delete(id)).await
    }
}
