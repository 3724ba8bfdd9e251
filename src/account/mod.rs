//! Account (`/account`, `/account/{name,email,password,pin}`, `/account/cancel`):
//! getUsername, listRoles, changeEmail, changePassword, changePIN, requestCancellation.

pub mod api;
pub mod model;

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::audit::record_parts;
use crate::identity::customer::DisplayName;
use crate::identity::{CustomerId, Email};
use crate::password::{NewPassword, Pin};
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, SignedIn, render, see_other, session};
use crate::{identity, page, settings};

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
    let block = async |failed: Option<(Which, FormState)>| AccountPage::load(state, me, failed.is_none(), failed).await;
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

/// What the current-password field says while its guard is locked.
const LOCKED: &str = "Too many wrong passwords: these changes are locked for 15 minutes.";

/// Checks the current password; a wrong one is a message on `errors`.
async fn check_current_password(
    state: &AppState,
    me: &SignedIn,
    ip: std::net::IpAddr,
    given: &str,
    errors: &mut FieldErrors,
) -> Result<(), AppError> {
    if given.is_empty() {
        errors.add("current_password", "Enter your current password.");
        return Ok(());
    }
    // Wrong guesses are counted before the comparison (one statement, so parallel guesses
    // cannot all pass), so a borrowed session cannot be used to guess the password: five in
    // 15 minutes lock these forms for 15 minutes. Each is recorded in Activity, and the lock.
    let guard = model::Guard::Reauth;
    let Some(count) = model::count_attempt(&state.pool, guard, me.id()).await? else {
        tracing::warn!(customer = %me.id(), %ip, "current password not checked: locked");
        errors.add("current_password", LOCKED);
        return Ok(());
    };
    let hash = identity::customer::password_hash(&state.pool, me.id()).await?;
    if state.hasher.verify(Some(&hash), given).await? {
        model::forget(&state.pool, guard, me.id()).await?;
    } else {
        tracing::warn!(customer = %me.id(), %ip, "wrong current password");
        let mut tx = state.pool.begin().await?;
        record_parts(&mut *tx, me.id(), &me.actor(), "password_check_failed", "", Some(ip)).await?;
        if count >= model::Guard::LIMIT {
            let detail = format!(
                "{} wrong current passwords: email, password and PIN changes are locked for {} minutes",
                model::Guard::LIMIT,
                model::Guard::WINDOW_MINUTES
            );
            record_parts(
                &mut *tx,
                me.id(),
                &me.actor(),
                "password_check_locked",
                &detail,
                Some(ip),
            )
            .await?;
        }
        tx.commit().await?;
        errors.add("current_password", "That is not your current password.");
    }
    Ok(())
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
    let name = match input.display_name.parse::<DisplayName>() {
        Ok(name) => name,
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("display_name", message);
            let form = FormState::failed(&[("display_name", &input.display_name)], errors);
            return respond(&state, &me, htmx, Err((Which::Name, form))).await;
        }
    };
    let mut tx = state.pool.begin().await?;
    model::set_display_name(&mut *tx, me.id(), &name).await?;
    record_parts(
        &mut *tx,
        me.id(),
        &me.actor(),
        "display_name_changed",
        name.as_str(),
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    respond(&state, &me, htmx, Ok("Display name saved.")).await
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
    let mut errors = FieldErrors::default();
    let email = errors.check("email", input.email.parse::<Email>());
    check_current_password(&state, &me, ip, &input.current_password, &mut errors).await?;
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let form = FormState::failed(&[("email", &input.email)], errors);
        return respond(&state, &me, htmx, Err((Which::Email, form))).await;
    };
    save_email(&state, me.id(), &me.actor(), &email, ip, false).await?;
    respond(&state, &me, htmx, Ok("Email address changed.")).await
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
    let mut errors = FieldErrors::default();
    let password = errors.check("password", NewPassword::parse(&input.password));
    if password.is_some() && input.password != input.password_confirm {
        errors.add("password_confirm", "The two new passwords differ.");
    }
    check_current_password(&state, &me, ip, &input.current_password, &mut errors).await?;
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        return respond(
            &state,
            &me,
            htmx,
            Err((Which::Password, FormState::failed(&[], errors))),
        )
        .await;
    };
    let version = save_password(
        &state,
        me.id(),
        &me.actor(),
        &password,
        "other sessions were signed out",
        ip,
        false,
    )
    .await?;
    // Every other session is now signed out (their auth version is old); this one goes on
    // under a new id.
    if let Some(auth) = &me.auth {
        session::renew(&me.session, auth, version).await?;
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
    let mut errors = FieldErrors::default();
    let pin = errors.check("pin", Pin::parse(&input.pin));
    check_current_password(&state, &me, ip, &input.current_password, &mut errors).await?;
    let Some(pin) = pin.filter(|_| errors.is_empty()) else {
        return respond(&state, &me, htmx, Err((Which::Pin, FormState::failed(&[], errors)))).await;
    };
    save_pin(&state, me.id(), &me.actor(), &pin, ip, false).await?;
    respond(&state, &me, htmx, Ok("PIN changed.")).await
}

// ---- the changes themselves, shared with the API (`api.rs`) ----------------------------

