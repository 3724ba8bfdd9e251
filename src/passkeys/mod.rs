//! Passkeys (`/account/security/passkeys`, issue 16): a customer's named passkeys, listed,
//! renamed and removed with plain forms, and added through the WebAuthn ceremony, which
//! alone needs JavaScript (`static/passkeys.js`): its two steps (`…/options`, `…/finish`)
//! answer JSON. The sign-in with a passkey, alone or as the second factor, is in
//! `auth::passkey`; what is decided is in [`ops`].

pub mod ceremony;
pub mod confirm;
pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential, Webauthn};

use crate::page;
use crate::settings::Current;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::layers::PlainAnswer;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PathId, SignedIn, render, see_other};
use ceremony::{Ceremony, Kind};
use model::PasskeyId;
use ops::PasskeyError;

/// The passkeys page.
pub const PAGE: &str = "/account/security/passkeys";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(index))
        .route("/account/security/passkeys/options", post(register_options))
        .route("/account/security/passkeys/finish", post(register_finish))
        .route("/account/security/passkeys/{id}/rename", post(rename))
        .route("/account/security/passkeys/{id}/delete", post(remove))
        .merge(confirm::router())
}

/// The URL of the ceremony's script, for the pages that offer a passkey button.
pub fn script_url() -> String {
    crate::web::assets::url("passkeys.js")
}

/// A passkey as the page lists it.
pub struct Row {
    pub id: PasskeyId,
    pub name: String,
    pub created: String,
    pub last_used: String,
    /// The rename form: the name, or what was typed when it failed.
    pub form: FormState,
}

#[derive(Template)]
#[template(path = "passkeys/index.html", blocks = ["content"])]
struct PasskeysPage {
    layout: Layout,
    passkeys: Vec<Row>,
    max: i64,
    script: String,
}
page!(PasskeysPage);

impl PasskeysPage {
    /// The page; `failed` is a rename form that failed, with its passkey.
    async fn load(
        state: &AppState,
        me: &SignedIn,
        settings: &Current,
        failed: Option<(PasskeyId, FormState)>,
    ) -> Result<Self, AppError> {
        let prefs = settings.preferences();
        let passkeys = ops::list(state, me.id()).await.map_err(into_app_error)?;
        let rows = passkeys
            .into_iter()
            .map(|p| {
                let form = match &failed {
                    Some((id, form)) if *id == p.id => form.clone(),
                    _ => FormState::failed(&[("name", &p.name)], FieldErrors::default()),
                };
                Row {
                    id: p.id,
                    created: prefs.format(p.created_at),
                    last_used: p.last_used_at.map_or_else(|| "never".to_owned(), |at| prefs.format(at)),
                    name: p.name,
                    form,
                }
            })
            .collect();
        Ok(Self {
            layout: Layout::new(me, "account", "Passkeys").await?,
            passkeys: rows,
            max: ops::MAX_PASSKEYS,
            script: script_url(),
        })
    }
}

async fn index(State(state): State<AppState>, me: SignedIn, settings: Current) -> Result<Response, AppError> {
    let page = PasskeysPage::load(&state, &me, &settings, None).await?;
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct NameInput {
    #[serde(default)]
    name: String,
}

/// A failure on a page (not a ceremony): the page's error.
fn into_app_error(err: PasskeyError) -> AppError {
    match err {
        PasskeyError::NotFound => AppError::NotFound,
        PasskeyError::Internal(err) => err,
        other => AppError::Conflict(other.message()),
    }
}

async fn rename(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(id): PathId<PasskeyId>,
    Form(input): Form<NameInput>,
) -> Result<Response, AppError> {
    me.refuse_if_impersonating()?;
    match ops::rename(&state, &me.who(ip), id, &input.name).await {
        Ok(name) => see_other(&me.session, PAGE, &format!("Passkey renamed to \"{name}\".")).await,
        Err(PasskeyError::Name(message)) => {
            let mut errors = FieldErrors::default();
            errors.add("name", message);
            let form = FormState::failed(&[("name", &input.name)], errors);
            let page = PasskeysPage::load(&state, &me, &settings, Some((id, form))).await?;
            render(false, StatusCode::UNPROCESSABLE_ENTITY, &page, None)
        }
        Err(err) => Err(into_app_error(err)),
    }
}

async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<PasskeyId>,
) -> Result<Response, AppError> {
    me.refuse_if_impersonating()?;
    let name = ops::remove(&state, &me.who(ip), id).await.map_err(into_app_error)?;
    see_other(&me.session, PAGE, &format!("Passkey \"{name}\" removed.")).await
}

