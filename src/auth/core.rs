//! The one sign-in of customers and staff (issue 17: the two copies had drifted). Both
//! forms call [`sign_in`], which decides everything: the throttle per account and per
//! client address (counted before any password is compared, passed by a browser or address
//! the account signed in from before), the wait the refused are told, a password compared
//! against the Argon2 hash or a dummy one (an unknown name costs the same time), one message
//! for every failure, a new session id and the account's auth version in the session, and
//! the record of every success, failure and lock: a customer's in their Activity, a staff
//! member's in the staff log (`audit::staff`), where a name that is no one's is recorded too.
//! The forms only render what it answers.

use std::net::IpAddr;

use axum::http::{HeaderValue, StatusCode};
use tower_sessions::Session;

use crate::audit::staff::StaffEvent;
use crate::audit::{self, BY_ANONYMOUS, BY_CUSTOMER};
use crate::auth::model::{self, Attempt, Keys};
use crate::identity::customer::Credentials;
use crate::identity::{self, CustomerId, Staff, UsernameKey, Who};
use crate::state::AppState;
use crate::web::{AppError, Device, session};

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
    /// An unknown name, a wrong password, or an account that may not sign in: one answer.
    Failed,
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
) -> Result<SignedIn, SignInError> {
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
        record_failure(state, realm, &username, found.as_ref(), ip, account_delay).await?;
        return Err(SignInError::Failed);
    };

    let (device_hash, device_cookie) = device.after_sign_in(&state.web);
    model::succeeded(&state.pool, &keys, attempt, &device_hash, now).await?;
    let proven = match account {
        Account::Customer(c) => Proven::Customer {
            id: c.id,
            auth_version: c.auth_version,
        },
        Account::Staff(staff, _) => Proven::Staff(staff.clone()),
    };
    complete(state, session, proven, ip, device_cookie, "").await
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
            audit::record(&state.pool, &who, "sign_in_failed", "wrong password").await?;
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
