//! Signing in with a passkey (issue 16), in two steps each answering JSON to
//! `static/passkeys.js`: alone, without a username (`POST /login/passkey/options`, `…/finish`),
//! or as the second factor of a sign-in whose password step passed
//! (`POST /login/second-factor/passkey/options`, `…/finish`), which allows only that
//! account's passkeys. The options of a sign-in alone name no account, so they tell nothing
//! of who exists. Each finish is throttled like the password (`auth::model`): per client
//! address, and for a second factor per account too; a success ends in [`core::complete`].
//! What a passkey proves is checked in `passkeys::ops`.

use std::net::IpAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use tower_sessions::Session;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential};

use crate::audit::{self, BY_ANONYMOUS};
use crate::auth::core::{self, Proven, SignInError};
use crate::auth::model::{self, Keys};
use crate::identity::customer::CustomerStatus;
use crate::identity::{self, CustomerId, Who};
use crate::passkeys::ceremony::{self, Ceremony, Kind};
use crate::passkeys::ops::{self, PasskeyError, Used};
use crate::passkeys::{json_answer, read_answer, relying_party};
use crate::settings;
use crate::state::AppState;
use crate::web::error::AuthError;
use crate::web::session::{self, Pending, PendingAccount};
use crate::web::{AppError, ClientIp, Device, Form, local_path};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/passkey/options", post(sign_in_options))
        .route("/login/passkey/finish", post(sign_in_finish))
        .route("/login/second-factor/passkey/options", post(second_factor_options))
        .route("/login/second-factor/passkey/finish", post(second_factor_finish))
}

#[derive(Deserialize)]
struct OptionsInput {
    #[serde(default)]
    next: String,
}

async fn sign_in_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Form(input): Form<OptionsInput>,
) -> Response {
    let result = async {
        let rp = relying_party(&state, &headers)?;
        let (options, authentication) = ops::start_sign_in(&rp)?;
        let ceremony = Ceremony {
            next: local_path(&input.next).unwrap_or("").to_owned(),
            ..Ceremony::new(authentication, state.clock.unix())
        };
        ceremony::keep(&session, Kind::SignIn, &ceremony).await?;
        Ok(options)
    }
    .await;
    json_answer(result)
}

async fn sign_in_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    device: Device,
    session: Session,
    body: Bytes,
) -> Response {
    let result = async {
        let rp = relying_party(&state, &headers)?;
        let ceremony: Ceremony<DiscoverableAuthentication> = ceremony::take(&session, Kind::SignIn, state.clock.unix())
            .await?
            .ok_or(PasskeyError::NoCeremony)?;
        let answer: PublicKeyCredential = read_answer(&body)?;
        let address = model::address_key(ip);
        let now = state.clock.now();
        if model::reserve(&state.pool, &address, now).await?.is_none() {
            return Err(too_many(&state, &address, &address, ip).await?);
        }
        let used = ops::finish_sign_in(&state, &rp, ceremony.state, &answer).await?;
        let auth_version = may_sign_in(&state, used.customer).await?;
        model::release(&state.pool, &address).await?;
        let (_, cookie) = device.after_sign_in(&state.web);
        let proven = Proven::Customer {
            id: used.customer,
            auth_version,
        };
        let how = format!("with the passkey \"{}\"", used.name);
        finish(&state, &session, proven, ip, cookie, &how, &ceremony.next, &used).await
    }
    .await;
    signed_in_answer(result)
}

async fn second_factor_options(State(state): State<AppState>, headers: HeaderMap, session: Session) -> Response {
    let result = async {
        let (_, customer) = pending_customer(&session).await?;
        let rp = relying_party(&state, &headers)?;
        let (options, authentication) = ops::start_second_factor(&state, &rp, customer).await?;
        let ceremony = Ceremony::new(authentication, state.clock.unix());
        ceremony::keep(&session, Kind::SecondFactor, &ceremony).await?;
        Ok(options)
    }
    .await;
    json_answer(result)
}

