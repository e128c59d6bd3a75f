//! `GET /health` of a server speaking `PROTOCOL.md`, checked for protocol 1.

use crate::protocol::PROTOCOL_VERSION;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use url::Url;

/// Largest `/health` answer read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Why a `/health` probe failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The server's URL is not `ws://` (this build has no TLS).
    #[error("{url}: only ws:// servers can be probed by this build (no TLS)")]
    Scheme {
        /// The WebSocket URL.
        url: Url,
    },
    /// No TCP connection.
    #[error("{health}: cannot connect")]
    Connect {
        /// The `/health` URL.
        health: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("{health}: the HTTP exchange failed")]
    Http {
        /// The `/health` URL.
        health: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No answer in time.
    #[error("{health}: no answer within {after:?}")]
    TimedOut {
        /// The `/health` URL.
        health: String,
        /// The probe's timeout.
        after: Duration,
    },
    /// A status other than the one waited for (200 for `/health`).
    #[error("{health} answered HTTP {status}")]
    Status {
        /// The `/health` URL.
        health: String,
        /// The status.
        status: u16,
    },
    /// The body is not JSON.
    #[error("{health} did not answer JSON: {body:?}")]
    NotJson {
        /// The `/health` URL.
        health: String,
        /// The start of the body.
        body: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Another protocol version.
    #[error("{health} speaks protocol {found}; this harness speaks protocol {PROTOCOL_VERSION}")]
    WrongProtocol {
        /// The `/health` URL.
        health: String,
        /// The version it speaks.
        found: u64,
    },
    /// No protocol version at all.
    #[error("{health} does not say its protocol version: {body}")]
    NoProtocol {
        /// The `/health` URL.
        health: String,
        /// The JSON it answered.
        body: Value,
    },
}

/// Probes the `/health` of the server whose WebSocket URL is `ws_url`,
/// within `timeout`.
pub(super) async fn check(ws_url: &Url, timeout: Duration) -> Result<(), HealthError> {
    if ws_url.scheme() != "ws" {
        return Err(HealthError::Scheme {
            url: ws_url.clone(),
        });
    }
    let host = ws_url.host_str().unwrap_or("localhost").to_owned();
    let port = ws_url.port_or_known_default().unwrap_or(80);
    let health = format!("http://{host}:{port}/health");
    let (status, body) = tokio::time::timeout(timeout, get(&host, port, "/health", &health))
        .await
        .map_err(|_| HealthError::TimedOut {
            health: health.clone(),
            after: timeout,
        })??;
    if status != http::StatusCode::OK {
        return Err(HealthError::Status {
            health,
            status: status.as_u16(),
        });
    }
    let json: Value = serde_json::from_slice(&body).map_err(|source| HealthError::NotJson {
        body: String::from_utf8_lossy(&body).chars().take(80).collect(),
        health: health.clone(),
        source,
    })?;
    match json.get("protocol").and_then(Value::as_u64) {
        Some(p) if p == u64::from(PROTOCOL_VERSION) => Ok(()),
        Some(found) => Err(HealthError::WrongProtocol { health, found }),
        None => Err(HealthError::NoProtocol { health, body: json }),
    }
}

/// `GET path` over HTTP/1.1 (`health` names the URL in errors): the
/// status and the body.
pub(super) async fn get(
    host: &str,
    port: u16,
    path: &str,
    health: &str,
) -> Result<(http::StatusCode, Bytes), HealthError> {
    let http = |source: Box<dyn std::error::Error + Send + Sync>| HealthError::Http {
        health: health.to_owned(),
        source,
    };
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|source| HealthError::Connect {
            health: health.to_owned(),
            source,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(e.into()))?;
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| http(e.into()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| http(e.into()))?;
    let status = response.status();
    Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map(|body| (status, body.to_bytes()))
        .map_err(http)
}
