//! The test harness: typed configuration, authenticated test clients, event
//! assertions, the in-process backend and rstest fixtures.

mod config;

pub use config::{
    CONFIG_FILE_NAME, CONFIG_FILE_VAR, ConfigBuilder, ConfigError, ConfigSource, Environment,
    ProcessEnvironment, RealWebSocketTestConfig,
};
