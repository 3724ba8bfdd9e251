//! The second factor's rows: one TOTP authenticator per account (its secret sealed, see
//! [`crate::sealed`]) and its recovery codes (SHA-256 hashes). Every query filters by the
//! account, a customer's or a staff member's ([`Account`]): `customer_id = $1 or staff_id =
//! $2` with the other one null, so it matches that account's rows only.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::identity::CustomerId;
use crate::web::session::PendingAccount;

/// Whose second factor: a customer's or a staff member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    Customer(CustomerId),
    Staff(i64),
}

impl Account {
    /// The two owner columns, one of them null.
    fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            Self::Customer(id) => (Some(id.0), None),
            Self::Staff(id) => (None, Some(id)),
        }
    }
}

impl From<PendingAccount> for Account {
    fn from(pending: PendingAccount) -> Self {
        match pending {
            PendingAccount::Customer(id) => Self::Customer(id),
            PendingAccount::Staff(id) => Self::Staff(id),
        }
    }
}

impl From<Account> for PendingAccount {
    fn from(account: Account) -> Self {
        match account {
            Account::Customer(id) => Self::Customer(id),
            Account::Staff(id) => Self::Staff(id),
        }
    }
}

/// An account's authenticator: enrolled (`confirmed`) or shown and not yet proven.
#[derive(Debug)]
pub struct Authenticator {
    pub sealed: Vec<u8>,
    pub confirmed: bool,
    pub last_step: i64,
    pub failed_checks: i32,
    pub last_failed_at: Option<OffsetDateTime>,
}

pub async fn authenticator(db: impl PgExecutor<'_>, account: Account) -> sqlx::Result<Option<Authenticator>> {
    let (customer, staff) = account.ids();
    sqlx::query_as!(
        Authenticator,
        r#"select sealed, confirmed_at is not null as "confirmed!", last_step, failed_checks, last_failed_at
           from totp_authenticators where customer_id = $1 or staff_id = $2"#,
        customer,
        staff,
    )
    .fetch_optional(db)
    .await
}

/// Stores a new enrolment in progress (replacing one in progress); `false`, storing
/// nothing, when the account already has an enrolled authenticator.
pub async fn start_enrolment(tx: &mut PgConnection, account: Account, sealed: &[u8]) -> sqlx::Result<bool> {
    let (customer, staff) = account.ids();
    sqlx::query!(
        "delete from totp_authenticators where (customer_id = $1 or staff_id = $2) and confirmed_at is null",
        customer,
        staff,
    )
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query!(
        "insert into totp_authenticators (customer_id, staff_id, sealed)
         select $1, $2, $3
         where not exists (select 1 from totp_authenticators where customer_id = $1 or staff_id = $2)",
        customer,
        staff,
        sealed,
    )
    .execute(&mut *tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Turns the enrolment in progress on, with the step of the code that proved it; `false`
/// when there was none in progress (or it is on already).
pub async fn confirm(tx: &mut PgConnection, account: Account, step: i64, now: OffsetDateTime) -> sqlx::Result<bool> {
    let (customer, staff) = account.ids();
    let done = sqlx::query!(
        "update totp_authenticators set confirmed_at = $3, last_step = $4, failed_checks = 0
         where (customer_id = $1 or staff_id = $2) and confirmed_at is null",
        customer,
        staff,
        now,
        step,
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the TOTP time step `step` as used: `false` when a code of it, or of a later step,
/// was accepted before (a code works once). Check and update are one statement, so two
/// requests with the same code cannot both pass.
pub async fn use_step(db: impl PgExecutor<'_>, account: Account, step: i64) -> sqlx::Result<bool> {
    let (customer, staff) = account.ids();
    let done = sqlx::query!(
        "update totp_authenticators set last_step = $3, failed_checks = 0
         where (customer_id = $1 or staff_id = $2) and confirmed_at is not null and last_step < $3",
        customer,
        staff,
        step,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong code at `now`.
pub async fn failed_check(db: impl PgExecutor<'_>, account: Account, now: OffsetDateTime) -> sqlx::Result<()> {
    let (customer, staff) = account.ids();
    sqlx::query!(
        "update totp_authenticators set failed_checks = failed_checks + 1, last_failed_at = $3
         where customer_id = $1 or staff_id = $2",
        customer,
        staff,
        now,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Removes the account's second factor: its authenticator and its recovery codes.
pub async fn remove(tx: &mut PgConnection, account: Account) -> sqlx::Result<bool> {
    let (customer, staff) = account.ids();
    sqlx::query!(
        "delete from recovery_codes where customer_id = $1 or staff_id = $2",
        customer,
        staff
    )
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query!(
        "delete from totp_authenticators where customer_id = $1 or staff_id = $2",
        customer,
        staff
    )
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the account's recovery codes (used or not) with `hashes`.
pub async fn replace_recovery_codes(tx: &mut PgConnection, account: Account, hashes: &[String]) -> sqlx::Result<()> {
    let (customer, staff) = account.ids();
    sqlx::query!(
        "delete from recovery_codes where customer_id = $1 or staff_id = $2",
        customer,
        staff
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into recovery_codes (customer_id, staff_id, code_hash) select $1, $2, unnest($3::text[])",
        customer,
        staff,
        hashes,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Uses the unused recovery code with this hash, at `now`; `false` when there is none.
pub async fn use_recovery_code(
    db: impl PgExecutor<'_>,
    account: Account,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let (customer, staff) = account.ids();
    let done = sqlx::query!(
        "update recovery_codes set used_at = $4
         where (customer_id = $1 or staff_id = $2) and code_hash = $3 and used_at is null",
        customer,
        staff,
        hash,
        now,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many of the account's recovery codes are still unused.
pub async fn recovery_codes_left(db: impl PgExecutor<'_>, account: Account) -> sqlx::Result<i64> {
    let (customer, staff) = account.ids();
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from recovery_codes where (customer_id = $1 or staff_id = $2) and used_at is null"#,
        customer,
        staff,
    )
    .fetch_one(db)
    .await
}

/// Whether any account has an authenticator (enrolled or in progress): then the key that
/// sealed it is needed.
pub async fn any_sealed(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select exists (select 1 from totp_authenticators) as "any!""#)
        .fetch_one(db)
        .await
}

/// Every sealed secret, by row, for a key rotation.
pub async fn all_sealed(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(i64, Vec<u8>)>> {
    let rows = sqlx::query!("select id, sealed from totp_authenticators order by id")
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.sealed)).collect())
}

/// Stores a secret sealed again (a key rotation).
pub async fn reseal(db: impl PgExecutor<'_>, id: i64, sealed: &[u8]) -> sqlx::Result<()> {
    sqlx::query!("update totp_authenticators set sealed = $2 where id = $1", id, sealed)
        .execute(db)
        .await?;
    Ok(())
}

/// Moves a staff member's auth version on, so every session of theirs ends.
pub async fn end_staff_sessions(db: impl PgExecutor<'_>, staff: i64) -> sqlx::Result<()> {
    sqlx::query!("update staff set auth_version = auth_version + 1 where id = $1", staff)
        .execute(db)
        .await?;
    Ok(())
}
