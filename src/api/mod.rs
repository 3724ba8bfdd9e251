//! The Customer API (`POST /api/Customer/{method}`): every method of the seed's Customer
//! service under its seed name, with JSON arguments by their seed names, answering
//! `{"result": …}`; its OpenAPI document (`/api/openapi.json`) and reference page
//! (`/api/docs`, rendered on the server from the same document: [`reference`]).
//!
//! Each area serves its own methods from its `api.rs` (`keys::api`, `ftp::api`, …) with the
//! same model functions as its pages. This module holds what they share: the caller and its
//! key check ([`Caller`]), the arguments ([`Args`]), the answer ([`Reply`]) and the error
//! envelope, which is rendered from the one error type by [`envelope`].

pub mod caller;
pub mod json;
pub mod model;
pub mod reference;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use crate::web::AppError;
use crate::web::error::ErrorInfo;
use crate::web::layers;

pub use caller::{Caller, RateLimit};
pub use json::{ApiErrors, Args, Done, ErrorBody, IdArgs, Reply, invalid};

/// Where every method lives: `/api/Customer/{method}`.
pub const BASE: &str = "/api/Customer";

/// The largest body a call may send.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth Customer API",
        description = "Every method of the Customer service, as `POST /api/Customer/{method}` with a JSON object \
                       of the method's arguments, answering `{\"result\": …}`. Authorise with an API key: \
                       `Authorization: Bearer berth_…`. Errors answer `{\"error\": {\"type\", \"message\", \
                       \"fields\"}}`; `InvalidArguments` (422) names the fields."
    ),
    modifiers(&Security),
    security(("api_key" = [])),
    components(schemas(json::ErrorBody, json::ErrorDetail))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from the panel's API keys page (berth_…)."))
                    .build(),
            ),
        );
    }
}

/// The document's frame (title, security scheme) around `methods`, every area's methods.
pub fn document(methods: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(BASE, methods)
}

/// The API's routes with their own layers: no session and no CSRF (a key authorises each
/// request, and browsers do not send it by themselves), errors as JSON.
pub fn router(state: &AppState, methods: OpenApiRouter<AppState>) -> Router<AppState> {
    let (routes, doc) = document(methods).split_for_parts();
    // Both from the one document, once: the reference cannot disagree with the JSON.
    let reference: Arc<str> = match reference::Reference::new(&doc).render() {
        Ok(html) => html.into(),
        Err(err) => {
            tracing::error!(error = %err, "the API reference did not render");
            "<!doctype html><title>API reference</title><p>The API reference is not available; \
             see <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>"
                .into()
        }
    };
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    routes
        .route(&format!("{BASE}/{{method}}"), axum::routing::any(unknown_method))
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned()) }
            }),
        )
        .route(
            "/api/docs",
            get(move || {
                let reference = reference.clone();
                async move { Html(reference.to_string()) }
            }),
        )
        .route("/api/{*rest}", axum::routing::any(unknown_method))
        .layer(axum::Extension(Arc::new(RateLimit::new(
            state.web.api_rate_per_second,
            state.web.api_burst,
        ))))
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(envelope))
                .layer(layers::catch_panic())
                .layer(layers::timeout())
                .layer(middleware::from_fn(|req: Request, next: Next| {
                    layers::read_body_first(MAX_BODY_BYTES, req, next)
                }))
                .layer(middleware::from_fn(crate::web::form::checked_query))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

async fn unknown_method() -> AppError {
    AppError::NotFound
}

/// The layer that makes every error of the API `{"error": {"type", "message", "fields"}}`, whatever made it
/// (a method, a rejected request, an unknown path); never HTML.
pub async fn envelope(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let info = response.extensions().get::<ErrorInfo>().cloned();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let message = match (&info, status) {
        (_, StatusCode::NOT_FOUND) => "No such method or object, or it is not yours.".to_owned(),
        (_, StatusCode::METHOD_NOT_ALLOWED) => "Call methods with POST.".to_owned(),
        (Some(info), _) if !info.fields.is_empty() => format!(
            "Invalid arguments: {}",
            info.fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (Some(info), _) if !info.internal => info.message.clone(),
        (_, s) if s.is_server_error() => "Something went wrong on our side.".to_owned(),
        _ => status.canonical_reason().unwrap_or("Refused").to_owned(),
    };
    let fields = info.map(|i| i.fields).filter(|f| !f.is_empty());
    let body = json::ErrorBody::new(json::error_type(status), message, fields);
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(after) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, after);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
