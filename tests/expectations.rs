//! Every expectation of `TestClient` shown to fail where it must, with its
//! failure text pinned, beside the case where it passes. The frames come
//! from a `MockServer` pushing exactly what each test needs, in the order
//! it needs, so nothing here depends on a server's timing.
//!
//! Timeouts: a test that proves something does NOT arrive uses a short
//! one; everything that must arrive gets seconds.

mod common;

use futures_util::SinkExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use ws_harness::client::Problem;
use ws_harness::config::ContractSource;
use ws_harness::mock::{Mock, MockServer, Respond, text};
use ws_harness::protocol::EventType;
use ws_harness::{
    BackendInfo, ExpectationFailed, RealWebSocketTestConfig, TestClient, TestClientFactory,
    error_code, event, frame,
};

/// How long a test waits for what must arrive.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long a test waits to show that something does not arrive.
const ABSENT: Duration = Duration::from_millis(200);

/// A client of `alice` on `backend`, with no contract (the frames are the
/// test's own) and the required events `started, completed`.
async fn client_on(backend: BackendInfo) -> TestClient {
    // No schemas, but the reference's sequence and resume, which the
    // `reference` source would fill in.
    let config = unchecked()
        .contract_sequence_field("event_id")
        .contract_resume_frame(r#"{"type": "resume", "last_event_id": "${last}"}"#.parse().unwrap())
        .contract_resume_reply("resumed")
        .build()
        .unwrap();
    TestClientFactory::new(config, backend)
        .unwrap()
        .client("alice")
        .await
        .unwrap()
}

/// Settings with no contract at all.
fn unchecked() -> ws_harness::ConfigBuilder {
    RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_source(ContractSource::None)
        .required_agent_events([EventType::AgentStarted, EventType::AgentCompleted])
        .event_timeout(ARRIVES)
}

/// A mock, and a client connected to it that has received `frames`: a
/// marker pushed after them is awaited (and matched), so a short bound
/// afterwards only covers what must not arrive.
async fn received(frames: &[Value]) -> (MockServer, TestClient) {
    let server = MockServer::start().await.unwrap();
    let mut client = client_on(server.info()).await;
    for frame in frames {
        server.push_all(frame);
    }
    server.push_all(&json!({"type": "all-pushed"}));
    client.expect(event("all-pushed")).await.unwrap();
    (server, client)
}

/// `{"type": kind, "n": n}`.
fn numbered(kind: &str, n: u64) -> Value {
    json!({"type": kind, "n": n})
}

/// The problem line of a failure, checked against its whole message.
fn problem(failed: &ExpectationFailed) -> String {
    let message = failed.to_string();
    let problem = failed.problem.to_string();
    assert!(
        message.contains(&format!("\n  problem: {problem}\n")),
        "{message}"
    );
    problem
}

#[tokio::test]
async fn expect_finds_the_first_match_and_names_what_never_came() {
    let (_server, mut client) = received(&[numbered("a", 1), numbered("b", 2)]).await;
    let b = client.expect(event("b")).await.unwrap();
    assert_eq!(b["n"], 2);
    // Each frame matches once: `b` is taken.
    let failed = client.expect_within(event("b"), ABSENT).await.unwrap_err();
    assert_eq!(problem(&failed), "timed out after 200ms; missing: b");
    assert_eq!(
        failed.problem,
        Problem::TimedOut {
            after: ABSENT,
            missing: vec!["b".to_owned()]
        }
    );
    assert_eq!(failed.expected, "b within 200ms");
    assert_eq!(failed.user, "alice");
    // `a` is still there.
    assert_eq!(client.expect(event("a")).await.unwrap()["n"], 1);
}

#[tokio::test]
async fn a_closed_connection_fails_at_once_not_at_the_timeout() {
    let server = MockServer::start().await.unwrap();
    Mock::given(text("close"))
        .respond_with(Respond::close(4000, "bye"))
        .mount(&server);
    let mut client = client_on(server.info()).await;
    client.send_text("close").await.unwrap();
    let started = std::time::Instant::now();
    let failed = client.expect(event("never")).await.unwrap_err();
    assert_eq!(
        problem(&failed),
        "the connection closed: <close 4000 bye>; missing: never"
    );
    assert!(
        matches!(&failed.problem, Problem::Closed { close, .. } if close == "<close 4000 bye>"),
        "{failed}"
    );
    assert!(started.elapsed() < ARRIVES, "it waited for the timeout");
    assert!(failed.transcript.contains("<close 4000 bye>"), "{failed}");
}

#[tokio::test]
async fn expect_sequence_takes_the_next_frames_in_order_only() {
    let (_server, mut client) =
        received(&[numbered("a", 1), numbered("b", 2), numbered("c", 3)]).await;
    let [a, b] = client
        .expect_sequence(&[event("a"), event("b")])
        .await
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!((a["n"].as_u64(), b["n"].as_u64()), (Some(1), Some(2)));

    let (_server, mut client) = received(&[numbered("b", 1), numbered("a", 2)]).await;
    let failed = client
        .expect_sequence(&[event("a"), event("b")])
        .await
        .unwrap_err();
    assert_eq!(
        problem(&failed),
        "wrong order: expected a as frame 1 of the sequence, got b"
    );
    assert!(
        matches!(&failed.problem, Problem::OutOfOrder { position: 1, got, .. } if got == "b"),
        "{failed}"
    );
    assert_eq!(failed.expected, "in order: a, b");

    let (_server, mut client) = received(&[numbered("a", 1)]).await;
    client.set_event_timeout(ABSENT);
    let failed = client
        .expect_sequence(&[event("a"), event("b")])
        .await
        .unwrap_err();
    assert_eq!(problem(&failed), "timed out after 200ms; missing: b");
}

/// A client of `alice` on `server` whose transcript keeps two frames.
async fn client_keeping_two_frames(server: &MockServer) -> TestClient {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_source(ContractSource::None)
        .event_timeout(ARRIVES)
        .transcript_frames(2)
        .build()
        .unwrap();
    TestClientFactory::new(config, server.info())
        .unwrap()
        .client("alice")
        .await
        .unwrap()
}

/// Pushes `a` 1 alone, then after a pause ten fillers that push it out of a
/// two-frame window, then `a` 2 and `b` 3.
async fn found_then_forgotten(server: &MockServer) {
    server.push_all(&numbered("a", 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..10 {
        server.push_all(&numbered("filler", n));
    }
    server.push_all(&numbered("a", 2));
    server.push_all(&numbered("b", 3));
}

/// `expect_any_order` searches again when a frame it had found is forgotten
/// by the transcript window: it returns frames the window still holds.
#[tokio::test]
async fn expect_any_order_searches_again_once_a_found_frame_is_forgotten() {
    let server = MockServer::start().await.unwrap();
    let mut client = client_keeping_two_frames(&server).await;
    let matchers = [event("a"), event("b")];
    let (found, ()) = tokio::join!(
        client.expect_any_order(&matchers),
        found_then_forgotten(&server)
    );
    let found = found.unwrap();
    assert_eq!(
        (found[0]["n"].as_u64(), found[1]["n"].as_u64()),
        (Some(2), Some(3))
    );
}

/// `expect_subsequence` (and every in-order search) starts again when a
/// frame it had found is forgotten by the transcript window.
#[tokio::test]
async fn an_in_order_search_starts_again_once_a_found_frame_is_forgotten() {
    let server = MockServer::start().await.unwrap();
    let mut client = client_keeping_two_frames(&server).await;
    let matchers = [event("a"), event("b")];
    let (found, ()) = tokio::join!(
        client.expect_subsequence(&matchers),
        found_then_forgotten(&server)
    );
    let found = found.unwrap();
    assert_eq!(
        (found[0]["n"].as_u64(), found[1]["n"].as_u64()),
        (Some(2), Some(3))
    );
}

/// A found frame is tested once: a second matcher of the same kind waits
/// for a second frame, whatever else arrives between.
#[tokio::test]
async fn an_in_order_search_never_takes_one_frame_twice() {
    let (server, mut client) = received(&[]).await;
    let pushes = async {
        server.push_all(&numbered("a", 1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.push_all(&numbered("filler", 2));
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.push_all(&numbered("a", 3));
    };
    let matchers = [event("a"), event("a")];
    let (found, ()) = tokio::join!(client.expect_subsequence(&matchers), pushes);
    let found = found.unwrap();
    assert_eq!(
        (found[0]["n"].as_u64(), found[1]["n"].as_u64()),
        (Some(1), Some(3))
    );
}

/// Up to ten extra frames are all named and not counted by kind; past ten,
/// at most ten kinds are counted.
#[tokio::test]
async fn extra_frames_are_named_up_to_ten_and_counted_by_at_most_ten_kinds() {
    let ten: Vec<Value> = (0..10).map(|n| numbered("x", n)).collect();
    let (_server, mut client) = received(&ten).await;
    let failed = client.expect_nothing(ABSENT).await.unwrap_err();
    let Problem::Unexpected {
        listed,
        more,
        by_kind,
        ..
    } = &failed.problem
    else {
        panic!("{failed}")
    };
    assert_eq!((listed.len(), *more, by_kind.len()), (10, 0, 0), "{failed}");

    let kinds: Vec<Value> = (0..12).map(|n| numbered(&format!("k{n}"), n)).collect();
    let (_server, mut client) = received(&kinds).await;
    let failed = client.expect_nothing(ABSENT).await.unwrap_err();
    let Problem::Unexpected {
        listed,
        more,
        by_kind,
        ..
    } = &failed.problem
    else {
        panic!("{failed}")
    };
    assert_eq!(
        (listed.len(), *more, by_kind.len()),
        (10, 2, 10),
        "{failed}"
    );
    assert_eq!(by_kind[0], ("k0".to_owned(), 1));
}

#[tokio::test]
async fn expect_any_order_needs_a_frame_of_its_own_for_each_matcher() {
    let (_server, mut client) = received(&[numbered("b", 1), numbered("a", 2)]).await;
    let found = client
        .expect_any_order(&[event("a"), event("b")])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);

    // One `a` cannot stand for two.
    let (_server, mut client) = received(&[numbered("a", 1), numbered("b", 2)]).await;
    client.set_event_timeout(ABSENT);
    let failed = client
        .expect_any_order(&[event("a"), event("a"), event("b")])
        .await
        .unwrap_err();
    assert_eq!(problem(&failed), "timed out after 200ms; missing: a");
    assert_eq!(failed.expected, "in any order: a, a, b");
    // Nothing was taken by the failed expectation.
    client.set_event_timeout(ARRIVES);
    client
        .expect_sequence(&[event("a"), event("b")])
        .await
        .unwrap();
}

#[tokio::test]
async fn expect_subsequence_keeps_the_order_and_skips_what_is_between() {
    let (_server, mut client) =
        received(&[numbered("a", 1), numbered("x", 2), numbered("b", 3)]).await;
    let found = client
        .expect_subsequence(&[event("a"), event("b")])
        .await
        .unwrap();
    assert_eq!(found[1]["n"], 3);
    // What was between stays unmatched.
    assert_eq!(client.expect(event("x")).await.unwrap()["n"], 2);

    // In the wrong order, it is not a subsequence.
    let (_server, mut client) = received(&[numbered("b", 1), numbered("a", 2)]).await;
    client.set_event_timeout(ABSENT);
    let failed = client
        .expect_subsequence(&[event("a"), event("b")])
        .await
        .unwrap_err();
    assert_eq!(problem(&failed), "timed out after 200ms; missing: b");
    assert_eq!(failed.expected, "in order, others allowed between: a, b");
}

/// A full agent event of run `m-1` for `alice`.
fn agent_event(kind: &str, event_id: u64, fields: &Value) -> Value {
    let mut event = json!({"type": kind, "event_id": event_id, "timestamp": "2026-01-01T00:00:00.000Z",
        "user_id": "alice", "thread_id": "t", "run_id": "r", "message_id": "m-1",
        "agent_name": "a", "critical": true});
    event
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    event
}

#[tokio::test]
async fn expect_required_events_checks_the_run_its_order_and_its_shape() {
    let started = agent_event("agent_started", 1, &json!({}));
    let completed = agent_event(
        "agent_completed",
        2,
        &json!({"final_response": "ok", "duration_ms": 3}),
    );
    let (_server, mut client) = received(&[started.clone(), completed.clone()]).await;
    let events = client.expect_required_events("m-1").await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event_id, 2);

    // Another run's events are not this run's.
    let (_server, mut client) = received(&[started.clone(), completed.clone()]).await;
    client.set_event_timeout(ABSENT);
    let failed = client.expect_required_events("m-2").await.unwrap_err();
    assert_eq!(
        problem(&failed),
        "timed out after 200ms; missing: agent_started, agent_completed"
    );
    assert_eq!(
        failed.expected,
        r#"the events of run "m-2": agent_started, agent_completed"#
    );

    // An agent_error before the end fails at once.
    let error = agent_event(
        "agent_error",
        2,
        &json!({"error": "boom", "failed_after": "agent_started"}),
    );
    let (_server, mut client) = received(&[started.clone(), error]).await;
    let failed = client.expect_required_events("m-1").await.unwrap_err();
    assert_eq!(
        problem(&failed),
        "the run failed before agent_completed: agent_error (event 2 of m-1): boom"
    );

    // The right types in the right order, but not the protocol's shape.
    let mut unshaped = completed;
    unshaped.as_object_mut().unwrap().remove("final_response");
    let (_server, mut client) = received(&[started, unshaped]).await;
    let failed = client.expect_required_events("m-1").await.unwrap_err();
    assert_eq!(
        problem(&failed),
        "an event does not have the protocol's shape: missing field `final_response`"
    );
}

/// A mock that answers `later` with `late` after `delay`, and a client of it.
async fn answers_later_with_late(delay: Duration) -> (MockServer, TestClient) {
    let server = MockServer::start().await.unwrap();
    Mock::given(event("later"))
        .respond_with(Respond::wait(delay).then(Respond::reply(json!({"type": "late"}))))
        .mount(&server);
    let client = client_on(server.info()).await;
    (server, client)
}

#[tokio::test]
async fn expect_nothing_fails_on_a_frame_waiting_or_arriving_within_the_quiet_period() {
    let (_server, mut client) = answers_later_with_late(Duration::from_millis(100)).await;
    client.expect_nothing(ABSENT).await.unwrap();

    // One arriving 100 ms into a quiet second.
    client.send_json(&json!({"type": "later"})).await.unwrap();
    let failed = client
        .expect_nothing(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(problem(&failed), "extra: 1 unmatched frame(s): late");
    assert_eq!(failed.expected, "nothing more for 1s");

    // One already there, unmatched.
    let (_server, mut client) = received(&[numbered("early", 1)]).await;
    client.expect(frame(json!({"n": 1}))).await.unwrap();
    client.expect_nothing(ABSENT).await.unwrap();
    let (_server, mut client) = received(&[numbered("early", 1), error_json()]).await;
    client.expect(event("early")).await.unwrap();
    let failed = client.expect_nothing(ABSENT).await.unwrap_err();
    assert_eq!(
        problem(&failed),
        "extra: 1 unmatched frame(s): error: rate_limited"
    );
}

fn error_json() -> Value {
    json!({"type": "error", "code": "rate_limited", "message": "slow down"})
}

/// A server that sends each client a WebSocket ping, then 100 ms later a
/// text frame.
async fn ping_then_text() -> BackendInfo {
    common::raw::serve(WebSocketConfig::default(), |mut ws| async move {
        let _ = ws.send(Message::Ping(vec![1].into())).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = ws.send(Message::text(r#"{"type":"after_ping"}"#)).await;
        // Held open until the client is done.
        futures_util::StreamExt::for_each(ws, |_| async {}).await;
    })
    .await
}

#[tokio::test]
async fn expect_nothing_keeps_listening_after_a_control_frame() {
    let mut client = client_on(ping_then_text().await).await;
    let failed = client
        .expect_nothing(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(problem(&failed), "extra: 1 unmatched frame(s): after_ping");
}

#[tokio::test]
async fn expect_no_lost_or_duplicate_events_names_the_ids() {
    let ids = |ids: &[u64]| -> Vec<Value> {
        ids.iter()
            .map(|&id| json!({"type": "e", "event_id": id}))
            .collect()
    };
    let (_server, mut client) = received(&ids(&[1, 2, 3])).await;
    client
        .expect_sequence(&[event("e"), event("e"), event("e")])
        .await
        .unwrap();
    client.expect_no_lost_or_duplicate_events().await.unwrap();

    for (sent, lost_and_duplicated) in [
        (
            &[1, 2, 4][..],
            "lost event_id values [3]; duplicated event_id values []",
        ),
        (
            &[1, 2, 2, 3][..],
            "lost event_id values []; duplicated event_id values [2]",
        ),
        (
            &[1, 1, 5][..],
            "lost event_id values [2, 3, 4]; duplicated event_id values [1]",
        ),
    ] {
        let (_server, mut client) = received(&ids(sent)).await;
        let all: Vec<_> = sent.iter().map(|_| event("e")).collect();
        client.expect_sequence(&all).await.unwrap();
        let failed = client
            .expect_no_lost_or_duplicate_events()
            .await
            .unwrap_err();
        assert_eq!(problem(&failed), lost_and_duplicated, "{sent:?}");
        assert_eq!(failed.expected, "every event exactly once");
    }
}

#[tokio::test]
async fn a_failure_debugs_as_it_displays_so_unwrap_shows_it_whole() {
    let (_server, mut client) = received(&[]).await;
    let failed = client.expect_within(event("x"), ABSENT).await.unwrap_err();
    let message = failed.to_string();
    assert_eq!(format!("{failed:?}"), message);
    assert!(
        message.starts_with("expected x within 200ms\n  problem: timed out after 200ms; missing: x\n  user: alice, connection #1\n  backend: mock at ws://127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("\n  transcript file: "), "{message}");
}

#[test]
fn a_partial_json_matcher_holds_every_key_at_every_depth() {
    let f = json!({"type": "t", "a": {"b": 1, "c": [1, 2]}, "d": null});
    assert!(frame(json!({"a": {"b": 1}})).matches(&f));
    assert!(frame(json!({"a": {"c": [1, 2]}, "d": null})).matches(&f));
    assert!(frame(json!({})).matches(&f));
    // A different value, a missing key at either depth, a shorter array.
    assert!(!frame(json!({"a": {"b": 2}})).matches(&f));
    assert!(!frame(json!({"a": {"x": 1}})).matches(&f));
    assert!(!frame(json!({"z": 1})).matches(&f));
    assert!(!frame(json!({"a": {"c": [1]}})).matches(&f));
    assert!(!frame(json!({"d": 0})).matches(&f));
    assert!(!frame(json!({"a": 1})).matches(&f));
    // The type, and both together.
    assert!(event("t").matches(&f));
    assert!(!event("u").matches(&f));
    assert!(!event("t").matches(&json!({"a": 1})));
    assert!(event("t").with(json!({"a": {"b": 1}})).matches(&f));
    assert!(!event("u").with(json!({"a": {"b": 1}})).matches(&f));
    assert!(!event("t").with(json!({"a": {"b": 2}})).matches(&f));
    // `with` adds to the pattern; it does not replace it.
    let both = event("t")
        .with(json!({"d": null}))
        .with(json!({"a": {"b": 2}}));
    assert!(!both.matches(&f));
    assert_eq!(both.to_string(), r#"t {"a":{"b":2},"d":null}"#);
    assert_eq!(
        frame(json!({"n": 1})).to_string(),
        r#"a frame with {"n":1}"#
    );
    assert!(error_code("rate_limited").matches(&error_json()));
    assert!(!error_code("internal").matches(&error_json()));
}

/// `reconnect_and_resume` opens a new connection, resumes from the last
/// event id seen and reports the `resumed` answer; without one it fails
/// with the expectation it waited on.
#[tokio::test]
async fn reconnect_and_resume_reports_the_answer_or_its_absence() {
    let server = MockServer::start().await.unwrap();
    Mock::given(frame(json!({"type": "resume", "last_event_id": 4})))
        .respond_with(Respond::reply(
            json!({"type": "resumed", "replayed": 2, "last_event_id": 6}),
        ))
        .expect(1)
        .mount(&server);
    let mut client = client_on(server.info()).await;
    server.push_all(&agent_event("agent_started", 4, &json!({})));
    client.expect(event("agent_started")).await.unwrap();
    let report = client.reconnect_and_resume().await.unwrap();
    assert_eq!(report.resumed_from, 4);
    assert_eq!(
        report.reply,
        Some(json!({"type": "resumed", "replayed": 2, "last_event_id": 6}))
    );
    assert_eq!(server.connections().len(), 2, "a new connection");
    server.verify().unwrap();

    // A resume from 6 is not answered.
    server.push_all(&agent_event("agent_completed", 6, &json!({})));
    client.expect(event("agent_completed")).await.unwrap();
    client.set_event_timeout(ABSENT);
    let err = client.reconnect_and_resume().await.unwrap_err();
    let ws_harness::client::ClientError::Expectation(failed) = err else {
        panic!("{err}")
    };
    assert_eq!(problem(&failed), "timed out after 200ms; missing: resumed");
}

/// Without a sequence field or a resume frame in the contract, resuming
/// and the lost-or-duplicate check say which setting to write instead of
/// guessing the reference's.
#[tokio::test]
async fn resuming_needs_the_contract_to_say_how() {
    let server = MockServer::start().await.unwrap();
    let factory = TestClientFactory::new(unchecked().build().unwrap(), server.info()).unwrap();
    let mut client = factory.client("alice").await.unwrap();
    server.push_all(&agent_event("agent_started", 1, &json!({})));
    client.expect(event("agent_started")).await.unwrap();
    assert_eq!(client.last_sequence(), 0, "no field counts");
    let err = client.reconnect_and_resume().await.unwrap_err();
    assert!(
        matches!(
            err,
            ws_harness::client::ClientError::ResumeNotDescribed {
                setting: "contract.sequence_field",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("WS_HARNESS_CONTRACT_SEQUENCE_FIELD"),
        "{err}"
    );
    assert_eq!(server.connections().len(), 1, "no reconnect was tried");
    let err = client.resume(1).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the contract has no `contract.resume_frame`"),
        "{err}"
    );
    let failed = client
        .expect_no_lost_or_duplicate_events()
        .await
        .unwrap_err();
    assert_eq!(
        failed.problem,
        Problem::ContractSettingMissing {
            setting: "contract.sequence_field"
        }
    );
}

/// The transcript times each frame from the first connect, on the clock
/// `elapsed` reads, and shows the time in a failure.
#[tokio::test]
async fn the_transcript_times_each_frame_from_the_connect() {
    let (_server, mut client) = answers_later_with_late(Duration::from_millis(150)).await;
    client.send_json(&json!({"type": "later"})).await.unwrap();
    client.expect(event("late")).await.unwrap();
    let at = client.transcript().frames()[0].at;
    assert!(at >= Duration::from_millis(150), "{at:?}");
    assert!(client.transcript().elapsed() >= at);
    let failed = client
        .expect_within(event("never"), ABSENT)
        .await
        .unwrap_err();
    let shown = format!("+{:.3}s #1 * ", at.as_secs_f64());
    assert!(
        failed.transcript.contains(&shown),
        "{shown} in {}",
        failed.transcript
    );
}

/// A failure writes the transcript to `<target dir>/ws-harness/transcripts`,
/// named after the user (characters a file name should not hold made `_`),
/// and shows a long frame cut at 160 characters.
#[tokio::test]
async fn a_failure_saves_the_transcript_under_the_target_dir_and_cuts_long_frames() {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .expect("a test binary lives in cargo's target directory");
    let dir = ws_harness::client::transcript_dir();
    assert_eq!(dir, target.join("ws-harness").join("transcripts"));

    let server = MockServer::start().await.unwrap();
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_source(ContractSource::None)
        .build()
        .unwrap();
    let mut client = TestClientFactory::new(config, server.info())
        .unwrap()
        .client("odd/user name-1")
        .await
        .unwrap();
    let long = "x".repeat(200);
    server.push_all(&json!({"type": "short"}));
    server.push_all(&json!({"type": "long", "text": long}));
    client.expect(event("long")).await.unwrap();
    let failed = client
        .expect_within(event("never"), ABSENT)
        .await
        .unwrap_err();
    let file = failed.transcript_file.as_ref().unwrap();
    assert_eq!(file.parent(), Some(dir.as_path()));
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("odd_user_name-1-") && name.ends_with(".jsonl"),
        "{name}"
    );
    let lines: Vec<&str> = failed.transcript.lines().collect();
    assert!(lines[1].ends_with(r#"{"type":"short"}"#), "{}", lines[1]);
    let shown = lines[2].split_once(" * ").unwrap().1;
    assert_eq!(shown.chars().count(), 161, "{shown}");
    assert!(shown.ends_with('…'), "{shown}");
}
