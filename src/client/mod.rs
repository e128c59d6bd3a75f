//! [`TestClientFactory`] and [`TestClient`]: authenticated connections for
//! any number of users, with retries, sending helpers, reconnect with resume,
//! and the event assertions.

mod expect;
mod factory;
mod failure;
mod matcher;
mod sequence_values;
mod transcript;

pub use crate::artifacts::{SaveError, transcript_dir};
pub use factory::{
    ClientError, ClientOptions, ConnectError, MaxRetriesExceeded, TestClientFactory,
};
pub use failure::{ExpectationFailed, Problem};
pub use matcher::{FrameMatcher, error_code, event, frame};
pub(crate) use transcript::cut;
pub use transcript::{ReceivedFrame, Transcript};

use crate::access::{SizeLimits, Socket, TokenIn};
use crate::chain::BackendInfo;
use crate::config::Template;
use crate::config::TranscriptWindow;
use crate::contract::{ContractStream, Violation};
use crate::protocol::{ClientMessage, Scenario, UserMessage};
use backon::{BackoffBuilder, ExponentialBuilder};
use bytesize::ByteSize;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// One user's test client: sends frames, records everything it receives in
/// a [`Transcript`], and checks it with expectations that wait up to the
/// config's `event_timeout`.
///
/// Expectations search the frames not yet matched, oldest first; each frame
/// is matched at most once. A failed expectation's message says what was
/// expected, what arrived (with timings), the user, the connection and the
/// backend, and where the JSONL transcript was written.
pub struct TestClient {
    pub(super) user: String,
    pub(super) connection: u64,
    pub(super) ws: Option<Socket>,
    pub(super) transcript: Transcript,
    pub(super) event_timeout: Duration,
    pub(super) options: ClientOptions,
    /// The contract applied to every frame as it arrives.
    contract: ContractStream,
    /// Every frame that broke the contract; the first fails every
    /// expectation after it.
    pub(super) violations: Vec<Violation>,
    token: String,
    /// Whether expectations return copies of the frames they matched (a
    /// load's users, which only count them, do not).
    pub(crate) copy_matched: bool,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("user", &self.user)
            .field("connection", &self.connection)
            .field("frames", &self.transcript.received())
            .finish_non_exhaustive()
    }
}

/// How a client resumes after a reconnect: the frame it sends (`${last}`:
/// the last sequence value received; `${user}`) and the kind of the
/// answer it waits for, if any. The contract's settings give one
/// (`contract.resume_frame`, `contract.resume_reply`); a scenario file may
/// give its own.
///
/// ```
/// use ws_harness::client::Resume;
///
/// let resume = Resume {
///     frame: r#"{"op": "resume", "after": "${last}"}"#.parse().unwrap(),
///     reply: Some("resumed".into()),
/// };
/// assert_eq!(resume.frame.variables().collect::<Vec<_>>(), ["last"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The frame to send.
    pub frame: Template,
    /// The kind of the answer that ends the replay.
    pub reply: Option<String>,
}

/// What a reconnect with resume got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeReport {
    /// The last sequence value received before, which the client resumed
    /// from.
    pub resumed_from: u64,
    /// The service's answer (a frame of the contract's `resume_reply`
    /// kind; the reference's `resumed` says how many events it
    /// `replayed`), when the contract names one.
    pub reply: Option<Value>,
}

impl TestClient {
    /// The user it connects as.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Which connection of this client is open: 1, then 2 after a reconnect, ...
    #[must_use]
    pub fn connection(&self) -> u64 {
        self.connection
    }

    /// The backend it talks to.
    #[must_use]
    pub fn backend(&self) -> &BackendInfo {
        &self.options.factory.backend
    }

