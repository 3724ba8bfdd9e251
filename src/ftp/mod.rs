//! FTP users (`/ftp-users`, `/ftp-users/{id}`, `/ftp-users/{id}/delete`): createFTPUser,
//! listFTPUsers, updateFTPUser, destroyFTPUser.
//!
//! An FTP user's block (`ftp/_row.html`) is the same on the list and on its own page; htmx
//! edits and deletions swap that block in place. Without JavaScript, an edit lands on the
//! user's own page and a deletion on the list.

pub mod api;
pub mod model;
pub mod root;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::{HxCurrentUrl, HxRequest};
use serde::Deserialize;

use crate::identity::CustomerId;
use crate::password::NewPassword;
use crate::settings::model::Preferences;
use crate::sites::model::{EnvironmentId, SiteId};
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PageQuery, Pager, PathId, SignedIn, render, see_other};
use crate::{page, settings};
use model::{Fields, Filter, FtpName, FtpType, FtpUser, FtpUserId, FtpUsername, Refused, SiteChoice};
use root::RelativeRoot;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ftp-users", get(index).post(create))
        .route("/ftp-users/{id}", get(show).post(update))
        .route("/ftp-users/{id}/edit", get(edit_form))
        .route("/ftp-users/{id}/delete", post(delete))
}

/// An FTP user as its block shows it, with its edit form.
pub struct UserView {
    pub user: FtpUser,
    pub created: String,
    pub csrf: String,
    pub form: FormState,
    /// Whether the edit form is shown open (on the user's page, or after it failed).
    pub open: bool,
    pub choices: Arc<Vec<SiteChoice>>,
}

impl UserView {
    fn new(user: FtpUser, prefs: &Preferences, csrf: &str, choices: Arc<Vec<SiteChoice>>) -> Self {
        Self {
            created: prefs.format(user.created_at),
            csrf: csrf.to_owned(),
            form: user_form(&user),
            open: false,
            choices,
            user,
        }
    }

    fn failed(mut self, form: FormState) -> Self {
        self.form = form;
        self.open = true;
        self
    }

    /// The prefix of the ids of its edit form's fields.
    pub fn prefix(&self) -> String {
        format!("ftp-user-{}", self.user.id)
    }
}

/// The edit form of `user`, showing its current fields.
fn user_form(user: &FtpUser) -> FormState {
    let site = user.site_id.map(|s| s.to_string()).unwrap_or_default();
    let environment = user.environment_id.map(|e| e.to_string()).unwrap_or_default();
    FormState::failed(
        &[
            ("name", &user.name),
            ("username", &user.username),
            ("relative_root", &user.relative_root),
            ("type", &user.kind),
            ("site_id", &site),
            ("environment_id", &environment),
        ],
        FieldErrors::default(),
    )
}

#[derive(Template)]
#[template(path = "ftp/_row.html")]
struct UserBlock {
    view: UserView,
}

/// An htmx change to one FTP user answers with its block alone.
impl crate::web::Page for UserBlock {
    fn content(&self) -> askama::Result<String> {
        self.render()
    }
}

/// What an htmx deletion answers: nothing, so the block goes (and a toast).
#[derive(Template)]
#[template(source = "", ext = "html")]
struct Removed;

impl crate::web::Page for Removed {
    fn content(&self) -> askama::Result<String> {
        Ok(String::new())
    }
}

/// `?site=&environment=` of the list; anything but a number is no filter.
#[derive(Debug, Default, Deserialize)]
struct FilterQuery {
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

impl FilterQuery {
    fn filter(&self) -> Filter {
        Filter {
            site: self.site.as_deref().and_then(|s| s.trim().parse::<SiteId>().ok()),
            environment: self
                .environment
                .as_deref()
                .and_then(|e| e.trim().parse::<EnvironmentId>().ok()),
        }
    }
}

#[derive(Template)]
#[template(path = "ftp/index.html", blocks = ["content"])]
struct FtpPage {
    layout: Layout,
    users: Vec<UserView>,
    choices: Arc<Vec<SiteChoice>>,
    filter_site: String,
    filter_environment: String,
    pager: Pager,
    form: FormState,
}
page!(FtpPage);

impl FtpPage {
    async fn load(
        state: &AppState,
        me: &SignedIn,
        filter: Filter,
        paging: &PageQuery,
        form: FormState,
    ) -> Result<Self, AppError> {
        let values = settings::model::load(&state.pool, me.id()).await?;
        let prefs = Preferences::from_values(&values);
        let pager = Pager::new(paging, values.number("items_per_page"));
        let (users, total) = model::list(&state.pool, me.id(), filter, pager.limit(), pager.offset()).await?;
        let choices = Arc::new(model::choices(&state.pool, me.id()).await?);
        Ok(Self {
            layout: Layout::new(me, "ftp", "FTP users").await?,
            users: users
                .into_iter()
                .map(|u| UserView::new(u, &prefs, &me.csrf, choices.clone()))
                .collect(),
            choices,
            filter_site: filter.site.map(|s| s.to_string()).unwrap_or_default(),
            filter_environment: filter.environment.map(|e| e.to_string()).unwrap_or_default(),
            pager: pager.counted(total),
            form,
        })
    }

