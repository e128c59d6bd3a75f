//! The in-process tier: the reference server on a runtime of its own.

use super::BackendInfo;
use crate::config::BackendKind;
use crate::server::{Server, ServerConfig, ServerError};
use once_cell::sync::OnceCell;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// Why the in-process server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InProcessError {
    /// No runtime could be made for it.
    #[error("no runtime for the in-process server")]
    Runtime(#[source] std::io::Error),
    /// It cannot listen on its address.
    #[error("the in-process server cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server refused its configuration.
    #[error("the in-process server refused its configuration")]
    Server(#[source] ServerError),
}

/// The reference server in this process, in test mode on `127.0.0.1`, on a
/// runtime of its own: it outlives each `#[tokio::test]` runtime, so one
/// server serves every test of a test binary.
///
/// It also injects faults, for testing tests: dropped connections, slow
/// events, malformed frames, a restart.
///
/// ```
/// use ws_harness::chain::InProcessBackend;
/// let backend = InProcessBackend::shared().unwrap();
/// assert!(backend.url().as_str().starts_with("ws://127.0.0.1:"));
/// ```
pub struct InProcessBackend {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    started_in: Duration,
    config: ServerConfig,
    running: Mutex<Running>,
}

struct Running {
    server: Server,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), ServerError>>>,
}

impl fmt::Debug for InProcessBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessBackend")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceCell<InProcessBackend> = OnceCell::new();

impl InProcessBackend {
    /// The server shared by every test of this process, started on first use.
    ///
    /// # Errors
    /// [`InProcessError`] when it cannot start.
    pub fn shared() -> Result<&'static Self, InProcessError> {
        SHARED.get_or_try_init(Self::start)
    }

    /// A new server of its own (most tests share [`shared`](Self::shared)).
    ///
    /// # Errors
    /// [`InProcessError`] when it cannot start.
    pub fn start() -> Result<Self, InProcessError> {
        Self::start_with(ServerConfig::test_mode())
    }

    /// A new server of its own with this configuration (for example with
    /// the rate limits lifted, for a benchmark).
    ///
    /// ```
    /// use ws_harness::chain::InProcessBackend;
    /// use ws_harness::server::{RateLimitConfig, ServerConfig};
    ///
    /// let config = ServerConfig { rate_limits: RateLimitConfig::LIFTED, ..ServerConfig::test_mode() };
    /// let backend = InProcessBackend::start_with(config).unwrap();
    /// assert!(backend.url().as_str().starts_with("ws://127.0.0.1:"));
    /// ```
    ///
    /// # Errors
    /// [`InProcessError`] when it cannot start: no runtime, no
    /// loopback port, or a configuration the server refuses.
    pub fn start_with(config: ServerConfig) -> Result<Self, InProcessError> {
        let started = Instant::now();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ws-harness-server")
            .enable_all()
            .build()
            .map_err(InProcessError::Runtime)?;
        let running = Self::serve(
            &runtime,
            config.clone(),
            "127.0.0.1:0".parse().expect("an address"),
        )?;
        Ok(Self {
            runtime: Some(runtime),
            addr: running.addr,
            started_in: started.elapsed(),
            config,
            running: Mutex::new(running),
        })
    }

    fn serve(
        runtime: &tokio::runtime::Runtime,
        config: ServerConfig,
        addr: SocketAddr,
    ) -> Result<Running, InProcessError> {
        let listener = {
            let _entered = runtime.enter();
            crate::server::bind(addr).map_err(|source| InProcessError::Bind { addr, source })?
        };
        let addr = listener
            .local_addr()
            .map_err(|source| InProcessError::Bind { addr, source })?;
        let server = Server::new(config).map_err(InProcessError::Server)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = {
            let server = server.clone();
            runtime.spawn(async move {
                server
                    .serve(listener, async {
                        stopped.await.ok();
                    })
                    .await
            })
        };
        Ok(Running {
            server,
            addr,
            stop: Some(stop),
            serving: Some(serving),
        })
    }

    /// Its WebSocket URL, `ws://127.0.0.1:PORT/ws`.
    #[must_use]
    pub fn url(&self) -> Url {
        Url::parse(&format!("ws://{}/ws", self.addr)).expect("a valid URL")
    }

    /// Its address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How long it took to start.
    #[must_use]
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The server now running (a new one after [`restart`](Self::restart)).
    #[must_use]
    pub fn server(&self) -> Server {
        self.lock().server.clone()
    }

    /// Describes it, as the only backend considered.
    #[must_use]
    pub fn info(&self) -> BackendInfo {
        BackendInfo::single(
            BackendKind::InProcess,
            self.url(),
            "the built-in reference server, chosen by the test",
        )
    }

    /// Fault: drops every connection of `user_id` without a close frame.
    /// Returns how many.
    pub fn drop_user_connections(&self, user_id: &str) -> usize {
        self.server().manager().drop_user_connections(user_id)
    }

    /// Fault: delays every event by `latency` from now on (zero turns it off).
    pub fn set_event_latency(&self, latency: Duration) {
        self.server().set_event_latency(latency);
    }

    /// Fault: the next run to start panics right after its `agent_started`;
    /// the connection that sent its `user_message` gets an `internal`
    /// error (with the `message_id`), and the server goes on serving.
    pub fn panic_next_run(&self) {
        self.server().panic_next_run();
    }

    /// Fault: sends a frame that is not JSON to every connection of `user_id`.
    /// Returns how many connections it went to.
    pub fn send_malformed_frame(&self, user_id: &str) -> usize {
        self.send_raw(user_id, "{\"type\":\"agent_started\",")
    }

    /// Fault: sends `text` as it is to every connection of `user_id` (e.g. a
    /// forged event). Returns how many connections it went to.
    pub fn send_raw(&self, user_id: &str, text: &str) -> usize {
        self.server().manager().send_raw_text(user_id, text)
    }

    /// Fault: stops the server (its connections close with `1001`) and starts
    /// a fresh one on the same port: event ids and replay buffers start over,
    /// as after a real restart.
    ///
    /// # Errors
    /// [`InProcessError`] when the new server cannot bind the port.
    pub async fn restart(&self) -> Result<(), InProcessError> {
        // A restart is about the new server; how the old one ended is not.
        let _ = self.stop().await;
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        let running = Self::serve(runtime, self.config.clone(), self.addr)?;
        *self.lock() = running;
        Ok(())
    }

    /// Stops the server (its connections close with `1001`) and waits until
    /// it has stopped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let backend = ws_harness::chain::InProcessBackend::start().unwrap();
    /// backend.shutdown().await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    /// The [`ServerError`] its serving ended with.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.stop().await
    }

    /// Stops the running server and waits for its `serve` to return.
    async fn stop(&self) -> Result<(), ServerError> {
        let (stop, serving) = {
            let mut running = self.lock();
            (running.stop.take(), running.serving.take())
        };
        if let Some(stop) = stop {
            stop.send(()).ok();
        }
        match serving {
            Some(serving) => match serving.await {
                Ok(served) => served,
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            },
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for InProcessBackend {
    /// Stops the server without waiting, so a backend of its own may be
    /// dropped inside an async test.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
