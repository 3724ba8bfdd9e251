//! The IP addresses' operations, the one place that decides about them: the `/addresses`
//! page and the Customer API methods call these, and only translate their input and errors.

use std::net::IpAddr;

use sqlx::PgPool;

use super::model::{self, Family, ReverseName};
use crate::audit;
use crate::db::Tx;
use crate::identity::Who;
use crate::identity::once::{self, FormToken};
use crate::validation::{Field, Invalid, Names};
use crate::web::AppError;
use crate::web::once::REPEATED;

/// The addresses' fields, by their form and API argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    Family,
    Address,
    ReverseDns,
}

impl Field for AddressField {
    fn form(self) -> &'static str {
        match self {
            Self::Family => "family",
            Self::Address => "address",
            Self::ReverseDns => "reverse_dns",
        }
    }

    fn seed(self) -> &'static str {
        match self {
            Self::Family => "family",
            Self::Address => "address",
            Self::ReverseDns => "reverseDns",
        }
    }
}

/// Why an operation on addresses was refused.
#[derive(Debug)]
pub enum AddressError {
    Invalid(Invalid<AddressField>),
    /// A specific address was named by a caller without the platform's powers.
    Forbidden,
    /// The customer holds no such address.
    NotFound,
    /// The form was sent before with its one-time token: that one took the address.
    Repeated,
    /// No free address of that family is left in the pool.
    PoolEmpty(Family),
    /// The customer holds `held` addresses of the family, and may hold `quota`.
    OverQuota {
        family: Family,
        held: i64,
        quota: i32,
    },
    /// A container holds it: "container web of site My shop".
    Attached {
        address: IpAddr,
        holder: String,
    },
    Db(sqlx::Error),
}

impl From<sqlx::Error> for AddressError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

/// What the customer is told when a string is no address.
pub const NOT_AN_ADDRESS: &str = "That is not an IP address.";

impl AddressError {
    fn invalid(field: AddressField, message: impl Into<String>) -> Self {
        Self::Invalid(Invalid::one(field, message))
    }

    /// Why no address could be taken, when the pool or the quota is the reason: a message
    /// about the family asked for.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            Self::PoolEmpty(family) => Some(format!(
                "No free {} address is left in the pool. Try the other kind, or ask support to add addresses.",
                family.label()
            )),
            Self::OverQuota { family, held, quota } => Some(format!(
                "You hold {held} of your {quota} {} addresses; free one first, or ask support for a larger quota.",
                family.label()
            )),
            _ => None,
        }
    }

    /// What the user is told, under the form's or the API's field names.
    pub fn into_app(self, names: Names) -> AppError {
        if let Some(message) = self.unavailable() {
            return AppError::Conflict(message);
        }
        match self {
            Self::Invalid(invalid) => AppError::Invalid(invalid.errors(names)),
            Self::Forbidden => AppError::Forbidden("only internal keys may name a specific address"),
            Self::NotFound => AppError::NotFound,
            Self::Repeated => AppError::Conflict(REPEATED.into()),
            Self::Attached { address, holder } => {
                AppError::Conflict(format!("{address} cannot be freed: it is attached to {holder}."))
            }
            Self::Db(err) => err.into(),
            Self::PoolEmpty(_) | Self::OverQuota { .. } => unreachable!("told above"),
        }
    }
}

/// Reads an address typed or passed as text.
pub fn parse_address(raw: &str) -> Result<IpAddr, AddressError> {
    raw.trim()
        .parse()
        .map_err(|_| AddressError::invalid(AddressField::Address, NOT_AN_ADDRESS))
}

/// An address to take, as asked for (addIpAddress, the add form).
#[derive(Debug, Clone, Default)]
pub struct AddInput {
    /// `ipv4` or `ipv6`; not given: IPv4, or the named address's own.
    pub family: Option<String>,
    /// A specific free address of the pool (`role: internal`); empty is none.
    pub address: Option<String>,
    /// Whether the caller has the platform's powers (an internal API key): only it may name
    /// an address. Never a customer's page, impersonating or not.
    pub internal: bool,
    /// The form's one-time token: sent before, nothing is taken ([`AddressError::Repeated`]).
    pub once: Option<FormToken>,
}

