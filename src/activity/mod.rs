//! Activity: the customer's own audit log (`GET /activity`).

pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::settings::model::Preferences;
use crate::web::{AppError, Layout, PageQuery, SignedIn, render};
use crate::{AppState, page, settings};

pub fn router() -> Router<AppState> {
    Router::new().route("/activity", get(index))
}

pub struct Row {
    pub when: String,
    pub entry: model::Entry,
}

#[derive(Template)]
#[template(path = "activity/index.html", blocks = ["content"])]
struct ActivityPage {
    layout: Layout,
    rows: Vec<Row>,
    page: i64,
    newer: Option<i64>,
    older: Option<i64>,
}

page!(ActivityPage);

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let values = settings::model::load(&state.pool, me.id()).await?;
    let prefs = Preferences::from_values(&values);
    let per_page = values.number("items_per_page");
    let page = query.number();
    let mut entries = model::recent(&state.pool, me.id(), per_page + 1, (page - 1) * per_page).await?;
    let more = entries.len() as i64 > per_page;
    entries.truncate(per_page as usize);
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
        page,
        newer: (page > 1).then_some(page - 1),
        older: more.then_some(page + 1),
    };
    render(htmx, StatusCode::OK, &page, None)
}
