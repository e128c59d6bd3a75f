//! The container tier running a service nobody here wrote: `websocat`
//! (crates.io), built statically and put in a `FROM scratch` image, as the
//! team's own service. Needs Docker and `WEBSOCAT` naming the static binary;
//! `.ci/run` installs it and runs these with `-- --ignored`.

mod common;

use common::websocat::{
    ECHO, IMAGE, PORT, build_named_image, dockerfile, hello_suite, tempdir, websocat,
};

use bollard::Docker;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use ws_harness::chain::{BackendError, Chain, SkipReason, TierOutcome};
use ws_harness::config::{ContractSource, Readiness};
use ws_harness::container::ContainerError;
use ws_harness::{
    BackendInfo, BackendKind, ConfigBuilder, RealWebSocketTestConfig, TestClientFactory, frame,
};

/// Set in the helper process: the label of the run, printed back.
const HELPER_VAR: &str = "WS_HARNESS_TEST_HELPER_ENV";
/// Set in the helper process: a compose file to run instead of the image.
const HELPER_COMPOSE_VAR: &str = "WS_HARNESS_TEST_HELPER_COMPOSE";
/// The compose label naming a container's or network's project.
const PROJECT_LABEL: &str = "com.docker.compose.project";

/// A compose file of two websocat services: `gateway`, the service under
/// test, forwards each WebSocket connection to `echo` over the project's
/// network, so a round trip proves both run and reach each other.
fn compose_file(dir: &std::path::Path) -> PathBuf {
    let file = dir.join("compose.yaml");
    std::fs::write(
        &file,
        format!(
            "services:\n  gateway:\n    image: {IMAGE}\n    command: [\"-t\", \"ws-l:0.0.0.0:8080\", \"ws://echo:9000/\"]\n    depends_on: [echo]\n  echo:\n    image: {IMAGE}\n    command: [\"-t\", \"ws-l:0.0.0.0:9000\", \"mirror:\"]\n"
        ),
    )
    .unwrap();
    file
}

/// The echo service's contract: the test's own `hello` frames.
const ECHO_CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/echo.schema.json"
);

fn service(builder: ConfigBuilder) -> RealWebSocketTestConfig {
    builder
        .without_environment()
        .contract_source(ContractSource::File(ECHO_CONTRACT.into()))
        .require(BackendKind::Container)
        .service_port(PORT)
        .event_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn echo_round_trip(config: RealWebSocketTestConfig) -> BackendInfo {
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::Container),
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
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_cmd(ECHO),
    );
    assert_eq!(config.service.ready, Readiness::WebSocket);
    let backend = echo_round_trip(config).await;
    let container = backend.container.unwrap();
    assert_eq!(container.service, format!("image {IMAGE}"));
    // Its output is kept next to the transcripts, as on a failed expectation.
    let logs = container.save_logs().await.unwrap();
    let text = std::fs::read_to_string(&logs).unwrap();
    assert!(text.contains("serving multiple clients"), "{text}");
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
                .service_dockerfile(context.join("Dockerfile"))
                .service_context(context)
                .service_cmd(ECHO),
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
    let builder = match std::env::var_os(HELPER_COMPOSE_VAR) {
        Some(file) => RealWebSocketTestConfig::builder()
            .service_compose_file(file)
            .service_compose_service("gateway"),
        None => RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_cmd(ECHO),
    };
    let config = service(builder.service_env([("RUN", label)]));
    let backend = BackendInfo::resolve(&config).await.unwrap();
    let container = backend.container.expect("the container tier");
    println!("container-id={}", container.id);
}

/// The `sh` that owns a helper test (as `cargo test` or nextest would), in
/// a process group of its own, killed with the group when dropped, so a
/// failing test leaves no process behind.
struct Owner(std::process::Child);

