//! Per-user rate limits, a flooding user, and a client that does not read.

mod common;

use common::{TestServer, refused, types};
use serde_json::json;
use std::time::Duration;
use tokio::net::TcpSocket;
use ws_harness::protocol::REQUIRED_EVENTS;
use ws_harness::server::{Limits, RateLimitConfig, ServerConfig};

fn rates(rates: RateLimitConfig) -> ServerConfig {
    ServerConfig::test_mode().rate_limits(rates)
}

#[tokio::test]
async fn over_the_message_rate_a_frame_is_refused_with_a_truthful_retry_after() {
    let config = rates(RateLimitConfig {
        // One frame a second once the burst is spent: the four frames
        // below are sent back to back, before any answer is read, so they
        // reach the server within it even on a busy machine.
        messages_per_second: 1,
        message_burst: 3,
        ..Default::default()
    });
    let server = TestServer::with_config(config).await;
    let mut alice = server.connect("alice").await;
    for n in 0..3 {
        alice
            .send_json(json!({"type": "ping", "nonce": format!("p-{n}")}))
            .await;
    }
    alice.user_message("m-over", None).await;
    for n in 0..3 {
        assert_eq!(
            alice.next_json().await,
            json!({"type": "pong", "nonce": format!("p-{n}")})
        );
    }
    let refused = alice.next_json().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "rate_limited");
    assert_eq!(refused["message_id"], "m-over");
    let retry_after_ms = refused["retry_after_ms"].as_u64().unwrap();
    assert!(
        (1..=1000).contains(&retry_after_ms),
        "one frame a second: {refused}"
    );
    assert_eq!(
        server.server.manager().last_event_id("alice"),
        0,
        "the refused message started no run"
    );

    // Retrying after exactly retry_after_ms succeeds.
    tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
    alice.assert_alive().await;

    // Other users have their own allowance.
    server.connect("bob").await.assert_alive().await;
    server
        .assert_metrics(&[r#"ws_harness_rate_limit_rejections_total{kind="message"} 1"#])
        .await;
}

#[tokio::test]
async fn over_the_connection_rate_a_handshake_gets_429_with_retry_after() {
    let config = rates(RateLimitConfig {
        connections_per_second: 1,
        connection_burst: 2,
        ..Default::default()
    });
    let server = TestServer::with_config(config).await;
    let _first = server.connect("alice").await;
    let _second = server.connect("alice").await;
    let (status, body) = refused(server.request(&server.token("alice"))).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "rate_limited");
    assert!(
        (1..=1000).contains(&body["retry_after_ms"].as_u64().unwrap()),
        "{body}"
    );

    // The raw response carries Retry-After in seconds.
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {}\r\n\r\n",
        server.token("alice")
    );
    let raw = raw_exchange(server.addr, &request).await;
    assert!(raw.starts_with("HTTP/1.1 429"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{raw}"
    );

    // Both refusals are counted, by kind; the accepted handshakes are not.
    server
        .assert_metrics(&[
            r#"ws_harness_rate_limit_rejections_total{kind="connection"} 2"#,
            "ws_harness_connections_total 2",
        ])
        .await;

    // Bob is not held back by alice's attempts.
    server.connect("bob").await.assert_alive().await;
}

async fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(common::WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_flooding_user_is_refused_while_a_bystander_is_served() {
    const FLOOD: usize = 3000;
    let server = TestServer::start().await;
    let mut bob = server.connect("bob").await;
    // The bystander's run is whole: its five events, none refused.
    let mut whole_run = async |id: &str| {
        bob.user_message(id, Some(json!({"step_delay_ms": 20})))
            .await;
        let events = bob.until("agent_completed").await;
        assert_eq!(
            types(&events),
            REQUIRED_EVENTS.map(|e| e.as_str()),
            "{events:?}"
        );
        assert!(events.iter().all(|e| e["user_id"] == "bob"));
    };
    whole_run("b-quiet").await;

    let mut mallory = server.connect("mallory").await;
    let flood = tokio::spawn(async move {
        for i in 0..FLOOD {
            mallory
                .user_message(&format!("flood-{i}"), Some(json!({"tools": []})))
                .await;
        }
        // Every frame either started a run or was refused.
        let (mut started, mut refused) = (0, 0);
        while started + refused < FLOOD {
            let frame = mallory.next_json().await;
            match frame["type"].as_str() {
                Some("agent_started") => started += 1,
                Some("error") if frame["code"] == "rate_limited" => refused += 1,
                _ => {}
            }
        }
        (started, refused)
    });
    whole_run("b-flooded").await;
    let (started, refused) = flood.await.unwrap();
    assert!(
        refused >= 1000,
        "the flood was held to the rate: {started} ran, {refused} refused"
    );
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_and_its_events_stay_replayable() {
    let limits = Limits {
        outbound_queue: 8,
        write_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let config = rates(RateLimitConfig {
        messages_per_second: 10_000,
        message_burst: 10_000,
        ..Default::default()
    })
    .limits(limits);
    let server = TestServer::with_config(config).await;

    // A client with a tiny receive window that never reads.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        server.request(&server.token("slow")),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    let mut slow = common::Client { ws };
    let big = json!({"thinking_steps": 8, "tools": ["a", "b", "c", "d", "e", "f", "g", "h"]});
    for i in 0..400 {
        slow.send_json(json!({
            "type": "user_message", "message_id": format!("m-{i}"), "thread_id": "t",
            "content": "x".repeat(200), "scenario": big,
        }))
        .await;
    }
    let manager = server.server.manager();
    common::eventually("the slow reader is dropped", || {
        manager.user_connection_count("slow") == 0
    })
    .await;
    let (_, metrics) = server.get("/metrics").await;
    let dropped = common::metric_value(&metrics, "ws_harness_slow_consumer_disconnects_total");
    assert!(dropped >= 1.0, "{metrics}");
    // Every run it started goes on without it, its events kept for
    // replay; once they have all ended, nothing is sent live any more.
    let mut runs_ended = false;
    for _ in 0..500 {
        let (_, metrics) = server.get("/metrics").await;
        let count = |name| common::metric_value(&metrics, name);
        if count("ws_harness_runs_started_total")
            == count("ws_harness_runs_completed_total") + count("ws_harness_runs_failed_total")
        {
            runs_ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(runs_ended, "the slow reader's runs did not end in 10 s");
    let last = manager.last_event_id("slow");
    assert!(last > 8, "more events than the outbound queue: {last}");
    // A resume from the start replays what the buffer holds: from event 1,
    // or, when it overflowed, from the `oldest_event_id` a `replay_gap`
    // names; either way every id from there to the last, once, in order.
    let mut again = server.connect("slow").await;
    again
        .send_json(json!({"type": "resume", "last_event_id": 0}))
        .await;
    let mut first = 1;
    let mut replayed = Vec::new();
    let resumed = loop {
        let frame = again.next_json().await;
        match frame["type"].as_str() {
            Some("error") => {
                assert_eq!(frame["code"], "replay_gap", "{frame}");
                assert!(replayed.is_empty(), "the gap comes first: {frame}");
                first = frame["oldest_event_id"].as_u64().unwrap();
            }
            Some("resumed") => break frame,
            _ => replayed.push(frame["event_id"].as_u64().unwrap()),
        }
    };
    assert_eq!(replayed, (first..=last).collect::<Vec<_>>());
    assert_eq!(resumed["replayed"], replayed.len());
    assert_eq!(resumed["last_event_id"], last);
    // Others are still served.
    server.connect("bob").await.assert_alive().await;
}
