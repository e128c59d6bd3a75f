//! The reference server's image, built on first use: the reference server
//! compiled by cargo, statically linked, from the ws-harness sources this
//! crate was built from, in a `FROM scratch` image.
//!
//! Where the host can build a static Linux binary for the engine's
//! architecture (a Linux host of that architecture), cargo on the host
//! builds it and nothing is pulled. Elsewhere (macOS, Windows, another
//! architecture) the engine builds it in a multi-stage build whose first
//! stage is the Rust image [`BUILDER_IMAGE`], pulled from the engine's
//! registry: no manual step on any OS.
//!
//! The tag is the crate version and a hash of those sources, so an edit to
//! the server gets a new image and nothing else does.

use super::build::{BuildFailure, build_image, collect_files, hex, last_lines};
use bollard::Docker;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The reference image's repository name.
pub(crate) const NAME: &str = "ws-harness";
/// The ws-harness sources this crate was compiled from.
const SOURCES: &str = env!("CARGO_MANIFEST_DIR");
/// The image's Dockerfile.
const DOCKERFILE: &str = include_str!("../../docker/Dockerfile");
/// The binary's name in the image.
const BINARY: &str = "reference-server";
/// The image whose toolchain compiles the server where the host cannot.
const BUILDER_IMAGE: &str = "rust:1";
/// The steps of the first stage of the build inside the engine, after its
/// `FROM`. The context holds the sources under `ws-harness/` and the
/// generated crate under `reference-server/`; cargo fetches the
/// dependencies from crates.io.
const BUILD_STEPS: &str = r#"COPY . /build
RUN cd /build/reference-server \
 && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
    --target "$(rustc -vV | sed -n 's/^host: //p')" \
 && cp target/*/release/reference-server /reference-server
"#;

/// Why the reference image could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum ImageError {
    /// The host cannot build the static Linux binary, and the engine's
    /// build in a Rust image failed (without a registry it cannot pull one).
    #[error(
        "cannot build the reference image {image} inside the engine: this host ({host}) cannot build a static Linux {engine_arch} binary itself, so the engine builds it from {BUILDER_IMAGE}, which it must be able to pull; or build the image on a Linux {engine_arch} machine (`ws-harness image`) and load it into this engine"
    )]
    InEngineBuild {
        image: String,
        /// The host's target triple.
        host: String,
        /// The engine's architecture.
        engine_arch: String,
        /// The engine's reason.
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// Running cargo failed.
    #[error("cannot run `{command}`")]
    CargoUnavailable {
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Cargo ran and failed.
    #[error("`{command}` failed ({status}); its last lines:\n{output}")]
    CargoFailed {
        command: String,
        status: std::process::ExitStatus,
        /// The last lines it printed.
        output: String,
    },
    /// Writing the build's files, or reading them into the image, failed.
    #[error("cannot write or read {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the sources to hash them failed.
    #[error("cannot read the ws-harness sources at {}", path.display())]
    Sources {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No Docker engine answers.
    #[error(transparent)]
    NoEngine(super::NoEngine),
    /// The engine's version (its architecture) could not be read.
    #[error("cannot ask the engine for its architecture")]
    EngineVersion(#[source] bollard::errors::Error),
    /// Docker could not build the image.
    #[error("docker could not build {image}")]
    Docker {
        image: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
}

/// `ws-harness:<version>-<hash of the sources>`, the image these sources
/// make; hashed once per process (the sources do not change under it).
async fn image_name() -> Result<String, ImageError> {
    static NAME_OF_SOURCES: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    NAME_OF_SOURCES
        .get_or_try_init(|| async {
            let hash = tokio::task::spawn_blocking(|| hash_sources(Path::new(SOURCES)))
                .await
                .expect("hashing does not panic")?;
            Ok(format!("{NAME}:{}-{hash}", env!("CARGO_PKG_VERSION")))
        })
        .await
        .cloned()
}

/// The reference image: present, or built now (minutes, the first time).
pub(crate) async fn ensure(docker: &Docker) -> Result<String, ImageError> {
    let image = image_name().await?;
    if docker.inspect_image(&image).await.is_ok() {
        return Ok(image);
    }
    // One build at a time, across the processes and tasks of this machine;
    // whoever waited finds the image built.
    let _lock = crate::artifacts::lock(&image.replace(':', "-")).await;
    if docker.inspect_image(&image).await.is_err() {
        build(docker, &image).await?;
    }
    Ok(image)
}

/// How the reference image is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuildPlan {
    /// Cargo on the host compiles the static binary; nothing is pulled.
    OnHost,
    /// The engine compiles it in [`BUILDER_IMAGE`] (a multi-stage build).
    InEngine,
}

impl BuildPlan {
    /// The plan for a host of target triple `host` and an engine of
    /// architecture `engine_arch` (Docker's name: `amd64`, `arm64`).
    fn for_host(host: &str, engine_arch: &str) -> Self {
        let host_arch = match host.split('-').next() {
            Some("x86_64") => "amd64",
            Some("aarch64") => "arm64",
            Some(other) => other,
            None => "",
        };
        if host.contains("-linux-") && host_arch == engine_arch {
            Self::OnHost
        } else {
            Self::InEngine
        }
    }
}

async fn build(docker: &Docker, image: &str) -> Result<(), ImageError> {
    let host = host_triple().await?;
    let engine_arch = docker
        .version()
        .await
        .map_err(ImageError::EngineVersion)?
        .arch
        .unwrap_or_default();
    let plan = BuildPlan::for_host(&host, &engine_arch);
    build_as(docker, image, plan, &host, &engine_arch).await?;
    announce(&format!("built {image}"));
    Ok(())
}

/// Builds `image` by `plan`; `host` and `engine_arch` name the reason
/// for the plan in messages.
async fn build_as(
    docker: &Docker,
    image: &str,
    plan: BuildPlan,
    host: &str,
    engine_arch: &str,
) -> Result<(), ImageError> {
    let (dockerfile, files) = match plan {
        BuildPlan::OnHost => {
            announce(&format!(
                "building the reference image {image}, first use only (a release build of the server; minutes)"
            ));
            let binary = compile(host).await?;
            (DOCKERFILE.to_owned(), vec![(binary, BINARY.to_owned())])
        }
        BuildPlan::InEngine => {
            announce(&format!(
                "building the reference image {image} inside the engine from {BUILDER_IMAGE}, first use only: this host ({host}) cannot build a static Linux {engine_arch} binary (minutes)"
            ));
            let generated = write_crate(&crate_dir(plan), "../ws-harness").await?;
            (in_engine_dockerfile(), in_engine_context(generated)?)
        }
    };
    build_image(docker, image, dockerfile.into(), files)
        .await
        .map_err(|failure| match failure {
            BuildFailure::Read { path, source } => ImageError::Write { path, source },
            BuildFailure::Docker(source) if plan == BuildPlan::InEngine => {
                ImageError::InEngineBuild {
                    image: image.to_owned(),
                    host: host.to_owned(),
                    engine_arch: engine_arch.to_owned(),
                    source: Box::new(source),
                }
            }
            BuildFailure::Docker(source) => ImageError::Docker {
                image: image.to_owned(),
                source,
            },
        })
}

/// A line on stderr that test output capture does not swallow: the first
/// build takes minutes and the user should know why.
fn announce(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "ws-harness: {line}");
}

fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// The host's target triple, from `cargo -vV`.
async fn host_triple() -> Result<String, ImageError> {
    let mut command = tokio::process::Command::new(cargo());
    command.arg("-vV");
    let stdout = run_cargo(command, format!("{} -vV", cargo().display())).await?;
    let text = String::from_utf8_lossy(&stdout);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap_or("an unknown host")
        .trim()
        .to_owned())
}

/// Runs a cargo command (`shown` names it in errors); its stdout.
async fn run_cargo(
    mut command: tokio::process::Command,
    shown: String,
) -> Result<Vec<u8>, ImageError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| ImageError::CargoUnavailable {
            command: shown.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(ImageError::CargoFailed {
            command: shown,
            status: output.status,
            output: last_lines(&output.stderr),
        })
    }
}

/// Where the generated crate of `plan` is written: under the caller's
/// target directory, so a second build on the host reuses the first one's
/// work.
fn crate_dir(plan: BuildPlan) -> PathBuf {
    let name = match plan {
        BuildPlan::OnHost => BINARY.to_owned(),
        BuildPlan::InEngine => format!("{BINARY}-in-engine"),
    };
    crate::artifacts::target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ws-harness")
        .join(name)
}

/// Writes the one-file crate of the server into `dir`, depending on the
/// ws-harness sources at `sources` (a path as the manifest gives it);
/// returns its files (`Cargo.toml`, `main.rs` and, when the sources have
/// one, `Cargo.lock`: the same dependency versions, no fresh resolution).
async fn write_crate(dir: &Path, sources: &str) -> Result<Vec<PathBuf>, ImageError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| ImageError::Write {
            path: dir.to_owned(),
            source,
        })?;
    let mut files = vec![
        (dir.join("Cargo.toml"), manifest(sources)),
        (
            dir.join("main.rs"),
            "fn main() -> std::process::ExitCode {\n    ws_harness::server::run_from_env()\n}\n"
                .to_owned(),
        ),
    ];
    if let Ok(lock) = tokio::fs::read_to_string(Path::new(SOURCES).join("Cargo.lock")).await {
        files.push((dir.join("Cargo.lock"), lock));
    }
    let mut written = Vec::new();
    for (path, contents) in files {
        tokio::fs::write(&path, contents)
            .await
            .map_err(|source| ImageError::Write {
                path: path.clone(),
                source,
            })?;
        written.push(path);
    }
    Ok(written)
}

/// Builds the server statically on the host; returns the binary.
async fn compile(host: &str) -> Result<PathBuf, ImageError> {
    let dir = crate_dir(BuildPlan::OnHost);
    write_crate(&dir, SOURCES).await?;
    let target_dir = dir.join("target");
    let mut command = tokio::process::Command::new(cargo());
    command
        .args(["build", "--release", "--target", host, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        // Only the server is static; with --target, build scripts and
        // proc-macros stay dynamic.
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    let shown = format!(
        "RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target {host} --manifest-path {}",
        dir.join("Cargo.toml").display()
    );
    run_cargo(command, shown).await?;
    Ok(target_dir.join(host).join("release").join(BINARY))
}

/// The generated crate's manifest, depending on the sources at `sources`.
fn manifest(sources: &str) -> String {
    format!(
        r#"# Written by ws-harness: the reference server for its container image.
[package]
name = "ws-harness-{BINARY}"
version = "{version}"
edition = "2024"
publish = false

[[bin]]
name = "{BINARY}"
path = "main.rs"

[dependencies]
ws-harness = {{ path = {sources:?}, default-features = false, features = ["server"] }}

# Not part of any workspace around the target directory.
[workspace]
"#,
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The multi-stage Dockerfile of the build inside the engine: the Rust
/// stage, then the image's own Dockerfile copying the binary from it.
fn in_engine_dockerfile() -> String {
    let copy = format!("COPY {BINARY} /{BINARY}");
    assert!(
        DOCKERFILE.contains(&copy),
        "docker/Dockerfile copies {BINARY}"
    );
    let image = DOCKERFILE.replace(&copy, &format!("COPY --from=build /{BINARY} /{BINARY}"));
    format!(
        "# Written by ws-harness: this host cannot build a static Linux binary\n# for the engine, so the engine builds it in a Rust image first.\nFROM {BUILDER_IMAGE} AS build\n{BUILD_STEPS}\n{image}"
    )
}

/// The context of the build inside the engine: the sources' image inputs
/// under `ws-harness/`, the generated crate's files under `BINARY/`.
fn in_engine_context(generated: Vec<PathBuf>) -> Result<Vec<(PathBuf, String)>, ImageError> {
    let root = Path::new(SOURCES);
    let mut files: Vec<(PathBuf, String)> = image_inputs(root)?
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            (path, format!("ws-harness/{relative}"))
        })
        .collect();
    for path in generated {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let in_context = format!("{BINARY}/{name}");
        files.push((path, in_context));
    }
    Ok(files)
}

/// The files of the sources the image is made from: `Cargo.toml`,
/// `Cargo.lock`, `docker/Dockerfile`, and everything under `src/` and
/// `docs/` (the crate includes the reference schemas from there), sorted.
fn image_inputs(root: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let mut files = vec![
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("docker/Dockerfile"),
    ];
    files.retain(|f| f.is_file());
    for dir in ["src", "docs"] {
        let dir = root.join(dir);
        if dir.is_dir() {
            collect_files(&dir, &mut files)
                .map_err(|(path, source)| ImageError::Sources { path, source })?;
        }
    }
    files.sort();
    Ok(files)
}

/// Twelve hex digits of SHA-256 over the image's inputs, paths and contents.
fn hash_sources(root: &Path) -> Result<String, ImageError> {
    let mut hasher = Sha256::new();
    for file in &image_inputs(root)? {
        let contents = std::fs::read(file).map_err(|source| ImageError::Sources {
            path: file.clone(),
            source,
        })?;
        let relative = file.strip_prefix(root).unwrap_or(file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok(hex(&hasher.finalize()[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linux_host_of_the_engines_architecture_builds_on_the_host_and_others_in_the_engine() {
        let cases = [
            ("x86_64-unknown-linux-gnu", "amd64", BuildPlan::OnHost),
            ("aarch64-unknown-linux-gnu", "arm64", BuildPlan::OnHost),
            ("x86_64-unknown-linux-musl", "amd64", BuildPlan::OnHost),
            ("x86_64-unknown-linux-gnu", "arm64", BuildPlan::InEngine),
            ("aarch64-apple-darwin", "arm64", BuildPlan::InEngine),
            ("x86_64-apple-darwin", "amd64", BuildPlan::InEngine),
            ("x86_64-pc-windows-msvc", "amd64", BuildPlan::InEngine),
            ("aarch64-pc-windows-msvc", "arm64", BuildPlan::InEngine),
            ("an unknown host", "", BuildPlan::InEngine),
        ];
        for (host, arch, plan) in cases {
            assert_eq!(BuildPlan::for_host(host, arch), plan, "{host} on {arch}");
        }
    }

    #[test]
    fn the_in_engine_dockerfile_builds_in_rust_then_copies_into_the_images_own_recipe() {
        let dockerfile = in_engine_dockerfile();
        let froms: Vec<&str> = dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .collect();
        assert_eq!(
            froms,
            [&format!("FROM {BUILDER_IMAGE} AS build"), "FROM scratch"]
        );
        assert!(dockerfile.contains("COPY --from=build /reference-server /reference-server"));
        assert!(!dockerfile.contains("\nCOPY reference-server"));
        // A `# syntax=` line makes BuildKit pull a frontend image.
        assert!(!dockerfile.lines().any(|l| l.starts_with("# syntax=")));
        // The final stage is docker/Dockerfile's, so both images run alike.
        for line in [
            "ENV WS_HARNESS_SERVER_LISTEN=0.0.0.0:8765",
            "ENTRYPOINT [\"/reference-server\"]",
        ] {
            assert!(dockerfile.contains(line), "{line}");
        }
    }

    #[tokio::test]
    async fn the_in_engine_context_holds_the_sources_and_the_generated_crate() {
        let dir = std::env::temp_dir().join(format!("ws-harness-in-engine-{}", std::process::id()));
        let generated = write_crate(&dir, "../ws-harness").await.unwrap();
        let manifest = std::fs::read_to_string(&generated[0]).unwrap();
        assert!(manifest.contains(r#"path = "../ws-harness""#), "{manifest}");
        let context = in_engine_context(generated).unwrap();
        let names: Vec<&str> = context.iter().map(|(_, name)| name.as_str()).collect();
        for name in [
            "ws-harness/Cargo.toml",
            "ws-harness/Cargo.lock",
            "ws-harness/src/lib.rs",
            "ws-harness/docs/reference-protocol.schema.json",
            "ws-harness/docker/Dockerfile",
            "reference-server/Cargo.toml",
            "reference-server/main.rs",
            "reference-server/Cargo.lock",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("/target/")), "{names:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// This machine's engine reaches no registry: the build inside the
    /// engine gets as far as pulling the Rust image, and the error says
    /// what it needed and what else to do.
    #[tokio::test]
    async fn without_a_registry_the_in_engine_build_fails_naming_the_rust_image() {
        let docker = Docker::connect_with_local_defaults().unwrap();
        let image = format!("ws-harness-in-engine-test:{}", std::process::id());
        let error = build_as(
            &docker,
            &image,
            BuildPlan::InEngine,
            "aarch64-apple-darwin",
            "arm64",
        )
        .await
        .unwrap_err();
        let ImageError::InEngineBuild { source, .. } = &error else {
            panic!("not an in-engine build failure: {error:?}");
        };
        let message = error.to_string();
        assert!(
            message.contains("this host (aarch64-apple-darwin) cannot build a static Linux arm64 binary itself, so the engine builds it from rust:1, which it must be able to pull"),
            "{message}"
        );
        let reason = source.to_string();
        // The Dockerfile was read and its first stage reached: the pull.
        assert!(reason.contains("registry"), "not a failed pull: {reason}");
        assert!(docker.inspect_image(&image).await.is_err());
    }
}
