//! The onboarding wizard (CP_Wizard): site → container → environments → review → create.
//! `GET /wizard` resumes at the first unfinished step; every step saves what was typed.

pub mod api;
pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::{HxLocation, HxRedirect, HxRequest, LocationOptions};

use crate::identity::Who;
use crate::plans::model::SizePlan;
use crate::sites::model::{Catalogue, Plan, Size};
use crate::sites::names::to_unicode;
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, Form, Layout, SignedIn, render};
use crate::{page, plans, sites};
use model::{Draft, MAX_ALIASES, MAX_ENVIRONMENTS, Step};
use ops::{Checks, WizardError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/wizard", get(resume))
        .route("/wizard/reset", post(reset))
        .route("/wizard/review", get(review).post(create))
        .route("/wizard/{step}", get(show).post(submit))
}

/// The form's pairs, with repeated names for lists.
type Pairs = Vec<(String, String)>;

fn value(pairs: &Pairs, name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The non-blank values of a repeated field.
/// (At most `max + 1`: enough to say "too many" without keeping a flood of them.)
fn values(pairs: &Pairs, name: &str, max: usize) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
        .take(max + 1)
        .collect()
}

fn parse_step(raw: &str) -> Result<Step, AppError> {
    Step::from_key(raw).ok_or(AppError::NotFound)
}

/// The stored draft: its token and revision (`None`: there is none yet), and its data.
async fn draft_of(state: &AppState, who: &Who) -> Result<(Option<uuid::Uuid>, Option<i64>, Draft), AppError> {
    Ok(ops::draft(&state.pool, who).await?)
}

/// What Create says when the draft changed after it was reviewed.
pub const DRAFT_CHANGED: &str = "The draft changed; review it again.";

/// What a form carries about the draft it was shown from (hidden `revision` and `base`),
/// and what another tab or device changed meanwhile.
pub struct DraftSync {
    /// The draft's revision as shown (0: no draft yet).
    pub revision: i64,
    /// The digest of the step's fields as shown (see [`Draft::step_digest`]).
    pub base: String,
    /// A message about a change made elsewhere, with what is stored now.
    pub conflict: Option<String>,
}

impl DraftSync {
    fn shown(revision: Option<i64>, draft: &Draft, step: Option<Step>) -> Self {
        Self {
            revision: revision.unwrap_or(0),
            base: step.map(|s| draft.step_digest(s)).unwrap_or_default(),
            conflict: None,
        }
    }
}

/// Goes to `path`: a redirect, or for htmx a client-side navigation into `#main`.
fn go(htmx: bool, path: &str) -> Response {
    if htmx {
        let options = LocationOptions {
            target: Some("#main".to_owned()),
            ..Default::default()
        };
        return (HxLocation::from_str_with_options(path, options), ()).into_response();
    }
    Redirect::to(path).into_response()
}

async fn resume(State(state): State<AppState>, ClientIp(ip): ClientIp, me: SignedIn) -> Result<Response, AppError> {
    let (_, _, draft) = draft_of(&state, &me.who(ip)).await?;
    let path = draft.first_unfinished().map(Step::path).unwrap_or("/wizard/review");
    Ok(Redirect::to(path).into_response())
}

async fn reset(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    model::discard(&state.pool, me.id()).await?;
    Ok(go(htmx, Step::Site.path()))
}

/// Where the wizard is, for the step indicator.
pub struct Progress {
    pub current: &'static str,
    pub done: Vec<Step>,
}

impl Progress {
    fn new(current: &'static str, draft: &Draft) -> Self {
        Self {
            current,
            done: draft.done.clone(),
        }
    }

    pub fn is_done(&self, step: &str) -> bool {
        self.done.iter().any(|s| s.key() == step)
    }

