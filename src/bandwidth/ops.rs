//! The bandwidth's operation, shared by the `/bandwidth` page and the Customer API
//! (currentBillableBandwidth): the current period's figures, taken at one instant.

use sqlx::PgPool;
use time::OffsetDateTime;

use super::model::{self, Usage};
use crate::identity::CustomerId;

/// What the customer transferred in the current billing period, as of `as_of`, with the
/// projection to the period's end.
#[derive(Debug, Clone)]
pub struct Billable {
    pub usage: Usage,
    pub as_of: OffsetDateTime,
    pub projection: i64,
}

/// The current period's bandwidth of the customer's, now.
pub async fn billable(db: &PgPool, customer: CustomerId) -> sqlx::Result<Billable> {
    let now = OffsetDateTime::now_utc();
    let usage = model::usage(db, customer, now).await?;
    Ok(Billable {
        projection: usage.period.projection(usage.total(), now),
        as_of: now,
        usage,
    })
}
