//! What the dashboard shows, in one statement: the previous sign-in, the month's transfer
//! and allowance, the first sites, the urgent notices not acknowledged yet and whether a
//! second factor is on. The lists
//! come back as JSON arrays so that a view costs one round trip, however many sites.

use std::net::IpAddr;

use serde::Deserialize;
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::{Date, OffsetDateTime};

use crate::identity::CustomerId;
use crate::notices::model::NoticeId;
use crate::sites::model::{DesiredState, SiteId, SiteStatus};

/// Sites the dashboard lists (by name); the rest are on `/sites`.
pub const SITES_SHOWN: i64 = 25;
/// Urgent notices shown as banners (newest first); the rest are on `/notices`.
pub const BANNERS_SHOWN: i64 = 5;

#[derive(Debug, Clone)]
pub struct Summary {
    /// The sign-in before the current one.
    pub previous_sign_in: Option<OffsetDateTime>,
    pub previous_address: Option<IpAddr>,
    pub failed_since: i64,
    /// Bytes in and out this billing period (from the daily rollups).
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// Transfer the customer's sites' plans include, in GB (`None`: no plan applies).
    pub included_gb: Option<i64>,
    /// Sites not deleted, in all.
    pub site_count: i64,
    pub sites: Json<Vec<SiteLine>>,
    pub banners: Json<Vec<Banner>>,
    /// Whether the customer has a second factor (a TOTP authenticator or a passkey).
    pub second_factor: bool,
}

/// A summary as kept between views (`db::changes`), with the billing period's start
/// and the unread count it was read for: a copy for another period or count is not used.
#[derive(Debug)]
pub struct Kept {
    pub start: Date,
    pub unread: i64,
    pub summary: Summary,
}

/// A site as the dashboard lists it: what is stored, the engine is not asked.
#[derive(Debug, Clone, Deserialize)]
pub struct SiteLine {
    pub id: SiteId,
    pub name: String,
    pub hostname: String,
    pub status: SiteStatus,
    /// `None` while its container is not made yet.
    pub desired_state: Option<DesiredState>,
}

/// A warning or critical notice the customer has not acknowledged.
#[derive(Debug, Clone, Deserialize)]
pub struct Banner {
    pub id: NoticeId,
    pub severity: String,
    pub title: String,
    pub type_label: String,
    /// Unix seconds.
    pub created: i64,
}

/// The dashboard's figures for `customer` in the billing period `[start, end)`. With
/// `unread` 0 (the navigation's counter), no notice is looked at.
pub async fn summary(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    start: Date,
    end: Date,
    unread: i64,
) -> sqlx::Result<Summary> {
    sqlx::query_as!(
        Summary,
        r#"select prev.at as "previous_sign_in?", prev.address as "previous_address?: IpAddr",
                (select count(*) from activity f where f.customer_id = $1 and f.kind = 'sign_in_failed'
                    and f.at > coalesce(prev.at, '-infinity')) as "failed_since!",
                bw.bytes_in as "bytes_in!", bw.bytes_out as "bytes_out!",
                (select sum(p.transfer_gb)::bigint from sites s
                 join containers c on c.customer_id = s.customer_id and c.site_id = s.id
                 join plans p on p.size_id = c.size_id
                 where s.customer_id = $1 and s.status <> 'deleted') as "included_gb?",
                (select count(*) from sites s where s.customer_id = $1 and s.status <> 'deleted') as "site_count!",
                (select coalesce(json_agg(x order by x.name, x.id), '[]') from (
                    select s.id, s.name, s.hostname, s.status, c.desired_state
                    from sites s
                    left join containers c on c.customer_id = s.customer_id and c.site_id = s.id
                    where s.customer_id = $1 and s.status <> 'deleted'
                    order by s.name, s.id limit $4) x) as "sites!: Json<Vec<SiteLine>>",
                (select coalesce(json_agg(b order by b.created desc, b.id desc), '[]') from (
                    (select n.id, n.severity, n.title, t.label as type_label,
                            extract(epoch from n.created_at)::bigint as created
                     from notices n join notice_types t on t.id = n.notice_type_id
                     where n.customer_id = $1 and n.severity <> 'info'
                       and not exists (select 1 from notice_acknowledgements a
                                       where a.customer_id = $1 and a.notice_id = n.id)
                     order by n.created_at desc, n.id desc limit $5)
                    union all
                    (select n.id, n.severity, n.title, t.label, extract(epoch from n.created_at)::bigint
                     from notices n join notice_types t on t.id = n.notice_type_id
                     where n.customer_id is null and n.severity <> 'info'
                       and not exists (select 1 from notice_acknowledgements a
                                       where a.customer_id = $1 and a.notice_id = n.id)
                     order by n.created_at desc, n.id desc limit $5)
                    order by created desc, id desc limit $5) b
                 where $6::bigint > 0) as "banners!: Json<Vec<Banner>>",
                (exists (select 1 from totp_authenticators t where t.customer_id = $1 and t.confirmed_at is not null)
                 or exists (select 1 from passkeys k where k.customer_id = $1)) as "second_factor!"
         from (select 1) one
         left join lateral (select at, address from activity where customer_id = $1 and kind = 'sign_in'
                            order by at desc, id desc offset 1 limit 1) prev on true
         cross join lateral (
             select least(coalesce(sum(d.bytes_in), 0), 9223372036854775807)::bigint as bytes_in,
                    least(coalesce(sum(d.bytes_out), 0), 9223372036854775807)::bigint as bytes_out
             from bandwidth_customer_days d where d.customer_id = $1 and d.day >= $2 and d.day < $3) bw"#,
        customer as CustomerId,
        start,
        end,
        SITES_SHOWN,
        BANNERS_SHOWN,
        unread,
    )
    .fetch_one(db)
    .await
}
