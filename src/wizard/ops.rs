//! The wizard's operations: checking each step of a draft, and creating the site it
//! plans. The one place the wizard decides anything; the `/wizard` pages (`mod.rs`) and
//! CP_Wizard (`api.rs`) only translate their input and these errors.

use crate::audit;
use crate::engine::Platform;
use crate::identity::{CustomerId, Who};
use crate::sites::model::{self, Catalogue, CreateError, Created, Plan};
use crate::sites::names::{DnsLabel, Hostname, SiteName};
use crate::validation::{Field, FieldErrors, Names};
use crate::wizard::model::{self as drafts, Draft, MAX_ALIASES, MAX_ENVIRONMENTS, Step};

/// The wizard's fields, by their form and seed (CP_Wizard argument) names. A list's entry
/// is told under the list's name and its index (`alias_names.2`, `aliasNames.2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WizardField {
    SiteName,
    SiteHostname,
    ContainerName,
    ContainerType,
    ContainerOsId,
    ContainerSize,
    ContainerDiskSpace,
    EnvironmentNames,
    AliasNames,
}

impl Field for WizardField {
    fn form(self) -> &'static str {
        match self {
            Self::SiteName => "site_name",
            Self::SiteHostname => "site_hostname",
            Self::ContainerName => "container_name",
            Self::ContainerType => "container_type",
            Self::ContainerOsId => "container_os_id",
            Self::ContainerSize => "container_size",
            Self::ContainerDiskSpace => "container_disk_space",
            Self::EnvironmentNames => "environment_names",
            Self::AliasNames => "alias_names",
        }
    }

    fn seed(self) -> &'static str {
        match self {
            Self::SiteName => "siteName",
            Self::SiteHostname => "siteHostname",
            Self::ContainerName => "containerName",
            Self::ContainerType => "containerType",
            Self::ContainerOsId => "containerOSId",
            Self::ContainerSize => "containerSize",
            Self::ContainerDiskSpace => "containerDiskSpace",
            Self::EnvironmentNames => "environmentNames",
            Self::AliasNames => "aliasNames",
        }
    }
}

impl WizardField {
    /// The field itself (a list: the whole list).
    pub fn at(self) -> At {
        At {
            field: self,
            entry: None,
        }
    }

    /// The `index`-th entry of a list field.
    pub fn entry(self, index: usize) -> At {
        At {
            field: self,
            entry: Some(index),
        }
    }
}

/// Where a mistake is: a field, or one entry of a list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub field: WizardField,
    pub entry: Option<usize>,
}

impl At {
    /// Its name under the form's or the seed's names.
    pub fn name(self, names: Names) -> String {
        let name = match names {
            Names::Form => self.field.form(),
            Names::Seed => self.field.seed(),
        };
        match self.entry {
            Some(i) => format!("{name}.{i}"),
            None => name.to_owned(),
        }
    }
}

/// What was wrong with a draft, by field and list entry (a field keeps its first message).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WizardInvalid(Vec<(At, String)>);

impl WizardInvalid {
    pub fn one(at: At, message: impl Into<String>) -> Self {
        Self(vec![(at, message.into())])
    }

    pub fn add(&mut self, at: At, message: impl Into<String>) {
        if !self.0.iter().any(|(a, _)| *a == at) {
            self.0.push((at, message.into()));
        }
    }

