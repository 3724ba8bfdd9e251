//! The Docker Engine API driver (`BERTH_DRIVER=docker`), through the `bollard` crate: works
//! with `dockerd` and with Podman's Docker-compatible socket. The API version is negotiated
//! with the engine (Debian's Docker 20.10 refuses versions above 1.41).
//!
//! Tenants stay apart: a container gets no added capability and loses the default ones a
//! web server does not need, runs with `no-new-privileges`, never privileged, with a PID
//! limit, with only its own site's files folders mounted, and in a user namespace when the
//! engine runs with one (`dockerd --userns-remap`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use bollard::Docker;
use bollard::errors::Error;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum, SystemVersion,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::{Check, ContainerDriver, ContainerSpec, EngineResult, Observed, PoolNet, State, Traffic, container_name};

/// Docker's default capabilities that a web server does not need; the container keeps the
/// rest (CHOWN, DAC_OVERRIDE, FOWNER, KILL, NET_BIND_SERVICE, SETGID, SETUID) and gets none
/// added.
pub const DROPPED_CAPABILITIES: [&str; 7] = [
    "AUDIT_WRITE",
    "FSETID",
    "MKNOD",
    "NET_RAW",
    "SETFCAP",
    "SETPCAP",
    "SYS_CHROOT",
];
/// Processes a container may run at once.
pub const PIDS_LIMIT: i64 = 512;
/// How long a stop waits for the container's processes before killing them.
const STOP_TIMEOUT_S: i32 = 10;
/// The label every container and network Berth makes carries, with its installation id.
const INSTALLATION_LABEL: &str = "berth.installation";
const SITE_LABEL: &str = "berth.site";
/// Seconds a call to the engine may take.
const ENGINE_TIMEOUT_S: u64 = 120;
const UNREACHABLE: &str = "the container engine is not reachable; the operator has been told";

/// Drives the engine at `DOCKER_HOST`; connects (and negotiates the API version) on first
/// use, so Berth starts while the engine is still starting.
pub struct DockerDriver {
    host: String,
    client: OnceCell<Docker>,
    /// Whether the engine reports a container's received and sent bytes the wrong way round
    /// (Podman before 4.4; see [`podman_swaps_traffic`]), asked once.
    swapped: OnceCell<bool>,
}

impl DockerDriver {
    /// `host` is `DOCKER_HOST`: `unix:///path` or `tcp://host:port` (`http://` too).
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            client: OnceCell::new(),
            swapped: OnceCell::new(),
        }
    }

    async fn client(&self) -> EngineResult<&Docker> {
        self.client
            .get_or_try_init(|| connect(&self.host))
            .await
            .map_err(|err| {
                tracing::error!(host = %self.host, error = %err, "cannot reach the container engine");
                UNREACHABLE.to_owned()
            })
    }

    async fn inspect(&self, site: i64) -> EngineResult<Option<ContainerInspectResponse>> {
        let docker = self.client().await?;
        match docker.inspect_container(&container_name(site), None).await {
            Ok(found) => Ok(Some(found)),
            Err(err) if status(&err) == Some(404) => Ok(None),
            Err(err) => Err(engine_error("look at the container", &err)),
        }
    }

    /// The container's traffic counters, summed over its networks, as the container sees
    /// them (received: in to the site); `run` names the container's current run.
    async fn counters(&self, docker: &Docker, name: &str, run: Option<String>) -> EngineResult<Option<Traffic>> {
        let swapped = *self
            .swapped
            .get_or_try_init(|| async {
                let version = docker.version().await?;
                let swapped = podman_swaps_traffic(&version);
                if swapped {
                    tracing::warn!(
                        "this Podman reports received and sent bytes swapped (fixed in Podman 4.4); Berth swaps them back"
                    );
                }
                Ok::<_, Error>(swapped)
            })
            .await
            .map_err(|err| engine_error("say its version", &err))?;
        let options = StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        let mut stats = docker.stats(name, Some(options));
        match stats.next().await {
            Some(Ok(stats)) => Ok(stats.networks.map(|networks| {
                let (rx, tx) = networks.values().fold((0u64, 0u64), |(rx, tx), n| {
                    (
                        rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                        tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                    )
                });
                let (received, sent) = if swapped { (tx, rx) } else { (rx, tx) };
                Traffic { received, sent, run }
            })),
            Some(Err(err)) if status(&err) == Some(404) => Ok(None),
            Some(Err(err)) => Err(engine_error("read the container's traffic", &err)),
            None => Ok(None),
        }
    }
}

