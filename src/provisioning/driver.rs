//! The container driver: the one piece of provisioning that happens outside Berth.
//!
//! A platform adapter implements [`ContainerDriver`] and is handed to
//! [`spawn`](super::spawn) instead of the [`DevelopmentDriver`]; nothing else (the wizard,
//! the site page) changes.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use super::model::ContainerId;
use crate::identity::CustomerId;
use crate::sites::model::SiteId;

/// What a driver method returns: `Err` carries a message **shown to the customer** on the
/// site page (and stored in `job_steps.last_error` and `job_attempts.error`).
pub type DriverFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Everything a driver needs to create one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub customer_id: CustomerId,
    pub site_id: SiteId,
    pub container_id: ContainerId,
    /// The customer's name for it, unique per customer.
    pub name: String,
    /// A `container_types.id`, e.g. `lamp`.
    pub type_id: String,
    /// An `operating_systems.id`, e.g. `debian-13`.
    pub os_id: String,
    /// A `container_sizes.id`, e.g. `small`.
    pub size_id: String,
    pub disk_gib: i32,
    /// The address allocated to it from the pool.
    pub address: IpAddr,
}

/// Creates containers on the platform.
///
/// `create_container` is called once per successful attempt, inside the worker's
/// transaction; when it fails it is called again after a back-off, up to
/// [`MAX_ATTEMPTS`](super::MAX_ATTEMPTS) times, so it must be safe to repeat (an adapter
/// should treat "this container already exists with this spec" as success). The error
/// message is shown to the customer: say what went wrong in plain words and never include
/// credentials, internal host names or raw responses of the platform (log those instead).
pub trait ContainerDriver: Send + Sync {
    /// A short name for the logs, e.g. `development`.
    fn name(&self) -> &'static str;

    /// Creates (or confirms) the container described by `spec`.
    fn create_container<'a>(&'a self, spec: &'a ContainerSpec) -> DriverFuture<'a>;
}

/// The development driver: **creates no container at all.** It logs what it would create
/// and succeeds at once, so that the wizard, the worker and the site page can be used and
/// demonstrated end to end without a platform. It is what `berth serve` runs with; a real
/// deployment replaces it with a platform adapter implementing [`ContainerDriver`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DevelopmentDriver;

impl ContainerDriver for DevelopmentDriver {
    fn name(&self) -> &'static str {
        "development (creates no real containers)"
    }

    fn create_container<'a>(&'a self, spec: &'a ContainerSpec) -> DriverFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                customer = %spec.customer_id,
                site = %spec.site_id,
                container = %spec.container_id,
                name = %spec.name,
                r#type = %spec.type_id,
                os = %spec.os_id,
                size = %spec.size_id,
                disk_gib = spec.disk_gib,
                address = %spec.address,
                "development driver: no real container is created"
            );
            Ok(())
        })
    }
}
