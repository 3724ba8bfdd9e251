//! Sites with their container, environments, hostnames, DNS records and provisioning job:
//! the catalogues a plan is checked against, creating a site in one transaction, and what
//! the site pages show. Every query of customer-owned rows filters by the customer.

use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::identity::CustomerId;
use crate::sites::names::{DnsLabel, Hostname, SiteName};
pub use crate::sites::steps::JobKind;

crate::id_type!(
    /// A `sites.id`.
    SiteId,
    /// An `environments.id`.
    EnvironmentId
);

crate::text_enum!(
    /// `sites.status`.
    SiteStatus {
        Provisioning = "provisioning",
        Active = "active",
        Failed = "failed",
        Deleted = "deleted",
    }
);

crate::text_enum!(
    /// `containers.desired_state`: what the customer last asked of the container, so that
    /// a container that is not running can be told "stopped as asked" from "failed".
    DesiredState {
        Running = "running",
        Stopped = "stopped",
    }
);

crate::text_enum!(
    /// `containers.status` and `environments.status`: pending until provisioning made them.
    ResourceStatus {
        Pending = "pending",
        Active = "active",
        Failed = "failed",
    }
);

crate::text_enum!(
    /// `provisioning_jobs.status`.
    JobStatus {
        Pending = "pending",
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
);

impl JobStatus {
    /// Still to finish: the site page polls while it is.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }
}

crate::text_enum!(
    /// `job_steps.status`. `Cancelled`: made unnecessary by a later decision (a deleted
    /// site's files are not removed once staff restored it).
    StepStatus {
        Pending = "pending",
        Done = "done",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

crate::text_enum!(
    /// `dns_records.type`.
    RecordType {
        A = "A",
        Aaaa = "AAAA",
        Cname = "CNAME",
        Txt = "TXT",
        Mx = "MX",
        Caa = "CAA",
    }
);

impl RecordType {
    /// The address record type of `address`: `A` or `AAAA`.
    pub fn for_address(address: std::net::IpAddr) -> Self {
        match address {
            std::net::IpAddr::V4(_) => Self::A,
            std::net::IpAddr::V6(_) => Self::Aaaa,
        }
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

/// What the wizard offers. With `needs_images` (the docker driver), a type and operating
/// system with no image set (`container_images`) are not offered.
pub async fn catalogue(db: &sqlx::PgPool, needs_images: bool) -> sqlx::Result<Catalogue> {
    let offered = sqlx::query!(
        "select type_id, os_id from container_type_os o
         where not $1 or exists(select 1 from container_images i
                                where i.type_id in (o.type_id, '*') and i.os_id in (o.os_id, '*'))",
        needs_images,
    )
    .fetch_all(db)
    .await?;
    let offered: Vec<(String, String)> = offered.into_iter().map(|row| (row.type_id, row.os_id)).collect();
    let mut types = sqlx::query_as!(Choice, "select id, label from container_types order by sort")
        .fetch_all(db)
        .await?;
    types.retain(|t| offered.iter().any(|(type_id, _)| *type_id == t.id));
    let mut systems = sqlx::query_as!(Choice, "select id, label from operating_systems order by sort")
        .fetch_all(db)
        .await?;
    systems.retain(|o| offered.iter().any(|(_, os_id)| *os_id == o.id));
    Ok(Catalogue {
        types,
        systems,
        sizes: sqlx::query_as!(
            Size,
            "select id, label, vcpu, memory_mib, disk_min_gib, disk_max_gib from container_sizes order by sort",
        )
        .fetch_all(db)
        .await?,
        offered,
    })
}

/// Whether any customer on the platform has this hostname (primary or alias). The answer
/// never says whose it is.
pub async fn hostname_taken(db: impl PgExecutor<'_>, hostname: &Hostname) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from hostnames where hostname = $1) as "taken!""#,
        hostname.ascii()
    )
    .fetch_one(db)
    .await
}

/// The subset of `hostnames` already taken on the platform.
pub async fn hostnames_taken(db: impl PgExecutor<'_>, hostnames: &[&str]) -> sqlx::Result<Vec<String>> {
    let hostnames: Vec<String> = hostnames.iter().map(|h| (*h).to_owned()).collect();
    sqlx::query_scalar!("select hostname from hostnames where hostname = any($1)", &hostnames)
        .fetch_all(db)
        .await
}

pub async fn container_name_taken(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    name: &DnsLabel,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from containers where customer_id = $1 and name = $2) as "taken!""#,
        customer as CustomerId,
        name.as_str()
    )
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

/// The constraint a hostname taken meanwhile breaks.
const HOSTNAME_TAKEN: &str = "hostnames_pkey";
/// The constraint a container name taken meanwhile breaks.
const CONTAINER_NAME_TAKEN: &str = "containers_customer_id_name_key";

/// Writes the site, its hostnames, container, environments, DNS records and provisioning
/// job with its steps, inside `tx` (the caller commits). A second call with the same draft
/// token returns the site the first one made and writes nothing.
pub async fn create(
    tx: &mut sqlx::PgConnection,
    customer: CustomerId,
    draft_token: uuid::Uuid,
    plan: &Plan,
) -> Result<SiteId, CreateError> {
    let inserted = sqlx::query_scalar!(
        r#"insert into sites (customer_id, name, hostname, create_dns, draft_token) values ($1, $2, $3, $4, $5)
         on conflict (customer_id, draft_token) do nothing returning id as "id: SiteId""#,
        customer as CustomerId,
        plan.site_name.as_str(),
        plan.hostname.ascii(),
        plan.create_dns,
        draft_token,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(site) = inserted else {
        let existing = site_by_draft(&mut *tx, customer, draft_token).await?;
        return existing.ok_or(CreateError::Db(sqlx::Error::RowNotFound));
    };

    for (hostname, primary) in std::iter::once((&plan.hostname, true)).chain(plan.aliases.iter().map(|a| (a, false))) {
        let result = sqlx::query!(
            "insert into hostnames (hostname, customer_id, site_id, is_primary) values ($1, $2, $3, $4)",
            hostname.ascii(),
            customer as CustomerId,
            site as SiteId,
            primary,
        )
        .execute(&mut *tx)
        .await;
        if let Err(err) = result {
            return Err(match crate::db::violated(&err) {
                Some(HOSTNAME_TAKEN) => CreateError::HostnameTaken(hostname.ascii().to_owned()),
                _ => CreateError::Db(err),
            });
        }
    }

    let container = sqlx::query!(
        "insert into containers (customer_id, site_id, name, type_id, os_id, size_id, disk_gib)
         values ($1, $2, $3, $4, $5, $6, $7)",
        customer as CustomerId,
        site as SiteId,
        plan.container_name.as_str(),
        plan.container_type,
        plan.container_os,
        plan.container_size,
        plan.disk_gib,
    )
    .execute(&mut *tx)
    .await;
    if let Err(err) = container {
        return Err(match crate::db::violated(&err) {
            Some(CONTAINER_NAME_TAKEN) => CreateError::ContainerNameTaken,
            _ => CreateError::Db(err),
        });
    }

    let environments: Vec<String> = plan.environments.iter().map(|e| e.as_str().to_owned()).collect();
    sqlx::query!(
        "insert into environments (customer_id, site_id, name) select $1, $2, unnest($3::text[])",
        customer as CustomerId,
        site as SiteId,
        &environments,
    )
    .execute(&mut *tx)
    .await?;

    sqlx::query!(
        "insert into dns_records (customer_id, site_id, name, type) select $1, $2, unnest($3::text[]), $4",
        customer as CustomerId,
        site as SiteId,
        &plan.dns_names(),
        RecordType::A as RecordType,
    )
    .execute(&mut *tx)
    .await?;

    let job = sqlx::query_scalar!(
        "insert into provisioning_jobs (customer_id, site_id) values ($1, $2) returning id",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_one(&mut *tx)
    .await?;
    let names: Vec<String> = crate::sites::steps::STEPS.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query!(
        "insert into job_steps (job_id, position, name)
         select $1, position, name from unnest($2::text[]) with ordinality as s(name, position)",
        job,
        &names,
    )
    .execute(&mut *tx)
    .await?;
    Ok(site)
}

pub async fn site_by_draft(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    token: uuid::Uuid,
) -> sqlx::Result<Option<SiteId>> {
    sqlx::query_scalar!(
        r#"select id as "id: SiteId" from sites where customer_id = $1 and draft_token = $2"#,
        customer as CustomerId,
        token,
    )
    .fetch_optional(db)
    .await
}

/// What creating a site made, by id: for the API's answer.
#[derive(Debug, Clone)]
pub struct Created {
    pub site: SiteId,
    pub container: i64,
    /// (id, name), by name.
    pub environments: Vec<(EnvironmentId, String)>,
    /// The site's own hostname and its aliases (ASCII form; a hostname is its own key).
    pub hostname: String,
    pub aliases: Vec<String>,
    /// (id, name, type), by name.
    pub dns_records: Vec<(i64, String, RecordType)>,
    pub job: i64,
}

/// Reads back what [`create`] wrote for `site` (in its transaction).
pub async fn created(db: &mut sqlx::PgConnection, customer: CustomerId, site: SiteId) -> sqlx::Result<Created> {
    let ids = sqlx::query!(
        r#"select (select id from containers where customer_id = $1 and site_id = $2 order by id limit 1) as "container!",
                (select id from provisioning_jobs where customer_id = $1 and site_id = $2 order by id limit 1) as "job!""#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_one(&mut *db)
    .await?;
    let environments = sqlx::query!(
        r#"select id as "id: EnvironmentId", name from environments where customer_id = $1 and site_id = $2
         order by name"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_all(&mut *db)
    .await?;
    let hostnames = sqlx::query!(
        "select hostname, is_primary from hostnames where customer_id = $1 and site_id = $2 order by hostname",
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_all(&mut *db)
    .await?;
    let dns_records = sqlx::query!(
        r#"select id, name, type as "kind: RecordType" from dns_records where customer_id = $1 and site_id = $2
         order by name, type"#,
        customer as CustomerId,
        site as SiteId,
    )
    .fetch_all(&mut *db)
    .await?;
    let hostname = hostnames
        .iter()
        .find(|h| h.is_primary)
        .map(|h| h.hostname.clone())
        .unwrap_or_default();
    let aliases = hostnames
        .into_iter()
        .filter(|h| !h.is_primary)
        .map(|h| h.hostname)
        .collect();
    Ok(Created {
        site,
        container: ids.container,
        environments: environments.into_iter().map(|e| (e.id, e.name)).collect(),
        hostname,
        aliases,
        dns_records: dns_records.into_iter().map(|r| (r.id, r.name, r.kind)).collect(),
        job: ids.job,
    })
}

// ---- what the site pages show -----------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SiteRow {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub status: SiteStatus,
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
    let rows = sqlx::query_as!(
        SiteRow,
        r#"with page as (
             select id, name, hostname, status, created_at, count(*) over () as total
             from sites where customer_id = $1 order by name, id limit $2 offset $3
         )
         select p.total as "total!", p.id as "id: SiteId", p.name, p.hostname, p.status as "status: SiteStatus",
                p.created_at,
                (select count(*) from environments e where e.customer_id = $1 and e.site_id = p.id) as "environments!",
                (select count(*) from hostnames h where h.customer_id = $1 and h.site_id = p.id and not h.is_primary)
                    as "aliases!"
         from page p order by p.name, p.id"#,
        customer as CustomerId,
        limit,
        offset,
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map(|row| row.total).unwrap_or(0);
    Ok((rows, total))
}

#[derive(Debug, Clone)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub status: SiteStatus,
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
    pub status: ResourceStatus,
    pub address: Option<std::net::IpAddr>,
    pub desired_state: DesiredState,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Environment {
    pub id: i64,
    pub name: String,
    pub status: ResourceStatus,
}

/// Which of a site's environments (by name, oldest first) its container serves at
/// `/var/www/html`: the one named `production`, or else the oldest.
pub fn serving_environment(oldest_first: &[String]) -> Option<&String> {
    oldest_first
        .iter()
        .find(|name| *name == "production")
        .or(oldest_first.first())
}

/// An FTP user placed on a site, as the site page lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SiteFtpUser {
    pub username: String,
    /// `None`: the site's serving environment.
    pub environment: Option<String>,
    pub relative_root: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct DnsRecord {
    /// `dns_records.id`: the site page's forms name the record by it.
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: RecordType,
    pub value: Option<String>,
    pub ttl: i32,
}

impl DnsRecord {
    pub fn name_unicode(&self) -> String {
        crate::sites::names::to_unicode(&self.name)
    }

    /// What deleting the record does: the name stops answering with its value.
    pub fn delete_consequence(&self) -> String {
        match &self.value {
            Some(value) => format!(
                "{} stops answering {} {value} once the change reaches the name servers (up to its TTL of {} s in caches).",
                self.name_unicode(),
                self.kind,
                self.ttl
            ),
            None => format!("The pending {} record of {} goes.", self.kind, self.name_unicode()),
        }
    }
}

/// A step of a job, as the site page shows it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Step {
    pub name: crate::sites::steps::Step,
    pub status: StepStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
}

impl Step {
    pub fn label(&self) -> &'static str {
        self.name.label()
    }
}

/// A job of the site's (provisioning, or an action on it) with its steps in order.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub status: JobStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub steps: Vec<Step>,
}

impl Job {
    /// When a deletion's last step removes the files, while it is still to come.
    pub fn purge_at(&self) -> Option<OffsetDateTime> {
        self.steps
            .iter()
            .find(|s| s.name == crate::sites::steps::Step::PurgeFiles && s.status == StepStatus::Pending)
            .map(|s| s.next_attempt_at)
    }

    /// Whether it still has work to do now: unfinished, with a step other than the files'
    /// removal (which waits out the grace period) still to run.
    pub fn working(&self) -> bool {
        self.status.is_running()
            && self
                .steps
                .iter()
                .any(|s| s.status == StepStatus::Pending && s.name != crate::sites::steps::Step::PurgeFiles)
    }
}

pub struct Detail {
    pub site: Site,
    pub container: Option<Container>,
    pub environments: Vec<Environment>,
    pub aliases: Vec<String>,
    pub records: Vec<DnsRecord>,
    /// The site's job at work now (the earliest unfinished), else its latest.
    pub job: Option<Job>,
    /// The kinds of its unfinished jobs, in the order they run (the first is `job`).
    pub unfinished: Vec<JobKind>,
    pub deleted_at: Option<OffsetDateTime>,
    pub files_removed_at: Option<OffsetDateTime>,
    /// DNS verification (BERTH_DNS_VERIFY): whether it is on, the token the site's
    /// `_berth-verify.<zone>` TXT records hold, and its zones not shown to be the customer's.
    pub dns_verify: bool,
    pub dns_token: String,
    /// The platform's name servers, which the site's zones are delegated to.
    pub dns_nameservers: Vec<String>,
    pub dns_unverified: Vec<String>,
    /// The FTP users placed on the site, by username.
    pub ftp_users: Vec<SiteFtpUser>,
}

pub async fn site(db: impl PgExecutor<'_>, customer: CustomerId, id: SiteId) -> sqlx::Result<Option<Site>> {
    sqlx::query_as!(
        Site,
        r#"select id as "id: SiteId", name, hostname, status as "status: SiteStatus", create_dns, created_at
         from sites where customer_id = $1 and id = $2"#,
        customer as CustomerId,
        id as SiteId,
    )
    .fetch_optional(db)
    .await
}

/// The site with everything on its page; `None` when it is not the customer's.
pub async fn detail(db: impl PgExecutor<'_>, customer: CustomerId, id: SiteId) -> sqlx::Result<Option<Detail>> {
    // One statement: the page's parts as JSON, each read through its customer index.
    let row = sqlx::query!(
        r#"select s.id as "id: SiteId", s.name, s.hostname, s.status as "status: SiteStatus", s.create_dns,
            s.created_at, s.deleted_at, s.files_removed_at,
            (select to_jsonb(x) from (
                select c.name, t.label as type_label, o.label as os_label, z.label as size_label, z.vcpu,
                       z.memory_mib, c.disk_gib, c.status, host(c.address) as address, c.desired_state
                from containers c join container_types t on t.id = c.type_id
                     join operating_systems o on o.id = c.os_id join container_sizes z on z.id = c.size_id
                where c.customer_id = $1 and c.site_id = s.id order by c.id limit 1) x)
                as "container: Json<Container>",
            (select coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'name', e.name, 'status', e.status) order by e.name), '[]')
                from environments e where e.customer_id = $1 and e.site_id = s.id)
                as "environments!: Json<Vec<Environment>>",
            (select coalesce(jsonb_agg(h.hostname order by h.hostname), '[]')
                from hostnames h where h.customer_id = $1 and h.site_id = s.id and not h.is_primary)
                as "aliases!: Json<Vec<String>>",
            (select coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name, 'type', r.type, 'value', r.value,
                                                          'ttl', r.ttl) order by r.name, r.type, r.id), '[]')
                from dns_records r where r.customer_id = $1 and r.site_id = s.id)
                as "records!: Json<Vec<DnsRecord>>",
            (select to_jsonb(x) from (
                select j.id, j.kind, j.status, j.created_at, j.finished_at,
                       (select coalesce(jsonb_agg(jsonb_build_object('name', st.name, 'status', st.status,
                                'attempts', st.attempts, 'last_error', st.last_error,
                                'next_attempt_at', st.next_attempt_at) order by st.position), '[]')
                        from job_steps st where st.job_id = j.id) as steps
                from provisioning_jobs j where j.customer_id = $1 and j.site_id = s.id
                order by j.status = any($3) desc, case when j.status = any($3) then j.id else -j.id end
                limit 1) x)
                as "job: Json<Job>",
            (select coalesce(jsonb_agg(j.kind order by j.id), '[]') from provisioning_jobs j
                where j.customer_id = $1 and j.site_id = s.id and j.status = any($3))
                as "unfinished!: Json<Vec<JobKind>>",
            (select verify from dns_settings) as "dns_verify!", s.dns_token,
            (select nameservers from dns_settings) as "dns_nameservers!",
            (select coalesce(jsonb_agg(z.name order by z.name), '[]') from dns_zones z
                where z.customer_id = $1 and z.site_id = s.id and not z.verified)
                as "dns_unverified!: Json<Vec<String>>",
            (select coalesce(jsonb_agg(jsonb_build_object('username', f.username, 'environment', e.name,
                                                          'relative_root', f.relative_root,
                                                          'read_only', f.type = 'read-only') order by f.username), '[]')
                from ftp_users f left join environments e on e.id = f.environment_id
                where f.customer_id = $1 and f.site_id = s.id)
                as "ftp_users!: Json<Vec<SiteFtpUser>>"
         from sites s where s.customer_id = $1 and s.id = $2"#,
        customer as CustomerId,
        id as SiteId,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| Detail {
        site: Site {
            id: row.id,
            name: row.name,
            hostname: row.hostname,
            status: row.status,
            create_dns: row.create_dns,
            created_at: row.created_at,
        },
        container: row.container.map(|c| c.0),
        environments: row.environments.0,
        aliases: row.aliases.0,
        records: row.records.0,
        job: row.job.map(|j| j.0),
        unfinished: row.unfinished.0,
        deleted_at: row.deleted_at,
        files_removed_at: row.files_removed_at,
        dns_verify: row.dns_verify,
        dns_token: row.dns_token,
        dns_nameservers: row.dns_nameservers,
        dns_unverified: row.dns_unverified.0,
        ftp_users: row.ftp_users.0,
    }))
}

