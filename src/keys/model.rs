//! API keys and their ACLs: creating, listing, revoking, the ACL changes with their limits,
//! and `verify`, the check every API request goes through. Every query of a customer's key
//! or ACL filters by its customer; internal keys belong to the platform (no customer) and
//! have their own functions, used only by the staff console and `berth create-key`.

use std::net::IpAddr;

use serde::Serialize;
use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::audit::record_parts;
use crate::identity::CustomerId;
use crate::identity::network::AclNetwork;
use crate::identity::secret::Secret;
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

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Key {
    pub id: KeyId,
    pub name: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_address: Option<IpAddr>,
    pub revoked_at: Option<OffsetDateTime>,
    /// Internal keys only: who made it ("staff sam", "operator root").
    pub created_by: Option<String>,
    #[sqlx(skip)]
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

const KEY_COLUMNS: &str = "k.id, k.name, k.type, k.prefix, k.created_at, k.last_used_at, k.last_used_address, \
                           k.revoked_at, k.created_by";

/// Fills in each key's ACLs, oldest first: keys of `owner`, or with `None` the platform's.
async fn with_acls(db: impl PgExecutor<'_>, owner: Option<CustomerId>, mut keys: Vec<Key>) -> sqlx::Result<Vec<Key>> {
    let ids: Vec<i64> = keys.iter().map(|k| k.id.0).collect();
    // Two statements rather than `is not distinct from`, which no index serves.
    let sql = match owner {
        Some(_) => {
            "select id, key_id, network from api_key_acls where customer_id = $1 and key_id = any($2) order by id"
        }
        None => {
            "select id, key_id, network from api_key_acls where customer_id is null and $1::bigint is null and key_id = any($2) order by id"
        }
    };
    let acls: Vec<Acl> = sqlx::query_as(sql).bind(owner).bind(&ids).fetch_all(db).await?;
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
    let kind = kind.map(KeyType::as_str);
    let keys: Vec<Key> = sqlx::query_as(&format!(
        "select {KEY_COLUMNS} from api_keys k where customer_id = $1 and ($2::text is null or type = $2)
         order by id desc limit $3 offset $4"
    ))
    .bind(customer)
    .bind(kind)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total =
        sqlx::query_scalar("select count(*) from api_keys where customer_id = $1 and ($2::text is null or type = $2)")
            .bind(customer)
            .bind(kind)
            .fetch_one(db)
            .await?;
    Ok((with_acls(db, Some(customer), keys).await?, total))
}

/// Every key of the customer's (of `kind`, when given), newest first, with their ACLs
/// (getKeys), in one statement.
pub async fn all(db: &sqlx::PgPool, customer: CustomerId, kind: Option<KeyType>) -> sqlx::Result<Vec<Key>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        key: Key,
        acl: Option<AclId>,
        network: Option<IpNetwork>,
    }
    let sql = format!(
        "select {KEY_COLUMNS}, a.id as acl, a.network
         from api_keys k left join api_key_acls a on a.customer_id = k.customer_id and a.key_id = k.id
         where k.customer_id = $1{}
         order by k.id desc, a.id",
        if kind.is_some() { " and k.type = $2" } else { "" }
    );
    let mut query = sqlx::query_as::<_, Row>(&sql).bind(customer);
    if let Some(kind) = kind {
        query = query.bind(kind.as_str());
    }
    let mut keys: Vec<Key> = Vec::new();
    for row in query.fetch_all(db).await? {
        if keys.last().is_none_or(|k| k.id != row.key.id) {
            keys.push(row.key);
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
    let key: Option<Key> = sqlx::query_as(&format!(
        "select {KEY_COLUMNS} from api_keys k where customer_id = $1 and id = $2"
    ))
    .bind(customer)
    .bind(id)
    .fetch_optional(db)
    .await?;
    match key {
        Some(key) => Ok(with_acls(db, Some(customer), vec![key]).await?.pop()),
        None => Ok(None),
    }
}

/// Why a change to keys or ACLs was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No such key or ACL of this customer's.
    NotFound,
    Revoked,
    TooManyKeys,
    TooManyAcls,
    /// The key already has this network.
    Duplicate,
    /// The create form was submitted before: its key exists and its secret was shown.
    Repeated,
    /// An internal key was asked for a customer: internal keys are the platform's.
    Internal,
}

/// A key just created, with the secret that is shown this once.
#[derive(Debug)]
pub struct Created {
    pub id: KeyId,
    pub prefix: String,
    pub secret: Secret,
}

