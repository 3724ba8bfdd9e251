//! What the dashboard shows, in one query.

use std::net::IpAddr;

use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::identity::CustomerId;

#[derive(Debug, sqlx::FromRow)]
pub struct Summary {
    /// The sign-in before the current one.
    pub previous_sign_in: Option<OffsetDateTime>,
    pub previous_address: Option<IpAddr>,
    pub failed_since: i64,
    pub time_zone: Option<String>,
    pub date_format: Option<String>,
}

pub async fn summary(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Summary> {
    sqlx::query_as(
        "select prev.at as previous_sign_in, prev.address as previous_address,
                (select count(*) from activity f where f.customer_id = $1 and f.kind = 'sign_in_failed'
                    and f.at > coalesce(prev.at, '-infinity')) as failed_since,
                (select value from customer_settings where customer_id = $1 and key = 'time_zone') as time_zone,
                (select value from customer_settings where customer_id = $1 and key = 'date_format') as date_format
         from (select 1) one
         left join lateral (select at, address from activity where customer_id = $1 and kind = 'sign_in'
                            order by at desc, id desc offset 1 limit 1) prev on true",
    )
    .bind(customer)
    .fetch_one(db)
    .await
}
