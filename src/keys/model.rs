//! API keys and their ACLs: creating, listing, revoking, the ACL changes with their limits,
//! and `verify`, the check every API request goes through. Every query of a customer's key
//! or ACL filters by its customer; internal keys belong to the platform (no customer) and
//! have their own functions, used only by the staff console and `berth create-key`.

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
/// `internal` (the platform's, made by staff in the staff console or by an operator with
/// `berth create-key --internal`) may act for any customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    Standard,
    ReadOnly,
    Internal,
}

impl KeyType {
    pub const ALL: [KeyType; 3] = [Self::Standard, Self::ReadOnly, Self::Internal];
    /// The types a customer's own key may have.
    pub const CUSTOMER: [KeyType; 2] = [Self::Standard, Self::ReadOnly];

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
    record(&mut *tx, customer, actor, "api_key_created", &detail, address).await?;
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
    record(&mut *tx, customer, actor, "api_key_acl_deleted", &detail, address).await?;
    Ok(Ok(()))
}

/// Whom a presented key acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key: KeyId,
    /// The key's customer; `None` for an internal key, which is the platform's.
    pub customer: Option<CustomerId>,
    pub kind: KeyType,
    /// The key's visible prefix, to name it in the Activity log.
    pub prefix: String,
    /// Internal keys: who made it ("staff sam", "operator root").
    pub created_by: Option<String>,
}

/// Why a presented key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    /// The customer's account is cancelled: its keys no longer work.
    Closed,
    /// The client is outside the key's ACLs. Not yet recorded: the caller first holds the
    /// key to its rate, then records it with [`record_refusal`].
    AddressNotAllowed {
        key: KeyId,
        customer: Option<CustomerId>,
        prefix: String,
    },
}

#[derive(sqlx::FromRow)]
struct Presented {
    id: KeyId,
    customer_id: Option<CustomerId>,
    #[sqlx(rename = "type")]
    kind: String,
    prefix: String,
    created_by: Option<String>,
    revoked: bool,
    closed: bool,
    networks: Vec<IpNetwork>,
}

/// A key as `verify` read it, with when it last wrote about each client address, so that a
/// busy script does not write its last use on every call.
struct Verified {
    key: Option<Presented>,
    /// [`GENERATION`] when it was read: an entry of an older generation is not trusted.
    generation: u64,
    written: std::sync::Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

impl Verified {
    /// Whether a use from `client` is to be written now: not in the last minute.
    fn due(&self, client: IpAddr) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match written.get(&client) {
            Some(at) if now.duration_since(*at) < std::time::Duration::from_secs(60) => false,
            _ => {
                written.insert(client, now);
                true
            }
        }
    }
}

/// How long `verify` trusts what it read of a key. A revocation or an ACL change made in
/// this process clears it at once, after its commit ([`forget_verified`]); other processes
/// (replicas) see it within this time.
pub const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Keys `verify` read recently, by the SHA-256 of their secret (unknown secrets too).
static VERIFIED: std::sync::LazyLock<moka::future::Cache<[u8; 32], std::sync::Arc<Verified>>> =
    std::sync::LazyLock::new(|| {
        moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(VERIFIED_FOR)
            .build()
    });

/// Moves on with every [`forget_verified`]. A read that began before a change committed
/// can finish (and be cached) after the cache was cleared; its entry carries the generation
/// it began in, so it is not trusted afterwards.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Drops what `verify` remembers. Call it after the transaction that revoked a key,
/// changed its ACLs or closed an account has COMMITTED: cleared before, a request arriving
/// in between would read (and keep for [`VERIFIED_FOR`]) the key as it was.
pub fn forget_verified() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    VERIFIED.invalidate_all();
}

