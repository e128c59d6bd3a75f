//! The reference contract against the in-process server: each fault,
//! injected as a frame the server sends, fails the next expectation with
//! its own rule and message; real runs, reconnects and resumes pass.

use serde_json::{Value, json};
use ws_harness::chain::InProcessBackend;
use ws_harness::config::{ContractSettings, ContractSource, Describes, UnknownKinds};
use ws_harness::contract::{ContractError, Direction, Rule};
use ws_harness::protocol::ClientMessage;
use ws_harness::{
    BackendKind, Contract, RealWebSocketTestConfig, TestClient, TestClientFactory, event,
};

fn factory() -> TestClientFactory {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::InProcess])
        .event_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let backend = InProcessBackend::shared().unwrap().info();
    TestClientFactory::new(config, backend).unwrap()
}

/// An agent event as the reference server sends it, with `fields` on top.
fn forged(user: &str, kind: &str, event_id: u64, message_id: &str, fields: Value) -> String {
    let mut frame = json!({
        "type": kind, "event_id": event_id, "timestamp": "2026-01-01T00:00:00.000Z",
        "user_id": user, "thread_id": "t-1", "run_id": format!("run-{message_id}"),
        "message_id": message_id, "agent_name": "reference-agent", "critical": true,
    });
    let extra = match kind {
        "agent_thinking" => json!({"thought": "hmm"}),
        "tool_executing" => json!({"tool_name": "search", "tool_input": {}}),
        "tool_completed" => json!({"tool_name": "search", "result": {}, "duration_ms": 1}),
        "agent_completed" => json!({"final_response": "done", "duration_ms": 3}),
        _ => json!({}),
    };
    for source in [extra, fields] {
        for (key, value) in source.as_object().unwrap() {
            if value.is_null() {
                frame.as_object_mut().unwrap().remove(key);
            } else {
                frame[key] = value.clone();
            }
        }
    }
    frame.to_string()
}

/// A client of `user` that has completed one real run (events 1 to 5).
async fn after_one_run(user: &str) -> TestClient {
    let mut client = factory().client(user).await.unwrap();
    client.send_user_message("m-1", "hello").await.unwrap();
    let events = client.expect_required_events("m-1").await.unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(client.last_sequence(), 5);
    client
}

/// Sends `frames` to `user` as the server, then the next expectation must
/// fail with `rule` and a problem that starts with `problem`.
async fn fails_with(client: &mut TestClient, frames: &[String], rule: Rule, problem: &str) {
    let backend = InProcessBackend::shared().unwrap();
    for frame in frames {
        assert_eq!(backend.send_raw(client.user(), frame), 1);
    }
    let err = client.expect(event("never-sent")).await.unwrap_err();
    assert!(
        matches!(&err.problem, ws_harness::client::Problem::Violation(v) if v.rule == rule),
        "{err}"
    );
    assert!(
        err.problem.to_string().starts_with(problem),
        "{}",
        err.problem
    );
    assert_eq!(client.violations()[0].rule, rule, "{}", err.problem);
    // It names the frame, the connection and the backend, with the transcript.
    let text = err.to_string();
    assert!(
        text.contains("connection #") && text.contains("in-process at ws://"),
        "{text}"
    );
}

#[tokio::test]
async fn real_runs_reconnects_and_resumes_break_no_rule() {
    let mut client = after_one_run("c-clean").await;
    client.send_user_message("m-2", "again").await.unwrap();
    client.expect_required_events("m-2").await.unwrap();
    let report = client.reconnect_and_resume().await.unwrap();
    assert_eq!(report.resumed_from, 10);
    client.send_user_message("m-3", "after").await.unwrap();
    client.expect_required_events("m-3").await.unwrap();
    assert!(client.violations().is_empty(), "{:?}", client.violations());
}

