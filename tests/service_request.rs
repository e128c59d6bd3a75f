//! The container tier with the service given as a testcontainers request
//! (feature `testcontainers`): websocat (crates.io, static, `FROM
//! scratch`) as a `GenericImage` with a second websocat as its dependency
//! on their network, and as an `Image` written here the way
//! testcontainers-modules writes its images. Needs Docker and `WEBSOCAT`;
//! `.ci/run` runs these with `--features testcontainers -- --ignored`.

mod common;

use bollard::Docker;
use common::websocat::{ECHO, IMAGE, PORT, build_named_image, hello_suite};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;
use testcontainers::core::{ContainerPort, IntoContainerPort, WaitFor};
use testcontainers::{GenericImage, Image, ImageExt};
use ws_harness::chain::{BackendError, Chain};
use ws_harness::config::ContractSource;
use ws_harness::container::ServiceRequest;
use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig};

/// Set in the helper process of the engine test.
const HELPER_VAR: &str = "WS_HARNESS_TEST_REQUEST_HELPER";

const ECHO_CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/echo.schema.json"
);

fn websocat_image() -> GenericImage {
    let (name, tag) = IMAGE.split_once(':').unwrap();
    GenericImage::new(name, tag).with_exposed_port(PORT.tcp())
}

fn config() -> RealWebSocketTestConfig {
    RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::Container])
        .contract_source(ContractSource::File(ECHO_CONTRACT.into()))
        .event_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The chain with `request` as its container tier, which it chose.
