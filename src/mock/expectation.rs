//! [`Mock`]: matchers, a response, and how often it is expected to match.

use super::{Matcher, MockServer, Respond};
use std::fmt;
use std::ops::{Range, RangeFrom, RangeInclusive, RangeTo, RangeToInclusive};

/// The priority a mock has unless [`Mock::with_priority`] says otherwise.
pub const DEFAULT_PRIORITY: u8 = 5;

/// A scripted answer of a [`MockServer`]: when every matcher accepts a
/// frame a client sent, it responds. Of the mocks that match one frame,
/// the one with the lowest priority number answers (the first mounted,
/// among equals); only it counts the frame.
///
/// ```
/// use serde_json::json;
/// use ws_harness::event;
/// use ws_harness::mock::{Mock, Respond, subject};
///
/// let mock = Mock::given(event("subscribe"))
///     .and(subject("alice"))
///     .respond_with(Respond::reply(json!({"type": "subscribed"})))
///     .expect(1..=2)
///     .named("alice subscribes");
/// assert_eq!(mock.to_string(), "\"alice subscribes\" (subscribe, subject alice)");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Mock {
    pub(super) matchers: Vec<Matcher>,
    pub(super) respond: Respond,
    pub(super) expected: Times,
    pub(super) name: Option<String>,
    pub(super) priority: u8,
}

impl Mock {
    /// A mock for the frames `matcher` accepts; it does nothing until
    /// given a [`Mock::respond_with`].
    pub fn given(matcher: impl Into<Matcher>) -> Self {
        Self {
            matchers: vec![matcher.into()],
            respond: Respond::nothing(),
            expected: Times::ANY,
            name: None,
            priority: DEFAULT_PRIORITY,
        }
    }

    /// Also requires `matcher`.
    pub fn and(mut self, matcher: impl Into<Matcher>) -> Self {
        self.matchers.push(matcher.into());
        self
    }

    /// What it does when a frame matches.
    pub fn respond_with(mut self, respond: Respond) -> Self {
        self.respond = respond;
        self
    }

    /// How many frames it must answer by [`MockServer::verify`]: a number
    /// (exactly) or a range (`1..`, `..=3`, `2..5`).
    pub fn expect(mut self, times: impl Into<Times>) -> Self {
        self.expected = times.into();
        self
    }

    /// Its name in reports.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its priority: lower numbers answer first ([`DEFAULT_PRIORITY`]
    /// unless set).
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Mounts it on `server`, after the mocks already there.
    pub fn mount(self, server: &MockServer) {
        server.mount(self);
    }
}

impl fmt::Display for Mock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matchers: Vec<String> = self.matchers.iter().map(ToString::to_string).collect();
        match &self.name {
            Some(name) => write!(f, "{name:?} ({})", matchers.join(", ")),
            None => f.write_str(&matchers.join(", ")),
        }
    }
}

/// How many frames a mock must answer: at least `min`, at most `max`.
///
/// ```
/// use ws_harness::mock::Times;
///
/// assert_eq!(Times::from(2).to_string(), "exactly 2");
/// assert_eq!(Times::from(1..).to_string(), "at least 1");
/// assert_eq!(Times::from(..=3).to_string(), "at most 3");
/// assert_eq!(Times::from(2..5).to_string(), "between 2 and 4");
/// assert!(Times::from(1..).contains(7) && !Times::from(1..).contains(0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// The least.
    pub min: u64,
    /// The most, if any.
    pub max: Option<u64>,
}

impl Times {
    /// Any number, none included: the default.
    pub const ANY: Times = Times { min: 0, max: None };

    /// Whether `count` is within.
    #[must_use]
    pub fn contains(self, count: u64) -> bool {
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }
}

impl From<u64> for Times {
    fn from(exactly: u64) -> Self {
        Self {
            min: exactly,
            max: Some(exactly),
        }
    }
}

impl From<Range<u64>> for Times {
    fn from(range: Range<u64>) -> Self {
        Self {
            min: range.start,
            max: Some(range.end.saturating_sub(1)),
        }
    }
}

impl From<RangeInclusive<u64>> for Times {
    fn from(range: RangeInclusive<u64>) -> Self {
        Self {
            min: *range.start(),
            max: Some(*range.end()),
        }
    }
}

impl From<RangeFrom<u64>> for Times {
    fn from(range: RangeFrom<u64>) -> Self {
        Self {
            min: range.start,
            max: None,
        }
    }
}

impl From<RangeTo<u64>> for Times {
    fn from(range: RangeTo<u64>) -> Self {
        Self {
            min: 0,
            max: Some(range.end.saturating_sub(1)),
        }
    }
}

impl From<RangeToInclusive<u64>> for Times {
    fn from(range: RangeToInclusive<u64>) -> Self {
        Self {
            min: 0,
            max: Some(range.end),
        }
    }
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (0, None) => f.write_str("any number"),
            (min, None) => write!(f, "at least {min}"),
            (0, Some(max)) => write!(f, "at most {max}"),
            (min, Some(max)) if min == max => write!(f, "exactly {min}"),
            (min, Some(max)) => write!(f, "between {min} and {max}"),
        }
    }
}
