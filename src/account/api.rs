//! The account's Customer API methods: requestCancellation, listRoles, getUsername,
//! changePassword, changePIN, changeEmail; the same rules, model calls and Activity entries
//! as the `/account` pages.
//!
//! The key authorises a change, so the API asks for no current password. A password change
//! signs out every browser session of the customer's (the API has none of its own to keep);
//! an email change is direct, as on the page.
//!
//! Sign-in details (password, email, PIN) are changed by a customer's key only when the
//! customer turned on "API keys may change sign-in details" in Settings (403 otherwise);
//! internal keys (the platform's) always may. Every such change is recorded and sends a
//! security notice to the account's previous email address.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Cancellation, Role};
use super::ops::{self, Proof};
use crate::api::{ApiErrors, Args, Caller, Done, IdArgs, Reply};
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

/// What vouches for a change of sign-in details made with `caller`'s key.
fn proof(caller: &Caller) -> Proof {
    Proof::ApiKey {
        internal: caller.internal(),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_cancellation))
        .routes(routes!(list_roles))
        .routes(routes!(get_username))
        .routes(routes!(change_password))
        .routes(routes!(change_pin))
        .routes(routes!(change_email))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCancellationArgs {
    /// The customer.
    pub id: i64,
    /// Why the customer is leaving: 1–2000 characters (trimmed).
    pub reason: String,
}

/// A cancellation request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancellationRequest {
    pub id: i64,
    pub reason: String,
    /// `pending` until support handles it (`completed`) or the customer withdraws it on the
    /// account page (`withdrawn`).
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub requested: OffsetDateTime,
}

impl From<Cancellation> for CancellationRequest {
    fn from(request: Cancellation) -> Self {
        Self {
            id: request.id,
            reason: request.reason,
            status: request.status.to_string(),
            requested: request.requested_at,
        }
    }
}

#[utoipa::path(post, path = "/requestCancellation", operation_id = "requestCancellation", tag = "Account",
    summary = "Create a cancellation request for a customer",
    description = "Opens the customer's cancellation request (the account's status becomes \
                   `cancellation_requested`). A customer has at most one pending request: while one is \
                   pending, another is refused with 409 Conflict.",
    request_body = RequestCancellationArgs,
    responses((status = 200, description = "The request, pending", body = Reply<CancellationRequest>), ApiErrors))]
async fn request_cancellation(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<RequestCancellationArgs>,
) -> Result<Reply<CancellationRequest>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let request = ops::request_cancellation(&state.pool, &caller.who(customer), &args.reason)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Reply::new(request.into()))
}

/// A role the customer holds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiRole {
    /// `owner`, `billing`, `technical`, `reseller`, `beta`, …
    pub name: String,
    pub description: String,
}

impl From<Role> for ApiRole {
    fn from(role: Role) -> Self {
        Self {
            name: role.name,
            description: role.description,
        }
    }
}

#[utoipa::path(post, path = "/listRoles", operation_id = "listRoles", tag = "Account",
    summary = "List all customer roles",
    request_body = IdArgs,
    responses((status = 200, description = "The customer's roles by name", body = Reply<Vec<ApiRole>>), ApiErrors))]
async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<Vec<ApiRole>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let roles = model::roles(&state.pool, customer).await?;
    Ok(Reply::new(roles.into_iter().map(ApiRole::from).collect()))
}

#[utoipa::path(post, path = "/getUsername", operation_id = "getUsername", tag = "Account",
    summary = "Get Customer Username",
    request_body = IdArgs,
    responses((status = 200, description = "The username, as a string", body = Reply<String>), ApiErrors))]
async fn get_username(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<String>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let username = ops::username(&state.pool, customer)
        .await
        .map_err(|err| err.into_app(Names::Seed))?
        .ok_or(AppError::NotFound)?;
    Ok(Reply::new(username))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordArgs {
    /// The customer.
    pub id: i64,
    /// The new password: 12 to 1024 characters, not one of the most common passwords.
    pub password: String,
}

#[utoipa::path(post, path = "/changePassword", operation_id = "changePassword", tag = "Account",
    summary = "Change the customer password",
    description = "Sets the customer's sign-in password, by the page's rules. Every browser session of the \
                   customer's is signed out; API keys keep working. A customer's key needs the setting \
                   `api_sign_in_changes` on (403 otherwise); a security notice goes to the account's email.",
    request_body = ChangePasswordArgs,
    responses((status = 200, description = "Changed", body = Done), ApiErrors))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ChangePasswordArgs>,
) -> Result<Done, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    ops::change_password(
        &state.pool,
        &state.hasher,
        &caller.who(customer),
        &proof(&caller),
        &args.password,
        None,
    )
    .await
    .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Done::YES)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePinArgs {
    /// The customer.
    pub id: i64,
    /// The new PIN: 6 to 12 digits, as a string (leading zeros count).
    pub pin: String,
}

#[utoipa::path(post, path = "/changePIN", operation_id = "changePIN", tag = "Account",
    summary = "Change the customer PIN",
    description = "Sets the PIN support asks for on the phone. A customer's key needs the setting \
                   `api_sign_in_changes` on (403 otherwise); a security notice goes to the account's email.",
    request_body = ChangePinArgs,
    responses((status = 200, description = "Changed", body = Done), ApiErrors))]
async fn change_pin(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ChangePinArgs>,
) -> Result<Done, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    ops::change_pin(
        &state.pool,
        &state.hasher,
        &caller.who(customer),
        &proof(&caller),
        &args.pin,
    )
    .await
    .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Done::YES)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailArgs {
    /// The customer.
    pub id: i64,
    /// The new address, such as name@example.com (at most 254 characters).
    pub email: String,
}

#[utoipa::path(post, path = "/changeEmail", operation_id = "changeEmail", tag = "Account",
    summary = "Change the customer email address",
    description = "Sets the address at once, as the account page does. A customer's key needs the setting \
                   `api_sign_in_changes` on (403 otherwise); a security notice goes to the previous address, and an email with a link to undo the change within 72 hours.",
    request_body = ChangeEmailArgs,
    responses((status = 200, description = "Changed", body = Done), ApiErrors))]
async fn change_email(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ChangeEmailArgs>,
) -> Result<Done, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    ops::change_email(
        &state.pool,
        &state.hasher,
        &crate::recovery::ops::Links::of(&state),
        &caller.who(customer),
        &proof(&caller),
        &args.email,
    )
    .await
    .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Done::YES)
}
