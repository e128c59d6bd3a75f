//! What a [`Mock`](super::Mock) answers: matchers on the frame a client
//! sent and on the handshake of its connection.

use super::{ClientFrame, Handshake};
use crate::client::FrameMatcher;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// One condition of a [`Mock`](super::Mock): on the frame (the harness's
/// [`FrameMatcher`] for JSON, or [`text`], [`regex()`], [`binary`]) or on the
/// handshake of the connection it came on ([`path`], [`query_param`],
/// [`header`], [`subprotocol`], [`subject`]); for anything else, a closure
/// ([`Matcher::from_fn`]).
///
/// ```
/// use ws_harness::event;
/// use ws_harness::mock::{Matcher, path, regex};
///
/// let on_frame: Matcher = event("subscribe").into();
/// assert_eq!(on_frame.to_string(), "subscribe");
/// assert_eq!(path("/ws").to_string(), "path /ws");
/// assert_eq!(regex("^ping").unwrap().to_string(), "text matching /^ping/");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Matcher {
    /// A JSON frame the harness's matcher accepts.
    Frame(FrameMatcher),
    /// A text frame of exactly this text.
    Text(String),
    /// A text frame the regular expression finds a match in.
    Regex(regex::Regex),
    /// A binary frame of exactly these bytes.
    Binary(Vec<u8>),
    /// The connection's path.
    Path(String),
    /// A query parameter of the connection's URL with this value.
    QueryParam(String, String),
    /// A handshake header with this value (the name in any case).
    Header(String, String),
    /// A subprotocol the client offered.
    Subprotocol(String),
    /// The subject (`sub`) of the JWT the client sent, in `Authorization`
    /// or as a `jwt.<token>` subprotocol. The mock does not check the
    /// token's signature.
    Subject(String),
    /// A closure's answer ([`Matcher::from_fn`]).
    Fn(FnMatcher),
}

/// A closure that decides whether a frame matches, and what it is called
/// in reports: made by [`Matcher::from_fn`].
#[derive(Clone)]
pub struct FnMatcher {
    description: String,
    matches: Arc<MatchFn>,
}

/// What [`Matcher::from_fn`] keeps: the closure, shared by clones.
type MatchFn = dyn Fn(&Handshake, &ClientFrame) -> bool + Send + Sync;

impl fmt::Debug for FnMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FnMatcher").field(&self.description).finish()
    }
}

/// A text frame of exactly `text`.
#[must_use]
pub fn text(text: impl Into<String>) -> Matcher {
    Matcher::Text(text.into())
}

/// A text frame in which `pattern` finds a match.
///
/// # Errors
/// [`regex::Error`] when `pattern` is not a regular expression.
pub fn regex(pattern: &str) -> Result<Matcher, regex::Error> {
    regex::Regex::new(pattern).map(Matcher::Regex)
}

/// A binary frame of exactly `bytes`.
#[must_use]
pub fn binary(bytes: impl Into<Vec<u8>>) -> Matcher {
    Matcher::Binary(bytes.into())
}

/// A connection to `path` (e.g. `/ws`).
#[must_use]
pub fn path(path: impl Into<String>) -> Matcher {
    Matcher::Path(path.into())
}

/// A connection whose URL has the query parameter `name=value`.
#[must_use]
pub fn query_param(name: impl Into<String>, value: impl Into<String>) -> Matcher {
    Matcher::QueryParam(name.into(), value.into())
}

/// A connection whose handshake carried the header `name: value`.
#[must_use]
pub fn header(name: impl Into<String>, value: impl Into<String>) -> Matcher {
    Matcher::Header(name.into(), value.into())
}

/// A connection whose client offered the subprotocol `name`.
#[must_use]
pub fn subprotocol(name: impl Into<String>) -> Matcher {
    Matcher::Subprotocol(name.into())
}

/// A connection whose token's subject is `subject` (see
/// [`Matcher::Subject`]).
#[must_use]
pub fn subject(subject: impl Into<String>) -> Matcher {
    Matcher::Subject(subject.into())
}

impl From<FrameMatcher> for Matcher {
    fn from(matcher: FrameMatcher) -> Self {
        Self::Frame(matcher)
    }
}

impl Matcher {
    /// A condition the built-in matchers cannot say: `matches` gets the
    /// handshake of the connection and the frame, and `description` names
    /// it in reports.
    ///
    /// ```
    /// use ws_harness::mock::{ClientFrame, Matcher};
    ///
    /// // An order of three items or more, whatever else it holds.
    /// let big_order = Matcher::from_fn("an order of 3+ items", |_handshake, frame: &ClientFrame| {
    ///     frame.json().is_some_and(|order| order["items"].as_array().is_some_and(|items| items.len() >= 3))
    /// });
    /// assert_eq!(big_order.to_string(), "an order of 3+ items");
    /// ```
    #[must_use]
    pub fn from_fn(
        description: impl Into<String>,
        matches: impl Fn(&Handshake, &ClientFrame) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::Fn(FnMatcher {
            description: description.into(),
            matches: Arc::new(matches),
        })
    }

    /// Whether `frame` (with `json`, its parse, `Null` when it is not
    /// JSON, its kind in `kind_field`), sent over a connection opened with
    /// `handshake`, matches.
    pub(super) fn matches(
        &self,
        handshake: &Handshake,
        frame: &ClientFrame,
        json: &Value,
        kind_field: &str,
    ) -> bool {
        match self {
            Self::Frame(matcher) => {
                !json.is_null() && matcher.matches_with_kind_field(json, kind_field)
            }
            Self::Text(expected) => frame.as_text() == Some(expected.as_str()),
            Self::Regex(regex) => frame.as_text().is_some_and(|t| regex.is_match(t)),
            Self::Binary(expected) => frame.as_binary() == Some(expected.as_slice()),
            Self::Path(path) => handshake.path == *path,
            Self::QueryParam(name, value) => handshake
                .query_pairs()
                .any(|(n, v)| n == *name && v == *value),
            Self::Header(name, value) => handshake
                .headers
                .get_all(name.as_str())
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes()),
            Self::Subprotocol(name) => handshake.subprotocols.iter().any(|p| p == name),
            Self::Subject(subject) => handshake.subject.as_deref() == Some(subject.as_str()),
            Self::Fn(custom) => (custom.matches)(handshake, frame),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(matcher) => write!(f, "{matcher}"),
            Self::Text(text) => write!(f, "text {text:?}"),
            Self::Regex(regex) => write!(f, "text matching /{regex}/"),
            Self::Binary(bytes) => write!(f, "binary frame of {} bytes", bytes.len()),
            Self::Path(path) => write!(f, "path {path}"),
            Self::QueryParam(name, value) => write!(f, "query {name}={value}"),
            Self::Header(name, _) => write!(f, "header {name}"),
            Self::Subprotocol(name) => write!(f, "subprotocol {name}"),
            Self::Subject(subject) => write!(f, "subject {subject}"),
            Self::Fn(custom) => f.write_str(&custom.description),
        }
    }
}
