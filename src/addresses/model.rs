//! IP addresses from the platform pool: taking the next free one, the customer's addresses
//! with what holds them, reverse DNS names, and giving an address back. Every query of a
//! held address filters by its customer.

use std::net::IpAddr;

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::audit::record_parts;
use crate::identity::CustomerId;
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
#[derive(Debug, Clone, sqlx::FromRow)]
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

const HELD: &str = "select p.address, family(p.address) as family, p.reverse_dns, p.allocated_at,
        c.name as container, s.id as site_id, s.name as site
     from ip_pool p
     left join containers c on c.id = p.container_id
     left join sites s on s.id = c.site_id
     where p.customer_id = $1";

/// The customer's addresses, IPv4 first, in address order.
pub async fn held(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<Held>> {
    sqlx::query_as(&format!("{HELD} order by p.address"))
        .bind(customer)
        .fetch_all(db)
        .await
}

/// One address of the customer's.
pub async fn one(db: impl PgExecutor<'_>, customer: CustomerId, address: IpAddr) -> sqlx::Result<Option<Held>> {
    sqlx::query_as(&format!("{HELD} and p.address = $2"))
        .bind(customer)
        .bind(address)
        .fetch_optional(db)
        .await
}

/// How many free addresses of each family the pool has.
pub async fn free_counts(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "select count(*) filter (where family(address) = 4), count(*) filter (where family(address) = 6)
         from ip_pool where customer_id is null",
    )
    .fetch_one(db)
    .await
}

/// Why an address could not be taken or given back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No free address of that family.
    PoolEmpty,
    /// The named address is not in the pool, or not free.
    NotFree,
    /// The customer holds no such address.
    NotFound,
    /// A container holds it: "container web of site My shop".
    Attached(String),
    /// The customer holds `held` addresses of the family, and may hold `quota`.
    OverQuota { held: i64, quota: i32 },
}

/// How many addresses of each family a customer may hold: (IPv4, IPv6).
pub async fn quotas(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<(i32, i32)>> {
    sqlx::query_as("select ipv4_quota, ipv6_quota from customers where id = $1")
        .bind(customer)
        .fetch_optional(db)
        .await
}

/// How many addresses of each family a customer holds: (IPv4, IPv6).
pub async fn held_counts(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "select count(*) filter (where family(address) = 4), count(*) filter (where family(address) = 6)
         from ip_pool where customer_id = $1",
    )
    .bind(customer)
    .fetch_one(db)
    .await
}

/// The most a quota may be set to.
pub const MAX_QUOTA: i32 = 65_536;

/// Sets a customer's quotas (staff, support-write) and records it in their Activity;
/// `false` when there is no such customer. Addresses already held above a lowered quota
/// stay; only new ones are refused.
pub async fn set_quotas(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    ipv4: i32,
    ipv6: i32,
    from: Option<IpAddr>,
) -> sqlx::Result<bool> {
    let before: Option<(i32, i32)> =
        sqlx::query_as("select ipv4_quota, ipv6_quota from customers where id = $1 for no key update")
            .bind(customer)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((old4, old6)) = before else {
        return Ok(false);
    };
    sqlx::query("update customers set ipv4_quota = $2, ipv6_quota = $3 where id = $1")
        .bind(customer)
        .bind(ipv4)
        .bind(ipv6)
        .execute(&mut *tx)
        .await?;
    if (old4, old6) != (ipv4, ipv6) {
        let detail = format!("IPv4 {old4} → {ipv4}, IPv6 {old6} → {ipv6}");
        record_parts(&mut *tx, customer, actor, "address_quota_changed", &detail, from).await?;
    }
    Ok(true)
}

