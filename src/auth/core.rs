//! The one sign-in of customers and staff (issue 17: the two copies had drifted). Both
//! forms call [`sign_in`], which decides everything: the throttle per account and per
//! client address (counted before any password is compared, passed by a browser or address
//! the account signed in from before), the wait the refused are told, a password compared
//! against the Argon2 hash or a dummy one (an unknown name costs the same time), one message
//! for every failure, a new session id and the account's auth version in the session, and
//! the record of every success, failure and lock: a customer's in their Activity, a staff
//! member's in the staff log (`audit::staff`), where a name that is no one's is recorded too.
//! The forms only render what it answers.
//!
//! An account with a second factor (issue 16) is not signed in by its password: the
//! password step leaves the session half signed in ([`session::Pending`], under a new id)
//! and answers [`Step::SecondFactor`]; [`second_step`] then takes a code within
//! [`PENDING_SECS`], throttled per client address (`2fa:` keys of the same counters) and,
//! in [`security::ops::check`], per account, and completes the sign-in.

use std::net::IpAddr;

use axum::http::{HeaderValue, StatusCode};
use tower_sessions::Session;

use crate::audit::staff::StaffEvent;
use crate::audit::{self, BY_ANONYMOUS, BY_CUSTOMER};
use crate::auth::model::{self, Attempt, Keys};
use crate::identity::customer::Credentials;
use crate::identity::{self, CustomerId, Staff, UsernameKey, Who};
use crate::security::model::Account as FactorAccount;
use crate::security::ops::{self as factor, Actor, Proof, SecurityError};
use crate::state::AppState;
use crate::web::session::{Pending, PendingAccount};
use crate::web::{AppError, Device, session};

/// How long the second step may follow the password, in seconds.
pub const PENDING_SECS: i64 = 5 * 60;

/// The one message for every failed sign-in: it never says which part was wrong.
pub const FAILED: &str = "Unknown username or wrong password.";

/// Whose sign-in form it is: the two count apart (`user:` and `staff:` keys) and record
/// apart, and are otherwise the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    Customer,
    Staff,
}

/// What the form gave.
pub struct Input<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// Where to go once signed in (kept through a second step).
    pub next: &'a str,
}

/// What a correct password led to.
#[derive(Debug)]
pub enum Step {
    SignedIn(SignedIn),
    /// The account has a second factor: the session is half signed in, and the second
    /// step (`/login/second-factor`) comes next.
    SecondFactor,
}

/// Who signed in.
#[derive(Debug)]
pub enum Principal {
    Customer(CustomerId),
    Staff(Staff),
}

/// A sign-in that succeeded: the session is the account's now; the answer must set the
/// device cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub principal: Principal,
    pub device_cookie: HeaderValue,
}

#[derive(Debug)]
pub enum SignInError {
    /// The account or the address is in its delay: refused before any password is
    /// compared, for this many more seconds.
    TooMany {
        wait_secs: i64,
    },
    /// An unknown name or a wrong password: one answer.
    Failed,
    /// The right password of a cancelled customer: told so, and where support is (the
    /// message, from [`WebConfig::cancelled_message`](crate::state::WebConfig::cancelled_message)).
    /// Only the password's owner learns it; a wrong password is [`Self::Failed`].
    Cancelled(String),
    Internal(AppError),
}

impl From<sqlx::Error> for SignInError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<AppError> for SignInError {
    fn from(err: AppError) -> Self {
        Self::Internal(err)
    }
}

impl From<anyhow::Error> for SignInError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl SignInError {
    /// The form's status and message, or the error a page answers with.
    pub fn refusal(self) -> Result<(StatusCode, String), AppError> {
        match self {
            Self::TooMany { wait_secs } => Ok((
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed sign-ins. Wait {wait_secs} seconds, then try again."),
            )),
            Self::Failed => Ok((StatusCode::UNPROCESSABLE_ENTITY, FAILED.to_owned())),
            Self::Cancelled(message) => Ok((StatusCode::FORBIDDEN, message)),
            Self::Internal(err) => Err(err),
        }
    }
}

