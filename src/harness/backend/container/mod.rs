//! The container tier: the service of the config's [`ServiceDefinition`]
//! (the reference image unless the team's own is named), started or reused
//! with testcontainers after a short Docker probe guarded by a circuit
//! breaker, then waited for by its readiness kind.

mod image;
mod readiness;
mod reaper;
mod reference_image;

pub use image::ServiceImageError;
pub use readiness::NotReady;
pub use reference_image::ImageError;

use super::{ContainerRef, Found, SkipReason};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use crate::harness::{
    Readiness, RealWebSocketTestConfig, SaveError, ServiceDefinition, ServiceSource,
};
use crate::process::LISTENING_ON;
use bollard::Docker;
use futures_util::StreamExt;
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, ReuseDirective};
use tokio::time::Instant;
use url::Url;

/// The label every container of the project carries: `reference-server`
/// or `service`.
pub const CONTAINER_LABEL: &str = "dev.ws-harness.backend";
/// The label with the hash of the whole service definition: reuse matches
/// it, so a changed definition never attaches to a stale container.
const DEFINITION_LABEL: &str = "dev.ws-harness.definition";
/// How long reading a container's logs may take.
const LOGS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the Docker probe may take: an engine that accepts and never
/// answers would otherwise hold each API call for 120 s.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Where Docker listens when `DOCKER_HOST` is not set.
#[cfg(windows)]
const DEFAULT_DOCKER_HOST: &str = "npipe:////./pipe/docker_engine";
/// Where Docker listens when `DOCKER_HOST` is not set.
#[cfg(not(windows))]
const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Each Docker endpoint is asked once: after a failure its circuit stays
/// open for the rest of the run.
fn docker_circuit(endpoint: &str) -> Arc<CircuitBreaker> {
    static CIRCUITS: Lazy<Mutex<HashMap<String, Arc<CircuitBreaker>>>> = Lazy::new(Mutex::default);
    let mut circuits = CIRCUITS.lock().unwrap_or_else(PoisonError::into_inner);
    let circuit = circuits.entry(endpoint.to_owned()).or_insert_with(|| {
        let config = CircuitBreakerConfig {
            failure_threshold: 1,
            reset_timeout: Duration::from_secs(24 * 3600),
        };
        Arc::new(CircuitBreaker::new(format!("docker at {endpoint}"), config))
    });
    Arc::clone(circuit)
}

/// A started container, kept for the life of the process (testcontainers'
/// reuse shares it with other processes; the reference server's idle exit
/// or the reaper removes it).
struct Started {
    container: ContainerAsync<GenericImage>,
    reused: bool,
}

/// The containers of this process, one per service definition.
type Containers = Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Started>>>>;
static CONTAINERS: Lazy<Containers> = Lazy::new(Mutex::default);

/// Why the container tier was passed over, and whether Docker itself failed.
struct Skip {
    reason: SkipReason,
    docker_failed: bool,
}

impl Skip {
    fn docker_down(reason: SkipReason) -> Self {
        Self {
            reason,
            docker_failed: true,
        }
    }
}

impl From<SkipReason> for Skip {
    fn from(reason: SkipReason) -> Self {
        Self {
            reason,
            docker_failed: false,
        }
    }
}

pub(super) async fn container(config: &RealWebSocketTestConfig) -> Result<Found, SkipReason> {
    let endpoint = endpoint(config);
    let circuit = docker_circuit(&endpoint);
    if circuit.try_acquire().is_err() {
        return Err(SkipReason::DockerNotAskedAgain { endpoint });
    }
    match start(config, endpoint).await {
        Ok(found) => {
            circuit.record_success();
            Ok(found)
        }
        Err(skip) => {
            if skip.docker_failed {
                circuit.record_failure();
            }
            Err(skip.reason)
        }
    }
}

/// The Docker endpoint: `DOCKER_HOST`, else the platform's default socket or pipe.
pub(crate) fn endpoint(config: &RealWebSocketTestConfig) -> String {
    config
        .docker_host
        .clone()
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned())
}

