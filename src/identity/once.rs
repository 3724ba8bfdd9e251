//! One-time form tokens, kept in PostgreSQL: a form that creates something carries one, and
//! the operation records it with [`first_use`] in the same transaction as what it creates.
//! Sent twice (a double click, a form resent after a slow answer, two requests on two Berth
//! processes), the second waits for the first's transaction and then finds the token used;
//! a create that is refused (422) rolls back and leaves the token unused, so the corrected
//! form can be sent with it. The pages give out tokens through `web::once`.

use sha2::{Digest, Sha256};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::CustomerId;

/// The longest token accepted, in bytes (the API's `formToken` is the caller's own text).
pub const MAX_LEN: usize = 64;

/// A one-time token: the page's UUID, or a caller's own text mapped to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FormToken(Uuid);

impl FormToken {
    /// A fresh token for a form.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// A token as sent: a UUID as itself, other text (an API caller's token) as the first
    /// 16 bytes of its SHA-256. Empty (after trimming) or longer than [`MAX_LEN`]: none, and
    /// the form is acted on as before tokens (an old page, a script).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_LEN {
            return None;
        }
        if let Ok(uuid) = Uuid::try_parse(raw) {
            return Some(Self(uuid));
        }
        let digest = Sha256::digest(raw.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Some(Self(Uuid::from_bytes(bytes)))
    }

    /// [`FormToken::parse`] of a field that may be missing.
    pub fn from_field(raw: Option<&str>) -> Option<Self> {
        raw.and_then(Self::parse)
    }
}

impl std::fmt::Display for FormToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Records that `customer` used `token`: true the first time, false when it was used before
/// (within the hour rows are kept). Call it inside the transaction that creates what the
/// form asks for: a second use waits for that transaction, and a rollback frees the token.
pub async fn first_use(db: impl PgExecutor<'_>, customer: CustomerId, token: FormToken) -> sqlx::Result<bool> {
    record(db, Some(customer), None, token).await
}

/// [`first_use`] by a staff member (`staff.id`), for the staff console's create forms.
pub async fn first_use_by_staff(db: impl PgExecutor<'_>, staff: i64, token: Option<FormToken>) -> sqlx::Result<bool> {
    match token {
        Some(token) => record(db, None, Some(staff), token).await,
        None => Ok(true),
    }
}

/// Records `token` as used by the customer or the staff member. The same statement prunes
/// their tokens older than an hour (those no other transaction holds), so the table stays
/// small without a periodic task.
async fn record(
    db: impl PgExecutor<'_>,
    customer: Option<CustomerId>,
    staff: Option<i64>,
    token: FormToken,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "with pruned as (
             delete from used_form_tokens
              where ctid in (
                    select ctid from used_form_tokens
                     where (customer_id = $1 or staff_id = $2) and token <> $3
                       and used_at < now() - interval '1 hour'
                       for update skip locked))
         insert into used_form_tokens (customer_id, staff_id, token) values ($1, $2, $3)
         on conflict do nothing",
        customer as Option<CustomerId>,
        staff,
        token.0,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// [`first_use`] of a token that may be missing: without one, always true.
pub async fn first_use_of(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    token: Option<FormToken>,
) -> sqlx::Result<bool> {
    match token {
        Some(token) => first_use(db, customer, token).await,
        None => Ok(true),
    }
}

/// Whether `customer` used `token` already (within the hour): for an operation whose checks
/// read what a first send of the form would have written (a username taken by it), asked
/// when those checks fail, so the second send is told it was sent twice.
pub async fn used(db: impl PgExecutor<'_>, customer: CustomerId, token: Option<FormToken>) -> sqlx::Result<bool> {
    let Some(token) = token else {
        return Ok(false);
    };
    sqlx::query_scalar!(
        r#"select exists(select 1 from used_form_tokens where customer_id = $1 and token = $2) as "used!""#,
        customer as CustomerId,
        token.0,
    )
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_token_is_its_uuid_and_other_text_maps_to_one() {
        let t = FormToken::generate();
        assert_eq!(FormToken::parse(&t.to_string()), Some(t));
        assert_eq!(FormToken::parse(&format!(" {t} ")), Some(t));
        let a = FormToken::parse("retry-42").expect("a caller's token");
        assert_eq!(FormToken::parse("retry-42"), Some(a), "the same text, the same token");
        assert_ne!(FormToken::parse("retry-43"), Some(a));
        assert_eq!(FormToken::parse(""), None);
        assert_eq!(FormToken::parse("   "), None);
        assert_eq!(FormToken::parse(&"x".repeat(MAX_LEN + 1)), None);
        assert!(FormToken::parse(&"x".repeat(MAX_LEN)).is_some());
        assert_eq!(FormToken::from_field(None), None);
    }
}
