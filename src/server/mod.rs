//! The reference WebSocket server of `PROTOCOL.md`: `/ws`, `/health` and
//! `/metrics` on one port.
//!
//! The same code runs in-process, as `ws-harness serve` and in the container
//! image. Like mini-redis, [`Server::serve`] takes a listener the caller bound
//! (tests bind port 0) and a shutdown future.
//!
//! ```
//! use tokio::net::TcpListener;
//! use ws_harness::server::{Server, ServerConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let server = Server::new(ServerConfig::test_mode())?;
//! // Serve until the future completes; here, at once.
//! server.serve(listener, async {}).await?;
//! # Ok(())
//! # }
//! ```

mod agent;
mod config;
mod connection;
mod departed;
mod echo;
mod entrypoint;
mod error;
mod event_monitor;
mod http;
mod manager;
mod memory;
mod metrics;
mod performance;
mod rate_limit;

pub use agent::AgentHandler;
pub use config::{Limits, ServerConfig};
pub use entrypoint::{
    IDLE_EXIT_VAR, IMAGE_LISTEN, LISTEN_VAR, SECRET_VAR, TEST_MODE_VAR, run_from_env,
    shutdown_signal,
};
pub use error::ServerError;
pub use event_monitor::{
    EventMetrics, EventMonitor, EventTiming, EventTracker, MissingCriticalEvent,
};
pub use manager::{ConnectionId, ConnectionManager, ReconnectionSession, ReconnectionState};
pub use performance::{
    AlertKind, LatencyMeasurement, PerformanceAlert, PerformanceMetrics, PerformanceMonitor,
    PerformanceThresholds, ThroughputMetrics,
};
pub use rate_limit::{RateLimitConfig, RateLimitExceeded, RateLimitKind, RateLimiter};

use crate::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
use metrics::ServerMetrics;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the rate limiter forgets users that have been quiet.
const FORGET_IDLE_USERS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The listen backlog [`bind`] asks for: room for a burst of handshakes.
/// The usual default of 128 overflows when a few hundred clients connect at
/// once, and each dropped handshake costs its client a 1 s SYN retransmit.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds `addr` for [`Server::serve`] with a [`LISTEN_BACKLOG`]-deep accept
/// queue. Call it within a tokio runtime.
///
/// # Errors
/// When the address cannot be bound (in use, not local, not permitted).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let listener = ws_harness::server::bind("127.0.0.1:0".parse().unwrap())?;
/// assert!(listener.local_addr()?.port() > 0);
/// # Ok(())
/// # }
/// ```
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's bind does on Unix: a restarted server gets its port back at
    // once, despite connections of the last one in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A reference server, ready to serve on a listener. Cheap to clone: clones
/// share one state.
#[derive(Debug, Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

/// State shared by every connection and run of one server.
#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    auth: JwtAuth,
    manager: ConnectionManager,
    agent: AgentHandler,
    metrics: ServerMetrics,
    event_monitor: EventMonitor,
    performance: PerformanceMonitor,
    rate_limiter: RateLimiter,
    started: Instant,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    runs: AtomicU64,
}

