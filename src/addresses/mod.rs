//! IP addresses (`/addresses`, `/addresses/{address}/free`): addIpAddress,
//! getIpAddresses, getDetailedIpAddresses, freeIpAddress. Not built yet.

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
