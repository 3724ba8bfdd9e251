//! The staff console (`/staff/login`, `/staff`, `/staff/customers/{id}` and its actions):
//! staff sign in apart from customers, find a customer, see their account, roles,
//! cancellation requests and audit log, grant and revoke roles and close cancellation
//! requests (`support-write`), and check a PIN a caller gives; internal API keys are in
//! [`keys`].

pub mod keys;
pub mod model;

use askama::Template;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::audit::record_parts;
use crate::identity::{self, Staff};
use crate::identity::{CustomerId, UsernameKey};
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::web::error::{AuthError, RequestError};
use crate::web::render::see_other;
use crate::web::{AppError, ClientIp, Device, Form, Layout, PathId, PathIds, local_path, render, session};
use crate::{account, addresses, audit, auth, page};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/login", get(login_page).post(login))
        .route("/staff/logout", post(logout))
        .route("/staff", get(index))
        .route("/staff/customers/{id}", get(customer))
        .route("/staff/customers/{id}/roles", post(set_role))
        .route("/staff/customers/{id}/address-quota", post(set_address_quota))
        .route(
            "/staff/customers/{id}/cancellations/{request}/complete",
            post(complete_cancellation),
        )
        .route("/staff/customers/{id}/pin", post(check_pin))
        .route("/staff/customers/{id}/impersonate", post(impersonate))
        .route("/staff/impersonation/end", post(end_impersonation))
        .route("/staff/notices", get(notice_page).post(publish_notice))
        .merge(keys::router())
}

/// A signed-in staff member, checked against the database on this request. A customer's
/// session never passes.
pub struct StaffSignedIn {
    pub staff: Staff,
    pub auth: session::StaffAuth,
    pub session: Session,
    pub csrf: String,
}

impl<S> FromRequestParts<S> for StaffSignedIn
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let Some(auth) = session::staff_auth(&session).await? else {
            return Err(AppError::Auth(AuthError::SignInRequired));
        };
        let Some(staff) = session::checked_staff(&state, &session, &auth).await? else {
            return Err(AppError::Auth(AuthError::SignInRequired));
        };
        session::touch_staff(&session, &auth).await?;
        let csrf = session::csrf_token(&session).await?;
        Ok(Self {
            staff,
            auth,
            session,
            csrf,
        })
    }
}

impl StaffSignedIn {
    async fn layout(&self, title: &str) -> Result<Layout, AppError> {
        Ok(Layout {
            user: Some(self.staff.username.clone()),
            flash: session::take_flash(&self.session).await?,
            ..Layout::anonymous(self.csrf.clone(), title)
        })
    }

    fn require_write(&self) -> Result<(), AppError> {
        if self.staff.may_write() {
            Ok(())
        } else {
            Err(AppError::Forbidden("this needs the support-write permission"))
        }
    }
}

#[derive(Template)]
#[template(path = "staff/login.html", blocks = ["content"])]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
}
page!(LoginPage);

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_page(session: Session, Query(query): Query<NextQuery>) -> Result<Response, AppError> {
    let page = LoginPage {
        layout: Layout::anonymous(session::csrf_token(&session).await?, "Staff sign in"),
        username: String::new(),
        next: local_path(&query.next).unwrap_or("").to_owned(),
        error: None,
    };
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct LoginInput {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// The customer sign-in's protections, by the same core (`auth::model`): one message for
/// every failure, a dummy hash for unknown names, and the same throttle, counted on `staff:`
/// keys, passed by a browser or address the staff member signed in from before.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    session: Session,
    Form(input): Form<LoginInput>,
) -> Result<Response, AppError> {
    let username = UsernameKey::new(&input.username);
    let keys = auth::model::Keys::staff(&username, ip);
    let refuse = |status: StatusCode, message: String, csrf: String| {
        let page = LoginPage {
            layout: Layout::anonymous(csrf, "Staff sign in"),
            username: input.username.clone(),
            next: local_path(&input.next).unwrap_or("").to_owned(),
            error: Some(message),
        };
        render(false, status, &page, None)
    };
    let attempt = auth::model::begin(&state.pool, &keys, device.hash().as_deref()).await?;
    if attempt == auth::model::Attempt::Refused {
        tracing::warn!(%username, %ip, "staff sign-in refused: too many failures");
        let csrf = session::csrf_token(&session).await?;
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins. Wait a little, then try again.".into(),
            csrf,
        );
    }
    let found = identity::staff::credentials(&state.pool, &username).await?;
    let verified = state
        .hasher
        .verify(found.as_ref().map(|(_, hash)| hash.as_str()), &input.password)
        .await?;
    let Some((staff, _)) = found.filter(|_| verified) else {
        tracing::warn!(%username, %ip, "failed staff sign-in");
        let csrf = session::csrf_token(&session).await?;
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, auth::FAILED.into(), csrf);
    };
    let (device_hash, device_cookie) = device.after_sign_in(&state.web);
    auth::model::succeeded(&state.pool, &keys, attempt, &device_hash).await?;
    session::staff_sign_in(&session, staff.id, staff.auth_version).await?;
    tracing::info!(staff = staff.username, %ip, "staff signed in");
    let to = local_path(&input.next)
        .filter(|p| p.starts_with("/staff"))
        .unwrap_or("/staff");
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, device_cookie);
    Ok(response)
}

