//! What a form shows when it is re-rendered: the user's input (never passwords) and a
//! message per field; and the client's address for the audit log.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::AppState;
use crate::web::{AppError, FieldErrors};

#[derive(Debug, Default)]
pub struct FormState {
    values: BTreeMap<&'static str, String>,
    pub errors: FieldErrors,
}

impl FormState {
    /// A form that failed: `values` are shown again (pass no passwords), `errors` beside
    /// their fields.
    pub fn failed(values: &[(&'static str, &str)], errors: FieldErrors) -> Self {
        Self {
            values: values.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            errors,
        }
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name)
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// The client's address: the connection's peer, or, when Berth is told it stands behind a
/// trusted reverse proxy (BERTH_TRUST_FORWARDED), the last address in `X-Forwarded-For`,
/// the one that proxy added.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if AppState::from_ref(state).web.trust_forwarded
            && let Some(ip) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(Self(ip));
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| Self(addr.ip()))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("served without connect info")))
    }
}
