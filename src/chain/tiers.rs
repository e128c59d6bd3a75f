//! The chain itself: each accepted tier tried in order, which may stand
//! in for the service, and the report of how it went.

#[cfg(feature = "server")]
use super::InProcessBackend;
use super::own_server;
use super::{
    BackendError, BackendInfo, Found, Given, OwnProtocol, Resolution, SkipReason, TierAttempt,
    TierOutcome, staging,
};
#[cfg(feature = "server")]
use crate::access::Access;
use crate::access::ConfiguredAccess;
use crate::config::{
    BackendKind, ConfigSource, ContractSource, RealWebSocketTestConfig, ServiceSource,
};
use crate::with_sources;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The chain for `config` with the tiers a test gave.
pub(super) async fn chain(
    config: &RealWebSocketTestConfig,
    given: Given,
) -> Result<BackendInfo, BackendError> {
    let configured = ConfiguredAccess::new(config);
    let own_protocol = own_protocol(config, &given);
    let mut resolution = Resolution::default();
    let mut chosen: Option<(BackendKind, Found)> = None;
    // An absent mock is reported only when the chain reaches it.
    let shown = |tier: BackendKind| tier != BackendKind::Mock || given.mock.is_some();
    for &tier in &config.backend {
        if chosen.is_some() {
            if shown(tier) {
                resolution.attempts.push(TierAttempt {
                    tier,
                    outcome: TierOutcome::NotTried,
                    took: Duration::ZERO,
                });
            }
            continue;
        }
        let started = Instant::now();
        let outcome = match try_tier(tier, config, &configured, &given, own_protocol.as_ref()).await
        {
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
    for tier in BackendKind::CHAIN {
        if !config.backend.contains(&tier) && shown(tier) {
            resolution.attempts.push(TierAttempt {
                tier,
                outcome: TierOutcome::LeftOut,
                took: Duration::ZERO,
            });
        }
    }
    // `require` wins over `backend`: forcing one tier and requiring another
    // can only fail, and says so.
    let setting = |key: &str, tier: BackendKind| {
        (
            tier,
            format!("{key} = {tier}, set by {}", config.source_of(key)),
        )
    };
    let required =
        config
            .require
            .map(|t| setting("require", t))
            .or_else(|| match config.backend.as_slice() {
                [only] => Some(setting("backend", *only)),
                _ => None,
            });
    let (kind, found) = match (chosen, required) {
        (Some((kind, found)), Some((tier, _))) if kind == tier => (kind, found),
        (Some(chosen), None) => chosen,
        (_, Some((tier, by))) => {
            return Err(BackendError::Required {
                tier,
                by,
                resolution,
            });
        }
        (None, None) => return Err(BackendError::Unavailable { resolution }),
    };
    let mut info = info(kind, found, resolution, config);
    let given_by_test = match kind {
        BackendKind::InProcess => given
            .own_server
            .map(|server| format!("the team's own server {:?} in this process", server.name())),
        BackendKind::Mock => given
            .mock
            .map(|(name, _)| format!("the mock server {name:?} as the last tier")),
        _ => None,
    };
    if let Some(given_by_test) = given_by_test {
        info.reason = format!("{given_by_test}; {}", info.reason);
    }
    Ok(info)
}

/// Why the reference server is no stand-in for this suite, if it is not:
/// what tells that the suite speaks the team's protocol.
fn own_protocol(config: &RealWebSocketTestConfig, given: &Given) -> Option<OwnProtocol> {
    #[cfg(feature = "testcontainers")]
    if let Some(request) = &given.container_request {
        return Some(OwnProtocol::ContainerRequest {
            image: request.descriptor(),
        });
    }
    if let Some(server) = &given.own_server {
        return Some(OwnProtocol::OwnServer {
            name: server.name().to_owned(),
        });
    }
    if let Some((name, _)) = &given.mock {
        return Some(OwnProtocol::Mock { name: name.clone() });
    }
    if let ContractSource::File(file) = &config.contract.source {
        return Some(OwnProtocol::ContractFile {
            file: file.clone(),
            set_by: config.source_of("contract.source"),
        });
    }
    [
        "service.image",
        "service.dockerfile",
        "service.compose_file",
    ]
    .into_iter()
    .map(|key| config.source_of(key))
    .find(|source| *source != ConfigSource::Default)
    .map(|set_by| OwnProtocol::Service { set_by })
}

/// One tier: what it found, or why it was passed over.
async fn try_tier(
    tier: BackendKind,
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
    given: &Given,
    own_protocol: Option<&OwnProtocol>,
) -> Result<Found, SkipReason> {
    let no_stand_in = || own_protocol.map(|why| SkipReason::NoStandIn(why.clone()));
    match tier {
        BackendKind::Container => {
            #[cfg(feature = "testcontainers")]
            if let Some(request) = &given.container_request {
                return crate::container::service_request(request, config, configured)
                    .await
                    .map(in_container)
                    .map_err(SkipReason::Container);
            }
            if config.service.source == ServiceSource::Reference
                && let Some(why) = no_stand_in()
            {
                return Err(why);
            }
            container(config, configured).await
        }
        BackendKind::Staging => staging::staging(config, configured).await,
        BackendKind::InProcess => match &given.own_server {
            Some(server) => own_server::own_server(server, config, configured)
                .await
                .map_err(SkipReason::OwnServer),
            None => match no_stand_in() {
                Some(why) => Err(why),
                None => reference_server().await,
            },
        },
        BackendKind::Mock => given
            .mock
            .as_ref()
            .map(|(_, found)| found.clone())
            .ok_or(SkipReason::NoMock),
    }
}

#[cfg(feature = "container")]
async fn container(
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Found, SkipReason> {
    crate::container::container(config, configured)
        .await
        .map(in_container)
        .map_err(SkipReason::Container)
}

/// The container tier's answer, as the chain keeps it.
#[cfg(feature = "container")]
fn in_container(running: crate::container::Running) -> Found {
    Found {
        url: running.url,
        container: Some(running.container),
        access: running.access,
    }
}

#[cfg(not(feature = "container"))]
async fn container(
    _: &RealWebSocketTestConfig,
    _: &ConfiguredAccess<'_>,
) -> Result<Found, SkipReason> {
    Err(SkipReason::NotBuilt {
        feature: "container",
    })
}

#[cfg(feature = "server")]
async fn reference_server() -> Result<Found, SkipReason> {
    InProcessBackend::shared()
        .map(|b| Found {
            url: b.url(),
            container: None,
            // The in-process server checks the test secret, whatever
            // is configured for staging.
            access: Access::test(),
        })
        .map_err(SkipReason::InProcess)
}

#[cfg(not(feature = "server"))]
async fn reference_server() -> Result<Found, SkipReason> {
    Err(SkipReason::NotBuilt { feature: "server" })
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
    let set_by = config.source_of("backend");
    let reason = match (config.backend.as_slice(), skipped.is_empty()) {
        ([_], _) => format!("forced by backend, set by {set_by}"),
        (_, true) if set_by == ConfigSource::Default => "the first tier of the chain".to_owned(),
        (_, true) => format!("the first tier of backend, set by {set_by}"),
        (_, false) => format!("skipped {}", skipped.join("; ")),
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