/// Takes the lowest free address of the family for `who`'s customer, or the named one.
pub async fn add_address(db: &PgPool, who: &Who, input: AddInput) -> Result<IpAddr, AddressError> {
    let named = input.address.as_deref().filter(|a| !a.trim().is_empty());
    if named.is_some() && !input.internal {
        return Err(AddressError::Forbidden);
    }
    let specific = named.map(parse_address).transpose()?;
    let given = match input.family.as_deref() {
        None => None,
        Some(raw) => Some(
            Family::parse(raw).ok_or_else(|| AddressError::invalid(AddressField::Family, "Choose IPv4 or IPv6."))?,
        ),
    };
    let family = match (specific, given) {
        (Some(address), Some(given)) if given != Family::of(address) => {
            return Err(AddressError::invalid(
                AddressField::Family,
                format!(
                    "{address} is an {} address; leave family out.",
                    Family::of(address).label()
                ),
            ));
        }
        (Some(address), _) => Family::of(address),
        (None, given) => given.unwrap_or(Family::V4),
    };
    let mut tx = Tx::begin(db).await?;
    if !once::first_use_of(&mut *tx, who.customer, input.once).await? {
        return Err(AddressError::Repeated);
    }
    let quota = model::lock_quota(&mut tx, who.customer, family).await?;
    let held = model::held_of(&mut *tx, who.customer, family).await?;
    // An empty pool is said first: a larger quota would not help.
    if specific.is_none() && model::pool_empty(&mut *tx, family).await? {
        return Err(AddressError::PoolEmpty(family));
    }
    if held >= i64::from(quota) {
        return Err(AddressError::OverQuota { family, held, quota });
    }
    let taken = match specific {
        Some(address) => model::take(&mut tx, who.customer, address).await?,
        None => model::take_next(&mut tx, who.customer, family).await?,
    };
    let Some(address) = taken else {
        return Err(match specific {
            Some(_) => AddressError::invalid(AddressField::Address, "That address is not a free address of the pool."),
            None => AddressError::PoolEmpty(family),
        });
    };
    audit::record(&mut *tx, who, "address_added", &address.to_string()).await?;
    tx.commit().await?;
    Ok(address)
}

/// Sets or clears (`raw` empty) the reverse DNS name of an address `who`'s customer holds.
pub async fn set_reverse_dns(db: &PgPool, who: &Who, address: IpAddr, raw: &str) -> Result<ReverseName, AddressError> {
    model::one(db, who.customer, address)
        .await?
        .ok_or(AddressError::NotFound)?;
    let name = raw
        .parse::<ReverseName>()
        .map_err(|message| AddressError::invalid(AddressField::ReverseDns, message))?;
    let mut tx = Tx::begin(db).await?;
    if !model::set_reverse_dns(&mut *tx, who.customer, address, &name).await? {
        return Err(AddressError::NotFound);
    }
    let detail = format!("{address}: {}", name.ascii().unwrap_or("(none)"));
    audit::record(&mut *tx, who, "reverse_dns_changed", &detail).await?;
    tx.commit().await?;
    Ok(name)
}

/// Gives an address of `who`'s customer back to the pool, unless a container holds it.
pub async fn free_address(db: &PgPool, who: &Who, address: IpAddr) -> Result<(), AddressError> {
    let mut tx = Tx::begin(db).await?;
    let held = model::one_for_update(&mut tx, who.customer, address)
        .await?
        .ok_or(AddressError::NotFound)?;
    if let Some(holder) = held.holder() {
        return Err(AddressError::Attached { address, holder });
    }
    model::release(&mut *tx, who.customer, address).await?;
    audit::record(&mut *tx, who, "address_freed", &address.to_string()).await?;
    tx.commit().await?;
    Ok(())
}
