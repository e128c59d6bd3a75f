//! [`RealWebSocketTestConfig`]: typed settings from defaults, an optional
//! `ws-harness.toml`, `WS_HARNESS_*` variables and code, checked when built.

use super::service::{Readiness, ServiceDefinition, ServiceSource};
use super::{
    BackendKind, ConfiguredToken, Contract, ContractError, ContractSettings, ContractSource,
    DockerEnvironment, HandshakeHeaders, OwnerRule, SequenceRule, TlsSettings, TranscriptWindow,
    UnknownTier,
};
use crate::auth::TEST_JWT_SECRET;
use crate::protocol::{EventType, REQUIRED_EVENTS};
use bytesize::ByteSize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
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
/// | key | type | default |
/// |---|---|---|
/// | `url` | `ws://` or `wss://` URL of a server to test instead of the built-in one | none |
/// | `jwt_secret` | HS256 secret tokens are minted with | the published test secret |
/// | `token` | a fixed token used for every user instead of minting | none |
/// | `token_file` | a file holding that token, read once per resolution | none |
/// | `token_command` | a command printing that token (e.g. a cloud CLI), run once per resolution | none |
/// | `headers` | extra handshake headers of staging and a `url` (`Cookie`, API keys, `Origin`) | none |
/// | `tls_ca_file` | a PEM file of CAs trusted beside the platform's roots, for `wss://` | none |
/// | `tls_client_cert`, `tls_client_key` | a PEM certificate chain and key for mutual TLS | none |
/// | `tls_insecure_skip_verify` | accept any server certificate (the report warns) | false |
/// | `required_agent_events` | event types every run must send, in order | the five of `PROTOCOL.md` |
/// | `concurrent_connections` | users `ws-harness check` runs at once | 10 |
/// | `connection_timeout` | one connection attempt | 15 s |
/// | `event_timeout` | the default wait of every expectation | 10 s |
/// | `max_retries` | connection retries after the first attempt | 5 |
/// | `max_frame_size` | the largest frame a client accepts (bytes, or `"16 MiB"`) | 16 MiB |
/// | `max_message_size` | the largest message (all its frames) a client accepts | 64 MiB |
/// | `transcript_frames` | the most received frames a client keeps in its transcript | 10000 |
/// | `transcript_bytes` | the most bytes of frame text a client keeps in its transcript | 64 MiB |
/// | `backend` | `auto`, or one tier: `container`, `staging`, `in-process` | auto |
/// | `require` | fail unless this tier is chosen | none |
/// | `staging_url` | the staging server of the chain | none |
/// | `staging_ready` | when staging counts as up: `websocket`, `http:<path>[=<status>]` or `reference` | `websocket` |
/// | `container_idle_exit` | the reference container stops after this long unused | 60 s |
/// | `service.*` | the container tier's service: see [`ServiceDefinition`] | the reference image |
/// | `contract.*` | the rules every received frame is checked against: see [`ContractSettings`] | the reference protocol |
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
    /// Forces one tier of the backend chain (`None`: auto, try them in order).
    pub backend: Option<BackendKind>,
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
    /// Where the container tier looks for the Docker engine, read from the
    /// environment (see [`engine`](crate::engine) for the order).
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

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The built-in default.
    Default,
    /// A line of a config file.
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the value.
        line: usize,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
    /// The builder in code.
    Code,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default"),
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::Code => f.write_str("code"),
        }
    }
}

/// Why a configuration could not be built. Each message names the key, where
/// the value came from, the bad value and a good example.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value of the wrong form or out of range.
    #[error("bad value for `{key}` in {origin}: {value} ({problem}); for example {example}")]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// Where the value came from.
        origin: ConfigSource,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// A good setting, written the way that source takes it.
        example: String,
    },
    /// A key the file should not have (a typo, usually).
    #[error("unknown key `{key}` in {origin}; the keys are {}", KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where.
        origin: ConfigSource,
    },
    /// The config file could not be read.
    #[error("cannot read the config file {path} (named by {named_by}): {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What named it.
        named_by: String,
        /// The system's reason.
        reason: String,
    },
    /// Two settings that exclude each other are both set.
    #[error(
        "`{first}` ({first_origin}) and `{second}` ({second_origin}) cannot both be set; keep one of them"
    )]
    ExclusiveKeys {
        /// One key.
        first: &'static str,
        /// Where it was set.
        first_origin: ConfigSource,
        /// The other key.
        second: &'static str,
        /// Where it was set.
        second_origin: ConfigSource,
    },
    /// A setting that needs another one.
    #[error("`{key}` ({origin}) needs `{missing}` as well; for example {example}")]
    NeedsKey {
        /// The key that was set.
        key: &'static str,
        /// Where it was set.
        origin: ConfigSource,
        /// The key it needs.
        missing: &'static str,
        /// A good setting of the missing key.
        example: &'static str,
    },
    /// The config file is not TOML.
    #[error("the config file {path} is not valid TOML: {reason}")]
    NotToml {
        /// The file.
        path: PathBuf,
        /// The parser's words, with line and column.
        reason: String,
    },
}

