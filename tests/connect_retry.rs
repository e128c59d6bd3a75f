//! The client's connect retries, against a real HTTP server (wiremock) that
//! refuses the WebSocket upgrade: `429` and `5xx` are retried with backoff
//! up to `max_retries`, any other refusal fails at once.

use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use ws_harness::client::ClientError;
use ws_harness::{BackendInfo, RealWebSocketTestConfig, TestClientFactory};

const MAX_RETRIES: u32 = 3;

/// A factory whose backend is `server`, the `url` tier.
async fn factory(server: &MockServer) -> TestClientFactory {
    let url = format!("ws://{}/ws", server.address());
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(url.parse().unwrap())
        .max_retries(MAX_RETRIES)
        .build()
        .unwrap();
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, None);
    TestClientFactory::new(config, backend).unwrap()
}

/// Connecting `alice`, with a backoff too short to slow the test.
async fn connect(factory: &TestClientFactory) -> ClientError {
    factory
        .options("alice")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn overload_and_server_errors_are_retried_up_to_max_retries() {
    for status in [429, 500, 503] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/ws"))
            .and(header("upgrade", "websocket"))
            .respond_with(ResponseTemplate::new(status).set_body_string("busy"))
            .expect(u64::from(MAX_RETRIES) + 1)
            .mount(&server)
            .await;
        let err = connect(&factory(&server).await).await;
        let ClientError::MaxRetriesExceeded(exceeded) = &err else {
            panic!("{status}: {err}");
        };
        assert_eq!((exceeded.attempts, exceeded.max_retries), (4, 3), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "gave up connecting user `alice` to ws://{}/ws after 4 attempts (max_retries = 3); last error: {}",
                server.address(),
                exceeded.last_error
            )
        );
        assert!(
            exceeded
                .last_error
                .to_string()
                .contains(&status.to_string()),
            "{err}"
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn any_other_refusal_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_string("no entry"))
        .expect(1)
        .mount(&server)
        .await;
    let err = connect(&factory(&server).await).await;
    let ClientError::Refused { status, body, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((*status, body.as_str()), (403, "no entry"));
    server.verify().await;
}
