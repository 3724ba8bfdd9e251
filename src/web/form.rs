//! What a form shows when it is re-rendered: the user's input (never passwords) and a
//! message per field; and the client's address for the audit log.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

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

/// The client's address, from the connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| Self(addr.ip()))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("served without connect info")))
    }
}
