//! Security (`/account/security`): the customer's second factor (issue 16). Turning TOTP
//! on (a QR code and the secret as text, then one code), recovery codes (shown once, made
//! anew with a code), turning it off (password and code). Staff enrol through the same
//! view ([`TotpView`]) on their own page in the staff console. Staff impersonating a
//! customer see whether it is on, never a secret, and change nothing here.

pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::identity::sessions::Owner;
use crate::page;
use crate::sessions::SessionsList;
use crate::settings::Current;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, Page, SignedIn, render, see_other, session};
use model::Account;
use ops::{Actor, Enrolment, SecurityError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/security", get(index))
        .route("/account/security/totp", post(start))
        .route("/account/security/totp/confirm", post(confirm))
        .route("/account/security/recovery-codes", post(regenerate))
        .route("/account/security/totp/off", post(turn_off))
}

/// The TOTP part of a security page, the customer's or a staff member's
/// (`security/_totp.html`); `base` is the page's path, its forms post below it.
pub struct TotpView {
    pub base: &'static str,
    pub on: bool,
    pub codes_left: i64,
    /// The enrolment in progress: the secret to scan or type, and the code form.
    pub enrolment: Option<Enrolment>,
    /// Recovery codes just made, shown this once.
    pub new_codes: Vec<String>,
    /// Whether the account may turn it off (customers; staff must keep one).
    pub may_turn_off: bool,
    /// Looked at by staff impersonating: whether it is on, and nothing to change.
    pub read_only: bool,
    /// Why it cannot be turned on, if it cannot (no key is set).
    pub unavailable: Option<String>,
    pub confirm_form: FormState,
    pub codes_form: FormState,
    pub off_form: FormState,
}

impl TotpView {
    /// The view of `account`'s second factor, named `label` in the app.
    pub async fn load(state: &AppState, base: &'static str, account: Account, label: &str) -> Result<Self, AppError> {
        let on = ops::second_factor(&state.pool, account).await?.totp;
        let enrolment = if on {
            None
        } else {
            ops::enrolment(&state.pool, &state.sealer, account, label)
                .await
                .map_err(into_app)?
        };
        Ok(Self {
            base,
            on,
            codes_left: model::recovery_codes_left(&state.pool, account).await?,
            enrolment,
            new_codes: Vec::new(),
            may_turn_off: matches!(account, Account::Customer(_)),
            read_only: false,
            unavailable: (!state.sealer.has_key()).then(|| SecurityError::NoKey.field_message().unwrap_or_default()),
            confirm_form: FormState::default(),
            codes_form: FormState::default(),
            off_form: FormState::default(),
        })
    }
}

/// Which code form of a TOTP view answered: turning it on, or making new recovery codes.
#[derive(Debug, Clone, Copy)]
pub enum CodeForm {
    Confirm,
    RecoveryCodes,
}

impl TotpView {
    /// Puts a code form's outcome on the view: the recovery codes it made (shown this once)
    /// and the toast to show, or the form's error (`None`: answer 422).
    pub fn outcome(
        &mut self,
        form: CodeForm,
        result: Result<Vec<String>, SecurityError>,
    ) -> Result<Option<&'static str>, AppError> {
        match (result, form) {
            (Ok(codes), CodeForm::Confirm) => {
                self.new_codes = codes;
                Ok(Some("Two-factor sign-in is on."))
            }
            (Ok(codes), CodeForm::RecoveryCodes) => {
                self.new_codes = codes;
                Ok(Some("New recovery codes made; the old ones no longer work."))
            }
            (Err(err), CodeForm::Confirm) => {
                self.confirm_form = failed_form(err, "code")?;
                Ok(None)
            }
            (Err(err), CodeForm::RecoveryCodes) => {
                self.codes_form = failed_form(err, "code")?;
                Ok(None)
            }
        }
    }
}

/// A security page after a code form: 200 with the toast, or 422 when the form failed;
/// never stored (it may show recovery codes).
pub fn code_answer<P: Page>(htmx: bool, page: &P, toast: Option<&str>) -> Result<Response, AppError> {
    let status = if toast.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(no_store(render(htmx, status, page, toast)?))
}

/// A failed form's state: the message of `err` beside `field`, or the error page when the
/// error is not the user's to fix.
pub fn failed_form(err: SecurityError, field: &'static str) -> Result<FormState, AppError> {
    match err.field_message() {
        Some(message) => {
            let mut errors = FieldErrors::default();
            errors.add(field, message);
            Ok(FormState::failed(&[], errors))
        }
        None => Err(into_app(err)),
    }
}

/// The errors that are not a form's: a database or an internal one.
pub fn into_app(err: SecurityError) -> AppError {
    match err {
        SecurityError::Db(err) => err.into(),
        SecurityError::Internal(err) => AppError::Internal(err),
        other => AppError::Internal(anyhow::anyhow!("unexpected second-factor error: {other:?}")),
    }
}

