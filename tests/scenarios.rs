//! Scenario files: each kind of mistake named with its line and step, the
//! files checked against `docs/scenario.schema.json`, and scenarios run
//! against the reference server, a pub/sub service with a protocol of its
//! own and bugs it can be told to make (Python `websockets`,
//! `tests/peers/pubsub_server.py`), and websocat's JSON echo in the
//! container tier.

mod common;

use common::python::PythonPeer;
use common::websocat::echo_container;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
use ws_harness::scenario::{CheckReport, check};
use ws_harness::scenario::{Mistake, ScenarioError, ScenarioFile, StepError};
use ws_harness::{BackendKind, RealWebSocketTestConfig, TestClientFactory};

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/scenarios/{name}"))
}

fn in_process() -> RealWebSocketTestConfig {
    common::in_process_config(Duration::from_secs(3))
}

/// The mistake in `text`, as its message.
fn mistake(text: &str) -> String {
    text.parse::<ScenarioFile>().unwrap_err().to_string()
}

#[test]
fn each_kind_of_mistake_names_the_line_the_step_and_a_fix() {
    let cases = [
        (
            "name = \"x\"\n",
            "the scenario text, line 1: no steps: add one",
        ),
        (
            "[[step]]\nsend = { a = 1 }\n\n[[step]]\nsned = { a = 1 }\n",
            "the scenario text, line 4, step 2: `sned` is not a key of a step; a step has one of send, expect",
        ),
        (
            "[[step]]\nname = \"idle\"\n",
            "line 1, step 1: the step does nothing: give it one of send, expect",
        ),
        (
            "[[step]]\nsend = { a = 1 }\nsleep = \"1s\"\n",
            "step 1: the step has both `send` and `sleep`: make them two steps",
        ),
        (
            "[[step]]\nsleep = \"soon\"\n",
            "step 1: `sleep` is not a duration: \"soon\"",
        ),
        (
            "[[step]]\nsend = { a = 1 }\nwithin = \"1s\"\n",
            "step 1: `within` only goes with `expect`",
        ),
        (
            "[[step]]\nexpect = { sequence = [\"a\"] }\ncapture = { x = \"/x\" }\n",
            "step 1: `capture` only goes with `expect` (of one frame)",
        ),
        (
            "[[step]]\nsend = { room = \"${room}\" }\n",
            "step 1: `${room}` has no value here: the variables are user, subject, n, uuid, now",
        ),
        (
            "[[step]]\nsend = { room = \"${room\" }\n",
            "step 1: `${room` is not a placeholder",
        ),
        (
            "[[step]]\nexpect = { kind = \"a\", sequence = [\"b\"] }\n",
            "step 1: `expect` has `sequence` and `kind`: give one of them",
        ),
        (
            "[[step]]\nexpect = { knd = \"a\" }\n",
            "step 1: `expect` a matcher has `kind` and `with`, not `knd`",
        ),
        (
            "[[step]]\nreconnect = \"yes\"\n",
            "step 1: `reconnect` is `true` (a new connection) or \"resume\"",
        ),
        (
            "[[step]]\nusers = \"second\"\nclose = true\n",
            "step 1: `users` cannot be \"second\"; e.g. users = \"first\"",
        ),
        (
            "[users]\ncount = 2\n\n[[step]]\nusers = [3]\nclose = true\n",
            "line 4, step 1: `users` names user 3, but 2 users run: name users from 1 to 2",
        ),
        (
            "[[step]]\nsend = { a = 1 }\n\n[[step]]\nsend = { a = \n",
            "line 5, step 2: ",
        ),
        (
            "nmae = \"x\"\n[[step]]\nclose = true\n",
            "line 1: unknown field `nmae`",
        ),
    ];
    for (text, expected) in cases {
        let message = mistake(text);
        assert!(
            message.contains(expected),
            "{text:?}:\n  got {message}\n  not {expected}"
        );
    }
    // A capture's name is a variable of the steps after it, not before.
    let text = "[[step]]\nexpect = \"a\"\ncapture = { room = \"/room\" }\n[[step]]\nsend = { r = \"${room}\" }\n";
    assert!(text.parse::<ScenarioFile>().is_ok());
    // The reason is a type.
    let Err(ScenarioError::Invalid {
        mistake,
        step,
        line,
        ..
    }) = "[[step]]\nclose = 1\n".parse::<ScenarioFile>()
    else {
        panic!("a mistake")
    };
    assert_eq!((step, line), (Some(1), 1));
    assert!(matches!(mistake, Mistake::BadValue { key, .. } if key == "close"));
}

