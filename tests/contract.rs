//! The reference contract against the in-process server: each fault,
//! injected as a frame the server sends, fails the next expectation with
//! its own rule and message; real runs, reconnects and resumes pass.

use serde_json::{Value, json};
use ws_harness::{
    BackendKind, InProcessBackend, RealWebSocketTestConfig, Rule, TestClient, TestClientFactory,
    event,
};

fn factory() -> TestClientFactory {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .backend(Some(BackendKind::InProcess))
        .event_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let backend = InProcessBackend::shared().unwrap().info();
    TestClientFactory::new(config, backend).unwrap()
}

/// An agent event as the reference server sends it, with `fields` on top.
fn forged(user: &str, kind: &str, event_id: u64, message_id: &str, fields: Value) -> String {
    let mut frame = json!({
        "type": kind, "event_id": event_id, "timestamp": "2026-01-01T00:00:00.000Z",
        "user_id": user, "thread_id": "t-1", "run_id": format!("run-{message_id}"),
        "message_id": message_id, "agent_name": "reference-agent", "critical": true,
    });
    let extra = match kind {
        "agent_thinking" => json!({"thought": "hmm"}),
        "tool_executing" => json!({"tool_name": "search", "tool_input": {}}),
        "tool_completed" => json!({"tool_name": "search", "result": {}, "duration_ms": 1}),
        "agent_completed" => json!({"final_response": "done", "duration_ms": 3}),
        _ => json!({}),
    };
    for source in [extra, fields] {
        for (key, value) in source.as_object().unwrap() {
            if value.is_null() {
                frame.as_object_mut().unwrap().remove(key);
            } else {
                frame[key] = value.clone();
            }
        }
    }
    frame.to_string()
}

/// A client of `user` that has completed one real run (events 1 to 5).
async fn after_one_run(user: &str) -> TestClient {
    let mut client = factory().client(user).await.unwrap();
    client.send_user_message("m-1", "hello").await.unwrap();
    let events = client.expect_required_events("m-1").await.unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(client.last_event_id(), 5);
    client
}

/// Sends `frames` to `user` as the server, then the next expectation must
/// fail with `rule` and a problem that starts with `problem`.
async fn fails_with(client: &mut TestClient, frames: &[String], rule: Rule, problem: &str) {
    let backend = InProcessBackend::shared().unwrap();
    for frame in frames {
        assert_eq!(backend.send_raw(client.user(), frame), 1);
    }
    let err = client.expect(event("never-sent")).await.unwrap_err();
    assert!(err.problem.starts_with(problem), "{}", err.problem);
    assert_eq!(client.violations()[0].rule, rule, "{}", err.problem);
    // It names the frame, the connection and the backend, with the transcript.
    let text = err.to_string();
    assert!(
        text.contains("connection #") && text.contains("in-process at ws://"),
        "{text}"
    );
}

#[tokio::test]
async fn real_runs_reconnects_and_resumes_break_no_rule() {
    let mut client = after_one_run("c-clean").await;
    client.send_user_message("m-2", "again").await.unwrap();
    client.expect_required_events("m-2").await.unwrap();
    let report = client.reconnect_and_resume().await.unwrap();
    assert_eq!(report.resumed_from, 10);
    client.send_user_message("m-3", "after").await.unwrap();
    client.expect_required_events("m-3").await.unwrap();
    assert!(client.violations().is_empty(), "{:?}", client.violations());
}

#[tokio::test]
async fn a_nested_data_payload() {
    let mut client = after_one_run("c-nested").await;
    let frame = forged(
        "c-nested",
        "agent_started",
        6,
        "m-2",
        json!({"data": {"x": 1}}),
    );
    fails_with(
        &mut client,
        &[frame],
        Rule::ForbiddenField,
        "contract violation (forbidden field) at /data: `data` must not appear",
    )
    .await;
}

#[tokio::test]
async fn another_users_event() {
    let mut client = after_one_run("c-owner").await;
    let frame = forged("mallory", "agent_started", 6, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::Owner,
        "contract violation (owner) at /user_id: the frame is for \"mallory\"; this client is `c-owner` (the token's subject)",
    )
    .await;
}

#[tokio::test]
async fn a_duplicated_event_id() {
    let mut client = after_one_run("c-dup").await;
    let frame = forged("c-dup", "agent_started", 5, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::SequenceRepeated,
        "contract violation (sequence repeated) at /event_id: `event_id` 5 again or out of order: 5 came already",
    )
    .await;
}

#[tokio::test]
async fn a_skipped_event_id() {
    let mut client = after_one_run("c-gap").await;
    let frame = forged("c-gap", "agent_started", 7, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::SequenceGap,
        "contract violation (sequence gap) at /event_id: `event_id` 7 follows 5: 6 skipped",
    )
    .await;
}

