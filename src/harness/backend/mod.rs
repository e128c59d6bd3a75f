//! The backend a test runs against, chosen by the fallback chain, and the
//! report of how it was chosen.
//!
//! The chain, tried in this order unless `backend` forces one tier:
//! 1. **container**: probe Docker (2 s at most; after a failure the rest of
//!    the process does not ask again), build the `ws-harness` image from the
//!    static binary if it is missing, start it with testcontainers (or
//!    reuse the one already running, e.g. from another nextest process),
//!    wait for `/health` within `docker_startup_timeout`;
//! 2. **staging**: the server at `staging_url`, once its `/health` answers
//!    with protocol 1;
//! 3. **in-process**: the built-in reference server, always available.
//!
//! A `url` setting skips the chain. `require` makes resolution fail, with
//! every tier's reason, unless that tier was chosen.

mod docker;
pub use docker::CONTAINER_LABEL;
mod health;
mod in_process;
mod staging;

pub use in_process::InProcessBackend;

use super::RealWebSocketTestConfig;
use once_cell::sync::OnceCell;
use std::fmt;
use std::str::FromStr;
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
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = String;

    /// A tier of the chain: `container`, `staging` or `in-process`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::CHAIN
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a tier; expected container, staging or in-process")
            })
    }
}

/// What became of one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierOutcome {
    /// This tier is the backend.
    Chosen,
    /// Tried and passed over, for this reason.
    Skipped(String),
    /// Not tried (an earlier tier was chosen, or another was forced).
    NotTried,
}

/// One tier's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierAttempt {
    /// The tier.
    pub tier: BackendKind,
    /// What became of it.
    pub outcome: TierOutcome,
    /// How long trying it took.
    pub took: Duration,
}

/// How the backend was chosen: every tier, its outcome and its time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// One line per tier, in chain order.
    pub attempts: Vec<TierAttempt>,
}

impl fmt::Display for Resolution {
    /// A numbered list, one tier a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, attempt) in self.attempts.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let outcome = match &attempt.outcome {
                TierOutcome::Chosen => "chosen".to_owned(),
                TierOutcome::Skipped(why) => format!("skipped: {why}"),
                TierOutcome::NotTried => "not tried".to_owned(),
            };
            write!(
                f,
                "{}. {}: {outcome} ({} ms)",
                i + 1,
                attempt.tier,
                attempt.took.as_millis()
            )?;
        }
        Ok(())
    }
}

/// The backend a test runs against, and why this one: shown in every
/// assertion failure and by `ws-harness check`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A container backend: enough to find it again, e.g. to save its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// The container's id.
    pub id: String,
    /// The Docker endpoint it runs on.
    pub docker_endpoint: String,
}

impl ContainerRef {
    /// Saves the container's logs next to the transcripts and returns the path.
    ///
    /// # Errors
    /// Why the logs could not be read or written.
    pub fn save_logs(&self) -> Result<std::path::PathBuf, String> {
        docker::save_logs(&self.docker_endpoint, &self.id)
    }
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} ({})", self.kind, self.url, self.reason)
    }
}

/// Why no backend could be had.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The in-process server could not start.
    #[error("the in-process server could not start: {0}")]
    InProcess(String),
    /// No tier could be had, or resolving failed.
    #[error("no backend: {0}")]
    Unavailable(String),
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
}

/// A tier that could be had.
struct Found {
    url: Url,
    container: Option<ContainerRef>,
}

impl BackendInfo {
    pub(crate) fn single(kind: BackendKind, url: Url, reason: &str) -> Self {
        Self {
            kind,
            url,
            reason: reason.to_owned(),
            resolution: Resolution::default(),
            container: None,
        }
    }

    /// The backend `config` asks for, resolved once per process and shared
    /// (later calls return the first answer, whatever their config).
    ///
    /// # Errors
    /// [`BackendError`] when the forced or required tier cannot be had.
    pub fn shared(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        static SHARED: OnceCell<BackendInfo> = OnceCell::new();
        SHARED.get_or_try_init(|| Self::resolve(config)).cloned()
    }

    /// Runs the chain for `config` (see the crate docs), logging
    /// the report.
    ///
    /// # Errors
    /// [`BackendError`] when the forced or required tier cannot be had.
    pub fn resolve(config: &RealWebSocketTestConfig) -> Result<Self, BackendError> {
        if let Some(url) = &config.url {
            let reason = format!(
                "url set by {}; the chain was not consulted",
                config.source_of("url")
            );
            return Ok(Self::single(BackendKind::Url, url.clone(), &reason));
        }
        let config = config.clone();
        // The container tier talks to Docker with async calls; resolution may
        // be asked for inside a test's runtime, so it runs on a thread of its own.
        let info = std::thread::spawn(move || docker::runtime().block_on(chain(&config)))
            .join()
            .unwrap_or_else(|_| {
                Err(BackendError::Unavailable(
                    "backend resolution panicked".into(),
                ))
            })?;
        tracing::info!(backend = %info, resolution = %info.resolution, "backend resolved");
        Ok(info)
    }
}

async fn chain(config: &RealWebSocketTestConfig) -> Result<BackendInfo, BackendError> {
    let mut resolution = Resolution::default();
    let mut chosen: Option<(BackendKind, Found)> = None;
    for tier in BackendKind::CHAIN {
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
        let result = match tier {
            BackendKind::Container => docker::container(config).await,
            BackendKind::Staging => staging::staging(config).await,
            BackendKind::InProcess => InProcessBackend::shared()
                .map(|b| Found {
                    url: b.url(),
                    container: None,
                })
                .map_err(|e| e.to_string()),
            BackendKind::Url => unreachable!("not a tier of the chain"),
        };
        let outcome = match result {
            Ok(found) => {
                chosen = Some((tier, found));
                TierOutcome::Chosen
            }
            Err(why) => TierOutcome::Skipped(why),
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
    match (chosen, required) {
        (Some((kind, found)), Some((tier, _))) if kind == tier => {
            Ok(info(kind, found, resolution, config))
        }
        (Some((kind, found)), None) => Ok(info(kind, found, resolution, config)),
        (_, Some((tier, by))) => Err(BackendError::Required {
            tier,
            by,
            resolution,
        }),
        (None, None) => Err(BackendError::Unavailable(format!(
            "no tier could be had:\n{resolution}"
        ))),
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
            TierOutcome::Skipped(why) => Some(format!("{}: {why}", a.tier)),
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
    }
}
