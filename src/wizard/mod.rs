//! The onboarding wizard (CP_Wizard): site → container → environments → review → create.
//! `GET /wizard` resumes at the first unfinished step; every step saves what was typed.

pub mod api;
pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;

use crate::customer::CustomerId;
use crate::sites::model::{Catalogue, CreateError, Plan, Size};
use crate::sites::names::to_unicode;
use crate::web::{AppError, FieldErrors, Form, Layout, SignedIn, render};
use crate::{AppState, page, sites};
use model::{Draft, MAX_ALIASES, MAX_ENVIRONMENTS, Step};

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

async fn draft_of(state: &AppState, customer: CustomerId) -> Result<(Option<uuid::Uuid>, Draft), AppError> {
    Ok(match model::load(&state.pool, customer).await? {
        Some((token, draft)) => (Some(token), draft),
        None => (None, Draft::default()),
    })
}

/// Goes to `path`: a redirect, or for htmx a client-side navigation into `#main`.
fn go(htmx: bool, path: &str) -> Response {
    if htmx {
        let location = serde_json::json!({ "path": path, "target": "#main" }).to_string();
        let mut response = StatusCode::OK.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert("hx-location", value);
        }
        return response;
    }
    Redirect::to(path).into_response()
}

async fn resume(State(state): State<AppState>, me: SignedIn) -> Result<Response, AppError> {
    let (_, draft) = draft_of(&state, me.id()).await?;
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
}

#[derive(Template)]
#[template(path = "wizard/site.html", blocks = ["content"])]
struct SitePage {
    layout: Layout,
    progress: Progress,
    draft: Draft,
    errors: FieldErrors,
}
page!(SitePage);

#[derive(Template)]
#[template(path = "wizard/container.html", blocks = ["content"])]
struct ContainerPage {
    layout: Layout,
    progress: Progress,
    draft: Draft,
    errors: FieldErrors,
    catalogue: Catalogue,
}
page!(ContainerPage);

