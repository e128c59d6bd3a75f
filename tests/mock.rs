//! `MockServer`: scripted replies, pushes, closes and verification, seen by
//! a client nobody here wrote (Python `websockets` from PyPI), by many
//! tokio-tungstenite clients at once, and by the harness's own client.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws_harness::config::{ContractSettings, ContractSource};
use ws_harness::contract::Rule;
use ws_harness::mock::{
    ClientFrame, Matcher, Mock, MockConnectionId, MockServer, Respond, binary, header, path,
    query_param, regex, subject, subprotocol, text,
};
use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
use ws_harness::{BackendKind, RealWebSocketTestConfig, TestClientFactory, event, frame};

/// Runs tests/peers/mock_client.py against `server` with `steps`, calling
/// `meanwhile` once the mock has received `frames_before_meanwhile`
/// frames; its output lines.
async fn python_client(
    server: &MockServer,
    steps: &[&str],
    frames_before_meanwhile: usize,
    meanwhile: impl FnOnce(),
) -> Vec<String> {
    let python = std::env::var("WS_HARNESS_TEST_PYTHON").expect(
        "WS_HARNESS_TEST_PYTHON names a Python with `websockets` (bench/peers/requirements.txt); .ci/run sets it",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/mock_client.py");
    let mut command = tokio::process::Command::new(python);
    command.arg(script).arg(server.url().as_str()).args(steps);
    if let Some(ca) = server.ca_file() {
        command.arg("--ca").arg(ca);
    }
    let child = command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    wait_until(|| received(server) >= frames_before_meanwhile).await;
    meanwhile();
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the Python client ends within 20 s")
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// How many frames the mock has received on all connections.
fn received(server: &MockServer) -> usize {
    server.connections().iter().map(|c| c.received.len()).sum()
}

/// Waits (10 s at most) until `done`.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "not done within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ping_pong() -> Mock {
    Mock::given(event("ping"))
        .respond_with(Respond::reply_with(
            |ping| json!({"type": "pong", "id": ping["id"]}),
        ))
        .named("ping")
}

async fn a_third_party_client_gets_replies_pushes_and_the_close_code(server: MockServer) {
    ping_pong().expect(1).mount(&server);
    Mock::given(event("bye"))
        .respond_with(Respond::text("{not json").then(Respond::close(4001, "scripted")))
        .expect(1)
        .mount(&server);
    let lines = python_client(
        &server,
        &[
            r#"{"type":"ping","id":1}"#,
            "recv",
            "recv",
            r#"{"type":"bye"}"#,
        ],
        1,
        || assert_eq!(server.push_all(&json!({"type": "news"})), 1),
    )
    .await;
    assert_eq!(
        lines,
        [
            r#"{"id":1,"type":"pong"}"#,
            r#"{"type":"news"}"#,
            "{not json",
            "closed 4001 scripted"
        ]
    );
    server.verify().unwrap();
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn a_python_client_over_ws() {
    let server = MockServer::start().await.unwrap();
    a_third_party_client_gets_replies_pushes_and_the_close_code(server).await;
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn a_python_client_over_wss_trusting_the_mocks_ca() {
    let server = MockServer::builder().tls().start().await.unwrap();
    assert_eq!(server.url().scheme(), "wss");
    a_third_party_client_gets_replies_pushes_and_the_close_code(server).await;
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn a_dropped_connection_has_no_close_frame() {
    let server = MockServer::start().await.unwrap();
    Mock::given(text("crash"))
        .respond_with(Respond::drop_connection())
        .mount(&server);
    let lines = python_client(&server, &["crash"], 0, || {}).await;
    assert_eq!(lines, ["closed 1006"]);
}

/// The ticker service's contract (tests/contracts/ticker.asyncapi.yaml),
/// whose clients' frames say their kind in `op`.
fn ticker_contract() -> ContractSettings {
    let mut settings = ContractSettings::default();
    settings.source = ContractSource::File(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/contracts/ticker.asyncapi.yaml"
        )
        .into(),
    );
    settings.kind_field = "op".to_owned();
    settings
}

/// A mock of the ticker service that answers every `start` with a tick.
async fn ticker_mock() -> MockServer {
    let server = MockServer::builder()
        .name("ticker")
        .contract(&ticker_contract())
        .start()
        .await
        .unwrap();
    Mock::given(frame(json!({"op": "start"})))
        .respond_with(Respond::reply(
            json!({"kind": "tick", "seq": 1, "owner": "alice", "run": "r", "value": 0}),
        ))
        .mount(&server);
    server
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn a_python_client_that_breaks_the_services_contract_is_caught() {
    let server = ticker_mock().await;
    Mock::given(text("start please"))
        .respond_with(Respond::close(1000, "done"))
        .mount(&server);
    let sent = [
        r#"{"op":"start","n":3}"#,
        r#"{"op":"start","n":"3"}"#,
        r#"{"op":"stop"}"#,
        "start please",
    ];
    let lines = python_client(
        &server,
        &[sent[0], "recv", sent[1], "recv", sent[2], sent[3]],
        4,
        || {},
    )
    .await;
    // Answered as scripted all the same.
    let tick = r#"{"kind":"tick","owner":"alice","run":"r","seq":1,"value":0}"#;
    assert_eq!(lines, [tick, tick, "closed 1000 done"]);
    let connection = &server.connections()[0];
    let broken: Vec<(Rule, &str, &str)> = connection
        .violations
        .iter()
        .map(|v| (v.rule, v.pointer.as_str(), v.frame.as_str()))
        .collect();
    assert_eq!(
        broken,
        [
            (Rule::Schema, "/n", sent[1]),
            (Rule::UnknownKind, "/op", sent[2]),
            (Rule::NotJson, "", sent[3]),
        ]
    );
    let report = server.verify().unwrap_err().to_string();
    let url = server.url();
    let expected_head = format!(
        "mock server \"ticker\" at {url}: 0 of 2 mocks not satisfied; 3 frames clients sent broke the contract\n  \
         ok     a frame with {{\"op\":\"start\"}}: expected any number, matched 2\n  \
         ok     text \"start please\": expected any number, matched 1\n\
         frames no mock matched:\n  \
         connection #1 (/):\n    \
         -> {{\"op\":\"stop\"}}\n\
         frames that broke the contract of what clients send:\n  \
         connection #1 (/):\n    \
         -> contract violation (schema) at /n: \"3\" is not of type \"integer\"; frame: {{\"op\":\"start\",\"n\":\"3\"}}\n    \
         -> contract violation (unknown kind) at /op: `stop` is not a kind the "
    );
    assert!(report.starts_with(&expected_head), "{report}");
    assert!(
        report.ends_with(
            "contract names (resume, start); frame: {\"op\":\"stop\"}\n    -> contract violation (not JSON) at the frame: the frame is not a JSON object; frame: start please"
        ),
        "{report}"
    );
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server))).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&report));
}

