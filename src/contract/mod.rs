//! [`Contract`]: the rules every frame a client receives is checked against,
//! as it arrives, on every client, against any backend.
//!
//! Per frame: a JSON Schema per message kind, chosen by a discriminator
//! field (`type`), and wrapper fields that must not appear. Per stream (one
//! client, across its connections): a sequence field that must be gapless
//! or increasing, an owner field that must name the authenticated subject,
//! and run rules (the required events in order per run, nothing after a
//! terminal event of the same run).
//!
//! Where a contract comes from ([`ContractSource`]): `reference`, built in
//! (the schema is `docs/reference-protocol.schema.json`); a JSON Schema
//! file; an AsyncAPI 2.x or 3.0 document (YAML or JSON): the messages the
//! service sends; or `none`.
//!
//! The same settings also describe the other direction ([`Direction`]):
//! [`Contract::load_sent_by_clients`] checks what clients send, as a
//! [mock](crate::mock) of the service does, with the per-frame rules only.

mod load;
mod schema;
mod stream;

pub use load::{ContractError, SchemaProblem};
pub use stream::ContractStream;

use crate::config::{ContractSettings, ContractSource, UnknownKinds};
use schema::Schema;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Which frames a contract describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// What the service sends, which its clients receive: AsyncAPI 2.x
    /// `subscribe`, 3.0 `action: send`; for `reference`,
    /// `docs/reference-protocol.schema.json`.
    #[default]
    FromService,
    /// What clients send, which the service (or its mock) receives:
    /// AsyncAPI 2.x `publish`, 3.0 `action: receive`; for `reference`,
    /// `docs/reference-client.schema.json`. A JSON Schema file is taken as
    /// the schema of whichever direction is asked for.
    ToService,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FromService => "the service sends",
            Self::ToService => "clients send",
        })
    }
}

/// Which rule a frame broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// The frame is not a JSON object.
    NotJson,
    /// Its kind is not one the contract names.
    UnknownKind,
    /// It does not match its kind's schema.
    Schema,
    /// It carries a field no frame may carry.
    ForbiddenField,
    /// Its owner field names someone other than the stream's owner.
    Owner,
    /// Its sequence value was seen already or is out of order.
    SequenceRepeated,
    /// Its sequence value skips one or more.
    SequenceGap,
    /// A required event of its run came out of order.
    RunOrder,
    /// Its run ended without a required event.
    RunMissingEvent,
    /// It belongs to a run that had already ended.
    AfterTerminal,
}

impl Rule {
    /// The rule's name in reports, e.g. `sequence gap`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotJson => "not JSON",
            Self::UnknownKind => "unknown kind",
            Self::Schema => "schema",
            Self::ForbiddenField => "forbidden field",
            Self::Owner => "owner",
            Self::SequenceRepeated => "sequence repeated",
            Self::SequenceGap => "sequence gap",
            Self::RunOrder => "run order",
            Self::RunMissingEvent => "run missing an event",
            Self::AfterTerminal => "after the run's end",
        }
    }
}

impl Rule {
    /// Every rule, in order.
    pub const ALL: [Rule; 10] = [
        Self::NotJson,
        Self::UnknownKind,
        Self::Schema,
        Self::ForbiddenField,
        Self::Owner,
        Self::SequenceRepeated,
        Self::SequenceGap,
        Self::RunOrder,
        Self::RunMissingEvent,
        Self::AfterTerminal,
    ];

    /// The rule of a name [`as_str`](Self::as_str) gives.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.as_str() == name)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame that broke the contract: the rule, the JSON pointer of the bad
/// field, what is wrong and the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Violation {
    pub rule: Rule,
    /// The JSON pointer of the field at fault (`""`: the whole frame).
    pub pointer: String,
    /// What is wrong, in a sentence.
    pub message: String,
    /// The frame as received.
    pub frame: String,
}

impl fmt::Display for Violation {
    /// `contract violation (sequence gap) at /event_id: event 7 follows event 5 (6 skipped); frame: {...}`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "the frame"
        } else {
            &self.pointer
        };
        write!(
            f,
            "contract violation ({}) at {at}: {}; frame: {}",
            self.rule, self.message, self.frame
        )
    }
}

