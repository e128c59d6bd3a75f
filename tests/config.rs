//! `RealWebSocketTestConfig`: sources in order, and a clear error for each
//! kind of bad input, with a fake environment.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use ws_harness::access::Credentials;
use ws_harness::config::{
    ConfigError, ConfigSource, ConfiguredToken, ContractSource, Describes, OwnerRule, Readiness,
    SequenceRule, ServiceSource, TranscriptWindow, UnknownKinds,
};
use ws_harness::protocol::EventType;
use ws_harness::{BackendKind, RealWebSocketTestConfig};

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A config file with this text, unique to the test.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ws-harness-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn build(vars: &[(&str, &str)]) -> Result<RealWebSocketTestConfig, ConfigError> {
    RealWebSocketTestConfig::builder()
        .environment(env(vars))
        .build()
}

#[test]
fn defaults_match_the_documented_values() {
    let config = build(&[]).unwrap();
    assert_eq!(config.url, None);
    assert_eq!(
        config.jwt_secret,
        ws_harness::protocol::auth::TEST_JWT_SECRET
    );
    assert_eq!(
        config.required_agent_events,
        ws_harness::protocol::REQUIRED_EVENTS
    );
    assert_eq!(config.concurrent_connections, 10);
    assert_eq!(config.connection_timeout, Duration::from_secs(15));
    assert_eq!(config.event_timeout, Duration::from_secs(10));
    assert_eq!(config.max_retries, 5);
    assert_eq!(config.max_frame_size, 16 * 1024 * 1024);
    assert_eq!(config.max_message_size, 64 * 1024 * 1024);
    assert_eq!(config.transcript_window, TranscriptWindow::default());
    assert_eq!(config.transcript_window.frames, 10_000);
    assert_eq!(config.transcript_window.bytes, 64 * 1024 * 1024);
    assert_eq!(config.service.startup_timeout, Duration::from_secs(30));
    assert!(
        !format!("{config:?}").contains(ws_harness::protocol::auth::TEST_JWT_SECRET),
        "the secret is redacted"
    );
}

#[test]
fn sizes_are_read_in_bytes_or_with_a_unit_and_zero_is_refused() {
    let path = file(
        "sizes.toml",
        "max_frame_size = \"1 MiB\"\nmax_message_size = 4096\ntranscript_frames = 50\ntranscript_bytes = \"2KiB\"\n",
    );
    let config = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap();
    assert_eq!(config.max_frame_size, 1 << 20);
    assert_eq!(config.max_message_size, 4096);
    assert_eq!(
        config.transcript_window,
        TranscriptWindow {
            frames: 50,
            bytes: 2048
        }
    );
    let error = build(&[("WS_HARNESS_MAX_FRAME_SIZE", "lots")]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "bad value for `max_frame_size` in environment variable WS_HARNESS_MAX_FRAME_SIZE: \"lots\" (expected a size in bytes, such as 65536 or \"16 MiB\"); for example WS_HARNESS_MAX_FRAME_SIZE=16MiB"
    );
    let error = build(&[("WS_HARNESS_TRANSCRIPT_BYTES", "0")]).unwrap_err();
    assert!(
        error.to_string().contains("must be more than zero"),
        "{error}"
    );
    let error = RealWebSocketTestConfig::builder()
        .without_environment()
        .max_message_size(0)
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("`max_message_size` in code"),
        "{error}"
    );
}

#[test]
fn a_missing_token_file_names_where_it_was_set_and_a_fix() {
    let path = file(
        "token.toml",
        "event_timeout = \"3s\"\ntoken_file = \"no-such-token\"\n",
    );
    let config = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap();
    let error = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(Credentials::configured(&config))
        .unwrap_err();
    let expected = format!(
        "cannot read token_file {} (set in {}:2); check the path (in ws-harness.toml it is relative to the file's directory, elsewhere to the current directory) and that the file is readable, or give the token with `token` or `token_command`",
        path.parent().unwrap().join("no-such-token").display(),
        path.display()
    );
    assert_eq!(error.to_string(), expected);
}