#[tokio::test]
async fn each_connection_is_held_to_the_contract_of_what_clients_send() {
    let server = ticker_mock().await;
    let mut good = client(server.url().as_str(), "alice").await;
    let mut bad = client(server.url().as_str(), "bob").await;
    for ws in [&mut good, &mut bad] {
        ws.send(Message::text(r#"{"op":"start","n":1}"#))
            .await
            .unwrap();
        next_text(ws).await;
    }
    // An extra field is allowed by the schema; a missing kind is not.
    good.send(Message::text(r#"{"op":"start","n":2,"note":"x"}"#))
        .await
        .unwrap();
    bad.send(Message::text(r#"{"n":2}"#)).await.unwrap();
    next_text(&mut good).await;
    wait_until(|| received(&server) == 4).await;
    let connections = server.connections();
    assert!(
        connections[0].violations.is_empty(),
        "{:?}",
        connections[0].violations
    );
    let violations = &connections[1].violations;
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].rule, Rule::UnknownKind);
    assert_eq!(
        violations[0].message,
        "the frame has no string `op` to say its kind"
    );
    let report = server.verify().unwrap_err().to_string();
    assert!(
        report.contains("frames that broke the contract of what clients send:\n  connection #2 (/, subject bob):\n    -> contract violation (unknown kind) at /op"),
        "{report}"
    );
    assert!(!report.contains("connection #1"), "{report}");
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server)));
}

#[tokio::test]
async fn a_contract_the_mock_cannot_load_is_an_error_at_start() {
    // The ticker's clients' frames say their kind in `op`, not `kind`.
    let mut settings = ticker_contract();
    settings.kind_field = "kind".to_owned();
    let err = MockServer::builder()
        .contract(&settings)
        .start()
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with("the mock server cannot load the contract of what clients send: "),
        "{shown}"
    );
    // Its first message the clients send without a `kind`: `start` or `resume`.
    let named = ["start", "resume"].iter().any(|message| {
        shown.contains(&format!(
            "ticker.asyncapi.yaml#/components/messages/{message}/payload: "
        ))
    });
    assert!(
        named && shown.ends_with(
            "the message's payload has no `properties.kind` with a `const` or `enum`, so its kind cannot be told: set contract.kind_field to the discriminator, or, if the document describes the service's clients rather than the service, set contract.describes = \"client\""
        ),
        "{shown}"
    );
}

