//! The real container engine (`BERTH_DRIVER=docker`): sites from the wizard run, serve their
//! files through the published preview port, and are fenced in.
//!
//! The engine is the one at `DOCKER_HOST` (default `/var/run/docker.sock`), with the image
//! `berth-test-httpd:1` built by `.ci/test-image` (built here when missing). Without an
//! engine these tests skip, loudly; in CI (`CI=true`) they fail. Each test gets its own pool
//! network (a random 10.x.y.0/24), its own site ids and installation id, so tests share the
//! engine without meeting; containers are reached only through ports published on
//! 127.0.0.1.

mod controls;

use std::sync::Arc;
use std::time::Duration;

use berth::engine::{DockerDriver, Platform, PoolNet};
use berth::sites::model::SiteId;
use bollard::Docker;
use rand::Rng;
use tokio::sync::OnceCell;

use crate::helpers::{TestApp, data_dir};

mod meter;
mod resume;

pub const IMAGE: &str = "berth-test-httpd:1";
/// How long a site may take to be provisioned on the engine.
pub const PROVISIONED_WITHIN: Duration = Duration::from_secs(60);

pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// The engine, with the test image; `None` (after saying so loudly) when there is none
/// outside CI. In CI a missing engine fails the test.
pub async fn engine() -> Option<Docker> {
    static READY: OnceCell<Option<Docker>> = OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let host = docker_host();
            let path = host.trim_start_matches("unix://").to_owned();
            let connected = match Docker::connect_with_unix(&path, 120, bollard::API_DEFAULT_VERSION) {
                Ok(docker) => docker.negotiate_version().await.ok(),
                Err(_) => None,
            };
            let Some(docker) = connected else {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("no container engine at {host}: CI must run the engine tests (.ci/run starts dockerd)");
                }
                eprintln!(
                    "\n*** SKIPPED: the engine tests need a container engine at {host} (start dockerd; see README \"Tests\")\n"
                );
                return None;
            };
            if docker.inspect_image(IMAGE).await.is_err() {
                let built = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/test-image"))
                    .arg(IMAGE)
                    .status()
                    .expect(".ci/test-image runs");
                assert!(built.success(), ".ci/test-image could not build {IMAGE}");
            }
            Some(docker)
        })
        .await
        .clone()
}

