//! The session store: PostgreSQL, with a small in-process cache in front so that a page
//! view does not always read its session row. Entries live two seconds at most, so with
//! several Berth processes a sign-out on one is seen by the others within two seconds; in
//! this process it is seen at once. The account's auth version is still checked against
//! the database on every request (see `session::SignedIn`).

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

pub const CACHE_TTL: Duration = Duration::from_secs(2);
const CACHE_ENTRIES: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct CachedStore {
    store: PostgresStore,
    cache: moka::future::Cache<Id, Record>,
}

impl CachedStore {
    pub fn new(store: PostgresStore) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(CACHE_ENTRIES)
            .time_to_live(CACHE_TTL)
            .build();
        Self { store, cache }
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await?;
        self.cache.insert(record.id, record.clone()).await;
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // New sessions go through `create`; `save` only updates. A session deleted meanwhile
        // (signed out by another request) stays deleted rather than coming back.
        if self.store.load(&record.id).await?.is_none() {
            self.cache.invalidate(&record.id).await;
            return Ok(());
        }
        self.store.save(record).await?;
        self.cache.insert(record.id, record.clone()).await;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cache.get(id).await
            && record.expiry_date > OffsetDateTime::now_utc()
        {
            return Ok(Some(record));
        }
        let record = self.store.load(id).await?;
        match &record {
            Some(r) => self.cache.insert(*id, r.clone()).await,
            None => self.cache.invalidate(id).await,
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.cache.invalidate(id).await;
        self.store.delete(id).await
    }
}
