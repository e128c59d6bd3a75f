//! The mock's connections: accepting them, the handshake, and each
//! connection's loop of frames in (logged, checked, answered) and out.

use super::respond::{Peer, Recipients, RecipientsKind, Step};
use super::{ClientFrame, Handshake, Mock, MockConnectionId, Respond};
use crate::config::BackendKind;
use crate::contract::{Contract, ContractStream, Violation};
use futures_util::{SinkExt, StreamExt};
use http::header::{AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// One connection as the mock saw it.
#[derive(Debug, Clone)]
pub struct MockConnection {
    /// Its number.
    pub id: MockConnectionId,
    /// How it was opened.
    pub handshake: Handshake,
    /// Every frame its client sent, in order.
    pub received: Vec<ClientFrame>,
    /// The frames no mock matched, by position in `received`.
    pub unmatched: Vec<usize>,
    /// The frames that broke the contract of what clients send
    /// ([`MockServerBuilder::contract`](super::MockServerBuilder::contract)), in order.
    pub violations: Vec<Violation>,
    /// Whether it is still open.
    pub open: bool,
    /// Its state as the mock's responses left it ([`Peer::state`]).
    pub state: Value,
}

/// What every connection task and the server share.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) subprotocol: Option<String>,
    /// The contract of what clients send, when one was given.
    pub(super) contract: Option<Contract>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
pub(super) struct State {
    pub(super) mocks: Vec<Mounted>,
    /// Every connection, indexed by its number less one.
    pub(super) connections: Vec<MockConnection>,
    /// The way to each open connection's task.
    pub(super) open: HashMap<MockConnectionId, mpsc::UnboundedSender<Outgoing>>,
    /// Each open connection's place in the contract, when there is one.
    streams: HashMap<MockConnectionId, ContractStream>,
    /// The tier a chain chose over this mock: its expectations are then
    /// not verified.
    pub(super) passed_over_for: Option<BackendKind>,
}

pub(super) struct Mounted {
    pub(super) mock: Mock,
    pub(super) matched: u64,
}

pub(super) fn id_index(id: MockConnectionId) -> usize {
    usize::try_from(id.0 - 1).expect("a connection number fits a usize")
}

/// What a connection's task sends.
pub(super) enum Outgoing {
    Frame(Message),
    Close(u16, String),
    Drop,
}

/// Accepts connections until the server is dropped (which aborts this
/// task, and with it every connection's).
pub(super) async fn accept(
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
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: &Arc<Shared>) {
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
        let id = MockConnectionId(state.connections.len() as u64 + 1);
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
            state: Value::Null,
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
                        answer(shared, id, frame);
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
    let subprotocols = crate::protocol::auth::offered_subprotocols(&headers)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let subject = crate::protocol::auth::token_from_headers(&headers)
        .ok()
        .and_then(|(token, _)| crate::protocol::auth::subject_of(token));
    Handshake {
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers,
        subprotocols,
        subject,
    }
}

/// Logs `frame`, finds the mock that answers it and starts its response.
fn answer(shared: &Arc<Shared>, id: MockConnectionId, frame: ClientFrame) {
    let json = frame.json().unwrap_or(Value::Null);
    let kind_field = shared
        .contract
        .as_ref()
        .map_or("type", Contract::kind_field);
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
                .all(|matcher| matcher.matches(&connection.handshake, &frame, &json, kind_field))
        })
        .min_by_key(|(i, m)| (m.mock.priority, *i))
        .map(|(_, m)| m);
    connection.received.push(frame);
    match chosen {
        Some(mounted) => {
            mounted.matched += 1;
            let respond = mounted.mock.respond.clone();
            run(respond, json, id, state, shared);
        }
        None => {
            let position = connection.received.len() - 1;
            connection.unmatched.push(position);
        }
    }
}

/// Queues `respond`'s steps up to its first wait, answering `request`
/// from connection `from`; the rest go on in a task of their own.
fn run(
    respond: Respond,
    request: Value,
    from: MockConnectionId,
    state: &mut State,
    shared: &Arc<Shared>,
) {
    let mut steps = respond.steps.into_iter();
    for step in steps.by_ref() {
        let outgoing = match step {
            Step::Wait(delay) => {
                let rest = Respond {
                    steps: steps.collect(),
                };
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    run(rest, request, from, &mut shared.lock(), &shared);
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
            Step::Publish(to, template) => {
                publish(state, &request, from, &to, template.as_ref());
                continue;
            }
            Step::Update(change) => {
                let connection = &mut state.connections[id_index(from)];
                change(
                    &request,
                    &mut Peer {
                        id: from,
                        handshake: &connection.handshake,
                        state: &mut connection.state,
                    },
                );
                continue;
            }
        };
        let gone = state
            .open
            .get(&from)
            .is_none_or(|sender| sender.send(outgoing).is_err());
        if gone {
            return;
        }
    }
}

/// Sends each open connection `to` picks the frame `template` builds for it.
fn publish(
    state: &mut State,
    request: &Value,
    from: MockConnectionId,
    to: &Recipients,
    template: &(dyn Fn(&Value, &Handshake, &mut Peer<'_>) -> Value + Send + Sync),
) {
    let State {
        connections, open, ..
    } = state;
    let sender_handshake = connections[id_index(from)].handshake.clone();
    for connection in connections.iter_mut().filter(|c| c.open) {
        let Some(sender) = open.get(&connection.id) else {
            continue;
        };
        let mut peer = Peer {
            id: connection.id,
            handshake: &connection.handshake,
            state: &mut connection.state,
        };
        let picked = match &to.0 {
            RecipientsKind::Sender => peer.id == from,
            RecipientsKind::All => true,
            RecipientsKind::Others => peer.id != from,
            RecipientsKind::Matching(_, picks) => picks(request, &peer),
        };
        if picked {
            let frame = template(request, &sender_handshake, &mut peer);
            sender
                .send(Outgoing::Frame(Message::text(frame.to_string())))
                .ok();
        }
    }
}
