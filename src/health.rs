//! Health checks for load balancers and orchestrators.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;
use crate::web::layers::PlainAnswer;

/// `/readyz` answers within this time, whatever the database does.
pub const READY_WITHIN: Duration = Duration::from_millis(900);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { plain(StatusCode::OK, "ok") }))
        .route("/readyz", get(ready))
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    response.extensions_mut().insert(PlainAnswer);
    response
}

/// Ready when the database answers within [`READY_WITHIN`]. A connection lost in a
/// database restart costs one more try (the pool then tests its idle connections), so
/// readiness comes back with the database rather than after the dead connections are used
/// up.
async fn ready(State(state): State<AppState>) -> Response {
    let check = async {
        let first = sqlx::query_scalar!("select 1 as one").fetch_one(&state.pool).await;
        match first {
            Err(err) if crate::db::note_error(&err) => {
                sqlx::query_scalar!("select 1 as one").fetch_one(&state.pool).await
            }
            other => other,
        }
    };
    match tokio::time::timeout(READY_WITHIN, check).await {
        Ok(Ok(_)) => plain(StatusCode::OK, "ready"),
        Ok(Err(err)) => {
            crate::db::note_error(&err);
            tracing::warn!(%err, "readiness check failed");
            plain(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => {
            crate::db::note_connection_error();
            tracing::warn!("readiness check timed out");
            plain(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
