//! The session: who is signed in, the CSRF token and a one-shot flash message, and the
//! `SignedIn` extractor that checks all of it against the database on every request.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::Method;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::Session;

use crate::audit;
use crate::identity::customer::CustomerStatus;
use crate::identity::sessions::{self, Limits, Owner, SessionId};
use crate::identity::staff::Staff;
use crate::identity::{self, Customer, CustomerId, Who};
use crate::state::AppState;
use crate::web::AppError;
use crate::web::error::AuthError;
use crate::web::render::Shell;

const AUTH: &str = "auth";
const STAFF: &str = "staff";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
const PENDING: &str = "pending";
/// `last_seen` is written back at most this often, so most requests write nothing.
const TOUCH_EVERY_SECS: i64 = 60;

/// Who the session belongs to, and since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Auth {
    pub customer_id: CustomerId,
    pub auth_version: i64,
    pub signed_in_at: i64,
    pub last_seen: i64,
    /// When this session last proved a second factor (Unix seconds): at sign-in, or at a
    /// fresh check since. `None`: never (the account has none, or had none then).
    #[serde(default)]
    pub second_factor_at: Option<i64>,
    /// The session's record in the sessions list (`identity::sessions`), made at its first
    /// checked request; once the record is deleted ("sign out" in the list), the session ends.
    #[serde(default)]
    pub record: Option<SessionId>,
}

/// Starts a signed-in session at `now` (Unix seconds, `AppState::clock`): a new session id
/// (the pre-sign-in cookie is worthless after this), a new CSRF token, and the principal
/// with the account's current auth version.
pub async fn sign_in(session: &Session, customer_id: CustomerId, auth_version: i64, now: i64) -> Result<(), AppError> {
    session.cycle_id().await?;
    // A customer sign-in never shares a session with a staff one.
    session.remove_value(STAFF).await?;
    session.remove_value(PENDING).await?;
    session.insert(CSRF, new_token()).await?;
    session
        .insert(
            AUTH,
            Auth {
                customer_id,
                auth_version,
                signed_in_at: now,
                last_seen: now,
                second_factor_at: None,
                record: None,
            },
        )
        .await?;
    Ok(())
}

/// How long a second-factor proof counts as fresh: starting an impersonation or creating
/// an API key from the panel asks for a new one after this.
pub const FRESH_SECS: i64 = 15 * 60;

/// Whether a second factor proven at `at` is still fresh at `now`.
pub fn is_fresh(at: Option<i64>, now: i64) -> bool {
    at.is_some_and(|at| now - at <= FRESH_SECS)
}

/// Records that the session's customer or staff member proved their second factor at
/// `now` (the sign-in's second step, or a fresh check).
pub async fn second_factor_proven(session: &Session, now: i64) -> Result<(), AppError> {
    if let Some(auth) = session.get::<Auth>(AUTH).await? {
        let auth = Auth {
            second_factor_at: Some(now),
            ..auth
        };
        session.insert(AUTH, auth).await?;
    }
    if let Some(auth) = session.get::<StaffAuth>(STAFF).await? {
        let auth = StaffAuth {
            second_factor_at: Some(now),
            ..auth
        };
        session.insert(STAFF, auth).await?;
    }
    Ok(())
}

/// A staff member's sign-in, kept apart from any customer's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffAuth {
    pub staff_id: i64,
    pub auth_version: i64,
    pub signed_in_at: i64,
    pub last_seen: i64,
    /// The session's record in the sessions list, as for customers ([`Auth::record`]).
    #[serde(default)]
    pub record: Option<SessionId>,
    /// The customer whose pages the staff member is looking at, if any.
    #[serde(default)]
    pub impersonating: Option<Impersonation>,
    /// When this session last proved the staff member's second factor (Unix seconds).
    /// `None`: signed in by password alone, which lets them enrol and nothing else.
    #[serde(default)]
    pub second_factor_at: Option<i64>,
}

/// A staff member acting as a customer: whom, why, since when (Unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Impersonation {
    pub customer_id: CustomerId,
    pub reason: String,
    pub started_at: i64,
}

