//! Settings (`GET,POST /settings`): getSettings and setSettings over the typed registry.

pub mod api;
pub mod current;
pub mod model;
pub mod ops;

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::page;
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, Form, Layout, SignedIn, render, see_other};
use model::{REGISTRY, Setting, Values};
use ops::{SettingsError, Via};

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

/// What each field shows: the values.
fn shown(values: &Values) -> BTreeMap<String, String> {
    values.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

async fn index(HxRequest(htmx): HxRequest, me: SignedIn, current: Current) -> Result<Response, AppError> {
    let page = SettingsPage::new(&me, shown(current.values()), FieldErrors::default()).await?;
    render(htmx, StatusCode::OK, &page, None)
}

async fn save(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(client): ClientIp,
    me: SignedIn,
    current: Current,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let via = Via::Page {
        impersonating: me.impersonator.is_some(),
    };
    let entries = model::form_entries(&pairs);
    let values = match ops::save(&state.pool, &me.who(client), via, &entries).await {
        Ok(values) => values,
        Err(SettingsError::Invalid(invalid)) => {
            // Show what was typed over what is stored.
            let mut values = shown(current.values());
            for (key, raw) in entries {
                values.insert(key, raw);
            }
            let page = SettingsPage::new(&me, values, invalid.errors(Names::Form)).await?;
            return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
        Err(SettingsError::Forbidden(message)) => return Err(AppError::Forbidden(message)),
        Err(SettingsError::Db(err)) => return Err(err.into()),
    };
    if !htmx {
        return see_other(&me.session, "/settings", "Settings saved.").await;
    }
    let page = SettingsPage::new(&me, shown(&values), FieldErrors::default()).await?;
    render(true, StatusCode::OK, &page, Some("Settings saved."))
}
