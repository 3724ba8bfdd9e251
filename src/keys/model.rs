//! API keys and their ACLs: creating, listing, revoking, the ACL changes with their limits,
//! and `verify`, the check every API request goes through. Every query of a key or an ACL
//! filters by its customer.

use std::net::IpAddr;

use serde::Serialize;
use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::activity::model::record;
use crate::customer::CustomerId;
use crate::keys::network::{self, AclNetwork};
use crate::keys::secret::{self, Secret};

/// At most this many keys that are not revoked, per customer.
pub const MAX_ACTIVE_KEYS: i64 = 25;
/// At most this many ACLs per key.
pub const MAX_ACLS: i64 = 50;

/// Who acts when the API checks a key: the key itself.
pub const BY_API: &str = "api";

crate::id_type!(KeyId, AclId);

/// A key's name: 1 to 64 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl std::str::FromStr for KeyName {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        crate::web::form::one_line(raw, 64, "Give the key a name, such as \"deploy script\".").map(Self)
    }
}

impl KeyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key may do: `standard` everything, `read-only` only what changes nothing;
/// `internal` (created by staff) may act for any customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    Standard,
    ReadOnly,
    Internal,
}

impl KeyType {
    pub const ALL: [KeyType; 3] = [Self::Standard, Self::ReadOnly, Self::Internal];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::ReadOnly => "read-only",
            Self::Internal => "internal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw.trim())
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

const KEY_COLUMNS: &str =
    "k.id, k.name, k.type, k.prefix, k.created_at, k.last_used_at, k.last_used_address, k.revoked_at";

/// Fills in each key's ACLs, oldest first.
async fn with_acls(db: impl PgExecutor<'_>, customer: CustomerId, mut keys: Vec<Key>) -> sqlx::Result<Vec<Key>> {
    let ids: Vec<i64> = keys.iter().map(|k| k.id.0).collect();
    let acls: Vec<Acl> = sqlx::query_as(
        "select id, key_id, network from api_key_acls where customer_id = $1 and key_id = any($2) order by id",
    )
    .bind(customer)
    .bind(&ids)
    .fetch_all(db)
    .await?;
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
    Ok((with_acls(db, customer, keys).await?, total))
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
        Some(key) => Ok(with_acls(db, customer, vec![key]).await?.pop()),
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
    record(&mut *tx, customer, actor, "api_key_created", &detail, address).await?;
    Ok(Ok(Created { id, prefix, secret }))
}

/// Revokes a key of the customer's. A revoked key stays, marked, for the record.
pub async fn revoke(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    id: KeyId,
    address: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let Some((name, prefix, revoked)) = sqlx::query_as::<_, (String, String, bool)>(
        "select name, prefix, revoked_at is not null from api_keys where customer_id = $1 and id = $2 for update",
    )
    .bind(customer)
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
    forget_verified();
    record(
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
    forget_verified();
    record(&mut *tx, customer, actor, "api_key_acl_added", &detail, address).await?;
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

/// Replaces an ACL's network (updateKeyACL). `new` is computed by the caller from the parts
/// it was given and the ACL's current network.
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
    forget_verified();
    record(&mut *tx, customer, actor, "api_key_acl_changed", &detail, address).await?;
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
    forget_verified();
    record(&mut *tx, customer, actor, "api_key_acl_deleted", &detail, address).await?;
    Ok(Ok(()))
}

/// Whom a presented key acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key: KeyId,
    pub customer: CustomerId,
    pub kind: KeyType,
    /// The key's visible prefix, to name it in the Activity log.
    pub prefix: String,
}

/// Why a presented key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    /// The customer's account is cancelled: its keys no longer work.
    Closed,
    AddressNotAllowed,
}

#[derive(sqlx::FromRow)]
struct Presented {
    id: KeyId,
    customer_id: CustomerId,
    #[sqlx(rename = "type")]
    kind: String,
    prefix: String,
    revoked: bool,
    closed: bool,
    networks: Vec<IpNetwork>,
}

