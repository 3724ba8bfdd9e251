//! The platform behind the panel (DESIGN §8): the container engine a site runs on, and the
//! files folders its environments serve. Below the areas: provisioning drives it, the site
//! page reads it, the meter samples it.
//!
//! [`ContainerDriver`] is the one interface to an engine. [`DevelopmentDriver`] (the
//! default) runs nothing; [`DockerDriver`] drives `dockerd` or Podman's Docker-compatible
//! socket through the Docker Engine API. Containers are named `berth-<site id>`
//! ([`container_name`]) so that every call is safe to repeat.

pub mod development;
pub mod docker;
pub mod files;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::types::ipnetwork::IpNetwork;

pub use development::DevelopmentDriver;
pub use docker::DockerDriver;

/// What a driver call returns on failure: a message **shown to the customer** (on the site
/// page, in `job_steps.last_error`). Say what went wrong in plain words; log the engine's
/// raw answer instead of putting it here.
pub type EngineResult<T> = Result<T, String>;

/// The engine's name of a site's container.
pub fn container_name(site: i64) -> String {
    format!("berth-{site}")
}

/// The driver in use and where the platform keeps its files.
pub struct Platform {
    pub driver: Arc<dyn ContainerDriver>,
    /// `BERTH_DATA`: environments' files live under `sites/` in it.
    pub data: PathBuf,
    /// `BERTH_PUBLISH`: the host address a container's port 80 is published on.
    pub publish: Option<IpAddr>,
}

impl Platform {
    /// The development driver, with files under `data`.
    pub fn development(data: PathBuf) -> Self {
        Self {
            driver: Arc::new(DevelopmentDriver),
            data,
            publish: None,
        }
    }

    pub fn files(&self) -> files::Files {
        files::Files::new(&self.data)
    }
}

/// A network of the address pool, as the engine gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNet {
    pub network: IpNetwork,
    pub gateway: IpAddr,
}

impl PoolNet {
    /// The engine network's name, e.g. `berth-pool-192.0.2.0-24`.
    pub fn engine_name(&self) -> String {
        let address = self.network.network().to_string().replace(':', "_");
        format!("berth-pool-{address}-{}", self.network.prefix())
    }
}

/// One environment's files folder and where the container sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub environment: String,
    pub host: PathBuf,
    /// The production environment is also served from `/var/www/html`.
    pub production: bool,
}

/// Everything a driver needs to create a site's container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub site: i64,
    /// This Berth's `installation.id`: a container with the same name made by another
    /// Berth on the same engine is never adopted or removed.
    pub installation: uuid::Uuid,
    /// From `container_images`; `None` when no image is set (the development driver needs
    /// none).
    pub image: Option<String>,
    pub vcpu: i32,
    pub memory_mib: i32,
    pub disk_gib: i32,
    pub address: IpAddr,
    pub network: Option<PoolNet>,
    pub mounts: Vec<Mount>,
    pub publish: Option<IpAddr>,
}

/// What the engine says about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    Restarting,
    /// Not running; `code` is the exit code of its last run, `reason` what the engine said
    /// (out of memory, an error starting it).
    Exited {
        code: i64,
        reason: Option<String>,
    },
    /// The engine has no such container.
    Missing,
    /// The development driver runs nothing.
    NotRun,
}

/// A container as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub state: State,
    /// Where its port 80 is published (`BERTH_PUBLISH`).
    pub preview: Option<SocketAddr>,
    /// Its address on its pool network.
    pub address: Option<IpAddr>,
}

/// A container's network counters since it started (they start again from zero when it
/// restarts), as the container sees them: `received` came in to the site, `sent` went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    pub received: u64,
    pub sent: u64,
    /// Which run of the container the counters belong to (the engine's container id and
    /// when it last started), when the engine says: when it changes, the counters started
    /// again from zero even if they are higher than the last reading.
    pub run: Option<String>,
}

/// One line of `berth doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub what: String,
}

impl Check {
    pub fn ok(what: impl Into<String>) -> Self {
        Self {
            ok: true,
            what: what.into(),
        }
    }

    pub fn missing(what: impl Into<String>) -> Self {
        Self {
            ok: false,
            what: what.into(),
        }
    }
}

/// A container engine. Every method is safe to repeat: creating what exists adopts it,
/// starting what runs and removing what is gone succeed.
#[async_trait::async_trait]
pub trait ContainerDriver: Send + Sync {
    /// A short name for the logs and the site page, e.g. `docker`.
    fn name(&self) -> &'static str;

    /// Whether a site needs an image from `container_images` (types and systems with none
    /// are not offered in the wizard).
    fn needs_images(&self) -> bool;

    /// Creates the pool network on the engine, or confirms it.
    async fn ensure_network(&self, network: &PoolNet) -> EngineResult<()>;

    /// Creates the site's container (or adopts the one already there) and starts it.
    async fn ensure(&self, spec: &ContainerSpec) -> EngineResult<()>;

    async fn start(&self, site: i64) -> EngineResult<()>;
    async fn stop(&self, site: i64) -> EngineResult<()>;
    async fn restart(&self, site: i64) -> EngineResult<()>;
    /// Removes the container; a container that is not there is already removed.
    async fn remove(&self, site: i64, installation: uuid::Uuid) -> EngineResult<()>;

    async fn observe(&self, site: i64) -> EngineResult<Observed>;
    /// The last `lines` lines of the container's output, oldest first.
    async fn logs(&self, site: i64, lines: usize) -> EngineResult<Vec<String>>;
    /// Its network counters; `None` when it is not running.
    async fn traffic(&self, site: i64) -> EngineResult<Option<Traffic>>;

    /// Checks the engine: reachable, its API version, these images present.
    async fn doctor(&self, images: &[String]) -> Vec<Check>;
}
