//! # ws-harness
//!
//! Tests that talk to a real WebSocket service, and the reference WebSocket
//! server they talk to.
//!
//! ```
//! use ws_harness::{RealWebSocketTestConfig, TestClientFactory, event};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Defaults, ws-harness.toml and WS_HARNESS_* (here: defaults only).
//! let config = RealWebSocketTestConfig::builder().without_environment().build()?;
//! // The fallback chain picks the backend; without Docker or staging, the
//! // built-in reference server in this process.
//! let factory = TestClientFactory::from_config(config).await?;
//! let mut alice = factory.client("alice").await?;
//! alice.send_user_message("m-1", "hello").await?;
//! alice.expect_required_events("m-1").await?;
//! alice.ping("still there?").await?;
//! alice.expect(event("pong")).await?;
//! # Ok(())
//! # }
//! ```
//!
//! In tests, the [`fixtures`] give the same through rstest.
//!
//! # The backend fallback chain
//! Tests run against the most real backend available, and always say which
//! ([`BackendInfo::resolve`], [`chain::Resolution`]):
//! 1. **container**: the Docker engine found in a documented order
//!    ([`container::engine`]), each place probed with a 2 s timeout; the service of the
//!    config's [`config::ServiceDefinition`] (an image, a Dockerfile, a compose
//!    file, or the reference image, built on first use) started or reused,
//!    used once its [`config::Readiness`] check passes within
//!    `service.startup_timeout`;
//! 2. **staging**: `staging_url` (`ws://` or `wss://`), with its own
//!    [`Access`] (a token from `token`, `token_file` or `token_command`, or
//!    a secret; handshake `headers`; TLS), once its `staging_ready` check
//!    passes (by default an authenticated WebSocket handshake);
//! 3. **in-process**: the team's own server ([`chain::OwnServer`]), or the
//!    built-in reference server;
//! 4. **mock**: the test's [`mock::MockServer`], when it gives one.
//!
//! A test gives its own tiers through [`chain::Chain`]: a testcontainers
//! request for the container tier (feature `testcontainers`), its own
//! server, its mock. The reference server stands in for the service only
//! while the suite speaks the reference protocol. `backend` names the tiers
//! a suite accepts, in order (one forces it), `require` fails unless that
//! tier is chosen, and `url` skips the chain. Why a tier was passed over is a [`chain::SkipReason`].
//! Each tier's clients use that tier's access ([`BackendInfo::access`]).
//!
//! Every frame a client receives is checked against the service's
//! [`Contract`] (`reference` by default; a JSON Schema file, an AsyncAPI
//! document, or `none`): a frame that breaks it fails the next expectation.
//!
//! The reference server speaks `PROTOCOL.md` (kept in the repository as
//! `docs/PROTOCOL.md`): JWT authentication at the handshake, the one
//! connection manager, the reference agent's golden path of flat events,
//! replay on `resume`, per-user rate limits, circuit breakers, the event and
//! performance monitors, and every error and close code of the protocol.
//!
//! # Cargo features
//! - `server` (default): the reference server ([`server`]) and the chain's
//!   in-process tier ([`chain::InProcessBackend`]).
//! - `container` (default): the chain's container tier (bollard, tar).
//! - `mock` (default): `ws_harness::mock`, a scriptable WebSocket mock
//!   server for any protocol, over `ws://` or `wss://`; it needs a TLS
//!   feature for its certificates.
//! - `tls-ring` (default) or `tls-aws-lc-rs`: the rustls crypto provider of
//!   `wss://`, `https://` and the mock's certificates, used when the test
//!   binary installed no process default
//!   (`rustls::crypto::CryptoProvider::install_default`). Take the one your
//!   own crates use: a service on rustls' defaults (aws-lc-rs) sets
//!   `default-features = false` and lists `tls-aws-lc-rs` with the others,
//!   so rustls never has both providers and no `ClientConfig::builder()`
//!   of yours panics. With neither, `wss://` needs an installed default.
//! - `load`: the load engine behind `ws-harness load` ([`load`]).
//! - `testcontainers`: the container tier takes a testcontainers request
//!   and its dependencies (`container::ServiceRequest`).
//!
//! Without `server` or `container` the tier is still reported, skipped with
//! [`chain::SkipReason::NotBuilt`].
//!
//! # Layout
//! At the root, the names a test uses: [`RealWebSocketTestConfig`] and its
//! [`ConfigBuilder`], [`TestClientFactory`] and [`TestClient`] with its
//! expectations and [`ExpectationFailed`], the frame matchers
//! ([`FrameMatcher`], [`event`], [`frame`], [`error_code`]), the backend
//! ([`BackendInfo`], [`BackendKind`], [`Access`]) and the contract
//! ([`Contract`], [`Violation`]). Everything else, errors included, lives
//! in the module of its concept; the arrows point down, with no loops:
//!
//! - [`fixtures`]: the rstest fixtures `config`, `backend`, `client_factory`.
//! - [`scenario`]: scenario files, the steps each user takes, for any
//!   protocol, and [`scenario::check`]: one run for many users at once, as
//!   `ws-harness check` runs it; [`load`]: many runs, as `ws-harness load`.
//! - [`client`]: the factory, the client, its expectations, matchers and
//!   transcript.
//! - [`mock`]: a scriptable mock of any service (pub/sub too), the chain's
//!   last tier.
//! - [`faults`]: a fault proxy in front of any tier: network toxics and
//!   WebSocket frame faults, per direction and user.
//! - [`chain`]: the tiers in order and the tiers a test gives, the
//!   resolution report, why a tier was skipped, the in-process tier (the
//!   team's own server or the reference one) and staging.
//! - [`container`]: the container tier: the engine's search order, images,
//!   compose, reuse and the sweep.
//! - [`access`]: how clients get in: credentials, tokens, TLS, handshake
//!   headers.
//! - [`contract`]: the rules every received frame is checked against.
//! - [`config`]: every setting, read from the file, the environment and
//!   code, with the types the settings name ([`config::Template`]: JSON
//!   with `${name}` placeholders).
//! - [`protocol`]: the reference wire contract as types, with
//!   [`protocol::auth`] (HS256 tokens).
//! - [`server`]: the reference server: [`server::Server`] (listener plus
//!   shutdown future), the one [`server::ConnectionManager`], the
//!   [`server::AgentHandler`], the [`server::RateLimiter`] and the monitors;
//!   one module per concept. [`process`] runs it as a child process.
//! - [`circuit_breaker`]: closed, open, half-open; used by the server and
//!   the container tier.
//! - The `ws-harness` command line is the package `ws-harness-cli` (`cli/`):
//!   argument parsing and printing only.

#[cfg(all(
    feature = "mock",
    not(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))
))]
compile_error!(
    "the ws-harness feature `mock` makes TLS certificates: turn on `tls-ring` or `tls-aws-lc-rs` beside it"
);

pub mod access;
mod artifacts;
pub mod chain;
pub mod circuit_breaker;
pub mod client;
pub mod config;
pub mod container;
pub mod contract;
pub mod faults;
pub mod fixtures;
#[cfg(fuzzing)]
pub mod fuzzing;
#[cfg(feature = "load")]
pub mod load;
#[cfg(feature = "mock")]
pub mod mock;
pub mod process;
pub mod protocol;
mod readiness;
pub mod scenario;
#[cfg(feature = "server")]
pub mod server;

pub use access::Access;
pub use chain::BackendInfo;
pub use client::{
    ExpectationFailed, FrameMatcher, TestClient, TestClientFactory, error_code, event, frame,
};
pub use config::{BackendKind, ConfigBuilder, RealWebSocketTestConfig};
pub use contract::{Contract, Violation};

use std::error::Error;
use std::fmt::Write as _;

/// `error: source: source…`, on one line.
pub(crate) fn with_sources(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
