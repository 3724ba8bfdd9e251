//! A fresh check with a passkey while signed in (`/account/security/passkeys/confirm`): what
//! an account with passkeys and no authenticator app gives where the panel asks for a
//! fresh second factor (creating an API key, see `keys`). The page offers the passkey
//! button; its two steps answer JSON to `static/passkeys.js` and, when the passkey is the
//! customer's, mark the session's second factor as proven now and send it back to `next`.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use webauthn_rs::prelude::{PasskeyAuthentication, PublicKeyCredential};

use super::ceremony::{self, Ceremony, Kind};
use super::ops::{self, PasskeyError};
use super::{json_answer, read_answer, relying_party};
use crate::page;
use crate::state::AppState;
use crate::web::{AppError, Layout, SignedIn, local_path, render, session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/security/passkeys/confirm", get(index))
        .route("/account/security/passkeys/confirm/options", post(options))
        .route("/account/security/passkeys/confirm/finish", post(finish))
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Where to go back to: a local path, else the security page.
fn back_to(next: &str) -> String {
    local_path(next).unwrap_or("/account/security").to_owned()
}

#[derive(Template)]
#[template(path = "passkeys/confirm.html", blocks = ["content"])]
struct ConfirmPage {
    layout: Layout,
    next: String,
}
page!(ConfirmPage);

async fn index(me: SignedIn, Query(query): Query<NextQuery>) -> Result<Response, AppError> {
    let page = ConfirmPage {
        layout: Layout::new(&me, "account", "Confirm with a passkey").await?,
        next: back_to(&query.next),
    };
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct OptionsInput {
    #[serde(default)]
    next: String,
}

async fn options(
    State(state): State<AppState>,
    headers: HeaderMap,
    me: SignedIn,
    crate::web::Form(input): crate::web::Form<OptionsInput>,
) -> Response {
    let result = async {
        me.refuse_if_impersonating()?;
        let rp = relying_party(&state, &headers)?;
        let (options, authentication) = ops::start_second_factor(&state, &rp, me.id()).await?;
        let ceremony = Ceremony {
            next: back_to(&input.next),
            ..Ceremony::new(authentication, state.clock.unix())
        };
        ceremony::keep(&me.session, Kind::Confirm, &ceremony).await?;
        Ok::<_, PasskeyError>(options)
    }
    .await;
    json_answer(result)
}

async fn finish(State(state): State<AppState>, headers: HeaderMap, me: SignedIn, body: Bytes) -> Response {
    let result = async {
        me.refuse_if_impersonating()?;
        let rp = relying_party(&state, &headers)?;
        // Taken before the answer is read: an answer, good or bad, uses the ceremony up.
        let ceremony: Ceremony<PasskeyAuthentication> = ceremony::take(&me.session, Kind::Confirm, state.clock.unix())
            .await?
            .ok_or(PasskeyError::NoCeremony)?;
        let answer: PublicKeyCredential = read_answer(&body)?;
        ops::finish_second_factor(&state, &rp, me.id(), &ceremony.state, &answer).await?;
        session::second_factor_proven(&me.session, state.clock.unix()).await?;
        Ok::<_, PasskeyError>(serde_json::json!({ "redirect": ceremony.next }))
    }
    .await;
    json_answer(result)
}
