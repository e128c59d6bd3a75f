//! Why a tier of the chain was passed over, as types a test can match.

#[cfg(feature = "server")]
use super::InProcessError;
use super::OwnServerError;
use crate::access::AccessError;
use crate::config::{ConfigSource, Readiness};
use crate::readiness::NotReady;
use std::fmt;
use std::path::PathBuf;
use url::Url;

/// Why a tier of the chain was passed over. Its `Display` is one line; the
/// report ([`Resolution`](super::Resolution)) adds each `source` after it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum SkipReason {
    /// This build of ws-harness has not got the tier.
    #[error("this build has not got this tier: it needs the `{feature}` feature of ws-harness")]
    NotBuilt {
        /// The Cargo feature that brings it.
        feature: &'static str,
    },
    /// The container tier could not be had.
    #[cfg(feature = "container")]
    #[error(transparent)]
    Container(crate::container::ContainerError),
    /// No `staging_url` is configured.
    #[error("WS_HARNESS_STAGING_URL is not set")]
    StagingNotConfigured,
    /// Staging needs credentials of its own, and none are configured.
    #[error(
        "{url} needs its own credentials: set WS_HARNESS_JWT_SECRET, WS_HARNESS_TOKEN, WS_HARNESS_TOKEN_FILE or WS_HARNESS_TOKEN_COMMAND (the published test secret is only for test-mode servers)"
    )]
    StagingCredentials { url: Url },
    /// The configured access (token, TLS setup) could not be had.
    #[error("no access to {url}")]
    Access {
        url: Url,
        /// Why.
        #[source]
        source: AccessError,
    },
    /// Staging did not pass its readiness check in time.
    #[error("{url} did not become ready ({ready}) within 3 s")]
    StagingNotReady {
        url: Url,
        /// The readiness kind (`staging_ready`).
        ready: Readiness,
        /// The last try's answer.
        #[source]
        source: NotReady,
    },
    /// The in-process server could not start.
    #[cfg(feature = "server")]
    #[error(transparent)]
    InProcess(InProcessError),
    /// The suite speaks the team's protocol: the reference server (the
    /// reference image, the built-in in-process server) would fail it on
    /// every frame.
    #[error("the reference server is no stand-in for this suite's protocol: {0}")]
    NoStandIn(OwnProtocol),
    /// The team's own server could not be had.
    #[error(transparent)]
    OwnServer(OwnServerError),
    /// The mock tier, with no mock given.
    #[error("no mock server is given (Chain::mock adds one)")]
    NoMock,
}

/// What tells that a suite speaks the team's protocol, not the reference one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum OwnProtocol {
    /// The test gives its service as a testcontainers request.
    ContainerRequest { image: String },
    /// The test gives its own server for the in-process tier.
    OwnServer { name: String },
    /// The test gives a mock server.
    Mock { name: String },
    /// The contract is a file of the team's.
    ContractFile { file: PathBuf, set_by: ConfigSource },
    /// `[service]` names the team's service.
    Service { set_by: ConfigSource },
}

impl fmt::Display for OwnProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ContainerRequest { image } => {
                write!(
                    f,
                    "the test gives its service as the testcontainers request {image}"
                )
            }
            Self::OwnServer { name } => write!(f, "the test gives its own server {name:?}"),
            Self::Mock { name } => write!(f, "the test gives the mock server {name:?}"),
            Self::ContractFile { file, set_by } => write!(
                f,
                "contract.source is the team's {} (set by {set_by})",
                file.display()
            ),
            Self::Service { set_by } => {
                write!(f, "[service] names the team's service (set by {set_by})")
            }
        }
    }
}
