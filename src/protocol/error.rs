use serde::{Deserialize, Serialize};
use std::fmt;

/// The `code` of a recoverable `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    InvalidJson,
    /// `type` is missing or is not one of the client types.
    UnknownType,
    /// A field is missing, of the wrong type or out of range; `field` names it.
    InvalidField,
    /// `content` is over its limit.
    MessageTooLarge,
    /// Over the per-user message rate; `retry_after_ms` says when to retry.
    RateLimited,
    /// A `resume` older than the replay buffer; `oldest_event_id` says what is left.
    ReplayGap,
    /// A server fault; the server logged it and stays up.
    Internal,
}

impl ErrorCode {
    /// The wire name, e.g. `"invalid_field"`.
    ///
    /// ```
    /// use ws_harness::protocol::ErrorCode;
    /// assert_eq!(ErrorCode::MessageTooLarge.as_str(), "message_too_large");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownType => "unknown_type",
            Self::InvalidField => "invalid_field",
            Self::MessageTooLarge => "message_too_large",
            Self::RateLimited => "rate_limited",
            Self::ReplayGap => "replay_gap",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recoverable error in what a client sent, turned into an `error` frame
/// for the offending connection only.
///
/// ```
/// use ws_harness::protocol::{ClientMessage, ErrorCode};
///
/// let err = ClientMessage::parse(r#"{"type":"user_message","message_id":"m-1"}"#).unwrap_err();
/// assert_eq!(err.code, ErrorCode::InvalidField);
/// assert_eq!(err.field.as_deref(), Some("thread_id"));
/// assert_eq!(err.message_id.as_deref(), Some("m-1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// What kind of error it is.
    pub code: ErrorCode,
    /// A sentence for people: what was wrong and how to fix it.
    pub message: String,
    /// For `invalid_field`, the field at fault (dotted for nested fields).
    pub field: Option<String>,
    /// The `message_id` of the offending frame, when it had a usable one.
    pub message_id: Option<String>,
    /// For `rate_limited`, when to retry.
    pub retry_after_ms: Option<u64>,
    /// For `replay_gap`, the oldest event id the buffer still holds.
    pub oldest_event_id: Option<u64>,
}

impl ProtocolError {
    /// An error with this code and message and no field.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            message_id: None,
            retry_after_ms: None,
            oldest_event_id: None,
        }
    }

    /// An `invalid_field` error naming `field`.
    #[must_use]
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(ErrorCode::InvalidField, message)
        }
    }

    /// The same error, tagged with the offending frame's `message_id`.
    #[must_use]
    pub fn with_message_id(mut self, message_id: Option<String>) -> Self {
        self.message_id = message_id;
        self
    }
}