/// The account a name belongs to, with its password hash, if it may sign in.
enum Account {
    Customer(Credentials),
    Staff(Staff, String),
}

impl Account {
    async fn find(state: &AppState, realm: Realm, username: &UsernameKey) -> sqlx::Result<Option<Self>> {
        Ok(match realm {
            Realm::Customer => identity::customer::credentials_by_username(&state.pool, username)
                .await?
                .map(Self::Customer),
            Realm::Staff => identity::staff::credentials(&state.pool, username)
                .await?
                .map(|(staff, hash)| Self::Staff(staff, hash)),
        })
    }

    fn hash(&self) -> &str {
        match self {
            Self::Customer(c) => &c.password_hash,
            Self::Staff(_, hash) => hash,
        }
    }

    /// A cancelled customer has a name and a hash, and signs in no more (a disabled staff
    /// member is not found at all).
    fn may_sign_in(&self) -> bool {
        match self {
            Self::Customer(c) => c.may_sign_in(),
            Self::Staff(..) => true,
        }
    }
}

/// Signs `input` in on `session`, or says why not (see the module's comment).
pub async fn sign_in(
    state: &AppState,
    session: &Session,
    realm: Realm,
    ip: IpAddr,
    device: &Device,
    input: Input<'_>,
) -> Result<Step, SignInError> {
    let username = UsernameKey::new(input.username);
    let keys = match realm {
        Realm::Customer => Keys::customer(&username, ip),
        Realm::Staff => Keys::staff(&username, ip),
    };
    let now = state.clock.now();
    // Count this attempt in advance on both keys, or refuse it while either is in its delay.
    let attempt = model::begin(&state.pool, &keys, device.hash().as_deref(), now).await?;
    let Attempt::Allowed {
        account_delay,
        address_delay,
        past_lock,
    } = attempt
    else {
        let wait_secs = model::wait_secs(&state.pool, &keys, now).await?.unwrap_or(1);
        tracing::warn!(?realm, %username, %ip, wait_secs, "sign-in refused: too many failures");
        return Err(SignInError::TooMany { wait_secs });
    };
    if past_lock {
        tracing::info!(?realm, %username, %ip, "locked account tried from a browser or address it signed in from before");
    }

    let found = Account::find(state, realm, &username).await?;
    // Against the dummy hash when there is no account: the same time either way.
    let verified = state
        .hasher
        .verify(found.as_ref().map(Account::hash), input.password)
        .await?;
    let Some(account) = found.as_ref().filter(|a| verified && a.may_sign_in()) else {
        // Already counted by `begin`.
        tracing::warn!(?realm, %username, %ip, "failed sign-in");
        if address_delay > 0 {
            tracing::warn!(%ip, address_delay, "sign-ins from this address locked");
        }
        // The password is right, so the account may not sign in: it is cancelled.
        let cancelled = verified && found.is_some();
        record_failure(state, realm, &username, found.as_ref(), cancelled, ip, account_delay).await?;
        if cancelled {
            return Err(SignInError::Cancelled(state.web.cancelled_message()));
        }
        return Err(SignInError::Failed);
    };

    let (device_hash, device_cookie) = device.after_sign_in(&state.web);
    model::succeeded(&state.pool, &keys, attempt, &device_hash, now).await?;
    let (proven, owed) = match account {
        Account::Customer(c) => (
            Proven::Customer {
                id: c.id,
                auth_version: c.auth_version,
            },
            FactorAccount::Customer(c.id),
        ),
        Account::Staff(staff, _) => (Proven::Staff(staff.clone()), FactorAccount::Staff(staff.id)),
    };
    if factor::second_factor(&state.pool, owed).await?.any() {
        let pending = Pending {
            account: owed.into(),
            started_at: state.clock.unix(),
            next: crate::web::local_path(input.next).unwrap_or("").to_owned(),
            device_cookie: device_cookie.to_str().unwrap_or_default().to_owned(),
        };
        session::set_pending(session, pending).await?;
        return Ok(Step::SecondFactor);
    }
    Ok(Step::SignedIn(
        complete(state, session, proven, ip, device_cookie, "").await?,
    ))
}