    fn filtered(&self) -> bool {
        !self.filter_site.is_empty() || !self.filter_environment.is_empty()
    }

    fn filter_query(&self) -> String {
        let mut query = String::new();
        if !self.filter_site.is_empty() {
            query.push_str(&format!("site={}&", self.filter_site));
        }
        if !self.filter_environment.is_empty() {
            query.push_str(&format!("environment={}&", self.filter_environment));
        }
        query
    }
}

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    Query(filter): Query<FilterQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, AppError> {
    let page = FtpPage::load(&state, &me, filter.filter(), &paging, FormState::default()).await?;
    render(htmx, StatusCode::OK, &page, None)
}

/// The fields of the create and edit forms, as typed. On an edit a field left out keeps its
/// current value (updateFTPUser's arguments are optional); an empty password keeps it.
#[derive(Deserialize, Default)]
struct UserInput {
    name: Option<String>,
    username: Option<String>,
    password: Option<String>,
    relative_root: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    site_id: Option<String>,
    environment_id: Option<String>,
    /// The user's `updated_at` (Unix nanoseconds) as the edit form showed it.
    version: Option<String>,
}

/// What was typed, with what is kept for a field left out.
struct Typed {
    name: String,
    username: String,
    password: String,
    relative_root: String,
    kind: String,
    site_id: String,
    environment_id: String,
}

impl Typed {
    fn new(input: UserInput, current: Option<&FtpUser>) -> Self {
        let keep = |given: Option<String>, now: Option<String>| given.or(now).unwrap_or_default();
        Self {
            name: keep(input.name, current.map(|u| u.name.clone())),
            username: keep(input.username, current.map(|u| u.username.clone())),
            password: input.password.unwrap_or_default(),
            relative_root: keep(input.relative_root, current.map(|u| u.relative_root.clone())),
            kind: keep(input.kind, current.map(|u| u.kind.clone())),
            site_id: keep(input.site_id, current.and_then(|u| u.site_id).map(|s| s.to_string())),
            environment_id: keep(
                input.environment_id,
                current.and_then(|u| u.environment_id).map(|e| e.to_string()),
            ),
        }
    }

    /// The form again with what was typed (never the password) and the errors.
    fn failed(&self, errors: FieldErrors) -> FormState {
        FormState::failed(
            &[
                ("name", &self.name),
                ("username", &self.username),
                ("relative_root", &self.relative_root),
                ("type", &self.kind),
                ("site_id", &self.site_id),
                ("environment_id", &self.environment_id),
            ],
            errors,
        )
    }
}

/// An optional id from a form: empty is none; anything but a number is `unknown`.
fn optional_id<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    raw: &str,
    unknown: &str,
) -> Option<Option<T>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(None);
    }
    match raw.parse() {
        Ok(id) => Some(Some(id)),
        Err(_) => {
            errors.add(field, unknown);
            None
        }
    }
}

