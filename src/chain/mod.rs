//! The backend a test runs against, chosen by the fallback chain, and the
//! report of how it was chosen.
//!
//! The chain, tried in this order unless `backend` names the tiers a suite
//! accepts (and their order):
//! 1. **container**: find the Docker engine ([`crate::container::engine`]; 2 s per
//!    place at most; when none answers the rest of the process does not ask
//!    again), get the service's image (the team's image; one built from its
//!    Dockerfile; the reference image, built on first use) or bring its
//!    compose file up, start it (or reuse the one already running, e.g.
//!    from another nextest process), wait for its readiness kind within
//!    `service.startup_timeout`;
//! 2. **staging**: the server at `staging_url`, with credentials of its
//!    own, once its `staging_ready` check passes (an authenticated
//!    handshake by default);
//! 3. **in-process**: the team's own server ([`Chain::own_server`]), or
//!    the built-in reference server;
//! 4. **mock**: the test's [`MockServer`](crate::mock::MockServer)
//!    ([`Chain::mock`]), when it gives one.
//!
//! The reference server stands in for the service only while the suite
//! speaks the reference protocol: with a contract file of the team's, a
//! `[service]`, an own server or a mock, the reference image and the
//! built-in server are skipped ([`SkipReason::NoStandIn`]).
//!
//! A `url` setting skips the chain. `require` makes resolution fail, with
//! every tier's reason, unless that tier was chosen.

#[cfg(feature = "server")]
mod in_process;
mod own_server;
mod reason;
mod resolution;
mod staging;
mod tiers;

pub use crate::readiness::{HttpCheckError, NotReady};
#[cfg(feature = "server")]
pub use in_process::{InProcessBackend, InProcessError};
pub use own_server::{OwnServer, OwnServerError, Shutdown};
pub use reason::{OwnProtocol, SkipReason};
pub use resolution::{Resolution, TierAttempt, TierOutcome};

use crate::access::{Access, AccessError, ConfiguredAccess};
use crate::config::{BackendKind, RealWebSocketTestConfig};
use crate::container::{ContainerRef, runtime};
use once_cell::sync::OnceCell;
use std::fmt;
use url::Url;

/// The backend a test runs against, and why this one: shown in every
/// assertion failure and by `ws-harness check`.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct BackendInfo {
    /// The chain's tier it is; `None` when the `url` setting named the
    /// server and the chain was not consulted.
    pub tier: Option<BackendKind>,
    pub url: Url,
    /// Why it was chosen, in one line.
    pub reason: String,
    /// How the chain went.
    pub resolution: Resolution,
    /// The container, for the container tier (its logs are kept on failure).
    pub container: Option<ContainerRef>,
    /// How clients get in: its tier's own credentials, headers and TLS setup.
    pub access: Access,
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} ({})", self.source(), self.url, self.reason)?;
        if let Some(container) = &self.container {
            write!(f, "; {container}")?;
        }
        write!(f, "; clients use {}", self.access)
    }
}

