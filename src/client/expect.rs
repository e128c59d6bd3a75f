//! The expectations of a [`TestClient`]: each waits for the transcript to
//! hold what it expects, and fails with [`ExpectationFailed`].

use super::TestClient;
use super::failure::{ExpectationFailed, Problem};
use super::matcher::FrameMatcher;
use super::transcript::{ReceivedFrame, Transcript};
use crate::artifacts::transcript_dir;
use crate::protocol::AgentEvent;
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant};

impl TestClient {
    /// Waits until `check` says the transcript satisfies an expectation.
    /// `expected` and what is missing are put into words only for a failure.
    /// The field that says a frame's kind: the contract's.
    fn kind_field(&self) -> String {
        self.options.factory.config.contract.kind_field.clone()
    }

    async fn wait<'m, T>(
        &mut self,
        expected: impl FnOnce() -> String,
        timeout: Duration,
        mut check: impl FnMut(&mut Transcript) -> Check<'m, T>,
    ) -> Result<T, ExpectationFailed> {
        let deadline = Instant::now() + timeout;
        loop {
            // Whatever is expected, a frame that broke the contract fails it.
            let verdict = match self.violations.first() {
                Some(violation) => Check::Fail(Problem::Violation(violation.clone())),
                None => check(&mut self.transcript),
            };
            let problem = match verdict {
                Check::Done(value) => return Ok(value),
                Check::Fail(problem) => problem,
                Check::Wait(missing) => {
                    // `pull` reads nothing once the deadline passed, so a
                    // service that never stops sending cannot hold us here.
                    if self.pull(deadline).await {
                        continue;
                    }
                    if self.ws.is_none() {
                        // The read that closed it is the transcript's last
                        // line (the window always keeps the newest frame).
                        let close = self
                            .transcript
                            .frames()
                            .last()
                            .map_or("<connection closed>", |f| &f.text)
                            .to_owned();
                        Problem::Closed {
                            close,
                            missing: missing.names(),
                        }
                    } else {
                        Problem::TimedOut {
                            after: timeout,
                            missing: missing.names(),
                        }
                    }
                }
            };
            return Err(self.failure(expected(), problem).await);
        }
    }

    /// The failure report; writes the transcript (and saves a container's
    /// logs) without blocking the runtime.
    async fn failure(&self, expected: String, problem: Problem) -> ExpectationFailed {
        let transcript_file = self
            .transcript
            .write_jsonl(&transcript_dir(), &self.user)
            .await;
        let backend_logs = match &self.backend().container {
            Some(container) => Some(container.save_logs().await),
            None => None,
        };
        ExpectationFailed {
            expected,
            problem,
            user: self.user.clone(),
            connection: self.connection,
            backend: self.backend().to_string(),
            transcript: self.transcript.render(),
            transcript_file,
            backend_logs,
        }
    }

    /// Waits for a frame matching `matcher` within the event timeout and
    /// returns it.
    ///
    /// # Errors
    /// [`ExpectationFailed`] when none arrives in time.
    pub async fn expect(
        &mut self,
        matcher: impl Into<FrameMatcher>,
    ) -> Result<Value, ExpectationFailed> {
        let timeout = self.event_timeout;
        self.expect_within(matcher, timeout).await
    }

    /// [`expect`](Self::expect) with its own timeout.
    ///
    /// # Errors
    /// [`ExpectationFailed`] when none arrives in time.
    pub async fn expect_within(
        &mut self,
        matcher: impl Into<FrameMatcher>,
        timeout: Duration,
    ) -> Result<Value, ExpectationFailed> {
        let matcher = matcher.into();
        let kind = self.kind_field();
        let expected = || format!("{matcher} within {timeout:?}");
        let mut search = InOrder::default();
        let copy = self.copy_matched;
        self.wait(expected, timeout, |t| {
            match search.advance(t, 1, |_, json| matcher.matches_with_kind_field(json, &kind)) {
                Ok(found) => Check::Done(take(t, found, copy).remove(0)),
                Err(_) => Check::Wait(Missing::Frames(std::slice::from_ref(&matcher))),
            }
        })
        .await
    }

    /// Expects the next unmatched frames to be exactly `matchers`, in order.
    ///
    /// # Errors
    /// [`ExpectationFailed`] naming the first frame out of place, or what is
    /// missing at the timeout.
    pub async fn expect_sequence(
        &mut self,
        matchers: &[FrameMatcher],
    ) -> Result<Vec<Value>, ExpectationFailed> {
        let timeout = self.event_timeout;
        let kind = self.kind_field();
        let expected = || format!("in order: {}", Missing::Frames(matchers));
        let copy = self.copy_matched;
        self.wait(expected, timeout, |t| {
            let pending: Vec<usize> = t.pending().map(|(i, _)| i).take(matchers.len()).collect();
            for (k, matcher) in matchers.iter().enumerate() {
                let Some(&i) = pending.get(k) else {
                    return Check::Wait(Missing::Frames(&matchers[k..]));
                };
                let frame = t.frame(i).expect("a pending frame is in the window");
                if !matcher.matches_with_kind_field(&frame.json, &kind) {
                    return Check::Fail(Problem::OutOfOrder {
                        expected: matcher.to_string(),
                        position: k + 1,
                        got: summary(&frame.json, &frame.text),
                    });
                }
            }
            Check::Done(take(t, &pending[..matchers.len()], copy))
        })
        .await
    }

    /// Expects frames matching all of `matchers`, in any order, each matched
    /// by a different frame.
    ///
    /// # Errors
    /// [`ExpectationFailed`] with what is missing at the timeout.
    pub async fn expect_any_order(
        &mut self,
        matchers: &[FrameMatcher],
    ) -> Result<Vec<Value>, ExpectationFailed> {
        let timeout = self.event_timeout;
        let kind = self.kind_field();
        let expected = || format!("in any order: {}", Missing::Frames(matchers));
        // Each frame is tested once, when it first arrives, and taken by
        // the first matcher still without a frame that it matches.
        let mut found: Vec<Option<usize>> = vec![None; matchers.len()];
        let mut next = 0;
        let copy = self.copy_matched;
        self.wait(expected, timeout, |t| {
            // A frame found earlier and forgotten since: search the window again.
            if found.iter().flatten().any(|&i| i < t.forgotten()) {
                found.fill(None);
                next = 0;
            }
            for (i, frame) in t.pending_from(next) {
                if let Some(slot) = matchers.iter().zip(found.iter_mut()).find_map(|(m, slot)| {
                    (slot.is_none() && m.matches_with_kind_field(&frame.json, &kind))
                        .then_some(slot)
                }) {
                    *slot = Some(i);
                }
            }
            next = t.received();
            let missing: Vec<&FrameMatcher> = matchers
                .iter()
                .zip(&found)
                .filter_map(|(m, slot)| slot.is_none().then_some(m))
                .collect();
            if missing.is_empty() {
                let positions: Vec<usize> = found.iter().flatten().copied().collect();
                Check::Done(take(t, &positions, copy))
            } else {
                Check::Wait(Missing::Each(missing))
            }
        })
        .await
    }

    /// Expects `matchers` in this order, other frames allowed between them
    /// (those stay unmatched).
    ///
    /// # Errors
    /// [`ExpectationFailed`] with what is missing at the timeout.
    pub async fn expect_subsequence(
        &mut self,
        matchers: &[FrameMatcher],
    ) -> Result<Vec<Value>, ExpectationFailed> {
        let timeout = self.event_timeout;
        let expected = || {
            format!(
                "in order, others allowed between: {}",
                Missing::Frames(matchers)
            )
        };
        let kind = self.kind_field();
        let mut search = InOrder::default();
        let copy = self.copy_matched;
        self.wait(expected, timeout, |t| {
            match search.advance(t, matchers.len(), |k, json| {
                matchers[k].matches_with_kind_field(json, &kind)
            }) {
                Ok(found) => Check::Done(take(t, found, copy)),
                Err(k) => Check::Wait(Missing::Frames(&matchers[k..])),
            }
        })
        .await
    }

    /// Expects the run started by `message_id` to send the config's
    /// `required_agent_events` in order, each of the flat shape of
    /// `PROTOCOL.md` and for this user. Fails at once when the run sends
    /// `agent_error` first.
    ///
    /// # Errors
    /// [`ExpectationFailed`] naming the missing events, the `agent_error`,
    /// or the shape problem.
    pub async fn expect_required_events(
        &mut self,
        message_id: &str,
    ) -> Result<Vec<AgentEvent>, ExpectationFailed> {
        let required: Vec<String> = (self.options.factory.config.required_agent_events.iter())
            .map(|e| e.as_str().to_owned())
            .collect();
        let run = Run {
            field: "message_id",
            id: message_id,
            kind_field: "type",
            kinds: &required,
            ends: &["agent_error".to_owned()],
        };
        let frames = self.wait_for_run(run, true).await?;
        match frames.iter().map(AgentEvent::from_json).collect() {
            Ok(events) => Ok(events),
            Err(e) => {
                let problem = Problem::NotAnEvent {
                    reason: e.to_string(),
                };
                Err(self.failure(run.expected(), problem).await)
            }
        }
    }

    /// Expects the run `run` to send the contract's run events in order
    /// (`contract.run_events`, told apart by `contract.run_field`; for the
    /// reference, the config's `required_agent_events` of a `message_id`),
    /// others allowed between them. Fails at once when the run sends
    /// another of the contract's `terminal_kinds` first.
    ///
    /// # Errors
    /// [`ExpectationFailed`] naming the missing events or the frame that
    /// ended the run, or [`Problem::ContractSettingMissing`].
    pub async fn expect_run(&mut self, run: &str) -> Result<Vec<Value>, ExpectationFailed> {
        // The contract is shared (an `Arc`): its settings are borrowed, not copied.
        let contract = self.contract.contract().clone();
        let settings = contract.settings();
        let (field, kinds) = match (&settings.run_field, &settings.run_events) {
            (Some(field), Some(kinds)) if !kinds.is_empty() => (field, kinds),
            (None, _) => return Err(self.missing_setting("contract.run_field", run).await),
            _ => return Err(self.missing_setting("contract.run_events", run).await),
        };
        let last = kinds.last().cloned();
        let ends: Vec<String> = (settings.terminal_kinds.iter().flatten())
            .filter(|kind| Some(*kind) != last.as_ref())
            .cloned()
            .collect();
        let kind_field = self.kind_field();
        let copy = self.copy_matched;
        self.wait_for_run(
            Run {
                field,
                id: run,
                kind_field: &kind_field,
                kinds,
                ends: &ends,
            },
            copy,
        )
        .await
    }

    async fn missing_setting(&self, setting: &'static str, run: &str) -> ExpectationFailed {
        let problem = Problem::ContractSettingMissing { setting };
        self.failure(format!("the events of run {run:?}"), problem)
            .await
    }

    /// Waits for the kinds of a run in order (others allowed between);
    /// one of its `ends` fails it at once.
    async fn wait_for_run(
        &mut self,
        run: Run<'_>,
        copy: bool,
    ) -> Result<Vec<Value>, ExpectationFailed> {
        let timeout = self.event_timeout;
        let of_run = |json: &Value| json.get(run.field).and_then(Value::as_str) == Some(run.id);
        let is = |json: &Value, kind: &str| {
            json.get(run.kind_field).and_then(Value::as_str) == Some(kind)
        };
        let mut search = InOrder::default();
        let mut ended = InOrder::default();
        self.wait(
            || run.expected(),
            timeout,
            |t| match search.advance(t, run.kinds.len(), |k, json| {
                is(json, &run.kinds[k]) && of_run(json)
            }) {
                Ok(found) => {
                    let found = found.to_vec();
                    Check::Done(take(t, &found, copy))
                }
                Err(k) => {
                    let end = ended
                        .advance(t, 1, |_, json| {
                            of_run(json) && run.ends.iter().any(|end| is(json, end))
                        })
                        .ok()
                        .and_then(|found| t.frame(found[0]));
                    match end {
                        Some(end) => Check::Fail(Problem::RunEnded {
                            missing: run.kinds[k..].to_vec(),
                            error: summary(&end.json, &end.text),
                        }),
                        None => Check::Wait(Missing::Kinds(&run.kinds[k..])),
                    }
                }
            },
        )
        .await
    }

    /// Expects nothing more: no unmatched frame now and none arriving for
    /// `quiet`. A frame that breaks the contract fails it at once.
    ///
    /// # Errors
    /// [`ExpectationFailed`] listing the extra frames, or the violation.
    pub async fn expect_nothing(&mut self, quiet: Duration) -> Result<(), ExpectationFailed> {
        let deadline = Instant::now() + quiet;
        // `pull` says false once the deadline passed or the connection closed.
        while self.violations.is_empty() && Instant::now() < deadline && self.pull(deadline).await {
        }
        let expected = format!("nothing more for {quiet:?}");
        if let Some(violation) = self.violations.first() {
            let problem = Problem::Violation(violation.clone());
            return Err(self.failure(expected, problem).await);
        }
        let extra: Vec<&ReceivedFrame> = self.transcript.pending().map(|(_, f)| f).collect();
        let forgotten = self.transcript.forgotten_unmatched();
        if extra.is_empty() && forgotten == 0 {
            return Ok(());
        }
        Err(self.failure(expected, unexpected(&extra, forgotten)).await)
    }

    /// Checks that the frames received, across reconnects, have no gap and
    /// no repeat in the contract's sequence field (`event_id` for the
    /// reference).
    ///
    /// # Errors
    /// [`ExpectationFailed`] naming the missing or repeated values, or with
    /// [`Problem::ContractSettingMissing`] when the contract names none.
    #[allow(
        clippy::result_large_err,
        reason = "a failure carries its whole report; it is returned once, at the end of a test"
    )]
    pub async fn expect_no_lost_or_duplicate_events(&self) -> Result<(), ExpectationFailed> {
        let Some(field) = self.transcript.sequence_field() else {
            return Err(self
                .failure(
                    "every event exactly once".to_owned(),
                    Problem::ContractSettingMissing {
                        setting: "contract.sequence_field",
                    },
                )
                .await);
        };
        let field = field.to_owned();
        let ((lost, lost_count), duplicates) = self.transcript.lost_and_duplicated();
        if duplicates.is_empty() && lost_count == 0 {
            return Ok(());
        }
        let problem = Problem::LostOrDuplicated {
            field,
            more_lost: lost_count - lost.len() as u64,
            lost,
            duplicated: duplicates.to_vec(),
        };
        Err(self
            .failure("every event exactly once".to_owned(), problem)
            .await)
    }
}

