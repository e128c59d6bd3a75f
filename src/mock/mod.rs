//! A scriptable WebSocket mock for any protocol: [`MockServer`] runs in the
//! test's process on `127.0.0.1`, over `ws://` or `wss://`, and answers
//! the frames clients send as its [`Mock`]s say; [`MockServer::verify`]
//! (also run when it is dropped) checks each mock answered as often as it
//! was expected to, and never waits for a connection to close. Given the
//! service's contract ([`MockServerBuilder::contract`]), it also holds
//! what clients send to it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use futures_util::{SinkExt, StreamExt};
//! use serde_json::json;
//! use tokio_tungstenite::tungstenite::Message;
//! use ws_harness::event;
//! use ws_harness::mock::{Mock, MockServer, Respond};
//!
//! let server = MockServer::start().await.unwrap();
//! Mock::given(event("ping"))
//!     .respond_with(Respond::reply_with(|ping| json!({"type": "pong", "id": ping["id"]})))
//!     .expect(1)
//!     .mount(&server);
//!
//! let (mut client, _) = tokio_tungstenite::connect_async(server.url().as_str()).await.unwrap();
//! client.send(Message::text(r#"{"type":"ping","id":7}"#)).await.unwrap();
//! let pong = client.next().await.unwrap().unwrap();
//! assert_eq!(pong.to_text().unwrap(), r#"{"id":7,"type":"pong"}"#);
//! server.verify().unwrap();
//! # }
//! ```
//!
//! docs/mock.md's example of a mock as the chain's last tier (compiled here):
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use serde_json::json;
//! use std::time::Duration;
//! use ws_harness::{event, RealWebSocketTestConfig, TestClientFactory};
//! use ws_harness::chain::Chain;
//! use ws_harness::mock::{Mock, MockServer, Respond, subject};
//!
//! let config = RealWebSocketTestConfig::from_env()?;
//! let server = MockServer::builder()
//!     .name("orders")
//!     .tls()
//!     .contract(&config.contract) // what clients send is held to the service's contract
//!     .start()
//!     .await?;
//! Mock::given(event("get"))
//!     .and(subject("alice"))
//!     .respond_with(
//!         Respond::reply_with(|get| json!({"type": "order", "id": get["id"]}))
//!             .then(Respond::wait(Duration::from_millis(50)))
//!             .then(Respond::reply(json!({"type": "shipped"}))),
//!     )
//!     .expect(1)
//!     .named("alice gets her order")
//!     .mount(&server);
//!
//! // The team's service in a container, then its staging, then this mock.
//! let backend = Chain::new(&config).mock(&server).resolve().await?;
//! let factory = TestClientFactory::new(config, backend)?;
//! // ... the suite's tests, unchanged ...
//! server.verify()?; // also on drop; nothing to verify when another tier served
//! # Ok(())
//! # }
//! ```

mod builder;
mod certificate;
mod connection;
mod expectation;
mod matcher;
mod respond;
mod server;
mod verification;

pub(crate) use certificate::Certificate;

pub use builder::{MockError, MockServerBuilder};
pub use connection::MockConnection;
pub use expectation::{DEFAULT_PRIORITY, Mock, Times};
pub use matcher::{
    FnMatcher, Matcher, binary, header, path, query_param, regex, subject, subprotocol, text,
};
pub use respond::{Peer, Recipients, Respond};
pub use server::MockServer;
pub use verification::{ContractViolations, MockReport, UnmatchedFrames, VerificationFailed};

use http::HeaderMap;
use serde_json::Value;
use std::fmt;

/// A connection's number, in the order connections were opened (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MockConnectionId(pub u64);

impl fmt::Display for MockConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A frame a client sent to the mock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl ClientFrame {
    /// Its text, for a text frame.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Binary(_) => None,
        }
    }

    /// Its bytes, for a binary frame.
    #[must_use]
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Self::Text(_) => None,
            Self::Binary(bytes) => Some(bytes),
        }
    }

    /// Its JSON, for a text frame that is JSON.
    #[must_use]
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(self.as_text()?).ok()
    }
}

impl fmt::Display for ClientFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Binary(bytes) => write!(f, "<binary frame, {} bytes>", bytes.len()),
        }
    }
}

/// How a client opened its connection: what handshake matchers read.
/// `Authorization` and `Cookie` values are marked sensitive, so `Debug`
/// does not show them.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Handshake {
    /// The path, e.g. `/ws`.
    pub path: String,
    /// The query, without `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The subprotocols the client offered, in order.
    pub subprotocols: Vec<String>,
    /// The subject (`sub`) of the JWT the client sent, unverified.
    pub subject: Option<String>,
}

impl Handshake {
    /// The query's `name=value` pairs, decoded.
    pub fn query_pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
    }
}

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(subject) = &self.subject {
            write!(f, ", subject {subject}")?;
        }
        Ok(())
    }
}