impl Server {
    /// Checks the configuration and builds the server's state.
    ///
    /// # Errors
    /// [`ServerError::MissingSecret`] without a secret outside test mode,
    /// [`ServerError::TestSecretOutsideTestMode`] for the published test secret
    /// outside test mode, [`ServerError::InvalidLimit`] for a limit the server
    /// cannot work with.
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        let secret = match (&config.jwt_secret, config.test_mode || config.echo) {
            // Echo mode authenticates nobody, so it needs no secret of its own.
            (None, true) => TEST_JWT_SECRET,
            (None, false) => return Err(ServerError::MissingSecret),
            (Some(secret), false) if secret == TEST_JWT_SECRET => {
                // `false` here means neither test mode nor echo mode.
                return Err(ServerError::TestSecretOutsideTestMode);
            }
            (Some(secret), _) => secret.as_str(),
        };
        let auth = JwtAuth::new(secret).map_err(ServerError::Secret)?;
        config.limits.validate()?;
        let rate_limiter = RateLimiter::new(config.rate_limits)?;
        if config
            .idle_exit
            .is_some_and(|d| d < std::time::Duration::from_millis(4))
        {
            return Err(ServerError::InvalidLimit {
                name: "idle_exit",
                value: format!("{:?}", config.idle_exit.unwrap_or_default()),
                minimum: "4ms".into(),
            });
        }
        if config.tool_circuit.failure_threshold == 0 {
            return Err(ServerError::InvalidLimit {
                name: "tool_circuit.failure_threshold",
                value: "0".into(),
                minimum: "1".into(),
            });
        }
        let limits = &config.limits;
        Ok(Self {
            shared: Arc::new(Shared {
                manager: ConnectionManager::new(limits.outbound_queue, limits.replay_buffer),
                agent: AgentHandler::new(config.agent_name.clone())
                    .with_circuit_breaker(config.tool_circuit),
                auth,
                performance: PerformanceMonitor::new(config.performance_thresholds),
                config,
                metrics: ServerMetrics::new(),
                event_monitor: EventMonitor::default(),
                rate_limiter,
                started: Instant::now(),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                runs: AtomicU64::new(0),
            }),
        })
    }

    /// The one connection manager of this server.
    #[must_use]
    pub fn manager(&self) -> &ConnectionManager {
        &self.shared.manager
    }

    /// The event monitor: every run's events, and the runs that lacked a required one.
    #[must_use]
    pub fn event_monitor(&self) -> &EventMonitor {
        &self.shared.event_monitor
    }

    /// The performance monitor: run latency percentiles, throughput, alerts.
    #[must_use]
    pub fn performance(&self) -> &PerformanceMonitor {
        &self.shared.performance
    }

    /// Fault injection: delays every event by `latency` from now on (zero
    /// turns it off); the connections stay responsive, so replies such as
    /// `pong` are not delayed.
    pub fn set_event_latency(&self, latency: std::time::Duration) {
        self.shared.agent.set_event_latency(latency);
    }

    /// Fault injection: the next run to start panics right after its
    /// `agent_started`; the connection that sent its `user_message` gets an
    /// `internal` error, and the server goes on serving.
    pub fn panic_next_run(&self) {
        self.shared.agent.panic_next_run();
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Serves connections from `listener` until `shutdown` completes, then
    /// closes every WebSocket with `1001` and waits up to
    /// [`Limits::shutdown_grace`] for them to finish.
    ///
    /// # Errors
    /// [`ServerError::AlreadyServed`] when this server already served once.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() || shared.tasks.is_closed() {
            return Err(ServerError::AlreadyServed);
        }
        let local = listener.local_addr().ok();
        tracing::info!(addr = ?local, test_mode = shared.config.test_mode, "serving");
        tokio::pin!(shutdown);
        let mut forget_idle_users = tokio::time::interval(FORGET_IDLE_USERS_EVERY);
        // Users are forgotten between one and one and a quarter TTLs after
        // they left.
        let replay_ttl = shared.config.limits.replay_ttl;
        let mut forget_departed = tokio::time::interval((replay_ttl / 4).clamp(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(30),
        ));
        let mut page_return = memory::PageReturn::default();
        let idle_exit = shared.config.idle_exit;
        // Look a few times per idle period, at most once a second (the branch
        // is off without an idle exit).
        let second = std::time::Duration::from_secs(1);
        let mut idle_check =
            tokio::time::interval(idle_exit.map_or(second, |d| (d / 4).min(second)));
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = forget_idle_users.tick() => shared.rate_limiter.retain_recent(),
                _ = forget_departed.tick() => {
                    let forgotten = shared.manager.forget_departed(replay_ttl);
                    if !forgotten.is_empty() {
                        shared.agent.forget_users(&forgotten);
                        shared.rate_limiter.retain_recent();
                        page_return.start();
                    }
                }
                _ = idle_check.tick(), if idle_exit.is_some() => {
                    let idle = shared.manager.idle_for();
                    if idle.zip(idle_exit).is_some_and(|(idle, limit)| idle >= limit) {
                        tracing::info!(idle = ?idle_exit, "no connection for the idle-exit period");
                        break;
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        shared.tasks.spawn(http::serve_http(Arc::clone(shared), stream, peer));
                    }
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        tracing::info!(
            connections = shared.manager.connection_count(),
            "shutting down"
        );
        shared.shutdown.cancel();
        shared.tasks.close();
        if tokio::time::timeout(shared.config.limits.shutdown_grace, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = shared.tasks.len(),
                "connections still open after the shutdown grace period"
            );
        }
        Ok(())
    }
}

impl Shared {
    /// The `/metrics` page: counters plus the monitors' figures.
    fn render_metrics(&self) -> String {
        self.metrics
            .render(&self.performance.snapshot(), &self.event_monitor.metrics())
    }

    fn next_run_id(&self) -> String {
        format!("run-{}", self.runs.fetch_add(1, Ordering::Relaxed) + 1)
    }
}