/// A compiled contract: schemas compiled once, shared by every client of a
/// factory. Make one with [`Contract::load`]; check a stream of frames
/// with [`Contract::stream`].
///
/// ```
/// use serde_json::json;
/// use ws_harness::Contract;
/// use ws_harness::config::ContractSettings;
/// use ws_harness::contract::Rule;
///
/// let contract = Contract::load(&ContractSettings::default(), &["agent_started", "agent_completed"]).unwrap();
/// let mut stream = contract.stream(Some("alice".into()));
/// let frame = json!({"type": "pong", "nonce": 7});
/// let violation = stream.check(&frame, &frame.to_string()).unwrap();
/// assert_eq!((violation.rule, violation.pointer.as_str()), (Rule::Schema, "/nonce"));
/// ```
#[derive(Clone)]
pub struct Contract {
    inner: Arc<Inner>,
}

struct Inner {
    /// What it was loaded from, for reports.
    source: ContractSource,
    /// Which frames it describes.
    direction: Direction,
    /// The schema of each kind; `None` when the contract checks no kinds.
    kinds: Option<HashMap<String, Arc<Schema>>>,
    /// One schema every frame must match (a file without kinds).
    whole: Option<Schema>,
    /// The settings, with the source's rules filled in.
    settings: ContractSettings,
}

impl Inner {
    /// The kinds every run carries, in order.
    fn run_events(&self) -> &[String] {
        self.settings.run_events.as_deref().unwrap_or_default()
    }

    fn forbidden_fields(&self) -> &[String] {
        self.settings
            .forbidden_fields
            .as_deref()
            .unwrap_or_default()
    }

    fn terminal_kinds(&self) -> &[String] {
        self.settings.terminal_kinds.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("source", &self.inner.source)
            .field("direction", &self.inner.direction)
            .field(
                "kinds",
                &self.inner.kinds.as_ref().map(|k| {
                    let mut names: Vec<&String> = k.keys().collect();
                    names.sort();
                    names
                }),
            )
            .finish_non_exhaustive()
    }
}

impl Contract {
    /// The field that says a frame's kind (`contract.kind_field`).
    #[cfg(feature = "mock")]
    pub(crate) fn kind_field(&self) -> &str {
        &self.inner.settings.kind_field
    }

    /// Loads and compiles the contract of `settings`; `required_events` are
    /// the run events of the `reference` source unless
    /// [`ContractSettings::run_events`] names others (the config's
    /// `required_agent_events`).
    ///
    /// # Errors
    /// [`ContractError`] naming the file, the JSON pointer and what is
    /// wrong, for a file that cannot be read or parsed, or a schema that
    /// does not compile.
    pub fn load<S: AsRef<str>>(
        settings: &ContractSettings,
        required_events: &[S],
    ) -> Result<Self, ContractError> {
        load::load(settings, Direction::FromService, required_events)
    }

    /// Loads and compiles the contract of what clients send
    /// ([`Direction::ToService`]) from the same settings: the kinds and
    /// schemas of the frames the service receives. Only the per-frame
    /// rules apply (kind, schema, `unknown_kinds`); the sequence,
    /// owner, forbidden-field and run rules describe the service's stream
    /// and are off.
    ///
    /// ```
    /// use serde_json::json;
    /// use ws_harness::Contract;
    /// use ws_harness::config::ContractSettings;
    /// use ws_harness::contract::Rule;
    ///
    /// let contract = Contract::load_sent_by_clients(&ContractSettings::default()).unwrap();
    /// let mut stream = contract.stream(None);
    /// let frame = json!({"type": "resume", "last_event_id": -1});
    /// let violation = stream.check(&frame, &frame.to_string()).unwrap();
    /// assert_eq!((violation.rule, violation.pointer.as_str()), (Rule::Schema, "/last_event_id"));
    /// ```
    ///
    /// # Errors
    /// [`ContractError`] as for [`Contract::load`]; for an AsyncAPI
    /// document with no message clients send,
    /// [`ContractError::NoMessages`].
    pub fn load_sent_by_clients(settings: &ContractSettings) -> Result<Self, ContractError> {
        load::load(settings, Direction::ToService, &[] as &[&str])
    }

    /// Where it came from.
    #[must_use]
    pub fn source(&self) -> &ContractSource {
        &self.inner.source
    }

