//! Running a scenario: one client per user, each taking the steps in order
//! (all users in lockstep when a step is for some of them only).

use super::{Action, Expectation, ScenarioError, ScenarioFile, Step};
use crate::client::{ClientError, ExpectationFailed, TestClient, TestClientFactory};
use crate::config::TemplateError;
use crate::config::TranscriptWindow;
use crate::contract::Violation;
use crate::with_sources;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Barrier, Semaphore};

/// What one user's run of a scenario did.
#[derive(Debug)]
pub struct UserOutcome {
    /// The user's name (its client's `user_id`).
    pub user: String,
    /// Who the service sees: its token's subject (else the user's name).
    pub subject: String,
    /// The steps it finished, in order (a failed step is not among them).
    pub steps: Vec<StepOutcome>,
    /// The step that failed, if one did; the steps after it were not taken.
    pub failure: Option<StepFailure>,
    /// Every frame it received that broke the contract.
    pub violations: Vec<Violation>,
}

/// One step a user finished.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// Which step, counted from 1.
    pub step: usize,
    /// The run it was part of, counted from 1 (`${n}`).
    pub run: usize,
    /// How long the step took.
    pub took: Duration,
    /// The frames an `expect` step matched, each with the time since the
    /// user's last `send`.
    pub frames: Vec<(Value, Duration)>,
}

/// A step that failed, or a user that could not connect (step 0).
#[derive(Debug)]
pub struct StepFailure {
    /// The name of the user that failed.
    pub user: String,
    /// The step, counted from 1; 0 when the user could not connect.
    pub step: usize,
    /// The step's name.
    pub name: String,
    /// Its line in the scenario file.
    pub line: usize,
    /// The scenario file.
    pub origin: String,
    /// What went wrong.
    pub error: StepError,
}

/// What went wrong in a step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// Connecting, sending, reconnecting or resuming failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An expectation did not hold.
    #[error(transparent)]
    Expectation(#[from] Box<ExpectationFailed>),
    /// A template could not be filled in.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The user's task panicked or was cancelled.
    #[error("the user's task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A `capture` pointer is not in the matched frame.
    #[error("capture `{name}`: the matched frame has nothing at `{pointer}`: {frame}")]
    Capture {
        /// The variable.
        name: String,
        /// Its JSON pointer.
        pointer: String,
        /// The frame it was looked for in.
        frame: Value,
    },
}

impl StepError {
    /// The error in a line or two: an expectation's problem and where its
    /// transcript was written, else the error with its sources.
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Self::Expectation(failed) => {
                let file = match &failed.transcript_file {
                    Ok(path) => path.display().to_string(),
                    Err(why) => format!("not written: {}", with_sources(why)),
                };
                format!("{}\ntranscript: {file}", failed.problem)
            }
            other => with_sources(other),
        }
    }
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.step == 0 {
            return write!(f, "user `{}` could not connect: {}", self.user, self.error);
        }
        write!(
            f,
            "user `{}`, step {} `{}` ({}, line {}): {}",
            self.user, self.step, self.name, self.origin, self.line, self.error
        )
    }
}

impl std::error::Error for StepFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl ScenarioFile {
    /// Runs the scenario once for its users (`[users]`: `count`, else 1;
    /// `prefix`, else `user`), each with a client of `factory`, all at
    /// once.
    ///
    /// # Errors
    /// [`ScenarioError::Failed`] with the first user's [`StepFailure`]:
    /// for an expectation, the usual [`ExpectationFailed`] with the
    /// transcript.
    pub async fn run(
        &self,
        factory: &TestClientFactory,
    ) -> Result<Vec<UserOutcome>, ScenarioError> {
        let prefix = self.user_prefix.as_deref().unwrap_or("user");
        let count = self.users.unwrap_or(1);
        self.check_users(count)?;
        let users: Vec<String> = (1..=count).map(|i| format!("{prefix}-{i}")).collect();
        let mut outcomes = self.run_users(factory, &users, 1).await;
        if let Some(failed) = outcomes.iter_mut().find_map(|o| o.failure.take()) {
            return Err(ScenarioError::Failed(Box::new(failed)));
        }
        Ok(outcomes)
    }

    /// Runs the scenario `runs` times over for each of `users`, all at
    /// once: what `ws-harness check` does (one run).
    pub async fn run_users(
        &self,
        factory: &TestClientFactory,
        users: &[String],
        runs: usize,
    ) -> Vec<UserOutcome> {
        self.run_paced(factory, users, runs, Pace::default()).await
    }

