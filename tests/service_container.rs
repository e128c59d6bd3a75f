//! The container tier running a service nobody here wrote: `websocat`
//! (crates.io), built statically and put in a `FROM scratch` image, as the
//! team's own service. Needs Docker and `WEBSOCAT` naming the static binary;
//! `.ci/run` installs it and runs these with `-- --ignored`.

use bollard::Docker;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use testcontainers::GenericBuildableImage;
use testcontainers::runners::AsyncBuilder;
use ws_harness::{
    BackendInfo, BackendKind, ConfigBuilder, Readiness, RealWebSocketTestConfig, TestClientFactory,
    frame,
};

/// The image the tests build from the websocat binary, by name.
const IMAGE: &str = "ws-harness-test-websocat:1.14.1";
/// The port websocat listens on inside the container.
const PORT: u16 = 8080;
/// websocat as an echo server: every frame comes back as it was sent.
const ECHO: [&str; 3] = ["-t", "ws-l:0.0.0.0:8080", "mirror:"];
const NEEDS: &str = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it";
/// Set in the helper process: the label of the run, printed back.
const HELPER_VAR: &str = "WS_HARNESS_TEST_HELPER_ENV";

fn websocat() -> PathBuf {
    let path = std::env::var_os("WEBSOCAT").unwrap_or_else(|| {
        panic!("WEBSOCAT is not set: {NEEDS} (cargo install websocat --no-default-features with RUSTFLAGS='-C target-feature=+crt-static' --target x86_64-unknown-linux-gnu)")
    });
    PathBuf::from(path)
}

fn dockerfile() -> String {
    "FROM scratch\nCOPY websocat /websocat\nEXPOSE 8080\nENTRYPOINT [\"/websocat\"]\n".to_owned()
}

/// `ws-harness-test-websocat:1.14.1`, built here from the binary (the way a
/// team's CI would leave its image in the engine).
async fn build_named_image() {
    let (name, tag) = IMAGE.split_once(':').unwrap();
    let _image = GenericBuildableImage::new(name, tag)
        .with_dockerfile_string(dockerfile())
        .with_file(websocat(), "websocat")
        .build_image()
        .await
        .unwrap();
}

