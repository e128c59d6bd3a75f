//! Waiting until a started service is ready, by the definition's
//! [`Readiness`] kind.

use super::super::{HealthError, health};
use crate::harness::{Credentials, Readiness};
use bollard::Docker;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// How long between two tries.
const RETRY_EVERY: Duration = Duration::from_millis(100);
/// How long one try may take.
const ONE_TRY: Duration = Duration::from_secs(2);
/// The subject of the token the `websocket` readiness check presents.
pub(crate) const READINESS_SUBJECT: &str = "ws-harness-readiness";

/// Why a service did not become ready: the last try's answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotReady {
    /// The WebSocket handshake failed.
    #[error("the WebSocket handshake at {url} failed")]
    Handshake {
        /// The URL.
        url: Url,
        /// Why.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The token for the handshake could not be made.
    #[error("no token for the readiness handshake")]
    Token(#[source] crate::auth::AuthError),
    /// The HTTP check got an answer that does not count.
    #[error(transparent)]
    Http(HealthError),
    /// The container's output does not hold the line waited for.
    #[error("the container's output has no line containing {text:?} yet")]
    NoLogLine {
        /// The text waited for.
        text: String,
    },
    /// The container's output cannot be read.
    #[error("cannot read the container's output")]
    Logs(#[source] bollard::errors::Error),
    /// A try did not finish in time.
    #[error("one try took longer than {after:?}")]
    TryTimedOut {
        /// The try's limit.
        after: Duration,
    },
}

/// Tries `ready` against the service at `url` until it passes or
/// `deadline`; the error is the last try's.
pub(super) async fn wait(
    ready: &Readiness,
    url: &Url,
    credentials: &Credentials,
    docker: &Docker,
    container: &str,
    deadline: Instant,
) -> Result<(), NotReady> {
    let mut first = true;
    loop {
        // The first try gets its full time, however little is left.
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = if first { ONE_TRY } else { ONE_TRY.min(left) };
        first = false;
        let result = tokio::time::timeout(limit, once(ready, url, credentials, docker, container))
            .await
            .unwrap_or(Err(NotReady::TryTimedOut { after: limit }));
        match result {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() + RETRY_EVERY >= deadline => return Err(e),
            Err(NotReady::Token(e)) => return Err(NotReady::Token(e)),
            Err(_) => tokio::time::sleep(RETRY_EVERY).await,
        }
    }
}

async fn once(
    ready: &Readiness,
    url: &Url,
    credentials: &Credentials,
    docker: &Docker,
    container: &str,
) -> Result<(), NotReady> {
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port_or_known_default().unwrap_or(80);
    match ready {
        Readiness::Log(text) => {
            let options = bollard::query_parameters::LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build();
            let mut logs = docker.logs(container, Some(options));
            let mut output = Vec::new();
            while let Some(chunk) = logs.next().await {
                output.extend_from_slice(&chunk.map_err(NotReady::Logs)?.into_bytes());
            }
            if String::from_utf8_lossy(&output).contains(text.as_str()) {
                Ok(())
            } else {
                Err(NotReady::NoLogLine { text: text.clone() })
            }
        }
        Readiness::Reference => health::check(url, ONE_TRY).await.map_err(NotReady::Http),
        Readiness::Http { path, status } => {
            let shown = format!("http://{host}:{port}{path}");
            let (got, _) = health::get(host, port, path, &shown)
                .await
                .map_err(NotReady::Http)?;
            let good = status.map_or(got.is_success(), |want| got.as_u16() == want);
            if good {
                Ok(())
            } else {
                Err(NotReady::Http(HealthError::Status {
                    health: shown,
                    status: got.as_u16(),
                }))
            }
        }
        Readiness::WebSocket => {
            let token = credentials
                .token_for(READINESS_SUBJECT, Duration::from_secs(300))
                .map_err(NotReady::Token)?;
            let handshake = |source| NotReady::Handshake {
                url: url.clone(),
                source: Box::new(source),
            };
            let request = crate::auth::bearer_request(url.as_str(), &token).map_err(handshake)?;
            let (mut socket, _) = tokio_tungstenite::connect_async(request)
                .await
                .map_err(handshake)?;
            let _ = socket.close(None).await;
            Ok(())
        }
    }
}
