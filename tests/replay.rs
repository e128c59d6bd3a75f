//! `resume`: replay of the user's buffered events, `replay_gap`, and
//! per-user buffers.

mod common;

use common::{TestServer, types};
use serde_json::{Value, json};
use std::time::Duration;
use ws_harness::server::{Limits, ServerConfig};

fn ids(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| f["event_id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn resume_after_a_mid_run_disconnect_loses_and_duplicates_nothing() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice
        .user_message(
            "m-1",
            Some(json!({"step_delay_ms": 60, "thinking_steps": 2})),
        )
        .await;
    let before: Vec<Value> = vec![alice.next_json().await, alice.next_json().await];
    drop(alice); // the run goes on while alice has no connection

    let mut again = server.connect("alice").await;
    again
        .send_json(json!({"type": "resume", "last_event_id": 2}))
        .await;
    let mut after = Vec::new();
    loop {
        let frame = again.next_json().await;
        if frame["type"] == "agent_completed" {
            after.push(frame);
            break;
        }
        if frame["type"] != "resumed" {
            after.push(frame);
        }
    }
    let all = [before, after].concat();
    assert_eq!(ids(&all), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        types(&all),
        [
            "agent_started",
            "agent_thinking",
            "agent_thinking",
            "tool_executing",
            "tool_completed",
            "agent_completed"
        ]
    );
    again.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn resume_replays_in_order_then_says_resumed() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.run("m-1").await;
    alice
        .send_json(json!({"type": "resume", "last_event_id": 2}))
        .await;
    let replay = alice.until("resumed").await;
    assert_eq!(ids(&replay[..3]), [3, 4, 5]);
    assert_eq!(
        replay[3],
        json!({"type": "resumed", "replayed": 3, "last_event_id": 5})
    );
    // Live events continue after the replay, numbered on.
    assert_eq!(ids(&alice.run("m-2").await), [6, 7, 8, 9, 10]);
}

#[tokio::test]
async fn a_resume_older_than_the_buffer_gets_replay_gap_first() {
    let limits = Limits {
        replay_buffer: 3,
        ..Limits::default()
    };
    let server = TestServer::with_config(ServerConfig::test_mode().limits(limits)).await;
    let mut alice = server.connect("alice").await;
    alice.run("m-1").await;
    alice
        .send_json(json!({"type": "resume", "last_event_id": 0}))
        .await;
    let gap = alice.next_json().await;
    assert_eq!(gap["type"], "error");
    assert_eq!(gap["code"], "replay_gap");
    assert_eq!(gap["oldest_event_id"], 3);
    let replay = alice.until("resumed").await;
    assert_eq!(ids(&replay[..3]), [3, 4, 5]);
    assert_eq!(replay[3]["replayed"], 3);
}

#[tokio::test]
async fn replay_is_per_user_only() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.run("m-1").await;
    let mut bob = server.connect("bob").await;
    bob.send_json(json!({"type": "resume", "last_event_id": 0}))
        .await;
    assert_eq!(
        bob.next_json().await,
        json!({"type": "resumed", "replayed": 0, "last_event_id": 0})
    );
}

#[tokio::test]
async fn a_resume_from_the_future_is_an_invalid_field() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice
        .send_json(json!({"type": "resume", "last_event_id": 41}))
        .await;
    let error = alice.next_json().await;
    assert_eq!(error["code"], "invalid_field");
    assert_eq!(error["field"], "last_event_id");
    assert!(error["message"].as_str().unwrap().contains("resume from 0"));
    alice.assert_alive().await;
}

