//! The one error type. User-facing variants carry what the user may see; internal ones are
//! logged with the request id and shown as a generic message with that id.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::validation::FieldErrors;
use crate::web::render::Shell;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A change refused to read-only support; the error page keeps the customer's
    /// navigation and the impersonation banner.
    #[error("forbidden: support access is read-only")]
    ReadOnly(Box<Shell>),
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests: {0}")]
    TooMany(String),
    /// Who is asking is not known, or not for this (a 401, or a 429 for a key over its rate).
    #[error(transparent)]
    Auth(AuthError),
    /// The request itself could not be read (before any area saw it).
    #[error(transparent)]
    Request(RequestError),
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Why who is asking is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("sign-in required")]
    SignInRequired,
    /// A staff session asked for a customer page without (or after) an impersonation.
    #[error("back to the staff console")]
    StaffConsole,
    /// A staff session that has not proven a second factor: staff must enrol one first.
    #[error("staff second factor required")]
    StaffSecondFactor,
    /// An API call without a key, or with an unknown or revoked one.
    #[error("bad key: {0}")]
    BadKey(&'static str),
    /// Too many API calls with one key; try again after this many seconds.
    #[error("rate limited")]
    RateLimited(u64),
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body too large")]
    TooLarge,
    #[error("unreadable request: {0}")]
    Unreadable(&'static str),
    #[error("not a form")]
    NotAForm,
    /// An API call whose body is not `application/json`.
    #[error("not JSON")]
    NotJson,
    /// An API call whose body does not parse, with the parser's position.
    #[error("bad JSON: {0}")]
    BadJson(String),
}

/// What the error-page layer needs to render an error (see `web::pages`).
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub message: String,
    pub internal: bool,
    /// Where a 401 sends the user, when not the usual sign-in page.
    pub sign_in: Option<&'static str>,
    /// For invalid input: the message of each field.
    pub fields: FieldErrors,
    /// For a signed-in customer's page: what keeps the navigation and banner on the error page.
    pub shell: Option<std::sync::Arc<Shell>>,
}

impl AuthError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignInRequired | Self::StaffConsole | Self::StaffSecondFactor | Self::BadKey(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::SignInRequired => "Please sign in.".into(),
            Self::StaffConsole => "The impersonation has ended.".into(),
            Self::StaffSecondFactor => "Staff must turn on two-factor sign-in first.".into(),
            Self::BadKey(why) => (*why).into(),
            Self::RateLimited(after) => format!("Too many requests with this key; try again in {after} s."),
        }
    }
}

impl RequestError {
    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unreadable(_) | Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::NotAForm | Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::TooLarge => "The request was too large.".into(),
            Self::Unreadable(why) => (*why).into(),
            Self::NotAForm => "Send the form as application/x-www-form-urlencoded.".into(),
            Self::NotJson => "Send the arguments as a JSON object, with Content-Type: application/json.".into(),
            Self::BadJson(why) => why.clone(),
        }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden(_) | Self::ReadOnly(_) => StatusCode::FORBIDDEN,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Auth(err) => err.status(),
            Self::Request(err) => err.status(),
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::NotFound => "That page does not exist, or it is not yours.".into(),
            Self::Forbidden(why) => format!("This request was refused: {why}."),
            Self::ReadOnly(_) => "This request was refused: support access is read-only; nothing was changed.".into(),
            Self::Invalid(errors) => errors.summary(),
            Self::Conflict(msg) | Self::TooMany(msg) => msg.clone(),
            Self::Auth(err) => err.message(),
            Self::Request(err) => err.message(),
            Self::Unavailable => "The service is unavailable right now; please try again shortly.".into(),
            Self::Internal(_) => "Something went wrong on our side.".into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        // A lost database connection that reached us through `anyhow` is still a 503.
        if let Self::Internal(err) = &self
            && let Some(db) = err.downcast_ref::<sqlx::Error>()
            && crate::db::note_error(db)
        {
            tracing::warn!(error = format!("{err:#}"), "database unavailable");
            return Self::Unavailable.into_response();
        }
        if let Self::Internal(err) = &self {
            // The request id is on the request span (see `web::layers`).
            tracing::error!(error = format!("{err:#}"), "internal error");
        }
        let mut response = self.status().into_response();
        if let Self::Auth(AuthError::RateLimited(after)) = self {
            response.headers_mut().insert(header::RETRY_AFTER, after.into());
        }
        response.extensions_mut().insert(ErrorInfo {
            message: self.message(),
            internal: matches!(self, Self::Internal(_)),
            sign_in: match self {
                Self::Auth(AuthError::StaffConsole) => Some("/staff"),
                Self::Auth(AuthError::StaffSecondFactor) => Some("/staff/security"),
                _ => None,
            },
            shell: match &self {
                Self::ReadOnly(shell) => Some(std::sync::Arc::new((**shell).clone())),
                _ => None,
            },
            fields: match self {
                Self::Invalid(fields) => fields,
                _ => FieldErrors::default(),
            },
        });
        response
    }
}

impl From<sqlx::Error> for AppError {
    /// A lost connection or an unreachable database is a 503 (the next request gets a
    /// tested connection, see `db::note_error`); anything else is a bug, a 500.
    fn from(err: sqlx::Error) -> Self {
        if crate::db::note_error(&err) {
            tracing::warn!(%err, "database unavailable");
            return Self::Unavailable;
        }
        Self::Internal(err.into())
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        Self::Internal(anyhow::anyhow!("template: {err}"))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        if crate::web::session_store::is_unavailable(&err) {
            tracing::warn!(%err, "session store unavailable");
            return Self::Unavailable;
        }
        Self::Internal(anyhow::anyhow!("session: {err}"))
    }
}

impl From<AuthError> for AppError {
    fn from(err: AuthError) -> Self {
        Self::Auth(err)
    }
}

impl From<RequestError> for AppError {
    fn from(err: RequestError) -> Self {
        Self::Request(err)
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        Self::Invalid(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses and messages users see, as they were before the request-level and
    /// credential refusals moved into `RequestError` and `AuthError`.
    #[test]
    fn every_refusal_keeps_its_status_and_message() {
        let cases: [(AppError, u16, &str); 9] = [
            (AuthError::SignInRequired.into(), 401, "Please sign in."),
            (AuthError::StaffConsole.into(), 401, "The impersonation has ended."),
            (
                AuthError::BadKey("This API key is revoked.").into(),
                401,
                "This API key is revoked.",
            ),
            (
                AuthError::RateLimited(3).into(),
                429,
                "Too many requests with this key; try again in 3 s.",
            ),
            (RequestError::TooLarge.into(), 413, "The request was too large."),
            (RequestError::Unreadable("Unreadable.").into(), 400, "Unreadable."),
            (
                RequestError::NotAForm.into(),
                415,
                "Send the form as application/x-www-form-urlencoded.",
            ),
            (
                RequestError::NotJson.into(),
                415,
                "Send the arguments as a JSON object, with Content-Type: application/json.",
            ),
            (RequestError::BadJson("at line 1".into()).into(), 400, "at line 1"),
        ];
        for (err, status, message) in cases {
            assert_eq!((err.status().as_u16(), err.message().as_str()), (status, message));
        }
        let limited = AppError::from(AuthError::RateLimited(7)).into_response();
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
        let console = AppError::from(AuthError::StaffConsole).into_response();
        assert_eq!(console.extensions().get::<ErrorInfo>().unwrap().sign_in, Some("/staff"));
    }
}
