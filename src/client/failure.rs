//! What a failed expectation reports: [`ExpectationFailed`], with the
//! [`Problem`] a test can match.

use crate::artifacts::SaveError;
use crate::contract::Violation;
use crate::with_sources;
use std::fmt;
use std::time::Duration;

/// An expectation that did not hold. Its message (`Display` and `Debug`
/// alike, so `unwrap` shows it whole) says what was expected, what went
/// wrong, the user, connection and backend, and the transcript with timings;
/// the transcript is also written as JSONL and its path printed.
#[derive(thiserror::Error)]
#[error(
    "expected {expected}\n  problem: {problem}\n  user: {user}, connection #{connection}\n  backend: {backend}\n  {transcript}\n  transcript file: {}{}",
    match transcript_file { Ok(path) => path.display().to_string(), Err(e) => format!("not written: {}", with_sources(e)) },
    match backend_logs {
        Some(Ok(path)) => format!("\n  backend logs: {}", path.display()),
        Some(Err(e)) => format!("\n  backend logs: not saved: {}", with_sources(e)),
        None => String::new(),
    }
)]
#[allow(missing_docs)] // fields named for what they hold
pub struct ExpectationFailed {
    pub expected: String,
    /// What went wrong.
    pub problem: Problem,
    pub user: String,
    /// The client's connection number.
    pub connection: u64,
    /// The backend, and why it was chosen.
    pub backend: String,
    /// The frames received, with timings.
    pub transcript: String,
    /// Where the JSONL transcript was written.
    pub transcript_file: Result<std::path::PathBuf, SaveError>,
    /// Where the container backend's logs were saved (container tier only).
    pub backend_logs: Option<Result<std::path::PathBuf, SaveError>>,
}

impl Problem {
    /// What went wrong in a word or two, as a load counts it: `timed out`,
    /// `connection closed`, ...
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TimedOut { .. } => "timed out",
            Self::Closed { .. } => "connection closed",
            Self::OutOfOrder { .. } => "out of order",
            Self::Violation(_) => "contract violation",
            Self::RunEnded { .. } => "run ended",
            Self::NotAnEvent { .. } => "not an event",
            Self::Unexpected { .. } => "unexpected frames",
            Self::LostOrDuplicated { .. } => "lost or duplicated",
            Self::ContractSettingMissing { .. } => "contract setting missing",
        }
    }
}

impl fmt::Debug for ExpectationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What went wrong in an expectation; its `Display` is the failure's
/// `problem:` line.
///
/// ```
/// use std::time::Duration;
/// use ws_harness::client::Problem;
///
/// let problem = Problem::TimedOut { after: Duration::from_secs(2), missing: vec!["event(\"pong\")".into()] };
/// assert_eq!(problem.to_string(), "timed out after 2s; missing: event(\"pong\")");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The wait ended with these still missing.
    #[error("timed out after {after:?}; missing: {}", missing.join(", "))]
    TimedOut {
        /// The wait.
        after: Duration,
        /// What had not arrived, in words.
        missing: Vec<String>,
    },
    /// The connection closed with these still missing.
    #[error("the connection closed: {close}; missing: {}", missing.join(", "))]
    Closed {
        /// How it closed: the transcript's last line.
        close: String,
        /// What had not arrived, in words.
        missing: Vec<String>,
    },
    /// A frame arrived out of place in a sequence.
    #[error("wrong order: expected {expected} as frame {position} of the sequence, got {got}")]
    OutOfOrder {
        /// The matcher of that place.
        expected: String,
        /// The place, from 1.
        position: usize,
        /// The frame that came, in a few words.
        got: String,
    },
    /// A received frame broke the contract.
    #[error("{0}")]
    Violation(Violation),
    /// The run ended (the reference's `agent_error`; a terminal kind of
    /// the contract) before these events.
    #[error("the run failed before {}: {error}", missing.join(", "))]
    RunEnded {
        /// The events of the run not sent.
        missing: Vec<String>,
        /// The frame that ended it, in a few words.
        error: String,
    },
    /// A required event does not have the protocol's flat shape.
    #[error("an event does not have the protocol's shape: {reason}")]
    NotAnEvent {
        /// What is wrong with it.
        reason: String,
    },
    /// Frames arrived that nothing expected.
    #[error(
        "extra: {} unmatched frame(s): {}{}{}",
        listed.len() + more + forgotten,
        listed.join(", "),
        if *more > 0 {
            let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!(", … and {more} more; by kind: {}", kinds.join(", "))
        } else {
            String::new()
        },
        if *forgotten > 0 {
            format!(" ({forgotten} more received before them and forgotten)")
        } else {
            String::new()
        }
    )]
    Unexpected {
        /// The first of them, each in a few words.
        listed: Vec<String>,
        /// How many more are in the transcript.
        more: usize,
        /// With `more`, how many of each kind (`type`) arrived.
        by_kind: Vec<(String, usize)>,
        /// How many more arrived before them and were forgotten.
        forgotten: usize,
    },
    /// Across reconnects, event ids were skipped or received twice.
    #[error(
        "lost {field} values {lost:?}{}; duplicated {field} values {duplicated:?}",
        if *more_lost > 0 { format!(" and {more_lost} more") } else { String::new() }
    )]
    LostOrDuplicated {
        /// The contract's sequence field.
        field: String,
        /// The first lost values.
        lost: Vec<u64>,
        /// Lost values beyond those.
        more_lost: u64,
        /// The values received twice.
        duplicated: Vec<u64>,
    },
    /// The expectation reads a setting of the contract that is not set:
    /// `contract.sequence_field`, `contract.run_field` or
    /// `contract.run_events`.
    #[error(
        "the contract has no `{setting}`, which this expectation reads: set it in ws-harness.toml or WS_HARNESS_{} (docs/settings.md)",
        setting.replace('.', "_").to_uppercase()
    )]
    ContractSettingMissing {
        /// The setting's key.
        setting: &'static str,
    },
}