    /// What "Start over" throws away: the answers of the steps done so far.
    pub fn reset_consequence(&self) -> String {
        let steps: Vec<&str> = Step::ALL
            .into_iter()
            .filter(|s| self.done.contains(s))
            .map(|s| match s {
                Step::Site => "site name and hostname",
                Step::Container => "container",
                Step::Environments => "environments and aliases",
            })
            .collect();
        let gone = if steps.is_empty() {
            "Whatever you typed on this step is forgotten".to_owned()
        } else {
            format!("Your answers so far ({}) are forgotten", steps.join("; "))
        };
        format!(
            "{gone} and the wizard starts again at its first step. Nothing has been created yet, so nothing else goes."
        )
    }
}

#[derive(Template)]
#[template(path = "wizard/site.html", blocks = ["content"])]
struct SitePage {
    layout: Layout,
    progress: Progress,
    sync: DraftSync,
    draft: Draft,
    errors: FieldErrors,
}
page!(SitePage);

#[derive(Template)]
#[template(path = "wizard/container.html", blocks = ["content"])]
struct ContainerPage {
    layout: Layout,
    progress: Progress,
    sync: DraftSync,
    draft: Draft,
    errors: FieldErrors,
    catalogue: Catalogue,
    /// Each size's plan (`plans::model::catalogue`), for its monthly price.
    plans: Vec<SizePlan>,
    currency: String,
}
page!(ContainerPage);

impl ContainerPage {
    /// What a size costs a month and the transfer it includes, after its description
    /// (nothing when staff set no plan for it).
    fn price_text(&self, size: &Size) -> String {
        self.plans
            .iter()
            .find(|plan| plan.size_id == size.id)
            .and_then(|plan| Some((plan.price()?, plan.transfer_gb?)))
            .map(|(price, gb)| format!(" — {} a month, {gb} GB transfer included", price.with(&self.currency)))
            .unwrap_or_default()
    }

    fn size_text(size: &Size) -> String {
        format!(
            "{}: {} vCPU, {} GiB memory, {}–{} GiB disk",
            size.label,
            size.vcpu,
            size.memory_mib / 1024,
            size.disk_min_gib,
            size.disk_max_gib
        )
    }
}

/// One input of a list field, with its message.
pub struct ListInput {
    pub index: usize,
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "wizard/environments.html", blocks = ["content"])]
struct EnvironmentsPage {
    layout: Layout,
    progress: Progress,
    sync: DraftSync,
    environments: Vec<ListInput>,
    aliases: Vec<ListInput>,
    create_dns: bool,
    errors: FieldErrors,
}
page!(EnvironmentsPage);

