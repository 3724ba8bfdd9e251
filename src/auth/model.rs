//! Failed sign-ins, counted per account and per client address; past a threshold each
//! further failure makes the next attempt wait longer (1 s, 2 s, 4 s … up to 15 minutes).

use std::net::IpAddr;

use sqlx::PgExecutor;
use time::OffsetDateTime;

/// Failures are forgotten this long after the last one.
const WINDOW_SECS: i64 = 15 * 60;
const MAX_DELAY_SECS: i64 = 15 * 60;
/// Failures before delays start: an account is one person; an address may be a whole office.
const ACCOUNT_THRESHOLD: i32 = 5;
const ADDRESS_THRESHOLD: i32 = 20;

/// The two counters one attempt touches.
pub struct Keys {
    pub account: String,
    pub address: String,
}

impl Keys {
    pub fn new(username: &str, ip: IpAddr) -> Self {
        Self {
            account: format!("user:{}", username.trim().to_lowercase()),
            address: format!("ip:{ip}"),
        }
    }
}

fn threshold(key: &str) -> i32 {
    if key.starts_with("ip:") {
        ADDRESS_THRESHOLD
    } else {
        ACCOUNT_THRESHOLD
    }
}

/// How long one must wait after `failures` failures, given the key's threshold.
pub fn delay_secs(failures: i32, threshold: i32) -> i64 {
    if failures < threshold {
        return 0;
    }
    let exponent = (failures - threshold).min(20) as u32;
    2i64.pow(exponent).min(MAX_DELAY_SECS)
}

/// Seconds to wait before another attempt is allowed, if any.
pub async fn wait_secs(db: impl PgExecutor<'_>, keys: &Keys) -> sqlx::Result<Option<i64>> {
    let rows: Vec<(String, i32, OffsetDateTime)> = sqlx::query_as(
        "select key, failures, last_failure from signin_throttle
         where key = any($1) and last_failure > now() - make_interval(secs => $2)",
    )
    .bind([keys.account.as_str(), keys.address.as_str()])
    .bind(WINDOW_SECS as f64)
    .fetch_all(db)
    .await?;
    let now = OffsetDateTime::now_utc();
    let wait = rows
        .iter()
        .map(|(key, failures, last)| *last + time::Duration::seconds(delay_secs(*failures, threshold(key))) - now)
        .filter(|remaining| remaining.is_positive())
        .max()
        // Round up: "wait 0 seconds" would read oddly.
        .map(|remaining| remaining.whole_seconds() + 1);
    Ok(wait)
}

/// Counts this attempt on `key` as a failure in advance, unless `key` is still in its delay;
/// returns the delay the count now imposes, or `None` when the attempt is refused. Check and
/// count are one statement, so parallel guesses cannot all pass a check made before any of
/// them failed. A successful attempt gives its count back (`clear`, `release`).
pub async fn reserve(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<Option<i64>> {
    let failures: Option<i32> = sqlx::query_scalar(
        "insert into signin_throttle as t (key, failures, last_failure) values ($1, 1, now())
         on conflict (key) do update set
             failures = case when t.last_failure < now() - make_interval(secs => $2) then 1 else t.failures + 1 end,
             last_failure = now()
         where t.last_failure < now() - make_interval(secs => $2)
            or t.failures < $3
            or t.last_failure + make_interval(secs => least($4, power(2, t.failures - $3))) <= now()
         returning failures",
    )
    .bind(key)
    .bind(WINDOW_SECS as f64)
    .bind(threshold(key))
    .bind(MAX_DELAY_SECS as f64)
    .fetch_optional(db)
    .await?;
    Ok(failures.map(|f| delay_secs(f, threshold(key))))
}

/// Gives back one reserved count (the attempt succeeded, or was refused on the other key).
pub async fn release(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query("update signin_throttle set failures = greatest(failures - 1, 0) where key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets the account's failures after a successful sign-in.
pub async fn clear(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query("delete from signin_throttle where key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        assert_eq!(delay_secs(4, ACCOUNT_THRESHOLD), 0);
        assert_eq!(delay_secs(5, ACCOUNT_THRESHOLD), 1);
        assert_eq!(delay_secs(6, ACCOUNT_THRESHOLD), 2);
        assert_eq!(delay_secs(9, ACCOUNT_THRESHOLD), 16);
        assert_eq!(delay_secs(100, ACCOUNT_THRESHOLD), MAX_DELAY_SECS);
        assert_eq!(delay_secs(19, ADDRESS_THRESHOLD), 0);
    }
}
