//! Faults between the clients and any tier: a [`FaultProxy`] in the test's
//! process that the clients of a backend dial instead of the server, with
//! network faults ([`Toxic`], Toxiproxy's names and semantics) and
//! WebSocket frame faults ([`FrameFault`]) added and removed while
//! connections are open.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ws_harness::faults::{FaultProxy, Toxic};
//! use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory};
//!
//! let config = RealWebSocketTestConfig::builder()
//!     .without_environment()
//!     .backend([BackendKind::InProcess])
//!     .build()?;
//! let backend = BackendInfo::resolve(&config).await?;
//! let faults = FaultProxy::start(&config, &backend).await?;
//! let factory = TestClientFactory::new(config, faults.backend())?;
//! let mut alice = factory.client("alice").await?;
//!
//! faults.add(Toxic::latency(Duration::from_millis(100)).downstream().for_user("alice"))?;
//! let sent = std::time::Instant::now();
//! alice.ping("p-1").await?;
//! alice.expect(ws_harness::event("pong")).await?;
//! assert!(sent.elapsed() >= Duration::from_millis(100));
//! # Ok(())
//! # }
//! ```
//!
//! Each proxy is its test's: its own port on 127.0.0.1, its own faults,
//! and it stops when the last handle (or backend made from it) is dropped.
//! A fault for a user reaches the connections that user's clients open:
//! a client tells the proxy its local address before its handshake.
//!
//! Frame faults need to see frames: in front of a `ws://` server the proxy
//! reads them (the handshake passes as it came); in front of `wss://` it
//! passes the TLS bytes on, so only toxics apply there.

mod frame_fault;
mod link;
mod text;
mod toxic;
mod wire;

pub use frame_fault::{Corruption, FrameFault, FrameFaultKind};
pub use text::FaultTextError;
pub use toxic::{Toxic, ToxicKind};

use crate::access::{ClientTls, ProxyRegistry, ProxyRoute};
use crate::chain::BackendInfo;
use crate::config::{ConfigSource, RealWebSocketTestConfig};
use crate::contract::Direction;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which connections, which way (upstream is
/// [`Direction::ToService`], downstream [`Direction::FromService`]): a
/// fault's reach.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Target {
    direction: Direction,
    /// Empty: every connection.
    users: Vec<String>,
}

impl Target {
    fn upstream(self) -> Self {
        Self {
            direction: Direction::ToService,
            ..self
        }
    }

    fn downstream(self) -> Self {
        Self {
            direction: Direction::FromService,
            ..self
        }
    }

    fn for_user(mut self, user: String) -> Self {
        self.users.push(user);
        self
    }

    fn reaches(&self, direction: Direction, user: Option<&str>) -> bool {
        self.direction == direction
            && (self.users.is_empty() || user.is_some_and(|u| self.users.iter().any(|t| t == u)))
    }
}

impl fmt::Display for Target {
    /// `downstream`, `upstream for alice,bob`: Toxiproxy's words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.direction {
            Direction::ToService => "upstream",
            Direction::FromService => "downstream",
        })?;
        if !self.users.is_empty() {
            write!(f, " for {}", self.users.join(","))?;
        }
        Ok(())
    }
}

/// A network or frame fault, as [`FaultProxy::add`] takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// On the bytes.
    Toxic(Toxic),
    /// On the WebSocket frames.
    Frame(FrameFault),
}

impl From<Toxic> for Fault {
    fn from(toxic: Toxic) -> Self {
        Self::Toxic(toxic)
    }
}

impl From<FrameFault> for Fault {
    fn from(fault: FrameFault) -> Self {
        Self::Frame(fault)
    }
}

impl Fault {
    fn target(&self) -> &Target {
        match self {
            Self::Toxic(toxic) => &toxic.target,
            Self::Frame(fault) => &fault.target,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Toxic(toxic) => toxic.fmt(f),
            Self::Frame(fault) => fault.fmt(f),
        }
    }
}

/// A fault added to a proxy, to remove it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(u64);