async fn logout(State(state): State<AppState>, ClientIp(ip): ClientIp, session: Session) -> Result<Response, AppError> {
    session::end_if_impersonating(&state, &session, ip, "ended by signing out").await?;
    session::sign_out(&session).await?;
    Ok(Redirect::to("/staff/login").into_response())
}

#[derive(Template)]
#[template(path = "staff/index.html", blocks = ["content"])]
struct SearchPage {
    layout: Layout,
    query: String,
    found: Vec<model::Found>,
    /// Staff members the query also matches, so that a disabled one shows as such.
    staff: Vec<Staff>,
    searched: bool,
}
page!(SearchPage);

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn index(
    State(state): State<AppState>,
    me: StaffSignedIn,
    Query(query): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let searched = !query.q.trim().is_empty();
    let (found, staff) = if searched {
        (
            model::search(&state.pool, &query.q).await?,
            model::search_staff(&state.pool, &query.q).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let page = SearchPage {
        layout: me.layout("Staff console").await?,
        query: query.q,
        found,
        staff,
        searched,
    };
    render(false, StatusCode::OK, &page, None)
}

pub struct AuditRow {
    pub when: String,
    pub entry: audit::Entry,
}

#[derive(Template)]
#[template(path = "staff/customer.html", blocks = ["content"])]
struct CustomerPage {
    layout: Layout,
    customer: model::Found,
    may_write: bool,
    roles: Vec<(String, String, bool)>,
    cancellations: Vec<account::model::Cancellation>,
    audit: Vec<AuditRow>,
    /// How many IPv4 and IPv6 addresses the customer may hold, and holds.
    quotas: (i32, i32),
    held: (i64, i64),
    pin_result: Option<String>,
    reason: String,
    reason_error: Option<&'static str>,
}
page!(CustomerPage);

async fn customer_page(
    state: &AppState,
    me: &StaffSignedIn,
    id: CustomerId,
    pin_result: Option<String>,
) -> Result<CustomerPage, AppError> {
    let customer = model::customer(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let prefs = Preferences::new(None, None);
    let audit = audit::recent(&state.pool, id, 50, 0)
        .await?
        .into_iter()
        .map(|entry| AuditRow {
            when: prefs.format(entry.at),
            entry,
        })
        .collect();
    Ok(CustomerPage {
        layout: me.layout(&customer.username).await?,
        may_write: me.staff.may_write(),
        roles: model::roles(&state.pool, id).await?,
        cancellations: account::model::cancellations(&state.pool, id).await?,
        quotas: addresses::model::quotas(&state.pool, id).await?.unwrap_or_default(),
        held: addresses::model::held_counts(&state.pool, id).await?,
        audit,
        pin_result,
        reason: String::new(),
        reason_error: None,
        customer,
    })
}

async fn customer(
    State(state): State<AppState>,
    me: StaffSignedIn,
    PathId(id): PathId<CustomerId>,
) -> Result<Response, AppError> {
    let page = customer_page(&state, &me, id, None).await?;
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct QuotaInput {
    #[serde(default)]
    ipv4_quota: String,
    #[serde(default)]
    ipv6_quota: String,
}

/// Sets how many addresses of each family the customer may hold; `support-write` only,
/// recorded in the customer's audit log.
async fn set_address_quota(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<CustomerId>,
    Form(input): Form<QuotaInput>,
) -> Result<Response, AppError> {
    me.require_write()?;
    let quota = |raw: &str| {
        raw.trim()
            .parse::<i32>()
            .ok()
            .filter(|n| (0..=addresses::model::MAX_QUOTA).contains(n))
            .ok_or_else(|| format!("A whole number from 0 to {}.", addresses::model::MAX_QUOTA))
    };
    let mut errors = crate::validation::FieldErrors::default();
    let ipv4 = errors.check("ipv4_quota", quota(&input.ipv4_quota));
    let ipv6 = errors.check("ipv6_quota", quota(&input.ipv6_quota));
    let (Some(ipv4), Some(ipv6)) = (ipv4, ipv6) else {
        return Err(AppError::Invalid(errors));
    };
    let mut tx = state.pool.begin().await?;
    if !addresses::model::set_quotas(&mut tx, id, &me.staff.actor(), ipv4, ipv6, Some(ip)).await? {
        return Err(AppError::NotFound);
    }
    tx.commit().await?;
    let to = format!("/staff/customers/{id}");
    see_other(
        &me.session,
        &to,
        &format!("Address quota set: {ipv4} IPv4, {ipv6} IPv6."),
    )
    .await
}

#[derive(Deserialize)]
struct RoleInput {
    #[serde(default)]
    role: String,
    #[serde(default)]
    granted: String,
}

async fn set_role(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<CustomerId>,
    Form(input): Form<RoleInput>,
) -> Result<Response, AppError> {
    me.require_write()?;
    model::customer(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let granted = input.granted == "true";
    let mut tx = state.pool.begin().await?;
    let Some(changed) = model::set_role(&mut tx, id, &input.role, granted).await? else {
        return Err(AppError::Request(RequestError::Unreadable("There is no such role.")));
    };
    let (kind, verb) = if granted {
        ("role_granted", "granted")
    } else {
        ("role_revoked", "revoked")
    };
    if changed {
        record_parts(&mut *tx, id, &me.staff.actor(), kind, &input.role, Some(ip)).await?;
    }
    tx.commit().await?;
    let to = format!("/staff/customers/{id}");
    see_other(&me.session, &to, &format!("Role {} {verb}.", input.role)).await
}

async fn complete_cancellation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathIds(id, request): PathIds<CustomerId, i64>,
) -> Result<Response, AppError> {
    me.require_write()?;
    let mut tx = state.pool.begin().await?;
    if !model::complete_cancellation(&mut tx, id, request).await? {
        return Err(AppError::NotFound);
    }
    record_parts(&mut *tx, id, &me.staff.actor(), "cancellation_completed", "", Some(ip)).await?;
    tx.commit().await?;
    // After the commit: cleared before, a call in between would keep the keys working.
    crate::identity::key::forget_verified();
    let to = format!("/staff/customers/{id}");
    see_other(
        &me.session,
        &to,
        "Cancellation request handled; the account is cancelled.",
    )
    .await
}

#[derive(Deserialize)]
struct PinInput {
    #[serde(default)]
    pin: String,
}

/// Checks the PIN a caller gives. The staff member learns only match or no match; five
/// misses in 15 minutes lock checks for the customer; every check is in the audit log. The
/// attempt is counted before the PIN is compared, in one statement, so parallel checks
/// cannot all pass a count taken before any of them missed; a locked check compares nothing.
async fn check_pin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<CustomerId>,
    Form(input): Form<PinInput>,
) -> Result<Response, AppError> {
    use account::model::Guard;
    let hash = model::pin_hash(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let actor = me.staff.actor();
    let (kind, detail, result) = if account::model::count_attempt(&state.pool, Guard::PinCheck, id)
        .await?
        .is_none()
    {
        let result = format!(
            "Locked: {} wrong PINs in the last {} minutes. Try again later.",
            Guard::LIMIT,
            Guard::WINDOW_MINUTES
        );
        ("pin_check_locked", "", result)
    } else if hash.is_none() {
        (
            "pin_check_failed",
            "no PIN set",
            "No match: this customer has not set a PIN.".to_owned(),
        )
    } else if state.hasher.verify(hash.as_deref(), input.pin.trim()).await? {
        account::model::give_back(&state.pool, Guard::PinCheck, id).await?;
        ("pin_check_passed", "", "Match: the PIN is right.".to_owned())
    } else {
        ("pin_check_failed", "", "No match.".to_owned())
    };
    record_parts(&state.pool, id, &actor, kind, detail, Some(ip)).await?;
    let page = customer_page(&state, &me, id, Some(result)).await?;
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct ImpersonateInput {
    #[serde(default)]
    reason: String,
}

/// Starts looking at the customer's pages as them, for a reason the customer will read.
async fn impersonate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<CustomerId>,
    Form(input): Form<ImpersonateInput>,
) -> Result<Response, AppError> {
    model::customer(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let reason = input.reason.trim();
    if reason.chars().count() < 3 || reason.chars().count() > 500 || reason.chars().any(|c| c.is_control() && c != '\n')
    {
        let mut page = customer_page(&state, &me, id, None).await?;
        page.reason = input.reason.clone();
        page.reason_error = Some("Say why, in 3 to 500 characters: the customer will read it.");
        return render(false, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
    }
    session::end_if_impersonating(&state, &me.session, ip, "ended by starting another").await?;
    let mode = if me.staff.may_write() {
        "support-write"
    } else {
        "read-only"
    };
    let detail = format!("{reason} ({mode})");
    record_parts(
        &state.pool,
        id,
        &me.staff.actor(),
        "impersonation_started",
        &detail,
        Some(ip),
    )
    .await?;
    let imp = session::Impersonation {
        customer_id: id,
        reason: reason.to_owned(),
        started_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    session::set_impersonation(&me.session, &me.auth, Some(imp)).await?;
    tracing::info!(staff = me.staff.username, customer = %id, "impersonation started");
    Ok(Redirect::to("/").into_response())
}

async fn end_impersonation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
) -> Result<Response, AppError> {
    let how = format!("ended by {}", me.staff.username);
    match session::end_if_impersonating(&state, &me.session, ip, &how).await? {
        Some(id) => see_other(&me.session, &format!("/staff/customers/{id}"), "Impersonation ended.").await,
        None => Ok(Redirect::to("/staff").into_response()),
    }
}

#[derive(Template)]
#[template(path = "staff/notices.html", blocks = ["content"])]
struct NoticePage {
    layout: Layout,
    types: Vec<crate::notices::model::NoticeType>,
    severities: &'static [&'static str],
    form: crate::web::FormState,
    may_write: bool,
}
page!(NoticePage);

async fn notice_form(
    state: &AppState,
    me: &StaffSignedIn,
    form: crate::web::FormState,
    status: StatusCode,
) -> Result<Response, AppError> {
    let page = NoticePage {
        layout: me.layout("Publish a notice").await?,
        types: crate::notices::model::types(&state.pool).await?,
        severities: &crate::notices::model::SEVERITIES,
        form,
        may_write: me.staff.may_write(),
    };
    render(false, status, &page, None)
}

async fn notice_page(State(state): State<AppState>, me: StaffSignedIn) -> Result<Response, AppError> {
    notice_form(&state, &me, crate::web::FormState::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
struct NoticeInput {
    #[serde(default, rename = "type")]
    notice_type: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// A customer's username; empty for every customer.
    #[serde(default)]
    customer: String,
}

/// Publishes a notice with the command line's validation; `support-write` only.
async fn publish_notice(
    State(state): State<AppState>,
    me: StaffSignedIn,
    Form(input): Form<NoticeInput>,
) -> Result<Response, AppError> {
    me.require_write()?;
    let types = crate::notices::model::types(&state.pool).await?;
    let draft =
        crate::notices::model::Draft::parse(&types, &input.notice_type, &input.severity, &input.title, &input.body);
    let mut errors = match &draft {
        Ok(_) => crate::validation::FieldErrors::default(),
        Err(errors) => errors.clone(),
    };
    let customer = match input.customer.trim() {
        "" => None,
        name => {
            let found =
                crate::identity::customer::credentials_by_username(&state.pool, &UsernameKey::new(name)).await?;
            if found.is_none() {
                errors.add("customer", "There is no customer with that username.");
            }
            found.map(|c| c.id)
        }
    };
    let (Ok(draft), true) = (draft, errors.is_empty()) else {
        let form = crate::web::FormState::failed(
            &[
                ("type", &input.notice_type),
                ("severity", &input.severity),
                ("title", &input.title),
                ("body", &input.body),
                ("customer", &input.customer),
            ],
            errors,
        );
        return notice_form(&state, &me, form, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let mut tx = state.pool.begin().await?;
    let id = crate::notices::model::publish(&mut tx, customer, &draft).await?;
    tx.commit().await?;
    tracing::info!(staff = me.staff.username, notice = %id, "notice published");
    let to = if customer.is_some() {
        "the customer"
    } else {
        "every customer"
    };
    see_other(
        &me.session,
        "/staff/notices",
        &format!("Notice {id} published to {to}."),
    )
    .await
}
