//! `wss://` staging and `url` servers with real TLS on loopback: a reference
//! server with a secret of its own behind a TLS listener, certificates made
//! at test time. This test binary has both rustls providers compiled in
//! (ring and aws-lc-rs, through the dev-dependencies) and no process
//! default installed: the situation in which building a TLS config from
//! rustls' default panics.

mod common;

use common::TestServer;
use common::python::PythonPeer;
use common::tls::{Pki, Relay};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use ws_harness::access::{AccessError, Credentials, TlsError, TokenError};
use ws_harness::chain::{BackendError, SkipReason};
use ws_harness::config::{ContractSource, Readiness};
use ws_harness::protocol::auth::JwtAuth;
use ws_harness::server::ServerConfig;
use ws_harness::{BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory};

const STAGING_SECRET: &str = "staging-secret-of-its-own";

/// A reference server that checks `STAGING_SECRET`, behind TLS.
async fn staging(pki: &Pki, client_auth: bool) -> (TestServer, Relay) {
    let server = TestServer::with_config(ServerConfig {
        jwt_secret: Some(STAGING_SECRET.to_owned()),
        ..ServerConfig::test_mode()
    })
    .await;
    let front = Relay::tls(pki.server_config(client_auth), server.addr).await;
    (server, front)
}

/// A config with only these variables, no Docker engine, staging forced.
fn staging_config(front: &Relay, vars: &[(&str, &str)]) -> RealWebSocketTestConfig {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("WS_HARNESS_STAGING_URL".into(), front.url().to_string());
    env.insert("WS_HARNESS_BACKEND".into(), "staging".into());
    env.insert(
        "DOCKER_HOST".into(),
        "unix:///tmp/ws-harness-tls-no-docker.sock".into(),
    );
    RealWebSocketTestConfig::builder()
        .environment(env)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Connects alice and runs the golden path: five events.
async fn golden_path(config: RealWebSocketTestConfig, backend: BackendInfo) {
    golden_path_as(config, backend, "alice").await;
}

/// Connects `user` and runs the golden path: five events.
async fn golden_path_as(config: RealWebSocketTestConfig, backend: BackendInfo, user: &str) {
    let factory = TestClientFactory::new(config, backend).unwrap();
    let mut alice = factory.client(user).await.unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    let events = alice.expect_required_events("m-1").await.unwrap();
    assert_eq!(events.len(), 5);
}

/// Why the forced staging tier could not be had, in the report's words.
fn staging_failure(result: Result<BackendInfo, BackendError>) -> String {
    match result {
        Err(BackendError::Required { resolution, .. }) => resolution.to_string(),
        other => panic!("staging was had: {other:?}"),
    }
}

/// Also: both providers compiled in, none installed, so rustls' own
/// default path panics in this binary; the harness never takes it.
#[tokio::test]
async fn wss_staging_trusted_through_tls_ca_file_is_chosen_and_serves_the_golden_path() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    let default_path = std::panic::catch_unwind(rustls::ClientConfig::builder);
    assert!(default_path.is_err(), "rustls picked a default provider");
    let pki = Pki::new("trusted");
    let (_server, front) = staging(&pki, false).await;
    let ca = pki.ca_file.to_str().unwrap();
    let config = staging_config(
        &front,
        &[
            ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
            ("WS_HARNESS_TLS_CA_FILE", ca),
        ],
    );
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, Some(BackendKind::Staging));
    assert_eq!(
        backend.access.credentials,
        Credentials::ConfiguredSecret(STAGING_SECRET.to_owned())
    );
    let report = backend.to_string();
    assert!(
        report.ends_with(&format!(
            "clients use tokens minted with the configured jwt_secret, TLS trusting the platform's roots and {ca}"
        )),
        "{report}"
    );
    assert!(!report.contains(STAGING_SECRET));
    golden_path(config, backend).await;
    // The readiness handshake and alice's connection, both over TLS.
    assert!(front.handshakes.load(Ordering::Relaxed) >= 2);
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

#[tokio::test]
async fn wss_staging_with_an_unknown_ca_is_skipped_naming_the_certificate_problem() {
    let pki = Pki::new("unknown-ca");
    let (_server, front) = staging(&pki, false).await;
    let config = staging_config(&front, &[("WS_HARNESS_JWT_SECRET", STAGING_SECRET)]);
    let report = staging_failure(BackendInfo::resolve(&config).await);
    assert!(
        report.contains("1. staging: skipped: ")
            && report.contains("did not become ready (websocket)")
            && report.contains("invalid peer certificate: UnknownIssuer"),
        "{report}"
    );
}

