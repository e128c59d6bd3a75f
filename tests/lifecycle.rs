//! `/health`, `/metrics`, and a clean shutdown that closes with `1001`.

mod common;

use common::{TestServer, http_get};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use ws_harness::server::{Server, ServerConfig, ServerError};

#[tokio::test]
async fn health_reports_version_protocol_connections_and_uptime() {
    let server = TestServer::start().await;
    let before = server.health().await;
    assert_eq!(before["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(before["protocol"], 1);
    assert_eq!(before["connections"], 0);
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    // A pong proves each connection is registered.
    alice.assert_alive().await;
    bob.assert_alive().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after = server.health().await;
    assert_eq!(after["connections"], 2);
    assert!(after["uptime_ms"].as_u64().unwrap() >= before["uptime_ms"].as_u64().unwrap() + 20);
}

#[tokio::test]
async fn metrics_count_connections_runs_and_events() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.run("m-1").await;
    alice.run("m-2").await;
    server.wait_for_runs(2).await;
    let metrics = server
        .assert_metrics(&[
            "ws_harness_connections_open 1",
            "ws_harness_connections_total 1",
            "ws_harness_runs_started_total 2",
            "ws_harness_runs_completed_total 2",
            "ws_harness_events_sent_total 10",
            "ws_harness_flagged_runs 0",
            r#"ws_harness_performance_alert{alert="p99_run_latency"} 0"#,
        ])
        .await;
    let p50 = common::metric_value(
        &metrics,
        r#"ws_harness_run_latency_quantile_seconds{quantile="0.5"}"#,
    );
    assert!(p50 > 0.0 && p50 < 1.0, "{p50}");
    assert!(common::metric_value(&metrics, "ws_harness_events_per_second") > 0.0);
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001_and_frees_the_port() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    alice.assert_alive().await;
    // A run in flight does not hold shutdown up.
    alice
        .user_message("m-1", Some(serde_json::json!({"step_delay_ms": 5000})))
        .await;
    let closing = tokio::spawn(async move {
        let a = alice.expect_close().await;
        let b = bob.expect_close().await;
        (a, b)
    });
    server.shutdown().await;
    let (a, b) = closing.await.unwrap();
    assert_eq!(a.code, CloseCode::Away);
    assert_eq!(b.code, CloseCode::Away);
    assert_eq!(a.reason, "server shutting down");
    // The listener is gone: the port can be bound again.
    TcpListener::bind(addr).await.expect("port released");
}

#[tokio::test]
async fn shutdown_with_no_connections_returns_at_once_and_cannot_serve_again() {
    let server = Server::new(ServerConfig::test_mode()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Shut down once the server has answered.
    let (answered, shutdown) = tokio::sync::oneshot::channel::<()>();
    let serving = server.serve(listener, async {
        let _ = shutdown.await;
    });
    let (served, _) = tokio::join!(serving, async {
        let (status, _) = http_get(addr, "/health").await;
        assert_eq!(status, 200);
        answered.send(()).unwrap();
    });
    served.unwrap();
    let again = server
        .serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), async {})
        .await;
    assert!(
        matches!(again, Err(ServerError::AlreadyServed)),
        "{again:?}"
    );
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let no_secret = ServerConfig {
        jwt_secret: None,
        ..ServerConfig::with_secret("x")
    };
    let err = Server::new(no_secret).unwrap_err();
    assert!(matches!(err, ServerError::MissingSecret));
    assert!(err.to_string().contains("--jwt-secret"), "{err}");

    let published = ServerConfig::with_secret(ws_harness::protocol::auth::TEST_JWT_SECRET);
    assert!(matches!(
        Server::new(published),
        Err(ServerError::TestSecretOutsideTestMode)
    ));

    let mut zero_queue = ServerConfig::test_mode();
    zero_queue.limits.outbound_queue = 0;
    let err = Server::new(zero_queue).unwrap_err();
    assert!(err.to_string().contains("outbound_queue"), "{err}");
}

#[tokio::test]
async fn idle_exit_stops_a_server_nobody_uses_but_not_one_in_use() {
    let config = ServerConfig {
        idle_exit: Some(Duration::from_millis(300)),
        ..ServerConfig::test_mode()
    };
    let server = Server::new(config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve(listener, std::future::pending()).await }
    });
    // In use for longer than the idle period: still serving.
    let token =
        ws_harness::protocol::auth::JwtAuth::new(ws_harness::protocol::auth::TEST_JWT_SECRET)
            .unwrap()
            .mint("alice", Duration::from_secs(60))
            .unwrap();
    let request = || {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{addr}/ws"),
            )
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };
    let (ws, _) = tokio_tungstenite::connect_async(request()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Still accepting: a server on its way out has closed its listener.
    let (second, _) = tokio_tungstenite::connect_async(request())
        .await
        .expect("a server in use keeps serving");
    drop((ws, second));
    // Unused: it stops by itself.
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the idle server exits")
        .unwrap()
        .unwrap();
}
