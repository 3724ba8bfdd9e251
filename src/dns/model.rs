//! The DNS area's SQL: the records a customer edits (always through their own customer
//! id, so another's are not found), the claims a hostname meets, and the settings the
//! `pdns` views read (SOA, NS, reserved names, verification).

use sqlx::PgExecutor;

use crate::identity::CustomerId;
use crate::sites::model::{RecordType, SiteId};

crate::id_type!(
    /// A `dns_records.id`.
    RecordId
);

/// The constraint the same record twice breaks.
pub const SAME_RECORD: &str = "dns_records_same";

/// The most records one site may have.
pub const MAX_RECORDS: i64 = 500;

/// A record as stored.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: RecordId,
    pub site_id: SiteId,
    pub name: String,
    pub kind: RecordType,
    pub value: Option<String>,
    pub ttl: i32,
}

/// What a record is checked against: the site's hostnames (its zones and the names in
/// them) and the records it has.
#[derive(Debug, Clone)]
pub struct SiteZone {
    pub site: SiteId,
    /// The site's own hostname: relative names are under it.
    pub hostname: String,
    pub hostnames: Vec<String>,
}

/// The customer's site with its hostnames, locked until the transaction ends: record
/// changes of one site happen one after the other, so the CNAME rule holds. A deleted
/// site has no records to change: `None`, as for another customer's.
pub async fn lock_site(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<SiteZone>> {
    let row = sqlx::query!(
        r#"select s.id as "id: SiteId", s.hostname,
                  array(select h.hostname from hostnames h where h.customer_id = $1 and h.site_id = s.id
                        order by length(h.hostname), h.hostname) as "hostnames!"
           from sites s where s.customer_id = $1 and s.id = $2 and s.status <> 'deleted' for update of s"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| SiteZone {
        site: row.id,
        hostname: row.hostname,
        hostnames: row.hostnames,
    }))
}

/// The site whose hostname is the closest one on the platform that `name` is or is under
/// (the zone PowerDNS answers it from), with its customer; `None` when it is under no
/// hostname at all.
pub async fn owner_of_name(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Option<(CustomerId, SiteId)>> {
    let suffixes = suffixes(name);
    let row = sqlx::query!(
        r#"select customer_id as "customer: CustomerId", site_id as "site: SiteId" from hostnames
           where hostname = any($1) order by length(hostname) desc limit 1"#,
        &suffixes,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.customer, r.site)))
}

/// `a.b.c` → `a.b.c`, `b.c`, `c`.
pub fn suffixes(name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    let mut rest = name;
    while let Some((_, tail)) = rest.split_once('.') {
        out.push(tail.to_owned());
        rest = tail;
    }
    out
}

/// One record of the customer's.
pub async fn record(db: impl PgExecutor<'_>, customer: CustomerId, id: RecordId) -> sqlx::Result<Option<Record>> {
    sqlx::query_as!(
        Record,
        r#"select id as "id: RecordId", site_id as "site_id: SiteId", name, type as "kind: RecordType", value, ttl
           from dns_records where customer_id = $1 and id = $2"#,
        customer as CustomerId,
        id as RecordId,
    )
    .fetch_optional(db)
    .await
}

/// The records of the customer's site at `name`.
pub async fn records_at(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    name: &str,
) -> sqlx::Result<Vec<Record>> {
    sqlx::query_as!(
        Record,
        r#"select id as "id: RecordId", site_id as "site_id: SiteId", name, type as "kind: RecordType", value, ttl
           from dns_records where customer_id = $1 and site_id = $2 and name = $3 order by id"#,
        customer as CustomerId,
        site as SiteId,
        name,
    )
    .fetch_all(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from dns_records where customer_id = $1 and site_id = $2"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_one(db)
    .await
}

/// A record's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub name: String,
    pub kind: RecordType,
    pub value: String,
    pub ttl: i32,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    fields: &Fields,
) -> sqlx::Result<RecordId> {
    sqlx::query_scalar!(
        r#"insert into dns_records (customer_id, site_id, name, type, value, ttl) values ($1, $2, $3, $4, $5, $6)
           returning id as "id: RecordId""#,
        customer as CustomerId,
        site as SiteId,
        fields.name,
        fields.kind as RecordType,
        fields.value,
        fields.ttl,
    )
    .fetch_one(db)
    .await
}