impl ContainerPage {
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

async fn render_step(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    status: StatusCode,
    step: Step,
    draft: Draft,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let layout = Layout::new(me, "wizard", "New site").await?;
    match step {
        Step::Site => {
            let page = SitePage {
                layout,
                progress: Progress::new("site", &draft),
                draft,
                errors,
            };
            render(htmx, status, &page, None)
        }
        Step::Container => {
            let catalogue = sites::model::catalogue(&state.pool).await?;
            let page = ContainerPage {
                layout,
                progress: Progress::new("container", &draft),
                draft,
                errors,
                catalogue,
            };
            render(htmx, status, &page, None)
        }
        Step::Environments => {
            let page = EnvironmentsPage {
                layout,
                progress: Progress::new("environments", &draft),
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
    me: SignedIn,
    Path(step): Path<String>,
) -> Result<Response, AppError> {
    let step = parse_step(&step)?;
    let (_, draft) = draft_of(&state, me.id()).await?;
    // A later step opens only when the ones before it are done.
    if let Some(first) = draft.first_unfinished()
        && Step::ALL.iter().position(|s| *s == step) > Step::ALL.iter().position(|s| *s == first)
    {
        return Ok(Redirect::to(first.path()).into_response());
    }
    render_step(&state, &me, htmx, StatusCode::OK, step, draft, FieldErrors::default()).await
}

async fn submit(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    Path(step): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, AppError> {
    let step = parse_step(&step)?;
    let (_, mut draft) = draft_of(&state, me.id()).await?;
    match step {
        Step::Site => {
            draft.site_name = value(&pairs, "site_name");
            draft.site_hostname = value(&pairs, "site_hostname");
        }
        Step::Container => {
            draft.container_name = value(&pairs, "container_name");
            draft.container_type = value(&pairs, "container_type");
            draft.container_os_id = value(&pairs, "container_os_id");
            draft.container_size = value(&pairs, "container_size");
            draft.container_disk_space = value(&pairs, "container_disk_space");
        }
        Step::Environments => {
            draft.environment_names = values(&pairs, "environment_names", MAX_ENVIRONMENTS);
            draft.alias_names = values(&pairs, "alias_names", MAX_ALIASES);
            draft.create_dns = pairs.iter().any(|(k, v)| k == "create_dns" && v != "false");
        }
    }
    // "Back" keeps what was typed without checking it.
    if value(&pairs, "nav") == "back" {
        draft.mark(step, false);
        model::save(&state.pool, me.id(), &draft).await?;
        let back = match step {
            Step::Site | Step::Container => Step::Site,
            Step::Environments => Step::Container,
        };
        return Ok(go(htmx, back.path()));
    }
    let mut errors = FieldErrors::default();
    let ok = match step {
        Step::Site => model::check_site(&state.pool, &draft, &mut errors).await?.is_some(),
        Step::Container => {
            let catalogue = sites::model::catalogue(&state.pool).await?;
            model::check_container(&state.pool, me.id(), &catalogue, &draft, &mut errors)
                .await?
                .is_some()
        }
        Step::Environments => {
            let primary = draft.site_hostname.parse::<sites::names::Hostname>().ok();
            let primary = primary.as_ref().map(|h| h.ascii());
            model::check_environments(&state.pool, &draft, primary, &mut errors)
                .await?
                .is_some()
        }
    };
    draft.mark(step, ok);
    model::save(&state.pool, me.id(), &draft).await?;
    if !ok {
        return render_step(&state, &me, htmx, StatusCode::UNPROCESSABLE_ENTITY, step, draft, errors).await;
    }
    let next = draft.first_unfinished().map(Step::path).unwrap_or("/wizard/review");
    Ok(go(htmx, next))
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
    review: Review,
    token: String,
}
page!(ReviewPage);

async fn review(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    let (token, draft) = draft_of(&state, me.id()).await?;
    let (Some(token), None) = (token, draft.first_unfinished()) else {
        return Ok(Redirect::to(draft.first_unfinished().unwrap_or(Step::Site).path()).into_response());
    };
    let catalogue = sites::model::catalogue(&state.pool).await?;
    match model::plan(&state.pool, me.id(), &catalogue, &draft).await? {
        Ok(plan) => {
            let page = ReviewPage {
                layout: Layout::new(&me, "wizard", "Review your new site").await?,
                progress: Progress::new("review", &draft),
                review: Review::new(&plan, &catalogue),
                token: token.to_string(),
            };
            render(htmx, StatusCode::OK, &page, None)
        }
        Err((step, errors)) => {
            let mut draft = draft;
            draft.mark(step, false);
            model::save(&state.pool, me.id(), &draft).await?;
            render_step(&state, &me, htmx, StatusCode::UNPROCESSABLE_ENTITY, step, draft, errors).await
        }
    }
}

/// Create: one transaction; a repeated submit of the same draft lands on the same site.
async fn create(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    Form(pairs): Form<Pairs>,
) -> Result<Response, AppError> {
    if value(&pairs, "nav") == "back" {
        return Ok(go(htmx, Step::Environments.path()));
    }
    let submitted: Option<uuid::Uuid> = value(&pairs, "draft_token").parse().ok();
    // The draft first, then its site: a concurrent submit that commits in between is seen
    // by one of the two reads.
    let (token, mut draft) = draft_of(&state, me.id()).await?;
    if let Some(token) = submitted
        && let Some(site) = sites::model::site_by_draft(&state.pool, me.id(), token).await?
    {
        return Ok(to_site(htmx, site));
    }
    let Some(token) = token.filter(|t| Some(*t) == submitted) else {
        // No draft, or an older one: start from where the wizard is now.
        return Ok(go(htmx, "/wizard"));
    };
    let catalogue = sites::model::catalogue(&state.pool).await?;
    let plan = match model::plan(&state.pool, me.id(), &catalogue, &draft).await? {
        Ok(plan) => plan,
        Err((step, errors)) => {
            // A concurrent submit of this draft created the site meanwhile (its hostnames
            // now look taken): go to it rather than report them or save the draft again.
            if let Some(site) = sites::model::site_by_draft(&state.pool, me.id(), token).await? {
                return Ok(to_site(htmx, site));
            }
            draft.mark(step, false);
            model::save(&state.pool, me.id(), &draft).await?;
            return render_step(&state, &me, htmx, StatusCode::UNPROCESSABLE_ENTITY, step, draft, errors).await;
        }
    };
    let mut tx = state.pool.begin().await?;
    match sites::model::create(&mut tx, me.id(), token, &plan).await {
        Ok(site) => {
            model::discard(&mut *tx, me.id()).await?;
            tx.commit().await?;
            Ok(to_site(htmx, site))
        }
        Err(CreateError::Db(err)) => Err(err.into()),
        Err(conflict) => {
            tx.rollback().await?;
            let (step, field, message) = conflict_field(&conflict, &plan);
            let mut errors = FieldErrors::default();
            errors.add(field, message);
            draft.mark(step, false);
            model::save(&state.pool, me.id(), &draft).await?;
            render_step(&state, &me, htmx, StatusCode::UNPROCESSABLE_ENTITY, step, draft, errors).await
        }
    }
}

/// Where a conflict met while creating (a hostname or container name taken since the
/// checks) belongs: the step, the field and its message. Shared with the API (`api.rs`).
pub(crate) fn conflict_field(conflict: &CreateError, plan: &Plan) -> (Step, String, &'static str) {
    match conflict {
        CreateError::HostnameTaken(name) if *name == plan.hostname.ascii() => (
            Step::Site,
            "site_hostname".to_owned(),
            "This hostname is already in use on the platform.",
        ),
        CreateError::HostnameTaken(name) => {
            let i = plan.aliases.iter().position(|a| a.ascii() == name).unwrap_or(0);
            (
                Step::Environments,
                format!("alias_names.{i}"),
                "This hostname is already in use on the platform.",
            )
        }
        _ => (
            Step::Container,
            "container_name".to_owned(),
            "You already have a container with this name.",
        ),
    }
}

fn to_site(htmx: bool, site: sites::model::SiteId) -> Response {
    let path = format!("/sites/{site}");
    if htmx {
        let mut response = StatusCode::OK.into_response();
        if let Ok(value) = HeaderValue::from_str(&path) {
            response.headers_mut().insert("hx-redirect", value);
        }
        return response;
    }
    Redirect::to(&path).into_response()
}
