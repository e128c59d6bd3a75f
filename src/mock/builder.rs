//! [`MockServerBuilder`]: a mock's name, TLS, subprotocol and contract,
//! and [`MockError`], why it could not start.

use super::MockServer;
use super::certificate::Certificate;
use super::connection::{Shared, accept};
use crate::access::TlsError;
use crate::config::ContractSettings;
use crate::contract::{Contract, ContractError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use url::Url;

/// Why a mock server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// No port on `127.0.0.1`.
    #[error("the mock server cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// Its certificate could not be made.
    #[error("the mock server cannot make its TLS certificate")]
    Certificate(#[source] rcgen::Error),
    /// Its CA could not be written for clients.
    #[error("the mock server cannot write its CA file {}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No TLS setup for its clients (from its CA file) or for itself (no
    /// crypto provider).
    #[error("the mock server cannot set up TLS")]
    Tls(#[source] Box<TlsError>),
    /// rustls refused its certificate.
    #[error("the mock server's TLS refuses its certificate")]
    ServerTls(#[source] rustls::Error),
    /// The contract of what clients send could not be loaded. Its
    /// message carries the cause, as a test's `unwrap` shows it.
    #[error("the mock server cannot load the contract of what clients send: {}", crate::with_sources(.0))]
    Contract(ContractError),
}

/// Builds a [`MockServer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ws_harness::mock::MockServer;
///
/// let server = MockServer::builder().name("orders").tls().start().await.unwrap();
/// assert_eq!(server.url().scheme(), "wss");
/// assert!(server.ca_file().unwrap().exists());
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct MockServerBuilder {
    name: Option<String>,
    tls: bool,
    subprotocol: Option<String>,
    contract: Option<ContractSettings>,
}

impl MockServerBuilder {
    /// Its name in reports (`mock` unless set).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Serves `wss://` with a certificate for `localhost` and `127.0.0.1`
    /// signed by a CA made for it: [`MockServer::info`] and
    /// [`MockServer::client_tls`] trust that CA, and
    /// [`MockServer::ca_file`] names it for anyone else (`tls_ca_file`).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// The subprotocol it accepts when a client offers it; otherwise it
    /// accepts the first one offered.
    pub fn subprotocol(mut self, name: impl Into<String>) -> Self {
        self.subprotocol = Some(name.into());
        self
    }

    /// Checks every text frame clients send against the contract of what
    /// clients send in `settings` ([`Contract::load_sent_by_clients`]: an
    /// AsyncAPI document's `publish` or `action: receive` messages), so the
    /// mock catches a client that sends what the real service would
    /// refuse. A frame that breaks it is still answered as the mocks say;
    /// [`MockServer::verify`] fails, naming the frame and the rule. Binary
    /// frames are not checked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures_util::{SinkExt, StreamExt};
    /// use serde_json::json;
    /// use tokio_tungstenite::tungstenite::Message;
    /// use ws_harness::event;
    /// use ws_harness::config::ContractSettings;
    /// use ws_harness::mock::{Mock, MockServer, Respond};
    ///
    /// // The reference protocol's client frames (the default settings).
    /// let server = MockServer::builder().contract(&ContractSettings::default()).start().await.unwrap();
    /// Mock::given(event("resume"))
    ///     .respond_with(Respond::reply(json!({"type": "resumed", "replayed": 0, "last_event_id": 0})))
    ///     .mount(&server);
    /// let (mut client, _) = tokio_tungstenite::connect_async(server.url().as_str()).await.unwrap();
    /// client.send(Message::text(r#"{"type":"resume","last_event_id":"7"}"#)).await.unwrap();
    /// client.next().await.unwrap().unwrap(); // answered all the same
    /// let failed = server.verify().unwrap_err();
    /// assert!(failed.to_string().contains("contract violation (schema) at /last_event_id"));
    /// # // Dropping it verifies again, and panics.
    /// # let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server)));
    /// # }
    /// ```
    pub fn contract(mut self, settings: &ContractSettings) -> Self {
        self.contract = Some(settings.clone());
        self
    }

    /// Starts it on a free port of `127.0.0.1`.
    ///
    /// # Errors
    /// [`MockError`] when it cannot listen, make its certificate or load
    /// its contract.
    pub async fn start(self) -> Result<MockServer, MockError> {
        let contract = self
            .contract
            .as_ref()
            .map(Contract::load_sent_by_clients)
            .transpose()
            .map_err(MockError::Contract)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(MockError::Bind)?;
        let port = listener.local_addr().map_err(MockError::Bind)?.port();
        let certificate = if self.tls {
            Some(Certificate::make(&["localhost", "127.0.0.1"])?)
        } else {
            None
        };
        let scheme = if self.tls { "wss" } else { "ws" };
        let url =
            Url::parse(&format!("{scheme}://127.0.0.1:{port}/")).expect("a loopback URL parses");
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            subprotocol: self.subprotocol,
            contract,
        });
        let acceptor = certificate
            .as_ref()
            .map(Certificate::acceptor)
            .transpose()?;
        let accept = tokio::spawn(accept(listener, acceptor, Arc::clone(&shared)));
        Ok(MockServer::new(
            self.name.unwrap_or_else(|| "mock".to_owned()),
            url,
            shared,
            certificate,
            accept,
        ))
    }
}
