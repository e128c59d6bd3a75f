//! Echo mode, the endpoint of the protocol conformance runs.

mod common;

use common::TestServer;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use ws_harness::server::ServerConfig;

fn echo_config() -> ServerConfig {
    ServerConfig {
        echo: true,
        ..ServerConfig::with_secret("unused")
    }
}

#[tokio::test]
async fn echo_mode_sends_every_message_back_without_auth() {
    let server = TestServer::with_config(echo_config()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.addr))
        .await
        .unwrap();
    for message in [Message::text("héllo"), Message::binary(vec![0, 1, 2, 255])] {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(
            common::next_within(&mut ws).await.unwrap().unwrap(),
            message
        );
    }
    ws.close(None).await.unwrap();
    // The server answers the close handshake, then ends the stream.
    let answer = common::next_within(&mut ws).await;
    assert!(
        matches!(answer, Some(Ok(Message::Close(_))) | None),
        "{answer:?}"
    );
    server.health().await;
}

#[tokio::test]
async fn echo_mode_keeps_the_close_codes_and_needs_no_secret() {
    let config = ServerConfig {
        echo: true,
        jwt_secret: None,
        ..echo_config()
    };
    let server = TestServer::with_config(config).await;
    let (ws, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .unwrap();
    let mut client = common::Client { ws };
    let invalid = Frame::message(vec![0xc3, 0x28], OpCode::Data(Data::Text), true);
    client.send(Message::Frame(invalid)).await;
    assert_eq!(client.expect_close().await.code, CloseCode::Invalid);
}
