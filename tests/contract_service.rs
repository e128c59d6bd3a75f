//! A service that is not the reference server, with its own protocol and an
//! AsyncAPI document (`tests/contracts/ticker.asyncapi.yaml`): the Python
//! `websockets` server of `tests/peers/ticker_server.py`. Conforming frames
//! pass; each fault it is asked for is reported with its rule; the
//! reference rules do not fire against it.

mod common;

use common::python::PythonPeer;
use serde_json::json;
use std::time::Duration;
use ws_harness::contract::Rule;
use ws_harness::{BackendInfo, TestClient, TestClientFactory, frame};

const CONTRACT: &str = common::python::TICKER_CONTRACT;

async fn client(server: &PythonPeer) -> TestClient {
    let config = common::python::ticker_config(server, Duration::from_secs(5));
    let backend = BackendInfo::resolve(&config).await.unwrap();
    TestClientFactory::new(config, backend)
        .unwrap()
        .client("label-not-subject")
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs Python websockets: WS_HARNESS_TEST_PYTHON (set by .ci/run)"]
async fn conforming_frames_pass_and_the_reference_rules_do_not_fire() {
    let server = PythonPeer::start("ticker_server.py", &[]);
    let mut client = client(&server).await;
    for run in ["r-1", "r-2"] {
        client
            .send_json(&json!({"op": "start", "n": 3, "run": run}))
            .await
            .unwrap();
        client
            .expect(frame(json!({"kind": "done", "run": run})))
            .await
            .unwrap();
    }
    // Ticks carry `value`, no `type`, `event_id` or `user_id`, and their
    // owner is the token's subject, not the client's label.
    assert_eq!(client.transcript().frames().len(), 8);
    assert!(client.violations().is_empty(), "{:?}", client.violations());
}

#[tokio::test]
#[ignore = "needs Python websockets: WS_HARNESS_TEST_PYTHON (set by .ci/run)"]
async fn each_fault_is_reported_with_its_rule() {
    let server = PythonPeer::start("ticker_server.py", &[]);
    let unknown = format!(
        "contract violation (unknown kind) at /kind: `tock` is not a kind the {CONTRACT} contract names (done, resumed, tick); frame: "
    );
    let cases = [
        (
            "gap",
            Rule::SequenceGap,
            "contract violation (sequence gap) at /seq: `seq` 3 follows 1: 2 skipped",
        ),
        (
            "repeat",
            Rule::SequenceRepeated,
            "contract violation (sequence repeated) at /seq: `seq` 1 again or out of order: 1 came already",
        ),
        (
            "owner",
            Rule::Owner,
            "contract violation (owner) at /owner: the frame is for \"somebody-else\"; this client is `alice` (the token's subject)",
        ),
        (
            "type",
            Rule::Schema,
            "contract violation (schema) at /value: \"one\" is not of type \"integer\"",
        ),
        ("unknown", Rule::UnknownKind, unknown.as_str()),
        (
            "after_done",
            Rule::AfterTerminal,
            "contract violation (after the run's end) at /kind: `tick` of run r arrived after the run ended with `done`",
        ),
    ];
    for (fault, rule, problem) in cases {
        let mut client = client(&server).await;
        client
            .send_json(&json!({"op": "start", "n": 3, "fault": fault}))
            .await
            .unwrap();
        let err = client
            .expect(frame(json!({"kind": "never"})))
            .await
            .unwrap_err();
        assert!(
            err.problem.to_string().starts_with(problem),
            "{fault}: {}",
            err.problem
        );
        assert_eq!(client.violations()[0].rule, rule, "{fault}");
    }
}
