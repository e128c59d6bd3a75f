//! The image a service definition names: present in the engine, or built.

use super::build::{BuildFailure, build_image, collect_files, hex};
use super::definition::Image;
use super::reference_image;
use crate::config::ServiceSource;
use bollard::Docker;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The repository of images built from a user's Dockerfile; the tag is the
/// hash of the Dockerfile and its context.
const BUILT_NAME: &str = "ws-harness-service";

/// Why the definition's image could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum ServiceImageError {
    /// The reference image could not be built.
    #[error(transparent)]
    Reference(reference_image::ImageError),
    /// The named image is not in the engine (it is never pulled).
    #[error(
        "the image {image} is not in the engine, and ws-harness never pulls: build or load it first (docker build -t {image} .), or name a Dockerfile instead (service.dockerfile)"
    )]
    NotFound { image: String },
    /// The Dockerfile or its context cannot be read.
    #[error("cannot read {}", path.display())]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Docker could not build the Dockerfile.
    #[error("docker could not build {} (context {})", dockerfile.display(), context.display())]
    Build {
        dockerfile: PathBuf,
        context: PathBuf,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// The compose file cannot be read.
    #[error(transparent)]
    Compose(super::ComposeError),
    /// The engine could not say what the image is.
    #[error("cannot inspect the image {image}")]
    Inspect {
        image: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
}

/// The image of `source` (not for compose services, which name their own).
pub(super) async fn resolve(
    docker: &Docker,
    source: &ServiceSource,
) -> Result<Image, ServiceImageError> {
    let (name, shown) = match source {
        ServiceSource::Reference => {
            let name = reference_image::ensure(docker)
                .await
                .map_err(ServiceImageError::Reference)?;
            (name.clone(), format!("reference image {name}"))
        }
        ServiceSource::Image(name) => (name.clone(), format!("image {name}")),
        ServiceSource::Dockerfile {
            dockerfile,
            context,
        } => {
            let name = build(docker, dockerfile, context).await?;
            let shown = format!("{} built as {name}", dockerfile.display());
            (name, shown)
        }
        ServiceSource::Compose { file, service } => {
            return super::compose::describe(file, service)
                .await
                .map_err(ServiceImageError::Compose);
        }
    };
    match docker.inspect_image(&name).await {
        Ok(inspected) => Ok(Image {
            id: inspected.id.unwrap_or_default(),
            name,
            shown,
        }),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Err(ServiceImageError::NotFound { image: name }),
        Err(source) => Err(ServiceImageError::Inspect {
            image: name,
            source,
        }),
    }
}

/// Builds `dockerfile` with `context` unless the image of their hash is
/// there already; returns its name.
async fn build(
    docker: &Docker,
    dockerfile: &Path,
    context: &Path,
) -> Result<String, ServiceImageError> {
    let (dockerfile, context) = (dockerfile.to_owned(), context.to_owned());
    let (hash, files) = {
        let (dockerfile, context) = (dockerfile.clone(), context.clone());
        tokio::task::spawn_blocking(move || hash_build_inputs(&dockerfile, &context))
            .await
            .expect("hashing does not panic")?
    };
    let name = format!("{BUILT_NAME}:{hash}");
    if docker.inspect_image(&name).await.is_ok() {
        return Ok(name);
    }
    let recipe = std::fs::read(&dockerfile).map_err(|source| ServiceImageError::Unreadable {
        path: dockerfile.clone(),
        source,
    })?;
    build_image(docker, &name, recipe, files)
        .await
        .map_err(|failure| match failure {
            BuildFailure::Read { path, source } => ServiceImageError::Unreadable { path, source },
            BuildFailure::Docker(source) => ServiceImageError::Build {
                dockerfile,
                context,
                source,
            },
        })?;
    Ok(name)
}

/// Twelve hex digits of SHA-256 over the Dockerfile and the context's
/// files (paths and contents), and those files with their paths in the
/// context. `.git` and the paths `.dockerignore` lists (plain paths, no
/// patterns) are left out.
fn hash_build_inputs(
    dockerfile: &Path,
    context: &Path,
) -> Result<(String, Vec<(PathBuf, String)>), ServiceImageError> {
    let unreadable = |path: &Path| {
        let path = path.to_owned();
        move |source| ServiceImageError::Unreadable { path, source }
    };
    let recipe = std::fs::read(dockerfile).map_err(unreadable(dockerfile))?;
    if !context.is_dir() {
        return Err(ServiceImageError::Unreadable {
            path: context.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let ignored: Vec<String> = std::fs::read_to_string(context.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().trim_matches('/').to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .chain([".git".to_owned()])
        .collect();
    let mut paths = Vec::new();
    collect_files(context, &mut paths)
        .map_err(|(path, source)| ServiceImageError::Unreadable { path, source })?;
    let mut files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .filter_map(|path| {
            let relative = path
                .strip_prefix(context)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            let skip = ignored
                .iter()
                .any(|i| relative == *i || relative.starts_with(&format!("{i}/")));
            (!skip).then_some((path, relative))
        })
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut hasher = Sha256::new();
    hasher.update((recipe.len() as u64).to_le_bytes());
    hasher.update(&recipe);
    for (path, relative) in &files {
        let contents = std::fs::read(path).map_err(unreadable(path))?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok((hex(&hasher.finalize()[..6]), files))
}
