//! Why a tier of the chain was passed over, as types a test can match.

#[cfg(feature = "server")]
use super::InProcessError;
use crate::access::AccessError;
use crate::config::Readiness;
use crate::readiness::NotReady;
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
}
