//! [`Respond`]: what a mock does when a frame matches it.

use super::{Handshake, MockConnectionId};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A frame built from the frame that matched (its JSON; `Null` when it is
/// not JSON).
type Template = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// A frame for one recipient, built from the frame that matched, how the
/// sender's connection was opened and the recipient's connection.
type PeerTemplate = Arc<dyn Fn(&Value, &Handshake, &mut Peer<'_>) -> Value + Send + Sync>;

/// A change to the sender's connection state, from the frame that matched.
type Update = Arc<dyn Fn(&Value, &mut Peer<'_>) + Send + Sync>;

/// Whether a connection receives a published frame, by the frame that
/// matched and the connection.
type Picks = Arc<dyn Fn(&Value, &Peer<'_>) -> bool + Send + Sync>;

/// One open connection of the mock, as a response sees it
/// ([`Respond::publish`], [`Respond::update`], [`Recipients::matching`]):
/// how it was opened, and its state, a JSON value (`null` at first) the
/// mock's responses keep per connection, such as a counter or the rooms it
/// joined (`peer.state["rooms"]["lobby"] = json!(true)`).
#[derive(Debug)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Peer<'a> {
    pub id: MockConnectionId,
    pub handshake: &'a Handshake,
    /// Its state: `null` until a response sets it.
    pub state: &'a mut Value,
}

impl Peer<'_> {
    /// Adds one to the counter `name` of its state and returns the new
    /// value: 1, 2, 3, … per connection (a per-connection `seq`).
    pub fn next(&mut self, name: &str) -> u64 {
        let next = self.state[name].as_u64().unwrap_or(0) + 1;
        self.state[name] = Value::from(next);
        next
    }
}

/// Which open connections receive a published frame
/// ([`Respond::publish`]).
#[derive(Clone)]
pub struct Recipients(pub(super) RecipientsKind);

#[derive(Clone)]
pub(super) enum RecipientsKind {
    Sender,
    All,
    Others,
    Matching(String, Picks),
}

impl Recipients {
    /// The connection whose frame matched.
    #[must_use]
    pub fn sender() -> Self {
        Self(RecipientsKind::Sender)
    }

    /// Every open connection, the sender's too.
    #[must_use]
    pub fn all() -> Self {
        Self(RecipientsKind::All)
    }

    /// Every open connection but the sender's.
    #[must_use]
    pub fn others() -> Self {
        Self(RecipientsKind::Others)
    }

    /// The open connections `picks` says yes to, given the frame that
    /// matched and each connection (its handshake's subject, its state:
    /// the rooms it joined), described in reports by `description`.
    #[must_use]
    pub fn matching(
        description: impl Into<String>,
        picks: impl Fn(&Value, &Peer<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self(RecipientsKind::Matching(
            description.into(),
            Arc::new(picks),
        ))
    }
}

impl fmt::Display for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            RecipientsKind::Sender => f.write_str("the sender"),
            RecipientsKind::All => f.write_str("every connection"),
            RecipientsKind::Others => f.write_str("every other connection"),
            RecipientsKind::Matching(description, _) => f.write_str(description),
        }
    }
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipients({self})")
    }
}

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
    Publish(Recipients, PeerTemplate),
    Update(Update),
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

    /// Sends each of `to` (open connections, the sender's or others) the
    /// JSON frame `template` builds for it from the frame that matched,
    /// the sender's handshake (its subject) and the recipient's
    /// connection: a pub/sub fan-out, each recipient with its own counter.
    ///
    /// ```
    /// use serde_json::json;
    /// use ws_harness::mock::{Recipients, Respond};
    ///
    /// // A room message reaches every connection that joined the room,
    /// // each with its own `seq`.
    /// let in_room = Recipients::matching("the room's members", |say, peer| {
    ///     peer.state["rooms"][say["room"].as_str().unwrap_or_default()] == true
    /// });
    /// let respond = Respond::publish(in_room, |say, sender, peer| {
    ///     json!({"type": "message", "room": say["room"], "from": sender.subject,
    ///            "text": say["text"], "seq": peer.next("seq")})
    /// });
    /// assert_eq!(respond.to_string(), "publish to the room's members (templated)");
    /// ```
    pub fn publish(
        to: Recipients,
        template: impl Fn(&Value, &Handshake, &mut Peer<'_>) -> Value + Send + Sync + 'static,
    ) -> Self {
        Self::step(Step::Publish(to, Arc::new(template)))
    }

    /// Changes the sender's connection state, from the frame that matched
    /// (a subscription: `peer.state["rooms"][room] = json!(true)`).
    pub fn update(change: impl Fn(&Value, &mut Peer<'_>) + Send + Sync + 'static) -> Self {
        Self::step(Step::Update(Arc::new(change)))
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
                Step::Publish(to, _) => write!(f, "publish to {to} (templated)")?,
                Step::Update(_) => f.write_str("update the sender's state")?,
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
