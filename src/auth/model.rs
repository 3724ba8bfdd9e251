//! Failed sign-ins, counted per account and per client address; past a threshold each
//! further failure makes the next attempt wait longer (1 s, 2 s, 4 s … up to 15 minutes).
//! Where an account signed in before (a browser, an address) its lock is passed. The one
//! core of the customer and the staff sign-in.

use std::net::IpAddr;

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::identity::UsernameKey;

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
    /// A customer's sign-in: counted on `user:<name>`, the name in its canonical form.
    pub fn customer(username: &UsernameKey, ip: IpAddr) -> Self {
        Self {
            account: format!("user:{username}"),
            address: address_key(ip),
        }
    }

    /// A staff sign-in: counted on `staff:<name>`, apart from customers.
    pub fn staff(username: &UsernameKey, ip: IpAddr) -> Self {
        Self {
            account: format!("staff:{username}"),
            address: address_key(ip),
        }
    }
}

/// The counter of a client address. An IPv6 client counts by its /64, the block one
/// subscriber gets (so thirty addresses of one /64 are one guesser, not thirty); an
/// IPv4-mapped IPv6 address counts as the IPv4 address it is.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
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

/// Seconds to wait, at `now`, before another attempt is allowed, if any.
pub async fn wait_secs(db: impl PgExecutor<'_>, keys: &Keys, now: OffsetDateTime) -> sqlx::Result<Option<i64>> {
    let rows = sqlx::query!(
        "select key, failures, last_failure from signin_throttle
         where key = any($1) and last_failure > $2::timestamptz - make_interval(secs => $3)",
        &[keys.account.as_str(), keys.address.as_str()] as &[&str],
        now,
        WINDOW_SECS as f64,
    )
    .fetch_all(db)
    .await?;
    let wait = rows
        .iter()
        .map(|row| row.last_failure + time::Duration::seconds(delay_secs(row.failures, threshold(&row.key))) - now)
        .filter(|remaining| remaining.is_positive())
        .max()
        // Round up: "wait 0 seconds" would read oddly.
        .map(|remaining| remaining.whole_seconds() + 1);
    Ok(wait)
}

/// Counts this attempt on `key` as a failure in advance, unless `key` is still in its delay
/// at `now`; returns the delay the count now imposes, or `None` when the attempt is refused.
/// Check and count are one statement, so parallel guesses cannot all pass a check made
/// before any of them failed. A successful attempt gives its count back (`clear`, `release`).
pub async fn reserve(db: impl PgExecutor<'_>, key: &str, now: OffsetDateTime) -> sqlx::Result<Option<i64>> {
    let failures = sqlx::query_scalar!(
        "insert into signin_throttle as t (key, failures, last_failure) values ($1, 1, $5)
         on conflict (key) do update set
             failures = case when t.last_failure < $5 - make_interval(secs => $2) then 1 else t.failures + 1 end,
             last_failure = $5
         where t.last_failure < $5 - make_interval(secs => $2)
            or t.failures < $3
            or t.last_failure + make_interval(secs => least($4, power(2, t.failures - $3))) <= $5
         returning failures",
        key,
        WINDOW_SECS as f64,
        threshold(key),
        MAX_DELAY_SECS as f64,
        now,
    )
    .fetch_optional(db)
    .await?;
    Ok(failures.map(|f| delay_secs(f, threshold(key))))
}

/// Gives back one reserved count (the attempt succeeded, or was refused on the other key).
pub async fn release(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update signin_throttle set failures = greatest(failures - 1, 0) where key = $1",
        key
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets the account's failures after a successful sign-in.
pub async fn clear(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from signin_throttle where key = $1", key)
        .execute(db)
        .await?;
    Ok(())
}

/// How long a browser that signed in stays known to the account.
pub const KNOWN_DEVICE_DAYS: i32 = 90;
/// How long an address (an IPv6 /64) that signed in stays known to the account: shorter,
/// as an address may pass to someone else.
pub const KNOWN_ADDRESS_DAYS: i32 = 30;

/// What `begin` decided about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Refused unseen: the address or the account is in its delay.
    Refused,
    /// The password may be checked. The delays say what this attempt's count imposes on
    /// the next one (0: none yet); `past_lock` when the account is locked but the attempt
    /// comes from a browser or address the account signed in from before.
    Allowed {
        account_delay: i64,
        address_delay: i64,
        past_lock: bool,
    },
}

