//! The reference agent's runs: the golden path field by field, scenarios,
//! interleaving, and the per-user `event_id` sequence.

mod common;

use common::{TestServer, types};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use ws_harness::protocol::{AgentEvent, REQUIRED_EVENTS};
use ws_harness::server::ServerConfig;

const COMMON_FIELDS: [&str; 9] = [
    "type",
    "event_id",
    "timestamp",
    "user_id",
    "thread_id",
    "run_id",
    "message_id",
    "agent_name",
    "critical",
];

#[tokio::test]
async fn golden_path_emits_the_five_required_flat_events_field_by_field() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice
        .send_json(json!({"type":"user_message","message_id":"m-1","thread_id":"t-9","content":"what is up?"}))
        .await;
    let events = alice.until("agent_completed").await;
    let expected: Vec<&str> = REQUIRED_EVENTS.iter().map(|t| t.as_str()).collect();
    assert_eq!(types(&events), expected);

    let run_id = events[0]["run_id"].as_str().unwrap().to_owned();
    assert!(!run_id.is_empty());
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["event_id"], i as u64 + 1);
        assert_eq!(event["user_id"], "alice");
        assert_eq!(event["thread_id"], "t-9");
        assert_eq!(event["message_id"], "m-1");
        assert_eq!(event["run_id"], run_id.as_str());
        assert_eq!(event["agent_name"], "reference-agent");
        assert_eq!(event["critical"], true);
        assert!(event.get("data").is_none(), "payload must be flat: {event}");
        let ts = event["timestamp"].as_str().unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == 24,
            "RFC 3339 UTC with milliseconds: {ts}"
        );
        humantime::parse_rfc3339(ts).unwrap();
        // The typed view of the same frame agrees.
        let typed: AgentEvent = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(typed.kind.event_type().as_str(), event["type"]);
    }
    let extra = |e: &Value| -> HashSet<String> {
        e.as_object()
            .unwrap()
            .keys()
            .filter(|k| !COMMON_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
    assert_eq!(extra(&events[0]), set(&[]));
    assert_eq!(extra(&events[1]), set(&["thought"]));
    assert_eq!(extra(&events[2]), set(&["tool_name", "tool_input"]));
    assert_eq!(
        extra(&events[3]),
        set(&["tool_name", "result", "duration_ms"])
    );
    assert_eq!(extra(&events[4]), set(&["final_response", "duration_ms"]));
    assert_eq!(events[2]["tool_name"], "search");
    assert!(events[2]["tool_input"].is_object());
    assert_eq!(events[3]["tool_name"], "search");
    assert!(events[3]["result"].is_object());
    assert!(events[3]["duration_ms"].is_u64());
    assert!(
        events[4]["final_response"]
            .as_str()
            .unwrap()
            .contains("what is up?")
    );
    assert!(events[4]["duration_ms"].is_u64());
    alice.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn event_ids_continue_across_runs_and_connections_without_gaps() {
    let server = TestServer::start().await;
    let mut first = server.connect("alice").await;
    let run1 = first.run("m-1").await;
    let run2 = first.run("m-2").await;
    drop(first);
    let mut second = server.connect("alice").await;
    let run3 = second.run("m-3").await;
    let ids: Vec<u64> = [run1, run2.clone(), run3.clone()]
        .concat()
        .iter()
        .map(|e| e["event_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=15).collect::<Vec<_>>());
    assert_ne!(run2[0]["run_id"], run3[0]["run_id"]);
    assert_eq!(server.server.manager().last_event_id("alice"), 15);
}

#[tokio::test]
async fn scenario_shapes_the_run() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice
        .user_message(
            "m-1",
            Some(json!({"tools": ["search", "calc"], "thinking_steps": 3})),
        )
        .await;
    let events = alice.until("agent_completed").await;
    assert_eq!(
        types(&events),
        [
            "agent_started",
            "agent_thinking",
            "agent_thinking",
            "agent_thinking",
            "tool_executing",
            "tool_completed",
            "tool_executing",
            "tool_completed",
            "agent_completed",
        ]
    );
    assert_eq!(events[6]["tool_name"], "calc");

    alice
        .user_message("m-2", Some(json!({"tools": [], "thinking_steps": 0})))
        .await;
    assert_eq!(
        types(&alice.until("agent_completed").await),
        ["agent_started", "agent_completed"]
    );
}

#[tokio::test]
async fn fail_at_ends_the_run_with_agent_error() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice
        .user_message("m-1", Some(json!({"fail_at": "tool_executing"})))
        .await;
    let events = alice.until("agent_error").await;
    assert_eq!(
        types(&events),
        [
            "agent_started",
            "agent_thinking",
            "tool_executing",
            "agent_error"
        ]
    );
    let error = &events[3];
    assert_eq!(error["failed_after"], "tool_executing");
    assert!(error["error"].as_str().unwrap().contains("tool_executing"));
    assert_eq!(error["critical"], true);
    alice.expect_quiet(Duration::from_millis(200)).await;
    server.wait_for_runs(1).await;
    server
        .assert_metrics(&["ws_harness_runs_failed_total 1"])
        .await;
}

#[tokio::test]
async fn step_delay_paces_the_events() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let started = std::time::Instant::now();
    alice
        .user_message("m-1", Some(json!({"step_delay_ms": 40})))
        .await;
    alice.until("agent_completed").await;
    // Four pauses of 40 ms between five events.
    assert!(
        started.elapsed() >= Duration::from_millis(160),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn runs_of_one_user_interleave_but_never_reorder() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice
        .user_message(
            "slow",
            // 1.8 s against the fast run's 60 ms: the fast one finishes
            // first however loaded the machine.
            Some(json!({"step_delay_ms": 300, "thinking_steps": 3})),
        )
        .await;
    alice
        .user_message(
            "fast",
            Some(json!({"step_delay_ms": 10, "thinking_steps": 3})),
        )
        .await;
    let mut frames = Vec::new();
    let mut done = 0;
    while done < 2 {
        let frame = alice.next_json().await;
        if frame["type"] == "agent_completed" {
            done += 1;
        }
        frames.push(frame);
    }
    let ids: Vec<u64> = frames
        .iter()
        .map(|e| e["event_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=frames.len() as u64).collect::<Vec<_>>());
    for message in ["slow", "fast"] {
        let run: Vec<Value> = frames
            .iter()
            .filter(|e| e["message_id"] == message)
            .cloned()
            .collect();
        // Every event of the run, in the run's own order.
        assert_eq!(
            types(&run),
            [
                "agent_started",
                "agent_thinking",
                "agent_thinking",
                "agent_thinking",
                "tool_executing",
                "tool_completed",
                "agent_completed"
            ],
            "{message}"
        );
    }
    let first_completed = frames
        .iter()
        .find(|e| e["type"] == "agent_completed")
        .unwrap();
    assert_eq!(
        first_completed["message_id"], "fast",
        "the runs ran side by side"
    );
}

#[tokio::test]
async fn scenario_outside_test_mode_is_an_invalid_field() {
    let server = TestServer::with_config(ServerConfig::with_secret("a-production-secret")).await;
    let mut alice = server.connect("alice").await;
    alice.user_message("m-1", Some(json!({"tools": []}))).await;
    let error = alice.next_json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "invalid_field");
    assert_eq!(error["field"], "scenario");
    assert_eq!(error["message_id"], "m-1");
    // Without the scenario the same server runs the golden path.
    assert_eq!(alice.run("m-2").await.len(), 5);
}

/// Every frame the server sends in these runs, replies included, matches
/// the shipped schema `docs/reference-protocol.schema.json` (the one the
/// harness's `reference` contract uses).
#[tokio::test]
async fn every_frame_matches_the_shipped_schema() {
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/reference-protocol.schema.json"
    )))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let server = TestServer::start().await;
    let mut alice = server.connect("schema-alice").await;
    let mut frames = Vec::new();
    alice.user_message("m-1", None).await;
    frames.extend(alice.until("agent_completed").await);
    alice
        .user_message(
            "m-2",
            Some(json!({"tools": ["a", "b"], "thinking_steps": 2})),
        )
        .await;
    frames.extend(alice.until("agent_completed").await);
    alice
        .user_message("m-3", Some(json!({"fail_at": "tool_executing"})))
        .await;
    frames.extend(alice.until("agent_error").await);
    alice.send_json(json!({"type": "ping", "nonce": "n"})).await;
    frames.push(alice.next_json().await);
    alice
        .send_json(json!({"type": "resume", "last_event_id": 3}))
        .await;
    // The replay holds an `agent_error`, where `until` would stop.
    loop {
        let frame = alice.next_json().await;
        let resumed = frame["type"] == "resumed";
        frames.push(frame);
        if resumed {
            break;
        }
    }
    alice.send_json(json!({"type": "nonsense"})).await;
    frames.push(alice.next_json().await);
    let kinds: HashSet<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    for kind in [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
        "agent_error",
        "pong",
        "resumed",
        "error",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {frames:?}");
    }
    for frame in &frames {
        let errors: Vec<String> = validator
            .iter_errors(frame)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{frame}: {errors:?}");
    }
    // The schema is not a rubber stamp: a nested payload fails it.
    let mut nested = frames[0].clone();
    nested["data"] = json!({"thought": "x"});
    assert!(!validator.is_valid(&nested));
}

