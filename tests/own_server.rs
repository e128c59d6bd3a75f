//! A team's own Rust server as the chain's in-process tier: the ticker
//! protocol (tests/peers/ticker_server.py's, with its AsyncAPI contract and
//! a JSON Schema of the same frames) written twice here, with axum and
//! with bare tokio-tungstenite, run by one suite unchanged.

// tungstenite's handshake callback returns its `ErrorResponse` as it is.
#![allow(clippy::result_large_err)]

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use ws_harness::chain::{BackendError, Chain, OwnServer, OwnServerError, Shutdown, SkipReason};
use ws_harness::config::ContractSource;
use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory, event};

const ASYNCAPI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/ticker.asyncapi.yaml"
);
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/ticker.schema.json"
);
/// The team's secret: its servers check nothing but that a bearer token
/// is presented, and read its subject; the harness mints with it.
const TEAM_SECRET: &str = "the-ticker-teams-secret";

/// The ticker's suite, unchanged whichever server the chain chose.
async fn ticker_suite(config: RealWebSocketTestConfig, backend: BackendInfo) {
    let factory = TestClientFactory::new(config, backend).unwrap();
    let mut alice = factory.client("alice").await.unwrap();
    alice
        .send_json(&json!({"op": "start", "n": 3, "run": "r1"}))
        .await
        .unwrap();
    let frames = alice
        .expect_sequence(&[event("tick"), event("tick"), event("tick"), event("done")])
        .await
        .unwrap();
    assert_eq!(frames[2]["value"], 2);
    assert_eq!(frames[3]["owner"], "alice");
    alice
        .expect_nothing(Duration::from_millis(100))
        .await
        .unwrap();
    assert!(alice.violations().is_empty(), "{:?}", alice.violations());
}

/// The chain with `server` as the in-process tier, which it chose.
async fn in_process(config: &RealWebSocketTestConfig, server: OwnServer) -> BackendInfo {
    let backend = Chain::new(config)
        .own_server(server)
        .resolve()
        .await
        .unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::InProcess),
        "{}",
        backend.resolution
    );
    backend
}

fn config(contract: &str) -> RealWebSocketTestConfig {
    RealWebSocketTestConfig::builder()
        .without_environment()
        .jwt_secret(TEAM_SECRET)
        .contract_source(ContractSource::File(contract.into()))
        .contract_kind_field("kind")
        .contract_sequence_field("seq")
        .contract_owner_field("owner")
        .contract_run_field("run")
        .service_startup_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The ticker's answer to one `start` frame, `seq` counting per connection.
fn ticks(start: &Value, owner: &str, seq: &mut u64) -> Vec<Value> {
    let run = start["run"].as_str().unwrap_or("r");
    let n = start["n"].as_u64().unwrap_or(1);
    let mut frames = Vec::new();
    for value in 0..n {
        *seq += 1;
        frames
            .push(json!({"kind": "tick", "seq": *seq, "owner": owner, "run": run, "value": value}));
    }
    *seq += 1;
    frames.push(json!({"kind": "done", "seq": *seq, "owner": owner, "run": run}));
    frames
}

/// The `sub` of a bearer token (its signature is the service's business).
fn subject(authorization: Option<&str>) -> Option<String> {
    let token = authorization?.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&claims).ok()?;
    claims["sub"].as_str().map(str::to_owned)
}

