//! [`MockServer`]: the listener, its connections, pushes and verification.

use super::respond::Step;
use super::{ClientFrame, Handshake, Mock, Respond, Times};
use crate::harness::backend::BackendInfo;
use crate::{
    Access, BackendError, BackendKind, ClientTls, Contract, ContractError, ContractSettings,
    ContractStream, RealWebSocketTestConfig, TlsError, TlsSettings, Violation,
};
use futures_util::{SinkExt, StreamExt};
use http::header::{AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use url::Url;

/// Why a mock server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// No port on `127.0.0.1`.
    #[error("the mock server cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// Its certificate could not be made or written.
    #[error("the mock server cannot make its TLS certificate: {0}")]
    Certificate(String),
    /// Its clients' TLS setup could not be built from its CA file.
    #[error("the mock server's clients cannot trust its certificate")]
    ClientTls(#[source] Box<TlsError>),
    /// The contract of what clients send could not be loaded.
    #[error("the mock server cannot load the contract of what clients send")]
    Contract(#[source] ContractError),
}

/// A connection's number, in the order connections were opened (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One connection as the mock saw it.
#[derive(Debug, Clone)]
pub struct MockConnection {
    /// Its number.
    pub id: ConnectionId,
    /// How it was opened.
    pub handshake: Handshake,
    /// Every frame its client sent, in order.
    pub received: Vec<ClientFrame>,
    /// The frames no mock matched, by position in `received`.
    pub unmatched: Vec<usize>,
    /// The frames that broke the contract of what clients send
    /// ([`MockServerBuilder::contract`]), in order.
    pub violations: Vec<Violation>,
    /// Whether it is still open.
    pub open: bool,
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
    /// use ws_harness::{ContractSettings, event};
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
            Some(Certificate::make()?)
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
        Ok(MockServer {
            name: self.name.unwrap_or_else(|| "mock".to_owned()),
            url,
            shared,
            certificate,
            accept,
        })
    }
}

/// A WebSocket server scripted by the test: see [the module](super).
pub struct MockServer {
    name: String,
    url: Url,
    shared: Arc<Shared>,
    certificate: Option<Certificate>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// A `ws://` mock named `mock`, started.
    ///
    /// # Errors
    /// [`MockError::Bind`] when it cannot listen.
    pub async fn start() -> Result<Self, MockError> {
        Self::builder().start().await
    }

    /// A builder, for a name, TLS or a subprotocol.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Its URL, e.g. `ws://127.0.0.1:41234/`.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Its name in reports.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PEM file of the CA that signed its certificate (`wss://` only).
    #[must_use]
    pub fn ca_file(&self) -> Option<&Path> {
        self.certificate.as_ref().map(|c| c.ca_file.as_path())
    }

    /// A TLS setup that trusts it (`wss://` only).
    #[must_use]
    pub fn client_tls(&self) -> Option<&ClientTls> {
        self.certificate.as_ref().map(|c| &c.client_tls)
    }

    /// It as the harness's backend, for a [`TestClientFactory`](crate::TestClientFactory):
    /// kind [`BackendKind::Mock`], test credentials, and for `wss://` a TLS
    /// setup that trusts it.
    #[must_use]
    pub fn info(&self) -> BackendInfo {
        BackendInfo {
            access: self.access(),
            ..BackendInfo::single(
                BackendKind::Mock,
                self.url.clone(),
                &format!("the mock server {:?}, chosen by the test", self.name),
            )
        }
    }

    fn access(&self) -> Access {
        Access {
            tls: self.client_tls().cloned(),
            ..Access::test()
        }
    }

    /// The chain for `config` with this mock as its last tier, in place of
    /// the in-process reference server: the team's service in a container,
    /// then its staging, then this mock, so one suite runs against all
    /// three. The report names the mock; clients reach it as with
    /// [`MockServer::info`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ws_harness::{BackendKind, RealWebSocketTestConfig};
    /// use ws_harness::mock::MockServer;
    ///
    /// let server = MockServer::builder().name("orders").start().await?;
    /// // The team's image is not in the engine (nor anywhere to pull it
    /// // from) and no staging is set: the mock it is.
    /// let config = RealWebSocketTestConfig::builder()
    ///     .without_environment()
    ///     .service_image("ws-harness-doc-absent:0")
    ///     .service_port(8080)
    ///     .build()?;
    /// let backend = server.resolve(&config).await?;
    /// assert_eq!(backend.kind, BackendKind::Mock);
    /// assert!(backend.reason.starts_with("the mock server \"orders\" as the last tier"));
    /// assert!(backend.resolution.to_string().contains("3. mock: chosen"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`BackendError`] as for [`BackendInfo::resolve`].
    pub async fn resolve(
        &self,
        config: &RealWebSocketTestConfig,
    ) -> Result<BackendInfo, BackendError> {
        BackendInfo::resolve_with_mock(config, self.name.clone(), self.url.clone(), self.access())
            .await
    }

    /// Mounts `mock` after the ones already there.
    pub fn mount(&self, mock: Mock) {
        self.shared.lock().mocks.push(Mounted { mock, matched: 0 });
    }

    /// Sends `frame` to one connection; `false` when it is closed.
    pub fn push_to(&self, connection: ConnectionId, frame: &Value) -> bool {
        let state = self.shared.lock();
        state.open.get(&connection).is_some_and(|open| {
            open.send(Outgoing::Frame(Message::text(frame.to_string())))
                .is_ok()
        })
    }

    /// Sends `frame` to every open connection whose token's subject is
    /// `subject`; how many.
    pub fn push_to_subject(&self, subject: &str, frame: &Value) -> usize {
        self.push_where(frame, |handshake| {
            handshake.subject.as_deref() == Some(subject)
        })
    }

    /// Sends `frame` to every open connection; how many.
    pub fn push_all(&self, frame: &Value) -> usize {
        self.push_where(frame, |_| true)
    }

    fn push_where(&self, frame: &Value, to: impl Fn(&Handshake) -> bool) -> usize {
        // One copy of the text, shared by every connection's frame.
        let text = Utf8Bytes::from(frame.to_string());
        let state = self.shared.lock();
        state
            .open
            .iter()
            .filter(|(id, open)| {
                to(&state.connections[id_index(**id)].handshake)
                    && open
                        .send(Outgoing::Frame(Message::text(text.clone())))
                        .is_ok()
            })
            .count()
    }

    /// Every connection so far, open or closed, in order.
    #[must_use]
    pub fn connections(&self) -> Vec<MockConnection> {
        self.shared.lock().connections.clone()
    }

    /// Checks every mock answered as many frames as it expects, and, with
    /// a [contract](MockServerBuilder::contract), that no frame broke it.
    /// Returns at once: open connections do not hold it up.
    ///
    /// # Errors
    /// [`VerificationFailed`], listing each mock with its expected and
    /// actual count, the frames no mock matched and the frames that broke
    /// the contract, by connection.
    pub fn verify(&self) -> Result<(), VerificationFailed> {
        let state = self.shared.lock();
        let mocks: Vec<MockReport> = state
            .mocks
            .iter()
            .map(|mounted| MockReport {
                mock: mounted.mock.to_string(),
                expected: mounted.mock.expected,
                matched: mounted.matched,
            })
            .collect();
        let violations: Vec<_> = state
            .connections
            .iter()
            .filter(|c| !c.violations.is_empty())
            .map(|c| (c.id, c.handshake.to_string(), c.violations.clone()))
            .collect();
        if mocks.iter().all(MockReport::satisfied) && violations.is_empty() {
            return Ok(());
        }
        Err(VerificationFailed {
            server: format!("{:?} at {}", self.name, self.url),
            mocks,
            unmatched: state
                .connections
                .iter()
                .filter(|c| !c.unmatched.is_empty())
                .map(|c| {
                    let frames = c.unmatched.iter().map(|&i| c.received[i].clone()).collect();
                    (c.id, c.handshake.to_string(), frames)
                })
                .collect(),
            violations,
        })
    }
}

impl Drop for MockServer {
    /// Stops it and its connections, then verifies it: an unmet
    /// expectation panics, unless the thread is panicking already.
    fn drop(&mut self) {
        self.accept.abort();
        if !std::thread::panicking()
            && let Err(failed) = self.verify()
        {
            panic!("{failed}");
        }
    }
}

/// What [`MockServer::verify`] found.
#[derive(Debug, Clone)]
pub struct VerificationFailed {
    /// The server's name and URL.
    pub server: String,
    /// Each mock, in mount order.
    pub mocks: Vec<MockReport>,
    /// Per connection (with its handshake), the frames no mock matched.
    pub unmatched: Vec<(ConnectionId, String, Vec<ClientFrame>)>,
    /// Per connection (with its handshake), the frames that broke the
    /// contract of what clients send, each with the rule it broke.
    pub violations: Vec<(ConnectionId, String, Vec<Violation>)>,
}

/// One mock's line in a [`VerificationFailed`].
#[derive(Debug, Clone)]
pub struct MockReport {
    /// The mock, as it displays.
    pub mock: String,
    /// How many frames it expected.
    pub expected: Times,
    /// How many it answered.
    pub matched: u64,
}

impl MockReport {
    /// Whether it answered as many as it expected.
    #[must_use]
    pub fn satisfied(&self) -> bool {
        self.expected.contains(self.matched)
    }
}

impl std::error::Error for VerificationFailed {}

impl fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.mocks.iter().filter(|m| !m.satisfied()).count();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut out = format!(
            "mock server {}: {failed} of {} mock{} not satisfied",
            self.server,
            self.mocks.len(),
            plural(self.mocks.len())
        );
        let broken: usize = self.violations.iter().map(|(_, _, v)| v.len()).sum();
        if broken > 0 {
            let _ = write!(
                out,
                "; {broken} frame{} clients sent broke the contract",
                plural(broken)
            );
        }
        for mock in &self.mocks {
            let mark = if mock.satisfied() { "ok    " } else { "FAILED" };
            let _ = write!(
                out,
                "\n  {mark} {}: expected {}, matched {}",
                mock.mock, mock.expected, mock.matched
            );
        }
        if self.unmatched.is_empty() {
            out.push_str("\nevery frame clients sent matched a mock");
        } else {
            out.push_str("\nframes no mock matched:");
        }
        for (id, handshake, frames) in &self.unmatched {
            let _ = write!(out, "\n  connection {id} ({handshake}):");
            for frame in frames {
                let _ = write!(out, "\n    -> {frame}");
            }
        }
        if !self.violations.is_empty() {
            out.push_str("\nframes that broke the contract of what clients send:");
        }
        for (id, handshake, violations) in &self.violations {
            let _ = write!(out, "\n  connection {id} ({handshake}):");
            for violation in violations {
                let _ = write!(out, "\n    -> {violation}");
            }
        }
        f.write_str(&out)
    }
}