pub async fn records(db: impl PgExecutor<'_>, customer: CustomerId, id: SiteId) -> sqlx::Result<Vec<DnsRecord>> {
    sqlx::query_as!(
        DnsRecord,
        r#"select id, name, type as "kind: RecordType", value, ttl from dns_records
         where customer_id = $1 and site_id = $2 order by name, type, id"#,
        customer as CustomerId,
        id as SiteId,
    )
    .fetch_all(db)
    .await
}

/// The site's job at work now (the earliest unfinished), else its latest, with its steps in
/// order; `None` when it has none.
pub async fn current_job(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<Option<Job>> {
    let job = sqlx::query_scalar!(
        r#"select to_jsonb(x) as "job!: Json<Job>" from (
             select j.id, j.kind, j.status, j.created_at, j.finished_at,
                    (select coalesce(jsonb_agg(jsonb_build_object('name', st.name, 'status', st.status,
                             'attempts', st.attempts, 'last_error', st.last_error,
                             'next_attempt_at', st.next_attempt_at) order by st.position), '[]')
                     from job_steps st where st.job_id = j.id) as steps
             from provisioning_jobs j where j.customer_id = $1 and j.site_id = $2
             order by j.status = any($3) desc, case when j.status = any($3) then j.id else -j.id end
             limit 1) x"#,
        customer as CustomerId,
        site as SiteId,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
    )
    .fetch_optional(db)
    .await?;
    Ok(job.map(|j| j.0))
}

