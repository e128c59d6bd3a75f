//! The reference server's image, built on first use: the reference server
//! compiled by cargo, statically linked, from the ws-harness sources this
//! crate was built from, in a `FROM scratch` image (nothing is pulled).
//!
//! The tag is the crate version and a hash of those sources, so an edit to
//! the server gets a new image and nothing else does.

use super::image::BuildFailure;
use bollard::Docker;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The reference image's repository name.
pub(crate) const NAME: &str = "ws-harness";
/// The ws-harness sources this crate was compiled from.
const SOURCES: &str = env!("CARGO_MANIFEST_DIR");
/// The image's Dockerfile.
const DOCKERFILE: &str = include_str!("../../../../docker/Dockerfile");
/// The binary's name in the image.
const BINARY: &str = "reference-server";
/// How many lines of cargo's output a failure quotes.
const QUOTED_LINES: usize = 15;

/// Why the reference image could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The host cannot build a static Linux binary for the engine.
    #[error(
        "cannot build the reference image here: it needs a static Linux {engine_arch} binary and this host is {host}; build the image on a Linux {engine_arch} machine (`ws-harness image`) or with the multi-stage Dockerfile in the README (section \"The reference image\"), then load it into this engine"
    )]
    NoStaticBuild {
        /// The host's target triple.
        host: String,
        /// The engine's architecture.
        engine_arch: String,
    },
    /// Running cargo failed.
    #[error("cannot run `{command}`")]
    CargoUnavailable {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Cargo ran and failed.
    #[error("`{command}` failed ({status}); its last lines:\n{output}")]
    CargoFailed {
        /// The command.
        command: String,
        /// Its exit status.
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
        /// The image.
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
    let _lock = super::lock(&image.replace(':', "-")).await;
    if docker.inspect_image(&image).await.is_err() {
        build(docker, &image).await?;
    }
    Ok(image)
}

async fn build(docker: &Docker, image: &str) -> Result<(), ImageError> {
    let host = host_triple().await?;
    let engine_arch = docker
        .version()
        .await
        .map_err(ImageError::EngineVersion)?
        .arch
        .unwrap_or_default();
    let host_arch = match host.split('-').next() {
        Some("x86_64") => "amd64",
        Some("aarch64") => "arm64",
        Some(other) => other,
        None => "",
    };
    if !host.contains("-linux-") || host_arch != engine_arch {
        return Err(ImageError::NoStaticBuild { host, engine_arch });
    }
    announce(&format!(
        "building the reference image {image}, first use only (a release build of the server; minutes)"
    ));
    let binary = compile(&host).await?;
    let files = vec![(binary, BINARY.to_owned())];
    super::image::build_image(docker, image, DOCKERFILE.into(), files)
        .await
        .map_err(|failure| match failure {
            BuildFailure::Read { path, source } => ImageError::Write { path, source },
            BuildFailure::Docker(source) => ImageError::Docker {
                image: image.to_owned(),
                source,
            },
        })?;
    announce(&format!("built {image}"));
    Ok(())
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

/// Writes a one-file crate that depends on these sources and builds it
/// statically; returns the binary. It lives under the caller's target
/// directory, so a second build reuses the first one's work.
async fn compile(host: &str) -> Result<PathBuf, ImageError> {
    let dir = crate::harness::transcript::target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ws-harness")
        .join(BINARY);
    let write = |path: PathBuf, contents: String| async move {
        tokio::fs::write(&path, contents)
            .await
            .map_err(|source| ImageError::Write { path, source })
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|source| ImageError::Write {
            path: dir.clone(),
            source,
        })?;
    write(dir.join("Cargo.toml"), manifest()).await?;
    write(
        dir.join("main.rs"),
        "fn main() -> std::process::ExitCode {\n    ws_harness::server::run_from_env()\n}\n".into(),
    )
    .await?;
    // The sources' lock file, when they have one: the same dependency
    // versions, and no registry lookup for a fresh resolution.
    if let Ok(lock) = tokio::fs::read_to_string(Path::new(SOURCES).join("Cargo.lock")).await {
        write(dir.join("Cargo.lock"), lock).await?;
    }
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

fn manifest() -> String {
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
ws-harness = {{ path = {SOURCES:?}, default-features = false, features = ["server"] }}

# Not part of any workspace around the target directory.
[workspace]
"#,
        version = env!("CARGO_PKG_VERSION"),
    )
}

pub(super) fn last_lines(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(QUOTED_LINES)..].join("\n")
}

/// Twelve hex digits of SHA-256 over the files the image is made from:
/// `Cargo.toml`, `Cargo.lock`, `docker/Dockerfile` and `src/`.
fn hash_sources(root: &Path) -> Result<String, ImageError> {
    let mut files = vec![
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("docker/Dockerfile"),
    ];
    files.retain(|f| f.is_file());
    collect_files(&root.join("src"), &mut files)
        .map_err(|(path, source)| ImageError::Sources { path, source })?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
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

/// Every file under `dir`, recursively; an error names what could not be read.
pub(super) fn collect_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), (PathBuf, std::io::Error)> {
    let unreadable = |source| (dir.to_owned(), source);
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
