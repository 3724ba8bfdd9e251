//! A WebAuthn ceremony between its two requests: the options went to the browser, and the
//! state to check its answer against waits in the session (never in the browser). Each
//! state is taken once, used or not, and is good for [`LIFETIME_SECS`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::web::AppError;

/// How long a browser has to answer: the timeout the options give the authenticator.
pub const LIFETIME_SECS: i64 = 300;

/// Which ceremony: each has its own place in the session, so starting one does not end
/// another (a customer may add a passkey in one tab while signed out in none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Adding a passkey to the signed-in customer's account.
    Register,
    /// Signing in with a passkey alone.
    SignIn,
    /// Proving the second factor of a half-done sign-in.
    SecondFactor,
    /// A fresh check of the signed-in customer's second factor.
    Confirm,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Self::Register => "passkey_register",
            Self::SignIn => "passkey_sign_in",
            Self::SecondFactor => "passkey_second_factor",
            Self::Confirm => "passkey_confirm",
        }
    }
}

/// A ceremony's state, when it started (Unix seconds), for a new passkey its name, and for
/// a sign-in where to go after it (a local path, or empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceremony<T> {
    pub state: T,
    pub started_at: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub next: String,
}

impl<T> Ceremony<T> {
    /// A ceremony started at `now` (Unix seconds), with no name and nowhere to go after.
    pub fn new(state: T, now: i64) -> Self {
        Self {
            state,
            started_at: now,
            name: String::new(),
            next: String::new(),
        }
    }
}

/// Keeps `ceremony` in the session, in place of any earlier one of its kind.
pub async fn keep<T: Serialize>(session: &Session, kind: Kind, ceremony: &Ceremony<T>) -> Result<(), AppError> {
    session.insert(kind.key(), ceremony).await?;
    Ok(())
}

/// Takes the session's ceremony of `kind` out of it; `None` when there is none, or when it
/// is older than [`LIFETIME_SECS`] at `now`.
pub async fn take<T: DeserializeOwned>(
    session: &Session,
    kind: Kind,
    now: i64,
) -> Result<Option<Ceremony<T>>, AppError> {
    let Some(value) = session.get::<serde_json::Value>(kind.key()).await? else {
        return Ok(None);
    };
    session.remove_value(kind.key()).await?;
    // A state of another version of Berth does not read: as good as none.
    let ceremony = serde_json::from_value::<Ceremony<T>>(value).ok();
    Ok(ceremony.filter(|c| now - c.started_at <= LIFETIME_SECS))
}
