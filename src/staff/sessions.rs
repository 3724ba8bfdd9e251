//! The staff member's own signed-in sessions (`/staff/sessions`, issue 16): the same list
//! as the customer's (`sessions::SessionsList`), in UTC, with its sign-outs.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use time::OffsetDateTime;

use crate::identity::sessions::{Owner, SessionId};
use crate::page;
use crate::sessions::SessionsList;
use crate::sessions::ops::{self, Me};
use crate::staff::StaffSignedIn;
use crate::state::AppState;
use crate::web::{AppError, ClientIp, Layout, PathId, render, see_other, session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/sessions", get(staff_index))
        .route("/staff/sessions/{id}/sign-out", post(staff_sign_out))
        .route("/staff/sessions/others/sign-out", post(staff_sign_out_others))
}

#[derive(Template)]
#[template(path = "sessions/staff.html", blocks = ["content"])]
struct StaffSessionsPage {
    layout: Layout,
    list: SessionsList,
}
page!(StaffSessionsPage);

async fn staff_index(State(state): State<AppState>, me: StaffSignedIn) -> Result<Response, AppError> {
    // Staff times are UTC, as in the rest of the console.
    let utc = crate::settings::model::Preferences::new(None, None);
    let format = |t: OffsetDateTime| utc.format(t) + " UTC";
    let list = SessionsList::load(&state, Owner::Staff(me.staff.id), me.auth.record, format).await?;
    let layout = me.layout("Signed-in sessions").await?;
    render(false, StatusCode::OK, &StaffSessionsPage { layout, list }, None)
}

fn staff_me(me: &StaffSignedIn, ip: std::net::IpAddr) -> Me<'_> {
    Me {
        owner: Owner::Staff(me.staff.id),
        current: me.auth.record,
        staff: Some(&me.staff),
        ip,
    }
}

async fn staff_sign_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<SessionId>,
) -> Result<Response, AppError> {
    ops::sign_out(&state.pool, &staff_me(&me, ip), id).await?;
    see_other(&me.session, "/staff/sessions", "The session was signed out.").await
}

async fn staff_sign_out_others(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
) -> Result<Response, AppError> {
    let version = ops::sign_out_others(&state.pool, &staff_me(&me, ip)).await?;
    session::renew_staff(&me.session, &me.auth, version).await?;
    see_other(&me.session, "/staff/sessions", "Every other session was signed out.").await
}
