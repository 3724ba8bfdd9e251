//! The staff's own audit log (`staff_activity`): staff sign-ins, their failures and locks,
//! sign-outs, and the sites they restored, with the name as typed (canonical form), the
//! staff member when the name is one, and the client address. What staff do to a
//! customer's account is in that customer's Activity (see [`crate::audit::record`]); a
//! restore is in both.

use std::net::IpAddr;

use sqlx::PgExecutor;
use sqlx::types::ipnetwork::IpNetwork;
use time::OffsetDateTime;

use crate::identity::UsernameKey;

/// What happened (the `staff_activity.kind` column, checked in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum StaffEvent {
    SignIn,
    SignInFailed,
    SignInLocked,
    SignOut,
    /// A customer's deleted site restored (detail: which customer and site).
    SiteRestored,
    /// The staff member's second factor turned on.
    SecondFactorEnrolled,
    /// An operator removed the staff member's second factor (`berth staff reset-2fa`).
    SecondFactorReset,
}

#[derive(Debug, Clone)]
pub struct StaffEntry {
    pub at: OffsetDateTime,
    pub staff_id: Option<i64>,
    pub username: String,
    pub kind: StaffEvent,
    pub detail: String,
    pub address: Option<IpAddr>,
}

/// Writes one entry of the staff log: `staff` is the staff member the name belongs to, if
/// it does.
pub async fn record(
    db: impl PgExecutor<'_>,
    staff: Option<i64>,
    username: &UsernameKey,
    kind: StaffEvent,
    detail: &str,
    address: Option<IpAddr>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into staff_activity (staff_id, username, kind, detail, address) values ($1, $2, $3, $4, $5)",
        staff,
        username.as_str(),
        kind as StaffEvent,
        detail,
        address.map(IpNetwork::from),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The newest `limit` entries, newest first.
pub async fn recent(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<StaffEntry>> {
    sqlx::query_as!(
        StaffEntry,
        r#"select at, staff_id, username, kind as "kind: StaffEvent", detail, address as "address: IpAddr"
         from staff_activity order by at desc, id desc limit $1"#,
        limit,
    )
    .fetch_all(db)
    .await
}