/// What every connection task and the server share.
struct Shared {
    state: Mutex<State>,
    subprotocol: Option<String>,
    /// The contract of what clients send, when one was given.
    contract: Option<Contract>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    mocks: Vec<Mounted>,
    /// Every connection, indexed by its number less one.
    connections: Vec<MockConnection>,
    /// The way to each open connection's task.
    open: HashMap<ConnectionId, mpsc::UnboundedSender<Outgoing>>,
    /// Each open connection's place in the contract, when there is one.
    streams: HashMap<ConnectionId, ContractStream>,
}

struct Mounted {
    mock: Mock,
    matched: u64,
}

fn id_index(id: ConnectionId) -> usize {
    usize::try_from(id.0 - 1).expect("a connection number fits a usize")
}

/// What a connection's task sends.
enum Outgoing {
    Frame(Message),
    Close(u16, String),
    Drop,
}

/// Accepts connections until the server is dropped (which aborts this
/// task, and with it every connection's).
async fn accept(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: try again shortly, not at once.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve(stream, &shared).await;
                    }
                }
                None => serve(stream, &shared).await,
            }
        });
        // Reap the finished ones so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
}

/// One connection: the handshake, then frames in and out until either
/// side ends it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: &Shared) {
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let mut registered = None;
    // The signature is tungstenite's: its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let handshake = handshake_of(request);
        let offered = &handshake.subprotocols;
        let chosen = shared
            .subprotocol
            .as_ref()
            .filter(|p| offered.contains(p))
            .or_else(|| offered.first());
        if let Some(chosen) = chosen.and_then(|p| HeaderValue::from_str(p).ok()) {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, chosen);
        }
        // Registered before the client hears back, so a push right after
        // its connect reaches it.
        let mut state = shared.lock();
        let id = ConnectionId(state.connections.len() as u64 + 1);
        if let Some(contract) = &shared.contract {
            state
                .streams
                .insert(id, contract.stream(handshake.subject.clone()));
        }
        state.connections.push(MockConnection {
            id,
            handshake,
            received: Vec::new(),
            unmatched: Vec::new(),
            violations: Vec::new(),
            open: true,
        });
        state.open.insert(id, sender.clone());
        registered = Some(id);
        Ok(response)
    };
    let accepted = tokio_tungstenite::accept_hdr_async(stream, callback).await;
    let Some(id) = registered else {
        return;
    };
    if let Ok(mut ws) = accepted {
        let mut closing = false;
        loop {
            tokio::select! {
                incoming = ws.next() => {
                    let frame = match incoming {
                        Some(Ok(Message::Text(text))) => ClientFrame::Text(text.to_string()),
                        Some(Ok(Message::Binary(bytes))) => ClientFrame::Binary(bytes.to_vec()),
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    };
                    if !closing {
                        answer(shared, id, frame, &sender);
                    }
                }
                next = outgoing.recv() => match next {
                    Some(Outgoing::Frame(message)) if !closing => {
                        if ws.send(message).await.is_err() {
                            break;
                        }
                    }
                    Some(Outgoing::Frame(_)) => {}
                    Some(Outgoing::Close(code, reason)) => {
                        closing = true;
                        let frame = CloseFrame { code: code.into(), reason: reason.into() };
                        if ws.close(Some(frame)).await.is_err() {
                            break;
                        }
                    }
                    Some(Outgoing::Drop) | None => break,
                },
            }
        }
    }
    let mut state = shared.lock();
    state.open.remove(&id);
    state.streams.remove(&id);
    state.connections[id_index(id)].open = false;
}