async fn second_factor_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    device: Device,
    session: Session,
    body: Bytes,
) -> Response {
    let result = async {
        let (pending, customer) = pending_customer(&session).await?;
        let rp = relying_party(&state, &headers)?;
        let ceremony: Ceremony<PasskeyAuthentication> =
            ceremony::take(&session, Kind::SecondFactor, state.clock.unix())
                .await?
                .ok_or(PasskeyError::NoCeremony)?;
        let answer: PublicKeyCredential = read_answer(&body)?;
        let keys = Keys {
            account: second_factor_key(customer),
            address: model::address_key(ip),
        };
        let now = state.clock.now();
        if model::reserve(&state.pool, &keys.address, now).await?.is_none() {
            return Err(too_many(&state, &keys.account, &keys.address, ip).await?);
        }
        if model::reserve(&state.pool, &keys.account, now).await?.is_none() {
            model::release(&state.pool, &keys.address).await?;
            return Err(too_many(&state, &keys.account, &keys.address, ip).await?);
        }
        let used = match ops::finish_second_factor(&state, &rp, customer, &ceremony.state, &answer).await {
            Ok(used) => used,
            Err(err) => {
                if matches!(err, PasskeyError::Refused) {
                    let who = Who::new(customer, BY_ANONYMOUS, Some(ip));
                    audit::record(&state.pool, &who, "sign_in_failed", "passkey not accepted").await?;
                }
                return Err(err);
            }
        };
        let auth_version = may_sign_in(&state, customer).await?;
        model::clear(&state.pool, &keys.account).await?;
        model::release(&state.pool, &keys.address).await?;
        let cookie = match HeaderValue::from_str(&pending.device_cookie) {
            Ok(cookie) if !pending.device_cookie.is_empty() => cookie,
            _ => device.after_sign_in(&state.web).1,
        };
        let proven = Proven::Customer {
            id: customer,
            auth_version,
        };
        let how = format!("with the password and the passkey \"{}\"", used.name);
        finish(&state, &session, proven, ip, cookie, &how, &pending.next, &used).await
    }
    .await;
    signed_in_answer(result)
}

/// The throttle's counter of an account's second factor.
fn second_factor_key(customer: CustomerId) -> String {
    format!("second-factor:customer:{customer}")
}

/// The session's half-done sign-in, and the customer whose it is.
async fn pending_customer(session: &Session) -> Result<(Pending, CustomerId), PasskeyError> {
    let pending = session::pending(session)
        .await?
        .ok_or(AppError::Auth(AuthError::SignInRequired))?;
    match pending.account {
        PendingAccount::Customer(customer) => Ok((pending, customer)),
        // Staff have no passkeys (yet).
        PendingAccount::Staff(_) => Err(PasskeyError::NoPasskeys),
    }
}

/// The account's auth version, if it may sign in: a cancelled account may not, and is told
/// so as the password sign-in tells it (the passkey was good, so it is the owner asking).
async fn may_sign_in(state: &AppState, customer: CustomerId) -> Result<i64, PasskeyError> {
    let found = identity::customer::by_id(&state.pool, customer).await?;
    match found {
        Some(c) if c.status != CustomerStatus::Cancelled.as_str() => Ok(c.auth_version),
        Some(_) => Err(PasskeyError::Cancelled(state.web.cancelled_message())),
        None => Err(PasskeyError::Refused),
    }
}

async fn too_many(state: &AppState, account: &str, address: &str, ip: IpAddr) -> Result<PasskeyError, PasskeyError> {
    let keys = Keys {
        account: account.to_owned(),
        address: address.to_owned(),
    };
    let wait_secs = model::wait_secs(&state.pool, &keys, state.clock.now())
        .await?
        .unwrap_or(1);
    tracing::warn!(%ip, wait_secs, "passkey sign-in refused: too many failures");
    Ok(PasskeyError::TooMany(wait_secs))
}

/// What a signed-in answer carries: where to go, and the device cookie to set.
struct Done {
    to: String,
    cookie: HeaderValue,
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    session: &Session,
    proven: Proven,
    ip: IpAddr,
    cookie: HeaderValue,
    how: &str,
    next: &str,
    used: &Used,
) -> Result<Done, PasskeyError> {
    let signed_in = core::complete(state, session, proven, ip, cookie, how)
        .await
        .map_err(|err| match err {
            SignInError::Internal(err) => PasskeyError::Internal(err),
            _ => PasskeyError::Refused,
        })?;
    // A passkey is a second factor (with user verification): fresh for the checks that ask.
    session::second_factor_proven(session, state.clock.unix()).await?;
    let to = match local_path(next) {
        Some(next) => next.to_owned(),
        None => {
            let values = settings::model::load(&state.pool, used.customer).await?;
            super::landing_path(values.get("landing_page")).to_owned()
        }
    };
    Ok(Done {
        to,
        cookie: signed_in.device_cookie,
    })
}

/// `{"redirect": …}` with the device cookie, or the error.
fn signed_in_answer(result: Result<Done, PasskeyError>) -> Response {
    match result {
        Ok(done) => {
            let mut response = json_answer(Ok(serde_json::json!({ "redirect": done.to })));
            response.headers_mut().append(header::SET_COOKIE, done.cookie);
            response
        }
        Err(err) => json_answer(Err(err)),
    }
}