#[test]
fn file_then_environment_then_code() {
    let path = file(
        "precedence.toml",
        "event_timeout = \"3s\"\nmax_retries = 2\nconcurrent_connections = 4\nrequired_agent_events = [\"agent_started\", \"agent_completed\"]\n",
    );
    let config = RealWebSocketTestConfig::builder()
        .environment(env(&[
            ("WS_HARNESS_CONFIG", path.to_str().unwrap()),
            ("WS_HARNESS_EVENT_TIMEOUT", "500ms"),
            ("WS_HARNESS_MAX_RETRIES", "3"),
        ]))
        .max_retries(1)
        .build()
        .unwrap();
    assert_eq!(config.event_timeout, Duration::from_millis(500));
    assert_eq!(config.max_retries, 1);
    assert_eq!(config.concurrent_connections, 4);
    assert_eq!(
        config.required_agent_events,
        [EventType::AgentStarted, EventType::AgentCompleted]
    );
    assert_eq!(
        config.source_of("concurrent_connections"),
        ConfigSource::File {
            path: path.clone(),
            line: 3
        }
    );
    assert_eq!(
        config.source_of("event_timeout"),
        ConfigSource::Env {
            var: "WS_HARNESS_EVENT_TIMEOUT".into()
        }
    );
    assert_eq!(config.source_of("max_retries"), ConfigSource::Code);
    assert_eq!(
        config.source_of("connection_timeout"),
        ConfigSource::Default
    );
}

#[test]
fn a_bad_variable_names_the_variable_the_value_and_a_good_example() {
    let err = build(&[("WS_HARNESS_EVENT_TIMEOUT", "ten")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad value for `event_timeout` in environment variable WS_HARNESS_EVENT_TIMEOUT: \"ten\" \
         (not a duration: expected number at 0); for example WS_HARNESS_EVENT_TIMEOUT=10s"
    );
    let err = build(&[("WS_HARNESS_CONCURRENT_CONNECTIONS", "0")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a whole number of at least 1"),
        "{err}"
    );
    let err = build(&[("WS_HARNESS_URL", "http://example.test/ws")]).unwrap_err();
    assert!(
        err.to_string().contains("the scheme must be ws or wss"),
        "{err}"
    );
    let err = build(&[(
        "WS_HARNESS_REQUIRED_AGENT_EVENTS",
        "agent_started,agent_done",
    )])
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown event type `agent_done`"),
        "{err}"
    );
}

#[test]
fn a_bad_file_value_names_the_file_and_line() {
    let path = file("bad-value.toml", "# timeouts\nevent_timeout = 10\n");
    let err = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bad value for `event_timeout` in {}:2: 10 (expected a duration with a unit, such as \"500ms\" or \"10s\"); \
             for example event_timeout = \"10s\"",
            path.display()
        )
    );
}

#[test]
fn unknown_keys_in_the_file_are_errors() {
    let path = file(
        "typo.toml",
        "event_timeout = \"1s\"\nevent_timout = \"2s\"\n",
    );
    let err = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "unknown key `event_timout` in {}:2; the keys are url, jwt_secret",
            path.display()
        )),
        "{text}"
    );
}

#[test]
fn a_named_file_must_exist_and_be_toml() {
    let err = build(&[("WS_HARNESS_CONFIG", "/nonexistent/ws-harness.toml")]).unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }), "{err}");
    assert!(
        err.to_string().contains("named by WS_HARNESS_CONFIG"),
        "{err}"
    );
    let path = file("broken.toml", "event_timeout = \n");
    let err = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap_err();
    assert!(matches!(err, ConfigError::NotToml { .. }), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn code_values_are_checked_too() {
    let err = RealWebSocketTestConfig::builder()
        .without_environment()
        .event_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bad value for `event_timeout` in code: \"0s\" (must be more than zero)"),
        "{err}"
    );
}

