//! One proxied connection: a task per direction reads, finds the frames
//! ([`frames`]), applies the frame faults and passes the bytes on through
//! the toxics ([`toxics`]). With nothing in force, what it reads it writes
//! at once, unchanged; otherwise the pieces wait in a bounded queue, so
//! latency delays each without holding the next behind it and the memory
//! stays bounded.

mod frames;
mod toxics;

use super::{Active, Fault, FaultError, Shared};
use crate::access::ProxyRoute;
use crate::chain::BackendInfo;
use crate::contract::Direction;
use frames::FrameStage;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use toxics::Toxics;

/// How much one read takes.
const READ_CHUNK: usize = 16 * 1024;
/// Pieces waiting to be passed on, at most, before reading stops.
const QUEUED_PIECES: usize = 8;

/// Where the proxy forwards to.
#[derive(Clone)]
pub(super) enum Upstream {
    /// The server's host and port.
    Server { host: String, port: u16 },
    /// Another proxy already in front of the server.
    Proxy(ProxyRoute),
}

/// How the proxy ends TLS, when it does: towards the client with its own
/// certificate, towards the server with the backend's TLS setup.
#[derive(Clone)]
pub(super) struct EndsTls {
    pub(super) acceptor: tokio_rustls::TlsAcceptor,
    pub(super) connector: tokio_rustls::TlsConnector,
    pub(super) server_name: rustls::pki_types::ServerName<'static>,
}

impl Upstream {
    /// The backend's address (or the proxy already in front of it).
    pub(super) fn of(backend: &BackendInfo) -> Result<Self, FaultError> {
        if let Some(route) = &backend.access.proxy {
            return Ok(Self::Proxy(route.clone()));
        }
        let url = &backend.url;
        let host = host_of(url)?.to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FaultError::NoHost {
                url: url.to_string(),
            })?;
        Ok(Self::Server { host, port })
    }

    async fn connect(&self, user: Option<&str>) -> std::io::Result<TcpStream> {
        match self {
            Self::Server { host, port } => TcpStream::connect((host.as_str(), *port)).await,
            Self::Proxy(route) => route.dial(user).await,
        }
    }
}

/// The host of `url`, an IPv6 address without its brackets (as a socket
/// address and a TLS server name take it).
pub(super) fn host_of(url: &url::Url) -> Result<&str, FaultError> {
    let host = url.host_str().ok_or_else(|| FaultError::NoHost {
        url: url.to_string(),
    })?;
    Ok(host.trim_start_matches('[').trim_end_matches(']'))
}

/// Accepts connections until the proxy is dropped (which aborts this task
/// and, with it, every connection in its set).
pub(super) async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    upstream: Upstream,
    tls: Option<EndsTls>,
    frames_visible: bool,
) {
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    let ends = Ends {
                        shared: shared.clone(),
                        upstream: upstream.clone(),
                        tls: tls.clone(),
                        frames_visible,
                    };
                    links.spawn(async move {
                        if let Err(error) = ends.link(client, peer).await {
                            tracing::debug!(%error, "fault proxy: a connection failed to start");
                        }
                    });
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

/// What one connection's two directions share.
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

    /// The toxics and the frame faults in force on this connection this
    /// way.
    fn faults(&self, direction: Direction) -> (Vec<Arc<Active>>, Vec<Arc<Active>>) {
        self.shared
            .faults()
            .iter()
            .filter(|active| {
                active
                    .fault
                    .target()
                    .reaches(direction, self.user.as_deref())
            })
            .cloned()
            .partition(|active| matches!(active.fault, Fault::Toxic(_)))
    }
}

/// Waits until the connection ends, and says how.
async fn ended(end: &mut watch::Receiver<End>) -> End {
    match end.wait_for(|end| *end != End::Open).await {
        Ok(how) => *how,
        Err(_) => End::Close,
    }
}

/// What a connection needs to open its far end.
struct Ends {
    shared: Arc<Shared>,
    upstream: Upstream,
    tls: Option<EndsTls>,
    frames_visible: bool,
}

impl Ends {
    async fn link(self, client: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
        // The client said who it is before it sent its first byte.
        client.peek(&mut [0; 1]).await?;
        let user = self
            .shared
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&peer);
        let service = self.upstream.connect(user.as_deref()).await?;
        client.set_nodelay(true)?;
        service.set_nodelay(true)?;
        let link = Link {
            shared: self.shared,
            user,
            end: watch::Sender::new(End::Open),
        };
        let frames_visible = self.frames_visible;
        match self.tls {
            None => {
                let (client_read, client_write) = client.into_split();
                let (service_read, service_write) = service.into_split();
                let client = Resetter::of(client_write.as_ref())?;
                let service = Resetter::of(service_write.as_ref())?;
                both_ways(
                    &link,
                    (client_read, client_write, client),
                    (service_read, service_write, service),
                    frames_visible,
                )
                .await;
            }
            Some(tls) => {
                let (client_reset, service_reset) =
                    (Resetter::of(&client)?, Resetter::of(&service)?);
                let client = tls.acceptor.accept(client).await?;
                let service = tls
                    .connector
                    .connect(tls.server_name.clone(), service)
                    .await?;
                let (client_read, client_write) = tokio::io::split(client);
                let (service_read, service_write) = tokio::io::split(service);
                both_ways(
                    &link,
                    (client_read, client_write, client_reset),
                    (service_read, service_write, service_reset),
                    frames_visible,
                )
                .await;
            }
        }
        Ok(())
    }
}

