//! The passkeys' rows: each query for a customer's passkey filters by the customer, so a
//! passkey of someone else is simply not found.

use serde::Serialize;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::Passkey;

use crate::identity::CustomerId;

/// A passkey's id, as its forms' URLs give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct PasskeyId(pub i64);

impl std::str::FromStr for PasskeyId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl std::fmt::Display for PasskeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A passkey as its page lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: PasskeyId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A passkey with its credential, for a sign-in.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: PasskeyId,
    pub customer_id: CustomerId,
    pub name: String,
    pub credential: Passkey,
}

/// How many passkeys the customer has.
pub async fn count(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from passkeys where customer_id = $1"#,
        customer as CustomerId,
    )
    .fetch_one(db)
    .await
}

/// The customer's passkeys, oldest first.
pub async fn list(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<Listed>> {
    sqlx::query_as!(
        Listed,
        r#"select id as "id: PasskeyId", name, created_at, last_used_at
           from passkeys where customer_id = $1 order by created_at, id"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await
}

/// The customer's passkeys with their credentials.
pub async fn credentials(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<Stored>> {
    let rows = sqlx::query!(
        r#"select id as "id: PasskeyId", customer_id as "customer_id: CustomerId", name, credential
           from passkeys where customer_id = $1 order by id"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| stored(r.id, r.customer_id, r.name, r.credential))
        .collect()
}

/// The passkey with `credential_id` whose customer's user handle is `handle`: what a
/// password-less sign-in presents.
pub async fn by_credential(
    db: impl PgExecutor<'_>,
    handle: Uuid,
    credential_id: &[u8],
) -> sqlx::Result<Option<Stored>> {
    let row = sqlx::query!(
        r#"select p.id as "id: PasskeyId", p.customer_id as "customer_id: CustomerId", p.name, p.credential
           from passkeys p join passkey_users u using (customer_id)
           where u.handle = $1 and p.credential_id = $2"#,
        handle,
        credential_id,
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| stored(r.id, r.customer_id, r.name, r.credential))
        .transpose()
}

fn stored(id: PasskeyId, customer_id: CustomerId, name: String, credential: serde_json::Value) -> sqlx::Result<Stored> {
    let credential = serde_json::from_value(credential).map_err(|err| sqlx::Error::Decode(err.into()))?;
    Ok(Stored {
        id,
        customer_id,
        name,
        credential,
    })
}

/// The customer's user handle, made on first use.
pub async fn handle(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "with made as (
             insert into passkey_users (customer_id, handle) values ($1, $2)
             on conflict (customer_id) do nothing
             returning handle)
         select handle as \"handle!\" from made
         union all
         select handle from passkey_users where customer_id = $1",
        customer as CustomerId,
        Uuid::new_v4(),
    )
    .fetch_one(db)
    .await
}

/// Whether the customer has a passkey named `name` (other than `except`).
pub async fn name_taken(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    name: &str,
    except: Option<PasskeyId>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from passkeys where customer_id = $1 and name = $2
             and id is distinct from $3) as "taken!""#,
        customer as CustomerId,
        name,
        except as Option<PasskeyId>,
    )
    .fetch_one(db)
    .await
}

/// What adding a passkey gave.
pub enum Inserted {
    Added(PasskeyId),
    /// This authenticator's credential is registered already (to this or another account).
    Duplicate,
}

/// Adds a passkey; the customer's user handle must exist ([`handle`]).
pub async fn insert(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    name: &str,
    credential: &Passkey,
    now: OffsetDateTime,
) -> sqlx::Result<Inserted> {
    let json = serde_json::to_value(credential).map_err(|err| sqlx::Error::Encode(err.into()))?;
    let id = sqlx::query_scalar!(
        r#"insert into passkeys (customer_id, name, credential_id, credential, created_at)
           values ($1, $2, $3, $4, $5)
           on conflict (credential_id) do nothing
           returning id as "id: PasskeyId""#,
        customer as CustomerId,
        name,
        credential.cred_id().as_ref(),
        json,
        now,
    )
    .fetch_optional(db)
    .await?;
    Ok(id.map_or(Inserted::Duplicate, Inserted::Added))
}

/// Renames the customer's passkey, answering its old name; `None` when it is not theirs.
pub async fn rename(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    id: PasskeyId,
    name: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update passkeys new set name = $3 from passkeys old
         where new.id = old.id and new.customer_id = $1 and new.id = $2
         returning old.name",
        customer as CustomerId,
        id as PasskeyId,
        name,
    )
    .fetch_optional(db)
    .await
}

/// Removes the customer's passkey, answering its name; `None` when it is not theirs.
pub async fn remove(db: impl PgExecutor<'_>, customer: CustomerId, id: PasskeyId) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "delete from passkeys where customer_id = $1 and id = $2 returning name",
        customer as CustomerId,
        id as PasskeyId,
    )
    .fetch_optional(db)
    .await
}

/// Records a sign-in with the passkey: its credential (the signature counter moved on) and
/// when it was last used.
pub async fn used(db: impl PgExecutor<'_>, passkey: &Stored, now: OffsetDateTime) -> sqlx::Result<()> {
    let json = serde_json::to_value(&passkey.credential).map_err(|err| sqlx::Error::Encode(err.into()))?;
    sqlx::query!(
        "update passkeys set credential = $3, last_used_at = $4 where customer_id = $1 and id = $2",
        passkey.customer_id as CustomerId,
        passkey.id as PasskeyId,
        json,
        now,
    )
    .execute(db)
    .await?;
    Ok(())
}
