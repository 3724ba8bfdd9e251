//! The layers every request passes: request id, request log, security headers (HSTS over
//! HTTPS, Permissions-Policy among them), error pages, panic catching, timeout, session,
//! CSRF, `Vary: HX-Request`, body limit, and history restores answered with whole pages.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum_htmx::{HX_HISTORY_RESTORE_REQUEST, HX_REQUEST, HxRedirect};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::state::AppState;
use crate::web::error::ErrorInfo;
use crate::web::render::error_response;
use crate::web::session_store::CachedStore;
use crate::web::{AppError, RequestError, csrf};

/// Marks a response that the error-page layer passes as it is: probes read the status
/// and a plain word, never the HTML error page.
#[derive(Debug, Clone, Copy)]
pub struct PlainAnswer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

/// Turns off the browser features Berth does not use, so a script that ever slipped in
/// could not reach them either. The copy button (static/berth.js) writes to the clipboard,
/// so `clipboard-write` stays allowed for Berth itself, and passkeys (static/passkeys.js) need
/// `publickey-credentials-*`.
const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), bluetooth=(), browsing-topics=(), camera=(), \
    clipboard-read=(), clipboard-write=(self), display-capture=(), encrypted-media=(), fullscreen=(), \
    geolocation=(), gyroscope=(), hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), \
    payment=(), picture-in-picture=(), publickey-credentials-create=(self), publickey-credentials-get=(self), screen-wake-lock=(), serial=(), \
    usb=(), web-share=(), xr-spatial-tracking=()";

/// Sent only when Berth is reached over HTTPS (BERTH_PUBLIC_URL): browsers then refuse
/// plain HTTP to the host for two years, so no one on the way can strip TLS.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// A panic in a handler answers 500 (logged with the request id) and the server goes on.
pub fn catch_panic() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(|_| AppError::Internal(anyhow::anyhow!("handler panicked")).into_response())
}

/// No request takes longer than 30 s: it answers 503 instead.
pub fn timeout() -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30))
}

/// `pages` get sessions, CSRF and HTML error pages; `api` comes with its own layers (JSON
/// errors, no session: see `api::router`). Both get the request id, the request log and
/// the security headers.
pub fn apply(pages: Router<AppState>, api: Router<AppState>, state: &AppState) -> Router {
    let sessions = SessionManagerLayer::new(CachedStore::new(state.pool.clone(), state.clock.clone()))
        .with_name(state.web.cookie_name())
        .with_secure(state.web.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(state.web.idle_timeout).unwrap_or(time::Duration::minutes(30)),
        ));

    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let pages = pages.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(history_restore_is_a_page))
            .layer(middleware::from_fn_with_state(state.clone(), settle_changes))
            .layer(middleware::from_fn(error_pages))
            .layer(catch_panic())
            .layer(timeout())
            .layer(middleware::from_fn(|req: Request, next: Next| {
                read_body_first(csrf::MAX_FORM_BYTES, req, next)
            }))
            .layer(middleware::from_fn(crate::web::form::checked_query))
            .layer(sessions)
            .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
            .layer(axum_htmx::AutoVaryLayer)
            .layer(DefaultBodyLimit::max(csrf::MAX_FORM_BYTES)),
    );
    pages
        .merge(api)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            let id = req
                                .headers()
                                .get(REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("");
                            tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
                        })
                        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
                .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(header(header::REFERRER_POLICY, "same-origin"))
                .layer(header(
                    HeaderName::from_static("cross-origin-opener-policy"),
                    "same-origin",
                ))
                .layer(header(header::CACHE_CONTROL, "no-cache"))
                .layer(header(
                    HeaderName::from_static("permissions-policy"),
                    PERMISSIONS_POLICY,
                ))
                .option_layer(
                    state
                        .web
                        .secure_cookies
                        .then(|| header(header::STRICT_TRANSPORT_SECURITY, HSTS)),
                ),
        )
        .with_state(state.clone())
}

/// After a page that may have changed something, waits until this process has heard of
/// every change it committed (`db::changes::Changes::settle`), so that the next page, in
/// any tab, shows it rather than a copy from before.
async fn settle_changes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    let response = next.run(req).await;
    if changes {
        state.changes.settle().await;
    }
    response
}