/// Whether the engine is a Podman that reports a container's network counters the wrong way
/// round in its Docker-compatible stats: received as sent and sent as received. Reported
/// against Podman 4.3 (containers/podman#16618) and fixed in 4.4 (#16628); the code that
/// swapped them (`NetInput = TxBytes`, read from the container's own interface) is older,
/// so every Podman before 4.4 counts as swapping.
pub fn podman_swaps_traffic(version: &SystemVersion) -> bool {
    let podman = |name: &str| name.to_ascii_lowercase().contains("podman");
    let component = version
        .components
        .iter()
        .flatten()
        .find(|c| podman(&c.name))
        .map(|c| c.version.clone());
    let platform = version.platform.as_ref().is_some_and(|p| podman(&p.name));
    let Some(release) = component.or_else(|| platform.then(|| version.version.clone()).flatten()) else {
        return false;
    };
    let mut numbers = release
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(|n| n.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) < (4, 4),
        (Some(major), None) => major < 4,
        _ => false,
    }
}

/// Connects to `host` and negotiates the API version.
async fn connect(host: &str) -> Result<Docker, Error> {
    let docker = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, ENGINE_TIMEOUT_S, bollard::API_DEFAULT_VERSION)?
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        let address = host.replacen("tcp://", "http://", 1);
        Docker::connect_with_http(&address, ENGINE_TIMEOUT_S, bollard::API_DEFAULT_VERSION)?
    } else {
        Docker::connect_with_unix(host, ENGINE_TIMEOUT_S, bollard::API_DEFAULT_VERSION)?
    };
    let docker = docker.negotiate_version().await?;
    tracing::info!(host, api = %docker.client_version(), "connected to the container engine");
    Ok(docker)
}

