//! The signed-in sessions list (issue 16): for customers on `/account/sessions`, for staff
//! on `/staff/sessions`: each session's device (from its User-Agent), address, sign-in time
//! and last request, "Sign out" on each but the current one, and "Sign out everywhere else".
//! The list itself is a partial (`sessions/_list.html`, [`SessionsList::load`]) that other
//! pages (the security page) can include.

pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use time::OffsetDateTime;

use crate::identity::sessions::{self, Limits, Owner, SessionId};
use crate::page;
use crate::settings::Current;
use crate::staff::StaffSignedIn;
use crate::state::AppState;
use crate::web::{AppError, ClientIp, Layout, PathId, SignedIn, render, see_other, session};
use ops::Me;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/sessions", get(index))
        .route("/account/sessions/{id}/sign-out", post(sign_out))
        .route("/account/sessions/others/sign-out", post(sign_out_others))
        .route("/staff/sessions", get(staff_index))
        .route("/staff/sessions/{id}/sign-out", post(staff_sign_out))
        .route("/staff/sessions/others/sign-out", post(staff_sign_out_others))
}

/// One row of the list.
pub struct Row {
    pub id: SessionId,
    pub device: String,
    pub address: String,
    pub signed_in_at: String,
    pub last_seen: String,
    pub current: bool,
}

/// The list as `sessions/_list.html` shows it; `base` is where its forms post
/// (`/account/sessions` or `/staff/sessions`).
pub struct SessionsList {
    pub base: &'static str,
    pub rows: Vec<Row>,
    /// Whether the forms are shown (not while staff impersonate the customer).
    pub may_change: bool,
}

impl SessionsList {
    /// The owner's signed-in sessions, `current` marked; times in `format`.
    pub async fn load(
        state: &AppState,
        owner: Owner,
        current: Option<SessionId>,
        format: impl Fn(OffsetDateTime) -> String,
    ) -> Result<Self, AppError> {
        let limits = Limits {
            idle_secs: state.web.idle_timeout.as_secs() as i64,
            absolute_secs: state.web.absolute_timeout.as_secs() as i64,
        };
        let listed = sessions::list(&state.pool, owner, state.clock.now(), limits).await?;
        let rows = listed
            .into_iter()
            .map(|s| Row {
                current: Some(s.id) == current,
                id: s.id,
                device: s.device,
                address: s.address.ip().to_string(),
                signed_in_at: format(s.signed_in_at),
                last_seen: format(s.last_seen),
            })
            .collect();
        let base = match owner {
            Owner::Customer(_) => "/account/sessions",
            Owner::Staff(_) => "/staff/sessions",
        };
        Ok(Self {
            base,
            rows,
            may_change: true,
        })
    }
}

#[derive(Template)]
#[template(path = "sessions/index.html", blocks = ["content"])]
struct SessionsPage {
    layout: Layout,
    list: SessionsList,
}
page!(SessionsPage);

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    current: Current,
) -> Result<Response, AppError> {
    let record = me.auth.as_ref().and_then(|a| a.record);
    let prefs = current.preferences();
    let mut list = SessionsList::load(&state, Owner::Customer(me.id()), record, |t| prefs.format(t)).await?;
    list.may_change = me.impersonator.is_none();
    let page = SessionsPage {
        layout: Layout::new(&me, "account", "Signed-in sessions").await?,
        list,
    };
    render(htmx, StatusCode::OK, &page, None)
}

fn customer_me(me: &SignedIn, ip: std::net::IpAddr) -> Result<Me<'static>, AppError> {
    // Sessions are sign-in details: never changed while impersonating.
    me.refuse_if_impersonating()?;
    Ok(Me {
        owner: Owner::Customer(me.id()),
        current: me.auth.as_ref().and_then(|a| a.record),
        staff: None,
        ip,
    })
}

async fn sign_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<SessionId>,
) -> Result<Response, AppError> {
    ops::sign_out(&state.pool, &customer_me(&me, ip)?, id).await?;
    see_other(&me.session, "/account/sessions", "The session was signed out.").await
}

async fn sign_out_others(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: SignedIn,
) -> Result<Response, AppError> {
    let version = ops::sign_out_others(&state.pool, &customer_me(&me, ip)?).await?;
    if let Some(auth) = &me.auth {
        session::renew(&state.pool, &me.session, auth, version).await?;
    }
    see_other(&me.session, "/account/sessions", "Every other session was signed out.").await
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