#[tokio::test]
async fn expect_nothing_fails_with_the_violation() {
    let mut client = after_one_run("c-nothing").await;
    let frame = forged("c-nothing", "agent_started", 7, "m-2", json!({}));
    InProcessBackend::shared()
        .unwrap()
        .send_raw("c-nothing", &frame);
    // It fails as soon as the frame arrives, well before this bound.
    let err = client
        .expect_nothing(std::time::Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        err.problem
            .to_string()
            .starts_with("contract violation (sequence gap) at /event_id: `event_id` 7 follows 5"),
        "{}",
        err.problem
    );
}

#[tokio::test]
async fn a_nested_data_payload() {
    let mut client = after_one_run("c-nested").await;
    let frame = forged(
        "c-nested",
        "agent_started",
        6,
        "m-2",
        json!({"data": {"x": 1}}),
    );
    fails_with(
        &mut client,
        &[frame],
        Rule::ForbiddenField,
        "contract violation (forbidden field) at /data: `data` must not appear",
    )
    .await;
}

#[tokio::test]
async fn another_users_event() {
    let mut client = after_one_run("c-owner").await;
    let frame = forged("mallory", "agent_started", 6, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::Owner,
        "contract violation (owner) at /user_id: the frame is for \"mallory\"; this client is `c-owner` (the token's subject)",
    )
    .await;
}

#[tokio::test]
async fn a_duplicated_event_id() {
    let mut client = after_one_run("c-dup").await;
    let frame = forged("c-dup", "agent_started", 5, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::SequenceRepeated,
        "contract violation (sequence repeated) at /event_id: `event_id` 5 again or out of order: 5 came already",
    )
    .await;
}

#[tokio::test]
async fn a_skipped_event_id() {
    let mut client = after_one_run("c-gap").await;
    let frame = forged("c-gap", "agent_started", 7, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::SequenceGap,
        "contract violation (sequence gap) at /event_id: `event_id` 7 follows 5: 6 skipped",
    )
    .await;
}

#[tokio::test]
async fn a_skipped_event_id_across_a_reconnect_and_resume() {
    let mut client = after_one_run("c-gap-resume").await;
    let report = client.reconnect_and_resume().await.unwrap();
    assert_eq!(report.resumed_from, 5);
    assert_eq!(report.reply.unwrap()["replayed"], 0);
    let frame = forged("c-gap-resume", "agent_started", 8, "m-2", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::SequenceGap,
        "contract violation (sequence gap) at /event_id: `event_id` 8 follows 5: 6 to 7 skipped",
    )
    .await;
}

