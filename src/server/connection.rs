//! One WebSocket connection: reads client frames, answers them, writes the
//! user's events, and closes with the right RFC 6455 code.

use super::agent::{Run, RunOutcome, RunReport};
use super::manager::{Outbound, Registration};
use super::performance::LatencyMeasurement;
use super::{RateLimitExceeded, Shared};
use crate::protocol::{ClientMessage, ErrorCode, ProtocolError, Reply, UserMessage, close_code};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::Instrument;

/// Most queued events written before one flush.
const WRITE_BATCH: usize = 64;
/// How long to wait for the client's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why a connection loop stopped.
pub(super) enum Ending {
    /// The socket is gone or closed by the client; nothing more to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

impl Ending {
    /// The server is shutting down: `1001`.
    pub(super) fn shutdown() -> Self {
        Self::Close(close_code::GOING_AWAY, "server shutting down")
    }

    /// The close code for a read error, per `PROTOCOL.md`.
    pub(super) fn for_read_error(error: &WsError) -> Self {
        match error {
            WsError::Utf8(_) => {
                Self::Close(close_code::INVALID_PAYLOAD, "invalid UTF-8 in a text frame")
            }
            WsError::Capacity(_) => Self::Close(
                close_code::MESSAGE_TOO_BIG,
                "frame or message over the server's size limit",
            ),
            WsError::Protocol(_) => {
                Self::Close(close_code::PROTOCOL_ERROR, "WebSocket protocol violation")
            }
            _ => Self::Gone,
        }
    }
}

/// Sends the close frame of `ending` (if any) and waits briefly for the
/// client's answer.
pub(super) async fn close<S>(ws: &mut WebSocketStream<S>, ending: Ending, write_timeout: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ending::Close(code, reason) = ending else {
        return;
    };
    tracing::info!(code, reason, "closing");
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    if tokio::time::timeout(write_timeout, ws.close(Some(frame)))
        .await
        .is_ok_and(|sent| sent.is_ok())
    {
        let drain = async { while ws.next().await.is_some() {} };
        let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
    }
}

/// Serves one authenticated WebSocket of `user_id` until it closes.
pub(super) async fn serve<S>(shared: Arc<Shared>, ws: WebSocketStream<S>, user_id: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let registration = shared.manager.register(&user_id);
    let span = tracing::info_span!("connection", user = %user_id, id = registration.id);
    shared.metrics.connections.inc();
    shared.metrics.connections_open.inc();
    let mut conn = Connection {
        shared: Arc::clone(&shared),
        ws,
        user_id,
        registration,
        replayed_up_to: 0,
    };
    async {
        tracing::info!("connected");
        let ending = conn.run().await;
        // No more events for this connection, even while its close completes.
        shared.manager.unregister(&conn.registration);
        shared.metrics.connections_open.dec();
        close(&mut conn.ws, ending, shared.config.limits.write_timeout).await;
        tracing::info!("disconnected");
    }
    .instrument(span)
    .await;
}

struct Connection<S> {
    shared: Arc<Shared>,
    ws: WebSocketStream<S>,
    user_id: String,
    registration: Registration,
    /// Events up to this id were already written by a replay; queued copies are skipped.
    replayed_up_to: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn run(&mut self) -> Ending {
        loop {
            let result = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => return Ending::shutdown(),
                queued = self.registration.outbound.recv() => match queued {
                    Some(first) => self.write_queued(first).await,
                    None => {
                        return Ending::Close(
                            close_code::POLICY_VIOLATION,
                            "reading too slowly: events queued past the limit; reconnect and resume",
                        );
                    }
                },
                incoming = self.ws.next() => match incoming {
                    None => return Ending::Gone,
                    // tungstenite queued the answer to the close; the next read sends it.
                    Some(Ok(Message::Close(_))) => Ok(()),
                    Some(Ok(Message::Text(text))) => self.handle_text(&text).await,
                    Some(Ok(Message::Binary(_))) => {
                        return Ending::Close(
                            close_code::UNSUPPORTED_DATA,
                            "binary frames are not supported: send JSON text frames",
                        );
                    }
                    Some(Ok(_)) => Ok(()), // ping and pong frames are answered by tungstenite
                    Some(Err(error)) => return Ending::for_read_error(&error),
                },
            };
            if let Err(error) = result {
                tracing::debug!(%error, "write failed");
                return Ending::Gone;
            }
        }
    }