/// Starts or ends (`None`) an impersonation, under a new session id.
pub async fn set_impersonation(
    session: &Session,
    auth: &StaffAuth,
    impersonating: Option<Impersonation>,
) -> Result<(), AppError> {
    session.cycle_id().await?;
    session
        .insert(
            STAFF,
            StaffAuth {
                impersonating,
                ..auth.clone()
            },
        )
        .await?;
    Ok(())
}

/// Starts a staff session at `now`: a new id, a new CSRF token, no customer principal.
pub async fn staff_sign_in(session: &Session, staff_id: i64, auth_version: i64, now: i64) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.remove_value(AUTH).await?;
    session.remove_value(PENDING).await?;
    session.insert(CSRF, new_token()).await?;
    session
        .insert(
            STAFF,
            StaffAuth {
                staff_id,
                auth_version,
                signed_in_at: now,
                last_seen: now,
                record: None,
                impersonating: None,
                second_factor_at: None,
            },
        )
        .await?;
    Ok(())
}

/// A sign-in half done: the password step passed, and a second factor is still owed. The
/// session is signed in as no one until the sign-in's last step (auth's `complete`) runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub account: PendingAccount,
    /// When the password step passed (Unix seconds): the second step must follow soon.
    pub started_at: i64,
    /// Where to go once signed in (a local path, or empty for the landing page).
    #[serde(default)]
    pub next: String,
    /// The device cookie the password step made (`Device::after_sign_in`), set when the
    /// sign-in completes.
    #[serde(default)]
    pub device_cookie: String,
}

/// Whose second factor is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingAccount {
    Customer(CustomerId),
    Staff(i64),
}

/// Marks the session as half signed in, under a new session id, signed in as no one.
pub async fn set_pending(session: &Session, pending: Pending) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.remove_value(AUTH).await?;
    session.remove_value(STAFF).await?;
    session.insert(PENDING, pending).await?;
    Ok(())
}

/// The sign-in this session has half done, if any.
pub async fn pending(session: &Session) -> Result<Option<Pending>, AppError> {
    Ok(session.get::<Pending>(PENDING).await?)
}

/// Forgets a half-done sign-in (on completing it, or on giving up).
pub async fn clear_pending(session: &Session) -> Result<(), AppError> {
    if session.get::<Pending>(PENDING).await?.is_some() {
        session.remove_value(PENDING).await?;
    }
    Ok(())
}

/// The session's staff principal, unchecked.
pub async fn staff_auth(session: &Session) -> Result<Option<StaffAuth>, AppError> {
    Ok(session.get::<StaffAuth>(STAFF).await?)
}

/// The staff member behind the session, if the session still holds: the account exists and
/// is not disabled, its auth version is the session's, and neither the staff idle nor the
/// absolute timeout has passed, whether or not they are impersonating. Otherwise the session
/// ends here: an impersonation in progress is recorded as ended in the customer's Activity,
/// and the session record is deleted.
pub async fn checked_staff(state: &AppState, session: &Session, auth: &StaffAuth) -> Result<Option<Staff>, AppError> {
    let now = state.clock.unix();
    let found = identity::staff::by_id_in_session(&state.pool, auth.staff_id, auth.record).await?;
    let listed = found.as_ref().is_some_and(|(_, listed)| *listed);
    let staff = found.map(|(staff, _)| staff);
    let why = match &staff {
        None => "the staff account no longer exists",
        Some(_) if auth.record.is_some() && !listed => "the staff session was signed out from the sessions list",
        Some(s) if s.disabled => "the staff account was disabled",
        Some(s) if s.auth_version != auth.auth_version => "the staff sign-in was ended",
        Some(_) if now - auth.last_seen > state.web.idle_timeout.as_secs() as i64 => {
            "the staff session was idle too long"
        }
        Some(_) if now - auth.signed_in_at > state.web.absolute_timeout.as_secs() as i64 => {
            "the staff session reached its time limit"
        }
        Some(_) => return Ok(staff),
    };
    if let (Some(staff), Some(imp)) = (&staff, &auth.impersonating) {
        let who = Who::new(imp.customer_id, staff.actor(), None);
        audit::record(&state.pool, &who, "impersonation_ended", why).await?;
    }
    tracing::info!(staff = auth.staff_id, why, "staff session ended");
    session.flush().await?;
    Ok(None)
}

