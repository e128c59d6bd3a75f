//! [`Toxic`]: a network fault on the bytes of a connection, with
//! Toxiproxy's names and semantics.

use super::Target;
use std::fmt;
use std::time::Duration;

/// A network fault on the bytes one way of a connection, named and
/// behaving as Toxiproxy's toxic of the same name. Downstream (service to
/// client) unless [`upstream`](Self::upstream); on every connection unless
/// [`for_user`](Self::for_user).
///
/// ```
/// use std::time::Duration;
/// use ws_harness::faults::Toxic;
///
/// let toxic = Toxic::latency(Duration::from_millis(200))
///     .jitter(Duration::from_millis(20))
///     .for_user("alice");
/// assert_eq!(toxic.to_string(), "latency 200ms jitter=20ms downstream for alice");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Toxic {
    pub(super) kind: ToxicKind,
    pub(super) target: Target,
}

/// What a [`Toxic`] does, with Toxiproxy's attributes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToxicKind {
    /// Delays each piece of data by `latency`, give or take up to `jitter`.
    Latency {
        /// The delay.
        latency: Duration,
        /// The most the delay varies, either way.
        jitter: Duration,
    },
    /// Passes at most `rate` kilobytes (1000 bytes) a second.
    Bandwidth {
        /// Kilobytes a second.
        rate: u64,
    },
    /// Delays the close (the TCP FIN) by `delay` once the sender closed.
    SlowClose {
        /// How long the close waits.
        delay: Duration,
    },
    /// Lets no data through, and closes the connection after `timeout`;
    /// with a zero timeout the data waits until the toxic is removed.
    Timeout {
        /// When to close; zero holds the data forever.
        timeout: Duration,
    },
    /// Resets the connection (a TCP RST) `timeout` after the toxic applies.
    ResetPeer {
        /// How long after it applies.
        timeout: Duration,
    },
    /// Slices the data into pieces of `average_size` ± `size_variation`
    /// bytes, `delay` apart.
    Slicer {
        /// A slice's mean size, bytes.
        average_size: usize,
        /// How far a slice's size strays from the mean, bytes.
        size_variation: usize,
        /// Between slices.
        delay: Duration,
    },
    /// Closes the connection once `bytes` bytes have passed.
    LimitData {
        /// How many may pass this way.
        bytes: u64,
    },
}

impl Toxic {
    fn new(kind: ToxicKind) -> Self {
        Self {
            kind,
            target: Target::default(),
        }
    }

    /// `latency`: each piece of data arrives `latency` later (pieces are
    /// not held behind each other).
    pub fn latency(latency: Duration) -> Self {
        Self::new(ToxicKind::Latency {
            latency,
            jitter: Duration::ZERO,
        })
    }

    /// `bandwidth`: at most `rate` KB (1000 bytes) a second.
    pub fn bandwidth(rate: u64) -> Self {
        Self::new(ToxicKind::Bandwidth { rate })
    }

    /// `slow_close`: the close reaches the other side `delay` late.
    pub fn slow_close(delay: Duration) -> Self {
        Self::new(ToxicKind::SlowClose { delay })
    }

    /// `timeout`: a blackhole. No data passes; the connection closes after
    /// `timeout`, or with [`Duration::ZERO`] the data passes once the toxic
    /// is removed.
    pub fn timeout(timeout: Duration) -> Self {
        Self::new(ToxicKind::Timeout { timeout })
    }

    /// `reset_peer`: both sides see the connection reset (a TCP RST)
    /// `timeout` after the toxic applies to it.
    pub fn reset_peer(timeout: Duration) -> Self {
        Self::new(ToxicKind::ResetPeer { timeout })
    }

    /// `slicer`: the data in slices of `average_size` ± `size_variation`
    /// bytes, `delay` apart.
    pub fn slicer(average_size: usize, size_variation: usize, delay: Duration) -> Self {
        Self::new(ToxicKind::Slicer {
            average_size: average_size.max(1),
            size_variation: size_variation.min(average_size.saturating_sub(1)),
            delay,
        })
    }

    /// `limit_data`: the connection closes once `bytes` bytes passed this
    /// way.
    pub fn limit_data(bytes: u64) -> Self {
        Self::new(ToxicKind::LimitData { bytes })
    }

    /// For `latency`: the delay varies by up to this much either way.
    /// Other toxics ignore it.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        if let ToxicKind::Latency { jitter: j, .. } = &mut self.kind {
            *j = jitter;
        }
        self
    }

    /// On the data the client sends.
    pub fn upstream(mut self) -> Self {
        self.target = self.target.upstream();
        self
    }

    /// On the data the service sends (the default).
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
    pub fn kind(&self) -> &ToxicKind {
        &self.kind
    }
}

impl fmt::Display for ToxicKind {
    /// Toxiproxy's name, its main attribute's value and the other
    /// attributes by name: `latency 200ms jitter=20ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |d: &Duration| humantime::format_duration(*d);
        match self {
            Self::Latency { latency, jitter } => {
                write!(f, "latency {}", d(latency))?;
                if !jitter.is_zero() {
                    write!(f, " jitter={}", d(jitter))?;
                }
                Ok(())
            }
            Self::Bandwidth { rate } => write!(f, "bandwidth {rate}"),
            Self::SlowClose { delay } => write!(f, "slow_close {}", d(delay)),
            Self::Timeout { timeout } => write!(f, "timeout {}", d(timeout)),
            Self::ResetPeer { timeout } => write!(f, "reset_peer {}", d(timeout)),
            Self::Slicer {
                average_size,
                size_variation,
                delay,
            } => write!(
                f,
                "slicer {average_size} size_variation={size_variation} delay={}",
                d(delay)
            ),
            Self::LimitData { bytes } => write!(f, "limit_data {bytes}"),
        }
    }
}

impl fmt::Display for Toxic {
    /// `latency 200ms downstream for alice`: the form
    /// [`FromStr`](std::str::FromStr) reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.target)
    }
}
