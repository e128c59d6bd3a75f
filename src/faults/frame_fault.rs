//! [`FrameFault`]: a fault on the WebSocket frames one way of a connection.

use super::Target;
use super::text::MatcherText;
use crate::client::FrameMatcher;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A fault on the WebSocket frames one way of a connection: on the text
/// and binary frames that match a [`FrameMatcher`] (every one without
/// [`matching`](Self::matching)), at most [`times`](Self::times) times.
/// Downstream (service to client) unless [`upstream`](Self::upstream); on
/// every connection unless [`for_user`](Self::for_user). A frame's kind
/// is read from the contract's `contract.kind_field`.
///
/// ```
/// use ws_harness::event;
/// use ws_harness::faults::{Corruption, FrameFault};
///
/// let lost = FrameFault::drop().matching(event("agent_completed")).times(1);
/// assert_eq!(lost.to_string(), "drop kind=agent_completed times=1 downstream");
/// let bad = FrameFault::corrupt(Corruption::BadUtf8).upstream().for_user("bob");
/// assert_eq!(bad.to_string(), "corrupt bad_utf8 upstream for bob");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct FrameFault {
    pub(super) kind: FrameFaultKind,
    pub(super) matcher: Option<FrameMatcher>,
    pub(super) times: Option<u64>,
    pub(super) target: Target,
}

/// What a [`FrameFault`] does to a frame.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FrameFaultKind {
    /// The frame is lost.
    Drop,
    /// The frame, and those behind it, arrive this much later.
    Delay(Duration),
    /// The frame arrives twice.
    Duplicate,
    /// The frame arrives after the next frame.
    Reorder,
    /// The frame arrives broken.
    Corrupt(Corruption),
    /// Instead of the frame, the receiver gets a close frame with this code
    /// and reason, and the connection ends.
    Close {
        /// The close code.
        code: u16,
        /// Why, as the close frame says it.
        reason: String,
    },
    /// Pongs are lost: the other side's pings go unanswered.
    NoPongs,
}

/// How [`FrameFault::corrupt`] breaks a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// A text frame's first byte becomes `0xFF`: not UTF-8.
    BadUtf8,
    /// The opcode becomes `0x3`, reserved.
    BadOpcode,
    /// The header says one byte less than the payload has, so the receiver
    /// reads the last byte as the next frame's header.
    WrongLength,
}

impl FrameFault {
    fn new(kind: FrameFaultKind) -> Self {
        Self {
            kind,
            matcher: None,
            times: None,
            target: Target::default(),
        }
    }

    /// Loses the frame.
    pub fn drop() -> Self {
        Self::new(FrameFaultKind::Drop)
    }

    /// Holds the frame, and those behind it, for `delay`.
    pub fn delay(delay: Duration) -> Self {
        Self::new(FrameFaultKind::Delay(delay))
    }

    /// Sends the frame twice.
    pub fn duplicate() -> Self {
        Self::new(FrameFaultKind::Duplicate)
    }

    /// Sends the frame after the next one this way (or when the connection
    /// ends, if none follows).
    pub fn reorder() -> Self {
        Self::new(FrameFaultKind::Reorder)
    }

    /// Breaks the frame as `how` says.
    pub fn corrupt(how: Corruption) -> Self {
        Self::new(FrameFaultKind::Corrupt(how))
    }

    /// Replaces the frame with a close frame of `code` and `reason` (as if
    /// the sender had closed) and ends the connection.
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        Self::new(FrameFaultKind::Close {
            code,
            reason: reason.into(),
        })
    }

    /// Loses the pongs sent this way, so the other side's pings go
    /// unanswered: `upstream()` for the service's pings, `downstream()`
    /// for the client's.
    pub fn no_pongs() -> Self {
        Self::new(FrameFaultKind::NoPongs)
    }

    /// Only on the text and binary frames `matcher` matches (a JSON text;
    /// the kind read from `contract.kind_field`).
    pub fn matching(mut self, matcher: FrameMatcher) -> Self {
        self.matcher = Some(matcher);
        self
    }

    /// At most `times` frames in all (over every connection it applies to).
    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }

    /// On the frames the client sends.
    pub fn upstream(mut self) -> Self {
        self.target = self.target.upstream();
        self
    }

    /// On the frames the service sends (the default).
    pub fn downstream(mut self) -> Self {
        self.target = self.target.downstream();
        self
    }

    /// Only on the connections the clients of `user` open (more calls add
    /// users).
    pub fn for_user(mut self, user: impl Into<String>) -> Self {
        self.target = self.target.for_user(user.into());
        self
    }

    /// What it does.
    #[must_use]
    pub fn kind(&self) -> &FrameFaultKind {
        &self.kind
    }
}

impl fmt::Display for FrameFaultKind {
    /// `delay 50ms`, `close 4000 reason="going away"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Drop => f.write_str("drop"),
            Self::Delay(d) => write!(f, "delay {}", humantime::format_duration(*d)),
            Self::Duplicate => f.write_str("duplicate"),
            Self::Reorder => f.write_str("reorder"),
            Self::Corrupt(Corruption::BadUtf8) => f.write_str("corrupt bad_utf8"),
            Self::Corrupt(Corruption::BadOpcode) => f.write_str("corrupt bad_opcode"),
            Self::Corrupt(Corruption::WrongLength) => f.write_str("corrupt wrong_length"),
            Self::Close { code, reason } if reason.is_empty() => write!(f, "close {code}"),
            Self::Close { code, reason } => {
                write!(f, "close {code} reason={}", Value::from(reason.as_str()))
            }
            Self::NoPongs => f.write_str("no_pongs"),
        }
    }
}

impl fmt::Display for FrameFault {
    /// `drop kind=agent_completed times=1 downstream`: the form
    /// [`FromStr`](std::str::FromStr) reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(matcher) = &self.matcher {
            write!(f, " {}", MatcherText(matcher))?;
        }
        if let Some(times) = self.times {
            write!(f, " times={times}")?;
        }
        write!(f, " {}", self.target)
    }
}
