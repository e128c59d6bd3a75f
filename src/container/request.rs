//! The service as a testcontainers `ContainerRequest` (feature
//! `testcontainers`): any `Image`, testcontainers-modules' too, with its
//! dependencies on a network of their own, started by testcontainers'
//! runner on the engine the harness found.

use super::build::hex;
use super::connect::Engine;
use super::labels::{CONTAINER_LABEL, DEFINITION_LABEL, OWNER_LABEL, labelled};
use super::start::{Running, engine, log_check};
use super::{ContainerError, ContainerRef, reaper};
use crate::access::ConfiguredAccess;
use crate::config::RealWebSocketTestConfig;
use crate::readiness;
use futures_util::future::BoxFuture;
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use testcontainers::core::Host;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, Image, ImageExt, ReuseDirective};

use tokio::time::Instant;
use url::Url;

/// The team's service as a testcontainers request, for the chain's
/// container tier ([`Chain::container_request`](crate::chain::Chain::container_request)),
/// with the containers it needs beside it.
///
/// Each is started with testcontainers' own runner (its image's wait
/// conditions apply), labelled for ws-harness's reuse and sweep: the
/// processes of one run (nextest) share them, and the next run removes
/// them once this one is gone. Dependencies join a network of their own
/// with the service, which reaches each by its name. The service is then
/// ready when `service.ready` passes (an authenticated handshake unless
/// set) within `service.startup_timeout`, at `service.ws_path`, with the
/// configured access.
///
/// ```no_run
/// use testcontainers::GenericImage;
/// use testcontainers::core::IntoContainerPort;
/// use ws_harness::container::ServiceRequest;
///
/// let database = GenericImage::new("my-database", "1.0").with_exposed_port(5432.tcp());
/// let service = ServiceRequest::new(GenericImage::new("my-service", "dev").with_exposed_port(8080.tcp()), 8080)
///     .with_dependency("database", database); // the service reaches it at database:5432
/// ```
#[derive(Clone)]
pub struct ServiceRequest {
    service: Arc<dyn Startable>,
    port: u16,
    dependencies: Vec<(String, Arc<dyn Startable>)>,
}

impl fmt::Debug for ServiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceRequest")
            .field("service", &self.service.descriptor())
            .field("port", &self.port)
            .field(
                "dependencies",
                &self
                    .dependencies
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServiceRequest {
    /// The service `request` starts, its WebSocket on container port
    /// `port` (which the request must expose).
    pub fn new<I: Image + fmt::Debug + 'static>(
        request: impl Into<ContainerRequest<I>>,
        port: u16,
    ) -> Self {
        Self {
            service: Arc::new(Request::new(request.into())),
            port,
            dependencies: Vec::new(),
        }
    }

    /// A container the service needs, started first on the network they
    /// share; the service reaches it as `name`.
    pub fn with_dependency<I: Image + fmt::Debug + 'static>(
        mut self,
        name: impl Into<String>,
        request: impl Into<ContainerRequest<I>>,
    ) -> Self {
        self.dependencies
            .push((name.into(), Arc::new(Request::new(request.into()))));
        self
    }

    /// The service's image, `name:tag`.
    #[must_use]
    pub fn descriptor(&self) -> String {
        self.service.descriptor()
    }
}

