//! Import validation: every public item is named here,
//! so a renamed or removed item fails this build instead of a user's.

use std::any::type_name;

use ws_harness::auth::{
    AUTH_SUBPROTOCOL, AuthError, Claims, JwtAuth, TEST_JWT_SECRET, TOKEN_SUBPROTOCOL_PREFIX,
    TokenProblem, TokenSource, bearer_request, subject_of, token_from_headers,
};
use ws_harness::check::{CheckReport, UserReport, check};
use ws_harness::circuit_breaker::{
    CallError, CircuitBreaker, CircuitBreakerConfig, CircuitBreakerState, CircuitOpen,
};
use ws_harness::engine::{Candidate, EngineSettingError, FoundBy, search_order};
use ws_harness::fixtures::{backend, client_factory, config};
use ws_harness::load::{
    LoadError, LoadPlan, LoadReport, connect_user, golden_path_run, rss_bytes, run,
};
use ws_harness::process::{LISTENING_ON, ServerProcess};
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
use ws_harness::{
    Access, AccessError, BadHeader, ClientTls, ConfiguredToken, Contract, ContractError,
    ContractSettings, ContractSource, ContractStream, HandshakeHeaders, OwnerRule, Rule,
    SchemaProblem, SequenceRule, Socket, TOKEN_COMMAND_TIMEOUT, TlsError, TlsSettings, TokenError,
    Violation,
};
use ws_harness::{
    BackendError, BackendInfo, BackendKind, CONFIG_FILE_NAME, CONFIG_FILE_VAR, CONTAINER_LABEL,
    ClientError, ClientOptions, ComposeError, ConfigBuilder, ConfigError, ConfigSource,
    ConnectError, ContainerRef, Credentials, DockerEnvironment, Environment, ExpectationFailed,
    FrameMatcher, HttpCheckError, InProcessBackend, InProcessError, MaxRetriesExceeded, NoEngine,
    ProbeOutcome, ProcessEnvironment, RealWebSocketTestConfig, ReceivedFrame, Resolution,
    ResumeReport, SaveError, SkipReason, TestClient, TestClientFactory, TierAttempt, TierOutcome,
    Transcript, TranscriptWindow, Tried, UnknownTier, error_code, event, frame, transcript_dir,
};

#[test]
fn every_public_item_is_importable() {
    let types = [
        type_name::<AuthError>(),
        type_name::<Claims>(),
        type_name::<JwtAuth>(),
        type_name::<TokenProblem>(),
        type_name::<TokenSource>(),
        type_name::<CheckReport>(),
        type_name::<UserReport>(),
        type_name::<LoadPlan>(),
        type_name::<LoadReport>(),
        type_name::<LoadError>(),
        type_name::<CallError<()>>(),
        type_name::<CircuitBreaker>(),
        type_name::<CircuitBreakerConfig>(),
        type_name::<CircuitBreakerState>(),
        type_name::<CircuitOpen>(),
        type_name::<BackendError>(),
        type_name::<BackendInfo>(),
        type_name::<BackendKind>(),
        type_name::<ContainerRef>(),
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
    let _ = check;
    let _ = run;
    let _ = rss_bytes;
    let _ = (
        connect_user,
        golden_path_run,
        bind,
        InProcessBackend::start_with,
    );
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
