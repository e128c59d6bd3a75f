//! Scenario files: the steps `ws-harness check` ([`check`]) and
//! `ws-harness load` run for each user, for any protocol, and that a test
//! runs as one test.
//!
//! A scenario file is TOML (its JSON Schema is
//! `docs/scenario.schema.json`; the page is `docs/scenarios.md`): the
//! users, and steps each user takes in order: `send` a frame written as a
//! [`Template`], `expect` frames with the library's matchers, `expect_nothing`,
//! `sleep`, `reconnect` (and resume), `close`. A step with `users` is taken
//! by those users only, and then every step waits for all users to finish
//! the step before it: one user sends, the others expect.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use ws_harness::scenario::ScenarioFile;
//! use ws_harness::{RealWebSocketTestConfig, TestClientFactory};
//!
//! let scenario: ScenarioFile = r#"
//! name = "ping"
//! [[step]]
//! send = { type = "ping", nonce = "${user}-${n}" }
//! [[step]]
//! expect = { kind = "pong", with = { nonce = "${user}-${n}" } }
//! within = "2s"
//! "#.parse().unwrap();
//! let config = RealWebSocketTestConfig::builder().without_environment().build().unwrap();
//! let factory = TestClientFactory::from_config(config).await.unwrap();
//! let users = scenario.run(&factory).await.unwrap();
//! assert_eq!(users[0].steps.len(), 2);
//! # }
//! ```

mod check;
mod file;
mod run;

pub use check::{CheckError, CheckReport, check};
pub use file::{Mistake, ScenarioError};
#[cfg(feature = "load")]
pub(crate) use run::{Observer, Pace};
pub use run::{StepError, StepFailure, StepOutcome, UserOutcome};

use crate::client::{FrameMatcher, Resume, event, frame};
use crate::config::{Template, TemplateError};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A scenario: its users and the steps each takes. Read one with
/// [`ScenarioFile::from_file`] or `str::parse`; [`ScenarioFile::golden_path`]
/// is the reference protocol's, shipped with the crate.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioFile {
    /// Its name (`name`; else the file's stem).
    pub name: String,
    /// Where it was read from, for errors and reports.
    pub origin: String,
    /// How many users run it (`[users] count`), unless the caller says.
    pub users: Option<usize>,
    /// Their names' prefix (`[users] prefix`): `PREFIX-1`, `PREFIX-2`, ...
    pub user_prefix: Option<String>,
    /// How a `reconnect` step resumes (`[resume]`); else the contract's.
    pub resume: Option<Resume>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its name in reports (`name`; else what it does).
    pub name: String,
    /// Its line in the file.
    pub line: usize,
    /// Which users take it.
    pub users: StepUsers,
    /// What it does.
    pub action: Action,
}

/// Which users take a step (`users = "all" | "first" | "others" | [1, 3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepUsers {
    /// Every user (the default).
    All,
    /// The first user.
    First,
    /// Every user but the first.
    Others,
    /// These users, counted from 1.
    Listed(Vec<usize>),
}

impl StepUsers {
    /// Whether user `index` (from 1) takes the step.
    #[must_use]
    pub fn includes(&self, index: usize) -> bool {
        match self {
            Self::All => true,
            Self::First => index == 1,
            Self::Others => index != 1,
            Self::Listed(listed) => listed.contains(&index),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Sends this frame (`send = { ... }`).
    Send(Template),
    /// Waits for frames (`expect`), at most `within` (else the config's
    /// `event_timeout`), and keeps values of the frame it matched
    /// (`capture = { name = "/json/pointer" }`) for the steps after it.
    Expect {
        /// The frames it waits for.
        expect: Expectation,
        /// Its bound.
        within: Option<Duration>,
        /// Variable name → JSON pointer into the matched frame.
        capture: Vec<(String, String)>,
    },
    /// Expects no frame for this long (`expect_nothing = "500ms"`).
    ExpectNothing(Duration),
    /// Waits this long (`sleep = "100ms"`).
    Sleep(Duration),
    /// Opens a new connection (`reconnect = true`) and resumes
    /// (`reconnect = "resume"`) as `[resume]` or the contract says.
    Reconnect {
        /// Whether it resumes.
        resume: bool,
    },
    /// Closes the connection (`close = true`).
    Close,
}

/// The frames an `expect` step waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// One frame (`expect = "kind"` or `{ kind = "...", with = { ... } }`).
    One(MatcherTemplate),
    /// These, as the next frames (`expect = { sequence = [...] }`).
    Sequence(Vec<MatcherTemplate>),
    /// These, in any order (`{ any_order = [...] }`).
    AnyOrder(Vec<MatcherTemplate>),
    /// These in order, others allowed between (`{ subsequence = [...] }`).
    Subsequence(Vec<MatcherTemplate>),
    /// The contract's run events of this run (`{ run = "..." }`), see
    /// [`TestClient::expect_run`](crate::TestClient::expect_run).
    Run(Template),
}

/// A frame matcher whose partial JSON may hold placeholders: a kind (the
/// contract's kind field) and/or a pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct MatcherTemplate {
    /// The kind it requires.
    pub kind: Option<String>,
    /// The partial JSON it requires.
    pub with: Option<Template>,
}

