//! The worker: claims due deliveries under a lease, sends them, records each result as it
//! arrives, and drains on a stop (see the module documentation of [`crate::delivery`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::DeliveryConfig;
use super::model::{self, Claimed, DeliveryId};
use super::send::{self, SendError};
use crate::db::jobs;

/// Attempts at a delivery before it is `failed`.
pub const MAX_ATTEMPTS: i32 = 8;
/// The longest one attempt may take, whatever the transport's own timeouts: a webhook
/// attempt ends after [`crate::delivery::WEBHOOK_TIMEOUT`] (5 s); an SMTP relay has
/// [`crate::delivery::SMTP_TIMEOUT`] for each step of its conversation, so this bounds
/// the whole of it.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// After an attempt, how long its result may take to be recorded: the record (never the
/// send) is retried while the database is unreachable, for up to this long.
pub const RECORD_MARGIN_SECS: i64 = 30;
/// How long a claim holds a delivery: the longest attempt plus the time to record it. A
/// lease only runs out when its process stopped (or lost the database for longer than
/// [`RECORD_MARGIN_SECS`]) mid-attempt; short, because a delivery still leased counts
/// against its customer's [`PER_CUSTOMER`] and waits for its retry until it runs out.
pub const LEASE_SECS: i64 = ATTEMPT_TIMEOUT.as_secs() as i64 + RECORD_MARGIN_SECS;
/// At most this many deliveries of one customer are in flight at once, across workers.
pub const PER_CUSTOMER: i64 = 4;
/// With no SMTP relay, email deliveries are looked at again after this long.
const NO_RELAY_RECHECK_SECS: i64 = 60;
/// The wait after the worker itself failed (e.g. the database is unreachable).
const AFTER_ERROR: Duration = Duration::from_secs(5);
/// Error messages are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

/// What an email delivery says while no relay is configured.
pub const NO_RELAY: &str = "no SMTP relay configured (BERTH_SMTP_URL); waiting";
/// What a delivery handed back mid-send at shutdown says.
pub const CUT_OFF: &str =
    "the attempt was cut off when Berth stopped; it may or may not have arrived, and is tried again";
/// What a delivery says when its last attempt was interrupted.
pub const INTERRUPTED: &str =
    "the last attempt was interrupted before its result was recorded; it may or may not have arrived";
/// What an attempt records when it failed for a reason the customer must not see.
pub const INTERNAL_ERROR: &str = "An internal error occurred; the details are in Berth's log.";

/// The wait after the `attempts`-th failed attempt: 30 s, 2 min, 10 min, 30 min, 1 h,
/// then 2 h.
pub fn backoff_secs(attempts: i32) -> i64 {
    match attempts {
        ..=1 => 30,
        2 => 120,
        3 => 600,
        4 => 1_800,
        5 => 3_600,
        _ => 7_200,
    }
}

/// Starts the worker: it keeps up to `config.batch` deliveries in flight, claiming more
/// (fairly across customers, [`model::claim`]) as soon as a slot is free, so a receiver that
/// never answers holds only its own slot, for at most its timeout; it polls every
/// `config.poll` when nothing is due. It runs until aborted; [`spawn_until`] stops it in
/// order.
pub fn spawn(pool: PgPool, config: Arc<DeliveryConfig>) -> JoinHandle<()> {
    spawn_until(
        pool,
        config,
        std::future::pending(),
        Duration::ZERO,
        Arc::new(Notify::new()),
    )
}

/// [`spawn`], stopping once `stop` completes: no more claims; deliveries being sent are
/// awaited for up to `drain` and their results recorded; any still unfinished then are
/// handed back, due at once (their attempt counted if it had started: it may have
/// arrived). The handle completes when that is done, within `drain` plus about a second.
/// `wake` makes the worker look for due deliveries at once.
pub fn spawn_until(
    pool: PgPool,
    config: Arc<DeliveryConfig>,
    stop: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
    wake: Arc<Notify>,
) -> JoinHandle<()> {
    tracing::info!(smtp = config.relay(), "delivery worker started");
    let options = jobs::Options {
        wake,
        ..jobs::Options::new(config.batch.max(1) as usize, config.poll, AFTER_ERROR)
    };
    jobs::spawn(Deliveries { pool, config }, options, stop, drain)
}

/// Delivery as a job of the runner: a delivery's claim is a lease; its result is recorded
/// as soon as it is known; one cut off is handed back.
struct Deliveries {
    pool: PgPool,
    config: Arc<DeliveryConfig>,
}

