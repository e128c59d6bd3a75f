//! rstest fixtures: `config`, `backend` and `client_factory`.
//!
//! Import them by name and ask for them as test arguments:
//!
//! ```
//! use rstest::rstest;
//! use ws_harness::TestClientFactory;
//! use ws_harness::fixtures::*;
//!
//! #[rstest]
//! #[tokio::test]
//! async fn golden_path(client_factory: TestClientFactory) {
//!     let mut alice = client_factory.client("alice").await.unwrap();
//!     alice.send_user_message("m-1", "hello").await.unwrap();
//!     alice.expect_required_events("m-1").await.unwrap();
//! }
//! # fn main() {}
//! ```
//!
//! The backend is resolved once per test binary and shared; the in-process
//! server lives on a runtime of its own, so it outlives each test's runtime.

use crate::chain::BackendInfo;
use crate::client::TestClientFactory;
use crate::config::RealWebSocketTestConfig;
use rstest::fixture;

/// The configuration from defaults, `ws-harness.toml` and `WS_HARNESS_*`.
///
/// # Panics
/// With the [`ConfigError`](crate::config::ConfigError) message when a value is bad.
#[fixture]
pub fn config() -> RealWebSocketTestConfig {
    RealWebSocketTestConfig::from_env().unwrap_or_else(|e| panic!("ws-harness configuration: {e}"))
}

/// The backend the fallback chain chose, resolved once per test binary and
/// shared by its tests.
///
/// # Panics
/// When that backend cannot be had, saying why.
#[fixture]
pub fn backend(config: RealWebSocketTestConfig) -> BackendInfo {
    BackendInfo::shared(&config).unwrap_or_else(|e| panic!("ws-harness backend: {e}"))
}

/// A client factory for that backend.
///
/// # Panics
/// When the configuration's secret cannot mint tokens.
#[fixture]
pub fn client_factory(config: RealWebSocketTestConfig, backend: BackendInfo) -> TestClientFactory {
    TestClientFactory::new(config, backend)
        .unwrap_or_else(|e| panic!("ws-harness client factory: {e}"))
}
