//! The `plans` rows: setting one, the catalogue with each size, and a customer's
//! allowance (the transfer their sites' plans include).

use sqlx::PgExecutor;

use super::{Price, TransferGb};
use crate::identity::CustomerId;

/// A size with its plan, if it has one.
#[derive(Debug, Clone)]
pub struct SizePlan {
    pub size_id: String,
    pub label: String,
    pub price_cents: Option<i64>,
    pub transfer_gb: Option<i64>,
}

impl SizePlan {
    pub fn price(&self) -> Option<Price> {
        self.price_cents.map(Price::from_cents)
    }
}

/// Sets the plan of `size` (replacing its price and transfer). `false` when there is no
/// such size.
pub async fn set(db: impl PgExecutor<'_>, size: &str, price: Price, transfer: TransferGb) -> sqlx::Result<bool> {
    let set = sqlx::query_scalar!(
        r#"insert into plans (size_id, price_cents, transfer_gb)
         select id, $2, $3 from container_sizes where id = $1
         on conflict (size_id) do update
             set price_cents = excluded.price_cents, transfer_gb = excluded.transfer_gb, updated_at = now()
         returning true as "set!""#,
        size,
        price.cents(),
        transfer.gb(),
    )
    .fetch_optional(db)
    .await?;
    Ok(set.is_some())
}

/// Every size, in the catalogue's order, with its plan where it has one.
pub async fn catalogue(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SizePlan>> {
    sqlx::query_as!(
        SizePlan,
        r#"select s.id as size_id, s.label, p.price_cents as "price_cents?", p.transfer_gb as "transfer_gb?"
         from container_sizes s left join plans p on p.size_id = s.id
         order by s.sort"#,
    )
    .fetch_all(db)
    .await
}

/// The transfer, in GB, the plans of the customer's sites (not deleted) include this month;
/// `None` when none of their sizes has a plan.
pub async fn included_gb(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"select sum(p.transfer_gb)::bigint from sites s
         join containers c on c.customer_id = s.customer_id and c.site_id = s.id
         join plans p on p.size_id = c.size_id
         where s.customer_id = $1 and s.status <> 'deleted'"#,
        customer as CustomerId,
    )
    .fetch_one(db)
    .await
}
