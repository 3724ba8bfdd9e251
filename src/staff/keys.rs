//! Internal API keys in the staff console (`/staff/keys`, `/staff/keys/{id}/revoke`): every
//! staff member sees them; one with `support-write` creates one under their own name (its
//! secret shown once) and revokes any. Internal keys are the platform's: no customer lists,
//! revokes or changes them, and impersonating a customer never makes one.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::StaffSignedIn;
use crate::identity::KeyId;
use crate::keys::model::{self as keys, Key, KeyName, Maker};
use crate::keys::ops::{self, KeyError};
use crate::page;
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::render::see_other;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PathId, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/keys", get(index).post(create))
        .route("/staff/keys/{id}/revoke", post(revoke))
}

/// An internal key as the list shows it.
pub struct Row {
    pub key: Key,
    pub created: String,
    pub last_used: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/keys.html", blocks = ["content"])]
struct KeysPage {
    layout: Layout,
    keys: Vec<Row>,
    may_write: bool,
    form: FormState,
}
page!(KeysPage);

async fn page(state: &AppState, me: &StaffSignedIn, form: FormState, status: StatusCode) -> Result<Response, AppError> {
    let prefs = Preferences::new(None, None);
    let keys = keys::internal_keys(&state.pool)
        .await?
        .into_iter()
        .map(|key| Row {
            created: prefs.format(key.created_at),
            last_used: match (key.last_used_at, key.last_used_address) {
                (Some(at), Some(address)) => format!("{} from {address}", prefs.format(at)),
                (Some(at), None) => prefs.format(at),
                _ => "never".to_owned(),
            },
            revoked: key.revoked_at.map(|at| prefs.format(at)),
            key,
        })
        .collect();
    let page = KeysPage {
        layout: me.layout("Internal API keys").await?,
        keys,
        may_write: me.staff.may_write(),
        form,
    };
    render(false, status, &page, None)
}

async fn index(State(state): State<AppState>, me: StaffSignedIn) -> Result<Response, AppError> {
    page(&state, &me, FormState::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
struct CreateInput {
    #[serde(default)]
    name: String,
    /// The form's one-time token (see `web::once`).
    form_token: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/key_created.html", blocks = ["content"])]
struct CreatedPage {
    layout: Layout,
    name: String,
    owner: String,
    secret: String,
}
page!(CreatedPage);

/// Creates an internal key owned by the signed-in staff member; `support-write` only.
async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    Form(input): Form<CreateInput>,
) -> Result<Response, AppError> {
    me.require_write()?;
    let name: KeyName = match input.name.parse() {
        Ok(name) => name,
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("name", message);
            let form = FormState::failed(&[("name", &input.name)], errors);
            return page(&state, &me, form, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let maker = Maker::Staff {
        id: me.staff.id,
        username: me.staff.username.clone(),
    };
    let once = crate::web::once::sent(input.form_token.as_deref());
    let Some(created) = ops::create_internal(&state.pool, &maker, &name, once).await? else {
        return see_other(&me.session, "/staff/keys", &crate::web::once::repeated_key()).await;
    };
    tracing::info!(staff = me.staff.username, key = created.prefix, %ip, "internal key created");
    let page = CreatedPage {
        layout: me.layout("Internal API key created").await?,
        name: name.as_str().to_owned(),
        owner: maker.describe(),
        secret: created.secret.expose().to_owned(),
    };
    let mut response = render(false, StatusCode::CREATED, &page, None)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revokes an internal key; `support-write` only. A customer's key is not found here.
async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<KeyId>,
) -> Result<Response, AppError> {
    me.require_write()?;
    // The key cache is cleared after the commit, by the operation.
    let (name, prefix) = match ops::revoke_internal(&state.pool, id).await {
        Ok(revoked) => revoked,
        Err(KeyError::Revoked) => return Err(AppError::Conflict("This key is already revoked.".into())),
        Err(KeyError::Db(err)) => return Err(err.into()),
        Err(_) => return Err(AppError::NotFound),
    };
    tracing::info!(staff = me.staff.username, key = prefix, %ip, "internal key revoked");
    see_other(
        &me.session,
        "/staff/keys",
        &format!("Internal key {name} ({prefix}) revoked. It can no longer be used."),
    )
    .await
}
