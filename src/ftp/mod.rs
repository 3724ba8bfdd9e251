//! FTP users (`/ftp-users`, `/ftp-users/{id}`, `/ftp-users/{id}/delete`): createFTPUser,
//! listFTPUsers, updateFTPUser, destroyFTPUser. Not built yet.

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
