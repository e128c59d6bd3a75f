//! The team's own server as the chain's in-process tier: a function the
//! test gives, served on a runtime of the harness's so it outlives each
//! test's runtime, started once per process and name.

use super::Found;
use crate::access::ConfiguredAccess;
use crate::config::{Readiness, RealWebSocketTestConfig};
use crate::readiness::{self, NotReady};
use futures_util::future::BoxFuture;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, oneshot};
use url::Url;

/// What a server function's future ends with when it fails.
type ServeError = Box<dyn std::error::Error + Send + Sync>;

/// How a test starts its server: on a listener, until shut down.
type Serve =
    dyn Fn(TcpListener, Shutdown) -> BoxFuture<'static, Result<(), ServeError>> + Send + Sync;

/// The team's own server, for the chain's in-process tier
/// ([`Chain::own_server`](super::Chain::own_server)): a function that
/// serves on a bound listener until its [`Shutdown`] completes, as
/// mini-redis's `server::run` or `axum::serve(..).with_graceful_shutdown(..)`
/// do.
///
/// The chain starts it when it reaches the in-process tier, at most once
/// per process and name, on a runtime of the harness's (so it outlives each
/// `#[tokio::test]`), on `127.0.0.1` and a free port; clients reach it at
/// `service.ws_path`. It is ready when `service.ready` passes (an
/// authenticated handshake unless set) within `service.startup_timeout`,
/// with the configured credentials, headers and contract.
///
/// ```
/// use tokio::net::TcpListener;
/// use ws_harness::chain::{Chain, OwnServer, Shutdown};
/// use ws_harness::{BackendKind, RealWebSocketTestConfig};
///
/// /// The team's server: accepts WebSocket connections and echoes them.
/// async fn serve(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
///     tokio::select! {
///         _ = shutdown => Ok(()),
///         accepted = async {
///             loop {
///                 let (stream, _) = listener.accept().await?;
///                 tokio::spawn(async move {
///                     use futures_util::StreamExt;
///                     if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
///                         let (write, read) = ws.split();
///                         read.forward(write).await.ok();
///                     }
///                 });
///             }
///         } => accepted,
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .backend([BackendKind::InProcess])
///     .contract_source(ws_harness::config::ContractSource::None)
///     .build()?;
/// let backend = Chain::new(&config).own_server(OwnServer::new("echo", serve)).resolve().await?;
/// assert_eq!(backend.tier, Some(BackendKind::InProcess));
/// assert!(backend.reason.starts_with("the team's own server \"echo\""));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct OwnServer {
    name: String,
    serve: Arc<Serve>,
}

impl fmt::Debug for OwnServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnServer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OwnServer {
    /// The server `serve` starts, named `name` in the report (and, once
    /// started, shared by every chain of the process that names it).
    pub fn new<F, Fut, E>(name: impl Into<String>, serve: F) -> Self
    where
        F: Fn(TcpListener, Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<ServeError>,
    {
        Self {
            name: name.into(),
            serve: Arc::new(move |listener, shutdown| {
                let serving = serve(listener, shutdown);
                Box::pin(async move { serving.await.map_err(Into::into) })
            }),
        }
    }

    /// Its name in the report.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Completes when the harness stops a team's server: when it did not
/// become ready in time. A server started by the chain otherwise serves
/// until the process ends.
#[derive(Debug)]
pub struct Shutdown(oneshot::Receiver<()>);

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// Why the team's own server could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum OwnServerError {
    /// No loopback port could be bound for it.
    #[error("no port on 127.0.0.1 for the team's own server {name:?}")]
    Bind {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// Its function returned before the server was ready.
    #[error("the team's own server {name:?} stopped before it was ready")]
    Stopped {
        name: String,
        /// What it returned with; `None` when it returned `Ok(())`.
        #[source]
        source: Option<ServeError>,
    },
    /// Its function panicked before the server was ready.
    #[error("the team's own server {name:?} panicked before it was ready: {message}")]
    Panicked { name: String, message: String },
    /// It did not pass its readiness check in time (and was shut down).
    #[error("the team's own server {name:?} did not become ready ({ready}) within {within:?}")]
    NotReady {
        name: String,
        ready: Readiness,
        within: Duration,
        /// The last try's answer.
        #[source]
        source: NotReady,
    },
    /// The configured access (token, TLS setup) could not be had.
    #[error("no access to the team's own server {name:?}")]
    Access {
        name: String,
        #[source]
        source: crate::access::AccessError,
    },
}

/// A started server: where it listens, and its stop signal (kept, so its
/// [`Shutdown`] stays pending while it serves).
struct Started {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// The runtime the team's servers run on: it lives as long as the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: Lazy<tokio::runtime::Runtime> = Lazy::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ws-harness-own-server")
            .enable_all()
            .build()
            .expect("a runtime for the team's own server")
    });
    &RUNTIME
}

/// The servers started in this process, by name.
static STARTED: Lazy<Mutex<HashMap<String, Arc<OnceCell<Started>>>>> = Lazy::new(Mutex::default);

/// The in-process tier with the team's own server: started (or the one
/// already started under its name) and ready.
pub(super) async fn own_server(
    server: &OwnServer,
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Found, OwnServerError> {
    let cell = {
        let mut started = STARTED.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(started.entry(server.name.clone()).or_default())
    };
    let started = cell
        .get_or_try_init(|| start(server, config, configured))
        .await?;
    let url = url_of(started.addr, config);
    let access = configured
        .access(&url)
        .await
        .map_err(|source| OwnServerError::Access {
            name: server.name.clone(),
            source,
        })?;
    Ok(Found {
        url,
        container: None,
        access,
    })
}

fn url_of(addr: SocketAddr, config: &RealWebSocketTestConfig) -> Url {
    Url::parse(&format!("ws://{addr}{}", config.service.ws_path))
        .expect("a loopback address and a path the config checked")
}

async fn start(
    server: &OwnServer,
    config: &RealWebSocketTestConfig,
    configured: &ConfiguredAccess<'_>,
) -> Result<Started, OwnServerError> {
    let name = server.name.clone();
    let begun = Instant::now();
    let (listener, addr) = bind().map_err(|source| OwnServerError::Bind {
        name: name.clone(),
        source,
    })?;
    let (stop, stopped) = oneshot::channel();
    let mut serving = runtime().spawn((server.serve)(listener, Shutdown(stopped)));
    let url = url_of(addr, config);
    let access = configured
        .access(&url)
        .await
        .map_err(|source| OwnServerError::Access {
            name: name.clone(),
            source,
        })?;
    let ready = readiness::of_teams_service(config);
    let within = config.service.startup_timeout;
    let deadline = tokio::time::Instant::now() + within;
    let waited = tokio::select! {
        waited = readiness::wait(&ready, &url, &access, None, deadline) => waited,
        ended = &mut serving => {
            return Err(match ended {
                Ok(result) => OwnServerError::Stopped { name, source: result.err() },
                Err(join) => OwnServerError::Panicked { name, message: panic_message(join) },
            });
        }
    };
    if let Err(source) = waited {
        stop.send(()).ok();
        return Err(OwnServerError::NotReady {
            name,
            ready,
            within,
            source,
        });
    }
    tracing::info!(server = %name, %url, ready_in = ?begun.elapsed(), "the team's own server is ready");
    Ok(Started { addr, _stop: stop })
}

/// A listener on a free loopback port, on the servers' runtime, and its
/// address.
fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let _entered = runtime().enter();
    let listener = TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn panic_message(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with no message".to_owned()),
        Err(join) => join.to_string(),
    }
}