#[test]
fn a_mistake_in_a_file_names_the_file() {
    let dir = common::websocat::tempdir("scenario-mistake");
    let path = dir.join("smoke.toml");
    std::fs::write(
        &path,
        "[[step]]\nsend = { a = 1 }\n\n[[step]]\nexpect = 7\n",
    )
    .unwrap();
    let message = ScenarioFile::from_file(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}, line 4, step 2: `expect` must be a kind or a matcher table; e.g. expect = \"pong\", or expect = {{ kind = \"pong\", with = {{ nonce = \"${{n}}\" }} }}, or expect = {{ sequence = [\"started\", \"done\"] }} (also any_order, subsequence, run)",
            path.display()
        )
    );
    let missing = ScenarioFile::from_file(dir.join("nope.toml")).unwrap_err();
    assert!(matches!(missing, ScenarioError::Read { .. }), "{missing}");
    // The stem names a scenario without a name.
    std::fs::write(&path, "[[step]]\nclose = true\n").unwrap();
    assert_eq!(ScenarioFile::from_file(&path).unwrap().name, "smoke");
}

/// Every scenario file here and the built-in one match the JSON Schema
/// editors complete from, and files with mistakes do not.
#[test]
fn the_scenario_files_match_their_json_schema() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/scenario.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let as_json =
        |text: &str| serde_json::to_value(toml::from_str::<toml::Table>(text).unwrap()).unwrap();
    let mut files = vec![root.join("src/scenario/golden-path.toml")];
    for entry in std::fs::read_dir(root.join("tests/scenarios")).unwrap() {
        files.push(entry.unwrap().path());
    }
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        ScenarioFile::from_file(file).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&text))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
    for bad in [
        "[[step]]\nsned = { a = 1 }\n",
        "[[step]]\nsend = { a = 1 }\nsleep = \"1s\"\n",
        "[[step]]\nsend = { a = 1 }\nwithin = \"1s\"\n",
        "[[step]]\nreconnect = \"yes\"\n",
        "[[step]]\nsleep = \"soon\"\n",
        "name = \"no steps\"\n",
    ] {
        assert!(
            !validator.is_valid(&as_json(bad)),
            "the schema takes {bad:?}"
        );
        assert!(
            bad.parse::<ScenarioFile>().is_err(),
            "the parser takes {bad:?}"
        );
    }
}

/// The built-in golden path passes on the reference server, from Rust, and
/// a scenario that fails gives the usual `ExpectationFailed`.
#[tokio::test]
async fn a_test_runs_a_scenario_and_a_failure_is_the_usual_expectation_failure() {
    let factory = TestClientFactory::from_config(in_process()).await.unwrap();
    let users = ScenarioFile::golden_path().run(&factory).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].steps[1].frames.len(), 5, "the required events");

    let scenario: ScenarioFile = "name = \"pong\"\n[[step]]\nsend = { type = \"ping\", nonce = \"${user}\" }\n\
        [[step]]\nname = \"the wrong pong\"\nexpect = { kind = \"pong\", with = { nonce = \"nobody\" } }\nwithin = \"300ms\"\n"
        .parse()
        .unwrap();
    let err = scenario.run(&factory).await.unwrap_err();
    let ScenarioError::Failed(failed) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (failed.user.as_str(), failed.step, failed.line),
        ("user-1", 2, 4)
    );
    let StepError::Expectation(expectation) = &failed.error else {
        panic!("{err}")
    };
    assert!(
        expectation
            .problem
            .to_string()
            .starts_with("timed out after 300ms; missing: pong {\"nonce\":\"nobody\"}"),
        "{err}"
    );
    let message = format!("{err:?}");
    assert!(
        message.starts_with(
            "user `user-1`, step 2 `the wrong pong` (the scenario text, line 4): expected pong"
        ) && message.contains("{\"type\":\"pong\",\"nonce\":\"user-1\"}")
            && message.contains("transcript file: "),
        "{message}"
    );
}

