//! Starting the service's container, or finding it running, and waiting
//! until it is ready.

use super::connect::published_port;
use super::definition::{Definition, Started};
use super::labels::{DEFINITION_LABEL, labelled};
use super::reference_image::{self, ImageError};
use super::{ContainerError, ContainerRef, compose, connect, image, reaper};
use crate::access::{Access, ConfiguredAccess};
use crate::artifacts::SaveError;
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use crate::config::{DockerEnvironment, RealWebSocketTestConfig, ServiceDefinition, ServiceSource};
use crate::readiness::{self, NotReady};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use futures_util::StreamExt;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// How long reading a container's logs may take.
const LOGS_TIMEOUT: Duration = Duration::from_secs(5);

/// Once no engine answered for a Docker environment, it is not asked
/// again in this run: its circuit stays open.
fn docker_circuit(environment: &DockerEnvironment) -> Arc<CircuitBreaker> {
    type Circuits = Mutex<HashMap<DockerEnvironment, Arc<CircuitBreaker>>>;
    static CIRCUITS: Lazy<Circuits> = Lazy::new(Mutex::default);
    let mut circuits = CIRCUITS.lock().unwrap_or_else(PoisonError::into_inner);
    let circuit = circuits.entry(environment.clone()).or_insert_with(|| {
        let config = CircuitBreakerConfig {
            failure_threshold: 1,
            reset_timeout: Duration::from_secs(24 * 3600),
        };
        Arc::new(CircuitBreaker::new("the Docker engine search", config))
    });
    Arc::clone(circuit)
}

/// The container tier's answer: the service, started (or found running)
/// and ready, and how its clients get in.
pub(crate) struct Running {
    pub(crate) url: Url,
    pub(crate) container: ContainerRef,
    pub(crate) access: Access,
}

/// The containers of this process, one per service definition.
type Containers = Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Started>>>>;
static CONTAINERS: Lazy<Containers> = Lazy::new(Mutex::default);

pub(crate) async fn container(
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Running, ContainerError> {
    start(config, engine(config).await?, configured).await
}

/// The engine of the config's Docker environment, found by the search
/// order, with the sweep of gone runs done.
pub(super) async fn engine(
    config: &RealWebSocketTestConfig,
) -> Result<connect::Engine, ContainerError> {
    let circuit = docker_circuit(&config.docker);
    if circuit.try_acquire().is_err() {
        return Err(ContainerError::NotAskedAgain);
    }
    match connect::connect(&config.docker).await {
        Ok(engine) => {
            circuit.record_success();
            reaper::sweep(&engine.docker).await;
            Ok(engine)
        }
        Err(reason) => {
            circuit.record_failure();
            Err(ContainerError::NoEngine(reason))
        }
    }
}

async fn start(
    config: &RealWebSocketTestConfig,
    engine: connect::Engine,
    configured: &ConfiguredAccess<'_>,
) -> Result<Running, ContainerError> {
    let docker = &engine.docker;
    let service = &config.service;
    let begun = Instant::now();
    let image = image::resolve(docker, &service.source)
        .await
        .map_err(ContainerError::ServiceImage)?;
    // The team's service gets the configured credentials (its token is
    // fetched now, for `${token}` in its env); the reference server the
    // test secret, unless its env names another.
    let credentials = match service.source {
        ServiceSource::Reference => None,
        _ => Some(configured.credentials().await.map_err(|source| {
            ContainerError::ServiceAccess {
                service: image.shown.clone(),
                source,
            }
        })?),
    };
    let definition = Definition::new(config, image, credentials.as_ref());
    let cell = {
        let mut containers = CONTAINERS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(containers.entry(definition.hash.clone()).or_default())
    };
    let started = cell
        .get_or_try_init(|| async {
            match &service.source {
                ServiceSource::Compose {
                    file,
                    service: name,
                } => compose::up(&engine, file, name, service, &definition)
                    .await
                    .map_err(ContainerError::Compose),
                _ => run(&engine, service, &definition).await,
            }
        })
        .await?;
    let took = begun.elapsed();
    let url = format!("ws://{}:{}{}", started.host, started.port, service.ws_path);
    let url = Url::parse(&url).map_err(|_| ContainerError::Url { url })?;
    let readiness_started = Instant::now();
    // startup_timeout is for the container: a first image build (minutes)
    // does not count against it.
    let deadline = started.since + service.startup_timeout;
    let access = match credentials {
        Some(_) => {
            configured
                .access(&url)
                .await
                .map_err(|source| ContainerError::ServiceAccess {
                    service: definition.image.shown.clone(),
                    source,
                })?
        }
        None => Access {
            credentials: definition.reference_credentials(),
            ..Access::test()
        },
    };
    let logs = |text: String| log_check(docker.clone(), started.id.clone(), text);
    readiness::wait(&service.ready, &url, &access, Some(&logs), deadline)
        .await
        .map_err(|source| ContainerError::NotReady {
            service: definition.image.shown.clone(),
            ready: service.ready.clone(),
            source,
        })?;
    let container = ContainerRef {
        id: started.id.clone(),
        docker_endpoint: engine.place.endpoint.clone(),
        engine_found_by: engine.place.found_by.to_string(),
        service: definition.image.shown.clone(),
        ready: service.ready.clone(),
        reused: started.reused,
        start: took,
        readiness: readiness_started.elapsed(),
    };
    Ok(Running {
        url,
        container,
        access,
    })
}

/// Everything `container` wrote to stdout and stderr so far.
pub(super) async fn output(
    docker: &Docker,
    container: &str,
) -> Result<Vec<u8>, bollard::errors::Error> {
    let options = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(container, Some(options));
    let mut output = Vec::new();
    while let Some(chunk) = logs.next().await {
        output.extend_from_slice(&chunk?.into_bytes());
    }
    Ok(output)
}

/// Whether the output of `container` so far holds `text` (`log:` readiness).
pub(super) fn log_check(
    docker: Docker,
    container: String,
    text: String,
) -> futures_util::future::BoxFuture<'static, Result<(), NotReady>> {
    Box::pin(async move {
        let output = output(&docker, &container).await.map_err(NotReady::Logs)?;
        if String::from_utf8_lossy(&output).contains(text.as_str()) {
            Ok(())
        } else {
            Err(NotReady::NoLogLine { text })
        }
    })
}