/// Stores a new email address, with its Activity entry (`email_changed`, from → to); with
/// `notify`, a security notice to the previous address too (see [`sign_in_change_notice`]).
pub(crate) async fn save_email(
    state: &AppState,
    customer: CustomerId,
    actor: &str,
    email: &Email,
    ip: IpAddr,
    notify: bool,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let previous = model::set_email(&mut *tx, customer, email).await?;
    let detail = format!("from {previous} to {}", email.as_str());
    record_parts(&mut *tx, customer, actor, "email_changed", &detail, Some(ip)).await?;
    if notify {
        let what = format!("email address was changed from {previous} to {}", email.as_str());
        sign_in_change_notice(&mut tx, customer, &previous, &what, actor, ip).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A change of sign-in details made over the API: a security notice to the customer (on
/// `/notices`, and to every contact method subscribed to security notices) and an email to
/// `previous_email`, the address the account had before, all in the change's transaction.
/// Whoever took the key (and maybe the new address) cannot keep the owner from hearing.
async fn sign_in_change_notice(
    tx: &mut sqlx::PgConnection,
    customer: CustomerId,
    previous_email: &str,
    what: &str,
    actor: &str,
    ip: IpAddr,
) -> Result<(), AppError> {
    let at = Preferences::new(None, None).format(time::OffsetDateTime::now_utc());
    let draft = crate::notices::model::Draft {
        notice_type: "security".to_owned(),
        severity: "warning".to_owned(),
        title: "Your sign-in details were changed through the API".to_owned(),
        body: format!(
            "Your {what}, by {actor} from {ip}, at {at} UTC.\n\n\
             If this was not you: sign in, change your password, revoke that key on the API keys page, \
             and turn off \"API keys may change sign-in details\" in Settings. Then contact support."
        ),
    };
    crate::notices::model::publish_security(tx, customer, &draft, previous_email).await?;
    Ok(())
}

/// Stores a new password, which signs out every session of the customer's but one the
/// caller renews, with its Activity entry (`password_changed`, `detail` saying which
/// sessions ended); with `notify`, a security notice to the account's email address too.
/// Returns the new auth version.
pub(crate) async fn save_password(
    state: &AppState,
    customer: CustomerId,
    actor: &str,
    password: &NewPassword,
    detail: &str,
    ip: IpAddr,
    notify: bool,
) -> Result<i64, AppError> {
    let hash = state.hasher.hash(password.as_str()).await?;
    let mut tx = state.pool.begin().await?;
    let version = model::set_password(&mut *tx, customer, &hash).await?;
    record_parts(&mut *tx, customer, actor, "password_changed", detail, Some(ip)).await?;
    if notify {
        let email = model::email(&mut *tx, customer).await?;
        sign_in_change_notice(&mut tx, customer, &email, "password was changed", actor, ip).await?;
    }
    tx.commit().await?;
    Ok(version)
}

/// Stores a new PIN, with its Activity entry (`pin_changed`); with `notify`, a security
/// notice to the account's email address too.
pub(crate) async fn save_pin(
    state: &AppState,
    customer: CustomerId,
    actor: &str,
    pin: &Pin,
    ip: IpAddr,
    notify: bool,
) -> Result<(), AppError> {
    let hash = state.hasher.hash(pin.as_str()).await?;
    let mut tx = state.pool.begin().await?;
    model::set_pin(&mut *tx, customer, &hash).await?;
    record_parts(&mut *tx, customer, actor, "pin_changed", "", Some(ip)).await?;
    if notify {
        let email = model::email(&mut *tx, customer).await?;
        sign_in_change_notice(&mut tx, customer, &email, "PIN was changed", actor, ip).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Opens a cancellation request inside `tx`, with its Activity entry
/// (`cancellation_requested`, the reason); a Conflict when one is already pending.
pub(crate) async fn open_cancellation(
    tx: &mut sqlx::PgConnection,
    customer: CustomerId,
    actor: &str,
    reason: &model::Reason,
    ip: IpAddr,
) -> Result<model::Cancellation, AppError> {
    let Some(request) = model::request_cancellation(&mut *tx, customer, reason).await? else {
        return Err(AppError::Conflict("A cancellation request is already pending.".into()));
    };
    record_parts(
        &mut *tx,
        customer,
        actor,
        "cancellation_requested",
        reason.as_str(),
        Some(ip),
    )
    .await?;
    Ok(request)
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
    async fn load(state: &AppState, me: &SignedIn, form: FormState) -> Result<Self, AppError> {
        let prefs = Preferences::from_values(&settings::model::load(&state.pool, me.id()).await?);
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
) -> Result<Response, AppError> {
    render(
        htmx,
        StatusCode::OK,
        &CancelPage::load(&state, &me, FormState::default()).await?,
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
    Form(input): Form<CancelInput>,
) -> Result<Response, AppError> {
    // The reason is checked before a transaction is open (re-rendering needs connections too);
    // no reason means the pending request is withdrawn.
    let reason = match input.action.as_str() {
        "withdraw" => None,
        _ => match input.reason.parse::<model::Reason>() {
            Ok(reason) => Some(reason),
            Err(message) => {
                let mut errors = FieldErrors::default();
                errors.add("reason", message);
                let form = FormState::failed(&[("reason", &input.reason)], errors);
                let page = CancelPage::load(&state, &me, form).await?;
                return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
            }
        },
    };
    let mut tx = state.pool.begin().await?;
    let message = if let Some(reason) = reason {
        open_cancellation(&mut tx, me.id(), &me.actor(), &reason, ip).await?;
        "Your cancellation request was received. You can withdraw it while it is pending."
    } else {
        if !model::withdraw_cancellation(&mut tx, me.id()).await? {
            return Err(AppError::Conflict(
                "There is no pending cancellation request to withdraw.".into(),
            ));
        }
        record_parts(&mut *tx, me.id(), &me.actor(), "cancellation_withdrawn", "", Some(ip)).await?;
        "Your cancellation request was withdrawn."
    };
    tx.commit().await?;
    if htmx {
        let page = CancelPage::load(&state, &me, FormState::default()).await?;
        return render(true, StatusCode::OK, &page, Some(message));
    }
    see_other(&me.session, "/account/cancel", message).await
}
