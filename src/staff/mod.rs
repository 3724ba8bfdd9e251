//! The staff console (`/staff/login`, `/staff`, `/staff/customers/{id}` and its actions):
//! staff sign in apart from customers, find a customer, see their account, roles,
//! cancellation requests and audit log, grant and revoke roles and close cancellation
//! requests (`support-write`), and check a PIN a caller gives; internal API keys are in
//! [`keys`]. Staff must have a second factor (issue 16): a staff session that has not
//! proven one reaches only its enrolment page ([`security`], `/staff/security`), and
//! starting an impersonation asks for a fresh code after [`session::FRESH_SECS`].

pub mod keys;
pub mod model;
pub mod ops;
pub mod security;
pub mod sessions;

use askama::Template;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::audit::staff::StaffEvent;
use crate::identity::{CustomerId, Staff, UsernameKey, Who};
use crate::settings::model::Preferences;
use crate::sites::model::{SiteId, StaffSite};
use crate::state::AppState;
use crate::web::error::{AuthError, RequestError};
use crate::web::render::see_other;
use crate::web::{AppError, ClientIp, Device, Form, Layout, PathId, PathIds, local_path, render, session};
use crate::{account, addresses, audit, auth, page, sites};

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
        .route("/staff/customers/{id}/sites/{site}/restore", post(restore_site))
        .route("/staff/customers/{id}/impersonate", post(impersonate))
        .route("/staff/impersonation/end", post(end_impersonation))
        .route("/staff/notices", get(notice_page).post(publish_notice))
        .merge(keys::router())
        .merge(security::router())
        .merge(sessions::router())
}

/// A signed-in staff member, checked against the database on this request, who proved a
/// second factor in this session. A customer's session never passes; a staff session
/// signed in by password alone is sent to enrol ([`security`]).
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
        let me = StaffPassword::from_request_parts(parts, state).await?.0;
        if me.auth.second_factor_at.is_none() {
            return Err(AppError::Auth(AuthError::StaffSecondFactor));
        }
        Ok(me)
    }
}

/// A signed-in staff member who may not have proven a second factor yet: only for their
/// own enrolment page.
pub struct StaffPassword(pub StaffSignedIn);

impl<S> FromRequestParts<S> for StaffPassword
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
        let client = session::Client::of(parts, &state).await?;
        let auth = session::touch_staff(&state, &client, &session, &auth).await?;
        let csrf = session::csrf_token(&session).await?;
        Ok(Self(StaffSignedIn {
            staff,
            auth,
            session,
            csrf,
        }))
    }
}

impl From<ops::StaffError> for AppError {
    fn from(err: ops::StaffError) -> Self {
        match err {
            ops::StaffError::NotFound => AppError::NotFound,
            ops::StaffError::NoSuchRole => AppError::Request(RequestError::Unreadable("There is no such role.")),
            ops::StaffError::Db(err) => err.into(),
            ops::StaffError::Internal(err) => AppError::Internal(err),
        }
    }
}

impl StaffSignedIn {
    /// The staff console's layout, with the flash message left by the previous request.
    pub async fn layout(&self, title: &str) -> Result<Layout, AppError> {
        Ok(Layout {
            user: Some(self.staff.username.clone()),
            flash: session::take_flash(&self.session).await?,
            once: crate::web::once::token(),
            ..Layout::anonymous(self.csrf.clone(), title)
        })
    }

    /// The customer this staff member acts on, named as their Activity names staff
    /// ("Support (alice)"), from `address`.
    fn who(&self, customer: CustomerId, address: std::net::IpAddr) -> Who {
        Who::new(customer, self.staff.actor(), Some(address))
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

/// The form over the customers' sign-in core ([`auth::core::sign_in`]): the same throttle
/// (counted on `staff:` keys), the same wait told, the same single message, and every
/// success, failure and lock in the staff log.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    session: Session,
    Form(input): Form<LoginInput>,
) -> Result<Response, AppError> {
    let attempt = auth::core::Input {
        username: &input.username,
        password: &input.password,
        next: &input.next,
    };
    let signed_in = match auth::core::sign_in(&state, &session, auth::Realm::Staff, ip, &device, attempt).await {
        Ok(auth::core::Step::SignedIn(signed_in)) => signed_in,
        Ok(auth::core::Step::SecondFactor) => return Ok(Redirect::to("/login/second-factor").into_response()),
        Err(err) => {
            let (status, message) = err.refusal()?;
            let page = LoginPage {
                layout: Layout::anonymous(session::csrf_token(&session).await?, "Staff sign in"),
                username: input.username.clone(),
                next: local_path(&input.next).unwrap_or("").to_owned(),
                error: Some(message),
            };
            return render(false, status, &page, None);
        }
    };
    // Signed in at the password: the account has no second factor yet (else the second
    // step would have come next), and enrolling one is all it may do.
    let to = "/staff/security";
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, signed_in.device_cookie);
    Ok(response)
}

