//! The in-process backend, its faults, the fixtures, and connecting:
//! retries, refusals, subprotocol auth, reconnect with resume.

mod common;

use rstest::rstest;
use serde_json::Value;
use std::time::{Duration, Instant};
use tracing_test::traced_test;
use ws_harness::chain::{InProcessBackend, TierOutcome};
use ws_harness::client::ClientError;
use ws_harness::fixtures::*;
use ws_harness::protocol::Scenario;
use ws_harness::{
    BackendKind, RealWebSocketTestConfig, TestClientFactory, error_code, event, frame,
};

fn quick_config() -> RealWebSocketTestConfig {
    RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::InProcess])
        .event_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A factory on the in-process server, whatever Docker holds.
async fn in_process_factory() -> TestClientFactory {
    let factory = TestClientFactory::from_config(quick_config())
        .await
        .unwrap();
    assert_eq!(factory.backend().tier, Some(BackendKind::InProcess));
    factory
}

/// Whether `docker info` succeeds within a minute (no `docker`: no).
fn docker_answers() -> bool {
    let spawned = common::own_group(&mut std::process::Command::new("docker"))
        .arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut docker) = spawned else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = docker.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    common::kill_group(&mut docker);
    false
}

#[rstest]
#[tokio::test]
#[traced_test]
async fn the_fixtures_give_a_factory_for_the_backend_the_chain_chose(
    client_factory: TestClientFactory,
) {
    // The chain went down its tiers in order and stopped at the first that
    // answered: every tier before it was skipped with a reason, the ones
    // after it were not tried.
    let backend = client_factory.backend();
    let outcomes: Vec<(BackendKind, &TierOutcome)> = backend
        .resolution
        .attempts
        .iter()
        .map(|a| (a.tier, &a.outcome))
        .collect();
    let tiers: Vec<BackendKind> = outcomes.iter().map(|(tier, _)| *tier).collect();
    assert_eq!(
        tiers,
        [
            BackendKind::Container,
            BackendKind::Staging,
            BackendKind::InProcess
        ],
        "{}",
        backend.resolution
    );
    let chosen = tiers.iter().position(|t| Some(*t) == backend.tier).unwrap();
    for (i, (tier, outcome)) in outcomes.iter().enumerate() {
        let expected = match i.cmp(&chosen) {
            std::cmp::Ordering::Less => matches!(outcome, TierOutcome::Skipped(_)),
            std::cmp::Ordering::Equal => matches!(outcome, TierOutcome::Chosen),
            std::cmp::Ordering::Greater => matches!(outcome, TierOutcome::NotTried),
        };
        assert!(expected, "{tier}: {outcome:?}\n{}", backend.resolution);
    }
    // No staging is configured here: with a Docker engine answering the
    // container tier is chosen (the reference image, built on first use),
    // without one the in-process server.
    let expected = if docker_answers() {
        BackendKind::Container
    } else {
        BackendKind::InProcess
    };
    assert_eq!(backend.tier, Some(expected), "{}", backend.resolution);
    let mut alice = client_factory.client("fixture-alice").await.unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    alice.expect_required_events("m-1").await.unwrap();
    // Library logs reach tracing-test (its no-env-filter feature is on).
    assert!(logs_contain("connected"));
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_without_loss_or_duplicates() {
    let backend = InProcessBackend::shared().unwrap();
    let factory = TestClientFactory::new(quick_config(), backend.info()).unwrap();
    let mut c = factory.client("fault-drop").await.unwrap();
    let scenario = Scenario {
        thinking_steps: 4,
        step_delay_ms: 40,
        ..Scenario::default()
    };
    c.send_user_message_with("m-1", "hello", Some(scenario))
        .await
        .unwrap();
    c.expect(event("agent_thinking")).await.unwrap();
    assert_eq!(backend.drop_user_connections("fault-drop"), 1);
    let report = c.reconnect_and_resume().await.unwrap();
    assert_eq!(c.connection(), 2);
    assert!(report.resumed_from >= 2, "{report:?}");
    c.expect(event("agent_completed")).await.unwrap();
    c.expect_no_lost_or_duplicate_events().await.unwrap();
    assert_eq!(
        c.last_sequence(),
        8,
        "started, 4 thoughts, a tool pair, completed"
    );
}

#[tokio::test]
async fn injected_latency_delays_events_but_not_replies() {
    let backend = InProcessBackend::start().unwrap();
    let factory = TestClientFactory::new(quick_config(), backend.info()).unwrap();
    let mut c = factory.client("fault-latency").await.unwrap();
    // Long enough that a pong held behind the event could not come first,
    // even on a busy machine.
    let latency = Duration::from_millis(1500);
    backend.set_event_latency(latency);
    let started = Instant::now();
    c.send_user_message("m-1", "hello").await.unwrap();
    c.ping("p").await.unwrap();
    c.expect(event("pong")).await.unwrap();
    let pong_after = started.elapsed();
    c.expect(event("agent_started")).await.unwrap();
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    assert!(pong_after < latency, "{pong_after:?}");
    backend.set_event_latency(Duration::ZERO);
}

/// A run that panics is answered with `internal` on the connection that
/// started it, over the wire; the server goes on serving that connection
/// and every other.
#[tokio::test]
async fn a_panicking_run_gets_internal_and_the_server_goes_on() {
    let backend = InProcessBackend::start().unwrap();
    let factory = TestClientFactory::new(quick_config(), backend.info()).unwrap();
    let mut c = factory.client("fault-panic").await.unwrap();
    backend.panic_next_run();
    c.send_user_message("m-1", "hello").await.unwrap();
    c.expect(event("agent_started")).await.unwrap();
    let internal = c.expect(error_code("internal")).await.unwrap();
    assert_eq!(internal["message_id"], "m-1", "{internal}");
    // Only one run panics: the next one, on the same connection, is whole,
    // and so is another user's.
    c.send_user_message("m-2", "hello").await.unwrap();
    c.expect_required_events("m-2").await.unwrap();
    let mut other = factory.client("fault-panic-bystander").await.unwrap();
    other.send_user_message("b-1", "hello").await.unwrap();
    other.expect_required_events("b-1").await.unwrap();
    c.expect_nothing(Duration::from_millis(100)).await.unwrap();
    let (status, metrics) = common::http_get(backend.addr(), "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"ws_harness_protocol_errors_total{code="internal"} 1"#,
        "ws_harness_runs_failed_total 1",
        "ws_harness_runs_completed_total 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn an_injected_malformed_frame_reaches_the_client() {
    let backend = InProcessBackend::shared().unwrap();
    let factory = TestClientFactory::new(quick_config(), backend.info()).unwrap();
    let mut c = factory.client("fault-malformed").await.unwrap();
    c.ping("sync").await.unwrap();
    c.expect(event("pong")).await.unwrap();
    assert_eq!(backend.send_malformed_frame("fault-malformed"), 1);
    // The reference contract catches it; the transcript keeps it as text.
    let err = c
        .expect(frame(Value::String("{\"type\":\"agent_started\",".into())))
        .await
        .unwrap_err();
    assert!(
        err.problem.to_string().starts_with("contract violation (not JSON) at the frame: the frame is not a JSON object; frame: {\"type\":\"agent_started\","),
        "{}",
        err.problem
    );
    let last = c.transcript().frames().last().unwrap();
    assert_eq!(last.text, "{\"type\":\"agent_started\",");
}

#[tokio::test]
async fn a_restart_closes_connections_with_1001_and_starts_over() {
    let backend = InProcessBackend::start().unwrap();
    let factory = TestClientFactory::new(quick_config(), backend.info()).unwrap();
    let mut c = factory.client("fault-restart").await.unwrap();
    c.send_user_message("m-1", "hello").await.unwrap();
    c.expect_required_events("m-1").await.unwrap();
    backend.restart().await.unwrap();
    c.expect(frame(Value::Null)).await.unwrap();
    let last = c.transcript().frames().last().unwrap();
    assert!(last.text.starts_with("<close 1001"), "{}", last.text);
    // The same URL serves again, and the new server's event ids start at 1.
    let mut again = factory.client("fault-restart").await.unwrap();
    again.send_user_message("m-2", "hello").await.unwrap();
    let events = again.expect_required_events("m-2").await.unwrap();
    assert_eq!(events[0].event_id, 1);
}

#[tokio::test]
async fn connecting_retries_with_backoff_then_names_the_attempts() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/ws", closed.local_addr().unwrap());
    drop(closed);
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(url.parse().unwrap())
        .max_retries(2)
        .build()
        .unwrap();
    let factory = TestClientFactory::from_config(config).await.unwrap();
    let err = factory
        .options("nobody-home")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect()
        .await
        .unwrap_err();
    let ClientError::MaxRetriesExceeded(err) = err else {
        panic!("{err}")
    };
    assert_eq!(err.attempts, 3);
    assert!(
        err.to_string().starts_with(&format!(
            "gave up connecting user `nobody-home` to {url} after 3 attempts (max_retries = 2); last error: "
        )),
        "{err}"
    );
}

/// That a refusal other than 429 or 5xx is not retried is counted in
/// tests/connect_retry.rs; here, the reference server's refusal reaches
/// the test whole.
#[tokio::test]
async fn a_bad_token_is_refused_with_its_status_and_reason() {
    let factory = in_process_factory().await;
    let err = factory
        .options("stranger")
        .token("signed-by-nobody")
        .connect()
        .await
        .unwrap_err();
    let ClientError::Refused { status, body, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(status, 401);
    assert!(body.contains("invalid_token"), "{body}");
}

#[tokio::test]
async fn subprotocol_auth_and_a_supplied_token_work() {
    let factory = in_process_factory().await;
    let mut browser = factory
        .options("browser")
        .subprotocol_auth()
        .connect()
        .await
        .unwrap();
    browser.send_user_message("m-1", "hello").await.unwrap();
    browser.expect_required_events("m-1").await.unwrap();

    let token = factory.token_for("token-holder").unwrap();
    let mut holder = factory
        .options("token-holder")
        .token(token)
        .connect()
        .await
        .unwrap();
    holder.ping("p").await.unwrap();
    holder.expect(event("pong")).await.unwrap();
}

#[tokio::test]
async fn many_users_and_many_connections_per_user() {
    let factory = in_process_factory().await;
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(factory.client(&format!("many-{i}")).await.unwrap());
        clients.push(factory.client(&format!("many-{i}")).await.unwrap());
    }
    for (i, pair) in clients.chunks_mut(2).enumerate() {
        pair[0]
            .send_user_message(&format!("m-{i}"), "hi")
            .await
            .unwrap();
    }
    for (i, pair) in clients.chunks_mut(2).enumerate() {
        for client in pair {
            client
                .expect_required_events(&format!("m-{i}"))
                .await
                .unwrap();
            client
                .expect_nothing(Duration::from_millis(20))
                .await
                .unwrap();
        }
    }
}