async fn start(config: &RealWebSocketTestConfig, endpoint: String) -> Result<Found, Skip> {
    let docker = Docker::connect_with_host(&endpoint).map_err(|source| {
        Skip::docker_down(SkipReason::DockerUnusable {
            endpoint: endpoint.clone(),
            source,
        })
    })?;
    match tokio::time::timeout(PROBE_TIMEOUT, docker.ping()).await {
        Err(_) => {
            return Err(Skip::docker_down(SkipReason::DockerTimedOut {
                endpoint,
                after: PROBE_TIMEOUT,
            }));
        }
        Ok(Err(source)) => {
            return Err(Skip::docker_down(SkipReason::DockerUnreachable {
                endpoint,
                source,
            }));
        }
        Ok(Ok(_)) => {}
    }
    let service = &config.service;
    if matches!(service.source, ServiceSource::Compose { .. }) {
        return Err(SkipReason::ComposeNotBuilt.into());
    }
    reaper::sweep(&docker).await;
    let begun = Instant::now();
    let image = image::resolve(&docker, &service.source)
        .await
        .map_err(SkipReason::ServiceImage)?;
    let image_ready = Instant::now();
    let definition = Definition::new(config, image);
    let cell = {
        let mut containers = CONTAINERS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(containers.entry(definition.hash.clone()).or_default())
    };
    let started = cell
        .get_or_try_init(|| run(&docker, service, &definition))
        .await?;
    let took = begun.elapsed();
    // startup_timeout is for the container: a first image build (minutes)
    // does not count against it.
    let starting = image_ready.elapsed();
    let unreadable = |source| SkipReason::ContainerPort { source };
    let host = started.container.get_host().await.map_err(unreadable)?;
    let port = started
        .container
        .get_host_port_ipv4(service.port)
        .await
        .map_err(unreadable)?;
    let url = Url::parse(&format!("ws://{host}:{port}{}", service.ws_path)).map_err(|_| {
        SkipReason::ContainerUrl {
            url: format!("ws://{host}:{port}{}", service.ws_path),
        }
    })?;
    let readiness_started = Instant::now();
    readiness::wait(
        &service.ready,
        &url,
        config,
        readiness_started + service.startup_timeout.saturating_sub(starting),
    )
    .await
    .map_err(|source| SkipReason::ContainerNotReady {
        service: definition.image.shown.clone(),
        ready: service.ready.clone(),
        source,
    })?;
    let container = ContainerRef {
        id: started.container.id().to_owned(),
        docker_endpoint: endpoint,
        service: definition.image.shown.clone(),
        ready: service.ready.clone(),
        reused: started.reused,
        start: took,
        readiness: readiness_started.elapsed(),
    };
    Ok(Found {
        url,
        container: Some(container),
    })
}

/// The reference image, built now if missing; see [`crate::reference_image`].
pub(super) async fn reference_image(
    config: &RealWebSocketTestConfig,
) -> Result<String, ImageError> {
    let endpoint = endpoint(config);
    let engine = |source| ImageError::Engine {
        endpoint: endpoint.clone(),
        source,
    };
    let docker = Docker::connect_with_host(&endpoint).map_err(engine)?;
    docker.ping().await.map_err(engine)?;
    reference_image::ensure(&docker).await
}

/// Everything that shapes a container: the service definition, its image
/// (by id, so a rebuilt tag is a new definition) and its environment.
struct Definition {
    image: image::Image,
    env: Vec<(String, String)>,
    /// Hash of the whole: reuse matches it.
    hash: String,
}

impl Definition {
    fn new(config: &RealWebSocketTestConfig, image: image::Image) -> Self {
        let service = &config.service;
        let mut env: Vec<(String, String)> = service
            .env
            .iter()
            .map(|(name, value)| (name.clone(), substitute(value, config)))
            .collect();
        if service.source == ServiceSource::Reference {
            let idle = humantime::format_duration(config.container_idle_exit)
                .to_string()
                .replace(' ', "");
            // Test mode: the published test secret, as in-process, unless
            // the service's env names another (WS_JWT_SECRET).
            env.extend([
                (crate::server::TEST_MODE_VAR.to_owned(), "true".to_owned()),
                (crate::server::IDLE_EXIT_VAR.to_owned(), idle),
            ]);
        }
        let whole = format!("{service:?}\n{} {}\n{env:?}", image.name, image.id);
        let hash = reference_image::hex(&Sha256::digest(whole)[..8]);
        Self { image, env, hash }
    }
}

