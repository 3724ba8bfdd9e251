//! The worker: claims due deliveries under a lease, sends them, records the results (see
//! the module documentation of [`crate::delivery`]).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::DeliveryConfig;
use super::model::{self, Claimed};
use super::send::{self, SendError};

/// Attempts at a delivery before it is `failed`.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a claim holds a delivery. Well over twice what one attempt may take
/// ([`ATTEMPT_TIMEOUT`]; a webhook attempt ends after [`crate::delivery::WEBHOOK_TIMEOUT`]),
/// so a lease only runs out when its process stopped mid-attempt; and short, because a
/// delivery still leased counts against its customer's [`PER_CUSTOMER`] until its result
/// is recorded or the lease runs out.
pub const LEASE_SECS: i64 = 150;
/// At most this many deliveries of one customer are in flight at once, across workers.
pub const PER_CUSTOMER: i64 = 4;
/// The longest one attempt may take, whatever the transport's own timeouts.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// With no SMTP relay, email deliveries are looked at again after this long.
const NO_RELAY_RECHECK_SECS: i64 = 60;
/// The wait after the worker itself failed (e.g. the database is unreachable).
const AFTER_ERROR: Duration = Duration::from_secs(5);
/// Error messages are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

/// What an email delivery says while no relay is configured.
pub const NO_RELAY: &str = "no SMTP relay configured (BERTH_SMTP_URL); waiting";
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
/// `config.poll` when nothing is due. Abort the handle to stop it (a delivery being sent
/// is sent again once its lease has run out; see the module documentation).
pub fn spawn(pool: PgPool, config: Arc<DeliveryConfig>) -> JoinHandle<()> {
    tracing::info!(smtp = config.relay(), "delivery worker started");
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(config.batch.max(1) as usize));
        let mut sending = JoinSet::new();
        let mut db_failures = 0u32;
        loop {
            // Finished attempts are reaped (their panics were caught in `attempt`).
            while sending.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free == 0 {
                // Wait for a slot to come free.
                drop(slots.acquire().await);
                continue;
            }
            match claim(&pool, &config, free as i64).await {
                Ok(claimed) if claimed.is_empty() => {
                    db_failures = 0;
                    // Nothing due, or every customer with due deliveries is at its limit.
                    tokio::select! {
                        _ = tokio::time::sleep(config.poll) => {}
                        Some(_) = sending.join_next() => {}
                    }
                }
                Ok(claimed) => {
                    db_failures = 0;
                    for claimed in claimed {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            // Cannot happen: at most `free` were claimed.
                            break;
                        };
                        let (pool, config) = (pool.clone(), config.clone());
                        sending.spawn(async move {
                            let result = attempt(&config, &claimed).await;
                            if let Err(err) = record(&pool, &claimed, result).await {
                                tracing::error!(error = format!("{err:#}"), delivery = %claimed.id, "recording a delivery failed");
                            }
                            drop(permit);
                        });
                    }
                }
                // A lost database: at once, then with back-off while it stays down.
                Err(err) if crate::db::is_lost_database(&err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "delivery worker lost the database; retrying"
                    );
                    tokio::time::sleep(crate::db::retry_wait(db_failures)).await;
                    db_failures = db_failures.saturating_add(1);
                }
                Err(err) => {
                    db_failures = 0;
                    tracing::error!(error = format!("{err:#}"), "delivery worker failed; retrying");
                    tokio::time::sleep(AFTER_ERROR).await;
                }
            }
        }
    })
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
/// concurrently, records each result as soon as it is known, and returns how many were
/// attempted (0: nothing was due) once all are recorded. The worker ([`spawn`]) does the
/// same without waiting for a batch to finish; this is for tests and tools.
pub async fn run_once(pool: &PgPool, config: &DeliveryConfig) -> anyhow::Result<usize> {
    let claimed = claim(pool, config, config.batch).await?;
    let count = claimed.len();
    let mut sending: futures_util::stream::FuturesUnordered<_> = claimed
        .iter()
        .map(|c| async move { (c, attempt(config, c).await) })
        .collect();
    while let Some((claimed, result)) = sending.next().await {
        record(pool, claimed, result).await?;
    }
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

async fn record(pool: &PgPool, claimed: &Claimed, result: Result<(), SendError>) -> anyhow::Result<()> {
    let (id, attempt) = (claimed.id, claimed.attempts);
    let kept = match result {
        Ok(()) => {
            tracing::info!(delivery = %id, notice = claimed.notice_id, method = claimed.method, attempt, "delivered");
            model::sent(pool, id, attempt).await?
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
            model::attempt_failed(pool, id, attempt, &error, retry).await?
        }
    };
    if !kept {
        tracing::warn!(delivery = %id, attempt, "the delivery's lease ran out before its result was recorded");
    }
    Ok(())
}

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
        // Every attempt ends long before its lease does.
        assert!(ATTEMPT_TIMEOUT.as_secs() as i64 * 2 < LEASE_SECS);
    }

    #[test]
    fn messages_are_cleaned() {
        assert_eq!(clean_message("  refused\r\nhere "), "refused  here");
        assert_eq!(clean_message(" "), "The attempt failed without saying why.");
        assert_eq!(clean_message(&"x".repeat(1000)).chars().count(), MAX_ERROR_CHARS);
    }
}
