//! The account's operations: display name, email, password, PIN, and the cancellation
//! request. The one place the account decides anything; the pages (`mod.rs`) and the API
//! (`api.rs`) only translate their input and these errors.

use crate::account::model::{self, Cancellation, Guard, Reason};
use crate::audit;
use crate::db::Tx;
use crate::identity::customer::DisplayName;
use crate::identity::{self, CustomerId, Email, Who};
use crate::password::{Hasher, NewPassword, Pin};
use crate::recovery::{self, ops::Links};
use crate::settings::model::{self as settings, Preferences};
use crate::validation::{Field, Invalid, Names};
use crate::web::AppError;

/// The account's fields, by their form and seed (API argument) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountField {
    DisplayName,
    Email,
    CurrentPassword,
    Password,
    PasswordConfirm,
    Pin,
    Reason,
}

impl Field for AccountField {
    fn form(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::Email => "email",
            Self::CurrentPassword => "current_password",
            Self::Password => "password",
            Self::PasswordConfirm => "password_confirm",
            Self::Pin => "pin",
            Self::Reason => "reason",
        }
    }

    fn seed(self) -> &'static str {
        match self {
            Self::DisplayName => "displayName",
            Self::Email => "email",
            Self::CurrentPassword => "currentPassword",
            Self::Password => "password",
            Self::PasswordConfirm => "passwordConfirm",
            Self::Pin => "pin",
            Self::Reason => "reason",
        }
    }
}

