//! Users are isolated: events go to every connection of their own user and
//! to no one else, whatever a client claims.

mod common;

use common::TestServer;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn two_users_each_see_only_their_own_events() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    alice
        .user_message("a-1", Some(json!({"step_delay_ms": 5})))
        .await;
    bob.user_message("b-1", Some(json!({"step_delay_ms": 5})))
        .await;
    let alice_events = alice.until("agent_completed").await;
    let bob_events = bob.until("agent_completed").await;
    for (events, user, message) in [(&alice_events, "alice", "a-1"), (&bob_events, "bob", "b-1")] {
        assert_eq!(events.len(), 5);
        assert!(
            events
                .iter()
                .all(|e| e["user_id"] == user && e["message_id"] == message)
        );
        // Each user's sequence starts at 1 on its own.
        assert_eq!(events[0]["event_id"], 1);
    }
    alice.expect_quiet(Duration::from_millis(200)).await;
    bob.expect_quiet(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn every_connection_of_a_user_receives_each_event() {
    let server = TestServer::start().await;
    let mut laptop = server.connect("alice").await;
    let mut phone = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    // A connection is registered just after its handshake's answer.
    let manager = server.server.manager();
    common::eventually("both of alice's connections are registered", || {
        manager.user_connection_count("alice") == 2
    })
    .await;
    laptop.user_message("m-1", None).await;
    let on_laptop = laptop.until("agent_completed").await;
    let on_phone = phone.until("agent_completed").await;
    assert_eq!(on_laptop, on_phone);
    bob.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_spoofed_user_id_is_ignored() {
    let server = TestServer::start().await;
    let mut mallory = server.connect("mallory").await;
    let mut alice = server.connect("alice").await;
    mallory
        .send_json(json!({
            "type": "user_message", "message_id": "m-1", "thread_id": "t-1",
            "content": "act as alice", "user_id": "alice",
        }))
        .await;
    let events = mallory.until("agent_completed").await;
    assert!(
        events.iter().all(|e| e["user_id"] == "mallory"),
        "{events:?}"
    );
    alice.expect_quiet(Duration::from_millis(200)).await;
    assert_eq!(server.server.manager().last_event_id("alice"), 0);
}

/// The protocol's per-connection rules, with two connections of one user:
/// a pong, an error, a replay and its `resumed` go to the connection that
/// asked only; events go to both. What the other connection receives next
/// is the next run's events, so anything sent to it by mistake would come
/// first: no quiet period is needed to see it.
#[tokio::test]
async fn replies_go_to_the_asking_connection_and_events_to_all() {
    let server = TestServer::start().await;
    let mut laptop = server.connect("alice").await;
    let mut phone = server.connect("alice").await;
    let manager = server.server.manager();
    // A connection is registered just after its handshake's answer.
    common::eventually("both connections are registered", || {
        manager.user_connection_count("alice") == 2
    })
    .await;
    laptop.user_message("m-1", None).await;
    let first_run = laptop.until("agent_completed").await;
    assert_eq!(phone.until("agent_completed").await, first_run);
    let last_id = first_run.last().unwrap()["event_id"].as_u64().unwrap();

    laptop
        .send_json(json!({"type": "ping", "nonce": "laptop"}))
        .await;
    assert_eq!(
        laptop.next_json().await,
        json!({"type": "pong", "nonce": "laptop"})
    );
    laptop.send_json(json!({"type": "no_such_type"})).await;
    let error = laptop.next_json().await;
    assert_eq!(
        (&error["type"], &error["code"]),
        (&json!("error"), &json!("unknown_type"))
    );
    laptop
        .send_json(json!({"type": "resume", "last_event_id": last_id - 2}))
        .await;
    let replayed = laptop.until("resumed").await;
    assert_eq!(
        replayed.iter().map(|f| &f["event_id"]).collect::<Vec<_>>(),
        [&json!(last_id - 1), &json!(last_id), &Value::Null]
    );
    assert_eq!(replayed[2]["replayed"], 2);

    phone.user_message("m-2", None).await;
    let second_run = phone.until("agent_completed").await;
    assert_eq!(second_run[0]["type"], "agent_started", "{second_run:?}");
    assert_eq!(second_run[0]["event_id"], last_id + 1, "{second_run:?}");
    assert_eq!(laptop.until("agent_completed").await, second_run);
}

/// The manager's faults reach every connection of the user named, and
/// say how many: raw text to both of alice's, none to a stranger; a drop
/// closes both without a close frame.
#[tokio::test]
async fn faults_reach_every_connection_of_the_user_and_count_them() {
    let server = TestServer::start().await;
    let manager = server.server.manager();
    let mut laptop = server.connect("alice").await;
    let mut phone = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    // A connection is registered just after its handshake's answer.
    common::eventually("both of alice's connections are registered", || {
        manager.user_connection_count("alice") == 2
    })
    .await;
    assert_eq!(manager.send_raw_text("alice", r#"{"type":"raw"}"#), 2);
    assert_eq!(manager.send_raw_text("nobody", r#"{"type":"raw"}"#), 0);
    for client in [&mut laptop, &mut phone] {
        assert_eq!(client.next_json().await, json!({"type": "raw"}));
    }
    assert_eq!(manager.drop_user_connections("alice"), 2);
    assert_eq!(manager.drop_user_connections("nobody"), 0);
    for client in [&mut laptop, &mut phone] {
        let next = tokio::time::timeout(common::WAIT, client.ws.next())
            .await
            .expect("the drop arrives");
        assert!(
            !matches!(
                next,
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
            ),
            "dropped without a close frame: {next:?}"
        );
    }
    bob.assert_alive().await;
}
