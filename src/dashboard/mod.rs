//! The dashboard (`GET /`): the customer's status page. Their sites with their state and
//! links, the warning and critical notices not acknowledged yet as banners (acknowledged in
//! place: `POST /dashboard/notices/{id}/ack`), the month's transfer against what their
//! plans include, and for a new customer the first step. One statement besides the session
//! and the customer's row (see `model::summary`), so the page stays fast.

pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_htmx::HxRequest;

use crate::notices::model::{NoticeId, Severity};
use crate::notices::ops::NoticeError;
use crate::settings::Current;
use crate::sites::model::{DesiredState, SiteStatus};
use crate::sites::names::to_unicode;
use crate::sites::ops::Shown;
use crate::state::AppState;
use crate::web::render::{Toast, Unread};
use crate::web::{AppError, ClientIp, Layout, PathId, SignedIn, render, see_other};
use crate::{bandwidth, notices, page};
use bandwidth::AllowanceView;
use model::{Banner, SiteLine};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/notices/{id}/ack", post(acknowledge))
}

/// A site's line on the dashboard.
pub struct SiteView {
    pub site: SiteLine,
    pub hostname: String,
    pub state: Shown,
}

/// The state the dashboard shows from what is stored: the site's status and what the
/// customer last asked of its container. The engine is not asked (that would be a call per
/// site per view); the site page asks it, and shows the preview address the engine gives.
/// The names and labels are the site page's ([`Shown`]).
pub fn stored_state(status: SiteStatus, desired: Option<DesiredState>) -> Shown {
    match (status, desired) {
        (SiteStatus::Deleted, _) => Shown::Deleted,
        (SiteStatus::Provisioning, _) => Shown::Provisioning,
        (SiteStatus::Failed, _) => Shown::Failed("Setting the site up failed.".to_owned()),
        (SiteStatus::Active, Some(DesiredState::Stopped)) => Shown::Stopped("Stopped as asked.".to_owned()),
        (SiteStatus::Active, _) => Shown::Running,
    }
}

/// An urgent notice's banner.
pub struct BannerView {
    pub banner: Banner,
    pub critical: bool,
    pub created: String,
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
    banners: Vec<BannerView>,
    sites: Vec<SiteView>,
    site_count: i64,
    bandwidth_month: String,
    bandwidth_total: String,
    bandwidth_projection: String,
    /// Whether the customer has a second factor; until then the page suggests one.
    second_factor: bool,
    allowance: AllowanceView,
}
page!(DashboardPage);

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    current: Current,
) -> Result<Response, AppError> {
    let prefs = current.preferences();
    let now = time::OffsetDateTime::now_utc();
    let period = bandwidth::model::Period::containing(now);
    let (start, unread) = (period.start.date(), me.customer.unread_notices);
    let kept = state
        .changes
        .per_customer::<std::sync::Arc<model::Kept>>()
        .get_or_load(
            me.id().0,
            |kept| kept.start == start && kept.unread == unread,
            || async {
                let summary = model::summary(&state.pool, me.id(), start, period.end.date(), unread).await?;
                Ok::<_, sqlx::Error>(std::sync::Arc::new(model::Kept { start, unread, summary }))
            },
        )
        .await?;
    let summary = kept.summary.clone();
    let total = summary.bytes_in.saturating_add(summary.bytes_out);
    let projection = period.projection(total, now);
    let banners = summary
        .banners
        .0
        .into_iter()
        .map(|banner| BannerView {
            critical: banner.severity.parse() == Ok(Severity::Critical),
            created: time::OffsetDateTime::from_unix_timestamp(banner.created)
                .map(|at| prefs.format(at))
                .unwrap_or_default(),
            banner,
        })
        .collect();
    let sites = summary
        .sites
        .0
        .into_iter()
        .map(|site| SiteView {
            hostname: to_unicode(&site.hostname),
            state: stored_state(site.status, site.desired_state),
            site,
        })
        .collect();
    let page = DashboardPage {
        layout: Layout::new(&me, "dashboard", "Dashboard").await?,
        name: me.customer.name().to_owned(),
        status: me.customer.status.clone(),
        previous_sign_in: summary.previous_sign_in.map(|t| prefs.format(t)),
        previous_address: summary.previous_address.map(|a| a.to_string()).unwrap_or_default(),
        failed_since: summary.failed_since,
        banners,
        sites,
        site_count: summary.site_count,
        bandwidth_month: bandwidth::month_name(&period),
        bandwidth_total: bandwidth::human(total),
        bandwidth_projection: bandwidth::human(projection),
        allowance: AllowanceView::new(summary.included_gb, projection, state.web.billing_url.as_deref()),
        second_factor: summary.second_factor,
    };
    render(htmx, StatusCode::OK, &page, None)
}

/// The navigation's count, swapped in out of band after an acknowledgement.
#[derive(Template)]
#[template(path = "notices/_count.html")]
struct CountFragment {
    unread: Unread,
    oob: bool,
}

/// Acknowledges a banner's notice with the notices area's operation: without JavaScript,
/// back to the dashboard with a message; with htmx, the banner goes, the count and a toast
/// come out of band. Another customer's notice is not found.
async fn acknowledge(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<NoticeId>,
) -> Result<Response, AppError> {
    notices::ops::acknowledge(&state.pool, &me.who(ip), id)
        .await
        .map_err(|err| match err {
            NoticeError::Db(err) => err.into(),
            NoticeError::NotFound | NoticeError::Invalid(_) => AppError::NotFound,
        })?;
    if !htmx {
        return see_other(&me.session, "/", "Notice acknowledged.").await;
    }
    let mut body = CountFragment {
        unread: Unread(notices::model::unread(&state.pool, me.id()).await?),
        oob: true,
    }
    .render()?;
    body.push_str(
        &Toast {
            message: "Notice acknowledged.",
            error: false,
            oob: true,
        }
        .render()?,
    );
    Ok(Html(body).into_response())
}
