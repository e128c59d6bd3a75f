//! [`RealWebSocketTestConfig`]: typed settings from defaults, an optional
//! `ws-harness.toml`, `WS_HARNESS_*` variables and code, checked when built.
//!
#![doc = include_str!("../../docs/settings.md")]

mod access;
mod builder;
mod contract;
mod environment;
mod error;
mod faults;
mod file;
mod limits;
mod read;
mod rules;
mod service;
mod settings;
mod template;
mod tier;

pub use access::{BadHeader, ConfiguredToken, HandshakeHeaders, TlsSettings};
pub use builder::ConfigBuilder;
pub use contract::{
    ContractSettings, ContractSource, Describes, OwnerRule, SequenceRule, UnknownKinds,
};
pub use environment::{DockerEnvironment, Environment, ProcessEnvironment};
pub use error::{ConfigError, ConfigSource};
pub use faults::FaultSettings;
pub use file::{CONFIG_FILE_NAME, CONFIG_FILE_VAR};
pub use limits::TranscriptWindow;
pub(crate) use limits::{DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_MESSAGE_SIZE};
pub(crate) use service::REFERENCE_PORT;
pub use service::{BadReadiness, Readiness, ServiceDefinition, ServiceSource};
pub use template::{Template, TemplateError};
pub use tier::{BackendKind, UnknownTier};

use crate::protocol::auth::TEST_JWT_SECRET;
use crate::protocol::{EventType, REQUIRED_EVENTS};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The settings of a test run against a WebSocket service, typed and checked when built.
///
/// Sources, lowest to highest precedence:
/// 1. the defaults below;
/// 2. a `ws-harness.toml` (path from `WS_HARNESS_CONFIG`, else the current
///    directory; optional unless `WS_HARNESS_CONFIG` names it);
/// 3. `WS_HARNESS_*` environment variables, e.g. `WS_HARNESS_EVENT_TIMEOUT=10s`;
/// 4. the [`ConfigBuilder`] in code.
///
/// Each setting is a key of the file, a variable and a setter of
/// [`ConfigBuilder`]: the table of every one is in the [module's
/// docs](crate::config#the-settings).
///
/// ```
/// use std::time::Duration;
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .event_timeout(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert_eq!(config.event_timeout, Duration::from_secs(2));
/// assert_eq!(config.concurrent_connections, 10);
/// assert_eq!(config.required_agent_events.len(), 5);
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct RealWebSocketTestConfig {
    /// A server to test instead of the built-in one.
    pub url: Option<Url>,
    /// The HS256 secret tokens are minted with.
    pub jwt_secret: String,
    /// A fixed token for every client of staging, a `url` or the team's
    /// service, instead of minting one per user: `token`, `token_file` or
    /// `token_command`.
    pub token: Option<ConfiguredToken>,
    /// Extra handshake headers of staging, a `url` and the team's service.
    pub headers: HandshakeHeaders,
    /// TLS settings of `wss://` staging and a `wss://` `url`.
    pub tls: TlsSettings,
    /// The event types every run must send, in this order.
    pub required_agent_events: Vec<EventType>,
    /// How many users `ws-harness check` runs at once (at least 1).
    pub concurrent_connections: usize,
    /// How long one connection attempt may take.
    pub connection_timeout: Duration,
    /// The default wait of every expectation.
    pub event_timeout: Duration,
    /// Connection retries after the first attempt.
    pub max_retries: u32,
    /// The largest frame a client accepts, in bytes: a larger one closes
    /// the connection with an error naming this setting.
    pub max_frame_size: usize,
    /// The largest message a client accepts, in bytes (all its frames).
    pub max_message_size: usize,
    /// How much of what it received a client keeps in its transcript
    /// (`transcript_frames`, `transcript_bytes`).
    pub transcript_window: TranscriptWindow,
    /// The tiers of the chain to try, in order; all of them by default
    /// ([`BackendKind::CHAIN`]).
    pub backend: Vec<BackendKind>,
    /// Fails resolution unless this tier is chosen (so CI cannot fall back).
    pub require: Option<BackendKind>,
    /// The staging server of the chain's second tier.
    pub staging_url: Option<Url>,
    /// When staging counts as up (`websocket`: an authenticated handshake).
    pub staging_ready: Readiness,
    /// How long the container backend lives without a connection before it
    /// stops and removes itself.
    pub container_idle_exit: Duration,
    /// The service the container tier runs (`service.*` keys).
    pub service: ServiceDefinition,
    /// The contract every received frame is checked against (`contract.*`
    /// keys).
    pub contract: ContractSettings,
    /// The fault proxy of the commands (`faults.*` keys).
    pub faults: FaultSettings,
    /// Where the container tier looks for the Docker engine, read from the
    /// environment (see [`engine`](crate::container::engine) for the order).
    pub docker: DockerEnvironment,
    /// Where each value came from, by key.
    sources: BTreeMap<&'static str, ConfigSource>,
    /// The `service.*` keys that only make sense together, until `build`
    /// checks them.
    service_keys: ServiceKeys,
}

/// The `service.*` settings that are checked together.
#[derive(Debug, Clone, Default, PartialEq)]
struct ServiceKeys {
    image: Option<String>,
    dockerfile: Option<PathBuf>,
    context: Option<PathBuf>,
    compose_file: Option<PathBuf>,
    compose_service: Option<String>,
    port: Option<u16>,
    ready: Option<Readiness>,
}

impl fmt::Debug for RealWebSocketTestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealWebSocketTestConfig")
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("jwt_secret", &"<redacted>")
            .field("token", &self.token)
            .field("headers", &self.headers)
            .field("tls", &self.tls)
            .field("required_agent_events", &self.required_agent_events)
            .field("concurrent_connections", &self.concurrent_connections)
            .field("connection_timeout", &self.connection_timeout)
            .field("event_timeout", &self.event_timeout)
            .field("max_retries", &self.max_retries)
            .field("max_frame_size", &self.max_frame_size)
            .field("max_message_size", &self.max_message_size)
            .field("transcript_window", &self.transcript_window)
            .field("backend", &self.backend)
            .field("require", &self.require)
            .field("staging_url", &self.staging_url.as_ref().map(Url::as_str))
            .field("staging_ready", &self.staging_ready)
            .field("container_idle_exit", &self.container_idle_exit)
            .field("service", &self.service)
            .field("contract", &self.contract)
            .field("docker", &self.docker)
            .finish()
    }
}

