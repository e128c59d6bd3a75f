//! Import validation: every public item is named here,
//! so a renamed or removed item fails this build instead of a user's.

use std::any::type_name;
use std::collections::BTreeMap;

use ws_harness::access::Credentials;
use ws_harness::access::{
    AccessError, ClientTls, ProxyRoute, Socket, TOKEN_COMMAND_TIMEOUT, TlsError, TokenError,
};
use ws_harness::chain::NotReady;
use ws_harness::chain::{
    BackendError, HttpCheckError, InProcessBackend, InProcessError, Resolution, SkipReason,
    TierAttempt, TierOutcome,
};
use ws_harness::chain::{Chain, OwnProtocol, OwnServer, OwnServerError, Shutdown};
use ws_harness::circuit_breaker::{
    CallError, CircuitBreaker, CircuitBreakerConfig, CircuitBreakerState, CircuitOpen,
};
use ws_harness::client::{
    ClientError, ClientOptions, ConnectError, MaxRetriesExceeded, Problem, ReceivedFrame, Resume,
    ResumeReport, SaveError, Transcript, transcript_dir,
};
use ws_harness::config::{
    BadHeader, ConfiguredToken, ContractSettings, ContractSource, Describes, HandshakeHeaders,
    OwnerRule, SequenceRule, TlsSettings, UnknownKinds,
};
use ws_harness::config::{
    BadReadiness, FaultSettings, Readiness, ServiceDefinition, ServiceSource,
};
use ws_harness::config::{
    CONFIG_FILE_NAME, CONFIG_FILE_VAR, ConfigError, ConfigSource, DockerEnvironment, Environment,
    ProcessEnvironment, TranscriptWindow, UnknownTier,
};
use ws_harness::config::{Template, TemplateError};
use ws_harness::container::engine::{Candidate, EngineSettingError, FoundBy, search_order};
use ws_harness::container::{
    CONTAINER_LABEL, ComposeError, ContainerError, ContainerRef, NoEngine, ProbeOutcome, Tried,
};
use ws_harness::container::{ImageError, ServiceImageError, reference_image};
use ws_harness::scenario::{
    Action, CheckError, CheckReport, Expectation, MatcherTemplate, Mistake, ScenarioError,
    ScenarioFile, Step, StepError, StepFailure, StepOutcome, StepUsers, UserOutcome, check,
};
// The testcontainers items exist with that feature only (CI builds it).
#[cfg(feature = "testcontainers")]
use ws_harness::container::{RequestError, ServiceRequest};
use ws_harness::contract::Direction;
use ws_harness::contract::{ContractError, ContractStream, Rule, SchemaProblem};
use ws_harness::faults::{
    Corruption, Fault, FaultError, FaultId, FaultProxy, FaultTextError, FrameFault, FrameFaultKind,
    Toxic, ToxicKind,
};
use ws_harness::fixtures::{backend, client_factory, config};
use ws_harness::load::{LoadPlan, LoadReport, ReportFileError, rss_bytes, run, run_with_progress};
use ws_harness::mock::{
    ClientFrame, ContractViolations, DEFAULT_PRIORITY, FnMatcher, Handshake, Matcher, Mock,
    MockConnection, MockConnectionId, MockError, MockReport, MockServer, MockServerBuilder, Peer,
    Recipients, Respond, Times, UnmatchedFrames, VerificationFailed, binary, header, path,
    query_param, regex, subject, subprotocol, text,
};
use ws_harness::process::ServerProcess;
use ws_harness::protocol::LISTENING_ON;
use ws_harness::protocol::auth::{
    AUTH_SUBPROTOCOL, AuthError, Claims, JwtAuth, TEST_JWT_SECRET, TOKEN_SUBPROTOCOL_PREFIX,
    TokenProblem, TokenSource, bearer_request, offered_subprotocols, subject_of,
    token_from_headers,
};
use ws_harness::protocol::{
    AgentEvent, ClientMessage, ErrorCode, EventKind, EventType, MAX_CONTENT_BYTES, MAX_ID_CHARS,
    PROTOCOL_VERSION, ProtocolError, REQUIRED_EVENTS, Reply, Scenario, UnknownEventType,
    UserMessage, close_code,
};
use ws_harness::server::{
    AgentHandler, AlertKind, ConnectionId, ConnectionManager, EventMetrics, EventMonitor,
    EventTiming, EventTracker, LISTEN_BACKLOG, LatencyMeasurement, Limits, MissingCriticalEvent,
    PerformanceAlert, PerformanceMetrics, PerformanceMonitor, PerformanceThresholds,
    RateLimitConfig, RateLimitExceeded, RateLimitKind, RateLimiter, ReconnectionSession,
    ReconnectionState, Server, ServerConfig, ServerError, ThroughputMetrics, bind,
};
use ws_harness::server::{
    IDLE_EXIT_VAR, IMAGE_LISTEN, LISTEN_VAR, SECRET_VAR, TEST_MODE_VAR, run_from_env,
    shutdown_signal,
};
use ws_harness::{Access, Contract, Violation};
use ws_harness::{
    BackendInfo, BackendKind, ConfigBuilder, ExpectationFailed, FrameMatcher,
    RealWebSocketTestConfig, TestClient, TestClientFactory, error_code, event, frame,
};

