//! What one test client received, with timings: searched by expectations,
//! shown in every failure, written as JSONL when an expectation fails.

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One received frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFrame {
    /// Time since the client first connected.
    pub at: Duration,
    /// The frame as JSON, or the raw text when it is not JSON (or `null` for
    /// non-text frames; see `text`).
    pub json: Value,
    /// The frame as received (text, or a description of a binary or close frame).
    pub text: String,
    /// On which connection of the client (1, 2, ... after reconnects).
    pub connection: u64,
    /// Whether an expectation already matched it.
    pub matched: bool,
}

/// Everything a client received, in order.
#[derive(Debug, Clone)]
pub struct Transcript {
    started: Instant,
    frames: Vec<ReceivedFrame>,
    /// Every frame before this one is matched: expectations search from here,
    /// so a long-lived client does not rescan its whole history.
    first_unmatched: usize,
}

/// Longest frame text shown inline in a failure message.
const SHOWN_CHARS: usize = 160;

impl Transcript {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            frames: Vec::new(),
            first_unmatched: 0,
        }
    }

    /// Time since the client first connected: the clock of the frames' `at`.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn push(&mut self, text: String, json: Value, connection: u64) {
        let at = self.started.elapsed();
        self.frames.push(ReceivedFrame {
            at,
            json,
            text,
            connection,
            matched: false,
        });
    }

    /// Every frame so far.
    #[must_use]
    pub fn frames(&self) -> &[ReceivedFrame] {
        &self.frames
    }

    /// The frames from the first unmatched one on, with their positions.
    pub(crate) fn pending(&self) -> impl Iterator<Item = (usize, &ReceivedFrame)> {
        let start = self.first_unmatched;
        self.frames[start..]
            .iter()
            .enumerate()
            .map(move |(i, frame)| (start + i, frame))
            .filter(|(_, frame)| !frame.matched)
    }

    /// Marks the frame at `position` matched.
    pub(crate) fn mark_matched(&mut self, position: usize) {
        self.frames[position].matched = true;
        while self
            .frames
            .get(self.first_unmatched)
            .is_some_and(|frame| frame.matched)
        {
            self.first_unmatched += 1;
        }
    }

    /// The frames as a failure message shows them.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "transcript ({} frame{}; time since connect; * = matched by an earlier expectation):",
            self.frames.len(),
            if self.frames.len() == 1 { "" } else { "s" }
        );
        if self.frames.is_empty() {
            out.push_str("\n    (nothing received)");
        }
        for frame in &self.frames {
            let mut text: String = frame.text.chars().take(SHOWN_CHARS).collect();
            if text.len() < frame.text.len() {
                text.push('…');
            }
            let mark = if frame.matched { '*' } else { ' ' };
            let _ = write!(
                out,
                "\n    +{:.3}s #{} {mark} {text}",
                frame.at.as_secs_f64(),
                frame.connection
            );
        }
        out
    }

    /// Writes the transcript as JSONL (one frame a line) under `dir`, named
    /// after the user and the time, and returns the path.
    ///
    /// # Errors
    /// [`SaveError::Write`] when the file cannot be written.
    pub async fn write_jsonl(&self, dir: &Path, user: &str) -> Result<PathBuf, SaveError> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let safe: String = user
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}-{stamp}.jsonl"));
        let mut out = String::new();
        for frame in &self.frames {
            let line = json!({
                "at_ms": frame.at.as_secs_f64() * 1000.0,
                "connection": frame.connection,
                "matched": frame.matched,
                "frame": frame.json,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        write_file(path, out.into_bytes()).await
    }
}

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
