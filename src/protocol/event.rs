use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// One flat agent event, as the server sends it.
///
/// Business fields sit at the top level of the JSON object (never inside a
/// `data` wrapper): the common fields here, and the fields of its
/// [`EventKind`] flattened beside them.
///
/// ```
/// use ws_harness::protocol::{AgentEvent, EventKind, EventType};
///
/// let text = r#"{"type":"agent_thinking","thought":"hmm","event_id":2,
///   "timestamp":"2026-01-01T00:00:00.000Z","user_id":"alice","thread_id":"t-1",
///   "run_id":"run-1","message_id":"m-1","agent_name":"reference-agent","critical":true}"#;
/// let event: AgentEvent = serde_json::from_str(text).unwrap();
/// assert_eq!(event.kind.event_type(), EventType::AgentThinking);
/// assert!(matches!(event.kind, EventKind::AgentThinking { ref thought } if thought == "hmm"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// The event's type and its type-specific fields (first, so `"type"`
    /// leads the JSON object).
    #[serde(flatten)]
    pub kind: EventKind,
    /// Per-user sequence number: 1, 2, 3, ... with no gaps across runs and connections.
    pub event_id: u64,
    /// RFC 3339 time in UTC with milliseconds, e.g. `2026-01-01T00:00:00.000Z`.
    pub timestamp: String,
    /// The user the event belongs to, taken from the token's `sub`.
    pub user_id: String,
    /// The thread named by the `user_message` that started the run.
    pub thread_id: String,
    /// The run this event belongs to.
    pub run_id: String,
    /// The `message_id` of the `user_message` that started the run.
    pub message_id: String,
    /// The name of the agent that emitted the event.
    pub agent_name: String,
    /// Always `true`: every agent event is a critical event.
    pub critical: bool,
}

/// The type of an agent event with the fields that only that type carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(missing_docs)] // fields named for what they hold
pub enum EventKind {
    /// The run began.
    AgentStarted,
    /// One thinking step.
    AgentThinking {
        /// What the agent is thinking about.
        thought: String,
    },
    /// A tool call began.
    ToolExecuting {
        /// The tool being called.
        tool_name: String,
        tool_input: Value,
    },
    /// A tool call finished.
    ToolCompleted {
        /// The tool that was called.
        tool_name: String,
        /// What the tool returned.
        result: Value,
        /// How long the call took.
        duration_ms: u64,
    },
    /// The run finished with an answer.
    AgentCompleted {
        /// The agent's answer.
        final_response: String,
        /// How long the run took.
        duration_ms: u64,
    },
    /// The run failed.
    AgentError {
        /// What went wrong.
        error: String,
        /// The type of the last event before the failure.
        failed_after: EventType,
    },
}

impl EventKind {
    /// The [`EventType`] of this kind.
    ///
    /// ```
    /// use ws_harness::protocol::{EventKind, EventType};
    /// assert_eq!(EventKind::AgentStarted.event_type(), EventType::AgentStarted);
    /// ```
    #[must_use]
    pub fn event_type(&self) -> EventType {
        match self {
            Self::AgentStarted => EventType::AgentStarted,
            Self::AgentThinking { .. } => EventType::AgentThinking,
            Self::ToolExecuting { .. } => EventType::ToolExecuting,
            Self::ToolCompleted { .. } => EventType::ToolCompleted,
            Self::AgentCompleted { .. } => EventType::AgentCompleted,
            Self::AgentError { .. } => EventType::AgentError,
        }
    }
}

/// The name of an agent event type, as it appears in `"type"`. Ordered as a
/// run emits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// `agent_started`
    AgentStarted,
    /// `agent_thinking`
    AgentThinking,
    /// `tool_executing`
    ToolExecuting,
    /// `tool_completed`
    ToolCompleted,
    /// `agent_completed`
    AgentCompleted,
    /// `agent_error`
    AgentError,
}

/// The five events every run with default settings emits, in order.
pub const REQUIRED_EVENTS: [EventType; 5] = [
    EventType::AgentStarted,
    EventType::AgentThinking,
    EventType::ToolExecuting,
    EventType::ToolCompleted,
    EventType::AgentCompleted,
];

impl EventType {
    /// Every event type, in the order a run can emit them.
    pub const ALL: [EventType; 6] = [
        Self::AgentStarted,
        Self::AgentThinking,
        Self::ToolExecuting,
        Self::ToolCompleted,
        Self::AgentCompleted,
        Self::AgentError,
    ];

    /// The wire name, e.g. `"agent_started"`.
    ///
    /// ```
    /// use ws_harness::protocol::EventType;
    /// assert_eq!(EventType::ToolCompleted.as_str(), "tool_completed");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgentStarted => "agent_started",
            Self::AgentThinking => "agent_thinking",
            Self::ToolExecuting => "tool_executing",
            Self::ToolCompleted => "tool_completed",
            Self::AgentCompleted => "agent_completed",
            Self::AgentError => "agent_error",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown event type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event type `{0}`; expected one of agent_started, agent_thinking, tool_executing, tool_completed, agent_completed, agent_error"
)]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