    /// [`run_users`](Self::run_users) paced and watched as `pace` says.
    pub(crate) async fn run_paced(
        &self,
        factory: &TestClientFactory,
        users: &[String],
        runs: usize,
        pace: Pace,
    ) -> Vec<UserOutcome> {
        let scenario = Arc::new(self.clone());
        let lockstep = self
            .in_lockstep()
            .then(|| Arc::new(Barrier::new(users.len())));
        let tasks: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let user_run = UserRun {
                    scenario: Arc::clone(&scenario),
                    index: i + 1,
                    user: user.clone(),
                    lockstep: lockstep.clone(),
                    pace: pace.clone(),
                };
                let factory = factory.clone();
                tokio::spawn(async move { user_run.run(&factory, runs).await })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(users.len());
        for (task, user) in tasks.into_iter().zip(users) {
            outcomes.push(task.await.unwrap_or_else(|e| UserOutcome {
                user: user.clone(),
                subject: user.clone(),
                steps: Vec::new(),
                failure: Some(StepFailure {
                    user: user.clone(),
                    step: 0,
                    name: String::new(),
                    line: 0,
                    origin: scenario.origin.clone(),
                    error: StepError::Task(e),
                }),
                violations: Vec::new(),
            }));
        }
        outcomes
    }
}

/// The most of its transcript a user of a load keeps: a load runs for
/// long, and its reports count, they do not show transcripts. Well above
/// what one read takes in (65 frames), so no frame is forgotten before an
/// expectation has looked at it.
const LOAD_WINDOW: TranscriptWindow = TranscriptWindow {
    frames: 256,
    bytes: 1 << 20,
};

/// How the users of a load are paced and watched.
#[derive(Clone, Default)]
pub(crate) struct Pace {
    /// Connections being opened at once.
    pub(crate) gate: Option<Arc<Semaphore>>,
    /// Every user connects before any takes a step (the first barrier),
    /// and keeps its connection until all are done (the second).
    pub(crate) phases: Option<(Arc<Barrier>, Arc<Barrier>)>,
    /// Told of each connect, step and run; with one, the outcomes keep
    /// no steps.
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

/// What a load counts as its users go.
pub(crate) trait Observer: Send + Sync {
    /// A user connected in `took`.
    fn connected(&self, took: Duration);
    /// A user passed the start line.
    fn started(&self);
    /// A user finished step `step` (from 1) in `took`, matching `frames`.
    fn step(&self, step: usize, took: Duration, frames: usize);
    /// A user finished a whole run in `took`.
    fn run(&self, took: Duration);
}

/// One user's way through the scenario.
struct UserRun {
    scenario: Arc<ScenarioFile>,
    /// From 1.
    index: usize,
    user: String,
    /// Every user waits here after each step, when the scenario is in lockstep.
    lockstep: Option<Arc<Barrier>>,
    pace: Pace,
}

impl UserRun {
    async fn run(self, factory: &TestClientFactory, runs: usize) -> UserOutcome {
        let mut outcome = UserOutcome {
            user: self.user.clone(),
            subject: self.user.clone(),
            steps: Vec::new(),
            failure: None,
            violations: Vec::new(),
        };
        let connecting = Instant::now();
        let permit = match &self.pace.gate {
            Some(gate) => Some(Arc::clone(gate).acquire_owned().await),
            None => None,
        };
        let mut client = match factory.client(&self.user).await {
            Ok(mut client) => {
                if let Some(observer) = &self.pace.observer {
                    observer.connected(connecting.elapsed());
                    let configured = factory.config().transcript_window;
                    client.set_transcript_window(TranscriptWindow {
                        frames: configured.frames.min(LOAD_WINDOW.frames),
                        bytes: configured.bytes.min(LOAD_WINDOW.bytes),
                    });
                }
                Some(client)
            }
            Err(e) => {
                outcome.failure = Some(self.failure(0, e.into()));
                None
            }
        };
        drop(permit);
        if let Some((start, _)) = &self.pace.phases {
            start.wait().await;
        }
        if let Some(observer) = &self.pace.observer {
            observer.started();
        }
        let mut state = State {
            user: self.user.clone(),
            subject: (client.as_ref().and_then(TestClient::subject))
                .unwrap_or_else(|| self.user.clone()),
            ..State::default()
        };
        let observer = self.pace.observer.as_deref();
        for n in 1..=runs {
            let run_started = Instant::now();
            for (i, step) in self.scenario.steps.iter().enumerate() {
                if let Some(c) = client.as_mut()
                    && step.users.includes(self.index)
                {
                    let started = Instant::now();
                    match state
                        .take(c, &self.scenario, step, n, observer.is_none())
                        .await
                    {
                        Ok(frames) => match observer {
                            Some(observer) => observer.step(i + 1, started.elapsed(), frames.len()),
                            None => outcome.steps.push(StepOutcome {
                                step: i + 1,
                                run: n,
                                took: started.elapsed(),
                                frames,
                            }),
                        },
                        Err(error) => {
                            outcome.failure = Some(self.failure(i + 1, error));
                            outcome.violations = c.violations().to_vec();
                            c.close().await;
                            client = None;
                        }
                    }
                }
                if let Some(lockstep) = &self.lockstep {
                    lockstep.wait().await;
                }
            }
            if let (Some(observer), Some(_)) = (observer, &client) {
                observer.run(run_started.elapsed());
            }
        }
        if let Some((_, finish)) = &self.pace.phases {
            finish.wait().await;
        }
        if let Some(mut c) = client {
            outcome.violations = c.violations().to_vec();
            c.close().await;
        }
        outcome.subject = state.subject;
        outcome
    }

