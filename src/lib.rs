//! Berth: the self-service control panel of a container hosting platform.
//!
//! `app(state)` builds the whole router (every area's pages and API methods, plus the
//! cross-cutting layers); `main` and the tests both use it. Nothing but `main` and the tests
//! imports this module.

pub mod account;
pub mod activity;
pub mod addresses;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bandwidth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod dashboard;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod dns;
pub mod engine;
pub mod ftp;
pub mod health;
pub mod identity;
pub mod keys;
pub mod notices;
pub mod passkeys;
pub mod password;
pub mod plans;
pub mod provisioning;
pub mod recovery;
pub mod sealed;
pub mod security;
pub mod sessions;
pub mod settings;
pub mod sites;
pub mod staff;
pub mod state;
pub mod validation;
pub mod web;
pub mod wizard;

use axum::Router;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use crate::web::AppError;

pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(auth::router())
        .merge(dashboard::router())
        .merge(account::router())
        .merge(security::router())
        .merge(recovery::router())
        .merge(sessions::router())
        .merge(passkeys::router())
        .merge(settings::router())
        .merge(activity::router())
        .merge(wizard::router())
        .merge(sites::router())
        .merge(dns::router())
        .merge(keys::router())
        .merge(addresses::router())
        .merge(ftp::router())
        .merge(bandwidth::router())
        .merge(notices::router())
        .merge(contacts::router())
        .merge(staff::router())
        .merge(health::router())
        .route("/static/{hash}/{name}", get(web::assets::serve))
        .route("/favicon.ico", get(web::assets::well_known_icon))
        .route("/apple-touch-icon.png", get(web::assets::well_known_icon))
        .fallback(|| async { AppError::NotFound });
    web::layers::apply(routes, api::router(&state, api_methods()), &state)
}

/// Every Customer API method, from each area's `api.rs`.
fn api_methods() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(keys::api::router())
        .merge(account::api::router())
        .merge(settings::api::router())
        .merge(wizard::api::router())
        .merge(addresses::api::router())
        .merge(ftp::api::router())
        .merge(bandwidth::api::router())
        .merge(notices::api::router())
        .merge(contacts::api::router())
        .merge(sites::api::router())
}

/// The Customer API's OpenAPI document, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::document(api_methods()).into_openapi()
}

#[cfg(test)]
mod tests {
    /// Every `$ref` of the document names a schema it defines.
    #[test]
    fn the_document_has_no_dangling_references() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
            assert!(schemas.contains_key(name), "{r} is not defined");
        }
        // The seed's 35 methods and Berth's six for sites (getSite, startSite, stopSite,
        // restartSite, deleteSite, getSiteLogs).
        assert_eq!(doc["paths"].as_object().unwrap().len(), 41);
    }
}
