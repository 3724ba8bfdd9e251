//! The bandwidth's Customer API method: currentBillableBandwidth, the same figures as
//! `/bandwidth` (`ops::billable`), as numbers of bytes.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::SiteUsage;
use super::ops::{self, Billable};
use crate::api::{ApiErrors, Args, Caller, Reply};
use crate::state::AppState;
use crate::web::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(current_billable_bandwidth))
}

/// What the customer transferred in the current billing period, in bytes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillableBandwidth {
    /// The period's first instant: the first of the calendar month, 00:00 UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub period_start: OffsetDateTime,
    /// Its end, excluded: the first of the next month, 00:00 UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub period_end: OffsetDateTime,
    /// When these figures were taken (the projection runs from it).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub as_of: OffsetDateTime,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// In and out: what is billed.
    pub total: i64,
    /// The total so far extended in a straight line to the period's end.
    pub projection: i64,
    /// Every day of the period (UTC), with its bytes in and out; days to come have 0.
    pub days: Vec<DayUsage>,
    /// Every site of the customer's, most traffic first.
    pub sites: Vec<SiteBandwidth>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayUsage {
    /// `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub day: String,
    /// Bytes in and out that day.
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteBandwidth {
    pub site_id: i64,
    pub name: String,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub total: i64,
}

impl From<SiteUsage> for SiteBandwidth {
    fn from(site: SiteUsage) -> Self {
        Self {
            total: site.total(),
            site_id: site.site_id,
            name: site.name,
            bytes_in: site.bytes_in,
            bytes_out: site.bytes_out,
        }
    }
}

impl From<Billable> for BillableBandwidth {
    fn from(
        Billable {
            usage,
            as_of,
            projection,
        }: Billable,
    ) -> Self {
        Self {
            period_start: usage.period.start,
            period_end: usage.period.end,
            as_of,
            bytes_in: usage.bytes_in,
            bytes_out: usage.bytes_out,
            total: usage.total(),
            projection,
            days: usage
                .days
                .into_iter()
                .map(|(day, total)| DayUsage {
                    day: day.to_string(),
                    total,
                })
                .collect(),
            sites: usage.sites.into_iter().map(SiteBandwidth::from).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BandwidthArgs {
    /// The customer.
    pub customer_id: i64,
}

#[utoipa::path(post, path = "/currentBillableBandwidth", operation_id = "currentBillableBandwidth",
    tag = "Bandwidth",
    summary = "Fetch the latest billable bandwidth amount",
    request_body = BandwidthArgs,
    responses((status = 200, description = "The current billing period's bandwidth, in bytes",
        body = Reply<BillableBandwidth>), ApiErrors))]
async fn current_billable_bandwidth(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<BandwidthArgs>,
) -> Result<Reply<BillableBandwidth>, AppError> {
    let customer = caller.customer(&state.pool, args.customer_id).await?;
    Ok(Reply::new(ops::billable(&state.pool, customer).await?.into()))
}
