//! In-process copies of what every signed-in page reads (the customer's row, the
//! dashboard's summary), kept true by PostgreSQL's notifications.
//!
//! Every change to the tables those copies are made from says which customer it touched:
//! triggers (migration `change_notifications`) send the customer's id on the channel
//! [`CHANNEL`], or `*` when it touches every customer (a global notice, a plan). Each Berth
//! process listens, and forgets its copies of that customer when the notification arrives,
//! so a change made by another process, a worker or `psql` shows on the next page.
//!
//! - **A copy is used only while the listener is connected.** When the connection is lost,
//!   every copy is forgotten and pages read the database until it is listening again
//!   (notifications sent meanwhile are lost with the connection).
//! - **A read that raced a change is not kept**: each notification moves an epoch on, and a
//!   copy made while it moved is dropped at once (see [`PerCustomer::get_or_load`]).
//! - **Read your writes:** a notification arrives a moment after its commit; [`Changes::settle`]
//!   waits until every change committed before it was heard. The panel calls it after each
//!   request that changes something (`web::layers`), so the next page shows the change.
//! - Copies live at most [`TIME_TO_LIVE`], a bound should a notification ever go missing
//!   unseen (a connection that hangs without an error).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

/// The channel the triggers notify on.
pub const CHANNEL: &str = "berth_changes";
/// How long a copy is kept at most.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(60);
/// Customers whose copies of one kind are kept at most (a few MB).
const CUSTOMERS_KEPT: u64 = 10_000;
/// How long [`Changes::settle`] waits for its own notification before forgetting every copy.
const SETTLE_WAIT: Duration = Duration::from_secs(1);
/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

/// The listener's state, shared by every [`PerCustomer`] cache of one Berth.
#[derive(Clone)]
pub struct Changes {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    /// Whether the listener is connected and listening: copies are used only then.
    live: AtomicBool,
    /// Moved on by every notification and every loss of the connection.
    epoch: AtomicU64,
    /// The caches to tell (each forgets a customer, or everyone).
    caches: std::sync::Mutex<Vec<Arc<dyn Forget>>>,
    /// The cache of each kind of copy (see [`Changes::per_customer`]), by its type.
    kinds: std::sync::Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    /// This process's settle notifications: `sync:<token>:<n>`.
    token: String,
    next_sync: AtomicU64,
    /// The last of this process's settle numbers heard back.
    synced: watch::Sender<u64>,
}

/// A customer a notification names, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Touched {
    Customer(i64),
    Everyone,
}

trait Forget: Send + Sync {
    fn forget(&self, touched: Touched);
}

impl Changes {
    /// Starts listening on `pool` (a connection of its own, held while Berth runs). Until
    /// the listener is connected, pages read the database. The listener ends when the
    /// pool is closed.
    pub fn start(pool: PgPool) -> Self {
        use rand::RngCore;
        let changes = Self {
            shared: Arc::new(Shared {
                pool,
                live: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                caches: std::sync::Mutex::new(Vec::new()),
                kinds: std::sync::Mutex::new(HashMap::new()),
                token: format!("{:016x}", rand::rngs::OsRng.next_u64()),
                next_sync: AtomicU64::new(1),
                synced: watch::channel(0).0,
            }),
        };
        tokio::spawn(listen(changes.shared.clone()));
        changes
    }