/// The typed values plus a few blank inputs (more appear after each save), up to `max`.
fn list_inputs(values: &[String], field: &str, errors: &FieldErrors, max: usize) -> Vec<ListInput> {
    let shown = (values.len() + 2).clamp(3, max.max(values.len()));
    (0..shown)
        .map(|i| ListInput {
            index: i,
            value: values.get(i).cloned().unwrap_or_default(),
            error: errors.get(&format!("{field}.{i}")).map(str::to_owned),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn render_step(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    status: StatusCode,
    step: Step,
    draft: Draft,
    errors: FieldErrors,
    sync: DraftSync,
) -> Result<Response, AppError> {
    let layout = Layout::new(me, "wizard", "New site").await?;
    match step {
        Step::Site => {
            let page = SitePage {
                layout,
                progress: Progress::new("site", &draft),
                sync,
                draft,
                errors,
            };
            render(htmx, status, &page, None)
        }
        Step::Container => {
            let catalogue = sites::model::catalogue(&state.pool, state.platform.driver.needs_images()).await?;
            let page = ContainerPage {
                layout,
                progress: Progress::new("container", &draft),
                sync,
                draft,
                errors,
                catalogue,
                plans: plans::model::catalogue(&state.pool).await?,
                currency: state.web.currency.clone(),
            };
            render(htmx, status, &page, None)
        }
        Step::Environments => {
            let page = EnvironmentsPage {
                layout,
                progress: Progress::new("environments", &draft),
                sync,
                environments: list_inputs(&draft.environment_names, "environment_names", &errors, MAX_ENVIRONMENTS),
                aliases: list_inputs(&draft.alias_names, "alias_names", &errors, MAX_ALIASES),
                create_dns: draft.create_dns,
                errors,
            };
            render(htmx, status, &page, None)
        }
    }
}

async fn show(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Path(step): Path<String>,
) -> Result<Response, AppError> {
    let step = parse_step(&step)?;
    let (_, revision, draft) = draft_of(&state, &me.who(ip)).await?;
    // A later step opens only when the ones before it are done.
    if let Some(first) = draft.first_unfinished()
        && Step::ALL.iter().position(|s| *s == step) > Step::ALL.iter().position(|s| *s == first)
    {
        return Ok(Redirect::to(first.path()).into_response());
    }
    let sync = DraftSync::shown(revision, &draft, Some(step));
    render_step(
        &state,
        &me,
        htmx,
        StatusCode::OK,
        step,
        draft,
        FieldErrors::default(),
        sync,
    )
    .await
}

/// Applies what the form of `step` sent to `draft`.
fn apply(draft: &mut Draft, step: Step, pairs: &Pairs) {
    match step {
        Step::Site => {
            draft.site_name = value(pairs, "site_name");
            draft.site_hostname = value(pairs, "site_hostname");
        }
        Step::Container => {
            draft.container_name = value(pairs, "container_name");
            draft.container_type = value(pairs, "container_type");
            draft.container_os_id = value(pairs, "container_os_id");
            draft.container_size = value(pairs, "container_size");
            draft.container_disk_space = value(pairs, "container_disk_space");
        }
        Step::Environments => {
            draft.environment_names = values(pairs, "environment_names", MAX_ENVIRONMENTS);
            draft.alias_names = values(pairs, "alias_names", MAX_ALIASES);
            draft.create_dns = pairs.iter().any(|(k, v)| k == "create_dns" && v != "false");
        }
    }
}

/// How often a save is tried again when another save of the draft came in between.
const SAVE_TRIES: usize = 3;

async fn submit(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Path(step): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, AppError> {
    let step = parse_step(&step)?;
    let who = me.who(ip);
    // The revision and the step's digest the form was shown with (absent from a form
    // that does not carry them: then nothing is compared).
    let seen: Option<i64> = value(&pairs, "revision").parse().ok();
    let base = value(&pairs, "base");
    for _ in 0..SAVE_TRIES {
        let (_, revision, mut draft) = draft_of(&state, &who).await?;
        let stored = draft.clone();
        apply(&mut draft, step, &pairs);
        // Saved elsewhere since this form was shown, and this very step changed there:
        // say what is stored now and keep this tab's values in the form, rather than
        // overwrite the other edit. A save from the form shown now replaces it knowingly.
        if let Some(seen) = seen
            && seen != revision.unwrap_or(0)
            && base != stored.step_digest(step)
            && stored.step_values(step) != draft.step_values(step)
        {
            let now: Vec<String> = stored
                .step_values(step)
                .into_iter()
                .zip(draft.step_values(step))
                .filter(|(theirs, mine)| theirs.1 != mine.1)
                .map(|((label, theirs), _)| format!("{label}: “{theirs}”"))
                .collect();
            let sync = DraftSync {
                revision: revision.unwrap_or(0),
                base: stored.step_digest(step),
                conflict: Some(format!(
                    "This step was changed in another tab or device since you opened it; it now \
                     holds {}. Your values are below and were not saved: save again to replace \
                     the other change.",
                    now.join(", ")
                )),
            };
            return render_step(
                &state,
                &me,
                htmx,
                StatusCode::CONFLICT,
                step,
                draft,
                FieldErrors::default(),
                sync,
            )
            .await;
        }
        // "Back" keeps what was typed without checking it.
        if value(&pairs, "nav") == "back" {
            draft.mark(step, false);
            if model::save(&state.pool, me.id(), &draft, revision).await?.is_none() {
                continue;
            }
            let back = match step {
                Step::Site | Step::Container => Step::Site,
                Step::Environments => Step::Container,
            };
            return Ok(go(htmx, back.path()));
        }
        let errors = ops::check_step(&state.pool, &state.platform, &who, &draft, step)
            .await?
            .errors(Names::Form);
        let ok = errors.is_empty();
        draft.mark(step, ok);
        let Some(saved) = model::save(&state.pool, me.id(), &draft, revision).await? else {
            // Another save came in between: look again (and compare) from the start.
            continue;
        };
        if !ok {
            let sync = DraftSync::shown(Some(saved), &draft, Some(step));
            return render_step(
                &state,
                &me,
                htmx,
                StatusCode::UNPROCESSABLE_ENTITY,
                step,
                draft,
                errors,
                sync,
            )
            .await;
        }
        let next = draft.first_unfinished().map(Step::path).unwrap_or("/wizard/review");
        return Ok(go(htmx, next));
    }
    Err(AppError::Conflict(
        "The draft is being changed in another tab or device right now; please try again.".into(),
    ))
}

/// The plan as the review page shows it.
pub struct Review {
    pub site_name: String,
    pub hostname: String,
    pub container_name: String,
    pub container_type: String,
    pub container_os: String,
    pub size: String,
    pub disk_gib: i32,
    pub environments: Vec<String>,
    pub aliases: Vec<String>,
    pub dns: Vec<String>,
}

impl Review {
    fn new(plan: &Plan, catalogue: &Catalogue) -> Self {
        Self {
            site_name: plan.site_name.as_str().to_owned(),
            hostname: plan.hostname.unicode(),
            container_name: plan.container_name.to_string(),
            container_type: Catalogue::label_of(&catalogue.types, &plan.container_type).to_owned(),
            container_os: Catalogue::label_of(&catalogue.systems, &plan.container_os).to_owned(),
            size: catalogue
                .size(&plan.container_size)
                .map(ContainerPage::size_text)
                .unwrap_or_default(),
            disk_gib: plan.disk_gib,
            environments: plan.environments.iter().map(|e| e.to_string()).collect(),
            aliases: plan.aliases.iter().map(|a| a.unicode()).collect(),
            dns: plan.dns_names().iter().map(|n| to_unicode(n)).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "wizard/review.html", blocks = ["content"])]
struct ReviewPage {
    layout: Layout,
    progress: Progress,
    sync: DraftSync,
    review: Review,
    token: String,
}
page!(ReviewPage);

async fn review(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
) -> Result<Response, AppError> {
    let who = me.who(ip);
    let (token, revision, draft) = draft_of(&state, &who).await?;
    show_review(&state, &me, &who, htmx, token, revision, draft, None).await
}

/// The review of the stored draft (with `conflict` when Create refused an older one), or
/// the first step that does not pass its checks (any more).
#[allow(clippy::too_many_arguments)]
async fn show_review(
    state: &AppState,
    me: &SignedIn,
    who: &Who,
    htmx: bool,
    token: Option<uuid::Uuid>,
    revision: Option<i64>,
    draft: Draft,
    conflict: Option<&str>,
) -> Result<Response, AppError> {
    let status = if conflict.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let (Some(token), None) = (token, draft.first_unfinished()) else {
        let step = draft.first_unfinished().unwrap_or(Step::Site);
        if conflict.is_none() {
            return Ok(Redirect::to(step.path()).into_response());
        }
        let mut sync = DraftSync::shown(revision, &draft, Some(step));
        sync.conflict = conflict.map(str::to_owned);
        return render_step(state, me, htmx, status, step, draft, FieldErrors::default(), sync).await;
    };
    match ops::review(&state.pool, &state.platform, who, &draft).await {
        Ok((plan, catalogue)) => {
            let mut sync = DraftSync::shown(revision, &draft, None);
            sync.conflict = conflict.map(str::to_owned);
            let page = ReviewPage {
                layout: Layout::new(me, "wizard", "Review your new site").await?,
                progress: Progress::new("review", &draft),
                sync,
                review: Review::new(&plan, &catalogue),
                token: token.to_string(),
            };
            render(htmx, status, &page, None)
        }
        Err(WizardError::Invalid { step, invalid }) => {
            let errors = invalid.errors(Names::Form);
            let mut draft = draft;
            draft.mark(step, false);
            // When another save came first, that one is kept; this page shows the check.
            let saved = model::save(&state.pool, me.id(), &draft, revision).await?.or(revision);
            let mut sync = DraftSync::shown(saved, &draft, Some(step));
            sync.conflict = conflict.map(str::to_owned);
            render_step(
                state,
                me,
                htmx,
                StatusCode::UNPROCESSABLE_ENTITY,
                step,
                draft,
                errors,
                sync,
            )
            .await
        }
        Err(WizardError::DraftChanged) => Err(AppError::Conflict(DRAFT_CHANGED.into())),
        Err(WizardError::Db(err)) => Err(err.into()),
    }
}

/// Create: one transaction; a repeated submit of the same draft lands on the same site.
async fn create(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(pairs): Form<Pairs>,
) -> Result<Response, AppError> {
    if value(&pairs, "nav") == "back" {
        return Ok(go(htmx, Step::Environments.path()));
    }
    let who = me.who(ip);
    let submitted: Option<uuid::Uuid> = value(&pairs, "draft_token").parse().ok();
    let reviewed: Option<i64> = value(&pairs, "revision").parse().ok();
    // The draft first, then its site: a concurrent submit that commits in between is seen
    // by one of the two reads.
    let (token, revision, mut draft) = draft_of(&state, &who).await?;
    if let Some(token) = submitted
        && let Some(site) = ops::site_of_draft(&state.pool, &who, token).await?
    {
        return Ok(to_site(htmx, site));
    }
    let Some(token) = token.filter(|t| Some(*t) == submitted) else {
        // No draft, or an older one: start from where the wizard is now.
        return Ok(go(htmx, "/wizard"));
    };
    // Create builds what this tab reviewed, never what another tab changed since.
    let Some(revision) = revision.filter(|r| reviewed.is_none_or(|seen| seen == *r)) else {
        return show_review(
            &state,
            &me,
            &who,
            htmx,
            Some(token),
            revision,
            draft,
            Some(DRAFT_CHANGED),
        )
        .await;
    };
    match ops::create(
        &state.pool,
        &state.platform,
        &who,
        token,
        &draft,
        Checks::StepByStep,
        Some(revision),
    )
    .await
    {
        Ok(created) => Ok(to_site(htmx, created.site)),
        Err(WizardError::DraftChanged) => {
            let (token, revision, draft) = draft_of(&state, &who).await?;
            show_review(&state, &me, &who, htmx, token, revision, draft, Some(DRAFT_CHANGED)).await
        }
        Err(WizardError::Invalid { step, invalid }) => {
            draft.mark(step, false);
            let saved = model::save(&state.pool, me.id(), &draft, Some(revision)).await?;
            let sync = DraftSync::shown(saved.or(Some(revision)), &draft, Some(step));
            render_step(
                &state,
                &me,
                htmx,
                StatusCode::UNPROCESSABLE_ENTITY,
                step,
                draft,
                invalid.errors(Names::Form),
                sync,
            )
            .await
        }
        Err(WizardError::Db(err)) => Err(err.into()),
    }
}

fn to_site(htmx: bool, site: sites::model::SiteId) -> Response {
    let path = format!("/sites/{site}");
    if htmx {
        return (HxRedirect(path), ()).into_response();
    }
    Redirect::to(&path).into_response()
}