/// A page that may hold a secret (the enrolment's, recovery codes): never stored by the
/// browser or a cache, and kept out of htmx's history.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "security/index.html", blocks = ["content"])]
struct SecurityPage {
    layout: Layout,
    totp: TotpView,
    /// How many passkeys the customer has (managed on their own page).
    passkeys: i64,
    /// Where the account is signed in.
    list: SessionsList,
}
page!(SecurityPage);

impl SecurityPage {
    async fn load(state: &AppState, me: &SignedIn) -> Result<Self, AppError> {
        let account = Account::Customer(me.id());
        let mut totp = TotpView::load(state, "/account/security", account, &me.customer.username).await?;
        if me.impersonator.is_some() {
            // Staff see whether it is on; never an enrolment's secret.
            totp.read_only = true;
            totp.enrolment = None;
        }
        let prefs = Current::of(me).preferences();
        let record = me.auth.as_ref().and_then(|a| a.record);
        let mut list = SessionsList::load(state, Owner::Customer(me.id()), record, |t| prefs.format(t)).await?;
        list.may_change = me.impersonator.is_none();
        Ok(Self {
            layout: Layout::new(me, "account", "Security").await?,
            totp,
            passkeys: crate::passkeys::model::count(&state.pool, me.id()).await?,
            list,
        })
    }
}

/// The customer's own change: never while staff impersonate.
fn own(me: &SignedIn, ip: std::net::IpAddr) -> Result<Actor, AppError> {
    if me.impersonator.is_some() {
        return Err(AppError::Forbidden(
            "two-factor sign-in cannot be changed while impersonating",
        ));
    }
    Ok(Actor::Customer(me.who(ip)))
}

async fn index(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    let page = SecurityPage::load(&state, &me).await?;
    Ok(no_store(render(htmx, StatusCode::OK, &page, None)?))
}

/// Starts (or starts over) an enrolment, then shows it: the page (after a redirect without
/// htmx).
async fn start(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
) -> Result<Response, AppError> {
    let actor = own(&me, ip)?;
    match ops::start_enrolment(&state.pool, &state.sealer, actor.account(), &me.customer.username).await {
        Ok(_) if htmx => {
            let page = SecurityPage::load(&state, &me).await?;
            Ok(no_store(render(true, StatusCode::OK, &page, None)?))
        }
        Ok(_) => Ok(Redirect::to("/account/security").into_response()),
        Err(err @ (SecurityError::AlreadyOn | SecurityError::NoKey)) => {
            let message = err.field_message().unwrap_or_default();
            see_other(&me.session, "/account/security", &message).await
        }
        Err(err) => Err(into_app(err)),
    }
}

#[derive(Deserialize)]
pub struct CodeInput {
    #[serde(default)]
    pub code: String,
}

/// Turns the enrolment on with a code; shows the first recovery codes once.
async fn confirm(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<CodeInput>,
) -> Result<Response, AppError> {
    let actor = own(&me, ip)?;
    let now = state.clock.now();
    let result = ops::confirm_enrolment(&state.pool, &state.sealer, &actor, &input.code, now).await;
    if result.is_ok() {
        session::second_factor_proven(&me.session, now.unix_timestamp()).await?;
    }
    let mut page = SecurityPage::load(&state, &me).await?;
    let toast = page.totp.outcome(CodeForm::Confirm, result)?;
    code_answer(htmx, &page, toast)
}

/// New recovery codes after a code; shown once.
async fn regenerate(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<CodeInput>,
) -> Result<Response, AppError> {
    let actor = own(&me, ip)?;
    let now = state.clock.now();
    let result = ops::regenerate_recovery_codes(&state.pool, &state.sealer, &actor, &input.code, now).await;
    let mut page = SecurityPage::load(&state, &me).await?;
    let toast = page.totp.outcome(CodeForm::RecoveryCodes, result)?;
    code_answer(htmx, &page, toast)
}

#[derive(Deserialize)]
struct TurnOffInput {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

/// Turns TOTP off: the current password and a code.
async fn turn_off(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<TurnOffInput>,
) -> Result<Response, AppError> {
    let Actor::Customer(who) = own(&me, ip)? else {
        return Err(AppError::Forbidden(
            "only a customer's own second factor can be turned off",
        ));
    };
    let now = state.clock.now();
    let result = ops::turn_off(
        &state.pool,
        &state.hasher,
        &state.sealer,
        &who,
        &input.current_password,
        &input.code,
        now,
    )
    .await;
    match result {
        Ok(()) => see_other(&me.session, "/account/security", "Two-factor sign-in is off.").await,
        Err(err) => {
            let field = match err {
                SecurityError::WrongPassword => "current_password",
                _ => "code",
            };
            let mut page = SecurityPage::load(&state, &me).await?;
            page.totp.off_form = failed_form(err, field)?;
            Ok(no_store(render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None)?))
        }
    }
}
