//! Sites (`/sites`, `/sites/{id}`, `/sites/{id}/progress`, `/sites/{id}/state`,
//! `/sites/{id}/logs`, `/sites/{id}/zone`, `POST /sites/{id}/{start,stop,restart,delete}`):
//! the customer's sites; one site with the engine's state of it (refreshed live), its
//! controls, its latest job's progress, its files folders, its container's output and its
//! DNS zone file.

pub mod api;
pub mod model;
pub mod names;
pub mod ops;
pub mod steps;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::page;
use crate::settings::Current;
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::Names;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PageQuery, Pager, PathId, PathIds, SignedIn, render};
use model::{Detail, Job, JobKind, JobStatus, SiteId, SiteStatus, Step, StepStatus};
use ops::{Action, Live, Logs, SiteError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sites", get(index))
        .route("/sites/{id}", get(show))
        .route("/sites/{id}/progress", get(progress))
        .route("/sites/{id}/state", get(live_state))
        .route("/sites/{id}/logs", get(logs))
        .route("/sites/{id}/zone", get(zone))
        .route("/sites/{id}/{action}", post(act))
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

/// The site's latest job as the page shows it: steps, a percentage, whether to poll.
pub struct Progress {
    pub site: SiteId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub steps: Vec<StepView>,
    pub percent: usize,
    /// Still working: the block polls until it is done.
    pub running: bool,
    /// Done, and nothing to watch: the page folds it into its history.
    pub folded: bool,
    /// What was asked after it and runs next, in order ("Start", "Restart").
    pub then: Vec<&'static str>,
}

pub struct StepView {
    pub step: Step,
    pub retry_at: String,
    /// Waits for its time (a deleted site's files, removed after the grace period).
    pub scheduled: bool,
}

impl Progress {
    fn new(site: SiteId, job: Option<Job>, unfinished: &[JobKind], prefs: &Preferences) -> Self {
        let Some(job) = job else {
            return Self {
                site,
                kind: JobKind::Provision,
                status: JobStatus::Done,
                steps: Vec::new(),
                percent: 100,
                running: false,
                folded: true,
                then: Vec::new(),
            };
        };
        // The jobs after this one (it is the first unfinished, when it is unfinished).
        let then = if job.status.is_running() {
            unfinished.iter().skip(1).map(|kind| kind.label()).collect()
        } else {
            Vec::new()
        };
        let done = job.steps.iter().filter(|s| s.status == StepStatus::Done).count();
        let percent = if job.steps.is_empty() {
            100
        } else {
            done * 100 / job.steps.len()
        };
        let running = job.working();
        let folded = !running && job.status == JobStatus::Done;
        let steps = job
            .steps
            .into_iter()
            .map(|step| StepView {
                retry_at: prefs.format(step.next_attempt_at),
                scheduled: step.name == steps::Step::PurgeFiles && step.status == StepStatus::Pending,
                step,
            })
            .collect();
        Self {
            site,
            kind: job.kind,
            status: job.status,
            steps,
            percent,
            running,
            folded,
            then,
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

/// The engine's state as the page's live block shows it.
pub struct LiveView {
    pub site: SiteId,
    /// `running`, `stopped`, … (getSite's names).
    pub name: &'static str,
    pub label: &'static str,
    pub reason: Option<String>,
    pub driver: &'static str,
    pub preview: Option<String>,
    /// The customer asked for the container to be stopped (and the state does not say so).
    pub stopped_by_request: bool,
    /// Poll while the site is there (a deleted one changes no more).
    pub poll: bool,
    /// Which controls make sense now: Start when it is not running, Stop and Restart when
    /// it is (none while it is set up, or once deleted).
    pub start: bool,
    pub stop: bool,
    /// For the controls' forms.
    pub csrf: String,
}

impl LiveView {
    fn new(detail: &Detail, live: &Live, csrf: &str) -> Self {
        let asked_running = detail
            .container
            .as_ref()
            .is_none_or(|c| c.desired_state == model::DesiredState::Running);
        let (start, stop) = match live.shown {
            ops::Shown::Provisioning | ops::Shown::Deleted => (false, false),
            ops::Shown::Running | ops::Shown::Restarting => (false, true),
            ops::Shown::Stopped(_) | ops::Shown::Failed(_) => (true, false),
            // Nothing runs (the development driver) or the engine did not answer: what the
            // customer last asked for decides.
            ops::Shown::NotRun | ops::Shown::Unknown(_) => (!asked_running, asked_running),
        };
        let active = detail.site.status == SiteStatus::Active;
        Self {
            start: start && active,
            stop: stop && active,
            csrf: csrf.to_owned(),
            site: detail.site.id,
            name: live.shown.name(),
            label: live.shown.label(),
            reason: live.shown.reason().map(str::to_owned),
            driver: live.driver,
            preview: live.preview.clone(),
            // Said when the state does not say it already (a stop still to run, the
            // development driver).
            stopped_by_request: detail
                .container
                .as_ref()
                .is_some_and(|c| c.desired_state == model::DesiredState::Stopped)
                && detail.site.status == SiteStatus::Active
                && !matches!(live.shown, ops::Shown::Stopped(_)),
            poll: detail.site.status != SiteStatus::Deleted,
        }
    }
}

#[derive(Template)]
#[template(path = "sites/_state.html")]
struct StateFragment {
    live: LiveView,
}

/// The container's output as the page shows it.
pub struct LogsView {
    pub site: SiteId,
    pub lines: Vec<String>,
    pub note: Option<String>,
}

impl LogsView {
    fn new(site: SiteId, logs: Logs) -> Self {
        match logs {
            Logs::Lines(lines) if lines.is_empty() => Self {
                site,
                lines,
                note: Some("No output yet.".to_owned()),
            },
            Logs::Lines(lines) => Self {
                site,
                lines,
                note: None,
            },
            Logs::None(why) => Self {
                site,
                lines: Vec::new(),
                note: Some(why),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "sites/_logs.html")]
struct LogsFragment {
    logs: LogsView,
}

/// An environment's files folder and where the container sees it.
pub struct FolderView {
    pub environment: String,
    pub folder: String,
    pub serves: bool,
}

/// When a deleted site was deleted, and when its files go (or went).
pub struct DeletedView {
    pub at: String,
    pub files_until: Option<String>,
    pub files_removed: Option<String>,
}

#[derive(Template)]
#[template(path = "sites/show.html", blocks = ["content"])]
struct SitePage {
    layout: Layout,
    detail: Detail,
    hostname: String,
    aliases: Vec<String>,
    created: String,
    progress: Progress,
    reload: bool,
    live: LiveView,
    logs: LogsView,
    folders: Vec<FolderView>,
    /// Delete is offered (the site is not deleted).
    deletable: bool,
    delete_form: FormState,
    deleted: Option<DeletedView>,
    grace_days: i32,
    /// How to reach the FTP service (`None`: Berth serves no FTP).
    ftp: Option<FtpView>,
    /// The environment a site-wide FTP user lands in.
    serving: Option<String>,
}
page!(SitePage);

impl SitePage {
    /// What deleting the site does, and what goes with it.
    pub fn delete_consequence(&self) -> String {
        let records = match self.detail.records.len() {
            0 => String::new(),
            n => format!(" and its {}", crate::web::counted(n, "DNS record", "DNS records")),
        };
        format!(
            "Deleting removes the container{records}, and gives its address back to the pool. The files are kept for {} days, during which support can restore the site; then they are removed for good.",
            self.grace_days
        )
    }
}

/// The FTP service's address as the site page tells it.
struct FtpView {
    host: String,
    port: u16,
    tls: &'static str,
}

impl SitePage {
    async fn load(
        state: &AppState,
        me: &SignedIn,
        current: &Current,
        ip: std::net::IpAddr,
        id: SiteId,
        delete_form: Option<FormState>,
    ) -> Result<Self, AppError> {
        let who = me.who(ip);
        let (detail, live) = ops::site_state(&state.pool, &state.platform, &who, id)
            .await
            .map_err(app_error)?;
        let logs = ops::logs(&state.pool, &state.platform, &who, id)
            .await
            .map_err(app_error)?;
        let prefs = current.preferences();
        let files = state.platform.files();
        let mut oldest_first = detail.environments.clone();
        oldest_first.sort_by_key(|e| e.id);
        let oldest_first: Vec<String> = oldest_first.into_iter().map(|e| e.name).collect();
        let serving = model::serving_environment(&oldest_first).cloned();
        let serving_folder = serving.clone();
        let folders = detail
            .environments
            .iter()
            .map(|e| FolderView {
                environment: e.name.clone(),
                folder: files
                    .environment(id.0, &e.name)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                serves: serving_folder.as_ref() == Some(&e.name),
            })
            .collect();
        let deleted = (detail.site.status == SiteStatus::Deleted).then(|| DeletedView {
            at: detail.deleted_at.map(|at| prefs.format(at)).unwrap_or_default(),
            files_until: detail.job.as_ref().and_then(Job::purge_at).map(|at| prefs.format(at)),
            files_removed: detail.files_removed_at.map(|at| prefs.format(at)),
        });
        Ok(Self {
            layout: Layout::new(me, "sites", detail.site.name.clone()).await?,
            hostname: names::to_unicode(&detail.site.hostname),
            aliases: detail.aliases.iter().map(|a| names::to_unicode(a)).collect(),
            created: prefs.format(detail.site.created_at),
            progress: Progress::new(id, detail.job.clone(), &detail.unfinished, &prefs),
            reload: false,
            live: LiveView::new(&detail, &live, &me.csrf),
            logs: LogsView::new(id, logs),
            folders,
            deletable: detail.site.status != SiteStatus::Deleted,
            delete_form: delete_form.unwrap_or_default(),
            deleted,
            grace_days: steps::GRACE_DAYS,
            ftp: state.web.ftp.as_ref().map(|ftp| FtpView {
                host: ftp.host.clone(),
                port: ftp.port,
                tls: match ftp.tls {
                    crate::state::FtpTls::Off => "no TLS",
                    crate::state::FtpTls::Offered => "TLS offered (explicit FTPS)",
                    crate::state::FtpTls::Required => "TLS required (explicit FTPS)",
                },
            }),
            serving,
            detail,
        })
    }
}

async fn show(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathId(id): PathId<SiteId>,
) -> Result<Response, AppError> {
    let page = SitePage::load(&state, &me, &current, ip, id, None).await?;
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
    let (job, unfinished) = ops::progress(&state.pool, &me.who(ip), id).await.map_err(app_error)?;
    let prefs = current.preferences();
    let progress = Progress::new(id, job, &unfinished, &prefs);
    let fragment = ProgressFragment {
        reload: !progress.running,
        progress,
    };
    Ok(Html(fragment.render()?).into_response())
}

/// The engine's state of the site: for htmx (polled every 5 s) the live block alone,
/// otherwise the whole site page.
async fn live_state(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathId(id): PathId<SiteId>,
) -> Result<Response, AppError> {
    if !htmx {
        let page = SitePage::load(&state, &me, &current, ip, id, None).await?;
        return render(false, StatusCode::OK, &page, None);
    }
    let (detail, live) = ops::site_state(&state.pool, &state.platform, &me.who(ip), id)
        .await
        .map_err(app_error)?;
    let fragment = StateFragment {
        live: LiveView::new(&detail, &live, &me.csrf),
    };
    Ok(Html(fragment.render()?).into_response())
}

/// The container's last output: for htmx (the "Refresh" button) the logs block alone,
/// otherwise the whole site page.
async fn logs(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathId(id): PathId<SiteId>,
) -> Result<Response, AppError> {
    if !htmx {
        let page = SitePage::load(&state, &me, &current, ip, id, None).await?;
        return render(false, StatusCode::OK, &page, None);
    }
    let logs = ops::logs(&state.pool, &state.platform, &me.who(ip), id)
        .await
        .map_err(app_error)?;
    let fragment = LogsFragment {
        logs: LogsView::new(id, logs),
    };
    Ok(Html(fragment.render()?).into_response())
}

#[derive(Deserialize)]
struct DeleteInput {
    #[serde(default)]
    hostname: String,
}

/// Start, stop, restart (no fields) and delete (the hostname typed): each queues a job,
/// then the page shows it running. Another word is a 422 on `action`.
async fn act(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathIds(id, action): PathIds<SiteId, String>,
    Form(input): Form<DeleteInput>,
) -> Result<Response, AppError> {
    let who = me.who(ip);
    let prefs = current.preferences();
    let outcome = if action == "delete" {
        match ops::delete(&state.pool, &who, id, &input.hostname).await {
            Ok(deleted) => Ok(format!(
                "Site deleted. Its files are kept until {}; until then support can restore it.",
                prefs.format(deleted.files_removed_after)
            )),
            Err(SiteError::Invalid(invalid)) => Err(FormState::failed(
                &[("hostname", &input.hostname)],
                invalid.errors(Names::Form),
            )),
            Err(err) => return Err(err.into_app(Names::Form)),
        }
    } else {
        let action = match action.parse::<Action>() {
            Ok(action) => action,
            // Another customer's site is not found, whatever the word.
            Err(err) => {
                ops::detail(&state.pool, &who, id).await.map_err(app_error)?;
                return Err(err.into_app(Names::Form));
            }
        };
        let queued = ops::act(&state.pool, &who, id, action)
            .await
            .map_err(|err| err.into_app(Names::Form))?;
        Ok(action.queued(!queued.new).to_owned())
    };
    let back = format!("/sites/{id}");
    let block = async |failed| SitePage::load(&state, &me, &current, ip, id, failed).await;
    let page = async |failed| SitePage::load(&state, &me, &current, ip, id, Some(failed)).await;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    crate::web::respond(&me, htmx, &back, status, outcome, block, page).await
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
    err.into_app(Names::Form)
}
