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

/// `/metrics` exports run latency as a Prometheus histogram: cumulative
/// buckets, a sum and a count, each run in the bucket of its latency.
#[tokio::test]
async fn run_latency_is_a_prometheus_histogram() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    alice.run("fast").await;
    // Four pauses of 60 ms: at least 240 ms.
    alice
        .user_message("slow", Some(json!({"step_delay_ms": 60})))
        .await;
    alice.until("agent_completed").await;
    server.wait_for_runs(2).await;
    let page = server
        .assert_metrics(&[
            "# TYPE ws_harness_run_latency_seconds histogram",
            "ws_harness_run_latency_seconds_count 2",
            r#"ws_harness_run_latency_seconds_bucket{le="+Inf"} 2"#,
        ])
        .await;
    let buckets: Vec<(f64, f64)> = page
        .lines()
        .filter_map(|l| l.strip_prefix(r#"ws_harness_run_latency_seconds_bucket{le=""#))
        .filter_map(|l| l.split_once(r#""} "#))
        .filter(|(le, _)| *le != "+Inf")
        .map(|(le, count)| (le.parse().unwrap(), count.parse().unwrap()))
        .collect();
    assert_eq!(buckets.len(), 13, "{page}");
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "bounds rise and counts are cumulative: {buckets:?}"
    );
    // The slow run is in no bucket below 240 ms; both are in the 10 s one.
    let count_at = |le: f64| buckets.iter().find(|(b, _)| *b == le).unwrap().1;
    assert!(count_at(0.1) <= 1.0, "{buckets:?}");
    assert_eq!(count_at(10.0), 2.0, "{buckets:?}");
    let sum = common::metric_value(&page, "ws_harness_run_latency_seconds_sum");
    assert!(sum >= 0.24, "{sum}");
}
