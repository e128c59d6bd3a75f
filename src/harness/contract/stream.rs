//! [`ContractStream`]: the contract applied to one client's frames in
//! order, across its connections: per-frame rules, then sequence, owner
//! and run rules.

use super::{Contract, OwnerRule, Rule, SequenceRule, Violation, pointer_of};
use serde_json::Value;
use std::collections::HashMap;

/// The contract's state for one client: what it has seen of the sequence
/// and of each run. Made by [`Contract::stream`].
#[derive(Debug, Clone)]
pub struct ContractStream {
    contract: Contract,
    subject: Option<String>,
    /// The last sequence value, or `None` until the stream's first.
    last: Option<u64>,
    /// Runs by id.
    runs: HashMap<String, Run>,
}

#[derive(Debug, Clone, Default)]
struct Run {
    /// Which required events (by position) have arrived.
    seen: Vec<bool>,
    /// The kind that ended it.
    ended_by: Option<String>,
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
            runs: HashMap::new(),
        }
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
        if let Some(violation) = self.contract.check_frame(json, text) {
            return Some(violation);
        }
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
            && let Some(owner) = json.get(field)
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
        if let Some(field) = &settings.sequence_restart_field
            && let Some(oldest) = json.get(field).and_then(Value::as_u64)
        {
            self.last = Some(oldest.saturating_sub(1));
        }
        let mut first_of_connection = false;
        if let Some(field) = &settings.sequence_field
            && let Some(value) = json.get(field)
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
        self.check_run(json, text, first_of_connection)
    }

    /// The run rules: required events in order, nothing after the end.
    fn check_run(
        &mut self,
        json: &Value,
        text: &str,
        first_of_connection: bool,
    ) -> Option<Violation> {
        let inner = &self.contract.inner;
        let field = inner.settings.run_field.as_ref()?;
        let run_id = json.get(field)?.as_str()?;
        let kind = json.get(&inner.settings.kind_field)?.as_str()?;
        let position = inner.run_events.iter().position(|e| e == kind);
        let terminal = inner.terminal_kinds.iter().any(|t| t == kind);
        // A frame of the run: one of its kinds, or a sequenced frame (an
        // event) carrying its id; not a reply that names it (an error).
        let sequenced =
            (inner.settings.sequence_field.as_ref()).is_some_and(|field| json.get(field).is_some());
        if position.is_none() && !terminal && !sequenced {
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
        let run = self.runs.entry(run_id.to_owned()).or_insert_with(|| Run {
            seen: vec![false; inner.run_events.len()],
            ended_by: None,
            partial: first_of_connection && position != Some(0),
        });
        if let Some(end) = &run.ended_by {
            return violation(
                Rule::AfterTerminal,
                format!("`{kind}` of run {run_id} arrived after the run ended with `{end}`"),
            );
        }
        if terminal {
            run.ended_by = Some(kind.to_owned());
        }
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
                        inner.run_events[later],
                        inner.run_events.join(", ")
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
                        inner.run_events[missing],
                        inner.run_events.join(", ")
                    ),
                );
            }
        }
        None
    }
}