impl AgentEvent {
    /// The event of a frame already parsed as JSON, as
    /// `AgentEvent::deserialize(json)` reads it, without the copy of every
    /// field that deserializing a flattened struct and a tagged enum makes:
    /// the kind's fields are read in place, chosen by `"type"`.
    pub(crate) fn from_json(json: &Value) -> Result<Self, serde_json::Error> {
        /// The fields every event has, read in place.
        #[derive(Deserialize)]
        struct Common {
            event_id: u64,
            timestamp: String,
            user_id: String,
            thread_id: String,
            run_id: String,
            message_id: String,
            agent_name: String,
            critical: bool,
        }
        let field = |name: &'static str| {
            json.get(name)
                .ok_or_else(|| serde::de::Error::missing_field(name))
        };
        let Some(event_type) = json
            .get("type")
            .and_then(Value::as_str)
            .and_then(|name| name.parse::<EventType>().ok())
        else {
            // Not an object with one of the types: serde's own words for it.
            return Self::deserialize(json);
        };
        // The common fields before the kind's, as the flattened derive reports them.
        let common = Common::deserialize(json)?;
        let kind = match event_type {
            EventType::AgentStarted => EventKind::AgentStarted,
            EventType::AgentThinking => EventKind::AgentThinking {
                thought: String::deserialize(field("thought")?)?,
            },
            EventType::ToolExecuting => EventKind::ToolExecuting {
                tool_name: String::deserialize(field("tool_name")?)?,
                tool_input: field("tool_input")?.clone(),
            },
            EventType::ToolCompleted => EventKind::ToolCompleted {
                tool_name: String::deserialize(field("tool_name")?)?,
                result: field("result")?.clone(),
                duration_ms: u64::deserialize(field("duration_ms")?)?,
            },
            EventType::AgentCompleted => EventKind::AgentCompleted {
                final_response: String::deserialize(field("final_response")?)?,
                duration_ms: u64::deserialize(field("duration_ms")?)?,
            },
            EventType::AgentError => EventKind::AgentError {
                error: String::deserialize(field("error")?)?,
                failed_after: EventType::deserialize(field("failed_after")?)?,
            },
        };
        Ok(Self {
            kind,
            event_id: common.event_id,
            timestamp: common.timestamp,
            user_id: common.user_id,
            thread_id: common.thread_id,
            run_id: common.run_id,
            message_id: common.message_id,
            agent_name: common.agent_name,
            critical: common.critical,
        })
    }
}

#[cfg(test)]
impl AgentEvent {
    /// An event of `alice` with placeholder common fields, for unit tests.
    pub(crate) fn sample(event_id: u64, kind: EventKind) -> Self {
        Self {
            event_id,
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            user_id: "alice".into(),
            thread_id: "t".into(),
            run_id: "r".into(),
            message_id: "m".into(),
            agent_name: "a".into(),
            critical: true,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_json_reads_what_deserialize_reads_and_fails_alike() {
        use serde_json::json;
        let kinds = [
            EventKind::AgentStarted,
            EventKind::AgentThinking {
                thought: "hmm".into(),
            },
            EventKind::ToolExecuting {
                tool_name: "search".into(),
                tool_input: json!({"query": "q"}),
            },
            EventKind::ToolCompleted {
                tool_name: "search".into(),
                result: json!({"hits": 1}),
                duration_ms: 2,
            },
            EventKind::AgentCompleted {
                final_response: "done".into(),
                duration_ms: 3,
            },
            EventKind::AgentError {
                error: "boom".into(),
                failed_after: EventType::ToolExecuting,
            },
        ];
        let fails_alike = |broken: &Value, what: &str| {
            assert_eq!(
                AgentEvent::from_json(broken).unwrap_err().to_string(),
                AgentEvent::deserialize(broken).unwrap_err().to_string(),
                "{what}"
            );
        };
        for (event_id, kind) in (1..).zip(kinds) {
            let event = AgentEvent::sample(event_id, kind);
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(AgentEvent::from_json(&json).unwrap(), event);
            for key in json.as_object().unwrap().keys() {
                let mut broken = json.clone();
                broken.as_object_mut().unwrap().remove(key);
                fails_alike(&broken, &format!("{event_id} without {key}"));
                if key != "tool_input" && key != "result" {
                    let mut broken = json.clone();
                    broken[key] = json!([]);
                    fails_alike(&broken, &format!("{event_id} with {key} a list"));
                }
            }
        }
        fails_alike(&json!({"type": "agent_dancing"}), "an unknown type");
        fails_alike(&json!(["agent_started"]), "not an object");
    }

    #[test]
    fn event_serializes_flat_with_type_beside_common_fields() {
        let event = AgentEvent::sample(
            7,
            EventKind::ToolCompleted {
                tool_name: "search".into(),
                result: serde_json::json!({"ok": true}),
                duration_ms: 3,
            },
        );
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["type"], "tool_completed");
        assert_eq!(value["tool_name"], "search");
        assert_eq!(value["event_id"], 7);
        assert!(value.get("data").is_none());
        let back: AgentEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("agent_done".parse::<EventType>().is_err());
    }
}
