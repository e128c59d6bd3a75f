//! The container tier: the service of the config's [`ServiceDefinition`](crate::config::ServiceDefinition)
//! (the reference image unless the team's own is named), started or reused
//! on the Docker engine found by [`crate::container::engine`]'s search order (probed
//! once per run, behind a circuit breaker), then waited for by its
//! readiness kind. The engine is driven through bollard, so the endpoint
//! found is the one every call uses.

#[cfg(feature = "container")]
mod build;
#[cfg(feature = "container")]
mod compose;
#[cfg(feature = "container")]
mod connect;
#[cfg(feature = "container")]
mod definition;
pub mod engine;
#[cfg(feature = "container")]
mod image;
#[cfg(feature = "container")]
mod labels;
#[cfg(feature = "container")]
mod reaper;
#[cfg(feature = "container")]
mod reference_image;
#[cfg(feature = "testcontainers")]
mod request;
#[cfg(feature = "container")]
mod start;

#[cfg(feature = "container")]
pub use compose::ComposeError;
#[cfg(feature = "container")]
pub use connect::{NoEngine, ProbeOutcome, Tried};
#[cfg(feature = "container")]
pub use image::ServiceImageError;
#[cfg(feature = "container")]
pub use labels::CONTAINER_LABEL;
#[cfg(feature = "container")]
pub use reference_image::ImageError;
#[cfg(feature = "testcontainers")]
pub(crate) use request::service_request;
#[cfg(feature = "testcontainers")]
pub use request::{RequestError, ServiceRequest};
#[cfg(feature = "container")]
pub(crate) use start::{Running, container};

use crate::artifacts::SaveError;
use crate::config::Readiness;
#[cfg(feature = "container")]
use crate::config::RealWebSocketTestConfig;
use once_cell::sync::Lazy;
use std::fmt;
use std::time::Duration;

/// A container backend: what ran, how long it took, and enough to find it
/// again, e.g. to save its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct ContainerRef {
    pub id: String,
    /// The Docker endpoint it runs on.
    pub docker_endpoint: String,
    /// How that endpoint was found, e.g. `DOCKER_HOST` or `docker context colima`.
    pub engine_found_by: String,
    /// What ran: the image, or the Dockerfile and the image built from it.
    pub service: String,
    /// The readiness kind that was waited for.
    pub ready: Readiness,
    /// Whether the container was already running (started by another
    /// process of this run, or an earlier run of the reference server).
    pub reused: bool,
    /// How long getting the image and starting (or finding) the container took.
    pub start: Duration,
    /// How long the readiness wait took.
    pub readiness: Duration,
}

impl fmt::Display for ContainerRef {
    /// `reference image ws-harness:0.1.0-…, container 1a2b3c4d5e6f (started) on unix:///var/run/docker.sock (the default socket), ready (reference) after 310 ms + 12 ms`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id: String = self.id.chars().take(12).collect();
        let how = if self.reused { "reused" } else { "started" };
        write!(
            f,
            "{}, container {id} ({how}) on {} ({}), ready ({}) after {} ms + {} ms",
            self.service,
            self.docker_endpoint,
            self.engine_found_by,
            self.ready,
            self.start.as_millis(),
            self.readiness.as_millis()
        )
    }
}

impl ContainerRef {
    /// Saves the container's logs next to the transcripts and returns the path.
    ///
    /// # Errors
    /// [`SaveError`] when the logs cannot be read or written.
    pub async fn save_logs(&self) -> Result<std::path::PathBuf, SaveError> {
        #[cfg(feature = "container")]
        return start::save_logs(&self.docker_endpoint, &self.id).await;
        #[cfg(not(feature = "container"))]
        unreachable!("only the container tier, which this build lacks, makes a ContainerRef")
    }
}

/// The runtime the chain and the container's client live on: it lives as
/// long as the process, so a container handle is never dropped outside it,
/// and resolving never ties up a worker of the caller's runtime.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
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

/// Why the container tier could not be had. Its `Display` is one line; the
/// chain's report adds each `source` after it.
#[cfg(feature = "container")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum ContainerError {
    /// No engine answered earlier in this run; it is not asked again.
    #[error("docker: not asked again in this run: no engine answered earlier")]
    NotAskedAgain,
    /// No Docker engine answers at any place of the search order.
    #[error(transparent)]
    NoEngine(NoEngine),
    /// The service's image could not be had (built, found).
    #[error("docker: no image for the service")]
    ServiceImage(#[source] ServiceImageError),
    /// The compose service could not be had.
    #[error("docker: compose")]
    Compose(#[source] ComposeError),
    /// The container did not start.
    #[error("docker: the {image} container did not start")]
    Start {
        /// The image, `name:tag`.
        image: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// The container started without publishing its port.
    #[error("docker: container {container} publishes no host port for {port}")]
    Port {
        /// The container's id.
        container: String,
        /// The container port, e.g. `8765/tcp`.
        port: String,
    },
    /// The container's mapped port does not make a URL.
    #[error("docker: the container's address {url} is not a URL")]
    Url {
        /// What it made.
        url: String,
    },
    /// The container started and did not become ready in time.
    #[error("docker: {service} did not become ready ({ready}) within service.startup_timeout")]
    NotReady {
        /// What ran.
        service: String,
        /// The readiness kind waited for.
        ready: Readiness,
        /// The last try's answer.
        #[source]
        source: crate::readiness::NotReady,
    },
    /// The service given as a testcontainers request could not be had.
    #[cfg(feature = "testcontainers")]
    #[error("docker: testcontainers")]
    Request(#[from] RequestError),
    /// The configured credentials for the team's service could not be had.
    #[error("docker: no access to {service}")]
    ServiceAccess {
        service: String,
        /// Why.
        #[source]
        source: crate::access::AccessError,
    },
}

/// The reference server's image (`ws-harness:<version>-<hash of its
/// sources>`), built now if the engine lacks it: a release build of the
/// server, statically linked, into a `FROM scratch` image. The container
/// tier does the same on first use; `ws-harness image` calls this.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ws_harness::RealWebSocketTestConfig::from_env()?;
/// let image = ws_harness::container::reference_image(&config).await?;
/// assert!(image.starts_with("ws-harness:"));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`ImageError`] when there is no engine, the host cannot build a static
/// Linux binary for it, or cargo or Docker fail (with their words).
#[cfg(feature = "container")]
pub async fn reference_image(config: &RealWebSocketTestConfig) -> Result<String, ImageError> {
    let config = config.clone();
    runtime()
        .spawn(async move { start::reference_image(&config).await })
        .await
        .expect("building the reference image does not panic")
}
