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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
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
        let no_host = || FaultError::NoHost {
            url: url.to_string(),
        };
        let host = url.host_str().ok_or_else(no_host)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().ok_or_else(no_host)?;
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

async fn link(
    mut client: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    upstream: Upstream,
    frames_visible: bool,
) {
    // The client said who it is before it sent its first byte.
    let mut first = vec![0; READ_CHUNK];
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
        way(
            link,
            Direction::ToService,
            client_read,
            service_write,
            first,
            frames_visible
        ),
        way(
            link,
            Direction::FromService,
            service_read,
            client_write,
            Vec::new(),
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
struct Way<'a> {
    link: &'a Link,
    direction: Direction,
    stage: FrameStage,
    toxics: Toxics,
    frame_faults: Vec<Arc<Active>>,
    queue: VecDeque<Piece>,
    to: OwnedWriteHalf,
}

impl Way<'_> {
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
async fn way(
    link: &Link,
    direction: Direction,
    mut from: OwnedReadHalf,
    to: OwnedWriteHalf,
    first: Vec<u8>,
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
    way.take_in(&first).await;
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
        End::Reset => {
            let _ = way.to.as_ref().set_zero_linger();
        }
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