#[test]
fn every_public_item_is_importable() {
    #[cfg(feature = "testcontainers")]
    assert!(
        type_name::<ServiceRequest>().ends_with("ServiceRequest")
            && !type_name::<RequestError>().is_empty()
    );
    let types = [
        type_name::<ProxyRoute>(),
        type_name::<CheckError>(),
        type_name::<FaultSettings>(),
        type_name::<Corruption>(),
        type_name::<Fault>(),
        type_name::<FaultError>(),
        type_name::<FaultId>(),
        type_name::<FaultProxy>(),
        type_name::<FaultTextError>(),
        type_name::<FrameFault>(),
        type_name::<FrameFaultKind>(),
        type_name::<Toxic>(),
        type_name::<ToxicKind>(),
        type_name::<ClientFrame>(),
        type_name::<MockConnectionId>(),
        type_name::<ContractViolations>(),
        type_name::<FnMatcher>(),
        type_name::<Handshake>(),
        type_name::<Mock>(),
        type_name::<MockConnection>(),
        type_name::<MockError>(),
        type_name::<MockReport>(),
        type_name::<MockServer>(),
        type_name::<MockServerBuilder>(),
        type_name::<Respond>(),
        type_name::<Peer<'_>>(),
        type_name::<Recipients>(),
        type_name::<Times>(),
        type_name::<UnmatchedFrames>(),
        type_name::<VerificationFailed>(),
        type_name::<BadReadiness>(),
        type_name::<Direction>(),
        type_name::<ImageError>(),
        type_name::<NotReady>(),
        type_name::<Readiness>(),
        type_name::<ServiceDefinition>(),
        type_name::<ServiceImageError>(),
        type_name::<ServiceSource>(),
        type_name::<AuthError>(),
        type_name::<Claims>(),
        type_name::<JwtAuth>(),
        type_name::<TokenProblem>(),
        type_name::<TokenSource>(),
        type_name::<CheckReport>(),
        type_name::<ScenarioFile>(),
        type_name::<ScenarioError>(),
        type_name::<Mistake>(),
        type_name::<Step>(),
        type_name::<StepUsers>(),
        type_name::<Action>(),
        type_name::<Expectation>(),
        type_name::<MatcherTemplate>(),
        type_name::<StepOutcome>(),
        type_name::<StepFailure>(),
        type_name::<StepError>(),
        type_name::<UserOutcome>(),
        type_name::<Template>(),
        type_name::<TemplateError>(),
        type_name::<Resume>(),
        type_name::<LoadPlan>(),
        type_name::<LoadReport>(),
        type_name::<ReportFileError>(),
        type_name::<CallError<()>>(),
        type_name::<CircuitBreaker>(),
        type_name::<CircuitBreakerConfig>(),
        type_name::<CircuitBreakerState>(),
        type_name::<CircuitOpen>(),
        type_name::<BackendError>(),
        type_name::<BackendInfo>(),
        type_name::<BackendKind>(),
        type_name::<ContainerRef>(),
        type_name::<ContainerError>(),
        type_name::<DockerEnvironment>(),
        type_name::<Credentials>(),
        type_name::<Candidate>(),
        type_name::<EngineSettingError>(),
        type_name::<FoundBy>(),
        type_name::<ComposeError>(),
        type_name::<NoEngine>(),
        type_name::<ProbeOutcome>(),
        type_name::<Tried>(),
        type_name::<Resolution>(),
        type_name::<TierAttempt>(),
        type_name::<TierOutcome>(),
        type_name::<Chain<'_>>(),
        type_name::<OwnProtocol>(),
        type_name::<Describes>(),
        type_name::<OwnServer>(),
        type_name::<OwnServerError>(),
        type_name::<Shutdown>(),
        type_name::<ClientError>(),
        type_name::<ClientOptions>(),
        type_name::<ConfigBuilder>(),
        type_name::<ConfigError>(),
        type_name::<ConfigSource>(),
        type_name::<dyn Environment>(),
        type_name::<ExpectationFailed>(),
        type_name::<FrameMatcher>(),
        type_name::<InProcessBackend>(),
        type_name::<MaxRetriesExceeded>(),
        type_name::<ProcessEnvironment>(),
        type_name::<RealWebSocketTestConfig>(),
        type_name::<ReceivedFrame>(),
        type_name::<ResumeReport>(),
        type_name::<TestClient>(),
        type_name::<TestClientFactory>(),
        type_name::<Transcript>(),
        type_name::<Problem>(),
        type_name::<TranscriptWindow>(),
        type_name::<AgentEvent>(),
        type_name::<ClientMessage>(),
        type_name::<ErrorCode>(),
        type_name::<EventKind>(),
        type_name::<EventType>(),
        type_name::<ProtocolError>(),
        type_name::<Reply>(),
        type_name::<Scenario>(),
        type_name::<UnknownEventType>(),
        type_name::<UserMessage>(),
        type_name::<AgentHandler>(),
        type_name::<AlertKind>(),
        type_name::<ConnectionId>(),
        type_name::<ConnectionManager>(),
        type_name::<EventMetrics>(),
        type_name::<EventMonitor>(),
        type_name::<EventTiming>(),
        type_name::<EventTracker>(),
        type_name::<LatencyMeasurement>(),
        type_name::<Limits>(),
        type_name::<MissingCriticalEvent>(),
        type_name::<PerformanceAlert>(),
        type_name::<PerformanceMetrics>(),
        type_name::<PerformanceMonitor>(),
        type_name::<PerformanceThresholds>(),
        type_name::<RateLimitConfig>(),
        type_name::<RateLimitExceeded>(),
        type_name::<RateLimitKind>(),
        type_name::<RateLimiter>(),
        type_name::<ReconnectionSession>(),
        type_name::<ReconnectionState>(),
        type_name::<Server>(),
        type_name::<ServerConfig>(),
        type_name::<ServerError>(),
        type_name::<ThroughputMetrics>(),
        type_name::<ServerProcess>(),
        type_name::<ConnectError>(),
        type_name::<HttpCheckError>(),
        type_name::<InProcessError>(),
        type_name::<SaveError>(),
        type_name::<SkipReason>(),
        type_name::<UnknownTier>(),
        type_name::<Access>(),
        type_name::<AccessError>(),
        type_name::<BadHeader>(),
        type_name::<ClientTls>(),
        type_name::<ConfiguredToken>(),
        type_name::<HandshakeHeaders>(),
        type_name::<TlsError>(),
        type_name::<TlsSettings>(),
        type_name::<TokenError>(),
        type_name::<Contract>(),
        type_name::<ContractError>(),
        type_name::<ContractSettings>(),
        type_name::<ContractSource>(),
        type_name::<ContractStream>(),
        type_name::<OwnerRule>(),
        type_name::<Rule>(),
        type_name::<SequenceRule>(),
        type_name::<UnknownKinds>(),
        type_name::<Violation>(),
        type_name::<SchemaProblem>(),
    ];
    assert!(
        types
            .iter()
            .all(|name| name.contains("ws_harness") || name.contains("u64"))
    );

    // Functions, constants and fixtures, each used once.
    let _ = token_from_headers;
    let _ = offered_subprotocols;
    let _ = (run_from_env, shutdown_signal, reference_image);
    assert_eq!(
        [
            IDLE_EXIT_VAR,
            LISTEN_VAR,
            SECRET_VAR,
            TEST_MODE_VAR,
            IMAGE_LISTEN
        ],
        [
            "WS_HARNESS_SERVER_IDLE_EXIT",
            "WS_HARNESS_SERVER_LISTEN",
            "WS_JWT_SECRET",
            "WS_HARNESS_SERVER_TEST_MODE",
            "0.0.0.0:8765"
        ]
    );
    // The mock's matchers, made once each.
    let _: [Matcher; 8] = [
        binary(vec![1]),
        header("x", "y"),
        path("/"),
        query_param("a", "b"),
        regex("^a").unwrap(),
        subject("alice"),
        subprotocol("v1"),
        text("t"),
    ];
    assert_eq!(DEFAULT_PRIORITY, 5);
    let _ = check;
    let _ = run;
    async fn with_progress(c: &TestClientFactory, p: &LoadPlan) -> LoadReport {
        run_with_progress(c, p, || {}).await
    }
    let _ = with_progress;
    let _ = rss_bytes;
    let _ = (bind, InProcessBackend::start_with);
    let _: Option<Socket> = None;
    assert_eq!(TOKEN_COMMAND_TIMEOUT.as_secs(), 30);
    assert_eq!(LISTEN_BACKLOG, 1024);
    assert_eq!(RateLimitConfig::LIFTED.message_burst, 1_000_000_000);
    let _ = transcript_dir;
    let _ = search_order;
    let _ = bearer_request;
    let _ = subject_of;
    let _ = event("agent_started");
    let _ = frame;
    let _ = error_code;
    let _ = (config, backend, client_factory);
    assert!(
        !TEST_JWT_SECRET.is_empty()
            && AUTH_SUBPROTOCOL == "jwt-auth"
            && TOKEN_SUBPROTOCOL_PREFIX == "jwt."
    );
    assert_eq!(
        (CONFIG_FILE_NAME, CONFIG_FILE_VAR),
        ("ws-harness.toml", "WS_HARNESS_CONFIG")
    );
    assert_eq!(
        (PROTOCOL_VERSION, MAX_ID_CHARS, MAX_CONTENT_BYTES),
        (1, 128, 64 * 1024)
    );
    assert_eq!(REQUIRED_EVENTS.len(), 5);
    assert_eq!(CONTAINER_LABEL, "dev.ws-harness.backend");
    assert_eq!(LISTENING_ON, "listening on ");
    assert_eq!(
        [
            close_code::GOING_AWAY,
            close_code::PROTOCOL_ERROR,
            close_code::UNSUPPORTED_DATA,
            close_code::INVALID_PAYLOAD,
            close_code::POLICY_VIOLATION,
            close_code::MESSAGE_TOO_BIG,
        ],
        [1001, 1002, 1003, 1007, 1008, 1009]
    );
}

