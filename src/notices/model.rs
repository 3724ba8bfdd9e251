//! Notices: publishing one (with its deliveries, in the same transaction), the notices a
//! customer sees (their own and the global ones), acknowledging, and each notice's
//! deliveries. Every query of what a customer sees filters by the customer.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::delivery::model::DeliveryStatus;
use crate::identity::CustomerId;
use crate::validation::{Field, FieldErrors, Invalid, Names};

crate::id_type!(NoticeId);

/// A Unix time (Types.UnixTime): whole seconds since 1970-01-01 00:00 UTC, not negative
/// and before the year 10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnixTime(OffsetDateTime);

impl UnixTime {
    pub fn from_seconds(seconds: i64) -> Result<Self, &'static str> {
        if seconds < 0 {
            return Err("A Unix time is a number of seconds since 1970-01-01 00:00 UTC, not negative.");
        }
        OffsetDateTime::from_unix_timestamp(seconds)
            .map(Self)
            .map_err(|_| "This Unix time is too far in the future.")
    }

    pub fn at(self) -> OffsetDateTime {
        self.0
    }
}

/// How urgent a notice is (`notices.severity`, a subscription's `min_severity`), least
/// first: the order compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Info, Self::Warning, Self::Critical];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or("Choose info, warning or critical.")
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The severities' names, least first, for the forms' choices.
pub const SEVERITIES: [&str; 3] = [
    Severity::Info.as_str(),
    Severity::Warning.as_str(),
    Severity::Critical.as_str(),
];

/// The catalogue of notice types (billing, maintenance, outage, security, abuse).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeType {
    pub id: String,
    pub label: String,
}

pub async fn types(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<NoticeType>> {
    sqlx::query_as!(NoticeType, "select id, label from notice_types order by sort")
        .fetch_all(db)
        .await
}

/// A field of a notice as published (by staff, or `berth notice publish`, whose flags are
/// the form's names) and of the listing's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeField {
    Type,
    Severity,
    Title,
    Body,
    Since,
}

impl Field for NoticeField {
    fn form(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Severity => "severity",
            Self::Title => "title",
            Self::Body => "body",
            Self::Since => "since",
        }
    }

    fn seed(self) -> &'static str {
        self.form()
    }
}

/// A notice as published: checked against the catalogues, with a title of 1 to 200
/// characters and a plain-text body of at most 20,000.
#[derive(Debug, Clone)]
pub struct Draft {
    pub notice_type: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
}

impl Draft {
    /// Every problem, by field.
    pub fn check(
        types: &[NoticeType],
        notice_type: &str,
        severity: &str,
        title: &str,
        body: &str,
    ) -> Result<Self, Invalid<NoticeField>> {
        let mut invalid = Invalid::default();
        let notice_type = notice_type.trim();
        if !types.iter().any(|t| t.id == notice_type) {
            let ids: Vec<&str> = types.iter().map(|t| t.id.as_str()).collect();
            invalid.add(NoticeField::Type, format!("Choose one of: {}.", ids.join(", ")));
        }
        let severity = invalid.check(NoticeField::Severity, severity.parse::<Severity>());
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
            invalid.add(NoticeField::Title, "A title is 1 to 200 characters on one line.");
        }
        let body = body.trim_end().replace("\r\n", "\n");
        if body.chars().count() > 20_000 || body.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            invalid.add(NoticeField::Body, "A body is at most 20,000 characters of plain text.");
        }
        invalid.into_result()?;
        Ok(Self {
            notice_type: notice_type.to_owned(),
            severity: severity.expect("checked above"),
            title: title.to_owned(),
            body,
        })
    }

    /// [`Draft::check`], with the errors under the form's names (`type`, `severity`,
    /// `title`, `body`).
    pub fn parse(
        types: &[NoticeType],
        notice_type: &str,
        severity: &str,
        title: &str,
        body: &str,
    ) -> Result<Self, FieldErrors> {
        Self::check(types, notice_type, severity, title, body).map_err(|invalid| invalid.errors(Names::Form))
    }
}