    /// This Berth's copies of type `T`, one per customer: each area keeps its own kind
    /// (`identity::Customer` for the signed-in check, the dashboard's summary) without
    /// `AppState` naming it.
    pub fn per_customer<T: Clone + Send + Sync + 'static>(&self) -> PerCustomer<T> {
        // The kinds hold the caches alone, not a `PerCustomer` (which holds `Changes`): a
        // cycle would keep the pool, and its connections, open for ever.
        let cache = self
            .shared
            .kinds
            .lock()
            .expect("not poisoned")
            .entry(TypeId::of::<moka::sync::Cache<i64, T>>())
            .or_insert_with(|| Box::new(PerCustomer::<T>::new(self, CUSTOMERS_KEPT).cache))
            .downcast_ref::<moka::sync::Cache<i64, T>>()
            .expect("kept under its own type")
            .clone();
        PerCustomer {
            changes: self.clone(),
            cache,
        }
    }

    /// Whether copies are in use (the listener is connected).
    pub fn is_live(&self) -> bool {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Returns once every change committed before this call has been heard (its copies
    /// forgotten): this process sends a notification of its own and waits for it, as
    /// notifications arrive in the order their transactions committed. If it is not heard
    /// within a second, every copy is forgotten instead. Nothing to wait for while the
    /// listener is not connected.
    pub async fn settle(&self) {
        let shared = &self.shared;
        if !self.is_live() {
            return;
        }
        let n = shared.next_sync.fetch_add(1, Ordering::SeqCst);
        let mut synced = shared.synced.subscribe();
        let payload = format!("sync:{}:{n}", shared.token);
        let heard = async {
            sqlx::query!("select pg_notify($1, $2) as sent", CHANNEL, payload)
                .fetch_one(&shared.pool)
                .await
                .ok()?;
            synced.wait_for(|seen| *seen >= n).await.ok()
        };
        if tokio::time::timeout(SETTLE_WAIT, heard).await.ok().flatten().is_none() {
            shared.forget(Touched::Everyone);
        }
    }
}

impl Shared {
    fn forget(&self, touched: Touched) {
        // The epoch first: a copy made before this and kept after is then dropped by its
        // maker (see `PerCustomer::get_or_load`).
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for cache in self.caches.lock().expect("not poisoned").iter() {
            cache.forget(touched);
        }
    }

    fn heard(&self, payload: &str) {
        if payload == "*" {
            self.forget(Touched::Everyone);
        } else if let Some(sync) = payload.strip_prefix("sync:") {
            if let Some((token, n)) = sync.split_once(':')
                && token == self.token
                && let Ok(n) = n.parse::<u64>()
            {
                self.synced.send_if_modified(|seen| {
                    let newer = n > *seen;
                    if newer {
                        *seen = n;
                    }
                    newer
                });
            }
        } else if let Ok(id) = payload.parse::<i64>() {
            self.forget(Touched::Customer(id));
        } else {
            tracing::warn!(payload, "unexpected change notification; forgetting every copy");
            self.forget(Touched::Everyone);
        }
    }

    fn set_live(&self, live: bool) {
        if !live {
            self.live.store(false, Ordering::SeqCst);
        }
        // Whatever was heard before is no guide to what was missed.
        self.forget(Touched::Everyone);
        if live {
            self.live.store(true, Ordering::SeqCst);
        }
    }
}

/// The listener: connects, listens, and hands each notification to [`Shared::heard`];
/// after a lost connection, forgets everything and connects again.
async fn listen(shared: Arc<Shared>) {
    while !shared.pool.is_closed() {
        let connected = async {
            let mut listener = PgListener::connect_with(&shared.pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connected.await {
            Ok(listener) => listener,
            Err(_) => {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        shared.set_live(true);
        // `Ok(None)` or an error: the connection was lost (and notifications with it).
        while let Ok(Some(notification)) = listener.try_recv().await {
            shared.heard(notification.payload());
        }
        shared.set_live(false);
        drop(listener);
        if !shared.pool.is_closed() {
            tracing::warn!("the change listener lost its connection; pages read the database until it is back");
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

/// Copies of one kind of value, one per customer (by id), forgotten when a notification
/// names that customer.
pub struct PerCustomer<T> {
    changes: Changes,
    cache: moka::sync::Cache<i64, T>,
}

impl<T> Clone for PerCustomer<T> {
    fn clone(&self) -> Self {
        Self {
            changes: self.changes.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Forget for moka::sync::Cache<i64, T> {
    fn forget(&self, touched: Touched) {
        match touched {
            Touched::Customer(id) => self.invalidate(&id),
            Touched::Everyone => self.invalidate_all(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> PerCustomer<T> {
    /// A cache of at most `capacity` customers' copies, told by `changes`.
    pub fn new(changes: &Changes, capacity: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(TIME_TO_LIVE)
            .build();
        changes
            .shared
            .caches
            .lock()
            .expect("not poisoned")
            .push(Arc::new(cache.clone()));
        Self {
            changes: changes.clone(),
            cache,
        }
    }

    /// The copy for `customer` when there is one that `fits`, else what `load` reads (kept
    /// as the copy when no change was heard while it read).
    pub async fn get_or_load<E, F, Fut>(&self, customer: i64, fits: impl Fn(&T) -> bool, load: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let shared = &self.changes.shared;
        if !self.changes.is_live() {
            return load().await;
        }
        if let Some(copy) = self.cache.get(&customer).filter(|copy| fits(copy)) {
            return Ok(copy);
        }
        let epoch = shared.epoch.load(Ordering::SeqCst);
        let value = load().await?;
        self.cache.insert(customer, value.clone());
        // Kept first and checked after: a notification heard in between moved the epoch,
        // and one heard later forgets the copy itself.
        if shared.epoch.load(Ordering::SeqCst) != epoch || !self.changes.is_live() {
            self.cache.invalidate(&customer);
        }
        Ok(value)
    }
}