/// Resets a socket (a TCP RST on close) through a handle of its own, so
/// it works beneath TLS too.
struct Resetter(std::net::TcpStream);

impl Resetter {
    fn of(socket: &TcpStream) -> std::io::Result<Self> {
        let socket = socket2::SockRef::from(socket);
        Ok(Self(socket.try_clone()?.into()))
    }

    fn reset(&self) {
        let _ = socket2::SockRef::from(&self.0).set_linger(Some(Duration::ZERO));
    }
}

/// A socket's read half, write half and resetter.
type Side<R, W> = (R, W, Resetter);

async fn both_ways<R1, W1, R2, W2>(
    link: &Link,
    client: Side<R1, W1>,
    service: Side<R2, W2>,
    frames_visible: bool,
) where
    R1: AsyncRead + Unpin,
    W1: AsyncWrite + Unpin,
    R2: AsyncRead + Unpin,
    W2: AsyncWrite + Unpin,
{
    let (client_read, client_write, client_reset) = client;
    let (service_read, service_write, service_reset) = service;
    tokio::join!(
        way(
            link,
            Direction::ToService,
            client_read,
            (service_write, service_reset),
            frames_visible
        ),
        way(
            link,
            Direction::FromService,
            service_read,
            (client_write, client_reset),
            frames_visible
        ),
    );
}

/// What waits in a direction's queue.
#[derive(Debug)]
enum Piece {
    /// Bytes to pass on, read at `at`; `jitter` in -1..1 scales the
    /// latency toxic's jitter.
    Data {
        bytes: Vec<u8>,
        at: Instant,
        jitter: f64,
    },
    /// What follows waits until then (a frame fault's delay).
    Pause(Instant),
    /// The sender closed its side, at this instant.
    Eof(Instant),
    /// End the connection after what came before.
    EndLink,
}

/// One direction of a connection: what it passes on, and how.
struct Way<'a, W> {
    link: &'a Link,
    direction: Direction,
    stage: FrameStage,
    toxics: Toxics,
    frame_faults: Vec<Arc<Active>>,
    queue: VecDeque<Piece>,
    to: W,
}

impl<W: AsyncWrite + Unpin> Way<'_, W> {
    fn refresh(&mut self) {
        let (toxics, frame_faults) = self.link.faults(self.direction);
        self.toxics.refresh(&toxics);
        self.frame_faults = frame_faults;
    }

    /// Takes in what was read: written at once, unchanged, when nothing is
    /// in force or waiting; else queued as the frame faults make it.
    async fn take_in(&mut self, chunk: &[u8]) {
        let direct =
            self.queue.is_empty() && self.toxics.is_empty() && self.frame_faults.is_empty();
        if direct && self.stage.track(chunk) {
            if self.to.write_all(chunk).await.is_err() {
                self.link.end(End::Reset);
            }
            return;
        }
        let kind_field = &self.link.shared.kind_field;
        let pieces = self
            .stage
            .push(chunk, &self.frame_faults, kind_field, Instant::now());
        self.queue.extend(pieces);
    }
}

/// One direction of a connection: reads `from`, writes `to`.
async fn way<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    link: &Link,
    direction: Direction,
    mut from: R,
    (to, resetter): (W, Resetter),
    frames_visible: bool,
) {
    let mut end = link.end.subscribe();
    let mut changed = link.shared.changed.subscribe();
    let mut way = Way {
        link,
        direction,
        stage: FrameStage::new(direction, frames_visible),
        toxics: Toxics::default(),
        frame_faults: Vec::new(),
        queue: VecDeque::new(),
        to,
    };
    way.refresh();
    let mut buf = vec![0; READ_CHUNK];
    let mut eof = false;
    let how = loop {
        let deadline = way.toxics.deadline();
        let next = (!way.toxics.blackholed())
            .then(|| way.queue.front().map(|piece| way.toxics.due(piece)))
            .flatten();
        tokio::select! {
            biased;
            how = ended(&mut end) => break how,
            _ = changed.changed() => way.refresh(),
            () = sleep_until(deadline.map(|(at, _)| at)), if deadline.is_some() => {
                link.end(deadline.map_or(End::Close, |(_, how)| how));
            }
            () = sleep_until(next), if next.is_some() => {
                match way.queue.pop_front() {
                    Some(Piece::Data { bytes, .. }) => tokio::select! {
                        passed = way.toxics.pass(&bytes, &mut way.to) => {
                            if !passed {
                                link.end(End::Close);
                            }
                        }
                        how = ended(&mut end) => break how,
                    },
                    Some(Piece::Eof(_)) => {
                        let _ = way.to.shutdown().await;
                        return;
                    }
                    Some(Piece::EndLink) => link.end(End::Close),
                    Some(Piece::Pause(_)) | None => {}
                }
            }
            read = from.read(&mut buf), if !eof && way.queue.len() < QUEUED_PIECES => match read {
                Ok(0) => {
                    eof = true;
                    let rest = way.stage.finish();
                    way.queue.extend(rest);
                    way.queue.push_back(Piece::Eof(Instant::now()));
                }
                Ok(n) => way.take_in(&buf[..n]).await,
                Err(_) => link.end(End::Reset),
            },
        }
    };
    match how {
        End::Reset => resetter.reset(),
        End::Close | End::Open => {
            let _ = way.to.shutdown().await;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