/// The reference image, built now if missing; see [`super::reference_image`].
pub(super) async fn reference_image(
    config: &RealWebSocketTestConfig,
) -> Result<String, ImageError> {
    let engine = connect::connect(&config.docker)
        .await
        .map_err(ImageError::NoEngine)?;
    reference_image::ensure(&engine.docker).await
}

/// Starts the definition's container, or attaches to the one already
/// running (another process of this run, or for the reference server an
/// earlier run).
async fn run(
    engine: &connect::Engine,
    service: &ServiceDefinition,
    definition: &Definition,
) -> Result<Started, ContainerError> {
    let docker = &engine.docker;
    // One process at a time finds-or-creates a definition's container.
    let _lock = crate::artifacts::lock(&definition.hash).await;
    let image = &definition.image.name;
    let failed = |source| ContainerError::Start {
        image: image.clone(),
        source,
    };
    let port = format!("{}/tcp", service.port);
    let since = Instant::now();
    let (id, reused) = match existing(docker, &definition.hash).await.into_iter().next() {
        Some(id) => (id, true),
        None => {
            let body = ContainerCreateBody {
                image: Some(image.clone()),
                env: Some(
                    definition
                        .env
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect(),
                ),
                cmd: (!service.cmd.is_empty()).then(|| service.cmd.clone()),
                labels: Some(definition.labels()),
                exposed_ports: Some(vec![port.clone()]),
                host_config: Some(HostConfig {
                    // An ephemeral host port, chosen by the engine.
                    port_bindings: Some(HashMap::from([(
                        port.clone(),
                        Some(vec![PortBinding {
                            host_ip: None,
                            host_port: Some(String::new()),
                        }]),
                    )])),
                    auto_remove: Some(true),
                    ..HostConfig::default()
                }),
                ..ContainerCreateBody::default()
            };
            let created = docker.create_container(None, body).await.map_err(failed)?;
            docker
                .start_container(&created.id, None)
                .await
                .map_err(failed)?;
            (created.id, false)
        }
    };
    let port = match published_port(docker, &id, &port).await.map_err(failed)? {
        Some(published) => published,
        None => {
            return Err(ContainerError::Port {
                container: id,
                port,
            });
        }
    };
    Ok(Started {
        id,
        reused,
        host: connect::published_host(&engine.place.endpoint),
        port,
        since,
    })
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
        let text = tokio::time::timeout(LOGS_TIMEOUT, output(&docker, &id))
            .await
            .map_err(|_| SaveError::ContainerLogsTimedOut {
                container: id.clone(),
                after: LOGS_TIMEOUT,
            })?
            .map_err(|source| SaveError::ContainerLogs {
                container: id.clone(),
                source,
            })?;
        let short: String = id.chars().take(12).collect();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let path =
            crate::artifacts::transcript_dir().join(format!("container-{short}-{stamp}.log"));
        crate::artifacts::write_file(path, text).await
    });
    logs.await
        .unwrap_or_else(|e| Err(SaveError::Interrupted(e)))
}
