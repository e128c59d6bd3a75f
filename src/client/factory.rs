//! [`TestClientFactory`]: clients for any number of users against one
//! backend, and how each connects ([`ClientOptions`]) and fails.

use super::{ExpectationFailed, TestClient, Transcript};
use crate::access::Minter;
use crate::chain::{BackendError, BackendInfo};
use crate::config::RealWebSocketTestConfig;
use crate::contract::{Contract, ContractError};
use crate::protocol::auth::AuthError;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Error as WsError;

/// How long minted tokens live.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Makes authenticated [`TestClient`]s for any number of users .
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ws_harness::{RealWebSocketTestConfig, TestClientFactory};
///
/// let config = RealWebSocketTestConfig::builder().without_environment().build()?;
/// let factory = TestClientFactory::from_config(config).await?; // the chain picks the backend
/// let mut alice = factory.client("alice").await?;
/// alice.send_user_message("m-1", "hello").await?;
/// let events = alice.expect_required_events("m-1").await?;
/// assert_eq!(events.len(), 5);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TestClientFactory {
    pub(super) config: Arc<RealWebSocketTestConfig>,
    pub(super) backend: BackendInfo,
    /// Makes the tokens of the backend's credentials; built once.
    pub(super) minter: Minter,
    /// The contract every client checks its frames against; compiled once.
    pub(super) contract: Contract,
    pub(super) connections: Arc<AtomicU64>,
}

/// Why a client could not be made or used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // fields named for what they hold
pub enum ClientError {
    /// The backend could not be had.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// No token could be minted for the user.
    #[error("cannot mint a token for user `{user}`: {source}")]
    Token {
        user: String,
        /// Why.
        source: AuthError,
    },
    /// The server refused the handshake (not retried).
    #[error("the server at {url} refused user `{user}` with HTTP {status}: {body}")]
    Refused {
        user: String,
        url: String,
        status: u16,
        body: String,
    },
    /// Every connection attempt failed.
    #[error(transparent)]
    MaxRetriesExceeded(#[from] MaxRetriesExceeded),
    /// Sending failed: the connection is broken.
    #[error("user `{user}`, connection #{connection}: cannot send")]
    Send {
        user: String,
        /// Which connection of the client.
        connection: u64,
        /// Why.
        #[source]
        source: WsError,
    },
    /// Sending on a connection that is closed.
    #[error("user `{user}`, connection #{connection}: cannot send: the connection is closed")]
    Closed {
        user: String,
        /// Which connection of the client.
        connection: u64,
    },
    /// The config's contract cannot be loaded.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// An expectation failed while reconnecting.
    #[error(transparent)]
    Expectation(#[from] Box<ExpectationFailed>),
    /// The contract does not say how this service resumes.
    #[error(
        "user `{user}` cannot resume: the contract has no `{setting}`; set it in ws-harness.toml or WS_HARNESS_{} (docs/settings.md has an example)",
        setting.replace('.', "_").to_uppercase()
    )]
    ResumeNotDescribed {
        user: String,
        /// The setting that would describe it: `contract.sequence_field`
        /// or `contract.resume_frame`.
        setting: &'static str,
    },
    /// The contract's resume frame could not be filled in.
    #[error("user `{user}`: the contract's resume frame: {source}")]
    ResumeFrame {
        user: String,
        /// Why.
        #[source]
        source: crate::config::TemplateError,
    },
}

/// Why one connection attempt failed (a failure worth retrying).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum ConnectError {
    /// No handshake in `connection_timeout`.
    #[error("no handshake within {after:?}")]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The server answered `429` or a `5xx`.
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The WebSocket handshake or the connection failed.
    #[error(transparent)]
    WebSocket(WsError),
}

/// Connecting failed on every attempt.
#[derive(Debug, thiserror::Error)]
#[error(
    "gave up connecting user `{user}` to {url} after {attempts} attempts (max_retries = {max_retries}); last error: {last_error}"
)]
#[allow(missing_docs)] // fields named for what they hold
pub struct MaxRetriesExceeded {
    pub user: String,
    pub url: String,
    /// Attempts made (the first plus the retries).
    pub attempts: u32,
    pub max_retries: u32,
    /// What the last attempt got.
    pub last_error: ConnectError,
}

