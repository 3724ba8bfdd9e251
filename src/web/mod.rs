//! Cross-cutting HTTP: the error type, sessions and sign-in state, CSRF, security headers,
//! rendering (layout, htmx fragments, toasts, error pages) and static assets. Imports no area.

pub mod assets;
pub mod csrf;
pub mod device;
pub mod error;
pub mod form;
pub mod layers;
pub mod once;
pub mod paging;
pub mod path;
pub mod render;
pub mod serve;
pub mod session;
pub mod session_store;

pub use device::Device;
pub use error::{AppError, AuthError, RequestError};
pub use form::{ClientIp, Form, FormState};
pub use paging::{PageQuery, Pager};
pub use path::{PathId, PathIds};
pub use render::{Layout, Page, counted, render, respond, see_other};
pub use session::SignedIn;

/// The `next=` target after sign-in: a local path only (no scheme, no `//host`, no `\`).
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 512;
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_only_local_paths() {
        for ok in ["/", "/account", "/sites/1?x=2"] {
            assert_eq!(local_path(ok), Some(ok));
        }
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "account",
            "/ x",
            "/\tx",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }
}