    fn failure(&self, step: usize, error: StepError) -> StepFailure {
        let (name, line) = step
            .checked_sub(1)
            .and_then(|i| self.scenario.steps.get(i))
            .map_or((String::new(), 0), |s| (s.name.clone(), s.line));
        StepFailure {
            user: self.user.clone(),
            step,
            name,
            line,
            origin: self.scenario.origin.clone(),
            error,
        }
    }
}

/// What a user's steps carry from one to the next.
#[derive(Default)]
struct State {
    /// `${user}` and `${subject}`.
    user: String,
    subject: String,
    captured: HashMap<String, Value>,
    /// When the last `send` went, on the transcript's clock.
    sent_at: Duration,
}

impl State {
    /// A variable's value in run `n`.
    fn value(&self, n: usize, name: &str) -> Option<Value> {
        Some(match name {
            "user" => self.user.clone().into(),
            "subject" => self.subject.clone().into(),
            "n" => n.into(),
            "uuid" => uuid().into(),
            "now" => u64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(u64::MAX)
            .into(),
            _ => return self.captured.get(name).cloned(),
        })
    }

    async fn take(
        &mut self,
        client: &mut TestClient,
        scenario: &ScenarioFile,
        step: &Step,
        n: usize,
        timed: bool,
    ) -> Result<Vec<(Value, Duration)>, StepError> {
        match &step.action {
            Action::Send(template) => {
                let frame = template.render(|name| self.value(n, name))?;
                self.sent_at = client.transcript().elapsed();
                client.send_json(&frame).await?;
            }
            Action::Expect {
                expect,
                within,
                capture,
            } => {
                // A load's users count frames; they copy them only to capture.
                client.copy_matched = timed || !capture.is_empty();
                let frames = self.expect(client, expect, *within, n).await?;
                if let Some(first) = frames.first() {
                    for (name, pointer) in capture {
                        let value =
                            first
                                .pointer(pointer)
                                .cloned()
                                .ok_or_else(|| StepError::Capture {
                                    name: name.clone(),
                                    pointer: pointer.clone(),
                                    frame: first.clone(),
                                })?;
                        self.captured.insert(name.clone(), value);
                    }
                }
                return Ok(if timed {
                    self.timed(client, frames)
                } else {
                    frames.into_iter().map(|f| (f, Duration::ZERO)).collect()
                });
            }
            Action::ExpectNothing(quiet) => {
                client.expect_nothing(*quiet).await.map_err(Box::new)?
            }
            Action::Sleep(pause) => tokio::time::sleep(*pause).await,
            Action::Reconnect { resume: false } => client.reconnect().await?,
            Action::Reconnect { resume: true } => {
                match &scenario.resume {
                    Some(resume) => client.reconnect_and_resume_with(resume).await?,
                    None => client.reconnect_and_resume().await?,
                };
            }
            Action::Close => client.close().await,
        }
        Ok(Vec::new())
    }

    async fn expect(
        &self,
        client: &mut TestClient,
        expect: &Expectation,
        within: Option<Duration>,
        n: usize,
    ) -> Result<Vec<Value>, StepError> {
        let lookup = |name: &str| self.value(n, name);
        let all = |items: &[super::MatcherTemplate]| {
            items
                .iter()
                .map(|m| m.render(&lookup))
                .collect::<Result<Vec<_>, _>>()
        };
        let default = client.event_timeout();
        client.set_event_timeout(within.unwrap_or(default));
        let result = match expect {
            Expectation::One(matcher) => {
                let matcher = matcher.render(&lookup)?;
                client.expect(matcher).await.map(|frame| vec![frame])
            }
            Expectation::Sequence(items) => client.expect_sequence(&all(items)?).await,
            Expectation::AnyOrder(items) => client.expect_any_order(&all(items)?).await,
            Expectation::Subsequence(items) => client.expect_subsequence(&all(items)?).await,
            Expectation::Run(run) => {
                let run = match run.render(lookup)? {
                    Value::String(run) => run,
                    other => other.to_string(),
                };
                client.expect_run(&run).await
            }
        };
        client.set_event_timeout(default);
        Ok(result.map_err(Box::new)?)
    }

    /// The frames with the time since the last send: when each arrived,
    /// from the newest matched frames of the transcript.
    fn timed(&self, client: &TestClient, frames: Vec<Value>) -> Vec<(Value, Duration)> {
        let received = client.transcript().frames();
        frames
            .into_iter()
            .map(|frame| {
                let at = received
                    .iter()
                    .rev()
                    .find(|f| f.matched && f.json == frame)
                    .map_or(Duration::ZERO, |f| f.at.saturating_sub(self.sent_at));
                (frame, at)
            })
            .collect()
    }
}

/// A random UUID (version 4), for `${uuid}`.
fn uuid() -> String {
    let mut bytes: [u8; 16] = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
