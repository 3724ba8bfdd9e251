//! The settings' operations, shared by the `/settings` page and the Customer API
//! (getSettings, setSettings): the one place that decides what may be stored.

use sqlx::PgPool;

use super::model::{self, SettingsInvalid, Values};
use crate::audit;
use crate::identity::{CustomerId, Who};

/// Why settings were not stored.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Some entry is wrong: none is stored.
    #[error("invalid settings")]
    Invalid(SettingsInvalid),
    /// The caller may not change this setting.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Where a change of settings comes from: it decides who may change
/// [`model::SIGN_IN_BY_API`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The Settings page, by the customer or by staff impersonating them.
    Page { impersonating: bool },
    /// The API, with a customer's key or an internal one.
    Api { internal: bool },
}

/// Every setting's value for the customer.
pub async fn values(db: &PgPool, customer: CustomerId) -> Result<Values, SettingsError> {
    Ok(model::load(db, customer).await?)
}

/// Checks `entries` (key, value) and stores all of them or, when one is wrong, none, with
/// their Activity entry (`settings_changed`, naming the keys whose value changed, and none
/// when nothing did); answers every value as now stored. Staff impersonating never gain the
/// power to let keys change sign-in details, and a customer's key cannot grant it to itself.
pub async fn save(db: &PgPool, who: &Who, via: Via, entries: &[(String, String)]) -> Result<Values, SettingsError> {
    let entries = model::parse_entries(entries).map_err(SettingsError::Invalid)?;
    let forbidden = match via {
        Via::Page { impersonating: true } => {
            Some("whether API keys may change sign-in details cannot be changed while impersonating")
        }
        Via::Api { internal: false } => {
            Some("whether API keys may change sign-in details is changed only on the Settings page")
        }
        Via::Page { impersonating: false } | Via::Api { internal: true } => None,
    };
    let stored = model::load(db, who.customer).await?;
    if let Some(message) = forbidden
        && model::changes(&stored, &entries, model::SIGN_IN_BY_API)
    {
        return Err(SettingsError::Forbidden(message));
    }
    let changed: Vec<(&'static str, String)> = entries
        .into_iter()
        .filter(|(key, value)| value != stored.get(key))
        .collect();
    if changed.is_empty() {
        return Ok(stored);
    }
    let mut tx = db.begin().await?;
    model::save(&mut *tx, who.customer, &changed).await?;
    let keys: Vec<&str> = changed.iter().map(|(k, _)| *k).collect();
    audit::record(&mut *tx, who, "settings_changed", &keys.join(", ")).await?;
    tx.commit().await?;
    Ok(model::load(db, who.customer).await?)
}
