//! The access settings' types: the configured token's source, the extra
//! handshake headers and the TLS files. How a token is fetched and TLS is
//! built is [`crate::access`]'s.

use http::header::{HeaderName, HeaderValue};
use std::fmt;
use std::path::PathBuf;

/// The headers the WebSocket handshake sets itself; `headers` may not.
const HANDSHAKE_OWN: [&str; 7] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "content-length",
    "transfer-encoding",
];

/// Extra handshake headers (setting `headers`): cookies, API keys,
/// `Origin`. Their values are marked sensitive; `Debug` and `Display` show
/// the names only.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .headers([("X-Api-Key", "k-123")])
///     .build()
///     .unwrap();
/// assert_eq!(config.headers.to_string(), "x-api-key");
/// assert!(!format!("{config:?}").contains("k-123"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HandshakeHeaders(Vec<(HeaderName, HeaderValue)>);

/// Why a header cannot be sent at the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadHeader {
    /// Not a header name.
    #[error("`{0}` is not a header name")]
    Name(String),
    /// The value has characters a header cannot carry (e.g. a newline).
    #[error("the value of `{0}` has characters a header cannot carry")]
    Value(String),
    /// The handshake sets this header itself.
    #[error("`{0}` is set by the WebSocket handshake itself")]
    HandshakeOwn(String),
}

impl HandshakeHeaders {
    /// Headers from name and value pairs, checked.
    ///
    /// # Errors
    /// [`BadHeader`] for a bad name or value, or a header the handshake sets.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, BadHeader> {
        let mut headers = Vec::new();
        for (name, value) in pairs {
            let name = name.as_ref().trim();
            let parsed = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BadHeader::Name(name.to_owned()))?;
            if HANDSHAKE_OWN.contains(&parsed.as_str()) {
                return Err(BadHeader::HandshakeOwn(name.to_owned()));
            }
            let mut value = HeaderValue::from_str(value.as_ref())
                .map_err(|_| BadHeader::Value(name.to_owned()))?;
            value.set_sensitive(true);
            headers.push((parsed, value));
        }
        Ok(Self(headers))
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// Adds them to `headers`, replacing any of the same name.
    pub(crate) fn apply(&self, headers: &mut http::HeaderMap) {
        for (name, value) in &self.0 {
            headers.insert(name.clone(), value.clone());
        }
    }
}

impl fmt::Display for HandshakeHeaders {
    /// The names, comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().collect::<Vec<_>>().join(", "))
    }
}

impl fmt::Debug for HandshakeHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// The TLS settings of the configured tiers (staging, a `url`): keys
/// `tls_ca_file`, `tls_client_cert` + `tls_client_key` and
/// `tls_insecure_skip_verify`.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .tls_ca_file("certs/staging-ca.pem")
///     .build()
///     .unwrap();
/// assert_eq!(config.tls.ca_file.as_deref(), Some(std::path::Path::new("certs/staging-ca.pem")));
/// assert!(!config.tls.insecure_skip_verify);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted beside the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate chain presented to the server (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Only by this name; the report warns.
    pub insecure_skip_verify: bool,
}

/// Where the configured token comes from: one of the settings `token`,
/// `token_file` and `token_command`. Its `Debug` never shows a token.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
/// use ws_harness::config::ConfiguredToken;
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .token_command("gcloud auth print-identity-token")
///     .build()
///     .unwrap();
/// assert_eq!(config.token, Some(ConfiguredToken::Command("gcloud auth print-identity-token".into())));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum ConfiguredToken {
    /// `token`: the token itself.
    Value(String),
    /// `token_file`: a file holding the token (surrounding whitespace is
    /// dropped), read once per resolution.
    File(PathBuf),
    /// `token_command`: a command that prints the token on stdout (e.g. a
    /// cloud CLI), run by the platform's shell (`sh -c`, `cmd /C`) once per
    /// resolution, within [`TOKEN_COMMAND_TIMEOUT`](crate::access::TOKEN_COMMAND_TIMEOUT).
    Command(String),
}

impl ConfiguredToken {
    /// The setting this source is.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match self {
            Self::Value(_) => "token",
            Self::File(_) => "token_file",
            Self::Command(_) => "token_command",
        }
    }
}

impl fmt::Debug for ConfiguredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Command(command) => f.debug_tuple("Command").field(command).finish(),
        }
    }
}
