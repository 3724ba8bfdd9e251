//! Forms that create something are safe against a double submit (a double click, a resent
//! form after a slow answer): each rendering of a page gives its forms a fresh one-time
//! token (`Layout::once`, a hidden `form_token` field), and a handler acts on a token only
//! the first time it sees it. htmx's `hx-disabled-elt` also keeps the button from being
//! pressed twice, but only this check holds without JavaScript and against two requests
//! already on their way.
//!
//! The tokens seen are kept in memory for ten minutes, per customer: one Berth process
//! serves the panel (see DESIGN §2). A form without a token (an old page, a script) is
//! acted on as before.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::identity::CustomerId;

/// How long a used token is remembered; a page older than this may be sent once more.
const REMEMBERED: Duration = Duration::from_secs(600);

static SEEN: LazyLock<Mutex<HashMap<(CustomerId, String), Instant>>> = LazyLock::new(Default::default);

/// A fresh token for the forms of one page.
pub fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether this is the first time `customer` sends `token` (always true without one).
pub fn first_use(customer: CustomerId, token: Option<&str>) -> bool {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return true;
    };
    let now = Instant::now();
    let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    seen.retain(|_, at| now.duration_since(*at) < REMEMBERED);
    seen.insert((customer, token.to_owned()), now).is_none()
}

/// What a repeated form says: the first one did it.
pub const REPEATED: &str = "The form was sent twice; it was done once.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_acted_on_once_per_customer() {
        let (alice, bob) = (CustomerId(1), CustomerId(2));
        let t = token();
        assert!(first_use(alice, Some(&t)));
        assert!(!first_use(alice, Some(&t)));
        assert!(first_use(bob, Some(&t)), "another customer's token is another token");
        assert!(
            first_use(alice, None) && first_use(alice, None),
            "no token: always acted on"
        );
        assert!(first_use(alice, Some(&token())));
    }
}