#[tokio::test]
async fn tls_insecure_skip_verify_connects_and_the_report_warns() {
    let pki = Pki::new("insecure");
    let (_server, front) = staging(&pki, false).await;
    let config = staging_config(
        &front,
        &[
            ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
            ("WS_HARNESS_TLS_INSECURE_SKIP_VERIFY", "true"),
        ],
    );
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, Some(BackendKind::Staging));
    assert!(!backend.access.tls.as_ref().unwrap().verifies());
    let report = backend.to_string();
    assert!(
        report.contains(
            "TLS WITHOUT certificate verification (tls_insecure_skip_verify): any server is trusted"
        ),
        "{report}"
    );
    golden_path(config, backend).await;
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = Pki::new("mtls");
    let (_server, front) = staging(&pki, true).await;
    let ca = pki.ca_file.to_str().unwrap();
    let without = staging_config(
        &front,
        &[
            ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
            ("WS_HARNESS_TLS_CA_FILE", ca),
        ],
    );
    let report = staging_failure(BackendInfo::resolve(&without).await);
    assert!(
        report.contains("did not become ready (websocket)"),
        "{report}"
    );

    let with = staging_config(
        &front,
        &[
            ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
            ("WS_HARNESS_TLS_CA_FILE", ca),
            (
                "WS_HARNESS_TLS_CLIENT_CERT",
                pki.client_cert_file.to_str().unwrap(),
            ),
            (
                "WS_HARNESS_TLS_CLIENT_KEY",
                pki.client_key_file.to_str().unwrap(),
            ),
        ],
    );
    let backend = BackendInfo::resolve(&with).await.unwrap();
    assert!(
        backend.to_string().ends_with(", with a client certificate"),
        "{backend}"
    );
    golden_path(with, backend).await;
}

