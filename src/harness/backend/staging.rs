//! The staging tier: a server named by `staging_url`, with credentials of
//! its own, used once its readiness check (`staging_ready`) passes.

use super::{Found, SkipReason, readiness};
use crate::harness::{ConfigSource, Credentials, RealWebSocketTestConfig};
use tokio::time::Instant;

/// How long staging has to pass its readiness check.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) async fn staging(config: &RealWebSocketTestConfig) -> Result<Found, SkipReason> {
    let Some(url) = &config.staging_url else {
        return Err(SkipReason::StagingNotConfigured);
    };
    if config.token.is_none() && config.source_of("jwt_secret") == ConfigSource::Default {
        return Err(SkipReason::StagingCredentials { url: url.clone() });
    }
    let credentials = Credentials::configured(config);
    let ready = &config.staging_ready;
    readiness::wait(
        ready,
        url,
        &credentials,
        None,
        Instant::now() + PROBE_TIMEOUT,
    )
    .await
    .map_err(|source| SkipReason::StagingNotReady {
        url: url.clone(),
        ready: ready.clone(),
        source,
    })?;
    Ok(Found {
        url: url.clone(),
        container: None,
        credentials,
    })
}