/// Why a proxy could not start or take a fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// No port on 127.0.0.1 could be bound.
    #[error("the fault proxy cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// The backend's URL names no host to forward to.
    #[error("the fault proxy cannot forward to {url}: it names no host")]
    NoHost {
        /// The backend's URL.
        url: String,
    },
    /// A `faults.*` entry that is not a fault.
    #[error("bad entry {entry} of `{key}` in {set_in}: {problem}")]
    Setting {
        /// `faults.toxics` or `faults.frames`.
        key: &'static str,
        /// Where it was set.
        set_in: ConfigSource,
        /// Which entry, from 1.
        entry: usize,
        /// What is wrong with it.
        problem: FaultTextError,
    },
    /// No certificate could be made for the clients of a proxy that ends
    /// TLS.
    #[cfg(feature = "mock")]
    #[error("the fault proxy cannot make a certificate to end TLS with")]
    Certificate(#[source] Box<crate::mock::MockError>),
    /// A frame fault in front of a `wss://` server, whose frames the proxy
    /// cannot read.
    #[error(
        "`{fault}` needs to see WebSocket frames, but {url} is wss:// and this proxy passes TLS on as it is, so only toxics apply: start the proxy with FaultProxy::start_ending_tls (the `mock` feature) to read frames there"
    )]
    FramesNotVisible {
        /// The fault, as it reads.
        fault: String,
        /// The backend's URL.
        url: String,
    },
}

/// The certificate a proxy that ends TLS shows its clients (made with the
/// mock's machinery, so only with the `mock` feature).
#[cfg(feature = "mock")]
type EndsTlsCertificate = crate::mock::Certificate;
#[cfg(not(feature = "mock"))]
type EndsTlsCertificate = std::convert::Infallible;

/// A fault added to the proxy, with what is left of its `times`.
#[derive(Debug)]
struct Active {
    id: FaultId,
    fault: Fault,
    remaining: Option<AtomicU64>,
}

impl Active {
    /// Takes one use: `false` when its `times` are spent.
    fn take(&self) -> bool {
        self.remaining.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }
}

/// What the proxy's connections share: the faults, and who is who.
#[derive(Debug)]
struct Shared {
    faults: Mutex<Arc<Vec<Arc<Active>>>>,
    /// Bumped on every change, so the connections look again.
    changed: watch::Sender<()>,
    next_id: AtomicU64,
    /// Each client's local address, and its user, until its connection
    /// arrives.
    users: Mutex<HashMap<SocketAddr, String>>,
    /// Where a frame's kind is.
    kind_field: String,
}

impl Shared {
    fn faults(&self) -> Arc<Vec<Arc<Active>>> {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn edit(&self, edit: impl FnOnce(&mut Vec<Arc<Active>>)) {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list = faults.as_ref().clone();
        edit(&mut list);
        *faults = Arc::new(list);
        self.changed.send_replace(());
    }
}

/// The proxy's parts that live while any handle or backend of it does.
#[derive(Debug)]
struct Inner {
    addr: SocketAddr,
    backend: BackendInfo,
    /// Whether the proxy reads frames (`ws://`, or `wss://` when it ends
    /// TLS) or passes bytes on.
    frames_visible: bool,
    /// When it ends TLS: the TLS setup of its clients, which trusts its
    /// certificate.
    client_tls: Option<ClientTls>,
    /// Its certificate, kept while it runs (its CA file goes with it).
    _certificate: Option<EndsTlsCertificate>,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Its connections are in the accept task's set, and end with it.
        self.accept.abort();
    }
}

impl ProxyRegistry for Inner {
    fn register(&self, client: SocketAddr, user: &str) {
        self.shared
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(client, user.to_owned());
    }
}

impl fmt::Display for Inner {
    /// `no faults`, or the faults, `; ` apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults = self.shared.faults();
        if faults.is_empty() {
            return f.write_str("no faults");
        }
        for (i, active) in faults.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}", active.fault)?;
        }
        Ok(())
    }
}

