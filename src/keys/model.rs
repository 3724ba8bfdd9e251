//! API keys and their ACLs: the domain types and the queries (the decisions are in
//! `ops`). Every query of a customer's key or ACL filters by its customer; internal keys
//! belong to the platform (no customer) and have their own queries, used only by the staff
//! console and `berth create-key`.

use std::net::IpAddr;

use serde::Serialize;
use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::identity::CustomerId;
use crate::identity::{KeyId, KeyType};

/// At most this many keys that are not revoked, per customer.
pub const MAX_ACTIVE_KEYS: i64 = 25;
/// At most this many ACLs per key.
pub const MAX_ACLS: i64 = 50;

crate::id_type!(AclId);

/// A key's name: 1 to 64 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl std::str::FromStr for KeyName {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        crate::validation::one_line(raw, 64, "Give the key a name, such as \"deploy script\".").map(Self)
    }
}

impl KeyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Acl {
    pub id: AclId,
    pub key_id: KeyId,
    pub network: IpNetwork,
}

impl Acl {
    pub fn address(&self) -> String {
        self.network.network().to_string()
    }

    pub fn cidr(&self) -> u8 {
        self.network.prefix()
    }

    /// The prefix of the ids of its edit form's fields.
    pub fn form_prefix(&self) -> String {
        format!("acl-{}", self.id)
    }
}

#[derive(Debug, Clone)]
pub struct Key {
    pub id: KeyId,
    pub name: String,
    pub kind: KeyType,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_address: Option<IpAddr>,
    pub revoked_at: Option<OffsetDateTime>,
    /// Internal keys only: who made it ("staff sam", "operator root").
    pub created_by: Option<String>,
    pub acls: Vec<Acl>,
}

impl Key {
    pub fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    pub fn networks(&self) -> Vec<IpNetwork> {
        self.acls.iter().map(|a| a.network).collect()
    }
}

/// A key's row, before its ACLs are added.
struct KeyRow {
    id: KeyId,
    name: String,
    kind: KeyType,
    prefix: String,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    last_used_address: Option<IpAddr>,
    revoked_at: Option<OffsetDateTime>,
    created_by: Option<String>,
}

impl From<KeyRow> for Key {
    fn from(row: KeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            kind: row.kind,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            last_used_address: row.last_used_address,
            revoked_at: row.revoked_at,
            created_by: row.created_by,
            acls: Vec::new(),
        }
    }
}

/// Fills in each key's ACLs, oldest first: keys of `owner`, or with `None` the platform's.
async fn with_acls(db: impl PgExecutor<'_>, owner: Option<CustomerId>, rows: Vec<KeyRow>) -> sqlx::Result<Vec<Key>> {
    let mut keys: Vec<Key> = rows.into_iter().map(Key::from).collect();
    let ids: Vec<i64> = keys.iter().map(|k| k.id.0).collect();
    // Two statements rather than `is not distinct from`, which no index serves.
    let acls = match owner {
        Some(owner) => {
            sqlx::query_as!(
                Acl,
                r#"select id as "id: AclId", key_id as "key_id: KeyId", network from api_key_acls
                   where customer_id = $1 and key_id = any($2) order by id"#,
                owner as CustomerId,
                &ids,
            )
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query_as!(
                Acl,
                r#"select id as "id: AclId", key_id as "key_id: KeyId", network from api_key_acls
                   where customer_id is null and key_id = any($1) order by id"#,
                &ids,
            )
            .fetch_all(db)
            .await?
        }
    };
    for acl in acls {
        if let Some(key) = keys.iter_mut().find(|k| k.id == acl.key_id) {
            key.acls.push(acl);
        }
    }
    Ok(keys)
}

/// `limit` of the customer's keys (of `kind`, when given) after `offset`, newest first,
/// with their ACLs; and how many there are in all.
pub async fn list(
    db: &sqlx::PgPool,
    customer: CustomerId,
    kind: Option<KeyType>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Key>, i64)> {
    let rows = sqlx::query_as!(
        KeyRow,
        r#"select id as "id: KeyId", name, type as "kind: KeyType", prefix, created_at, last_used_at,
                  last_used_address as "last_used_address: IpAddr", revoked_at, created_by
           from api_keys where customer_id = $1 and ($2::text is null or type = $2)
           order by id desc limit $3 offset $4"#,
        customer as CustomerId,
        kind as Option<KeyType>,
        limit,
        offset,
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from api_keys where customer_id = $1 and ($2::text is null or type = $2)"#,
        customer as CustomerId,
        kind as Option<KeyType>,
    )
    .fetch_one(db)
    .await?;
    Ok((with_acls(db, Some(customer), rows).await?, total))
}

