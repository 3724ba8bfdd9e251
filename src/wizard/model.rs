//! The wizard's draft, kept server-side per customer (so it survives sign-out and another
//! device), and checking each step of it into a site `Plan`.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::identity::CustomerId;
use crate::sites::model::{self, Catalogue, Plan};
use crate::sites::names::{DnsLabel, Hostname, SiteName};
use crate::validation::FieldErrors;

pub const MAX_ENVIRONMENTS: usize = 10;
pub const MAX_ALIASES: usize = 20;

/// The wizard's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Site,
    Container,
    Environments,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Site, Step::Container, Step::Environments];

    /// The step's name in URLs and the step indicator.
    pub fn key(self) -> &'static str {
        match self {
            Step::Site => "site",
            Step::Container => "container",
            Step::Environments => "environments",
        }
    }

    pub fn from_key(key: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn path(self) -> &'static str {
        match self {
            Step::Site => "/wizard/site",
            Step::Container => "/wizard/container",
            Step::Environments => "/wizard/environments",
        }
    }
}

/// What the customer typed, as typed (so going back and forth keeps it), and which steps
/// passed their checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Draft {
    pub site_name: String,
    pub site_hostname: String,
    pub container_name: String,
    pub container_type: String,
    pub container_os_id: String,
    pub container_size: String,
    pub container_disk_space: String,
    pub environment_names: Vec<String>,
    pub alias_names: Vec<String>,
    pub create_dns: bool,
    pub done: Vec<Step>,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            site_name: String::new(),
            site_hostname: String::new(),
            container_name: String::new(),
            container_type: String::new(),
            container_os_id: String::new(),
            container_size: String::new(),
            container_disk_space: String::new(),
            environment_names: vec!["production".to_owned()],
            alias_names: Vec::new(),
            create_dns: true,
            done: Vec::new(),
        }
    }
}

impl Draft {
    /// A step's fields as (label, value), to compare and to tell what another tab changed.
    pub fn step_values(&self, step: Step) -> Vec<(&'static str, String)> {
        match step {
            Step::Site => vec![
                ("Site name", self.site_name.clone()),
                ("Hostname", self.site_hostname.clone()),
            ],
            Step::Container => vec![
                ("Container name", self.container_name.clone()),
                ("Type", self.container_type.clone()),
                ("Operating system", self.container_os_id.clone()),
                ("Size", self.container_size.clone()),
                ("Disk space", self.container_disk_space.clone()),
            ],
            Step::Environments => vec![
                ("Environments", self.environment_names.join(", ")),
                ("Aliases", self.alias_names.join(", ")),
                ("DNS records", if self.create_dns { "yes" } else { "no" }.to_owned()),
            ],
        }
    }

    /// A short digest of a step's fields: a step form carries the one it was shown with,
    /// so a save can tell whether that step changed meanwhile.
    pub fn step_digest(&self, step: Step) -> String {
        use sha2::{Digest, Sha256};
        let values = serde_json::to_vec(&self.step_values(step)).unwrap_or_default();
        hex::encode(&Sha256::digest(values)[..12])
    }

    /// The first step that has not passed its checks, or `None` when it is ready for review.
    pub fn first_unfinished(&self) -> Option<Step> {
        Step::ALL.into_iter().find(|s| !self.done.contains(s))
    }

    pub fn mark(&mut self, step: Step, ok: bool) {
        self.done.retain(|s| *s != step);
        if ok {
            self.done.push(step);
        }
    }
}

/// The stored draft: its token (for Create's idempotency), its revision (one more with
/// every save) and its data.
pub async fn load(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<(uuid::Uuid, i64, Draft)>> {
    let row = sqlx::query!(
        r#"select token, revision, data as "data: Json<Draft>" from wizard_drafts where customer_id = $1"#,
        customer as CustomerId,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.token, row.revision, row.data.0)))
}

/// Saves the draft if it is still at `revision` (`None`: there was no draft; a new one
/// gets a new token, which makes its creation idempotent). Returns the new revision, or
/// `None` when another save came first: the caller reads the draft again.
pub async fn save(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    draft: &Draft,
    revision: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    match revision {
        Some(revision) => {
            sqlx::query_scalar!(
                "update wizard_drafts set data = $3, revision = revision + 1, updated_at = now()
                 where customer_id = $1 and revision = $2
                 returning revision",
                customer as CustomerId,
                revision,
                Json(draft) as _,
            )
            .fetch_optional(db)
            .await
        }
        None => {
            sqlx::query_scalar!(
                "insert into wizard_drafts (customer_id, token, data, revision) values ($1, $2, $3, 1)
                 on conflict (customer_id) do nothing
                 returning revision",
                customer as CustomerId,
                uuid::Uuid::new_v4(),
                Json(draft) as _,
            )
            .fetch_optional(db)
            .await
        }
    }
}

