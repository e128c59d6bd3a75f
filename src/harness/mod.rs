//! The test harness: typed configuration, authenticated test clients, event
//! assertions, the backend chain and rstest fixtures. Its items are
//! re-exported at the crate root.

pub(crate) mod access;
mod backend;
mod client;
pub(crate) mod close_tap;
mod config;
mod contract;
mod credentials;
pub mod engine;
mod expect;
pub mod fixtures;
mod matcher;
#[cfg(feature = "mock")]
pub mod mock;
mod service;
mod tls;
pub(crate) mod transcript;

pub use access::{Access, AccessError, BadHeader, HandshakeHeaders, Socket};
pub(crate) use backend::with_sources;
pub use backend::{
    BackendError, BackendInfo, BackendKind, ContainerRef, HttpCheckError, NotReady, Resolution,
    SkipReason, TierAttempt, TierOutcome, UnknownTier,
};
#[cfg(feature = "container")]
pub use backend::{
    CONTAINER_LABEL, ComposeError, ImageError, NoEngine, ProbeOutcome, ServiceImageError, Tried,
    reference_image,
};
#[cfg(feature = "server")]
pub use backend::{InProcessBackend, InProcessError};
pub use client::{
    ClientError, ClientOptions, ConnectError, MaxRetriesExceeded, ResumeReport, TestClient,
    TestClientFactory,
};
pub use config::{
    CONFIG_FILE_NAME, CONFIG_FILE_VAR, ConfigBuilder, ConfigError, ConfigSource, Environment,
    ProcessEnvironment, RealWebSocketTestConfig,
};
pub use contract::{
    Contract, ContractError, ContractSettings, ContractSource, ContractStream, Direction,
    OwnerRule, Rule, SchemaProblem, SequenceRule, Violation,
};
pub use credentials::{ConfiguredToken, Credentials, TOKEN_COMMAND_TIMEOUT, TokenError};
pub use engine::DockerEnvironment;
pub use expect::ExpectationFailed;
pub use matcher::{FrameMatcher, error_code, event, frame};
pub use service::{BadReadiness, Readiness, ServiceDefinition, ServiceSource};
pub use tls::{ClientTls, TlsError, TlsSettings};
pub use transcript::{ReceivedFrame, SaveError, Transcript, TranscriptWindow, transcript_dir};
