//! The staging tier: a server named by `staging_url`, used once its
//! `/health` answers with protocol 1.

use super::{Found, SkipReason, health};
use crate::harness::{ConfigSource, Credentials, RealWebSocketTestConfig};

/// How long the staging `/health` may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) async fn staging(config: &RealWebSocketTestConfig) -> Result<Found, SkipReason> {
    let Some(url) = &config.staging_url else {
        return Err(SkipReason::StagingNotConfigured);
    };
    if config.token.is_none() && config.source_of("jwt_secret") == ConfigSource::Default {
        return Err(SkipReason::StagingCredentials { url: url.clone() });
    }
    health::check(url, PROBE_TIMEOUT)
        .await
        .map_err(SkipReason::StagingUnhealthy)?;
    Ok(Found {
        url: url.clone(),
        container: None,
        credentials: Credentials::configured(config),
    })
}
