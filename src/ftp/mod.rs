//! FTP users (`/ftp-users`, `/ftp-users/{id}`, `/ftp-users/{id}/delete`): createFTPUser,
//! listFTPUsers, updateFTPUser, destroyFTPUser.
//!
//! An FTP user's block (`ftp/_row.html`) is the same on the list and on its own page; htmx
//! edits and deletions swap that block in place. Without JavaScript, an edit lands on the
//! user's own page and a deletion on the list.

pub mod api;
pub mod model;
pub mod ops;
pub mod root;
pub mod service;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::{HxCurrentUrl, HxRedirect, HxRequest};
use serde::Deserialize;

use crate::page;
use crate::settings::Current;
use crate::settings::model::Preferences;
use crate::sites::model::{EnvironmentId, SiteId};
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PageQuery, Pager, PathId, SignedIn, render, see_other};
use model::{Filter, FtpUser, FtpUserId, SiteChoice};
use ops::{FtpError, Shown, UserInput};

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
    /// How to connect, shown on the user's own page.
    pub connect: Option<ops::Connection>,
    /// Shown on the user's own page (which says so when there is no FTP service).
    pub its_page: bool,
}

impl UserView {
    fn new(user: FtpUser, prefs: &Preferences, csrf: &str, choices: Arc<Vec<SiteChoice>>) -> Self {
        Self {
            created: prefs.format(user.created_at),
            csrf: csrf.to_owned(),
            form: user_form(&user),
            open: false,
            choices,
            connect: None,
            its_page: false,
            user,
        }
    }

