//! The backend a test runs against, chosen by the fallback chain, and the
//! report of how it was chosen.
//!
//! The chain, tried in this order unless `backend` forces one tier:
//! 1. **container**: find the Docker engine ([`crate::container::engine`]; 2 s per
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

#[cfg(feature = "server")]
mod in_process;
mod reason;
mod staging;

pub use crate::readiness::{HttpCheckError, NotReady};
#[cfg(feature = "server")]
pub use in_process::{InProcessBackend, InProcessError};
pub use reason::SkipReason;

use crate::access::{Access, AccessError, ConfiguredAccess};
use crate::config::{BackendKind, RealWebSocketTestConfig};
use crate::container::{ContainerRef, runtime};
use crate::with_sources;
use once_cell::sync::OnceCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

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
#[allow(missing_docs)] // fields named for what they hold
pub struct TierAttempt {
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
                TierOutcome::Skipped(why) => write!(f, "skipped: {}", with_sources(why))?,
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
#[derive(Clone)]
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
    /// assert_eq!(backend.tier, Some(BackendKind::InProcess));
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
        tier: None,
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
    let mock_name = mock.as_ref().map(|(name, _)| name.clone());
    let last = mock.map_or(Tier::InProcess, |(_, found)| Tier::Mock(Box::new(found)));
    for candidate in [Tier::Container, Tier::Staging, last] {
        let tier = candidate.kind();
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
        let found = try_tier(candidate, config, &configured).await;
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
    Ok(match mock_name {
        Some(name) if info.tier == Some(BackendKind::Mock) => BackendInfo {
            reason: format!("the mock server {name:?} as the last tier; {}", info.reason),
            ..info
        },
        _ => info,
    })
}

/// A tier as the chain tries it: a test's mock comes with where it is.
enum Tier {
    Container,
    Staging,
    InProcess,
    Mock(Box<Found>),
}

impl Tier {
    fn kind(&self) -> BackendKind {
        match self {
            Tier::Container => BackendKind::Container,
            Tier::Staging => BackendKind::Staging,
            Tier::InProcess => BackendKind::InProcess,
            Tier::Mock(_) => BackendKind::Mock,
        }
    }
}

/// One tier: what it found, or why it was passed over.
async fn try_tier(
    tier: Tier,
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Found, SkipReason> {
    match tier {
        #[cfg(feature = "container")]
        Tier::Container => crate::container::container(config, configured)
            .await
            .map(|running| Found {
                url: running.url,
                container: Some(running.container),
                access: running.access,
            })
            .map_err(SkipReason::Container),
        #[cfg(not(feature = "container"))]
        Tier::Container => Err(SkipReason::NotBuilt {
            feature: "container",
        }),
        Tier::Staging => staging::staging(config, configured).await,
        #[cfg(feature = "server")]
        Tier::InProcess => InProcessBackend::shared()
            .map(|b| Found {
                url: b.url(),
                container: None,
                // The in-process server checks the test secret, whatever
                // is configured for staging.
                access: Access::test(),
            })
            .map_err(SkipReason::InProcess),
        #[cfg(not(feature = "server"))]
        Tier::InProcess => Err(SkipReason::NotBuilt { feature: "server" }),
        Tier::Mock(found) => Ok(*found),
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
            TierOutcome::Skipped(why) => Some(format!("{}: {}", a.tier, with_sources(why))),
            _ => None,
        })
        .collect();
    let reason = match (config.backend, skipped.is_empty()) {
        (Some(_), _) => format!("forced by backend, set by {}", config.source_of("backend")),
        (None, true) => "the first tier of the chain".to_owned(),
        (None, false) => format!("skipped {}", skipped.join("; ")),
    };
    BackendInfo {
        tier: Some(kind),
        url: found.url,
        reason,
        resolution,
        container: found.container,
        access: found.access,
    }
}
