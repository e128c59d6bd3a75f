//! [`ServiceDefinition`]: the service the container tier runs, the
//! reference server unless the `[service]` settings name the team's own.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The service the chain's container tier starts.
///
/// Set in `ws-harness.toml`:
///
/// ```toml
/// [service]
/// image = "my-service:dev"          # or dockerfile (+ context), or compose_file + compose_service
/// port = 8080                       # inside the container
/// ws_path = "/socket"               # default /ws
/// env = { JWT_SECRET = "${jwt_secret}" }
/// cmd = ["--log-level", "debug"]
/// startup_timeout = "60s"
/// ready = "http:/healthz"           # websocket (default), http:<path>[=<status>], log:<text>, reference
/// ```
///
/// or with `WS_HARNESS_SERVICE_*` variables (`WS_HARNESS_SERVICE_IMAGE`,
/// `WS_HARNESS_SERVICE_ENV=A=1,B=2`, `WS_HARNESS_SERVICE_CMD="--a --b"`, …),
/// or in code:
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
/// use ws_harness::config::{Readiness, ServiceSource};
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .service_image("my-service:dev")
///     .service_port(8080)
///     .build()
///     .unwrap();
/// assert_eq!(config.service.source, ServiceSource::Image("my-service:dev".into()));
/// assert_eq!(config.service.ready, Readiness::WebSocket);
///
/// // Nothing set: the reference server's image.
/// let config = RealWebSocketTestConfig::builder().without_environment().build().unwrap();
/// assert_eq!(config.service.source, ServiceSource::Reference);
/// assert_eq!(config.service.ready, Readiness::Reference);
/// ```
///
/// In `env` values, `${jwt_secret}` and `${token}` stand for the config's
/// secret and token, so the service checks the tokens the tests mint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ServiceDefinition {
    /// Where the service comes from.
    pub source: ServiceSource,
    /// The port it listens on inside the container.
    pub port: u16,
    /// The path of its WebSocket endpoint.
    pub ws_path: String,
    /// Environment variables for the container.
    pub env: BTreeMap<String, String>,
    /// The container's command (arguments after the image's entry point);
    /// empty: the image's own.
    pub cmd: Vec<String>,
    /// How long start and readiness may take together.
    pub startup_timeout: Duration,
    /// When the service counts as ready.
    pub ready: Readiness,
}

/// Where the container tier's service comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // fields named for what they hold
pub enum ServiceSource {
    /// The reference server's image, built by the harness on first use.
    Reference,
    /// An image present in the engine, `name:tag` (never pulled).
    Image(String),
    /// Built from a Dockerfile; the tag is a hash of the Dockerfile and the
    /// context, so an edit rebuilds and nothing else does.
    Dockerfile {
        dockerfile: PathBuf,
        /// The build context (default: the Dockerfile's directory).
        context: PathBuf,
    },
    /// One service of a compose file; the file's other services start with
    /// it and go down with it.
    Compose {
        file: PathBuf,
        /// The service the tests talk to.
        service: String,
    },
}

impl fmt::Display for ServiceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reference => f.write_str("the reference image"),
            Self::Image(image) => write!(f, "image {image}"),
            Self::Dockerfile { dockerfile, .. } => write!(f, "Dockerfile {}", dockerfile.display()),
            Self::Compose { file, service } => {
                write!(f, "compose service {service} of {}", file.display())
            }
        }
    }
}

/// When a started service counts as ready.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Readiness {
    /// An authenticated WebSocket handshake at `ws_path` succeeds.
    WebSocket,
    /// `GET <path>` answers 2xx, or exactly `status` when given.
    Http {
        /// The path, starting with `/`.
        path: String,
        /// The status to wait for; `None`: any 2xx.
        status: Option<u16>,
    },
    /// The container printed this text (stdout or stderr).
    Log(String),
    /// The reference server's `/health`, with its protocol check.
    Reference,
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebSocket => f.write_str("websocket"),
            Self::Http { path, status: None } => write!(f, "http:{path}"),
            Self::Http {
                path,
                status: Some(status),
            } => write!(f, "http:{path}={status}"),
            Self::Log(text) => write!(f, "log:{text}"),
            Self::Reference => f.write_str("reference"),
        }
    }
}

/// Why a `ready` setting is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected websocket, http:<path> (e.g. http:/healthz or http:/healthz=204), log:<text> or reference"
)]
pub struct BadReadiness;

impl std::str::FromStr for Readiness {
    type Err = BadReadiness;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "websocket" => return Ok(Self::WebSocket),
            "reference" => return Ok(Self::Reference),
            _ => {}
        }
        if let Some(text) = s.strip_prefix("log:") {
            return Self::Log(text.to_owned()).checked();
        }
        let http = s.strip_prefix("http:").ok_or(BadReadiness)?;
        // The status is a number after the last `=`; a query's own `=` stays
        // in the path (`http:/ready?deep=1=200`).
        let status_of = |s: &str| s.parse::<u16>().ok().filter(|s| (100..600).contains(s));
        let (path, status) = match http.rsplit_once('=') {
            Some((path, status)) if status_of(status).is_some() => (path, status_of(status)),
            Some((_, status)) if !http.contains('?') || status.is_empty() => {
                return Err(BadReadiness);
            }
            _ => (http, None),
        };
        Self::Http {
            path: path.to_owned(),
            status,
        }
        .checked()
    }
}

impl Readiness {
    /// Itself, if a `ready` setting can say it: an HTTP path starts with
    /// `/` and its status is 100 to 599, a log text is not empty.
    pub(super) fn checked(self) -> Result<Self, BadReadiness> {
        match &self {
            Self::Http { path, status }
                if !path.starts_with('/') || status.is_some_and(|s| !(100..600).contains(&s)) =>
            {
                Err(BadReadiness)
            }
            Self::Log(text) if text.is_empty() => Err(BadReadiness),
            _ => Ok(self),
        }
    }
}

impl Default for ServiceDefinition {
    /// The reference server's image.
    fn default() -> Self {
        Self {
            source: ServiceSource::Reference,
            port: REFERENCE_PORT,
            ws_path: "/ws".to_owned(),
            env: BTreeMap::new(),
            cmd: Vec::new(),
            startup_timeout: Duration::from_secs(30),
            ready: Readiness::Reference,
        }
    }
}

/// The reference server's port inside its image.
pub(crate) const REFERENCE_PORT: u16 = 8765;