    async fn handle_text(&mut self, text: &str) -> Result<(), WsError> {
        let parsed = ClientMessage::parse(text);
        if let Err(over) = self.shared.rate_limiter.check_message(&self.user_id) {
            return self.reply_rate_limited(&over, parsed).await;
        }
        match parsed {
            Err(error) => self.reply_error(error).await,
            Ok(ClientMessage::UserMessage(message)) => {
                if message.scenario.is_some() && !self.shared.config.test_mode {
                    let error = ProtocolError::invalid_field(
                        "scenario",
                        "`scenario` is only accepted by a server started in test mode (--test-mode); remove it",
                    )
                    .with_message_id(Some(message.message_id));
                    return self.reply_error(error).await;
                }
                self.start_run(message);
                Ok(())
            }
            Ok(ClientMessage::Ping { nonce }) => self.reply(&Reply::Pong { nonce }).await,
            Ok(ClientMessage::Resume { last_event_id }) => self.resume(last_event_id).await,
        }
    }

    fn start_run(&self, message: UserMessage) {
        let run = Run {
            user_id: self.user_id.clone(),
            thread_id: message.thread_id,
            message_id: message.message_id,
            run_id: self.shared.next_run_id(),
            content: message.content,
            scenario: message.scenario.unwrap_or_default(),
        };
        let shared = Arc::clone(&self.shared);
        let user = Arc::clone(&self.registration.user);
        let reply_to = self.registration.reply_to.clone();
        let span = tracing::info_span!("run", run_id = %run.run_id, message_id = %run.message_id);
        let message_id = run.message_id.clone();
        let task = async move {
            let work = shared.agent.run(&run, &user, &shared.event_monitor);
            supervise(&shared, message_id, reply_to, work).await;
        };
        // Boxed, so the task's cell holds a pointer: spawning moves the
        // run's future (some kilobytes) once, not at every step.
        tokio::spawn(Box::pin(task).instrument(span));
    }

    async fn resume(&mut self, last_event_id: u64) -> Result<(), WsError> {
        let replay = match self.registration.user.replay_after(last_event_id) {
            Ok(replay) => replay,
            Err(newest) => {
                let error = ProtocolError::invalid_field(
                    "last_event_id",
                    format!(
                        "last_event_id {last_event_id} is ahead of this user's newest event {newest}; the server may have restarted, resume from 0"
                    ),
                );
                return self.reply_error(error).await;
            }
        };
        if let Some(oldest) = replay.gap {
            let message = format!(
                "events {}..{oldest} are no longer buffered; replaying from {oldest}",
                last_event_id + 1
            );
            self.reply_error(ProtocolError {
                oldest_event_id: Some(oldest),
                ..ProtocolError::new(ErrorCode::ReplayGap, message)
            })
            .await?;
        }
        let replayed = replay.frames.len() as u64;
        for frame in replay.frames {
            self.ws.feed(Message::Text(frame)).await?;
        }
        self.shared.metrics.events_sent.inc_by(replayed);
        self.replayed_up_to = replay.last_event_id;
        self.reply(&Reply::Resumed {
            replayed,
            last_event_id: replay.last_event_id,
        })
        .await
    }

    /// Writes `first` and whatever else is already queued, then flushes once.
    async fn write_queued(&mut self, first: Outbound) -> Result<(), WsError> {
        let timeout = self.shared.config.limits.write_timeout;
        let write = async {
            let mut next = Some(first);
            let mut written = 0;
            while let Some(item) = next.take() {
                let frame = match item {
                    Outbound::Event { event_id, .. } if event_id <= self.replayed_up_to => None,
                    Outbound::Event { frame, .. } => {
                        self.shared.metrics.events_sent.inc();
                        Some(frame)
                    }
                    Outbound::Reply(frame) => Some(frame),
                    Outbound::Drop => return Err(WsError::ConnectionClosed),
                };
                if let Some(frame) = frame {
                    self.ws.feed(Message::Text(frame)).await?;
                }
                written += 1;
                if written < WRITE_BATCH {
                    next = self.registration.outbound.try_recv().ok();
                }
            }
            self.ws.flush().await
        };
        tokio::time::timeout(timeout, write)
            .await
            .unwrap_or(Err(WsError::Io(std::io::ErrorKind::TimedOut.into())))
    }

    async fn reply_rate_limited(
        &mut self,
        over: &RateLimitExceeded,
        parsed: Result<ClientMessage, ProtocolError>,
    ) -> Result<(), WsError> {
        self.shared
            .metrics
            .rate_limit_rejections
            .get_or_create(&vec![("kind", over.kind.as_str())])
            .inc();
        let message_id = match parsed {
            Ok(ClientMessage::UserMessage(message)) => Some(message.message_id),
            Ok(_) => None,
            Err(error) => error.message_id,
        };
        let retry_after_ms = over.retry_after_ms();
        let message = format!(
            "over the per-user message rate; this frame was dropped, send it again in {retry_after_ms} ms"
        );
        self.reply_error(ProtocolError {
            retry_after_ms: Some(retry_after_ms),
            ..ProtocolError::new(ErrorCode::RateLimited, message).with_message_id(message_id)
        })
        .await
    }

