//! The keys' Customer API methods: createKey, revokeKey, getKeys, createKeyACL,
//! updateKeyACL, deleteKeyACL; the same model calls and rules as the `/keys` pages.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Acl, AclId, Key, KeyName, Refused};
use super::network::AclNetwork;
use super::{acl_field_error, changeable_key, refused};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, Done, IdArgs, Reply, invalid};
use crate::identity::key::forget_verified;
use crate::identity::{KeyId, KeyType};
use crate::state::AppState;
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
            kind: key.kind,
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
    if kind == KeyType::Internal {
        return Err(AppError::Forbidden(
            "internal keys are made only in the staff console or with berth create-key --internal",
        ));
    }
    let customer = caller.customer(&state.pool, args.id).await?;
    let name: KeyName = args
        .name
        .as_deref()
        .unwrap_or("API")
        .parse()
        .map_err(|message: String| invalid("name", message))?;
    let mut tx = state.pool.begin().await?;
    let created = model::create(
        &mut tx,
        customer,
        &caller.actor(),
        &name,
        kind,
        None,
        Some(caller.address),
    )
    .await?
    .map_err(|_| {
        invalid(
            "id",
            format!(
                "The customer has {} active keys, the most allowed. Revoke one first.",
                model::MAX_ACTIVE_KEYS
            ),
        )
    })?;
    tx.commit().await?;
    Ok(Reply::new(CreatedKey {
        id: created.id.0,
        name: name.as_str().to_owned(),
        kind: kind.as_str().to_owned(),
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
    let mut tx = state.pool.begin().await?;
    model::revoke(&mut tx, customer, &caller.actor(), KeyId(args.id), Some(caller.address))
        .await?
        .map_err(refused)?;
    tx.commit().await?;
    forget_verified();
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
    let key = KeyId(args.id);
    changeable_key(&state, customer, key).await?;
    let network = AclNetwork::parse(&args.address, &args.cidr.to_string())?;
    let mut tx = state.pool.begin().await?;
    let id = model::add_acl(&mut tx, customer, &caller.actor(), key, &network, Some(caller.address))
        .await?
        .map_err(acl_refused)?;
    tx.commit().await?;
    forget_verified();
    acl_reply(&state, customer, id, network.cleared_note(&args.address)).await
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
    let shown = model::acl(&state.pool, customer, AclId(args.id))
        .await?
        .ok_or(AppError::NotFound)?;
    changeable_key(&state, customer, shown.key_id).await?;
    // A part left out keeps the value stored when this call holds the key's lock, so two
    // partial updates at once apply in turn: neither undoes the other.
    let mut tx = state.pool.begin().await?;
    let current = model::lock_acl(&mut tx, customer, shown.id).await?.map_err(refused)?;
    let cidr = args.cidr.map(|c| c.to_string());
    let network = AclNetwork::change(current.network, args.address.as_deref(), cidr.as_deref())?;
    let note = args.address.as_deref().and_then(|typed| network.cleared_note(typed));
    if network.network != current.network {
        model::update_acl(
            &mut tx,
            customer,
            &caller.actor(),
            &current,
            &network,
            Some(caller.address),
        )
        .await?
        .map_err(acl_refused)?;
        tx.commit().await?;
        forget_verified();
    }
    // What this call stored, not what a later call may have stored since.
    let stored = Acl {
        network: network.network,
        ..current
    };
    Ok(Reply::new(ApiKeyAcl { note, ..stored.into() }))
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
    let current = model::acl(&state.pool, customer, AclId(args.id))
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tx = state.pool.begin().await?;
    model::delete_acl(&mut tx, customer, &caller.actor(), &current, Some(caller.address))
        .await?
        .map_err(refused)?;
    tx.commit().await?;
    forget_verified();
    Ok(Done::YES)
}

/// A refused ACL change: on the `address` argument, as on the page's form.
fn acl_refused(refusal: Refused) -> AppError {
    match acl_field_error(&refusal) {
        Some(message) => invalid("address", message),
        None => refused(refusal),
    }
}

async fn acl_reply(
    state: &AppState,
    customer: crate::identity::CustomerId,
    id: AclId,
    note: Option<String>,
) -> Result<Reply<ApiKeyAcl>, AppError> {
    let acl = model::acl(&state.pool, customer, id).await?.ok_or(AppError::NotFound)?;
    Ok(Reply::new(ApiKeyAcl { note, ..acl.into() }))
}
