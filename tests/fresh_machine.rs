//! A new user's machine: no reference image and no container of the
//! project in the engine, and a crate that only adds ws-harness as a
//! dev-dependency (`fixtures/readme-example`) built into an empty target
//! directory. Its tests, with the container tier required, get the
//! container tier back: the harness builds the reference image itself.
//!
//! Removes every ws-harness image and container of this engine, so it runs
//! only when asked: `.ci/run` runs it with `-- --ignored`.

mod common;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use ws_harness::container::CONTAINER_LABEL;

/// The reference image's repository.
const REFERENCE: &str = "ws-harness";

async fn reference_images(docker: &Docker) -> Vec<String> {
    let filters = HashMap::from([("reference", vec![REFERENCE])]);
    let options = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    docker
        .list_images(Some(options))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|image| image.repo_tags)
        .collect()
}

/// Removes the project's containers, compose networks and reference
/// images: the engine of a machine that never ran ws-harness.
async fn forget_everything(docker: &Docker) {
    let filters = HashMap::from([("label", vec![CONTAINER_LABEL])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    for container in docker.list_containers(Some(options)).await.unwrap() {
        let force = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = docker
            .remove_container(&container.id.unwrap(), Some(force))
            .await;
    }
    // The networks of compose projects the container tier started.
    let filters = HashMap::from([("label", vec!["com.docker.compose.project"])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    for network in docker.list_networks(Some(options)).await.unwrap() {
        if network
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("wsh_"))
        {
            let _ = docker.remove_network(&network.id.unwrap()).await;
        }
    }
    for image in reference_images(docker).await {
        let force = RemoveImageOptionsBuilder::default().force(true).build();
        docker
            .remove_image(&image, Some(force), None)
            .await
            .unwrap();
    }
    assert!(reference_images(docker).await.is_empty());
}

#[tokio::test]
#[ignore = "removes every ws-harness image and container of the engine; .ci/run runs it"]
async fn a_dependent_crate_with_an_empty_target_gets_the_container_tier_on_a_machine_without_the_image()
 {
    let docker = Docker::connect_with_defaults().unwrap();
    forget_everything(&docker).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("fresh-machine");
    let _ = std::fs::remove_dir_all(&target);

    // A build from nothing and the reference image: minutes, not an hour.
    let run = common::output_within(
        Command::new(env!("CARGO"))
            .args(["test", "--manifest-path"])
            .arg(root.join("fixtures/readme-example/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .env("WS_HARNESS_REQUIRE", "container")
            .env_remove("WS_HARNESS_BACKEND")
            .env_remove("WS_HARNESS_URL"),
        std::time::Duration::from_secs(40 * 60),
    );
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{output}");
    assert!(
        output.contains("ws-harness: building the reference image"),
        "the harness says why the first run takes minutes:\n{output}"
    );
    let images = reference_images(&docker).await;
    assert_eq!(images.len(), 1, "{images:?}");
    println!(
        "{}",
        output
            .lines()
            .filter(|l| l.starts_with("ws-harness:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
