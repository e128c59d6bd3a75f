//! The container tier against the real Docker engine. These need Docker (the
//! reference image is built on first use); `.ci/run` runs them with
//! `cargo test -p ws-harness-cli --test container -- --ignored` and `WS_HARNESS_REQUIRE=container`,
//! so a broken Docker path fails CI instead of falling back.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};
use ws_harness::container::CONTAINER_LABEL;
use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory, event};

const NEEDS: &str = "needs Docker: cargo test -p ws-harness-cli --test container -- --ignored";

fn container_config() -> RealWebSocketTestConfig {
    RealWebSocketTestConfig::builder()
        .require(BackendKind::Container)
        .build()
        .unwrap()
}

fn check_json(extra_env: &[(&str, &str)]) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    // The first check may build the reference image: minutes.
    let output: Output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["check", "--users", "2", "--json"])
            .env("WS_HARNESS_REQUIRE", "container")
            .envs(extra_env.iter().copied()),
        Duration::from_secs(600),
    );
    let took = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (serde_json::from_slice(&output.stdout).unwrap(), took)
}

async fn container_exists(id: &str) -> bool {
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    docker.inspect_container(id, None).await.is_ok()
}

#[tokio::test]
#[ignore = "needs Docker: cargo test -p ws-harness-cli --test container -- --ignored"]
async fn the_container_tier_serves_the_golden_path() {
    let _ = NEEDS;
    let config = container_config();
    let info = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(
        info.tier,
        Some(BackendKind::Container),
        "{}",
        info.resolution
    );
    assert!(info.container.is_some());
    let factory = TestClientFactory::new(config, info).unwrap();
    let mut alice = factory.client("container-alice").await.unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    alice.expect_required_events("m-1").await.unwrap();

    // A failing expectation keeps the container's logs and prints their path.
    alice.set_event_timeout(Duration::from_millis(200));
    let err = alice.expect(event("never_sent")).await.unwrap_err();
    let logs = err
        .backend_logs
        .as_ref()
        .expect("a container backend")
        .as_ref()
        .unwrap()
        .clone();
    assert!(
        std::fs::read_to_string(&logs)
            .unwrap()
            .contains("listening on 0.0.0.0:8765")
    );
    assert!(
        err.to_string()
            .contains(&format!("backend logs: {}", logs.display())),
        "{err}"
    );
}

#[test]
#[ignore = "needs Docker: cargo test -p ws-harness-cli --test container -- --ignored"]
fn a_running_container_is_reused_by_the_next_process() {
    let (first, first_took) = check_json(&[]);
    let (second, second_took) = check_json(&[]);
    assert_eq!(first["backend"]["kind"], "container");
    let id = first["backend"]["container_id"].as_str().unwrap();
    assert_eq!(
        second["backend"]["container_id"].as_str(),
        Some(id),
        "the second process attached to the same container"
    );
    println!(
        "check through the container: first process {first_took:?}, second (reusing) {second_took:?}"
    );
}

#[tokio::test]
#[ignore = "needs Docker: cargo test -p ws-harness-cli --test container -- --ignored"]
async fn no_container_outlives_the_run() {
    let (report, _) = check_json(&[("WS_HARNESS_CONTAINER_IDLE_EXIT", "2s")]);
    let id = report["backend"]["container_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The run is over; the container's server exits when idle and Docker removes it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while container_exists(&id).await {
        assert!(
            Instant::now() < deadline,
            "container {id} outlived the run by 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // No container of the project lingers after exiting: each is removed
    // when it stops (others may be running, or stopping this moment).
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let filters = std::collections::HashMap::from([
        ("label".to_owned(), vec![CONTAINER_LABEL.to_owned()]),
        (
            "status".to_owned(),
            vec!["exited".to_owned(), "dead".to_owned()],
        ),
    ]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    loop {
        let lingering = docker.list_containers(Some(options.clone())).await.unwrap();
        if lingering.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stopped containers were not removed: {lingering:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
