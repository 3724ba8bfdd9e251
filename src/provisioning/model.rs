//! Provisioning rows: jobs, their steps and attempts, the address pool, and the writes the
//! steps make to a site's container, environments and DNS records. All provisioning SQL.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use sqlx::PgExecutor;
use sqlx::types::ipnetwork::IpNetwork;
use time::OffsetDateTime;

use crate::identity::CustomerId;
use crate::sites::model::{JobKind, JobStatus, RecordType, ResourceStatus, SiteId, SiteStatus, StepStatus};

crate::id_type!(
    /// A `containers.id`.
    ContainerId
);
crate::id_type!(
    /// A `provisioning_jobs.id`.
    JobId
);
crate::id_type!(
    /// A `job_steps.id`.
    StepId
);

// ---------------------------------------------------------------------------------------
// Jobs

/// A step the worker has claimed (and holds locked until its transaction ends).
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    pub id: StepId,
    pub job_id: JobId,
    pub customer_id: CustomerId,
    pub site_id: SiteId,
    /// What the job does to its site.
    pub kind: JobKind,
    /// As stored in `job_steps.name` (see [`Step::from_name`](crate::sites::steps::Step::from_name)).
    pub name: String,
    /// Attempts made before this one.
    pub attempts: i32,
    pub started_at: OffsetDateTime,
}

/// Locks and returns one due step: pending, `next_attempt_at` reached, the first unfinished
/// step of a pending or running job, of a job with no earlier unfinished job of its site
/// (a site's jobs run in the order they were asked for), and not locked by another worker.
pub async fn claim_step(db: impl PgExecutor<'_>) -> sqlx::Result<Option<ClaimedStep>> {
    sqlx::query_as!(
        ClaimedStep,
        r#"select s.id as "id: StepId", s.job_id as "job_id: JobId", j.customer_id as "customer_id: CustomerId",
                j.site_id as "site_id: SiteId", j.kind as "kind: JobKind", s.name, s.attempts,
                clock_timestamp() as "started_at!"
         from job_steps s
         join provisioning_jobs j on j.id = s.job_id
         where j.status = any($1)
           and s.status = $2
           and s.next_attempt_at <= now()
           and s.position = (select min(o.position) from job_steps o where o.job_id = s.job_id and o.status <> $3)
           and not exists (select 1 from provisioning_jobs e
                           where e.site_id = j.site_id and e.id < j.id and e.status = any($1))
         order by s.next_attempt_at, s.id
         limit 1
         for update of s skip locked"#,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
        StepStatus::Pending as StepStatus,
        StepStatus::Done as StepStatus,
    )
    .fetch_optional(db)
    .await
}