/// The ticker with axum.
async fn axum_ticker(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
    use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
    use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
    use axum::response::IntoResponse;

    async fn upgrade(headers: HeaderMap, ws: WebSocketUpgrade) -> axum::response::Response {
        let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(owner) = subject(authorization) else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        ws.on_upgrade(move |mut socket| async move {
            let mut seq = 0;
            while let Some(Ok(AxumMessage::Text(text))) = socket.recv().await {
                let Ok(start) = serde_json::from_str::<Value>(&text) else {
                    return;
                };
                for frame in ticks(&start, &owner, &mut seq) {
                    if socket
                        .send(AxumMessage::text(frame.to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        })
    }

    let app = axum::Router::new().route("/ws", axum::routing::get(upgrade));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The ticker with bare tokio-tungstenite.
async fn tungstenite_ticker(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
    let accepting = async {
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut owner = None;
                let read_subject = |request: &Request, response: Response| {
                    let authorization = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    owner = subject(authorization);
                    match owner {
                        Some(_) => Ok(response),
                        None => {
                            let mut refused = ErrorResponse::new(None);
                            *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
                            Err(refused)
                        }
                    }
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, read_subject).await
                else {
                    return;
                };
                let owner = owner.expect("a subject, or the handshake was refused");
                let mut seq = 0;
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let Ok(start) = serde_json::from_str::<Value>(&text) else {
                        return;
                    };
                    for frame in ticks(&start, &owner, &mut seq) {
                        if ws.send(Message::text(frame.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    };
    tokio::select! {
        () = shutdown => Ok(()),
        accepted = accepting => accepted,
    }
}

#[tokio::test]
async fn an_axum_server_of_the_teams_is_the_in_process_tier() {
    let config = config(ASYNCAPI);
    let backend = in_process(&config, OwnServer::new("ticker-axum", axum_ticker)).await;
    assert!(
        backend
            .reason
            .starts_with("the team's own server \"ticker-axum\" in this process; skipped container: the reference server is no stand-in for this suite's protocol: the test gives its own server \"ticker-axum\""),
        "{}",
        backend.reason
    );
    assert!(backend.url.as_str().starts_with("ws://127.0.0.1:"));
    assert!(backend.url.as_str().ends_with("/ws"));
    ticker_suite(config, backend).await;
}

#[tokio::test]
async fn a_bare_tokio_tungstenite_server_of_the_teams_is_the_in_process_tier() {
    let config = config(SCHEMA);
    let backend = in_process(
        &config,
        OwnServer::new("ticker-tungstenite", tungstenite_ticker),
    )
    .await;
    ticker_suite(config, backend).await;
}

#[tokio::test]
async fn the_suite_catches_an_own_server_that_breaks_the_contract() {
    // The same axum ticker, its `seq` skipping one: the contract's
    // sequence rule fails the suite.
    async fn gapped(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
        use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(AxumMessage::Text(_))) = socket.recv().await {
                        for seq in [1, 3] {
                            let tick = json!({"kind": "tick", "seq": seq, "owner": "alice", "run": "r1", "value": 0});
                            socket.send(AxumMessage::text(tick.to_string())).await.ok();
                        }
                    }
                })
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
    let config = config(ASYNCAPI);
    let backend = in_process(&config, OwnServer::new("ticker-gapped", gapped)).await;
    let factory = TestClientFactory::new(config, backend).unwrap();
    let mut alice = factory.client("alice").await.unwrap();
    alice
        .send_json(&json!({"op": "start", "n": 2, "run": "r1"}))
        .await
        .unwrap();
    let failed = alice
        .expect_sequence(&[event("tick"), event("tick")])
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("own server \"ticker-gapped\""), "{failed}");
    assert!(failed.contains("/seq"), "{failed}");
}

#[tokio::test]
async fn an_own_server_is_started_once_per_process_and_name() {
    static STARTS: AtomicUsize = AtomicUsize::new(0);
    let counted = |listener: TcpListener, shutdown: Shutdown| {
        STARTS.fetch_add(1, Ordering::SeqCst);
        tungstenite_ticker(listener, shutdown)
    };
    let config = config(ASYNCAPI);
    let first = in_process(&config, OwnServer::new("ticker-counted", counted)).await;
    let second = in_process(&config, OwnServer::new("ticker-counted", counted)).await;
    assert_eq!(STARTS.load(Ordering::SeqCst), 1);
    assert_eq!(first.url, second.url);
    // It outlives the runtime of the test that started it: this one's
    // clients use it after the chain's own runtime handed it over.
    ticker_suite(config, second).await;
}

#[tokio::test]
async fn an_own_server_that_never_becomes_ready_is_skipped_and_shut_down() {
    static SHUT_DOWN: AtomicBool = AtomicBool::new(false);
    // Accepts TCP connections and never answers a handshake.
    async fn silent(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
        let mut held = Vec::new();
        let accepting = async {
            loop {
                held.push(listener.accept().await?);
            }
        };
        tokio::select! {
            () = shutdown => {
                SHUT_DOWN.store(true, Ordering::SeqCst);
                Ok(())
            }
            failed = accepting => failed,
        }
    }
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::InProcess])
        .service_startup_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = Chain::new(&config)
        .own_server(OwnServer::new("ticker-silent", silent))
        .resolve()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let BackendError::Required { resolution, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(
            resolution.skipped(BackendKind::InProcess),
            Some(SkipReason::OwnServer(OwnServerError::NotReady { .. }))
        ),
        "{resolution}"
    );
    assert!(
        resolution.to_string().contains(
            "1. in-process: skipped: the team's own server \"ticker-silent\" did not become ready (websocket) within 1s: "
        ),
        "{resolution}"
    );
    // Its shutdown completed when the harness gave up on it.
    for _ in 0..50 {
        if SHUT_DOWN.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(SHUT_DOWN.load(Ordering::SeqCst));
}

#[tokio::test]
async fn an_own_server_that_stops_or_panics_before_it_is_ready_is_skipped_saying_so() {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::InProcess])
        .build()
        .unwrap();
    let started = Instant::now();
    let failing = OwnServer::new("ticker-no-database", |_, _| async {
        Err::<(), _>(std::io::Error::other("cannot reach its database"))
    });
    let err = Chain::new(&config)
        .own_server(failing)
        .resolve()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "1. in-process: skipped: the team's own server \"ticker-no-database\" stopped before it was ready: cannot reach its database"
        ),
        "{err}"
    );
    let panicking = OwnServer::new("ticker-panics", |_, _| async {
        if true {
            panic!("the config file is missing");
        }
        Ok::<(), std::io::Error>(())
    });
    let err = Chain::new(&config)
        .own_server(panicking)
        .resolve()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "the team's own server \"ticker-panics\" panicked before it was ready: the config file is missing"
        ),
        "{err}"
    );
    // Neither waited for its startup_timeout (30 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_reference_server_is_no_stand_in_for_a_suite_of_the_teams_protocol() {
    // The team's contract, and neither an own server, a mock nor staging:
    // no tier can serve the suite, and each says why.
    let config = config(ASYNCAPI);
    let err = Chain::new(&config).resolve().await.unwrap_err();
    let BackendError::Unavailable { resolution } = &err else {
        panic!("{err}")
    };
    let why = format!(
        "the reference server is no stand-in for this suite's protocol: contract.source is the team's {ASYNCAPI} (set by code)"
    );
    let text = resolution.to_string();
    assert!(
        text.contains(&format!("1. container: skipped: {why}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("3. in-process: skipped: {why}")),
        "{text}"
    );
    assert!(
        text.contains("4. mock: skipped: no mock server is given (Chain::mock adds one) ("),
        "{text}"
    );

    // `contract.source = "none"` alone does not rule the reference server out.
    let none = RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::InProcess])
        .contract_source(ContractSource::None)
        .build()
        .unwrap();
    let backend = Chain::new(&none).resolve().await.unwrap();
    assert_eq!(backend.tier, Some(BackendKind::InProcess));
    assert_eq!(backend.reason, "forced by backend, set by code");
}

#[tokio::test]
async fn the_own_server_gets_the_configured_access() {
    // Minted with the team's secret, not the reference server's: the
    // subject the server read came from a token the harness made with it.
    let config = config(ASYNCAPI);
    let backend = in_process(&config, OwnServer::new("ticker-axum", axum_ticker)).await;
    assert_eq!(
        backend.access.to_string(),
        "tokens minted with the configured jwt_secret"
    );
    assert!(
        backend
            .to_string()
            .starts_with("in-process at ws://127.0.0.1:")
    );
}
