//! [`Respond`]: what a mock does when a frame matches it.

use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A frame built from the frame that matched (its JSON; `Null` when it is
/// not JSON).
type Template = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// What a mock does when a frame matches: steps run in order, composed
/// with [`Respond::then`]. Steps before the first [`Respond::wait`] are
/// sent before the connection's next frame is read; the rest follow on
/// their own, so a delayed reply never holds up other frames.
///
/// ```
/// use serde_json::json;
/// use std::time::Duration;
/// use ws_harness::mock::Respond;
///
/// // Echo the request's id, then after 50 ms a push, then close with 4000.
/// let respond = Respond::reply_with(|request| json!({"type": "ack", "id": request["id"]}))
///     .then(Respond::wait(Duration::from_millis(50)))
///     .then(Respond::reply(json!({"type": "update"})))
///     .then(Respond::close(4000, "done"));
/// assert_eq!(respond.to_string(), "reply (templated), wait 50ms, reply {\"type\":\"update\"}, close 4000 done");
/// ```
#[derive(Clone)]
#[must_use]
pub struct Respond {
    pub(super) steps: Vec<Step>,
}

#[derive(Clone)]
pub(super) enum Step {
    Json(Value),
    Template(Template),
    Text(String),
    Binary(Vec<u8>),
    Wait(Duration),
    Close(u16, String),
    DropConnection,
}

impl Respond {
    fn step(step: Step) -> Self {
        Self { steps: vec![step] }
    }

    /// Sends `frame` as a JSON text frame.
    pub fn reply(frame: Value) -> Self {
        Self::step(Step::Json(frame))
    }

    /// Sends the JSON frame `template` builds from the frame that matched,
    /// e.g. to echo its id.
    pub fn reply_with(template: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Self {
        Self::step(Step::Template(Arc::new(template)))
    }

    /// Sends a text frame of exactly `text`: any text, JSON or not (e.g. a
    /// malformed frame).
    pub fn text(text: impl Into<String>) -> Self {
        Self::step(Step::Text(text.into()))
    }

    /// Sends a binary frame.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        Self::step(Step::Binary(bytes.into()))
    }

    /// Waits `delay` before the next step.
    pub fn wait(delay: Duration) -> Self {
        Self::step(Step::Wait(delay))
    }

    /// Closes the connection with `code` and `reason`.
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        Self::step(Step::Close(code, reason.into()))
    }

    /// Drops the connection without a close frame, as a crashed server
    /// would.
    pub fn drop_connection() -> Self {
        Self::step(Step::DropConnection)
    }

    /// Does nothing: the frame is only counted.
    pub fn nothing() -> Self {
        Self { steps: Vec::new() }
    }

    /// `next`'s steps after these.
    pub fn then(mut self, next: Respond) -> Self {
        self.steps.extend(next.steps);
        self
    }
}

impl fmt::Display for Respond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("nothing");
        }
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match step {
                Step::Json(frame) => write!(f, "reply {frame}")?,
                Step::Template(_) => f.write_str("reply (templated)")?,
                Step::Text(text) => write!(f, "text {text:?}")?,
                Step::Binary(bytes) => write!(f, "binary frame of {} bytes", bytes.len())?,
                Step::Wait(delay) => write!(f, "wait {delay:?}")?,
                Step::Close(code, reason) => write!(f, "close {code} {reason}")?,
                Step::DropConnection => f.write_str("drop the connection")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Respond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Respond({self})")
    }
}
