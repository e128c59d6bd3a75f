//! Bad input: each recoverable error code keeps the connection open, each
//! protocol violation closes it with its RFC 6455 code, and no bad client
//! takes the server down or disturbs another user.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use ws_harness::server::{Limits, ServerConfig};

async fn error_for(client: &mut common::Client, frame: &str) -> Value {
    client.send_text(frame).await;
    let reply = client.next_json().await;
    assert_eq!(reply["type"], "error", "{frame} -> {reply}");
    assert!(
        reply.get("event_id").is_none(),
        "errors carry no event_id: {reply}"
    );
    assert!(!reply["message"].as_str().unwrap().is_empty());
    reply
}

#[tokio::test]
async fn each_recoverable_error_code_leaves_the_connection_open() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let big = "x".repeat(64 * 1024 + 1);
    let too_large =
        json!({"type":"user_message","message_id":"m-big","thread_id":"t","content": big})
            .to_string();
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{not json".into(), "invalid_json", None),
        ("[1, 2, 3]".into(), "invalid_json", None),
        (r#"{"content":"no type"}"#.into(), "unknown_type", None),
        (r#"{"type":"dance"}"#.into(), "unknown_type", None),
        (r#"{"type":"user_message","message_id":"m-1","content":"c"}"#.into(), "invalid_field", Some("thread_id")),
        (r#"{"type":"user_message","message_id":"m-1","thread_id":"t","content":7}"#.into(), "invalid_field", Some("content")),
        (r#"{"type":"user_message","message_id":"m-1","thread_id":"t","content":"c","scenario":{"thinking_steps":99}}"#.into(), "invalid_field", Some("scenario.thinking_steps")),
        (r#"{"type":"resume","last_event_id":"seven"}"#.into(), "invalid_field", Some("last_event_id")),
        (too_large, "message_too_large", None),
    ];
    for (frame, code, field) in &cases {
        let reply = error_for(&mut alice, frame).await;
        assert_eq!(reply["code"], *code, "{reply}");
        assert_eq!(reply["field"].as_str(), *field, "{reply}");
        alice.assert_alive().await;
    }
    // Errors name the message they answer when it had a usable message_id.
    let reply = error_for(&mut alice, &cases[4].0).await;
    assert_eq!(reply["message_id"], "m-1");
    let reply = error_for(&mut alice, &cases[8].0).await;
    assert_eq!(reply["message_id"], "m-big");
    // None of that produced an event, and a good message still runs.
    assert_eq!(server.server.manager().last_event_id("alice"), 0);
    assert_eq!(alice.run("m-2").await.len(), 5);
    server
        .assert_metrics(&[r#"ws_harness_protocol_errors_total{code="invalid_json"} 2"#])
        .await;
}

#[tokio::test]
async fn ping_is_answered_with_its_nonce() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.send_json(json!({"type":"ping","nonce":"abc"})).await;
    assert_eq!(
        alice.next_json().await,
        json!({"type":"pong","nonce":"abc"})
    );
    alice.send_json(json!({"type":"ping"})).await;
    assert_eq!(alice.next_json().await, json!({"type":"pong"}));
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.send(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(alice.expect_close().await.code, CloseCode::Unsupported);
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let raw = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    alice.send(Message::Frame(raw)).await;
    assert_eq!(alice.expect_close().await.code, CloseCode::Invalid);
}

#[tokio::test]
async fn a_frame_with_a_reserved_bit_closes_with_1002() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let mut raw = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
    // RSV1 means an extension, and none was negotiated.
    raw.header_mut().rsv1 = true;
    alice.send(Message::Frame(raw)).await;
    let close = alice.expect_close().await;
    assert_eq!(close.code, CloseCode::Protocol, "{close:?}");
    assert_eq!(close.reason, "WebSocket protocol violation");
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let limits = Limits {
        max_message_size: 100 * 1024,
        max_frame_size: 100 * 1024,
        ..Limits::default()
    };
    let server = TestServer::with_config(ServerConfig::test_mode().limits(limits)).await;
    let mut alice = server.connect("alice").await;
    alice.send_text(&"x".repeat(100 * 1024 + 1)).await;
    assert_eq!(alice.expect_close().await.code, CloseCode::Size);

    // The same limit holds for a message split into small frames.
    let mut bob = server.connect("bob").await;
    let part = vec![b'x'; 40 * 1024];
    bob.send(Message::Frame(Frame::message(
        part.clone(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await;
    bob.send(Message::Frame(Frame::message(
        part.clone(),
        OpCode::Data(Data::Continue),
        false,
    )))
    .await;
    bob.send(Message::Frame(Frame::message(
        part,
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    assert_eq!(bob.expect_close().await.code, CloseCode::Size);
}

/// The frame limit is its own: a frame over it closes with 1009 although
/// its message is under the message limit, and a message over the frame
/// limit, sent in frames under it, is served.
#[tokio::test]
async fn a_frame_over_the_frame_limit_closes_with_1009_under_the_message_limit() {
    let limits = Limits {
        max_message_size: 256 * 1024,
        max_frame_size: 16 * 1024,
        ..Limits::default()
    };
    let server = TestServer::with_config(ServerConfig::test_mode().limits(limits)).await;
    let message = json!({
        "type": "user_message",
        "message_id": "m-big",
        "thread_id": "t-1",
        "content": "x".repeat(40 * 1024),
    })
    .to_string();

    let mut alice = server.connect("alice").await;
    alice.send_text(&message).await;
    assert_eq!(alice.expect_close().await.code, CloseCode::Size);

    let mut bob = server.connect("bob").await;
    let parts: Vec<&[u8]> = message.as_bytes().chunks(10 * 1024).collect();
    for (i, part) in parts.iter().enumerate() {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        let last = i + 1 == parts.len();
        bob.send(Message::Frame(Frame::message(
            part.to_vec(),
            OpCode::Data(opcode),
            last,
        )))
        .await;
    }
    let run = bob.until("agent_completed").await;
    assert_eq!(run[0]["message_id"], "m-big", "{run:?}");
}

#[tokio::test]
async fn a_bad_client_does_not_disturb_another_user() {
    let server = TestServer::start().await;
    let mut bystander = server.connect("bob").await;
    let mut vandal = server.connect("mallory").await;
    bystander
        .user_message("b-1", Some(json!({"step_delay_ms": 20})))
        .await;
    for _ in 0..50 {
        vandal.send_text("{garbage").await;
    }
    vandal.send(Message::binary(vec![0; 16])).await;
    let events = bystander.until("agent_completed").await;
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e["user_id"] == "bob"));
    // The vandal is closed (1003 for the binary frame); once its
    // connection is gone, bob's is the only one.
    assert_eq!(u16::from(vandal.expect_close().await.code), 1003);
    let manager = server.server.manager();
    common::eventually("the vandal's connection is gone", || {
        manager.connection_count() == 1
    })
    .await;
    assert_eq!(
        server.health().await["connections"],
        1,
        "the vandal was closed, bob stays"
    );
    bystander.assert_alive().await;
}

#[tokio::test]
async fn idle_and_half_open_handshakes_are_dropped_after_the_timeout() {
    let config = ServerConfig::test_mode().handshake_timeout(Duration::from_millis(300));
    let server = TestServer::with_config(config).await;

    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut half_open = TcpStream::connect(server.addr).await.unwrap();
    half_open
        .write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    for stream in [&mut idle, &mut half_open] {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the server drops the handshake well within 5 s");
        // Closed: either end of stream or a reset.
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // A proper client is still served.
    server.connect("alice").await.assert_alive().await;
}

#[tokio::test]
async fn websocket_ping_frames_get_a_pong_frame() {
    use futures_util::StreamExt;
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.send(Message::Ping(vec![7, 7].into())).await;
    let pong = tokio::time::timeout(common::WAIT, alice.ws.next())
        .await
        .unwrap();
    assert!(
        matches!(&pong, Some(Ok(Message::Pong(data))) if data[..] == [7, 7]),
        "{pong:?}"
    );
}