    /// Everything received so far.
    #[must_use]
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Every received frame that broke the contract, in order (the first
    /// fails every expectation after it).
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The highest value of the contract's sequence field received so far
    /// (`event_id` for the reference; 0 before any).
    #[must_use]
    pub fn last_sequence(&self) -> u64 {
        self.transcript.last_sequence()
    }

    /// How much of the transcript is kept in memory from now on (default:
    /// [`TranscriptWindow::default`]); the event ids for
    /// [`last_sequence`](Self::last_sequence) and
    /// [`expect_no_lost_or_duplicate_events`](Self::expect_no_lost_or_duplicate_events)
    /// are kept whatever the window forgets.
    pub fn set_transcript_window(&mut self, window: TranscriptWindow) {
        self.transcript.set_window(window);
    }

    /// The wait of the expectations (see
    /// [`set_event_timeout`](Self::set_event_timeout)).
    #[must_use]
    pub fn event_timeout(&self) -> Duration {
        self.event_timeout
    }

    /// The subject of its token: who the service sees.
    pub(crate) fn subject(&self) -> Option<String> {
        crate::protocol::auth::subject_of(&self.token)
    }

    /// Sets the wait of the expectations that follow (default: the config's
    /// `event_timeout`).
    pub fn set_event_timeout(&mut self, timeout: Duration) {
        self.event_timeout = timeout;
    }

    /// Connects (again), retrying with backoff and jitter.
    async fn open(&mut self) -> Result<(), ClientError> {
        let factory = &self.options.factory;
        let url = factory.backend.url.to_string();
        let max_retries = factory.config.max_retries;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.options.min_backoff)
            .with_max_delay(self.options.max_backoff)
            .with_max_times(max_retries as usize)
            .with_jitter()
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self.attempt(&url).await {
                Ok(ws) => {
                    self.ws = Some(ws);
                    self.contract.new_connection();
                    self.connection = factory.connections.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::debug!(user = %self.user, connection = self.connection, "connected");
                    return Ok(());
                }
                Err(Attempt::Refused { status, body }) => {
                    return Err(ClientError::Refused {
                        user: self.user.clone(),
                        url,
                        status,
                        body,
                    });
                }
                Err(Attempt::Failed(error)) => error,
            };
            tracing::debug!(user = %self.user, attempts, %error, "connection attempt failed");
            match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(MaxRetriesExceeded {
                        user: self.user.clone(),
                        url,
                        attempts,
                        max_retries,
                        last_error: error,
                    }
                    .into());
                }
            }
        }
    }

    async fn attempt(&self, url: &str) -> Result<Socket, Attempt> {
        let access = &self.options.factory.backend.access;
        let token_in = if self.options.subprotocol_auth {
            TokenIn::Subprotocol
        } else {
            TokenIn::Header
        };
        let request = access
            .request(url, &self.token, token_in)
            .map_err(|e| Attempt::Failed(ConnectError::WebSocket(e)))?;
        let timeout = self.options.factory.config.connection_timeout;
        match tokio::time::timeout(
            timeout,
            access.connect(
                request,
                Some(&self.user),
                SizeLimits::of(&self.options.factory.config),
            ),
        )
        .await
        {
            Err(_) => Err(Attempt::Failed(ConnectError::TimedOut { after: timeout })),
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(WsError::Http(response))) => {
                let status = response.status().as_u16();
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned();
                if status == 429 || status >= 500 {
                    Err(Attempt::Failed(ConnectError::Status { status, body }))
                } else {
                    Err(Attempt::Refused { status, body })
                }
            }
            Ok(Err(error)) => Err(Attempt::Failed(ConnectError::WebSocket(error))),
        }
    }

    /// Sends a client message.
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        if let ClientMessage::Resume { last_event_id } = message {
            self.contract.resume_from(*last_event_id);
        }
        self.send_frame(Message::text(message.to_json())).await
    }

    /// Sends a `user_message` with the default scenario.
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send_user_message(
        &mut self,
        message_id: &str,
        content: &str,
    ) -> Result<(), ClientError> {
        self.send_user_message_with(message_id, content, None).await
    }

    /// Sends a `user_message` with a scenario (test-mode servers only).
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send_user_message_with(
        &mut self,
        message_id: &str,
        content: &str,
        scenario: Option<Scenario>,
    ) -> Result<(), ClientError> {
        let message = ClientMessage::UserMessage(UserMessage {
            message_id: message_id.to_owned(),
            thread_id: format!("thread-{}", self.user),
            content: content.to_owned(),
            scenario,
        });
        self.send(&message).await
    }

    /// Sends a `ping` with this nonce.
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn ping(&mut self, nonce: &str) -> Result<(), ClientError> {
        self.send(&ClientMessage::Ping {
            nonce: Some(nonce.to_owned()),
        })
        .await
    }

    /// Sends the contract's resume frame (`contract.resume_frame`; the
    /// reference's `resume`) for everything after `last`.
    ///
    /// # Errors
    /// [`ClientError::ResumeNotDescribed`] when the contract has no resume
    /// frame, [`ClientError::ResumeFrame`] when it cannot be filled in,
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn resume(&mut self, last: u64) -> Result<(), ClientError> {
        let resume = self.contract_resume()?;
        self.send_resume(&resume.frame, last).await
    }

    async fn send_resume(&mut self, frame: &Template, last: u64) -> Result<(), ClientError> {
        let frame = frame
            .render(|name| match name {
                "last" => Some(last.into()),
                "user" => Some(self.user.clone().into()),
                _ => None,
            })
            .map_err(|source| ClientError::ResumeFrame {
                user: self.user.clone(),
                source,
            })?;
        self.contract.resume_from(last);
        self.send_json(&frame).await
    }

    /// How the contract says this service resumes.
    fn contract_resume(&self) -> Result<Resume, ClientError> {
        let settings = self.contract.contract().settings();
        let Some(frame) = settings.resume_frame.clone() else {
            return Err(self.not_described("contract.resume_frame"));
        };
        Ok(Resume {
            frame,
            reply: settings.resume_reply.clone(),
        })
    }

    /// Resuming needs the contract's sequence field: the value to resume
    /// after.
    fn require_sequence(&self) -> Result<(), ClientError> {
        match self.transcript.sequence_field() {
            Some(_) => Ok(()),
            None => Err(self.not_described("contract.sequence_field")),
        }
    }

    fn not_described(&self, setting: &'static str) -> ClientError {
        ClientError::ResumeNotDescribed {
            user: self.user.clone(),
            setting,
        }
    }

    /// Sends any JSON value as a text frame (to test bad input).
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send_json(&mut self, value: &Value) -> Result<(), ClientError> {
        self.send_frame(Message::text(value.to_string())).await
    }

    /// Sends raw text as a text frame.
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_frame(Message::text(text)).await
    }

    /// Sends a binary frame.
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.send_frame(Message::binary(bytes)).await
    }

    /// Sends a text frame whose payload is not valid UTF-8 (a raw frame no
    /// well-behaved client library would send).
    ///
    /// # Errors
    /// [`ClientError::Send`] when the connection is closed or broken.
    pub async fn send_invalid_utf8(&mut self) -> Result<(), ClientError> {
        let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
        self.send_frame(Message::Frame(frame)).await
    }

    async fn send_frame(&mut self, message: Message) -> Result<(), ClientError> {
        let Some(ws) = self.ws.as_mut() else {
            return Err(ClientError::Closed {
                user: self.user.clone(),
                connection: self.connection,
            });
        };
        ws.send(message).await.map_err(|source| ClientError::Send {
            user: self.user.clone(),
            connection: self.connection,
            source,
        })
    }

    /// Closes the connection with a normal close.
    pub async fn close(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
    }

    /// Opens a new connection (closing the old one if still open), without
    /// resuming: what the service sends a fresh connection.
    ///
    /// # Errors
    /// [`ClientError`] when connecting fails.
    pub async fn reconnect(&mut self) -> Result<(), ClientError> {
        self.ws = None;
        self.open().await
    }

    /// Reconnects and resumes from the highest sequence value received, as
    /// the contract describes (`contract.sequence_field`,
    /// `contract.resume_frame`, `contract.resume_reply`); the replayed
    /// frames join the transcript.
    ///
    /// # Errors
    /// [`ClientError::ResumeNotDescribed`] when the contract has no
    /// sequence field or resume frame (checked before reconnecting); else
    /// as [`reconnect_and_resume_with`](Self::reconnect_and_resume_with).
    pub async fn reconnect_and_resume(&mut self) -> Result<ResumeReport, ClientError> {
        self.require_sequence()?;
        let resume = self.contract_resume()?;
        self.reconnect_and_resume_with(&resume).await
    }

    /// Reconnects and sends `resume.frame` for everything after the
    /// highest value of the contract's sequence field received, then waits
    /// for `resume.reply` when it names one.
    ///
    /// # Errors
    /// [`ClientError::ResumeNotDescribed`] when the contract has no
    /// sequence field (checked before reconnecting); [`ClientError`] when
    /// connecting fails, [`ClientError::ResumeFrame`] when the frame cannot
    /// be filled in, or [`ClientError::Expectation`] when no reply arrives.
    pub async fn reconnect_and_resume_with(
        &mut self,
        resume: &Resume,
    ) -> Result<ResumeReport, ClientError> {
        self.require_sequence()?;
        self.reconnect().await?;
        let resumed_from = self.last_sequence();
        self.send_resume(&resume.frame, resumed_from).await?;
        let reply = match &resume.reply {
            Some(kind) => Some(self.expect(event(kind.as_str())).await.map_err(Box::new)?),
            None => None,
        };
        Ok(ResumeReport {
            resumed_from,
            reply,
        })
    }

    /// Reads frames into the transcript until `deadline`: the next one, and
    /// every one already read from the socket with it, so an expectation
    /// looks once per batch. `false` when the deadline passed or the
    /// connection is closed.
    pub(super) async fn pull(&mut self, deadline: Instant) -> bool {
        let Some(ws) = self.ws.as_mut() else {
            return false;
        };
        // Nothing is read after the deadline, not even a frame already
        // waiting: under a flood there always is one.
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return false;
        }
        let Ok(next) = tokio::time::timeout(wait, ws.next()).await else {
            return false;
        };
        self.receive(next);
        // Bounded, so a peer that never stops sending still gets looked at.
        for _ in 0..PULL_BATCH {
            let Some(ready) = self.ws.as_mut().and_then(|ws| ws.next().now_or_never()) else {
                break;
            };
            self.receive(ready);
        }
        true
    }

    /// Puts one read into the transcript (a close or an error as a line of
    /// its own), checked against the contract.
    fn receive(&mut self, next: Option<Result<Message, WsError>>) {
        let (text, json) = match next {
            Some(Ok(Message::Text(text))) => {
                let json =
                    serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.to_string()));
                (text.to_string(), json)
            }
            Some(Ok(Message::Binary(bytes))) => (
                format!("<binary frame, {} bytes>", bytes.len()),
                Value::Null,
            ),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => return,
            Some(Ok(Message::Close(frame))) => {
                // tungstenite reports a close with a bad code as its own
                // `1002 Protocol violation`: say what the server sent.
                let what = match (self.bad_close(), frame) {
                    (Some(sent), _) => format!("<{sent}; the client answered 1002>"),
                    (None, Some(f)) => format!("<close {} {}>", u16::from(f.code), f.reason),
                    (None, None) => "<close>".to_owned(),
                };
                self.ws = None;
                (what, Value::Null)
            }
            Some(Err(error)) => {
                let mut what = format!("<connection error: {error}");
                if let Some(sent) = self.bad_close() {
                    what.push_str(&format!("; the server sent {sent}"));
                }
                if let Some(hint) = self.size_limit_hint(&error) {
                    what.push_str(&format!("; {hint}"));
                }
                what.push('>');
                self.ws = None;
                (what, Value::Null)
            }
            None => {
                self.ws = None;
                ("<connection closed>".to_owned(), Value::Null)
            }
        };
        if let Some(violation) = self.contract.check(&json, &text) {
            self.violations.push(violation);
        }
        self.transcript.push(text, json, self.connection);
    }
}

impl TestClient {
    /// The close frame the server sent, when RFC 6455 does not allow it.
    fn bad_close(&self) -> Option<String> {
        let sent = self.ws.as_ref()?.get_ref().last_close()?;
        (!sent.is_valid()).then(|| sent.to_string())
    }

    /// Which setting a frame or message over the client's limit ran into,
    /// and how to raise it.
    fn size_limit_hint(&self, error: &WsError) -> Option<String> {
        let WsError::Capacity(CapacityError::MessageTooLong { max_size, .. }) = error else {
            return None;
        };
        let config = &self.options.factory.config;
        let key = if *max_size == config.max_frame_size {
            "max_frame_size"
        } else {
            "max_message_size"
        };
        Some(format!(
            "the client's `{key}` is {} ({max_size} bytes): raise it in ws-harness.toml or WS_HARNESS_{}",
            ByteSize(*max_size as u64).display().iec(),
            key.to_uppercase()
        ))
    }
}

/// Most frames [`TestClient::pull`] takes in one go beyond the one it waited for.
const PULL_BATCH: usize = 64;

enum Attempt {
    Refused { status: u16, body: String },
    Failed(ConnectError),
}
