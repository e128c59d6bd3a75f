//! # ws-harness
//!
//! Tests that talk to a real WebSocket service, and the reference WebSocket
//! server they talk to.
//!
//! ```
//! use ws_harness::harness::{RealWebSocketTestConfig, TestClientFactory, event};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Defaults, ws-harness.toml and WS_HARNESS_* (here: defaults only).
//! let config = RealWebSocketTestConfig::builder().without_environment().build()?;
//! // No url configured: the built-in reference server, in this process.
//! let factory = TestClientFactory::from_config(config)?;
//! let mut alice = factory.client("alice").await?;
//! alice.send_user_message("m-1", "hello").await?;
//! alice.expect_required_events("m-1").await?;
//! alice.ping("still there?").await?;
//! alice.expect(event("pong")).await?;
//! # Ok(())
//! # }
//! ```
//!
//! In tests, the [`harness::fixtures`] give the same through rstest.
//!
//! # The backend fallback chain
//! Tests run against the most real backend available, and always say which
//! ([`harness::BackendInfo::resolve`], [`harness::Resolution`]):
//! 1. **container**: Docker probed with a 2 s timeout, once per endpoint and
//!    run; the `ws-harness` image (`FROM scratch`, see `docker/`) built if
//!    missing, started or reused with testcontainers, used once `/health`
//!    answers within `docker_startup_timeout`;
//! 2. **staging**: `staging_url`, once its `/health` answers with protocol 1;
//! 3. **in-process**: the built-in reference server, always available.
//!
//! `backend` forces one tier, `require` fails unless that tier is chosen, and
//! `url` skips the chain.
//!
//! The reference server speaks `PROTOCOL.md` (kept in the repository as
//! `docs/PROTOCOL.md`): JWT authentication at the handshake, the one
//! connection manager, the reference agent's golden path of flat events,
//! replay on `resume`, per-user rate limits, circuit breakers, the event and
//! performance monitors, and every error and close code of the protocol.
//!
//! # Layout
//! - [`harness`]: what tests use: [`harness::RealWebSocketTestConfig`],
//!   [`harness::TestClientFactory`] and [`harness::TestClient`] with its
//!   expectations, the frame matchers, the in-process backend with fault
//!   injection, and the rstest [`harness::fixtures`].
//! - [`check`]: `ws-harness check`, the golden path for many users at once.
//! - [`load`]: `ws-harness load`, many users and runs, percentiles and memory.
//! - [`protocol`]: the wire contract as types: client frames, flat agent
//!   events, replies, error and close codes.
//! - [`auth`]: HS256 tokens: verify at the handshake, mint for tests.
//! - [`circuit_breaker`]: closed, open, half-open; reusable.
//! - [`server`]: the reference server: [`server::Server`] (listener plus
//!   shutdown future), its configuration, the one
//!   [`server::ConnectionManager`], the [`server::AgentHandler`], the
//!   [`server::RateLimiter`], the [`server::EventMonitor`] and the
//!   [`server::PerformanceMonitor`]; inside, one module per concept (`http`,
//!   `connection`, `echo`, `agent`, `manager`, `rate_limit`,
//!   `event_monitor`, `performance`, `metrics`).
//! - The `ws-harness` binary (`src/main.rs`): `ws-harness serve`,
//!   `ws-harness check` and `ws-harness load`.

pub mod auth;
pub mod check;
pub mod circuit_breaker;
pub mod harness;
pub mod load;
pub mod protocol;
pub mod server;