impl Owner {
    /// Kills it and its helper with SIGKILL: nothing of its run gets to
    /// clean up.
    fn kill(&mut self) {
        common::kill_group(&mut self.0);
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the helper test in another process, under its [`Owner`], and
/// returns the owner and the id of the helper's container.
fn spawn_helper(run: &str) -> (Owner, String) {
    spawn_helper_with(run, &[])
}

/// [`spawn_helper`] with more variables for the helper.
fn spawn_helper_with(run: &str, vars: &[(&str, &std::ffi::OsStr)]) -> (Owner, String) {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut owner = Owner(
        common::own_group(&mut Command::new("sh"))
            .arg("-c")
            // The owner outlives the helper, as a test runner does; `exec`
            // keeps its pid, so killing it leaves nothing running.
            .arg("\"$0\" --exact helper_resolves_the_websocat_service_and_prints_its_container --ignored --nocapture; exec sleep 600")
            .arg(exe)
            .env(HELPER_VAR, run)
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = std::io::BufReader::new(owner.0.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let id = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("container-id=").map(str::to_owned));
        let _ = tx.send(id);
    });
    let id = rx
        .recv_timeout(Duration::from_secs(120))
        .ok()
        .flatten()
        .expect("the helper prints its container within 120 s");
    (owner, id)
}

async fn exists(id: &str) -> bool {
    let docker = Docker::connect_with_defaults().unwrap();
    docker.inspect_container(id, None).await.is_ok()
}

/// The containers and networks of compose project `project`.
async fn project_parts(project: &str) -> (usize, usize) {
    let docker = Docker::connect_with_defaults().unwrap();
    let label = format!("{PROJECT_LABEL}={project}");
    let filters = std::collections::HashMap::from([("label", vec![label.as_str()])]);
    let containers = docker
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    let networks = docker
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    (containers.len(), networks.len())
}

/// The compose project of container `id`.
async fn project_of(id: &str) -> String {
    let docker = Docker::connect_with_defaults().unwrap();
    let inspected = docker.inspect_container(id, None).await.unwrap();
    inspected.config.unwrap().labels.unwrap()[PROJECT_LABEL].clone()
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_third_party_server_runs_from_a_compose_file_beside_a_second_service() {
    build_named_image().await;
    let dir = tempdir("compose");
    let file = compose_file(&dir);
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_compose_file(&file)
            .service_compose_service("gateway")
            .service_env([("RUN", "compose-in-process")]),
    );
    let backend = echo_round_trip(config).await;
    let container = backend.container.unwrap();
    assert!(
        container.service.starts_with("compose service gateway of "),
        "{container}"
    );
    let project = project_of(&container.id).await;
    let (containers, networks) = project_parts(&project).await;
    assert_eq!(
        (containers, networks),
        (2, 1),
        "gateway and echo on the project's network"
    );
    println!("{container}");
}

/// Why the container tier, which `config` requires, was skipped.
async fn container_skipped(config: RealWebSocketTestConfig) -> SkipReason {
    let err = BackendInfo::resolve(&config).await.unwrap_err();
    let BackendError::Required { resolution, .. } = err else {
        panic!("{err}");
    };
    let tier = resolution
        .attempts
        .into_iter()
        .find(|attempt| attempt.tier == BackendKind::Container)
        .unwrap();
    match tier.outcome {
        TierOutcome::Skipped(why) => std::sync::Arc::into_inner(why).unwrap(),
        other => panic!("the container tier was {other:?}"),
    }
}

/// The compose error of a resolution that required the container tier.
async fn compose_error(config: RealWebSocketTestConfig) -> String {
    match container_skipped(config).await {
        SkipReason::Container(ContainerError::Compose(compose)) => compose.to_string(),
        other => panic!("not a compose error: {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_compose_service_the_file_does_not_have_is_named_with_the_ones_it_has() {
    let file = compose_file(&tempdir("compose-unknown"));
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_compose_file(&file)
            .service_compose_service("gatewy"),
    );
    let error = compose_error(config).await;
    assert_eq!(
        error,
        format!(
            "{} has no service gatewy; its services are: echo, gateway; set service.compose_service to one of them",
            file.display()
        )
    );
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_compose_project_whose_service_exits_at_once_is_taken_down_whole() {
    build_named_image().await;
    let dir = tempdir("compose-exits");
    let file = compose_file(&dir);
    // websocat refuses an address it cannot parse and exits; echo stays up.
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_compose_file(&file)
            .service_compose_service("gateway")
            .service_cmd(["-t", "ws-l:not-an-address", "mirror:"]),
    );
    let error = compose_error(config).await;
    assert!(
        error
            .contains("but no container of service gateway is running (it exited?); running: echo"),
        "{error}"
    );
    let project = error
        .split_whitespace()
        .find(|word| word.starts_with("wsh_"))
        .unwrap();
    assert_eq!(project_parts(project).await, (0, 0), "{error}");
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_compose_project_of_a_run_killed_with_sigkill_goes_down_whole_at_the_next_start() {
    build_named_image().await;
    let dir = tempdir("compose-killed");
    let file = compose_file(&dir);
    let (mut owner, id) =
        spawn_helper_with("compose-killed", &[(HELPER_COMPOSE_VAR, file.as_os_str())]);
    let project = project_of(&id).await;
    assert_eq!(project_parts(&project).await, (2, 1));
    owner.kill();
    // The next run's start sweeps the whole project (a sibling test's start
    // may have done so already: that is a sweep too).
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_cmd(ECHO),
    );
    BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(
        project_parts(&project).await,
        (0, 0),
        "project {project} is gone"
    );
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn processes_of_one_run_share_a_container_and_a_changed_definition_gets_its_own() {
    build_named_image().await;
    let (mut a, first) = spawn_helper("shared");
    let (mut b, second) = spawn_helper("shared");
    // Two owners here (two `sh`), so two containers; the same owner shares:
    let exe = std::env::current_exe().unwrap();
    let shared = common::output_within(
        Command::new("sh")
            .arg("-c")
            .arg("for i in 1 2; do \"$0\" --exact helper_resolves_the_websocat_service_and_prints_its_container --ignored --nocapture & done; wait")
            .arg(exe)
            .env(HELPER_VAR, "one-owner"),
        Duration::from_secs(300),
    );
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
        owner.kill();
    }
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn a_run_killed_with_sigkill_leaves_nothing_once_the_next_run_starts() {
    build_named_image().await;
    let (mut owner, id) = spawn_helper("killed");
    assert!(exists(&id).await);
    // SIGKILL: nothing of the run gets to clean up.
    owner.kill();
    // The next run's start sweeps it (a sibling test's start may have done
    // so already: that is a sweep too).
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_cmd(ECHO),
    );
    BackendInfo::resolve(&config).await.unwrap();
    for _ in 0..40 {
        if !exists(&id).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("container {id} of the killed run is still there");
}

/// Unix only: the context's endpoint is a symlink to the engine's socket.
#[cfg(unix)]
#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn the_engine_of_the_current_docker_context_is_found_and_named_in_the_report() {
    build_named_image().await;
    // A home whose docker CLI's current context points at this machine's
    // engine through a socket of its own, as Colima's or rootless Docker's do.
    let home = tempdir("context-home");
    let socket = home.join("engine.sock");
    std::os::unix::fs::symlink("/var/run/docker.sock", &socket).unwrap();
    let docker = home.join(".docker");
    let digest = {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(b"ws-harness-test");
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let meta = docker.join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).unwrap();
    let endpoint = format!("unix://{}", socket.display());
    std::fs::write(
        meta.join("meta.json"),
        json!({"Name": "ws-harness-test", "Endpoints": {"docker": {"Host": endpoint}}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        docker.join("config.json"),
        r#"{"currentContext":"ws-harness-test"}"#,
    )
    .unwrap();
    let env =
        std::collections::HashMap::from([("HOME".to_owned(), home.to_string_lossy().into_owned())]);
    let config = RealWebSocketTestConfig::builder()
        .environment(env)
        .require(BackendKind::Container)
        .service_image(IMAGE)
        .service_cmd(ECHO)
        .service_port(PORT)
        .build()
        .unwrap();
    let backend = BackendInfo::resolve(&config).await.unwrap();
    let container = backend.container.as_ref().unwrap();
    assert_eq!(container.docker_endpoint, endpoint);
    assert_eq!(container.engine_found_by, "docker context ws-harness-test");
    assert!(
        backend
            .to_string()
            .contains("docker context ws-harness-test"),
        "{backend}"
    );
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn log_readiness_waits_for_a_line_of_the_containers_output() {
    build_named_image().await;
    // websocat says this on stderr as it starts serving.
    let said = Readiness::Log("serving multiple clients".into());
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_cmd(ECHO)
            .service_env([("RUN", "log-readiness")])
            .service_ready(said.clone()),
    );
    let backend = echo_round_trip(config).await;
    assert_eq!(backend.container.unwrap().ready, said);

    let never = Readiness::Log("a line websocat never prints".into());
    let config = service(
        RealWebSocketTestConfig::builder()
            .service_image(IMAGE)
            .service_cmd(ECHO)
            .service_env([("RUN", "log-never")])
            .service_ready(never)
            .service_startup_timeout(Duration::from_secs(1)),
    );
    let why = container_skipped(config).await;
    assert!(
        matches!(
            why,
            SkipReason::Container(ContainerError::NotReady {
                source: ws_harness::chain::NotReady::NoLogLine { .. },
                ..
            })
        ),
        "{why:?}"
    );
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn one_suite_runs_against_the_container_and_against_its_mock_as_the_last_tier() {
    use ws_harness::mock::{Mock, MockServer, Respond};
    build_named_image().await;
    // The team's mock of its echo service.
    let mock = MockServer::builder().name("echo").start().await.unwrap();
    Mock::given(frame(json!({"type": "hello"})))
        .respond_with(Respond::reply_with(Clone::clone))
        .expect(3)
        .mount(&mock);
    let config = |image: &str| {
        RealWebSocketTestConfig::builder()
            .without_environment()
            .contract_source(ContractSource::File(ECHO_CONTRACT.into()))
            .service_image(image)
            .service_cmd(ECHO)
            .service_port(PORT)
            .event_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    };

    // Its image is in the engine: the container tier serves the suite.
    let present = config(IMAGE);
    let backend = Chain::new(&present).mock(&mock).resolve().await.unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::Container),
        "{}",
        backend.resolution
    );
    assert!(
        backend
            .resolution
            .to_string()
            .contains("4. mock: not tried, so its expectations are not verified"),
        "{}",
        backend.resolution
    );
    hello_suite(present, backend).await;
    assert!(mock.connections().is_empty());

    // Without it (no registry to pull from), the mock is the last tier.
    let absent = config("ws-harness-test-absent:0");
    let backend = Chain::new(&absent).mock(&mock).resolve().await.unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::Mock),
        "{}",
        backend.resolution
    );
    assert!(
        backend
            .reason
            .starts_with("the mock server \"echo\" as the last tier; skipped container: "),
        "{}",
        backend.reason
    );
    hello_suite(absent, backend).await;
    mock.verify().unwrap();
}
