//! The meter: bandwidth from the engine. Every `BERTH_METER_INTERVAL_S` it reads the network
//! counters of each site's container (`ContainerDriver::traffic`) and adds what they grew
//! by since the last reading to the site's hourly sample (`bandwidth_samples`, the hour of
//! the reading, in UTC); the rollups follow through their triggers.
//!
//! **Resets.** Counters start again from zero when a container restarts or is replaced.
//! When the engine names a new run of the container, or a counter is below the last
//! reading, the new counters are all new traffic ([`delta`]): never a negative delta, and
//! never traffic counted twice. Traffic between the last reading and a restart is lost.
//!
//! **Exactly once.** Each reading is a transaction that locks the site's row of
//! `meter_readings` (`FOR UPDATE SKIP LOCKED`), then asks the engine, then adds the delta
//! and stores the new reading, then commits. Two Berths on one database never read the
//! same site at once, and a reading that did not commit (a crash, a lost database) counted
//! nothing: the next one counts its bytes from the last committed reading.
//!
//! The meter runs on the job runner ([`crate::db::jobs`]), like provisioning and delivery:
//! it claims the sites due, reads a few at once, and stops with them.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::model::{self, Meterable};
use crate::db::jobs;
use crate::engine::{Platform, Traffic};
use crate::sites::model::SiteId;

/// The longest the engine may take to give one container's counters.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(30);
/// Containers read at once by one process.
const CONCURRENCY: usize = 4;
/// The wait after the meter itself failed for another reason than a lost database.
const AFTER_ERROR: Duration = Duration::from_secs(5);
/// The most sites [`run_once`] reads.
const RUN_ONCE_LIMIT: i64 = 10_000;

/// A container's counters as the meter keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// The run of the container they belong to, when the engine says.
    pub run: Option<String>,
    pub received: u64,
    pub sent: u64,
}

impl From<Traffic> for Counters {
    fn from(traffic: Traffic) -> Self {
        Self {
            run: traffic.run,
            received: traffic.received,
            sent: traffic.sent,
        }
    }
}

/// What a reading adds to the site's sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    /// Bytes received by the container: in to the site.
    pub received: u64,
    /// Bytes sent by it: out of the site.
    pub sent: u64,
    /// The counters had started again from zero since the last reading.
    pub reset: bool,
}

/// The traffic between the `last` reading and `now`. A site never read before has zero
/// counters as its last reading, so its first reading counts everything since the container
/// started. When `now` belongs to another run of the container than `last` (both known), or
/// either counter is below its last value, the counters were reset: all of `now` is new.
pub fn delta(last: &Counters, now: &Counters) -> Delta {
    let new_run = matches!((&last.run, &now.run), (Some(last), Some(now)) if last != now);
    let went_back = now.received < last.received || now.sent < last.sent;
    if new_run || went_back {
        Delta {
            received: now.received,
            sent: now.sent,
            reset: true,
        }
    } else {
        Delta {
            received: now.received - last.received,
            sent: now.sent - last.sent,
            reset: false,
        }
    }
}

/// A counter as the database keeps it (`bigint`): past `i64::MAX` it stops there.
fn stored(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// What one look at a site came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The counters were read and what they grew by added.
    Read(Delta),
    /// The container is not running: the last reading stays.
    NotRunning,
    /// The engine did not give the counters (logged): the last reading stays, and the bytes
    /// are counted by the next reading.
    EngineFailed(String),
    /// Another meter is reading the site, or read it less than an interval ago.
    NotDue,
}