/// Reads environment variables; tests give a fake one (a `HashMap`).
pub trait Environment {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The variable naming the config file.
pub const CONFIG_FILE_VAR: &str = "WS_HARNESS_CONFIG";
/// The config file looked for in the current directory.
pub const CONFIG_FILE_NAME: &str = "ws-harness.toml";

/// One key: its name, and an example in file (TOML) form and in variable form.
struct Key {
    name: &'static str,
    toml_example: &'static str,
    env_example: &'static str,
}

const KEYS: [Key; 47] = [
    Key {
        name: "url",
        toml_example: "\"ws://127.0.0.1:8765/ws\"",
        env_example: "ws://127.0.0.1:8765/ws",
    },
    Key {
        name: "jwt_secret",
        toml_example: "\"a-long-random-string\"",
        env_example: "a-long-random-string",
    },
    Key {
        name: "token",
        toml_example: "\"eyJhbGciOiJIUzI1NiJ9.e30.sig\"",
        env_example: "eyJhbGciOiJIUzI1NiJ9.e30.sig",
    },
    Key {
        name: "token_file",
        toml_example: "\"secrets/staging.token\"",
        env_example: "secrets/staging.token",
    },
    Key {
        name: "token_command",
        toml_example: "\"gcloud auth print-identity-token\"",
        env_example: "gcloud auth print-identity-token",
    },
    Key {
        name: "headers",
        toml_example: "{ Origin = \"https://app.example\", X-Api-Key = \"k-123\" }",
        env_example: "Origin=https://app.example,X-Api-Key=k-123",
    },
    Key {
        name: "tls_ca_file",
        toml_example: "\"certs/staging-ca.pem\"",
        env_example: "certs/staging-ca.pem",
    },
    Key {
        name: "tls_client_cert",
        toml_example: "\"certs/client.pem\"",
        env_example: "certs/client.pem",
    },
    Key {
        name: "tls_client_key",
        toml_example: "\"certs/client.key\"",
        env_example: "certs/client.key",
    },
    Key {
        name: "tls_insecure_skip_verify",
        toml_example: "true",
        env_example: "true",
    },
    Key {
        name: "required_agent_events",
        toml_example: "[\"agent_started\", \"agent_completed\"]",
        env_example: "agent_started,agent_completed",
    },
    Key {
        name: "concurrent_connections",
        toml_example: "10",
        env_example: "10",
    },
    Key {
        name: "connection_timeout",
        toml_example: "\"15s\"",
        env_example: "15s",
    },
    Key {
        name: "event_timeout",
        toml_example: "\"10s\"",
        env_example: "10s",
    },
    Key {
        name: "max_retries",
        toml_example: "5",
        env_example: "5",
    },
    Key {
        name: "max_frame_size",
        toml_example: "\"16 MiB\"",
        env_example: "16MiB",
    },
    Key {
        name: "max_message_size",
        toml_example: "\"64 MiB\"",
        env_example: "64MiB",
    },
    Key {
        name: "transcript_frames",
        toml_example: "10000",
        env_example: "10000",
    },
    Key {
        name: "transcript_bytes",
        toml_example: "\"64 MiB\"",
        env_example: "64MiB",
    },
    Key {
        name: "backend",
        toml_example: "\"in-process\"",
        env_example: "in-process",
    },
    Key {
        name: "require",
        toml_example: "\"container\"",
        env_example: "container",
    },
    Key {
        name: "staging_url",
        toml_example: "\"ws://staging.example:8765/ws\"",
        env_example: "ws://staging.example:8765/ws",
    },
    Key {
        name: "staging_ready",
        toml_example: "\"http:/healthz\"",
        env_example: "http:/healthz",
    },
    Key {
        name: "container_idle_exit",
        toml_example: "\"60s\"",
        env_example: "60s",
    },
    Key {
        name: "service.image",
        toml_example: "\"my-service:dev\"",
        env_example: "my-service:dev",
    },
    Key {
        name: "service.dockerfile",
        toml_example: "\"Dockerfile\"",
        env_example: "Dockerfile",
    },
    Key {
        name: "service.context",
        toml_example: "\".\"",
        env_example: ".",
    },
    Key {
        name: "service.compose_file",
        toml_example: "\"compose.yaml\"",
        env_example: "compose.yaml",
    },
    Key {
        name: "service.compose_service",
        toml_example: "\"api\"",
        env_example: "api",
    },
    Key {
        name: "service.port",
        toml_example: "8080",
        env_example: "8080",
    },
    Key {
        name: "service.ws_path",
        toml_example: "\"/ws\"",
        env_example: "/ws",
    },
    Key {
        name: "service.env",
        toml_example: "{ JWT_SECRET = \"${jwt_secret}\" }",
        env_example: "JWT_SECRET=${jwt_secret},LOG=debug",
    },
    Key {
        name: "service.cmd",
        toml_example: "[\"--port\", \"8080\"]",
        env_example: "--port 8080",
    },
    Key {
        name: "service.startup_timeout",
        toml_example: "\"30s\"",
        env_example: "30s",
    },
    Key {
        name: "service.ready",
        toml_example: "\"http:/healthz\"",
        env_example: "http:/healthz",
    },
    Key {
        name: "contract.source",
        toml_example: "\"asyncapi.yaml\" (or \"reference\", \"none\")",
        env_example: "asyncapi.yaml",
    },
    Key {
        name: "contract.kind_field",
        toml_example: "\"type\"",
        env_example: "type",
    },
    Key {
        name: "contract.unknown_kinds",
        toml_example: "\"allow\" (or \"violation\")",
        env_example: "allow",
    },
    Key {
        name: "contract.sequence_field",
        toml_example: "\"seq\"",
        env_example: "seq",
    },
    Key {
        name: "contract.sequence",
        toml_example: "\"increasing\" (or \"gapless\")",
        env_example: "increasing",
    },
    Key {
        name: "contract.sequence_restart_field",
        toml_example: "\"oldest_event_id\"",
        env_example: "oldest_event_id",
    },
    Key {
        name: "contract.owner_field",
        toml_example: "\"user\"",
        env_example: "user",
    },
    Key {
        name: "contract.owner",
        toml_example: "\"subject\" (the token's sub) or a fixed value",
        env_example: "subject",
    },
    Key {
        name: "contract.forbidden_fields",
        toml_example: "[\"data\"]",
        env_example: "data,payload",
    },
    Key {
        name: "contract.run_field",
        toml_example: "\"run\"",
        env_example: "run",
    },
    Key {
        name: "contract.run_events",
        toml_example: "[\"started\", \"done\"]",
        env_example: "started,done",
    },
    Key {
        name: "contract.terminal_kinds",
        toml_example: "[\"done\", \"failed\"]",
        env_example: "done,failed",
    },
];

/// A value as one source wrote it.
enum Raw {
    Text(String),
    Integer(i64),
    Bool(bool),
    List(Vec<String>),
    Map(Vec<(String, String)>),
    Other(String),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Text(s) => write!(f, "{s:?}"),
            Raw::Integer(n) => write!(f, "{n}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::List(items) => write!(f, "{items:?}"),
            Raw::Map(entries) => {
                let pairs: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                write!(f, "{{{}}}", pairs.join(", "))
            }
            Raw::Other(s) => f.write_str(s),
        }
    }
}