    /// Keeps the parsed value, or records its error at `at`.
    pub fn check<T, E: std::fmt::Display>(&mut self, at: At, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(at, err.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages under the form's or the API's names.
    pub fn errors(&self, names: Names) -> FieldErrors {
        let mut errors = FieldErrors::default();
        for (at, message) in &self.0 {
            errors.add(at.name(names), message.clone());
        }
        errors
    }
}

/// Why the wizard did not go on.
#[derive(Debug)]
pub enum WizardError {
    /// The draft does not pass the checks of `step` (the first failing one, or, for an
    /// API call, every step's at once under the last).
    Invalid {
        step: Step,
        invalid: WizardInvalid,
    },
    /// The draft changed after it was reviewed: nothing was created.
    DraftChanged,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for WizardError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

/// What a hostname already in use says (and never whose it is).
const TAKEN: &str = "This hostname is already in use on the platform.";
const CONTAINER_TAKEN: &str = "You already have a container with this name.";

/// How a draft is checked before creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Step after step, stopping at the first that fails (the wizard goes back to it).
    StepByStep,
    /// Every step's checks at once, with all their errors (CP_Wizard has no steps).
    AllAtOnce,
}

/// The draft as the customer typed it, with its token and revision (`None`: no draft yet).
pub async fn draft(db: &sqlx::PgPool, who: &Who) -> sqlx::Result<(Option<uuid::Uuid>, Option<i64>, Draft)> {
    Ok(match drafts::load(db, who.customer).await? {
        Some((token, revision, draft)) => (Some(token), Some(revision), draft),
        None => (None, None, Draft::default()),
    })
}

/// The site the draft with `token` created, if it did.
pub async fn site_of_draft(db: &sqlx::PgPool, who: &Who, token: uuid::Uuid) -> sqlx::Result<Option<model::SiteId>> {
    model::site_by_draft(db, who.customer, token).await
}

/// Checks one step of the draft; the errors of that step when it fails.
pub async fn check_step(
    db: &sqlx::PgPool,
    platform: &Platform,
    who: &Who,
    draft: &Draft,
    step: Step,
) -> sqlx::Result<WizardInvalid> {
    let mut errors = WizardInvalid::default();
    match step {
        Step::Site => {
            check_site(db, who.customer, draft, &mut errors).await?;
        }
        Step::Container => {
            let catalogue = model::catalogue(db, platform.driver.needs_images()).await?;
            check_container(db, who.customer, &catalogue, draft, &mut errors).await?;
        }
        Step::Environments => {
            let primary = draft.site_hostname.parse::<Hostname>().ok();
            check_environments(
                db,
                who.customer,
                draft,
                primary.as_ref().map(Hostname::ascii),
                &mut errors,
            )
            .await?;
        }
    }
    Ok(errors)
}

/// The plan of a draft that passes every step's checks (for the review), or the first
/// step that does not with its errors.
pub async fn review(
    db: &sqlx::PgPool,
    platform: &Platform,
    who: &Who,
    draft: &Draft,
) -> Result<(Plan, Catalogue), WizardError> {
    let catalogue = model::catalogue(db, platform.driver.needs_images()).await?;
    match plan(db, who.customer, &catalogue, draft).await? {
        Ok(plan) => Ok((plan, catalogue)),
        Err((step, invalid)) => Err(WizardError::Invalid { step, invalid }),
    }
}

/// Creates the site `draft` plans, in one transaction (site, hostnames, container,
/// environments, DNS records, provisioning job), after checking it again. Idempotent per
/// `token`: while (or after) a submit with the same token creates the site, another one
/// answers that site and creates nothing. A hostname or container name taken meanwhile is
/// a field error like any other. With `revision`, the stored draft is removed in the same
/// transaction, and only if it is still at that revision (else [`WizardError::DraftChanged`]
/// and nothing is created).
///
/// The pages pass the draft's own token, so a double submit lands on one site; CP_Wizard
/// passes a new one per call (the seed's method has no token), so a repeated call finds its
/// hostname taken.
pub async fn create(
    db: &sqlx::PgPool,
    platform: &Platform,
    who: &Who,
    token: uuid::Uuid,
    draft: &Draft,
    checks: Checks,
    revision: Option<i64>,
) -> Result<Created, WizardError> {
    let customer = who.customer;
    if let Some(site) = model::site_by_draft(db, customer, token).await? {
        let mut conn = db.acquire().await?;
        return Ok(model::created(&mut conn, customer, site).await?);
    }
    let catalogue = model::catalogue(db, platform.driver.needs_images()).await?;
    let checked = match checks {
        Checks::StepByStep => plan(db, customer, &catalogue, draft).await?,
        Checks::AllAtOnce => {
            let mut invalid = WizardInvalid::default();
            match check_all(db, customer, &catalogue, draft, &mut invalid).await? {
                Some(plan) => Ok(plan),
                None => Err((Step::Environments, invalid)),
            }
        }
    };
    let plan = match checked {
        Ok(plan) => plan,
        Err((step, invalid)) => {
            // A concurrent submit of this draft created the site meanwhile (its hostnames
            // now look taken): answer that site rather than report them.
            if let Some(site) = model::site_by_draft(db, customer, token).await? {
                let mut conn = db.acquire().await?;
                return Ok(model::created(&mut conn, customer, site).await?);
            }
            return Err(WizardError::Invalid { step, invalid });
        }
    };
    let mut tx = db.begin().await?;
    let site = match model::create(&mut tx, customer, token, &plan).await {
        Ok(site) => site,
        Err(CreateError::Db(err)) => return Err(err.into()),
        Err(conflict) => {
            tx.rollback().await?;
            let (step, at, message) = conflict_field(&conflict, &plan);
            return Err(WizardError::Invalid {
                step,
                invalid: WizardInvalid::one(at, message),
            });
        }
    };
    // The draft is still the one reviewed, or another tab changed it in the meantime: then
    // nothing is created. (No draft at all: a concurrent submit of this one created the
    // site and removed it; `create` found that site.)
    if let Some(revision) = revision
        && !drafts::discard_at(&mut *tx, customer, revision).await?
        && drafts::load(&mut *tx, customer).await?.is_some()
    {
        tx.rollback().await?;
        return Err(WizardError::DraftChanged);
    }
    let created = model::created(&mut tx, customer, site).await?;
    audit::record(&mut *tx, who, "site_created", &plan.hostname.unicode()).await?;
    tx.commit().await?;
    Ok(created)
}

/// Where a conflict met while creating (a hostname or container name taken since the
/// checks) belongs: the step, the field and its message.
fn conflict_field(conflict: &CreateError, plan: &Plan) -> (Step, At, &'static str) {
    match conflict {
        CreateError::HostnameTaken(name) if *name == plan.hostname.ascii() => {
            (Step::Site, WizardField::SiteHostname.at(), TAKEN)
        }
        CreateError::HostnameTaken(name) => {
            let i = plan.aliases.iter().position(|a| a.ascii() == name).unwrap_or(0);
            (Step::Environments, WizardField::AliasNames.entry(i), TAKEN)
        }
        _ => (Step::Container, WizardField::ContainerName.at(), CONTAINER_TAKEN),
    }
}

// ---- the checks of each step ------------------------------------------------------------

/// The values of a step after its checks.
pub struct SiteStep {
    pub name: SiteName,
    pub hostname: Hostname,
}

async fn check_site(
    db: &sqlx::PgPool,
    customer: CustomerId,
    draft: &Draft,
    errors: &mut WizardInvalid,
) -> sqlx::Result<Option<SiteStep>> {
    let name = errors.check(WizardField::SiteName.at(), draft.site_name.parse::<SiteName>());
    let hostname = errors.check(WizardField::SiteHostname.at(), draft.site_hostname.parse::<Hostname>());
    if let Some(h) = &hostname
        && model::hostname_taken(db, h).await?
    {
        errors.add(WizardField::SiteHostname.at(), TAKEN);
        return Ok(None);
    }
    // Reserved by the platform, or inside (or around) another customer's zone.
    if let Some(h) = &hostname
        && let Some(refused) = crate::dns::ops::claim(db, customer, h).await?
    {
        errors.add(WizardField::SiteHostname.at(), refused);
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

async fn check_container(
    db: &sqlx::PgPool,
    customer: CustomerId,
    catalogue: &Catalogue,
    draft: &Draft,
    errors: &mut WizardInvalid,
) -> sqlx::Result<Option<ContainerStep>> {
    let name = errors.check(
        WizardField::ContainerName.at(),
        draft.container_name.parse::<DnsLabel>(),
    );
    if let Some(n) = &name
        && model::container_name_taken(db, customer, n).await?
    {
        errors.add(WizardField::ContainerName.at(), CONTAINER_TAKEN);
    }
    let type_ok = catalogue.has_type(&draft.container_type);
    if !type_ok {
        errors.add(
            WizardField::ContainerType.at(),
            "Choose a container type from the list.",
        );
    }
    if !catalogue.has_os(&draft.container_os_id) {
        errors.add(
            WizardField::ContainerOsId.at(),
            "Choose an operating system from the list.",
        );
    } else if type_ok && !catalogue.offers(&draft.container_type, &draft.container_os_id) {
        let offered = catalogue.systems_for(&draft.container_type).join(", ");
        errors.add(
            WizardField::ContainerOsId.at(),
            format!("Not offered for this container type; choose one of: {offered}."),
        );
    }
    let size = catalogue.size(&draft.container_size);
    if size.is_none() {
        errors.add(WizardField::ContainerSize.at(), "Choose a size from the list.");
    }
    let disk = draft.container_disk_space.trim().parse::<i32>().ok();
    match (size, disk) {
        (_, None) => errors.add(
            WizardField::ContainerDiskSpace.at(),
            "Enter the disk space in GiB, a whole number.",
        ),
        (Some(s), Some(d)) if !(s.disk_min_gib..=s.disk_max_gib).contains(&d) => errors.add(
            WizardField::ContainerDiskSpace.at(),
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
async fn check_environments(
    db: &sqlx::PgPool,
    customer: CustomerId,
    draft: &Draft,
    primary: Option<&str>,
    errors: &mut WizardInvalid,
) -> sqlx::Result<Option<EnvironmentsStep>> {
    let mut environments: Vec<DnsLabel> = Vec::new();
    for (i, raw) in draft.environment_names.iter().enumerate() {
        if let Some(label) = errors.check(WizardField::EnvironmentNames.entry(i), raw.parse::<DnsLabel>()) {
            if environments.contains(&label) {
                errors.add(
                    WizardField::EnvironmentNames.entry(i),
                    "Each environment name may appear only once.",
                );
            }
            environments.push(label);
        }
    }
    if draft.environment_names.is_empty() {
        errors.add(
            WizardField::EnvironmentNames.at(),
            "Give at least one environment, such as production.",
        );
    }
    if draft.environment_names.len() > MAX_ENVIRONMENTS {
        errors.add(
            WizardField::EnvironmentNames.at(),
            format!("At most {MAX_ENVIRONMENTS} environments."),
        );
    }
    let mut aliases: Vec<Hostname> = Vec::new();
    for (i, raw) in draft.alias_names.iter().enumerate() {
        if let Some(alias) = errors.check(WizardField::AliasNames.entry(i), raw.parse::<Hostname>()) {
            if Some(alias.ascii()) == primary {
                errors.add(
                    WizardField::AliasNames.entry(i),
                    "An alias cannot repeat the site's hostname.",
                );
            } else if aliases.contains(&alias) {
                errors.add(WizardField::AliasNames.entry(i), "Each alias may appear only once.");
            }
            aliases.push(alias);
        }
    }
    if draft.alias_names.len() > MAX_ALIASES {
        errors.add(WizardField::AliasNames.at(), format!("At most {MAX_ALIASES} aliases."));
    }
    let names: Vec<&str> = aliases.iter().map(Hostname::ascii).collect();
    for taken in model::hostnames_taken(db, &names).await? {
        if let Some(i) = aliases.iter().position(|a| a.ascii() == taken) {
            errors.add(WizardField::AliasNames.entry(i), TAKEN);
        }
    }
    for (i, alias) in aliases.iter().enumerate() {
        if let Some(refused) = crate::dns::ops::claim(db, customer, alias).await? {
            errors.add(WizardField::AliasNames.entry(i), refused);
        }
    }
    Ok(errors.is_empty().then_some(EnvironmentsStep { environments, aliases }))
}

/// Checks every step again (the catalogues or the platform may have changed) into a plan;
/// on failure, the first failing step and its errors.
async fn plan(
    db: &sqlx::PgPool,
    customer: CustomerId,
    catalogue: &Catalogue,
    draft: &Draft,
) -> sqlx::Result<Result<Plan, (Step, WizardInvalid)>> {
    let mut errors = WizardInvalid::default();
    let Some(site) = check_site(db, customer, draft, &mut errors).await? else {
        return Ok(Err((Step::Site, errors)));
    };
    let Some(container) = check_container(db, customer, catalogue, draft, &mut errors).await? else {
        return Ok(Err((Step::Container, errors)));
    };
    let Some(envs) = check_environments(db, customer, draft, Some(site.hostname.ascii()), &mut errors).await? else {
        // Another customer may have taken the primary and an alias between the two checks:
        // then the site step is the one to go back to.
        let mut site_errors = WizardInvalid::default();
        if check_site(db, customer, draft, &mut site_errors).await?.is_none() {
            return Ok(Err((Step::Site, site_errors)));
        }
        return Ok(Err((Step::Environments, errors)));
    };
    Ok(Ok(into_plan(site, container, envs, draft.create_dns)))
}

/// Every step's checks at once, with all their errors on `errors` (for the API, which has
/// no steps to go back to); the plan when every check passes.
async fn check_all(
    db: &sqlx::PgPool,
    customer: CustomerId,
    catalogue: &Catalogue,
    draft: &Draft,
    errors: &mut WizardInvalid,
) -> sqlx::Result<Option<Plan>> {
    let site = check_site(db, customer, draft, errors).await?;
    let container = check_container(db, customer, catalogue, draft, errors).await?;
    // Aliases are compared with the hostname as typed, even when it is taken.
    let primary = draft.site_hostname.parse::<Hostname>().ok();
    let envs = check_environments(db, customer, draft, primary.as_ref().map(Hostname::ascii), errors).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wizard_fields_are_named_as_the_form_and_the_seed_name_them() {
        assert_eq!(WizardField::ContainerOsId.at().name(Names::Seed), "containerOSId");
        assert_eq!(WizardField::ContainerOsId.at().name(Names::Form), "container_os_id");
        assert_eq!(WizardField::AliasNames.entry(2).name(Names::Seed), "aliasNames.2");
        assert_eq!(WizardField::AliasNames.entry(2).name(Names::Form), "alias_names.2");
        assert_eq!(WizardField::EnvironmentNames.at().name(Names::Seed), "environmentNames");
    }
}