/// Why the second step did not sign in.
#[derive(Debug)]
pub enum SecondStepError {
    /// No half-done sign-in in this session, or it took longer than [`PENDING_SECS`] (then
    /// it is forgotten): back to the password.
    NoPending {
        expired: bool,
    },
    /// A wrong, used or unreadable code, or too many of them: the form's message, and
    /// whether it is the throttle's (429).
    Refused {
        message: String,
        throttled: bool,
    },
    Internal(AppError),
}

impl From<AppError> for SecondStepError {
    fn from(err: AppError) -> Self {
        Self::Internal(err)
    }
}

impl From<sqlx::Error> for SecondStepError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

/// A sign-in completed by its second step: where to go, and what to tell.
#[derive(Debug)]
pub struct SecondStepDone {
    pub signed_in: SignedIn,
    pub next: String,
    pub proof: Proof,
}

/// The sign-in's second step: a TOTP code or a recovery code for the account whose
/// password this session passed (see the module's comment). On success the session is
/// signed in under a new id, its second factor proven now; the record says how.
pub async fn second_step(
    state: &AppState,
    session: &Session,
    ip: IpAddr,
    code: &str,
) -> Result<SecondStepDone, SecondStepError> {
    let Some(pending) = session::pending(session).await? else {
        return Err(SecondStepError::NoPending { expired: false });
    };
    let now = state.clock.now();
    if now.unix_timestamp() - pending.started_at > PENDING_SECS {
        session::clear_pending(session).await?;
        return Err(SecondStepError::NoPending { expired: true });
    }
    let address = format!("2fa:{}", model::address_key(ip));
    if model::reserve(&state.pool, &address, now).await?.is_none() {
        let keys = Keys {
            account: address.clone(),
            address: address.clone(),
        };
        let wait_secs = model::wait_secs(&state.pool, &keys, now).await?.unwrap_or(1);
        tracing::warn!(%ip, wait_secs, "second step refused: too many failures");
        return Err(SecondStepError::Refused {
            message: format!("Too many wrong codes. Wait {wait_secs} seconds, then try again."),
            throttled: true,
        });
    }
    let (actor, proven) = match pending.account {
        PendingAccount::Customer(id) => {
            let customer = identity::customer::by_id(&state.pool, id).await?;
            let Some(customer) =
                customer.filter(|c| c.status != identity::customer::CustomerStatus::Cancelled.as_str())
            else {
                session::clear_pending(session).await?;
                return Err(SecondStepError::NoPending { expired: false });
            };
            let who = Who::new(id, BY_CUSTOMER, Some(ip));
            let proven = Proven::Customer {
                id,
                auth_version: customer.auth_version,
            };
            (Actor::Customer(who), proven)
        }
        PendingAccount::Staff(id) => {
            let Some(staff) = identity::staff::by_id(&state.pool, id).await?.filter(|s| !s.disabled) else {
                session::clear_pending(session).await?;
                return Err(SecondStepError::NoPending { expired: false });
            };
            let actor = Actor::Staff {
                id,
                username: UsernameKey::new(&staff.username),
                ip: Some(ip),
            };
            (actor, Proven::Staff(staff))
        }
    };
    let proof = match factor::check(&state.pool, &state.sealer, &actor, code, now).await {
        Ok(proof) => proof,
        Err(err @ (SecurityError::WrongCode | SecurityError::TooMany { .. })) => {
            tracing::warn!(%ip, account = ?pending.account, "wrong second-factor code");
            let throttled = matches!(err, SecurityError::TooMany { .. });
            return Err(SecondStepError::Refused {
                message: err.field_message().unwrap_or_default(),
                throttled,
            });
        }
        Err(SecurityError::NotEnrolled) => {
            // Turned off (or reset) since the password step: sign in again.
            session::clear_pending(session).await?;
            return Err(SecondStepError::NoPending { expired: false });
        }
        Err(err) => return Err(SecondStepError::Internal(crate::security::into_app(err))),
    };
    model::release(&state.pool, &address).await?;
    let device_cookie = HeaderValue::from_str(&pending.device_cookie).map_err(|_| {
        AppError::Internal(anyhow::anyhow!(
            "the pending sign-in's device cookie is not a header value"
        ))
    })?;
    let signed_in = complete(state, session, proven, ip, device_cookie, &proof.how())
        .await
        .map_err(|err| match err {
            SignInError::Internal(err) => err,
            other => AppError::Internal(anyhow::anyhow!("completing a sign-in failed: {other:?}")),
        })?;
    session::second_factor_proven(session, now.unix_timestamp()).await?;
    Ok(SecondStepDone {
        signed_in,
        next: pending.next,
        proof,
    })
}

