//! What the staff console reads and changes about customers: search, roles, cancellation
//! requests, and PIN checks with their lockout. Staff accounts themselves are identity.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::identity::{CustomerId, Staff};

pub async fn search_staff(db: &PgPool, query: &str) -> sqlx::Result<Vec<Staff>> {
    sqlx::query_as!(
        Staff,
        r#"select id, username, permissions, auth_version, disabled_at is not null as "disabled!" from staff
         where username ilike $1 order by username limit 50"#,
        like_pattern(query),
    )
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

#[derive(Debug, Clone)]
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
    sqlx::query_as!(
        Found,
        "select id, username, display_name, email, status, created_at from customers
         where id = $1 or username ilike $2 or email ilike $2 or display_name ilike $2
         order by username limit 50",
        id,
        pattern,
    )
    .fetch_all(db)
    .await
}

pub async fn customer(db: impl PgExecutor<'_>, id: CustomerId) -> sqlx::Result<Option<Found>> {
    sqlx::query_as!(
        Found,
        "select id, username, display_name, email, status, created_at from customers where id = $1",
        id as CustomerId,
    )
    .fetch_optional(db)
    .await
}

/// Every role of the catalogue, and whether the customer holds it.
pub async fn roles(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<(String, String, bool)>> {
    let rows = sqlx::query!(
        r#"select r.name, r.description, cr.customer_id is not null as "held!"
         from roles r left join customer_roles cr on cr.role_id = r.id and cr.customer_id = $1
         order by r.name"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.description, r.held)).collect())
}

/// Grants or revokes a role of the catalogue; `None` when there is no such role, else
/// whether anything changed.
pub async fn set_role(
    tx: &mut PgConnection,
    customer: CustomerId,
    role: &str,
    granted: bool,
) -> sqlx::Result<Option<bool>> {
    let Some(role_id) = sqlx::query_scalar!("select id from roles where name = $1", role)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let changed = if granted {
        sqlx::query!(
            "insert into customer_roles (customer_id, role_id) values ($1, $2) on conflict do nothing",
            customer as CustomerId,
            role_id,
        )
        .execute(&mut *tx)
        .await?
    } else {
        sqlx::query!(
            "delete from customer_roles where customer_id = $1 and role_id = $2",
            customer as CustomerId,
            role_id,
        )
        .execute(&mut *tx)
        .await?
    }
    .rows_affected();
    Ok(Some(changed > 0))
}

/// Marks a pending cancellation request of the customer's handled (the account is then
/// cancelled); `false` when there is no such pending request.
pub async fn complete_cancellation(tx: &mut PgConnection, customer: CustomerId, request: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update cancellation_requests set status = 'completed', closed_at = now()
         where customer_id = $1 and id = $2 and status = 'pending'",
        customer as CustomerId,
        request,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    sqlx::query!(
        "update customers set status = 'cancelled' where id = $1",
        customer as CustomerId
    )
    .execute(&mut *tx)
    .await?;
    // The customer's API keys stop working with the account: the caller clears the key
    // cache once this has committed.
    Ok(true)
}

/// The customer's PIN hash (`Some(None)` when they set none); `None` when there is no such
/// customer. The lockout is `account::model::Guard::PinCheck`.
pub async fn pin_hash(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<Option<String>>> {
    sqlx::query_scalar!("select pin_hash from customers where id = $1", customer as CustomerId)
        .fetch_optional(db)
        .await
}
