//! Signing in and out (`GET,POST /login`, `POST /logout`).

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
use crate::identity::Who;
use crate::state::AppState;
use crate::web::{AppError, ClientIp, Device, Form, Layout, local_path, render, session};
use crate::{page, settings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
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
        layout: Layout::anonymous(csrf, "Sign in"),
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
    };
    let signed_in = match core::sign_in(&state, &session, Realm::Customer, ip, &device, attempt).await {
        Ok(signed_in) => signed_in,
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
    let to = match local_path(&input.next) {
        Some(next) => next.to_owned(),
        None => {
            let values = settings::model::load(&state.pool, customer).await?;
            landing_path(values.get("landing_page")).to_owned()
        }
    };
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, signed_in.device_cookie);
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
    session::sign_out(&session).await?;
    Ok(Redirect::to(if staff { "/staff/login" } else { "/login" }).into_response())
}