#[tokio::test]
async fn a_missing_required_event() {
    let user = "c-missing";
    let mut client = after_one_run(user).await;
    let frames = [
        forged(user, "agent_started", 6, "m-2", json!({})),
        forged(user, "agent_thinking", 7, "m-2", json!({})),
        forged(user, "tool_executing", 8, "m-2", json!({})),
        forged(user, "agent_completed", 9, "m-2", json!({})),
    ];
    fails_with(
        &mut client,
        &frames,
        Rule::RunMissingEvent,
        "contract violation (run missing an event) at /type: run m-2 ended with `agent_completed` without `tool_completed`",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_order() {
    let user = "c-order";
    let mut client = after_one_run(user).await;
    let frames = [
        forged(user, "agent_started", 6, "m-2", json!({})),
        forged(user, "tool_executing", 7, "m-2", json!({})),
        forged(user, "agent_thinking", 8, "m-2", json!({})),
    ];
    fails_with(
        &mut client,
        &frames,
        Rule::RunOrder,
        "contract violation (run order) at /type: `agent_thinking` of run m-2 arrived after `tool_executing`",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_field_type() {
    let user = "c-type";
    let mut client = after_one_run(user).await;
    let frame = forged(user, "agent_started", 6, "m-2", json!({"critical": "yes"}));
    fails_with(
        &mut client,
        &[frame],
        Rule::Schema,
        "contract violation (schema) at /critical: true was expected",
    )
    .await;
    let mut client = after_one_run("c-type-2").await;
    let frame = forged(
        "c-type-2",
        "agent_completed",
        6,
        "m-1",
        json!({"duration_ms": "12"}),
    );
    fails_with(
        &mut client,
        &[frame],
        Rule::Schema,
        "contract violation (schema) at /duration_ms: \"12\" is not of type \"integer\"",
    )
    .await;
}

#[tokio::test]
async fn a_missing_field() {
    let user = "c-field";
    let mut client = after_one_run(user).await;
    let frame = forged(user, "agent_started", 6, "m-2", json!({"run_id": null}));
    fails_with(
        &mut client,
        &[frame],
        Rule::Schema,
        "contract violation (schema) at the frame: \"run_id\" is a required property",
    )
    .await;
}

#[tokio::test]
async fn an_event_after_agent_completed() {
    let user = "c-after";
    let mut client = after_one_run(user).await;
    let frame = forged(user, "tool_completed", 6, "m-1", json!({}));
    fails_with(
        &mut client,
        &[frame],
        Rule::AfterTerminal,
        "contract violation (after the run's end) at /type: `tool_completed` of run m-1 arrived after the run ended with `agent_completed`",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kind_and_a_frame_that_is_not_json() {
    let mut client = after_one_run("c-kind").await;
    fails_with(
        &mut client,
        &[json!({"type": "agent_dreaming"}).to_string()],
        Rule::UnknownKind,
        "contract violation (unknown kind) at /type: `agent_dreaming` is not a kind the reference contract names (agent_completed, agent_error, agent_started, agent_thinking, error, pong, resumed, tool_completed, tool_executing); a service with a protocol of its own needs its contract in contract.source (an AsyncAPI document, a JSON Schema, or none)",
    )
    .await;
    let mut client = after_one_run("c-not-json").await;
    fails_with(
        &mut client,
        &["not json".to_owned()],
        Rule::NotJson,
        "contract violation (not JSON) at the frame: the frame is not a JSON object; frame: not json",
    )
    .await;
}

#[tokio::test]
async fn contract_none_checks_nothing() {
    let config = RealWebSocketTestConfig::builder()
        .environment(std::collections::HashMap::from([(
            "WS_HARNESS_CONTRACT_SOURCE".to_owned(),
            "none".to_owned(),
        )]))
        .build()
        .unwrap();
    let backend = InProcessBackend::shared().unwrap();
    let factory = TestClientFactory::new(config, backend.info()).unwrap();
    let mut client = factory.client("c-none").await.unwrap();
    client.ping("sync").await.unwrap();
    client.expect(event("pong")).await.unwrap();
    backend.send_raw(
        "c-none",
        &forged("mallory", "agent_started", 9, "m-9", json!({"data": {}})),
    );
    client.expect(event("agent_started")).await.unwrap();
    assert!(client.violations().is_empty());
}

/// A contract file with this text, unique to the test.
fn contract_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ws-harness-contracts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load(path: &std::path::Path, kind_field: &str) -> Result<Contract, ContractError> {
    let mut settings = ContractSettings::default();
    settings.source = ContractSource::File(path.to_owned());
    settings.kind_field = kind_field.to_owned();
    Contract::load(&settings, &[] as &[&str])
}

/// The first violation of `frame` on a fresh stream.
fn verdict(contract: &Contract, frame: Value) -> Option<(Rule, String)> {
    contract
        .stream(Some("alice".into()))
        .check(&frame, &frame.to_string())
        .map(|v| (v.rule, v.pointer))
}

#[test]
fn a_json_schema_file_by_kind_or_whole() {
    let by_kind = contract_file(
        "by-kind.json",
        r##"{"oneOf": [{"$ref": "#/$defs/hello"}, {"properties": {"t": {"enum": ["a", "b"]}, "n": {"type": "integer"}}, "required": ["n"]}],
            "$defs": {"hello": {"properties": {"t": {"const": "hello"}, "name": {"type": "string"}}, "required": ["name"]}}}"##,
    );
    let contract = load(&by_kind, "t").unwrap();
    // It says where it came from and what it holds.
    assert_eq!(contract.source(), &ContractSource::File(by_kind.clone()));
    let debug = format!("{contract:?}");
    assert!(
        debug.starts_with(&format!(
            "Contract {{ source: File({by_kind:?}), direction: FromService, kinds: Some(["
        )),
        "{debug}"
    );
    assert!(debug.contains(r#""a", "b", "hello""#), "{debug}");
    assert_eq!(verdict(&contract, json!({"t": "hello", "name": "x"})), None);
    assert_eq!(verdict(&contract, json!({"t": "b", "n": 1})), None);
    assert_eq!(
        verdict(&contract, json!({"t": "a", "n": "1"})),
        Some((Rule::Schema, "/n".to_owned()))
    );
    assert_eq!(
        verdict(&contract, json!({"t": "zzz"})),
        Some((Rule::UnknownKind, "/t".to_owned()))
    );
    // Unless unknown kinds are allowed; the known ones are still checked.
    let mut settings = ContractSettings::default();
    settings.source = ContractSource::File(by_kind.clone());
    settings.kind_field = "t".to_owned();
    settings.unknown_kinds = UnknownKinds::Allow;
    let lenient = Contract::load(&settings, &[] as &[&str]).unwrap();
    assert_eq!(verdict(&lenient, json!({"t": "zzz"})), None);
    assert_eq!(
        verdict(&lenient, json!({"t": "a", "n": "1"})),
        Some((Rule::Schema, "/n".to_owned()))
    );
    assert!(!lenient.is_none());
    settings.source = ContractSource::None;
    assert!(Contract::load(&settings, &[] as &[&str]).unwrap().is_none());
    let whole = contract_file("whole.json", r#"{"type": "object", "required": ["id"]}"#);
    let contract = load(&whole, "type").unwrap();
    assert_eq!(verdict(&contract, json!({"id": 1, "anything": true})), None);
    assert_eq!(
        verdict(&contract, json!({"other": 1})),
        Some((Rule::Schema, String::new()))
    );
}

#[test]
fn an_asyncapi_2_document_in_json() {
    let doc = contract_file(
        "v2.json",
        r##"{"asyncapi": "2.6.0", "info": {"title": "t", "version": "1"},
            "channels": {"/": {
                "publish": {"message": {"payload": {"properties": {"op": {"const": "go"}}}}},
                "subscribe": {"message": {"oneOf": [{"$ref": "#/components/messages/note"}]}}}},
            "components": {"messages": {"note": {"payload": {"type": "object",
                "properties": {"type": {"const": "note"}, "text": {"type": "string"}}, "required": ["text"]}}}}}"##,
    );
    let contract = load(&doc, "type").unwrap();
    assert_eq!(
        verdict(&contract, json!({"type": "note", "text": "hi"})),
        None
    );
    assert_eq!(
        verdict(&contract, json!({"type": "note"})),
        Some((Rule::Schema, String::new()))
    );
    // What the service receives is not what it sends.
    assert_eq!(
        verdict(&contract, json!({"op": "go", "type": "go"})),
        Some((Rule::UnknownKind, "/type".to_owned()))
    );
    // Read from the clients' side, the `publish` message is the one.
    let mut settings = ContractSettings::default();
    settings.source = ContractSource::File(doc.clone());
    settings.kind_field = "op".to_owned();
    let sent_by_clients = Contract::load_sent_by_clients(&settings).unwrap();
    assert_eq!(sent_by_clients.direction(), Direction::ToService);
    assert_eq!(verdict(&sent_by_clients, json!({"op": "go"})), None);
    assert_eq!(
        verdict(&sent_by_clients, json!({"op": "note"})),
        Some((Rule::UnknownKind, "/op".to_owned()))
    );
    // A document with nothing clients send says where it looked.
    let receives_nothing = contract_file(
        "v3-send-only.json",
        r##"{"asyncapi": "3.0.0", "operations": {"out": {"action": "send", "messages": [{"$ref": "#/m"}]}},
            "m": {"payload": {"properties": {"op": {"const": "x"}}}}}"##,
    );
    settings.source = ContractSource::File(receives_nothing.clone());
    assert_eq!(
        Contract::load_sent_by_clients(&settings)
            .unwrap_err()
            .to_string(),
        format!(
            "the AsyncAPI document {}, read as describing the service, has no message clients send (2.x: channels.*.publish.message; 3.0: operations with action: receive); if it describes the service's clients, set contract.describes = \"client\"",
            receives_nothing.display()
        )
    );
}

/// The ticker's contract written from the service's side and from the
/// client's: read with `contract.describes` set to match, both give the
/// same verdict on every frame, in both directions.
#[test]
fn an_asyncapi_document_from_either_side_gives_the_same_checks() {
    let contracts = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contracts");
    let read = |file: &str, describes: Describes, kind_field: &str, sent_by_clients: bool| {
        let mut settings = ContractSettings::default();
        settings.source = ContractSource::File(format!("{contracts}/{file}").into());
        settings.kind_field = kind_field.to_owned();
        settings.describes = describes;
        if sent_by_clients {
            Contract::load_sent_by_clients(&settings)
        } else {
            Contract::load(&settings, &[] as &[&str])
        }
    };
    let service_side = "ticker.asyncapi.yaml";
    let client_side = "ticker-client.asyncapi.yaml";
    let from_service = [
        json!({"kind": "tick", "seq": 1, "owner": "alice", "run": "r", "value": 1}),
        json!({"kind": "tick", "seq": 1, "owner": "alice", "run": "r", "value": "one"}),
        json!({"kind": "done", "seq": 1, "owner": "alice", "run": "r"}),
        json!({"kind": "done", "seq": 1, "owner": "alice"}),
        json!({"kind": "start", "n": 1}),
    ];
    let service = read(service_side, Describes::Service, "kind", false).unwrap();
    let client = read(client_side, Describes::Client, "kind", false).unwrap();
    let verdicts = |contract: &Contract, frames: &[Value]| {
        frames
            .iter()
            .map(|f| verdict(contract, f.clone()))
            .collect::<Vec<_>>()
    };
    let expected = verdicts(&service, &from_service);
    assert_eq!(
        expected,
        [
            None,
            Some((Rule::Schema, "/value".to_owned())),
            None,
            Some((Rule::Schema, String::new())),
            Some((Rule::UnknownKind, "/kind".to_owned())),
        ]
    );
    assert_eq!(verdicts(&client, &from_service), expected);

    let to_service = [json!({"op": "start", "n": 2}), json!({"op": "tick"})];
    let service = read(service_side, Describes::Service, "op", true).unwrap();
    let client = read(client_side, Describes::Client, "op", true).unwrap();
    let expected = verdicts(&service, &to_service);
    assert_eq!(
        expected,
        [None, Some((Rule::UnknownKind, "/op".to_owned()))]
    );
    assert_eq!(verdicts(&client, &to_service), expected);

    // The client's document read as the service's: its `start` is taken
    // for something the service sends, and the error names both causes.
    let wrong_side = read(client_side, Describes::Service, "kind", false).unwrap_err();
    assert!(
        wrong_side.to_string().ends_with(
            "ticker-client.asyncapi.yaml#/components/messages/start/payload: the message's payload has no `properties.kind` with a `const` or `enum`, so its kind cannot be told: set contract.kind_field to the discriminator, or, if the document describes the service's clients rather than the service, set contract.describes = \"client\""
        ),
        "{wrong_side}"
    );
}

/// The reference protocol's schema of what clients send
/// (`docs/reference-client.schema.json`) says yes and no where the
/// reference server's own parser does.
#[test]
fn the_reference_client_schema_agrees_with_the_servers_parser() {
    let contract = Contract::load_sent_by_clients(&ContractSettings::default()).unwrap();
    let long = "x".repeat(129);
    let frames = [
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi"}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "user_id": "mallory", "data": {}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": null}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi",
            "scenario": {"tools": ["a", "b"], "thinking_steps": 8, "step_delay_ms": 10000, "fail_at": "tool_executing"}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t"}),
        json!({"type": "user_message", "message_id": "", "thread_id": "t", "content": "hi"}),
        json!({"type": "user_message", "message_id": long, "thread_id": "t", "content": "hi"}),
        json!({"type": "user_message", "message_id": "m", "thread_id": 7, "content": "hi"}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "x".repeat(65_537)}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": []}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": {"speed": 1}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": {"tools": vec!["a"; 9]}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": {"tools": [""]}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": {"thinking_steps": 9}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": {"step_delay_ms": 10_001}}),
        json!({"type": "user_message", "message_id": "m", "thread_id": "t", "content": "hi", "scenario": {"fail_at": "agent_completed"}}),
        json!({"type": "ping"}),
        json!({"type": "ping", "nonce": "abc"}),
        json!({"type": "ping", "nonce": null}),
        json!({"type": "ping", "nonce": 7}),
        json!({"type": "ping", "nonce": long}),
        json!({"type": "resume", "last_event_id": 0}),
        json!({"type": "resume", "last_event_id": -1}),
        json!({"type": "resume", "last_event_id": "7"}),
        json!({"type": "resume"}),
        json!({"type": "subscribe"}),
        json!({"type": 1}),
        json!({"message_id": "m"}),
        json!(["ping"]),
    ];
    let mut accepted = 0;
    for frame in frames {
        let text = frame.to_string();
        let server_accepts = ClientMessage::parse(&text).is_ok();
        let violation = contract.stream(None).check(&frame, &text);
        assert_eq!(violation.is_none(), server_accepts, "{text}: {violation:?}");
        accepted += usize::from(server_accepts);
    }
    assert_eq!(accepted, 8, "the table holds both answers");
}

#[test]
fn errors_in_the_users_contract_name_the_file_the_pointer_and_the_fix() {
    let cases = [
        (
            "bad.yaml",
            "asyncapi: 3.0.0\nchannels: [unclosed\n",
            "the contract {path} is not YAML: ",
        ),
        (
            "old.json",
            r#"{"asyncapi": "1.2.0"}"#,
            "the contract {path} is AsyncAPI 1.2.0; 2.x and 3.0 are read",
        ),
        (
            "no-kind.json",
            r#"{"asyncapi": "2.6.0", "channels": {"/": {"subscribe": {"message": {"payload": {"type": "object"}}}}}}"#,
            "{path}#/channels/~1/subscribe/message/payload: the message's payload has no `properties.type` with a `const` or `enum`",
        ),
        (
            "bad-ref.json",
            r##"{"asyncapi": "2.6.0", "channels": {"/": {"subscribe": {"message": {"$ref": "#/components/messages/missing"}}}}}"##,
            "{path}#/channels/~1/subscribe/message: `$ref` #/components/messages/missing points nowhere in the document",
        ),
        (
            "bad-schema.json",
            r#"{"oneOf": [{"properties": {"type": {"const": "x"}, "n": {"type": 5}}}]}"#,
            "{path}: not a valid JSON Schema (1 error): #/oneOf/0/properties/n/type: 5 is not valid under any of the schemas listed in the 'anyOf' keyword; fix each at its JSON pointer",
        ),
        (
            "nothing-sent.json",
            r#"{"asyncapi": "3.0.0", "operations": {}}"#,
            "the AsyncAPI document {path}, read as describing the service, has no message the service sends",
        ),
    ];
    for (name, text, expected) in cases {
        let path = contract_file(name, text);
        let err = load(&path, "type").unwrap_err();
        let expected = expected.replace("{path}", &path.display().to_string());
        assert!(err.to_string().starts_with(&expected), "{name}: {err}");
    }
    let missing = std::env::temp_dir().join("ws-harness-no-such-contract.yaml");
    let err = load(&missing, "type").unwrap_err();
    assert!(matches!(err, ContractError::Read { .. }), "{err}");
    // Through the config: a factory with a bad contract is an error, not a
    // client that checks nothing.
    let config = RealWebSocketTestConfig::builder()
        .environment(std::collections::HashMap::from([(
            "WS_HARNESS_CONTRACT_SOURCE".to_owned(),
            missing.display().to_string(),
        )]))
        .build()
        .unwrap();
    // It names the key, where it was set and a fix; the cause follows.
    let error = config.load_contract().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot read the contract {} (`contract.source`, set in environment variable WS_HARNESS_CONTRACT_SOURCE); check the path (in ws-harness.toml it is relative to the file's directory, elsewhere to the current directory), or set contract.source to \"reference\" or \"none\"",
            missing.display()
        )
    );
    let cause = std::error::Error::source(&error).unwrap();
    assert!(cause.to_string().contains("No such file"), "{cause}");
    let backend = InProcessBackend::shared().unwrap().info();
    assert!(matches!(
        TestClientFactory::new(config, backend),
        Err(ws_harness::client::ClientError::Contract(
            ContractError::Read { .. }
        ))
    ));
}

#[test]
fn every_error_of_a_bad_schema_is_listed_at_its_pointer() {
    let path = contract_file(
        "three-errors.json",
        r#"{"oneOf": [
            {"properties": {"type": {"const": "a"}, "n": {"type": "integr"}}},
            {"properties": {"type": {"const": "b"}}, "required": "type", "minLength": -1}
        ]}"#,
    );
    let ContractError::Schema { problems, .. } = load(&path, "type").unwrap_err() else {
        panic!("not a schema error");
    };
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/oneOf/0/properties/n/type",
            "/oneOf/1/minLength",
            "/oneOf/1/required"
        ]
    );
}

