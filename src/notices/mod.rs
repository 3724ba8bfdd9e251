//! Notices (`/notices`, `/notices/{id}/ack`): listNotices, acknowledgeNotice. Notices are
//! published with `berth notice publish` (and, later, from the staff console).

pub mod api;
pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, FormState, Layout, PageQuery, Pager, PathId, SignedIn, render, see_other};
use crate::{page, settings};
use model::{Delivery, Notice, NoticeId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices", get(index))
        .route("/notices/{id}/ack", post(acknowledge))
}

/// A notice as the page shows it.
pub struct NoticeView {
    pub notice: Notice,
    pub created: String,
    pub updated: Option<String>,
    pub acknowledged: Option<String>,
    pub deliveries: Vec<DeliveryView>,
    pub csrf: String,
}

pub struct DeliveryView {
    pub delivery: Delivery,
    pub when: String,
}

impl DeliveryView {
    /// The delivery's state in words.
    pub fn state(&self) -> String {
        let d = &self.delivery;
        match d.status.as_str() {
            "sent" => format!("sent {}", self.when),
            "failed" => format!("failed after {} attempts", d.attempts),
            "waiting_for_gateway" => "waiting: no SMS or phone gateway is configured yet".to_owned(),
            _ if d.attempts > 0 => format!("retrying at {} (attempt {} failed)", self.when, d.attempts),
            _ => "queued".to_owned(),
        }
    }
}

fn views(notices: Vec<Notice>, deliveries: Vec<Delivery>, prefs: &Preferences, csrf: &str) -> Vec<NoticeView> {
    notices
        .into_iter()
        .map(|notice| NoticeView {
            created: prefs.format(notice.created_at),
            updated: (notice.updated_at > notice.created_at).then(|| prefs.format(notice.updated_at)),
            acknowledged: notice.acknowledged_at.map(|at| prefs.format(at)),
            deliveries: deliveries
                .iter()
                .filter(|d| d.notice_id == notice.id)
                .map(|d| DeliveryView {
                    when: prefs.format(d.sent_at.unwrap_or(d.next_attempt_at)),
                    delivery: d.clone(),
                })
                .collect(),
            csrf: csrf.to_owned(),
            notice,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "notices/index.html", blocks = ["content"])]
struct NoticesPage {
    layout: Layout,
    notices: Vec<NoticeView>,
    since_form: FormState,
    since_query: String,
    pager: Pager,
}
page!(NoticesPage);

#[derive(Debug, Default, Deserialize)]
struct SinceQuery {
    #[serde(default)]
    since: Option<String>,
}

/// `since` as a Unix time (digits) or a local date and time in the customer's zone.
fn parse_since(raw: &str, prefs: &Preferences) -> Result<Option<OffsetDateTime>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = "Enter a date and time, such as 2026-11-27T09:00, or a Unix time.";
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: i64 = raw.parse().map_err(|_| bad)?;
        return model::UnixTime::from_seconds(seconds)
            .map(|t| Some(t.at()))
            .map_err(|_| bad);
    }
    let at = prefs.parse_local(raw).ok_or(bad)?;
    settings::model::bounded(at).map(Some)
}

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    Query(query): Query<SinceQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, AppError> {
    let values = settings::model::load(&state.pool, me.id()).await?;
    let prefs = Preferences::from_values(&values);
    let raw = query.since.unwrap_or_default();
    let (since, since_form, status) = match parse_since(&raw, &prefs) {
        Ok(since) => (
            since,
            FormState::failed(&[("since", &raw)], FieldErrors::default()),
            StatusCode::OK,
        ),
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("since", message);
            (
                None,
                FormState::failed(&[("since", &raw)], errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    };
    let pager = Pager::new(&paging, values.number("items_per_page"));
    let mut notices = if status == StatusCode::OK {
        model::list(&state.pool, me.id(), since, pager.probe(), pager.offset()).await?
    } else {
        Vec::new()
    };
    let pager = pager.trim(&mut notices);
    let ids: Vec<NoticeId> = notices.iter().map(|n| n.id).collect();
    let deliveries = model::deliveries(&state.pool, me.id(), &ids).await?;
    let since_query = if raw.trim().is_empty() {
        String::new()
    } else {
        format!(
            "since={}&",
            form_urlencoded::byte_serialize(raw.trim().as_bytes()).collect::<String>()
        )
    };
    let page = NoticesPage {
        layout: Layout::new(&me, "notices", "Notices").await?,
        notices: views(notices, deliveries, &prefs, &me.csrf),
        since_form,
        since_query,
        pager,
    };
    render(htmx, status, &page, None)
}

#[derive(Template)]
#[template(path = "notices/_notice.html")]
struct NoticeFragment {
    view: NoticeView,
}

#[derive(Template)]
#[template(path = "notices/_count.html")]
struct CountFragment {
    unread: crate::web::render::Unread,
    oob: bool,
}

async fn acknowledge(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    PathId(id): PathId<NoticeId>,
) -> Result<Response, AppError> {
    if !model::acknowledge(&state.pool, me.id(), id).await? {
        return Err(AppError::NotFound);
    }
    if !htmx {
        return see_other(&me.session, "/notices", "Notice acknowledged.").await;
    }
    // The notice in place, the navigation's count out of band, and a toast.
    let notice = model::one(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    let deliveries = model::deliveries(&state.pool, me.id(), &[id]).await?;
    let prefs = Preferences::from_values(&settings::model::load(&state.pool, me.id()).await?);
    let view = views(vec![notice], deliveries, &prefs, &me.csrf)
        .pop()
        .expect("one notice");
    let mut body = NoticeFragment { view }.render()?;
    body.push_str(
        &CountFragment {
            unread: crate::web::render::Unread(model::unread(&state.pool, me.id()).await?),
            oob: true,
        }
        .render()?,
    );
    body.push_str(
        &crate::web::render::Toast {
            message: "Notice acknowledged.",
            error: false,
            oob: true,
        }
        .render()?,
    );
    Ok(Html(body).into_response())
}
