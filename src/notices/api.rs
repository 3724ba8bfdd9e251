//! The notices' Customer API methods: listNotices, acknowledgeNotice; the same operations
//! as the `/notices` page (`ops`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Notice, NoticeId};
use super::ops::{self, NoticeError, Since};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, Done, Reply};
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

/// A notices operation's failure as the API tells it: mistakes under the seed's names.
fn api_error(err: NoticeError) -> AppError {
    match err {
        NoticeError::Invalid(invalid) => AppError::Invalid(invalid.errors(Names::Seed)),
        NoticeError::NotFound => AppError::NotFound,
        NoticeError::Db(err) => err.into(),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notices))
        .routes(routes!(acknowledge_notice))
}

/// A notice (Types.CustomerNotice): the customer's own or a global one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerNotice {
    pub id: i64,
    /// Whether it is for every customer (`true`) or this customer's own.
    pub global: bool,
    /// The notice type's id: billing, maintenance, outage, security or abuse (see
    /// listContactNoticeTypes).
    #[serde(rename = "type")]
    pub notice_type: String,
    /// The notice type's name, e.g. `Maintenance`.
    pub type_label: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub title: String,
    /// Plain text; lines end with `\n`.
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created: OffsetDateTime,
    /// When it was last changed; the same as `created` if never.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated: OffsetDateTime,
    /// Whether this customer acknowledged it.
    pub acknowledged: bool,
    /// When this customer acknowledged it, if they did.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<OffsetDateTime>,
}

impl From<Notice> for CustomerNotice {
    fn from(notice: Notice) -> Self {
        Self {
            id: notice.id.0,
            global: notice.global,
            notice_type: notice.notice_type,
            type_label: notice.type_label,
            severity: notice.severity.as_str().to_owned(),
            title: notice.title,
            body: notice.body,
            created: notice.created_at,
            updated: notice.updated_at,
            acknowledged: notice.acknowledged_at.is_some(),
            acknowledged_at: notice.acknowledged_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListNoticesArgs {
    /// The customer.
    pub customer_id: i64,
    /// A Unix time (seconds since 1970-01-01 00:00 UTC): leave out notices created and
    /// last updated before it.
    pub since: Option<i64>,
}

/// Every notice: the answer is not paged.
const ALL_NOTICES: i64 = i64::MAX;

#[utoipa::path(post, path = "/listNotices", operation_id = "listNotices", tag = "Notices",
    summary = "Fetch all the notices associated with the customer (or global)",
    request_body = ListNoticesArgs,
    responses((status = 200, description = "The customer's notices and the global ones, newest first, \
        each with whether this customer acknowledged it", body = Reply<Vec<CustomerNotice>>), ApiErrors))]
async fn list_notices(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ListNoticesArgs>,
) -> Result<Reply<Vec<CustomerNotice>>, AppError> {
    let customer = caller.customer(&state.pool, args.customer_id).await?;
    let notices = ops::list(&state.pool, customer, Since::Unix(args.since), ALL_NOTICES, 0)
        .await
        .map_err(api_error)?;
    Ok(Reply::new(notices.into_iter().map(CustomerNotice::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcknowledgeNoticeArgs {
    /// The notice: the customer's own or a global one.
    pub notice_id: i64,
}

/// Acknowledges a notice for the customer; a global notice is acknowledged for this customer
/// only. Acknowledging again changes nothing and succeeds.
///
/// An internal key acts for the owner of the notice, so it can acknowledge a customer's own
/// notice but not a global one, which has no owner: that answers 404.
#[utoipa::path(post, path = "/acknowledgeNotice", operation_id = "acknowledgeNotice", tag = "Notices",
    summary = "Set the acknowledged flag of a customer notice",
    request_body = AcknowledgeNoticeArgs,
    responses((status = 200, description = "Acknowledged", body = Done), ApiErrors))]
async fn acknowledge_notice(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<AcknowledgeNoticeArgs>,
) -> Result<Done, AppError> {
    let customer = caller.owner(&state.pool, Object::Notice, args.notice_id).await?;
    ops::acknowledge(&state.pool, &caller.who(customer), NoticeId(args.notice_id))
        .await
        .map_err(api_error)?;
    Ok(Done::YES)
}