#[test]
fn a_token_without_a_subject_cannot_pass_the_owner_rule_quietly() {
    let contract = Contract::load(&ContractSettings::default(), &["agent_started"]).unwrap();
    let frame = json!({"type": "agent_started", "event_id": 1, "timestamp": "2026-01-01T00:00:00.000Z",
        "user_id": "alice", "thread_id": "t", "run_id": "r", "message_id": "m", "agent_name": "a", "critical": true});
    let violation = contract
        .stream(ws_harness::protocol::auth::subject_of("an-opaque-token"))
        .check(&frame, &frame.to_string())
        .unwrap();
    assert_eq!(violation.rule, Rule::Owner);
    assert!(
        violation.message.starts_with(
            "the frame is for \"alice\", and this client's token is not a JWT with a `sub`"
        ),
        "{violation}"
    );
    let mut settings = ContractSettings::default();
    settings.owner = ws_harness::config::OwnerRule::Value("alice".into());
    let contract = Contract::load(&settings, &["agent_started"]).unwrap();
    assert_eq!(
        contract.stream(None).check(&frame, &frame.to_string()),
        None
    );
}

#[test]
fn a_frame_that_breaks_its_schema_is_blamed_alone() {
    let events = ["agent_started", "agent_thinking"];
    let contract = Contract::load(&ContractSettings::default(), &events).unwrap();
    let mut stream = contract.stream(Some("alice".into()));
    let event = |kind: &str, event_id: u64| {
        let frame: Value =
            serde_json::from_str(&forged("alice", kind, event_id, "m-1", json!({}))).unwrap();
        frame
    };
    let mut bad = event("agent_started", 1);
    bad["critical"] = json!("yes");
    let next = event("agent_thinking", 2);
    let first = stream.check(&bad, &bad.to_string()).unwrap();
    assert_eq!(
        (first.rule, first.pointer.as_str()),
        (Rule::Schema, "/critical")
    );
    // The bad frame still counted as event 1 and the start of its run.
    assert_eq!(stream.check(&next, &next.to_string()), None);
}

