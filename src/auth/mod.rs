//! Signing in and out (`GET,POST /login`, `POST /logout`), and the second step of an
//! account with a second factor (`GET,POST /login/second-factor`), customers' and staff's.

pub mod core;
pub mod model;
pub mod passkey;

pub use self::core::{FAILED, Realm};

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::audit::{self, BY_CUSTOMER};
use crate::identity::{CustomerId, Who};
use crate::security::ops::SecondFactor;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Device, Form, FormState, Layout, local_path, render, session};
use crate::{page, security, settings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/second-factor", get(second_factor_page).post(second_factor))
        .route("/logout", post(logout))
        .merge(passkey::router())
}

#[derive(Template)]
#[template(path = "auth/login.html", blocks = ["content"])]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
}
page!(LoginPage);

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_page(session: Session, Query(query): Query<NextQuery>) -> Result<Response, AppError> {
    let csrf = session::csrf_token(&session).await?;
    let page = LoginPage {
        layout: Layout {
            // "That took too long" after an expired second step; "Your new password is set"
            // after a password reset.
            flash: session::take_flash(&session).await?,
            ..Layout::anonymous(csrf, "Sign in")
        },
        username: String::new(),
        next: local_path(&query.next).unwrap_or("").to_owned(),
        error: None,
    };
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct LoginInput {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// The form over the one sign-in core ([`core::sign_in`]), which decides everything.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    session: Session,
    Form(input): Form<LoginInput>,
) -> Result<Response, AppError> {
    let attempt = core::Input {
        username: &input.username,
        password: &input.password,
        next: &input.next,
    };
    let signed_in = match core::sign_in(&state, &session, Realm::Customer, ip, &device, attempt).await {
        Ok(core::Step::SignedIn(signed_in)) => signed_in,
        Ok(core::Step::SecondFactor) => return Ok(Redirect::to("/login/second-factor").into_response()),
        Err(err) => {
            let (status, message) = err.refusal()?;
            let page = LoginPage {
                layout: Layout::anonymous(session::csrf_token(&session).await?, "Sign in"),
                username: input.username.clone(),
                next: local_path(&input.next).unwrap_or("").to_owned(),
                error: Some(message),
            };
            return render(false, status, &page, None);
        }
    };
    let core::Principal::Customer(customer) = signed_in.principal else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "a customer sign-in signed in staff"
        )));
    };
    let to = customer_landing(&state, customer, &input.next).await?;
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, signed_in.device_cookie);
    Ok(response)
}

/// Where a customer goes once signed in: `next` when it is a local path, else their
/// landing page setting.
async fn customer_landing(state: &AppState, customer: CustomerId, next: &str) -> Result<String, AppError> {
    Ok(match local_path(next) {
        Some(next) => next.to_owned(),
        None => {
            let values = settings::model::load(&state.pool, customer).await?;
            landing_path(values.get("landing_page")).to_owned()
        }
    })
}

#[derive(Template)]
#[template(path = "auth/second_factor.html", blocks = ["content"])]
struct SecondFactorPage {
    layout: Layout,
    form: FormState,
    /// What the account can prove itself with: a code, a passkey, or both.
    factor: SecondFactor,
    /// Where the sign-in goes afterwards (the passkey button's `next`; the code's is kept
    /// in the session).
    next: String,
}
page!(SecondFactorPage);

impl SecondFactorPage {
    async fn new(state: &AppState, session: &Session, form: FormState) -> Result<Self, AppError> {
        let factor = match session::pending(session).await? {
            Some(pending) => security::ops::second_factor(&state.pool, pending.account.into()).await?,
            None => SecondFactor::default(),
        };
        Ok(Self {
            layout: Layout::anonymous(session::csrf_token(session).await?, "Two-factor sign-in"),
            form,
            factor,
            next: String::new(),
        })
    }
}

/// Back to the password, when there is no half-done sign-in to finish.
async fn start_over(session: &Session, expired: bool) -> Result<Response, AppError> {
    if expired {
        session::flash(session, "That took too long. Please sign in again.").await?;
    }
    Ok(Redirect::to("/login").into_response())
}

async fn second_factor_page(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    if session::pending(&session).await?.is_none() {
        return start_over(&session, false).await;
    }
    let page = SecondFactorPage::new(&state, &session, FormState::default()).await?;
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct SecondFactorInput {
    #[serde(default)]
    code: String,
}

/// The second step over [`core::second_step`], which decides everything; staff land in
/// the console, customers where their password step was going.
async fn second_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Form(input): Form<SecondFactorInput>,
) -> Result<Response, AppError> {
    let done = match core::second_step(&state, &session, ip, &input.code).await {
        Ok(done) => done,
        Err(core::SecondStepError::NoPending { expired }) => return start_over(&session, expired).await,
        Err(core::SecondStepError::Refused { message, throttled }) => {
            let mut errors = FieldErrors::default();
            errors.add("code", message);
            let page = SecondFactorPage::new(&state, &session, FormState::failed(&[], errors)).await?;
            let status = if throttled {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return render(false, status, &page, None);
        }
        Err(core::SecondStepError::Internal(err)) => return Err(err),
    };
    let to = match done.signed_in.principal {
        core::Principal::Customer(customer) => customer_landing(&state, customer, &done.next).await?,
        core::Principal::Staff(_) => local_path(&done.next)
            .filter(|p| p.starts_with("/staff"))
            .unwrap_or("/staff")
            .to_owned(),
    };
    if let Some(notice) = done.proof.notice() {
        session::flash(&session, notice).await?;
    }
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, done.signed_in.device_cookie);
    Ok(response)
}

fn landing_path(choice: &str) -> &'static str {
    match choice {
        "account" => "/account",
        "activity" => "/activity",
        "settings" => "/settings",
        _ => "/",
    }
}

async fn logout(State(state): State<AppState>, ClientIp(ip): ClientIp, session: Session) -> Result<Response, AppError> {
    if let Some(auth) = session::current_auth(&session).await? {
        let who = Who::new(auth.customer_id, BY_CUSTOMER, Some(ip));
        audit::record(&state.pool, &who, "sign_out", "").await?;
    }
    // "Sign out" on a page seen while impersonating signs the staff member out.
    let staff = session::staff_auth(&session).await?.is_some();
    session::end_if_impersonating(&state, &session, ip, "ended by signing out").await?;
    session::sign_out(&state.pool, &session).await?;
    Ok(Redirect::to(if staff { "/staff/login" } else { "/login" }).into_response())
}
