//! The wizard's Customer API method: CP_Wizard, which does in one call what the `/wizard`
//! steps do: the same checks (every step's at once, `model::check_all`), then the same
//! creation in one transaction (site, hostnames, container, environments, DNS records and
//! the provisioning job, `sites::model::create`). It neither reads nor changes the
//! customer's wizard draft.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Draft, MAX_ALIASES, MAX_ENVIRONMENTS};
use crate::api::{ApiErrors, Args, Caller, Reply, invalid};
use crate::sites;
use crate::sites::model::{CreateError, Created};
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(cp_wizard))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CpWizardArgs {
    /// The customer.
    pub customer_id: i64,
    /// The site's name: 1–100 characters on one line.
    pub site_name: String,
    /// The site's hostname (an internationalised name is taken), unused on the platform.
    pub site_hostname: String,
    /// The container's name: a DNS label (a–z, 0–9, `-`), unique among the customer's.
    pub container_name: String,
    /// A container type's id: `lamp`, `lemp`, `node`, `python`, `static`.
    pub container_type: String,
    /// An operating system's id offered for the type, e.g. `debian-12`, `ubuntu-24.04`.
    #[serde(rename = "containerOSId")]
    pub container_os_id: String,
    /// The disk in GiB, within the size's range (small 10–50, medium 20–200, large 40–500,
    /// xlarge 80–1000).
    pub container_disk_space: i64,
    /// A size's id: `small`, `medium`, `large`, `xlarge`.
    pub container_size: String,
    /// One to 10 environment names (DNS labels, each once), such as `production`.
    pub environment_names: Vec<String>,
    /// Up to 20 more hostnames for the site, each once, unused on the platform.
    pub alias_names: Option<Vec<String>>,
    /// Whether to write A records for the hostname and aliases; left out, `true` (the
    /// wizard's default).
    #[serde(rename = "createDNS")]
    pub create_dns: Option<bool>,
}

/// An environment just created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedEnvironment {
    pub id: i64,
    pub name: String,
}

/// A DNS record just created; its address is written by provisioning.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedDnsRecord {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What CP_Wizard created. Hostnames are their own keys (in ASCII form, `xn--…` for an
/// internationalised name).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSite {
    pub site_id: i64,
    pub hostname: String,
    pub container_id: i64,
    /// By name.
    pub environments: Vec<CreatedEnvironment>,
    /// By name.
    pub aliases: Vec<String>,
    /// None when `createDNS` was false.
    pub dns_records: Vec<CreatedDnsRecord>,
    /// The provisioning job, which the worker runs next; the site's page shows its progress.
    pub job_id: i64,
}

impl From<Created> for CreatedSite {
    fn from(created: Created) -> Self {
        Self {
            site_id: created.site.0,
            hostname: created.hostname,
            container_id: created.container,
            environments: created
                .environments
                .into_iter()
                .map(|(id, name)| CreatedEnvironment { id: id.0, name })
                .collect(),
            aliases: created.aliases,
            dns_records: created
                .dns_records
                .into_iter()
                .map(|(id, name, kind)| CreatedDnsRecord {
                    id,
                    name,
                    kind: kind.to_string(),
                })
                .collect(),
            job_id: created.job,
        }
    }
}

/// The seed's argument name for a wizard field (`alias_names.2` → `aliasNames.2`).
fn seed_name(field: &str) -> String {
    let (name, index) = match field.split_once('.') {
        Some((name, index)) => (name, Some(index)),
        None => (field, None),
    };
    let name = match name {
        "site_name" => "siteName",
        "site_hostname" => "siteHostname",
        "container_name" => "containerName",
        "container_type" => "containerType",
        "container_os_id" => "containerOSId",
        "container_size" => "containerSize",
        "container_disk_space" => "containerDiskSpace",
        "environment_names" => "environmentNames",
        "alias_names" => "aliasNames",
        other => other,
    };
    match index {
        Some(index) => format!("{name}.{index}"),
        None => name.to_owned(),
    }
}

fn seed_names(errors: &FieldErrors) -> FieldErrors {
    let mut renamed = FieldErrors::default();
    for (field, message) in errors.iter() {
        renamed.add(seed_name(field), message);
    }
    renamed
}

#[utoipa::path(post, path = "/CP_Wizard", operation_id = "CP_Wizard", tag = "Sites",
    summary = "Control Panel wizard",
    description = "Creates a site with its container, environments, aliases and (unless `createDNS` is false) \
                   DNS records, and queues its provisioning, as the wizard's final step does. Every argument \
                   is checked first, with every error at once (a list entry's on `environmentNames.N` or \
                   `aliasNames.N`); then all is created in one transaction, or nothing. Calling it twice \
                   creates no second site: the hostname is then taken.",
    request_body = CpWizardArgs,
    responses((status = 200, description = "The ids of what was created", body = Reply<CreatedSite>), ApiErrors))]
async fn cp_wizard(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CpWizardArgs>,
) -> Result<Reply<CreatedSite>, AppError> {
    let customer = caller.customer(&state.pool, args.customer_id).await?;
    // As the form keeps them: enough entries to say "too many" without checking a flood.
    let draft = Draft {
        site_name: args.site_name,
        site_hostname: args.site_hostname,
        container_name: args.container_name,
        container_type: args.container_type,
        container_os_id: args.container_os_id,
        container_size: args.container_size,
        container_disk_space: args.container_disk_space.to_string(),
        environment_names: args.environment_names.into_iter().take(MAX_ENVIRONMENTS + 1).collect(),
        alias_names: args
            .alias_names
            .unwrap_or_default()
            .into_iter()
            .take(MAX_ALIASES + 1)
            .collect(),
        create_dns: args.create_dns.unwrap_or(true),
        done: Vec::new(),
    };
    let catalogue = sites::model::catalogue(&state.pool).await?;
    let mut errors = FieldErrors::default();
    let Some(plan) = model::check_all(&state.pool, customer, &catalogue, &draft, &mut errors).await? else {
        return Err(AppError::Invalid(seed_names(&errors)));
    };
    let mut tx = state.pool.begin().await?;
    let site = match sites::model::create(&mut tx, customer, uuid::Uuid::new_v4(), &plan).await {
        Ok(site) => site,
        Err(CreateError::Db(err)) => return Err(err.into()),
        Err(conflict) => {
            tx.rollback().await?;
            let (_, field, message) = super::conflict_field(&conflict, &plan);
            return Err(invalid(&seed_name(&field), message));
        }
    };
    let created = sites::model::created(&mut tx, customer, site).await?;
    tx.commit().await?;
    Ok(Reply::new(created.into()))
}

#[cfg(test)]
mod tests {
    use super::seed_name;

    #[test]
    fn wizard_fields_are_named_as_the_seed_names_them() {
        assert_eq!(seed_name("container_os_id"), "containerOSId");
        assert_eq!(seed_name("alias_names.2"), "aliasNames.2");
        assert_eq!(seed_name("environment_names"), "environmentNames");
    }
}
