//! `ws-harness serve` as a user runs it: the first line, the secret rules,
//! and a clean exit on Ctrl-C.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long a command of the command line may run before it counts as hung.
const RUNS: Duration = Duration::from_secs(120);

fn serve(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ws-harness"));
    command
        .arg("serve")
        .args(args)
        .env_remove("WS_JWT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn refused(command: &mut Command) -> Output {
    let output = common::output_within(command, RUNS);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "nothing is listening: {output:?}");
    output
}

#[test]
fn refuses_to_start_without_a_secret_and_says_how_to_fix_it() {
    let output = refused(&mut serve(&["--listen", "127.0.0.1:0"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--jwt-secret") && stderr.contains("--test-mode"),
        "{stderr}"
    );
}

#[test]
fn refuses_the_published_test_secret_outside_test_mode() {
    let mut command = serve(&["--listen", "127.0.0.1:0"]);
    command.env("WS_JWT_SECRET", ws_harness::protocol::auth::TEST_JWT_SECRET);
    let output = refused(&mut command);
    assert!(String::from_utf8_lossy(&output.stderr).contains("only accepted in test mode"));
}

#[test]
fn a_bad_listen_address_is_a_clear_usage_error() {
    let output = common::output_within(
        &mut serve(&["--listen", "localhost:notaport", "--test-mode"]),
        RUNS,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--listen"));
}

#[tokio::test]
async fn serves_with_a_secret_from_the_environment() {
    let mut command = serve(&["--listen", "127.0.0.1:0"]);
    command.env("WS_JWT_SECRET", "a-secret-from-the-environment");
    let (_server, addr) = common::start_server(command);
    let (status, body) = common::http_get(addr, "/health").await;
    assert_eq!(status, 200, "{body}");
}

#[cfg(unix)]
#[tokio::test]
async fn test_mode_serves_the_golden_path_and_ctrl_c_shuts_down_cleanly() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};

    use tokio::io::AsyncBufReadExt;

    // Killed when dropped, should the test fail before it exits.
    let mut child =
        tokio::process::Command::from(serve(&["--listen", "127.0.0.1:0", "--test-mode"]))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let mut first = String::new();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    tokio::time::timeout(common::WAIT, stdout.read_line(&mut first))
        .await
        .expect("serve says where it listens")
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix(ws_harness::protocol::LISTENING_ON)
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();
    let token = JwtAuth::new(TEST_JWT_SECRET)
        .unwrap()
        .mint("alice", Duration::from_secs(60))
        .unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = common::Client { ws };
    assert_eq!(client.run("m-1").await.len(), 5);

    common::send_signal(child.id().unwrap(), nix::sys::signal::Signal::SIGINT).unwrap();
    let close = tokio::time::timeout(common::WAIT, client.ws.next())
        .await
        .unwrap();
    assert!(
        matches!(&close, Some(Ok(Message::Close(Some(frame)))) if u16::from(frame.code) == 1001),
        "{close:?}"
    );
    let exit = tokio::time::timeout(common::WAIT, child.wait_with_output())
        .await
        .expect("serve exits after Ctrl-C")
        .unwrap();
    assert!(exit.status.success(), "{exit:?}");
    let stderr = String::from_utf8_lossy(&exit.stderr);
    assert!(
        stderr.contains("Ctrl-C received") && stderr.contains("shutting down"),
        "{stderr}"
    );
}

#[test]
fn bad_limits_are_refused_with_the_limit_named() {
    let output = refused(&mut serve(&["--test-mode", "--replay-buffer", "0"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("limit `replay_buffer` is 0; it must be at least 1"),
        "{stderr}"
    );

    let output = common::output_within(
        &mut serve(&["--test-mode", "--handshake-timeout", "5"]),
        RUNS,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--handshake-timeout") && stderr.contains("5sec or 5ms"),
        "{stderr}"
    );
}

#[tokio::test]
async fn limit_flags_reach_the_server() {
    use tokio::io::AsyncReadExt;
    let (_server, addr) = common::start_server(serve(&[
        "--listen",
        "127.0.0.1:0",
        "--test-mode",
        "--handshake-timeout",
        "200ms",
    ]));
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the idle handshake was dropped: {read:?}"
    );
}

fn check(args: &[&str]) -> Output {
    check_with(args, &[])
}

/// `check` in process with these variables set too.
fn check_with(args: &[&str], vars: &[(&str, &str)]) -> Output {
    common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .arg("check")
            .args(args)
            .env_remove("WS_HARNESS_URL")
            .env_remove("WS_HARNESS_JWT_SECRET")
            .env_remove("WS_HARNESS_CONFIG")
            .env("WS_HARNESS_BACKEND", "in-process")
            .envs(vars.iter().copied()),
        RUNS,
    )
}

#[test]
fn check_runs_the_golden_path_in_process_and_passes() {
    let output = check(&["--users", "3"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("ws-harness check: 3 users against in-process at ws://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n  1. in-process: chosen (")
            && stdout.contains("\n  2. container: left out by backend (0 ms)\n  3. staging: left out by backend (0 ms)"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("\n  PASS  check-").count(), 3, "{stdout}");
    assert!(
        stdout.contains("verdict: PASS (3 of 3 users took every step)"),
        "{stdout}"
    );
}

/// `text` written as `name` in a directory of this test process.
fn scenario_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ws-harness-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A scenario file of one's own: each step per user with its latency,
/// exit 1 when a step fails, exit 2 for a mistake in the file.
#[test]
fn check_runs_a_scenario_file_and_exits_by_its_verdict() {
    let ping = scenario_file(
        "ping.toml",
        "[users]\ncount = 2\nprefix = \"pinger\"\n\n[[step]]\nsend = { type = \"ping\", nonce = \"${user}\" }\n\n[[step]]\nname = \"pong\"\nexpect = { kind = \"pong\", with = { nonce = \"${user}\" } }\n",
    );
    let output = check(&["--scenario", ping.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("scenario `ping` ({}): 1. send ", ping.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n  PASS  pinger-1\n") && stdout.contains("\n  PASS  pinger-2\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n        2. pong "), "{stdout}");
    assert!(
        stdout.contains("verdict: PASS (2 of 2 users took every step)"),
        "{stdout}"
    );

    // --users wins over the file's count; a wrong nonce fails with exit 1.
    let wrong = scenario_file(
        "wrong.toml",
        "[[step]]\nsend = { type = \"ping\", nonce = \"a\" }\n[[step]]\nexpect = { kind = \"pong\", with = { nonce = \"b\" } }\nwithin = \"200ms\"\n",
    );
    let output = check(&[
        "--scenario",
        wrong.to_str().unwrap(),
        "--users",
        "1",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scenario"]["name"], "wrong");
    assert_eq!(report["users"][0]["failure"]["step"], 2);
    assert_eq!(report["users"][0]["failure"]["line"], 3);
    assert!(
        report["users"][0]["failure"]["problem"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 200ms; missing: pong {\"nonce\":\"b\"}"),
        "{report}"
    );

    let bad = scenario_file(
        "bad.toml",
        "[[step]]\nsend = { type = \"ping\" }\nexpect = \"pong\"\n",
    );
    let output = check(&["--scenario", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {}, line 1, step 1: the step has both `send` and `expect`: make them two steps",
            bad.display()
        )),
        "{stderr}"
    );
}

#[test]
fn check_passes_when_the_chain_falls_back_from_a_staging_with_its_own_secret() {
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["check", "--json"])
            .env_remove("WS_HARNESS_URL")
            .env_remove("WS_HARNESS_CONFIG")
            .env_remove("WS_HARNESS_BACKEND")
            .env_remove("WS_HARNESS_REQUIRE")
            .env("DOCKER_HOST", "unix:///nonexistent/ws-harness-test.sock")
            // Nothing listens on port 9 (discard) here: staging is down.
            .env("WS_HARNESS_STAGING_URL", "ws://127.0.0.1:9/ws")
            .env(
                "WS_HARNESS_JWT_SECRET",
                "a-staging-secret-the-fallback-must-not-use",
            ),
        RUNS,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["backend"]["kind"], "in-process");
    assert_eq!(
        report["backend"]["access"],
        "tokens minted with the published test secret"
    );
    assert_eq!(report["users"].as_array().unwrap().len(), 10);
    assert!(!stdout.contains("a-staging-secret"), "{stdout}");
}

#[test]
fn check_json_is_one_object_for_machines() {
    let output = check(&["--users", "2", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["backend"]["kind"], "in-process");
    assert_eq!(report["users"].as_array().unwrap().len(), 2);
    assert_eq!(report["users"][0]["events"].as_array().unwrap().len(), 5);
}

#[test]
fn check_counts_contract_violations_by_rule_and_exits_1() {
    // A contract under which the reference server's `agent_thinking`
    // breaks a rule: its `thought` field is forbidden.
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["check", "--users", "3"])
            .env_remove("WS_HARNESS_CONFIG")
            .env("WS_HARNESS_BACKEND", "in-process")
            .env("WS_HARNESS_CONTRACT_FORBIDDEN_FIELDS", "thought"),
        RUNS,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("contract reference: 3 violations\n  forbidden field: 3, e.g. contract violation (forbidden field) at /thought: `thought` must not appear"),
        "{stdout}"
    );
    let clean = check(&["--users", "2"]);
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert!(
        stdout.contains("contract reference: 0 violations"),
        "{stdout}"
    );
}

#[tokio::test]
async fn check_against_a_url_fails_when_the_server_refuses() {
    let mut command = serve(&["--listen", "127.0.0.1:0"]);
    command.env("WS_JWT_SECRET", "the-servers-own-secret");
    let (_server, addr) = common::start_server(command);
    let url = format!("ws://{addr}/ws");
    let refused = check(&["--url", &url, "--users", "1"]);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  check-1") && stdout.contains("HTTP 401"),
        "{stdout}"
    );

    let passed = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["check", "--url", &url, "--users", "2"])
            .env("WS_HARNESS_JWT_SECRET", "the-servers-own-secret"),
        RUNS,
    );
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&passed.stdout)
    );
}