/// Every public item of every feature, as rustdoc's JSON lists it, is
/// named by this file's imports, so an item added without a place here
/// fails CI. The JSON comes from nightly rustdoc (`.ci/run` makes it):
/// `cargo +nightly rustdoc --lib --all-features -- -Z unstable-options
/// --output-format json`.
#[test]
#[ignore = "needs WS_HARNESS_RUSTDOC_JSON (rustdoc's JSON of the crate, made on nightly); .ci/run runs it"]
fn every_public_item_is_named_here() {
    let path = std::env::var("WS_HARNESS_RUSTDOC_JSON").expect(
        "WS_HARNESS_RUSTDOC_JSON names rustdoc's JSON of the crate (see this test's doc; .ci/run sets it)",
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("rustdoc's JSON parses");
    let mut public = BTreeMap::new();
    public_items(&doc, &doc["root"], "", &mut public);
    assert!(public.len() > 100, "too few public items read: {public:?}");
    let source = include_str!("public_api.rs");
    let imported = imports(source);
    // An item re-exported in two places is named by either path.
    let missing: Vec<&Vec<String>> = public
        .values()
        .filter(|paths| !paths.iter().any(|path| is_named(path, &imported, source)))
        .collect();
    assert!(
        missing.is_empty(),
        "{} public items are not named in tests/public_api.rs; import each and use it in \
         `every_public_item_is_importable`: {missing:#?}",
        missing.len()
    );
}

/// The paths (`mock::MockServer`) of the items a user can name, by item,
/// walking the modules from `module` (an id of rustdoc's index) through
/// their items and re-exports. Modules themselves are walked, not listed.
fn public_items(
    doc: &serde_json::Value,
    module: &serde_json::Value,
    at: &str,
    out: &mut BTreeMap<String, Vec<String>>,
) {
    let index = &doc["index"];
    let item = &index[id_key(module)];
    for child in item["inner"]["module"]["items"]
        .as_array()
        .expect("a module lists its items")
    {
        let child = &index[id_key(child)];
        let (name, target_id) = match child["inner"].get("use") {
            // A re-export: its name here, the item it names elsewhere.
            Some(re_export) => (re_export["name"].as_str(), id_key(&re_export["id"])),
            None => (child["name"].as_str(), id_key(&child["id"])),
        };
        let target = &index[&target_id];
        let Some(name) = name else { continue };
        let path = if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}::{name}")
        };
        match target["inner"]
            .as_object()
            .and_then(|inner| inner.keys().next())
            .map(String::as_str)
        {
            Some("module") => public_items(doc, &target["id"], &path, out),
            Some("impl") => {}
            // An item of the crate, or a re-export of another crate's.
            _ => out.entry(target_id).or_default().push(path),
        }
    }
}

