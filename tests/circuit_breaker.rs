//! The agent's tool circuits: a failing tool opens its circuit, later runs
//! fail fast naming it, and the circuit closes again after a good trial.

mod common;

use common::{TestServer, types};
use serde_json::json;
use std::time::Duration;
use ws_harness::circuit_breaker::CircuitBreakerConfig;
use ws_harness::server::ServerConfig;

#[tokio::test]
async fn a_failing_tool_opens_its_circuit_and_runs_fail_fast_until_a_good_trial() {
    let mut config = ServerConfig::test_mode();
    config.tool_circuit = CircuitBreakerConfig {
        failure_threshold: 2,
        // Long enough for the runs that must see it open, on a busy machine.
        reset_timeout: Duration::from_secs(3),
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.connect("alice").await;

    for id in ["fail-1", "fail-2"] {
        alice
            .user_message(id, Some(json!({"fail_at": "tool_executing"})))
            .await;
        let run = alice.until("agent_error").await;
        assert_eq!(
            types(&run),
            [
                "agent_started",
                "agent_thinking",
                "tool_executing",
                "agent_error"
            ]
        );
    }

    // Open: the tool is not called; the error names the circuit.
    alice.user_message("fast-fail", None).await;
    let run = alice.until("agent_error").await;
    assert_eq!(
        types(&run),
        ["agent_started", "agent_thinking", "agent_error"]
    );
    let error = run[2]["error"].as_str().unwrap();
    assert!(
        error.contains("circuit tool `search` of user `alice` is open after 2 failures"),
        "{error}"
    );
    assert_eq!(run[2]["failed_after"], "agent_thinking");

    // Another tool of alice's, and the same tool of bob's, are unaffected.
    alice
        .user_message("other-tool", Some(json!({"tools": ["calc"]})))
        .await;
    assert_eq!(alice.until("agent_completed").await.len(), 5);
    let mut bob = server.connect("bob").await;
    assert_eq!(bob.run("b-1").await.len(), 5);

    // After the reset timeout a trial goes through, succeeds, and closes it.
    tokio::time::sleep(Duration::from_millis(3050)).await;
    assert_eq!(
        types(&alice.run("trial").await).last(),
        Some(&"agent_completed")
    );
    assert_eq!(
        types(&alice.run("closed").await).last(),
        Some(&"agent_completed")
    );
}

#[tokio::test]
async fn a_failed_trial_opens_the_circuit_again() {
    let mut config = ServerConfig::test_mode();
    config.tool_circuit = CircuitBreakerConfig {
        failure_threshold: 1,
        reset_timeout: Duration::from_secs(2),
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.connect("alice").await;
    alice
        .user_message("fail", Some(json!({"fail_at": "tool_executing"})))
        .await;
    alice.until("agent_error").await;
    tokio::time::sleep(Duration::from_millis(2050)).await;
    alice
        .user_message("failed-trial", Some(json!({"fail_at": "tool_executing"})))
        .await;
    assert_eq!(
        alice.until("agent_error").await.len(),
        4,
        "the trial called the tool"
    );
    alice.user_message("open-again", None).await;
    let run = alice.until("agent_error").await;
    assert!(
        run[2]["error"].as_str().unwrap().contains("is open"),
        "{run:?}"
    );
}

/// A user gone for the replay TTL is forgotten with its circuits: back
/// later, its tool is called again.
#[tokio::test]
async fn a_departed_users_circuits_are_forgotten_after_the_replay_ttl() {
    let mut config = ServerConfig::test_mode();
    config.tool_circuit = CircuitBreakerConfig {
        failure_threshold: 1,
        reset_timeout: Duration::from_secs(600),
    };
    config.limits.replay_ttl = Duration::from_millis(200);
    let server = TestServer::with_config(config).await;
    let mut alice = server.connect("alice").await;
    alice
        .user_message("fail", Some(json!({"fail_at": "tool_executing"})))
        .await;
    alice.until("agent_error").await;
    alice.user_message("fast-fail", None).await;
    assert_eq!(alice.until("agent_error").await.len(), 3, "open");
    drop(alice);

    let manager = server.server.manager();
    common::eventually("alice is forgotten", || {
        manager
            .session("alice")
            .is_some_and(|s| s.buffered_events == 0)
    })
    .await;
    let mut alice = server.connect("alice").await;
    assert_eq!(
        types(&alice.run("back").await).last(),
        Some(&"agent_completed")
    );
}
