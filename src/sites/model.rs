//! Sites with their container, environments, hostnames, DNS records and provisioning job:
//! the catalogues a plan is checked against, creating a site in one transaction, and what
//! the site pages show. Every query of customer-owned rows filters by the customer.

use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::identity::CustomerId;
use crate::sites::names::{DnsLabel, Hostname, SiteName};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct SiteId(pub i64);

impl std::fmt::Display for SiteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for SiteId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(SiteId)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct EnvironmentId(pub i64);

impl std::fmt::Display for EnvironmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for EnvironmentId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(EnvironmentId)
    }
}

// ---- catalogues -------------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Choice {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Size {
    pub id: String,
    pub label: String,
    pub vcpu: i32,
    pub memory_mib: i32,
    pub disk_min_gib: i32,
    pub disk_max_gib: i32,
}

pub struct Catalogue {
    pub types: Vec<Choice>,
    pub systems: Vec<Choice>,
    pub sizes: Vec<Size>,
    /// (type, os) pairs on offer.
    pub offered: Vec<(String, String)>,
}

impl Catalogue {
    pub fn has_type(&self, id: &str) -> bool {
        self.types.iter().any(|t| t.id == id)
    }

    pub fn has_os(&self, id: &str) -> bool {
        self.systems.iter().any(|t| t.id == id)
    }

    pub fn offers(&self, type_id: &str, os_id: &str) -> bool {
        self.offered.iter().any(|(t, o)| t == type_id && o == os_id)
    }

    pub fn size(&self, id: &str) -> Option<&Size> {
        self.sizes.iter().find(|s| s.id == id)
    }

    /// Operating systems offered for `type_id`, as labels.
    pub fn systems_for(&self, type_id: &str) -> Vec<&str> {
        self.systems
            .iter()
            .filter(|o| self.offers(type_id, &o.id))
            .map(|o| o.label.as_str())
            .collect()
    }

    pub fn label_of<'a>(choices: &'a [Choice], id: &str) -> &'a str {
        choices
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.label.as_str())
            .unwrap_or("")
    }
}

pub async fn catalogue(db: &sqlx::PgPool) -> sqlx::Result<Catalogue> {
    Ok(Catalogue {
        types: sqlx::query_as("select id, label from container_types order by sort")
            .fetch_all(db)
            .await?,
        systems: sqlx::query_as("select id, label from operating_systems order by sort")
            .fetch_all(db)
            .await?,
        sizes: sqlx::query_as(
            "select id, label, vcpu, memory_mib, disk_min_gib, disk_max_gib from container_sizes order by sort",
        )
        .fetch_all(db)
        .await?,
        offered: sqlx::query_as("select type_id, os_id from container_type_os")
            .fetch_all(db)
            .await?,
    })
}

/// Whether any customer on the platform has this hostname (primary or alias). The answer
/// never says whose it is.
pub async fn hostname_taken(db: impl PgExecutor<'_>, hostname: &Hostname) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists(select 1 from hostnames where hostname = $1)")
        .bind(hostname.ascii())
        .fetch_one(db)
        .await
}

/// The subset of `hostnames` already taken on the platform.
pub async fn hostnames_taken(db: impl PgExecutor<'_>, hostnames: &[&str]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("select hostname from hostnames where hostname = any($1)")
        .bind(hostnames)
        .fetch_all(db)
        .await
}

pub async fn container_name_taken(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    name: &DnsLabel,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists(select 1 from containers where customer_id = $1 and name = $2)")
        .bind(customer)
        .bind(name.as_str())
        .fetch_one(db)
        .await
}

// ---- creating a site --------------------------------------------------------------------

/// Everything the wizard gathered, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub site_name: SiteName,
    pub hostname: Hostname,
    pub container_name: DnsLabel,
    pub container_type: String,
    pub container_os: String,
    pub container_size: String,
    pub disk_gib: i32,
    pub environments: Vec<DnsLabel>,
    pub aliases: Vec<Hostname>,
    pub create_dns: bool,
}

impl Plan {
    /// The DNS records creation writes (their addresses come from provisioning).
    pub fn dns_names(&self) -> Vec<String> {
        if !self.create_dns {
            return Vec::new();
        }
        std::iter::once(&self.hostname)
            .chain(&self.aliases)
            .map(|h| h.ascii().to_owned())
            .collect()
    }
}