/// A request of any image, as the tier starts it: once per process
/// (testcontainers' requests cannot be copied).
trait Startable: Send + Sync {
    fn descriptor(&self) -> String;
    /// Everything that shapes the container, for the definition's hash.
    fn identity(&self) -> String;
    fn start(
        &self,
        network: Option<String>,
        hosts: Vec<(String, IpAddr)>,
        labels: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<Arc<dyn Container>, testcontainers::TestcontainersError>>;
}

/// A started container of any image.
trait Container: Send + Sync {
    fn container_id(&self) -> String;
    fn host_port(
        &self,
        port: u16,
    ) -> BoxFuture<'_, Result<(url::Host, u16), testcontainers::TestcontainersError>>;
    fn network_ip(&self) -> BoxFuture<'_, Result<IpAddr, testcontainers::TestcontainersError>>;
}

/// A request, its description kept after it is taken to start.
struct Request<I: Image> {
    descriptor: String,
    identity: String,
    request: Mutex<Option<ContainerRequest<I>>>,
}

impl<I: Image + fmt::Debug> Request<I> {
    fn new(request: ContainerRequest<I>) -> Self {
        Self {
            descriptor: request.descriptor(),
            identity: format!("{request:?}"),
            request: Mutex::new(Some(request)),
        }
    }
}

impl<I: Image + 'static> Startable for Request<I> {
    fn descriptor(&self) -> String {
        self.descriptor.clone()
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn start(
        &self,
        network: Option<String>,
        hosts: Vec<(String, IpAddr)>,
        labels: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<Arc<dyn Container>, testcontainers::TestcontainersError>> {
        let taken = self
            .request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Box::pin(async move {
            let Some(request) = taken else {
                return Err(testcontainers::TestcontainersError::other(
                    "this process started it once already and it failed; a request starts once",
                ));
            };
            let mut request = request
                .with_labels(labels)
                .with_reuse(ReuseDirective::Always);
            if let Some(network) = network {
                request = request.with_network(network);
            }
            for (name, ip) in hosts {
                request = request.with_host(name, Host::Addr(ip));
            }
            let started: Arc<dyn Container> = Arc::new(request.start().await?);
            Ok(started)
        })
    }
}

impl<I: Image + 'static> Container for ContainerAsync<I> {
    fn container_id(&self) -> String {
        std::ops::Deref::deref(self).id().to_owned()
    }

    fn host_port(
        &self,
        port: u16,
    ) -> BoxFuture<'_, Result<(url::Host, u16), testcontainers::TestcontainersError>> {
        Box::pin(async move { Ok((self.get_host().await?, self.get_host_port_ipv4(port).await?)) })
    }

    fn network_ip(&self) -> BoxFuture<'_, Result<IpAddr, testcontainers::TestcontainersError>> {
        Box::pin(self.get_bridge_ip_address())
    }
}

/// Why a service request could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum RequestError {
    /// testcontainers talks to another engine than the one ws-harness found.
    #[error(
        "testcontainers uses another Docker engine ({theirs}) than the one ws-harness found at {endpoint} ({found_by}): set DOCKER_HOST={endpoint} so both use it"
    )]
    OtherEngine {
        endpoint: String,
        found_by: String,
        /// What testcontainers' engine is: its id, or why it cannot be reached.
        theirs: String,
    },
    /// The network for the service and its dependencies could not be made.
    #[error("cannot create the network {network}")]
    Network {
        network: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// testcontainers could not start a container of the request.
    #[error("testcontainers could not start {container} ({image})")]
    Start {
        /// The service, or the dependency's name.
        container: String,
        image: String,
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// The started service publishes no host port for its WebSocket port.
    #[error(
        "the service {image} publishes no host port for {port}/tcp: expose it in the request (GenericImage::with_exposed_port)"
    )]
    Port {
        image: String,
        port: u16,
        #[source]
        source: testcontainers::TestcontainersError,
    },
}

/// The started requests of this process, by definition hash.
type Requests = Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Started>>>>;
static REQUESTS: Lazy<Requests> = Lazy::new(Mutex::default);

/// A started service and its dependencies, kept for the process.
#[derive(Clone)]
struct Started {
    service: Arc<dyn Container>,
    _dependencies: Vec<Arc<dyn Container>>,
    url: Url,
    reused: bool,
    since: Instant,
    took: std::time::Duration,
}