/// Reads the typed fields into an FTP user's fields and, when one was given (or is
/// required, on create), a new password.
async fn validate(
    db: &sqlx::PgPool,
    customer: CustomerId,
    typed: &Typed,
    current: Option<&FtpUser>,
) -> Result<Result<(Fields, Option<NewPassword>), FieldErrors>, AppError> {
    let mut errors = FieldErrors::default();
    let name = errors.check("name", typed.name.parse::<FtpName>());
    let username = errors.check("username", typed.username.parse::<FtpUsername>());
    let password = if typed.password.is_empty() && current.is_some() {
        None
    } else if typed.password.is_empty() {
        errors.add("password", "Choose a password of at least 12 characters.");
        None
    } else {
        errors.check("password", NewPassword::parse(&typed.password))
    };
    let relative_root = errors.check("relative_root", typed.relative_root.parse::<RelativeRoot>());
    let kind = FtpType::parse(&typed.kind);
    if kind.is_none() {
        errors.add("type", "Choose read-write or read-only.");
    }
    let site = optional_id::<SiteId>(&mut errors, "site_id", &typed.site_id, model::SITE_UNKNOWN);
    let environment = optional_id::<EnvironmentId>(
        &mut errors,
        "environment_id",
        &typed.environment_id,
        model::ENVIRONMENT_UNKNOWN,
    );
    let mut placement = None;
    if let (Some(site), Some(environment)) = (site, environment) {
        match model::place(db, customer, site, environment).await? {
            Ok(placed) => placement = Some(placed),
            Err(wrong) => {
                for (field, message) in wrong.iter() {
                    errors.add(field, message);
                }
            }
        }
    }
    if let Some(username) = &username
        && model::username_taken(db, username, current.map(|u| u.id)).await?
    {
        errors.add("username", model::USERNAME_TAKEN);
    }
    match (name, username, relative_root, kind, placement) {
        (Some(name), Some(username), Some(relative_root), Some(kind), Some(placement)) if errors.is_empty() => {
            Ok(Ok((
                Fields {
                    name,
                    username,
                    relative_root,
                    kind,
                    placement,
                },
                password,
            )))
        }
        _ => Ok(Err(errors)),
    }
}

async fn create(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<UserInput>,
) -> Result<Response, AppError> {
    let typed = Typed::new(input, None);
    let refuse = |errors: FieldErrors| async {
        let page = FtpPage::load(
            &state,
            &me,
            Filter::default(),
            &PageQuery::default(),
            typed.failed(errors),
        )
        .await?;
        render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None)
    };
    let (fields, password) = match validate(&state.pool, me.id(), &typed, None).await? {
        Ok(valid) => valid,
        Err(errors) => return refuse(errors).await,
    };
    let password = password.ok_or_else(|| AppError::Internal(anyhow::anyhow!("create without a password")))?;
    let hash = state.hasher.hash(password.as_str()).await?;
    let mut tx = state.pool.begin().await?;
    match model::create(&mut tx, me.id(), &me.actor(), &fields, &hash, Some(ip)).await? {
        Ok(_) => tx.commit().await?,
        Err(_) => {
            drop(tx);
            let mut errors = FieldErrors::default();
            errors.add("username", model::USERNAME_TAKEN);
            return refuse(errors).await;
        }
    }
    let message = format!("FTP user {} created.", fields.username.as_str());
    if !htmx {
        return see_other(&me.session, "/ftp-users", &message).await;
    }
    let page = FtpPage::load(
        &state,
        &me,
        Filter::default(),
        &PageQuery::default(),
        FormState::default(),
    )
    .await?;
    render(true, StatusCode::OK, &page, Some(&message))
}

#[derive(Template)]
#[template(path = "ftp/show.html", blocks = ["content"])]
struct UserPage {
    layout: Layout,
    view: UserView,
}
page!(UserPage);