async fn logout(State(state): State<AppState>, ClientIp(ip): ClientIp, session: Session) -> Result<Response, AppError> {
    if let Some(auth) = session::staff_auth(&session).await?
        && let Some(staff) = crate::identity::staff::by_id(&state.pool, auth.staff_id).await?
    {
        let name = UsernameKey::new(&staff.username);
        audit::staff::record(&state.pool, Some(staff.id), &name, StaffEvent::SignOut, "", Some(ip)).await?;
    }
    session::end_if_impersonating(&state, &session, ip, "ended by signing out").await?;
    session::sign_out(&state.pool, &session).await?;
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

/// A site on the customer's page: deleted ones with when (UTC) and until when they can be
/// restored.
pub struct SiteRow {
    pub site: StaffSite,
    pub deleted: String,
    pub purge_at: Option<String>,
    pub files_removed: Option<String>,
    pub restorable: bool,
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
    /// The customer's sites, deleted ones with when their files go (restorable until then).
    sites: Vec<SiteRow>,
    grace_days: i32,
    pin_result: Option<String>,
    reason: String,
    reason_error: Option<&'static str>,
    /// Whether the customer has a second factor (never what it is).
    second_factor: bool,
    /// Whether starting an impersonation needs a code now (the last proof is stale).
    code_needed: bool,
    code_error: Option<String>,
}
page!(CustomerPage);

impl CustomerPage {
    /// What marking a cancellation request handled does: it cancels the account.
    pub fn cancel_consequence(&self) -> String {
        format!(
            "Marking it handled cancels the account of {}: they can no longer sign in, and their API keys stop working at once. It is recorded in their Activity.",
            self.customer.username
        )
    }
}

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
        sites: sites::model::staff_list(&state.pool, id)
            .await?
            .into_iter()
            .map(|site| SiteRow {
                deleted: site.deleted_at.map(|at| prefs.format(at)).unwrap_or_default(),
                purge_at: site.purge_at.map(|at| prefs.format(at)),
                files_removed: site.files_removed_at.map(|at| prefs.format(at)),
                restorable: site.status == sites::model::SiteStatus::Deleted && site.purge_at.is_some(),
                site,
            })
            .collect(),
        grace_days: sites::steps::GRACE_DAYS,
        audit,
        pin_result,
        reason: String::new(),
        reason_error: None,
        second_factor: crate::security::ops::second_factor(&state.pool, crate::security::model::Account::Customer(id))
            .await?
            .any(),
        code_needed: !session::is_fresh(me.auth.second_factor_at, state.clock.unix()),
        code_error: None,
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
    if !addresses::model::set_quotas(&mut tx, &me.who(id, ip), ipv4, ipv6).await? {
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
    let granted = input.granted == "true";
    ops::set_role(&state.pool, &me.who(id, ip), &input.role, granted).await?;
    let verb = if granted { "granted" } else { "revoked" };
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
    ops::complete_cancellation(&state.pool, &me.who(id, ip), request).await?;
    let to = format!("/staff/customers/{id}");
    see_other(
        &me.session,
        &to,
        "Cancellation request handled; the account is cancelled.",
    )
    .await
}

/// Restores a deleted site whose files are still kept (`support-write`): it is provisioned
/// again. In the customer's Activity and the staff log.
async fn restore_site(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathIds(id, site): PathIds<CustomerId, SiteId>,
) -> Result<Response, AppError> {
    me.require_write()?;
    model::customer(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    sites::ops::restore(&state.pool, &me.who(id, ip), &me.staff, site)
        .await
        .map_err(|err| err.into_app(crate::validation::Names::Form))?;
    tracing::info!(staff = me.staff.username, customer = %id, %site, "site restored");
    let to = format!("/staff/customers/{id}");
    see_other(
        &me.session,
        &to,
        &format!("Site {site} restored: it is being set up again, with a new address."),
    )
    .await
}

#[derive(Deserialize)]
struct PinInput {
    #[serde(default)]
    pin: String,
}

/// Checks the PIN a caller gives ([`ops::check_pin`]) and says only match or no match.
async fn check_pin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    me: StaffSignedIn,
    PathId(id): PathId<CustomerId>,
    Form(input): Form<PinInput>,
) -> Result<Response, AppError> {
    use account::model::Guard;
    let result = match ops::check_pin(&state.pool, &state.hasher, &me.who(id, ip), &input.pin).await? {
        ops::PinCheck::Locked => format!(
            "Locked: {} wrong PINs in the last {} minutes. Try again later.",
            Guard::LIMIT,
            Guard::WINDOW_MINUTES
        ),
        ops::PinCheck::NoPin => "No match: this customer has not set a PIN.".to_owned(),
        ops::PinCheck::Match => "Match: the PIN is right.".to_owned(),
        ops::PinCheck::NoMatch => "No match.".to_owned(),
    };
    let page = customer_page(&state, &me, id, Some(result)).await?;
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct ImpersonateInput {
    #[serde(default)]
    reason: String,
    /// A fresh second-factor code, when the last proof is older than
    /// [`session::FRESH_SECS`].
    #[serde(default)]
    code: String,
}

/// Starts looking at the customer's pages as them, for a reason the customer will read,
/// after a fresh second-factor check when the last one is stale.
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
    let now = state.clock.now();
    let mut auth = me.auth.clone();
    if !session::is_fresh(auth.second_factor_at, now.unix_timestamp()) {
        let actor = crate::security::ops::Actor::Staff {
            id: me.staff.id,
            username: UsernameKey::new(&me.staff.username),
            ip: Some(ip),
        };
        if let Err(err) = crate::security::ops::check(&state.pool, &state.sealer, &actor, &input.code, now).await {
            let form = crate::security::failed_form(err, "code")?;
            let mut page = customer_page(&state, &me, id, None).await?;
            page.reason = input.reason.clone();
            page.code_error = form.error("code").map(str::to_owned);
            return render(false, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
        auth.second_factor_at = Some(now.unix_timestamp());
    }
    session::end_if_impersonating(&state, &me.session, ip, "ended by starting another").await?;
    let mode = if me.staff.may_write() {
        "support-write"
    } else {
        "read-only"
    };
    let detail = format!("{reason} ({mode})");
    audit::record(&state.pool, &me.who(id, ip), "impersonation_started", &detail).await?;
    let imp = session::Impersonation {
        customer_id: id,
        reason: reason.to_owned(),
        started_at: state.clock.unix(),
    };
    session::set_impersonation(&me.session, &auth, Some(imp)).await?;
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
    /// The form was sent with no customer: it comes back to confirm "every customer".
    confirm_every: bool,
}
page!(NoticePage);

async fn notice_form(
    state: &AppState,
    me: &StaffSignedIn,
    form: crate::web::FormState,
    status: StatusCode,
    confirm_every: bool,
) -> Result<Response, AppError> {
    let page = NoticePage {
        layout: me.layout("Publish a notice").await?,
        types: crate::notices::model::types(&state.pool).await?,
        severities: &crate::notices::model::SEVERITIES,
        form,
        may_write: me.staff.may_write(),
        confirm_every,
    };
    render(false, status, &page, None)
}

async fn notice_page(State(state): State<AppState>, me: StaffSignedIn) -> Result<Response, AppError> {
    notice_form(&state, &me, crate::web::FormState::default(), StatusCode::OK, false).await
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
    /// The form's one-time token (see `web::once`).
    form_token: Option<String>,
    /// "yes": with no customer, publishing to every customer was confirmed.
    #[serde(default)]
    every_customer: String,
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
            found.map(|c| (c.id, name.to_owned()))
        }
    };
    let values = [
        ("type", input.notice_type.as_str()),
        ("severity", &input.severity),
        ("title", &input.title),
        ("body", &input.body),
        ("customer", &input.customer),
    ];
    let (Ok(draft), true) = (draft, errors.is_empty()) else {
        let form = crate::web::FormState::failed(&values, errors);
        return notice_form(&state, &me, form, StatusCode::UNPROCESSABLE_ENTITY, false).await;
    };
    // No customer chosen: nothing goes out until "every customer" is confirmed.
    if customer.is_none() && input.every_customer != "yes" {
        let form = crate::web::FormState::failed(&values, crate::validation::FieldErrors::default());
        return notice_form(&state, &me, form, StatusCode::OK, true).await;
    }
    let mut tx = state.pool.begin().await?;
    let once = crate::web::once::sent(input.form_token.as_deref());
    if !crate::identity::once::first_use_by_staff(&mut *tx, me.staff.id, once).await? {
        return see_other(&me.session, "/staff/notices", crate::web::once::REPEATED).await;
    }
    let id = crate::notices::model::publish(&mut tx, customer.as_ref().map(|(id, _)| *id), &draft).await?;
    tx.commit().await?;
    tracing::info!(staff = me.staff.username, notice = %id, "notice published");
    let message = match &customer {
        Some((_, username)) => format!("Notice {id} published to {username}."),
        None => format!("Notice {id} published to every customer."),
    };
    see_other(&me.session, "/staff/notices", &message).await
}