#[derive(Debug)]
pub enum CreateError {
    /// This hostname (primary or alias) was taken meanwhile.
    HostnameTaken(String),
    ContainerNameTaken,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for CreateError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

/// Writes the site, its hostnames, container, environments, DNS records and provisioning
/// job with its steps, inside `tx` (the caller commits). A second call with the same draft
/// token returns the site the first one made and writes nothing.
pub async fn create(
    tx: &mut sqlx::PgConnection,
    customer: CustomerId,
    draft_token: uuid::Uuid,
    plan: &Plan,
) -> Result<SiteId, CreateError> {
    let inserted: Option<SiteId> = sqlx::query_scalar(
        "insert into sites (customer_id, name, hostname, create_dns, draft_token) values ($1, $2, $3, $4, $5)
         on conflict (customer_id, draft_token) do nothing returning id",
    )
    .bind(customer)
    .bind(plan.site_name.as_str())
    .bind(plan.hostname.ascii())
    .bind(plan.create_dns)
    .bind(draft_token)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(site) = inserted else {
        let existing = site_by_draft(&mut *tx, customer, draft_token).await?;
        return existing.ok_or(CreateError::Db(sqlx::Error::RowNotFound));
    };

    for (hostname, primary) in std::iter::once((&plan.hostname, true)).chain(plan.aliases.iter().map(|a| (a, false))) {
        let result =
            sqlx::query("insert into hostnames (hostname, customer_id, site_id, is_primary) values ($1, $2, $3, $4)")
                .bind(hostname.ascii())
                .bind(customer)
                .bind(site)
                .bind(primary)
                .execute(&mut *tx)
                .await;
        if is_unique_violation(&result, "hostnames_pkey") {
            return Err(CreateError::HostnameTaken(hostname.ascii().to_owned()));
        }
        result?;
    }

    let container = sqlx::query(
        "insert into containers (customer_id, site_id, name, type_id, os_id, size_id, disk_gib)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(customer)
    .bind(site)
    .bind(plan.container_name.as_str())
    .bind(&plan.container_type)
    .bind(&plan.container_os)
    .bind(&plan.container_size)
    .bind(plan.disk_gib)
    .execute(&mut *tx)
    .await;
    if is_unique_violation(&container, "containers_customer_id_name_key") {
        return Err(CreateError::ContainerNameTaken);
    }
    container?;

    let environments: Vec<&str> = plan.environments.iter().map(DnsLabel::as_str).collect();
    sqlx::query("insert into environments (customer_id, site_id, name) select $1, $2, unnest($3::text[])")
        .bind(customer)
        .bind(site)
        .bind(environments)
        .execute(&mut *tx)
        .await?;

    sqlx::query("insert into dns_records (customer_id, site_id, name, type) select $1, $2, unnest($3::text[]), 'A'")
        .bind(customer)
        .bind(site)
        .bind(plan.dns_names())
        .execute(&mut *tx)
        .await?;

    let job: i64 =
        sqlx::query_scalar("insert into provisioning_jobs (customer_id, site_id) values ($1, $2) returning id")
            .bind(customer)
            .bind(site)
            .fetch_one(&mut *tx)
            .await?;
    let names: Vec<&str> = crate::sites::steps::STEPS.to_vec();
    sqlx::query(
        "insert into job_steps (job_id, position, name)
         select $1, position, name from unnest($2::text[]) with ordinality as s(name, position)",
    )
    .bind(job)
    .bind(names)
    .execute(&mut *tx)
    .await?;
    Ok(site)
}

fn is_unique_violation<T>(result: &Result<T, sqlx::Error>, constraint: &str) -> bool {
    matches!(result, Err(sqlx::Error::Database(e)) if e.is_unique_violation() && e.constraint() == Some(constraint))
}

pub async fn site_by_draft(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    token: uuid::Uuid,
) -> sqlx::Result<Option<SiteId>> {
    sqlx::query_scalar("select id from sites where customer_id = $1 and draft_token = $2")
        .bind(customer)
        .bind(token)
        .fetch_optional(db)
        .await
}

// ---- what the site pages show -----------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiteRow {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub status: String,
    pub created_at: OffsetDateTime,
    pub environments: i64,
    pub aliases: i64,
    /// How many sites the customer has in all.
    pub total: i64,
}

impl SiteRow {
    pub fn hostname_unicode(&self) -> String {
        crate::sites::names::to_unicode(&self.hostname)
    }
}

/// One page of the customer's sites by name, and how many sites they have in all.
pub async fn list(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<SiteRow>, i64)> {
    let rows: Vec<SiteRow> = sqlx::query_as(
        "with page as (
             select id, name, hostname, status, created_at, count(*) over () as total
             from sites where customer_id = $1 order by name, id limit $2 offset $3
         )
         select p.total, p.id, p.name, p.hostname, p.status, p.created_at,
                (select count(*) from environments e where e.customer_id = $1 and e.site_id = p.id) as environments,
                (select count(*) from hostnames h where h.customer_id = $1 and h.site_id = p.id and not h.is_primary) as aliases
         from page p order by p.name, p.id",
    )
    .bind(customer)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = rows.first().map(|row| row.total).unwrap_or(0);
    Ok((rows, total))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub status: String,
    pub create_dns: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Container {
    pub name: String,
    pub type_label: String,
    pub os_label: String,
    pub size_label: String,
    pub vcpu: i32,
    pub memory_mib: i32,
    pub disk_gib: i32,
    pub status: String,
    pub address: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Environment {
    pub name: String,
    pub status: String,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct DnsRecord {
    pub name: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Option<String>,
    pub ttl: i32,
}

impl DnsRecord {
    pub fn name_unicode(&self) -> String {
        crate::sites::names::to_unicode(&self.name)
    }
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Step {
    /// The status of the whole job the step belongs to.
    pub job_status: String,
    pub name: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
}

impl Step {
    pub fn label(&self) -> &'static str {
        crate::sites::steps::step_label(&self.name).unwrap_or("Step")
    }
}

pub struct Detail {
    pub site: Site,
    pub container: Option<Container>,
    pub environments: Vec<Environment>,
    pub aliases: Vec<String>,
    pub records: Vec<DnsRecord>,
    pub job_status: Option<String>,
    pub steps: Vec<Step>,
}

pub async fn site(db: impl PgExecutor<'_>, customer: CustomerId, id: SiteId) -> sqlx::Result<Option<Site>> {
    sqlx::query_as(
        "select id, name, hostname, status, create_dns, created_at from sites where customer_id = $1 and id = $2",
    )
    .bind(customer)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The site with everything on its page; `None` when it is not the customer's.
pub async fn detail(db: impl PgExecutor<'_>, customer: CustomerId, id: SiteId) -> sqlx::Result<Option<Detail>> {
    // One statement: the page's parts as JSON, each read through its customer index.
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        site: Site,
        container: Json<Option<Container>>,
        environments: Json<Vec<Environment>>,
        aliases: Json<Vec<String>>,
        records: Json<Vec<DnsRecord>>,
        steps: Json<Vec<Step>>,
    }
    let row: Option<Row> = sqlx::query_as(
        "select s.id, s.name, s.hostname, s.status, s.create_dns, s.created_at,
            (select to_jsonb(x) from (
                select c.name, t.label as type_label, o.label as os_label, z.label as size_label, z.vcpu,
                       z.memory_mib, c.disk_gib, c.status, host(c.address) as address
                from containers c join container_types t on t.id = c.type_id
                     join operating_systems o on o.id = c.os_id join container_sizes z on z.id = c.size_id
                where c.customer_id = $1 and c.site_id = s.id order by c.id limit 1) x) as container,
            (select coalesce(jsonb_agg(jsonb_build_object('name', e.name, 'status', e.status) order by e.name), '[]')
                from environments e where e.customer_id = $1 and e.site_id = s.id) as environments,
            (select coalesce(jsonb_agg(h.hostname order by h.hostname), '[]')
                from hostnames h where h.customer_id = $1 and h.site_id = s.id and not h.is_primary) as aliases,
            (select coalesce(jsonb_agg(jsonb_build_object('name', r.name, 'type', r.type, 'value', r.value, 'ttl', r.ttl)
                                       order by r.name, r.type), '[]')
                from dns_records r where r.customer_id = $1 and r.site_id = s.id) as records,
            (select coalesce(jsonb_agg(jsonb_build_object('job_status', j.status, 'name', st.name, 'status', st.status,
                                        'attempts', st.attempts, 'last_error', st.last_error,
                                        'next_attempt_at', st.next_attempt_at) order by st.position), '[]')
                from provisioning_jobs j join job_steps st on st.job_id = j.id
                where j.customer_id = $1 and j.site_id = s.id) as steps
         from sites s where s.customer_id = $1 and s.id = $2",
    )
    .bind(customer)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| Detail {
        site: row.site,
        container: row.container.0,
        environments: row.environments.0,
        aliases: row.aliases.0,
        records: row.records.0,
        job_status: row.steps.first().map(|s| s.job_status.clone()),
        steps: row.steps.0,
    }))
}

pub async fn records(db: impl PgExecutor<'_>, customer: CustomerId, id: SiteId) -> sqlx::Result<Vec<DnsRecord>> {
    sqlx::query_as(
        "select name, type, value, ttl from dns_records where customer_id = $1 and site_id = $2 order by name, type",
    )
    .bind(customer)
    .bind(id)
    .fetch_all(db)
    .await
}

/// The provisioning job's status and its steps in order.
pub async fn progress(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    id: SiteId,
) -> sqlx::Result<(Option<String>, Vec<Step>)> {
    let steps: Vec<Step> = sqlx::query_as(
        "select j.status as job_status, s.name, s.status, s.attempts, s.last_error, s.next_attempt_at
         from provisioning_jobs j join job_steps s on s.job_id = j.id
         where j.customer_id = $1 and j.site_id = $2 order by s.position",
    )
    .bind(customer)
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok((steps.first().map(|s| s.job_status.clone()), steps))
}