/// The HTTP status of an engine's answer, when it gave one.
fn status(err: &Error) -> Option<u16> {
    match err {
        Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Logs the engine's answer and says in plain words what could not be done.
fn engine_error(doing: &str, err: &Error) -> String {
    tracing::error!(error = %err, "the container engine refused to {doing}");
    match err {
        Error::DockerResponseServerError { .. } => format!("the container engine could not {doing}"),
        _ => UNREACHABLE.to_owned(),
    }
}

fn labels(installation: uuid::Uuid, site: Option<i64>) -> HashMap<String, String> {
    let mut labels = HashMap::from([(INSTALLATION_LABEL.to_owned(), installation.to_string())]);
    if let Some(site) = site {
        labels.insert(SITE_LABEL.to_owned(), site.to_string());
    }
    labels
}

/// Whether the container was made by this installation for this site.
fn ours(found: &ContainerInspectResponse, installation: uuid::Uuid, site: i64) -> bool {
    let labels = found.config.as_ref().and_then(|c| c.labels.as_ref());
    labels.is_some_and(|l| {
        l.get(INSTALLATION_LABEL) == Some(&installation.to_string()) && l.get(SITE_LABEL) == Some(&site.to_string())
    })
}

/// Whether a container already there is the one `spec` describes (same image and address);
/// otherwise it is replaced.
fn matches(found: &ContainerInspectResponse, spec: &ContainerSpec) -> bool {
    let image = found.config.as_ref().and_then(|c| c.image.as_deref());
    let address = found
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.as_deref())
        .and_then(|network| {
            let networks = found.network_settings.as_ref()?.networks.as_ref()?;
            let endpoint = networks.get(network)?;
            endpoint.ipam_config.as_ref()?.ipv4_address.clone()
        });
    let want_address = spec.network.as_ref().map(|_| spec.address.to_string());
    image == spec.image.as_deref() && address == want_address
}

fn observed(found: &ContainerInspectResponse) -> Observed {
    let state = found.state.as_ref();
    let flag = |f: fn(&bollard::models::ContainerState) -> Option<bool>| state.and_then(f).unwrap_or(false);
    let state = if flag(|s| s.restarting) {
        State::Restarting
    } else if flag(|s| s.running) {
        State::Running
    } else {
        let reason = if flag(|s| s.oom_killed) {
            Some("it ran out of memory".to_owned())
        } else {
            state.and_then(|s| s.error.clone()).filter(|e| !e.is_empty())
        };
        State::Exited {
            code: state.and_then(|s| s.exit_code).unwrap_or(0),
            reason,
        }
    };
    let settings = found.network_settings.as_ref();
    let preview = settings
        .and_then(|s| s.ports.as_ref())
        .and_then(|ports| ports.get("80/tcp").cloned().flatten())
        .and_then(|bindings| {
            bindings.iter().find_map(|b| {
                let ip: IpAddr = b.host_ip.as_deref()?.parse().ok()?;
                let port: u16 = b.host_port.as_deref()?.parse().ok()?;
                Some(SocketAddr::new(ip, port))
            })
        });
    let address = settings
        .and_then(|s| s.networks.as_ref())
        .and_then(|networks| {
            networks
                .values()
                .find_map(|n| n.ip_address.as_deref().filter(|a| !a.is_empty()).map(str::to_owned))
        })
        .and_then(|a| a.parse().ok());
    Observed {
        state,
        preview,
        address,
    }
}

/// The container's configuration: limits, mounts, network and the isolation above.
fn body(spec: &ContainerSpec, image: &str, cpus: i64) -> ContainerCreateBody {
    let mut binds = Vec::new();
    for mount in &spec.mounts {
        let host = mount.host.display();
        if mount.production {
            binds.push(format!("{host}:/var/www/html"));
        }
        binds.push(format!("{host}:/srv/environments/{}", mount.environment));
    }
    let port_bindings = spec.publish.map(|ip| {
        HashMap::from([(
            "80/tcp".to_owned(),
            Some(vec![PortBinding {
                host_ip: Some(ip.to_string()),
                host_port: Some(String::new()),
            }]),
        )])
    });
    let network_mode = spec.network.as_ref().map(PoolNet::engine_name);
    let networking_config = spec.network.as_ref().map(|network| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network.engine_name(),
            EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: spec.address.is_ipv4().then(|| spec.address.to_string()),
                    ipv6_address: spec.address.is_ipv6().then(|| spec.address.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(image.to_owned()),
        hostname: Some(container_name(spec.site)),
        labels: Some(labels(spec.installation, Some(spec.site))),
        exposed_ports: Some(vec!["80/tcp".to_owned()]),
        host_config: Some(HostConfig {
            binds: Some(binds),
            nano_cpus: Some(i64::from(spec.vcpu).min(cpus).max(1) * 1_000_000_000),
            memory: Some(i64::from(spec.memory_mib) * 1024 * 1024),
            pids_limit: Some(PIDS_LIMIT),
            cap_drop: Some(DROPPED_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
            cap_add: None,
            privileged: Some(false),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            init: Some(true),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode,
            port_bindings,
            ..Default::default()
        }),
        networking_config,
        ..Default::default()
    }
}

#[async_trait::async_trait]
impl ContainerDriver for DockerDriver {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn needs_images(&self) -> bool {
        true
    }

    async fn ensure_network(&self, network: &PoolNet) -> EngineResult<()> {
        let docker = self.client().await?;
        let name = network.engine_name();
        match docker
            .inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) if status(&err) == Some(404) => {}
            Err(err) => return Err(engine_error("look at the pool's network", &err)),
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            enable_ipv6: Some(network.network.is_ipv6()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(network.network.to_string()),
                    gateway: Some(network.gateway.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(HashMap::from([("berth.pool".to_owned(), network.network.to_string())])),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Made by another process in the meantime.
            Err(err) if status(&err) == Some(409) => Ok(()),
            Err(err) => Err(engine_error("make the pool's network", &err)),
        }
    }

    async fn ensure(&self, spec: &ContainerSpec) -> EngineResult<()> {
        let docker = self.client().await?;
        let name = container_name(spec.site);
        let Some(image) = spec.image.as_deref() else {
            return Err("no image is set for this site's type and operating system".to_owned());
        };
        if let Some(network) = &spec.network {
            self.ensure_network(network).await?;
        }
        if let Some(found) = self.inspect(spec.site).await? {
            if !ours(&found, spec.installation, spec.site) {
                tracing::error!(container = %name, "a container with this name was not made by this Berth");
                return Err("a container with this site's name exists on the engine and is not this site's".to_owned());
            }
            if matches(&found, spec) {
                tracing::info!(container = %name, "adopting the container already there");
                return self.start(spec.site).await;
            }
            tracing::info!(container = %name, "replacing a container made with another image or address");
            self.remove(spec.site, spec.installation).await?;
        }
        if let Err(err) = docker.inspect_image(image).await {
            tracing::error!(image, error = %err, "the site's image is not on the engine");
            return Err(format!(
                "the image for this site ({image}) is not on the container engine"
            ));
        }
        let cpus = match docker.info().await {
            Ok(info) => info.ncpu.unwrap_or(1).max(1),
            Err(err) => return Err(engine_error("describe itself", &err)),
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        match docker.create_container(Some(options), body(spec, image, cpus)).await {
            Ok(_) => {}
            // Made by another attempt in the meantime: it is adopted on the next attempt.
            Err(err) if status(&err) == Some(409) => {
                return Err("the container was being made by another attempt; trying again".to_owned());
            }
            Err(err) => return Err(engine_error("make the container", &err)),
        }
        self.start(spec.site).await
    }

    async fn start(&self, site: i64) -> EngineResult<()> {
        let docker = self.client().await?;
        match docker.start_container(&container_name(site), None).await {
            // 304: already running.
            Ok(()) => Ok(()),
            Err(err) if status(&err) == Some(304) => Ok(()),
            Err(err) if status(&err) == Some(404) => Err("the site has no container".to_owned()),
            Err(err) => Err(engine_error("start the container", &err)),
        }
    }

    async fn stop(&self, site: i64) -> EngineResult<()> {
        let docker = self.client().await?;
        let options = StopContainerOptionsBuilder::new().t(STOP_TIMEOUT_S).build();
        match docker.stop_container(&container_name(site), Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) if status(&err) == Some(304) => Ok(()),
            Err(err) if status(&err) == Some(404) => Err("the site has no container".to_owned()),
            Err(err) => Err(engine_error("stop the container", &err)),
        }
    }

    async fn restart(&self, site: i64) -> EngineResult<()> {
        let docker = self.client().await?;
        let options = bollard::query_parameters::RestartContainerOptionsBuilder::new()
            .t(STOP_TIMEOUT_S)
            .build();
        match docker.restart_container(&container_name(site), Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) if status(&err) == Some(404) => Err("the site has no container".to_owned()),
            Err(err) => Err(engine_error("restart the container", &err)),
        }
    }

    async fn remove(&self, site: i64, installation: uuid::Uuid) -> EngineResult<()> {
        let Some(found) = self.inspect(site).await? else {
            return Ok(());
        };
        if !ours(&found, installation, site) {
            tracing::error!(site, "not removing a container this Berth did not make");
            return Err("a container with this site's name exists on the engine and is not this site's".to_owned());
        }
        let docker = self.client().await?;
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match docker.remove_container(&container_name(site), Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) if status(&err) == Some(404) => Ok(()),
            // Already being removed.
            Err(err) if status(&err) == Some(409) => Ok(()),
            Err(err) => Err(engine_error("remove the container", &err)),
        }
    }

    async fn observe(&self, site: i64) -> EngineResult<Observed> {
        Ok(match self.inspect(site).await? {
            Some(found) => observed(&found),
            None => Observed {
                state: State::Missing,
                preview: None,
                address: None,
            },
        })
    }

    async fn logs(&self, site: i64, lines: usize) -> EngineResult<Vec<String>> {
        let docker = self.client().await?;
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = docker.logs(&container_name(site), Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&output.to_string()),
                Err(err) if status(&err) == Some(404) => return Ok(Vec::new()),
                Err(err) => return Err(engine_error("read the container's output", &err)),
            }
        }
        let all: Vec<String> = text.lines().map(str::to_owned).collect();
        Ok(all[all.len().saturating_sub(lines)..].to_vec())
    }

    async fn traffic(&self, site: i64) -> EngineResult<Option<Traffic>> {
        let docker = self.client().await?;
        match self.inspect(site).await? {
            Some(found) if observed(&found).state == State::Running => {
                // The container's id and its last start: a restart (or a replacement) makes
                // a new run, whose counters began at zero.
                let started = found.state.as_ref().and_then(|s| s.started_at.clone());
                let run = found
                    .id
                    .clone()
                    .map(|id| format!("{id}@{}", started.unwrap_or_default()));
                self.counters(docker, &container_name(site), run).await
            }
            _ => Ok(None),
        }
    }

    async fn doctor(&self, images: &[String]) -> Vec<Check> {
        let mut checks = Vec::new();
        let docker = match self.client().await {
            Ok(docker) => docker,
            Err(_) => {
                checks.push(Check::missing(format!(
                    "the container engine at {} does not answer: start it (dockerd, or podman system service), or set DOCKER_HOST",
                    self.host
                )));
                return checks;
            }
        };
        match docker.version().await {
            Ok(version) => {
                let swapped = podman_swaps_traffic(&version);
                checks.push(Check::ok(format!(
                    "the engine at {} answers: {} {}, API {} (Berth speaks {})",
                    self.host,
                    version
                        .platform
                        .map(|p| p.name)
                        .filter(|name| !name.is_empty())
                        .unwrap_or_else(|| "engine".to_owned()),
                    version.version.unwrap_or_default(),
                    version.api_version.unwrap_or_default(),
                    docker.client_version(),
                )));
                if swapped {
                    checks.push(Check::ok(
                        "this Podman reports received and sent bytes swapped (fixed in Podman 4.4): the meter swaps them back",
                    ));
                }
            }
            Err(err) => checks.push(Check::missing(format!("the engine does not say its version: {err}"))),
        }
        match docker.info().await {
            Ok(info) => {
                let options = info.security_options.unwrap_or_default();
                let remapped = options.iter().any(|o| o.contains("name=userns"));
                // A rootless engine (rootless Docker, rootless Podman) runs every container
                // in the user namespace of the user running it.
                let rootless = options.iter().any(|o| o.contains("name=rootless"));
                checks.push(if remapped {
                    Check::ok("containers run in a user namespace")
                } else if rootless {
                    Check::ok("containers run in a user namespace (the engine runs rootless)")
                } else {
                    Check::missing(
                        "containers do not run in a user namespace: start dockerd with --userns-remap=default (Podman: run rootless)",
                    )
                });
                let driver = info.driver.clone().unwrap_or_default();
                checks.push(Check::ok(format!(
                    "storage driver {driver}: {}; Berth stores and shows each site's disk size and does not set it on the container",
                    match driver.as_str() {
                        "btrfs" | "zfs" | "devicemapper" => "it can limit a container's size",
                        "overlay2" => "it can limit a container's size only on xfs mounted with pquota",
                        _ => "a size per container is documented only for overlay2 (on xfs with pquota), btrfs, zfs and devicemapper",
                    }
                )));
            }
            Err(err) => checks.push(Check::missing(format!("the engine does not describe itself: {err}"))),
        }
        if images.is_empty() {
            checks.push(Check::missing(
                "no image is set, so the wizard offers no site type: run berth image set TYPE OS IMAGE",
            ));
        }
        for image in images {
            checks.push(match docker.inspect_image(image).await {
                Ok(_) => Check::ok(format!("image {image} is present")),
                Err(_) => Check::missing(format!(
                    "image {image} is not on the engine: pull it (docker pull {image}) or build it"
                )),
            });
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Mount;
    use std::path::PathBuf;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            site: 42,
            installation: uuid::Uuid::nil(),
            image: Some("berth/static:1".to_owned()),
            vcpu: 4,
            memory_mib: 1024,
            disk_gib: 10,
            address: "192.0.2.10".parse().unwrap(),
            network: Some(PoolNet {
                network: "192.0.2.0/24".parse().unwrap(),
                gateway: "192.0.2.1".parse().unwrap(),
            }),
            mounts: vec![
                Mount {
                    environment: "production".to_owned(),
                    host: PathBuf::from("/data/sites/42/production"),
                    production: true,
                },
                Mount {
                    environment: "staging".to_owned(),
                    host: PathBuf::from("/data/sites/42/staging"),
                    production: false,
                },
            ],
            publish: Some("127.0.0.1".parse().unwrap()),
        }
    }

    fn version(platform: &str, version: &str, components: &[(&str, &str)]) -> SystemVersion {
        SystemVersion {
            platform: Some(bollard::models::SystemVersionPlatform {
                name: platform.to_owned(),
            }),
            version: Some(version.to_owned()),
            components: Some(
                components
                    .iter()
                    .map(|(name, version)| bollard::models::SystemVersionComponents {
                        name: (*name).to_owned(),
                        version: (*version).to_owned(),
                        details: None,
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn podman_before_4_4_swaps_received_and_sent() {
        let podman = |release: &str| version("linux/amd64/debian-12", release, &[("Podman Engine", release)]);
        assert!(podman_swaps_traffic(&podman("4.3.1")));
        assert!(podman_swaps_traffic(&podman("4.3.0")));
        assert!(podman_swaps_traffic(&podman("3.0.1")));
        assert!(!podman_swaps_traffic(&podman("4.4.0")));
        assert!(!podman_swaps_traffic(&podman("5.4.2")));
        // Named by the platform alone.
        assert!(podman_swaps_traffic(&version("Podman Engine", "4.3.1", &[])));
        // Docker, whatever its version.
        let docker = version(
            "Docker Engine - Community",
            "20.10.24",
            &[("Engine", "20.10.24"), ("containerd", "1.6.20")],
        );
        assert!(!podman_swaps_traffic(&docker));
        assert!(!podman_swaps_traffic(&version("", "", &[])));
    }

    #[test]
    fn the_container_is_fenced_in() {
        let body = body(&spec(), "berth/static:1", 2);
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds.unwrap(),
            [
                "/data/sites/42/production:/var/www/html",
                "/data/sites/42/production:/srv/environments/production",
                "/data/sites/42/staging:/srv/environments/staging",
            ]
        );
        assert_eq!(host.nano_cpus, Some(2_000_000_000), "clamped to the engine's CPUs");
        assert_eq!(host.memory, Some(1024 * 1024 * 1024));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.network_mode.as_deref(), Some("berth-pool-192.0.2.0-24"));
        let endpoint = &body.networking_config.unwrap().endpoints_config.unwrap()["berth-pool-192.0.2.0-24"];
        assert_eq!(
            endpoint.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("192.0.2.10")
        );
    }
}
