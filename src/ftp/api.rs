//! The FTP users' Customer API methods: createFTPUser, listFTPUsers, updateFTPUser,
//! destroyFTPUser; the same validation (`super::validate`) and model calls as `/ftp-users`.

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Filter, FtpUser, FtpUserId, Refused};
use super::{Typed, UserInput, validate};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, Done, IdArgs, Reply, invalid};
use crate::identity::CustomerId;
use crate::sites::model::{EnvironmentId, SiteId};
use crate::state::AppState;
use crate::validation::FieldErrors;
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
            kind: user.kind,
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

/// The page's field names as the seed names the arguments.
fn seed_name(field: &str) -> &str {
    match field {
        "relative_root" => "relativeRoot",
        "site_id" => "siteId",
        "environment_id" => "environmentId",
        other => other,
    }
}

/// The page's field errors, keyed by the seed's argument names.
fn renamed(errors: &FieldErrors) -> FieldErrors {
    let mut renamed = FieldErrors::default();
    for (field, message) in errors.iter() {
        renamed.add(seed_name(field), message);
    }
    renamed
}

/// An optional id as the form has it: empty is none.
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
    let typed = Typed::new(
        UserInput {
            name: Some(args.name),
            username: Some(args.username),
            password: Some(args.password),
            relative_root: Some(args.relative_root),
            kind: Some(args.kind),
            site_id: Some(form_id(args.site_id)),
            environment_id: Some(form_id(args.environment_id)),
            version: None,
        },
        None,
    );
    let (fields, password) = validate(&state.pool, customer, &typed, None)
        .await?
        .map_err(|errors| AppError::Invalid(renamed(&errors)))?;
    let password = password.ok_or_else(|| invalid("password", "Choose a password of at least 12 characters."))?;
    let hash = state.hasher.hash(password.as_str()).await?;
    let mut tx = state.pool.begin().await?;
    let id = model::create(&mut tx, customer, &caller.actor(), &fields, &hash, Some(caller.address))
        .await?
        .map_err(|_| invalid("username", model::USERNAME_TAKEN))?;
    tx.commit().await?;
    user_reply(&state, customer, id).await
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
    model::place(&state.pool, customer, site, environment)
        .await?
        .map_err(|errors| AppError::Invalid(renamed(&errors)))?;
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
    /// A new password; left out, the current one stays.
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
    let current = model::user(&state.pool, customer, FtpUserId(args.id))
        .await?
        .ok_or(AppError::NotFound)?;
    let empty_password = args.password.as_deref() == Some("");
    // A site set to null takes the environment with it, unless one is given.
    let environment_id = match (args.site_id, args.environment_id) {
        (Some(None), None) => Some(None),
        (_, environment) => environment,
    };
    let typed = Typed::new(
        UserInput {
            name: args.name,
            username: args.username,
            password: args.password,
            relative_root: args.relative_root,
            kind: args.kind,
            site_id: args.site_id.map(form_id),
            environment_id: environment_id.map(form_id),
            version: None,
        },
        Some(&current),
    );
    let valid = validate(&state.pool, customer, &typed, Some(&current)).await?;
    let (fields, password) = match valid {
        Ok(valid) if !empty_password => valid,
        Ok(_) => return Err(invalid("password", "Choose a password of at least 12 characters.")),
        Err(mut errors) => {
            if empty_password {
                errors.add("password", "Choose a password of at least 12 characters.");
            }
            return Err(AppError::Invalid(renamed(&errors)));
        }
    };
    if !model::changes(&current, &fields, password.is_some()).is_empty() {
        let hash = match &password {
            Some(password) => Some(state.hasher.hash(password.as_str()).await?),
            None => None,
        };
        let mut tx = state.pool.begin().await?;
        model::update(
            &mut tx,
            customer,
            &caller.actor(),
            &current,
            &fields,
            hash.as_deref(),
            Some(caller.address),
        )
        .await?
        .map_err(|refused| match refused {
            Refused::NotFound => AppError::NotFound,
            Refused::UsernameTaken => invalid("username", model::USERNAME_TAKEN),
            Refused::Changed => AppError::Conflict(model::CHANGED_MEANWHILE.into()),
        })?;
        tx.commit().await?;
    }
    user_reply(&state, customer, current.id).await
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
    let mut tx = state.pool.begin().await?;
    model::delete(
        &mut tx,
        customer,
        &caller.actor(),
        FtpUserId(args.id),
        Some(caller.address),
    )
    .await?
    .map_err(|_| AppError::NotFound)?;
    tx.commit().await?;
    Ok(Done::YES)
}

async fn user_reply(state: &AppState, customer: CustomerId, id: FtpUserId) -> Result<Reply<ApiFtpUser>, AppError> {
    let user = model::user(&state.pool, customer, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Reply::new(user.into()))
}
