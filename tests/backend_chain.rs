//! The fallback chain without a usable Docker: every skip reason, forced and
//! required tiers, a hung Docker endpoint, and the staging tier against a
//! real server and against wiremock's failure modes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use ws_harness::access::Credentials;
use ws_harness::chain::{
    BackendError, HttpCheckError, InProcessBackend, NotReady, SkipReason, TierOutcome,
};
use ws_harness::container::engine::FoundBy;
use ws_harness::container::{ContainerError, NoEngine, ProbeOutcome, Tried};
use ws_harness::scenario::ScenarioFile;
use ws_harness::server::ServerConfig;
use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory};

/// A config whose Docker endpoint is `docker_host`, plus these variables.
fn config(docker_host: &str, vars: &[(&str, &str)]) -> RealWebSocketTestConfig {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("DOCKER_HOST".into(), docker_host.into());
    RealWebSocketTestConfig::builder()
        .environment(env)
        .build()
        .unwrap()
}

fn no_docker(name: &str) -> String {
    format!(
        "unix:///tmp/ws-harness-no-docker-{}-{name}.sock",
        std::process::id()
    )
}

/// The one place the container tier tried, from its skip reason.
fn only_place_tried(reason: &SkipReason) -> &Tried {
    match reason {
        SkipReason::Container(ContainerError::NoEngine(NoEngine::NotFound { tried }))
            if tried.len() == 1 =>
        {
            &tried[0]
        }
        other => panic!("not one place tried: {other:?}"),
    }
}

fn skipped(info: &BackendInfo, tier: usize) -> Arc<SkipReason> {
    match &info.resolution.attempts[tier].outcome {
        TierOutcome::Skipped(why) => Arc::clone(why),
        other => panic!("tier {tier} was {other:?}:\n{}", info.resolution),
    }
}

