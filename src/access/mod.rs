//! [`Access`]: how the clients of one backend get in. The credentials they
//! present, the extra handshake headers they send and the TLS setup they
//! trust belong to the backend's tier, and every handshake of the harness
//! (test clients, readiness, load) is made here.

pub(crate) mod close_tap;
mod credentials;
mod proxy_route;
mod tls;

pub(crate) use credentials::Minter;
pub use credentials::{Credentials, TOKEN_COMMAND_TIMEOUT, TokenError};
pub(crate) use proxy_route::ProxyRegistry;
pub use proxy_route::ProxyRoute;
#[cfg(feature = "mock")]
pub(crate) use tls::provider;
pub use tls::{ClientTls, TlsError};

use crate::config::{HandshakeHeaders, RealWebSocketTestConfig};
use crate::protocol::auth::{AUTH_SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX};
use close_tap::CloseTap;
use http::header::{AUTHORIZATION, HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use rustls::pki_types::ServerName;
use std::fmt;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{TlsError as WsTlsError, UrlError};
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

/// A client connection to a backend, `ws://` or `wss://`, read through a
/// tap that keeps the close frame the server sent.
pub type Socket = WebSocketStream<CloseTap<MaybeTlsStream<TcpStream>>>;

/// How the clients of one backend get in: the credentials they present,
/// the extra headers they send and, for a `wss://` URL, the TLS setup.
/// Belongs to the backend's tier ([`BackendInfo::access`](crate::BackendInfo::access)):
/// the in-process server and the reference container get [`Access::test`];
/// staging, a `url` and the team's service get the configured ones.
///
/// ```
/// use ws_harness::Access;
///
/// let access = Access::test();
/// assert_eq!(access.to_string(), "tokens minted with the published test secret");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Access {
    /// What the clients present.
    pub credentials: Credentials,
    /// The extra handshake headers they send.
    pub headers: HandshakeHeaders,
    /// The TLS setup, for a `wss://` URL.
    pub tls: Option<ClientTls>,
    /// The proxy they dial instead of the server, if a test put one in
    /// front of it.
    pub proxy: Option<ProxyRoute>,
}

/// Why the configured access could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The configured token could not be had (its file or command failed).
    #[error("no token")]
    Token(#[source] Arc<TokenError>),
    /// The TLS setup could not be built.
    #[error("no TLS setup")]
    Tls(#[source] Box<TlsError>),
}

/// The configured access of one resolution of the chain: the token's file
/// or command is read or run at most once, whichever tiers ask.
pub(crate) struct ConfiguredAccess<'a> {
    config: &'a RealWebSocketTestConfig,
    credentials: tokio::sync::OnceCell<Result<Credentials, Arc<TokenError>>>,
}

impl<'a> ConfiguredAccess<'a> {
    pub(crate) fn new(config: &'a RealWebSocketTestConfig) -> Self {
        Self {
            config,
            credentials: tokio::sync::OnceCell::new(),
        }
    }

    /// The configured credentials, fetched on first use.
    pub(crate) async fn credentials(&self) -> Result<Credentials, AccessError> {
        self.credentials
            .get_or_init(|| async { Credentials::configured(self.config).await.map_err(Arc::new) })
            .await
            .clone()
            .map_err(AccessError::Token)
    }

    /// The configured access to the server at `url`.
    pub(crate) async fn access(&self, url: &Url) -> Result<Access, AccessError> {
        let credentials = self.credentials().await?;
        Access::with_credentials(self.config, url, credentials)
            .map_err(|e| AccessError::Tls(Box::new(e)))
    }
}

/// How a handshake carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenIn {
    /// `Authorization: Bearer <token>`.
    Header,
    /// The `jwt-auth, jwt.<token>` subprotocol pair, as a browser sends it.
    Subprotocol,
}

impl Access {
    /// The reference server's: tokens minted with the published test
    /// secret, no headers, no TLS.
    #[must_use]
    pub fn test() -> Self {
        Self {
            credentials: Credentials::TestSecret,
            headers: HandshakeHeaders::default(),
            tls: None,
            proxy: None,
        }
    }