/// A client of `user` (a JWT signed with the test secret) on `url`.
async fn client(
    url: &str,
    user: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let token = JwtAuth::new(TEST_JWT_SECRET)
        .unwrap()
        .mint(user, Duration::from_secs(600))
        .unwrap();
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn next_text<S>(ws: &mut S) -> String
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    next_message(ws).await.into_text().unwrap().to_string()
}

/// The next message of `ws`, within 10 s.
async fn next_message<S>(ws: &mut S) -> Message
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame within 10 s")
        .expect("the connection is open")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_connections_each_get_their_own_replies_and_pushes() {
    let server = MockServer::start().await.unwrap();
    ping_pong().expect(600).mount(&server);
    let url = server.url().to_string();
    let mut clients = Vec::new();
    for i in 0..100 {
        clients.push(client(&url, &format!("user-{i}")).await);
    }
    let runs = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| async move {
            for k in 0..5 {
                let ping = json!({"type": "ping", "id": format!("{i}-{k}")});
                ws.send(Message::text(ping.to_string())).await.unwrap();
            }
            for k in 0..5 {
                let pong: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
                assert_eq!(pong, json!({"type": "pong", "id": format!("{i}-{k}")}));
            }
            ws
        });
    let mut clients = futures_util::future::join_all(runs).await;
    // A push to one subject reaches only its connection.
    assert_eq!(
        server.push_to_subject("user-7", &json!({"type": "news"})),
        1
    );
    for (i, ws) in clients.iter_mut().enumerate() {
        let ping = json!({"type": "ping", "id": format!("{i}-last")});
        ws.send(Message::text(ping.to_string())).await.unwrap();
        let first: Value = serde_json::from_str(&next_text(ws).await).unwrap();
        if i == 7 {
            assert_eq!(first, json!({"type": "news"}));
            let pong: Value = serde_json::from_str(&next_text(ws).await).unwrap();
            assert_eq!(pong["id"], "7-last");
        } else {
            assert_eq!(first, json!({"type": "pong", "id": format!("{i}-last")}));
        }
    }
    let connections = server.connections();
    assert_eq!(connections.len(), 100);
    assert!(connections.iter().all(|c| c.open && c.received.len() == 6));
    assert_eq!(connections[7].handshake.subject.as_deref(), Some("user-7"));
    server.verify().unwrap();
}

