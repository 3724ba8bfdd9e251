//! IP addresses from the platform pool: the domain types and the queries (the decisions are
//! in `ops`): taking the next free one, the customer's addresses with what holds them,
//! reverse DNS names, and giving an address back. Every query of a held address filters by
//! its customer.

use std::net::IpAddr;

use sqlx::types::ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::audit;
use crate::identity::{CustomerId, Who};
use crate::sites::names::Hostname;

/// Which kind of address to take from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "ipv4" | "4" => Some(Self::V4),
            "ipv6" | "6" => Some(Self::V6),
            _ => None,
        }
    }

    /// How the form and the API name it: `ipv4`, `ipv6`.
    pub fn name(self) -> &'static str {
        match self {
            Self::V4 => "ipv4",
            Self::V6 => "ipv6",
        }
    }

    pub fn number(self) -> i32 {
        match self {
            Self::V4 => 4,
            Self::V6 => 6,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }

    /// The family of `address`.
    pub fn of(address: IpAddr) -> Self {
        if address.is_ipv4() { Self::V4 } else { Self::V6 }
    }
}

/// A reverse DNS name: a valid hostname, stored in ASCII; empty clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseName(Option<Hostname>);

impl std::str::FromStr for ReverseName {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.trim().is_empty() {
            return Ok(Self(None));
        }
        raw.parse().map(|h| Self(Some(h)))
    }
}

impl ReverseName {
    pub fn ascii(&self) -> Option<&str> {
        self.0.as_ref().map(Hostname::ascii)
    }
}

/// An address the customer holds, with what it is attached to (getDetailedIpAddresses).
#[derive(Debug, Clone)]
pub struct Held {
    pub address: IpAddr,
    pub family: i32,
    pub reverse_dns: Option<String>,
    pub allocated_at: Option<OffsetDateTime>,
    pub container: Option<String>,
    pub site_id: Option<i64>,
    pub site: Option<String>,
}

impl Held {
    pub fn family_label(&self) -> &'static str {
        if self.family == 6 { "IPv6" } else { "IPv4" }
    }

    pub fn reverse_dns_unicode(&self) -> String {
        self.reverse_dns
            .as_deref()
            .map(crate::sites::names::to_unicode)
            .unwrap_or_default()
    }

    /// The prefix of the ids of its reverse DNS form's fields: `rdns-203-0-113-5`.
    pub fn form_prefix(&self) -> String {
        format!("rdns-{}", self.address.to_string().replace([':', '.'], "-"))
    }

    /// What holds it, as a sentence part: "container web of site My shop".
    pub fn holder(&self) -> Option<String> {
        let container = self.container.as_deref()?;
        Some(match &self.site {
            Some(site) => format!("container {container} of site {site}"),
            None => format!("container {container}"),
        })
    }
}

/// The customer's addresses, IPv4 first, in address order.
pub async fn held(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<Held>> {
    sqlx::query_as!(
        Held,
        r#"select p.address as "address: IpAddr", family(p.address) as "family!", p.reverse_dns, p.allocated_at,
                  c.name as "container?", s.id as "site_id?", s.name as "site?"
           from ip_pool p
           left join containers c on c.id = p.container_id
           left join sites s on s.id = c.site_id
           where p.customer_id = $1
           order by p.address"#,
        customer as CustomerId,
    )
    .fetch_all(db)
    .await
}

/// One address of the customer's.
pub async fn one(db: impl PgExecutor<'_>, customer: CustomerId, address: IpAddr) -> sqlx::Result<Option<Held>> {
    sqlx::query_as!(
        Held,
        r#"select p.address as "address: IpAddr", family(p.address) as "family!", p.reverse_dns, p.allocated_at,
                  c.name as "container?", s.id as "site_id?", s.name as "site?"
           from ip_pool p
           left join containers c on c.id = p.container_id
           left join sites s on s.id = c.site_id
           where p.customer_id = $1 and p.address = $2"#,
        customer as CustomerId,
        IpNetwork::from(address),
    )
    .fetch_optional(db)
    .await
}

/// One address of the customer's, locked for a change.
pub async fn one_for_update(
    tx: &mut PgConnection,
    customer: CustomerId,
    address: IpAddr,
) -> sqlx::Result<Option<Held>> {
    sqlx::query_as!(
        Held,
        r#"select p.address as "address: IpAddr", family(p.address) as "family!", p.reverse_dns, p.allocated_at,
                  c.name as "container?", s.id as "site_id?", s.name as "site?"
           from ip_pool p
           left join containers c on c.id = p.container_id
           left join sites s on s.id = c.site_id
           where p.customer_id = $1 and p.address = $2
           for update of p"#,
        customer as CustomerId,
        IpNetwork::from(address),
    )
    .fetch_optional(&mut *tx)
    .await
}

/// How many free addresses of each family the pool has.
pub async fn free_counts(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"select count(*) filter (where family(address) = 4) as "v4!", count(*) filter (where family(address) = 6) as "v6!"
           from ip_pool where customer_id is null"#,
    )
    .fetch_one(db)
    .await?;
    Ok((row.v4, row.v6))
}

