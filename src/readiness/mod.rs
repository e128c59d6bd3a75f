//! Waiting until a service is ready, by its [`Readiness`] kind: a started
//! container, or staging.

mod http_check;

pub use http_check::HttpCheckError;

use crate::access::{Access, SizeLimits, TokenIn};
use crate::config::Readiness;
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
#[allow(missing_docs)] // fields named for what they hold
pub enum NotReady {
    /// The WebSocket handshake failed.
    #[error("the WebSocket handshake at {url} failed")]
    Handshake {
        url: Url,
        /// Why.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The token for the handshake could not be made.
    #[error("no token for the readiness handshake")]
    Token(#[source] crate::protocol::auth::AuthError),
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
pub(crate) type LogCheck<'a> =
    &'a (dyn Fn(String) -> BoxFuture<'static, Result<(), NotReady>> + Sync);

/// The readiness of a team's service the harness starts itself (its own
/// server, a testcontainers request): `service.ready`, or an authenticated
/// handshake where that setting is left at the reference image's default.
pub(crate) fn of_teams_service(config: &crate::config::RealWebSocketTestConfig) -> Readiness {
    if config.source_of("service.ready") == crate::config::ConfigSource::Default {
        Readiness::WebSocket
    } else {
        config.service.ready.clone()
    }
}

/// Tries `ready` against the service at `url` until it passes or
/// `deadline`; the error is the last answer a try gave. `logs` reads the
/// service's output, where it has one.
pub(crate) async fn wait(
    ready: &Readiness,
    url: &Url,
    access: &Access,
    logs: Option<LogCheck<'_>>,
    deadline: Instant,
) -> Result<(), NotReady> {
    let mut last: Option<NotReady> = None;
    loop {
        // The first try gets its full time, however little is left.
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = if last.is_none() {
            ONE_TRY
        } else {
            ONE_TRY.min(left)
        };
        let error = match tokio::time::timeout(limit, once(ready, url, access, logs)).await {
            Ok(Ok(())) => return Ok(()),
            // No later try can answer otherwise.
            Ok(Err(e @ (NotReady::Token(_) | NotReady::NoOutput))) => return Err(e),
            Ok(Err(e)) => e,
            Err(_) => match last {
                // Cut short by the deadline, the try did not answer: the
                // one before it did.
                Some(previous) if limit < ONE_TRY => return Err(previous),
                _ => NotReady::TryTimedOut { after: limit },
            },
        };
        if Instant::now() + RETRY_EVERY >= deadline {
            return Err(error);
        }
        last = Some(error);
        tokio::time::sleep(RETRY_EVERY).await;
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
            let (mut socket, _) = access
                .connect(request, Some(READINESS_SUBJECT), SizeLimits::default())
                .await
                .map_err(handshake)?;
            let _ = socket.close(None).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A `log:` check that answers "no line" `answers` times, then never
    /// answers at all.
    fn answers_then_hangs(
        answers: usize,
        tries: &AtomicUsize,
    ) -> impl Fn(String) -> BoxFuture<'static, Result<(), NotReady>> + Sync + '_ {
        move |text| {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < answers {
                    Err(NotReady::NoLogLine { text })
                } else {
                    futures_util::future::pending().await
                }
            })
        }
    }

    async fn wait_for(check: LogCheck<'_>, within: Duration) -> Result<(), NotReady> {
        let url: Url = "ws://127.0.0.1:1/".parse().unwrap();
        let ready = Readiness::Log("ready".to_owned());
        wait(
            &ready,
            &url,
            &Access::test(),
            Some(check),
            Instant::now() + within,
        )
        .await
    }

    /// A try the deadline cuts short has no answer: the error is the last
    /// answer given (here, with 50 ms left for the second try).
    #[tokio::test(start_paused = true)]
    async fn a_try_cut_short_by_the_deadline_does_not_hide_the_last_answer() {
        let tries = AtomicUsize::new(0);
        let error = wait_for(&answers_then_hangs(1, &tries), Duration::from_millis(150))
            .await
            .unwrap_err();
        assert_eq!(tries.load(Ordering::SeqCst), 2);
        assert!(matches!(error, NotReady::NoLogLine { .. }), "{error}");
    }

    /// A first try that never answers is the error, with its full time.
    #[tokio::test(start_paused = true)]
    async fn a_first_try_that_hangs_is_timed_out_with_its_full_time() {
        let tries = AtomicUsize::new(0);
        let error = wait_for(&answers_then_hangs(0, &tries), Duration::from_millis(150))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "one try took longer than 2s");
    }
}