/// Why no backend could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum BackendError {
    /// The in-process server could not start.
    #[cfg(feature = "server")]
    #[error("the in-process server could not start")]
    InProcess(#[from] InProcessError),
    /// No tier could be had.
    #[error("no backend: no tier could be had:\n{resolution}")]
    Unavailable {
        /// Every tier's outcome.
        resolution: Resolution,
    },
    /// The forced or required tier could not be had.
    #[error("the {tier} backend is required ({by}) but could not be had:\n{resolution}")]
    Required {
        tier: BackendKind,
        /// The setting that asked for it.
        by: String,
        /// Every tier's outcome.
        resolution: Resolution,
    },
    /// The `url` server's configured access could not be had.
    #[error("no access to {url}")]
    Access {
        url: Url,
        /// Why.
        #[source]
        source: AccessError,
    },
    /// The chain's task stopped before it finished (it panicked).
    #[error("backend resolution did not finish")]
    Interrupted(#[source] tokio::task::JoinError),
}

/// A tier that could be had.
#[derive(Debug, Clone)]
struct Found {
    url: Url,
    container: Option<ContainerRef>,
    access: Access,
}

impl BackendInfo {
    /// Where it came from: its tier (`container`, `staging`, `in-process`,
    /// `mock`), or `url` when the `url` setting named it.
    #[must_use]
    pub fn source(&self) -> &'static str {
        self.tier.map_or("url", BackendKind::as_str)
    }

    #[cfg(any(feature = "server", feature = "mock"))]
    pub(crate) fn single(tier: BackendKind, url: Url, reason: &str) -> Self {
        Self {
            tier: Some(tier),
            url,
            reason: reason.to_owned(),
            resolution: Resolution::default(),
            container: None,
            access: Access::test(),
        }
    }

    /// The backend `config` asks for, resolved once per process and shared
    /// (later calls return the first answer, whatever their config). For
    /// synchronous callers such as rstest fixtures: it blocks the calling
    /// thread until the chain is done.
    ///
    /// # Errors
    /// [`BackendError`] when the forced or required tier cannot be had.
    pub fn shared(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        static SHARED: OnceCell<BackendInfo> = OnceCell::new();
        SHARED
            .get_or_try_init(|| Self::resolve_blocking(config))
            .cloned()
    }

    /// Runs the chain of the built-in tiers for `config` (see the module
    /// docs) and logs the report: [`Chain::new(config).resolve()`](Chain::resolve).
    ///
    /// ```
    /// use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RealWebSocketTestConfig::builder()
    ///     .without_environment()
    ///     .backend([BackendKind::InProcess])
    ///     .build()?;
    /// let backend = BackendInfo::resolve(&config).await?;
    /// assert_eq!(backend.tier, Some(BackendKind::InProcess));
    /// println!("{}", backend.resolution);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`BackendError`] when the forced or required tier cannot be had.
    pub async fn resolve(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        Chain::new(config).resolve().await
    }

    /// [`resolve`](Self::resolve) for synchronous code:
    /// [`Chain::new(config).resolve_blocking()`](Chain::resolve_blocking).
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub fn resolve_blocking(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        Chain::new(config).resolve_blocking()
    }
}

/// The chain with the tiers a test brings: its service as a
/// testcontainers request for the container tier, its own server as the
/// in-process tier, its mock as the last.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ws_harness::chain::Chain;
/// use ws_harness::mock::MockServer;
/// use ws_harness::{BackendKind, RealWebSocketTestConfig};
///
/// let mock = MockServer::builder().name("orders").start().await?;
/// // No staging is set, and the suite speaks the team's protocol (a mock
/// // is given): neither the reference image nor the reference server
/// // stands in for it. The mock it is.
/// let config = RealWebSocketTestConfig::builder().without_environment().build()?;
/// let backend = Chain::new(&config).mock(&mock).resolve().await?;
/// assert_eq!(backend.tier, Some(BackendKind::Mock));
/// assert!(backend.reason.starts_with("the mock server \"orders\" as the last tier"));
/// assert!(backend.resolution.to_string().contains("4. mock: chosen"));
/// # Ok(())
/// # }
/// ```
#[must_use = "a chain does nothing until resolved"]
pub struct Chain<'a> {
    config: &'a RealWebSocketTestConfig,
    given: Given,
    /// Told which tier was chosen (`None`: none could be had): the mock,
    /// which is verified only when it served.
    chosen: Option<Box<dyn Fn(Option<BackendKind>) + Send + Sync + 'a>>,
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("config", &self.config)
            .field("given", &self.given)
            .finish_non_exhaustive()
    }
}

/// The tiers a test brings, as the chain's task takes them.
#[derive(Debug, Default)]
struct Given {
    /// The service as a testcontainers request, for the container tier.
    #[cfg(feature = "testcontainers")]
    container_request: Option<crate::container::ServiceRequest>,
    own_server: Option<OwnServer>,
    /// The mock's name and where it is.
    mock: Option<(String, Found)>,
}

impl<'a> Chain<'a> {
    /// The chain of the built-in tiers for `config`.
    pub fn new(config: &'a RealWebSocketTestConfig) -> Self {
        Self {
            config,
            given: Given::default(),
            chosen: None,
        }
    }

