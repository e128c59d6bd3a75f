//! A pub/sub protocol (rooms, a per-connection `seq`) on every tier that
//! can serve it, by one suite unchanged: the mock scripted for it, and a
//! Python `websockets` service nobody here wrote as staging.

mod common;

use common::python::PythonPeer;
use serde_json::json;
use std::time::Duration;
use ws_harness::chain::Chain;
use ws_harness::config::{ContractSource, Describes};
use ws_harness::mock::{Mock, MockServer, Recipients, Respond};
use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory, event};

const CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/rooms-client.asyncapi.yaml"
);
const SECRET: &str = "the-rooms-teams-secret-of-32-bytes-or-more";

fn config(staging: Option<&str>) -> RealWebSocketTestConfig {
    let mut builder = RealWebSocketTestConfig::builder()
        .without_environment()
        .jwt_secret(SECRET)
        .contract_source(ContractSource::File(CONTRACT.into()))
        .contract_describes(Describes::Client)
        .contract_sequence_field("seq")
        .event_timeout(Duration::from_secs(5));
    if let Some(url) = staging {
        builder = builder.staging_url(url.parse().unwrap());
    }
    builder.build().unwrap()
}

/// The team's mock of the rooms service, its expectations mounted: it
/// answers as the service does, and is verified only where it served.
async fn rooms_mock(config: &RealWebSocketTestConfig) -> MockServer {
    let mock = MockServer::builder()
        .name("rooms")
        .contract(&config.contract)
        .start()
        .await
        .unwrap();
    Mock::given(event("join"))
        .respond_with(
            Respond::update(|join, peer| {
                let room = join["room"].as_str().unwrap_or_default();
                peer.state["rooms"][room] = json!(true);
            })
            .then(Respond::publish(Recipients::sender(), |join, _, peer| {
                json!({"type": "joined", "room": join["room"], "seq": peer.next("seq")})
            })),
        )
        .expect(3)
        .mount(&mock);
    let members = Recipients::matching("the room's members", |say, peer| {
        peer.state["rooms"][say["room"].as_str().unwrap_or_default()] == true
    });
    Mock::given(event("say"))
        .respond_with(Respond::publish(members, |say, sender, peer| {
            json!({"type": "message", "room": say["room"], "from": sender.subject,
                   "text": say["text"], "seq": peer.next("seq")})
        }))
        .expect(2)
        .mount(&mock);
    mock
}

/// The rooms suite: whichever tier serves it, unchanged.
async fn rooms_suite(config: RealWebSocketTestConfig, backend: BackendInfo) {
    let factory = TestClientFactory::new(config, backend).unwrap();
    let mut alice = factory.client("alice").await.unwrap();
    let mut bob = factory.client("bob").await.unwrap();
    let mut carol = factory.client("carol").await.unwrap();
    for (client, room) in [
        (&mut alice, "lobby"),
        (&mut bob, "lobby"),
        (&mut carol, "attic"),
    ] {
        client
            .send_json(&json!({"type": "join", "room": room}))
            .await
            .unwrap();
        let joined = client.expect(event("joined")).await.unwrap();
        assert_eq!(joined["seq"], 1);
    }
    alice
        .send_json(&json!({"type": "say", "room": "lobby", "text": "hi"}))
        .await
        .unwrap();
    for client in [&mut alice, &mut bob] {
        let message = client
            .expect(event("message").with(json!({"room": "lobby", "from": "alice", "text": "hi"})))
            .await
            .unwrap();
        // Each member counts its own frames.
        assert_eq!(message["seq"], 2);
    }
    bob.send_json(&json!({"type": "say", "room": "lobby", "text": "hello"}))
        .await
        .unwrap();
    let message = alice
        .expect(event("message").with(json!({"from": "bob", "text": "hello"})))
        .await
        .unwrap();
    assert_eq!(message["seq"], 3);
    // Not a member of the lobby: nothing reaches carol.
    carol
        .expect_nothing(Duration::from_millis(200))
        .await
        .unwrap();
    for client in [&alice, &bob, &carol] {
        assert!(client.violations().is_empty(), "{:?}", client.violations());
    }
}

#[tokio::test]
async fn the_rooms_suite_runs_on_the_mock() {
    let config = config(None);
    let mock = rooms_mock(&config).await;
    let backend = Chain::new(&config).mock(&mock).resolve().await.unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::Mock),
        "{}",
        backend.resolution
    );
    rooms_suite(config, backend).await;
    mock.verify().unwrap();
    let states: Vec<_> = mock.connections().into_iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [
            json!({"rooms": {"lobby": true}, "seq": 3}),
            json!({"rooms": {"lobby": true}, "seq": 3}),
            json!({"rooms": {"attic": true}, "seq": 1}),
        ]
    );
}

#[tokio::test]
async fn a_mock_that_missed_a_member_fails_the_suite() {
    // Published to the sender alone: bob never hears alice.
    let config = config(None);
    let mock = MockServer::builder()
        .name("rooms-broken")
        .start()
        .await
        .unwrap();
    Mock::given(event("join"))
        .respond_with(Respond::publish(Recipients::sender(), |join, _, peer| {
            json!({"type": "joined", "room": join["room"], "seq": peer.next("seq")})
        }))
        .mount(&mock);
    Mock::given(event("say"))
        .respond_with(Respond::publish(
            Recipients::sender(),
            |say, sender, peer| {
                json!({"type": "message", "room": say["room"], "from": sender.subject,
                   "text": say["text"], "seq": peer.next("seq")})
            },
        ))
        .mount(&mock);
    let backend = Chain::new(&config).mock(&mock).resolve().await.unwrap();
    let factory = TestClientFactory::new(config, backend).unwrap();
    let mut alice = factory.client("alice").await.unwrap();
    let mut bob = factory.client("bob").await.unwrap();
    alice
        .send_json(&json!({"type": "say", "room": "lobby", "text": "hi"}))
        .await
        .unwrap();
    alice.expect(event("message")).await.unwrap();
    bob.set_event_timeout(Duration::from_millis(300));
    let failed = bob.expect(event("message")).await.unwrap_err().to_string();
    assert!(failed.contains("message within 300ms"), "{failed}");
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (Python with websockets and PyJWT); .ci/run sets it"]
async fn the_same_suite_runs_on_a_python_rooms_service_as_staging() {
    let service = PythonPeer::start("rooms_server.py", &[SECRET.to_owned()]);
    let url = format!("ws://127.0.0.1:{}/", service.port);
    let config = config(Some(&url));
    // The mock is given too: the chain prefers staging, and the mock's
    // expectations (3 joins, 2 says) are not verified, so its drop at the
    // end of this test does not fail it.
    let mock = rooms_mock(&config).await;
    let backend = Chain::new(&config).mock(&mock).resolve().await.unwrap();
    assert_eq!(
        backend.tier,
        Some(BackendKind::Staging),
        "{}",
        backend.resolution
    );
    assert!(
        backend
            .resolution
            .to_string()
            .contains("4. mock: not tried, so its expectations are not verified"),
        "{}",
        backend.resolution
    );
    rooms_suite(config, backend).await;
    assert!(mock.connections().is_empty());
    mock.verify().unwrap();
}