/// Every key of the customer's (of `kind`, when given), newest first, with their ACLs
/// (getKeys), in one statement.
pub async fn all(db: &sqlx::PgPool, customer: CustomerId, kind: Option<KeyType>) -> sqlx::Result<Vec<Key>> {
    let rows = sqlx::query!(
        r#"select k.id as "id: KeyId", k.name, k.type as "kind: KeyType", k.prefix, k.created_at, k.last_used_at,
                  k.last_used_address as "last_used_address: IpAddr", k.revoked_at, k.created_by,
                  a.id as "acl?: AclId", a.network as "network?"
           from api_keys k left join api_key_acls a on a.customer_id = k.customer_id and a.key_id = k.id
           where k.customer_id = $1 and ($2::text is null or k.type = $2)
           order by k.id desc, a.id"#,
        customer as CustomerId,
        kind as Option<KeyType>,
    )
    .fetch_all(db)
    .await?;
    let mut keys: Vec<Key> = Vec::new();
    for row in rows {
        if keys.last().is_none_or(|k| k.id != row.id) {
            keys.push(Key::from(KeyRow {
                id: row.id,
                name: row.name,
                kind: row.kind,
                prefix: row.prefix,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                last_used_address: row.last_used_address,
                revoked_at: row.revoked_at,
                created_by: row.created_by,
            }));
        }
        if let (Some(id), Some(network)) = (row.acl, row.network) {
            let key = keys.last_mut().expect("pushed above");
            key.acls.push(Acl {
                id,
                key_id: key.id,
                network,
            });
        }
    }
    Ok(keys)
}