/// Records one attempt at a step; `error` is `None` when it succeeded.
pub async fn record_attempt(
    db: impl PgExecutor<'_>,
    step: StepId,
    attempt: i32,
    worker: &str,
    started_at: OffsetDateTime,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into job_attempts (step_id, attempt, worker, started_at, finished_at, error)
         values ($1, $2, $3, $4, clock_timestamp(), $5)",
        step as StepId,
        attempt,
        worker,
        started_at,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks the step done after its `attempts`-th attempt (an earlier `last_error` is kept).
pub async fn step_done(db: impl PgExecutor<'_>, step: StepId, attempts: i32) -> sqlx::Result<()> {
    sqlx::query!(
        "update job_steps set status = $3, attempts = $2, finished_at = clock_timestamp() where id = $1",
        step as StepId,
        attempts,
        StepStatus::Done as StepStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt and makes the step due again in `backoff_secs` seconds.
pub async fn step_retry_later(
    db: impl PgExecutor<'_>,
    step: StepId,
    attempts: i32,
    error: &str,
    backoff_secs: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update job_steps
         set attempts = $2, last_error = $3, next_attempt_at = clock_timestamp() + $4 * interval '1 second'
         where id = $1",
        step as StepId,
        attempts,
        error,
        f64::from(backoff_secs),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records the last failed attempt: the step is `failed` for good.
pub async fn step_failed(db: impl PgExecutor<'_>, step: StepId, attempts: i32, error: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update job_steps set status = $4, attempts = $2, last_error = $3, finished_at = clock_timestamp()
         where id = $1",
        step as StepId,
        attempts,
        error,
        StepStatus::Failed as StepStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A pending job becomes `running` (its first step has been attempted).
pub async fn job_running(db: impl PgExecutor<'_>, job: JobId) -> sqlx::Result<()> {
    sqlx::query!(
        "update provisioning_jobs set status = $2 where id = $1 and status = $3",
        job as JobId,
        JobStatus::Running as JobStatus,
        JobStatus::Pending as JobStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks the job `done` when all its steps are; `true` when it did.
pub async fn job_done_if_complete(db: impl PgExecutor<'_>, job: JobId) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update provisioning_jobs set status = $2, finished_at = clock_timestamp()
         where id = $1 and status = any($3)
           and not exists (select 1 from job_steps where job_id = $1 and status <> $4)",
        job as JobId,
        JobStatus::Done as JobStatus,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
        StepStatus::Done as StepStatus,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the job `failed`.
pub async fn job_failed(db: impl PgExecutor<'_>, job: JobId) -> sqlx::Result<()> {
    sqlx::query!(
        "update provisioning_jobs set status = $2, finished_at = clock_timestamp() where id = $1",
        job as JobId,
        JobStatus::Failed as JobStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Sets the status of a site being set up (its provisioning or restore job ended); a site
/// deleted meanwhile stays deleted.
pub async fn set_site_status(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    status: SiteStatus,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update sites set status = $3 where customer_id = $1 and id = $2 and status = $4",
        customer as CustomerId,
        site as SiteId,
        status as SiteStatus,
        SiteStatus::Provisioning as SiteStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The site's container and environments still pending become `failed` (its job failed).
pub async fn fail_pending_resources(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<()> {
    sqlx::query!(
        "with c as (
             update containers set status = $3 where customer_id = $1 and site_id = $2 and status = $4
         )
         update environments set status = $3 where customer_id = $1 and site_id = $2 and status = $4",
        customer as CustomerId,
        site as SiteId,
        ResourceStatus::Failed as ResourceStatus,
        ResourceStatus::Pending as ResourceStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// What the steps read and write

/// The site's container, as the steps need it.
#[derive(Debug, Clone)]
pub struct SiteContainer {
    pub id: ContainerId,
    pub name: String,
    pub type_id: String,
    pub os_id: String,
    pub size_id: String,
    pub disk_gib: i32,
    pub address: Option<IpAddr>,
}

/// The site's container (the first, should there be several).
pub async fn site_container(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<SiteContainer>> {
    sqlx::query_as!(
        SiteContainer,
        r#"select id as "id: ContainerId", name, type_id, os_id, size_id, disk_gib, host(address)::inet as "address: IpAddr"
         from containers where customer_id = $1 and site_id = $2 order by id limit 1"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_optional(db)
    .await
}

/// What the engine needs beyond the container row: its image, its size's limits, the
/// pool network of its address, its environments, and this installation's id.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    pub image: Option<String>,
    pub vcpu: i32,
    pub memory_mib: i32,
    pub network: Option<(IpNetwork, IpAddr)>,
    pub installation: uuid::Uuid,
    pub hostname: String,
    /// The site's environments, oldest first.
    pub environments: Vec<String>,
}

pub async fn container_plan(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    site: SiteId,
    container: &SiteContainer,
) -> sqlx::Result<ContainerPlan> {
    let size = sqlx::query!(
        "select vcpu, memory_mib from container_sizes where id = $1",
        container.size_id
    )
    .fetch_one(&mut *db)
    .await?;
    let network = match container.address {
        Some(address) => sqlx::query!(
            r#"select network as "network!", host(gateway)::inet as "gateway!: IpAddr" from pool_networks
             where network >>= $1 order by masklen(network) desc limit 1"#,
            IpNetwork::from(address),
        )
        .fetch_optional(&mut *db)
        .await?
        .map(|row| (row.network, row.gateway)),
        None => None,
    };
    let environments = sqlx::query_scalar!(
        "select name from environments where customer_id = $1 and site_id = $2 order by id",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_all(&mut *db)
    .await?;
    let hostname = sqlx::query_scalar!(
        "select hostname from sites where customer_id = $1 and id = $2",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_one(&mut *db)
    .await?;
    Ok(ContainerPlan {
        image: image_for(&mut *db, &container.type_id, &container.os_id).await?,
        vcpu: size.vcpu,
        memory_mib: size.memory_mib,
        network,
        installation: installation(&mut *db).await?,
        hostname,
        environments,
    })
}

/// This Berth's id on the engines it drives.
pub async fn installation(db: impl PgExecutor<'_>) -> sqlx::Result<uuid::Uuid> {
    sqlx::query_scalar!("select id from installation").fetch_one(db).await
}

// ---------------------------------------------------------------------------------------
// Deleting a site

/// Gives the container's address back to the pool (free for anyone, its reverse DNS name
/// cleared) and takes it off the container; returns it, `None` when it had none.
pub async fn free_container_address(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    container: ContainerId,
) -> sqlx::Result<Option<IpAddr>> {
    let freed = sqlx::query_scalar!(
        r#"update ip_pool set customer_id = null, container_id = null, allocated_at = null, reverse_dns = null
         where customer_id = $1
           and (container_id = $2 or address = (select address from containers where customer_id = $1 and id = $2))
         returning host(address)::inet as "address!: IpAddr""#,
        customer as CustomerId,
        container as ContainerId,
    )
    .fetch_optional(&mut *db)
    .await?;
    sqlx::query!(
        "update containers set address = null where customer_id = $1 and id = $2",
        customer as CustomerId,
        container as ContainerId,
    )
    .execute(&mut *db)
    .await?;
    Ok(freed)
}

/// Removes every DNS record of the site; returns how many there were.
pub async fn remove_dns_records(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from dns_records where customer_id = $1 and site_id = $2",
        customer as CustomerId,
        site as SiteId,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// After a deleted site's files are removed: its hostnames are free for any site again,
/// its container's row (and so its name) goes, and the site records when. Returns its
/// hostname.
pub async fn files_removed(db: &mut sqlx::PgConnection, customer: CustomerId, site: SiteId) -> sqlx::Result<String> {
    sqlx::query!(
        "with h as (delete from hostnames where customer_id = $1 and site_id = $2)
         delete from containers where customer_id = $1 and site_id = $2",
        customer as CustomerId,
        site as SiteId,
    )
    .execute(&mut *db)
    .await?;
    sqlx::query_scalar!(
        "update sites set files_removed_at = now() where customer_id = $1 and id = $2 returning hostname",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_one(&mut *db)
    .await
}

// ---------------------------------------------------------------------------------------
// Images

/// The image for a type and operating system: the most specific setting (exact type and
/// OS, then exact type, then exact OS, then `* *`).
pub async fn image_for(db: impl PgExecutor<'_>, type_id: &str, os_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select image from container_images
         where type_id in ($1, '*') and os_id in ($2, '*')
         order by type_id = '*', os_id = '*' limit 1",
        type_id,
        os_id,
    )
    .fetch_optional(db)
    .await
}

/// One row of `berth image list`.
#[derive(Debug, Clone)]
pub struct ImageSetting {
    pub type_id: String,
    pub os_id: String,
    pub image: String,
}

pub async fn images(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ImageSetting>> {
    sqlx::query_as!(
        ImageSetting,
        "select type_id, os_id, image from container_images order by type_id = '*', type_id, os_id = '*', os_id"
    )
    .fetch_all(db)
    .await
}

/// Whether `id` is `*` or a container type / an operating system of the catalogue.
pub async fn catalogue_has(db: impl PgExecutor<'_>, type_id: &str, os_id: &str) -> sqlx::Result<(bool, bool)> {
    let row = sqlx::query!(
        r#"select ($1 = '*' or exists(select 1 from container_types where id = $1)) as "type_ok!",
                  ($2 = '*' or exists(select 1 from operating_systems where id = $2)) as "os_ok!""#,
        type_id,
        os_id,
    )
    .fetch_one(db)
    .await?;
    Ok((row.type_ok, row.os_ok))
}

pub async fn set_image(db: impl PgExecutor<'_>, type_id: &str, os_id: &str, image: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into container_images (type_id, os_id, image) values ($1, $2, $3)
         on conflict (type_id, os_id) do update set image = excluded.image, updated_at = now()",
        type_id,
        os_id,
        image,
    )
    .execute(db)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Pool networks

/// Records a pool network with its gateway (kept out of the pool); one already there keeps
/// its gateway, which is returned.
pub async fn add_pool_network(db: impl PgExecutor<'_>, network: IpNetwork, gateway: IpAddr) -> sqlx::Result<IpAddr> {
    sqlx::query_scalar!(
        r#"with added as (
             insert into pool_networks (network, gateway) values ($1, $2) on conflict (network) do nothing
             returning host(gateway)::inet as gateway
         )
         select coalesce((select gateway from added), (select host(gateway)::inet from pool_networks where network = $1)) as "gateway!: IpAddr""#,
        network,
        IpNetwork::from(gateway),
    )
    .fetch_one(db)
    .await
}

/// Every pool network with its gateway.
pub async fn pool_networks(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(IpNetwork, IpAddr)>> {
    Ok(sqlx::query!(
        r#"select network as "network!", host(gateway)::inet as "gateway!: IpAddr" from pool_networks order by network"#
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|row| (row.network, row.gateway))
    .collect())
}

/// Takes the lowest free address of the pool for `container` (IPv4 sorts before IPv6, so
/// IPv6 only when no IPv4 is left); `None` when none is free.
pub async fn allocate_address(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    container: ContainerId,
) -> sqlx::Result<Option<IpAddr>> {
    sqlx::query_scalar!(
        r#"with free as (
             select address from ip_pool where customer_id is null order by address limit 1 for update skip locked
         )
         update ip_pool p set customer_id = $1, container_id = $2, allocated_at = now()
         from free where p.address = free.address
         returning host(p.address)::inet as "address!: IpAddr""#,
        customer as CustomerId,
        container as ContainerId,
    )
    .fetch_optional(db)
    .await
}

pub async fn set_container_address(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    container: ContainerId,
    address: IpAddr,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update containers set address = $3 where customer_id = $1 and id = $2",
        customer as CustomerId,
        container as ContainerId,
        IpNetwork::from(address),
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_container_active(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    container: ContainerId,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update containers set status = $3 where customer_id = $1 and id = $2",
        customer as CustomerId,
        container as ContainerId,
        ResourceStatus::Active as ResourceStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks every environment of the site `active`; returns how many the site has.
pub async fn activate_environments(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update environments set status = $3 where customer_id = $1 and site_id = $2",
        customer as CustomerId,
        site as SiteId,
        ResourceStatus::Active as ResourceStatus,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// How many primary hostnames the site has (one, when all is well).
pub async fn primary_hostnames(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from hostnames where customer_id = $1 and site_id = $2 and is_primary"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_one(db)
    .await
}

/// Whether the customer asked for DNS records for the site (`None`: no such site).
pub async fn site_creates_dns(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!(
        "select create_dns from sites where customer_id = $1 and id = $2",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_optional(db)
    .await
}

/// The address record types, which provisioning fills in.
const ADDRESS_RECORDS: [RecordType; 2] = [RecordType::A, RecordType::Aaaa];

/// Gives the site's planned address records (A/AAAA without a value) `address`, with the
/// record type of its family. Returns how many it wrote.
pub async fn fill_address_records(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    address: IpAddr,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update dns_records set value = $3, type = $4
         where customer_id = $1 and site_id = $2 and type = any($5) and value is null",
        customer as CustomerId,
        site as SiteId,
        address.to_string(),
        RecordType::for_address(address) as RecordType,
        &ADDRESS_RECORDS as &[RecordType],
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Adds an address record for each hostname of the site that has none. Returns how many
/// it added.
pub async fn add_missing_address_records(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    address: IpAddr,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "insert into dns_records (customer_id, site_id, name, type, value)
         select h.customer_id, h.site_id, h.hostname, $4, $3
         from hostnames h
         where h.customer_id = $1 and h.site_id = $2
           and not exists (select 1 from dns_records d
                           where d.site_id = h.site_id and d.name = h.hostname and d.type = any($5))
         on conflict do nothing",
        customer as CustomerId,
        site as SiteId,
        address.to_string(),
        RecordType::for_address(address) as RecordType,
        &ADDRESS_RECORDS as &[RecordType],
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

// ---------------------------------------------------------------------------------------
// The address pool

/// A network whose host addresses `berth pool add` puts in the pool: host bits clear, at
/// most a /16 (IPv4) or a /112 (IPv6), i.e. at most 65,536 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolNetwork(IpNetwork);

pub const MIN_PREFIX_V4: u8 = 16;
pub const MIN_PREFIX_V6: u8 = 112;

impl FromStr for PoolNetwork {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        let net: IpNetwork = s
            .parse()
            .map_err(|_| format!("{s:?} is not a network such as 192.0.2.0/24 or 2001:db8::/120"))?;
        let (min, family) = if net.is_ipv4() {
            (MIN_PREFIX_V4, "IPv4")
        } else {
            (MIN_PREFIX_V6, "IPv6")
        };
        if net.prefix() < min {
            return Err(format!(
                "{s} is too large: an {family} network added at once is at most a /{min}; add it in parts"
            ));
        }
        if net.ip() != net.network() {
            return Err(format!(
                "{s} has host bits set; the network is {}/{}",
                net.network(),
                net.prefix()
            ));
        }
        Ok(Self(net))
    }
}

impl fmt::Display for PoolNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.network(), self.0.prefix())
    }
}

impl PoolNetwork {
    pub fn network(&self) -> IpNetwork {
        self.0
    }

    /// Its host addresses: without the IPv4 network and broadcast addresses, without the
    /// IPv6 subnet-router anycast address; a /31, /32, /127 or /128 gives all it has.
    pub fn hosts(&self) -> Vec<IpAddr> {
        match self.0 {
            IpNetwork::V4(net) => {
                let first = u32::from(net.network());
                let last = u32::from(net.broadcast());
                let (first, last) = if net.prefix() >= 31 {
                    (first, last)
                } else {
                    (first + 1, last - 1)
                };
                (first..=last).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect()
            }
            IpNetwork::V6(net) => {
                let first = u128::from(net.network());
                let last = first | (u128::MAX >> net.prefix());
                let first = if net.prefix() >= 127 { first } else { first + 1 };
                (first..=last).map(|n| IpAddr::V6(Ipv6Addr::from(n))).collect()
            }
        }
    }
}

/// Adds the addresses to the pool, free; ones already there are left as they are. Returns
/// how many it added.
pub async fn add_to_pool(db: impl PgExecutor<'_>, addresses: &[IpAddr]) -> sqlx::Result<u64> {
    let addresses: Vec<IpNetwork> = addresses.iter().map(|a| IpNetwork::from(*a)).collect();
    let done = sqlx::query!(
        "insert into ip_pool (address) select unnest($1::inet[]) on conflict do nothing",
        &addresses
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(s: &str) -> Vec<String> {
        s.parse::<PoolNetwork>()
            .unwrap()
            .hosts()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn pool_networks() {
        assert_eq!(hosts("192.0.2.0/30"), ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(hosts("192.0.2.0/31"), ["192.0.2.0", "192.0.2.1"]);
        assert_eq!(hosts("192.0.2.7/32"), ["192.0.2.7"]);
        assert_eq!(hosts("192.0.2.7"), ["192.0.2.7"]);
        assert_eq!(hosts("198.51.100.0/24").len(), 254);
        assert_eq!(hosts("10.1.0.0/16").len(), 65_534);
        assert_eq!(hosts("2001:db8::/126"), ["2001:db8::1", "2001:db8::2", "2001:db8::3"]);
        assert_eq!(hosts("2001:db8::/127"), ["2001:db8::", "2001:db8::1"]);
        assert_eq!(hosts("2001:db8::/112").len(), 65_535);
        assert_eq!(
            " 192.0.2.0/24 ".parse::<PoolNetwork>().unwrap().to_string(),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn pool_networks_refused() {
        let err = |s: &str| s.parse::<PoolNetwork>().unwrap_err();
        assert!(err("10.0.0.0/15").contains("too large"));
        assert!(err("0.0.0.0/0").contains("/16"));
        assert!(err("2001:db8::/111").contains("/112"));
        assert!(err("192.0.2.5/24").contains("host bits set; the network is 192.0.2.0/24"));
        assert!(err("2001:db8::1/120").contains("2001:db8::/120"));
        assert!(err("nope").contains("not a network"));
        assert!(err("192.0.2.0/33").contains("not a network"));
        assert!(err("").contains("not a network"));
    }
}
