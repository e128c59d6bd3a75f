//! One proxied connection: per direction a reader, which finds the frames
//! and applies the frame faults, and a writer, which applies the toxics.
//! A bounded channel between them keeps the memory bounded and lets
//! latency delay each piece without holding the next behind it.

use super::wire::{self, Header, opcode};
use super::{Active, Corruption, Direction, FaultError, FrameFaultKind, Shared, ToxicKind};
use super::{Fault, FaultId};
use crate::access::ProxyRoute;
use crate::chain::BackendInfo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How much one read takes.
const READ_CHUNK: usize = 16 * 1024;
/// Pieces in flight between a direction's reader and writer.
const PIECES_IN_FLIGHT: usize = 8;
/// The largest frame the frame faults look at; larger ones pass as they
/// come, a piece at a time, so a huge frame costs no more memory than a
/// small one.
const LARGEST_INSPECTED_FRAME: u64 = 1024 * 1024;
/// The longest HTTP handshake head looked for; past it the bytes pass as
/// they are.
const LONGEST_HEAD: usize = 64 * 1024;

/// Where the proxy forwards to.
#[derive(Debug, Clone)]
pub(super) enum Upstream {
    /// The server's host and port.
    Server { host: String, port: u16 },
    /// Another proxy already in front of the server.
    Proxy(ProxyRoute),
}

impl Upstream {
    pub(super) fn of(backend: &BackendInfo) -> Result<Self, FaultError> {
        if let Some(route) = &backend.access.proxy {
            return Ok(Self::Proxy(route.clone()));
        }
        let url = &backend.url;
        let host = url.host_str().ok_or_else(|| FaultError::NoHost {
            url: url.to_string(),
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().ok_or_else(|| FaultError::NoHost {
            url: url.to_string(),
        })?;
        Ok(Self::Server { host, port })
    }

    async fn connect(&self, user: Option<&str>) -> std::io::Result<TcpStream> {
        match self {
            Self::Server { host, port } => TcpStream::connect((host.as_str(), *port)).await,
            Self::Proxy(route) => {
                let tcp = TcpStream::connect(route.addr).await?;
                if let Some(user) = user {
                    route.registry.register(tcp.local_addr()?, user);
                }
                Ok(tcp)
            }
        }
    }
}

/// Accepts connections until the proxy is dropped (which aborts this task
/// and, with it, every connection in its set).
pub(super) async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    upstream: Upstream,
    frames_visible: bool,
) {
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    links.spawn(link(client, peer, shared.clone(), upstream.clone(), frames_visible));
                }
                Err(error) => {
                    tracing::debug!(%error, "fault proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = links.join_next() => {}
        }
    }
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// Both sides see a close (a FIN).
    Close,
    /// Both sides see a reset (a RST).
    Reset,
}

/// What one connection's four halves share.
struct Link {
    shared: Arc<Shared>,
    user: Option<String>,
    end: watch::Sender<End>,
}

impl Link {
    fn end(&self, how: End) {
        self.end.send_if_modified(|end| {
            let first = *end == End::Open;
            if first {
                *end = how;
            }
            first
        });
    }

    /// The faults in force on this connection this way.
    fn faults(&self, direction: Direction) -> Vec<Arc<Active>> {
        self.shared
            .faults()
            .iter()
            .filter(|active| active.fault.target().reaches(direction, self.user.as_deref()))
            .cloned()
            .collect()
    }
}

/// Waits until the connection ends, and says how.
async fn ended(end: &mut watch::Receiver<End>) -> End {
    match end.wait_for(|end| *end != End::Open).await {
        Ok(how) => *how,
        Err(_) => End::Close,
    }
}

