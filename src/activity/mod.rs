//! Activity: the customer's own audit log (`GET /activity`).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::page;
use crate::settings::Current;
use crate::state::AppState;
use crate::web::{AppError, Layout, PageQuery, Pager, SignedIn, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/activity", get(index))
}

pub struct Row {
    pub when: String,
    pub entry: crate::audit::Entry,
}

#[derive(Template)]
#[template(path = "activity/index.html", blocks = ["content"])]
struct ActivityPage {
    layout: Layout,
    rows: Vec<Row>,
    pager: Pager,
}

page!(ActivityPage);

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    current: Current,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let prefs = current.preferences();
    let pager = Pager::new(&query, current.per_page());
    let mut entries = crate::audit::recent(&state.pool, me.id(), pager.probe(), pager.offset()).await?;
    let pager = pager.trim(&mut entries);
    let rows = entries
        .into_iter()
        .map(|entry| Row {
            when: prefs.format(entry.at),
            entry,
        })
        .collect();
    let page = ActivityPage {
        layout: Layout::new(&me, "activity", "Activity").await?,
        rows,
        pager,
    };
    render(htmx, StatusCode::OK, &page, None)
}