/// `reconnect = "resume"` resumes as the contract says (the reference's
/// `resume`), and a scenario's own `[resume]` frame is used instead when
/// it gives one; steps for some users run in lockstep.
#[tokio::test]
async fn reconnect_steps_resume_and_steps_for_some_users_wait_for_the_others() {
    let scenario: ScenarioFile = r#"
        [users]
        count = 2
        prefix = "resumer"
        [[step]]
        send = { type = "user_message", message_id = "${user}-a", thread_id = "t", content = "one" }
        [[step]]
        expect = { run = "${user}-a" }
        [[step]]
        reconnect = "resume"
        [[step]]
        name = "the first user asks again"
        users = "first"
        send = { type = "user_message", message_id = "${user}-b", thread_id = "t", content = "two" }
        [[step]]
        users = "first"
        expect = { run = "${user}-b" }
        [[step]]
        users = "others"
        expect_nothing = "300ms"
    "#
    .parse()
    .unwrap();
    assert!(scenario.in_lockstep());
    let factory = TestClientFactory::from_config(in_process()).await.unwrap();
    let users = scenario.run(&factory).await.unwrap();
    assert_eq!(users[0].steps.len(), 5);
    assert_eq!(users[1].steps.len(), 4);

    // A `[resume]` of the file's own: the reference server refuses this
    // frame, so no `resumed` comes.
    let own: ScenarioFile = r#"
        [resume]
        frame = { type = "resume_please", after = "${last}" }
        reply = "resumed"
        [[step]]
        reconnect = "resume"
    "#
    .parse()
    .unwrap();
    let err = own.run(&factory).await.unwrap_err().to_string();
    assert!(err.contains("expected resumed within"), "{err}");
    assert!(err.contains("resume_please"), "{err}");
}

/// With a fixed token every user is the token's one identity, and the
/// report says so.
#[tokio::test]
async fn a_fixed_token_is_one_identity_and_the_report_says_so() {
    let token = JwtAuth::new(TEST_JWT_SECRET)
        .unwrap()
        .mint("alice", Duration::from_secs(300))
        .unwrap();
    // A server at a URL takes the configured token (the built-in tier
    // mints its own per user).
    let server = common::TestServer::start().await;
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(server.url().parse().unwrap())
        .token(token)
        .concurrent_connections(2)
        .build()
        .unwrap();
    let report = check(config, &ScenarioFile::golden_path()).await.unwrap();
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.shared_identity(), Some("alice"));
    assert!(
        report
            .render()
            .contains("every user connects as `alice`: the configured token names one identity for all of them"),
        "{}",
        report.render()
    );
    assert_eq!(report.to_json()["shared_identity"], "alice");
}

// ---- A pub/sub service with a protocol of its own ----

fn pubsub_config(server: &PythonPeer) -> RealWebSocketTestConfig {
    let vars = [
        ("WS_HARNESS_URL", format!("ws://127.0.0.1:{}/", server.port)),
        // The service reads the token's subject; it checks no signature.
        (
            "WS_HARNESS_JWT_SECRET",
            "any-secret-of-32-bytes-or-more-0000".to_owned(),
        ),
        (
            "WS_HARNESS_CONTRACT_SOURCE",
            format!(
                "{}/tests/contracts/pubsub.schema.json",
                env!("CARGO_MANIFEST_DIR")
            ),
        ),
        ("WS_HARNESS_CONTRACT_KIND_FIELD", "event".to_owned()),
        ("WS_HARNESS_CONTRACT_SEQUENCE_FIELD", "seq".to_owned()),
    ];
    let env: HashMap<String, String> = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    RealWebSocketTestConfig::builder()
        .environment(env)
        .build()
        .unwrap()
}

