//! `ws_harness::load` against a server whose latency the test sets: every
//! event of the reference server delayed by 20 ms, so a run of five events
//! takes at least 100 ms, and the percentiles must say so in milliseconds,
//! in order.

mod common;

use common::TestServer;
use std::time::Duration;
use ws_harness::load::{self, LoadPlan};
use ws_harness::scenario::ScenarioFile;
use ws_harness::{RealWebSocketTestConfig, TestClientFactory};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_follow_the_latency_the_server_was_given() {
    let server = TestServer::start().await;
    server.server.set_event_latency(Duration::from_millis(20));
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(server.url().parse().unwrap())
        .jwt_secret(ws_harness::protocol::auth::TEST_JWT_SECRET)
        .build()
        .unwrap();
    let factory = TestClientFactory::from_config(config).await.unwrap();
    let plan = LoadPlan {
        scenario: ScenarioFile::golden_path(),
        users: 3,
        user_prefix: "latency".to_owned(),
        runs: 4,
        concurrency: 3,
        server_pid: None,
    };
    let report = load::run(&factory, &plan).await;
    assert!(report.passed(), "{}", report.render());
    assert_eq!((report.completed_runs, report.frames), (12, 60));
    // Per step: the user_message goes at once, its events take 100 ms.
    let steps = &report.to_json()["steps"];
    assert!(steps[1]["p50_ms"].as_f64().unwrap() >= 100.0, "{steps}");
    assert!(steps[0]["p50_ms"].as_f64().unwrap() < 100.0, "{steps}");
    let latency = &report.to_json()["run_latency"];
    let ms = |key: &str| latency[key].as_f64().unwrap();
    let ordered = ["p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms"].map(ms);
    assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{latency}");
    // Five events 20 ms apart at the least; a loaded machine adds, so the
    // upper bound is loose (it only rules out the wrong unit).
    assert!(ms("p50_ms") >= 100.0, "{latency}");
    assert!(ms("max_ms") < 10_000.0, "{latency}");
    let runs_per_second = report.runs_per_second();
    assert!(
        runs_per_second > 0.0 && runs_per_second <= 3.0 * 1000.0 / 100.0,
        "three users, each run at least 100 ms: {runs_per_second}"
    );
}