async fn link(
    client: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    upstream: Upstream,
    frames_visible: bool,
) {
    // The client said who it is before it sent its first byte.
    let mut first = vec![0; READ_CHUNK];
    let mut client = client;
    let n = match client.read(&mut first).await {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    first.truncate(n);
    let user = shared
        .users
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&peer);
    let service = match upstream.connect(user.as_deref()).await {
        Ok(service) => service,
        Err(error) => {
            tracing::debug!(%error, "fault proxy: cannot reach the server");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = service.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (service_read, service_write) = service.into_split();
    let link = Link {
        shared,
        user,
        end: watch::Sender::new(End::Open),
    };
    let link = &link;
    tokio::join!(
        way(link, Direction::Upstream, client_read, service_write, first, frames_visible),
        way(link, Direction::Downstream, service_read, client_write, Vec::new(), frames_visible),
    );
}

/// One direction of a connection, until both its halves are done.
async fn way(
    link: &Link,
    direction: Direction,
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
    first: Vec<u8>,
    frames_visible: bool,
) {
    let (pieces, received) = mpsc::channel(PIECES_IN_FLIGHT);
    let stage = FrameStage::new(direction, frames_visible);
    tokio::join!(
        read(link, stage, from, first, pieces),
        write(link, direction, to, received)
    );
}

/// What a reader hands its writer.
#[derive(Debug)]
enum Piece {
    /// Bytes to pass on, read at this instant.
    Data(Vec<u8>, Instant),
    /// Wait this long before what follows.
    Pause(Duration),
    /// The sender closed its side.
    Eof,
    /// End the connection after what came before.
    EndLink,
}

async fn read(
    link: &Link,
    mut stage: FrameStage,
    mut from: OwnedReadHalf,
    first: Vec<u8>,
    pieces: mpsc::Sender<Piece>,
) {
    let mut end = link.end.subscribe();
    let mut buf = vec![0; READ_CHUNK];
    let mut chunk = first;
    loop {
        if !chunk.is_empty() {
            for piece in stage.push(&chunk, link) {
                tokio::select! {
                    sent = pieces.send(piece) => if sent.is_err() { return },
                    _ = ended(&mut end) => return,
                }
            }
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = ended(&mut end) => return,
        };
        match n {
            Ok(0) => {
                for piece in stage.finish().into_iter().chain([Piece::Eof]) {
                    if pieces.send(piece).await.is_err() {
                        return;
                    }
                }
                return;
            }
            Ok(n) => chunk = buf[..n].to_vec(),
            Err(_) => {
                link.end(End::Reset);
                return;
            }
        }
    }
}

async fn write(
    link: &Link,
    direction: Direction,
    mut to: OwnedWriteHalf,
    mut pieces: mpsc::Receiver<Piece>,
) {
    let mut end = link.end.subscribe();
    let mut changed = link.shared.changed.subscribe();
    let mut toxics = Toxics::default();
    toxics.refresh(link.faults(direction));
    let how = loop {
        let deadline = toxics.deadline();
        tokio::select! {
            biased;
            how = ended(&mut end) => break how,
            _ = changed.changed() => toxics.refresh(link.faults(direction)),
            () = sleep_until(deadline.map(|(at, _)| at)), if deadline.is_some() => {
                link.end(deadline.map_or(End::Close, |(_, how)| how));
            }
            piece = pieces.recv(), if !toxics.blackholed() => match piece {
                None => break End::Close,
                Some(Piece::Data(bytes, at)) => {
                    tokio::select! {
                        passed = toxics.pass(&bytes, at, &mut to) => if !passed { link.end(End::Close) },
                        how = ended(&mut end) => break how,
                    }
                }
                Some(Piece::Pause(pause)) => tokio::time::sleep(pause).await,
                Some(Piece::Eof) => {
                    tokio::time::sleep(toxics.slow_close()).await;
                    let _ = to.shutdown().await;
                    return;
                }
                Some(Piece::EndLink) => link.end(End::Close),
            },
        }
    };
    match how {
        End::Reset => {
            let _ = to.as_ref().set_zero_linger();
        }
        End::Close | End::Open => {
            let _ = to.shutdown().await;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The toxics in force one way of one connection, in the order added.
#[derive(Default)]
struct Toxics {
    in_force: Vec<(FaultId, ToxicKind)>,
    /// Each one's state on this connection since it first applied here.
    state: HashMap<FaultId, ToxicState>,
}

/// A toxic's state on one connection.
struct ToxicState {
    /// When it first applied (`timeout` and `reset_peer` count from here).
    since: Instant,
    /// Bytes passed since (`limit_data` counts these).
    passed: u64,
}

impl Toxics {
    fn refresh(&mut self, faults: Vec<Arc<Active>>) {
        let now = Instant::now();
        self.in_force = faults
            .iter()
            .filter_map(|active| match &active.fault {
                Fault::Toxic(toxic) => Some((active.id, toxic.kind.clone())),
                Fault::Frame(_) => None,
            })
            .collect();
        let mut state = std::mem::take(&mut self.state);
        self.state = self
            .in_force
            .iter()
            .map(|(id, _)| {
                let kept = state.remove(id);
                (*id, kept.unwrap_or(ToxicState { since: now, passed: 0 }))
            })
            .collect();
    }

    fn kinds(&self) -> impl Iterator<Item = &ToxicKind> {
        self.in_force.iter().map(|(_, kind)| kind)
    }

    /// Whether a `timeout` holds the data.
    fn blackholed(&self) -> bool {
        self.kinds().any(|kind| matches!(kind, ToxicKind::Timeout { .. }))
    }

    /// When a timed toxic ends the connection next, and how.
    fn deadline(&self) -> Option<(Instant, End)> {
        self.in_force
            .iter()
            .filter_map(|(id, kind)| {
                let since = self.state.get(id)?.since;
                match kind {
                    ToxicKind::Timeout { timeout } if !timeout.is_zero() => {
                        Some((since + *timeout, End::Close))
                    }
                    ToxicKind::ResetPeer { timeout } => Some((since + *timeout, End::Reset)),
                    _ => None,
                }
            })
            .min_by_key(|(at, _)| *at)
    }

    fn slow_close(&self) -> Duration {
        self.kinds()
            .filter_map(|kind| match kind {
                ToxicKind::SlowClose { delay } => Some(*delay),
                _ => None,
            })
            .sum()
    }

    /// The bytes `limit_data` still lets through, if one is in force.
    fn allowance(&self) -> Option<u64> {
        self.in_force
            .iter()
            .filter_map(|(id, kind)| match kind {
                ToxicKind::LimitData { bytes } => {
                    Some(bytes.saturating_sub(self.state.get(id).map_or(0, |s| s.passed)))
                }
                _ => None,
            })
            .min()
    }

    /// Passes `bytes`, read at `at`, through the toxics to `to`: `false`
    /// when `limit_data` is reached (after passing what it allows) or the
    /// write failed.
    async fn pass(&mut self, bytes: &[u8], at: Instant, to: &mut OwnedWriteHalf) -> bool {
        let mut due = at;
        let mut rate = None;
        let mut slicer = None;
        for kind in self.kinds() {
            match kind {
                ToxicKind::Latency { latency, jitter } => due += jittered(*latency, *jitter),
                ToxicKind::Bandwidth { rate: r } => rate = Some((*r).max(1) * 1000),
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => slicer = Some((*average_size, *size_variation, *delay)),
                _ => {}
            }
        }
        tokio::time::sleep_until(due).await;
        let mut rest = bytes;
        while !rest.is_empty() {
            let size = match (slicer, rate) {
                (Some((average, variation, _)), _) => {
                    fastrand::usize(average - variation..=average + variation)
                }
                // A tenth of a second's worth at a time, as Toxiproxy does.
                (None, Some(rate)) => usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1),
                (None, None) => rest.len(),
            };
            let (mut slice, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            let allowance = self.allowance();
            let over = allowance.is_some_and(|left| slice.len() as u64 >= left);
            if let Some(left) = allowance {
                slice = &slice[..slice.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
            }
            if to.write_all(slice).await.is_err() {
                return false;
            }
            for state in self.state.values_mut() {
                state.passed += slice.len() as u64;
            }
            if over {
                return false;
            }
            let mut pause = Duration::ZERO;
            if let Some(rate) = rate {
                pause = Duration::from_secs_f64(slice.len() as f64 / rate as f64);
            }
            if let Some((_, _, delay)) = slicer
                && !rest.is_empty()
            {
                pause = pause.max(delay);
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        true
    }
}

/// `latency` give or take up to `jitter`.
fn jittered(latency: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return latency;
    }
    let jitter = jitter.as_secs_f64() * (fastrand::f64() * 2.0 - 1.0);
    Duration::from_secs_f64((latency.as_secs_f64() + jitter).max(0.0))
}

/// Where a direction's reader is in the stream.
enum Position {
    /// In the HTTP handshake's head; these bytes of it so far.
    Head(Vec<u8>),
    /// In frames; `streaming` payload bytes of the current frame still to
    /// pass as they come.
    Frames { streaming: u64 },
    /// Passing bytes as they come (TLS, or no WebSocket).
    Raw,
    /// A frame fault closed the connection: nothing more passes.
    Closed,
}

/// Finds the frames in one direction's bytes and applies the frame faults.
struct FrameStage {
    direction: Direction,
    position: Position,
    /// Bytes of a frame not yet whole.
    pending: Vec<u8>,
    /// A frame `reorder` holds until the next one has passed.
    held: Option<Vec<u8>>,
    /// Set when a streamed frame ends: release `held` then.
    release_after_stream: bool,
}

impl FrameStage {
    fn new(direction: Direction, frames_visible: bool) -> Self {
        Self {
            direction,
            position: if frames_visible {
                Position::Head(Vec::new())
            } else {
                Position::Raw
            },
            pending: Vec::new(),
            held: None,
            release_after_stream: false,
        }
    }

    /// The pieces `chunk` makes.
    fn push(&mut self, chunk: &[u8], link: &Link) -> Vec<Piece> {
        let at = Instant::now();
        let mut out = Output::new(at);
        let mut chunk = chunk;
        if let Position::Head(head) = &mut self.position {
            let start = head.len().saturating_sub(3);
            head.extend_from_slice(chunk);
            match find(&head[start..], b"\r\n\r\n") {
                Some(i) => {
                    let end = start + i + 4;
                    let in_head = chunk.len() - (head.len() - end);
                    out.data(&chunk[..in_head]);
                    chunk = &chunk[in_head..];
                    let upgraded = self.direction == Direction::Upstream
                        || head.starts_with(b"HTTP/1.1 101");
                    self.position = if upgraded {
                        Position::Frames { streaming: 0 }
                    } else {
                        Position::Raw
                    };
                }
                None => {
                    if head.len() > LONGEST_HEAD {
                        self.position = Position::Raw;
                    }
                    out.data(chunk);
                    return out.pieces;
                }
            }
        }
        match self.position {
            Position::Raw => out.data(chunk),
            Position::Closed | Position::Head(_) => {}
            Position::Frames { .. } => {
                self.pending.extend_from_slice(chunk);
                self.frames(link, &mut out);
            }
        }
        out.pieces
    }

    /// What is left when the sender closes: a held frame, and any partial
    /// frame as it came.
    fn finish(&mut self) -> Vec<Piece> {
        let mut out = Output::new(Instant::now());
        out.data(&std::mem::take(&mut self.pending));
        if let Some(held) = self.held.take() {
            out.data(&held);
        }
        out.pieces
    }

    fn frames(&mut self, link: &Link, out: &mut Output) {
        let mut at = 0;
        loop {
            let Position::Frames { streaming } = self.position else {
                break;
            };
            if streaming > 0 {
                let n = usize::try_from(streaming)
                    .unwrap_or(usize::MAX)
                    .min(self.pending.len() - at);
                if n == 0 {
                    break;
                }
                out.data(&self.pending[at..at + n]);
                at += n;
                let streaming = streaming - n as u64;
                self.position = Position::Frames { streaming };
                if streaming == 0 && std::mem::take(&mut self.release_after_stream) {
                    self.release_held(out);
                }
                continue;
            }
            let Some(header) = Header::parse(&self.pending[at..]) else {
                break;
            };
            let faults: Vec<_> = link
                .faults(self.direction)
                .into_iter()
                .filter(|active| matches!(active.fault, Fault::Frame(_)))
                .collect();
            if faults.is_empty() || header.payload_len > LARGEST_INSPECTED_FRAME {
                out.data(&self.pending[at..at + header.len]);
                at += header.len;
                self.position = Position::Frames {
                    streaming: header.payload_len,
                };
                if header.payload_len == 0 {
                    self.release_held(out);
                } else {
                    self.release_after_stream = true;
                }
                continue;
            }
            let whole = header.len + usize::try_from(header.payload_len).unwrap_or(usize::MAX);
            if self.pending.len() - at < whole {
                break;
            }
            let mut payload = self.pending[at + header.len..at + whole].to_vec();
            wire::apply_mask(&mut payload, header.mask);
            let frame = &self.pending[at..at + whole];
            let frame = frame.to_vec();
            at += whole;
            self.apply(header, payload, frame, &faults, &link.shared.kind_field, out);
            if matches!(self.position, Position::Closed) {
                at = self.pending.len();
            }
        }
        self.pending.drain(..at);
    }

    fn release_held(&mut self, out: &mut Output) {
        if let Some(held) = self.held.take() {
            out.data(&held);
        }
    }

    /// Applies the first fault that takes this frame, if any.
    fn apply(
        &mut self,
        header: Header,
        mut payload: Vec<u8>,
        frame: Vec<u8>,
        faults: &[Arc<Active>],
        kind_field: &str,
        out: &mut Output,
    ) {
        let op = header.opcode();
        let data = header.fin() && (op == opcode::TEXT || op == opcode::BINARY);
        let json = if data {
            serde_json::from_slice::<serde_json::Value>(&payload).ok()
        } else {
            None
        };
        let taken = faults.iter().find_map(|active| {
            let Fault::Frame(fault) = &active.fault else {
                return None;
            };
            let wanted = match fault.kind {
                FrameFaultKind::NoPongs => op == opcode::PONG,
                _ => {
                    data && fault.matcher.as_ref().is_none_or(|matcher| {
                        json.as_ref()
                            .is_some_and(|json| matcher.matches_with_kind_field(json, kind_field))
                    })
                }
            };
            (wanted && active.take()).then_some(&fault.kind)
        });
        let Some(kind) = taken else {
            out.data(&frame);
            self.release_held(out);
            return;
        };
        tracing::debug!(direction = %self.direction, fault = %kind, "frame fault");
        match kind {
            FrameFaultKind::Drop | FrameFaultKind::NoPongs => {}
            FrameFaultKind::Delay(delay) => {
                out.pause(*delay);
                out.data(&frame);
                self.release_held(out);
            }
            FrameFaultKind::Duplicate => {
                out.data(&frame);
                out.data(&frame);
                self.release_held(out);
            }
            FrameFaultKind::Reorder => {
                self.release_held(out);
                self.held = Some(frame);
            }
            FrameFaultKind::Corrupt(how) => {
                let mut header = header;
                match how {
                    Corruption::BadUtf8 => match payload.first_mut() {
                        Some(first) => *first = 0xFF,
                        None => {
                            payload.push(0xFF);
                            header = Header::new(op, header.mask, 1);
                        }
                    },
                    Corruption::BadOpcode => header.first = (header.first & 0xF0) | opcode::RESERVED,
                    Corruption::WrongLength => {
                        let said = header.payload_len.checked_sub(1).unwrap_or(1);
                        header = Header {
                            first: header.first,
                            ..Header::new(op, header.mask, said)
                        };
                    }
                }
                let mut bytes = header.to_bytes();
                let start = bytes.len();
                bytes.extend_from_slice(&payload);
                wire::apply_mask(&mut bytes[start..], header.mask);
                out.data(&bytes);
                self.release_held(out);
            }
            FrameFaultKind::Close { code, reason } => {
                let masked = self.direction == Direction::Upstream;
                out.data(&wire::close_frame(*code, reason, masked));
                out.end_link();
                self.position = Position::Closed;
                self.held = None;
            }
        }
    }
}

/// The pieces one read makes, with neighbouring bytes in one piece.
struct Output {
    at: Instant,
    pieces: Vec<Piece>,
}

impl Output {
    fn new(at: Instant) -> Self {
        Self {
            at,
            pieces: Vec::new(),
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Piece::Data(last, _)) = self.pieces.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.pieces.push(Piece::Data(bytes.to_vec(), self.at));
        }
    }

    fn pause(&mut self, pause: Duration) {
        self.pieces.push(Piece::Pause(pause));
    }

    fn end_link(&mut self) {
        self.pieces.push(Piece::EndLink);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