/// The default of `max_frame_size`: tungstenite's, 16 MiB.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// The default of `max_message_size`: tungstenite's, 64 MiB.
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

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
            backend: None,
            require: None,
            staging_url: None,
            staging_ready: Readiness::WebSocket,
            container_idle_exit: Duration::from_secs(60),
            service: ServiceDefinition::default(),
            contract: ContractSettings::default(),
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

    /// Loads and compiles its contract (`contract.*`), with
    /// `required_agent_events` as the reference contract's run events.
    ///
    /// # Errors
    /// [`ContractError`] naming the file, the JSON pointer and what is wrong.
    pub fn load_contract(&self) -> Result<Contract, ContractError> {
        let required: Vec<&str> = self
            .required_agent_events
            .iter()
            .map(|e| e.as_str())
            .collect();
        Contract::load(&self.contract, &required).map_err(|mut error| {
            if let ContractError::Read { origin, .. } = &mut error {
                *origin = self.source_of("contract.source");
            }
            error
        })
    }

    /// Where the value of `key` came from ([`ConfigSource::Default`] when
    /// nothing set it).
    ///
    /// ```
    /// use ws_harness::{ConfigSource, RealWebSocketTestConfig};
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

    fn apply(&mut self, name: &str, raw: Raw, source: ConfigSource) -> Result<(), ConfigError> {
        let Some(key) = KEYS.iter().find(|k| k.name == name) else {
            return Err(ConfigError::UnknownKey {
                key: name.to_owned(),
                origin: source,
            });
        };
        let bad = |problem: &str, source: &ConfigSource, raw: &Raw| {
            let example = match source {
                ConfigSource::Env { var } => format!("{var}={}", key.env_example),
                _ => format!("{} = {}", key.name, key.toml_example),
            };
            ConfigError::InvalidValue {
                key: key.name,
                origin: source.clone(),
                value: raw.to_string(),
                problem: problem.to_owned(),
                example,
            }
        };
        let text = |raw: &Raw| match raw {
            Raw::Text(s) => Ok(s.clone()),
            _ => Err(bad("expected a string", &source, raw)),
        };
        let duration = |raw: &Raw| -> Result<Duration, ConfigError> {
            let s = text(raw).map_err(|_| {
                bad(
                    "expected a duration with a unit, such as \"500ms\" or \"10s\"",
                    &source,
                    raw,
                )
            })?;
            match humantime::parse_duration(&s) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(bad("must be more than zero", &source, raw)),
                Err(e) => Err(bad(&format!("not a duration: {e}"), &source, raw)),
            }
        };
        let count = |raw: &Raw, min: u64| -> Result<u64, ConfigError> {
            let n = match raw {
                Raw::Integer(n) => u64::try_from(*n).ok(),
                Raw::Text(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n >= min => Ok(n),
                _ => Err(bad(
                    &format!("expected a whole number of at least {min}"),
                    &source,
                    raw,
                )),
            }
        };
        let size = |raw: &Raw| -> Result<usize, ConfigError> {
            let bytes = match raw {
                Raw::Integer(n) => u64::try_from(*n).ok(),
                Raw::Text(s) => s.trim().parse::<ByteSize>().ok().map(|size| size.as_u64()),
                _ => None,
            };
            match bytes {
                Some(0) => Err(bad("must be more than zero", &source, raw)),
                Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                None => Err(bad(
                    "expected a size in bytes, such as 65536 or \"16 MiB\"",
                    &source,
                    raw,
                )),
            }
        };
        let ws_url = |raw: &Raw| -> Result<Url, ConfigError> {
            let s = text(raw)?;
            let url = Url::parse(&s).map_err(|e| bad(&format!("not a URL: {e}"), &source, raw))?;
            if matches!(url.scheme(), "ws" | "wss") {
                Ok(url)
            } else {
                Err(bad("the scheme must be ws or wss", &source, raw))
            }
        };
        // A relative path in a file is relative to the file's directory.
        let path = |raw: &Raw| -> Result<PathBuf, ConfigError> {
            let s = text(raw)?;
            if s.is_empty() {
                return Err(bad("must not be empty", &source, raw));
            }
            Ok(match &source {
                ConfigSource::File { path, .. } => path
                    .parent()
                    .map_or_else(|| PathBuf::from(&s), |dir| dir.join(&s)),
                _ => PathBuf::from(&s),
            })
        };
        let non_empty = |raw: &Raw| -> Result<String, ConfigError> {
            let s = text(raw)?;
            if s.is_empty() {
                return Err(bad("must not be empty", &source, raw));
            }
            Ok(s)
        };
        // A list, or `a,b` in one string.
        let list = |raw: &Raw| -> Result<Vec<String>, ConfigError> {
            match raw {
                Raw::List(items) => Ok(items.clone()),
                Raw::Text(s) => Ok(s
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()),
                _ => Err(bad("expected a list of strings", &source, raw)),
            }
        };
        // A table, or `A=1,B=2` (each split at its first `=`).
        let pairs = |raw: &Raw, form: &str| -> Result<Vec<(String, String)>, ConfigError> {
            match raw {
                Raw::Map(entries) => Ok(entries.clone()),
                Raw::Text(s) => s
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| {
                        p.split_once('=')
                            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                            .ok_or_else(|| {
                                bad(
                                    &format!("expected {form} pairs, comma-separated"),
                                    &source,
                                    raw,
                                )
                            })
                    })
                    .collect(),
                _ => Err(bad("expected a table of strings", &source, raw)),
            }
        };
        match key.name {
            "url" => self.url = Some(ws_url(&raw)?),
            "jwt_secret" => {
                let s = text(&raw)?;
                if s.is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.jwt_secret = s;
            }
            "token" => {
                let token = text(&raw)?;
                if token.is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.token = Some(ConfiguredToken::Value(token));
            }
            "token_file" => self.token = Some(ConfiguredToken::File(path(&raw)?)),
            "token_command" => {
                let command = text(&raw)?;
                if command.trim().is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.token = Some(ConfiguredToken::Command(command));
            }
            "headers" => {
                // Errors show the names, never a value.
                let entries = pairs(&raw, "Name=value").map_err(|_| {
                    bad(
                        "expected Name=value pairs, comma-separated",
                        &source,
                        &Raw::Other("(values not shown)".to_owned()),
                    )
                })?;
                let names = Raw::Other(
                    entries
                        .iter()
                        .map(|(name, _)| format!("{name}=<redacted>"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                self.headers = HandshakeHeaders::new(entries)
                    .map_err(|e| bad(&e.to_string(), &source, &names))?;
            }
            "tls_ca_file" => self.tls.ca_file = Some(path(&raw)?),
            "tls_client_cert" => self.tls.client_cert = Some(path(&raw)?),
            "tls_client_key" => self.tls.client_key = Some(path(&raw)?),
            "tls_insecure_skip_verify" => {
                self.tls.insecure_skip_verify = match &raw {
                    Raw::Bool(b) => *b,
                    Raw::Text(s) if s == "true" => true,
                    Raw::Text(s) if s == "false" => false,
                    _ => return Err(bad("expected true or false", &source, &raw)),
                };
            }
            "required_agent_events" => {
                let names = match &raw {
                    Raw::List(items) => items.clone(),
                    Raw::Text(s) => s
                        .split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect(),
                    _ => return Err(bad("expected a list of event types", &source, &raw)),
                };
                let events = names
                    .iter()
                    .map(|n| n.parse::<EventType>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(&e.to_string(), &source, &raw))?;
                if events.is_empty() {
                    return Err(bad("name at least one event type", &source, &raw));
                }
                self.required_agent_events = events;
            }
            "concurrent_connections" => {
                self.concurrent_connections =
                    usize::try_from(count(&raw, 1)?).unwrap_or(usize::MAX);
            }
            "connection_timeout" => self.connection_timeout = duration(&raw)?,
            "event_timeout" => self.event_timeout = duration(&raw)?,
            "max_retries" => self.max_retries = u32::try_from(count(&raw, 0)?).unwrap_or(u32::MAX),
            "max_frame_size" => self.max_frame_size = size(&raw)?,
            "max_message_size" => self.max_message_size = size(&raw)?,
            "transcript_frames" => {
                self.transcript_window.frames =
                    usize::try_from(count(&raw, 1)?).unwrap_or(usize::MAX);
            }
            "transcript_bytes" => self.transcript_window.bytes = size(&raw)?,
            "staging_url" => self.staging_url = Some(ws_url(&raw)?),
            "staging_ready" => {
                let ready: Readiness =
                    text(&raw)?
                        .parse()
                        .map_err(|e: super::service::BadReadiness| {
                            bad(&e.to_string(), &source, &raw)
                        })?;
                if let Readiness::Log(_) = ready {
                    return Err(bad(
                        "log readiness needs a container's output; staging takes websocket, http:<path>[=<status>] or reference",
                        &source,
                        &raw,
                    ));
                }
                self.staging_ready = ready;
            }
            "backend" => {
                self.backend =
                    match text(&raw)?.as_str() {
                        "auto" => None,
                        tier => Some(tier.parse().map_err(|e: UnknownTier| {
                            bad(&format!("{e}, or auto"), &source, &raw)
                        })?),
                    };
            }
            "require" => {
                self.require = Some(
                    text(&raw)?
                        .parse()
                        .map_err(|e: UnknownTier| bad(&e.to_string(), &source, &raw))?,
                );
            }
            "container_idle_exit" => self.container_idle_exit = duration(&raw)?,
            "service.image" => {
                let image = text(&raw)?;
                match image.rsplit_once(':') {
                    Some((name, tag))
                        if !name.is_empty() && !tag.is_empty() && !tag.contains('/') => {}
                    _ => {
                        return Err(bad(
                            "expected name:tag (the image is used as present, never pulled)",
                            &source,
                            &raw,
                        ));
                    }
                }
                self.service_keys.image = Some(image);
            }
            "service.dockerfile" => self.service_keys.dockerfile = Some(path(&raw)?),
            "service.context" => self.service_keys.context = Some(path(&raw)?),
            "service.compose_file" => self.service_keys.compose_file = Some(path(&raw)?),
            "service.compose_service" => {
                let name = text(&raw)?;
                if name.is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.service_keys.compose_service = Some(name);
            }
            "service.port" => {
                let port = count(&raw, 1)?;
                self.service_keys.port = Some(
                    u16::try_from(port)
                        .map_err(|_| bad("expected a port, 1 to 65535", &source, &raw))?,
                );
            }
            "service.ws_path" => {
                let ws_path = text(&raw)?;
                if !ws_path.starts_with('/') {
                    return Err(bad("must start with /", &source, &raw));
                }
                self.service.ws_path = ws_path;
            }
            "service.env" => {
                let entries = pairs(&raw, "NAME=value")?;
                if entries.iter().any(|(k, _)| k.is_empty() || k.contains('=')) {
                    return Err(bad("a variable name is empty or has a =", &source, &raw));
                }
                self.service.env = entries.into_iter().collect();
            }
            "service.cmd" => {
                self.service.cmd = match &raw {
                    Raw::List(items) => items.clone(),
                    Raw::Text(s) => s.split_whitespace().map(str::to_owned).collect(),
                    _ => return Err(bad("expected a list of strings", &source, &raw)),
                };
            }
            "service.startup_timeout" => self.service.startup_timeout = duration(&raw)?,
            "service.ready" => {
                self.service_keys.ready = Some(text(&raw)?.parse().map_err(
                    |e: super::service::BadReadiness| bad(&e.to_string(), &source, &raw),
                )?);
            }
            "contract.source" => {
                self.contract.source = match text(&raw)?.as_str() {
                    "reference" => ContractSource::Reference,
                    "none" => ContractSource::None,
                    _ => ContractSource::File(path(&raw)?),
                };
            }
            "contract.kind_field" => self.contract.kind_field = non_empty(&raw)?,
            "contract.unknown_kinds" => {
                self.contract.unknown_kinds_allowed = match text(&raw)?.as_str() {
                    "allow" => true,
                    "violation" => false,
                    _ => return Err(bad("expected allow or violation", &source, &raw)),
                };
            }
            "contract.sequence_field" => self.contract.sequence_field = Some(text(&raw)?),
            "contract.sequence" => {
                self.contract.sequence = match text(&raw)?.as_str() {
                    "gapless" => SequenceRule::Gapless,
                    "increasing" => SequenceRule::Increasing,
                    _ => return Err(bad("expected gapless or increasing", &source, &raw)),
                };
            }
            "contract.sequence_restart_field" => {
                self.contract.sequence_restart_field = Some(text(&raw)?);
            }
            "contract.owner_field" => self.contract.owner_field = Some(text(&raw)?),
            "contract.owner" => {
                self.contract.owner = match non_empty(&raw)?.as_str() {
                    "subject" => OwnerRule::Subject,
                    value => OwnerRule::Value(value.to_owned()),
                };
            }
            "contract.forbidden_fields" => self.contract.forbidden_fields = Some(list(&raw)?),
            "contract.run_field" => self.contract.run_field = Some(text(&raw)?),
            "contract.run_events" => self.contract.run_events = Some(list(&raw)?),
            "contract.terminal_kinds" => self.contract.terminal_kinds = Some(list(&raw)?),
            _ => unreachable!("every key of KEYS is handled"),
        }
        self.sources.insert(key.name, source);
        Ok(())
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let not_toml = |e: toml::de::Error| ConfigError::NotToml {
            path: path.to_owned(),
            reason: e.to_string().trim().to_owned(),
        };
        let table: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(not_toml)?;
        let mut entries: Vec<(String, toml::Spanned<toml::Value>)> = Vec::new();
        // The tables' own keys, read again for their spans.
        #[derive(serde::Deserialize)]
        struct Tables {
            #[serde(default)]
            service: BTreeMap<String, toml::Spanned<toml::Value>>,
            #[serde(default)]
            contract: BTreeMap<String, toml::Spanned<toml::Value>>,
        }
        let mut tables: Option<Tables> = None;
        for (name, value) in table {
            if matches!(name.as_str(), "service" | "contract") && value.get_ref().is_table() {
                if tables.is_none() {
                    tables = Some(toml::from_str(text).map_err(not_toml)?);
                }
                let tables = tables.as_mut().expect("just read");
                let nested = match name.as_str() {
                    "service" => std::mem::take(&mut tables.service),
                    _ => std::mem::take(&mut tables.contract),
                };
                entries.extend(
                    nested
                        .into_iter()
                        .map(|(key, value)| (format!("{name}.{key}"), value)),
                );
            } else {
                entries.push((name, value));
            }
        }
        entries.sort_by_key(|(_, v)| v.span().start);
        for (name, value) in entries {
            let line = text[..value.span().start].matches('\n').count() + 1;
            let source = ConfigSource::File {
                path: path.to_owned(),
                line,
            };
            self.apply(&name, raw_value(value.into_inner()), source)?;
        }
        Ok(())
    }

    /// Fails when more than one of `keys` is set.
    fn exclusive(&self, keys: &[&'static str]) -> Result<(), ConfigError> {
        let set: Vec<&'static str> = keys
            .iter()
            .copied()
            .filter(|key| self.sources.contains_key(key))
            .collect();
        match set[..] {
            [first, second, ..] => Err(ConfigError::ExclusiveKeys {
                first,
                first_origin: self.source_of(first),
                second,
                second_origin: self.source_of(second),
            }),
            _ => Ok(()),
        }
    }

    /// The error for `key`, set, without `missing`.
    fn needs(
        &self,
        key: &'static str,
        missing: &'static str,
        example: &'static str,
    ) -> ConfigError {
        ConfigError::NeedsKey {
            key,
            origin: self.source_of(key),
            missing,
            example,
        }
    }

    /// Checks the token and TLS keys together.
    fn settle_access(&self) -> Result<(), ConfigError> {
        self.exclusive(&["token", "token_file", "token_command"])?;
        self.exclusive(&["tls_insecure_skip_verify", "tls_ca_file"])?;
        match (&self.tls.client_cert, &self.tls.client_key) {
            (Some(_), None) => Err(self.needs(
                "tls_client_cert",
                "tls_client_key",
                "tls_client_key = \"certs/client.key\"",
            )),
            (None, Some(_)) => Err(self.needs(
                "tls_client_key",
                "tls_client_cert",
                "tls_client_cert = \"certs/client.pem\"",
            )),
            _ => Ok(()),
        }
    }

    /// Checks the `service.*` keys together and settles the service.
    fn settle_service(&mut self) -> Result<(), ConfigError> {
        self.exclusive(&[
            "service.image",
            "service.dockerfile",
            "service.compose_file",
        ])?;
        let keys = &self.service_keys;
        let incomplete = |key, missing, example| self.needs(key, missing, example);
        let source = match (
            keys.image.clone(),
            keys.dockerfile.clone(),
            keys.compose_file.clone(),
        ) {
            (Some(image), _, _) => ServiceSource::Image(image),
            (_, Some(dockerfile), _) => {
                let context = keys.context.clone().unwrap_or_else(|| {
                    dockerfile
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
                });
                ServiceSource::Dockerfile {
                    dockerfile,
                    context,
                }
            }
            (_, _, Some(file)) => {
                let Some(service) = keys.compose_service.clone() else {
                    return Err(incomplete(
                        "service.compose_file",
                        "service.compose_service",
                        "service.compose_service = \"api\"",
                    ));
                };
                ServiceSource::Compose { file, service }
            }
            (None, None, None) => ServiceSource::Reference,
        };
        if keys.context.is_some() && !matches!(source, ServiceSource::Dockerfile { .. }) {
            return Err(incomplete(
                "service.context",
                "service.dockerfile",
                "service.dockerfile = \"Dockerfile\"",
            ));
        }
        if keys.compose_service.is_some() && !matches!(source, ServiceSource::Compose { .. }) {
            return Err(incomplete(
                "service.compose_service",
                "service.compose_file",
                "service.compose_file = \"compose.yaml\"",
            ));
        }
        let port = match (&source, keys.port) {
            (_, Some(port)) => port,
            (ServiceSource::Reference, None) => super::service::REFERENCE_PORT,
            (_, None) => {
                let key = [
                    "service.image",
                    "service.dockerfile",
                    "service.compose_file",
                ]
                .into_iter()
                .find(|key| self.sources.contains_key(key))
                .expect("a service other than the reference one has its source key set");
                return Err(incomplete(
                    key,
                    "service.port",
                    "service.port = 8080 (the port the service listens on inside the container)",
                ));
            }
        };
        let ready = keys.ready.clone().unwrap_or(match source {
            ServiceSource::Reference => Readiness::Reference,
            _ => Readiness::WebSocket,
        });
        self.service.source = source;
        self.service.port = port;
        self.service.ready = ready;
        Ok(())
    }
}

/// A TOML value as the keys take it.
fn raw_value(value: toml::Value) -> Raw {
    match value {
        toml::Value::String(s) => Raw::Text(s),
        toml::Value::Integer(n) => Raw::Integer(n),
        toml::Value::Boolean(b) => Raw::Bool(b),
        toml::Value::Array(items) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            match strings {
                Some(strings) => Raw::List(strings),
                None => Raw::Other(toml::Value::Array(items).to_string()),
            }
        }
        toml::Value::Table(table) => {
            let entries: Option<Vec<(String, String)>> = table
                .iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect();
            match entries {
                Some(entries) => Raw::Map(entries),
                None => Raw::Other(toml::Value::Table(table).to_string()),
            }
        }
        other => Raw::Other(other.to_string()),
    }
}

/// Builds a [`RealWebSocketTestConfig`]; values set here win over every
/// other source.
#[derive(Default)]
#[must_use]
pub struct ConfigBuilder {
    env: Option<Box<dyn Environment>>,
    skip_environment: bool,
    code: Vec<(&'static str, Raw)>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder").finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// Reads variables (and the file location) from `env` instead of the process.
    pub fn environment(mut self, env: impl Environment + 'static) -> Self {
        self.env = Some(Box::new(env));
        self
    }

    /// Ignores the file and the environment: defaults and code only.
    pub fn without_environment(mut self) -> Self {
        self.skip_environment = true;
        self
    }

    /// Sets [`RealWebSocketTestConfig::url`].
    pub fn url(mut self, url: Url) -> Self {
        self.code.push(("url", Raw::Text(url.to_string())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::jwt_secret`].
    pub fn jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.code.push(("jwt_secret", Raw::Text(secret.into())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::token`] to this token.
    pub fn token(self, token: impl Into<String>) -> Self {
        self.text("token", token.into())
    }

    /// Sets [`RealWebSocketTestConfig::token`] to the contents of this file.
    pub fn token_file(self, path: impl AsRef<Path>) -> Self {
        self.text("token_file", path.as_ref().to_string_lossy().into_owned())
    }

    /// Sets [`RealWebSocketTestConfig::token`] to what this command prints.
    pub fn token_command(self, command: impl Into<String>) -> Self {
        self.text("token_command", command.into())
    }

    /// Sets [`RealWebSocketTestConfig::headers`].
    pub fn headers<N: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let entries = headers
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        self.code.push(("headers", Raw::Map(entries)));
        self
    }

    /// Sets [`TlsSettings::ca_file`].
    pub fn tls_ca_file(self, path: impl AsRef<Path>) -> Self {
        self.text("tls_ca_file", path.as_ref().to_string_lossy().into_owned())
    }

    /// Sets [`TlsSettings::client_cert`] and [`TlsSettings::client_key`]
    /// (mutual TLS).
    pub fn tls_client_cert(self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        let key = key.as_ref().to_string_lossy().into_owned();
        self.text(
            "tls_client_cert",
            cert.as_ref().to_string_lossy().into_owned(),
        )
        .text("tls_client_key", key)
    }

    /// Sets [`TlsSettings::insecure_skip_verify`]: any server certificate
    /// is accepted, and the report warns.
    pub fn tls_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.code
            .push(("tls_insecure_skip_verify", Raw::Bool(skip)));
        self
    }

    /// Sets [`RealWebSocketTestConfig::required_agent_events`].
    pub fn required_agent_events(mut self, events: impl IntoIterator<Item = EventType>) -> Self {
        let names = events.into_iter().map(|e| e.as_str().to_owned()).collect();
        self.code.push(("required_agent_events", Raw::List(names)));
        self
    }

    /// Sets [`RealWebSocketTestConfig::concurrent_connections`].
    pub fn concurrent_connections(mut self, n: usize) -> Self {
        self.code.push((
            "concurrent_connections",
            Raw::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        ));
        self
    }

    /// Sets [`RealWebSocketTestConfig::connection_timeout`].
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.duration("connection_timeout", timeout)
    }

    /// Sets [`RealWebSocketTestConfig::event_timeout`].
    pub fn event_timeout(self, timeout: Duration) -> Self {
        self.duration("event_timeout", timeout)
    }

    /// Sets [`RealWebSocketTestConfig::max_retries`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.code
            .push(("max_retries", Raw::Integer(i64::from(retries))));
        self
    }

    /// Sets [`RealWebSocketTestConfig::max_frame_size`], in bytes.
    pub fn max_frame_size(self, bytes: usize) -> Self {
        self.size("max_frame_size", bytes)
    }

    /// Sets [`RealWebSocketTestConfig::max_message_size`], in bytes.
    pub fn max_message_size(self, bytes: usize) -> Self {
        self.size("max_message_size", bytes)
    }

    /// Sets [`RealWebSocketTestConfig::transcript_window`].
    pub fn transcript_window(self, window: TranscriptWindow) -> Self {
        self.size("transcript_frames", window.frames)
            .size("transcript_bytes", window.bytes)
    }

    /// Sets [`RealWebSocketTestConfig::backend`] (`None`: auto).
    pub fn backend(mut self, tier: Option<BackendKind>) -> Self {
        let text = tier.map_or("auto", BackendKind::as_str);
        self.code.push(("backend", Raw::Text(text.to_owned())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::require`].
    pub fn require(mut self, tier: BackendKind) -> Self {
        self.code
            .push(("require", Raw::Text(tier.as_str().to_owned())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::staging_ready`].
    pub fn staging_ready(self, ready: &Readiness) -> Self {
        self.text("staging_ready", ready.to_string())
    }

    /// Sets [`RealWebSocketTestConfig::staging_url`].
    pub fn staging_url(mut self, url: Url) -> Self {
        self.code.push(("staging_url", Raw::Text(url.to_string())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::container_idle_exit`].
    pub fn container_idle_exit(self, idle: Duration) -> Self {
        self.duration("container_idle_exit", idle)
    }

    /// The container tier runs this image (`name:tag`, present in the engine).
    pub fn service_image(self, image: impl Into<String>) -> Self {
        self.text("service.image", image.into())
    }

    /// The container tier runs an image built from this Dockerfile and
    /// context directory.
    pub fn service_dockerfile(
        self,
        dockerfile: impl AsRef<Path>,
        context: impl AsRef<Path>,
    ) -> Self {
        let context = context.as_ref().to_string_lossy().into_owned();
        self.text(
            "service.dockerfile",
            dockerfile.as_ref().to_string_lossy().into_owned(),
        )
        .text("service.context", context)
    }

    /// The container tier runs `service` of this compose file (and the
    /// file's other services).
    pub fn service_compose(self, file: impl AsRef<Path>, service: impl Into<String>) -> Self {
        self.text(
            "service.compose_file",
            file.as_ref().to_string_lossy().into_owned(),
        )
        .text("service.compose_service", service.into())
    }

    /// Sets [`ServiceDefinition::port`].
    pub fn service_port(mut self, port: u16) -> Self {
        self.code
            .push(("service.port", Raw::Integer(i64::from(port))));
        self
    }

    /// Sets [`ServiceDefinition::ws_path`].
    pub fn service_ws_path(self, path: impl Into<String>) -> Self {
        self.text("service.ws_path", path.into())
    }

    /// Sets [`ServiceDefinition::env`].
    pub fn service_env<K: Into<String>, V: Into<String>>(
        mut self,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let entries = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self.code.push(("service.env", Raw::Map(entries)));
        self
    }

    /// Sets [`ServiceDefinition::cmd`].
    pub fn service_cmd<S: Into<String>>(mut self, cmd: impl IntoIterator<Item = S>) -> Self {
        let args = cmd.into_iter().map(Into::into).collect();
        self.code.push(("service.cmd", Raw::List(args)));
        self
    }

    /// Sets [`ServiceDefinition::startup_timeout`].
    pub fn service_startup_timeout(self, timeout: Duration) -> Self {
        self.duration("service.startup_timeout", timeout)
    }

    /// Sets [`ContractSettings::source`].
    pub fn contract_source(self, source: &ContractSource) -> Self {
        self.text("contract.source", source.to_string())
    }

    /// Sets [`ServiceDefinition::ready`].
    pub fn service_ready(self, ready: &Readiness) -> Self {
        self.text("service.ready", ready.to_string())
    }

    fn text(mut self, key: &'static str, value: String) -> Self {
        self.code.push((key, Raw::Text(value)));
        self
    }

    fn size(mut self, key: &'static str, value: usize) -> Self {
        self.code
            .push((key, Raw::Integer(i64::try_from(value).unwrap_or(i64::MAX))));
        self
    }

    fn duration(mut self, key: &'static str, value: Duration) -> Self {
        let text = if value.is_zero() {
            "0s".to_owned()
        } else {
            humantime::format_duration(value).to_string()
        };
        self.code.push((key, Raw::Text(text)));
        self
    }

    /// Reads the sources in order and checks every value.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key, its source and value, with
    /// an example of a good one.
    pub fn build(self) -> Result<RealWebSocketTestConfig, ConfigError> {
        let mut config = RealWebSocketTestConfig::default();
        if !self.skip_environment {
            let env: Box<dyn Environment> =
                self.env.unwrap_or_else(|| Box::new(ProcessEnvironment));
            let (path, named) = match env.var(CONFIG_FILE_VAR).filter(|p| !p.is_empty()) {
                Some(path) => (PathBuf::from(path), true),
                None => (PathBuf::from(CONFIG_FILE_NAME), false),
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => config.apply_file(&path, &text)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {}
                Err(e) => {
                    let named_by = if named {
                        CONFIG_FILE_VAR
                    } else {
                        "the current directory"
                    };
                    return Err(ConfigError::Unreadable {
                        path,
                        named_by: named_by.to_owned(),
                        reason: e.to_string(),
                    });
                }
            }
            config.docker = DockerEnvironment::from_env(&*env);
            for key in &KEYS {
                let var = format!("WS_HARNESS_{}", key.name.replace('.', "_").to_uppercase());
                if let Some(value) = env.var(&var) {
                    config.apply(key.name, Raw::Text(value), ConfigSource::Env { var })?;
                }
            }
        }
        for (key, raw) in self.code {
            config.apply(key, raw, ConfigSource::Code)?;
        }
        config.settle_access()?;
        config.settle_service()?;
        Ok(config)
    }
}