#[tokio::test]
async fn without_docker_or_staging_the_chain_falls_back_to_in_process_and_says_why() {
    let endpoint = no_docker("fallback");
    let info = BackendInfo::resolve(&config(&endpoint, &[])).await.unwrap();
    assert_eq!(info.tier, Some(BackendKind::InProcess));
    let reason = skipped(&info, 0);
    let tried = only_place_tried(&reason);
    assert_eq!(tried.place.endpoint, endpoint);
    assert_eq!(tried.place.found_by, FoundBy::DockerHost);
    assert!(
        matches!(tried.outcome, ProbeOutcome::Unusable(_)),
        "{tried:?}"
    );
    assert!(matches!(
        &*skipped(&info, 1),
        SkipReason::StagingNotConfigured
    ));
    assert!(matches!(
        info.resolution.attempts[2].outcome,
        TierOutcome::Chosen
    ));
    let report = info.resolution.to_string();
    assert!(
        report.starts_with(&format!(
            "1. container: skipped: docker: no engine answers; tried {endpoint} (DOCKER_HOST): cannot use it: Socket not found: "
        )),
        "{report}"
    );
    assert!(
        report.contains("\n2. staging: skipped: WS_HARNESS_STAGING_URL is not set ("),
        "{report}"
    );
    assert!(report.contains("\n3. in-process: chosen ("), "{report}");
    assert!(
        info.reason.starts_with("skipped container: docker:"),
        "{}",
        info.reason
    );

    // Docker is not asked again in this run.
    let again = BackendInfo::resolve(&config(&endpoint, &[])).await.unwrap();
    assert!(
        matches!(
            &*skipped(&again, 0),
            SkipReason::Container(ContainerError::NotAskedAgain)
        ),
        "{}",
        again.resolution
    );
    assert!(again.resolution.to_string().starts_with(
        "1. container: skipped: docker: not asked again in this run: no engine answered earlier ("
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn a_docker_endpoint_that_accepts_and_never_answers_is_given_up_within_the_probe_timeout() {
    let socket = std::env::temp_dir().join(format!(
        "ws-harness-hung-docker-{}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&socket);
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream); // accept, never answer
        }
    });
    let started = Instant::now();
    let info = BackendInfo::resolve(&config(&format!("unix://{}", socket.display()), &[]))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let reason = skipped(&info, 0);
    assert!(
        matches!(only_place_tried(&reason).outcome, ProbeOutcome::TimedOut(after) if after == Duration::from_secs(2)),
        "{}",
        info.resolution
    );
    assert!(
        info.resolution
            .to_string()
            .contains("(DOCKER_HOST): no answer within 2s;")
    );
    assert_eq!(info.tier, Some(BackendKind::InProcess));
}

#[tokio::test]
async fn a_forced_tier_is_the_only_one_tried() {
    let info = BackendInfo::resolve(&config(
        &no_docker("forced"),
        &[("WS_HARNESS_BACKEND", "in-process")],
    ))
    .await
    .unwrap();
    assert_eq!(info.tier, Some(BackendKind::InProcess));
    assert_eq!(
        info.resolution.to_string(),
        format!(
            "1. in-process: chosen ({} ms)\n2. container: left out by backend (0 ms)\n3. staging: left out by backend (0 ms)",
            info.resolution.attempts[0].took.as_millis()
        )
    );
    assert_eq!(
        info.reason,
        "forced by backend, set by environment variable WS_HARNESS_BACKEND"
    );
}

#[tokio::test]
async fn the_tiers_a_suite_accepts_are_tried_in_its_order() {
    let info = BackendInfo::resolve(&config(
        &no_docker("ordered"),
        &[("WS_HARNESS_BACKEND", "staging, in-process")],
    ))
    .await
    .unwrap();
    assert_eq!(info.tier, Some(BackendKind::InProcess));
    let tiers: Vec<_> = info.resolution.attempts.iter().map(|a| a.tier).collect();
    assert_eq!(
        tiers,
        [
            BackendKind::Staging,
            BackendKind::InProcess,
            BackendKind::Container
        ],
        "{}",
        info.resolution
    );
    assert!(matches!(
        info.resolution.attempts[2].outcome,
        TierOutcome::LeftOut
    ));
    assert_eq!(
        info.reason,
        "skipped staging: WS_HARNESS_STAGING_URL is not set"
    );
}

#[tokio::test]
async fn a_required_tier_that_cannot_be_had_fails_loudly_with_every_reason() {
    let endpoint = no_docker("required");
    let err = BackendInfo::resolve(&config(&endpoint, &[("WS_HARNESS_REQUIRE", "container")]))
        .await
        .unwrap_err();
    let text = err.to_string();
    let BackendError::Required { tier, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(tier, BackendKind::Container);
    assert!(
        text.starts_with(
            "the container backend is required (require = container, set by environment variable WS_HARNESS_REQUIRE) but could not be had:\n1. container: skipped: docker:"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n3. in-process: chosen"),
        "the fallback existed but was refused: {text}"
    );

    let forced = BackendInfo::resolve(&config(&endpoint, &[("WS_HARNESS_BACKEND", "staging")]))
        .await
        .unwrap_err();
    assert!(
        forced
            .to_string()
            .contains("1. staging: skipped: WS_HARNESS_STAGING_URL is not set"),
        "{forced}"
    );
}

#[tokio::test]
async fn forcing_one_tier_and_requiring_another_fails_naming_the_requirement() {
    let vars = [
        ("WS_HARNESS_BACKEND", "in-process"),
        ("WS_HARNESS_REQUIRE", "container"),
    ];
    let err = BackendInfo::resolve(&config(&no_docker("contradiction"), &vars))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("the container backend is required (require = container"),
        "{text}"
    );
    assert!(
        text.contains("1. in-process: chosen")
            && text.contains("2. container: left out by backend"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_tier_names_are_config_errors() {
    let mut env = HashMap::new();
    env.insert("WS_HARNESS_BACKEND".to_owned(), "docker".to_owned());
    let err = RealWebSocketTestConfig::builder()
        .environment(env)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(`docker` is not a tier; expected container, staging, in-process or mock; or auto for all of them); for example WS_HARNESS_BACKEND=staging,mock"),
        "{err}"
    );
}

#[tokio::test]
async fn staging_is_used_once_its_health_answers_with_protocol_1() {
    // A production-like reference server: a secret of its own, no test mode.
    let server = InProcessBackend::start_with(ServerConfig {
        jwt_secret: Some("staging-secret".to_owned()),
        test_mode: false,
        ..ServerConfig::test_mode()
    })
    .unwrap();
    let url = server.url().to_string();
    let config = config(
        &no_docker("staging"),
        &[
            ("WS_HARNESS_STAGING_URL", &url),
            ("WS_HARNESS_JWT_SECRET", "staging-secret"),
        ],
    );
    let info = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(info.tier, Some(BackendKind::Staging), "{}", info.resolution);
    assert_eq!(info.url.as_str(), url);
    assert!(matches!(
        info.access.credentials,
        Credentials::ConfiguredSecret(_)
    ));
    assert!(
        info.to_string()
            .ends_with("; clients use tokens minted with the configured jwt_secret"),
        "{info}"
    );
    let factory = TestClientFactory::new(config, info).unwrap();
    let mut alice = factory.client("staging-alice").await.unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    alice.expect_required_events("m-1").await.unwrap();
}

#[tokio::test]
async fn staging_needs_credentials_of_its_own() {
    let info = BackendInfo::resolve(&config(
        &no_docker("credentials"),
        &[("WS_HARNESS_STAGING_URL", "ws://127.0.0.1:9/ws")],
    ))
    .await
    .unwrap();
    assert!(matches!(
        &*skipped(&info, 1),
        SkipReason::StagingCredentials { .. }
    ));
    assert!(
        skipped(&info, 1)
            .to_string()
            .contains("needs its own credentials: set WS_HARNESS_JWT_SECRET, WS_HARNESS_TOKEN, WS_HARNESS_TOKEN_FILE or WS_HARNESS_TOKEN_COMMAND")
    );
}

/// The staging tier's verdict, with `reference` readiness, on a `/health`
/// answered by `response`: its last try's answer, and the report's line.
async fn staging_verdict(name: &str, response: ResponseTemplate) -> (Arc<SkipReason>, String) {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(response)
        .mount(&mock)
        .await;
    let url = format!("ws://{}/ws", mock.address());
    let config = config(
        &no_docker(name),
        &[
            ("WS_HARNESS_STAGING_URL", &url),
            ("WS_HARNESS_STAGING_READY", "reference"),
            ("WS_HARNESS_JWT_SECRET", "s"),
        ],
    );
    let info = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(
        info.tier,
        Some(BackendKind::InProcess),
        "fell back: {}",
        info.resolution
    );
    let report = info.resolution.to_string();
    let line = report.lines().nth(1).unwrap().to_owned();
    assert!(
        line.starts_with(&format!(
            "2. staging: skipped: {url} did not become ready (reference) within 3 s: "
        )),
        "{line}"
    );
    (skipped(&info, 1), line)
}

/// The last try's answer of a staging that did not become ready.
fn last_try(reason: &SkipReason) -> &NotReady {
    match reason {
        SkipReason::StagingNotReady { source, .. } => source,
        other => panic!("not a readiness failure: {other:?}"),
    }
}

#[tokio::test]
async fn staging_health_failures_are_skipped_with_the_reason() {
    let health = |protocol: u64| serde_json::json!({"status": "ok", "version": "x", "protocol": protocol, "connections": 0, "uptime_ms": 1});
    let (why, line) = staging_verdict("503", ResponseTemplate::new(503)).await;
    assert!(
        matches!(
            last_try(&why),
            NotReady::Http(HttpCheckError::Status { status: 503, .. })
        ),
        "{line}"
    );
    assert!(line.contains("/health answered HTTP 503 ("), "{line}");
    let (why, line) = staging_verdict(
        "protocol",
        ResponseTemplate::new(200).set_body_json(health(2)),
    )
    .await;
    assert!(
        matches!(
            last_try(&why),
            NotReady::Http(HttpCheckError::WrongProtocol { found: 2, .. })
        ),
        "{line}"
    );
    assert!(
        line.contains("/health speaks protocol 2; this harness speaks protocol 1 ("),
        "{line}"
    );
    let (why, line) = staging_verdict(
        "html",
        ResponseTemplate::new(200).set_body_string("<html>hi</html>"),
    )
    .await;
    assert!(
        matches!(last_try(&why),
            NotReady::Http(HttpCheckError::NotJson { body, .. }) if body == "<html>hi</html>"),
        "{line}"
    );
    assert!(
        line.contains("/health did not answer JSON: \"<html>hi</html>\": "),
        "{line}"
    );
    let (why, line) = staging_verdict(
        "no-protocol",
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "ok"})),
    )
    .await;
    assert!(
        matches!(
            last_try(&why),
            NotReady::Http(HttpCheckError::NoProtocol { .. })
        ),
        "{line}"
    );
    let started = Instant::now();
    let (why, line) = staging_verdict(
        "slow",
        ResponseTemplate::new(200)
            .set_body_json(health(1))
            .set_delay(Duration::from_secs(10)),
    )
    .await;
    assert!(
        matches!(last_try(&why), NotReady::TryTimedOut { .. }),
        "{line}"
    );
    assert!(line.contains(": one try took longer than "), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the probe timed out instead of waiting"
    );
}

/// Staging's credentials set, staging down: the chain falls to the
/// in-process server, whose clients must use its own (test) secret.
async fn falling_back_with_staging_credentials(credential: (&str, &str)) {
    let config = config(
        &no_docker(&format!("fallback-{}", credential.0)),
        &[
            // Nothing listens on port 9 (discard) here.
            ("WS_HARNESS_STAGING_URL", "ws://127.0.0.1:9/ws"),
            credential,
        ],
    );
    let report = ws_harness::scenario::check(config, &ScenarioFile::golden_path())
        .await
        .unwrap();
    assert_eq!(report.backend.tier, Some(BackendKind::InProcess));
    assert_eq!(report.backend.access.credentials, Credentials::TestSecret);
    assert!(
        report
            .backend
            .to_string()
            .ends_with("; clients use tokens minted with the published test secret"),
        "{}",
        report.backend
    );
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.users.len(), 10);
    assert!(!format!("{:?}", report.backend).contains(credential.1));
}