    async fn reply_error(&mut self, error: ProtocolError) -> Result<(), WsError> {
        tracing::debug!(%error, "client error");
        self.count_error(error.code);
        self.reply(&Reply::from(error)).await
    }

    fn count_error(&self, code: ErrorCode) {
        self.shared
            .metrics
            .protocol_errors
            .get_or_create(&vec![("code", code.as_str())])
            .inc();
    }

    async fn reply(&mut self, reply: &Reply) -> Result<(), WsError> {
        let timeout = self.shared.config.limits.write_timeout;
        let frame = Message::Text(Utf8Bytes::from(reply.to_json()));
        tokio::time::timeout(timeout, self.ws.send(frame))
            .await
            .unwrap_or(Err(WsError::Io(std::io::ErrorKind::TimedOut.into())))
    }
}

/// Runs one agent run to its end (or to shutdown), counts and measures it,
/// and turns a panic into an `internal` error for the connection that
/// started it: a fault in one run never takes the server down.
async fn supervise(
    shared: &Shared,
    message_id: String,
    reply_to: mpsc::WeakSender<Outbound>,
    work: impl Future<Output = RunReport>,
) {
    let metrics = &shared.metrics;
    metrics.runs_started.inc();
    let started = Instant::now();
    let Some(result) = shared
        .shutdown
        .run_until_cancelled(AssertUnwindSafe(work).catch_unwind())
        .await
    else {
        return;
    };
    let report = result.unwrap_or_else(|_| {
        tracing::error!("the run panicked; the server stays up");
        let error = ProtocolError::new(
            ErrorCode::Internal,
            "the server failed while running this message; it logged the fault, try again",
        )
        .with_message_id(Some(message_id));
        metrics
            .protocol_errors
            .get_or_create(&vec![("code", ErrorCode::Internal.as_str())])
            .inc();
        if let Some(tx) = reply_to.upgrade() {
            let frame = Utf8Bytes::from(Reply::from(error).to_json());
            let _ = tx.try_send(Outbound::Reply(frame));
        }
        RunReport {
            outcome: RunOutcome::Failed,
            events: 0,
            too_slow: 0,
        }
    });
    metrics.slow_consumers.inc_by(report.too_slow);
    let failed = report.outcome == RunOutcome::Failed;
    if failed {
        metrics.runs_failed.inc();
    } else {
        metrics.runs_completed.inc();
    }
    let latency = started.elapsed();
    metrics.run_latency.observe(latency.as_secs_f64());
    shared.performance.record(LatencyMeasurement {
        latency,
        failed,
        events: report.events,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Server, ServerConfig};

    #[tokio::test]
    async fn a_panicking_run_answers_internal_to_its_connection() {
        let server = Server::new(ServerConfig::test_mode()).unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let work = async { panic!("tool exploded") };
        supervise(&server.shared, "m-7".into(), tx.downgrade(), work).await;
        let Some(Outbound::Reply(frame)) = rx.recv().await else {
            panic!("no reply queued");
        };
        let reply: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(reply["type"], "error");
        assert_eq!(reply["code"], "internal");
        assert_eq!(reply["message_id"], "m-7");
        assert!(
            server
                .shared
                .render_metrics()
                .contains("ws_harness_runs_failed_total 1")
        );
        assert_eq!(server.performance().snapshot().failed_runs, 1);
    }

    #[tokio::test]
    async fn events_queued_before_a_resume_are_not_sent_twice() {
        use crate::protocol::{AgentEvent, EventKind};
        use tokio_tungstenite::tungstenite::protocol::Role;

        let server = Server::new(ServerConfig::test_mode()).unwrap();
        let shared = Arc::clone(&server.shared);
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let registration = shared.manager.register("alice");
        let user = Arc::clone(&registration.user);
        let emit = || {
            user.emit(|event_id| {
                serde_json::to_string(&AgentEvent::sample(event_id, EventKind::AgentStarted))
                    .unwrap()
            })
        };
        let mut conn = Connection {
            shared,
            ws,
            user_id: "alice".into(),
            registration,
            replayed_up_to: 0,
        };
        // Three events are queued for the connection but not yet written
        // when the client's resume is handled.
        for _ in 0..3 {
            emit();
        }
        conn.resume(0).await.unwrap();
        emit();
        while let Ok(queued) = conn.registration.outbound.try_recv() {
            conn.write_queued(queued).await.unwrap();
        }
        drop(conn);
        let mut seen = Vec::new();
        while let Some(Ok(Message::Text(text))) = client.next().await {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            seen.push(
                frame["event_id"]
                    .as_u64()
                    .map_or_else(|| frame["type"].to_string(), |id| id.to_string()),
            );
        }
        assert_eq!(seen, ["1", "2", "3", "\"resumed\"", "4"]);
    }
}
