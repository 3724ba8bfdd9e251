//! The signed-in sessions list (issue 16): each session's device (from its User-Agent),
//! address, sign-in time and last request, "Sign out" on each but the current one, and "Sign
//! out everywhere else". The list is a partial (`sessions/_list.html`,
//! [`SessionsList::load`]) shown by the customer's security page (`/account/security`) and
//! the staff console's (`staff::sessions`); the customer's sign-outs are here.

pub mod ops;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use time::OffsetDateTime;

use crate::identity::sessions::{self, Limits, Owner, SessionId};
use crate::state::AppState;
use crate::web::{AppError, ClientIp, PathId, SignedIn, see_other, session};
use ops::Me;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/sessions/{id}/sign-out", post(sign_out))
        .route("/account/sessions/others/sign-out", post(sign_out_others))
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
    see_other(&me.session, "/account/security", "The session was signed out.").await
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
    see_other(&me.session, "/account/security", "Every other session was signed out.").await
}
