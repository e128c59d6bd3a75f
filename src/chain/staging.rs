//! The staging tier: a server named by `staging_url`, with access of its
//! own (token or secret, headers, TLS), used once its readiness check
//! (`staging_ready`) passes.

use super::{Found, SkipReason};
use crate::access::ConfiguredAccess;
use crate::config::{ConfigSource, RealWebSocketTestConfig};
use crate::readiness;
use tokio::time::Instant;

/// How long staging has to pass its readiness check.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) async fn staging(
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Found, SkipReason> {
    let Some(url) = &config.staging_url else {
        return Err(SkipReason::StagingNotConfigured);
    };
    if config.token.is_none() && config.source_of("jwt_secret") == ConfigSource::Default {
        return Err(SkipReason::StagingCredentials { url: url.clone() });
    }
    let access = configured
        .access(url)
        .await
        .map_err(|source| SkipReason::Access {
            url: url.clone(),
            source,
        })?;
    let ready = &config.staging_ready;
    readiness::wait(ready, url, &access, None, Instant::now() + PROBE_TIMEOUT)
        .await
        .map_err(|source| SkipReason::StagingNotReady {
            url: url.clone(),
            ready: ready.clone(),
            source,
        })?;
    Ok(Found {
        url: url.clone(),
        container: None,
        access,
    })
}
