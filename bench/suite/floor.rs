//! The floor: a bare tokio-tungstenite server that answers every text frame
//! with the golden path's five events, pre-formatted. No auth, no JSON
//! validation, no monitors, no replay buffer: what any server of this
//! protocol costs at least, on this machine.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// The five events of a default run, with the fields (and about the size)
/// of the reference server's.
const EVENTS: [(&str, &str); 5] = [
    ("agent_started", ""),
    ("agent_thinking", r#","thought":"step 1 of 1: planning""#),
    (
        "tool_executing",
        r#","tool_name":"search","tool_input":{"query":"load"}"#,
    ),
    (
        "tool_completed",
        r#","tool_name":"search","result":{"hits":1},"duration_ms":0"#,
    ),
    (
        "agent_completed",
        r#","final_response":"done","duration_ms":0"#,
    ),
];

fn event(kind: &str, extra: &str, event_id: u64, message_id: &str) -> String {
    format!(
        r#"{{"type":"{kind}","event_id":{event_id},"timestamp":"2026-01-01T00:00:00.000Z","user_id":"floor","thread_id":"load","run_id":"floor-run","message_id":"{message_id}","agent_name":"floor","critical":true{extra}}}"#
    )
}

/// The `message_id` of a `user_message` as serde_json writes it, found
/// without parsing: the run its events belong to (`floor` if none).
fn message_id(text: &str) -> &str {
    const KEY: &str = r#""message_id":""#;
    text.find(KEY)
        .map(|at| &text[at + KEY.len()..])
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("floor")
}

/// Serves until the listener fails, or, given `connections`, until that
/// many connections were served to their end.
pub(crate) async fn serve(listener: TcpListener, connections: Option<usize>) {
    let mut served = tokio::task::JoinSet::new();
    while connections.is_none_or(|limit| served.len() < limit) {
        if let Ok((stream, _)) = listener.accept().await {
            served.spawn(connection(stream));
        }
        // Finished connections leave the set; an unlimited floor keeps none.
        while connections.is_none() && served.try_join_next().is_some() {}
    }
    served.join_all().await;
}

async fn connection(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let mut event_id = 0;
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else {
            continue;
        };
        let run = message_id(&text);
        for (kind, extra) in EVENTS {
            event_id += 1;
            if ws
                .feed(Message::text(event(kind, extra, event_id, run)))
                .await
                .is_err()
            {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// The floor in this process, on a runtime of its own (as the in-process
/// backend runs), until dropped.
pub(crate) struct InProcessFloor {
    _runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

impl InProcessFloor {
    /// Binds a free loopback port and serves on two worker threads.
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            ws_harness::server::bind("127.0.0.1:0".parse().expect("an address"))?
        };
        let addr = listener.local_addr()?;
        runtime.spawn(serve(listener, None));
        Ok(Self {
            _runtime: runtime,
            addr,
        })
    }

    /// `ws://HOST:PORT/ws`.
    pub(crate) fn url(&self) -> url::Url {
        format!("ws://{}/ws", self.addr)
            .parse()
            .expect("an address makes a URL")
    }
}