#[tokio::test]
async fn a_staging_secret_does_not_break_the_fallback_to_in_process() {
    falling_back_with_staging_credentials(("WS_HARNESS_JWT_SECRET", "staging-only-secret")).await;
}

#[tokio::test]
async fn a_staging_token_does_not_break_the_fallback_to_in_process() {
    falling_back_with_staging_credentials(("WS_HARNESS_TOKEN", "staging-only-token")).await;
}

#[tokio::test]
async fn staging_headers_and_a_token_command_do_not_break_the_fallback_to_in_process() {
    let config = config(
        &no_docker("fallback-command"),
        &[
            ("WS_HARNESS_STAGING_URL", "wss://127.0.0.1:9/ws"),
            ("WS_HARNESS_TOKEN_COMMAND", "echo staging-only-token"),
            ("WS_HARNESS_HEADERS", "X-Api-Key=staging-only-key"),
        ],
    );
    let report = ws_harness::scenario::check(config, &ScenarioFile::golden_path())
        .await
        .unwrap();
    assert_eq!(report.backend.tier, Some(BackendKind::InProcess));
    assert_eq!(
        report.backend.access.to_string(),
        "tokens minted with the published test secret"
    );
    assert!(report.passed(), "{}", report.render());
    let text = format!("{:?} {}", report.backend, report.render());
    assert!(!text.contains("staging-only"), "{text}");
}