/// One key of the customer's, with its ACLs.
pub async fn key(db: &sqlx::PgPool, customer: CustomerId, id: KeyId) -> sqlx::Result<Option<Key>> {
    let row = sqlx::query_as!(
        KeyRow,
        r#"select id as "id: KeyId", name, type as "kind: KeyType", prefix, created_at, last_used_at,
                  last_used_address as "last_used_address: IpAddr", revoked_at, created_by
           from api_keys where customer_id = $1 and id = $2"#,
        customer as CustomerId,
        id as KeyId,
    )
    .fetch_optional(db)
    .await?;
    match row {
        Some(row) => Ok(with_acls(db, Some(customer), vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Every internal key, newest first (the staff console's list), with their ACLs.
pub async fn internal_keys(db: &sqlx::PgPool) -> sqlx::Result<Vec<Key>> {
    let rows = sqlx::query_as!(
        KeyRow,
        r#"select id as "id: KeyId", name, type as "kind: KeyType", prefix, created_at, last_used_at,
                  last_used_address as "last_used_address: IpAddr", revoked_at, created_by
           from api_keys where customer_id is null order by id desc"#,
    )
    .fetch_all(db)
    .await?;
    with_acls(db, None, rows).await
}

/// Locks the customer's row: one key creation at a time per customer, so the limit holds
/// under parallel requests.
pub async fn lock_customer(tx: &mut PgConnection, customer: CustomerId) -> sqlx::Result<()> {
    sqlx::query!(
        "select 1 as locked from customers where id = $1 for update",
        customer as CustomerId
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(())
}

/// How many keys of the customer's are not revoked.
pub async fn active_keys(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from api_keys where customer_id = $1 and revoked_at is null"#,
        customer as CustomerId,
    )
    .fetch_one(db)
    .await
}

/// A key's row as it is written: who owns it, its name, type and secret.
pub struct NewKey<'a> {
    pub customer: Option<CustomerId>,
    pub name: &'a KeyName,
    pub kind: KeyType,
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
    /// Internal keys: who made it, and the staff member when staff did.
    pub created_by: Option<String>,
    pub created_by_staff: Option<i64>,
}

pub async fn insert_key(db: impl PgExecutor<'_>, key: NewKey<'_>) -> sqlx::Result<KeyId> {
    sqlx::query_scalar!(
        r#"insert into api_keys (customer_id, name, type, prefix, secret_hash, created_by, created_by_staff)
           values ($1, $2, $3, $4, $5, $6, $7) returning id as "id: KeyId""#,
        key.customer as Option<CustomerId>,
        key.name.as_str(),
        key.kind as KeyType,
        key.prefix,
        key.secret_hash,
        key.created_by,
        key.created_by_staff,
    )
    .fetch_one(db)
    .await
}

/// A key locked for a change: its name, its prefix, and whether it is revoked.
pub struct Locked {
    pub name: String,
    pub prefix: String,
    pub revoked: bool,
}

/// Locks a key: one of `owner`'s, or with `None` one of the platform's (internal).
pub async fn lock_key(tx: &mut PgConnection, owner: Option<CustomerId>, id: KeyId) -> sqlx::Result<Option<Locked>> {
    sqlx::query_as!(
        Locked,
        r#"select name, prefix, revoked_at is not null as "revoked!" from api_keys
           where customer_id is not distinct from $1 and id = $2 for update"#,
        owner as Option<CustomerId>,
        id as KeyId,
    )
    .fetch_optional(&mut *tx)
    .await
}

pub async fn mark_revoked(tx: &mut PgConnection, id: KeyId) -> sqlx::Result<()> {
    sqlx::query!("update api_keys set revoked_at = now() where id = $1", id as KeyId)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// How many ACLs a key has.
pub async fn acl_count(db: impl PgExecutor<'_>, key: KeyId) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from api_key_acls where key_id = $1"#,
        key as KeyId
    )
    .fetch_one(db)
    .await
}

/// Whether the key already has `network` (other than the ACL `except`).
pub async fn has_network(
    db: impl PgExecutor<'_>,
    key: KeyId,
    network: IpNetwork,
    except: Option<AclId>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from api_key_acls where key_id = $1 and network = $2
                         and ($3::bigint is null or id <> $3)) as "exists!""#,
        key as KeyId,
        network,
        except as Option<AclId>,
    )
    .fetch_one(db)
    .await
}

pub async fn insert_acl(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    key: KeyId,
    network: IpNetwork,
) -> sqlx::Result<AclId> {
    sqlx::query_scalar!(
        r#"insert into api_key_acls (customer_id, key_id, network) values ($1, $2, $3) returning id as "id: AclId""#,
        customer as CustomerId,
        key as KeyId,
        network,
    )
    .fetch_one(db)
    .await
}

/// An ACL of the customer's, with its key.
pub async fn acl(db: impl PgExecutor<'_>, customer: CustomerId, id: AclId) -> sqlx::Result<Option<Acl>> {
    sqlx::query_as!(
        Acl,
        r#"select id as "id: AclId", key_id as "key_id: KeyId", network from api_key_acls
           where customer_id = $1 and id = $2"#,
        customer as CustomerId,
        id as AclId,
    )
    .fetch_optional(db)
    .await
}

/// An ACL of the customer's, locked for a change.
pub async fn acl_for_update(db: impl PgExecutor<'_>, customer: CustomerId, id: AclId) -> sqlx::Result<Option<Acl>> {
    sqlx::query_as!(
        Acl,
        r#"select id as "id: AclId", key_id as "key_id: KeyId", network from api_key_acls
           where customer_id = $1 and id = $2 for update"#,
        customer as CustomerId,
        id as AclId,
    )
    .fetch_optional(db)
    .await
}

/// Sets an ACL's network; `false` when the customer has no such ACL.
pub async fn set_acl_network(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    id: AclId,
    network: IpNetwork,
) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "update api_key_acls set network = $3 where customer_id = $1 and id = $2",
        customer as CustomerId,
        id as AclId,
        network,
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Deletes an ACL; `false` when the customer has no such ACL.
pub async fn delete_acl(db: impl PgExecutor<'_>, customer: CustomerId, id: AclId) -> sqlx::Result<bool> {
    let deleted = sqlx::query!(
        "delete from api_key_acls where customer_id = $1 and id = $2",
        customer as CustomerId,
        id as AclId,
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(deleted > 0)
}

/// Who made an internal key: a staff member in the staff console, or an operator with
/// `berth create-key --internal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maker {
    Staff { id: i64, username: String },
    Operator(String),
}

impl Maker {
    /// How the key's owner is named: "staff sam", "operator root".
    pub fn describe(&self) -> String {
        match self {
            Self::Staff { username, .. } => format!("staff {username}"),
            Self::Operator(name) => format!("operator {name}"),
        }
    }

    /// The staff member who made it, if staff did.
    pub fn staff(&self) -> Option<i64> {
        match self {
            Self::Staff { id, .. } => Some(*id),
            Self::Operator(_) => None,
        }
    }
}
