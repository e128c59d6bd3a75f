//! The container tier: the reference server image, started (or reused) with
//! testcontainers, after a short Docker probe guarded by a circuit breaker.

use super::{ContainerRef, Found, health};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use crate::harness::RealWebSocketTestConfig;
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

/// The runtime the chain and the container's client live on; it lives as
/// long as the process, so the container handle is never dropped outside it.
pub(super) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: Lazy<tokio::runtime::Runtime> = Lazy::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ws-harness-chain")
            .enable_all()
            .build()
            .expect("a runtime for the backend chain")
    });
    &RUNTIME
}

/// Each Docker endpoint is asked once: after a failure its circuit stays
/// open for the rest of the run (the seeds' `docker_circuit_breaker`).
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
    reason: String,
    docker_failed: bool,
}

pub(super) async fn container(config: &RealWebSocketTestConfig) -> Result<Found, String> {
    let endpoint = endpoint(config);
    let circuit = docker_circuit(&endpoint);
    circuit
        .try_acquire()
        .map_err(|_| format!("docker: not asked again in this run: {endpoint} failed earlier"))?;
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
    let docker_down = |reason: String| Skip {
        reason,
        docker_failed: true,
    };
    let docker = Docker::connect_with_host(&endpoint)
        .map_err(|e| docker_down(format!("docker: cannot use {endpoint}: {e}")))?;
    match tokio::time::timeout(PROBE_TIMEOUT, docker.ping()).await {
        Err(_) => {
            return Err(docker_down(format!(
                "docker: no answer from {endpoint} within {PROBE_TIMEOUT:?}"
            )));
        }
        Ok(Err(e)) => {
            return Err(docker_down(format!(
                "docker: no daemon at {endpoint} ({e})"
            )));
        }
        Ok(Ok(_)) => {}
    }
    let image = format!("{IMAGE_NAME}:{IMAGE_TAG}");
    if docker.inspect_image(&image).await.is_err() {
        build_image(&image).await.map_err(|reason| Skip {
            reason,
            docker_failed: false,
        })?;
    }
    let container = CONTAINER
        .get_or_try_init(|| run(config))
        .await
        .map_err(|reason| Skip {
            reason,
            docker_failed: false,
        })?;
    let failed = |e: testcontainers::TestcontainersError| Skip {
        reason: format!("docker: the container started but its port cannot be read: {e}"),
        docker_failed: false,
    };
    let host = container.get_host().await.map_err(failed)?;
    let port = container.get_host_port_ipv4(PORT).await.map_err(failed)?;
    let url = Url::parse(&format!("ws://{host}:{port}/ws")).map_err(|e| Skip {
        reason: e.to_string(),
        docker_failed: false,
    })?;
    health::check(&url, config.docker_startup_timeout)
        .await
        .map_err(|e| Skip {
            reason: format!("docker: the container is not healthy: {e}"),
            docker_failed: false,
        })?;
    let container = ContainerRef {
        id: container.id().to_owned(),
        docker_endpoint: endpoint,
    };
    Ok(Found {
        url,
        container: Some(container),
    })
}

async fn run(config: &RealWebSocketTestConfig) -> Result<ContainerAsync<GenericImage>, String> {
    let idle = humantime::format_duration(config.container_idle_exit)
        .to_string()
        .replace(' ', "");
    GenericImage::new(IMAGE_NAME, IMAGE_TAG)
        .with_exposed_port(PORT.tcp())
        .with_wait_for(WaitFor::message_on_stdout("listening on"))
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
        .map_err(|e| format!("docker: the {IMAGE_NAME}:{IMAGE_TAG} container did not start: {e}"))
}

/// Builds the image from the statically linked server, when it was built.
async fn build_image(image: &str) -> Result<(), String> {
    let binary = static_binary().ok_or_else(|| {
        format!("docker: the image {image} is missing and there is no static server binary to build it from; run docker/build.sh")
    })?;
    GenericBuildableImage::new(IMAGE_NAME, IMAGE_TAG)
        .with_dockerfile_string(DOCKERFILE)
        .with_file(binary.clone(), "ws-harness")
        .build_image()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "docker: cannot build {image} from {}: {e}; run docker/build.sh",
                binary.display()
            )
        })
}

/// `target/x86_64-unknown-linux-gnu/release/ws-harness`, as `docker/build.sh` leaves it.
fn static_binary() -> Option<PathBuf> {
    let binary = crate::harness::transcript::target_dir()?
        .join("x86_64-unknown-linux-gnu/release/ws-harness");
    binary.is_file().then_some(binary)
}

/// Writes the logs of `container_id` next to the transcripts and returns the path.
pub(crate) fn save_logs(config_endpoint: &str, container_id: &str) -> Result<PathBuf, String> {
    let endpoint = config_endpoint.to_owned();
    let id = container_id.to_owned();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let docker = Docker::connect_with_host(&endpoint).map_err(|e| e.to_string())?;
            let options = bollard::query_parameters::LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build();
            let mut logs = docker.logs(&id, Some(options));
            let mut text = String::new();
            let read = async {
                while let Some(chunk) = logs.next().await {
                    text.push_str(&chunk.map_err(|e| e.to_string())?.to_string());
                }
                Ok::<_, String>(())
            };
            tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .map_err(|_| "docker logs timed out".to_owned())??;
            let dir = crate::harness::transcript_dir();
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let short: String = id.chars().take(12).collect();
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros();
            let path = dir.join(format!("container-{short}-{stamp}.log"));
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            Ok(path)
        })
    })
    .join()
    .unwrap_or_else(|_| Err("reading the container logs panicked".to_owned()))
}