/// The kinds of the site's unfinished jobs, in the order they run.
pub async fn unfinished_kinds(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Vec<JobKind>> {
    sqlx::query_scalar!(
        r#"select kind as "kind: JobKind" from provisioning_jobs
         where customer_id = $1 and site_id = $2 and status = any($3) order by id"#,
        customer as CustomerId,
        site as SiteId,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
    )
    .fetch_all(db)
    .await
}

/// One job of the customer's, with its steps.
pub async fn job(db: impl PgExecutor<'_>, customer: CustomerId, id: i64) -> sqlx::Result<Option<Job>> {
    let job = sqlx::query_scalar!(
        r#"select to_jsonb(x) as "job!: Json<Job>" from (
             select j.id, j.kind, j.status, j.created_at, j.finished_at,
                    (select coalesce(jsonb_agg(jsonb_build_object('name', st.name, 'status', st.status,
                             'attempts', st.attempts, 'last_error', st.last_error,
                             'next_attempt_at', st.next_attempt_at) order by st.position), '[]')
                     from job_steps st where st.job_id = j.id) as steps
             from provisioning_jobs j where j.customer_id = $1 and j.id = $2) x"#,
        customer as CustomerId,
        id,
    )
    .fetch_optional(db)
    .await?;
    Ok(job.map(|j| j.0))
}

