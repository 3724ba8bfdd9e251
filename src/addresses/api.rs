//! The IP addresses' Customer API methods: addIpAddress, getIpAddresses,
//! getDetailedIpAddresses, freeIpAddress: JSON arguments to the addresses' operations
//! (`ops`), the same the `/addresses` page calls.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Family, Held};
use super::ops::{self, AddInput};
use crate::api::{ApiErrors, Args, Caller, Done, IdArgs, Reply};
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_ip_address))
        .routes(routes!(get_ip_addresses))
        .routes(routes!(get_detailed_ip_addresses))
        .routes(routes!(free_ip_address))
}

/// Which kind of address to take from the pool.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Ipv4,
    Ipv6,
}

impl From<IpFamily> for Family {
    fn from(family: IpFamily) -> Self {
        match family {
            IpFamily::Ipv4 => Self::V4,
            IpFamily::Ipv6 => Self::V6,
        }
    }
}

impl From<Family> for IpFamily {
    fn from(family: Family) -> Self {
        match family {
            Family::V4 => Self::Ipv4,
            Family::V6 => Self::Ipv6,
        }
    }
}

/// An address the customer holds (IPAddressDetails).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressDetails {
    /// E.g. `192.0.2.10` or `2001:db8:b::10`.
    pub address: String,
    pub family: IpFamily,
    /// Its reverse DNS name, in ASCII (IDN labels as punycode), if one is set.
    pub reverse_dns: Option<String>,
    /// What holds it; null when nothing does (then it can be freed).
    pub attached_to: Option<Attachment>,
    /// When the customer took it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub allocated: Option<OffsetDateTime>,
}

/// The container an address is attached to, with its site.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The container's name.
    pub container: String,
    pub site_id: Option<i64>,
    /// The site's name.
    pub site: Option<String>,
}

impl From<Held> for IpAddressDetails {
    fn from(held: Held) -> Self {
        Self {
            address: held.address.to_string(),
            family: if held.family == 6 {
                IpFamily::Ipv6
            } else {
                IpFamily::Ipv4
            },
            reverse_dns: held.reverse_dns,
            attached_to: held.container.map(|container| Attachment {
                container,
                site_id: held.site_id,
                site: held.site,
            }),
            allocated: held.allocated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddIpAddressArgs {
    /// The customer.
    pub id: i64,
    /// Internal keys only: a specific free address of the pool to take (its family is the
    /// address's own). Customer keys passing it are refused (403).
    pub address: Option<String>,
    /// Berth's addition: which kind of address to take, `ipv4` (the default) or `ipv6`, as
    /// on the page.
    pub family: Option<IpFamily>,
}

#[utoipa::path(post, path = "/addIpAddress", operation_id = "addIpAddress", tag = "IP addresses",
    summary = "Add address to the Customer",
    description = "Takes the lowest free address of `family` from the platform pool. When the pool has no \
                   free address of that family, answers 409 Conflict saying so.",
    request_body = AddIpAddressArgs,
    responses((status = 200, description = "The address taken", body = Reply<IpAddressDetails>), ApiErrors))]
async fn add_ip_address(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<AddIpAddressArgs>,
) -> Result<Reply<IpAddressDetails>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let input = AddInput {
        family: args.family.map(|f| Family::from(f).name().to_owned()),
        address: args.address,
        internal: caller.internal(),
        once: None,
    };
    let address = ops::add_address(&state.pool, &caller.who(customer), input)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    let held = model::one(&state.pool, customer, address)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Reply::new(held.into()))
}

#[utoipa::path(post, path = "/getIpAddresses", operation_id = "getIpAddresses", tag = "IP addresses",
    summary = "Get Addresses associated with Customer",
    request_body = IdArgs,
    responses((status = 200, description = "The customer's addresses, IPv4 first, in address order",
        body = Reply<Vec<String>>), ApiErrors))]
async fn get_ip_addresses(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<Vec<String>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let held = model::held(&state.pool, customer).await?;
    Ok(Reply::new(held.into_iter().map(|h| h.address.to_string()).collect()))
}

#[utoipa::path(post, path = "/getDetailedIpAddresses", operation_id = "getDetailedIpAddresses",
    tag = "IP addresses",
    summary = "Get address details for a Customer",
    request_body = IdArgs,
    responses((status = 200, description = "The customer's addresses with their details, IPv4 first, in address order",
        body = Reply<Vec<IpAddressDetails>>), ApiErrors))]
async fn get_detailed_ip_addresses(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<IdArgs>,
) -> Result<Reply<Vec<IpAddressDetails>>, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let held = model::held(&state.pool, customer).await?;
    Ok(Reply::new(held.into_iter().map(IpAddressDetails::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreeIpAddressArgs {
    /// The customer.
    pub id: i64,
    /// An address the customer holds.
    pub address: String,
}

#[utoipa::path(post, path = "/freeIpAddress", operation_id = "freeIpAddress", tag = "IP addresses",
    summary = "Free an Address from the customer",
    description = "Gives the address back to the pool. An address attached to a container cannot be freed: \
                   409 Conflict, saying what holds it. An address the customer does not hold: 404.",
    request_body = FreeIpAddressArgs,
    responses((status = 200, description = "Freed", body = Done), ApiErrors))]
async fn free_ip_address(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<FreeIpAddressArgs>,
) -> Result<Done, AppError> {
    let customer = caller.customer(&state.pool, args.id).await?;
    let address = ops::parse_address(&args.address).map_err(|err| err.into_app(Names::Seed))?;
    ops::free_address(&state.pool, &caller.who(customer), address)
        .await
        .map_err(|err| err.into_app(Names::Seed))?;
    Ok(Done::YES)
}
