//! The wizard's Customer API method: CP_Wizard, which does in one call what the `/wizard`
//! steps do, through the same operation (`ops::create`): the same checks (every step's at
//! once), then the same creation in one transaction (site, hostnames, container,
//! environments, DNS records and the provisioning job). It neither reads nor changes the
//! customer's wizard draft.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Draft, MAX_ALIASES, MAX_ENVIRONMENTS};
use super::ops::{self, Checks, WizardError};
use crate::api::{ApiErrors, Args, Caller, Reply};
use crate::sites::model::Created;
use crate::state::AppState;
use crate::validation::Names;
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
    // A new token per call: the seed's method has none, so a repeated call is checked
    // afresh (and finds its hostname taken).
    let created = ops::create(
        &state.pool,
        &state.platform,
        &caller.who(customer),
        uuid::Uuid::new_v4(),
        &draft,
        Checks::AllAtOnce,
        None,
    )
    .await;
    match created {
        Ok(created) => Ok(Reply::new(created.into())),
        Err(WizardError::Invalid { invalid, .. }) => Err(AppError::Invalid(invalid.errors(Names::Seed))),
        Err(WizardError::DraftChanged) => Err(AppError::Conflict("The draft changed; review it again.".into())),
        Err(WizardError::Db(err)) => Err(err.into()),
    }
}
