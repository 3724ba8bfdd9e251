//! The FTP users' Customer API methods: createFTPUser, listFTPUsers, updateFTPUser,
//! destroyFTPUser: JSON arguments to the FTP users' operations (`ops`), the same the
//! `/ftp-users` pages call.

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Filter, FtpUser, FtpUserId};
use super::ops::{self, UserInput};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, Done, IdArgs, Reply};
use crate::identity::CustomerId;
use crate::sites::model::{EnvironmentId, SiteId};
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ftp_user))
        .routes(routes!(list_ftp_users))
        .routes(routes!(update_ftp_user))
        .routes(routes!(destroy_ftp_user))
}

/// An FTP user as stored, without its password.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiFtpUser {
    pub id: i64,
    pub name: String,
    /// The login, in small letters.
    pub username: String,
    /// `read-write` or `read-only`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The folder below the home, normalised (`./a//b/` is `a/b`); empty: the home itself.
    pub relative_root: String,
    /// The site whose home it is in; null: the customer's home.
    pub site_id: Option<i64>,
    /// That site's name.
    pub site_name: Option<String>,
    /// The environment of that site whose home it is in, if any.
    pub environment_id: Option<i64>,
    pub environment_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated: OffsetDateTime,
}

impl From<FtpUser> for ApiFtpUser {
    fn from(user: FtpUser) -> Self {
        Self {
            id: user.id.0,
            name: user.name,
            username: user.username,
            kind: user.kind.to_string(),
            relative_root: user.relative_root,
            site_id: user.site_id.map(|s| s.0),
            site_name: user.site_name,
            environment_id: user.environment_id.map(|e| e.0),
            environment_name: user.environment_name,
            created: user.created_at,
            updated: user.updated_at,
        }
    }
}

/// An optional id as the operations read it: empty is none.
fn form_id(id: Option<i64>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateFtpUserArgs {
    /// The customer.
    pub customer_id: i64,
    /// What the customer calls it: 1–64 characters on one line.
    pub name: String,
    /// The login: 3–32 of `a-z 0-9 . _ -`, starting with a letter (capitals are taken as
    /// small letters); unique on the whole platform.
    pub username: String,
    /// At least 12 characters, not a common password.
    pub password: String,
    /// A folder inside the home, such as `public_html/uploads` (UTF-8, no leading `/`, no
    /// `..`, at most 255 bytes); empty: the home itself. Stored normalised.
    pub relative_root: String,
    /// `read-write` or `read-only`.
    #[serde(rename = "type")]
    pub kind: String,
    /// One of the customer's sites, to place the user in its home.
    pub site_id: Option<i64>,
    /// One of the site's environments (without siteId: the environment's site).
    pub environment_id: Option<i64>,
}

#[utoipa::path(post, path = "/createFTPUser", operation_id = "createFTPUser", tag = "FTP users",
    summary = "Create a Customer-controlled FTP user",
    request_body = CreateFtpUserArgs,
    responses((status = 200, description = "The FTP user as stored", body = Reply<ApiFtpUser>), ApiErrors))]
async fn create_ftp_user(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CreateFtpUserArgs>,
) -> Result<Reply<ApiFtpUser>, AppError> {
    let customer = caller.customer(&state.pool, args.customer_id).await?;
    let input = UserInput {
        name: Some(args.name),
        username: Some(args.username),
        password: Some(args.password),
        relative_root: Some(args.relative_root),
        kind: Some(args.kind),
        site: Some(form_id(args.site_id)),
        environment: Some(form_id(args.environment_id)),
        version: None,
    };
    let saved = ops::create_user(&state.pool, &state.hasher, &caller.who(customer), input, None)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    user_reply(&state, customer, saved.id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListFtpUsersArgs {
    /// The customer.
    pub id: i64,
    /// Only the FTP users of this site of the customer's.
    pub site_id: Option<i64>,
    /// Only the FTP users of this environment of the customer's.
    pub environment_id: Option<i64>,
}

/// Every FTP user of a customer's.
const ALL_USERS: i64 = 1_000_000;

#[utoipa::path(post, path = "/listFTPUsers", operation_id = "listFTPUsers", tag = "FTP users",
    summary = "List FTP users",
    description = "All of the customer's FTP users (on the site and environment given), by username. \
                   A site or environment that is not the customer's is an InvalidArguments on it.",
    request_body = ListFtpUsersArgs,
    responses((status = 200, description = "The FTP users, by username, without passwords",
        body = Reply<Vec<ApiFtpUser>>), ApiErrors))]