/// Counts this attempt in advance on the address and the account, or refuses it while
/// either is in its delay at `now`, before any password is compared. A locked account is
/// passed from a known browser (`device`: the SHA-256 of its device cookie) or a known
/// address: an attacker who keeps an account locked then does not keep its owner out, and
/// still has only the address throttle and the password in their way.
pub async fn begin(pool: &PgPool, keys: &Keys, device: Option<&str>, now: OffsetDateTime) -> sqlx::Result<Attempt> {
    let Some(address_delay) = reserve(pool, &keys.address, now).await? else {
        return Ok(Attempt::Refused);
    };
    if let Some(account_delay) = reserve(pool, &keys.account, now).await? {
        return Ok(Attempt::Allowed {
            account_delay,
            address_delay,
            past_lock: false,
        });
    }
    if is_known(pool, keys, device, now).await? {
        return Ok(Attempt::Allowed {
            account_delay: 0,
            address_delay,
            past_lock: true,
        });
    }
    release(pool, &keys.address).await?;
    Ok(Attempt::Refused)
}

/// After a correct password: gives the address its count back, forgets the account's
/// failures (unless the attempt came past the lock: the attack it records goes on), and
/// remembers the browser and the address as known to the account, at `now`.
pub async fn succeeded(
    pool: &PgPool,
    keys: &Keys,
    attempt: Attempt,
    device: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    if !matches!(attempt, Attempt::Allowed { past_lock: true, .. }) {
        clear(pool, &keys.account).await?;
    }
    release(pool, &keys.address).await?;
    sqlx::query!(
        "insert into signin_known (account, kind, value, last_success)
         values ($1, 'device', $2, $4), ($1, 'address', $3, $4)
         on conflict (account, kind, value) do update set last_success = excluded.last_success",
        &keys.account,
        device,
        &keys.address,
        now,
    )
    .execute(pool)
    .await?;
    sqlx::query!(
        "delete from signin_known where account = $1
           and last_success < $3::timestamptz - make_interval(days => $2)",
        &keys.account,
        KNOWN_DEVICE_DAYS.max(KNOWN_ADDRESS_DAYS),
        now,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the account signed in successfully from this browser or this address lately.
async fn is_known(
    db: impl PgExecutor<'_>,
    keys: &Keys,
    device: Option<&str>,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let known = sqlx::query_scalar!(
        r#"select exists(select 1 from signin_known where account = $1 and (
             (kind = 'device' and value = $2 and last_success > $6::timestamptz - make_interval(days => $3))
          or (kind = 'address' and value = $4 and last_success > $6::timestamptz - make_interval(days => $5))))
           as "known!""#,
        &keys.account,
        device,
        KNOWN_DEVICE_DAYS,
        &keys.address,
        KNOWN_ADDRESS_DAYS,
        now,
    )
    .fetch_one(db)
    .await?;
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_by_ipv4_address_and_ipv6_slash_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "ip:2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), "ip:::/64");
    }

    #[test]
    fn accounts_count_by_the_canonical_username() {
        let ip = "203.0.113.7".parse().unwrap();
        for variant in ["iris", "IRIS", "İris", " Iris "] {
            assert_eq!(Keys::customer(&UsernameKey::new(variant), ip).account, "user:iris");
            assert_eq!(Keys::staff(&UsernameKey::new(variant), ip).account, "staff:iris");
        }
    }

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
