//! The staging tier: a server named by `staging_url`, used once its
//! `/health` answers with protocol 1.

use super::{Found, health};
use crate::harness::{ConfigSource, RealWebSocketTestConfig};

/// How long the staging `/health` may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) async fn staging(config: &RealWebSocketTestConfig) -> Result<Found, String> {
    let Some(url) = &config.staging_url else {
        return Err("WS_HARNESS_STAGING_URL is not set".to_owned());
    };
    if config.token.is_none() && config.source_of("jwt_secret") == ConfigSource::Default {
        return Err(format!(
            "{url} needs its own credentials: set WS_HARNESS_JWT_SECRET or WS_HARNESS_TOKEN (the published test secret is only for test-mode servers)"
        ));
    }
    health::check(url, PROBE_TIMEOUT).await?;
    Ok(Found {
        url: url.clone(),
        container: None,
    })
}
