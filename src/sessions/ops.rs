//! Signing sessions out from the sessions list, for customers and staff: one session, or
//! every one but the caller's. Either takes effect at the session's next request (see
//! `identity::sessions`), and is recorded: in the customer's Activity, or the staff log.

use std::net::IpAddr;

use crate::audit::staff::StaffEvent;
use crate::audit::{self, BY_CUSTOMER};
use crate::identity::sessions::{self, Owner, SessionId};
use crate::identity::{Staff, UsernameKey, Who};
use crate::web::AppError;

/// Whose list it is, and which session is asking.
pub struct Me<'a> {
    pub owner: Owner,
    /// The asking session's record (`None` before its first record is made).
    pub current: Option<SessionId>,
    /// A staff member's, for the staff log.
    pub staff: Option<&'a Staff>,
    pub ip: IpAddr,
}

/// Signs out the session `id`: not found unless it is one of the owner's; refused for the
/// asking session itself ("Sign out" is for that).
pub async fn sign_out(db: &sqlx::PgPool, me: &Me<'_>, id: SessionId) -> Result<(), AppError> {
    if me.current == Some(id) {
        return Err(AppError::Conflict(
            "This is the session you are using: sign out with \"Sign out\".".into(),
        ));
    }
    let mut tx = db.begin().await?;
    if !sessions::end(&mut *tx, me.owner, id).await? {
        return Err(AppError::NotFound);
    }
    record(&mut tx, me, &format!("session {id} signed out from the sessions list")).await?;
    tx.commit().await?;
    Ok(())
}

/// Signs out every session of the owner's but the asking one; the new auth version, for the
/// asking session to renew with.
pub async fn sign_out_others(db: &sqlx::PgPool, me: &Me<'_>) -> Result<i64, AppError> {
    let Some(current) = me.current else {
        return Err(AppError::Conflict(
            "This session is not listed yet; reload the page.".into(),
        ));
    };
    let mut tx = db.begin().await?;
    let version = sessions::sign_out_others(&mut tx, me.owner, current).await?;
    record(&mut tx, me, "every other session signed out").await?;
    tx.commit().await?;
    Ok(version)
}

async fn record(tx: &mut sqlx::PgConnection, me: &Me<'_>, detail: &str) -> Result<(), AppError> {
    match (me.owner, me.staff) {
        (Owner::Customer(customer), _) => {
            let who = Who::new(customer, BY_CUSTOMER, Some(me.ip));
            audit::record(&mut *tx, &who, "sessions_signed_out", detail).await?;
        }
        (Owner::Staff(id), Some(staff)) => {
            let name = UsernameKey::new(&staff.username);
            audit::staff::record(&mut *tx, Some(id), &name, StaffEvent::SignOut, detail, Some(me.ip)).await?;
        }
        (Owner::Staff(_), None) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "a staff list without its staff member"
            )));
        }
    }
    Ok(())
}