#[test]
fn a_service_table_in_the_file_is_read_with_paths_relative_to_the_file() {
    let path = file(
        "service.toml",
        "event_timeout = \"2s\"\n\n[service]\ndockerfile = \"svc/Dockerfile\"\nport = 8080\nenv = { JWT_SECRET = \"${jwt_secret}\" }\ncmd = [\"--listen\", \"0.0.0.0:8080\"]\nready = \"http:/healthz=204\"\n",
    );
    let config = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap();
    let dir = path.parent().unwrap();
    assert_eq!(
        config.service.source,
        ServiceSource::Dockerfile {
            dockerfile: dir.join("svc/Dockerfile"),
            context: dir.join("svc"),
        }
    );
    assert_eq!(config.service.port, 8080);
    assert_eq!(config.service.env["JWT_SECRET"], "${jwt_secret}");
    assert_eq!(config.service.cmd, ["--listen", "0.0.0.0:8080"]);
    assert_eq!(
        config.service.ready,
        Readiness::Http {
            path: "/healthz".into(),
            status: Some(204)
        }
    );
    assert_eq!(
        config.source_of("service.port"),
        ConfigSource::File {
            path: path.clone(),
            line: 5
        }
    );
}

/// The `[faults]` section of docs/faults.md is read as its keys.
#[test]
fn a_faults_table_in_the_file_is_read() {
    let path = file(
        "faults.toml",
        "[faults]\nproxy = true\ntoxics = [\"latency 200ms jitter=20ms\"]\nframes = [\"drop kind=agent_thinking times=1\"]\n",
    );
    let config = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap();
    assert!(config.faults.proxy);
    assert_eq!(config.faults.toxics, ["latency 200ms jitter=20ms"]);
    assert_eq!(config.faults.frames, ["drop kind=agent_thinking times=1"]);
    assert_eq!(
        config.source_of("faults.frames"),
        ConfigSource::File { path, line: 4 }
    );
}

#[test]
fn service_variables_take_lists_and_pairs_in_one_line() {
    let config = build(&[
        ("WS_HARNESS_SERVICE_IMAGE", "my-service:dev"),
        ("WS_HARNESS_SERVICE_PORT", "9000"),
        ("WS_HARNESS_SERVICE_ENV", "A=1,B=two=2"),
        ("WS_HARNESS_SERVICE_CMD", "--a 1  --b"),
        ("WS_HARNESS_SERVICE_READY", "log:ready to serve"),
    ])
    .unwrap();
    assert_eq!(
        config.service.source,
        ServiceSource::Image("my-service:dev".into())
    );
    assert_eq!(config.service.env["B"], "two=2");
    assert_eq!(config.service.cmd, ["--a", "1", "--b"]);
    assert_eq!(
        config.service.ready,
        Readiness::Log("ready to serve".into())
    );
}