impl Default for RealWebSocketTestConfig {
    fn default() -> Self {
        Self {
            url: None,
            jwt_secret: TEST_JWT_SECRET.to_owned(),
            token: None,
            headers: HandshakeHeaders::default(),
            tls: TlsSettings::default(),
            required_agent_events: REQUIRED_EVENTS.to_vec(),
            concurrent_connections: 10,
            connection_timeout: Duration::from_secs(15),
            event_timeout: Duration::from_secs(10),
            max_retries: 5,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            transcript_window: TranscriptWindow::default(),
            backend: BackendKind::CHAIN.to_vec(),
            require: None,
            staging_url: None,
            staging_ready: Readiness::WebSocket,
            container_idle_exit: Duration::from_secs(60),
            service: ServiceDefinition::default(),
            contract: ContractSettings::default(),
            faults: FaultSettings::default(),
            docker: DockerEnvironment::default(),
            sources: BTreeMap::new(),
            service_keys: ServiceKeys::default(),
        }
    }
}

impl RealWebSocketTestConfig {
    /// A builder that reads the file and the process environment.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Defaults, file and environment, with nothing set in code.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// Where the value of `key` came from ([`ConfigSource::Default`] when
    /// nothing set it).
    ///
    /// ```
    /// use ws_harness::RealWebSocketTestConfig;
    /// use ws_harness::config::ConfigSource;
    /// let config = RealWebSocketTestConfig::builder().without_environment().max_retries(2).build().unwrap();
    /// assert_eq!(config.source_of("max_retries"), ConfigSource::Code);
    /// assert_eq!(config.source_of("event_timeout"), ConfigSource::Default);
    /// ```
    #[must_use]
    pub fn source_of(&self, key: &str) -> ConfigSource {
        self.sources
            .get(key)
            .cloned()
            .unwrap_or(ConfigSource::Default)
    }
}