/// A WebSocket server with no `/health` and no other route, built on
/// tokio-tungstenite alone: it accepts a handshake only with a bearer token,
/// and closes every connection at once.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback type
async fn bare_websocket_server() -> String {
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let check = |request: &Request, response: Response| {
                    let bearer = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("Bearer "));
                    if bearer {
                        Ok(response)
                    } else {
                        let mut refused = ErrorResponse::new(None);
                        *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
                        Err(refused)
                    }
                };
                if let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await {
                    let _ = ws.close(None).await;
                }
            });
        }
    });
    format!("ws://{addr}/socket")
}

#[tokio::test]
async fn staging_without_health_is_ready_by_an_authenticated_handshake() {
    let url = bare_websocket_server().await;
    let settings = |ready: &'static str| {
        config(
            &no_docker(&format!("bare-{ready}")),
            &[
                ("WS_HARNESS_STAGING_URL", url.as_str()),
                ("WS_HARNESS_STAGING_READY", ready),
                ("WS_HARNESS_TOKEN", "a-token-of-the-teams-identity-provider"),
            ],
        )
    };
    // The default: an authenticated handshake.
    let info = BackendInfo::resolve(&settings("websocket")).await.unwrap();
    assert_eq!(info.tier, Some(BackendKind::Staging), "{}", info.resolution);
    assert_eq!(info.access.credentials.to_string(), "the token from token");
    // The reference /health check is for the reference server only.
    let info = BackendInfo::resolve(&settings("reference")).await.unwrap();
    assert_eq!(info.tier, Some(BackendKind::InProcess));
    assert!(
        matches!(
            &*skipped(&info, 1),
            SkipReason::StagingNotReady {
                source: NotReady::Http(_),
                ..
            }
        ),
        "{}",
        info.resolution
    );
}

#[test]
fn log_readiness_is_refused_for_staging_by_name() {
    let mut env = HashMap::new();
    env.insert(
        "WS_HARNESS_STAGING_READY".to_owned(),
        "log:listening".to_owned(),
    );
    let err = RealWebSocketTestConfig::builder()
        .environment(env)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("WS_HARNESS_STAGING_READY")
            && err.contains("log readiness needs a container's output"),
        "{err}"
    );
}
