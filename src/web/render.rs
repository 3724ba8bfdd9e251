//! Rendering: the layout every page shares, full page or htmx fragment, toasts, and
//! redirect-after-post with a flash message.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_htmx::{HxReswap, SwapOption};
use tower_sessions::Session;

use crate::web::assets::{URLS, Urls};
use crate::web::{AppError, SignedIn, session};

/// What `base.html` and `layout.html` need: title, CSRF token, who is signed in, which
/// navigation item is current, a flash message, asset URLs.
pub struct Layout {
    pub title: String,
    pub csrf: String,
    pub user: Option<String>,
    pub nav: &'static str,
    pub flash: Option<String>,
    pub assets: &'static Urls,
    /// Notices not acknowledged yet, shown in the navigation.
    pub unread: Unread,
    /// While staff impersonate the customer: the banner on every page.
    pub impersonation: Option<Banner>,
    /// The one-time token of this page's forms that create something (see `web::once`).
    pub once: String,
}

/// Who is looking at the customer's pages, since when, why, and until when.
#[derive(Debug, Clone)]
pub struct Banner {
    pub staff: String,
    pub since: String,
    pub until: String,
    pub reason: String,
    pub may_write: bool,
}

/// How many notices the customer has not acknowledged (shown when there are any).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unread(pub i64);

/// The signed-in part of the layout, for an error page that keeps the navigation and the
/// impersonation banner (a change refused to read-only support, without htmx).
#[derive(Debug, Clone)]
pub struct Shell {
    pub user: String,
    pub csrf: String,
    pub unread: Unread,
    pub banner: Option<Banner>,
}

impl Shell {
    pub fn of(me: &SignedIn) -> Self {
        Self {
            user: me.customer.name().to_owned(),
            csrf: me.csrf.clone(),
            unread: Unread(me.customer.unread_notices),
            banner: banner(me),
        }
    }
}

impl Unread {
    pub fn shown(&self) -> Option<i64> {
        (self.0 > 0).then_some(self.0)
    }
}

impl Layout {
    /// For a signed-in page; takes the flash message left by the previous request.
    pub async fn new(me: &SignedIn, nav: &'static str, title: impl Into<String>) -> Result<Self, AppError> {
        Ok(Self {
            title: title.into(),
            csrf: me.csrf.clone(),
            user: Some(me.customer.name().to_owned()),
            nav,
            flash: session::take_flash(&me.session).await?,
            assets: &URLS,
            unread: Unread(me.customer.unread_notices),
            impersonation: banner(me),
            once: crate::web::once::token(),
        })
    }

    /// Read-only support is looking: every control that changes something is turned off.
    pub fn read_only(&self) -> bool {
        self.impersonation.as_ref().is_some_and(|b| !b.may_write)
    }

    /// For an error page shown to a signed-in user: the navigation and banner stay.
    pub fn shell(shell: &Shell, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            csrf: shell.csrf.clone(),
            user: Some(shell.user.clone()),
            nav: "",
            flash: None,
            assets: &URLS,
            unread: shell.unread,
            impersonation: shell.banner.clone(),
            once: String::new(),
        }
    }

    /// For a page without a signed-in user (sign-in, error pages).
    pub fn anonymous(csrf: String, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            csrf,
            user: None,
            nav: "",
            flash: None,
            assets: &URLS,
            unread: Unread(0),
            impersonation: None,
            once: String::new(),
        }
    }
}

/// A page whose `content` block is what an htmx request gets (swapped into `#main`).
pub trait Page: Template {
    fn content(&self) -> askama::Result<String>;
}

/// Implements [`Page`] for a template declared with `blocks = ["content"]`.
#[macro_export]
macro_rules! page {
    ($ty:ty) => {
        impl $crate::web::Page for $ty {
            fn content(&self) -> askama::Result<String> {
                askama::Template::render(&self.as_content())
            }
        }
    };
}