/// Reads one site's counters and adds the delta, in one transaction that holds the site's
/// reading locked from before the engine is asked until the result is committed.
pub async fn sample(
    pool: &PgPool,
    platform: &Platform,
    interval: Duration,
    site: Meterable,
) -> anyhow::Result<Outcome> {
    model::ensure_reading(pool, site).await?;
    let mut tx = pool.begin().await?;
    let Some(last) = model::lock_reading(&mut tx, site.site_id, interval.as_secs_f64()).await? else {
        tx.rollback().await?;
        return Ok(Outcome::NotDue);
    };
    let last = Counters {
        run: last.run,
        received: u64::try_from(last.received).unwrap_or(0),
        sent: u64::try_from(last.sent).unwrap_or(0),
    };
    let read = tokio::time::timeout(ENGINE_TIMEOUT, platform.driver.traffic(site.site_id.0)).await;
    let outcome = match read {
        Ok(Ok(Some(traffic))) => {
            let now = Counters::from(traffic);
            let delta = delta(&last, &now);
            if delta.reset {
                tracing::info!(site = %site.site_id, "the container's counters started again (a restart); counting from zero");
            }
            if delta.received > 0 || delta.sent > 0 {
                model::add_to_sample(&mut tx, site, stored(delta.received), stored(delta.sent)).await?;
            }
            model::record_reading(
                &mut tx,
                site.site_id,
                now.run.as_deref(),
                stored(now.received),
                stored(now.sent),
            )
            .await?;
            Outcome::Read(delta)
        }
        Ok(Ok(None)) => {
            model::checked(&mut tx, site.site_id).await?;
            Outcome::NotRunning
        }
        Ok(Err(message)) => {
            tracing::warn!(site = %site.site_id, error = %message, "the meter could not read a container's traffic; trying again next interval");
            model::checked(&mut tx, site.site_id).await?;
            Outcome::EngineFailed(message)
        }
        Err(_) => {
            let message = "the container engine did not give the traffic in time".to_owned();
            tracing::warn!(site = %site.site_id, "{message}; trying again next interval");
            model::checked(&mut tx, site.site_id).await?;
            Outcome::EngineFailed(message)
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Reads every site due now, one after another; their outcomes. The meter ([`spawn`]) does
/// the same a few sites at a time, for as long as it runs; this is for tests and tools.
pub async fn run_once(pool: &PgPool, platform: &Platform, interval: Duration) -> anyhow::Result<Vec<Outcome>> {
    let due = model::due_for_meter(pool, interval.as_secs_f64(), &[], RUN_ONCE_LIMIT).await?;
    let mut outcomes = Vec::with_capacity(due.len());
    for site in due {
        outcomes.push(sample(pool, platform, interval, site).await?);
    }
    Ok(outcomes)
}

/// Starts the meter: each site with an active container is read every `interval`. It runs
/// until aborted; [`spawn_until`] stops it in order.
pub fn spawn(pool: PgPool, platform: Arc<Platform>, interval: Duration) -> JoinHandle<()> {
    spawn_until(pool, platform, interval, std::future::pending(), Duration::ZERO)
}

/// [`spawn`], stopping once `stop` completes: nothing more is read; readings under way get
/// up to `drain` to commit, and those still running then roll back (they counted nothing).
pub fn spawn_until(
    pool: PgPool,
    platform: Arc<Platform>,
    interval: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> JoinHandle<()> {
    tracing::info!(
        interval_s = interval.as_secs_f64(),
        driver = platform.driver.name(),
        "meter started"
    );
    // Sites fall due one by one: look often enough that a site is read soon after it is due.
    let idle = (interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let job = Meter {
        pool,
        platform,
        interval,
        reading: Arc::default(),
    };
    jobs::spawn(job, jobs::Options::new(CONCURRENCY, idle, AFTER_ERROR), stop, drain)
}

/// The meter as a job of the runner: a piece is one site's reading.
struct Meter {
    pool: PgPool,
    platform: Arc<Platform>,
    interval: Duration,
    /// The sites this process is reading now, left out of its next claims.
    reading: Arc<Mutex<HashSet<SiteId>>>,
}

/// Takes a site out of [`Meter::reading`] when its reading ends, however it ends.
struct Reading(Arc<Mutex<HashSet<SiteId>>>, SiteId);

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

impl jobs::Job for Meter {
    type Work = Meterable;
    type Ticket = SiteId;
    const NAME: &'static str = "meter";

    fn ticket(&self, site: &Meterable) -> SiteId {
        site.site_id
    }

    async fn claim(&self, limit: usize) -> anyhow::Result<Vec<Meterable>> {
        let skip: Vec<SiteId> = self
            .reading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        let due = model::due_for_meter(&self.pool, self.interval.as_secs_f64(), &skip, limit as i64).await?;
        self.reading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(due.iter().map(|site| site.site_id));
        Ok(due)
    }

    async fn run(&self, site: Meterable, flight: jobs::Flight) -> anyhow::Result<()> {
        let _reading = Reading(self.reading.clone(), site.site_id);
        sample(&self.pool, &self.platform, self.interval, site).await?;
        flight.settle();
        Ok(())
    }

    /// Nothing to undo: a reading cut off rolled back with its transaction and counted
    /// nothing; the next one counts its bytes.
    async fn hand_back(&self, site: SiteId, cut: jobs::Cut) {
        self.reading.lock().unwrap_or_else(|e| e.into_inner()).remove(&site);
        tracing::debug!(%site, ?cut, "meter reading rolled back; the next reading counts its bytes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(run: Option<&str>, received: u64, sent: u64) -> Counters {
        Counters {
            run: run.map(str::to_owned),
            received,
            sent,
        }
    }

    fn added(received: u64, sent: u64, reset: bool) -> Delta {
        Delta { received, sent, reset }
    }

    #[test]
    fn the_first_reading_counts_everything_since_the_container_started() {
        let now = counters(Some("a@1"), 1_000, 50_000);
        assert_eq!(delta(&Counters::default(), &now), added(1_000, 50_000, false));
        assert_eq!(delta(&Counters::default(), &counters(None, 0, 0)), added(0, 0, false));
    }

    #[test]
    fn the_same_reading_twice_adds_nothing() {
        let reading = counters(Some("a@1"), 1_000, 50_000);
        assert_eq!(delta(&reading, &reading.clone()), added(0, 0, false));
        let unnamed = counters(None, 7, 9);
        assert_eq!(delta(&unnamed, &unnamed.clone()), added(0, 0, false));
    }

    #[test]
    fn growth_is_counted_once() {
        let last = counters(Some("a@1"), 1_000, 50_000);
        let now = counters(Some("a@1"), 1_500, 80_000);
        assert_eq!(delta(&last, &now), added(500, 30_000, false));
    }

    #[test]
    fn a_counter_below_the_last_reading_was_reset() {
        // Restarted and sent less since: all of it is new, nothing negative.
        let last = counters(None, 1_000, 50_000);
        assert_eq!(delta(&last, &counters(None, 200, 3_000)), added(200, 3_000, true));
        // One counter below is enough: both started again.
        assert_eq!(delta(&last, &counters(None, 900, 70_000)), added(900, 70_000, true));
        // Reset to nothing.
        assert_eq!(delta(&last, &counters(None, 0, 0)), added(0, 0, true));
    }

    #[test]
    fn a_new_run_was_reset_even_when_its_counters_are_higher() {
        let last = counters(Some("a@1"), 1_000, 50_000);
        let now = counters(Some("a@2"), 4_000, 90_000);
        assert_eq!(delta(&last, &now), added(4_000, 90_000, true));
        // Another container (replaced) is another run too.
        assert_eq!(
            delta(&last, &counters(Some("b@1"), 1_200, 60_000)),
            added(1_200, 60_000, true)
        );
        // A run unknown on either side: only the counters tell.
        assert_eq!(
            delta(&counters(None, 1_000, 50_000), &counters(Some("a@2"), 1_200, 60_000)),
            added(200, 10_000, false)
        );
    }

    #[test]
    fn counters_past_a_bigint_stop_there() {
        assert_eq!(stored(u64::MAX), i64::MAX);
        assert_eq!(stored(42), 42);
    }
}
