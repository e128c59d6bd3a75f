//! Waiting until a service is ready, by its [`Readiness`] kind: a started
//! container, or staging.

use super::http_check::{self, HttpCheckError};
use crate::harness::access::TokenIn;
use crate::harness::{Access, Readiness};
use futures_util::future::BoxFuture;
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
    /// The HTTP check failed or got an answer that does not count.
    #[error(transparent)]
    Http(HttpCheckError),
    /// The container's output does not hold the line waited for.
    #[error("the container's output has no line containing {text:?} yet")]
    NoLogLine {
        /// The text waited for.
        text: String,
    },
    /// The container's output cannot be read.
    #[cfg(feature = "container")]
    #[error("cannot read the container's output")]
    Logs(#[source] bollard::errors::Error),
    /// `log:` readiness with no container to read (staging).
    #[error("log readiness needs a container's output, and this service has none")]
    NoOutput,
    /// A try did not finish in time.
    #[error("one try took longer than {after:?}")]
    TryTimedOut {
        /// The try's limit.
        after: Duration,
    },
}

/// Checks a service's output for a line, for `log:` readiness.
pub(super) type LogCheck<'a> =
    &'a (dyn Fn(String) -> BoxFuture<'static, Result<(), NotReady>> + Sync);

/// Tries `ready` against the service at `url` until it passes or
/// `deadline`; the error is the last try's. `logs` reads the service's
/// output, where it has one.
pub(super) async fn wait(
    ready: &Readiness,
    url: &Url,
    access: &Access,
    logs: Option<LogCheck<'_>>,
    deadline: Instant,
) -> Result<(), NotReady> {
    let mut first = true;
    loop {
        // The first try gets its full time, however little is left.
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = if first { ONE_TRY } else { ONE_TRY.min(left) };
        first = false;
        let result = tokio::time::timeout(limit, once(ready, url, access, logs))
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
    access: &Access,
    logs: Option<LogCheck<'_>>,
) -> Result<(), NotReady> {
    match ready {
        Readiness::Log(text) => match logs {
            Some(check) => check(text.clone()).await,
            None => Err(NotReady::NoOutput),
        },
        Readiness::Reference => http_check::reference_health(url, access)
            .await
            .map_err(NotReady::Http),
        Readiness::Http { path, status } => {
            http_check::status(&http_check::url_of(url, path), *status, access)
                .await
                .map_err(NotReady::Http)
        }
        Readiness::WebSocket => {
            let token = access
                .credentials
                .token_for(READINESS_SUBJECT, Duration::from_secs(300))
                .map_err(NotReady::Token)?;
            let handshake = |source| NotReady::Handshake {
                url: url.clone(),
                source: Box::new(source),
            };
            let request = access
                .request(url.as_str(), &token, TokenIn::Header)
                .map_err(handshake)?;
            let (mut socket, _) = access.connect(request).await.map_err(handshake)?;
            let _ = socket.close(None).await;
            Ok(())
        }
    }
}