/// Changes the customer's record; false when there is no such record of theirs.
pub async fn update(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    id: RecordId,
    fields: &Fields,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update dns_records set name = $3, type = $4, value = $5, ttl = $6 where customer_id = $1 and id = $2",
        customer as CustomerId,
        id as RecordId,
        fields.name,
        fields.kind as RecordType,
        fields.value,
        fields.ttl,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the customer's record; false when there is no such record of theirs.
pub async fn delete(db: impl PgExecutor<'_>, customer: CustomerId, id: RecordId) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from dns_records where customer_id = $1 and id = $2",
        customer as CustomerId,
        id as RecordId,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---- claims on hostnames ----------------------------------------------------------------

/// Why a hostname cannot be claimed, as facts: it is (or is under) a reserved name, or it
/// nests with another customer's hostname (under it, or above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub reserved: bool,
    pub nested_with_another: bool,
}

pub async fn claim(db: impl PgExecutor<'_>, customer: CustomerId, hostname: &str) -> sqlx::Result<Claim> {
    let suffixes = suffixes(hostname);
    let row = sqlx::query!(
        r#"select exists(select 1 from dns_settings s, unnest(s.reserved) r where r = any($2)) as "reserved!",
                  (exists(select 1 from hostnames h where h.customer_id <> $1 and h.hostname = any($2))
                   -- under it: reversed, `moc.elpmaxe.` up to `moc.elpmaxe/` (hostnames_reversed)
                   or exists(select 1 from hostnames h where h.customer_id <> $1
                             and reverse(h.hostname) collate "C" > reverse('.' || $3) collate "C"
                             and reverse(h.hostname) collate "C" < reverse('/' || $3) collate "C"))
                      as "nested!""#,
        customer as CustomerId,
        &suffixes,
        hostname,
    )
    .fetch_one(db)
    .await?;
    Ok(Claim {
        reserved: row.reserved,
        nested_with_another: row.nested,
    })
}

// ---- the settings the views read --------------------------------------------------------

/// `dns_settings`: the SOA and NS of every zone, reserved names, verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub soa_mname: String,
    pub hostmaster: String,
    pub nameservers: Vec<String>,
    pub reserved: Vec<String>,
    pub verify: bool,
}

pub async fn write_settings(db: impl PgExecutor<'_>, settings: &Settings) -> sqlx::Result<()> {
    sqlx::query!(
        "update dns_settings set soa_mname = $1, hostmaster = $2, nameservers = $3, reserved = $4, verify = $5,
                updated_at = now()",
        settings.soa_mname,
        settings.hostmaster,
        &settings.nameservers,
        &settings.reserved,
        settings.verify,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn settings(db: impl PgExecutor<'_>) -> sqlx::Result<Settings> {
    sqlx::query_as!(
        Settings,
        "select soa_mname, hostmaster, nameservers, reserved, verify from dns_settings",
    )
    .fetch_one(db)
    .await
}

// ---- verification -----------------------------------------------------------------------

/// The site's token and its zones not shown to be the customer's yet.
#[derive(Debug, Clone)]
pub struct Verification {
    pub token: String,
    pub unverified: Vec<String>,
}

pub async fn verification(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<Verification>> {
    let row = sqlx::query!(
        r#"select s.dns_token,
                  array(select z.name from dns_zones z where z.customer_id = $1 and z.site_id = s.id
                        and not z.verified order by z.name) as "unverified!"
           from sites s where s.customer_id = $1 and s.id = $2"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| Verification {
        token: row.dns_token,
        unverified: row.unverified,
    }))
}

/// Records that the customer showed control of `zone`, a zone of their site.
pub async fn mark_verified(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    zone: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into dns_verified (hostname)
         select name from dns_zones where customer_id = $1 and site_id = $2 and name = $3
         on conflict do nothing",
        customer as CustomerId,
        site as SiteId,
        zone,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