/// Step one of adding a passkey: the form's name is checked, and the options for
/// `navigator.credentials.create` answered.
async fn register_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    me: SignedIn,
    Form(input): Form<NameInput>,
) -> Response {
    let result = async {
        me.refuse_if_impersonating()?;
        let rp = relying_party(&state, &headers)?;
        let (options, registration, name) = ops::start_registration(&state, &rp, &me.customer, &input.name).await?;
        let ceremony = Ceremony {
            name,
            ..Ceremony::new(registration, state.clock.unix())
        };
        ceremony::keep(&me.session, Kind::Register, &ceremony).await?;
        Ok::<_, PasskeyError>(options)
    }
    .await;
    json_answer(result)
}

/// Step two: the browser's new credential, checked against step one's state (taken from
/// the session, so it counts once) and stored under step one's name.
async fn register_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    me: SignedIn,
    body: Bytes,
) -> Response {
    let result = async {
        me.refuse_if_impersonating()?;
        let rp = relying_party(&state, &headers)?;
        // Taken before the answer is read: an answer, good or bad, uses the ceremony up.
        let ceremony: Ceremony<PasskeyRegistration> = ceremony::take(&me.session, Kind::Register, state.clock.unix())
            .await?
            .ok_or(PasskeyError::NoCeremony)?;
        let answer: RegisterPublicKeyCredential = read_answer(&body)?;
        ops::finish_registration(&state, &rp, &me.who(ip), &ceremony.name, &ceremony.state, &answer).await?;
        crate::web::session::flash(&me.session, format!("Passkey \"{}\" added.", ceremony.name)).await?;
        Ok::<_, PasskeyError>(serde_json::json!({ "redirect": PAGE }))
    }
    .await;
    json_answer(result)
}

/// Berth as the relying party of this request (see [`ops::relying_party`]).
pub fn relying_party(state: &AppState, headers: &HeaderMap) -> Result<Webauthn, PasskeyError> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    ops::relying_party(&state.web, host)
}

/// A ceremony's answer from the browser, as JSON.
pub fn read_answer<T: DeserializeOwned>(body: &[u8]) -> Result<T, PasskeyError> {
    serde_json::from_slice(body).map_err(|_| PasskeyError::Unreadable)
}

/// A ceremony step's answer to the script: the JSON value, or `{"error": message}` (with
/// `fields` for a name) and its status. The error pages leave it as it is.
pub fn json_answer(result: Result<serde_json::Value, PasskeyError>) -> Response {
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(err) => {
            let status = match &err {
                PasskeyError::Name(_) | PasskeyError::Refused | PasskeyError::Unreadable => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                PasskeyError::NotFound => StatusCode::NOT_FOUND,
                PasskeyError::Cancelled(_) => StatusCode::FORBIDDEN,
                // A 4xx: the answer is the same until the address or the setting changes.
                PasskeyError::NoCeremony
                | PasskeyError::NoRelyingParty
                | PasskeyError::Duplicate
                | PasskeyError::NoPasskeys => StatusCode::CONFLICT,
                PasskeyError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
                PasskeyError::Internal(err) => {
                    if let AppError::Internal(inner) = err {
                        tracing::error!(error = format!("{inner:#}"), "internal error");
                    }
                    err.status()
                }
            };
            let mut body = serde_json::json!({ "error": err.message() });
            if let PasskeyError::Name(message) = &err {
                body["fields"] = serde_json::json!({ "name": message });
            }
            (status, body)
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.extensions_mut().insert(PlainAnswer);
    response
}
