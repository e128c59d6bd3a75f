//! The container tier: the reference server image, started (or reused) with
//! testcontainers, after a short Docker probe guarded by a circuit breaker.

use super::{ContainerRef, Found, SkipReason, health};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use crate::harness::RealWebSocketTestConfig;
use crate::harness::SaveError;
use crate::process::LISTENING_ON;
use bollard::Docker;
use futures_util::StreamExt;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::{AsyncBuilder, AsyncRunner};
use testcontainers::{
    ContainerAsync, GenericBuildableImage, GenericImage, ImageExt, ReuseDirective,
};
use url::Url;

/// The image of the reference server, built by `docker/build.sh`.
pub(crate) const IMAGE_NAME: &str = "ws-harness";
/// Its tag: this crate's version.
pub(crate) const IMAGE_TAG: &str = env!("CARGO_PKG_VERSION");
/// The label every container of the project carries.
pub const CONTAINER_LABEL: &str = "dev.ws-harness.backend";
/// The server's port inside the container.
const PORT: u16 = 8765;
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
/// The image's Dockerfile, the same one `docker/build.sh` uses.
const DOCKERFILE: &str = include_str!("../../../docker/Dockerfile");

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

/// The one container of this process (testcontainers' reuse shares it with
/// other processes); never dropped: the server's idle exit removes it.
static CONTAINER: tokio::sync::OnceCell<ContainerAsync<GenericImage>> =
    tokio::sync::OnceCell::const_new();

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
    let image = format!("{IMAGE_NAME}:{IMAGE_TAG}");
    if docker.inspect_image(&image).await.is_err() {
        build_image(image).await?;
    }
    let container = CONTAINER.get_or_try_init(|| run(config)).await?;
    let unreadable = |source| SkipReason::ContainerPort { source };
    let host = container.get_host().await.map_err(unreadable)?;
    let port = container
        .get_host_port_ipv4(PORT)
        .await
        .map_err(unreadable)?;
    let url = Url::parse(&format!("ws://{host}:{port}/ws")).expect("host and port make a URL");
    health::check(&url, config.docker_startup_timeout)
        .await
        .map_err(|source| SkipReason::ContainerUnhealthy { source })?;
    let container = ContainerRef {
        id: container.id().to_owned(),
        docker_endpoint: endpoint,
    };
    Ok(Found {
        url,
        container: Some(container),
    })
}

async fn run(config: &RealWebSocketTestConfig) -> Result<ContainerAsync<GenericImage>, SkipReason> {
    let idle = humantime::format_duration(config.container_idle_exit)
        .to_string()
        .replace(' ', "");
    GenericImage::new(IMAGE_NAME, IMAGE_TAG)
        .with_exposed_port(PORT.tcp())
        .with_wait_for(WaitFor::message_on_stdout(LISTENING_ON))
        .with_cmd(["--test-mode", "--idle-exit", idle.as_str()])
        .with_label(CONTAINER_LABEL, "reference-server")
        // Reuse matches on labels only: the settings that shape the container go in them.
        .with_label("dev.ws-harness.version", IMAGE_TAG)
        .with_label("dev.ws-harness.idle-exit", idle.as_str())
        .with_reuse(ReuseDirective::Always)
        .with_host_config_modifier(|host| host.auto_remove = Some(true))
        .with_startup_timeout(config.docker_startup_timeout)
        .start()
        .await
        .map_err(|source| SkipReason::ContainerStart {
            image: format!("{IMAGE_NAME}:{IMAGE_TAG}"),
            source,
        })
}

/// Builds the image from the statically linked server, when it was built.
async fn build_image(image: String) -> Result<(), SkipReason> {
    let Some(binary) = static_binary().await else {
        return Err(SkipReason::ImageMissing { image });
    };
    GenericBuildableImage::new(IMAGE_NAME, IMAGE_TAG)
        .with_dockerfile_string(DOCKERFILE)
        .with_file(binary.clone(), "ws-harness")
        .build_image()
        .await
        .map(|_| ())
        .map_err(|source| SkipReason::ImageBuild {
            image,
            binary,
            source,
        })
}

/// `target/x86_64-unknown-linux-gnu/release/ws-harness`, as `docker/build.sh` leaves it.
async fn static_binary() -> Option<PathBuf> {
    let binary = crate::harness::transcript::target_dir()?
        .join("x86_64-unknown-linux-gnu/release/ws-harness");
    tokio::fs::metadata(&binary)
        .await
        .is_ok_and(|m| m.is_file())
        .then_some(binary)
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