async fn in_container(config: &RealWebSocketTestConfig, request: ServiceRequest) -> BackendInfo {
    let backend = Chain::new(config)
        .container_request(request)
        .resolve()
        .await
        .unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::Container),
        "{}",
        backend.resolution
    );
    backend
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_generic_image_with_a_dependency_on_their_network_is_the_container_tier() {
    build_named_image().await;
    // The gateway forwards each connection to `echo`, which it reaches by
    // name on the network they share: a round trip proves both run.
    let request = || {
        let echo = websocat_image().with_cmd(["-t", "ws-l:0.0.0.0:9000", "mirror:"]);
        let gateway = websocat_image().with_cmd(["-t", "ws-l:0.0.0.0:8080", "ws://echo:9000/"]);
        ServiceRequest::new(gateway, PORT).with_dependency("echo", echo)
    };
    let config = config();
    let backend = in_container(&config, request()).await;
    let container = backend.container.clone().unwrap();
    assert_eq!(container.service, format!("testcontainers request {IMAGE}"));
    hello_suite(config.clone(), backend).await;

    // Both carry ws-harness's labels (reuse, and the sweep of gone runs),
    // and share a network of their own.
    let docker = Docker::connect_with_local_defaults().unwrap();
    let inspected = docker
        .inspect_container(
            &container.id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let labels = inspected.config.unwrap().labels.unwrap();
    assert!(labels.contains_key("dev.ws-harness.owner"), "{labels:?}");
    let definition = labels.get("dev.ws-harness.definition").unwrap();
    let networks = inspected.network_settings.unwrap().networks.unwrap();
    assert!(
        networks.contains_key(&format!("wsh-{definition}")),
        "{networks:?}"
    );

    // The same request again in this process: the same containers.
    let again = in_container(&config, request()).await;
    assert_eq!(again.container.unwrap().id, container.id);
}

/// An image as testcontainers-modules writes one (`Redis`, `Postgres`):
/// a type with its name, tag, command, ports and wait conditions.
#[derive(Debug, Clone, Default)]
struct WebsocatEcho;

impl Image for WebsocatEcho {
    fn name(&self) -> &str {
        IMAGE.split_once(':').unwrap().0
    }

    fn tag(&self) -> &str {
        IMAGE.split_once(':').unwrap().1
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        Vec::new()
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        ECHO
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[ContainerPort::Tcp(PORT)]
    }
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_module_style_image_is_the_container_tier() {
    build_named_image().await;
    let config = config();
    let request = ServiceRequest::new(WebsocatEcho.with_env_var("RUN", "module"), PORT);
    let backend = in_container(&config, request).await;
    hello_suite(config, backend).await;
}

/// testcontainers-modules' images are accepted as they are (compiled
/// only: they need a registry to pull from, which this machine lacks).
#[allow(dead_code)]
fn a_modules_image_is_accepted() -> ServiceRequest {
    ServiceRequest::new(
        testcontainers_modules::redis::Redis::default(),
        testcontainers_modules::redis::REDIS_PORT,
    )
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn an_engine_testcontainers_cannot_reach_is_a_skip_saying_how_to_agree() {
    // testcontainers reads DOCKER_HOST from the process, the harness from
    // its config: a helper process gives them different answers.
    if std::env::var_os(HELPER_VAR).is_none() {
        let helper = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "an_engine_testcontainers_cannot_reach_is_a_skip_saying_how_to_agree",
                "--ignored",
                "--nocapture",
            ])
            .env(HELPER_VAR, "1")
            .env("DOCKER_HOST", "unix:///tmp/ws-harness-no-engine-here.sock")
            .output()
            .unwrap();
        let output = String::from_utf8_lossy(&helper.stdout).into_owned()
            + &String::from_utf8_lossy(&helper.stderr);
        assert!(helper.status.success(), "{output}");
        assert!(output.contains("1 passed"), "{output}");
        return;
    }
    let config = RealWebSocketTestConfig::builder()
        .environment(HashMap::from([(
            "DOCKER_HOST".to_owned(),
            "unix:///var/run/docker.sock".to_owned(),
        )]))
        .backend([BackendKind::Container])
        .build()
        .unwrap();
    let err = Chain::new(&config)
        .container_request(ServiceRequest::new(websocat_image(), PORT))
        .resolve()
        .await
        .unwrap_err();
    let BackendError::Required { resolution, .. } = &err else {
        panic!("{err}")
    };
    let text = resolution.to_string();
    assert!(
        text.contains("1. container: skipped: docker: testcontainers: testcontainers uses another Docker engine (it "),
        "{text}"
    );
    assert!(
        text.contains(
            "than the one ws-harness found at unix:///var/run/docker.sock (DOCKER_HOST): set DOCKER_HOST=unix:///var/run/docker.sock so both use it"
        ),
        "{text}"
    );
}

/// Run by the test below in two processes at once (the same shell their
/// parent, so the same run): resolves one request and prints its container.
#[tokio::test]
#[ignore = "a helper of two_processes_of_one_run_share_the_requests_containers"]
async fn helper_resolves_the_request_and_prints_its_container() {
    let Ok(run) = std::env::var(HELPER_VAR) else {
        return;
    };
    let request = websocat_image().with_cmd(ECHO).with_env_var("RUN", run);
    let backend = in_container(&config(), ServiceRequest::new(request, PORT)).await;
    let container = backend.container.unwrap();
    println!("container-id={} reused={}", container.id, container.reused);
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn two_processes_of_one_run_share_the_requests_containers() {
    build_named_image().await;
    let exe = std::env::current_exe().unwrap();
    let run = format!("shared-{}", std::process::id());
    let shared = common::output_within(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("for i in 1 2; do \"$0\" --exact helper_resolves_the_request_and_prints_its_container --ignored --nocapture & done; wait")
            .arg(exe)
            .env(HELPER_VAR, &run),
        Duration::from_secs(300),
    );
    let text = String::from_utf8_lossy(&shared.stdout);
    let mut lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("container-id="))
        .collect();
    lines.sort_by_key(|line| line.ends_with("reused=true"));
    assert_eq!(lines.len(), 2, "{text}");
    let ids: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        ids[0], ids[1],
        "two processes of one run share one container: {text}"
    );
    assert!(
        lines[0].ends_with("reused=false") && lines[1].ends_with("reused=true"),
        "{text}"
    );
}
