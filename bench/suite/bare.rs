//! The bare client the figures measure servers with: a tokio-tungstenite
//! connection and a golden-path run that reads frames until
//! `agent_completed`, checking only their `type`. It is not what
//! `ws-harness load` runs (that is the scenario engine on `TestClient`);
//! it is the floor a client can cost.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use url::Url;
use ws_harness::Access;
use ws_harness::access::Socket;

/// Opens one user's connection ([`Access::open_socket`]) within `timeout`.
pub(crate) async fn connect_user(
    url: &Url,
    access: &Access,
    token: &str,
    timeout: Duration,
) -> Result<Socket, String> {
    match tokio::time::timeout(timeout, access.open_socket(url.as_str(), token)).await {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err("connect: timeout".to_owned()),
    }
}

/// One golden-path run on an open connection: sends a `user_message` with
/// this id and reads until its `agent_completed`, waiting at most `timeout`
/// for each frame; the number of agent events received.
pub(crate) async fn golden_path_run(
    ws: &mut Socket,
    message_id: &str,
    timeout: Duration,
) -> Result<u64, String> {
    let frame = json!({"type": "user_message", "message_id": message_id, "thread_id": "load", "content": "load"});
    ws.send(Message::text(frame.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut events = 0;
    loop {
        let text = match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => return Err("run: timeout".to_owned()),
            Ok(None | Some(Err(_))) => return Err("run: connection lost".to_owned()),
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
        };
        let value: Value = serde_json::from_str(&text).map_err(|_| "run: not json".to_owned())?;
        match value["type"].as_str() {
            Some("agent_completed") => return Ok(events + 1),
            Some("agent_error") => return Err("run: agent_error".to_owned()),
            Some("error") => return Err("run: error frame".to_owned()),
            _ => events += 1,
        }
    }
}