/// Starts over: removes the draft, whatever its revision.
pub async fn discard(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<()> {
    sqlx::query!("delete from wizard_drafts where customer_id = $1", customer as CustomerId)
        .execute(db)
        .await?;
    Ok(())
}

/// Removes the draft once its site is created, only if it is still at `revision` (the
/// one reviewed); `false` when it changed meanwhile.
pub async fn discard_at(db: impl PgExecutor<'_>, customer: CustomerId, revision: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from wizard_drafts where customer_id = $1 and revision = $2",
        customer as CustomerId,
        revision,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The values of a step after its checks.
pub struct SiteStep {
    pub name: SiteName,
    pub hostname: Hostname,
}

pub async fn check_site(db: &sqlx::PgPool, draft: &Draft, errors: &mut FieldErrors) -> sqlx::Result<Option<SiteStep>> {
    let name = errors.check("site_name", draft.site_name.parse::<SiteName>());
    let hostname = errors.check("site_hostname", draft.site_hostname.parse::<Hostname>());
    if let Some(h) = &hostname
        && model::hostname_taken(db, h).await?
    {
        errors.add("site_hostname", "This hostname is already in use on the platform.");
        return Ok(None);
    }
    Ok(name.zip(hostname).map(|(name, hostname)| SiteStep { name, hostname }))
}

pub struct ContainerStep {
    pub name: DnsLabel,
    pub type_id: String,
    pub os_id: String,
    pub size_id: String,
    pub disk_gib: i32,
}

pub async fn check_container(
    db: &sqlx::PgPool,
    customer: CustomerId,
    catalogue: &Catalogue,
    draft: &Draft,
    errors: &mut FieldErrors,
) -> sqlx::Result<Option<ContainerStep>> {
    let name = errors.check("container_name", draft.container_name.parse::<DnsLabel>());
    if let Some(n) = &name
        && model::container_name_taken(db, customer, n).await?
    {
        errors.add("container_name", "You already have a container with this name.");
    }
    let type_ok = catalogue.has_type(&draft.container_type);
    if !type_ok {
        errors.add("container_type", "Choose a container type from the list.");
    }
    if !catalogue.has_os(&draft.container_os_id) {
        errors.add("container_os_id", "Choose an operating system from the list.");
    } else if type_ok && !catalogue.offers(&draft.container_type, &draft.container_os_id) {
        let offered = catalogue.systems_for(&draft.container_type).join(", ");
        errors.add(
            "container_os_id",
            format!("Not offered for this container type; choose one of: {offered}."),
        );
    }
    let size = catalogue.size(&draft.container_size);
    if size.is_none() {
        errors.add("container_size", "Choose a size from the list.");
    }
    let disk = draft.container_disk_space.trim().parse::<i32>().ok();
    match (size, disk) {
        (_, None) => errors.add("container_disk_space", "Enter the disk space in GiB, a whole number."),
        (Some(s), Some(d)) if !(s.disk_min_gib..=s.disk_max_gib).contains(&d) => errors.add(
            "container_disk_space",
            format!(
                "The {} size takes {} to {} GiB.",
                s.label, s.disk_min_gib, s.disk_max_gib
            ),
        ),
        _ => {}
    }
    if !errors.is_empty() {
        return Ok(None);
    }
    Ok(name.zip(disk).map(|(name, disk_gib)| ContainerStep {
        name,
        type_id: draft.container_type.clone(),
        os_id: draft.container_os_id.clone(),
        size_id: draft.container_size.clone(),
        disk_gib,
    }))
}

pub struct EnvironmentsStep {
    pub environments: Vec<DnsLabel>,
    pub aliases: Vec<Hostname>,
}

/// Field names for list entries are `environment_names.N` and `alias_names.N` (the N-th
/// non-empty value); the list itself is `environment_names` / `alias_names`.
pub async fn check_environments(
    db: &sqlx::PgPool,
    draft: &Draft,
    primary: Option<&str>,
    errors: &mut FieldErrors,
) -> sqlx::Result<Option<EnvironmentsStep>> {
    let mut environments: Vec<DnsLabel> = Vec::new();
    for (i, raw) in draft.environment_names.iter().enumerate() {
        if let Some(label) = errors.check(&format!("environment_names.{i}"), raw.parse::<DnsLabel>()) {
            if environments.contains(&label) {
                errors.add(
                    format!("environment_names.{i}"),
                    "Each environment name may appear only once.",
                );
            }
            environments.push(label);
        }
    }
    if draft.environment_names.is_empty() {
        errors.add(
            "environment_names",
            "Give at least one environment, such as production.",
        );
    }
    if draft.environment_names.len() > MAX_ENVIRONMENTS {
        errors.add("environment_names", format!("At most {MAX_ENVIRONMENTS} environments."));
    }
    let mut aliases: Vec<Hostname> = Vec::new();
    for (i, raw) in draft.alias_names.iter().enumerate() {
        if let Some(alias) = errors.check(&format!("alias_names.{i}"), raw.parse::<Hostname>()) {
            if Some(alias.ascii()) == primary {
                errors.add(
                    format!("alias_names.{i}"),
                    "An alias cannot repeat the site's hostname.",
                );
            } else if aliases.contains(&alias) {
                errors.add(format!("alias_names.{i}"), "Each alias may appear only once.");
            }
            aliases.push(alias);
        }
    }
    if draft.alias_names.len() > MAX_ALIASES {
        errors.add("alias_names", format!("At most {MAX_ALIASES} aliases."));
    }
    let names: Vec<&str> = aliases.iter().map(Hostname::ascii).collect();
    for taken in model::hostnames_taken(db, &names).await? {
        if let Some(i) = aliases.iter().position(|a| a.ascii() == taken) {
            errors.add(
                format!("alias_names.{i}"),
                "This hostname is already in use on the platform.",
            );
        }
    }
    Ok(errors.is_empty().then_some(EnvironmentsStep { environments, aliases }))
}

/// Checks every step again (the catalogues or the platform may have changed) into a plan;
/// on failure, the first failing step and its errors.
pub async fn plan(
    db: &sqlx::PgPool,
    customer: CustomerId,
    catalogue: &Catalogue,
    draft: &Draft,
) -> sqlx::Result<Result<Plan, (Step, FieldErrors)>> {
    let mut errors = FieldErrors::default();
    let Some(site) = check_site(db, draft, &mut errors).await? else {
        return Ok(Err((Step::Site, errors)));
    };
    let Some(container) = check_container(db, customer, catalogue, draft, &mut errors).await? else {
        return Ok(Err((Step::Container, errors)));
    };
    let Some(envs) = check_environments(db, draft, Some(site.hostname.ascii()), &mut errors).await? else {
        // Another customer may have taken the primary and an alias between the two checks:
        // then the site step is the one to go back to.
        let mut site_errors = FieldErrors::default();
        if check_site(db, draft, &mut site_errors).await?.is_none() {
            return Ok(Err((Step::Site, site_errors)));
        }
        return Ok(Err((Step::Environments, errors)));
    };
    Ok(Ok(into_plan(site, container, envs, draft.create_dns)))
}

/// Every step's checks at once, with all their errors on `errors` (for the API, which has
/// no steps to go back to); the plan when every check passes.
pub async fn check_all(
    db: &sqlx::PgPool,
    customer: CustomerId,
    catalogue: &Catalogue,
    draft: &Draft,
    errors: &mut FieldErrors,
) -> sqlx::Result<Option<Plan>> {
    let site = check_site(db, draft, errors).await?;
    let container = check_container(db, customer, catalogue, draft, errors).await?;
    // Aliases are compared with the hostname as typed, even when it is taken.
    let primary = draft.site_hostname.parse::<Hostname>().ok();
    let envs = check_environments(db, draft, primary.as_ref().map(Hostname::ascii), errors).await?;
    Ok(match (site, container, envs) {
        (Some(site), Some(container), Some(envs)) if errors.is_empty() => {
            Some(into_plan(site, container, envs, draft.create_dns))
        }
        _ => None,
    })
}

fn into_plan(site: SiteStep, container: ContainerStep, envs: EnvironmentsStep, create_dns: bool) -> Plan {
    Plan {
        site_name: site.name,
        hostname: site.hostname,
        container_name: container.name,
        container_type: container.type_id,
        container_os: container.os_id,
        container_size: container.size_id,
        disk_gib: container.disk_gib,
        environments: envs.environments,
        aliases: envs.aliases,
        create_dns,
    }
}