/// Creates a key; `form_token` makes a repeated submission of one form create nothing.
pub async fn create(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    name: &KeyName,
    kind: KeyType,
    form_token: Option<&str>,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<Created, Refused>> {
    if kind == KeyType::Internal {
        return Ok(Err(Refused::Internal));
    }
    // One creation at a time per customer, so the limit holds under parallel requests.
    sqlx::query("select 1 from customers where id = $1 for update")
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    let active: i64 = sqlx::query_scalar("select count(*) from api_keys where customer_id = $1 and revoked_at is null")
        .bind(customer)
        .fetch_one(&mut *tx)
        .await?;
    if form_token.is_some() {
        let repeated: bool =
            sqlx::query_scalar("select exists(select 1 from api_keys where customer_id = $1 and form_token = $2)")
                .bind(customer)
                .bind(form_token)
                .fetch_one(&mut *tx)
                .await?;
        if repeated {
            return Ok(Err(Refused::Repeated));
        }
    }
    if active >= MAX_ACTIVE_KEYS {
        return Ok(Err(Refused::TooManyKeys));
    }
    let secret = Secret::generate();
    let prefix = secret.prefix();
    let id = sqlx::query_scalar(
        "insert into api_keys (customer_id, name, type, prefix, secret_hash, form_token)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(customer)
    .bind(name.as_str())
    .bind(kind.as_str())
    .bind(&prefix)
    .bind(secret.hash().as_slice())
    .bind(form_token)
    .fetch_one(&mut *tx)
    .await?;
    let detail = format!("{} ({prefix}, {})", name.as_str(), kind.as_str());
    record_parts(&mut *tx, customer, actor, "api_key_created", &detail, address).await?;
    Ok(Ok(Created { id, prefix, secret }))
}

/// Revokes a key of the customer's. A revoked key stays, marked, for the record. The caller
/// clears the key cache ([`forget_verified`]) once the transaction has committed; like every
/// change below.
pub async fn revoke(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    id: KeyId,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let (name, prefix) = match mark_revoked(tx, Some(customer), id).await? {
        Ok(key) => key,
        Err(refused) => return Ok(Err(refused)),
    };
    record_parts(
        &mut *tx,
        customer,
        actor,
        "api_key_revoked",
        &format!("{name} ({prefix})"),
        address,
    )
    .await?;
    Ok(Ok(()))
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
}

/// Creates an internal key, the platform's: no customer lists, revokes or changes it.
pub async fn create_internal(tx: &mut PgConnection, maker: &Maker, name: &KeyName) -> sqlx::Result<Created> {
    let secret = Secret::generate();
    let prefix = secret.prefix();
    let staff = match maker {
        Maker::Staff { id, .. } => Some(*id),
        Maker::Operator(_) => None,
    };
    let id = sqlx::query_scalar(
        "insert into api_keys (customer_id, name, type, prefix, secret_hash, created_by, created_by_staff)
         values (null, $1, 'internal', $2, $3, $4, $5) returning id",
    )
    .bind(name.as_str())
    .bind(&prefix)
    .bind(secret.hash().as_slice())
    .bind(maker.describe())
    .bind(staff)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Created { id, prefix, secret })
}

/// Every internal key, newest first (the staff console's list), with their ACLs.
pub async fn internal_keys(db: &sqlx::PgPool) -> sqlx::Result<Vec<Key>> {
    let keys: Vec<Key> = sqlx::query_as(&format!(
        "select {KEY_COLUMNS} from api_keys k where customer_id is null order by id desc"
    ))
    .fetch_all(db)
    .await?;
    with_acls(db, None, keys).await
}

/// Revokes an internal key (staff console); the key's name and prefix for the log.
pub async fn revoke_internal(tx: &mut PgConnection, id: KeyId) -> sqlx::Result<Result<(String, String), Refused>> {
    mark_revoked(tx, None, id).await
}

/// Marks a key revoked: one of `owner`'s, or with `None` one of the platform's (internal).
/// Its name and prefix, or why not.
async fn mark_revoked(
    tx: &mut PgConnection,
    owner: Option<CustomerId>,
    id: KeyId,
) -> sqlx::Result<Result<(String, String), Refused>> {
    let Some((name, prefix, revoked)) = sqlx::query_as::<_, (String, String, bool)>(
        "select name, prefix, revoked_at is not null from api_keys
         where customer_id is not distinct from $1 and id = $2 for update",
    )
    .bind(owner)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Err(Refused::NotFound));
    };
    if revoked {
        return Ok(Err(Refused::Revoked));
    }
    sqlx::query("update api_keys set revoked_at = now() where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(Ok((name, prefix)))
}