#[test]
fn bad_service_settings_name_the_keys_where_they_were_set_and_an_example() {
    let e = build(&[
        ("WS_HARNESS_SERVICE_IMAGE", "my-service:dev"),
        ("WS_HARNESS_SERVICE_DOCKERFILE", "Dockerfile"),
        ("WS_HARNESS_SERVICE_PORT", "80"),
    ])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`service.image` (environment variable WS_HARNESS_SERVICE_IMAGE) and `service.dockerfile` (environment variable WS_HARNESS_SERVICE_DOCKERFILE) cannot both be set; keep one of them"
    );
    let e = build(&[("WS_HARNESS_SERVICE_IMAGE", "my-service:dev")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`service.image` (environment variable WS_HARNESS_SERVICE_IMAGE) needs `service.port` as well; for example service.port = 8080 (the port the service listens on inside the container)"
    );
    let e = build(&[("WS_HARNESS_SERVICE_CONTEXT", ".")]).unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::NeedsKey {
                key: "service.context",
                missing: "service.dockerfile",
                ..
            }
        ),
        "{e}"
    );
    let e = build(&[("WS_HARNESS_SERVICE_COMPOSE_FILE", "compose.yaml")]).unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::NeedsKey {
                missing: "service.compose_service",
                ..
            }
        ),
        "{e}"
    );
    let bad = [
        (
            "WS_HARNESS_SERVICE_IMAGE",
            "no-tag",
            "expected name:tag (the image is used as present, never pulled); for example WS_HARNESS_SERVICE_IMAGE=my-service:dev",
        ),
        (
            "WS_HARNESS_SERVICE_PORT",
            "70000",
            "expected a port, 1 to 65535; for example WS_HARNESS_SERVICE_PORT=8080",
        ),
        (
            "WS_HARNESS_SERVICE_WS_PATH",
            "ws",
            "must start with /; for example WS_HARNESS_SERVICE_WS_PATH=/ws",
        ),
        (
            "WS_HARNESS_SERVICE_ENV",
            "NOVALUE",
            "expected NAME=value pairs, comma-separated; for example WS_HARNESS_SERVICE_ENV=JWT_SECRET=${jwt_secret},LOG=debug",
        ),
        (
            "WS_HARNESS_SERVICE_READY",
            "http:healthz",
            "expected websocket, http:<path> (e.g. http:/healthz or http:/healthz=204), log:<text> or reference; for example WS_HARNESS_SERVICE_READY=http:/healthz",
        ),
        (
            "WS_HARNESS_SERVICE_STARTUP_TIMEOUT",
            "0s",
            "must be more than zero; for example WS_HARNESS_SERVICE_STARTUP_TIMEOUT=30s",
        ),
    ];
    for (var, value, tail) in bad {
        let e = build(&[(var, value)]).unwrap_err().to_string();
        assert!(e.contains(&format!("{var}: \"{value}\"")), "{e}");
        let (problem, example) = tail.split_once("; for example ").unwrap();
        assert!(e.contains(&format!("({problem})")), "{e}");
        assert!(e.ends_with(&format!("for example {example}")), "{e}");
    }
    let path = file(
        "bad-service.toml",
        "[service]\nimage = \"x:1\"\nport = \"eighty\"\n",
    );
    let e = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())])
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("{}:3", path.display())), "{e}");
    assert!(e.ends_with("for example service.port = 8080"), "{e}");
}

#[test]
fn access_settings_from_a_file_are_read_with_paths_relative_to_the_file() {
    let path = file(
        "access",
        "staging_url = \"wss://staging.example/ws\"\n\
         token_file = \"secrets/staging.token\"\n\
         headers = { Origin = \"https://app.example\", X-Api-Key = \"k-123\" }\n\
         tls_ca_file = \"certs/ca.pem\"\n\
         tls_client_cert = \"certs/client.pem\"\n\
         tls_client_key = \"certs/client.key\"\n",
    );
    let config = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap();
    let dir = path.parent().unwrap();
    assert_eq!(
        config.token,
        Some(ConfiguredToken::File(dir.join("secrets/staging.token")))
    );
    assert_eq!(config.headers.to_string(), "origin, x-api-key");
    assert_eq!(config.tls.ca_file, Some(dir.join("certs/ca.pem")));
    assert_eq!(config.tls.client_key, Some(dir.join("certs/client.key")));
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("k-123") && !shown.contains("app.example"),
        "{shown}"
    );
    let config = build(&[("WS_HARNESS_TOKEN", "t-secret-1")]).unwrap();
    assert!(!format!("{config:?}").contains("t-secret-1"));
}

