//! The test harness: typed configuration, authenticated test clients, event
//! assertions, the in-process backend and rstest fixtures.

mod backend;
mod client;
mod config;
mod expect;
pub mod fixtures;
mod matcher;
pub(crate) mod transcript;

pub use backend::{
    BackendError, BackendInfo, BackendKind, CONTAINER_LABEL, ContainerRef, InProcessBackend,
    Resolution, TierAttempt, TierOutcome,
};
pub use client::{
    ClientError, ClientOptions, MaxRetriesExceeded, ResumeReport, TestClient, TestClientFactory,
};
pub use config::{
    CONFIG_FILE_NAME, CONFIG_FILE_VAR, ConfigBuilder, ConfigError, ConfigSource, Environment,
    ProcessEnvironment, RealWebSocketTestConfig,
};
pub use expect::ExpectationFailed;
pub use matcher::{FrameMatcher, error_code, event, frame};
pub use transcript::{ReceivedFrame, Transcript, transcript_dir};