/// How a client connects: its user, token, authentication and backoff.
/// Made by [`TestClientFactory::options`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientOptions {
    pub(super) factory: TestClientFactory,
    pub(super) user: String,
    pub(super) token: Option<String>,
    pub(super) subprotocol_auth: bool,
    pub(super) min_backoff: Duration,
    pub(super) max_backoff: Duration,
}

impl TestClientFactory {
    /// A factory for `backend`: its clients authenticate with the
    /// backend's own access ([`BackendInfo::access`]).
    ///
    /// # Errors
    /// [`ClientError::Token`] when the backend's secret cannot sign;
    /// [`ClientError::Contract`] when the config's contract cannot be loaded.
    pub fn new(config: RealWebSocketTestConfig, backend: BackendInfo) -> Result<Self, ClientError> {
        let contract = config.load_contract()?;
        let minter = backend
            .access
            .credentials
            .minter()
            .map_err(|source| ClientError::Token {
                user: String::new(),
                source,
            })?;
        Ok(Self {
            config: Arc::new(config),
            backend,
            minter,
            contract,
            connections: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A factory for the backend `config` asks for
    /// ([`BackendInfo::resolve`]).
    ///
    /// # Errors
    /// [`ClientError::Backend`] when that backend cannot be had.
    pub async fn from_config(config: RealWebSocketTestConfig) -> Result<Self, ClientError> {
        let backend = BackendInfo::resolve(&config).await?;
        Self::new(config, backend)
    }

    /// The contract its clients check every frame against.
    #[must_use]
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// The backend its clients connect to.
    #[must_use]
    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// Its configuration.
    #[must_use]
    pub fn config(&self) -> &RealWebSocketTestConfig {
        &self.config
    }

    /// The token a client of `user_id` presents against this backend: its
    /// fixed token, else one minted for the user with its secret.
    ///
    /// # Errors
    /// [`ClientError::Token`] for a user id the protocol does not allow.
    pub fn token_for(&self, user_id: &str) -> Result<String, ClientError> {
        self.minter
            .token_for(user_id, TOKEN_TTL)
            .map_err(|source| ClientError::Token {
                user: user_id.to_owned(),
                source,
            })
    }

    /// A connected client of `user_id`, authenticated by header.
    ///
    /// # Errors
    /// [`ClientError`] when the handshake is refused or every attempt fails.
    pub async fn client(&self, user_id: &str) -> Result<TestClient, ClientError> {
        self.options(user_id).connect().await
    }

    /// Options for a client of `user_id`, to connect with.
    pub fn options(&self, user_id: &str) -> ClientOptions {
        ClientOptions {
            factory: self.clone(),
            user: user_id.to_owned(),
            token: None,
            subprotocol_auth: false,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl ClientOptions {
    /// Present this token instead of minting one.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Authenticate with the `jwt-auth, jwt.<token>` subprotocol pair, as a
    /// browser would, instead of the `Authorization` header.
    pub fn subprotocol_auth(mut self) -> Self {
        self.subprotocol_auth = true;
        self
    }

    /// The backoff between attempts: exponential from `min` up to `max`,
    /// with jitter. Default 50 ms to 2 s.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max;
        self
    }

    /// Connects, retrying up to `max_retries` times.
    ///
    /// # Errors
    /// [`ClientError::Refused`] at once for a refusal other than `429` or
    /// `5xx`; [`ClientError::MaxRetriesExceeded`] when every attempt failed.
    pub async fn connect(self) -> Result<TestClient, ClientError> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => self.factory.token_for(&self.user)?,
        };
        let subject = crate::protocol::auth::subject_of(&token);
        let contract = &self.factory.contract;
        let mut client = TestClient {
            user: self.user.clone(),
            connection: 0,
            ws: None,
            transcript: Transcript::new(
                self.factory.config.transcript_window,
                contract.settings().sequence_field.clone(),
            ),
            event_timeout: self.factory.config.event_timeout,
            contract: contract.stream(subject),
            violations: Vec::new(),
            options: self,
            token,
            copy_matched: true,
        };
        client.open().await?;
        Ok(client)
    }
}