// ---- the customer's controls ------------------------------------------------------------

/// A site as an action on it needs it, locked until the action's transaction ends: actions
/// of one site are queued one after the other, so their jobs' ids are in the order asked.
#[derive(Debug, Clone)]
pub struct Locked {
    pub status: SiteStatus,
    pub hostname: String,
    pub files_removed_at: Option<OffsetDateTime>,
}

pub async fn lock(db: &mut sqlx::PgConnection, customer: CustomerId, id: SiteId) -> sqlx::Result<Option<Locked>> {
    sqlx::query_as!(
        Locked,
        r#"select status as "status: SiteStatus", hostname, files_removed_at from sites
         where customer_id = $1 and id = $2 for update"#,
        customer as CustomerId,
        id as SiteId,
    )
    .fetch_optional(db)
    .await
}

/// The site's latest job that is still unfinished: (id, kind).
pub async fn unfinished_job(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<(i64, JobKind)>> {
    let row = sqlx::query!(
        r#"select id, kind as "kind: JobKind" from provisioning_jobs
         where customer_id = $1 and site_id = $2 and status = any($3) order by id desc limit 1"#,
        customer as CustomerId,
        site as SiteId,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.kind)))
}

/// Queues a job of `kind` for the site with its steps, due now; a deletion's last step,
/// removing the files, is due after the grace period. Returns the job's id.
pub async fn queue(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    site: SiteId,
    kind: JobKind,
) -> sqlx::Result<i64> {
    let job = sqlx::query_scalar!(
        "insert into provisioning_jobs (customer_id, site_id, kind) values ($1, $2, $3) returning id",
        customer as CustomerId,
        site as SiteId,
        kind as JobKind,
    )
    .fetch_one(&mut *db)
    .await?;
    sqlx::query!(
        "insert into job_steps (job_id, position, name, next_attempt_at)
         select $1, position, name,
                case when name = $3 then now() + make_interval(days => $4) else now() end
         from unnest($2::text[]) with ordinality as s(name, position)",
        job,
        &kind.step_names(),
        crate::sites::steps::Step::PurgeFiles.name(),
        crate::sites::steps::GRACE_DAYS,
    )
    .execute(&mut *db)
    .await?;
    Ok(job)
}