#[tokio::test]
async fn verify_returns_with_connections_open_and_names_what_is_missing() {
    let server = MockServer::builder().name("orders").start().await.unwrap();
    ping_pong().expect(2).mount(&server);
    Mock::given(event("subscribe"))
        .expect(1..)
        .named("subscribe")
        .mount(&server);
    let mut ws = client(server.url().as_str(), "alice").await;
    ws.send(Message::text(r#"{"type":"ping","id":1}"#))
        .await
        .unwrap();
    next_text(&mut ws).await;
    ws.send(Message::text(r#"{"type":"order","id":9}"#))
        .await
        .unwrap();
    wait_until(|| received(&server) == 2).await;
    // The connection stays open: verify does not wait for it.
    let failed = server.verify().unwrap_err();
    let url = server.url();
    assert_eq!(
        failed.to_string(),
        format!(
            "mock server \"orders\" at {url}: 2 of 2 mocks not satisfied\n  \
             FAILED \"ping\" (ping): expected exactly 2, matched 1\n  \
             FAILED \"subscribe\" (subscribe): expected at least 1, matched 0\n\
             frames no mock matched:\n  \
             connection #1 (/, subject alice):\n    \
             -> {{\"type\":\"order\",\"id\":9}}"
        )
    );
    // The same, as fields a test can read.
    assert_eq!(failed.mocks.len(), 2);
    assert!(failed.mocks.iter().all(|mock| !mock.satisfied()));
    assert_eq!(failed.mocks[0].matched, 1);
    assert_eq!(failed.unmatched.len(), 1);
    let unmatched = &failed.unmatched[0];
    assert_eq!(unmatched.connection, MockConnectionId(1));
    assert_eq!(unmatched.handshake.subject.as_deref(), Some("alice"));
    assert_eq!(
        unmatched.frames,
        [ClientFrame::Text(r#"{"type":"order","id":9}"#.to_owned())]
    );
    assert!(failed.violations.is_empty());
    // Dropped unverified, it panics with the same report.
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server))).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("mock server \"orders\""), "{message}");
}

#[tokio::test]
async fn handshake_matchers_priorities_delays_closes_and_binary_frames() {
    let server = MockServer::builder()
        .subprotocol("v2")
        .start()
        .await
        .unwrap();
    // The more specific mock answers first, whatever the mount order.
    Mock::given(regex("^hello").unwrap())
        .respond_with(Respond::text("hello, whoever you are"))
        .mount(&server);
    Mock::given(regex("^hello").unwrap())
        .and(path("/feed"))
        .and(query_param("room", "a b"))
        .and(header("x-team", "blue"))
        .and(subprotocol("v2"))
        .and(subject("bob"))
        .respond_with(Respond::text("hello, bob of team blue"))
        .with_priority(1)
        .expect(1)
        .mount(&server);
    // A delayed reply does not hold up the next frame's (two seconds, so
    // the next frame's reply comes first on a loaded machine too).
    Mock::given(text("slow"))
        .respond_with(Respond::wait(Duration::from_secs(2)).then(Respond::text("late")))
        .mount(&server);
    Mock::given(text("fast"))
        .respond_with(Respond::text("now"))
        .mount(&server);
    Mock::given(binary(vec![1, 2, 3]))
        .respond_with(Respond::binary(vec![3, 2, 1]).then(Respond::close(4000, "enough")))
        .mount(&server);

    let url = format!("{}feed?room=a%20b", server.url());
    let token = JwtAuth::new(TEST_JWT_SECRET)
        .unwrap()
        .mint("bob", Duration::from_secs(600))
        .unwrap();
    let mut request = url.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("x-team", "blue".parse().unwrap());
    headers.insert("sec-websocket-protocol", "v1, v2".parse().unwrap());
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2");
    ws.send(Message::text("hello there")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "hello, bob of team blue");
    ws.send(Message::text("slow")).await.unwrap();
    ws.send(Message::text("fast")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "now");
    assert_eq!(next_text(&mut ws).await, "late");
    // Another connection without the handshake gets the general answer.
    let mut plain = client(server.url().as_str(), "carol").await;
    plain.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut plain).await, "hello, whoever you are");

    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let reply = next_message(&mut ws).await;
    assert_eq!(reply, Message::binary(vec![3, 2, 1]));
    match next_message(&mut ws).await {
        Message::Close(Some(close)) => {
            assert_eq!(
                (u16::from(close.code), close.reason.as_str()),
                (4000, "enough")
            );
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    server.verify().unwrap();
}

#[tokio::test]
async fn the_harness_client_talks_to_a_wss_mock_as_its_backend() {
    let server = MockServer::builder()
        .name("orders")
        .tls()
        .start()
        .await
        .unwrap();
    Mock::given(frame(json!({"op": "get"})))
        .respond_with(Respond::reply_with(
            |get| json!({"type": "order", "id": get["id"], "state": "open"}),
        ))
        .expect(1)
        .mount(&server);
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_source(ContractSource::None)
        .build()
        .unwrap();
    let info = server.info();
    assert_eq!(info.tier, Some(BackendKind::Mock));
    let factory = TestClientFactory::new(config, info).unwrap();
    let mut client = factory.client("alice").await.unwrap();
    client
        .send_json(&json!({"op": "get", "id": 42}))
        .await
        .unwrap();
    let order = client
        .expect(event("order").with(json!({"id": 42})))
        .await
        .unwrap();
    assert_eq!(order["state"], "open");
    // The harness's client sent its token: the mock knows the subject.
    assert_eq!(
        server.connections()[0].handshake.subject.as_deref(),
        Some("alice")
    );
    server.verify().unwrap();
}

#[tokio::test]
async fn a_closure_matcher_answers_what_the_built_in_ones_cannot_say() {
    let server = MockServer::start().await.unwrap();
    // Orders of three items or more, on connections to /orders.
    let big_order = Matcher::from_fn("an order of 3+ items", |handshake, frame| {
        handshake.path == "/orders"
            && frame
                .json()
                .is_some_and(|order| order["items"].as_array().is_some_and(|i| i.len() >= 3))
    });
    assert_eq!(
        Mock::given(big_order.clone()).to_string(),
        "an order of 3+ items"
    );
    Mock::given(big_order)
        .respond_with(Respond::reply(json!({"type": "big"})))
        .expect(1)
        .mount(&server);
    let orders = server.url().join("orders").unwrap();
    let mut ws = client(orders.as_str(), "alice").await;
    ws.send(Message::text(r#"{"items":[1,2]}"#)).await.unwrap();
    ws.send(Message::text(r#"{"items":[1,2,3]}"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, r#"{"type":"big"}"#);
    let mut elsewhere = client(server.url().as_str(), "bob").await;
    elsewhere
        .send(Message::text(r#"{"items":[1,2,3]}"#))
        .await
        .unwrap();
    wait_until(|| received(&server) == 3).await;
    // It answered the one frame it accepts; the two it refused are
    // unmatched, one on each connection.
    server.verify().unwrap();
    let unmatched: Vec<_> = server
        .connections()
        .iter()
        .map(|c| c.unmatched.clone())
        .collect();
    assert_eq!(unmatched, [vec![0], vec![0]]);
}