#[test]
fn check_with_a_bad_setting_exits_2_naming_it() {
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .arg("check")
            .env("WS_HARNESS_EVENT_TIMEOUT", "ten"),
        RUNS,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WS_HARNESS_EVENT_TIMEOUT=10s"), "{stderr}");
}

#[test]
fn load_runs_every_user_and_reports_latency_throughput_and_server_memory() {
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["load", "--users", "5", "--runs", "3", "--json"]),
        RUNS,
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(
        (
            report["connected"].as_u64(),
            report["completed_runs"].as_u64()
        ),
        (Some(5), Some(15))
    );
    assert_eq!(report["frames"], 75);
    assert_eq!(report["scenario"], "golden path");
    assert_eq!(report["steps"][1]["name"], "required events");
    for key in ["p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms"] {
        assert!(
            report["run_latency"][key].as_f64().unwrap() > 0.0,
            "{key}: {report}"
        );
        assert!(
            report["connect"][key].as_f64().unwrap() > 0.0,
            "{key}: {report}"
        );
    }
    assert!(report["runs_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["connects_per_second"].as_f64().unwrap() > 0.0);
    if cfg!(target_os = "linux") {
        assert!(
            report["server_rss_peak_bytes"].as_u64().unwrap() > 0,
            "{report}"
        );
    }
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped).
#[cfg(target_os = "linux")]
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

/// Polls `done` every 50 ms for up to `bound`.
#[cfg(target_os = "linux")]
fn within(bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + bound;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
#[cfg(target_os = "linux")]
fn a_killed_load_takes_the_server_it_started_with_it() {
    let mut load = Command::new(env!("CARGO_BIN_EXE_ws-harness"))
        .args(["load", "--users", "1", "--runs", "100000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let children = format!("/proc/{0}/task/{0}/children", load.id());
    let mut server = None;
    let started = within(RUNS, || {
        server = std::fs::read_to_string(&children)
            .ok()
            .and_then(|pids| pids.split_whitespace().next()?.parse::<u32>().ok());
        server.is_some()
    });
    let server = server.filter(|_| started);
    // SIGKILL: the load process gets no chance to stop its server.
    load.kill().unwrap();
    load.wait().unwrap();
    let server = server.expect("load started a server");
    if !within(Duration::from_secs(10), || ended(server)) {
        // Not left behind by a failing test either.
        let _ = common::send_signal(server, nix::sys::signal::Signal::SIGKILL);
        panic!("the server (pid {server}) outlived the killed load by 10 s");
    }
}

#[tokio::test]
async fn load_counts_errors_by_kind_and_fails() {
    let mut command = serve(&["--listen", "127.0.0.1:0"]);
    command.env("WS_JWT_SECRET", "not-the-test-secret");
    let (_server, addr) = common::start_server(command);
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args([
                "load",
                "--users",
                "3",
                "--runs",
                "2",
                "--url",
                &format!("ws://{addr}/ws"),
            ])
            .env_remove("WS_HARNESS_JWT_SECRET"),
        RUNS,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("connected    0 of 3"), "{stdout}");
    assert!(
        stdout.contains("errors       connect: HTTP 401: 3"),
        "{stdout}"
    );
}

/// A scenario of one's own under load, its reports written with their
/// histograms on two "machines" and merged; a file that is no report is
/// refused by name.
#[test]
fn load_runs_a_scenario_and_merges_the_reports_of_several_machines() {
    let ping = scenario_file(
        "load-ping.toml",
        "name = \"ping\"\n[[step]]\nsend = { type = \"ping\", nonce = \"${user}-${n}\" }\n[[step]]\nname = \"pong\"\nexpect = { kind = \"pong\", with = { nonce = \"${user}-${n}\" } }\n",
    );
    let dir = ping.parent().unwrap();
    let backend = ws_harness::chain::InProcessBackend::start().unwrap();
    let load = |prefix: &str, report: &std::path::Path| {
        common::output_within(
            Command::new(env!("CARGO_BIN_EXE_ws-harness"))
                .args([
                    "load",
                    "--users",
                    "3",
                    "--runs",
                    "4",
                    "--user-prefix",
                    prefix,
                ])
                .arg("--scenario")
                .arg(&ping)
                .arg("--report")
                .arg(report)
                .arg("--url")
                .arg(backend.url().as_str())
                .env_remove("WS_HARNESS_JWT_SECRET"),
            RUNS,
        )
    };
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    for (prefix, file) in [("machine-a", &a), ("machine-b", &b)] {
        let output = load(prefix, file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.starts_with("ws-harness load: scenario `ping`, 3 users x 4 runs"),
            "{stdout}"
        );
        assert!(
            stdout.contains("\n  1. send ") && stdout.contains("\n  2. pong "),
            "{stdout}"
        );
    }
    let merged = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["load", "merge"])
            .args([&a, &b])
            .arg("--json"),
        RUNS,
    );
    assert_eq!(merged.status.code(), Some(0), "{merged:?}");
    let report: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(
        (report["users"].as_u64(), report["completed_runs"].as_u64()),
        (Some(6), Some(24))
    );
    assert_eq!(report["frames"], 24);
    assert_eq!(report["steps"][1]["name"], "pong");
    assert!(
        report["steps"][1]["p50_ms"].as_f64().unwrap() > 0.0,
        "{report}"
    );

    std::fs::write(&b, "not json").unwrap();
    let refused = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["load", "merge"])
            .args([&a, &b]),
        RUNS,
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {}: not a load report (not JSON",
            b.display()
        )) && stderr.contains("write one with `ws-harness load --report FILE`"),
        "{stderr}"
    );
}

