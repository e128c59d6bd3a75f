//! A Python peer from `tests/peers/` (a server nobody here wrote, on the
//! `websockets` package from PyPI), killed when dropped.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use ws_harness::RealWebSocketTestConfig;
use ws_harness::process::ServerProcess;
use ws_harness::protocol::auth::JwtAuth;

/// The ticker service's AsyncAPI document (`tests/peers/ticker_server.py`).
pub const TICKER_CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contracts/ticker.asyncapi.yaml"
);

/// Settings for alice against the ticker service at `server` as a `url`,
/// with its contract and `event_timeout`, as the variables write them.
pub fn ticker_config(server: &PythonPeer, event_timeout: Duration) -> RealWebSocketTestConfig {
    // The service reads the token's subject and does not check signatures.
    let token = JwtAuth::new("any-secret")
        .unwrap()
        .mint("alice", Duration::from_secs(300))
        .unwrap();
    let vars = [
        ("WS_HARNESS_URL", format!("ws://127.0.0.1:{}/", server.port)),
        ("WS_HARNESS_TOKEN", token),
        ("WS_HARNESS_CONTRACT_SOURCE", TICKER_CONTRACT.to_owned()),
        ("WS_HARNESS_CONTRACT_KIND_FIELD", "kind".to_owned()),
        ("WS_HARNESS_CONTRACT_SEQUENCE_FIELD", "seq".to_owned()),
        ("WS_HARNESS_CONTRACT_OWNER_FIELD", "owner".to_owned()),
        ("WS_HARNESS_CONTRACT_RUN_FIELD", "run".to_owned()),
        ("WS_HARNESS_CONTRACT_TERMINAL_KINDS", "done".to_owned()),
        (
            "WS_HARNESS_CONTRACT_RESUME_FRAME",
            r#"{"op": "resume", "after": "${last}"}"#.to_owned(),
        ),
        ("WS_HARNESS_CONTRACT_RESUME_REPLY", "resumed".to_owned()),
    ];
    let env: HashMap<String, String> = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    RealWebSocketTestConfig::builder()
        .environment(env)
        .event_timeout(event_timeout)
        .build()
        .unwrap()
}

pub struct PythonPeer {
    _process: ServerProcess,
    pub port: u16,
}

impl PythonPeer {
    /// Runs `tests/peers/<script>` with `args` and waits (30 s at most) for
    /// its `listening on PORT` line.
    pub fn start(script: &str, args: &[String]) -> Self {
        let python = std::env::var("WS_HARNESS_TEST_PYTHON").expect(
            "WS_HARNESS_TEST_PYTHON names a Python with `websockets` (bench/peers/requirements.txt); .ci/run sets it",
        );
        let script = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut command = Command::new(python);
        command.arg(&script).args(args);
        let process = ServerProcess::spawn(command).unwrap_or_else(|e| panic!("{script}: {e}"));
        let port = process
            .addr()
            .parse()
            .unwrap_or_else(|_| panic!("{script} said it listens on {:?}", process.addr()));
        Self {
            _process: process,
            port,
        }
    }
}
