//! Who calls the API: the key in `Authorization: Bearer …`, checked on every request by
//! `keys::model::verify` (unknown or revoked: 401), held to its rate (429 with
//! `Retry-After`), then to its ACLs (403, recorded once per 10 minutes per key, so a leaked
//! key flooding from outside them is held to its rate before anything is written), and, for
//! a read-only key, to the methods that change nothing (403). Then [`Caller::customer`] and [`Caller::owner`] decide whose data a call
//! may touch.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::api::model::{self, Object};
use crate::identity::CustomerId;
use crate::identity::{KeyId, KeyType, Principal, Refusal, Who};
use crate::state::AppState;
use crate::web::{AppError, AuthError, ClientIp};

/// The per-key rate limit: a bucket of `burst` calls refilled at `per_second`.
pub struct RateLimit(DefaultKeyedRateLimiter<KeyId>);

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        Self(governor::RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        ))
    }

    /// `Err(seconds)` to wait when the key has used its calls.
    fn check(&self, key: KeyId) -> Result<(), u64> {
        self.0.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The key an API request was made with, once it passed the checks.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: KeyId,
    /// The key's own customer; `None` for an internal key (the platform's).
    pub customer: Option<CustomerId>,
    pub kind: KeyType,
    pub prefix: String,
    /// Internal keys: who made it ("staff sam", "operator root").
    pub created_by: Option<String>,
    /// The client's address (see `ClientIp`).
    pub address: IpAddr,
    /// The method called, by its seed name.
    pub method: String,
}

/// Whether a method changes nothing, so a read-only key may call it.
pub fn reads_only(method: &str) -> bool {
    method.starts_with("get") || method.starts_with("list") || method == "currentBillableBandwidth"
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let method = parts.uri.path().rsplit('/').next().unwrap_or("").to_owned();
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|s| s.trim().to_owned())
            .ok_or(AppError::Auth(AuthError::BadKey(
                "Send an API key from the panel's API keys page as Authorization: Bearer berth_….",
            )))?;
        let ClientIp(address) = ClientIp::from_request_parts(parts, state).await?;
        let limit = parts.extensions.get::<Arc<RateLimit>>().cloned();
        let principal = match crate::identity::key::verify(&app.pool, &secret, address).await? {
            Ok(principal) => principal,
            Err(Refusal::Unknown) => return Err(AppError::Auth(AuthError::BadKey("This API key is not known."))),
            Err(Refusal::Revoked) => return Err(AppError::Auth(AuthError::BadKey("This API key is revoked."))),
            Err(Refusal::Closed) => {
                return Err(AppError::Auth(AuthError::BadKey(
                    "This account is cancelled; its API keys no longer work.",
                )));
            }
            Err(Refusal::AddressNotAllowed { key, customer, prefix }) => {
                // The key's rate first: a flood of refused calls gets 429 and writes nothing.
                if let Some(limit) = &limit {
                    limit
                        .check(key)
                        .map_err(|after| AppError::Auth(AuthError::RateLimited(after)))?;
                }
                match customer {
                    Some(customer) => {
                        crate::identity::key::record_refusal(&app.pool, key, customer, &prefix, address).await?;
                    }
                    None => tracing::warn!(key = prefix, %address, "internal key refused: outside its ACLs"),
                }
                return Err(AppError::Forbidden("this key may not be used from this address"));
            }
        };
        let Principal {
            key,
            customer,
            kind,
            prefix,
            created_by,
        } = principal;
        if let Some(limit) = &limit {
            limit
                .check(key)
                .map_err(|after| AppError::Auth(AuthError::RateLimited(after)))?;
        }
        if kind == KeyType::ReadOnly && !reads_only(&method) {
            return Err(AppError::Forbidden(
                "a read-only key may only call methods that change nothing",
            ));
        }
        Ok(Self {
            key,
            customer,
            kind,
            prefix,
            created_by,
            address,
            method,
        })
    }
}

impl Caller {
    pub fn internal(&self) -> bool {
        self.kind == KeyType::Internal
    }

    /// Who acted, for the Activity log: the key, by its prefix; an internal key with its
    /// owner ("internal API key berth_ab12cd34 of staff sam").
    pub fn actor(&self) -> String {
        match self.kind {
            KeyType::Internal => format!(
                "internal API key {} of {}",
                self.prefix,
                self.created_by.as_deref().unwrap_or("the platform")
            ),
            _ => format!("API key {}", self.prefix),
        }
    }

    /// `customer` (as [`Caller::customer`] or [`Caller::owner`] found it), this key as the
    /// actor and the client's address: what an operation takes.
    pub fn who(&self, customer: CustomerId) -> Who {
        Who::new(customer, self.actor(), Some(self.address))
    }

    /// Refuses an argument reserved to internal keys (`role: internal` in the seed) when it
    /// was passed by a customer's key.
    pub fn internal_argument(&self, name: &'static str, passed: bool) -> Result<(), AppError> {
        if passed && !self.internal() {
            return Err(AppError::Forbidden(match name {
                "address" => "only internal keys may name a specific address",
                "type" => "only internal keys may create internal keys",
                _ => "only internal keys may pass this argument",
            }));
        }
        Ok(())
    }

    /// The customer a method's `id` or `customerId` names: the key's own; for an internal
    /// key, any customer there is. Any other is not found, like one that does not exist.
    pub async fn customer(&self, db: &sqlx::PgPool, id: i64) -> Result<CustomerId, AppError> {
        let id = CustomerId(id);
        if self.internal() {
            if !model::customer_exists(db, id).await? {
                return Err(AppError::NotFound);
            }
            self.record_internal(db, id).await?;
            return Ok(id);
        }
        if Some(id) != self.customer {
            return Err(AppError::NotFound);
        }
        Ok(id)
    }

    /// The customer whose object a method names by its id: for a customer's key, that
    /// customer (the model's query, which filters by customer, then finds another's object
    /// not found); for an internal key, the object's owner.
    pub async fn owner(&self, db: &sqlx::PgPool, object: Object, id: i64) -> Result<CustomerId, AppError> {
        if !self.internal() {
            return self.customer.ok_or(AppError::NotFound);
        }
        let owner = model::owner(db, object, id).await?.ok_or(AppError::NotFound)?;
        self.record_internal(db, owner).await?;
        Ok(owner)
    }

    /// Every call with an internal key is written to the customer's Activity.
    async fn record_internal(&self, db: &sqlx::PgPool, customer: CustomerId) -> Result<(), AppError> {
        crate::audit::record(db, &self.who(customer), "api_internal_call", &self.method).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_methods_are_the_getters_and_listers() {
        for method in [
            "getKeys",
            "listContacts",
            "currentBillableBandwidth",
            "getDetailedIpAddresses",
        ] {
            assert!(reads_only(method), "{method}");
        }
        for method in [
            "createKey",
            "acknowledgeNotice",
            "setSettings",
            "CP_Wizard",
            "freeIpAddress",
        ] {
            assert!(!reads_only(method), "{method}");
        }
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_says_when() {
        let limit = RateLimit::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limit.check(KeyId(1)), Ok(()));
        }
        assert_eq!(limit.check(KeyId(1)), Err(1));
        // Another key has its own bucket.
        assert_eq!(limit.check(KeyId(2)), Ok(()));
    }
}