    /// With how to connect (the user's own page).
    async fn connecting(mut self, state: &AppState, me: &SignedIn) -> Result<Self, AppError> {
        let home = match (self.user.site_id, self.user.environment_id) {
            (Some(site), None) => model::site_home_environment(&state.pool, me.id(), site).await?,
            _ => None,
        };
        self.connect = ops::connection(state.web.ftp.as_ref(), &self.user, home.as_deref());
        self.its_page = true;
        Ok(self)
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
            ("type", user.kind.as_str()),
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
        settings: &Current,
        filter: Filter,
        paging: &PageQuery,
        form: FormState,
    ) -> Result<Self, AppError> {
        let prefs = settings.preferences();
        let pager = Pager::new(paging, settings.per_page());
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
    settings: Current,
    Query(filter): Query<FilterQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, AppError> {
    let page = FtpPage::load(&state, &me, &settings, filter.filter(), &paging, FormState::default()).await?;
    render(htmx, StatusCode::OK, &page, None)
}

/// The fields of the create and edit forms, as typed. On an edit a field left out keeps its
/// current value; an empty password keeps it (`ops::UserInput`).
#[derive(Deserialize, Default)]
struct UserForm {
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
    /// The create form's one-time token: sent twice, one user (see `web::once`).
    form_token: Option<String>,
}

impl From<UserForm> for UserInput {
    fn from(form: UserForm) -> Self {
        Self {
            name: form.name,
            username: form.username,
            password: form.password,
            relative_root: form.relative_root,
            kind: form.kind,
            site: form.site_id,
            environment: form.environment_id,
            version: form.version,
        }
    }
}

/// The form again with what was typed (never the password) and the errors.
fn failed(shown: &Shown, errors: FieldErrors) -> FormState {
    FormState::failed(
        &[
            ("name", &shown.name),
            ("username", &shown.username),
            ("relative_root", &shown.relative_root),
            ("type", &shown.kind),
            ("site_id", &shown.site),
            ("environment_id", &shown.environment),
        ],
        errors,
    )
}

async fn create(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let once = crate::web::once::sent(form.form_token.as_deref());
    let input = UserInput::from(form);
    let shown = input.shown(None);
    let message = match ops::create_user(&state.pool, &state.hasher, &me.who(ip), input, once).await {
        Ok(saved) => format!("FTP user {} created.", saved.username),
        Err(FtpError::Repeated) => crate::web::once::REPEATED.to_owned(),
        Err(FtpError::Invalid(invalid)) => {
            let form = failed(&shown, invalid.errors(Names::Form));
            let page = FtpPage::load(&state, &me, &settings, Filter::default(), &PageQuery::default(), form).await?;
            return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    if !htmx {
        return see_other(&me.session, "/ftp-users", &message).await;
    }
    let page = FtpPage::load(
        &state,
        &me,
        &settings,
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

async fn load_user(state: &AppState, me: &SignedIn, settings: &Current, id: FtpUserId) -> Result<UserView, AppError> {
    let user = model::user(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    let choices = Arc::new(model::choices(&state.pool, me.id()).await?);
    Ok(UserView::new(user, &settings.preferences(), &me.csrf, choices))
}

async fn show(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    settings: Current,
    PathId(user): PathId<FtpUserId>,
) -> Result<Response, AppError> {
    let mut view = load_user(&state, &me, &settings, user)
        .await?
        .connecting(&state, &me)
        .await?;
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
    settings: Current,
    PathId(user): PathId<FtpUserId>,
) -> Result<Response, AppError> {
    let view = load_user(&state, &me, &settings, user).await?;
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
    settings: &Current,
    (htmx, from): (bool, Option<axum::http::Uri>),
    user: FtpUserId,
    outcome: Result<String, FormState>,
) -> Result<Response, AppError> {
    let back = format!("/ftp-users/{user}");
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let on_its_page = from.is_some_and(|url| url.path() == back);
    let block = async |form: Option<FormState>| {
        let mut view = load_user(state, me, settings, user).await?;
        if on_its_page {
            view = view.connecting(state, me).await?;
        }
        Ok(UserBlock {
            view: match form {
                Some(form) => view.failed(form),
                None => view,
            },
        })
    };
    let page = async |form: FormState| {
        let view = load_user(state, me, settings, user)
            .await?
            .connecting(state, me)
            .await?
            .failed(form);
        Ok(UserPage {
            layout: Layout::new(me, "ftp", format!("FTP user {}", view.user.username)).await?,
            view,
        })
    };
    crate::web::respond(me, htmx, &back, status, outcome, block, page).await
}

async fn update(
    State(state): State<AppState>,
    // Whether htmx asks, and from which page (the user's own shows how to connect).
    (HxRequest(htmx), HxCurrentUrl(from)): (HxRequest, HxCurrentUrl),
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(user): PathId<FtpUserId>,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let input = UserInput::from(form);
    let typed = input.clone();
    let outcome = match ops::update_user(&state.pool, &state.hasher, &me.who(ip), user, input).await {
        Ok(saved) if saved.changed => Ok(format!("FTP user {} saved.", saved.username)),
        Ok(saved) => Ok(format!("Nothing changed for FTP user {}.", saved.username)),
        Err(FtpError::Invalid(invalid)) => {
            let current = model::user(&state.pool, me.id(), user).await?;
            Err(failed(&typed.shown(current.as_ref()), invalid.errors(Names::Form)))
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, &settings, (htmx, from), user, outcome).await
}

async fn delete(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    HxCurrentUrl(from): HxCurrentUrl,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(user): PathId<FtpUserId>,
) -> Result<Response, AppError> {
    let username = ops::delete_user(&state.pool, &me.who(ip), user)
        .await
        .map_err(|err| err.into_app(Names::Form))?;
    let message = format!("FTP user {username} deleted.");
    let from_its_page = from.is_some_and(|url| url.path() == format!("/ftp-users/{user}"));
    match (htmx, from_its_page) {
        // On the list the block goes; from the user's own page, htmx goes to the list.
        (true, false) => render(true, StatusCode::OK, &Removed, Some(&message)),
        (true, true) => {
            crate::web::session::flash(&me.session, message).await?;
            Ok((HxRedirect("/ftp-users".to_owned()), StatusCode::OK).into_response())
        }
        (false, _) => see_other(&me.session, "/ftp-users", &message).await,
    }
}
