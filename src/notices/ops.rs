//! The notices' operations, shared by the `/notices` page and the Customer API: which
//! notices a customer sees since when, and acknowledging one.

use sqlx::PgPool;
use time::OffsetDateTime;

use super::model::{self, Notice, NoticeField, NoticeId, UnixTime};
use crate::identity::{CustomerId, Who};
use crate::settings::model::{Preferences, bounded};
use crate::validation::Invalid;

/// Why a notices operation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("invalid notice input")]
    Invalid(Invalid<NoticeField>),
    /// The customer may not see such a notice.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<Invalid<NoticeField>> for NoticeError {
    fn from(invalid: Invalid<NoticeField>) -> Self {
        Self::Invalid(invalid)
    }
}

/// Since when notices are listed: a Unix time (the API's integer), or what a form's field
/// holds (digits: a Unix time; else a local date and time in the customer's zone; empty:
/// from the start).
#[derive(Clone, Copy)]
pub enum Since<'a> {
    Unix(Option<i64>),
    Typed(&'a str, &'a Preferences),
}

impl Since<'_> {
    /// The instant, or `None` for every notice.
    pub fn parse(self) -> Result<Option<OffsetDateTime>, Invalid<NoticeField>> {
        match self {
            Self::Unix(seconds) => seconds
                .map(UnixTime::from_seconds)
                .transpose()
                .map(|at| at.map(UnixTime::at))
                .map_err(|message| Invalid::one(NoticeField::Since, message)),
            Self::Typed(raw, prefs) => typed(raw, prefs).map_err(|message| Invalid::one(NoticeField::Since, message)),
        }
    }
}

/// `since` as a Unix time (digits) or a local date and time in the customer's zone.
fn typed(raw: &str, prefs: &Preferences) -> Result<Option<OffsetDateTime>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = "Enter a date and time, such as 2026-11-27T09:00, or a Unix time.";
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: i64 = raw.parse().map_err(|_| bad)?;
        return UnixTime::from_seconds(seconds).map(|t| Some(t.at())).map_err(|_| bad);
    }
    let at = prefs.parse_local(raw).ok_or(bad)?;
    bounded(at).map(Some)
}

/// The customer's notices and the global ones, newest first, created or updated since
/// `since`: `limit` after skipping `offset`.
pub async fn list(
    db: &PgPool,
    customer: CustomerId,
    since: Since<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Notice>, NoticeError> {
    let since = since.parse()?;
    Ok(model::list(db, customer, since, limit, offset).await?)
}

/// Acknowledges a notice the customer sees (a global one only for them); again changes
/// nothing.
pub async fn acknowledge(db: &PgPool, who: &Who, id: NoticeId) -> Result<(), NoticeError> {
    if model::acknowledge(db, who.customer, id).await? {
        Ok(())
    } else {
        Err(NoticeError::NotFound)
    }
}
