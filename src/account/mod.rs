//! Account (`/account`, `/account/{name,email,password,pin}`, `/account/cancel`):
//! getUsername, listRoles, changeEmail, changePassword, changePIN, requestCancellation.

pub mod api;
pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::recovery::ops::Links;
use crate::settings::Current;
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, Form, FormState, Layout, SignedIn, render, see_other, session};
use crate::{identity, page};
use ops::{AccountError, Proof};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(index))
        .route("/account/name", post(change_name))
        .route("/account/email", post(change_email))
        .route("/account/password", post(change_password))
        .route("/account/pin", post(change_pin))
        .route("/account/cancel", get(cancel_page).post(cancel))
}

#[derive(Template)]
#[template(path = "account/index.html", blocks = ["content"])]
struct AccountPage {
    layout: Layout,
    customer: identity::Customer,
    roles: Vec<model::Role>,
    has_pin: bool,
    name_form: FormState,
    email_form: FormState,
    password_form: FormState,
    pin_form: FormState,
    /// After a change answered in place: the header's name as now saved, swapped in out of
    /// band (the header is outside what htmx swaps).
    header_name: Option<String>,
}
page!(AccountPage);

/// Which form on the account page was sent.
#[derive(Clone, Copy)]
enum Which {
    Name,
    Email,
    Password,
    Pin,
}

impl AccountPage {
    async fn load(
        state: &AppState,
        me: &SignedIn,
        changed: bool,
        failed: Option<(Which, FormState)>,
    ) -> Result<Self, AppError> {
        // After a change, read the row afresh; otherwise the sign-in check just read it.
        let customer = if failed.is_none() && !changed {
            me.customer.clone()
        } else {
            identity::customer::by_id(&state.pool, me.id())
                .await?
                .ok_or(AppError::NotFound)?
        };
        let mut page = Self {
            layout: Layout::new(me, "account", "Account").await?,
            roles: model::roles(&state.pool, me.id()).await?,
            has_pin: customer.has_pin,
            name_form: FormState::failed(&[("display_name", &customer.display_name)], FieldErrors::default()),
            email_form: FormState::default(),
            password_form: FormState::default(),
            pin_form: FormState::default(),
            header_name: None,
            customer,
        };
        match failed {
            Some((Which::Name, form)) => page.name_form = form,
            Some((Which::Email, form)) => page.email_form = form,
            Some((Which::Password, form)) => page.password_form = form,
            Some((Which::Pin, form)) => page.pin_form = form,
            None => {}
        }
        Ok(page)
    }
}

/// The answer to a form on the account page: the page with the form's errors (422), or
/// success as a toast (htmx) or a redirect with a flash message.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    outcome: Result<&str, (Which, FormState)>,
) -> Result<Response, AppError> {
    // After a success the row changed (`true`: read it afresh); a failure shows the form.
    let block = async |failed: Option<(Which, FormState)>| {
        let changed = failed.is_none();
        let mut page = AccountPage::load(state, me, changed, failed).await?;
        if changed {
            page.header_name = Some(page.customer.name().to_owned());
        }
        Ok(page)
    };
    let page = async |failed| AccountPage::load(state, me, false, Some(failed)).await;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    crate::web::respond(me, htmx, "/account", status, outcome, block, page).await
}

async fn index(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    render(
        htmx,
        StatusCode::OK,
        &AccountPage::load(&state, &me, false, None).await?,
        None,
    )
}

