//! Settings (`GET,POST /settings`): getSettings and setSettings over the typed registry.

pub mod api;
pub mod current;
pub mod model;

use std::collections::BTreeMap;
use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::identity::CustomerId;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, Layout, SignedIn, render, see_other};
use crate::{audit, page};
use model::{REGISTRY, Setting};

pub use current::Current;

pub fn router() -> Router<AppState> {
    Router::new().route("/settings", get(index).post(save))
}

#[derive(Template)]
#[template(path = "settings/index.html", blocks = ["content"])]
struct SettingsPage {
    layout: Layout,
    registry: &'static [Setting],
    /// What each field shows: the stored value, or what was just typed.
    values: BTreeMap<String, String>,
    errors: FieldErrors,
}
page!(SettingsPage);

impl SettingsPage {
    fn value(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    fn error(&self, setting: &Setting) -> Option<&str> {
        self.errors.get(&setting.field())
    }
}

impl SettingsPage {
    async fn new(me: &SignedIn, values: BTreeMap<String, String>, errors: FieldErrors) -> Result<Self, AppError> {
        Ok(Self {
            layout: Layout::new(me, "settings", "Settings").await?,
            registry: REGISTRY,
            values,
            errors,
        })
    }
}

async fn stored(state: &AppState, me: &SignedIn) -> Result<BTreeMap<String, String>, AppError> {
    Ok(model::load(&state.pool, me.id())
        .await?
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

async fn index(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    let page = SettingsPage::new(&me, stored(&state, &me).await?, FieldErrors::default()).await?;
    render(htmx, StatusCode::OK, &page, None)
}

async fn save(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(client): ClientIp,
    me: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let entries = match model::parse_form(&pairs) {
        Ok(entries) => entries,
        Err(errors) => {
            // Show what was typed over what is stored.
            let mut values = stored(&state, &me).await?;
            for (name, raw) in &pairs {
                if let Some(key) = name.strip_prefix("settings[").and_then(|k| k.strip_suffix(']')) {
                    values.insert(key.to_owned(), raw.clone());
                }
            }
            let page = SettingsPage::new(&me, values, errors).await?;
            return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
    };
    // Staff impersonating never gain the power to let keys change sign-in details.
    if me.impersonator.is_some()
        && model::changes(
            &model::load(&state.pool, me.id()).await?,
            &entries,
            model::SIGN_IN_BY_API,
        )
    {
        return Err(AppError::Forbidden(
            "whether API keys may change sign-in details cannot be changed while impersonating",
        ));
    }
    store(&state, me.id(), &me.actor(), &entries, client).await?;
    if !htmx {
        return see_other(&me.session, "/settings", "Settings saved.").await;
    }
    let page = SettingsPage::new(&me, stored(&state, &me).await?, FieldErrors::default()).await?;
    render(true, StatusCode::OK, &page, Some("Settings saved."))
}

/// Stores checked entries (all or none) with their Activity entry (`settings_changed`, the
/// keys); shared with the API (`api.rs`).
pub(crate) async fn store(
    state: &AppState,
    customer: CustomerId,
    actor: &str,
    entries: &[(&'static str, String)],
    ip: IpAddr,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    model::save(&mut *tx, customer, entries).await?;
    let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    audit::record_parts(
        &mut *tx,
        customer,
        actor,
        "settings_changed",
        &keys.join(", "),
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