async fn load_user(state: &AppState, me: &SignedIn, id: FtpUserId) -> Result<UserView, AppError> {
    let user = model::user(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    let prefs = Preferences::from_values(&settings::model::load(&state.pool, me.id()).await?);
    let choices = Arc::new(model::choices(&state.pool, me.id()).await?);
    Ok(UserView::new(user, &prefs, &me.csrf, choices))
}

async fn show(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    PathId(user): PathId<FtpUserId>,
) -> Result<Response, AppError> {
    let mut view = load_user(&state, &me, user).await?;
    view.open = true;
    let page = UserPage {
        layout: Layout::new(&me, "ftp", format!("FTP user {}", view.user.username)).await?,
        view,
    };
    render(htmx, StatusCode::OK, &page, None)
}

/// The edit form of one FTP user, which a row of the list loads when it is opened (htmx);
/// without htmx, the user's page, where the form is open.
#[derive(Template)]
#[template(path = "ftp/_edit_form.html")]
struct EditForm {
    view: UserView,
}

impl crate::web::Page for EditForm {
    fn content(&self) -> askama::Result<String> {
        self.render()
    }
}

async fn edit_form(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    PathId(user): PathId<FtpUserId>,
) -> Result<Response, AppError> {
    let view = load_user(&state, &me, user).await?;
    if !htmx {
        return Ok(Redirect::to(&format!("/ftp-users/{}", view.user.id)).into_response());
    }
    render(true, StatusCode::OK, &EditForm { view }, None)
}

/// The answer to an edit: for htmx the user's block (with a toast, or at 422 with the
/// form's errors); otherwise its page, by redirect or at 422.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    user: FtpUserId,
    outcome: Result<String, FormState>,
) -> Result<Response, AppError> {
    let back = format!("/ftp-users/{user}");
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let block = async |form: Option<FormState>| {
        let view = load_user(state, me, user).await?;
        Ok(UserBlock {
            view: match form {
                Some(form) => view.failed(form),
                None => view,
            },
        })
    };
    let page = async |form: FormState| {
        let view = load_user(state, me, user).await?.failed(form);
        Ok(UserPage {
            layout: Layout::new(me, "ftp", format!("FTP user {}", view.user.username)).await?,
            view,
        })
    };
    crate::web::respond(me, htmx, &back, status, outcome, block, page).await
}

async fn update(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(user): PathId<FtpUserId>,
    Form(input): Form<UserInput>,
) -> Result<Response, AppError> {
    let current = model::user(&state.pool, me.id(), user)
        .await?
        .ok_or(AppError::NotFound)?;
    // Changed since this form was shown (another tab): say so, save nothing.
    if let Some(version) = input.version.as_deref()
        && version != current.updated_at.unix_timestamp_nanos().to_string()
    {
        return Err(AppError::Conflict(model::CHANGED_MEANWHILE.into()));
    }
    let typed = Typed::new(input, Some(&current));
    let (fields, password) = match validate(&state.pool, me.id(), &typed, Some(&current)).await? {
        Ok(valid) => valid,
        Err(errors) => return respond(&state, &me, htmx, current.id, Err(typed.failed(errors))).await,
    };
    if model::changes(&current, &fields, password.is_some()).is_empty() {
        let message = format!("Nothing changed for FTP user {}.", current.username);
        return respond(&state, &me, htmx, current.id, Ok(message)).await;
    }
    let hash = match &password {
        Some(password) => Some(state.hasher.hash(password.as_str()).await?),
        None => None,
    };
    let mut tx = state.pool.begin().await?;
    match model::update(
        &mut tx,
        me.id(),
        &me.actor(),
        &current,
        &fields,
        hash.as_deref(),
        Some(ip),
    )
    .await?
    {
        Ok(()) => tx.commit().await?,
        Err(Refused::NotFound) => return Err(AppError::NotFound),
        Err(Refused::Changed) => return Err(AppError::Conflict(model::CHANGED_MEANWHILE.into())),
        Err(Refused::UsernameTaken) => {
            drop(tx);
            let mut errors = FieldErrors::default();
            errors.add("username", model::USERNAME_TAKEN);
            return respond(&state, &me, htmx, current.id, Err(typed.failed(errors))).await;
        }
    }
    let message = format!("FTP user {} saved.", fields.username.as_str());
    respond(&state, &me, htmx, current.id, Ok(message)).await
}

async fn delete(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    HxCurrentUrl(from): HxCurrentUrl,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(user): PathId<FtpUserId>,
) -> Result<Response, AppError> {
    let mut tx = state.pool.begin().await?;
    let username = model::delete(&mut tx, me.id(), &me.actor(), user, Some(ip))
        .await?
        .map_err(|_| AppError::NotFound)?;
    tx.commit().await?;
    let message = format!("FTP user {username} deleted.");
    let from_its_page = from.is_some_and(|url| url.path() == format!("/ftp-users/{user}"));
    match (htmx, from_its_page) {
        // On the list the block goes; from the user's own page, htmx goes to the list.
        (true, false) => render(true, StatusCode::OK, &Removed, Some(&message)),
        (true, true) => {
            crate::web::session::flash(&me.session, message).await?;
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert("hx-redirect", HeaderValue::from_static("/ftp-users"));
            Ok(response)
        }
        (false, _) => see_other(&me.session, "/ftp-users", &message).await,
    }
}