impl jobs::Job for Deliveries {
    type Work = Claimed;
    /// The delivery and its attempt.
    type Ticket = (DeliveryId, i32);
    const NAME: &'static str = "delivery";

    fn ticket(&self, claimed: &Claimed) -> (DeliveryId, i32) {
        (claimed.id, claimed.attempts)
    }

    async fn claim(&self, limit: usize) -> anyhow::Result<Vec<Claimed>> {
        claim(&self.pool, &self.config, limit as i64).await
    }

    async fn run(&self, claimed: Claimed, flight: jobs::Flight) -> anyhow::Result<()> {
        let lease_end = flight.claimed_at() + Duration::from_secs(LEASE_SECS as u64);
        let result = attempt(&self.config, &claimed).await;
        // The result is known: from here on, never sent again by us.
        flight.settle();
        record(&self.pool, &claimed, result, lease_end, flight.stopping()).await;
        Ok(())
    }

    /// Due at once; an attempt that had started counts (it may have arrived).
    async fn hand_back(&self, (id, attempt): (DeliveryId, i32), cut: jobs::Cut) {
        let (uncount, error) = match cut {
            jobs::Cut::NotStarted => (true, CUT_OFF),
            jobs::Cut::Stopped => (false, CUT_OFF),
            jobs::Cut::Panicked => (false, INTERNAL_ERROR),
        };
        if let Err(err) = model::hand_back(&self.pool, id, attempt, uncount, error).await {
            tracing::error!(error = %err, delivery = %id, "handing a delivery back failed; it is sent again when its lease runs out");
        }
    }
}

/// Before claiming: with no SMTP relay, due email deliveries are made to wait with
/// [`NO_RELAY`]; deliveries whose last attempt was interrupted fail with [`INTERRUPTED`].
/// Then claims up to `limit` due deliveries.
async fn claim(pool: &PgPool, config: &DeliveryConfig, limit: i64) -> anyhow::Result<Vec<Claimed>> {
    if config.smtp.is_none() {
        model::hold_email(pool, NO_RELAY, NO_RELAY_RECHECK_SECS).await?;
    }
    let interrupted = model::fail_interrupted(pool, MAX_ATTEMPTS, INTERRUPTED).await?;
    if interrupted > 0 {
        tracing::warn!(
            deliveries = interrupted,
            "deliveries failed: their last attempt was interrupted"
        );
    }
    Ok(model::claim(
        pool,
        limit,
        config.smtp.is_some(),
        LEASE_SECS,
        MAX_ATTEMPTS,
        config.per_customer,
    )
    .await?)
}

/// Claims up to `config.batch` due deliveries (fairly across customers), sends them
/// concurrently, records each result as soon as it is known (retrying the record while
/// the database is unreachable, as the worker does), and returns how many were attempted
/// (0: nothing was due) once all are recorded. The worker ([`spawn`]) does the same
/// without waiting for a batch to finish; this is for tests and tools.
pub async fn run_once(pool: &PgPool, config: &DeliveryConfig) -> anyhow::Result<usize> {
    let claimed = claim(pool, config, config.batch).await?;
    let lease_end = Instant::now() + Duration::from_secs(LEASE_SECS as u64);
    let count = claimed.len();
    let (_never, stopping) = watch::channel(None);
    let mut sending: futures_util::stream::FuturesUnordered<_> = claimed
        .iter()
        .map(|c| {
            let stopping = &stopping;
            async move {
                let result = attempt(config, c).await;
                record(pool, c, result, lease_end, stopping).await;
            }
        })
        .collect();
    while sending.next().await.is_some() {}
    Ok(count)
}

/// One attempt, never longer than [`ATTEMPT_TIMEOUT`]; a panic is an internal error of the
/// attempt rather than the end of the worker.
async fn attempt(config: &DeliveryConfig, claimed: &Claimed) -> Result<(), SendError> {
    let send = std::panic::AssertUnwindSafe(async {
        match (claimed.method.as_str(), &config.smtp) {
            ("webhook", _) => send::webhook(&config.http, config.webhook_timeout, &config.webhook_allow, claimed).await,
            ("email", Some(smtp)) => send::email(smtp, &config.mail_from, claimed).await,
            ("email", None) => Err(SendError::Retry(NO_RELAY.to_owned())),
            (other, _) => Err(SendError::Permanent(format!(
                "{other} deliveries are not sent by this worker"
            ))),
        }
    });
    match tokio::time::timeout(ATTEMPT_TIMEOUT, send.catch_unwind()).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => {
            tracing::error!(delivery = %claimed.id, "sending a delivery panicked");
            Err(SendError::Retry(INTERNAL_ERROR.to_owned()))
        }
        Err(_) => Err(SendError::Retry(format!(
            "no answer within {} s",
            ATTEMPT_TIMEOUT.as_secs()
        ))),
    }
}

