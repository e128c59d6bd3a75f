//! # ws-harness
//!
//! Tests that talk to a real WebSocket service, and the reference WebSocket
//! server they talk to.
//!
//! This release holds the reference server of `PROTOCOL.md` (kept in the
//! repository as `docs/PROTOCOL.md`): JWT authentication at the handshake,
//! the one connection manager, the reference agent's golden path of flat
//! events, replay on `resume`, per-user rate limits, circuit breakers, the
//! event and performance monitors, and every error and close code of the
//! protocol.
//!
//! ```
//! use std::time::Duration;
//! use tokio::net::TcpListener;
//! use ws_harness::auth::{JwtAuth, TEST_JWT_SECRET};
//! use ws_harness::server::{Server, ServerConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = Server::new(ServerConfig::test_mode())?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(async move {
//!     server.serve(listener, async { stopped.await.ok(); }).await
//! });
//!
//! // A client authenticates with a token minted from the test secret.
//! let token = JwtAuth::new(TEST_JWT_SECRET)?.mint("alice", Duration::from_secs(60))?;
//! # use tokio_tungstenite::tungstenite::client::IntoClientRequest;
//! let mut request = format!("ws://{addr}/ws").into_client_request()?;
//! request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
//! let (ws, _) = tokio_tungstenite::connect_async(request).await?;
//! drop(ws);
//!
//! stop.send(()).ok();
//! serving.await??;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
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
//! - The `ws-harness` binary (`src/main.rs`): `ws-harness serve`.

pub mod auth;
pub mod check;
pub mod circuit_breaker;
pub mod harness;
pub mod protocol;
pub mod server;