/// An index key: ids are numbers in the JSON's values, strings as keys.
fn id_key(id: &serde_json::Value) -> String {
    match id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The paths `use ws_harness::…;` imports in `source`, without the crate
/// name: `mock::{Mock, MockServer}` gives `mock::Mock` and `mock::MockServer`.
fn imports(source: &str) -> Vec<String> {
    // `Name as Alias` imports `Name`.
    let unaliased = |name: &str| {
        name.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let mut paths = Vec::new();
    for statement in source.split("use ws_harness::").skip(1) {
        let statement = statement.split(';').next().unwrap_or_default();
        match statement.split_once('{') {
            Some((prefix, list)) => paths.extend(
                list.trim_end()
                    .trim_end_matches('}')
                    .split(',')
                    .map(unaliased)
                    .filter(|name| !name.is_empty())
                    .map(|name| format!("{}{name}", prefix.trim())),
            ),
            None => paths.push(unaliased(statement)),
        }
    }
    paths
}

/// Whether `item` is imported, or its module is and `source` names it
/// through the module (`close_code::GOING_AWAY`).
fn is_named(item: &str, imported: &[String], source: &str) -> bool {
    if imported.iter().any(|path| path == item) {
        return true;
    }
    let Some((module, name)) = item.rsplit_once("::") else {
        return false;
    };
    let last = module.rsplit("::").next().unwrap_or(module);
    imported.iter().any(|path| path == module) && source.contains(&format!("{last}::{name}"))
}
