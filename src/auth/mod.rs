//! Signing in and out (`GET,POST /login`, `POST /logout`).

pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::audit::{BY_ANONYMOUS, BY_CUSTOMER, record_parts};
use crate::state::AppState;
use crate::web::{AppError, ClientIp, Device, Form, Layout, local_path, render, session};
use crate::{identity, page, settings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

/// The one message for every failed sign-in: it never says which part was wrong.
pub const FAILED: &str = "Unknown username or wrong password.";

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

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    session: Session,
    Form(input): Form<LoginInput>,
) -> Result<Response, AppError> {
    let refuse = |status: StatusCode, message: String, csrf: String| {
        let page = LoginPage {
            layout: Layout::anonymous(csrf, "Sign in"),
            username: input.username.clone(),
            next: local_path(&input.next).unwrap_or("").to_owned(),
            error: Some(message),
        };
        render(false, status, &page, None)
    };
    let username = identity::UsernameKey::new(&input.username);
    let keys = model::Keys::customer(&username, ip);
    // Count this attempt in advance on both keys, or refuse it while either is in its delay.
    let attempt = model::begin(&state.pool, &keys, device.hash().as_deref()).await?;
    let model::Attempt::Allowed {
        account_delay,
        address_delay,
        past_lock,
    } = attempt
    else {
        let wait = model::wait_secs(&state.pool, &keys).await?.unwrap_or(1);
        tracing::warn!(%username, %ip, wait, "sign-in refused: too many failures");
        let csrf = session::csrf_token(&session).await?;
        let message = format!("Too many failed sign-ins. Wait {wait} seconds, then try again.");
        return refuse(StatusCode::TOO_MANY_REQUESTS, message, csrf);
    };
    if past_lock {
        tracing::info!(%username, %ip, "locked account tried from a browser or address it signed in from before");
    }

    let found = identity::customer::credentials_by_username(&state.pool, &username).await?;
    let verified = state
        .hasher
        .verify(found.as_ref().map(|c| c.password_hash.as_str()), &input.password)
        .await?;
    let known = found.as_ref().map(|c| c.id);
    let customer = found.filter(|c| verified && c.status != "cancelled");
    let Some(customer) = customer else {
        // Already counted by `begin`.
        tracing::warn!(%username, %ip, "failed sign-in");
        if let Some(id) = known {
            record_parts(
                &state.pool,
                id,
                BY_ANONYMOUS,
                "sign_in_failed",
                "wrong password",
                Some(ip),
            )
            .await?;
            if account_delay > 0 {
                tracing::warn!(%username, account_delay, "sign-in locked");
                let detail = format!("further sign-ins refused for {account_delay} s after repeated failures");
                record_parts(&state.pool, id, BY_ANONYMOUS, "sign_in_locked", &detail, Some(ip)).await?;
            }
        }
        if address_delay > 0 {
            tracing::warn!(%ip, address_delay, "sign-ins from this address locked");
        }
        let csrf = session::csrf_token(&session).await?;
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, FAILED.to_owned(), csrf);
    };

    let (device_hash, device_cookie) = device.after_sign_in(&state.web);
    model::succeeded(&state.pool, &keys, attempt, &device_hash).await?;
    session::sign_in(&session, customer.id, customer.auth_version).await?;
    record_parts(&state.pool, customer.id, BY_CUSTOMER, "sign_in", "", Some(ip)).await?;
    let to = match local_path(&input.next) {
        Some(next) => next.to_owned(),
        None => {
            let values = settings::model::load(&state.pool, customer.id).await?;
            landing_path(values.get("landing_page")).to_owned()
        }
    };
    let mut response = Redirect::to(&to).into_response();
    response.headers_mut().append(header::SET_COOKIE, device_cookie);
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
        record_parts(&state.pool, auth.customer_id, BY_CUSTOMER, "sign_out", "", Some(ip)).await?;
    }
    // "Sign out" on a page seen while impersonating signs the staff member out.
    let staff = session::staff_auth(&session).await?.is_some();
    crate::web::session::end_if_impersonating(&state, &session, ip, "ended by signing out").await?;
    session::sign_out(&session).await?;
    Ok(Redirect::to(if staff { "/staff/login" } else { "/login" }).into_response())
}