/// Takes the lowest free address of `family` (addIpAddress), or, for staff, the named one.
/// Parallel requests never get the same address: a taken row is locked and skipped.
pub async fn add(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    family: Family,
    specific: Option<IpAddr>,
    from: Option<IpAddr>,
) -> sqlx::Result<Result<IpAddr, Refused>> {
    // The customer's row is locked first, so parallel requests count one after another
    // and together never pass the quota.
    let quota: i32 = sqlx::query_scalar(&format!(
        "select {} from customers where id = $1 for no key update",
        match family {
            Family::V4 => "ipv4_quota",
            Family::V6 => "ipv6_quota",
        }
    ))
    .bind(customer)
    .fetch_one(&mut *tx)
    .await?;
    let held: i64 = sqlx::query_scalar("select count(*) from ip_pool where customer_id = $1 and family(address) = $2")
        .bind(customer)
        .bind(family.number())
        .fetch_one(&mut *tx)
        .await?;
    let pool_empty: bool = sqlx::query_scalar(
        "select not exists (select 1 from ip_pool where customer_id is null and family(address) = $1)",
    )
    .bind(family.number())
    .fetch_one(&mut *tx)
    .await?;
    // An empty pool is said first: a larger quota would not help.
    if specific.is_none() && pool_empty {
        return Ok(Err(Refused::PoolEmpty));
    }
    if held >= i64::from(quota) {
        return Ok(Err(Refused::OverQuota { held, quota }));
    }
    let taken: Option<IpAddr> = match specific {
        Some(address) => {
            sqlx::query_scalar(
                "update ip_pool set customer_id = $1, allocated_at = now()
                 where address = $2 and customer_id is null returning host(address)::inet",
            )
            .bind(customer)
            .bind(address)
            .fetch_optional(&mut *tx)
            .await?
        }
        None => {
            sqlx::query_scalar(
                "with free as (
                     select address from ip_pool where customer_id is null and family(address) = $2
                     order by address limit 1 for update skip locked
                 )
                 update ip_pool p set customer_id = $1, allocated_at = now()
                 from free where p.address = free.address
                 returning host(p.address)::inet",
            )
            .bind(customer)
            .bind(family.number())
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let Some(address) = taken else {
        return Ok(Err(if specific.is_some() {
            Refused::NotFree
        } else {
            Refused::PoolEmpty
        }));
    };
    record_parts(&mut *tx, customer, actor, "address_added", &address.to_string(), from).await?;
    Ok(Ok(address))
}

/// Sets or clears the reverse DNS name of an address the customer holds.
pub async fn set_reverse_dns(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    address: IpAddr,
    name: &ReverseName,
    from: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let updated = sqlx::query("update ip_pool set reverse_dns = $3 where customer_id = $1 and address = $2")
        .bind(customer)
        .bind(address)
        .bind(name.ascii())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if updated == 0 {
        return Ok(Err(Refused::NotFound));
    }
    let detail = format!("{address}: {}", name.ascii().unwrap_or("(none)"));
    record_parts(&mut *tx, customer, actor, "reverse_dns_changed", &detail, from).await?;
    Ok(Ok(()))
}

/// Gives an address back to the pool (freeIpAddress), unless a container holds it.
pub async fn free(
    tx: &mut PgConnection,
    customer: CustomerId,
    actor: &str,
    address: IpAddr,
    from: Option<IpAddr>,
) -> sqlx::Result<Result<(), Refused>> {
    let Some(held) = sqlx::query_as::<_, Held>(&format!("{HELD} and p.address = $2 for update of p"))
        .bind(customer)
        .bind(address)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Err(Refused::NotFound));
    };
    if let Some(holder) = held.holder() {
        return Ok(Err(Refused::Attached(holder)));
    }
    sqlx::query(
        "update ip_pool set customer_id = null, container_id = null, allocated_at = null, reverse_dns = null
         where customer_id = $1 and address = $2",
    )
    .bind(customer)
    .bind(address)
    .execute(&mut *tx)
    .await?;
    record_parts(&mut *tx, customer, actor, "address_freed", &address.to_string(), from).await?;
    Ok(Ok(()))
}
