//! Delivery rows: claiming due ones under a lease, and recording each attempt's result.
//! All delivery SQL (the outbox rows themselves are written by
//! [`crate::notices::model::publish`]).

use std::fmt;

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

/// A `deliveries.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct DeliveryId(pub i64);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a delivery stands (`deliveries.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Due at `next_attempt_at` (or being sent, under a lease).
    Pending,
    Sent,
    /// Failed for good.
    Failed,
    /// An SMS or phone delivery: no gateway is configured yet.
    WaitingForGateway,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::WaitingForGateway => "waiting_for_gateway",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery this worker has claimed, with what it needs to send it. Its lease runs until
/// `next_attempt_at`; `attempts` already counts this attempt and is the lease's token: a
/// result is recorded only while the row still holds it.
///
/// No `Debug`: it carries the webhook's signing secret.
#[derive(Clone)]
pub struct Claimed {
    pub id: DeliveryId,
    pub customer_id: i64,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// `email` or `webhook`.
    pub method: String,
    /// The email address or the webhook URL, from the method's options.
    pub target: Option<String>,
    pub signing_secret: Option<String>,
    pub notice_id: i64,
    pub global: bool,
    pub notice_type: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// Claims up to `limit` due deliveries (pending, `next_attempt_at` reached, fewer than
/// `max_attempts` made; email ones only with `email` true), fairly across customers, and
/// takes a lease on them: `attempts` goes up by one and `next_attempt_at` and
/// `leased_until` move `lease_secs` ahead, so no other worker sees them as due until the
/// lease runs out or the result is recorded.
///
/// **Fair.** Each customer's due deliveries are numbered oldest first, and the batch is
/// filled round by round (every customer's first, then every customer's second, …), never
/// giving one customer more than `per_customer` in flight, counting those other workers
/// (in any process) are still sending. So a customer with many deliveries to a receiver
/// that never answers delays only their own, and another customer's notice goes out in
/// the next batch.
///
/// Claims are serialised by a transaction-level advisory lock, so two workers cannot
/// together exceed `per_customer`; the statement is short, and the sending happens after
/// it has committed. `FOR UPDATE SKIP LOCKED` still keeps a claim from waiting on a row
/// whose result is being recorded.
pub async fn claim(
    db: &PgPool,
    limit: i64,
    email: bool,
    lease_secs: i64,
    max_attempts: i32,
    per_customer: i64,
) -> sqlx::Result<Vec<Claimed>> {
    let mut tx = db.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock(hashtext('berth.deliveries.claim'))")
        .execute(&mut *tx)
        .await?;
    let claimed = sqlx::query_as!(
        Claimed,
        r#"with busy as (
             select customer_id, count(*) as n
             from deliveries
             where leased_until > now() and status = 'pending'
             group by customer_id
         ), due as (
             select d.id, d.customer_id, d.next_attempt_at,
                    row_number() over (partition by d.customer_id order by d.next_attempt_at, d.id) as turn
             from deliveries d
             left join contact_methods m on m.id = d.contact_method_id
             where d.status = 'pending' and d.next_attempt_at <= now() and d.attempts < $4
               and (m.method_id = 'webhook' or ((m.method_id = 'email' or d.email_to is not null) and $2))
         ), fair as (
             select due.id
             from due left join busy on busy.customer_id = due.customer_id
             where due.turn + coalesce(busy.n, 0) <= $5
             order by due.turn, due.next_attempt_at, due.id
             limit $1
         ), locked as (
             select d.id from deliveries d
             where d.id in (select id from fair) and d.status = 'pending' and d.next_attempt_at <= now()
             for update of d skip locked
         )
         update deliveries d
         set attempts = d.attempts + 1,
             next_attempt_at = now() + make_interval(secs => $3),
             leased_until = now() + make_interval(secs => $3)
         from (locked join deliveries l on l.id = locked.id
               left join contact_methods m on m.id = l.contact_method_id), notices n
         where d.id = locked.id and n.id = d.notice_id
         returning d.id as "id: DeliveryId", d.customer_id, d.attempts, coalesce(m.method_id, 'email') as "method!",
                   coalesce(d.email_to,
                            case m.method_id when 'email' then m.options ->> 'address' else m.options ->> 'url' end)
                       as target,
                   m.signing_secret as "signing_secret?", n.id as notice_id, n.customer_id is null as "global!",
                   n.notice_type_id as notice_type, n.severity, n.title, n.body, n.created_at"#,
        limit,
        email,
        lease_secs as f64,
        max_attempts,
        per_customer,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// With no SMTP relay configured: due email deliveries wait, saying why, and are looked at
/// again after `recheck_secs`; their attempts are not counted. Returns how many waited.
pub async fn hold_email(db: impl PgExecutor<'_>, reason: &str, recheck_secs: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update deliveries d
         set last_error = $1, next_attempt_at = now() + make_interval(secs => $2)
         where d.status = 'pending' and d.next_attempt_at <= now()
           and (d.email_to is not null
                or exists (select 1 from contact_methods m where m.id = d.contact_method_id and m.method_id = 'email'))",
        reason,
        recheck_secs as f64,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Deliveries whose last allowed attempt was claimed but whose lease ran out before its
/// result was recorded (the process stopped while sending) fail with `reason`: it is not
/// known whether that attempt arrived, and there is no attempt left. Returns how many.
pub async fn fail_interrupted(db: impl PgExecutor<'_>, max_attempts: i32, reason: &str) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update deliveries set status = 'failed', last_error = $2
         where status = 'pending' and next_attempt_at <= now() and attempts >= $1",
        max_attempts,
        reason,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Marks the delivery sent after its `attempt`-th attempt (an earlier `last_error` is
/// kept, like provisioning steps). `false` when the lease was lost.
pub async fn sent(db: impl PgExecutor<'_>, id: DeliveryId, attempt: i32) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update deliveries set status = 'sent', sent_at = now(), leased_until = null
         where id = $1 and attempts = $2 and status = 'pending'",
        id as DeliveryId,
        attempt,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt: the delivery is tried again after `retry_in_secs`, or, with
/// `None`, it has failed for good. `false` when the lease was lost.
pub async fn attempt_failed(
    db: impl PgExecutor<'_>,
    id: DeliveryId,
    attempt: i32,
    error: &str,
    retry_in_secs: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update deliveries
         set last_error = $3,
             leased_until = null,
             status = case when $4::float8 is null then 'failed' else 'pending' end,
             next_attempt_at = case when $4::float8 is null then next_attempt_at
                                    else now() + make_interval(secs => $4::float8) end
         where id = $1 and attempts = $2 and status = 'pending'",
        id as DeliveryId,
        attempt,
        error,
        retry_in_secs.map(|s| s as f64),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands a claimed delivery back (its process is stopping): it is due again at once, its
/// lease released. `uncount`: its attempt never started, so it is not counted; otherwise
/// the attempt was cut off mid-send and `error` says so. `false` when the lease was lost.
pub async fn hand_back(
    db: impl PgExecutor<'_>,
    id: DeliveryId,
    attempt: i32,
    uncount: bool,
    error: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update deliveries
         set next_attempt_at = now(), leased_until = null,
             attempts = attempts - case when $3 then 1 else 0 end,
             last_error = case when $3 then last_error else $4 end
         where id = $1 and attempts = $2 and status = 'pending'",
        id as DeliveryId,
        attempt,
        uncount,
        error,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
