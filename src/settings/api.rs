//! The settings' Customer API methods: setSettings and getSettings, over the same registry,
//! checks (all or nothing) and Activity entry as `GET,POST /settings`.
//!
//! A SettingList is a JSON list of `{"name", "value"}` objects, as getSettings answers it
//! (with more fields, which setSettings does not take), so a script can read, change and send
//! back.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Kind, REGISTRY, Values};
use super::ops::{self, SettingsError, Via};
use crate::api::{ApiErrors, Args, Caller, IdArgs, Reply};
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

/// A settings operation's failure as the API tells it: mistakes under the seed's names.
fn api_error(err: SettingsError) -> AppError {
    match err {
        SettingsError::Invalid(invalid) => AppError::Invalid(invalid.errors(Names::Seed)),
        SettingsError::Forbidden(message) => AppError::Forbidden(message),
        SettingsError::Db(err) => err.into(),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_settings))
        .routes(routes!(get_settings))
}

/// A setting's value: a string; a number is taken for a number setting too.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    Number(i64),
}

impl SettingValue {
    fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(n) => n.to_string(),
        }
    }
}

/// One entry of a SettingList.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingEntry {
    /// The setting's name, as getSettings lists them (`time_zone`, `date_format`,
    /// `landing_page`, `notice_digest`, `items_per_page`, `invoice_reference`).
    pub name: String,
    /// Its new value, checked by the setting's type (see getSettings).
    #[schema(example = "Europe/Berlin")]
    pub value: SettingValue,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSettingsArgs {
    /// The customer.
    pub id: i64,
    /// The settings to change (at least one, each at most once); the others keep their
    /// values. A wrong entry is an error on `settings.NAME`, and then none is stored.
    pub settings: Vec<SettingEntry>,
}

/// A setting with its value.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSetting {
    pub name: String,
    /// The customer's value, or the default when they never set it; always a string.
    pub value: String,
    pub default: String,
    pub label: String,
    pub help: String,
    /// `timeZone` (an IANA name such as Europe/Berlin), `choice` (one of `choices`), `number`
    /// (a whole number from `min` to `max`) or `text` (one line of at most `maxLength`
    /// characters, may be empty).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

fn every_setting(values: &Values) -> Vec<ApiSetting> {
    REGISTRY
        .iter()
        .map(|setting| {
            let (kind, choices, min, max, max_length) = match &setting.kind {
                Kind::TimeZone => ("timeZone", None, None, None, None),
                Kind::Choice(options) => (
                    "choice",
                    Some(options.iter().map(|(v, _)| (*v).to_owned()).collect()),
                    None,
                    None,
                    None,
                ),
                Kind::Number { min, max } => ("number", None, Some(*min), Some(*max), None),
                Kind::Text { max } => ("text", None, None, None, Some(*max)),
            };
            ApiSetting {
                name: setting.key.to_owned(),
                value: values.get(setting.key).to_owned(),
                default: setting.default.to_owned(),
                label: setting.label.to_owned(),
                help: setting.help.to_owned(),
                kind: kind.to_owned(),
                choices,
                min,
                max,
                max_length,
            }
        })
        .collect()
}

#[utoipa::path(post, path = "/setSettings", operation_id = "setSettings", tag = "Settings",
    summary = "Set a list of settings on the Customer",
    description = "Checks every entry, then stores all of them or, when one is wrong, none. \
                   Example: `{\"id\": 7, \"settings\": [{\"name\": \"time_zone\", \"value\": \"Europe/Berlin\"}, \
                   {\"name\": \"items_per_page\", \"value\": 50}]}`.",
    request_body = SetSettingsArgs,
    responses((status = 200, description = "Every setting with its value, as getSettings answers",
        body = Reply<Vec<ApiSetting>>), ApiErrors))]
async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<SetSettingsArgs>,
) -> Result<Reply<Vec<ApiSetting>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let entries: Vec<(String, String)> = args
        .settings
        .iter()
        .map(|entry| (entry.name.clone(), entry.value.text()))
        .collect();
    let via = Via::Api {
        internal: caller.internal(),
    };
    let values = ops::save(&state.pool, &caller.who(customer), via, &entries)
        .await
        .map_err(api_error)?;
    Ok(Reply::new(every_setting(&values)))
}

#[utoipa::path(post, path = "/getSettings", operation_id = "getSettings", tag = "Settings",
    summary = "Get all the settings associated with the Customer",
    request_body = IdArgs,
    responses((status = 200, description = "Every setting with its value, type and default",
        body = Reply<Vec<ApiSetting>>), ApiErrors))]
async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<Vec<ApiSetting>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let values = ops::values(&state.pool, customer).await.map_err(api_error)?;
    Ok(Reply::new(every_setting(&values)))
}
