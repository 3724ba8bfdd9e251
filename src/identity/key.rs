//! API keys as the API sees them: whom a presented key acts for, and why one is refused.
//! The keys area manages keys; this is the check behind every API call (`api::Caller`).

use std::net::IpAddr;

use serde::Serialize;
use sqlx::types::ipnetwork::IpNetwork;

use crate::identity::CustomerId;
use crate::identity::network;
use crate::identity::secret;

/// Who acts when the API checks a key: the key itself.
pub const BY_API: &str = "api";

crate::id_type!(KeyId);

/// What a key may do: `standard` everything, `read-only` only what changes nothing;
/// `internal` (the platform's, made by staff in the staff console or by an operator with
/// `berth create-key --internal`) may act for any customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "kebab-case")]
#[sqlx(type_name = "text", rename_all = "kebab-case")]
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

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

struct Presented {
    id: KeyId,
    customer_id: Option<CustomerId>,
    kind: KeyType,
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
            let key = sqlx::query_as!(
                Presented,
                r#"select k.id as "id: KeyId", k.customer_id as "customer_id: CustomerId",
                        k.type as "kind: KeyType", k.prefix, k.created_by,
                        k.revoked_at is not null as "revoked!",
                        coalesce(c.status = 'cancelled', false) as "closed!",
                        coalesce(array_agg(a.network) filter (where a.id is not null), '{}') as "networks!: Vec<IpNetwork>"
                 from api_keys k left join customers c on c.id = k.customer_id
                 left join api_key_acls a on a.key_id = k.id
                 where k.secret_hash = $1 group by k.id, c.status"#,
                hash.as_slice(),
            )
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
        sqlx::query!(
            "update api_keys set last_used_at = now(), last_used_address = $2
             where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute'
                                or last_used_address is distinct from $2)",
            key.id as KeyId,
            IpNetwork::from(client),
        )
        .execute(db)
        .await?;
    }
    Ok(Ok(Principal {
        key: key.id,
        customer: key.customer_id,
        kind: key.kind,
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
    sqlx::query!(
        "select 1 as locked from api_keys where id = $1 for update",
        key as KeyId
    )
    .fetch_optional(&mut *tx)
    .await?;
    let window = sqlx::query!(
        "select id, activity_id, refusals, addresses from api_key_refusals
         where key_id = $1 and started_at > now() - make_interval(mins => $2)
         order by started_at desc limit 1",
        key as KeyId,
        REFUSALS_WINDOW_MINUTES,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|w| (w.id, w.activity_id, w.refusals, w.addresses));
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
            sqlx::query!(
                "update activity set detail = $3, at = now(), address = $4 where id = $1 and customer_id = $2",
                activity,
                customer as CustomerId,
                detail,
                client_net,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "update api_key_refusals set refusals = refusals + 1,
                        addresses = case when $2 = any(addresses) then addresses else addresses || $2 end
                 where id = $1",
                id,
                client_net,
            )
            .execute(&mut *tx)
            .await?;
        }
        None => {
            let activity = sqlx::query_scalar!(
                "insert into activity (customer_id, actor, kind, detail, address)
                 values ($1, $2, 'api_key_refused', $3, $4) returning id",
                customer as CustomerId,
                BY_API,
                detail,
                client_net,
            )
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query!(
                "insert into api_key_refusals (key_id, activity_id, addresses) values ($1, $2, $3)",
                key as KeyId,
                activity,
                &[client_net] as &[IpNetwork],
            )
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