#[tokio::test]
async fn http_and_reference_readiness_go_over_the_same_tls_setup() {
    let pki = Pki::new("http-ready");
    let (_server, front) = staging(&pki, false).await;
    let ca = pki.ca_file.to_str().unwrap();
    for (ready, expected) in [
        (
            "http:/health",
            Readiness::Http {
                path: "/health".into(),
                status: None,
            },
        ),
        (
            "http:/health?deep=1=200",
            Readiness::Http {
                path: "/health?deep=1".into(),
                status: Some(200),
            },
        ),
        ("reference", Readiness::Reference),
    ] {
        let config = staging_config(
            &front,
            &[
                ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
                ("WS_HARNESS_TLS_CA_FILE", ca),
                ("WS_HARNESS_STAGING_READY", ready),
            ],
        );
        assert_eq!(config.staging_ready, expected);
        let backend = BackendInfo::resolve(&config).await.unwrap();
        assert_eq!(backend.tier, Some(BackendKind::Staging), "{ready}");
    }
    let config = staging_config(
        &front,
        &[
            ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
            ("WS_HARNESS_TLS_CA_FILE", ca),
            ("WS_HARNESS_STAGING_READY", "http:/nowhere"),
        ],
    );
    let report = staging_failure(BackendInfo::resolve(&config).await);
    assert!(
        report.contains(&format!(
            "GET https://localhost:{}/nowhere answered HTTP 404",
            front.addr.port()
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_wss_url_takes_its_own_access_without_the_chain() {
    let pki = Pki::new("url");
    let (server, front) = staging(&pki, false).await;
    let token = server.token("carol");
    let token_file = pki.dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(front.url())
        .token_file(&token_file)
        .tls_ca_file(&pki.ca_file)
        .build()
        .unwrap();
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, None);
    assert_eq!(
        backend.access.credentials.to_string(),
        "the token from token_file"
    );
    assert!(!format!("{backend:?}").contains(&token));
    golden_path_as(config, backend, "carol").await;
}

#[tokio::test]
async fn token_command_is_run_once_and_its_failure_quotes_stderr() {
    let pki = Pki::new("command");
    let (server, front) = staging(&pki, false).await;
    let ca = pki.ca_file.to_str().unwrap();
    // Prints a token the staging server accepts, and counts its runs.
    let runs = pki.dir.join("runs");
    let token = JwtAuth::new(STAGING_SECRET)
        .unwrap()
        .mint("dave", Duration::from_secs(300))
        .unwrap();
    let command = format!("echo run >> {}; echo {token}", runs.display());
    let config = staging_config(
        &front,
        &[
            ("WS_HARNESS_TOKEN_COMMAND", &command),
            ("WS_HARNESS_TLS_CA_FILE", ca),
        ],
    );
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, Some(BackendKind::Staging));
    assert_eq!(
        backend.access.credentials.to_string(),
        "the token from token_command"
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n");
    golden_path_as(config, backend, "dave").await;
    drop(server);

    let failing = staging_config(
        &front,
        &[
            (
                "WS_HARNESS_TOKEN_COMMAND",
                "echo 'ERROR: (gcloud) You do not currently have an active account' >&2; exit 3",
            ),
            ("WS_HARNESS_TLS_CA_FILE", ca),
        ],
    );
    match BackendInfo::resolve(&failing).await {
        Err(BackendError::Required { resolution, .. }) => {
            let why = resolution.skipped(BackendKind::Staging).unwrap();
            assert!(matches!(
                why,
                SkipReason::Access {
                    source: AccessError::Token(_),
                    ..
                }
            ));
            if let SkipReason::Access {
                source: AccessError::Token(token_error),
                ..
            } = why
            {
                assert!(matches!(**token_error, TokenError::Failed { .. }));
            }
            let report = resolution.to_string();
            assert!(
                report.contains("no token: token_command `echo")
                    && report.contains("failed (exit status: 3); its stderr: ERROR: (gcloud) You do not currently have an active account"),
                "{report}"
            );
        }
        other => panic!("staging was had: {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_tls_ca_file_is_a_clear_reason() {
    let pki = Pki::new("bad-ca");
    let (_server, front) = staging(&pki, false).await;
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = pki.dir.join("missing.pem");
    for (path, expected) in [
        (
            &not_pem,
            format!(
                "tls_ca_file {} holds no CERTIFICATE; expected a PEM file with -----BEGIN CERTIFICATE-----",
                not_pem.display()
            ),
        ),
        (
            &missing,
            format!("cannot read tls_ca_file {}: ", missing.display()),
        ),
    ] {
        let config = staging_config(
            &front,
            &[
                ("WS_HARNESS_JWT_SECRET", STAGING_SECRET),
                ("WS_HARNESS_TLS_CA_FILE", path.to_str().unwrap()),
            ],
        );
        match BackendInfo::resolve(&config).await {
            Err(BackendError::Required { resolution, .. }) => {
                let why = resolution.skipped(BackendKind::Staging).unwrap();
                let SkipReason::Access {
                    source: AccessError::Tls(tls),
                    ..
                } = why
                else {
                    panic!("not a TLS setup failure: {why:?}");
                };
                assert!(matches!(
                    **tls,
                    TlsError::Empty { .. } | TlsError::Pem { .. }
                ));
                let report = resolution.to_string();
                assert!(report.contains(&expected), "{report}");
            }
            other => panic!("staging was had: {other:?}"),
        }
    }
}

/// The Python `websockets` server of `tests/peers/wss_server.py`.
fn python_server(pki: &Pki, token: &str, headers: &[(&str, &str)]) -> PythonPeer {
    let mut args = vec![
        "--cert".to_owned(),
        pki.server_cert_file.display().to_string(),
        "--key".to_owned(),
        pki.server_key_file.display().to_string(),
        "--token".to_owned(),
        token.to_owned(),
    ];
    for (name, value) in headers {
        args.extend(["--header".to_owned(), format!("{name}={value}")]);
    }
    PythonPeer::start("wss_server.py", &args)
}

/// Against a `wss://` server nobody here wrote: the configured headers and
/// `token_command`'s token arrive (the server refuses the handshake
/// otherwise), the certificate is trusted through `tls_ca_file`.
#[tokio::test]
#[ignore = "needs Python websockets: WS_HARNESS_TEST_PYTHON (set by .ci/run)"]
async fn a_third_party_wss_server_gets_the_headers_and_the_commands_token() {
    let pki = Pki::new("python");
    let headers = [
        ("X-Api-Key", "k-123"),
        ("Origin", "https://app.example"),
        ("Cookie", "session=abc; theme=dark"),
    ];
    let server = python_server(&pki, "tok-from-command", &headers);
    let url: url::Url = format!("wss://localhost:{}/", server.port).parse().unwrap();
    let config = |headers: &[(&str, &str)]| {
        RealWebSocketTestConfig::builder()
            .environment(HashMap::from([(
                "DOCKER_HOST".to_owned(),
                "unix:///tmp/ws-harness-tls-no-docker.sock".to_owned(),
            )]))
            .staging_url(url.clone())
            .backend([BackendKind::Staging])
            .token_command("echo tok-from-command")
            .headers(headers.iter().copied())
            .tls_ca_file(&pki.ca_file)
            // An echo server: no protocol, so no contract to check.
            .contract_source(ContractSource::None)
            .build()
            .unwrap()
    };

    let config_all = config(&headers);
    let backend = BackendInfo::resolve(&config_all).await.unwrap();
    assert_eq!(backend.tier, Some(BackendKind::Staging));
    let report = backend.to_string();
    assert!(
        report.contains("the token from token_command, headers x-api-key, origin, cookie, TLS"),
        "{report}"
    );
    assert!(!report.contains("k-123") && !report.contains("session=abc"));
    let factory = TestClientFactory::new(config_all, backend).unwrap();
    let mut client = factory.client("alice").await.unwrap();
    let frame = serde_json::json!({"type": "echo", "n": 1});
    client.send_json(&frame).await.unwrap();
    client.expect(ws_harness::frame(frame)).await.unwrap();

    // Without the cookie the server refuses the handshake: staging is
    // skipped with its answer.
    let report = staging_failure(BackendInfo::resolve(&config(&headers[..2])).await);
    assert!(
        report.contains("did not become ready (websocket)") && report.contains("403"),
        "{report}"
    );
}