/// The handshake as matchers read it.
fn handshake_of(request: &Request) -> Handshake {
    let mut headers = request.headers().clone();
    for name in [AUTHORIZATION, COOKIE] {
        if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
    let subprotocols = crate::auth::offered_subprotocols(&headers)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let subject = crate::auth::token_from_headers(&headers)
        .ok()
        .and_then(|(token, _)| crate::auth::subject_of(token));
    Handshake {
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers,
        subprotocols,
        subject,
    }
}

/// Logs `frame`, finds the mock that answers it and starts its response.
fn answer(
    shared: &Shared,
    id: ConnectionId,
    frame: ClientFrame,
    sender: &mpsc::UnboundedSender<Outgoing>,
) {
    let json = frame.json().unwrap_or(Value::Null);
    // The reply is queued under the lock that logs the frame: a push made
    // by a test that saw the frame arrive goes out after the reply.
    let mut state = shared.lock();
    let state = &mut *state;
    let connection = &mut state.connections[id_index(id)];
    if let Some(stream) = state.streams.get_mut(&id)
        && let Some(text) = frame.as_text()
    {
        // Text that is not JSON (or is `null`) is checked as a string: the
        // contract reports it as not JSON.
        let as_string;
        let checked = if json.is_null() {
            as_string = Value::String(text.to_owned());
            &as_string
        } else {
            &json
        };
        connection.violations.extend(stream.check(checked, text));
    }
    let chosen = state
        .mocks
        .iter_mut()
        .enumerate()
        .filter(|(_, m)| {
            m.mock
                .matchers
                .iter()
                .all(|matcher| matcher.matches(&connection.handshake, &frame, &json))
        })
        .min_by_key(|(i, m)| (m.mock.priority, *i))
        .map(|(_, m)| m);
    connection.received.push(frame);
    match chosen {
        Some(mounted) => {
            mounted.matched += 1;
            run(mounted.mock.respond.clone(), json, sender.clone());
        }
        None => {
            let position = connection.received.len() - 1;
            connection.unmatched.push(position);
        }
    }
}

/// Queues `respond`'s steps up to its first wait; the rest go on in a task
/// of their own.
fn run(respond: Respond, request: Value, sender: mpsc::UnboundedSender<Outgoing>) {
    let mut steps = respond.steps.into_iter();
    for step in steps.by_ref() {
        let outgoing = match step {
            Step::Wait(delay) => {
                let rest = Respond {
                    steps: steps.collect(),
                };
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    run(rest, request, sender);
                });
                return;
            }
            Step::Json(frame) => Outgoing::Frame(Message::text(frame.to_string())),
            Step::Template(template) => {
                Outgoing::Frame(Message::text(template(&request).to_string()))
            }
            Step::Text(text) => Outgoing::Frame(Message::text(text)),
            Step::Binary(bytes) => Outgoing::Frame(Message::binary(bytes)),
            Step::Close(code, reason) => Outgoing::Close(code, reason),
            Step::DropConnection => Outgoing::Drop,
        };
        if sender.send(outgoing).is_err() {
            return;
        }
    }
}