/// A key as `verify` read it, with when it last wrote about each client address (a use, or a
/// refusal), so that a busy script does not write on every call.
struct Verified {
    key: Option<Presented>,
    written: std::sync::Mutex<std::collections::HashMap<(bool, IpAddr), std::time::Instant>>,
}

impl Verified {
    /// Whether a use (or refusal) from `client` is to be written now: not in the last minute.
    fn due(&self, refused: bool, client: IpAddr) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match written.get(&(refused, client)) {
            Some(at) if now.duration_since(*at) < std::time::Duration::from_secs(60) => false,
            _ => {
                written.insert((refused, client), now);
                true
            }
        }
    }
}

/// How long `verify` trusts what it read of a key. A revocation or an ACL change made in
/// this process clears it at once ([`forget_verified`]); other processes (replicas) see it
/// within this time.
pub const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Keys `verify` read recently, by the SHA-256 of their secret (unknown secrets too).
static VERIFIED: std::sync::LazyLock<moka::future::Cache<[u8; 32], std::sync::Arc<Verified>>> =
    std::sync::LazyLock::new(|| {
        moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(VERIFIED_FOR)
            .build()
    });

/// Drops what `verify` remembers, after a key was revoked or its ACLs changed, or an
/// account closed.
pub(crate) fn forget_verified() {
    VERIFIED.invalidate_all();
}

/// The check behind every API request: the key the secret belongs to, whether it is
/// revoked, and whether `client` is inside its ACLs. What it read of a key is kept for
/// [`VERIFIED_FOR`], so a busy key costs no query on most calls. Records the key's last use
/// and, in the customer's Activity, a refusal for an address outside the ACLs: each at most
/// once a minute per key and address.
pub async fn verify(db: &sqlx::PgPool, presented: &str, client: IpAddr) -> sqlx::Result<Result<Principal, Refusal>> {
    if !presented.starts_with(secret::MARK) || presented.len() > 128 {
        return Ok(Err(Refusal::Unknown));
    }
    let hash = secret::hash(presented);
    let verified = match VERIFIED.get(&hash).await {
        Some(verified) => verified,
        None => {
            let key: Option<Presented> = sqlx::query_as(
                "select k.id, k.customer_id, k.type, k.prefix, k.revoked_at is not null as revoked,
                        c.status = 'cancelled' as closed,
                        coalesce(array_agg(a.network) filter (where a.id is not null), '{}') as networks
                 from api_keys k join customers c on c.id = k.customer_id
                 left join api_key_acls a on a.key_id = k.id
                 where k.secret_hash = $1 group by k.id, c.status",
            )
            .bind(hash.as_slice())
            .fetch_optional(db)
            .await?;
            let verified = std::sync::Arc::new(Verified {
                key,
                written: Default::default(),
            });
            VERIFIED.insert(hash, verified.clone()).await;
            verified
        }
    };
    let Some(key) = &verified.key else {
        return Ok(Err(Refusal::Unknown));
    };
    if key.revoked {
        return Ok(Err(Refusal::Revoked));
    }
    if key.closed {
        return Ok(Err(Refusal::Closed));
    }
    if network::verdict(&key.networks, client) == network::Verdict::Outside {
        if verified.due(true, client) {
            let detail = format!("{} from {client}: outside its ACLs", key.prefix);
            record(db, key.customer_id, BY_API, "api_key_refused", &detail, Some(client)).await?;
        }
        return Ok(Err(Refusal::AddressNotAllowed));
    }
    if verified.due(false, client) {
        sqlx::query(
            "update api_keys set last_used_at = now(), last_used_address = $2
             where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute'
                                or last_used_address is distinct from $2)",
        )
        .bind(key.id)
        .bind(client)
        .execute(db)
        .await?;
    }
    let kind = KeyType::parse(&key.kind).unwrap_or(KeyType::ReadOnly);
    Ok(Ok(Principal {
        key: key.id,
        customer: key.customer_id,
        kind,
        prefix: key.prefix.clone(),
    }))
}
