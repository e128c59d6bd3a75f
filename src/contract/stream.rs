//! [`ContractStream`]: the contract applied to one client's frames in
//! order, across its connections: per-frame rules, then sequence, owner
//! and run rules.

use super::{Contract, Fields, Rule, Violation, not_json, pointer_of};
use crate::config::{OwnerRule, SequenceRule};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// How many ended runs a stream remembers, to report a frame that comes
/// after its run's end.
const ENDED_RUNS_KEPT: usize = 256;

/// The contract's state for one client: what it has seen of the sequence
/// and of each run. Made by [`Contract::stream`].
///
/// ```
/// use serde_json::json;
/// use ws_harness::Contract;
/// use ws_harness::config::ContractSettings;
/// use ws_harness::contract::Rule;
///
/// let contract = Contract::load(&ContractSettings::default(), &["agent_started"]).unwrap();
/// let mut stream = contract.stream(Some("alice".into()));
/// let event = |id: u64| json!({"type": "agent_started", "event_id": id,
///     "timestamp": "2026-01-01T00:00:00.000Z", "user_id": "alice", "thread_id": "t",
///     "run_id": format!("r-{id}"), "message_id": format!("m-{id}"), "agent_name": "a", "critical": true});
/// // After a reconnect, the client resumes after event 4: 5 must come next.
/// stream.new_connection();
/// stream.resume_from(4);
/// let gap = stream.check(&event(6), &event(6).to_string()).unwrap();
/// assert_eq!(gap.rule, Rule::SequenceGap);
/// assert_eq!(gap.message, "`event_id` 6 follows 4: 5 skipped");
/// ```
#[derive(Debug, Clone)]
pub struct ContractStream {
    contract: Contract,
    subject: Option<String>,
    /// The last sequence value, or `None` until the stream's first.
    last: Option<u64>,
    /// The runs going on (a handful at most: runs of one user may
    /// interleave), searched in order.
    open_runs: Vec<Run>,
    /// The latest ended runs, with the kind that ended each, and their
    /// ids oldest first (to forget the oldest).
    ended_runs: HashMap<String, String>,
    ended_order: VecDeque<String>,
}

#[derive(Debug, Clone, Default)]
struct Run {
    id: String,
    /// Which required events (by position) have arrived.
    seen: Vec<bool>,
    /// Joined after its start (a connection opened mid-run): its order is
    /// not judged.
    partial: bool,
}

impl ContractStream {
    pub(super) fn new(contract: Contract, subject: Option<String>) -> Self {
        Self {
            contract,
            subject,
            last: None,
            open_runs: Vec::new(),
            ended_runs: HashMap::new(),
            ended_order: VecDeque::new(),
        }
    }

    /// The contract it checks against.
    #[must_use]
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// The stream goes on over a new connection: its first sequence value
    /// starts afresh (events sent while no connection was open were not
    /// sent to it).
    pub fn new_connection(&mut self) {
        self.last = None;
    }

    /// The client asked for everything after `last`: the next value must
    /// follow it.
    pub fn resume_from(&mut self, last: u64) {
        self.last = Some(last);
    }

    /// Checks the next frame (`json` parsed from `text`; `Value::Null` for
    /// what is not a text frame, which is not checked): the first rule it
    /// breaks.
    pub fn check(&mut self, json: &Value, text: &str) -> Option<Violation> {
        if json.is_null() || self.contract.is_none() {
            return None;
        }
        let Some(object) = json.as_object() else {
            return Some(not_json(text));
        };
        let fields = self.contract.fields(object);
        // A frame that breaks a per-frame rule still moves the stream on,
        // so the frames after it are judged on their own.
        let frame_violation = self.contract.check_frame(json, text, &fields);
        let stream_violation = self.check_stream(text, &fields);
        frame_violation.or(stream_violation)
    }