/// Records the staff member's last request, at the state's clock (at most once a minute),
/// and the session in the sessions list at its first checked request; the principal as the
/// session now holds it.
pub async fn touch_staff(
    state: &AppState,
    client: &Client,
    session: &Session,
    auth: &StaffAuth,
) -> Result<StaffAuth, AppError> {
    let owner = Owner::Staff(auth.staff_id);
    let Some(record) = keep_record(
        state,
        client,
        owner,
        auth.record,
        auth.auth_version,
        auth.signed_in_at,
        auth.last_seen,
    )
    .await?
    else {
        return Ok(auth.clone());
    };
    let touched = StaffAuth {
        last_seen: state.clock.unix(),
        record: Some(record),
        ..auth.clone()
    };
    session.insert(STAFF, &touched).await?;
    Ok(touched)
}

/// The browser behind a request, for the sessions list: its address and User-Agent.
#[derive(Debug, Clone)]
pub struct Client {
    pub address: std::net::IpAddr,
    pub user_agent: String,
}

impl Client {
    pub async fn of(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let crate::web::ClientIp(address) = crate::web::ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(Self { address, user_agent })
    }
}

/// The session's record, made when it has none yet, or its `last_seen` moved on when a
/// minute has passed since `last_seen`: `Some(record)` when the session must be saved with
/// it (and `last_seen` now), `None` when nothing was written.
async fn keep_record(
    state: &AppState,
    client: &Client,
    owner: Owner,
    record: Option<SessionId>,
    auth_version: i64,
    signed_in_at: i64,
    last_seen: i64,
) -> Result<Option<SessionId>, AppError> {
    let now = state.clock.now();
    match record {
        None => {
            let limits = Limits {
                idle_secs: state.web.idle_timeout.as_secs() as i64,
                absolute_secs: state.web.absolute_timeout.as_secs() as i64,
            };
            let signed_in_at = OffsetDateTime::from_unix_timestamp(signed_in_at).unwrap_or(now);
            let device = sessions::device(&client.user_agent);
            let mut tx = state.pool.begin().await?;
            sessions::prune(&mut *tx, owner, now, limits).await?;
            let id = sessions::create(
                &mut *tx,
                owner,
                auth_version,
                &device,
                client.address,
                signed_in_at,
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(Some(id))
        }
        Some(id) if now.unix_timestamp() - last_seen >= TOUCH_EVERY_SECS => {
            sessions::touch(&state.pool, id, client.address, now).await?;
            Ok(Some(id))
        }
        Some(_) => Ok(None),
    }
}

/// The session's principal, unchecked (for signing out).
pub async fn current_auth(session: &Session) -> Result<Option<Auth>, AppError> {
    Ok(session.get::<Auth>(AUTH).await?)
}

/// Ends the session server-side: its record is deleted, so a replayed cookie is anonymous;
/// and it leaves the sessions list.
pub async fn sign_out(db: &sqlx::PgPool, session: &Session) -> Result<(), AppError> {
    if let Some(auth) = current_auth(session).await?
        && let Some(record) = auth.record
    {
        sessions::end(db, Owner::Customer(auth.customer_id), record).await?;
    }
    if let Some(auth) = staff_auth(session).await?
        && let Some(record) = auth.record
    {
        sessions::end(db, Owner::Staff(auth.staff_id), record).await?;
    }
    session.flush().await?;
    Ok(())
}

/// Keeps this session signed in after the account's auth version moved on (the customer
/// changed their own password here, or signed out everywhere else), under a new session id,
/// and keeps it in the sessions list.
pub async fn renew(db: &sqlx::PgPool, session: &Session, auth: &Auth, auth_version: i64) -> Result<(), AppError> {
    if let Some(record) = auth.record {
        sessions::renew(db, record, auth_version).await?;
    }
    session.cycle_id().await?;
    session
        .insert(
            AUTH,
            Auth {
                auth_version,
                ..auth.clone()
            },
        )
        .await?;
    Ok(())
}

/// Keeps this staff session signed in after the account's auth version moved on (the staff
/// member signed out everywhere else), under a new session id.
pub async fn renew_staff(session: &Session, auth: &StaffAuth, auth_version: i64) -> Result<(), AppError> {
    session.cycle_id().await?;
    session
        .insert(
            STAFF,
            StaffAuth {
                auth_version,
                ..auth.clone()
            },
        )
        .await?;
    Ok(())
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(CSRF).await? {
        return Ok(token);
    }
    let token = new_token();
    session.insert(CSRF, &token).await?;
    Ok(token)
}

/// The token to compare against, without creating one.
pub async fn expected_csrf_token(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(CSRF).await?)
}