/// Publishes a notice to `customer`, or to everyone, and in the same transaction writes a
/// delivery for every subscription that wants it (its type, at or above its minimum
/// severity). SMS and phone deliveries wait for a gateway.
pub async fn publish(tx: &mut PgConnection, customer: Option<CustomerId>, draft: &Draft) -> sqlx::Result<NoticeId> {
    let id = sqlx::query_scalar!(
        r#"insert into notices (customer_id, notice_type_id, severity, title, body) values ($1, $2, $3, $4, $5)
         returning id as "id: NoticeId""#,
        customer as Option<CustomerId>,
        draft.notice_type,
        draft.severity as Severity,
        draft.title,
        draft.body,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into deliveries (customer_id, notice_id, contact_method_id, status)
         select m.customer_id, $1, m.id,
                case when m.method_id in ('sms', 'phone') then 'waiting_for_gateway' else 'pending' end
         from contact_method_notices s
         join contact_methods m on m.id = s.contact_method_id
         join notice_severities wanted on wanted.id = coalesce(s.options ->> 'min_severity', 'info')
         join notice_severities given on given.id = $4
         where s.notice_type_id = $3 and ($2::bigint is null or s.customer_id = $2)
           and given.rank >= wanted.rank
         on conflict do nothing",
        id as NoticeId,
        customer as Option<CustomerId>,
        draft.notice_type,
        draft.severity as Severity,
    )
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Publishes a security notice to `customer` ([`publish`]: their contact methods subscribed
/// to security notices hear of it) and, in the same transaction, an email delivery straight
/// to `email_to` (the account's previous address, which need not be a contact method).
pub async fn publish_security(
    tx: &mut PgConnection,
    customer: CustomerId,
    draft: &Draft,
    email_to: &str,
) -> sqlx::Result<NoticeId> {
    let id = publish(tx, Some(customer), draft).await?;
    sqlx::query!(
        "insert into deliveries (customer_id, notice_id, email_to) values ($1, $2, $3)",
        customer as CustomerId,
        id as NoticeId,
        email_to,
    )
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub id: NoticeId,
    pub global: bool,
    pub notice_type: String,
    pub type_label: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub acknowledged_at: Option<OffsetDateTime>,
}

/// The customer's notices and the global ones, newest first; with `since`, only those
/// created or updated since then. Fetches `limit` after skipping `offset`.
pub async fn list(
    db: &PgPool,
    customer: CustomerId,
    since: Option<OffsetDateTime>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Notice>> {
    sqlx::query_as!(
        Notice,
        r#"select n.id as "id: NoticeId", n.customer_id is null as "global!", n.notice_type_id as notice_type,
                t.label as type_label, n.severity as "severity: Severity", n.title, n.body, n.created_at,
                n.updated_at, a.acknowledged_at as "acknowledged_at?"
         from notices n
         join notice_types t on t.id = n.notice_type_id
         left join notice_acknowledgements a on a.notice_id = n.id and a.customer_id = $1
         where (n.customer_id = $1 or n.customer_id is null)
           and ($2::timestamptz is null or greatest(n.created_at, n.updated_at) >= $2)
         order by n.created_at desc, n.id desc limit $3 offset $4"#,
        customer as CustomerId,
        since,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

/// One notice the customer may see.
pub async fn one(db: impl PgExecutor<'_>, customer: CustomerId, id: NoticeId) -> sqlx::Result<Option<Notice>> {
    sqlx::query_as!(
        Notice,
        r#"select n.id as "id: NoticeId", n.customer_id is null as "global!", n.notice_type_id as notice_type,
                t.label as type_label, n.severity as "severity: Severity", n.title, n.body, n.created_at,
                n.updated_at, a.acknowledged_at as "acknowledged_at?"
         from notices n
         join notice_types t on t.id = n.notice_type_id
         left join notice_acknowledgements a on a.notice_id = n.id and a.customer_id = $1
         where (n.customer_id = $1 or n.customer_id is null) and n.id = $2"#,
        customer as CustomerId,
        id as NoticeId,
    )
    .fetch_optional(db)
    .await
}

/// Acknowledges a notice for this customer (a global one only for them). `false` when the
/// customer may not see it.
pub async fn acknowledge(db: impl PgExecutor<'_>, customer: CustomerId, id: NoticeId) -> sqlx::Result<bool> {
    let visible = sqlx::query_scalar!(
        r#"with visible as (
             select id from notices where id = $2 and (customer_id = $1 or customer_id is null)
         ), acked as (
             insert into notice_acknowledgements (customer_id, notice_id)
             select $1, id from visible on conflict do nothing
         )
         select true as "visible!" from visible"#,
        customer as CustomerId,
        id as NoticeId,
    )
    .fetch_optional(db)
    .await?;
    Ok(visible.is_some())
}

/// How many notices the customer has not acknowledged: the counter the triggers keep on
/// publish and acknowledge (see `identity::customer::Customer::unread_notices`).
pub async fn unread(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select unread_notices::bigint as "count!" from customers where id = $1"#,
        customer as CustomerId,
    )
    .fetch_one(db)
    .await
}

/// A delivery of a notice to one of the customer's contact methods.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub notice_id: NoticeId,
    pub contact: String,
    pub method: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<OffsetDateTime>,
    pub next_attempt_at: OffsetDateTime,
}

/// The deliveries of `notices` to the customer's contact methods (an email straight to an
/// address, the previous one after an email change, is not listed: the join leaves it out).
pub async fn deliveries(db: &PgPool, customer: CustomerId, notices: &[NoticeId]) -> sqlx::Result<Vec<Delivery>> {
    let ids: Vec<i64> = notices.iter().map(|n| n.0).collect();
    sqlx::query_as!(
        Delivery,
        r#"select d.notice_id as "notice_id: NoticeId", c.name as contact, t.label as method,
                d.status as "status: DeliveryStatus", d.attempts, d.last_error, d.sent_at, d.next_attempt_at
         from deliveries d
         join contact_methods m on m.id = d.contact_method_id
         join contacts c on c.id = m.contact_id
         join contact_method_types t on t.id = m.method_id
         where d.customer_id = $1 and d.notice_id = any($2)
         order by c.name, t.sort, d.id"#,
        customer as CustomerId,
        &ids,
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_are_seconds_since_the_epoch() {
        assert_eq!(UnixTime::from_seconds(0).unwrap().at(), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            UnixTime::from_seconds(1_700_000_000).unwrap().at().unix_timestamp(),
            1_700_000_000
        );
        assert!(UnixTime::from_seconds(253_402_300_799).is_ok());
        for bad in [-1, 253_402_300_800, i64::MAX] {
            assert!(UnixTime::from_seconds(bad).is_err(), "{bad}");
        }
    }
}