/// htmx asks for a page again when the customer goes Back or Forward to a URL it pushed
/// (`HX-History-Restore-Request: true`, sent with `HX-Request`) and puts the answer in place
/// of the whole body. Every page decides fragment or whole page by `HX-Request`, so taking
/// that header away here makes every page answer a restore with the whole page: header,
/// navigation and all.
async fn history_restore_is_a_page(mut req: Request, next: Next) -> Response {
    let restore = req
        .headers()
        .get(HX_HISTORY_RESTORE_REQUEST)
        .is_some_and(|v| v.as_bytes() == b"true");
    if restore {
        req.headers_mut().remove(HX_REQUEST);
    }
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("hx-history-restore-request"));
    response
}

/// How much of a body over the limit is still read (and thrown away) so that the 413 can
/// keep the connection open; a larger body closes it.
const DRAIN_FACTOR: usize = 16;

/// Reads the whole body (up to `limit`) before any layer or handler may answer. A refusal
/// that does not read the body (a bad key, a rate limit, a CSRF failure) otherwise answers
/// while the client is still sending, and hyper must then close the connection: clients
/// that send the body after the headers (Python `requests`) see a broken pipe on their next
/// call instead of the 401, 403 or 429. A body over `limit` is drained, up to
/// `DRAIN_FACTOR` times the limit, and answered 413 on a connection that stays open.
pub async fn read_body_first(limit: usize, req: Request, next: Next) -> Response {
    use http_body_util::BodyExt;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = |keep_alive: bool| {
        let mut response = AppError::Request(RequestError::TooLarge).into_response();
        if !keep_alive {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    };
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    if declared.is_some_and(|n| n > drain_limit as u64) {
        return too_large(false);
    }
    let (parts, mut body) = req.into_parts();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return AppError::Request(RequestError::Unreadable("The request body could not be read.")).into_response();
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > drain_limit {
            return too_large(false);
        }
        if seen <= limit {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return too_large(true);
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(kept))).await
}

/// Turns errors into pages: sign-in required becomes a redirect to the sign-in page (or
/// `HX-Redirect` for htmx); other errors become an error page (or a toast for htmx) with
/// the request id. Responses that are already HTML (a form re-rendered with 422) pass.
async fn error_pages(req: Request, next: Next) -> Response {
    let htmx = req.headers().contains_key(HX_REQUEST);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let is_get = req.method() == Method::GET;
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let response = next.run(req).await;
    let status = response.status();
    if (!status.is_client_error() && !status.is_server_error()) || response.extensions().get::<PlainAnswer>().is_some()
    {
        return response;
    }
    // A session changed on the way (a new id, a flash message) keeps its cookie.
    let cookies: Vec<HeaderValue> = response.headers().get_all(header::SET_COOKIE).iter().cloned().collect();
    let mut page = error_page(response, htmx, is_get, &path, &request_id);
    for cookie in cookies {
        page.headers_mut().append(header::SET_COOKIE, cookie);
    }
    page
}

fn error_page(response: Response, htmx: bool, is_get: bool, path: &str, request_id: &str) -> Response {
    let status = response.status();
    let info = response.extensions().get::<ErrorInfo>().cloned();
    if status == StatusCode::UNAUTHORIZED && info.is_some() {
        let login = if path.starts_with("/staff") {
            "/staff/login"
        } else {
            "/login"
        };
        let to = if let Some(to) = info.as_ref().and_then(|i| i.sign_in) {
            to.to_owned()
        } else if is_get {
            format!("{login}?next={}", urlencode(path))
        } else {
            login.to_owned()
        };
        return if htmx {
            // `to` is a local path (or this path, URL-encoded): a valid header value.
            (StatusCode::UNAUTHORIZED, HxRedirect(to), ()).into_response()
        } else {
            Redirect::to(&to).into_response()
        };
    }
    // The session layer answers a bare 500 when it cannot save the session; while the
    // database is unreachable that is an outage like any other: a 503.
    if status == StatusCode::INTERNAL_SERVER_ERROR
        && info.is_none()
        && crate::db::connection_error_within(Duration::from_secs(2))
    {
        let unavailable = AppError::Unavailable;
        return error_response(unavailable.status(), &unavailable.message(), request_id, htmx, None);
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let already_rendered = content_type.starts_with("text/html") || content_type.starts_with("application/json");
    match info {
        Some(info) => error_response(status, &info.message, request_id, htmx, info.shell.as_deref()),
        None if already_rendered => response,
        None => error_response(status, default_message(status), request_id, htmx, None),
    }
}

fn default_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "That page does not exist, or it is not yours.",
        StatusCode::METHOD_NOT_ALLOWED => "That address does not accept this kind of request.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request was too large.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            "The request could not be read; please use the form."
        }
        s if s.is_server_error() => "Something went wrong on our side.",
        _ => "The request was refused.",
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
