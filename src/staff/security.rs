//! The staff member's own second factor (`/staff/security`): the same TOTP enrolment and
//! recovery codes as a customer's ([`crate::security::TotpView`]), minus turning it off,
//! which staff cannot (an operator resets a lost one: `berth staff reset-2fa`). The one
//! staff page a session signed in by password alone may reach ([`StaffPassword`]).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;

use crate::identity::UsernameKey;
use crate::page;
use crate::security::model::Account;
use crate::security::ops::{self, Actor, SecurityError};
use crate::security::{CodeForm, CodeInput, TotpView, code_answer, into_app, no_store};
use crate::staff::{StaffPassword, StaffSignedIn};
use crate::state::AppState;
use crate::web::{AppError, ClientIp, Form, Layout, render, see_other, session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/security", get(index))
        .route("/staff/security/totp", post(start))
        .route("/staff/security/totp/confirm", post(confirm))
        .route("/staff/security/recovery-codes", post(regenerate))
}

#[derive(Template)]
#[template(path = "staff/security.html", blocks = ["content"])]
struct SecurityPage {
    layout: Layout,
    totp: TotpView,
}
page!(SecurityPage);

impl SecurityPage {
    async fn load(state: &AppState, me: &StaffSignedIn) -> Result<Self, AppError> {
        let account = Account::Staff(me.staff.id);
        Ok(Self {
            layout: me.layout("Security").await?,
            totp: TotpView::load(state, "/staff/security", account, &me.staff.username).await?,
        })
    }
}

fn actor(me: &StaffSignedIn, ip: std::net::IpAddr) -> Actor {
    Actor::Staff {
        id: me.staff.id,
        username: UsernameKey::new(&me.staff.username),
        ip: Some(ip),
    }
}

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    StaffPassword(me): StaffPassword,
) -> Result<Response, AppError> {
    let page = SecurityPage::load(&state, &me).await?;
    Ok(no_store(render(htmx, StatusCode::OK, &page, None)?))
}

async fn start(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    StaffPassword(me): StaffPassword,
) -> Result<Response, AppError> {
    let account = Account::Staff(me.staff.id);
    match ops::start_enrolment(&state.pool, &state.sealer, account, &me.staff.username).await {
        Ok(_) if htmx => {
            let page = SecurityPage::load(&state, &me).await?;
            Ok(no_store(render(true, StatusCode::OK, &page, None)?))
        }
        Ok(_) => Ok(Redirect::to("/staff/security").into_response()),
        Err(err @ (SecurityError::AlreadyOn | SecurityError::NoKey)) => {
            let message = err.field_message().unwrap_or_default();
            see_other(&me.session, "/staff/security", &message).await
        }
        Err(err) => Err(into_app(err)),
    }
}

/// Turns TOTP on with a code: the session has now proven it, and the console opens.
async fn confirm(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    StaffPassword(me): StaffPassword,
    Form(input): Form<CodeInput>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let result = ops::confirm_enrolment(&state.pool, &state.sealer, &actor(&me, ip), &input.code, now).await;
    if result.is_ok() {
        session::second_factor_proven(&me.session, now.unix_timestamp()).await?;
    }
    let mut page = SecurityPage::load(&state, &me).await?;
    let toast = page.totp.outcome(CodeForm::Confirm, result)?;
    code_answer(htmx, &page, toast)
}

async fn regenerate(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    Form(input): Form<CodeInput>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let result = ops::regenerate_recovery_codes(&state.pool, &state.sealer, &actor(&me, ip), &input.code, now).await;
    let mut page = SecurityPage::load(&state, &me).await?;
    let toast = page.totp.outcome(CodeForm::RecoveryCodes, result)?;
    code_answer(htmx, &page, toast)
}
