use super::ServerError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::time::Duration;

/// Per-user rates: a sustained rate per second
/// plus a burst, for client messages and for connection attempts.
///
/// ```
/// use ws_harness::server::RateLimitConfig;
/// let config = RateLimitConfig::default();
/// assert_eq!((config.messages_per_second, config.message_burst), (100, 200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Client frames per second per user, sustained. Default 100.
    pub messages_per_second: u32,
    /// Client frames a user may send at once above the sustained rate. Default 200.
    pub message_burst: u32,
    /// Connection attempts per second per user, sustained. Default 10.
    pub connections_per_second: u32,
    /// Connection attempts a user may make at once. Default 20.
    pub connection_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            messages_per_second: 100,
            message_burst: 200,
            connections_per_second: 10,
            connection_burst: 20,
        }
    }
}

impl RateLimitConfig {
    /// Limits no load test reaches (a billion per second, each): what
    /// `ws-harness load` and the benchmarks run with, to measure the server
    /// rather than its limiter.
    ///
    /// ```
    /// use ws_harness::server::RateLimitConfig;
    /// assert_eq!(RateLimitConfig::LIFTED.messages_per_second, 1_000_000_000);
    /// ```
    pub const LIFTED: Self = Self {
        messages_per_second: 1_000_000_000,
        message_burst: 1_000_000_000,
        connections_per_second: 1_000_000_000,
        connection_burst: 1_000_000_000,
    };
}

/// What a user went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKind {
    /// Client frames on open connections.
    Message,
    /// Connection attempts (handshakes).
    Connection,
}

impl RateLimitKind {
    /// `"message"` or `"connection"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Connection => "connection",
        }
    }
}

/// A user went over a rate;
/// `retry_after` is when the next attempt will be let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} rate limit exceeded; retry after {} ms", kind.as_str(), retry_after.as_millis())]
pub struct RateLimitExceeded {
    /// Which rate.
    pub kind: RateLimitKind,
    /// How long until an attempt is allowed again.
    pub retry_after: Duration,
}

impl RateLimitExceeded {
    /// `retry_after` in whole milliseconds, rounded up so that retrying after
    /// it always succeeds.
    #[must_use]
    pub fn retry_after_ms(&self) -> u64 {
        u64::try_from(self.retry_after.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
    }

    /// `retry_after` in whole seconds, rounded up, for a `Retry-After` header.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms().div_ceil(1000).max(1)
    }
}

/// The per-user limiter: GCRA from the
/// `governor` crate, one cell per user and kind.
///
/// ```
/// use ws_harness::server::{RateLimitConfig, RateLimiter};
///
/// let config = RateLimitConfig { messages_per_second: 1, message_burst: 2, ..Default::default() };
/// let limiter = RateLimiter::new(config).unwrap();
/// assert!(limiter.check_message("alice").is_ok());
/// assert!(limiter.check_message("alice").is_ok());
/// let over = limiter.check_message("alice").unwrap_err();
/// assert!(over.retry_after_ms() > 0 && over.retry_after_ms() <= 1000);
/// assert!(limiter.check_message("bob").is_ok(), "users have their own cells");
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    messages: DefaultKeyedRateLimiter<String>,
    connections: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// A limiter with these rates.
    ///
    /// # Errors
    /// [`ServerError::InvalidLimit`] when a rate or burst is 0.
    pub fn new(config: RateLimitConfig) -> Result<Self, ServerError> {
        let nonzero = |name, value| {
            NonZeroU32::new(value).ok_or(ServerError::InvalidLimit {
                name,
                value: "0".into(),
                minimum: "1".into(),
            })
        };
        let messages =
            Quota::per_second(nonzero("messages_per_second", config.messages_per_second)?)
                .allow_burst(nonzero("message_burst", config.message_burst)?);
        let connections = Quota::per_second(nonzero(
            "connections_per_second",
            config.connections_per_second,
        )?)
        .allow_burst(nonzero("connection_burst", config.connection_burst)?);
        Ok(Self {
            messages: DefaultKeyedRateLimiter::keyed(messages),
            connections: DefaultKeyedRateLimiter::keyed(connections),
            clock: DefaultClock::default(),
        })
    }

    /// Counts one client frame of `user_id`.
    ///
    /// # Errors
    /// [`RateLimitExceeded`] when the user is over the message rate.
    pub fn check_message(&self, user_id: &str) -> Result<(), RateLimitExceeded> {
        self.check(&self.messages, RateLimitKind::Message, user_id)
    }

    /// Counts one connection attempt of `user_id`.
    ///
    /// # Errors
    /// [`RateLimitExceeded`] when the user is over the connection rate.
    pub fn check_connection(&self, user_id: &str) -> Result<(), RateLimitExceeded> {
        self.check(&self.connections, RateLimitKind::Connection, user_id)
    }

    /// Forgets users whose cells are back to full, so idle users cost nothing.
    pub fn retain_recent(&self) {
        self.messages.retain_recent();
        self.connections.retain_recent();
    }

    fn check(
        &self,
        limiter: &DefaultKeyedRateLimiter<String>,
        kind: RateLimitKind,
        user_id: &str,
    ) -> Result<(), RateLimitExceeded> {
        limiter
            .check_key(&user_id.to_owned())
            .map_err(|not_until| RateLimitExceeded {
                kind,
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}
