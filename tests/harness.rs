//! The harness itself: each assertion passes on the right stream and fails,
//! with its pinned message, on a wrong one.

use serde_json::json;
use std::time::Duration;
use ws_harness::chain::InProcessBackend;
use ws_harness::client::Problem;
use ws_harness::contract::Rule;
use ws_harness::protocol::Scenario;
use ws_harness::{
    ExpectationFailed, RealWebSocketTestConfig, TestClient, TestClientFactory, error_code, event,
};

fn factory() -> TestClientFactory {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .event_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    TestClientFactory::new(config, InProcessBackend::shared().unwrap().info()).unwrap()
}

/// The failure message with timings and the transcript path made stable.
fn pinned(err: &ExpectationFailed) -> String {
    let text = err.to_string();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = match line.find('+') {
            Some(at) if line[at..].contains("s #") => {
                let rest = &line[at..];
                format!(
                    "{}+T{}",
                    &line[..at],
                    &rest[rest.find("s #").unwrap() + 1..]
                )
            }
            _ => line.to_owned(),
        };
        let line = if line.starts_with("  transcript file: ") {
            "  transcript file: <path>".to_owned()
        } else {
            line
        };
        out.push(line);
    }
    out.join("\n").replace(
        &InProcessBackend::shared().unwrap().url().to_string(),
        "<url>",
    )
}

async fn ran(client: &mut TestClient, message_id: &str) {
    client.send_user_message(message_id, "hello").await.unwrap();
}

#[tokio::test]
async fn the_golden_path_passes_every_assertion() {
    let f = factory();
    let mut c = f.client("h-golden").await.unwrap();
    ran(&mut c, "m-1").await;
    let events = c.expect_required_events("m-1").await.unwrap();
    assert_eq!(events.len(), 5);
    c.expect_nothing(Duration::from_millis(100)).await.unwrap();

    ran(&mut c, "m-2").await;
    c.expect(event("agent_started").with(json!({"message_id": "m-2"})))
        .await
        .unwrap();
    c.expect_sequence(&[
        event("agent_thinking"),
        event("tool_executing"),
        event("tool_completed"),
    ])
    .await
    .unwrap();
    c.expect(event("agent_completed")).await.unwrap();

    ran(&mut c, "m-3").await;
    c.expect_any_order(&[event("agent_completed"), event("agent_started")])
        .await
        .unwrap();
    c.expect_subsequence(&[event("agent_thinking"), event("tool_completed")])
        .await
        .unwrap();
    c.expect(event("tool_executing")).await.unwrap();
    c.expect_nothing(Duration::from_millis(100)).await.unwrap();
    c.expect_no_lost_or_duplicate_events().await.unwrap();
}

#[tokio::test]
async fn a_missing_event_fails_with_the_transcript_and_the_backend() {
    let f = factory();
    let mut c = f.client("h-missing").await.unwrap();
    c.ping("p").await.unwrap();
    // The pong is waited for with the event timeout; the short bound below
    // is only for what must not come.
    c.expect(event("pong")).await.unwrap();
    let err = c
        .expect_within(event("agent_started"), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        pinned(&err),
        format!(
            "expected agent_started within 300ms\n  \
             problem: timed out after 300ms; missing: agent_started\n  \
             user: h-missing, connection #{}\n  \
             backend: in-process at <url> (the built-in reference server, chosen by the test); clients use tokens minted with the published test secret\n  \
             transcript (1 frame; time since connect; * = matched by an earlier expectation):\n    \
             +T #{0} * {{\"type\":\"pong\",\"nonce\":\"p\"}}\n  \
             transcript file: <path>",
            c.connection()
        )
    );
    // The transcript file holds the frame as JSONL.
    let path = err.transcript_file.as_ref().unwrap().clone();
    assert!(path.starts_with(ws_harness::client::transcript_dir()));
    let written = std::fs::read_to_string(path).unwrap();
    let line: serde_json::Value = serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(line["frame"], json!({"type": "pong", "nonce": "p"}));
    assert_eq!(line["matched"], true);
}