/// A client may send its first frame right behind the handshake, before the
/// `101`: the server reads it with the request and must still answer it.
#[tokio::test]
async fn a_frame_sent_with_the_handshake_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut bytes = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {}\r\n\r\n",
        server.token("alice")
    )
    .into_bytes();
    // One masked text frame, in the same write as the request.
    let payload = br#"{"type":"ping","nonce":"early"}"#;
    let mask = [1u8, 2, 3, 4];
    bytes.extend([0x81, 0x80 | payload.len() as u8]);
    bytes.extend(mask);
    bytes.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(&bytes).await.unwrap();

    let mut received = Vec::new();
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&received));
            received.extend(&chunk[..n]);
            let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            // An unmasked server frame: 0x81, its length, the payload.
            let frame = &received[end + 4..];
            if frame.len() >= 2 && frame.len() >= 2 + usize::from(frame[1]) {
                assert_eq!(frame[0], 0x81, "a text frame");
                return serde_json::from_slice::<Value>(&frame[2..2 + usize::from(frame[1])])
                    .unwrap();
            }
        }
    })
    .await
    .expect("an answer within 5 s");
    assert!(received.starts_with(b"HTTP/1.1 101"));
    assert_eq!(answered, json!({"type": "pong", "nonce": "early"}));
}
