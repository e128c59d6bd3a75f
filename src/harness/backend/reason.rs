//! Why a tier of the chain was passed over, as types a test can match.

use super::HealthError;
#[cfg(feature = "server")]
use super::InProcessError;
use std::error::Error;
use std::fmt::Write as _;
use url::Url;

/// Why a tier of the chain was passed over. Its `Display` is one line; the
/// report ([`Resolution`](super::Resolution)) adds each `source` after it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// This build of ws-harness has not got the tier.
    #[error("this build has not got this tier: it needs the `{feature}` feature of ws-harness")]
    NotBuilt {
        /// The Cargo feature that brings it.
        feature: &'static str,
    },
    /// Docker failed earlier in this run and is not asked again.
    #[error("docker: not asked again in this run: {endpoint} failed earlier")]
    DockerNotAskedAgain {
        /// The Docker endpoint.
        endpoint: String,
    },
    /// The Docker endpoint cannot be used (a malformed `DOCKER_HOST`, a
    /// missing socket).
    #[cfg(feature = "container")]
    #[error("docker: cannot use {endpoint}")]
    DockerUnusable {
        /// The Docker endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// No Docker engine answers there.
    #[cfg(feature = "container")]
    #[error("docker: no daemon at {endpoint}")]
    DockerUnreachable {
        /// The Docker endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine accepted the connection and did not answer in time.
    #[error("docker: no answer from {endpoint} within {after:?}")]
    DockerTimedOut {
        /// The Docker endpoint.
        endpoint: String,
        /// The probe's timeout.
        after: std::time::Duration,
    },
    /// The image is missing and nothing here can build it.
    #[error(
        "docker: the image {image} is missing and there is no static server binary to build it from; run docker/build.sh"
    )]
    ImageMissing {
        /// The image, `name:tag`.
        image: String,
    },
    /// Building the image failed.
    #[cfg(feature = "container")]
    #[error("docker: cannot build {image} from {} (run docker/build.sh)", binary.display())]
    ImageBuild {
        /// The image, `name:tag`.
        image: String,
        /// The server binary it was built from.
        binary: std::path::PathBuf,
        /// Why.
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// The container did not start.
    #[cfg(feature = "container")]
    #[error("docker: the {image} container did not start")]
    ContainerStart {
        /// The image, `name:tag`.
        image: String,
        /// Why.
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// The container started but its mapped port cannot be read.
    #[cfg(feature = "container")]
    #[error("docker: the container started but its port cannot be read")]
    ContainerPort {
        /// Why.
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// The container runs but its `/health` does not answer as it should.
    #[error("docker: the container is not healthy")]
    ContainerUnhealthy {
        /// What the probe got.
        #[source]
        source: HealthError,
    },
    /// No `staging_url` is configured.
    #[error("WS_HARNESS_STAGING_URL is not set")]
    StagingNotConfigured,
    /// Staging needs credentials of its own, and none are configured.
    #[error(
        "{url} needs its own credentials: set WS_HARNESS_JWT_SECRET or WS_HARNESS_TOKEN (the published test secret is only for test-mode servers)"
    )]
    StagingCredentials {
        /// The staging URL.
        url: Url,
    },
    /// Staging's `/health` does not answer as it should.
    #[error(transparent)]
    StagingUnhealthy(HealthError),
    /// The in-process server could not start.
    #[cfg(feature = "server")]
    #[error(transparent)]
    InProcess(InProcessError),
}

/// A tier name that is not one: the `backend` and `require` settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a tier; expected container, staging or in-process")]
pub struct UnknownTier {
    /// What was given.
    pub given: String,
}

/// `error: source: source…`, on one line.
pub(crate) fn with_sources(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
