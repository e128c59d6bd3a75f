//! A pub/sub protocol (rooms, a per-connection `seq`) on every tier that
//! can serve it, by one suite unchanged: the mock scripted for it, and a
//! Python `websockets` service nobody here wrote as staging.

mod common;
/// The rooms suite and mock of `fixtures/every-tier`, which runs them on
/// every tier of the chain.
#[path = "../fixtures/every-tier/tests/support/mod.rs"]
mod support;

use common::python::PythonPeer;
use serde_json::json;
use std::time::Duration;
use support::{rooms_mock, rooms_suite};
use ws_harness::chain::Chain;
use ws_harness::config::{ContractSource, Describes};
use ws_harness::mock::{Mock, MockServer, Recipients, Respond};
use ws_harness::{BackendKind, RealWebSocketTestConfig, TestClientFactory, event};

const CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/every-tier/contract/rooms.asyncapi.yaml"
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
