//! The keys' Customer API methods: createKey, revokeKey, getKeys, createKeyACL,
//! updateKeyACL, deleteKeyACL: JSON arguments to the keys' operations (`ops`), the same the
//! `/keys` pages call.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Acl, AclId, Key};
use super::ops::{self, AclChange, AclInput, AclSaved, NewKeyInput};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, Done, IdArgs, Reply};
use crate::identity::{FormToken, KeyId, KeyType};
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(get_keys))
        .routes(routes!(create_key_acl))
        .routes(routes!(update_key_acl))
        .routes(routes!(delete_key_acl))
}

/// A key's type: `standard` may call every method, `read-only` only the get…, list… and
/// currentBillableBandwidth methods; `internal` (the platform's, made only in the staff
/// console or with `berth create-key --internal`) acts for any customer.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApiKeyType {
    Standard,
    ReadOnly,
    Internal,
}

impl From<ApiKeyType> for KeyType {
    fn from(kind: ApiKeyType) -> Self {
        match kind {
            ApiKeyType::Standard => Self::Standard,
            ApiKeyType::ReadOnly => Self::ReadOnly,
            ApiKeyType::Internal => Self::Internal,
        }
    }
}

/// A key, without its secret, with its ACLs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// `standard`, `read-only` or `internal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created: OffsetDateTime,
    /// When it was last used (to the minute), if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used: Option<OffsetDateTime>,
    pub last_used_address: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked: Option<OffsetDateTime>,
    /// The networks it may be used from; none: any address.
    pub acls: Vec<ApiKeyAcl>,
}

impl From<Key> for ApiKey {
    fn from(key: Key) -> Self {
        Self {
            id: key.id.0,
            name: key.name,
            kind: key.kind.to_string(),
            prefix: key.prefix,
            created: key.created_at,
            last_used: key.last_used_at,
            last_used_address: key.last_used_address.map(|a| a.to_string()),
            revoked: key.revoked_at,
            acls: key.acls.into_iter().map(ApiKeyAcl::from).collect(),
        }
    }
}

/// A network a key may be used from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyAcl {
    pub id: i64,
    pub key_id: i64,
    /// The network's address (host bits cleared), e.g. `203.0.113.0`.
    pub address: String,
    /// Its mask length: 0–32 for IPv4, 0–128 for IPv6.
    pub cidr: u8,
    /// Only in createKeyACL's and updateKeyACL's answer, when the address given had host
    /// bits beyond the mask: that they were cleared, and what was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<Acl> for ApiKeyAcl {
    fn from(acl: Acl) -> Self {
        Self {
            id: acl.id.0,
            key_id: acl.key_id.0,
            address: acl.address(),
            cidr: acl.cidr(),
            note: None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyArgs {
    /// The customer.
    pub id: i64,
    /// `standard` (the default) or `read-only`. `internal` is refused (403): internal keys
    /// are made only in the staff console or with `berth create-key --internal`.
    #[serde(rename = "type")]
    pub kind: Option<ApiKeyType>,
    /// Berth's addition: the key's name, 1–64 characters (default "API").
    pub name: Option<String>,
    /// Berth's addition: a token of the caller's choosing (1–64 characters) that makes a
    /// retried call safe: a second call with the same token within an hour creates nothing
    /// and answers 409 Conflict (the secret is shown only once).
    #[serde(rename = "formToken")]
    pub form_token: Option<String>,
}

/// A key just created, with its secret: the only time the secret is returned.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub prefix: String,
    /// Send it as `Authorization: Bearer …`; it is not shown again.
    pub secret: String,
}

#[utoipa::path(post, path = "/createKey", operation_id = "createKey", tag = "API keys",
    summary = "Create an API Key for the customer",
    request_body = CreateKeyArgs,
    responses((status = 200, description = "The key with its secret", body = Reply<CreatedKey>), ApiErrors))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CreateKeyArgs>,
) -> Result<Reply<CreatedKey>, AppError> {
    let kind = KeyType::from(args.kind.unwrap_or(ApiKeyType::Standard));
    ops::refuse_internal(Some(kind)).map_err(|err| err.into_app(Names::Seed))?;
    let customer = caller.customer(&state.pool, args.id).await?;
    let input = NewKeyInput {
        name: args.name.unwrap_or_else(|| "API".to_owned()),
        kind: Some(kind),
        once: FormToken::from_field(args.form_token.as_deref()),
    };
    let created = ops::create_key(&state.pool, &caller.who(customer), input)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Reply::new(CreatedKey {
        id: created.id.0,
        name: created.name.as_str().to_owned(),
        kind: created.kind.to_string(),
        prefix: created.prefix,
        secret: created.secret.expose().to_owned(),
    }))
}