/// A new connection without a resume starts the sequence afresh: events
/// sent while no connection was open never reach it. On the same
/// connection, a jump is a gap.
#[test]
fn a_new_connection_starts_the_sequence_afresh() {
    let contract = Contract::load(&ContractSettings::default(), &["agent_started"]).unwrap();
    let event = |id: u64| {
        json!({"type": "agent_started", "event_id": id, "timestamp": "2026-01-01T00:00:00.000Z",
            "user_id": "alice", "thread_id": "t", "run_id": format!("r-{id}"),
            "message_id": format!("m-{id}"), "agent_name": "a", "critical": true})
    };
    let check = |stream: &mut ws_harness::contract::ContractStream, id: u64| {
        stream
            .check(&event(id), &event(id).to_string())
            .map(|v| v.rule)
    };
    let mut stream = contract.stream(Some("alice".into()));
    assert_eq!(check(&mut stream, 1), None);
    let mut same_connection = stream.clone();
    assert_eq!(check(&mut same_connection, 5), Some(Rule::SequenceGap));
    stream.new_connection();
    assert_eq!(check(&mut stream, 5), None);
    assert_eq!(check(&mut stream, 6), None);
}

/// The run rules of a contract of one's own: a kind that is neither a run
/// event nor terminal is not the run's; a terminal kind ends the run, and a
/// run event after it is reported; a run joined mid-way (the first frame
/// of a connection is not its first event) is not judged, a run seen from
/// its start is; ended runs are remembered.
#[test]
fn run_rules_of_a_contract_of_ones_own() {
    let mut settings = ContractSettings::default();
    settings.source = ContractSource::File(contract_file("anything.json", r#"{"type": "object"}"#));
    settings.kind_field = "kind".to_owned();
    settings.sequence_field = Some("seq".to_owned());
    settings.owner_field = None;
    settings.forbidden_fields = None;
    settings.run_field = Some("run".to_owned());
    settings.run_events = Some(vec!["start".into(), "mid".into(), "end".into()]);
    settings.terminal_kinds = Some(vec!["end".into(), "fail".into()]);
    let contract = Contract::load(&settings, &[] as &[&str]).unwrap();
    let run_of = |frames: &[(&str, &str)], sequenced: bool| -> Vec<Option<Rule>> {
        let mut stream = contract.stream(None);
        frames
            .iter()
            .zip(1u64..)
            .map(|((kind, run), seq)| {
                let mut frame = json!({"kind": kind, "run": run});
                if sequenced {
                    frame["seq"] = json!(seq);
                }
                stream.check(&frame, &frame.to_string()).map(|v| v.rule)
            })
            .collect()
    };
    let run = |frames: &[(&str, &str)]| run_of(frames, true);
    // Frames without a sequence value are judged by their kind alone.
    assert_eq!(
        run_of(
            &[("start", "x"), ("note", "x"), ("fail", "x"), ("start", "x")],
            false
        ),
        [None, None, None, Some(Rule::AfterTerminal)]
    );
    assert_eq!(
        run_of(&[("start", "y"), ("end", "y")], false),
        [None, Some(Rule::RunMissingEvent)]
    );
    // Failed, then a run event of the ended run.
    assert_eq!(
        run(&[("start", "a"), ("note", "a"), ("fail", "a"), ("start", "a")]),
        [None, None, None, Some(Rule::AfterTerminal)]
    );
    // Joined mid-way: not judged. From its start: judged.
    assert_eq!(run(&[("end", "b")]), [None]);
    assert_eq!(
        run(&[("start", "c"), ("end", "c")]),
        [None, Some(Rule::RunMissingEvent)]
    );
    // Two ended runs: the first is still known to have ended.
    assert_eq!(
        run(&[
            ("start", "d"),
            ("mid", "d"),
            ("end", "d"),
            ("start", "e"),
            ("fail", "e"),
            ("mid", "d"),
        ]),
        [None, None, None, None, None, Some(Rule::AfterTerminal)]
    );
}