    /// The stream rules: owner, sequence, runs.
    fn check_stream(&mut self, text: &str, fields: &Fields<'_>) -> Option<Violation> {
        let violation = |rule, field: &str, message: String| {
            Some(Violation {
                rule,
                pointer: pointer_of(field),
                message,
                frame: text.to_owned(),
            })
        };
        let settings = &self.contract.inner.settings;
        if let Some(field) = &settings.owner_field
            && let Some(owner) = fields.owner
        {
            let (expected, who) = match &settings.owner {
                OwnerRule::Subject => (self.subject.as_deref(), "the token's subject"),
                OwnerRule::Value(value) => (Some(value.as_str()), "contract.owner"),
            };
            let Some(expected) = expected else {
                return violation(
                    Rule::Owner,
                    field,
                    format!(
                        "the frame is for {owner}, and this client's token is not a JWT with a `sub` to compare it with; set contract.owner to the subject, or contract.owner_field = \"\" to turn the rule off"
                    ),
                );
            };
            if owner.as_str() != Some(expected) {
                return violation(
                    Rule::Owner,
                    field,
                    format!("the frame is for {owner}; this client is `{expected}` ({who})"),
                );
            }
        }
        if let Some(oldest) = fields.restart.and_then(Value::as_u64) {
            self.last = Some(oldest.saturating_sub(1));
        }
        let mut first_of_connection = false;
        if let Some(field) = &settings.sequence_field
            && let Some(value) = fields.sequence
        {
            let Some(value) = value.as_u64() else {
                return violation(
                    Rule::Schema,
                    field,
                    format!("`{field}` is {value}, not a whole number"),
                );
            };
            let last = self.last.replace(value.max(self.last.unwrap_or(0)));
            match last {
                None => first_of_connection = true,
                Some(last) if value <= last => {
                    return violation(
                        Rule::SequenceRepeated,
                        field,
                        format!("`{field}` {value} again or out of order: {last} came already"),
                    );
                }
                Some(last) if settings.sequence == SequenceRule::Gapless && value != last + 1 => {
                    let skipped = if value == last + 2 {
                        format!("{} skipped", last + 1)
                    } else {
                        format!("{} to {} skipped", last + 1, value - 1)
                    };
                    return violation(
                        Rule::SequenceGap,
                        field,
                        format!("`{field}` {value} follows {last}: {skipped}"),
                    );
                }
                Some(_) => {}
            }
        }
        self.check_run(text, fields, first_of_connection)
    }

    /// The run rules: required events in order, nothing after the end.
    fn check_run(
        &mut self,
        text: &str,
        fields: &Fields<'_>,
        first_of_connection: bool,
    ) -> Option<Violation> {
        let inner = &self.contract.inner;
        let run_id = fields.run?.as_str()?;
        let kind = fields.kind?.as_str()?;
        let position = inner.run_events().iter().position(|e| e == kind);
        let terminal = inner.terminal_kinds().iter().any(|t| t == kind);
        // A frame of the run: one of its kinds, or a sequenced frame (an
        // event) carrying its id; not a reply that names it (an error).
        if position.is_none() && !terminal && fields.sequence.is_none() {
            return None;
        }
        let violation = |rule, message: String| {
            Some(Violation {
                rule,
                pointer: pointer_of(&inner.settings.kind_field),
                message,
                frame: text.to_owned(),
            })
        };
        let index = match self.open_runs.iter().position(|run| run.id == run_id) {
            Some(index) => index,
            None => {
                if let Some(end) = self.ended_runs.get(run_id) {
                    return violation(
                        Rule::AfterTerminal,
                        format!(
                            "`{kind}` of run {run_id} arrived after the run ended with `{end}`"
                        ),
                    );
                }
                self.open_runs.push(Run {
                    id: run_id.to_owned(),
                    seen: vec![false; inner.run_events().len()],
                    partial: first_of_connection && position != Some(0),
                });
                self.open_runs.len() - 1
            }
        };
        let mut ended;
        let run = if terminal {
            // It ends here: judged below, and remembered as ended.
            ended = self.open_runs.swap_remove(index);
            if self.ended_order.len() == ENDED_RUNS_KEPT
                && let Some(oldest) = self.ended_order.pop_front()
            {
                self.ended_runs.remove(&oldest);
            }
            self.ended_order.push_back(run_id.to_owned());
            self.ended_runs.insert(run_id.to_owned(), kind.to_owned());
            &mut ended
        } else {
            &mut self.open_runs[index]
        };
        if let Some(i) = position
            && !run.partial
            && !run.seen[i]
        {
            run.seen[i] = true;
            if let Some(later) = (i + 1..run.seen.len()).find(|&j| run.seen[j]) {
                return violation(
                    Rule::RunOrder,
                    format!(
                        "`{kind}` of run {run_id} arrived after `{}`; the required order is {}",
                        inner.run_events()[later],
                        inner.run_events().join(", ")
                    ),
                );
            }
            if i + 1 == run.seen.len()
                && let Some(missing) = run.seen.iter().position(|seen| !seen)
            {
                return violation(
                    Rule::RunMissingEvent,
                    format!(
                        "run {run_id} ended with `{kind}` without `{}`; every run carries {}",
                        inner.run_events()[missing],
                        inner.run_events().join(", ")
                    ),
                );
            }
        }
        None
    }
}
