//! The wire contract of `PROTOCOL.md` (reference protocol v1) as Rust types.
//!
//! Everything that crosses the socket lives here: the frames a client sends
//! ([`ClientMessage`]), the flat agent events the server emits
//! ([`AgentEvent`]), the server's replies ([`Reply`]) and the recoverable
//! error codes ([`ErrorCode`]). The server, the harness and the tests all use
//! these types, so the contract is written down once.

pub mod auth;
mod client;
mod error;
mod event;
mod reply;
mod scenario;

pub use client::{ClientMessage, UserMessage};
pub use error::{ErrorCode, ProtocolError};
pub use event::{AgentEvent, EventKind, EventType, REQUIRED_EVENTS, UnknownEventType};
pub use reply::Reply;
pub use scenario::Scenario;

/// The protocol version reported by `/health` as `"protocol"`.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a server process prints first, before its `HOST:PORT`:
/// `ws-harness serve` prints `listening on 127.0.0.1:8765`
/// ([`crate::process::ServerProcess`] reads it).
pub const LISTENING_ON: &str = "listening on ";

/// Longest accepted `message_id`, `thread_id` and user id, in characters.
pub const MAX_ID_CHARS: usize = 128;

/// Largest accepted `content` of a `user_message`, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// RFC 6455 close codes the server uses for protocol-level violations.
pub mod close_code {
    /// The server is shutting down (`1001`, going away).
    pub const GOING_AWAY: u16 = 1001;
    /// The frame was not a valid WebSocket frame (`1002`).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary frame arrived; the protocol is text only (`1003`).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text frame held invalid UTF-8 (`1007`).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The connection broke a server policy, e.g. it read too slowly (`1008`).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame or message was over the configured limit (`1009`).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}
