//! The `contract.*` settings' types.

use crate::config::Template;
use std::fmt;
use std::path::PathBuf;

/// Where the contract comes from (setting `contract.source`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ContractSource {
    /// The reference protocol of `docs/PROTOCOL.md`, with its rules.
    #[default]
    Reference,
    /// A JSON Schema file, or an AsyncAPI 2.x/3.0 document (YAML or JSON).
    File(PathBuf),
    /// No contract: frames are recorded, not checked.
    None,
}

impl fmt::Display for ContractSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reference => f.write_str("reference"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::None => f.write_str("none"),
        }
    }
}

/// How the sequence field must go up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SequenceRule {
    /// Each value is the one before plus one.
    #[default]
    Gapless,
    /// Each value is above the one before.
    Increasing,
}

/// What a frame of a kind the contract does not name is (setting
/// `contract.unknown_kinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UnknownKinds {
    /// The frame breaks the contract (`violation`).
    #[default]
    Violation,
    /// The frame passes unchecked (`allow`).
    Allow,
}

/// Which application an AsyncAPI document describes (setting
/// `contract.describes`): public WebSocket APIs are written from either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Describes {
    /// The service (`service`): its `send` (3.0; 2.x `subscribe`) messages
    /// are what it sends.
    #[default]
    Service,
    /// Its client (`client`): the client's `send` (3.0; 2.x `subscribe`)
    /// messages are what the service receives, its `receive` what the
    /// service sends.
    Client,
}

impl Describes {
    /// `service` or `client`, as the setting writes it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Client => "client",
        }
    }

    /// The other side.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Service => Self::Client,
            Self::Client => Self::Service,
        }
    }

    /// The application, in words: `the service` or `the service's clients`.
    #[must_use]
    pub fn application(self) -> &'static str {
        match self {
            Self::Service => "the service",
            Self::Client => "the service's clients",
        }
    }
}

/// Who the owner field must name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum OwnerRule {
    /// The authenticated subject: the `sub` of the client's token.
    #[default]
    Subject,
    /// A fixed value, the same for every client.
    Value(String),
}

/// The `[contract]` settings. Unset rule settings of the `reference`
/// source take the reference protocol's; of a file, nothing.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
/// use ws_harness::config::ContractSource;
///
/// let config = RealWebSocketTestConfig::builder().without_environment().build().unwrap();
/// assert_eq!(config.contract.source, ContractSource::Reference);
/// assert_eq!(config.contract.kind_field, "type");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ContractSettings {
    /// Where the schemas come from.
    pub source: ContractSource,
    /// The field whose value names a frame's kind. Default `type`.
    pub kind_field: String,
    /// What a frame of a kind the contract does not name is.
    pub unknown_kinds: UnknownKinds,
    /// Which application an AsyncAPI source describes.
    pub describes: Describes,
    /// The field that must go up per stream (`event_id` for the reference).
    pub sequence_field: Option<String>,
    /// How it must go up. Default gapless.
    pub sequence: SequenceRule,
    /// A field after which the sequence goes on from its value (the
    /// reference's `replay_gap` error carries `oldest_event_id`).
    pub sequence_restart_field: Option<String>,
    /// The field that must name the stream's owner (`user_id`).
    pub owner_field: Option<String>,
    /// Who that is. Default: the token's subject.
    pub owner: OwnerRule,
    /// Fields no frame may carry (`data` for the reference: events are flat).
    pub forbidden_fields: Option<Vec<String>>,
    /// The field that names a frame's run (`message_id`).
    pub run_field: Option<String>,
    /// The kinds every run carries, in this order; the last one ends a
    /// complete run (the reference: the config's `required_agent_events`).
    pub run_events: Option<Vec<String>>,
    /// Kinds after which a run has ended (`agent_completed`, `agent_error`).
    pub terminal_kinds: Option<Vec<String>>,
    /// The frame a client sends after a reconnect to get what it missed,
    /// `${last}` standing for the last sequence value it received (the
    /// reference: `{"type": "resume", "last_event_id": "${last}"}`).
    pub resume_frame: Option<Template>,
    /// The kind of the service's answer to it, which ends the replay
    /// (`resumed`); none: the replay is not acknowledged.
    pub resume_reply: Option<String>,
}

impl Default for ContractSettings {
    fn default() -> Self {
        Self {
            source: ContractSource::Reference,
            kind_field: "type".to_owned(),
            unknown_kinds: UnknownKinds::Violation,
            describes: Describes::Service,
            sequence_field: None,
            sequence: SequenceRule::Gapless,
            sequence_restart_field: None,
            owner_field: None,
            owner: OwnerRule::Subject,
            forbidden_fields: None,
            run_field: None,
            run_events: None,
            terminal_kinds: None,
            resume_frame: None,
            resume_reply: None,
        }
    }
}
