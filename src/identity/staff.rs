//! Staff accounts: their rows, credentials, permissions and auth versions.

use sqlx::PgExecutor;

use crate::identity::sessions::SessionId;
use crate::identity::{Username, UsernameKey};

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
    sqlx::query_scalar!(
        "insert into staff (username, password_hash, permissions) values ($1, $2, $3)
         on conflict (username) do nothing returning id",
        username.as_str(),
        password_hash,
        &permissions as &[&str],
    )
    .fetch_optional(db)
    .await
}

/// Whether a staff account with this username exists (disabled or not).
pub async fn exists(db: impl PgExecutor<'_>, username: &UsernameKey) -> sqlx::Result<bool> {
    let exists = sqlx::query_scalar!(
        r#"select exists (select 1 from staff where username = $1) as "exists!""#,
        username.as_str()
    )
    .fetch_one(db)
    .await?;
    Ok(exists)
}

#[derive(Debug, Clone)]
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
    Ok(by_id_in_session(db, id, None).await?.map(|(staff, _)| staff))
}

/// The staff member, and whether `session` is one of their recorded sessions (see
/// `identity::sessions`): the staff session check reads both in one statement.
pub async fn by_id_in_session(
    db: impl PgExecutor<'_>,
    id: i64,
    session: Option<SessionId>,
) -> sqlx::Result<Option<(Staff, bool)>> {
    let row = sqlx::query!(
        r#"select s.id, s.username, s.permissions, s.auth_version, s.disabled_at is not null as "disabled!",
                exists(select 1 from account_sessions r where r.id = $2 and r.staff_id = s.id) as "listed!"
         from staff s where s.id = $1"#,
        id,
        session.map(|s| s.0),
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        (
            Staff {
                id: row.id,
                username: row.username,
                permissions: row.permissions,
                auth_version: row.auth_version,
                disabled: row.disabled,
            },
            row.listed,
        )
    }))
}

/// The staff member and password hash for a sign-in (the name compared in canonical form);
/// `None` for a disabled account too, so that it fails like an unknown name (with the dummy
/// hash, and the same message).
pub async fn credentials(db: impl PgExecutor<'_>, username: &UsernameKey) -> sqlx::Result<Option<(Staff, String)>> {
    let row = sqlx::query!(
        "select id, username, permissions, auth_version, password_hash from staff
         where username = $1 and disabled_at is null",
        username.as_str(),
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        (
            Staff {
                id: row.id,
                username: row.username,
                permissions: row.permissions,
                auth_version: row.auth_version,
                disabled: false,
            },
            row.password_hash,
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
    sqlx::query_scalar!(
        r#"with target as (select id, disabled_at is not null as was from staff where username = $1),
              changed as (
                  update staff s set
                      disabled_at = case when $2 then now() end,
                      auth_version = s.auth_version + case when $2 then 1 else 0 end
                  from target where s.id = target.id and target.was <> $2
                  returning s.id)
         select exists (select 1 from changed) as "changed!" from target"#,
        username.as_str(),
        disabled,
    )
    .fetch_optional(db)
    .await
}
