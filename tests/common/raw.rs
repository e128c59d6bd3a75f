//! A WebSocket server written in the test itself, with no protocol of its
//! own: each connection is handed to the test's code, which sends what it
//! likes (floods, oversized frames, pings). The harness reaches it as a
//! `url`, outside the chain.

use std::future::Future;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use ws_harness::config::ContractSource;
use ws_harness::{
    BackendInfo, ConfigBuilder, RealWebSocketTestConfig, TestClient, TestClientFactory,
};

/// Serves every connection on `127.0.0.1` with `serve`, after a handshake
/// with tungstenite's `config`; the backend of its `ws://` URL.
pub async fn serve<F, Fut>(config: WebSocketConfig, serve: F) -> BackendInfo
where
    F: Fn(WebSocketStream<TcpStream>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(ws) =
                    tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
                {
                    serve(ws).await;
                }
            });
        }
    });
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(url.parse().unwrap())
        .build()
        .unwrap();
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, None);
    backend
}

/// Settings for a client of a test's own server: no environment, no
/// contract (the frames are the test's own).
pub fn settings() -> ConfigBuilder {
    RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_source(ContractSource::None)
}

/// A client of `alice` on `backend` with these settings.
pub async fn client(backend: BackendInfo, settings: ConfigBuilder) -> TestClient {
    TestClientFactory::new(settings.build().unwrap(), backend)
        .unwrap()
        .client("alice")
        .await
        .unwrap()
}

/// A server that sends `frame(k)` for k = 0, 1, ... without pause.
pub async fn sending(frame: fn(u64) -> String) -> BackendInfo {
    serve(WebSocketConfig::default(), move |mut ws| async move {
        use futures_util::SinkExt;
        for k in 0u64.. {
            let message = tokio_tungstenite::tungstenite::Message::text(frame(k));
            if ws.send(message).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// The process's peak resident memory, bytes (`VmHWM`; Linux only).
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}