fn service(builder: ConfigBuilder) -> RealWebSocketTestConfig {
    builder
        .without_environment()
        .require(BackendKind::Container)
        .service_port(PORT)
        .service_cmd(ECHO)
        .event_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn echo_round_trip(config: RealWebSocketTestConfig) -> BackendInfo {
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(
        backend.kind,
        BackendKind::Container,
        "{}",
        backend.resolution
    );
    let factory = TestClientFactory::new(config, backend.clone()).unwrap();
    let mut client = factory.client("echo-user").await.unwrap();
    client
        .send_json(&json!({"type": "hello", "id": 7}))
        .await
        .unwrap();
    client
        .expect(frame(json!({"type": "hello", "id": 7})))
        .await
        .unwrap();

    // A wrong expectation fails, and the report names the service that ran.
    client.set_event_timeout(Duration::from_millis(300));
    client
        .send_json(&json!({"type": "hello", "id": 8}))
        .await
        .unwrap();
    let failed = client
        .expect(frame(json!({"type": "goodbye"})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        failed.contains(&backend.container.as_ref().unwrap().service),
        "{failed}"
    );
    backend
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_third_party_server_runs_from_its_image_name() {
    build_named_image().await;
    let config = service(RealWebSocketTestConfig::builder().service_image(IMAGE));
    assert_eq!(config.service.ready, Readiness::WebSocket);
    let backend = echo_round_trip(config).await;
    let container = backend.container.unwrap();
    assert_eq!(container.service, format!("image {IMAGE}"));
    println!("{container}");
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_third_party_server_runs_from_a_dockerfile_and_an_edit_rebuilds_it() {
    let context = tempdir("dockerfile");
    std::fs::write(context.join("Dockerfile"), dockerfile()).unwrap();
    std::fs::copy(websocat(), context.join("websocat")).unwrap();
    let config = |context: &PathBuf| {
        service(
            RealWebSocketTestConfig::builder()
                .service_dockerfile(context.join("Dockerfile"), context),
        )
    };
    let first = echo_round_trip(config(&context)).await.container.unwrap();
    assert!(
        first.service.contains("built as ws-harness-service:"),
        "{first}"
    );

    // The same inputs are the same image; an edit to the context is a new one.
    let again = BackendInfo::resolve(&config(&context)).await.unwrap();
    assert_eq!(again.container.unwrap().service, first.service);
    std::fs::write(context.join("notes.txt"), "an edit").unwrap();
    let edited = echo_round_trip(config(&context)).await.container.unwrap();
    assert_ne!(edited.service, first.service);
    assert_ne!(
        edited.id, first.id,
        "a changed definition gets a new container"
    );
}

/// Run in a process of its own by the tests below: resolves the websocat
/// service (its env carries `HELPER_VAR`, so callers choose the
/// definition) and prints the container id.
#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn helper_resolves_the_websocat_service_and_prints_its_container() {
    build_named_image().await;
    let label = std::env::var(HELPER_VAR).unwrap_or_default();
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_env([("RUN", label)]),
    );
    let backend = BackendInfo::resolve(&config).await.unwrap();
    let container = backend.container.expect("the container tier");
    println!("container-id={}", container.id);
}

/// Starts the helper test in another process, under `sh` (its owner, as
/// `cargo test` or nextest would be), and returns the owner and the id.
fn spawn_helper(run: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut owner = Command::new("sh")
        .arg("-c")
        // The owner outlives the helper, as a test runner does.
        .arg("\"$0\" --exact helper_resolves_the_websocat_service_and_prints_its_container --ignored --nocapture; sleep 600")
        .arg(exe)
        .env(HELPER_VAR, run)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(owner.stdout.take().unwrap());
    let id = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("container-id=").map(str::to_owned))
        .expect("the helper prints its container");
    (owner, id)
}

async fn exists(id: &str) -> bool {
    let docker = Docker::connect_with_defaults().unwrap();
    docker.inspect_container(id, None).await.is_ok()
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn processes_of_one_run_share_a_container_and_a_changed_definition_gets_its_own() {
    build_named_image().await;
    let (mut a, first) = spawn_helper("shared");
    let (mut b, second) = spawn_helper("shared");
    // Two owners here (two `sh`), so two containers; the same owner shares:
    let exe = std::env::current_exe().unwrap();
    let shared = Command::new("sh")
        .arg("-c")
        .arg("for i in 1 2; do \"$0\" --exact helper_resolves_the_websocat_service_and_prints_its_container --ignored --nocapture & done; wait")
        .arg(exe)
        .env(HELPER_VAR, "one-owner")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shared.stdout);
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("container-id="))
        .collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert_eq!(
        ids[0], ids[1],
        "two processes of one run share one container"
    );
    assert_ne!(first, second, "another run (owner) gets its own container");
    let (mut c, changed) = spawn_helper("changed");
    assert_ne!(changed, first);
    for owner in [&mut a, &mut b, &mut c] {
        owner.kill().unwrap();
        owner.wait().unwrap();
    }
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_run_killed_with_sigkill_leaves_nothing_once_the_next_run_starts() {
    build_named_image().await;
    let (mut owner, id) = spawn_helper("killed");
    assert!(exists(&id).await);
    // SIGKILL: nothing of the run gets to clean up.
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(exists(&id).await, "nothing removed it yet");
    // The next run's start sweeps it.
    let config = service(RealWebSocketTestConfig::builder().service_image(IMAGE));
    BackendInfo::resolve(&config).await.unwrap();
    for _ in 0..40 {
        if !exists(&id).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("container {id} of the killed run is still there");
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ws-harness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
