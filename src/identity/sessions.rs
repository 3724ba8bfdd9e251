//! The record of each signed-in session, customers' and staff's (`account_sessions`): which
//! browser, from where, since when, last seen when. The session itself holds its record's
//! id; deleting the record ends the session at its next request, because the signed-in
//! check reads the record together with the account (`customer::by_id`,
//! `staff::by_id_in_session`), in the same statement. Here because `web` keeps the records
//! and may not import an area.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use sqlx::types::ipnetwork::IpNetwork;
use time::OffsetDateTime;

use super::CustomerId;

/// An `account_sessions.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct SessionId(pub i64);

impl std::str::FromStr for SessionId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(SessionId)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Whose session a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Customer(CustomerId),
    Staff(i64),
}

impl Owner {
    fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            Self::Customer(id) => (Some(id.0), None),
            Self::Staff(id) => (None, Some(id)),
        }
    }
}

/// A session as the list shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: SessionId,
    pub device: String,
    pub address: IpNetwork,
    pub signed_in_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
}

/// Records a session that is signed in (at `signed_in_at`) with `auth_version`.
pub async fn create(
    db: impl PgExecutor<'_>,
    owner: Owner,
    auth_version: i64,
    device: &str,
    address: IpAddr,
    signed_in_at: OffsetDateTime,
    now: OffsetDateTime,
) -> sqlx::Result<SessionId> {
    let (customer, staff) = owner.ids();
    let device: String = device.chars().take(200).collect();
    sqlx::query_scalar!(
        r#"insert into account_sessions (customer_id, staff_id, auth_version, device, address, signed_in_at, last_seen)
         values ($1, $2, $3, $4, $5, $6, $7) returning id as "id: SessionId""#,
        customer,
        staff,
        auth_version,
        device,
        IpNetwork::from(address),
        signed_in_at,
        now,
    )
    .fetch_one(db)
    .await
}

/// Notes the session's latest request (at most once a minute: see `web::session`).
pub async fn touch(db: impl PgExecutor<'_>, id: SessionId, address: IpAddr, now: OffsetDateTime) -> sqlx::Result<()> {
    sqlx::query!(
        "update account_sessions set last_seen = $2, address = $3 where id = $1",
        id as SessionId,
        now,
        IpNetwork::from(address),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Keeps the session's record listed after the account's auth version moved on under it
/// (the customer changed their password in this session).
pub async fn renew(db: impl PgExecutor<'_>, id: SessionId, auth_version: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update account_sessions set auth_version = $2 where id = $1",
        id as SessionId,
        auth_version
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The owner's sessions still signed in at `now`: those of the account's current auth
/// version, seen within `idle_secs` and signed in within `absolute_secs`; the latest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    owner: Owner,
    now: OffsetDateTime,
    limits: Limits,
) -> sqlx::Result<Vec<Listed>> {
    let (customer, staff) = owner.ids();
    sqlx::query_as!(
        Listed,
        r#"select s.id as "id: SessionId", s.device, s.address, s.signed_in_at, s.last_seen
         from account_sessions s
         where (s.customer_id = $1 or s.staff_id = $2)
           and s.last_seen >= $3::timestamptz - make_interval(secs => $4)
           and s.signed_in_at >= $3::timestamptz - make_interval(secs => $5)
           and s.auth_version = coalesce((select auth_version from customers where id = $1),
                                         (select auth_version from staff where id = $2))
         order by s.last_seen desc, s.id desc"#,
        customer,
        staff,
        now,
        limits.idle_secs as f64,
        limits.absolute_secs as f64,
    )
    .fetch_all(db)
    .await
}

/// How long sessions last (`WebConfig::idle_timeout`, `absolute_timeout`), in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle_secs: i64,
    pub absolute_secs: i64,
}

/// Deletes the owner's records of sessions that have ended by themselves (idle, too old,
/// or left behind by a new auth version): called when a new one is recorded.
pub async fn prune(db: impl PgExecutor<'_>, owner: Owner, now: OffsetDateTime, limits: Limits) -> sqlx::Result<()> {
    let (customer, staff) = owner.ids();
    sqlx::query!(
        "delete from account_sessions s
         where (s.customer_id = $1 or s.staff_id = $2)
           and (s.last_seen < $3::timestamptz - make_interval(secs => $4)
                or s.signed_in_at < $3::timestamptz - make_interval(secs => $5)
                or s.auth_version <> coalesce((select auth_version from customers where id = $1),
                                              (select auth_version from staff where id = $2)))",
        customer,
        staff,
        now,
        limits.idle_secs as f64,
        limits.absolute_secs as f64,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Ends one of the owner's sessions; `false` when the owner has no such session (another
/// account's id is simply not found).
pub async fn end(db: impl PgExecutor<'_>, owner: Owner, id: SessionId) -> sqlx::Result<bool> {
    let (customer, staff) = owner.ids();
    let done = sqlx::query!(
        "delete from account_sessions where id = $1 and (customer_id = $2 or staff_id = $3)",
        id as SessionId,
        customer,
        staff,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of the owner's but `keep` (none: every one); how many ended.
pub async fn end_all_but(db: impl PgExecutor<'_>, owner: Owner, keep: Option<SessionId>) -> sqlx::Result<u64> {
    let (customer, staff) = owner.ids();
    let done = sqlx::query!(
        "delete from account_sessions
         where (customer_id = $1 or staff_id = $2) and ($3::bigint is null or id <> $3)",
        customer,
        staff,
        keep.map(|k| k.0),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Signs out every session of the owner's but `keep`: the account's auth version moves on
/// (so a session not recorded yet ends too), the other records go, and `keep`'s record takes
/// the new version. Returns the new auth version, for `keep`'s session to renew with.
pub async fn sign_out_others(db: &mut sqlx::PgConnection, owner: Owner, keep: SessionId) -> sqlx::Result<i64> {
    let version = match owner {
        Owner::Customer(id) => {
            sqlx::query_scalar!(
                "update customers set auth_version = auth_version + 1 where id = $1 returning auth_version",
                id as CustomerId
            )
            .fetch_one(&mut *db)
            .await?
        }
        Owner::Staff(id) => {
            sqlx::query_scalar!(
                "update staff set auth_version = auth_version + 1 where id = $1 returning auth_version",
                id
            )
            .fetch_one(&mut *db)
            .await?
        }
    };
    end_all_but(&mut *db, owner, Some(keep)).await?;
    renew(&mut *db, keep, version).await?;
    Ok(version)
}

/// What the list calls a browser: "Firefox on Linux", from its User-Agent header; a client
/// woothee does not know is named by the header's first word ("Zorblax/1.0").
pub fn device(user_agent: &str) -> String {
    let first_word = || -> String {
        let word = user_agent.split_whitespace().next().unwrap_or("");
        word.chars().filter(|c| !c.is_control()).take(60).collect()
    };
    match woothee::parser::Parser::new().parse(user_agent) {
        _ if user_agent.trim().is_empty() => "Unknown device".to_owned(),
        Some(ua) if ua.name != "UNKNOWN" && ua.os != "UNKNOWN" => format!("{} on {}", ua.name, ua.os),
        Some(ua) if ua.name != "UNKNOWN" => ua.name.to_owned(),
        _ => first_word(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_from_the_user_agent() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device(firefox), "Firefox on Linux");
        assert_eq!(device(""), "Unknown device");
        assert_eq!(device("curl/8.5.0"), "HTTP Library");
        assert_eq!(device("Zorblax/1.0 (\u{1b}[31m)"), "Zorblax/1.0");
    }
}
