//! [`Current`]: the signed-in customer's settings, read once per request.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::settings::model::{Preferences, Values};
use crate::state::AppState;
use crate::web::{AppError, SignedIn};

/// The signed-in customer's settings, as a handler argument: made once per request (a
/// second extraction reuses the first) from what the session check (`SignedIn`, also once)
/// read with the customer's row, so they cost no query of their own.
#[derive(Clone)]
pub struct Current(Arc<Values>);

impl Current {
    /// The settings `me`'s session check read with the customer's row.
    pub fn of(me: &SignedIn) -> Self {
        let stored = me
            .customer
            .setting_keys
            .iter()
            .cloned()
            .zip(me.customer.setting_values.iter().cloned());
        Current(Arc::new(Values::from_stored(stored.collect())))
    }

    pub fn values(&self) -> &Values {
        &self.0
    }

    /// How the customer wants times shown.
    pub fn preferences(&self) -> Preferences {
        Preferences::from_values(&self.0)
    }

    /// The "Rows per page" setting.
    pub fn per_page(&self) -> i64 {
        self.0.number("items_per_page")
    }
}

impl FromRequestParts<AppState> for Current {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(current) = parts.extensions.get::<Current>() {
            return Ok(current.clone());
        }
        let me = SignedIn::from_request_parts(parts, state).await?;
        let current = Current::of(&me);
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}
