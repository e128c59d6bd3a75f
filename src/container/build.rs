//! Building an image in the engine from a Dockerfile and the files of its
//! context, and the small helpers the container tier's images share.

use bollard::Docker;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};

/// How many lines of a command's output a failure quotes.
const QUOTED_LINES: usize = 15;

/// Why an image build failed.
pub(super) enum BuildFailure {
    /// A file of the context cannot be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The engine's build failed.
    Docker(bollard::errors::Error),
}

/// The context's Dockerfile, under a name no context file has.
const CONTEXT_DOCKERFILE: &str = ".ws-harness.Dockerfile";

/// Builds image `name` from `dockerfile` and `files` (each a file and its
/// path in the context) with the engine's builder.
pub(super) async fn build_image(
    docker: &Docker,
    name: &str,
    dockerfile: Vec<u8>,
    files: Vec<(PathBuf, String)>,
) -> Result<(), BuildFailure> {
    let context = tokio::task::spawn_blocking(move || {
        let mut tar = tar::Builder::new(Vec::new());
        // The classic builder rejects GNU sparse entries (a fresh release
        // binary can be sparse on disk).
        tar.sparse(false);
        let mut header = tar::Header::new_gnu();
        header.set_size(dockerfile.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let read = |path: &Path| {
            let path = path.to_owned();
            move |source| BuildFailure::Read { path, source }
        };
        tar.append_data(&mut header, CONTEXT_DOCKERFILE, dockerfile.as_slice())
            .map_err(read(Path::new(CONTEXT_DOCKERFILE)))?;
        for (path, relative) in &files {
            tar.append_path_with_name(path, relative)
                .map_err(read(path))?;
        }
        tar.into_inner().map_err(|source| BuildFailure::Read {
            path: PathBuf::from(CONTEXT_DOCKERFILE),
            source,
        })
    })
    .await
    .expect("packing the context does not panic")?;
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .t(name)
        .dockerfile(CONTEXT_DOCKERFILE)
        .rm(true)
        .build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = progress.next().await {
        step.map_err(BuildFailure::Docker)?;
    }
    Ok(())
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

/// Lowercase hex digits of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last lines of a command's output, for a failure to quote.
pub(super) fn last_lines(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(QUOTED_LINES)..].join("\n")
}