#[test]
fn bad_access_settings_name_the_keys_where_they_were_set_and_an_example() {
    let e = build(&[
        ("WS_HARNESS_TOKEN", "t"),
        (
            "WS_HARNESS_TOKEN_COMMAND",
            "gcloud auth print-identity-token",
        ),
    ])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`token` (environment variable WS_HARNESS_TOKEN) and `token_command` (environment variable WS_HARNESS_TOKEN_COMMAND) cannot both be set; keep one of them"
    );
    let e = build(&[
        ("WS_HARNESS_TLS_CA_FILE", "ca.pem"),
        ("WS_HARNESS_TLS_INSECURE_SKIP_VERIFY", "true"),
    ])
    .unwrap_err();
    assert!(matches!(e, ConfigError::ExclusiveKeys { .. }), "{e}");
    let e = build(&[("WS_HARNESS_TLS_CLIENT_CERT", "client.pem")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`tls_client_cert` (environment variable WS_HARNESS_TLS_CLIENT_CERT) needs `tls_client_key` as well; for example tls_client_key = \"certs/client.key\""
    );
    let bad = [
        (
            "WS_HARNESS_HEADERS",
            "Bad Name=secret-1",
            "Bad Name=<redacted> (`Bad Name` is not a header name); for example WS_HARNESS_HEADERS=Origin=https://app.example,X-Api-Key=k-123",
        ),
        (
            "WS_HARNESS_HEADERS",
            "Host=secret-2.example",
            "(`Host` is set by the WebSocket handshake itself); for example",
        ),
        (
            "WS_HARNESS_HEADERS",
            "X-Api-Key:secret-3",
            "(values not shown) (expected Name=value pairs, comma-separated); for example",
        ),
        (
            "WS_HARNESS_TLS_INSECURE_SKIP_VERIFY",
            "yes",
            "(expected true or false); for example WS_HARNESS_TLS_INSECURE_SKIP_VERIFY=true",
        ),
        (
            "WS_HARNESS_TOKEN_COMMAND",
            "  ",
            "(must not be empty); for example WS_HARNESS_TOKEN_COMMAND=gcloud auth print-identity-token",
        ),
    ];
    for (var, value, expected) in bad {
        let e = build(&[(var, value)]).unwrap_err();
        assert!(e.to_string().contains(expected), "{var}={value}: {e}");
        // A header's value is never shown, only its name.
        assert!(!e.to_string().contains("secret-"), "{e}");
    }
}

/// The builder keeps typed values as given: a contract file named `none`
/// stays a file (it once came back as "no contract").
#[test]
fn code_values_are_kept_as_given() {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_source(ContractSource::File("none".into()))
        .staging_ready(Readiness::Http {
            path: "/ready?deep=1".into(),
            status: Some(204),
        })
        .build()
        .unwrap();
    assert_eq!(config.contract.source, ContractSource::File("none".into()));
    assert_eq!(
        config.staging_ready,
        Readiness::Http {
            path: "/ready?deep=1".into(),
            status: Some(204)
        }
    );
}

