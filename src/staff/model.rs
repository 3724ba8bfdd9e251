//! Staff rows.

use sqlx::PgExecutor;

use crate::customer::Username;

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
         on conflict ((lower(username))) do nothing returning id",
    )
    .bind(username.as_str())
    .bind(password_hash)
    .bind(permissions)
    .fetch_optional(db)
    .await
}