/// A message for the next page (after a redirect), shown as a toast there.
pub async fn flash(session: &Session, message: impl Into<String>) -> Result<(), AppError> {
    session.insert(FLASH, message.into()).await?;
    Ok(())
}

pub async fn take_flash(session: &Session) -> Result<Option<String>, AppError> {
    // Read first: `remove` marks the session changed even when there is nothing to remove,
    // which would write the session back on every page view.
    if session.get::<String>(FLASH).await?.is_none() {
        return Ok(None);
    }
    Ok(session.remove::<String>(FLASH).await?)
}

fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A signed-in customer, checked against the database on this request: the session's auth
/// version must match the account's, and neither the idle nor the absolute timeout has passed.
/// Or a staff member impersonating the customer (`impersonator`): then the staff account is
/// checked instead, the impersonation ends after its time limit, a `support` (read-only)
/// impersonation may only read, and every change a `support-write` one makes is recorded.
#[derive(Clone)]
pub struct SignedIn {
    pub customer: Customer,
    /// The customer's own sign-in; `None` while staff impersonate.
    pub auth: Option<Auth>,
    pub session: Session,
    pub csrf: String,
    pub impersonator: Option<Impersonator>,
    /// How long an impersonation lasts (for the banner).
    pub impersonation_limit: std::time::Duration,
}

/// Who is looking at the customer's pages, why, and since when (Unix seconds).
#[derive(Debug, Clone)]
pub struct Impersonator {
    pub staff: Staff,
    pub reason: String,
    pub started_at: i64,
}

impl SignedIn {
    pub fn id(&self) -> CustomerId {
        self.customer.id
    }

    /// Who the customer's Activity says acted: "customer", or "Support (alice)".
    pub fn actor(&self) -> String {
        match &self.impersonator {
            Some(i) => i.staff.actor(),
            None => crate::audit::BY_CUSTOMER.to_owned(),
        }
    }

    /// The customer, this session's actor and `address`: what an operation takes.
    pub fn who(&self, address: std::net::IpAddr) -> Who {
        Who::new(self.id(), self.actor(), Some(address))
    }

    /// Password, PIN and email are never changed while impersonating.
    pub fn refuse_if_impersonating(&self) -> Result<(), AppError> {
        match self.impersonator {
            Some(_) => Err(AppError::Forbidden(
                "password, PIN and email cannot be changed while impersonating",
            )),
            None => Ok(()),
        }
    }
}

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    /// Checked once per request: a second extractor (say `settings::Current`) reuses it.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(me) = parts.extensions.get::<SignedIn>() {
            return Ok(me.clone());
        }
        let me = Self::check(parts, state).await?;
        parts.extensions.insert(me.clone());
        Ok(me)
    }
}

impl SignedIn {
    async fn check<S>(parts: &mut Parts, state: &S) -> Result<Self, AppError>
    where
        S: Send + Sync,
        AppState: FromRef<S>,
    {
        let state = AppState::from_ref(state);
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let Some(mut auth) = session.get::<Auth>(AUTH).await? else {
            return impersonated(&state, parts, session).await;
        };
        let now = state.clock.unix();
        let idle = now - auth.last_seen > state.web.idle_timeout.as_secs() as i64;
        let too_old = now - auth.signed_in_at > state.web.absolute_timeout.as_secs() as i64;
        if idle || too_old {
            session.flush().await?;
            return Err(AppError::Auth(AuthError::SignInRequired));
        }
        // The account with its session records (one statement, or the copy kept until they
        // change): a session signed out from the sessions list ends here, at its next request.
        let customer = identity::customer::by_id_kept(&state.changes, &state.pool, auth.customer_id).await?;
        let Some(customer) = customer.filter(|c| {
            c.auth_version == auth.auth_version
                && c.status != CustomerStatus::Cancelled.as_str()
                && auth.record.is_none_or(|record| c.has_session(record))
        }) else {
            session.flush().await?;
            return Err(AppError::Auth(AuthError::SignInRequired));
        };
        let client = Client::of(parts, &state).await?;
        let owner = Owner::Customer(auth.customer_id);
        if let Some(record) = keep_record(
            &state,
            &client,
            owner,
            auth.record,
            auth.auth_version,
            auth.signed_in_at,
            auth.last_seen,
        )
        .await?
        {
            auth.last_seen = now;
            auth.record = Some(record);
            session.insert(AUTH, &auth).await?;
        }
        let csrf = csrf_token(&session).await?;
        Ok(Self {
            customer,
            auth: Some(auth),
            session,
            csrf,
            impersonator: None,
            impersonation_limit: state.web.impersonation_limit,
        })
    }
}

