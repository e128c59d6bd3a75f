//! The backend a test runs against, chosen by the fallback chain, and the
//! report of how it was chosen.
//!
//! The chain, tried in this order unless `backend` forces one tier:
//! 1. **container**: find the Docker engine ([`crate::engine`]; 2 s per
//!    place at most; when none answers the rest of the process does not ask
//!    again), get the service's image (the reference image, built on first
//!    use; the team's image; one built from its Dockerfile) or bring its
//!    compose file up, start it (or reuse the one already running, e.g.
//!    from another nextest process), wait for its readiness kind within
//!    `service.startup_timeout`;
//! 2. **staging**: the server at `staging_url`, with credentials of its
//!    own, once its `staging_ready` check passes (an authenticated
//!    handshake by default);
//! 3. **in-process**: the built-in reference server.
//!
//! A `url` setting skips the chain. `require` makes resolution fail, with
//! every tier's reason, unless that tier was chosen.

#[cfg(feature = "container")]
mod container;
#[cfg(feature = "container")]
pub use container::{
    CONTAINER_LABEL, ComposeError, ImageError, NoEngine, ProbeOutcome, ServiceImageError, Tried,
};

mod http_check;
#[cfg(feature = "server")]
mod in_process;
mod readiness;
mod reason;
mod staging;

pub use http_check::HttpCheckError;
#[cfg(feature = "server")]
pub use in_process::{InProcessBackend, InProcessError};
pub use readiness::NotReady;
pub(crate) use reason::with_sources;
pub use reason::{SkipReason, UnknownTier};

use super::access::ConfiguredAccess;
use super::{Access, AccessError, RealWebSocketTestConfig, SaveError};
use once_cell::sync::{Lazy, OnceCell};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// A kind of backend: a tier of the chain, or a server named by `url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The reference server in a Docker container.
    Container,
    /// The server at `staging_url`.
    Staging,
    /// The reference server in this process.
    InProcess,
    /// The server named by the `url` setting (no chain).
    Url,
    /// A [`MockServer`](crate::mock::MockServer) the test scripted.
    Mock,
}

impl BackendKind {
    /// The tiers of the chain, in order.
    pub const CHAIN: [BackendKind; 3] = [Self::Container, Self::Staging, Self::InProcess];

    /// `container`, `staging`, `in-process` or `url`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Staging => "staging",
            Self::InProcess => "in-process",
            Self::Url => "url",
            Self::Mock => "mock",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = UnknownTier;

    /// A tier of the chain: `container`, `staging` or `in-process`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::CHAIN
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownTier {
                given: s.to_owned(),
            })
    }
}

/// What became of one tier.
#[derive(Debug, Clone)]
pub enum TierOutcome {
    /// This tier is the backend.
    Chosen,
    /// Tried and passed over, for this reason.
    Skipped(Arc<SkipReason>),
    /// Not tried (an earlier tier was chosen, or another was forced).
    NotTried,
}

/// One tier's line in the report.
#[derive(Debug, Clone)]
pub struct TierAttempt {
    /// The tier.
    pub tier: BackendKind,
    /// What became of it.
    pub outcome: TierOutcome,
    /// How long trying it took.
    pub took: Duration,
}

/// How the backend was chosen: every tier, its outcome and its time.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// One line per tier, in chain order.
    pub attempts: Vec<TierAttempt>,
}

impl Resolution {
    /// Why `tier` was skipped, if it was.
    #[must_use]
    pub fn skipped(&self, tier: BackendKind) -> Option<&SkipReason> {
        self.attempts.iter().find_map(|a| match &a.outcome {
            TierOutcome::Skipped(why) if a.tier == tier => Some(why.as_ref()),
            _ => None,
        })
    }
}

impl fmt::Display for Resolution {
    /// A numbered list, one tier a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, attempt) in self.attempts.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}. {}: ", i + 1, attempt.tier)?;
            match &attempt.outcome {
                TierOutcome::Chosen => f.write_str("chosen")?,
                TierOutcome::Skipped(why) => write!(f, "skipped: {}", reason::with_sources(why))?,
                TierOutcome::NotTried => f.write_str("not tried")?,
            }
            write!(f, " ({} ms)", attempt.took.as_millis())?;
        }
        Ok(())
    }
}

