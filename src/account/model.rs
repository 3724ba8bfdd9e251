//! The account: roles, changes to email, password, PIN and display name, cancellation.

use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::identity::customer::DisplayName;
use crate::identity::{CustomerId, Email};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Role {
    pub name: String,
    pub description: String,
}

pub async fn roles(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<Role>> {
    sqlx::query_as!(
        Role,
        "select r.name, r.description from customer_roles cr join roles r on r.id = cr.role_id
         where cr.customer_id = $1 order by r.name",
        customer as CustomerId,
    )
    .fetch_all(db)
    .await
}

/// Stores the new email address; returns the one it replaced.
pub async fn set_email(db: impl PgExecutor<'_>, customer: CustomerId, email: &Email) -> sqlx::Result<String> {
    sqlx::query_scalar!(
        "update customers c set email = $2 from customers old
         where c.id = $1 and old.id = c.id returning old.email",
        customer as CustomerId,
        email.as_str(),
    )
    .fetch_one(db)
    .await
}

/// The account's email address (where a security notice goes before it changes).
pub async fn email(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<String> {
    sqlx::query_scalar!("select email from customers where id = $1", customer as CustomerId)
        .fetch_one(db)
        .await
}

pub async fn set_display_name(db: impl PgExecutor<'_>, customer: CustomerId, name: &DisplayName) -> sqlx::Result<()> {
    sqlx::query!(
        "update customers set display_name = $2 where id = $1",
        customer as CustomerId,
        name.as_str(),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stores the new password hash and moves the auth version on, which ends every other
/// session at its next request. Returns the new auth version.
pub async fn set_password(db: impl PgExecutor<'_>, customer: CustomerId, hash: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "update customers set password_hash = $2, auth_version = auth_version + 1 where id = $1 returning auth_version",
        customer as CustomerId,
        hash,
    )
    .fetch_one(db)
    .await
}

pub async fn set_pin(db: impl PgExecutor<'_>, customer: CustomerId, hash: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update customers set pin_hash = $2 where id = $1",
        customer as CustomerId,
        hash,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A reason for cancelling: 1 to 2000 characters after trimming.
#[derive(Debug, Clone)]
pub struct Reason(String);

impl std::str::FromStr for Reason {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Tell us why you want to cancel.");
        }
        if s.chars().count() > 2000 {
            return Err("Use at most 2000 characters.");
        }
        Ok(Self(s.to_owned()))
    }
}

impl Reason {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::text_enum!(
    /// `cancellation_requests.status`.
    CancellationStatus {
        Pending = "pending",
        Withdrawn = "withdrawn",
        Completed = "completed",
    }
);

impl CancellationStatus {
    /// Open: the customer may withdraw it, support may complete it.
    pub fn is_pending(self) -> bool {
        self == Self::Pending
    }
}

#[derive(Debug, Clone)]
pub struct Cancellation {
    pub id: i64,
    pub reason: String,
    pub status: CancellationStatus,
    pub requested_at: OffsetDateTime,
    pub closed_at: Option<OffsetDateTime>,
}

pub async fn cancellations(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<Cancellation>> {
    sqlx::query_as!(
        Cancellation,
        r#"select id, reason, status as "status: CancellationStatus", requested_at, closed_at
         from cancellation_requests
         where customer_id = $1 order by requested_at desc, id desc limit 20"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await
}

/// Opens a cancellation request and marks the account; `None` when one is already pending.
pub async fn request_cancellation(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    reason: &Reason,
) -> sqlx::Result<Option<Cancellation>> {
    let inserted = sqlx::query_as!(
        Cancellation,
        r#"insert into cancellation_requests (customer_id, reason) values ($1, $2)
         on conflict (customer_id) where status = 'pending' do nothing
         returning id, reason, status as "status: CancellationStatus", requested_at, closed_at"#,
        customer as CustomerId,
        reason.as_str(),
    )
    .fetch_optional(&mut *db)
    .await?;
    let Some(inserted) = inserted else {
        return Ok(None);
    };
    sqlx::query!(
        "update customers set status = 'cancellation_requested' where id = $1 and status = 'active'",
        customer as CustomerId,
    )
    .execute(&mut *db)
    .await?;
    Ok(Some(inserted))
}

/// Withdraws the pending request; `false` when there is none.
pub async fn withdraw_cancellation(db: &mut sqlx::PgConnection, customer: CustomerId) -> sqlx::Result<bool> {
    let withdrawn = sqlx::query!(
        "update cancellation_requests set status = $2, closed_at = now()
         where customer_id = $1 and status = $3",
        customer as CustomerId,
        CancellationStatus::Withdrawn as CancellationStatus,
        CancellationStatus::Pending as CancellationStatus,
    )
    .execute(&mut *db)
    .await?
    .rows_affected();
    if withdrawn == 0 {
        return Ok(false);
    }
    sqlx::query!(
        "update customers set status = 'active' where id = $1 and status = 'cancellation_requested'",
        customer as CustomerId,
    )
    .execute(&mut *db)
    .await?;
    Ok(true)
}

/// A counter that guards one of a customer's secrets outside sign-in: five wrong attempts
/// within 15 minutes of each other lock it until 15 minutes after the last one. Stored in
/// `secret_attempts.guard` (checked text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Guard {
    /// Staff checking the PIN a caller gives.
    PinCheck,
    /// The current password asked again by the email, password and PIN forms.
    Reauth,
}

impl Guard {
    pub const LIMIT: i32 = 5;
    pub const WINDOW_MINUTES: i32 = 15;
}

/// Counts an attempt as wrong in advance, before the secret is compared; `None` when the
/// guard is locked and the secret must not be compared at all. Check and count are one
/// statement (the conflicting row is updated in its latest version, under its row lock), so
/// parallel attempts each see the others' counts; a right attempt gives its count back
/// (`give_back`, `forget`).
pub async fn count_attempt(db: impl PgExecutor<'_>, guard: Guard, customer: CustomerId) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "insert into secret_attempts as t (guard, customer_id, failures, last_attempt) values ($1, $2, 1, now())
         on conflict (guard, customer_id) do update set
             failures = case when t.last_attempt <= now() - make_interval(mins => $3) then 1 else t.failures + 1 end,
             last_attempt = now()
         where t.last_attempt <= now() - make_interval(mins => $3) or t.failures < $4
         returning failures",
        guard as Guard,
        customer as CustomerId,
        Guard::WINDOW_MINUTES,
        Guard::LIMIT,
    )
    .fetch_optional(db)
    .await
}

/// Gives back one count taken by `count_attempt` (the attempt was right), keeping the others.
pub async fn give_back(db: impl PgExecutor<'_>, guard: Guard, customer: CustomerId) -> sqlx::Result<()> {
    sqlx::query!(
        "update secret_attempts set failures = greatest(failures - 1, 0) where guard = $1 and customer_id = $2",
        guard as Guard,
        customer as CustomerId,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets every count of the guard (the customer proved they know the secret).
pub async fn forget(db: impl PgExecutor<'_>, guard: Guard, customer: CustomerId) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from secret_attempts where guard = $1 and customer_id = $2",
        guard as Guard,
        customer as CustomerId,
    )
    .execute(db)
    .await?;
    Ok(())
}