#[utoipa::path(post, path = "/revokeKey", operation_id = "revokeKey", tag = "API keys",
    summary = "Revoke an API Key for the customer",
    request_body = IdArgs,
    responses((status = 200, description = "The key, revoked", body = Reply<ApiKey>), ApiErrors))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<ApiKey>, AppError> {
    let customer = caller.owner(&state.pool, Object::Key, args.id).await?;
    ops::revoke_key(&state.pool, &caller.who(customer), KeyId(args.id))
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    let key = model::key(&state.pool, customer, KeyId(args.id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Reply::new(key.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetKeysArgs {
    /// The customer.
    pub id: i64,
    /// Only keys of this type.
    #[serde(rename = "type")]
    pub kind: Option<ApiKeyType>,
}

#[utoipa::path(post, path = "/getKeys", operation_id = "getKeys", tag = "API keys",
    summary = "List all customer Keys",
    request_body = GetKeysArgs,
    responses((status = 200, description = "The keys, newest first, without secrets, with their ACLs",
        body = Reply<Vec<ApiKey>>), ApiErrors))]
async fn get_keys(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<GetKeysArgs>,
) -> Result<Reply<Vec<ApiKey>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let keys = model::all(&state.pool, customer, args.kind.map(KeyType::from)).await?;
    Ok(Reply::new(keys.into_iter().map(ApiKey::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyAclArgs {
    /// The key.
    pub id: i64,
    /// An IPv4 or IPv6 address; host bits beyond the mask are cleared.
    pub address: String,
    /// The mask length: 0–32 for IPv4, 0–128 for IPv6.
    pub cidr: i64,
}

#[utoipa::path(post, path = "/createKeyACL", operation_id = "createKeyACL", tag = "API keys",
    summary = "Associate an ACL with the key",
    request_body = CreateKeyAclArgs,
    responses((status = 200, description = "The ACL as stored", body = Reply<ApiKeyAcl>), ApiErrors))]
async fn create_key_acl(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CreateKeyAclArgs>,
) -> Result<Reply<ApiKeyAcl>, AppError> {
    let customer = caller.owner(&state.pool, Object::Key, args.id).await?;
    let input = AclInput {
        address: args.address,
        cidr: args.cidr.to_string(),
    };
    let saved = ops::add_acl(&state.pool, &caller.who(customer), KeyId(args.id), input, None)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Reply::new(saved.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyAclArgs {
    /// The ACL.
    pub id: i64,
    /// A new address; left out, the current one stays (as stored when this call is applied:
    /// two partial updates at once apply one after the other).
    pub address: Option<String>,
    /// A new mask length; left out, the current one stays. Required when the new address
    /// is of the other family (IPv4 to IPv6 or back): 422 on `cidr` otherwise.
    pub cidr: Option<i64>,
}

#[utoipa::path(post, path = "/updateKeyACL", operation_id = "updateKeyACL", tag = "API keys",
    summary = "Update a field on the ACL",
    request_body = UpdateKeyAclArgs,
    responses((status = 200, description = "The ACL as stored", body = Reply<ApiKeyAcl>), ApiErrors))]
async fn update_key_acl(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<UpdateKeyAclArgs>,
) -> Result<Reply<ApiKeyAcl>, AppError> {
    let customer = caller.owner(&state.pool, Object::KeyAcl, args.id).await?;
    let change = AclChange {
        address: args.address,
        cidr: args.cidr.map(|c| c.to_string()),
        version: None,
    };
    // What this call stored, not what a later call may have stored since.
    let saved = ops::update_acl(&state.pool, &caller.who(customer), AclId(args.id), change)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Reply::new(saved.into()))
}

#[utoipa::path(post, path = "/deleteKeyACL", operation_id = "deleteKeyACL", tag = "API keys",
    summary = "Delete a key ACL",
    request_body = IdArgs,
    responses((status = 200, description = "Deleted", body = Done), ApiErrors))]
async fn delete_key_acl(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Done, AppError> {
    let customer = caller.owner(&state.pool, Object::KeyAcl, args.id).await?;
    ops::delete_acl(&state.pool, &caller.who(customer), AclId(args.id))
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Done::YES)
}

impl From<AclSaved> for ApiKeyAcl {
    fn from(saved: AclSaved) -> Self {
        Self {
            note: saved.note(),
            ..saved.acl.into()
        }
    }
}
