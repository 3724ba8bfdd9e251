//! CSRF defence on every non-GET: the request must not come from another site (Origin and
//! Sec-Fetch-Site), and must carry the session's token, as the `X-CSRF-Token` header (htmx)
//! or the `csrf_token` form field (plain forms).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

use crate::state::AppState;
use crate::web::error::{AuthError, RequestError};
use crate::web::{AppError, session};

/// The largest form body Berth reads (larger bodies are refused with 413).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, AppError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.run(req).await);
    }
    check_origin(req.headers(), state.web.public_origin.as_deref())?;
    let session = req
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
    // No token in the session: it expired or was signed out. Whatever was sent is refused
    // either way; the answer sends the user to sign in (HX-Redirect for htmx).
    let Some(expected) = session::expected_csrf_token(&session).await? else {
        return Err(AppError::Auth(AuthError::SignInRequired));
    };
    let (req, presented) = presented_token(req).await?;
    let matches = presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes()));
    if !matches {
        tracing::warn!("CSRF token missing or wrong");
        return Err(AppError::Forbidden(
            "the form has expired; reload the page and try again",
        ));
    }
    Ok(next.run(req).await)
}

/// A cross-site request is refused before anything else is read.
fn check_origin(headers: &HeaderMap, public_origin: Option<&str>) -> Result<(), AppError> {
    let cross = Err(AppError::Forbidden("cross-site request"));
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return cross;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let expected = match public_origin {
        Some(public) => public.to_owned(),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            format!("http://{host}")
        }
    };
    if origin != expected {
        tracing::warn!(origin, expected, "cross-origin request refused");
        return cross;
    }
    Ok(())
}

/// The presented token: the header, else the form field (the body is read and put back).
async fn presented_token(req: Request) -> Result<(Request, Option<String>), AppError> {
    if let Some(value) = req.headers().get(HEADER) {
        let token = value.to_str().ok().map(str::to_owned);
        return Ok((req, token));
    }
    if !crate::web::form::is_form(req.headers()) {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AppError::Request(RequestError::TooLarge))?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        let host = [("host", "127.0.0.1:8080")];
        assert!(
            check_origin(&headers(&host), None).is_ok(),
            "no Origin: a non-browser client"
        );
        assert!(check_origin(&headers(&[host[0], ("origin", "http://127.0.0.1:8080")]), None).is_ok());
        assert!(check_origin(&headers(&[host[0], ("origin", "http://evil.example")]), None).is_err());
        assert!(check_origin(&headers(&[host[0], ("sec-fetch-site", "cross-site")]), None).is_err());
        assert!(check_origin(&headers(&[host[0], ("sec-fetch-site", "same-site")]), None).is_err());
        assert!(check_origin(&headers(&[host[0], ("sec-fetch-site", "same-origin")]), None).is_ok());
        let public = Some("https://panel.example.com");
        assert!(check_origin(&headers(&[("origin", "https://panel.example.com")]), public).is_ok());
        assert!(check_origin(&headers(&[("origin", "http://panel.example.com")]), public).is_err());
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
