//! websocat (crates.io), built statically into a `FROM scratch` image: a
//! service nobody here wrote, for the container tier's tests. `WEBSOCAT`
//! names the static binary; `.ci/run` installs it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The image the tests build from the websocat binary, by name.
pub const IMAGE: &str = "ws-harness-test-websocat:1.14.1";
/// The port websocat listens on inside the container.
pub const PORT: u16 = 8080;
/// websocat as an echo server: every frame comes back as it was sent.
pub const ECHO: [&str; 3] = ["-t", "ws-l:0.0.0.0:8080", "mirror:"];
pub const NEEDS: &str = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it";

pub fn websocat() -> PathBuf {
    let path = std::env::var_os("WEBSOCAT").unwrap_or_else(|| {
        panic!("WEBSOCAT is not set: {NEEDS} (cargo install websocat --no-default-features with RUSTFLAGS='-C target-feature=+crt-static' --target x86_64-unknown-linux-gnu)")
    });
    PathBuf::from(path)
}

pub fn dockerfile() -> String {
    "FROM scratch\nCOPY websocat /websocat\nEXPOSE 8080\nENTRYPOINT [\"/websocat\"]\n".to_owned()
}

/// `ws-harness-test-websocat:1.14.1`, built here from the binary with
/// `docker build` (the way a team's CI would leave its image in the engine).
pub async fn build_named_image() {
    let context = tempdir("named-image");
    std::fs::write(context.join("Dockerfile"), dockerfile()).unwrap();
    std::fs::copy(websocat(), context.join("websocat")).unwrap();
    let built = super::output_within(
        Command::new("docker")
            .args(["build", "-q", "-t", IMAGE])
            .arg(&context),
        Duration::from_secs(300),
    );
    assert!(
        built.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// Settings for websocat's echo (`IMAGE`, built first) in the container
/// tier, required, with no contract: the builder, to add to.
pub async fn echo_container() -> ws_harness::ConfigBuilder {
    build_named_image().await;
    ws_harness::RealWebSocketTestConfig::builder()
        .without_environment()
        .service_image(IMAGE)
        .service_port(PORT)
        .service_cmd(ECHO)
        .contract_source(ws_harness::config::ContractSource::None)
        .require(ws_harness::BackendKind::Container)
}

/// A fresh directory of this process under the system's temporary one.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ws-harness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The echo service's suite: hello frames come back as sent.
pub async fn hello_suite(
    config: ws_harness::RealWebSocketTestConfig,
    backend: ws_harness::BackendInfo,
) {
    let factory = ws_harness::TestClientFactory::new(config, backend).unwrap();
    let mut client = factory.client("echo-user").await.unwrap();
    for id in 1..=3 {
        let hello = serde_json::json!({"type": "hello", "id": id});
        client.send_json(&hello).await.unwrap();
        client.expect(ws_harness::frame(hello)).await.unwrap();
    }
}
