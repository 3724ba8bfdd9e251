//! Forms that create something are safe against a double submit (a double click, a resent
//! form after a slow answer, the same form reaching two Berth processes): each rendering of a
//! page gives its create forms a fresh one-time token (`Layout::once`, or a row's own for a
//! form inside a row, as a hidden `form_token` field). The area's operation records the
//! token in PostgreSQL in the same transaction as what it creates (`identity::once`), so a
//! token acts once across processes and restarts, and a refused form (422) may be sent again
//! with it. A repeated one creates nothing and the page says [`REPEATED`] (200).
//!
//! htmx's `hx-disabled-elt` also keeps a button from being pressed twice, but only the
//! token holds without JavaScript and against two requests already on their way. A form
//! without a token (an old page, a script) is acted on as before.

pub use crate::identity::FormToken;

/// A fresh token for the create forms of one page (or one row).
pub fn token() -> String {
    FormToken::generate().to_string()
}

/// The token a form sent, if it sent one.
pub fn sent(field: Option<&str>) -> Option<FormToken> {
    FormToken::from_field(field)
}

/// What a repeated form says: the first one did it.
pub const REPEATED: &str = "The form was sent twice; it was done once.";

/// What a repeated key create form says (the customer's and the staff console's): done
/// once, and the secret, shown then, is not shown again.
pub fn repeated_key() -> String {
    format!(
        "{REPEATED} The key's secret was shown then and cannot be shown again; \
         if you did not keep it, revoke that key and create another."
    )
}