/// A Berth on the engine: the docker driver, port 80 published on 127.0.0.1, the test image
/// for every type, and a pool network of its own. Call [`EngineApp::clean_up`] at the end of
/// the test to remove its containers and network.
pub struct EngineApp {
    pub app: TestApp,
    pub docker: Docker,
    pub network: PoolNet,
    pub platform: Arc<Platform>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl std::ops::Deref for EngineApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl EngineApp {
    /// `None` when there is no engine (outside CI).
    pub async fn spawn() -> Option<Self> {
        let docker = engine().await?;
        let platform = Platform {
            driver: Arc::new(DockerDriver::new(&docker_host())),
            data: data_dir(),
            publish: Some("127.0.0.1".parse().unwrap()),
        };
        let app = TestApp::spawn_on(
            platform,
            berth::state::WebConfig::new(None),
            berth::web::serve::ServeLimits::default(),
        )
        .await;
        let platform = app.state.platform.clone();
        let (octet2, octet3) = {
            let mut rng = rand::thread_rng();
            (rng.gen_range(64..128u8), rng.gen_range(0..=255u8))
        };
        let network = PoolNet {
            network: format!("10.{octet2}.{octet3}.0/24").parse().unwrap(),
            gateway: format!("10.{octet2}.{octet3}.1").parse().unwrap(),
        };
        // Site ids, and so container names, of this test alone; and an installation id of
        // its own, so no test adopts another's container.
        let first_site: i64 = rand::thread_rng().gen_range(1_000_000..1_000_000_000);
        for sql in [
            format!("alter table sites alter column id restart with {first_site}"),
            "update installation set id = gen_random_uuid()".to_owned(),
            "delete from ip_pool".to_owned(),
            "delete from pool_networks".to_owned(),
            format!(
                "insert into pool_networks (network, gateway) values ('{}', '{}')",
                network.network, network.gateway
            ),
            format!(
                "insert into ip_pool (address) select ('10.{octet2}.{octet3}.' || n)::inet from generate_series(10, 20) n"
            ),
        ] {
            sqlx::query(&sql).execute(&app.pool).await.unwrap();
        }
        berth::provisioning::model::set_image(&app.pool, "*", "*", IMAGE)
            .await
            .unwrap();
        Some(Self {
            app,
            docker,
            network,
            platform,
            worker: None,
        })
    }

    /// Starts a provisioning worker on this app's platform.
    pub fn start_worker(&mut self) {
        self.worker = Some(berth::provisioning::spawn(self.app.pool.clone(), self.platform.clone()));
    }

    /// Stops the worker started by [`start_worker`](Self::start_worker).
    pub fn stop_worker(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }

    /// Waits until the site's provisioning job is done; panics with its steps when it fails
    /// or takes too long.
    pub async fn provisioned(&self, site: SiteId) {
        let deadline = tokio::time::Instant::now() + PROVISIONED_WITHIN;
        loop {
            let status: String = sqlx::query_scalar("select status from sites where id = $1")
                .bind(site)
                .fetch_one(&self.pool)
                .await
                .unwrap();
            if status == "active" {
                return;
            }
            if status == "failed" || tokio::time::Instant::now() > deadline {
                let steps: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "select s.name, s.status, s.last_error from job_steps s join provisioning_jobs j on j.id = s.job_id
                     where j.site_id = $1 order by s.position",
                )
                .bind(site)
                .fetch_all(&self.pool)
                .await
                .unwrap();
                panic!("site {site} is {status}: {steps:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The container as the engine describes it.
    pub async fn inspect(&self, site: SiteId) -> bollard::models::ContainerInspectResponse {
        self.docker
            .inspect_container(&berth::engine::container_name(site.0), None)
            .await
            .unwrap_or_else(|err| panic!("berth-{site} is not on the engine: {err}"))
    }

    /// Where the container's port 80 is published on 127.0.0.1.
    pub async fn preview(&self, site: SiteId) -> String {
        let observed = self.platform.driver.observe(site.0).await.unwrap();
        let address = observed
            .preview
            .unwrap_or_else(|| panic!("berth-{site} publishes no port"));
        format!("http://{address}")
    }

    /// Removes this test's containers and its pool network from the engine.
    pub async fn clean_up(mut self) {
        self.stop_worker();
        let sites: Vec<SiteId> = sqlx::query_scalar("select id from sites")
            .fetch_all(&self.pool)
            .await
            .unwrap();
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .build();
        for site in sites {
            let _ = self
                .docker
                .remove_container(&berth::engine::container_name(site.0), Some(options.clone()))
                .await;
        }
        let _ = self.docker.remove_network(&self.network.engine_name()).await;
        let _ = std::fs::remove_dir_all(&self.platform.data);
    }
}

/// GETs `url` until it answers 200 (a container's server takes a moment to listen);
/// returns the body.
pub async fn fetch(url: &str) -> String {
    let client = reqwest::Client::new();
    let mut last = String::new();
    for _ in 0..50 {
        match client.get(url).timeout(Duration::from_secs(5)).send().await {
            Ok(resp) if resp.status().is_success() => return resp.text().await.unwrap(),
            Ok(resp) => last = format!("status {}", resp.status()),
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url} does not answer: {last}");
}

/// Creates a site through the wizard pages as `username`; returns it.
pub async fn create_site(app: &TestApp, username: &str, hostname: &str, container: &str) -> SiteId {
    let (client, _) = app.signed_in_client(username).await;
    crate::wizard::fill_wizard(&client, hostname, container).await;
    let review = client.get("/wizard/review").await;
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = client
        .post_form("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(created.status, reqwest::StatusCode::SEE_OTHER, "{}", created.body);
    created.location().rsplit('/').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_site_from_the_wizard_runs_fenced_in_and_serves_its_files() {
    let Some(mut engine) = EngineApp::spawn().await else {
        return;
    };
    engine.start_worker();
    let site = create_site(&engine, "alice", "shop.example.com", "web").await;
    engine.provisioned(site).await;

    let address: String = sqlx::query_scalar("select host(address) from containers where site_id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    let found = engine.inspect(site).await;
    assert_eq!(found.name.as_deref(), Some(&*format!("/berth-{site}")));
    let state = found.state.as_ref().unwrap();
    assert_eq!(state.running, Some(true), "{state:?}");
    let networks = found.network_settings.as_ref().unwrap().networks.as_ref().unwrap();
    let endpoint = &networks[&engine.network.engine_name()];
    assert_eq!(
        endpoint.ip_address.as_deref(),
        Some(&*address),
        "the pool address is its IP"
    );

    // The size's limits (small: 1 vCPU, 1024 MiB) and the fence.
    let host = found.host_config.as_ref().unwrap();
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.memory, Some(1024 * 1024 * 1024));
    assert_eq!(host.pids_limit, Some(berth::engine::docker::PIDS_LIMIT));
    assert_ne!(host.privileged, Some(true));
    assert!(host.cap_add.as_ref().is_none_or(Vec::is_empty), "{:?}", host.cap_add);
    let dropped = host.cap_drop.clone().unwrap_or_default();
    for cap in berth::engine::docker::DROPPED_CAPABILITIES {
        assert!(
            dropped.iter().any(|c| c.ends_with(cap)),
            "{cap} is dropped: {dropped:?}"
        );
    }
    assert_eq!(host.security_opt.clone().unwrap_or_default(), ["no-new-privileges"]);
    assert_eq!(
        host.restart_policy.as_ref().and_then(|p| p.name),
        Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED)
    );
    let site_folder = engine.platform.data.join("sites").join(site.to_string());
    let mounts = found.mounts.clone().unwrap_or_default();
    assert_eq!(mounts.len(), 3, "production twice, staging once: {mounts:?}");
    for mount in &mounts {
        let source = mount.source.clone().unwrap_or_default();
        assert!(
            std::path::Path::new(&source).starts_with(&site_folder),
            "only the site's own folders are mounted: {source}"
        );
        assert!(!source.contains("docker.sock"));
    }
    let targets: Vec<String> = mounts.iter().filter_map(|m| m.destination.clone()).collect();
    for target in [
        "/var/www/html",
        "/srv/environments/production",
        "/srv/environments/staging",
    ] {
        assert!(targets.iter().any(|t| t == target), "{target} in {targets:?}");
    }
    // A user namespace, where the engine has one (CI starts dockerd with --userns-remap).
    let info = engine.docker.info().await.unwrap();
    let userns = info
        .security_options
        .unwrap_or_default()
        .iter()
        .any(|o| o.contains("name=userns"));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(userns, "CI's engine runs containers in a user namespace");
    }
    if userns {
        let pid = state.pid.unwrap();
        let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
        let first: Vec<&str> = uid_map.split_whitespace().take(2).collect();
        assert_eq!(first[0], "0");
        assert_ne!(
            first[1], "0",
            "root in the container is not root on the host: {uid_map}"
        );
    } else {
        eprintln!("*** the engine runs no user namespace; that check is skipped here");
    }

    // The preview address serves the environment's index.html, then a file written into
    // the files folder.
    let preview = engine.preview(site).await;
    assert!(preview.starts_with("http://127.0.0.1:"), "{preview}");
    let index = fetch(&format!("{preview}/")).await;
    assert!(index.contains("shop.example.com"), "{index}");
    let staging = site_folder.join("staging").join("index.html");
    assert!(
        std::fs::read_to_string(staging)
            .unwrap()
            .contains("staging environment")
    );
    std::fs::write(
        site_folder.join("production").join("hello.txt"),
        "written by FTP, one day\n",
    )
    .unwrap();
    assert_eq!(
        fetch(&format!("{preview}/hello.txt")).await,
        "written by FTP, one day\n"
    );

    engine.clean_up().await;
}