/// The banner while staff impersonate. Its times are in the customer's zone (their
/// `time_zone` setting, read with the customer's row), like every other time on the page.
fn banner(me: &SignedIn) -> Option<Banner> {
    use time_tz::{Offset, OffsetDateTimeExt, TimeZone};
    let i = me.impersonator.as_ref()?;
    let c = &me.customer;
    let zone = c
        .setting_keys
        .iter()
        .position(|k| k == "time_zone")
        .and_then(|n| c.setting_values.get(n))
        .and_then(|name| time_tz::timezones::get_by_name(name))
        .unwrap_or(time_tz::timezones::db::UTC);
    let at = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map(|t| {
                let local = t.to_timezone(zone);
                let name = zone.get_offset_utc(&t).name().to_owned();
                format!("{:02}:{:02} {name}", local.hour(), local.minute())
            })
            .unwrap_or_default()
    };
    Some(Banner {
        staff: i.staff.username.clone(),
        since: at(i.started_at),
        until: at(i.started_at + me.impersonation_limit.as_secs() as i64),
        reason: i.reason.clone(),
        may_write: i.staff.may_write(),
    })
}

#[derive(Template)]
#[template(path = "_toast.html")]
pub struct Toast<'a> {
    pub message: &'a str,
    pub error: bool,
    pub oob: bool,
}

/// The whole page, or for htmx its content block plus an out-of-band toast.
pub fn render<P: Page>(htmx: bool, status: StatusCode, page: &P, toast: Option<&str>) -> Result<Response, AppError> {
    let body = if htmx {
        let mut body = page.content()?;
        if let Some(message) = toast {
            body.push_str(
                &Toast {
                    message,
                    error: false,
                    oob: true,
                }
                .render()?,
            );
        }
        body
    } else {
        page.render()?
    };
    Ok((status, Html(body)).into_response())
}

/// The answer to a form post, decided here once for every area. Success without htmx is
/// redirect-after-post to `back` with `message` as the flash; success with htmx is
/// `block(None)` with `message` as a toast. A failure answers `status`: htmx gets
/// `block(Some(failed))`, a normal request the whole `page(failed)`. Only the loader that
/// is needed runs.
pub async fn respond<M, F, B, P>(
    me: &SignedIn,
    htmx: bool,
    back: &str,
    status: StatusCode,
    outcome: Result<M, F>,
    block: impl AsyncFnOnce(Option<F>) -> Result<B, AppError>,
    page: impl AsyncFnOnce(F) -> Result<P, AppError>,
) -> Result<Response, AppError>
where
    M: AsRef<str>,
    B: Page,
    P: Page,
{
    match outcome {
        Ok(message) if !htmx => see_other(&me.session, back, message.as_ref()).await,
        Ok(message) => render(true, StatusCode::OK, &block(None).await?, Some(message.as_ref())),
        Err(failed) if htmx => render(true, status, &block(Some(failed)).await?, None),
        Err(failed) => render(false, status, &page(failed).await?, None),
    }
}

/// `n` things in words, for what a destructive action takes with it: "1 ACL", "3 ACLs".
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Redirect-after-post: 303 to `to`, with `message` shown as a toast on the next page.
pub async fn see_other(session: &Session, to: &str, message: &str) -> Result<Response, AppError> {
    session::flash(session, message).await?;
    Ok(Redirect::to(to).into_response())
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    reason: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// An error as a full page, or for htmx as a toast that swaps nothing else.
/// With `shell` (a signed-in customer's page, say a change refused to read-only support)
/// the page keeps its navigation and impersonation banner.
pub fn error_response(
    status: StatusCode,
    message: &str,
    request_id: &str,
    htmx: bool,
    shell: Option<&Shell>,
) -> Response {
    let message = if status.is_server_error() {
        format!("{message} If it keeps happening, quote request id {request_id}.")
    } else {
        message.to_owned()
    };
    let body = if htmx {
        Toast {
            message: &message,
            error: true,
            oob: true,
        }
        .render()
    } else {
        let title = status.canonical_reason().unwrap_or("Error");
        ErrorPage {
            layout: match shell {
                Some(shell) => Layout::shell(shell, title),
                None => Layout::anonymous(String::new(), title),
            },
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: &message,
            request_id,
        }
        .render()
    };
    let body = body.unwrap_or_else(|err| {
        tracing::error!(%err, "error page did not render");
        "Something went wrong.".to_owned()
    });
    // For htmx the toast comes out of band and nothing else is swapped.
    let reswap = htmx.then_some(HxReswap(SwapOption::None));
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    (status, reswap, no_store, Html(body)).into_response()
}