#[test]
fn load_names_its_users_after_the_user_prefix() {
    let backend = ws_harness::chain::InProcessBackend::start().unwrap();
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args([
                "load",
                "--users",
                "2",
                "--runs",
                "1",
                "--user-prefix",
                "wave-7",
            ])
            .arg("--url")
            .arg(backend.url().as_str())
            .env_remove("WS_HARNESS_JWT_SECRET"),
        RUNS,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let manager = backend.server();
    let manager = manager.manager();
    let last_ids: Vec<u64> = ["wave-7-1", "wave-7-2", "load-1"]
        .iter()
        .map(|user| manager.last_event_id(user))
        .collect();
    assert_eq!(last_ids, [5, 5, 0]);
}

#[test]
fn a_server_process_that_does_not_say_where_it_listens_is_refused_by_name() {
    let mut silent = Command::new(env!("CARGO_BIN_EXE_ws-harness"));
    silent.arg("--version");
    let error = ws_harness::process::ServerProcess::spawn(silent).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("did not print `listening on HOST:PORT` first")
            && message.contains("ws-harness 0.1.0"),
        "{message}"
    );

    let missing = Command::new("/nonexistent/ws-harness-server");
    let error = ws_harness::process::ServerProcess::spawn(missing).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot start /nonexistent/ws-harness-server"),
        "{error}"
    );
}