/// Locks a key of the customer's for an ACL change; refuses a revoked one.
async fn lock_key(tx: &mut PgConnection, customer: CustomerId, id: KeyId) -> sqlx::Result<Result<String, Refused>> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "select prefix, revoked_at is not null from api_keys where customer_id = $1 and id = $2 for update",
    )
    .bind(customer)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match row {
        None => Err(Refused::NotFound),
        Some((_, true)) => Err(Refused::Revoked),
        Some((prefix, false)) => Ok(prefix),
    })
}

/// Whether the key already has `network` (other than the ACL `except`).
async fn has_network(
    tx: &mut PgConnection,
    key: KeyId,
    network: IpNetwork,
    except: Option<AclId>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists(select 1 from api_key_acls where key_id = $1 and network = $2
                       and ($3::bigint is null or id <> $3))",
    )
    .bind(key)
    .bind(network)
    .bind(except)
    .fetch_one(&mut *tx)
    .await
}

pub async fn add_acl(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    key: KeyId,
    acl: &AclNetwork,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<AclId, Refused>> {
    let prefix = match lock_key(tx, customer, key).await? {
        Ok(prefix) => prefix,
        Err(refused) => return Ok(Err(refused)),
    };
    let count: i64 = sqlx::query_scalar("select count(*) from api_key_acls where key_id = $1")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_ACLS {
        return Ok(Err(Refused::TooManyAcls));
    }
    if has_network(tx, key, acl.network, None).await? {
        return Ok(Err(Refused::Duplicate));
    }
    let id =
        sqlx::query_scalar("insert into api_key_acls (customer_id, key_id, network) values ($1, $2, $3) returning id")
            .bind(customer)
            .bind(key)
            .bind(acl.network)
            .fetch_one(&mut *tx)
            .await?;
    let detail = format!("{} on {prefix}", acl.network);
    record_parts(&mut *tx, customer, actor, "api_key_acl_added", &detail, address).await?;
    Ok(Ok(id))
}

/// An ACL of the customer's, with its key.
pub async fn acl(db: impl PgExecutor<'_>, customer: CustomerId, id: AclId) -> sqlx::Result<Option<Acl>> {
    sqlx::query_as("select id, key_id, network from api_key_acls where customer_id = $1 and id = $2")
        .bind(customer)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Locks the key of an ACL of the customer's for a change and reads the ACL inside that lock.
/// A change computed from what it holds (a partial updateKeyACL, the edit form's version
/// check) then sees the last change committed, never one that is about to be overwritten.
pub async fn lock_acl(tx: &mut PgConnection, customer: CustomerId, id: AclId) -> sqlx::Result<Result<Acl, Refused>> {
    let key: Option<KeyId> = sqlx::query_scalar("select key_id from api_key_acls where customer_id = $1 and id = $2")
        .bind(customer)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(key) = key else {
        return Ok(Err(Refused::NotFound));
    };
    if let Err(refused) = lock_key(tx, customer, key).await? {
        return Ok(Err(refused));
    }
    // Read again under the lock: this statement sees what a change before ours committed.
    let acl =
        sqlx::query_as("select id, key_id, network from api_key_acls where customer_id = $1 and id = $2 for update")
            .bind(customer)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(acl.ok_or(Refused::NotFound))
}

/// Replaces an ACL's network (updateKeyACL). `new` is computed by the caller from the parts
/// it was given and `current`, read by `lock_acl` in the same transaction.
pub async fn update_acl(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    current: &Acl,
    new: &AclNetwork,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let prefix = match lock_key(tx, customer, current.key_id).await? {
        Ok(prefix) => prefix,
        Err(refused) => return Ok(Err(refused)),
    };
    if has_network(tx, current.key_id, new.network, Some(current.id)).await? {
        return Ok(Err(Refused::Duplicate));
    }
    let updated = sqlx::query("update api_key_acls set network = $3 where customer_id = $1 and id = $2")
        .bind(customer)
        .bind(current.id)
        .bind(new.network)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if updated == 0 {
        return Ok(Err(Refused::NotFound));
    }
    let detail = format!("{} to {} on {prefix}", current.network, new.network);
    record_parts(&mut *tx, customer, actor, "api_key_acl_changed", &detail, address).await?;
    Ok(Ok(()))
}

pub async fn delete_acl(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    current: &Acl,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let prefix = match lock_key(tx, customer, current.key_id).await? {
        Ok(prefix) => prefix,
        Err(refused) => return Ok(Err(refused)),
    };
    let deleted = sqlx::query("delete from api_key_acls where customer_id = $1 and id = $2")
        .bind(customer)
        .bind(current.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(Err(Refused::NotFound));
    }
    let detail = format!("{} on {prefix}", current.network);
    record_parts(&mut *tx, customer, actor, "api_key_acl_deleted", &detail, address).await?;
    Ok(Ok(()))
}
