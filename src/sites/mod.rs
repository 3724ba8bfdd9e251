//! Sites (`/sites`, `/sites/{id}`, `/sites/{id}/progress`, `/sites/{id}/zone`): the
//! customer's sites, one site with its provisioning progress, and its DNS zone file.

pub mod model;
pub mod names;
pub mod ops;
pub mod steps;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::page;
use crate::settings::Current;
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::web::{AppError, ClientIp, Layout, PageQuery, Pager, PathId, SignedIn, render};
use model::{JobStatus, SiteId, Step, StepStatus};
use ops::SiteError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sites", get(index))
        .route("/sites/{id}", get(show))
        .route("/sites/{id}/progress", get(progress))
        .route("/sites/{id}/zone", get(zone))
}

#[derive(Template)]
#[template(path = "sites/index.html", blocks = ["content"])]
struct SitesPage {
    layout: Layout,
    sites: Vec<model::SiteRow>,
    pager: Pager,
}
page!(SitesPage);

/// The customer's sites, a page at a time (the "Rows per page" setting).
async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let pager = Pager::new(&query, current.per_page());
    let (sites, total) = ops::list(&state.pool, &me.who(ip), pager.limit(), pager.offset())
        .await
        .map_err(app_error)?;
    let page = SitesPage {
        layout: Layout::new(&me, "sites", "Sites").await?,
        sites,
        pager: pager.counted(total),
    };
    render(htmx, StatusCode::OK, &page, None)
}

/// The provisioning job as the page shows it: steps, a percentage, whether to poll.
pub struct Progress {
    pub site: SiteId,
    pub status: JobStatus,
    pub steps: Vec<StepView>,
    pub percent: usize,
    pub running: bool,
}

pub struct StepView {
    pub step: Step,
    pub retry_at: String,
}

impl Progress {
    fn new(site: SiteId, status: Option<JobStatus>, steps: Vec<Step>, prefs: &Preferences) -> Self {
        let done = steps.iter().filter(|s| s.status == StepStatus::Done).count();
        let percent = if steps.is_empty() {
            100
        } else {
            done * 100 / steps.len()
        };
        let status = status.unwrap_or(JobStatus::Done);
        let running = status.is_running();
        let steps = steps
            .into_iter()
            .map(|step| StepView {
                retry_at: prefs.format(step.next_attempt_at),
                step,
            })
            .collect();
        Self {
            site,
            status,
            steps,
            percent,
            running,
        }
    }
}

#[derive(Template)]
#[template(path = "sites/_progress.html")]
struct ProgressFragment {
    progress: Progress,
    /// The job just finished: reload the page's content so status, address and DNS show.
    reload: bool,
}

#[derive(Template)]
#[template(path = "sites/show.html", blocks = ["content"])]
struct SitePage {
    layout: Layout,
    detail: model::Detail,
    hostname: String,
    aliases: Vec<String>,
    created: String,
    progress: Progress,
    reload: bool,
}
page!(SitePage);

async fn show(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathId(id): PathId<SiteId>,
) -> Result<Response, AppError> {
    let detail = ops::detail(&state.pool, &me.who(ip), id).await.map_err(app_error)?;
    let prefs = current.preferences();
    let progress = Progress::new(id, detail.job_status, detail.steps.clone(), &prefs);
    let page = SitePage {
        layout: Layout::new(&me, "sites", detail.site.name.clone()).await?,
        hostname: names::to_unicode(&detail.site.hostname),
        aliases: detail.aliases.iter().map(|a| names::to_unicode(a)).collect(),
        created: prefs.format(detail.site.created_at),
        progress,
        reload: false,
        detail,
    };
    render(htmx, StatusCode::OK, &page, None)
}

/// The progress block alone, polled by htmx while the job runs.
async fn progress(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathId(id): PathId<SiteId>,
) -> Result<Response, AppError> {
    let (status, steps) = ops::progress(&state.pool, &me.who(ip), id).await.map_err(app_error)?;
    let prefs = current.preferences();
    let progress = Progress::new(id, status, steps, &prefs);
    let fragment = ProgressFragment {
        reload: !progress.running,
        progress,
    };
    Ok(axum::response::Html(fragment.render()?).into_response())
}

/// The site's DNS records as a BIND zone file.
async fn zone(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<SiteId>,
) -> Result<Response, AppError> {
    let body = ops::zone(&state.pool, &me.who(ip), id).await.map_err(app_error)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

fn app_error(err: SiteError) -> AppError {
    match err {
        SiteError::NotFound => AppError::NotFound,
        SiteError::Db(err) => err.into(),
    }
}