/// The check behind every API request: the key the secret belongs to, whether it is
/// revoked, and whether `client` is inside its ACLs. What it read of a key is kept for
/// [`VERIFIED_FOR`], so a busy key costs no query on most calls. Records the key's last use,
/// at most once a minute per key and address. A refusal for an address outside the ACLs is
/// returned unrecorded (see [`Refusal::AddressNotAllowed`]).
pub async fn verify(db: &sqlx::PgPool, presented: &str, client: IpAddr) -> sqlx::Result<Result<Principal, Refusal>> {
    if !presented.starts_with(secret::MARK) || presented.len() > 128 {
        return Ok(Err(Refusal::Unknown));
    }
    let hash = secret::hash(presented);
    // Read before the key is: a change committed after this moment moves it on.
    let generation = GENERATION.load(std::sync::atomic::Ordering::SeqCst);
    let verified = match VERIFIED.get(&hash).await.filter(|v| v.generation == generation) {
        Some(verified) => verified,
        None => {
            let key: Option<Presented> = sqlx::query_as(
                "select k.id, k.customer_id, k.type, k.prefix, k.created_by, k.revoked_at is not null as revoked,
                        coalesce(c.status = 'cancelled', false) as closed,
                        coalesce(array_agg(a.network) filter (where a.id is not null), '{}') as networks
                 from api_keys k left join customers c on c.id = k.customer_id
                 left join api_key_acls a on a.key_id = k.id
                 where k.secret_hash = $1 group by k.id, c.status",
            )
            .bind(hash.as_slice())
            .fetch_optional(db)
            .await?;
            let verified = std::sync::Arc::new(Verified {
                key,
                generation,
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
        return Ok(Err(Refusal::AddressNotAllowed {
            key: key.id,
            customer: key.customer_id,
            prefix: key.prefix.clone(),
        }));
    }
    if verified.due(client) {
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
        created_by: key.created_by.clone(),
    }))
}

/// Refused uses of one key are gathered into one Activity row per this many minutes.
pub const REFUSALS_WINDOW_MINUTES: i32 = 10;
/// At most this many of the refused addresses are named in that row.
const REFUSALS_NAMED: usize = 5;

/// Records a refused use of a customer's key from outside its ACLs: the first in
/// [`REFUSALS_WINDOW_MINUTES`] adds an Activity row, the next ones update that row in place
/// ("refused 40 times from 3 addresses in the last 10 minutes"). The caller has held the key
/// to its rate first, so a flood is refused without writing.
pub async fn record_refusal(
    db: &sqlx::PgPool,
    key: KeyId,
    customer: CustomerId,
    prefix: &str,
    client: IpAddr,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    // One refusal of the key at a time, so parallel ones share one window.
    sqlx::query("select 1 from api_keys where id = $1 for update")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    let window: Option<(i64, i64, i32, Vec<IpNetwork>)> = sqlx::query_as(
        "select id, activity_id, refusals, addresses from api_key_refusals
         where key_id = $1 and started_at > now() - make_interval(mins => $2)
         order by started_at desc limit 1",
    )
    .bind(key)
    .bind(REFUSALS_WINDOW_MINUTES)
    .fetch_optional(&mut *tx)
    .await?;
    let client_net = IpNetwork::from(client);
    let (refusals, addresses) = match &window {
        Some((_, _, refusals, addresses)) => {
            let mut addresses: Vec<IpAddr> = addresses.iter().map(|a| a.ip()).collect();
            if !addresses.contains(&client) {
                addresses.push(client);
            }
            (refusals + 1, addresses)
        }
        None => (1, vec![client]),
    };
    let detail = refusal_detail(prefix, refusals, &addresses);
    match window {
        Some((id, activity, _, _)) => {
            sqlx::query("update activity set detail = $3, at = now(), address = $4 where id = $1 and customer_id = $2")
                .bind(activity)
                .bind(customer)
                .bind(&detail)
                .bind(client)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "update api_key_refusals set refusals = refusals + 1,
                        addresses = case when $2 = any(addresses) then addresses else addresses || $2 end
                 where id = $1",
            )
            .bind(id)
            .bind(client_net)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            let activity: i64 = sqlx::query_scalar(
                "insert into activity (customer_id, actor, kind, detail, address)
                 values ($1, $2, 'api_key_refused', $3, $4) returning id",
            )
            .bind(customer)
            .bind(BY_API)
            .bind(&detail)
            .bind(client)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("insert into api_key_refusals (key_id, activity_id, addresses) values ($1, $2, $3)")
                .bind(key)
                .bind(activity)
                .bind(vec![client_net])
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

/// "berth_ab12cd34 refused 40 times from 3 addresses in the last 10 minutes, outside its
/// ACLs (198.51.100.1, 2001:db8::1, …)".
fn refusal_detail(prefix: &str, refusals: i32, addresses: &[IpAddr]) -> String {
    let times = if refusals == 1 {
        "once".to_owned()
    } else {
        format!("{refusals} times")
    };
    let from = if addresses.len() == 1 {
        "1 address".to_owned()
    } else {
        format!("{} addresses", addresses.len())
    };
    let mut named: Vec<String> = addresses.iter().take(REFUSALS_NAMED).map(ToString::to_string).collect();
    if addresses.len() > REFUSALS_NAMED {
        named.push("…".to_owned());
    }
    format!(
        "{prefix} refused {times} from {from} in the last {REFUSALS_WINDOW_MINUTES} minutes, outside its ACLs ({})",
        named.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_in_one_line() {
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            refusal_detail("berth_ab12cd34", 1, &[a]),
            "berth_ab12cd34 refused once from 1 address in the last 10 minutes, outside its ACLs (198.51.100.1)"
        );
        assert_eq!(
            refusal_detail("berth_ab12cd34", 40, &[a, b]),
            "berth_ab12cd34 refused 40 times from 2 addresses in the last 10 minutes, outside its ACLs \
             (198.51.100.1, 2001:db8::1)"
        );
        let many: Vec<IpAddr> = (1..=7).map(|i| format!("192.0.2.{i}").parse().unwrap()).collect();
        assert!(refusal_detail("p", 7, &many).ends_with("192.0.2.5, …)"));
    }
}
