//! What the dashboard shows, in one query.

use std::net::IpAddr;

use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::identity::CustomerId;

#[derive(Debug)]
pub struct Summary {
    /// The sign-in before the current one.
    pub previous_sign_in: Option<OffsetDateTime>,
    pub previous_address: Option<IpAddr>,
    pub failed_since: i64,
}

pub async fn summary(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Summary> {
    sqlx::query_as!(
        Summary,
        r#"select prev.at as "previous_sign_in?", prev.address as "previous_address?: IpAddr",
                (select count(*) from activity f where f.customer_id = $1 and f.kind = 'sign_in_failed'
                    and f.at > coalesce(prev.at, '-infinity')) as "failed_since!"
         from (select 1) one
         left join lateral (select at, address from activity where customer_id = $1 and kind = 'sign_in'
                            order by at desc, id desc offset 1 limit 1) prev on true"#,
        customer as CustomerId,
    )
    .fetch_one(db)
    .await
}
