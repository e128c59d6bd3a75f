use super::{ErrorCode, ProtocolError};
use serde::{Deserialize, Serialize};

/// A server frame that is not an agent event: the answer to one client frame,
/// sent on that client's connection only and carrying no `event_id`.
///
/// ```
/// use ws_harness::protocol::Reply;
///
/// let pong = Reply::Pong { nonce: Some("abc".into()) };
/// assert_eq!(serde_json::to_string(&pong).unwrap(), r#"{"type":"pong","nonce":"abc"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The answer to a `ping`, echoing its nonce.
    Pong {
        /// The `nonce` of the `ping`, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// The end of a `resume` replay; live events follow.
    Resumed {
        /// How many events were replayed.
        replayed: u64,
        /// The newest event id of the user when the replay ended.
        last_event_id: u64,
    },
    /// A recoverable error; the connection stays open.
    Error {
        /// What kind of error.
        code: ErrorCode,
        /// What was wrong and how to fix it.
        message: String,
        /// For `invalid_field`, the field at fault.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// The `message_id` of the offending frame, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// For `rate_limited`, when to retry.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// For `replay_gap`, the oldest event id the buffer still holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        oldest_event_id: Option<u64>,
    },
}

impl From<ProtocolError> for Reply {
    fn from(err: ProtocolError) -> Self {
        Reply::Error {
            code: err.code,
            message: err.message,
            field: err.field,
            message_id: err.message_id,
            retry_after_ms: err.retry_after_ms,
            oldest_event_id: err.oldest_event_id,
        }
    }
}

impl Reply {
    /// The frame as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a reply always serializes")
    }
}