/// Starts the definition's container, or attaches to the one another
/// process of this run started (the same definition, and for a user's
/// service the same owner).
async fn run(
    docker: &Docker,
    service: &ServiceDefinition,
    definition: &Definition,
) -> Result<Started, SkipReason> {
    // One process at a time finds-or-creates a definition's container:
    // testcontainers' reuse lookup and create are not atomic.
    let _lock = lock(&definition.hash).await;
    let reference = service.source == ServiceSource::Reference;
    let image = &definition.image.name;
    let (name, tag) = image.rsplit_once(':').expect("images are name:tag");
    let wait = match &service.ready {
        Readiness::Log(text) => WaitFor::message_on_either_std(text.as_str()),
        Readiness::Reference => WaitFor::message_on_stdout(LISTENING_ON),
        _ => WaitFor::Nothing,
    };
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(service.port.tcp())
        .with_wait_for(wait)
        .with_label(
            CONTAINER_LABEL,
            if reference {
                "reference-server"
            } else {
                "service"
            },
        )
        .with_label(DEFINITION_LABEL, definition.hash.as_str())
        .with_reuse(ReuseDirective::Always)
        .with_host_config_modifier(|host| host.auto_remove = Some(true))
        .with_startup_timeout(service.startup_timeout);
    if !reference {
        // The reference server exits when idle; a user's service is swept
        // once its owner is gone.
        request = request.with_label(reaper::OWNER_LABEL, reaper::owner());
    }
    for (name, value) in &definition.env {
        request = request.with_env_var(name, value);
    }
    if !service.cmd.is_empty() {
        request = request.with_cmd(service.cmd.clone());
    }
    let existing = existing(docker, &definition.hash).await;
    let container = request
        .start()
        .await
        .map_err(|source| SkipReason::ContainerStart {
            image: image.clone(),
            source,
        })?;
    let reused = existing.iter().any(|id| id == container.id());
    Ok(Started { container, reused })
}

/// The ids of the running containers of `definition`.
async fn existing(docker: &Docker, definition: &str) -> Vec<String> {
    labelled(docker, &format!("{DEFINITION_LABEL}={definition}"), false)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

/// The containers with `label` (`key` or `key=value`); stopped ones too
/// when `all`.
async fn labelled(
    docker: &Docker,
    label: &str,
    all: bool,
) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
    let filters = HashMap::from([("label", vec![label])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(all)
        .filters(&filters)
        .build();
    docker.list_containers(Some(options)).await
}

/// `${jwt_secret}` and `${token}` in an `env` value, replaced by the config's.
fn substitute(value: &str, config: &RealWebSocketTestConfig) -> String {
    value
        .replace("${jwt_secret}", &config.jwt_secret)
        .replace("${token}", config.token.as_deref().unwrap_or_default())
}

/// A lock across the processes of this machine on `key`, held until
/// dropped; `None` (no lock) when the lock file cannot be made.
async fn lock(key: &str) -> Option<std::fs::File> {
    let dir = crate::harness::transcript::target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ws-harness")
        .join("locks");
    let path = dir.join(format!("{key}.lock"));
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).ok()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        file.lock().ok()?;
        Some(file)
    })
    .await
    .ok()
    .flatten()
}

/// Writes the logs of `container_id` next to the transcripts and returns the
/// path. Runs on the chain's runtime, where the Docker client lives.
pub(super) async fn save_logs(endpoint: &str, container_id: &str) -> Result<PathBuf, SaveError> {
    let endpoint = endpoint.to_owned();
    let id = container_id.to_owned();
    let logs = super::runtime().spawn(async move {
        let docker =
            Docker::connect_with_host(&endpoint).map_err(|source| SaveError::ContainerLogs {
                container: id.clone(),
                source,
            })?;
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = docker.logs(&id, Some(options));
        let mut text = String::new();
        let read = async {
            while let Some(chunk) = logs.next().await {
                let chunk = chunk.map_err(|source| SaveError::ContainerLogs {
                    container: id.clone(),
                    source,
                })?;
                text.push_str(&chunk.to_string());
            }
            Ok::<_, SaveError>(())
        };
        tokio::time::timeout(LOGS_TIMEOUT, read)
            .await
            .map_err(|_| SaveError::ContainerLogsTimedOut {
                container: id.clone(),
                after: LOGS_TIMEOUT,
            })??;
        let short: String = id.chars().take(12).collect();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let path = crate::harness::transcript_dir().join(format!("container-{short}-{stamp}.log"));
        crate::harness::transcript::write_file(path, text.into_bytes()).await
    });
    logs.await
        .unwrap_or_else(|e| Err(SaveError::Interrupted(e)))
}
