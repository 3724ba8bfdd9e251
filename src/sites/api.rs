//! The sites' Customer API methods (Berth's additions to the seed's service): getSite,
//! startSite, stopSite, restartSite, deleteSite, getSiteLogs: JSON arguments to the sites'
//! operations (`ops`), the same the site page calls. Each action answers the job it queued;
//! the worker runs it.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Job, SiteId};
use super::ops::{self, Action, Logs};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, IdArgs, Reply};
use crate::identity::CustomerId;
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_site))
        .routes(routes!(start_site))
        .routes(routes!(stop_site))
        .routes(routes!(restart_site))
        .routes(routes!(delete_site))
        .routes(routes!(get_site_logs))
}

/// A step of a job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiStep {
    /// E.g. `stop_container`, `remove_container`, `purge_files`.
    pub name: String,
    /// What the site page calls it.
    pub label: String,
    /// `pending`, `done`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i32,
    /// The last failed attempt's error, in plain words.
    pub last_error: Option<String>,
    /// When a pending step runs next (a deleted site's `purge_files`: when its files are
    /// removed).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub due: OffsetDateTime,
}

/// A job of the site's: its provisioning, or an action on it, run by the worker in the
/// order asked, each step retried with back-off.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiJob {
    pub id: i64,
    /// `provision`, `start`, `stop`, `restart`, `delete` or `restore`.
    pub kind: String,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished: Option<OffsetDateTime>,
    pub steps: Vec<ApiStep>,
}

impl From<Job> for ApiJob {
    fn from(job: Job) -> Self {
        Self {
            id: job.id,
            kind: job.kind.to_string(),
            status: job.status.to_string(),
            created: job.created_at,
            finished: job.finished_at,
            steps: job
                .steps
                .into_iter()
                .map(|step| ApiStep {
                    name: step.name.name().to_owned(),
                    label: step.label().to_owned(),
                    status: step.status.to_string(),
                    attempts: step.attempts,
                    last_error: step.last_error,
                    due: step.next_attempt_at,
                })
                .collect(),
        }
    }
}

/// A site with the engine's state of it, as its page shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSite {
    pub id: i64,
    pub name: String,
    /// In ASCII (IDN labels as punycode).
    pub hostname: String,
    /// `provisioning`, `active`, `failed` or `deleted`.
    pub status: String,
    /// What the engine says, read against what was asked: `running`, `stopped` (as asked),
    /// `restarting`, `failed` (not running although it should), `provisioning`, `deleted`,
    /// `not-run` (the development driver runs no container) or `unknown` (the engine could
    /// not be asked).
    pub state: String,
    /// Why, for `stopped`, `failed`, `not-run` and `unknown`.
    pub reason: Option<String>,
    /// What was last asked of the container: `running` or `stopped`.
    pub desired_state: Option<String>,
    /// The container driver in use: `development` or `docker`.
    pub driver: String,
    /// `http://127.0.0.1:PORT/` while the engine publishes the site's port 80 (until DNS
    /// points at the site).
    pub preview: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted: Option<OffsetDateTime>,
    /// A deleted site's files are kept until then (support can restore it meanwhile).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub files_removed_after: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub files_removed: Option<OffsetDateTime>,
    /// The site's latest job.
    pub job: Option<ApiJob>,
}

#[utoipa::path(post, path = "/getSite", operation_id = "getSite", tag = "Sites",
    summary = "Get a site with the engine's state of it",
    description = "Berth's addition. `id` is the site's. The state is read from the container engine now.",
    request_body = IdArgs,
    responses((status = 200, description = "The site", body = Reply<ApiSite>), ApiErrors))]
async fn get_site(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<ApiSite>, AppError> {
    let customer = caller.owner(&state.pool, Object::Site, args.id).await?;
    let (detail, live) = ops::site_state(&state.pool, &state.platform, &caller.who(customer), SiteId(args.id))
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    let files_removed_after = detail.job.as_ref().and_then(Job::purge_at);
    Ok(Reply::new(ApiSite {
        id: detail.site.id.0,
        name: detail.site.name,
        hostname: detail.site.hostname,
        status: detail.site.status.to_string(),
        state: live.shown.name().to_owned(),
        reason: live.shown.reason().map(str::to_owned),
        desired_state: detail.container.map(|c| c.desired_state.to_string()),
        driver: live.driver.to_owned(),
        preview: live.preview,
        deleted: detail.deleted_at,
        files_removed_after,
        files_removed: detail.files_removed_at,
        job: detail.job.map(ApiJob::from),
    }))
}

/// Queues `action` on the site named by `args`, and answers its job.
async fn act(state: &AppState, caller: &Caller, id: i64, action: Action) -> Result<Reply<ApiJob>, AppError> {
    let customer = caller.owner(&state.pool, Object::Site, id).await?;
    let queued = ops::act(&state.pool, &caller.who(customer), SiteId(id), action)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    job_reply(state, customer, queued.job).await
}

async fn job_reply(state: &AppState, customer: CustomerId, job: i64) -> Result<Reply<ApiJob>, AppError> {
    let job = model::job(&state.pool, customer, job)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Reply::new(job.into()))
}