async fn room_check(bug: Option<&str>) -> CheckReport {
    let args: Vec<String> = bug
        .map(|b| vec!["--bug".to_owned(), b.to_owned()])
        .unwrap_or_default();
    let server = PythonPeer::start("pubsub_server.py", &args);
    let scenario = ScenarioFile::from_file(scenario_path("room.toml")).unwrap();
    check(pubsub_config(&server), &scenario).await.unwrap()
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn the_room_scenario_passes_on_a_correct_pubsub_service() {
    let report = room_check(None).await;
    let text = report.render();
    assert!(report.passed(), "{text}");
    assert_eq!(report.users.len(), 3);
    assert!(text.contains("scenario `room message`"), "{text}");
    assert!(
        text.contains("\n        4. the message ") && text.contains(": message "),
        "{text}"
    );
    assert!(text.contains("contract "), "{text}");
    let json = report.to_json();
    assert_eq!(json["users"][2]["user"], "member-3");
    assert_eq!(json["users"][0]["steps"].as_array().unwrap().len(), 5);
    assert_eq!(
        json["users"][1]["steps"].as_array().unwrap().len(),
        4,
        "member-2 does not publish"
    );
}

/// Each bug fails the check, naming the step, the user and the rule.
#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn each_bug_of_the_pubsub_service_fails_the_check_naming_step_user_and_rule() {
    // (bug, the user that fails, what the report says)
    let cases = [
        (
            "lose-message",
            "member-3",
            "timed out after 2s; missing: message",
        ),
        (
            "seq-gap",
            "member-1",
            "contract violation (sequence gap) at /seq",
        ),
        (
            "wrong-kind",
            "member-1",
            "contract violation (unknown kind) at /event",
        ),
        (
            "wrong-sender",
            "member-2",
            "timed out after 2s; missing: message {",
        ),
    ];
    for (bug, user, rule) in cases {
        let report = room_check(Some(bug)).await;
        let text = report.render();
        assert!(!report.passed(), "{bug}: {text}");
        let failed = report
            .users
            .iter()
            .find(|u| u.user == user)
            .and_then(|u| u.failure.as_ref())
            .unwrap_or_else(|| panic!("{bug}: {user} should fail: {text}"));
        assert_eq!(
            (failed.step, failed.name.as_str()),
            (4, "the message"),
            "{bug}: {text}"
        );
        assert!(
            text.contains(&format!("  FAIL  {user}\n"))
                && text.contains("4. the message (line 25) failed:")
                && text.contains(rule),
            "{bug}: {text}"
        );
        eprintln!(
            "{bug}: {user} fails step 4: {}",
            failed.error.summary().lines().next().unwrap()
        );
    }
}

// ---- websocat's JSON echo in the container tier ----

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn the_echo_scenario_passes_against_websocat_in_the_container_tier() {
    let config = echo_container()
        .await
        .concurrent_connections(4)
        .build()
        .unwrap();
    let scenario = ScenarioFile::from_file(scenario_path("echo.toml")).unwrap();
    let report = check(config, &scenario).await.unwrap();
    let text = report.render();
    assert!(report.passed(), "{text}");
    assert_eq!(report.backend.tier, Some(BackendKind::Container), "{text}");
    assert_eq!(report.users.len(), 4);
    // The captured id went out again and came back.
    let again = &report.users[0].steps[3].frames[0].0;
    let first = &report.users[0].steps[1].frames[0].0;
    assert_eq!(again["again"], first["id"], "{text}");
    assert_eq!(first["n"], json!(1));
}
