//! Small composable frame matchers: by type, by partial JSON, or both.

use crate::protocol::EventType;
use serde_json::Value;
use std::fmt;

/// Matches frames by kind and/or a partial JSON object: every key of the
/// pattern must be in the frame with a matching value (objects compared the
/// same way, recursively; other values compared exactly). A frame's kind
/// is its `type`, or in a client's expectations and a mock's matchers the
/// contract's `contract.kind_field`.
///
/// ```
/// use serde_json::json;
/// use ws_harness::{event, frame};
///
/// let started = json!({"type": "agent_started", "event_id": 1, "message_id": "m-1"});
/// assert!(event("agent_started").matches(&started));
/// assert!(event("agent_started").with(json!({"message_id": "m-1"})).matches(&started));
/// assert!(!event("agent_started").with(json!({"message_id": "m-2"})).matches(&started));
/// assert!(frame(json!({"event_id": 1})).matches(&started));
/// // A protocol whose kind field is `kind`:
/// assert!(event("tick").matches_with_kind_field(&json!({"kind": "tick"}), "kind"));
/// assert_eq!(event("pong").with(json!({"nonce": "a"})).to_string(), r#"pong {"nonce":"a"}"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct FrameMatcher {
    frame_type: Option<String>,
    pattern: Option<Value>,
}

/// Matches a frame of kind `frame_type` (an event type or a reply type such
/// as `pong`, `resumed`, `error`; a kind of the team's protocol).
pub fn event(frame_type: impl Into<String>) -> FrameMatcher {
    FrameMatcher {
        frame_type: Some(frame_type.into()),
        pattern: None,
    }
}

/// Matches a frame that contains `pattern` (see [`FrameMatcher`]).
pub fn frame(pattern: Value) -> FrameMatcher {
    FrameMatcher {
        frame_type: None,
        pattern: Some(pattern),
    }
}

/// Matches an `error` frame with this `code`.
pub fn error_code(code: &str) -> FrameMatcher {
    event("error").with(serde_json::json!({ "code": code }))
}

impl FrameMatcher {
    /// Also requires `pattern` (merged with any pattern already given).
    pub fn with(mut self, pattern: Value) -> Self {
        self.pattern = Some(match (self.pattern.take(), pattern) {
            (Some(Value::Object(mut a)), Value::Object(b)) => {
                a.extend(b);
                Value::Object(a)
            }
            (_, pattern) => pattern,
        });
        self
    }

    /// The kind it requires, if any.
    pub(crate) fn kind(&self) -> Option<&str> {
        self.frame_type.as_deref()
    }

    /// The partial JSON it requires, if any.
    pub(crate) fn pattern(&self) -> Option<&Value> {
        self.pattern.as_ref()
    }

    /// Whether `frame` matches, its kind in `type`.
    #[must_use]
    pub fn matches(&self, frame: &Value) -> bool {
        self.matches_with_kind_field(frame, "type")
    }

    /// Whether `frame` matches, its kind in `kind_field`.
    #[must_use]
    pub fn matches_with_kind_field(&self, frame: &Value, kind_field: &str) -> bool {
        let kind_ok = self
            .frame_type
            .as_deref()
            .is_none_or(|t| frame.get(kind_field).and_then(Value::as_str) == Some(t));
        kind_ok && self.pattern.as_ref().is_none_or(|p| contains(frame, p))
    }
}

impl From<EventType> for FrameMatcher {
    fn from(event_type: EventType) -> Self {
        event(event_type.as_str())
    }
}

impl From<&str> for FrameMatcher {
    fn from(frame_type: &str) -> Self {
        event(frame_type)
    }
}

impl fmt::Display for FrameMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.frame_type, &self.pattern) {
            (Some(t), Some(p)) => write!(f, "{t} {p}"),
            (Some(t), None) => f.write_str(t),
            (None, Some(p)) => write!(f, "a frame with {p}"),
            (None, None) => f.write_str("any frame"),
        }
    }
}

/// Whether `value` holds everything in `pattern`.
fn contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| contains(vv, pv))),
        _ => value == pattern,
    }
}