/// What an attempt's result makes of its delivery.
enum Outcome {
    Sent,
    Failed { error: String, retry: Option<i64> },
}

/// Records an attempt's result, and logs it once. The record, never the send, is retried
/// with a short back-off while the database is unreachable: until `lease_end` (after it,
/// another worker may have claimed the delivery, and the lease's token keeps a late
/// record from counting), or, once the worker is stopping, until its drain time is up.
async fn record(
    pool: &PgPool,
    claimed: &Claimed,
    result: Result<(), SendError>,
    lease_end: Instant,
    stopping: &watch::Receiver<Option<Instant>>,
) {
    let (id, attempt) = (claimed.id, claimed.attempts);
    let outcome = match result {
        Ok(()) => {
            tracing::info!(delivery = %id, notice = claimed.notice_id, method = claimed.method, attempt, "delivered");
            Outcome::Sent
        }
        Err(err) => {
            let error = clean_message(err.message());
            let retry = match err {
                SendError::Retry(_) if attempt < MAX_ATTEMPTS => Some(backoff_secs(attempt)),
                _ => None,
            };
            match retry {
                Some(wait) => tracing::info!(
                    delivery = %id, method = claimed.method, attempt, error, retry_in_secs = wait,
                    "delivery failed; retrying later"
                ),
                None => tracing::warn!(delivery = %id, method = claimed.method, attempt, error, "delivery failed"),
            }
            Outcome::Failed { error, retry }
        }
    };
    let mut wait = RECORD_FIRST_WAIT;
    loop {
        let give_up = stopping.borrow().map_or(lease_end, |drain| drain.min(lease_end));
        let left = give_up.saturating_duration_since(Instant::now());
        let once = async {
            match &outcome {
                Outcome::Sent => model::sent(pool, id, attempt).await,
                Outcome::Failed { error, retry } => model::attempt_failed(pool, id, attempt, error, *retry).await,
            }
        };
        let err = match tokio::time::timeout(left.max(RECORD_FIRST_WAIT), once).await {
            Ok(Ok(true)) => return,
            Ok(Ok(false)) => {
                tracing::warn!(delivery = %id, attempt, "the delivery's lease ran out before its result was recorded");
                return;
            }
            Ok(Err(err)) => format!("{err:#}"),
            Err(_) => "the database did not answer in time".to_owned(),
        };
        if Instant::now() + wait >= give_up {
            tracing::error!(error = err, delivery = %id, attempt, "recording a delivery failed; it is sent again when its lease runs out");
            return;
        }
        tracing::warn!(error = err, delivery = %id, attempt, retry_in_ms = wait.as_millis() as u64, "recording a delivery failed; retrying the record");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECORD_MAX_WAIT);
    }
}

/// The first wait before a record is retried, doubling up to [`RECORD_MAX_WAIT`].
const RECORD_FIRST_WAIT: Duration = Duration::from_millis(100);
const RECORD_MAX_WAIT: Duration = Duration::from_secs(2);

/// A message as stored: trimmed, on one line, at most [`MAX_ERROR_CHARS`].
fn clean_message(message: &str) -> String {
    let one_line: String = message
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    if one_line.is_empty() {
        "The attempt failed without saying why.".to_owned()
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_two_hours() {
        let waits: Vec<i64> = (1..MAX_ATTEMPTS).map(backoff_secs).collect();
        assert_eq!(waits, [30, 120, 600, 1_800, 3_600, 7_200, 7_200]);
        // Every attempt, and its record, ends before its lease does.
        assert!(crate::delivery::WEBHOOK_TIMEOUT < ATTEMPT_TIMEOUT);
        assert_eq!(LEASE_SECS, 60);
    }

    #[test]
    fn messages_are_cleaned() {
        assert_eq!(clean_message("  refused\r\nhere "), "refused  here");
        assert_eq!(clean_message(" "), "The attempt failed without saying why.");
        assert_eq!(clean_message(&"x".repeat(1000)).chars().count(), MAX_ERROR_CHARS);
    }
}
