//! Recovery rows: password reset links and email-change undo links, each stored only as the
//! SHA-256 of its token, used once, until it expires; and the account changes they make.

use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::identity::{CustomerId, UsernameKey};

/// The account a reset is asked for: where its link goes.
#[derive(Debug)]
pub struct Account {
    pub id: CustomerId,
    pub email: String,
}

/// The customer with this username, unless cancelled (a cancelled account signs in no more).
pub async fn account(db: impl PgExecutor<'_>, username: &UsernameKey) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        r#"select id as "id: CustomerId", email from customers where username = $1 and status <> 'cancelled'"#,
        username.as_str(),
    )
    .fetch_optional(db)
    .await
}

/// Stores a reset link (its token's hash), valid until `expires_at`.
pub async fn create_reset(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    token_hash: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into password_resets (customer_id, token_hash, created_at, expires_at) values ($1, $2, $3, $4)",
        customer as CustomerId,
        token_hash,
        now,
        expires_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The customer a reset link is for, while it is unused and unexpired at `now`.
pub async fn reset_owner(
    db: impl PgExecutor<'_>,
    token_hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Option<CustomerId>> {
    sqlx::query_scalar!(
        r#"select r.customer_id as "id: CustomerId" from password_resets r join customers c on c.id = r.customer_id
         where r.token_hash = $1 and r.used_at is null and r.expires_at > $2 and c.status <> 'cancelled'"#,
        token_hash,
        now,
    )
    .fetch_optional(db)
    .await
}

/// Uses a reset link at `now`: the new password hash, a new auth version (every session of
/// the account ends), and every reset link of the account ended. `None` when the link is
/// used, expired or unknown (checked again here, under the row lock, so it works once).
pub async fn use_reset(
    db: impl PgExecutor<'_>,
    token_hash: &str,
    password_hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Option<CustomerId>> {
    sqlx::query_scalar!(
        r#"with link as (
             select customer_id from password_resets
             where token_hash = $1 and used_at is null and expires_at > $3
             for update
         ), ended as (
             update password_resets r set used_at = $3
             from link where r.customer_id = link.customer_id and r.used_at is null
         )
         update customers c set password_hash = $2, auth_version = c.auth_version + 1
         from link where c.id = link.customer_id and c.status <> 'cancelled'
         returning c.id as "id: CustomerId""#,
        token_hash,
        password_hash,
        now,
    )
    .fetch_optional(db)
    .await
}

/// Stores an undo link for an email change (its token's hash), valid until `expires_at`.
pub async fn create_undo(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    token_hash: &str,
    old_email: &str,
    new_email: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into email_change_undos (customer_id, token_hash, old_email, new_email, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
        customer as CustomerId,
        token_hash,
        old_email,
        new_email,
        now,
        expires_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An email change that can still be undone.
#[derive(Debug)]
pub struct Undo {
    pub customer: CustomerId,
    pub old_email: String,
    pub new_email: String,
}

/// The change an undo link is for, while it is unused and unexpired at `now`.
pub async fn undo(db: impl PgExecutor<'_>, token_hash: &str, now: OffsetDateTime) -> sqlx::Result<Option<Undo>> {
    sqlx::query_as!(
        Undo,
        r#"select customer_id as "customer: CustomerId", old_email, new_email from email_change_undos
         where token_hash = $1 and used_at is null and expires_at > $2"#,
        token_hash,
        now,
    )
    .fetch_optional(db)
    .await
}

/// Uses an undo link at `now`: the old address back, a new auth version (every session of
/// the account ends), the link used. `None` when it is used, expired or unknown.
pub async fn use_undo(db: impl PgExecutor<'_>, token_hash: &str, now: OffsetDateTime) -> sqlx::Result<Option<Undo>> {
    sqlx::query_as!(
        Undo,
        r#"with link as (
             update email_change_undos set used_at = $2
             where token_hash = $1 and used_at is null and expires_at > $2
             returning customer_id, old_email, new_email
         )
         update customers c set email = link.old_email, auth_version = c.auth_version + 1
         from link where c.id = link.customer_id
         returning c.id as "customer: CustomerId", link.old_email, link.new_email"#,
        token_hash,
        now,
    )
    .fetch_optional(db)
    .await
}