#[tokio::test]
async fn a_wrong_order_fails_naming_the_frame_out_of_place() {
    let f = factory();
    let mut c = f.client("h-order").await.unwrap();
    ran(&mut c, "m-1").await;
    let err = c
        .expect_sequence(&[event("agent_started"), event("tool_executing")])
        .await
        .unwrap_err();
    assert_eq!(err.expected, "in order: agent_started, tool_executing");
    assert_eq!(
        err.problem.to_string(),
        "wrong order: expected tool_executing as frame 2 of the sequence, got agent_thinking (event 2 of m-1)"
    );
    assert!(
        matches!(err.problem, Problem::OutOfOrder { position: 2, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn an_extra_event_fails_expect_nothing() {
    let f = factory();
    let mut c = f.client("h-extra").await.unwrap();
    ran(&mut c, "m-1").await;
    c.expect(event("agent_started")).await.unwrap();
    c.expect(event("agent_completed")).await.unwrap();
    let err = c
        .expect_nothing(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err.expected, "nothing more for 50ms");
    assert_eq!(
        err.problem.to_string(),
        "extra: 3 unmatched frame(s): agent_thinking (event 2 of m-1), tool_executing (event 3 of m-1), \
         tool_completed (event 4 of m-1)"
    );
    assert!(
        matches!(&err.problem, Problem::Unexpected { listed, more: 0, forgotten: 0, .. } if listed.len() == 3),
        "{err}"
    );
    // Frames already matched are marked in the transcript.
    assert_eq!(
        err.transcript
            .lines()
            .filter(|l| l.contains(" #1 * "))
            .count(),
        2,
        "{}",
        err.transcript
    );
}

#[tokio::test]
async fn an_event_of_another_user_fails_every_expectation() {
    let f = factory();
    let backend = InProcessBackend::shared().unwrap();
    let mut c = f.client("h-wrong-user").await.unwrap();
    c.ping("sync").await.unwrap();
    c.expect(event("pong")).await.unwrap();
    let forged = json!({"type":"agent_started","event_id":1,"timestamp":"2026-01-01T00:00:00.000Z",
        "user_id":"mallory","thread_id":"t","run_id":"r","message_id":"m-1","agent_name":"a","critical":true});
    assert_eq!(backend.send_raw("h-wrong-user", &forged.to_string()), 1);
    let err = c.expect(event("agent_started")).await.unwrap_err();
    assert!(
        err.problem.to_string().starts_with(
            "contract violation (owner) at /user_id: the frame is for \"mallory\"; this client is `h-wrong-user` (the token's subject); frame: {"
        ),
        "{}",
        err.problem
    );
    assert!(
        matches!(&err.problem, Problem::Violation(v) if v.rule == Rule::Owner),
        "{err}"
    );
}

#[tokio::test]
async fn a_nested_data_payload_fails_as_not_flat() {
    let f = factory();
    let backend = InProcessBackend::shared().unwrap();
    let mut c = f.client("h-nested").await.unwrap();
    c.ping("sync").await.unwrap();
    c.expect(event("pong")).await.unwrap();
    let nested =
        json!({"type":"agent_thinking","event_id":1,"user_id":"h-nested","data":{"thought":"hmm"}});
    backend.send_raw("h-nested", &nested.to_string());
    let err = c.expect(event("agent_thinking")).await.unwrap_err();
    assert!(
        err.problem
            .to_string()
            .starts_with("contract violation (forbidden field) at /data: `data` must not appear"),
        "{}",
        err.problem
    );
}

#[tokio::test]
async fn a_failed_run_fails_the_required_events_at_once() {
    let f = factory();
    let mut c = f.client("h-failed-run").await.unwrap();
    let scenario = Scenario {
        fail_at: Some(ws_harness::protocol::EventType::AgentThinking),
        ..Scenario::default()
    };
    c.send_user_message_with("m-1", "hello", Some(scenario))
        .await
        .unwrap();
    c.set_event_timeout(Duration::from_secs(5));
    let started = std::time::Instant::now();
    let err = c.expect_required_events("m-1").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "failed fast, not at the timeout"
    );
    assert!(matches!(err.problem, Problem::RunEnded { .. }), "{err}");
    assert_eq!(
        err.problem.to_string(),
        "the run failed before tool_executing, tool_completed, agent_completed: \
         agent_error (event 3 of m-1): the scenario asked the run to fail after agent_thinking"
    );
}

#[tokio::test]
async fn errors_and_bad_input_can_be_expected_too() {
    let f = factory();
    let mut c = f.client("h-bad-input").await.unwrap();
    c.send_text("{nope").await.unwrap();
    c.expect(error_code("invalid_json")).await.unwrap();
    c.send_json(&json!({"type": "dance"})).await.unwrap();
    c.expect(error_code("unknown_type")).await.unwrap();
    c.send_invalid_utf8().await.unwrap();
    let close = c.expect(ws_harness::frame(serde_json::Value::Null)).await;
    // The close is recorded in the transcript as text.
    assert!(close.is_ok());
    assert!(
        c.transcript()
            .frames()
            .last()
            .unwrap()
            .text
            .starts_with("<close 1007"),
        "{:?}",
        c.transcript().frames()
    );
    let err = c.send_binary(vec![1]).await.unwrap_err();
    assert!(
        err.to_string().contains("the connection is closed"),
        "{err}"
    );
}
