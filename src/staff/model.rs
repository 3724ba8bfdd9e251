//! Staff accounts, and what the staff console reads and changes about customers: search,
//! roles, cancellation requests, and PIN checks with their lockout.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::customer::{CustomerId, Username, UsernameKey};

/// Creates a staff account with `support`, and `support-write` when `write`; `None` when
/// the username is taken.
pub async fn create(
    db: impl PgExecutor<'_>,
    username: &Username,
    password_hash: &str,
    write: bool,
) -> sqlx::Result<Option<i64>> {
    let permissions: Vec<&str> = if write {
        vec!["support", "support-write"]
    } else {
        vec!["support"]
    };
    sqlx::query_scalar(
        "insert into staff (username, password_hash, permissions) values ($1, $2, $3)
         on conflict (username) do nothing returning id",
    )
    .bind(username.as_str())
    .bind(password_hash)
    .bind(permissions)
    .fetch_optional(db)
    .await
}

/// Whether a staff account with this username exists (disabled or not).
pub async fn exists(db: impl PgExecutor<'_>, username: &UsernameKey) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from staff where username = $1)")
        .bind(username.as_str())
        .fetch_one(db)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Staff {
    pub id: i64,
    pub username: String,
    pub permissions: Vec<String>,
    pub auth_version: i64,
    /// Disabled with `berth staff disable`: no sign-in, no session.
    pub disabled: bool,
}

impl Staff {
    /// `support-write`: may change what they look at.
    pub fn may_write(&self) -> bool {
        self.permissions.iter().any(|p| p == "support-write")
    }

    /// How the customer's Activity names them: "Support (alice)".
    pub fn actor(&self) -> String {
        format!("Support ({})", self.username)
    }
}

pub async fn by_id(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Staff>> {
    sqlx::query_as(
        "select id, username, permissions, auth_version, disabled_at is not null as disabled from staff where id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The staff member and password hash for a sign-in (the name compared in canonical form);
/// `None` for a disabled account too, so that it fails like an unknown name (with the dummy
/// hash, and the same message).
pub async fn credentials(db: impl PgExecutor<'_>, username: &UsernameKey) -> sqlx::Result<Option<(Staff, String)>> {
    let row: Option<(i64, String, Vec<String>, i64, String)> =
        sqlx::query_as("select id, username, permissions, auth_version, password_hash from staff where username = $1 and disabled_at is null")
            .bind(username.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(id, username, permissions, auth_version, hash)| {
        (
            Staff {
                id,
                username,
                permissions,
                auth_version,
                disabled: false,
            },
            hash,
        )
    }))
}

/// Disables (`true`) or enables a staff account. Disabling moves its auth version on, so
/// every session of it fails its next check. `None` when there is no such staff member,
/// else whether anything changed.
pub async fn set_disabled(
    db: impl PgExecutor<'_>,
    username: &UsernameKey,
    disabled: bool,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar(
        "with target as (select id, disabled_at is not null as was from staff where username = $1),
              changed as (
                  update staff s set
                      disabled_at = case when $2 then now() end,
                      auth_version = s.auth_version + case when $2 then 1 else 0 end
                  from target where s.id = target.id and target.was <> $2
                  returning s.id)
         select exists (select 1 from changed) from target",
    )
    .bind(username.as_str())
    .bind(disabled)
    .fetch_optional(db)
    .await
}

/// Staff members whose username contains `query` (any case); at most 50, by username.
pub async fn search_staff(db: &PgPool, query: &str) -> sqlx::Result<Vec<Staff>> {
    sqlx::query_as(
        "select id, username, permissions, auth_version, disabled_at is not null as disabled from staff
         where username ilike $1 order by username limit 50",
    )
    .bind(like_pattern(query))
    .fetch_all(db)
    .await
}

/// `%query%` for `ilike`, with the query's own `%`, `_` and `\` taken literally.
fn like_pattern(query: &str) -> String {
    format!(
        "%{}%",
        query
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub status: String,
    pub created_at: OffsetDateTime,
}

/// Customers whose username, email or display name contains `query` (any case), or whose
/// id it is; at most 50, by username.
pub async fn search(db: &PgPool, query: &str) -> sqlx::Result<Vec<Found>> {
    let query = query.trim();
    let id: Option<i64> = query.parse().ok();
    let pattern = like_pattern(query);
    sqlx::query_as(
        "select id, username, display_name, email, status, created_at from customers
         where id = $1 or username ilike $2 or email ilike $2 or display_name ilike $2
         order by username limit 50",
    )
    .bind(id)
    .bind(pattern)
    .fetch_all(db)
    .await
}

pub async fn customer(db: impl PgExecutor<'_>, id: CustomerId) -> sqlx::Result<Option<Found>> {
    sqlx::query_as("select id, username, display_name, email, status, created_at from customers where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Every role of the catalogue, and whether the customer holds it.
pub async fn roles(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<(String, String, bool)>> {
    sqlx::query_as(
        "select r.name, r.description, cr.customer_id is not null
         from roles r left join customer_roles cr on cr.role_id = r.id and cr.customer_id = $1
         order by r.name",
    )
    .bind(customer)
    .fetch_all(db)
    .await
}

/// Grants or revokes a role of the catalogue; `None` when there is no such role, else
/// whether anything changed.
pub async fn set_role(
    tx: &mut PgConnection,
    customer: CustomerId,
    role: &str,
    granted: bool,
) -> sqlx::Result<Option<bool>> {
    let Some(role_id): Option<i64> = sqlx::query_scalar("select id from roles where name = $1")
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let sql = if granted {
        "insert into customer_roles (customer_id, role_id) values ($1, $2) on conflict do nothing"
    } else {
        "delete from customer_roles where customer_id = $1 and role_id = $2"
    };
    let changed = sqlx::query(sql)
        .bind(customer)
        .bind(role_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(Some(changed > 0))
}

/// Marks a pending cancellation request of the customer's handled (the account is then
/// cancelled); `false` when there is no such pending request.
pub async fn complete_cancellation(tx: &mut PgConnection, customer: CustomerId, request: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update cancellation_requests set status = 'completed', closed_at = now()
         where customer_id = $1 and id = $2 and status = 'pending'",
    )
    .bind(customer)
    .bind(request)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    sqlx::query("update customers set status = 'cancelled' where id = $1")
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    // The customer's API keys stop working with the account: the caller clears the key
    // cache once this has committed.
    Ok(true)
}

/// The customer's PIN hash (`Some(None)` when they set none); `None` when there is no such
/// customer. The lockout is `account::model::Guard::PinCheck`.
pub async fn pin_hash(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<Option<String>>> {
    sqlx::query_scalar("select pin_hash from customers where id = $1")
        .bind(customer)
        .fetch_optional(db)
        .await
}