/// The form state of a failed change: what was typed (never a password) and the errors
/// under the form's names; anything but invalid input is the error page.
fn failed(err: AccountError, values: &[(&'static str, &str)]) -> Result<FormState, AppError> {
    match err {
        AccountError::Invalid(invalid) => Ok(FormState::failed(values, invalid.errors(Names::Form))),
        other => Err(other.into_app(Names::Form)),
    }
}

#[derive(Deserialize)]
struct NameInput {
    /// Required: an empty value clears the name, a missing field is refused.
    display_name: String,
}

async fn change_name(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<NameInput>,
) -> Result<Response, AppError> {
    let outcome = match ops::change_display_name(&state.pool, &me.who(ip), &input.display_name).await {
        Ok(_) => Ok("Display name saved."),
        Err(err) => Err((Which::Name, failed(err, &[("display_name", &input.display_name)])?)),
    };
    respond(&state, &me, htmx, outcome).await
}

#[derive(Deserialize)]
struct EmailInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
}

async fn change_email(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<EmailInput>,
) -> Result<Response, AppError> {
    me.refuse_if_impersonating()?;
    let proof = Proof::CurrentPassword(input.current_password);
    let outcome = match ops::change_email(
        &state.pool,
        &state.hasher,
        &Links::of(&state),
        &me.who(ip),
        &proof,
        &input.email,
    )
    .await
    {
        Ok(_) => Ok("Email address changed."),
        Err(err) => Err((Which::Email, failed(err, &[("email", &input.email)])?)),
    };
    respond(&state, &me, htmx, outcome).await
}

#[derive(Deserialize)]
struct PasswordInput {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<PasswordInput>,
) -> Result<Response, AppError> {
    me.refuse_if_impersonating()?;
    let proof = Proof::CurrentPassword(input.current_password);
    let changed = ops::change_password(
        &state.pool,
        &state.hasher,
        &me.who(ip),
        &proof,
        &input.password,
        Some(&input.password_confirm),
    )
    .await;
    let version = match changed {
        Ok(version) => version,
        Err(err) => return respond(&state, &me, htmx, Err((Which::Password, failed(err, &[])?))).await,
    };
    // Every other session is now signed out (their auth version is old); this one goes on
    // under a new id.
    if let Some(auth) = &me.auth {
        session::renew(&state.pool, &me.session, auth, version).await?;
    }
    respond(
        &state,
        &me,
        htmx,
        Ok("Password changed. Your other sessions were signed out."),
    )
    .await
}

#[derive(Deserialize)]
struct PinInput {
    #[serde(default)]
    pin: String,
    #[serde(default)]
    current_password: String,
}

async fn change_pin(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<PinInput>,
) -> Result<Response, AppError> {
    me.refuse_if_impersonating()?;
    let proof = Proof::CurrentPassword(input.current_password);
    let outcome = match ops::change_pin(&state.pool, &state.hasher, &me.who(ip), &proof, &input.pin).await {
        Ok(()) => Ok("PIN changed."),
        Err(err) => Err((Which::Pin, failed(err, &[])?)),
    };
    respond(&state, &me, htmx, outcome).await
}

pub struct CancellationRow {
    pub requested: String,
    pub closed: String,
    pub request: model::Cancellation,
}

#[derive(Template)]
#[template(path = "account/cancel.html", blocks = ["content"])]
struct CancelPage {
    layout: Layout,
    pending: Option<CancellationRow>,
    history: Vec<CancellationRow>,
    form: FormState,
}
page!(CancelPage);

impl CancelPage {
    async fn load(state: &AppState, me: &SignedIn, current: &Current, form: FormState) -> Result<Self, AppError> {
        let prefs = current.preferences();
        let mut history: Vec<CancellationRow> = model::cancellations(&state.pool, me.id())
            .await?
            .into_iter()
            .map(|request| CancellationRow {
                requested: prefs.format(request.requested_at),
                closed: request.closed_at.map(|t| prefs.format(t)).unwrap_or_default(),
                request,
            })
            .collect();
        let pending = history
            .iter()
            .position(|r| r.request.status.is_pending())
            .map(|i| history.remove(i));
        Ok(Self {
            layout: Layout::new(me, "account", "Cancel account").await?,
            pending,
            history,
            form,
        })
    }
}

async fn cancel_page(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    current: Current,
) -> Result<Response, AppError> {
    render(
        htmx,
        StatusCode::OK,
        &CancelPage::load(&state, &me, &current, FormState::default()).await?,
        None,
    )
}

#[derive(Deserialize)]
struct CancelInput {
    #[serde(default)]
    reason: String,
    /// `withdraw` takes back the pending request; anything else asks to cancel.
    #[serde(default)]
    action: String,
}

async fn cancel(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    Form(input): Form<CancelInput>,
) -> Result<Response, AppError> {
    let who = me.who(ip);
    // No reason means the pending request is withdrawn.
    let message = if input.action == "withdraw" {
        ops::withdraw_cancellation(&state.pool, &who)
            .await
            .map_err(|err| err.into_app(Names::Form))?;
        "Your cancellation request was withdrawn."
    } else {
        match ops::request_cancellation(&state.pool, &who, &input.reason).await {
            Ok(_) => "Your cancellation request was received. You can withdraw it while it is pending.",
            Err(err) => {
                let form = failed(err, &[("reason", &input.reason)])?;
                let page = CancelPage::load(&state, &me, &current, form).await?;
                return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
            }
        }
    };
    if htmx {
        let page = CancelPage::load(&state, &me, &current, FormState::default()).await?;
        return render(true, StatusCode::OK, &page, Some(message));
    }
    see_other(&me.session, "/account/cancel", message).await
}
