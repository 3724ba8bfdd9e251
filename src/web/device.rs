//! The known-browser cookie (`berth_device`, `__Host-berth_device` over HTTPS): a random
//! token a browser gets at a successful sign-in; the server keeps only its SHA-256, per
//! account, so a later sign-in from that browser may pass a lock others keep on the account.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use sha2::{Digest, Sha256};
use tower_sessions::cookie::{Cookie, SameSite};

use crate::state::AppState;
use crate::state::WebConfig;
use crate::web::AppError;

/// How long a browser keeps the cookie; the server forgets it on the same schedule.
const MAX_AGE_DAYS: i64 = 90;

/// The browser's device token, when it sent a well-formed one.
#[derive(Debug, Clone)]
pub struct Device(Option<String>);

impl Device {
    /// What the server stores and compares: the token's SHA-256, in hex.
    pub fn hash(&self) -> Option<String> {
        self.0.as_deref().map(hash)
    }

    /// The token to keep (the browser's own) or a new one, and its cookie, for the answer
    /// to a successful sign-in; the cookie is set again so its 90 days start anew.
    pub fn after_sign_in(&self, web: &WebConfig) -> (String, HeaderValue) {
        let token = self.0.clone().unwrap_or_else(new_token);
        let cookie = Cookie::build((cookie_name(web), token.clone()))
            .http_only(true)
            .secure(web.secure_cookies)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(time::Duration::days(MAX_AGE_DAYS))
            .build();
        let value = HeaderValue::from_str(&cookie.to_string()).expect("a cookie of hex digits is a header value");
        (hash(&token), value)
    }
}

impl<S> FromRequestParts<S> for Device
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let name = cookie_name(&AppState::from_ref(state).web);
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
            .filter(|v| well_formed(v));
        Ok(Self(token))
    }
}

fn cookie_name(web: &WebConfig) -> &'static str {
    if web.secure_cookies {
        "__Host-berth_device"
    } else {
        "berth_device"
    }
}

/// 256 random bits from the OS, in hex.
fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_browser_gets_a_random_token_and_a_kept_one_stays() {
        let web = WebConfig::new(Some("https://panel.example.com"));
        let (first, cookie) = Device(None).after_sign_in(&web);
        let (second, _) = Device(None).after_sign_in(&web);
        assert_ne!(first, second);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("__Host-berth_device="), "{cookie}");
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=7776000"] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        let token = "ab".repeat(32);
        let kept = Device(Some(token.clone()));
        assert_eq!(kept.after_sign_in(&web).0, hash(&token));
        assert_eq!(kept.hash(), Some(hash(&token)));
        assert!(!well_formed("../etc"));
        assert!(!well_formed(&"AB".repeat(32)));
    }
}