/// The mock's own CA and the server certificate it signed, and the CA as
/// a file for clients, removed with the server.
struct Certificate {
    dir: PathBuf,
    ca_file: PathBuf,
    client_tls: ClientTls,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Certificate {
    fn make() -> Result<Self, MockError> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let failed = |e: rcgen::Error| MockError::Certificate(e.to_string());
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ws-harness mock server CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(failed)?)
            .map_err(failed)?;
        let key = KeyPair::generate().map_err(failed)?;
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(failed)?
            .signed_by(&key, &ca)
            .map_err(failed)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ws-harness-mock-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let ca_file = dir.join("ca.pem");
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&ca_file, pem_certificate(ca.der())))
            .map_err(|e| MockError::Certificate(format!("{}: {e}", ca_file.display())))?;
        let client_tls = TlsSettings {
            ca_file: Some(ca_file.clone()),
            ..TlsSettings::default()
        }
        .client()
        .map_err(|e| MockError::ClientTls(Box::new(e)))?;
        Ok(Self {
            dir,
            ca_file,
            client_tls,
            chain: vec![leaf.der().clone()],
            key: key.serialize_der(),
        })
    }

    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, MockError> {
        let provider =
            crate::harness::tls::provider().map_err(|e| MockError::ClientTls(Box::new(e)))?;
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(self.key.clone());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.chain.clone(), key.into())
            })
            .map_err(|e| MockError::Certificate(e.to_string()))?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// A DER certificate as a PEM block (RFC 7468): base64 in lines of 64.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
