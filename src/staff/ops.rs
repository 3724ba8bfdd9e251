//! The staff console's operations on a customer: the only place they decide anything. Each
//! takes the [`Who`] of the customer acted on (the staff member as actor, their address),
//! and records itself in that customer's Activity; the page handlers in `mod.rs` render.

use sqlx::PgPool;

use crate::account::model::{self as account_model, Guard};
use crate::audit;
use crate::db::Tx;
use crate::identity::Who;
use crate::password::Hasher;
use crate::staff::model;

#[derive(Debug)]
pub enum StaffError {
    /// No such customer, or no such pending request of theirs.
    NotFound,
    /// A role that is not in the catalogue.
    NoSuchRole,
    Db(sqlx::Error),
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for StaffError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl From<anyhow::Error> for StaffError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

/// Grants (`granted`) or revokes a role of the catalogue; recorded when anything changed,
/// which it returns.
pub async fn set_role(db: &PgPool, who: &Who, role: &str, granted: bool) -> Result<bool, StaffError> {
    model::customer(db, who.customer).await?.ok_or(StaffError::NotFound)?;
    let mut tx = Tx::begin(db).await?;
    let changed = model::set_role(&mut tx, who.customer, role, granted)
        .await?
        .ok_or(StaffError::NoSuchRole)?;
    if changed {
        let kind = if granted { "role_granted" } else { "role_revoked" };
        audit::record(&mut *tx, who, kind, role).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Handles a pending cancellation request: the account is cancelled, and its API keys stop
/// working once this has committed (the key cache is cleared after the commit: cleared
/// before, a call in between would keep the keys working).
pub async fn complete_cancellation(db: &PgPool, who: &Who, request: i64) -> Result<(), StaffError> {
    let mut tx = Tx::begin(db).await?;
    if !model::complete_cancellation(&mut tx, who.customer, request).await? {
        return Err(StaffError::NotFound);
    }
    audit::record(&mut *tx, who, "cancellation_completed", "").await?;
    tx.after_commit(crate::identity::key::forget_verified);
    tx.commit().await?;
    Ok(())
}

/// What a PIN check found; the staff member learns nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// Too many misses lately: nothing was compared.
    Locked,
    /// The customer set no PIN.
    NoPin,
    Match,
    NoMatch,
}

/// Checks the PIN a caller gives. Five misses in 15 minutes lock checks for the customer;
/// every check is in the Activity. The attempt is counted before the PIN is compared, in
/// one statement, so parallel checks cannot all pass a count taken before any of them
/// missed; a locked check compares nothing.
pub async fn check_pin(db: &PgPool, hasher: &Hasher, who: &Who, pin: &str) -> Result<PinCheck, StaffError> {
    let hash = model::pin_hash(db, who.customer).await?.ok_or(StaffError::NotFound)?;
    let (check, detail) = if account_model::count_attempt(db, Guard::PinCheck, who.customer)
        .await?
        .is_none()
    {
        (PinCheck::Locked, "")
    } else if hash.is_none() {
        (PinCheck::NoPin, "no PIN set")
    } else if hasher.verify(hash.as_deref(), pin.trim()).await? {
        account_model::give_back(db, Guard::PinCheck, who.customer).await?;
        (PinCheck::Match, "")
    } else {
        (PinCheck::NoMatch, "")
    };
    let kind = match check {
        PinCheck::Locked => "pin_check_locked",
        PinCheck::NoPin | PinCheck::NoMatch => "pin_check_failed",
        PinCheck::Match => "pin_check_passed",
    };
    audit::record(db, who, kind, detail).await?;
    Ok(check)
}