#[utoipa::path(post, path = "/startSite", operation_id = "startSite", tag = "Sites",
    summary = "Start a site's container",
    description = "Berth's addition. Queues a job that starts the container, after the site's jobs still to run; \
                   asked again while it waits, it answers the same job. A site being set up, whose setup failed, \
                   or deleted: 409.",
    request_body = IdArgs,
    responses((status = 200, description = "The job", body = Reply<ApiJob>), ApiErrors))]
async fn start_site(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<ApiJob>, AppError> {
    act(&state, &caller, args.id, Action::Start).await
}

#[utoipa::path(post, path = "/stopSite", operation_id = "stopSite", tag = "Sites",
    summary = "Stop a site's container",
    description = "Berth's addition. Queues a job that stops the container (it stays stopped until started), \
                   as startSite does.",
    request_body = IdArgs,
    responses((status = 200, description = "The job", body = Reply<ApiJob>), ApiErrors))]
async fn stop_site(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<ApiJob>, AppError> {
    act(&state, &caller, args.id, Action::Stop).await
}

#[utoipa::path(post, path = "/restartSite", operation_id = "restartSite", tag = "Sites",
    summary = "Restart a site's container",
    description = "Berth's addition. Queues a job that restarts the container, as startSite does.",
    request_body = IdArgs,
    responses((status = 200, description = "The job", body = Reply<ApiJob>), ApiErrors))]
async fn restart_site(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<ApiJob>, AppError> {
    act(&state, &caller, args.id, Action::Restart).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteSiteArgs {
    /// The site.
    pub id: i64,
    /// The site's hostname, typed to confirm (Unicode or punycode, in any case).
    pub hostname: String,
}

/// A deleted site's job, and when its files go.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiDeleted {
    pub job: ApiJob,
    /// The files are kept until then; support can restore the site meanwhile.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub files_removed_after: OffsetDateTime,
}

#[utoipa::path(post, path = "/deleteSite", operation_id = "deleteSite", tag = "Sites",
    summary = "Delete a site",
    description = "Berth's addition. `hostname` must be the site's (else InvalidArguments on it). The site is \
                   deleted at once; its job removes the container, gives its address back to the pool and removes \
                   its DNS records, then its files 7 days later (`filesRemovedAfter`), until when support can \
                   restore it. A site deleted already: 409.",
    request_body = DeleteSiteArgs,
    responses((status = 200, description = "The deletion's job", body = Reply<ApiDeleted>), ApiErrors))]
async fn delete_site(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<DeleteSiteArgs>,
) -> Result<Reply<ApiDeleted>, AppError> {
    let customer = caller.owner(&state.pool, Object::Site, args.id).await?;
    let deleted = ops::delete(&state.pool, &caller.who(customer), SiteId(args.id), &args.hostname)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    let Reply { result: job } = job_reply(&state, customer, deleted.job).await?;
    Ok(Reply::new(ApiDeleted {
        job,
        files_removed_after: deleted.files_removed_after,
    }))
}

/// The container's last output.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiLogs {
    /// The last 200 lines, oldest first.
    pub lines: Vec<String>,
    /// Why there are none, when that is known (the development driver, a deleted site, the
    /// engine unreachable).
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/getSiteLogs", operation_id = "getSiteLogs", tag = "Sites",
    summary = "Get a site's container output",
    description = "Berth's addition. The last 200 lines the container wrote (standard output and error).",
    request_body = IdArgs,
    responses((status = 200, description = "The output", body = Reply<ApiLogs>), ApiErrors))]
async fn get_site_logs(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<ApiLogs>, AppError> {
    let customer = caller.owner(&state.pool, Object::Site, args.id).await?;
    let logs = ops::logs(&state.pool, &state.platform, &caller.who(customer), SiteId(args.id))
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Reply::new(match logs {
        Logs::Lines(lines) => ApiLogs { lines, note: None },
        Logs::None(note) => ApiLogs {
            lines: Vec::new(),
            note: Some(note),
        },
    }))
}
