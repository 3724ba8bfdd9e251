//! Customer rows: identity, credentials, status; the validated newtypes for their fields.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};

use super::sessions::SessionId;
use super::username::{self, UsernameKey};
use crate::db::changes::Changes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct CustomerId(pub i64);

/// A customer id as the URL's path gives it (see `web::PathId`).
impl FromStr for CustomerId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(CustomerId)
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A username: 3 to 32 of `a-z 0-9 . _ -`, starting with a letter or digit, typed in ASCII;
/// capitals are taken as small letters (the canonical form of [`UsernameKey`], in which it
/// is stored, so it is unique without regard to case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(UsernameKey);

impl FromStr for Username {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad =
            "A username is 3 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit.";
        let key = username::new_ascii(raw).ok_or(bad)?;
        let s = key.as_str();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(3..=32).contains(&s.len()) || !ok_chars || !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(bad);
        }
        Ok(Self(key))
    }
}

impl Username {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn key(&self) -> &UsernameKey {
        &self.0
    }
}

/// An email address: one `@`, a local part, a domain with a dot; no spaces; at most 254.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl FromStr for Email {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        let bad = "Enter an email address such as name@example.com.";
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad);
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(bad);
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = local
            .chars()
            .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if local.is_empty() || local.len() > 64 || !local_ok || !domain_ok {
            return Err(bad);
        }
        Ok(Self(s.to_owned()))
    }
}

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: free text up to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl FromStr for DisplayName {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        if s.chars().count() > 100 || s.chars().any(char::is_control) {
            return Err("A display name is at most 100 characters, on one line.");
        }
        Ok(Self(s.to_owned()))
    }
}

impl DisplayName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: CustomerId,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub status: String,
    pub auth_version: i64,
    pub has_pin: bool,
    /// Notices addressed to the customer (or to everyone) not acknowledged yet, for the
    /// navigation; read with the row, so a page costs no extra query. A counter kept by
    /// triggers on publish and acknowledge (migration `notice_counters`), so reading it
    /// costs the same however many notices the platform has published.
    pub unread_notices: i64,
    /// The customer's stored settings (keys and values, in key order), read with the row for
    /// the same reason: `settings::Current` makes the request's settings from them.
    pub setting_keys: Vec<String>,
    pub setting_values: Vec<String>,
    /// The customer's recorded sessions (`account_sessions`): a session whose record is
    /// gone was signed out from the sessions list, and ends at its next request.
    pub sessions: Vec<SessionId>,
}

impl Customer {
    /// Whether `session` is one of the customer's recorded sessions.
    pub fn has_session(&self, session: SessionId) -> bool {
        self.sessions.contains(&session)
    }

    /// What the page header calls the customer.
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.username
        } else {
            &self.display_name
        }
    }
}

/// The customer, with settings and recorded sessions: what the signed-in check reads, in
/// one statement.
pub async fn by_id(db: impl PgExecutor<'_>, id: CustomerId) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as!(
        Customer,
        r#"select c.id as "id: CustomerId", c.username, c.display_name, c.email, c.status, c.auth_version,
                c.pin_hash is not null as "has_pin!",
                c.unread_notices::bigint as "unread_notices!",
                array(select s.key from customer_settings s where s.customer_id = c.id order by s.key)
                    as "setting_keys!",
                array(select s.value from customer_settings s where s.customer_id = c.id order by s.key)
                    as "setting_values!",
                array(select r.id from account_sessions r where r.customer_id = c.id order by r.id)
                    as "sessions!: Vec<SessionId>"
         from customers c where c.id = $1"#,
        id as CustomerId,
    )
    .fetch_optional(db)
    .await
}

/// [`by_id`], from this process's copy when there is one: the signed-in check of every
/// page (the copy is forgotten when the row, a setting or a session record changes, see
/// `db::changes`).
pub async fn by_id_kept(changes: &Changes, pool: &PgPool, id: CustomerId) -> sqlx::Result<Option<Customer>> {
    changes
        .per_customer::<Option<Customer>>()
        .get_or_load(id.0, |_| true, || by_id(pool, id))
        .await
}

/// A customer's status (the `customers.status` column, checked in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CustomerStatus {
    Active,
    CancellationRequested,
    Cancelled,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::CancellationRequested => "cancellation_requested",
            Self::Cancelled => "cancelled",
        }
    }
}

/// What sign-in needs: id, password hash, status.
#[derive(Debug)]
pub struct Credentials {
    pub id: CustomerId,
    pub password_hash: String,
    pub status: CustomerStatus,
    pub auth_version: i64,
}

impl Credentials {
    /// A cancelled account signs in no more.
    pub fn may_sign_in(&self) -> bool {
        self.status != CustomerStatus::Cancelled
    }
}

/// The customer whose username is `username` (compared in canonical form, see [`UsernameKey`]).
pub async fn credentials_by_username(
    db: impl PgExecutor<'_>,
    username: &UsernameKey,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        r#"select id as "id: CustomerId", password_hash, status as "status: CustomerStatus", auth_version
         from customers where username = $1"#,
        username.as_str(),
    )
    .fetch_optional(db)
    .await
}

pub async fn password_hash(db: impl PgExecutor<'_>, id: CustomerId) -> sqlx::Result<String> {
    sqlx::query_scalar!("select password_hash from customers where id = $1", id as CustomerId)
        .fetch_one(db)
        .await
}

/// Inserts a customer and grants `owner`. Fails with a unique violation on
/// `customers_username_key` when the username is taken.
pub async fn create(
    db: &mut sqlx::PgConnection,
    username: &Username,
    email: &Email,
    display_name: &DisplayName,
    password_hash: &str,
) -> sqlx::Result<CustomerId> {
    let id = sqlx::query_scalar!(
        r#"insert into customers (username, email, display_name, password_hash) values ($1, $2, $3, $4)
         returning id as "id: CustomerId""#,
        username.as_str(),
        email.as_str(),
        display_name.as_str(),
        password_hash,
    )
    .fetch_one(&mut *db)
    .await?;
    grant_roles(&mut *db, id, &["owner"]).await?;
    Ok(id)
}

/// Grants the named roles (already granted ones are kept).
pub async fn grant_roles(db: impl PgExecutor<'_>, id: CustomerId, names: &[&str]) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into customer_roles (customer_id, role_id) select $1, id from roles where name = any($2)
         on conflict do nothing",
        id as CustomerId,
        names as &[&str],
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn exists(db: impl PgExecutor<'_>, username: &UsernameKey) -> sqlx::Result<bool> {
    let exists = sqlx::query_scalar!(
        r#"select exists(select 1 from customers where username = $1) as "exists!""#,
        username.as_str()
    )
    .fetch_one(db)
    .await?;
    Ok(exists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "demo", "a.b-c_d", "X9", "user123"]
            .iter()
            .filter(|s| s.len() >= 3)
        {
            assert!(ok.parse::<Username>().is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "-abc",
            "a b c",
            "<script>",
            &"a".repeat(33),
            "ünï",
            "İris",
            "\u{212a}ate",
        ] {
            assert!(bad.parse::<Username>().is_err(), "{bad}");
        }
        assert_eq!("Alice".parse::<Username>().unwrap().as_str(), "alice");
    }

    #[test]
    fn emails() {
        for ok in ["a@example.com", "first.last+tag@sub.example.org", "x@bücher.de"] {
            assert!(ok.parse::<Email>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@b.com.",
            "<script>@x.com",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
    }
}
