use super::{PerformanceThresholds, RateLimitConfig, ServerError};
use crate::circuit_breaker::CircuitBreakerConfig;
use std::time::Duration;

/// How a reference server runs: its secret, test mode, and its limits.
///
/// ```
/// use std::time::Duration;
/// use ws_harness::server::ServerConfig;
///
/// let config = ServerConfig::test_mode().handshake_timeout(Duration::from_millis(500));
/// assert!(config.test_mode);
/// assert_eq!(config.limits.handshake_timeout, Duration::from_millis(500));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerConfig {
    /// The HS256 secret. `None` is only allowed in test mode, which then uses
    /// [`TEST_JWT_SECRET`](crate::protocol::auth::TEST_JWT_SECRET).
    pub jwt_secret: Option<String>,
    /// Test mode: accepts `scenario` in `user_message` and the published test secret.
    pub test_mode: bool,
    /// Echo mode: every path but `/health` and `/metrics` is an
    /// unauthenticated WebSocket that echoes each message (for conformance runs).
    pub echo: bool,
    /// Stop serving after no WebSocket has been open for this long (a
    /// container that nobody uses removes itself). `None`: never.
    pub idle_exit: Option<Duration>,
    /// The `agent_name` of every event.
    pub agent_name: String,
    /// Buffers, sizes and timeouts.
    pub limits: Limits,
    /// Per-user message and connection rates.
    pub rate_limits: RateLimitConfig,
    /// When the circuit of a user's tool opens, and for how long.
    pub tool_circuit: CircuitBreakerConfig,
    /// The bar the performance monitor raises alerts against.
    pub performance_thresholds: PerformanceThresholds,
}

/// Buffers, sizes and timeouts of a server. The defaults keep an idle
/// connection to a few KiB (tungstenite's own defaults would hold 256 KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send its whole HTTP request (idle or
    /// half-open handshakes are dropped after it). Default 10 s.
    pub handshake_timeout: Duration,
    /// How long one write to a client may block before the connection is
    /// dropped. Default 10 s.
    pub write_timeout: Duration,
    /// How long shutdown waits for connections to close. Default 5 s.
    pub shutdown_grace: Duration,
    /// WebSocket read buffer per connection, allocated up front. Default 2 KiB:
    /// clients send small frames, and a larger one grows it for itself.
    pub read_buffer_size: usize,
    /// Bytes buffered before a write goes to the socket. Default 8 KiB.
    pub write_buffer_size: usize,
    /// Most bytes a connection's write buffer may hold. Default 1 MiB.
    pub max_write_buffer_size: usize,
    /// Largest incoming message; bigger ones close with `1009`. Default 256 KiB.
    pub max_message_size: usize,
    /// Largest incoming frame; bigger ones close with `1009`. Default 256 KiB.
    pub max_frame_size: usize,
    /// Events queued for one connection before it counts as too slow and is
    /// closed with `1008`. Default 1,024.
    pub outbound_queue: usize,
    /// Events kept per user for `resume`. Default 1,000.
    pub replay_buffer: usize,
    /// How long a user with no open connection and no run going keeps its
    /// replay buffer (and tool circuits). After it, only where its event
    /// ids go on is kept, and a `resume` that asks for more than that gets
    /// `replay_gap`. Default 10 minutes.
    pub replay_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            read_buffer_size: 2 * 1024,
            write_buffer_size: 8 * 1024,
            max_write_buffer_size: 1024 * 1024,
            max_message_size: 256 * 1024,
            max_frame_size: 256 * 1024,
            outbound_queue: 1024,
            replay_buffer: 1000,
            replay_ttl: Duration::from_secs(10 * 60),
        }
    }
}

impl Limits {
    /// Checks that every limit has a value the server can work with.
    ///
    /// ```
    /// use ws_harness::server::Limits;
    /// assert!(Limits::default().validate().is_ok());
    /// let none_kept = Limits { replay_buffer: 0, ..Limits::default() };
    /// assert_eq!(
    ///     none_kept.validate().unwrap_err().to_string(),
    ///     "limit `replay_buffer` is 0; it must be at least 1"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`ServerError::InvalidLimit`] naming the first limit that is too small.
    pub fn validate(&self) -> Result<(), ServerError> {
        let sizes = [
            ("read_buffer_size", self.read_buffer_size, 1),
            ("max_message_size", self.max_message_size, 1),
            ("max_frame_size", self.max_frame_size, 1),
            ("outbound_queue", self.outbound_queue, 1),
            ("replay_buffer", self.replay_buffer, 1),
            (
                "max_write_buffer_size",
                self.max_write_buffer_size,
                self.write_buffer_size + 1,
            ),
        ];
        for (name, value, minimum) in sizes {
            if value < minimum {
                return Err(ServerError::InvalidLimit {
                    name,
                    value: value.to_string(),
                    minimum: minimum.to_string(),
                });
            }
        }
        let durations = [
            ("handshake_timeout", self.handshake_timeout),
            ("write_timeout", self.write_timeout),
            ("replay_ttl", self.replay_ttl),
        ];
        for (name, value) in durations {
            if value.is_zero() {
                return Err(ServerError::InvalidLimit {
                    name,
                    value: "0s".into(),
                    minimum: "1ms".into(),
                });
            }
        }
        Ok(())
    }
}

impl ServerConfig {
    /// A production configuration with this secret (test mode off).
    pub fn with_secret(secret: impl Into<String>) -> Self {
        Self {
            jwt_secret: Some(secret.into()),
            test_mode: false,
            echo: false,
            idle_exit: None,
            agent_name: "reference-agent".to_owned(),
            limits: Limits::default(),
            rate_limits: RateLimitConfig::default(),
            tool_circuit: CircuitBreakerConfig::default(),
            performance_thresholds: PerformanceThresholds::default(),
        }
    }

    /// A test-mode configuration using the published test secret.
    pub fn test_mode() -> Self {
        Self {
            jwt_secret: None,
            test_mode: true,
            ..Self::with_secret(String::new())
        }
    }

    /// Sets [`Limits::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// Sets the per-user rates.
    pub fn rate_limits(mut self, rate_limits: RateLimitConfig) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    /// Sets all limits at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
