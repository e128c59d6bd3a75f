//! Why a tier of the chain was passed over, as types a test can match.

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
    /// No engine answered earlier in this run; it is not asked again.
    #[error("docker: not asked again in this run: no engine answered earlier")]
    DockerNotAskedAgain,
    /// No Docker engine answers at any place of the search order.
    #[cfg(feature = "container")]
    #[error(transparent)]
    NoEngine(super::NoEngine),
    /// The service's image could not be had (built, found).
    #[cfg(feature = "container")]
    #[error("docker: no image for the service")]
    ServiceImage(#[source] super::ServiceImageError),
    /// The compose service could not be had.
    #[cfg(feature = "container")]
    #[error("docker: compose")]
    Compose(#[source] super::ComposeError),
    /// The container did not start.
    #[cfg(feature = "container")]
    #[error("docker: the {image} container did not start")]
    ContainerStart {
        /// The image, `name:tag`.
        image: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// The container started without publishing its port.
    #[error("docker: container {container} publishes no host port for {port}")]
    ContainerPort {
        /// The container's id.
        container: String,
        /// The container port, e.g. `8765/tcp`.
        port: String,
    },
    /// The container's mapped port does not make a URL.
    #[error("docker: the container's address {url} is not a URL")]
    ContainerUrl {
        /// What it made.
        url: String,
    },
    /// The container started and did not become ready in time.
    #[cfg(feature = "container")]
    #[error("docker: {service} did not become ready ({ready}) within service.startup_timeout")]
    ContainerNotReady {
        /// What ran.
        service: String,
        /// The readiness kind waited for.
        ready: crate::harness::Readiness,
        /// The last try's answer.
        #[source]
        source: super::NotReady,
    },
    /// The configured credentials for the team's service could not be had.
    #[cfg(feature = "container")]
    #[error("docker: no access to {service}")]
    ServiceAccess {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: crate::harness::AccessError,
    },
    /// No `staging_url` is configured.
    #[error("WS_HARNESS_STAGING_URL is not set")]
    StagingNotConfigured,
    /// Staging needs credentials of its own, and none are configured.
    #[error(
        "{url} needs its own credentials: set WS_HARNESS_JWT_SECRET, WS_HARNESS_TOKEN, WS_HARNESS_TOKEN_FILE or WS_HARNESS_TOKEN_COMMAND (the published test secret is only for test-mode servers)"
    )]
    StagingCredentials {
        /// The staging URL.
        url: Url,
    },
    /// The configured access (token, TLS setup) could not be had.
    #[error("no access to {url}")]
    Access {
        /// The server's URL.
        url: Url,
        /// Why.
        #[source]
        source: crate::harness::AccessError,
    },
    /// Staging did not pass its readiness check in time.
    #[error("{url} did not become ready ({ready}) within 3 s")]
    StagingNotReady {
        /// The staging URL.
        url: Url,
        /// The readiness kind (`staging_ready`).
        ready: crate::harness::Readiness,
        /// The last try's answer.
        #[source]
        source: super::NotReady,
    },
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
