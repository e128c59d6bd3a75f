//! The fallback chain without a usable Docker: every skip reason, forced and
//! required tiers, a hung Docker endpoint, and the staging tier against a
//! real server and against wiremock's failure modes.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use ws_harness::harness::{
    BackendError, BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory, TierOutcome,
};

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

fn skipped(info: &BackendInfo, tier: usize) -> String {
    match &info.resolution.attempts[tier].outcome {
        TierOutcome::Skipped(why) => why.clone(),
        other => panic!("tier {tier} was {other:?}:\n{}", info.resolution),
    }
}

#[test]
fn without_docker_or_staging_the_chain_falls_back_to_in_process_and_says_why() {
    let endpoint = no_docker("fallback");
    let info = BackendInfo::resolve(&config(&endpoint, &[])).unwrap();
    assert_eq!(info.kind, BackendKind::InProcess);
    assert!(
        skipped(&info, 0).starts_with(&format!("docker: cannot use {endpoint}")),
        "{}",
        info.resolution
    );
    assert_eq!(skipped(&info, 1), "WS_HARNESS_STAGING_URL is not set");
    assert_eq!(info.resolution.attempts[2].outcome, TierOutcome::Chosen);
    let report = info.resolution.to_string();
    assert!(
        report.starts_with("1. container: skipped: docker: cannot use"),
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
    let again = BackendInfo::resolve(&config(&endpoint, &[])).unwrap();
    assert_eq!(
        skipped(&again, 0),
        format!("docker: not asked again in this run: {endpoint} failed earlier")
    );
}

#[cfg(unix)]
#[test]
fn a_docker_endpoint_that_accepts_and_never_answers_is_given_up_within_the_probe_timeout() {
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
    let info = BackendInfo::resolve(&config(&format!("unix://{}", socket.display()), &[])).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        skipped(&info, 0).contains("within 2s"),
        "{}",
        info.resolution
    );
    assert_eq!(info.kind, BackendKind::InProcess);
}

#[test]
fn a_forced_tier_is_the_only_one_tried() {
    let info = BackendInfo::resolve(&config(
        &no_docker("forced"),
        &[("WS_HARNESS_BACKEND", "in-process")],
    ))
    .unwrap();
    assert_eq!(info.kind, BackendKind::InProcess);
    assert_eq!(info.resolution.attempts[0].outcome, TierOutcome::NotTried);
    assert_eq!(info.resolution.attempts[1].outcome, TierOutcome::NotTried);
    assert_eq!(
        info.reason,
        "forced by backend, set by environment variable WS_HARNESS_BACKEND"
    );
}

#[test]
fn a_required_tier_that_cannot_be_had_fails_loudly_with_every_reason() {
    let endpoint = no_docker("required");
    let err = BackendInfo::resolve(&config(&endpoint, &[("WS_HARNESS_REQUIRE", "container")]))
        .unwrap_err();
    let BackendError::Required { tier, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*tier, BackendKind::Container);
    let text = err.to_string();
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

    let forced =
        BackendInfo::resolve(&config(&endpoint, &[("WS_HARNESS_BACKEND", "staging")])).unwrap_err();
    assert!(
        forced
            .to_string()
            .contains("2. staging: skipped: WS_HARNESS_STAGING_URL is not set"),
        "{forced}"
    );
}

#[test]
fn forcing_one_tier_and_requiring_another_fails_naming_the_requirement() {
    let vars = [
        ("WS_HARNESS_BACKEND", "in-process"),
        ("WS_HARNESS_REQUIRE", "container"),
    ];
    let err = BackendInfo::resolve(&config(&no_docker("contradiction"), &vars)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("the container backend is required (require = container"),
        "{text}"
    );
    assert!(text.contains("1. container: not tried"), "{text}");
}

#[test]
fn bad_tier_names_are_config_errors() {
    let mut env = HashMap::new();
    env.insert("WS_HARNESS_BACKEND".to_owned(), "docker".to_owned());
    let err = RealWebSocketTestConfig::builder()
        .environment(env)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`docker` is not a tier; expected container, staging or in-process, or auto"),
        "{err}"
    );
}

#[tokio::test]
async fn staging_is_used_once_its_health_answers_with_protocol_1() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ws-harness"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--jwt-secret",
            "staging-secret",
        ])
        .env_remove("WS_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let (mut child, addr) = common::start_server(command);
    let url = format!("ws://{addr}/ws");
    let config = config(
        &no_docker("staging"),
        &[
            ("WS_HARNESS_STAGING_URL", &url),
            ("WS_HARNESS_JWT_SECRET", "staging-secret"),
        ],
    );
    let info = BackendInfo::resolve(&config).unwrap();
    assert_eq!(info.kind, BackendKind::Staging, "{}", info.resolution);
    assert_eq!(info.url.as_str(), url);
    let factory = TestClientFactory::new(config, info).unwrap();
    let mut alice = factory.client("staging-alice").await.unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    alice.expect_required_events("m-1").await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn staging_needs_credentials_of_its_own() {
    let info = BackendInfo::resolve(&config(
        &no_docker("credentials"),
        &[("WS_HARNESS_STAGING_URL", "ws://127.0.0.1:9/ws")],
    ))
    .unwrap();
    assert!(
        skipped(&info, 1)
            .contains("needs its own credentials: set WS_HARNESS_JWT_SECRET or WS_HARNESS_TOKEN")
    );
}

/// The staging tier's verdict on a `/health` answered by `response`.
async fn staging_verdict(name: &str, response: ResponseTemplate) -> String {
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
            ("WS_HARNESS_JWT_SECRET", "s"),
        ],
    );
    let info = tokio::task::spawn_blocking(move || BackendInfo::resolve(&config).unwrap())
        .await
        .unwrap();
    assert_eq!(
        info.kind,
        BackendKind::InProcess,
        "fell back: {}",
        info.resolution
    );
    skipped(&info, 1)
}

#[tokio::test]
async fn staging_health_failures_are_skipped_with_the_reason() {
    let health = |protocol: u64| serde_json::json!({"status": "ok", "version": "x", "protocol": protocol, "connections": 0, "uptime_ms": 1});
    let unavailable = staging_verdict("503", ResponseTemplate::new(503)).await;
    assert!(
        unavailable.ends_with("/health answered HTTP 503"),
        "{unavailable}"
    );
    let wrong = staging_verdict(
        "protocol",
        ResponseTemplate::new(200).set_body_json(health(2)),
    )
    .await;
    assert!(
        wrong.ends_with("/health speaks protocol 2; this harness speaks protocol 1"),
        "{wrong}"
    );
    let not_json = staging_verdict(
        "html",
        ResponseTemplate::new(200).set_body_string("<html>hi</html>"),
    )
    .await;
    assert!(
        not_json.contains("/health did not answer JSON"),
        "{not_json}"
    );
    let started = Instant::now();
    let slow = staging_verdict(
        "slow",
        ResponseTemplate::new(200)
            .set_body_json(health(1))
            .set_delay(Duration::from_secs(10)),
    )
    .await;
    assert!(slow.ends_with("/health: no answer within 3s"), "{slow}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the probe timed out instead of waiting"
    );
}