/// The backend a test runs against, and why this one: shown in every
/// assertion failure and by `ws-harness check`.
#[derive(Debug, Clone)]
pub struct BackendInfo {
    /// Its kind.
    pub kind: BackendKind,
    /// Its WebSocket URL.
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

/// A container backend: what ran, how long it took, and enough to find it
/// again, e.g. to save its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// The container's id.
    pub id: String,
    /// The Docker endpoint it runs on.
    pub docker_endpoint: String,
    /// How that endpoint was found, e.g. `DOCKER_HOST` or `docker context colima`.
    pub engine_found_by: String,
    /// What ran: the image, or the Dockerfile and the image built from it.
    pub service: String,
    /// The readiness kind that was waited for.
    pub ready: super::Readiness,
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
        return container::save_logs(&self.docker_endpoint, &self.id).await;
        #[cfg(not(feature = "container"))]
        unreachable!("only the container tier, which this build lacks, makes a ContainerRef")
    }
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} ({})", self.kind, self.url, self.reason)?;
        if let Some(container) = &self.container {
            write!(f, "; {container}")?;
        }
        write!(f, "; clients use {}", self.access)
    }
}

/// Why no backend could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
        /// The tier.
        tier: BackendKind,
        /// The setting that asked for it.
        by: String,
        /// Every tier's outcome.
        resolution: Resolution,
    },
    /// The `url` server's configured access could not be had.
    #[error("no access to {url}")]
    Access {
        /// The URL.
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
#[derive(Clone)]
struct Found {
    url: Url,
    container: Option<ContainerRef>,
    access: Access,
}

/// The runtime the chain and the container's client live on: it lives as
/// long as the process, so a container handle is never dropped outside it,
/// and resolving never ties up a worker of the caller's runtime.
fn runtime() -> &'static tokio::runtime::Runtime {
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

impl BackendInfo {
    #[cfg(any(feature = "server", feature = "mock"))]
    pub(crate) fn single(kind: BackendKind, url: Url, reason: &str) -> Self {
        Self {
            kind,
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

    /// Runs the chain for `config` (see the crate docs) and logs the report.
    /// The chain runs on the harness's own runtime; awaiting it never blocks
    /// a worker of the caller's.
    ///
    /// ```
    /// use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RealWebSocketTestConfig::builder()
    ///     .without_environment()
    ///     .backend(Some(BackendKind::InProcess))
    ///     .build()?;
    /// let backend = BackendInfo::resolve(&config).await?;
    /// assert_eq!(backend.kind, BackendKind::InProcess);
    /// println!("{}", backend.resolution);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`BackendError`] when the forced or required tier cannot be had.
    pub async fn resolve(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        let config = config.clone();
        runtime()
            .spawn(async move { resolve(&config, None).await })
            .await
            .unwrap_or_else(|e| Err(BackendError::Interrupted(e)))
    }

    /// [`resolve`](Self::resolve) with a test's own last tier in place of
    /// the in-process server: the mock server `name` at `url`.
    #[cfg(feature = "mock")]
    pub(crate) async fn resolve_with_mock(
        config: &RealWebSocketTestConfig,
        name: String,
        url: Url,
        access: Access,
    ) -> Result<Self, BackendError> {
        let config = config.clone();
        let found = Found {
            url,
            container: None,
            access,
        };
        runtime()
            .spawn(async move { resolve(&config, Some((name, found))).await })
            .await
            .unwrap_or_else(|e| Err(BackendError::Interrupted(e)))
    }

    /// [`resolve`](Self::resolve) for synchronous code: blocks the calling
    /// thread (never a runtime of the harness) until the chain is done.
    /// Works inside and outside an async runtime.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub fn resolve_blocking(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        let config = config.clone();
        let resolving = runtime().spawn(async move { resolve(&config, None).await });
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime().spawn(async move { done.send(resolving.await).ok() });
        result
            .recv()
            .expect("the chain's runtime lives as long as the process")
            .unwrap_or_else(|e| Err(BackendError::Interrupted(e)))
    }
}

/// The server named by `url`, if set; else the chain, ending with `mock`
/// (a name and where it is) when given. The report is logged, with a
/// warning when TLS certificates go unchecked.
async fn resolve(
    config: &RealWebSocketTestConfig,
    mock: Option<(String, Found)>,
) -> Result<BackendInfo, BackendError> {
    let info = match &config.url {
        Some(url) => configured_url(config, url).await?,
        None => chain(config, mock).await?,
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
        kind: BackendKind::Url,
        url: url.clone(),
        reason,
        resolution: Resolution::default(),
        container: None,
        access,
    })
}

async fn chain(
    config: &RealWebSocketTestConfig,
    mock: Option<(String, Found)>,
) -> Result<BackendInfo, BackendError> {
    let configured = ConfiguredAccess::new(config);
    let mut resolution = Resolution::default();
    let mut chosen: Option<(BackendKind, Found)> = None;
    let mut tiers = BackendKind::CHAIN;
    if mock.is_some()
        && let Some(last) = tiers.last_mut()
    {
        *last = BackendKind::Mock;
    }
    for tier in tiers {
        let forced_out = config.backend.is_some_and(|forced| forced != tier);
        if chosen.is_some() || forced_out {
            resolution.attempts.push(TierAttempt {
                tier,
                outcome: TierOutcome::NotTried,
                took: Duration::ZERO,
            });
            continue;
        }
        let started = Instant::now();
        let found = match (tier, &mock) {
            (BackendKind::Mock, Some((_, found))) => Ok(found.clone()),
            _ => try_tier(tier, config, &configured).await,
        };
        let outcome = match found {
            Ok(found) => {
                chosen = Some((tier, found));
                TierOutcome::Chosen
            }
            Err(why) => TierOutcome::Skipped(Arc::new(why)),
        };
        resolution.attempts.push(TierAttempt {
            tier,
            outcome,
            took: started.elapsed(),
        });
    }
    // `require` wins over `backend`: forcing one tier and requiring another
    // can only fail, and says so.
    let setting = |key: &str, tier: BackendKind| {
        (
            tier,
            format!("{key} = {tier}, set by {}", config.source_of(key)),
        )
    };
    let required = config
        .require
        .map(|t| setting("require", t))
        .or_else(|| config.backend.map(|t| setting("backend", t)));
    let info = match (chosen, required) {
        (Some((kind, found)), Some((tier, _))) if kind == tier => {
            info(kind, found, resolution, config)
        }
        (Some((kind, found)), None) => info(kind, found, resolution, config),
        (_, Some((tier, by))) => {
            return Err(BackendError::Required {
                tier,
                by,
                resolution,
            });
        }
        (None, None) => return Err(BackendError::Unavailable { resolution }),
    };
    Ok(match mock {
        Some((name, _)) if info.kind == BackendKind::Mock => BackendInfo {
            reason: format!("the mock server {name:?} as the last tier; {}", info.reason),
            ..info
        },
        _ => info,
    })
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
/// let image = ws_harness::reference_image(&config).await?;
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
        .spawn(async move { container::reference_image(&config).await })
        .await
        .expect("building the reference image does not panic")
}

/// One tier: what it found, or why it was passed over.
async fn try_tier(
    tier: BackendKind,
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Found, SkipReason> {
    match tier {
        #[cfg(feature = "container")]
        BackendKind::Container => container::container(config, configured).await,
        #[cfg(not(feature = "container"))]
        BackendKind::Container => Err(SkipReason::NotBuilt {
            feature: "container",
        }),
        BackendKind::Staging => staging::staging(config, configured).await,
        #[cfg(feature = "server")]
        BackendKind::InProcess => InProcessBackend::shared()
            .map(|b| Found {
                url: b.url(),
                container: None,
                // The in-process server checks the test secret, whatever
                // is configured for staging.
                access: Access::test(),
            })
            .map_err(SkipReason::InProcess),
        #[cfg(not(feature = "server"))]
        BackendKind::InProcess => Err(SkipReason::NotBuilt { feature: "server" }),
        BackendKind::Url | BackendKind::Mock => unreachable!("not a tier of the chain"),
    }
}

fn info(
    kind: BackendKind,
    found: Found,
    resolution: Resolution,
    config: &RealWebSocketTestConfig,
) -> BackendInfo {
    let skipped: Vec<String> = resolution
        .attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            TierOutcome::Skipped(why) => Some(format!("{}: {}", a.tier, reason::with_sources(why))),
            _ => None,
        })
        .collect();
    let reason = match (config.backend, skipped.is_empty()) {
        (Some(_), _) => format!("forced by backend, set by {}", config.source_of("backend")),
        (None, true) => "the first tier of the chain".to_owned(),
        (None, false) => format!("skipped {}", skipped.join("; ")),
    };
    BackendInfo {
        kind,
        url: found.url,
        reason,
        resolution,
        container: found.container,
        access: found.access,
    }
}