/// An account that has proven enough to be signed in: by its password, by its password and
/// a second factor, or by a passkey alone.
#[derive(Debug, Clone)]
pub enum Proven {
    Customer { id: CustomerId, auth_version: i64 },
    Staff(Staff),
}

/// The last step of every sign-in, however it was proven: a new session id (a half-done
/// sign-in is forgotten), the principal with the account's auth version, and the record in
/// the customer's Activity or the staff log; `how` is the record's detail (empty for a
/// password alone). `device_cookie` is the browser's device cookie from
/// [`Device::after_sign_in`], made once per sign-in (its hash is what the throttle knows the
/// browser by), which the answer must set.
pub async fn complete(
    state: &AppState,
    session: &Session,
    proven: Proven,
    ip: IpAddr,
    device_cookie: HeaderValue,
    how: &str,
) -> Result<SignedIn, SignInError> {
    let now = state.clock.unix();
    let principal = match proven {
        Proven::Customer { id, auth_version } => {
            session::sign_in(session, id, auth_version, now).await?;
            let who = Who::new(id, BY_CUSTOMER, Some(ip));
            audit::record(&state.pool, &who, "sign_in", how).await?;
            Principal::Customer(id)
        }
        Proven::Staff(staff) => {
            session::staff_sign_in(session, staff.id, staff.auth_version, now).await?;
            let username = UsernameKey::new(&staff.username);
            audit::staff::record(
                &state.pool,
                Some(staff.id),
                &username,
                StaffEvent::SignIn,
                how,
                Some(ip),
            )
            .await?;
            tracing::info!(staff = staff.username, %ip, "staff signed in");
            Principal::Staff(staff)
        }
    };
    Ok(SignedIn {
        principal,
        device_cookie,
    })
}

/// Records a failed attempt, and the lock it starts (`account_delay`, in seconds, when the
/// failures reached the threshold): in the customer's Activity when the name is a
/// customer's (naming no actor but "anonymous": it may not be them), in the staff log for
/// the staff form, whoever the name is.
async fn record_failure(
    state: &AppState,
    realm: Realm,
    username: &UsernameKey,
    found: Option<&Account>,
    cancelled: bool,
    ip: IpAddr,
    account_delay: i64,
) -> sqlx::Result<()> {
    let lock = (account_delay > 0).then(|| {
        tracing::warn!(?realm, %username, account_delay, "sign-in locked");
        format!("further sign-ins refused for {account_delay} s after repeated failures")
    });
    match realm {
        Realm::Customer => {
            // A name that is no customer's has no Activity: the process log has it.
            let Some(Account::Customer(c)) = found else {
                return Ok(());
            };
            let who = Who::new(c.id, BY_ANONYMOUS, Some(ip));
            let detail = if cancelled {
                "the account is cancelled"
            } else {
                "wrong password"
            };
            audit::record(&state.pool, &who, "sign_in_failed", detail).await?;
            if let Some(detail) = &lock {
                audit::record(&state.pool, &who, "sign_in_locked", detail).await?;
            }
        }
        Realm::Staff => {
            let id = match found {
                Some(Account::Staff(staff, _)) => Some(staff.id),
                _ => None,
            };
            let detail = if id.is_some() {
                "wrong password"
            } else {
                "unknown or disabled name"
            };
            audit::staff::record(&state.pool, id, username, StaffEvent::SignInFailed, detail, Some(ip)).await?;
            if let Some(detail) = &lock {
                audit::staff::record(&state.pool, id, username, StaffEvent::SignInLocked, detail, Some(ip)).await?;
            }
        }
    }
    Ok(())
}
