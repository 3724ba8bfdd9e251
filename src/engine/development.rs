//! The development driver: **runs no container.** Every call succeeds at once and is
//! logged, so the wizard, the site page and the site's controls can be used end to end
//! without an engine. It is the default (`BERTH_DRIVER=development`).

use super::{Check, ContainerDriver, ContainerSpec, EngineResult, Observed, PoolNet, State, Traffic};

#[derive(Debug, Clone, Copy, Default)]
pub struct DevelopmentDriver;

#[async_trait::async_trait]
impl ContainerDriver for DevelopmentDriver {
    fn name(&self) -> &'static str {
        "development"
    }

    fn needs_images(&self) -> bool {
        false
    }

    async fn ensure_network(&self, network: &PoolNet) -> EngineResult<()> {
        tracing::info!(network = %network.network, "development driver: no engine network is made");
        Ok(())
    }

    async fn ensure(&self, spec: &ContainerSpec) -> EngineResult<()> {
        tracing::info!(
            site = spec.site, image = ?spec.image, vcpu = spec.vcpu, memory_mib = spec.memory_mib,
            disk_gib = spec.disk_gib, address = %spec.address,
            "development driver: no real container is created"
        );
        Ok(())
    }

    async fn start(&self, site: i64) -> EngineResult<()> {
        tracing::info!(site, "development driver: nothing to start");
        Ok(())
    }

    async fn stop(&self, site: i64) -> EngineResult<()> {
        tracing::info!(site, "development driver: nothing to stop");
        Ok(())
    }

    async fn restart(&self, site: i64) -> EngineResult<()> {
        tracing::info!(site, "development driver: nothing to restart");
        Ok(())
    }

    async fn remove(&self, site: i64, _installation: uuid::Uuid) -> EngineResult<()> {
        tracing::info!(site, "development driver: nothing to remove");
        Ok(())
    }

    async fn observe(&self, _site: i64) -> EngineResult<Observed> {
        Ok(Observed {
            state: State::NotRun,
            preview: None,
            address: None,
        })
    }

    async fn logs(&self, _site: i64, _lines: usize) -> EngineResult<Vec<String>> {
        Ok(Vec::new())
    }

    async fn traffic(&self, _site: i64) -> EngineResult<Option<Traffic>> {
        Ok(None)
    }

    async fn doctor(&self, _images: &[String]) -> Vec<Check> {
        vec![Check::ok(
            "the development driver runs no containers and needs no engine (set BERTH_DRIVER=docker to use one)",
        )]
    }
}
