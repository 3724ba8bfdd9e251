//! The dashboard (`GET /`): who you are, the account's state, where to go next.

pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::settings::Current;
use crate::state::AppState;
use crate::web::{AppError, Layout, SignedIn, render};
use crate::{bandwidth, page, security};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index))
}

#[derive(Template)]
#[template(path = "dashboard/index.html", blocks = ["content"])]
struct DashboardPage {
    layout: Layout,
    name: String,
    status: String,
    previous_sign_in: Option<String>,
    previous_address: String,
    failed_since: i64,
    bandwidth_month: String,
    bandwidth_total: String,
    bandwidth_projection: String,
    /// Whether the customer has a second factor; until then the page suggests one.
    second_factor: bool,
}
page!(DashboardPage);

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    current: Current,
) -> Result<Response, AppError> {
    let summary = model::summary(&state.pool, me.id()).await?;
    let prefs = current.preferences();
    let now = time::OffsetDateTime::now_utc();
    let period = bandwidth::model::Period::containing(now);
    let (bytes_in, bytes_out) = bandwidth::model::totals(&state.pool, me.id(), period).await?;
    let page = DashboardPage {
        layout: Layout::new(&me, "dashboard", "Dashboard").await?,
        name: me.customer.name().to_owned(),
        status: me.customer.status.clone(),
        previous_sign_in: summary.previous_sign_in.map(|t| prefs.format(t)),
        previous_address: summary.previous_address.map(|a| a.to_string()).unwrap_or_default(),
        failed_since: summary.failed_since,
        bandwidth_month: bandwidth::month_name(&period),
        bandwidth_total: bandwidth::human(bytes_in.saturating_add(bytes_out)),
        bandwidth_projection: bandwidth::human(period.projection(bytes_in.saturating_add(bytes_out), now)),
        second_factor: security::ops::second_factor(&state.pool, security::model::Account::Customer(me.id()))
            .await?
            .any(),
    };
    render(htmx, StatusCode::OK, &page, None)
}
