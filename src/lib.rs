//! Berth: the self-service control panel of a container hosting platform.
//!
//! `app(state)` builds the whole router (every area plus the cross-cutting layers); `main`
//! and the tests both use it.

pub mod account;
pub mod activity;
pub mod addresses;
pub mod api;
pub mod auth;
pub mod bandwidth;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod customer;
pub mod dashboard;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod ftp;
pub mod health;
pub mod keys;
pub mod notices;
pub mod password;
pub mod provisioning;
pub mod settings;
pub mod sites;
pub mod staff;
pub mod web;
pub mod wizard;

use axum::Router;
use axum::routing::get;
use sqlx::PgPool;

use crate::password::Hasher;
use crate::web::{AppError, WebConfig};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub hasher: Hasher,
    pub web: std::sync::Arc<WebConfig>,
}

pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(auth::router())
        .merge(dashboard::router())
        .merge(account::router())
        .merge(settings::router())
        .merge(activity::router())
        .merge(wizard::router())
        .merge(sites::router())
        .merge(keys::router())
        .merge(addresses::router())
        .merge(ftp::router())
        .merge(bandwidth::router())
        .merge(notices::router())
        .merge(contacts::router())
        .merge(staff::router())
        .merge(health::router())
        .route("/static/{hash}/{name}", get(web::assets::serve))
        .fallback(|| async { AppError::NotFound });
    web::layers::apply(routes, api::router(&state), &state)
}