/// A fault proxy in front of one backend, owned by the test that starts
/// it. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 and a free port in front of `backend`,
    /// with no faults. In front of `wss://` it passes the TLS bytes on, so
    /// only toxics apply ([`start_ending_tls`](Self::start_ending_tls)
    /// reads frames there too). Frame matchers read a frame's kind from
    /// `config`'s `contract.kind_field`. Must run within a Tokio runtime,
    /// which runs the proxy.
    ///
    /// # Errors
    /// [`FaultError::Bind`] or [`FaultError::NoHost`].
    pub async fn start(
        config: &RealWebSocketTestConfig,
        backend: &BackendInfo,
    ) -> Result<Self, FaultError> {
        Self::open(config, backend, None).await
    }

    /// [`start`](Self::start), but in front of `wss://` the proxy ends TLS,
    /// so frame faults apply there too: its clients get a certificate for
    /// the server's host name, made now by a CA of its own that only they
    /// trust, and it connects on with the backend's TLS setup (a client
    /// certificate included).
    ///
    /// # Errors
    /// [`FaultError::Bind`], [`FaultError::NoHost`] or
    /// [`FaultError::Certificate`].
    #[cfg(feature = "mock")]
    pub async fn start_ending_tls(
        config: &RealWebSocketTestConfig,
        backend: &BackendInfo,
    ) -> Result<Self, FaultError> {
        let tls = match (backend.url.scheme(), &backend.access.tls) {
            ("wss", Some(tls)) => Some(tls),
            _ => None,
        };
        let Some(tls) = tls else {
            return Self::open(config, backend, None).await;
        };
        let host = link::host_of(&backend.url)?;
        let certificate = crate::mock::Certificate::make(&[host])
            .map_err(|e| FaultError::Certificate(Box::new(e)))?;
        let ends = link::EndsTls {
            acceptor: certificate
                .acceptor()
                .map_err(|e| FaultError::Certificate(Box::new(e)))?,
            connector: tokio_rustls::TlsConnector::from(tls.config()),
            server_name: rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(
                |_| FaultError::NoHost {
                    url: backend.url.to_string(),
                },
            )?,
        };
        let client_tls = certificate.client_tls.clone();
        Self::open(config, backend, Some((ends, client_tls, certificate))).await
    }

    async fn open(
        config: &RealWebSocketTestConfig,
        backend: &BackendInfo,
        ends_tls: Option<(link::EndsTls, ClientTls, EndsTlsCertificate)>,
    ) -> Result<Self, FaultError> {
        let upstream = link::Upstream::of(backend)?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(FaultError::Bind)?;
        let addr = listener.local_addr().map_err(FaultError::Bind)?;
        let shared = Arc::new(Shared {
            faults: Mutex::default(),
            changed: watch::Sender::new(()),
            next_id: AtomicU64::new(1),
            users: Mutex::default(),
            kind_field: config.contract.kind_field.clone(),
        });
        let (tls, client_tls, certificate) = match ends_tls {
            Some((tls, client_tls, certificate)) => {
                (Some(tls), Some(client_tls), Some(certificate))
            }
            None => (None, None, None),
        };
        let frames_visible = backend.url.scheme() == "ws" || tls.is_some();
        let accept = tokio::spawn(link::accept(
            listener,
            shared.clone(),
            upstream,
            tls,
            frames_visible,
        ));
        tracing::info!(%addr, backend = %backend.url, "fault proxy started");
        Ok(Self {
            inner: Arc::new(Inner {
                addr,
                backend: backend.clone(),
                frames_visible,
                client_tls,
                _certificate: certificate,
                shared,
                accept,
            }),
        })
    }

    /// The proxy `config`'s `faults.*` settings ask for in front of
    /// `backend`, with their faults, or `None` when they ask for none (as
    /// `ws-harness check` and `load` use it). With frame faults it ends
    /// TLS in front of `wss://` ([`start_ending_tls`](Self::start_ending_tls)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use ws_harness::faults::FaultProxy;
    /// use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig};
    ///
    /// let config = RealWebSocketTestConfig::builder()
    ///     .without_environment()
    ///     .backend([BackendKind::InProcess])
    ///     .faults_toxics(["latency 50ms", "latensy 1s"])
    ///     .build()
    ///     .unwrap();
    /// let backend = BackendInfo::resolve(&config).await.unwrap();
    /// let err = FaultProxy::configured(&config, &backend).await.unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "bad entry 2 of `faults.toxics` in code: `latensy 1s`: no toxic is called \
    ///      `latensy`: the toxics are latency, bandwidth, slow_close, timeout, reset_peer, \
    ///      slicer, limit_data; e.g. `latency 200ms jitter=20ms downstream for alice`"
    /// );
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`FaultError::Setting`] for an entry that is not a fault, or why
    /// the proxy could not start or take a fault.
    pub async fn configured(
        config: &RealWebSocketTestConfig,
        backend: &BackendInfo,
    ) -> Result<Option<Self>, FaultError> {
        let settings = &config.faults;
        if !settings.wanted() {
            return Ok(None);
        }
        let read = |key: &'static str,
                    entries: &[String],
                    parse: fn(&str) -> Result<Fault, FaultTextError>| {
            entries
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    parse(text).map_err(|problem| FaultError::Setting {
                        key,
                        set_in: config.source_of(key),
                        entry: i + 1,
                        problem,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut faults = read("faults.toxics", &settings.toxics, |t| {
            t.parse::<Toxic>().map(Fault::from)
        })?;
        faults.extend(read("faults.frames", &settings.frames, |t| {
            t.parse::<FrameFault>().map(Fault::from)
        })?);
        // Frame faults in front of wss:// need the proxy to end TLS.
        #[cfg(feature = "mock")]
        let proxy = if settings.frames.is_empty() {
            Self::start(config, backend).await?
        } else {
            Self::start_ending_tls(config, backend).await?
        };
        #[cfg(not(feature = "mock"))]
        let proxy = Self::start(config, backend).await?;
        for fault in faults {
            proxy.add(fault)?;
        }
        Ok(Some(proxy))
    }

    /// The backend as its clients reach it through the proxy: the same
    /// URL, access and report, with the proxy in
    /// [`Access::proxy`](crate::Access::proxy).
    #[must_use]
    pub fn backend(&self) -> BackendInfo {
        let mut backend = self.inner.backend.clone();
        if let Some(tls) = &self.inner.client_tls {
            backend.access.tls = Some(tls.clone());
        }
        backend.access.proxy = Some(ProxyRoute {
            addr: self.inner.addr,
            registry: self.inner.clone(),
        });
        backend
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Adds a fault; it applies at once, to open connections too.
    ///
    /// # Errors
    /// [`FaultError::FramesNotVisible`] for a frame fault in front of a
    /// `wss://` server.
    pub fn add(&self, fault: impl Into<Fault>) -> Result<FaultId, FaultError> {
        let fault = fault.into();
        if matches!(fault, Fault::Frame(_)) && !self.inner.frames_visible {
            return Err(FaultError::FramesNotVisible {
                fault: fault.to_string(),
                url: self.inner.backend.url.to_string(),
            });
        }
        let shared = &self.inner.shared;
        let id = FaultId(shared.next_id.fetch_add(1, Ordering::Relaxed));
        let remaining = match &fault {
            Fault::Frame(frame) => frame.times.map(AtomicU64::new),
            Fault::Toxic(_) => None,
        };
        tracing::info!(%fault, "fault added");
        shared.edit(|faults| {
            faults.push(Arc::new(Active {
                id,
                fault,
                remaining,
            }));
        });
        Ok(id)
    }

    /// Removes a fault; `false` if it was not there.
    pub fn remove(&self, id: FaultId) -> bool {
        let mut found = false;
        self.inner.shared.edit(|faults| {
            let before = faults.len();
            faults.retain(|active| active.id != id);
            found = faults.len() < before;
        });
        found
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.inner.shared.edit(Vec::clear);
    }

    /// The faults in force, in the order added.
    #[must_use]
    pub fn faults(&self) -> Vec<Fault> {
        self.inner
            .shared
            .faults()
            .iter()
            .map(|active| active.fault.clone())
            .collect()
    }
}