#[test]
fn a_server_process_serves_until_dropped() {
    let server = ws_harness::process::ServerProcess::serve_for_load(
        env!("CARGO_BIN_EXE_ws-harness").as_ref(),
        &[],
    )
    .unwrap();
    let addr = server.addr().to_owned();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    assert_eq!(server.url().as_str(), format!("ws://{addr}/ws"));
    let pid = server.pid();
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/status")).exists()
            || !cfg!(target_os = "linux"),
        "the server process {pid} outlived its ServerProcess"
    );
}

#[test]
fn check_runs_through_the_fault_proxy_its_settings_ask_for() {
    let output = check_with(
        &["--users", "2"],
        &[("WS_HARNESS_FAULTS_TOXICS", "latency 100ms")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("through the fault proxy at 127.0.0.1:")
            && stdout.contains("(latency 100ms downstream)"),
        "{stdout}"
    );
    // Every event of the run arrives 100 ms late.
    let started: Vec<f64> = stdout
        .split("agent_started ")
        .skip(1)
        .map(|rest| rest.split("ms").next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(started.len(), 2, "{stdout}");
    assert!(started.iter().all(|ms| *ms >= 100.0), "{stdout}");

    // A lost event fails the check, naming it.
    let output = check_with(
        &["--users", "2"],
        &[(
            "WS_HARNESS_FAULTS_FRAMES",
            "drop kind=agent_thinking times=1 for check-2",
        )],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("\n  PASS  check-1"), "{stdout}");
    assert!(stdout.contains("\n  FAIL  check-2"), "{stdout}");
    assert!(stdout.contains("sequence gap: 1"), "{stdout}");
}

#[test]
fn a_bad_fault_setting_is_a_clear_error() {
    let output = check_with(
        &["--users", "2"],
        &[("WS_HARNESS_FAULTS_FRAMES", "close 4000;lose kind=x")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "bad entry 2 of `faults.frames` in environment variable WS_HARNESS_FAULTS_FRAMES: `lose kind=x`: no frame fault is called `lose`"
        ),
        "{stderr}"
    );
}

#[test]
fn load_runs_through_the_proxy_with_faults_proxy_set() {
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_ws-harness"))
            .args(["load", "--users", "3", "--runs", "2", "--json"])
            .env_remove("WS_HARNESS_CONFIG")
            .env("WS_HARNESS_FAULTS_PROXY", "true"),
        RUNS,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        report["fault_proxy"]
            .as_str()
            .is_some_and(|p| p.starts_with("through the fault proxy at 127.0.0.1:")
                && p.ends_with("(no faults)")),
        "{report}"
    );
    assert_eq!(report["completed_runs"], 6, "{report}");
}