    /// Which frames it describes.
    #[must_use]
    pub fn direction(&self) -> Direction {
        self.inner.direction
    }

    /// Its settings, with the source's rules filled in (the `reference`
    /// source's sequence field is `event_id`, and so on).
    #[must_use]
    pub fn settings(&self) -> &ContractSettings {
        &self.inner.settings
    }

    /// Whether it checks anything (`none` does not).
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.inner.source == ContractSource::None
    }

    /// A fresh stream of one client, owned by `subject` (the authenticated
    /// subject, for the owner rule).
    #[must_use]
    pub fn stream(&self, subject: Option<String>) -> ContractStream {
        ContractStream::new(self.clone(), subject)
    }

    /// The fields of a frame the rules read, found in one pass over it
    /// (cheaper than a lookup per field: equal names are told by length
    /// first, a lookup orders strings).
    fn fields<'a>(&self, object: &'a Map<String, Value>) -> Fields<'a> {
        let settings = &self.inner.settings;
        let named = |field: &Option<String>, key: &str| field.as_deref() == Some(key);
        let mut found = Fields::default();
        for (key, value) in object {
            if *key == settings.kind_field {
                found.kind = Some(value);
            } else if named(&settings.sequence_field, key) {
                found.sequence = Some(value);
            } else if named(&settings.sequence_restart_field, key) {
                found.restart = Some(value);
            } else if named(&settings.owner_field, key) {
                found.owner = Some(value);
            } else if named(&settings.run_field, key) {
                found.run = Some(value);
            } else if found.forbidden.is_none()
                && self.inner.forbidden_fields().iter().any(|f| f == key)
            {
                found.forbidden = Some(key);
            }
        }
        found
    }

    /// The per-frame rules: forbidden fields, kind, schema.
    fn check_frame(&self, json: &Value, text: &str, fields: &Fields<'_>) -> Option<Violation> {
        let inner = &self.inner;
        let violation = |rule, pointer: String, message: String| {
            Some(Violation {
                rule,
                pointer,
                message,
                frame: text.to_owned(),
            })
        };
        if let Some(field) = fields.forbidden {
            return violation(
                Rule::ForbiddenField,
                pointer_of(field),
                format!("`{field}` must not appear (the contract's fields are flat, not wrapped)"),
            );
        }
        if let Some(whole) = &inner.whole {
            return whole.violation(json, text);
        }
        let kinds = inner.kinds.as_ref()?;
        let kind_field = &inner.settings.kind_field;
        let Some(kind) = fields.kind.and_then(Value::as_str) else {
            return violation(
                Rule::UnknownKind,
                pointer_of(kind_field),
                format!("the frame has no string `{kind_field}` to say its kind"),
            );
        };
        match kinds.get(kind) {
            Some(schema) => schema.violation(json, text),
            None if inner.settings.unknown_kinds == UnknownKinds::Allow => None,
            None => {
                let mut known: Vec<&str> = kinds.keys().map(String::as_str).collect();
                known.sort_unstable();
                let hint = if inner.source == ContractSource::Reference {
                    "; a service with a protocol of its own needs its contract in contract.source (an AsyncAPI document, a JSON Schema, or none)"
                } else {
                    ""
                };
                violation(
                    Rule::UnknownKind,
                    pointer_of(kind_field),
                    format!(
                        "`{kind}` is not a kind the {} contract names ({}){hint}",
                        inner.source,
                        known.join(", ")
                    ),
                )
            }
        }
    }
}

/// The fields of one frame the rules read.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<&'a Value>,
    sequence: Option<&'a Value>,
    restart: Option<&'a Value>,
    owner: Option<&'a Value>,
    run: Option<&'a Value>,
    /// The first forbidden field it carries.
    forbidden: Option<&'a str>,
}

/// A frame that is not a JSON object.
fn not_json(text: &str) -> Violation {
    Violation {
        rule: Rule::NotJson,
        pointer: String::new(),
        message: "the frame is not a JSON object".to_owned(),
        frame: text.to_owned(),
    }
}

/// The JSON pointer of a top-level field.
fn pointer_of(field: &str) -> String {
    format!("/{}", field.replace('~', "~0").replace('/', "~1"))
}
