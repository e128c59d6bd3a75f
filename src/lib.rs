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
//! ([`BackendInfo::resolve`], [`Resolution`]):
//! 1. **container**: the Docker engine found in a documented order
//!    ([`engine`]), each place probed with a 2 s timeout; the service of the
//!    config's [`ServiceDefinition`] (an image, a Dockerfile, a compose
//!    file, or the reference image, built on first use) started or reused,
//!    used once its [`Readiness`] check passes within
//!    `service.startup_timeout`;
//! 2. **staging**: `staging_url` (`ws://` or `wss://`), with its own
//!    [`Access`] (a token from `token`, `token_file` or `token_command`, or
//!    a secret; handshake `headers`; TLS), once its `staging_ready` check
//!    passes (by default an authenticated WebSocket handshake);
//! 3. **in-process**: the built-in reference server, always available.
//!
//! `backend` forces one tier, `require` fails unless that tier is chosen, and
//! `url` skips the chain. Why a tier was passed over is a [`SkipReason`].
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
//!   in-process tier ([`InProcessBackend`]).
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
//!
//! Without `server` or `container` the tier is still reported, skipped with
//! [`SkipReason::NotBuilt`].
//!
//! # Layout
//! - At the root, what tests use: [`RealWebSocketTestConfig`],
//!   [`TestClientFactory`] and [`TestClient`] with its expectations, the
//!   frame matchers ([`event`], [`frame`], [`error_code`]), contracts
//!   ([`Contract`]), the backend chain ([`BackendInfo`], [`Access`]) and the
//!   in-process backend with fault injection.
//! - [`fixtures`]: the rstest fixtures `config`, `backend`, `client_factory`.
//! - [`check`]: the golden path for many users at once (`ws-harness check`).
//! - [`load`]: many users and runs, percentiles and memory (`ws-harness load`).
//! - [`process`]: a server as a child process ([`process::ServerProcess`]).
//! - [`protocol`]: the reference wire contract as types: client frames, flat
//!   agent events, replies, error and close codes.
//! - [`auth`]: HS256 tokens: verify at the handshake, mint for tests.
//! - [`circuit_breaker`]: closed, open, half-open; reusable.
//! - [`server`]: the reference server: [`server::Server`] (listener plus
//!   shutdown future), its configuration, the one
//!   [`server::ConnectionManager`], the [`server::AgentHandler`], the
//!   [`server::RateLimiter`], the [`server::EventMonitor`] and the
//!   [`server::PerformanceMonitor`]; inside, one module per concept.
//! - The `ws-harness` command line is the package `ws-harness-cli` (`cli/`).

#[cfg(all(
    feature = "mock",
    not(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))
))]
compile_error!(
    "the ws-harness feature `mock` makes TLS certificates: turn on `tls-ring` or `tls-aws-lc-rs` beside it"
);

pub mod auth;
pub mod check;
pub mod circuit_breaker;
#[cfg(fuzzing)]
pub mod fuzzing;
mod harness;
#[cfg(feature = "load")]
pub mod load;
pub mod process;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "mock")]
pub use harness::mock;
pub use harness::{
    Access, AccessError, BackendError, BackendInfo, BackendKind, BadHeader, BadReadiness,
    CONFIG_FILE_NAME, CONFIG_FILE_VAR, ClientError, ClientOptions, ClientTls, ConfigBuilder,
    ConfigError, ConfigSource, ConfiguredToken, ConnectError, ContainerRef, Contract,
    ContractError, ContractSettings, ContractSource, ContractStream, Credentials, Direction,
    DockerEnvironment, Environment, ExpectationFailed, FrameMatcher, HandshakeHeaders,
    HttpCheckError, MaxRetriesExceeded, NotReady, OwnerRule, ProcessEnvironment, Readiness,
    RealWebSocketTestConfig, ReceivedFrame, Resolution, ResumeReport, Rule, SaveError,
    SchemaProblem, SequenceRule, ServiceDefinition, ServiceSource, SkipReason, Socket,
    TOKEN_COMMAND_TIMEOUT, TestClient, TestClientFactory, TierAttempt, TierOutcome, TlsError,
    TlsSettings, TokenError, Transcript, TranscriptWindow, UnknownTier, Violation, error_code,
    event, frame, transcript_dir,
};
#[cfg(feature = "container")]
pub use harness::{
    CONTAINER_LABEL, ComposeError, ImageError, NoEngine, ProbeOutcome, ServiceImageError, Tried,
    reference_image,
};
#[cfg(feature = "server")]
pub use harness::{InProcessBackend, InProcessError};
pub use harness::{engine, fixtures};
