//! The event monitor flags runs without their required events; the
//! performance monitor measures runs and raises threshold alerts; both show
//! on `/metrics`.

mod common;

use common::TestServer;
use serde_json::json;
use std::time::Duration;
use ws_harness::protocol::EventType;
use ws_harness::server::{AlertKind, PerformanceThresholds, ServerConfig};

#[tokio::test]
async fn a_run_missing_a_required_event_is_flagged() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.run("good").await;
    alice
        .user_message("bad", Some(json!({"fail_at": "agent_thinking"})))
        .await;
    alice.until("agent_error").await;
    alice
        .user_message("no-tools", Some(json!({"tools": []})))
        .await;
    alice.until("agent_completed").await;
    server.wait_for_runs(3).await;
    let monitor = server.server.event_monitor();
    let metrics = monitor.metrics();
    assert_eq!(
        (metrics.runs, metrics.complete_runs, metrics.flagged_runs),
        (3, 1, 2)
    );
    let flagged = monitor.flagged();
    assert_eq!(flagged[0].message_id, "bad");
    assert_eq!(
        flagged[0].missing,
        [
            EventType::ToolExecuting,
            EventType::ToolCompleted,
            EventType::AgentCompleted
        ]
    );
    assert_eq!(flagged[1].message_id, "no-tools");
    assert_eq!(
        flagged[1].missing,
        [EventType::ToolExecuting, EventType::ToolCompleted]
    );

    // Timings are kept per run, in emission order.
    let good = &monitor.recent_runs()[0];
    assert_eq!(good.message_id, "good");
    let ids: Vec<u64> = good.timings().iter().map(|t| t.event_id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert!(
        good.timings()
            .windows(2)
            .all(|w| w[0].offset <= w[1].offset)
    );

    server
        .assert_metrics(&[
            "ws_harness_flagged_runs 2",
            r#"ws_harness_missing_required_events{event="tool_completed"} 2"#,
            r#"ws_harness_missing_required_events{event="agent_completed"} 1"#,
        ])
        .await;
}

#[tokio::test]
async fn crossing_a_threshold_raises_an_alert() {
    let mut config = ServerConfig::test_mode();
    config.performance_thresholds = PerformanceThresholds {
        max_p99_run_latency: Some(Duration::from_millis(30)),
        ..Default::default()
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.connect("alice").await;
    alice.run("fast").await;
    alice
        .user_message("slow", Some(json!({"step_delay_ms": 20})))
        .await;
    alice.until("agent_completed").await;
    server.wait_for_runs(2).await;
    let snapshot = server.server.performance().snapshot();
    assert!(snapshot.max >= Duration::from_millis(80), "{snapshot:?}");
    assert_eq!(snapshot.alerts.len(), 1, "{snapshot:?}");
    assert_eq!(snapshot.alerts[0].kind, AlertKind::P99RunLatency);
    server
        .assert_metrics(&[
            r#"ws_harness_performance_alert{alert="p99_run_latency"} 1"#,
            r#"ws_harness_performance_alert{alert="failed_run_ratio"} 0"#,
        ])
        .await;
}
