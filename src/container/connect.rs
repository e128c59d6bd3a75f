//! Connecting to the Docker engine: each place of the search order
//! ([`crate::container::engine::search_order`]) probed with a short timeout, the first
//! that answers used.

use super::engine::{self, Candidate, EngineSettingError};
use crate::config::DockerEnvironment;
use bollard::Docker;
use std::fmt;
use std::time::Duration;

/// How long one probe may take: an engine that accepts and never answers
/// would otherwise hold each API call for 120 s.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// An engine that answered.
pub(super) struct Engine {
    pub(super) docker: Docker,
    pub(super) place: Candidate,
}

/// What one place gave when probed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProbeOutcome {
    /// The endpoint cannot be used: a missing socket, a malformed address.
    Unusable(bollard::errors::Error),
    /// Nothing answers there.
    Unreachable(bollard::errors::Error),
    /// It accepted and did not answer within the probe's timeout.
    TimedOut(Duration),
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unusable(e) => write!(f, "cannot use it: {e}"),
            Self::Unreachable(e) => write!(f, "no daemon: {e}"),
            Self::TimedOut(after) => write!(f, "no answer within {after:?}"),
        }
    }
}

/// One place tried, and what it gave.
#[derive(Debug)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Tried {
    pub place: Candidate,
    /// What it gave.
    pub outcome: ProbeOutcome,
}

/// No Docker engine answered: every place tried, in order.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoEngine {
    /// The environment names a docker context that cannot be read.
    #[error("docker: {0}")]
    Setting(#[from] EngineSettingError),
    /// Nothing answered at any place tried.
    #[error("docker: no engine answers; tried {}", list(.tried))]
    NotFound {
        /// Each place, in the order tried.
        tried: Vec<Tried>,
    },
}

fn list(tried: &[Tried]) -> String {
    let places: Vec<String> = tried
        .iter()
        .map(|t| format!("{} ({}): {}", t.place.endpoint, t.place.found_by, t.outcome))
        .collect();
    format!(
        "{}; start the engine, or point DOCKER_HOST at it",
        places.join("; ")
    )
}

/// The first engine that answers, in the documented order.
pub(super) async fn connect(env: &DockerEnvironment) -> Result<Engine, NoEngine> {
    let mut tried = Vec::new();
    for place in engine::search_order(env)? {
        match probe(&place.endpoint).await {
            Ok(docker) => return Ok(Engine { docker, place }),
            Err(outcome) => tried.push(Tried { place, outcome }),
        }
    }
    Err(NoEngine::NotFound { tried })
}

/// Connects to `endpoint` and pings it within [`PROBE_TIMEOUT`].
pub(super) async fn probe(endpoint: &str) -> Result<Docker, ProbeOutcome> {
    let docker = Docker::connect_with_host(endpoint).map_err(ProbeOutcome::Unusable)?;
    match tokio::time::timeout(PROBE_TIMEOUT, docker.ping()).await {
        Err(_) => Err(ProbeOutcome::TimedOut(PROBE_TIMEOUT)),
        Ok(Err(e)) => Err(ProbeOutcome::Unreachable(e)),
        Ok(Ok(_)) => Ok(docker),
    }
}

/// The host where the engine publishes container ports: the engine's own
/// host for a TCP endpoint, this machine for a socket or pipe.
pub(super) fn published_host(endpoint: &str) -> String {
    url::Url::parse(endpoint)
        .ok()
        .filter(|url| matches!(url.scheme(), "tcp" | "http" | "https"))
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "127.0.0.1".to_owned())
}

/// The host port the engine published `port` (`8765/tcp`) of container
/// `id` on, if any.
pub(super) async fn published_port(
    docker: &Docker,
    id: &str,
    port: &str,
) -> Result<Option<u16>, bollard::errors::Error> {
    let inspected = docker.inspect_container(id, None).await?;
    Ok(inspected
        .network_settings
        .and_then(|settings| settings.ports)
        .and_then(|mut ports| ports.remove(port).flatten())
        .into_iter()
        .flatten()
        .find_map(|binding| binding.host_port?.parse().ok()))
}