    /// The team's service as a testcontainers request (and its
    /// dependencies) for the container tier, in place of `[service]`
    /// (feature `testcontainers`).
    #[cfg(feature = "testcontainers")]
    pub fn container_request(mut self, request: crate::container::ServiceRequest) -> Self {
        self.given.container_request = Some(request);
        self
    }

    /// The team's own server as the in-process tier, in place of the
    /// reference server.
    pub fn own_server(mut self, server: OwnServer) -> Self {
        self.given.own_server = Some(server);
        self
    }

    /// A mock as the last tier: its name, where it is and how clients get
    /// in; `chosen` learns which tier the chain chose.
    #[cfg(feature = "mock")]
    pub(crate) fn with_mock(
        mut self,
        name: String,
        url: Url,
        access: Access,
        chosen: impl Fn(Option<BackendKind>) + Send + Sync + 'a,
    ) -> Self {
        let found = Found {
            url,
            container: None,
            access,
        };
        self.given.mock = Some((name, found));
        self.chosen = Some(Box::new(chosen));
        self
    }

    /// Runs the chain (see the module docs) and logs the report. The chain
    /// runs on the harness's own runtime; awaiting it never blocks a worker
    /// of the caller's.
    ///
    /// # Errors
    /// [`BackendError`] when the forced or required tier cannot be had.
    pub async fn resolve(self) -> Result<BackendInfo, BackendError> {
        let config = self.config.clone();
        let given = self.given;
        let resolved = runtime()
            .spawn(async move { resolve(&config, given).await })
            .await
            .unwrap_or_else(|e| Err(BackendError::Interrupted(e)));
        tell(self.chosen, resolved)
    }

    /// [`resolve`](Self::resolve) for synchronous code: blocks the calling
    /// thread (never a runtime of the harness) until the chain is done.
    /// Works inside and outside an async runtime.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub fn resolve_blocking(self) -> Result<BackendInfo, BackendError> {
        let config = self.config.clone();
        let given = self.given;
        let resolving = runtime().spawn(async move { resolve(&config, given).await });
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime().spawn(async move { done.send(resolving.await).ok() });
        let resolved = result
            .recv()
            .expect("the chain's runtime lives as long as the process")
            .unwrap_or_else(|e| Err(BackendError::Interrupted(e)));
        tell(self.chosen, resolved)
    }
}

/// Tells `chosen` (the mock's) which tier `resolved` is, and returns it.
fn tell<'a>(
    chosen: Option<Box<dyn Fn(Option<BackendKind>) + Send + Sync + 'a>>,
    resolved: Result<BackendInfo, BackendError>,
) -> Result<BackendInfo, BackendError> {
    if let Some(chosen) = chosen {
        chosen(resolved.as_ref().ok().and_then(|info| info.tier));
    }
    resolved
}

/// The server named by `url`, if set; else the chain. The report is
/// logged, with a warning when TLS certificates go unchecked.
async fn resolve(
    config: &RealWebSocketTestConfig,
    given: Given,
) -> Result<BackendInfo, BackendError> {
    let info = match &config.url {
        Some(url) => configured_url(config, url).await?,
        None => tiers::chain(config, given).await?,
    };
    tracing::info!(backend = %info, resolution = %info.resolution, "backend resolved");
    if info.access.tls.as_ref().is_some_and(|tls| !tls.verifies()) {
        tracing::warn!(backend = %info.url, "tls_insecure_skip_verify: the server's certificate is not checked");
    }
    Ok(info)
}

/// The server named by `url`: no chain.
async fn configured_url(
    config: &RealWebSocketTestConfig,
    url: &Url,
) -> Result<BackendInfo, BackendError> {
    let access = ConfiguredAccess::new(config)
        .access(url)
        .await
        .map_err(|source| BackendError::Access {
            url: url.clone(),
            source,
        })?;
    let reason = format!(
        "url set by {}; the chain was not consulted",
        config.source_of("url")
    );
    Ok(BackendInfo {
        tier: None,
        url: url.clone(),
        reason,
        resolution: Resolution::default(),
        container: None,
        access,
    })
}