    /// The configured access to the server at `url`, as staging and a
    /// `url` get it: [`Credentials::configured`] (a token's file or command
    /// read or run now), the `headers` and, for `wss://`, the TLS setup of
    /// the `tls_*` settings.
    ///
    /// ```
    /// use ws_harness::{Access, RealWebSocketTestConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = RealWebSocketTestConfig::builder()
    ///     .without_environment()
    ///     .token_command("echo t-123")
    ///     .headers([("Origin", "https://app.example")])
    ///     .build()
    ///     .unwrap();
    /// let url = "wss://staging.example/ws".parse().unwrap();
    /// let access = Access::configured(&config, &url).await.unwrap();
    /// assert_eq!(
    ///     access.to_string(),
    ///     "the token from token_command, headers origin, TLS trusting the platform's roots"
    /// );
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`AccessError`] when the token or the TLS setup cannot be had.
    pub async fn configured(
        config: &RealWebSocketTestConfig,
        url: &Url,
    ) -> Result<Self, AccessError> {
        let credentials = Credentials::configured(config)
            .await
            .map_err(|e| AccessError::Token(Arc::new(e)))?;
        Self::with_credentials(config, url, credentials).map_err(|e| AccessError::Tls(Box::new(e)))
    }

    /// The configured access to `url` with these credentials.
    fn with_credentials(
        config: &RealWebSocketTestConfig,
        url: &Url,
        credentials: Credentials,
    ) -> Result<Self, TlsError> {
        let tls = match url.scheme() {
            "wss" | "https" => Some(config.tls.client()?),
            _ => None,
        };
        Ok(Self {
            credentials,
            headers: config.headers.clone(),
            tls,
            proxy: None,
        })
    }

    /// The handshake request for `url` carrying `token` as `token_in`
    /// says, with the configured headers (a configured `Authorization`
    /// replaces the token's).
    pub(crate) fn request(
        &self,
        url: &str,
        token: &str,
        token_in: TokenIn,
    ) -> Result<Request, WsError> {
        let mut request = url.into_client_request()?;
        let (name, value) = match token_in {
            TokenIn::Header => (AUTHORIZATION, format!("Bearer {token}")),
            TokenIn::Subprotocol => (
                SEC_WEBSOCKET_PROTOCOL,
                format!("{AUTH_SUBPROTOCOL}, {TOKEN_SUBPROTOCOL_PREFIX}{token}"),
            ),
        };
        let mut value =
            HeaderValue::from_str(&value).map_err(|e| WsError::HttpFormat(http::Error::from(e)))?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
        self.headers.apply(request.headers_mut());
        Ok(request)
    }

    /// A bare connection to `url` as the user `token` names, with
    /// `Authorization: Bearer <token>` and the configured headers, TLS
    /// setup and fault proxy route; no retries, contract or transcript
    /// (what a [`TestClient`](crate::TestClient) adds).
    ///
    /// # Errors
    /// The handshake's [`WsError`]: a bad URL, a refusal, a broken
    /// connection.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use ws_harness::Access;
    /// use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
    ///
    /// let token = JwtAuth::new(TEST_JWT_SECRET).unwrap().mint("alice", Duration::from_secs(60)).unwrap();
    /// let ws = Access::test().open_socket("ws://127.0.0.1:8765/ws", &token).await.unwrap();
    /// # }
    /// ```
    pub async fn open_socket(&self, url: &str, token: &str) -> Result<Socket, WsError> {
        let request = self.request(url, token, TokenIn::Header)?;
        let user = crate::protocol::auth::subject_of(token);
        let (ws, _) = self
            .connect(request, user.as_deref(), SizeLimits::default())
            .await?;
        Ok(ws)
    }

    /// Opens the WebSocket of `request` for `user`: over TLS with this
    /// access's setup for `wss://`, through its proxy if it has one, with
    /// Nagle's algorithm off, read through a [`CloseTap`] so a failure can
    /// say what close frame the peer sent.
    pub(crate) async fn connect(
        &self,
        request: Request,
        user: Option<&str>,
        limits: SizeLimits,
    ) -> Result<(Socket, Response), WsError> {
        let uri = request.uri();
        let host = uri.host().ok_or(WsError::Url(UrlError::NoHostName))?;
        // An IPv6 host comes in brackets, which neither a socket address
        // nor a TLS server name takes.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(WsError::Url(UrlError::UnsupportedUrlScheme)),
        };
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tcp = match &self.proxy {
            None => TcpStream::connect((host.as_str(), port)).await?,
            Some(proxy) => proxy.dial(user).await?,
        };
        tcp.set_nodelay(true)?;
        let stream = match (secure, &self.tls) {
            (false, _) => MaybeTlsStream::Plain(tcp),
            (true, Some(tls)) => {
                let name = ServerName::try_from(host)
                    .map_err(|_| WsError::Tls(WsTlsError::InvalidDnsName))?;
                let tls = TlsConnector::from(tls.config()).connect(name, tcp).await?;
                MaybeTlsStream::Rustls(tls)
            }
            // A `wss://` URL without a TLS setup is refused rather than
            // building a config from rustls' process default (which can
            // panic).
            (true, None) => return Err(WsError::Url(UrlError::TlsFeatureNotEnabled)),
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(CLIENT_READ_BUFFER)
            .max_frame_size(Some(limits.frame))
            .max_message_size(Some(limits.message));
        tokio_tungstenite::client_async_with_config(request, CloseTap::new(stream), Some(config))
            .await
    }
}

/// The largest frame and message a connection accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SizeLimits {
    /// `max_frame_size`.
    pub(crate) frame: usize,
    /// `max_message_size`.
    pub(crate) message: usize,
}

impl SizeLimits {
    /// The limits `config` sets.
    pub(crate) fn of(config: &RealWebSocketTestConfig) -> Self {
        Self {
            frame: config.max_frame_size,
            message: config.max_message_size,
        }
    }
}

impl Default for SizeLimits {
    /// The defaults of `max_frame_size` and `max_message_size` (without
    /// building a whole default config on every handshake).
    fn default() -> Self {
        Self {
            frame: crate::config::DEFAULT_MAX_FRAME_SIZE,
            message: crate::config::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// How much a client reads from its socket at a time: several runs' frames,
/// and no more, because tungstenite zero-fills that much before every read
/// (its default, 128 KiB, cost a client more than parsing the frames).
/// Larger frames still arrive whole, in several reads.
const CLIENT_READ_BUFFER: usize = 4 * 1024;

impl fmt::Display for Access {
    /// `the token from token_command, headers x-api-key, cookie, TLS trusting the platform's roots`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.credentials)?;
        if !self.headers.is_empty() {
            write!(f, ", headers {}", self.headers)?;
        }
        if let Some(tls) = &self.tls {
            write!(f, ", {tls}")?;
        }
        if let Some(proxy) = &self.proxy {
            write!(f, ", {proxy}")?;
        }
        Ok(())
    }
}