#[tokio::test]
async fn the_server_tracks_each_users_session_across_reconnections() {
    use ws_harness::server::ReconnectionState;
    let server = TestServer::start().await;
    let manager = server.server.manager();
    let mut alice = server.connect("alice").await;
    alice.run("m-1").await;
    let session = manager.session("alice").unwrap();
    assert_eq!(
        session.state,
        ReconnectionState::Connected { connections: 1 }
    );
    assert_eq!(
        (
            session.connects,
            session.last_event_id,
            session.buffered_events
        ),
        (1, 5, 5)
    );

    drop(alice);
    common::eventually("alice is disconnected", || {
        manager.user_connection_count("alice") == 0
    })
    .await;
    assert!(matches!(
        manager.session("alice").unwrap().state,
        ReconnectionState::Disconnected { .. }
    ));

    let mut again = server.connect("alice").await;
    again
        .send_json(json!({"type": "resume", "last_event_id": 5}))
        .await;
    assert_eq!(again.next_json().await["type"], "resumed");
    let session = manager.session("alice").unwrap();
    assert_eq!(
        session.state,
        ReconnectionState::Connected { connections: 1 }
    );
    assert_eq!((session.connects, session.resumes), (2, 1));
    assert_eq!(session.oldest_buffered_event_id, Some(1));
}

/// After `replay_ttl` with no connection, a user's buffer is gone: a
/// `resume` gets `replay_gap` and nothing replayed, and the ids of the
/// next run go on from the last one, without a gap. Within the TTL, a
/// user who left keeps everything; a run that goes on without its user
/// keeps its events for a TTL after its last one, however long its
/// pauses; a user who never had an event leaves nothing behind.
#[tokio::test]
async fn after_the_replay_ttl_a_departed_user_keeps_only_its_next_event_id() {
    let ttl = Duration::from_secs(2);
    let limits = Limits {
        replay_ttl: ttl,
        ..Limits::default()
    };
    let server = TestServer::with_config(ServerConfig::test_mode().limits(limits)).await;
    let manager = server.server.manager();
    let mut alice = server.connect("alice").await;
    alice.run("m-1").await;
    let mut bob = server.connect("bob").await;
    bob.run("b-1").await;
    // Carol's run pauses longer than the TTL between its two events.
    let mut carol = server.connect("carol").await;
    carol
        .user_message(
            "c-1",
            Some(json!({"tools": [], "thinking_steps": 0, "step_delay_ms": 2500})),
        )
        .await;
    carol.next_json().await;
    drop(carol);
    let dave = server.connect("dave").await;
    drop(dave);
    drop(alice);
    common::eventually("alice and dave left", || {
        manager.user_connection_count("alice") + manager.user_connection_count("dave") == 0
    })
    .await;
    // Well within the TTL (the server looks every quarter TTL).
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(manager.session("alice").unwrap().buffered_events, 5);

    common::eventually("alice is forgotten", || {
        manager.session("alice").unwrap().buffered_events == 0
    })
    .await;
    let session = manager.session("alice").unwrap();
    assert_eq!(
        (session.last_event_id, session.connects),
        (5, 1),
        "{session:?}"
    );
    assert_eq!(manager.session("bob").unwrap().buffered_events, 5);
    assert!(manager.session("dave").is_none());

    let mut alice = server.connect("alice").await;
    alice
        .send_json(json!({"type": "resume", "last_event_id": 0}))
        .await;
    let gap = alice.next_json().await;
    assert_eq!(
        (&gap["code"], &gap["oldest_event_id"]),
        (&json!("replay_gap"), &json!(6)),
        "{gap}"
    );
    let resumed = alice.next_json().await;
    assert_eq!(
        (
            &resumed["type"],
            &resumed["replayed"],
            &resumed["last_event_id"]
        ),
        (&json!("resumed"), &json!(0), &json!(5)),
        "{resumed}"
    );
    assert_eq!(ids(&alice.run("m-2").await), [6, 7, 8, 9, 10]);

    // Carol's run ended more than a TTL after she left: all of it is kept,
    // then forgotten a TTL after its last event.
    server.wait_for_runs(4).await;
    assert_eq!(manager.session("carol").unwrap().buffered_events, 2);
    common::eventually("carol is forgotten", || {
        manager.session("carol").unwrap().buffered_events == 0
    })
    .await;
    assert_eq!(manager.last_event_id("carol"), 2);
}
