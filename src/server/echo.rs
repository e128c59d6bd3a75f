//! Echo mode (`ws-harness serve --echo`): an unauthenticated endpoint that
//! sends every message back, with the same WebSocket settings and close
//! codes as `/ws`, for protocol conformance runs (Autobahn|TestSuite).

use super::Shared;
use super::connection::{Ending, close};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Echoes text and binary messages until the client closes, the server shuts
/// down, or the client breaks the protocol.
pub(super) async fn serve<S>(shared: Arc<Shared>, mut ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ending = loop {
        let incoming = tokio::select! {
            () = shared.shutdown.cancelled() => break Ending::shutdown(),
            incoming = ws.next() => incoming,
        };
        let reply = match incoming {
            None => break Ending::Gone,
            // tungstenite queued the answer to the close; the next read sends it.
            Some(Ok(Message::Close(_))) => continue,
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
            Some(Ok(_)) => continue, // ping and pong frames are answered by tungstenite
            Some(Err(error)) => break Ending::for_read_error(&error),
        };
        if ws.send(reply).await.is_err() {
            break Ending::Gone;
        }
    };
    close(&mut ws, ending, shared.config.limits.write_timeout).await;
}