/// How many addresses of each family a customer may hold: (IPv4, IPv6).
pub async fn quotas(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<(i32, i32)>> {
    let row = sqlx::query!(
        "select ipv4_quota, ipv6_quota from customers where id = $1",
        customer as CustomerId
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.ipv4_quota, r.ipv6_quota)))
}

/// How many addresses of each family a customer holds: (IPv4, IPv6).
pub async fn held_counts(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"select count(*) filter (where family(address) = 4) as "v4!", count(*) filter (where family(address) = 6) as "v6!"
           from ip_pool where customer_id = $1"#,
        customer as CustomerId,
    )
    .fetch_one(db)
    .await?;
    Ok((row.v4, row.v6))
}

/// The most a quota may be set to.
pub const MAX_QUOTA: i32 = 65_536;

/// Sets a customer's quotas (staff, support-write) and records it in their Activity;
/// `false` when there is no such customer. Addresses already held above a lowered quota
/// stay; only new ones are refused.
pub async fn set_quotas(tx: &mut PgConnection, who: &Who, ipv4: i32, ipv6: i32) -> sqlx::Result<bool> {
    let customer = who.customer;
    let before = sqlx::query!(
        "select ipv4_quota, ipv6_quota from customers where id = $1 for no key update",
        customer as CustomerId,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    let (old4, old6) = (before.ipv4_quota, before.ipv6_quota);
    sqlx::query!(
        "update customers set ipv4_quota = $2, ipv6_quota = $3 where id = $1",
        customer as CustomerId,
        ipv4,
        ipv6,
    )
    .execute(&mut *tx)
    .await?;
    if (old4, old6) != (ipv4, ipv6) {
        let detail = format!("IPv4 {old4} → {ipv4}, IPv6 {old6} → {ipv6}");
        audit::record(&mut *tx, who, "address_quota_changed", &detail).await?;
    }
    Ok(true)
}

/// Locks the customer's row and reads their quota of `family`: parallel requests then count
/// one after another and together never pass the quota.
pub async fn lock_quota(tx: &mut PgConnection, customer: CustomerId, family: Family) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        r#"select case when $2 = 4 then ipv4_quota else ipv6_quota end as "quota!"
           from customers where id = $1 for no key update"#,
        customer as CustomerId,
        family.number(),
    )
    .fetch_one(&mut *tx)
    .await
}

/// How many addresses of `family` the customer holds.
pub async fn held_of(db: impl PgExecutor<'_>, customer: CustomerId, family: Family) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from ip_pool where customer_id = $1 and family(address) = $2"#,
        customer as CustomerId,
        family.number(),
    )
    .fetch_one(db)
    .await
}

/// Whether the pool has no free address of `family`.
pub async fn pool_empty(db: impl PgExecutor<'_>, family: Family) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select not exists (select 1 from ip_pool where customer_id is null and family(address) = $1) as "empty!""#,
        family.number(),
    )
    .fetch_one(db)
    .await
}

/// Takes `address` for the customer, if it is a free address of the pool.
pub async fn take(tx: &mut PgConnection, customer: CustomerId, address: IpAddr) -> sqlx::Result<Option<IpAddr>> {
    sqlx::query_scalar!(
        r#"update ip_pool set customer_id = $1, allocated_at = now()
           where address = $2 and customer_id is null returning host(address)::inet as "address!: IpAddr""#,
        customer as CustomerId,
        IpNetwork::from(address),
    )
    .fetch_optional(&mut *tx)
    .await
}

/// Takes the lowest free address of `family` for the customer. Parallel requests never get
/// the same address: a taken row is locked and skipped.
pub async fn take_next(tx: &mut PgConnection, customer: CustomerId, family: Family) -> sqlx::Result<Option<IpAddr>> {
    sqlx::query_scalar!(
        r#"with free as (
               select address from ip_pool where customer_id is null and family(address) = $2
               order by address limit 1 for update skip locked
           )
           update ip_pool p set customer_id = $1, allocated_at = now()
           from free where p.address = free.address
           returning host(p.address)::inet as "address!: IpAddr""#,
        customer as CustomerId,
        family.number(),
    )
    .fetch_optional(&mut *tx)
    .await
}

/// Sets or clears the reverse DNS name of an address the customer holds; `false` when they
/// hold no such address.
pub async fn set_reverse_dns(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    address: IpAddr,
    name: &ReverseName,
) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "update ip_pool set reverse_dns = $3 where customer_id = $1 and address = $2",
        customer as CustomerId,
        IpNetwork::from(address),
        name.ascii(),
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Gives an address of the customer's back to the pool.
pub async fn release(db: impl PgExecutor<'_>, customer: CustomerId, address: IpAddr) -> sqlx::Result<()> {
    sqlx::query!(
        "update ip_pool set customer_id = null, container_id = null, allocated_at = null, reverse_dns = null
         where customer_id = $1 and address = $2",
        customer as CustomerId,
        IpNetwork::from(address),
    )
    .execute(db)
    .await?;
    Ok(())
}
