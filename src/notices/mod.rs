//! Notices (`/notices`, `/notices/{id}/ack`): listNotices, acknowledgeNotice. Notices are
//! published with `berth notice publish` (and, later, from the staff console).

pub mod api;
pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::delivery::model::DeliveryStatus;
use crate::page;
use crate::settings::Current;
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, FormState, Layout, PageQuery, Pager, PathId, SignedIn, render, see_other};
use model::{Delivery, Notice, NoticeId};
use ops::{NoticeError, Since};

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
        match d.status {
            DeliveryStatus::Sent => format!("sent {}", self.when),
            DeliveryStatus::Failed => format!("failed after {} attempts", d.attempts),
            DeliveryStatus::WaitingForGateway => "waiting: no SMS or phone gateway is configured yet".to_owned(),
            DeliveryStatus::Pending if d.attempts > 0 => {
                format!("retrying at {} (attempt {} failed)", self.when, d.attempts)
            }
            DeliveryStatus::Pending => "queued".to_owned(),
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

/// A notices operation's failure where no form is shown again.
fn page_error(err: NoticeError) -> AppError {
    match err {
        NoticeError::Invalid(invalid) => AppError::Invalid(invalid.errors(Names::Form)),
        NoticeError::NotFound => AppError::NotFound,
        NoticeError::Db(err) => err.into(),
    }
}

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    current: Current,
    Query(query): Query<SinceQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, AppError> {
    let prefs = current.preferences();
    let raw = query.since.unwrap_or_default();
    let pager = Pager::new(&paging, current.per_page());
    let listed = ops::list(
        &state.pool,
        me.id(),
        Since::Typed(&raw, &prefs),
        pager.probe(),
        pager.offset(),
    )
    .await;
    let (mut notices, errors, status) = match listed {
        Ok(notices) => (notices, FieldErrors::default(), StatusCode::OK),
        Err(NoticeError::Invalid(invalid)) => (
            Vec::new(),
            invalid.errors(Names::Form),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(err) => return Err(page_error(err)),
    };
    let since_form = FormState::failed(&[("since", &raw)], errors);
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
    ClientIp(ip): ClientIp,
    me: SignedIn,
    current: Current,
    PathId(id): PathId<NoticeId>,
) -> Result<Response, AppError> {
    ops::acknowledge(&state.pool, &me.who(ip), id)
        .await
        .map_err(page_error)?;
    if !htmx {
        return see_other(&me.session, "/notices", "Notice acknowledged.").await;
    }
    // The notice in place, the navigation's count out of band, and a toast.
    let notice = model::one(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    let deliveries = model::deliveries(&state.pool, me.id(), &[id]).await?;
    let prefs = current.preferences();
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