impl MatcherTemplate {
    /// The matcher, its placeholders filled in.
    ///
    /// # Errors
    /// [`TemplateError::Unknown`] for a placeholder without a value.
    pub fn render(
        &self,
        lookup: &impl Fn(&str) -> Option<Value>,
    ) -> Result<FrameMatcher, TemplateError> {
        let pattern = self.with.as_ref().map(|t| t.render(lookup)).transpose()?;
        Ok(self.matcher(pattern))
    }

    fn matcher(&self, pattern: Option<Value>) -> FrameMatcher {
        match (&self.kind, pattern) {
            (Some(kind), Some(pattern)) => event(kind.as_str()).with(pattern),
            (Some(kind), None) => event(kind.as_str()),
            (None, Some(pattern)) => frame(pattern),
            (None, None) => frame(Value::Object(serde_json::Map::new())),
        }
    }
}

impl fmt::Display for MatcherTemplate {
    /// As the matcher says itself, placeholders unfilled.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written = self.with.as_ref().map(|t| t.as_written().clone());
        self.matcher(written).fmt(f)
    }
}

impl fmt::Display for Action {
    /// What the step does, in a few words: `send {...}`, `expect pong`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[MatcherTemplate]| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Send(frame) => write!(f, "send {frame}"),
            Self::Expect { expect, .. } => match expect {
                Expectation::One(one) => write!(f, "expect {one}"),
                Expectation::Sequence(items) => write!(f, "expect in order: {}", list(items)),
                Expectation::AnyOrder(items) => write!(f, "expect in any order: {}", list(items)),
                Expectation::Subsequence(items) => {
                    write!(f, "expect in order, others between: {}", list(items))
                }
                Expectation::Run(run) => write!(f, "expect run {run}"),
            },
            Self::ExpectNothing(quiet) => write!(f, "expect nothing for {quiet:?}"),
            Self::Sleep(pause) => write!(f, "sleep {pause:?}"),
            Self::Reconnect { resume: true } => f.write_str("reconnect and resume"),
            Self::Reconnect { resume: false } => f.write_str("reconnect"),
            Self::Close => f.write_str("close"),
        }
    }
}

impl ScenarioFile {
    /// The reference protocol's golden path (`src/scenario/golden-path.toml`):
    /// a `user_message`, then its run's required events in order.
    #[must_use]
    pub fn golden_path() -> Self {
        file::parse(include_str!("golden-path.toml"), "the built-in golden path")
            .expect("the built-in golden path is a valid scenario")
    }

    /// Reads a scenario file.
    ///
    /// # Errors
    /// [`ScenarioError`]: the file cannot be read, or a mistake in it,
    /// with its line and step.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut scenario = file::parse(&text, &path.display().to_string())?;
        if scenario.name.is_empty() {
            scenario.name = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        }
        Ok(scenario)
    }

    /// Whether a step is for some users only, so every step waits for all
    /// users to finish the one before.
    #[must_use]
    pub fn in_lockstep(&self) -> bool {
        self.steps.iter().any(|step| step.users != StepUsers::All)
    }
}

impl std::str::FromStr for ScenarioFile {
    type Err = ScenarioError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        file::parse(text, "the scenario text")
    }
}