#[tokio::test]
async fn a_skipped_event_id_across_a_reconnect_and_resume() {
    let mut client = after_one_run("c-gap-resume").await;
    let report = client.reconnect_and_resume().await.unwrap();
    assert_eq!((report.resumed_from, report.replayed), (5, 0));
    let frame = forged("c-gap-resume", "agent_started", 8, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::SequenceGap,
        "contract violation (sequence gap) at /event_id: `event_id` 8 follows 5: 6 to 7 skipped",
    )
    .await;
}

#[tokio::test]
async fn a_missing_required_event() {
    let user = "c-missing";
    let mut client = after_one_run(user).await;
    let frames = [
        forged(user, "agent_started", 6, "m-2", json!({})),
        forged(user, "agent_thinking", 7, "m-2", json!({})),
        forged(user, "tool_executing", 8, "m-2", json!({})),
        forged(user, "agent_completed", 9, "m-2", json!({})),
    ];
    fails_with(
        &mut client,
        &frames,
        Rule::RunMissingEvent,
        "contract violation (run missing an event) at /type: run m-2 ended with `agent_completed` without `tool_completed`",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_order() {
    let user = "c-order";
    let mut client = after_one_run(user).await;
    let frames = [
        forged(user, "agent_started", 6, "m-2", json!({})),
        forged(user, "tool_executing", 7, "m-2", json!({})),
        forged(user, "agent_thinking", 8, "m-2", json!({})),
    ];
    fails_with(
        &mut client,
        &frames,
        Rule::RunOrder,
        "contract violation (run order) at /type: `agent_thinking` of run m-2 arrived after `tool_executing`",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_field_type() {
    let user = "c-type";
    let mut client = after_one_run(user).await;
    let frame = forged(user, "agent_started", 6, "m-2", json!({"critical": "yes"}));
    fails_with(
        &mut client,
        &[frame],
        Rule::Schema,
        "contract violation (schema) at /critical: true was expected",
    )
    .await;
    let mut client = after_one_run("c-type-2").await;
    let frame = forged(
        "c-type-2",
        "agent_completed",
        6,
        "m-1",
        json!({"duration_ms": "12"}),
    );
    fails_with(
        &mut client,
        &[frame],
        Rule::Schema,
        "contract violation (schema) at /duration_ms: \"12\" is not of type \"integer\"",
    )
    .await;
}

#[tokio::test]
async fn a_missing_field() {
    let user = "c-field";
    let mut client = after_one_run(user).await;
    let frame = forged(user, "agent_started", 6, "m-2", json!({"run_id": null}));
    fails_with(
        &mut client,
        &[frame],
        Rule::Schema,
        "contract violation (schema) at the frame: \"run_id\" is a required property",
    )
    .await;
}

#[tokio::test]
async fn an_event_after_agent_completed() {
    let user = "c-after";
    let mut client = after_one_run(user).await;
    let frame = forged(user, "tool_completed", 6, "m-1", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::AfterTerminal,
        "contract violation (after the run's end) at /type: `tool_completed` of run m-1 arrived after the run ended with `agent_completed`",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kind_and_a_frame_that_is_not_json() {
    let mut client = after_one_run("c-kind").await;
    fails_with(
        &mut client,
        &[json!({"type": "agent_dreaming"}).to_string()],
        Rule::UnknownKind,
        "contract violation (unknown kind) at /type: `agent_dreaming` is not a kind the contract names (agent_completed, agent_error, agent_started, agent_thinking, error, pong, resumed, tool_completed, tool_executing)",
    )
    .await;
    let mut client = after_one_run("c-not-json").await;
    fails_with(
        &mut client,
        &["not json".to_owned()],
        Rule::NotJson,
        "contract violation (not JSON) at the frame: the frame is not a JSON object; frame: not json",
    )
    .await;
}

#[tokio::test]
async fn contract_none_checks_nothing() {
    let config = RealWebSocketTestConfig::builder()
        .environment(std::collections::HashMap::from([(
            "WS_HARNESS_CONTRACT_SOURCE".to_owned(),
            "none".to_owned(),
        )]))
        .build()
        .unwrap();
    let backend = InProcessBackend::shared().unwrap();
    let factory = TestClientFactory::new(config, backend.info()).unwrap();
    let mut client = factory.client("c-none").await.unwrap();
    client.ping("sync").await.unwrap();
    client.expect(event("pong")).await.unwrap();
    backend.send_raw(
        "c-none",
        &forged("mallory", "agent_started", 9, "m-9", json!({"data": {}})),
    );
    client.expect(event("agent_started")).await.unwrap();
    assert!(client.violations().is_empty());
}
