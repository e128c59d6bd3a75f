//! Authentication at the handshake: each accepted path and each rejection.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TestServer, refused};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use ws_harness::protocol::auth::{Claims, JwtAuth};
use ws_harness::server::ServerConfig;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn bearer_header_authenticates_the_user_of_the_token() {
    let server = TestServer::start().await;
    let mut alice = server.connect("alice").await;
    let events = alice.run("m-1").await;
    assert!(events.iter().all(|e| e["user_id"] == "alice"));
}

#[tokio::test]
async fn subprotocol_pair_authenticates_and_selects_jwt_auth() {
    let server = TestServer::start().await;
    let mut request = server.url().into_client_request().unwrap();
    let offer = format!("jwt-auth, jwt.{}", server.token("bob"));
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&offer).unwrap(),
    );
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "jwt-auth");
    let mut bob = common::Client { ws };
    let events = bob.run("m-1").await;
    assert_eq!(events[0]["user_id"], "bob");
}

#[tokio::test]
async fn each_refusal_is_a_401_with_its_json_code() {
    let server = TestServer::start().await;
    let wrong_key = JwtAuth::new("some-other-secret").unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "alice", "exp": now() + 60}).to_string());
    let alg_none = format!("{header}.{claims}.");
    let expired = server.auth.sign(&Claims {
        sub: "alice".into(),
        exp: now() - 30,
        iat: None,
        nbf: None,
    });
    let empty_sub = server.auth.sign(&Claims {
        sub: String::new(),
        exp: now() + 60,
        iat: None,
        nbf: None,
    });
    let long_sub = server.auth.sign(&Claims {
        sub: "x".repeat(129),
        exp: now() + 60,
        iat: None,
        nbf: None,
    });
    let cases = [
        ("garbage", "not.a.jwt".to_owned(), "invalid_token"),
        (
            "wrong key",
            wrong_key
                .mint("alice", std::time::Duration::from_secs(60))
                .unwrap(),
            "invalid_token",
        ),
        ("alg none", alg_none, "invalid_token"),
        ("expired", expired, "expired_token"),
        ("empty sub", empty_sub, "invalid_token"),
        ("sub over 128 chars", long_sub, "invalid_token"),
    ];
    for (name, token, code) in cases {
        let (status, body) = refused(server.request(&token)).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(body["error"], code, "{name}: {body}");
    }

    let bare = server.url().into_client_request().unwrap();
    let (status, body) = refused(bare).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_token"))
    );

    let mut basic = server.url().into_client_request().unwrap();
    basic.headers_mut().insert(
        "authorization",
        HeaderValue::from_static("Basic YWxpY2U6cHc="),
    );
    let (status, body) = refused(basic).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    let mut no_pair = server.url().into_client_request().unwrap();
    no_pair
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
    let (status, body) = refused(no_pair).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_token"))
    );

    server
        .assert_metrics(&[
            r#"ws_harness_auth_rejections_total{reason="invalid_token"} 6"#,
            r#"ws_harness_auth_rejections_total{reason="expired_token"} 1"#,
            r#"ws_harness_auth_rejections_total{reason="missing_token"} 2"#,
        ])
        .await;
    assert_eq!(server.health().await["connections"], 0);
}

#[tokio::test]
async fn a_server_with_its_own_secret_refuses_test_secret_tokens() {
    let server =
        TestServer::with_config(ServerConfig::with_secret("a-real-secret-of-our-own")).await;
    let test_token = JwtAuth::new(ws_harness::protocol::auth::TEST_JWT_SECRET)
        .unwrap()
        .mint("alice", std::time::Duration::from_secs(60))
        .unwrap();
    let (status, body) = refused(server.request(&test_token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let mut alice = server.connect("alice").await;
    alice.assert_alive().await;
}

#[tokio::test]
async fn plain_get_and_unknown_routes_get_clear_http_errors() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/ws").await;
    assert_eq!(status, 426, "{body}");
    assert!(body.contains("upgrade_required"));
    let (status, body) = server.get("/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("/ws, /health and /metrics"));
}