/// A run to wait for: the field and value that tell its frames, the kinds
/// it must send in order, and the kinds that end it early.
#[derive(Clone, Copy)]
struct Run<'a> {
    field: &'a str,
    id: &'a str,
    kind_field: &'a str,
    kinds: &'a [String],
    ends: &'a [String],
}

impl Run<'_> {
    fn expected(&self) -> String {
        format!(
            "the events of run {:?}: {}",
            self.id,
            Missing::Kinds(self.kinds)
        )
    }
}

/// What an expectation made of the transcript so far.
enum Check<'m, T> {
    Done(T),
    Wait(Missing<'m>),
    Fail(Problem),
}

/// What an expectation still waits for, put into words only when it fails.
enum Missing<'m> {
    /// Frames matching these, in turn.
    Frames(&'m [FrameMatcher]),
    /// Frames matching each of these.
    Each(Vec<&'m FrameMatcher>),
    /// Frames of these kinds.
    Kinds(&'m [String]),
}

impl Missing<'_> {
    /// Each thing missing, in words.
    fn names(&self) -> Vec<String> {
        match self {
            Missing::Frames(matchers) => matchers.iter().map(ToString::to_string).collect(),
            Missing::Each(matchers) => matchers.iter().map(ToString::to_string).collect(),
            Missing::Kinds(kinds) => kinds.to_vec(),
        }
    }
}

impl fmt::Display for Missing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

/// A search for unmatched frames for which `is(0, ..)`, `is(1, ..)`, ...
/// `is(n - 1, ..)` hold, in that order (others allowed between them), that
/// resumes where it stopped: each frame is tested once, however often the
/// search is advanced while frames arrive.
#[derive(Default)]
struct InOrder {
    found: Vec<usize>,
    next: usize,
}

impl InOrder {
    /// Advances over the frames received since the last call: the `n`
    /// positions once all are found, or else the first `k` not found yet.
    fn advance(
        &mut self,
        t: &Transcript,
        n: usize,
        is: impl Fn(usize, &Value) -> bool,
    ) -> Result<&[usize], usize> {
        // A frame found earlier and forgotten since: search the window again.
        if self.found.first().is_some_and(|&i| i < t.forgotten()) {
            *self = Self::default();
        }
        for (i, frame) in t.pending_from(self.next) {
            if self.found.len() == n {
                break;
            }
            if is(self.found.len(), &frame.json) {
                self.found.push(i);
            }
            self.next = i + 1;
        }
        if self.found.len() == n {
            Ok(&self.found)
        } else {
            Err(self.found.len())
        }
    }
}

/// Marks frames matched and returns them (or, for a client told not to
/// copy them, as many `Null`s).
fn take(t: &mut Transcript, positions: &[usize], copy: bool) -> Vec<Value> {
    positions
        .iter()
        .map(|i| {
            t.mark_matched(*i);
            if copy {
                t.frame(*i).expect("found in the window").json.clone()
            } else {
                Value::Null
            }
        })
        .collect()
}

/// How many frames a failure names one by one; the rest are counted by kind.
const LISTED_FRAMES: usize = 10;

/// The unmatched `frames` (and `forgotten` ones before them) as a
/// problem: past [`LISTED_FRAMES`], the first of them and the count of each
/// kind, so a flood makes a short message.
fn unexpected(frames: &[&ReceivedFrame], forgotten: usize) -> Problem {
    let listed = frames
        .iter()
        .take(LISTED_FRAMES)
        .map(|f| summary(&f.json, &f.text))
        .collect();
    let mut by_kind: Vec<(String, usize)> = Vec::new();
    if frames.len() > LISTED_FRAMES {
        for frame in frames {
            let kind = frame
                .json
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("(no type)");
            if let Some((_, count)) = by_kind.iter_mut().find(|(k, _)| k == kind) {
                *count += 1;
            } else if by_kind.len() < LISTED_FRAMES {
                by_kind.push((kind.to_owned(), 1));
            }
        }
    }
    Problem::Unexpected {
        listed,
        more: frames.len().saturating_sub(LISTED_FRAMES),
        by_kind,
        forgotten,
    }
}

/// A frame in a few words: `agent_error (event 3 of m-1): <error>`, or its
/// text, cut to a line's length.
fn summary(json: &Value, text: &str) -> String {
    let Some(kind) = json.get("type").and_then(Value::as_str) else {
        return super::transcript::cut(text);
    };
    let mut out = kind.to_owned();
    if let Some(id) = json.get("event_id").and_then(Value::as_u64) {
        out += &format!(" (event {id}");
        if let Some(message_id) = json.get("message_id").and_then(Value::as_str) {
            out += &format!(" of {message_id}");
        }
        out.push(')');
    }
    for detail in ["error", "code", "message"] {
        if let Some(value) = json.get(detail).and_then(Value::as_str) {
            out += &format!(": {value}");
            break;
        }
    }
    out
}