/// A customer page asked for by a staff session: allowed only while impersonating.
async fn impersonated(state: &AppState, parts: &mut Parts, session: Session) -> Result<SignedIn, AppError> {
    let Some(staff_auth) = staff_auth(&session).await? else {
        return Err(AppError::Auth(AuthError::SignInRequired));
    };
    let Some(imp) = staff_auth.impersonating.clone() else {
        return Err(AppError::Auth(AuthError::StaffConsole));
    };
    // The staff session's own limits hold throughout the impersonation; when it ends, the
    // staff member signs in again at the console.
    let Some(staff) = checked_staff(state, &session, &staff_auth).await? else {
        return Err(AppError::Auth(AuthError::StaffConsole));
    };
    let now = state.clock.unix();
    let limit = state.web.impersonation_limit.as_secs() as i64;
    if now - imp.started_at > limit {
        let detail = format!("time limit of {} minutes reached", limit / 60);
        let who = Who::new(imp.customer_id, staff.actor(), None);
        audit::record(&state.pool, &who, "impersonation_ended", &detail).await?;
        set_impersonation(&session, &staff_auth, None).await?;
        flash(&session, "The impersonation reached its time limit and ended.").await?;
        return Err(AppError::Auth(AuthError::StaffConsole));
    }
    let customer = identity::customer::by_id_kept(&state.changes, &state.pool, imp.customer_id)
        .await?
        .ok_or(AppError::Auth(AuthError::StaffConsole))?;
    let changes = !matches!(parts.method, Method::GET | Method::HEAD);
    let csrf = csrf_token(&session).await?;
    let me = SignedIn {
        customer,
        auth: None,
        session,
        csrf,
        impersonator: Some(Impersonator {
            staff,
            reason: imp.reason,
            started_at: imp.started_at,
        }),
        impersonation_limit: state.web.impersonation_limit,
    };
    let staff = &me.impersonator.as_ref().expect("set just above").staff;
    if changes && !staff.may_write() {
        return Err(AppError::ReadOnly(Box::new(Shell::of(&me))));
    }
    if changes {
        // Every change made while impersonating is in the customer's Activity.
        let detail = format!("{} {}", parts.method, parts.uri.path());
        let who = Who::new(me.customer.id, staff.actor(), None);
        audit::record(&state.pool, &who, "impersonated_request", &detail).await?;
    }
    touch_staff(state, &Client::of(parts, state).await?, &me.session, &staff_auth).await?;
    Ok(me)
}

/// Records the end of the session's impersonation, if there is one; `Some(customer)`.
pub async fn end_if_impersonating(
    state: &AppState,
    session: &Session,
    ip: std::net::IpAddr,
    how: &str,
) -> Result<Option<CustomerId>, AppError> {
    let Some(auth) = staff_auth(session).await? else {
        return Ok(None);
    };
    let Some(imp) = &auth.impersonating else {
        return Ok(None);
    };
    if let Some(staff) = identity::staff::by_id(&state.pool, auth.staff_id).await? {
        let who = Who::new(imp.customer_id, staff.actor(), Some(ip));
        audit::record(&state.pool, &who, "impersonation_ended", how).await?;
    }
    set_impersonation(session, &auth, None).await?;
    Ok(Some(imp.customer_id))
}
