//! Where a failing test's files go (transcripts, a container's logs), and
//! how they are written without blocking the runtime.

use std::path::{Path, PathBuf};
#[cfg(feature = "container")]
use std::time::Duration;

/// Why a failure's artifact (a transcript, a container's logs) was not saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveError {
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Docker did not give the container's logs.
    #[cfg(feature = "container")]
    #[error("cannot read the logs of container {container}")]
    ContainerLogs {
        /// The container's id.
        container: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// Docker took too long to give the container's logs.
    #[cfg(feature = "container")]
    #[error("the logs of container {container} took more than {after:?}")]
    ContainerLogsTimedOut {
        /// The container's id.
        container: String,
        /// How long it waited.
        after: Duration,
    },
    /// The task saving it stopped before it finished.
    #[error("the task saving it did not finish")]
    Interrupted(#[source] tokio::task::JoinError),
}

/// Writes `bytes` to `path` (making its folder) off the async runtime's
/// workers, and returns the path.
pub(crate) async fn write_file(path: PathBuf, bytes: Vec<u8>) -> Result<PathBuf, SaveError> {
    tokio::task::spawn_blocking(move || {
        let written = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(&path, bytes));
        match written {
            Ok(()) => Ok(path),
            Err(source) => Err(SaveError::Write { path, source }),
        }
    })
    .await
    .unwrap_or_else(|e| Err(SaveError::Interrupted(e)))
}

/// Where failing transcripts go: `<cargo target dir>/ws-harness/transcripts`
/// (the target directory is found from `CARGO_TARGET_DIR`, else as the
/// nearest folder above the running executable that holds cargo's
/// `CACHEDIR.TAG`), falling back to the system's temporary directory.
#[must_use]
pub fn transcript_dir() -> PathBuf {
    target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ws-harness")
        .join("transcripts")
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the nearest folder
/// above the running executable that holds cargo's `CACHEDIR.TAG`.
pub(crate) fn target_dir() -> Option<PathBuf> {
    // The executable's own target directory first: a relative
    // CARGO_TARGET_DIR names another place once cargo runs a test from its
    // package's directory.
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
}

/// A lock across the processes of this machine on `key`, held until
/// dropped; `None` (no lock) when the lock file cannot be made.
#[cfg(feature = "container")]
pub(crate) async fn lock(key: &str) -> Option<std::fs::File> {
    let dir = target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ws-harness")
        .join("locks");
    let path = dir.join(format!("{key}.lock"));
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).ok()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        file.lock().ok()?;
        Some(file)
    })
    .await
    .ok()
    .flatten()
}