/// Records what the customer asks of the site's container.
pub async fn set_desired_state(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    site: SiteId,
    desired: DesiredState,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update containers set desired_state = $3 where customer_id = $1 and site_id = $2",
        customer as CustomerId,
        site as SiteId,
        desired as DesiredState,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The site is deleted (as of now); its deletion job does the rest.
pub async fn mark_deleted(db: impl PgExecutor<'_>, customer: CustomerId, site: SiteId) -> sqlx::Result<()> {
    sqlx::query!(
        "update sites set status = $3, deleted_at = now() where customer_id = $1 and id = $2",
        customer as CustomerId,
        site as SiteId,
        SiteStatus::Deleted as SiteStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The deletion job of a deleted site, as a restore finds it (locked): its id and status,
/// and its files' removal step with its status; `None` when there is no such job.
#[derive(Debug, Clone)]
pub struct Deletion {
    pub job: i64,
    pub job_status: JobStatus,
    pub purge_step: i64,
    pub purge_status: StepStatus,
    /// The label of its first step before the files' removal that is not done yet.
    pub unfinished: Option<crate::sites::steps::Step>,
}

pub async fn lock_deletion(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    site: SiteId,
) -> sqlx::Result<Option<Deletion>> {
    // The steps are locked too: a worker removing the files right now holds its step, and
    // this waits for it (then sees the step done).
    let row = sqlx::query!(
        r#"select j.id as job, j.status as "job_status: JobStatus", s.id as purge_step,
                  s.status as "purge_status: StepStatus",
                  (select o.name from job_steps o where o.job_id = j.id and o.position < s.position and o.status <> $4
                   order by o.position limit 1) as "unfinished: crate::sites::steps::Step"
         from provisioning_jobs j join job_steps s on s.job_id = j.id and s.name = $5
         where j.customer_id = $1 and j.site_id = $2 and j.kind = $3
         order by j.id desc limit 1
         for update of j, s"#,
        customer as CustomerId,
        site as SiteId,
        JobKind::Delete as JobKind,
        StepStatus::Done as StepStatus,
        crate::sites::steps::Step::PurgeFiles.name(),
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Deletion {
        job: r.job,
        job_status: r.job_status,
        purge_step: r.purge_step,
        purge_status: r.purge_status,
        unfinished: r.unfinished,
    }))
}

/// Cancels a deletion's removal of the files: the step is cancelled and the job, unless it
/// failed, done.
pub async fn cancel_purge(db: &mut sqlx::PgConnection, deletion: &Deletion) -> sqlx::Result<()> {
    sqlx::query!(
        "update job_steps set status = $2, finished_at = now() where id = $1",
        deletion.purge_step,
        StepStatus::Cancelled as StepStatus,
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!(
        "update provisioning_jobs set status = $2, finished_at = now() where id = $1 and status = any($3)",
        deletion.job,
        JobStatus::Done as JobStatus,
        &[JobStatus::Pending, JobStatus::Running] as &[JobStatus],
    )
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A deleted site is set up again: provisioning, its container and environments pending,
/// to run.
pub async fn mark_restored(db: &mut sqlx::PgConnection, customer: CustomerId, site: SiteId) -> sqlx::Result<()> {
    sqlx::query!(
        "update sites set status = $3, deleted_at = null where customer_id = $1 and id = $2",
        customer as CustomerId,
        site as SiteId,
        SiteStatus::Provisioning as SiteStatus,
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!(
        "with c as (
             update containers set status = $3, desired_state = $4 where customer_id = $1 and site_id = $2
         )
         update environments set status = $3 where customer_id = $1 and site_id = $2",
        customer as CustomerId,
        site as SiteId,
        ResourceStatus::Pending as ResourceStatus,
        DesiredState::Running as DesiredState,
    )
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A customer's site as the staff console lists it.
#[derive(Debug, Clone)]
pub struct StaffSite {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub status: SiteStatus,
    pub deleted_at: Option<OffsetDateTime>,
    pub files_removed_at: Option<OffsetDateTime>,
    /// When a deleted site's files are removed, while that is still to come.
    pub purge_at: Option<OffsetDateTime>,
}

impl StaffSite {
    pub fn hostname_unicode(&self) -> String {
        crate::sites::names::to_unicode(&self.hostname)
    }
}

/// Every site of the customer's, by name, with when a deleted one's files go.
pub async fn staff_list(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Vec<StaffSite>> {
    sqlx::query_as!(
        StaffSite,
        r#"select s.id as "id: SiteId", s.name, s.hostname, s.status as "status: SiteStatus", s.deleted_at,
                  s.files_removed_at,
                  (select st.next_attempt_at from provisioning_jobs j join job_steps st on st.job_id = j.id
                   where j.customer_id = $1 and j.site_id = s.id and j.kind = $2 and st.name = $3 and st.status = $4
                   order by j.id desc limit 1) as purge_at
         from sites s where s.customer_id = $1 order by s.name, s.id"#,
        customer as CustomerId,
        JobKind::Delete as JobKind,
        crate::sites::steps::Step::PurgeFiles.name(),
        StepStatus::Pending as StepStatus,
    )
    .fetch_all(db)
    .await
}