/// Every `contract.*` key has its setter, and the same value from code,
/// the file and the variables makes the same settings.
#[test]
fn the_contract_keys_are_the_same_from_every_source() {
    let code = RealWebSocketTestConfig::builder()
        .without_environment()
        .contract_kind_field("kind")
        .contract_unknown_kinds(UnknownKinds::Allow)
        .contract_describes(Describes::Client)
        .contract_sequence_field("seq")
        .contract_sequence(SequenceRule::Increasing)
        .contract_sequence_restart_field("from")
        .contract_owner_field("user")
        .contract_owner(OwnerRule::Value("bot".into()))
        .contract_forbidden_fields(["data", "payload"])
        .contract_run_field("run")
        .contract_run_events(["started", "done"])
        .contract_terminal_kinds(["done"])
        .contract_resume_frame(r#"{"op": "resume", "after": "${last}"}"#.parse().unwrap())
        .contract_resume_reply("resumed")
        .build()
        .unwrap();
    let path = file(
        "contract-keys.toml",
        "[contract]\nkind_field = \"kind\"\nunknown_kinds = \"allow\"\ndescribes = \"client\"\nsequence_field = \"seq\"\n\
         sequence = \"increasing\"\nsequence_restart_field = \"from\"\nowner_field = \"user\"\n\
         owner = \"bot\"\nforbidden_fields = [\"data\", \"payload\"]\nrun_field = \"run\"\n\
         run_events = [\"started\", \"done\"]\nterminal_kinds = [\"done\"]\n\
         resume_frame = '{\"op\": \"resume\", \"after\": \"${last}\"}'\nresume_reply = \"resumed\"\n",
    );
    let from_file = build(&[("WS_HARNESS_CONFIG", path.to_str().unwrap())]).unwrap();
    let from_variables = build(&[
        ("WS_HARNESS_CONTRACT_KIND_FIELD", "kind"),
        ("WS_HARNESS_CONTRACT_UNKNOWN_KINDS", "allow"),
        ("WS_HARNESS_CONTRACT_DESCRIBES", "client"),
        ("WS_HARNESS_CONTRACT_SEQUENCE_FIELD", "seq"),
        ("WS_HARNESS_CONTRACT_SEQUENCE", "increasing"),
        ("WS_HARNESS_CONTRACT_SEQUENCE_RESTART_FIELD", "from"),
        ("WS_HARNESS_CONTRACT_OWNER_FIELD", "user"),
        ("WS_HARNESS_CONTRACT_OWNER", "bot"),
        ("WS_HARNESS_CONTRACT_FORBIDDEN_FIELDS", "data,payload"),
        ("WS_HARNESS_CONTRACT_RUN_FIELD", "run"),
        ("WS_HARNESS_CONTRACT_RUN_EVENTS", "started,done"),
        ("WS_HARNESS_CONTRACT_TERMINAL_KINDS", "done"),
        (
            "WS_HARNESS_CONTRACT_RESUME_FRAME",
            r#"{"op": "resume", "after": "${last}"}"#,
        ),
        ("WS_HARNESS_CONTRACT_RESUME_REPLY", "resumed"),
    ])
    .unwrap();
    assert_eq!(code.contract, from_file.contract);
    assert_eq!(code.contract, from_variables.contract);
    assert_eq!(code.contract.unknown_kinds, UnknownKinds::Allow);
    assert_eq!(code.contract.describes, Describes::Client);
    assert_eq!(code.contract.owner, OwnerRule::Value("bot".into()));
    assert_eq!(code.source_of("contract.run_field"), ConfigSource::Code);
}

/// Code values pass the same checks as the file's, with the same words.
#[test]
fn bad_code_values_name_the_key_and_a_good_example() {
    let build_code = |builder: ws_harness::ConfigBuilder| {
        builder
            .without_environment()
            .build()
            .unwrap_err()
            .to_string()
    };
    let e = build_code(
        RealWebSocketTestConfig::builder().url("http://example.test/ws".parse().unwrap()),
    );
    assert_eq!(
        e,
        "bad value for `url` in code: \"http://example.test/ws\" (the scheme must be ws or wss); for example url = \"ws://127.0.0.1:8765/ws\""
    );
    let e = build_code(RealWebSocketTestConfig::builder().headers([("Bad Name", "secret-value")]));
    assert!(
        e.contains("in code: Bad Name=<redacted> (`Bad Name` is not a header name)"),
        "{e}"
    );
    assert!(!e.contains("secret-value"), "{e}");
    let e = build_code(RealWebSocketTestConfig::builder().backend([]));
    assert!(e.contains("(name at least one tier, or auto)"), "{e}");
    let e = build_code(
        RealWebSocketTestConfig::builder().backend([BackendKind::Mock, BackendKind::Mock]),
    );
    assert!(e.contains("(mock is named twice)"), "{e}");
    let e =
        build_code(RealWebSocketTestConfig::builder().service_ready(Readiness::Log(String::new())));
    assert!(e.contains("`service.ready` in code"), "{e}");
    let e = build_code(RealWebSocketTestConfig::builder().contract_kind_field(""));
    assert!(e.contains("(must not be empty)"), "{e}");
}

/// A resume frame must be JSON, with placeholders it has values for.
#[test]
fn a_bad_resume_frame_says_what_is_wrong_and_how_to_write_it() {
    let e = build(&[("WS_HARNESS_CONTRACT_RESUME_FRAME", "{op: resume}")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad value for `contract.resume_frame` in environment variable WS_HARNESS_CONTRACT_RESUME_FRAME: \"{op: resume}\" (not JSON"), "{e}");
    assert!(
        e.contains(r#"WS_HARNESS_CONTRACT_RESUME_FRAME={"op": "resume", "after": "${last}"}"#),
        "{e}"
    );
    let e = build(&[(
        "WS_HARNESS_CONTRACT_RESUME_FRAME",
        r#"{"after": "${cursor}"}"#,
    )])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`${cursor}` has no value in a resume frame: it may use `${last}`"),
        "{e}"
    );
    let e = build(&[("WS_HARNESS_CONTRACT_RESUME_FRAME", r#"{"after": "${last"}"#)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`${last` is not a placeholder"), "{e}");
}