/// Why an account operation did nothing.
#[derive(Debug)]
pub enum AccountError {
    Invalid(Invalid<AccountField>),
    /// A customer's API key may not change sign-in details unless the customer allowed it.
    Forbidden(&'static str),
    /// A cancellation request is (or is not) pending.
    Conflict(&'static str),
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for AccountError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<anyhow::Error> for AccountError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

impl From<Invalid<AccountField>> for AccountError {
    fn from(invalid: Invalid<AccountField>) -> Self {
        Self::Invalid(invalid)
    }
}

impl AccountError {
    /// The error as the page (`Names::Form`) or the API (`Names::Seed`) tells it.
    pub fn into_app(self, names: Names) -> AppError {
        match self {
            Self::Invalid(invalid) => AppError::Invalid(invalid.errors(names)),
            Self::Forbidden(message) => AppError::Forbidden(message),
            Self::Conflict(message) => AppError::Conflict(message.into()),
            Self::Internal(err) => AppError::Internal(err),
        }
    }
}

/// What vouches for a change of sign-in details (email, password, PIN).
#[derive(Debug, Clone)]
pub enum Proof {
    /// The account page: the current password, typed again.
    CurrentPassword(String),
    /// An API key: allowed for an internal key, and for a customer's key when the customer
    /// turned on "API keys may change sign-in details". The change also sends a security
    /// notice to the account's (previous) email address.
    ApiKey { internal: bool },
}

/// What the current-password field says while its guard is locked.
const LOCKED: &str = "Too many wrong passwords: these changes are locked for 15 minutes.";

/// Checks `proof` for a change of sign-in details, adding a wrong or missing current
/// password to `invalid`; `true` when a security notice must follow the change.
async fn check_proof(
    db: &sqlx::PgPool,
    hasher: &Hasher,
    who: &Who,
    proof: &Proof,
    invalid: &mut Invalid<AccountField>,
) -> Result<bool, AccountError> {
    match proof {
        Proof::ApiKey { internal: true } => Ok(true),
        Proof::ApiKey { internal: false } => {
            let values = settings::load(db, who.customer).await?;
            if values.get(settings::SIGN_IN_BY_API) == "on" {
                return Ok(true);
            }
            Err(AccountError::Forbidden(
                "API keys may not change this account's password, email or PIN; the customer can allow it in \
                 Settings (\"API keys may change sign-in details\")",
            ))
        }
        Proof::CurrentPassword(given) => {
            check_current_password(db, hasher, who, given, invalid).await?;
            Ok(false)
        }
    }
}

/// Checks the current password; a wrong one is a message on `invalid`.
async fn check_current_password(
    db: &sqlx::PgPool,
    hasher: &Hasher,
    who: &Who,
    given: &str,
    invalid: &mut Invalid<AccountField>,
) -> Result<(), AccountError> {
    if given.is_empty() {
        invalid.add(AccountField::CurrentPassword, "Enter your current password.");
        return Ok(());
    }
    let ip = who.address.map(|a| a.to_string()).unwrap_or_default();
    // Wrong guesses are counted before the comparison (one statement, so parallel guesses
    // cannot all pass), so a borrowed session cannot be used to guess the password: five in
    // 15 minutes lock these forms for 15 minutes. Each is recorded in Activity, and the lock.
    let guard = Guard::Reauth;
    let Some(count) = model::count_attempt(db, guard, who.customer).await? else {
        tracing::warn!(customer = %who.customer, %ip, "current password not checked: locked");
        invalid.add(AccountField::CurrentPassword, LOCKED);
        return Ok(());
    };
    let hash = identity::customer::password_hash(db, who.customer).await?;
    if hasher.verify(Some(&hash), given).await? {
        model::forget(db, guard, who.customer).await?;
    } else {
        tracing::warn!(customer = %who.customer, %ip, "wrong current password");
        let mut tx = db.begin().await?;
        audit::record(&mut *tx, who, "password_check_failed", "").await?;
        if count >= Guard::LIMIT {
            let detail = format!(
                "{} wrong current passwords: email, password and PIN changes are locked for {} minutes",
                Guard::LIMIT,
                Guard::WINDOW_MINUTES
            );
            audit::record(&mut *tx, who, "password_check_locked", &detail).await?;
        }
        tx.commit().await?;
        invalid.add(AccountField::CurrentPassword, "That is not your current password.");
    }
    Ok(())
}

/// Sets the display name (an empty one clears it).
pub async fn change_display_name(db: &sqlx::PgPool, who: &Who, raw: &str) -> Result<DisplayName, AccountError> {
    let name = raw
        .parse::<DisplayName>()
        .map_err(|message| Invalid::one(AccountField::DisplayName, message))?;
    let mut tx = db.begin().await?;
    model::set_display_name(&mut *tx, who.customer, &name).await?;
    audit::record(&mut *tx, who, "display_name_changed", name.as_str()).await?;
    tx.commit().await?;
    Ok(name)
}

/// Sets the email address, with its Activity entry (`email_changed`, from → to), and
/// emails the previous address a link to undo the change within 72 hours (`links`).
pub async fn change_email(
    db: &sqlx::PgPool,
    hasher: &Hasher,
    links: &Links,
    who: &Who,
    proof: &Proof,
    raw: &str,
) -> Result<Email, AccountError> {
    let mut invalid = Invalid::default();
    let email = invalid.check(AccountField::Email, raw.parse::<Email>());
    let notify = check_proof(db, hasher, who, proof, &mut invalid).await?;
    invalid.into_result()?;
    let Some(email) = email else {
        return Err(AccountError::Internal(anyhow::anyhow!("email checked without a value")));
    };
    let mut tx = db.begin().await?;
    let previous = model::set_email(&mut *tx, who.customer, &email).await?;
    let detail = format!("from {previous} to {}", email.as_str());
    audit::record(&mut *tx, who, "email_changed", &detail).await?;
    if notify {
        let what = format!("email address was changed from {previous} to {}", email.as_str());
        sign_in_change_notice(&mut tx, who, &previous, &what).await?;
    }
    let undo = recovery::ops::offer_undo(&mut tx, links, who.customer, &previous, email.as_str()).await?;
    tx.commit().await?;
    undo.send();
    Ok(email)
}

/// What the password change tells about sessions: the page keeps its own (renewed).
const OTHER_SESSIONS_ENDED: &str = "other sessions were signed out";
const EVERY_SESSION_ENDED: &str = "every session was signed out";

/// Sets the password, which signs out every session of the customer's but one the caller
/// renews (the page's own), with its Activity entry (`password_changed`). `confirm`, when
/// the form asks for the new password twice, must repeat it. Returns the new auth version.
pub async fn change_password(
    db: &sqlx::PgPool,
    hasher: &Hasher,
    who: &Who,
    proof: &Proof,
    password: &str,
    confirm: Option<&str>,
) -> Result<i64, AccountError> {
    let mut invalid = Invalid::default();
    let new = invalid.check(AccountField::Password, NewPassword::parse(password));
    if new.is_some() && confirm.is_some_and(|c| c != password) {
        invalid.add(AccountField::PasswordConfirm, "The two new passwords differ.");
    }
    let notify = check_proof(db, hasher, who, proof, &mut invalid).await?;
    invalid.into_result()?;
    let Some(new) = new else {
        return Err(AccountError::Internal(anyhow::anyhow!(
            "password checked without a value"
        )));
    };
    let hash = hasher.hash(new.as_str()).await?;
    let detail = match proof {
        Proof::CurrentPassword(_) => OTHER_SESSIONS_ENDED,
        Proof::ApiKey { .. } => EVERY_SESSION_ENDED,
    };
    let mut tx = db.begin().await?;
    let version = model::set_password(&mut *tx, who.customer, &hash).await?;
    audit::record(&mut *tx, who, "password_changed", detail).await?;
    if notify {
        let email = model::email(&mut *tx, who.customer).await?;
        sign_in_change_notice(&mut tx, who, &email, "password was changed").await?;
    }
    tx.commit().await?;
    Ok(version)
}

/// Sets the PIN, with its Activity entry (`pin_changed`).
pub async fn change_pin(
    db: &sqlx::PgPool,
    hasher: &Hasher,
    who: &Who,
    proof: &Proof,
    raw: &str,
) -> Result<(), AccountError> {
    let mut invalid = Invalid::default();
    let pin = invalid.check(AccountField::Pin, Pin::parse(raw));
    let notify = check_proof(db, hasher, who, proof, &mut invalid).await?;
    invalid.into_result()?;
    let Some(pin) = pin else {
        return Err(AccountError::Internal(anyhow::anyhow!("PIN checked without a value")));
    };
    let hash = hasher.hash(pin.as_str()).await?;
    let mut tx = db.begin().await?;
    model::set_pin(&mut *tx, who.customer, &hash).await?;
    audit::record(&mut *tx, who, "pin_changed", "").await?;
    if notify {
        let email = model::email(&mut *tx, who.customer).await?;
        sign_in_change_notice(&mut tx, who, &email, "PIN was changed").await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A change of sign-in details made over the API: a security notice to the customer (on
/// `/notices`, and to every contact method subscribed to security notices) and an email to
/// `previous_email`, the address the account had before, all in the change's transaction.
/// Whoever took the key (and maybe the new address) cannot keep the owner from hearing.
async fn sign_in_change_notice(
    tx: &mut sqlx::PgConnection,
    who: &Who,
    previous_email: &str,
    what: &str,
) -> Result<(), AccountError> {
    let at = Preferences::new(None, None).format(time::OffsetDateTime::now_utc());
    let actor = &who.actor;
    let ip = who.address.map(|a| a.to_string()).unwrap_or_default();
    let draft = crate::notices::model::Draft {
        notice_type: "security".to_owned(),
        severity: crate::notices::model::Severity::Warning,
        title: "Your sign-in details were changed through the API".to_owned(),
        body: format!(
            "Your {what}, by {actor} from {ip}, at {at} UTC.\n\n\
             If this was not you: sign in, change your password, revoke that key on the API keys page, \
             and turn off \"API keys may change sign-in details\" in Settings. Then contact support."
        ),
    };
    crate::notices::model::publish_security(tx, who.customer, &draft, previous_email)
        .await
        .map_err(|err| AccountError::Internal(anyhow::Error::from(err)))?;
    Ok(())
}

/// Opens the customer's cancellation request, with its Activity entry
/// (`cancellation_requested`, the reason); a conflict when one is already pending.
pub async fn request_cancellation(db: &sqlx::PgPool, who: &Who, raw: &str) -> Result<Cancellation, AccountError> {
    let reason = raw
        .parse::<Reason>()
        .map_err(|message| Invalid::one(AccountField::Reason, message))?;
    let mut tx = Tx::begin(db).await?;
    let Some(request) = model::request_cancellation(&mut tx, who.customer, &reason).await? else {
        return Err(AccountError::Conflict("A cancellation request is already pending."));
    };
    audit::record(&mut *tx, who, "cancellation_requested", reason.as_str()).await?;
    tx.commit().await?;
    Ok(request)
}

/// Withdraws the pending cancellation request; a conflict when there is none.
pub async fn withdraw_cancellation(db: &sqlx::PgPool, who: &Who) -> Result<(), AccountError> {
    let mut tx = Tx::begin(db).await?;
    if !model::withdraw_cancellation(&mut tx, who.customer).await? {
        return Err(AccountError::Conflict(
            "There is no pending cancellation request to withdraw.",
        ));
    }
    audit::record(&mut *tx, who, "cancellation_withdrawn", "").await?;
    tx.commit().await?;
    Ok(())
}

/// The customer's username (getUsername).
pub async fn username(db: &sqlx::PgPool, customer: CustomerId) -> Result<Option<String>, AccountError> {
    Ok(identity::customer::by_id(db, customer).await?.map(|c| c.username))
}