async fn list_ftp_users(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ListFtpUsersArgs>,
) -> Result<Reply<Vec<ApiFtpUser>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let site = args.site_id.map(SiteId);
    let environment = args.environment_id.map(EnvironmentId);
    ops::place(&state.pool, customer, site, environment)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    let (users, _) = model::list(&state.pool, customer, Filter { site, environment }, ALL_USERS, 0).await?;
    Ok(Reply::new(users.into_iter().map(ApiFtpUser::from).collect()))
}

/// Tells a value given (even `null`) from one left out: `Some(None)` is a `null`.
fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateFtpUserArgs {
    /// The FTP user.
    pub id: i64,
    /// A field left out keeps its value; the rules are createFTPUser's.
    pub name: Option<String>,
    pub username: Option<String>,
    /// A new password; left out or empty, the current one stays (as on the edit form).
    pub password: Option<String>,
    pub relative_root: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Left out: the site stays; `null`: the customer's home (with no environment then).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<i64>)]
    pub site_id: Option<Option<i64>>,
    /// Left out: the environment stays (so a new siteId usually comes with its environmentId
    /// or `null`); `null`: none. It must be one of the site's.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<i64>)]
    pub environment_id: Option<Option<i64>>,
}

#[utoipa::path(post, path = "/updateFTPUser", operation_id = "updateFTPUser", tag = "FTP users",
    summary = "Update an FTP user",
    request_body = UpdateFtpUserArgs,
    responses((status = 200, description = "The FTP user as stored", body = Reply<ApiFtpUser>), ApiErrors))]
async fn update_ftp_user(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<UpdateFtpUserArgs>,
) -> Result<Reply<ApiFtpUser>, AppError> {
    let customer = caller.owner(&state.pool, Object::FtpUser, args.id).await?;
    // A site set to null takes the environment with it, unless one is given.
    let environment_id = match (args.site_id, args.environment_id) {
        (Some(None), None) => Some(None),
        (_, environment) => environment,
    };
    let input = UserInput {
        name: args.name,
        username: args.username,
        password: args.password,
        relative_root: args.relative_root,
        kind: args.kind,
        site: args.site_id.map(form_id),
        environment: environment_id.map(form_id),
        version: None,
    };
    let saved = ops::update_user(
        &state.pool,
        &state.hasher,
        &caller.who(customer),
        FtpUserId(args.id),
        input,
    )
    .await
    .map_err(|err| err.into_app(Names::Seed))?;
    user_reply(&state, customer, saved.id).await
}

#[utoipa::path(post, path = "/destroyFTPUser", operation_id = "destroyFTPUser", tag = "FTP users",
    summary = "Delete an FTP user",
    request_body = IdArgs,
    responses((status = 200, description = "Deleted", body = Done), ApiErrors))]
async fn destroy_ftp_user(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Done, AppError> {
    let customer = caller.owner(&state.pool, Object::FtpUser, args.id).await?;
    ops::delete_user(&state.pool, &caller.who(customer), FtpUserId(args.id))
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Done::YES)
}

async fn user_reply(state: &AppState, customer: CustomerId, id: FtpUserId) -> Result<Reply<ApiFtpUser>, AppError> {
    let user = model::user(&state.pool, customer, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Reply::new(user.into()))
}