/// The container tier with the service request: started (or found
/// running in this run) and ready.
pub(crate) async fn service_request(
    request: &ServiceRequest,
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Running, ContainerError> {
    let engine = engine(config).await?;
    let owner = reaper::owner();
    let hash = definition_hash(request, config, &owner);
    let cell = {
        let mut requests = REQUESTS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(requests.entry(hash.clone()).or_default())
    };
    let started = cell
        .get_or_try_init(|| start(request, config, &engine, &hash, &owner))
        .await?
        .clone();
    let image = request.descriptor();
    let access =
        configured
            .access(&started.url)
            .await
            .map_err(|source| ContainerError::ServiceAccess {
                service: image.clone(),
                source,
            })?;
    let ready = readiness::of_teams_service(config);
    let readiness_started = Instant::now();
    let id = started.service.container_id();
    let logs = |text: String| log_check(engine.docker.clone(), id.clone(), text);
    let deadline = started.since + config.service.startup_timeout;
    readiness::wait(&ready, &started.url, &access, Some(&logs), deadline)
        .await
        .map_err(|source| ContainerError::NotReady {
            service: image.clone(),
            ready: ready.clone(),
            source,
        })?;
    let container = ContainerRef {
        id,
        docker_endpoint: engine.place.endpoint.clone(),
        engine_found_by: engine.place.found_by.to_string(),
        service: format!("testcontainers request {image}"),
        ready,
        reused: started.reused,
        start: started.took,
        readiness: readiness_started.elapsed(),
    };
    Ok(Running {
        url: started.url,
        container,
        access,
    })
}

/// Checks that testcontainers' client reaches the engine the harness found
/// (the same engine id).
async fn same_engine(
    docker: &bollard::Docker,
    endpoint: &str,
    found_by: &str,
) -> Result<(), RequestError> {
    let ours = docker.info().await.ok().and_then(|info| info.id);
    let theirs = match testcontainers::core::client::docker_client_instance().await {
        Ok(client) => match client.info().await {
            Ok(info) if info.id.is_some() && info.id == ours => return Ok(()),
            Ok(info) => format!("engine id {}", info.id.unwrap_or_default()),
            Err(error) => format!("it does not answer: {error}"),
        },
        Err(error) => format!("it cannot be reached: {error}"),
    };
    Err(RequestError::OtherEngine {
        endpoint: endpoint.to_owned(),
        found_by: found_by.to_owned(),
        theirs,
    })
}

/// The hash of everything that shapes the containers, and of this run's
/// owner: reuse is within one run.
fn definition_hash(
    request: &ServiceRequest,
    config: &RealWebSocketTestConfig,
    owner: &str,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.service.identity());
    hasher.update(request.port.to_be_bytes());
    hasher.update(&config.service.ws_path);
    for (name, dependency) in &request.dependencies {
        hasher.update(name);
        hasher.update(dependency.identity());
    }
    hasher.update(owner);
    hex(&hasher.finalize()[..12])
}

async fn start(
    request: &ServiceRequest,
    config: &RealWebSocketTestConfig,
    engine: &Engine,
    hash: &str,
    owner: &str,
) -> Result<Started, ContainerError> {
    // Once per process and definition, not on every resolution: the
    // engine's id, asked of both clients.
    same_engine(
        &engine.docker,
        &engine.place.endpoint,
        &engine.place.found_by.to_string(),
    )
    .await?;
    let docker = &engine.docker;
    // One process at a time finds-or-starts a definition's containers.
    let _lock = crate::artifacts::lock(hash).await;
    let begun = Instant::now();
    let reused = !labelled(docker, &format!("{DEFINITION_LABEL}={hash}"), false)
        .await
        .unwrap_or_default()
        .is_empty();
    // The role tells the containers of one definition apart: testcontainers'
    // reuse finds a container by its labels.
    let labels = |role: &str| {
        HashMap::from([
            (CONTAINER_LABEL.to_owned(), role.to_owned()),
            (DEFINITION_LABEL.to_owned(), hash.to_owned()),
            (OWNER_LABEL.to_owned(), owner.to_owned()),
        ])
    };
    let network = if request.dependencies.is_empty() {
        None
    } else {
        let network = format!("wsh-{hash}");
        create_network(docker, &network, &labels("network")).await?;
        Some(network)
    };
    let mut dependencies = Vec::new();
    let mut hosts = Vec::new();
    for (name, dependency) in &request.dependencies {
        let failed = |source| RequestError::Start {
            container: name.clone(),
            image: dependency.descriptor(),
            source,
        };
        let started = dependency
            .start(
                network.clone(),
                Vec::new(),
                labels(&format!("dependency {name}")),
            )
            .await
            .map_err(failed)?;
        hosts.push((name.clone(), started.network_ip().await.map_err(failed)?));
        dependencies.push(started);
    }
    let image = request.descriptor();
    let service = request
        .service
        .start(network, hosts, labels("service"))
        .await
        .map_err(|source| RequestError::Start {
            container: "the service".to_owned(),
            image: image.clone(),
            source,
        })?;
    let (host, port) =
        service
            .host_port(request.port)
            .await
            .map_err(|source| RequestError::Port {
                image: image.clone(),
                port: request.port,
                source,
            })?;
    let url = format!("ws://{host}:{port}{}", config.service.ws_path);
    let url = Url::parse(&url).map_err(|_| ContainerError::Url { url })?;
    Ok(Started {
        service,
        _dependencies: dependencies,
        url,
        reused,
        since: begun,
        took: begun.elapsed(),
    })
}

/// Creates the network `name` with `labels` (the sweep removes it with
/// the run's containers), unless another process of this run made it.
async fn create_network(
    docker: &bollard::Docker,
    name: &str,
    labels: &HashMap<String, String>,
) -> Result<(), RequestError> {
    if docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .is_ok()
    {
        return Ok(());
    }
    docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: name.to_owned(),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|source| RequestError::Network {
            network: name.to_owned(),
            source,
        })
}
