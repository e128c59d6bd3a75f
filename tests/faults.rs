//! The fault proxy in front of a tier: each toxic observed from the client
//! (latency and bandwidth measured, a reset seen as a broken connection, a
//! blackhole as a timeout) and each frame fault caught by the contract or
//! an expectation, against the built-in reference server, a Python
//! `websockets` service of its own protocol (`tests/peers/ticker_server.py`)
//! and websocat from crates.io in the container tier.

mod common;

use common::python::PythonPeer;
use common::websocat::echo_container;
use serde_json::json;
use std::time::{Duration, Instant};
use ws_harness::contract::Rule;
use ws_harness::faults::{Corruption, FaultError, FaultProxy, FrameFault, Toxic};
use ws_harness::{
    BackendInfo, BackendKind, ExpectationFailed, RealWebSocketTestConfig, TestClient,
    TestClientFactory, event, frame,
};

/// The built-in reference server, in process, behind a fresh proxy. The
/// server is one per test binary, and a user's events go to all of that
/// user's connections: each test has users of its own.
async fn reference() -> (FaultProxy, TestClientFactory) {
    proxied(reference_config()).await
}

fn reference_config() -> RealWebSocketTestConfig {
    common::in_process_config(Duration::from_secs(2))
}

async fn proxied(config: RealWebSocketTestConfig) -> (FaultProxy, TestClientFactory) {
    let backend = BackendInfo::resolve(&config).await.unwrap();
    let faults = FaultProxy::start(&config, &backend).await.unwrap();
    let factory = TestClientFactory::new(config, faults.backend()).unwrap();
    (faults, factory)
}

/// One ping's round trip on the reference protocol.
async fn ping(client: &mut TestClient) -> Duration {
    let nonce = format!("n-{}", next_nonce());
    let sent = Instant::now();
    client.ping(&nonce).await.unwrap();
    client
        .expect(event("pong").with(json!({ "nonce": nonce })))
        .await
        .unwrap();
    sent.elapsed()
}

/// Waits for a frame that never comes: the connection breaks first (a
/// reset shows as `<connection error: ...>`), within 3 s.
async fn assert_broken(client: &mut TestClient) {
    let failure = client
        .expect_within(frame(json!({"never-sent": true})), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(
        failure.transcript.contains("<connection error:"),
        "{failure}"
    );
}

/// A corruption is caught: a bad UTF-8 text or a reserved opcode is the
/// client's protocol error; a short length leaves the text cut, not JSON.
fn assert_corruption_caught(how: Corruption, client: &TestClient, failure: &ExpectationFailed) {
    let caught = match how {
        Corruption::WrongLength => client.violations().iter().any(|v| v.rule == Rule::NotJson),
        _ => failure.transcript.contains("<connection error:"),
    };
    assert!(caught, "{how:?}: {failure}");
}

/// The client saw a frame that broke `rule`.
fn assert_violated(client: &TestClient, rule: Rule) {
    assert!(
        client.violations().iter().any(|v| v.rule == rule),
        "no {rule:?} among {:?}",
        client.violations()
    );
}

fn next_nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn latency_reaches_only_its_users_connections_and_goes_when_removed() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("alice").await.unwrap();
    let mut bob = factory.client("bob").await.unwrap();
    assert!(
        alice.backend().to_string().contains(&format!(
            "through the fault proxy at {} (no faults)",
            faults.addr()
        )),
        "{}",
        alice.backend()
    );

    let id = faults
        .add(Toxic::latency(Duration::from_millis(300)).for_user("alice"))
        .unwrap();
    let slow = ping(&mut alice).await;
    let fast = ping(&mut bob).await;
    assert!(
        slow >= Duration::from_millis(300),
        "alice's round trip took {slow:?}"
    );
    assert!(
        fast < Duration::from_millis(200),
        "bob's round trip took {fast:?}"
    );
    assert!(
        factory
            .backend()
            .to_string()
            .contains("(latency 300ms downstream for alice)"),
        "{}",
        factory.backend()
    );

    assert!(faults.remove(id));
    assert!(!faults.remove(id));
    let again = ping(&mut alice).await;
    assert!(
        again < Duration::from_millis(200),
        "after removal: {again:?}"
    );
}

#[tokio::test]
async fn upstream_latency_delays_what_the_client_sends() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("upstream").await.unwrap();
    faults
        .add(Toxic::latency(Duration::from_millis(250)).upstream())
        .unwrap();
    let took = ping(&mut alice).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
}

#[tokio::test]
async fn reset_peer_breaks_open_connections() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("reset").await.unwrap();
    ping(&mut alice).await;
    faults
        .add(Toxic::reset_peer(Duration::from_millis(100)))
        .unwrap();
    assert_broken(&mut alice).await;
    // A new connection gets the same, 100 ms after it opens.
    let started = Instant::now();
    let mut again = factory.client("reset").await.unwrap();
    assert_broken(&mut again).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn a_blackhole_holds_the_data_until_removed_or_closes_after_its_timeout() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("blackhole").await.unwrap();
    let hole = faults.add(Toxic::timeout(Duration::ZERO)).unwrap();
    alice.ping("held").await.unwrap();
    let failure = alice
        .expect_within(event("pong"), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(failure.to_string().contains("500ms"), "{failure}");
    faults.remove(hole);
    alice
        .expect(event("pong").with(json!({"nonce": "held"})))
        .await
        .unwrap();

    faults
        .add(Toxic::timeout(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    let failure = alice
        .expect_within(event("pong"), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(
        failure.transcript.contains("<connection closed>")
            || failure.transcript.contains("<connection error:"),
        "{}",
        failure.transcript
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_lost_event_fails_the_golden_path_and_the_contract() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("lost").await.unwrap();
    faults
        .add(
            FrameFault::drop()
                .matching(event("agent_thinking"))
                .times(1),
        )
        .unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    let failure = alice.expect_required_events("m-1").await.unwrap_err();
    assert!(failure.to_string().contains("agent_thinking"), "{failure}");
    assert_violated(&alice, Rule::SequenceGap);
    // Spent: the next client's run passes.
    let mut next = factory.client("lost-next").await.unwrap();
    next.send_user_message("m-2", "hello").await.unwrap();
    next.expect_required_events("m-2").await.unwrap();
}

#[tokio::test]
async fn a_duplicated_event_is_a_repeated_sequence_value() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("duplicate").await.unwrap();
    faults
        .add(FrameFault::duplicate().matching(event("agent_started")))
        .unwrap();
    alice.send_user_message("m-1", "hello").await.unwrap();
    let _ = alice.expect_required_events("m-1").await;
    assert_violated(&alice, Rule::SequenceRepeated);
}

#[tokio::test]
async fn an_injected_close_reaches_the_client_with_its_code() {
    let (faults, factory) = reference().await;
    let mut alice = factory.client("close").await.unwrap();
    faults
        .add(FrameFault::close(4001, "injected").matching(event("pong")))
        .unwrap();
    alice.ping("p").await.unwrap();
    let failure = alice.expect(event("pong")).await.unwrap_err();
    assert!(
        failure.transcript.contains("<close 4001 injected>"),
        "{}",
        failure.transcript
    );
}

#[tokio::test]
async fn each_corruption_breaks_the_connection() {
    for how in [
        Corruption::BadUtf8,
        Corruption::BadOpcode,
        Corruption::WrongLength,
    ] {
        let (faults, factory) = reference().await;
        let mut alice = factory.client(&format!("corrupt-{how:?}")).await.unwrap();
        faults
            .add(FrameFault::corrupt(how).matching(event("pong")))
            .unwrap();
        alice.ping("p").await.unwrap();
        let failure = alice
            .expect_within(event("pong"), Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_corruption_caught(how, &alice, &failure);
    }
}

/// Sends `start` with the client's user's downstream held at the proxy,
/// gives the service the time to send the run, then resets the connection
/// and lifts both faults.
async fn cut_mid_run(faults: &FaultProxy, client: &mut TestClient, start: &serde_json::Value) {
    let user = client.user().to_owned();
    let hole = faults
        .add(Toxic::timeout(Duration::ZERO).for_user(&user))
        .unwrap();
    client.send_json(start).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reset = faults
        .add(Toxic::reset_peer(Duration::ZERO).for_user(&user))
        .unwrap();
    assert_broken(client).await;
    faults.remove(hole);
    faults.remove(reset);
}

/// The reconnect story: the run's events are held at the proxy, the
/// connection is reset, and the client reconnects and resumes.
async fn reset_mid_run_then_resume(
    config: RealWebSocketTestConfig,
    user: &str,
    lossy_resume: bool,
) -> Result<(), String> {
    let (faults, factory) = proxied(config).await;
    let mut client = factory.client(user).await.unwrap();
    client.send_user_message("m-1", "first").await.unwrap();
    client.expect_required_events("m-1").await.unwrap();

    let second =
        json!({"type": "user_message", "message_id": "m-2", "thread_id": "t", "content": "second"});
    cut_mid_run(&faults, &mut client, &second).await;

    if lossy_resume {
        // A service that loses an event when it replays.
        faults
            .add(
                FrameFault::drop()
                    .matching(event("tool_executing"))
                    .times(1),
            )
            .unwrap();
    }
    let report = client
        .reconnect_and_resume()
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(report.resumed_from, 5);
    client
        .expect(event("agent_completed").with(json!({"message_id": "m-2"})))
        .await
        .map_err(|e| e.to_string())?;
    client
        .expect_no_lost_or_duplicate_events()
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn reset_peer_mid_run_then_resume_loses_nothing() {
    reset_mid_run_then_resume(reference_config(), "story", false)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_reconnect_story_holds_against_the_reference_server_in_the_container_tier() {
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .require(BackendKind::Container)
        .event_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    reset_mid_run_then_resume(config.clone(), "story-container", false)
        .await
        .unwrap();
    let err = reset_mid_run_then_resume(config, "story-container-lossy", true)
        .await
        .unwrap_err();
    assert!(err.contains("sequence gap"), "{err}");
}

#[tokio::test]
async fn a_resume_that_loses_an_event_is_caught() {
    // The contract sees the gap in the replay at once.
    let err = reset_mid_run_then_resume(reference_config(), "story-lossy", true)
        .await
        .unwrap_err();
    assert!(err.contains("sequence gap"), "{err}");
    assert!(err.contains("8 skipped"), "{err}");
}

/// The reconnect story against a service whose resume is its own (the
/// ticker's `{"op": "resume", "after": S}`, as its contract's settings
/// describe it): a run held at the proxy, the connection reset, then
/// `reconnect_and_resume` and no lost or repeated `seq`.
async fn ticker_reset_mid_run_then_resume(server: &PythonPeer) -> Result<(), String> {
    let (faults, factory) = proxied(ticker_config(server)).await;
    let mut client = factory.client("alice").await.unwrap();
    let start = |run: &str, n: u64| json!({"op": "start", "run": run, "n": n});
    client.send_json(&start("r-1", 2)).await.unwrap();
    client
        .expect(event("done").with(json!({"run": "r-1"})))
        .await
        .unwrap();

    cut_mid_run(&faults, &mut client, &start("r-2", 3)).await;

    let report = client
        .reconnect_and_resume()
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(report.resumed_from, 3, "r-1: two ticks and its done");
    let reply = report.reply.expect("the ticker answers `resumed`");
    assert_eq!(reply["after"], 3);
    client
        .expect(event("done").with(json!({"run": "r-2"})))
        .await
        .map_err(|e| e.to_string())?;
    client
        .expect_no_lost_or_duplicate_events()
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(client.last_sequence(), 7);
    Ok(())
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn the_reconnect_story_holds_against_a_python_service_with_its_own_resume() {
    let correct = PythonPeer::start("ticker_server.py", &["--resume".to_owned()]);
    ticker_reset_mid_run_then_resume(&correct).await.unwrap();

    let lossy = PythonPeer::start("ticker_server.py", &["--lose-on-resume".to_owned()]);
    let err = ticker_reset_mid_run_then_resume(&lossy).await.unwrap_err();
    assert!(err.contains("sequence gap"), "{err}");
    assert!(err.contains("`seq` 5 follows 3: 4 skipped"), "{err}");
}

#[tokio::test]
async fn frame_faults_are_refused_in_front_of_wss() {
    let config = reference_config();
    let mut backend = BackendInfo::resolve(&config).await.unwrap();
    backend.url = "wss://staging.example/ws".parse().unwrap();
    let faults = FaultProxy::start(&config, &backend).await.unwrap();
    let err = faults.add(FrameFault::drop()).unwrap_err();
    assert!(matches!(err, FaultError::FramesNotVisible { .. }));
    assert!(
        err.to_string()
            .contains("`drop downstream` needs to see WebSocket frames"),
        "{err}"
    );
    faults
        .add(Toxic::latency(Duration::from_millis(1)))
        .unwrap();
}

// ---- A Python `websockets` service with a protocol of its own ----

fn ticker_config(server: &PythonPeer) -> RealWebSocketTestConfig {
    common::python::ticker_config(server, Duration::from_secs(3))
}

/// Asks the ticker for one tick with `fault` in force, and waits for its
/// `done`, which fails.
async fn one_tick_through(
    server: &PythonPeer,
    fault: FrameFault,
) -> (TestClient, ExpectationFailed) {
    let (faults, factory) = proxied(ticker_config(server)).await;
    let mut client = factory.client("alice").await.unwrap();
    faults.add(fault).unwrap();
    client
        .send_json(&json!({"op": "start", "n": 1}))
        .await
        .unwrap();
    let failure = client.expect(event("done")).await.unwrap_err();
    (client, failure)
}

/// Asks for `n` ticks and reads them and the `done`, whatever comes.
async fn ticks(client: &mut TestClient, n: u64) {
    client
        .send_json(&json!({"op": "start", "n": n}))
        .await
        .unwrap();
    let _ = client.expect(event("done")).await;
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn each_frame_fault_on_a_python_service_is_caught_by_its_rule() {
    let server = PythonPeer::start("ticker_server.py", &[]);
    let cases = [
        (
            FrameFault::drop().matching(frame(json!({"seq": 2}))),
            Rule::SequenceGap,
        ),
        (
            FrameFault::duplicate().matching(frame(json!({"seq": 2}))),
            Rule::SequenceRepeated,
        ),
        (
            FrameFault::reorder().matching(frame(json!({"seq": 2}))),
            Rule::SequenceRepeated,
        ),
    ];
    for (fault, rule) in cases {
        let (faults, factory) = proxied(ticker_config(&server)).await;
        let mut client = factory.client("alice").await.unwrap();
        let shown = fault.to_string();
        faults.add(fault).unwrap();
        ticks(&mut client, 4).await;
        assert!(
            client.violations().iter().any(|v| v.rule == rule),
            "{shown}: {:?}",
            client.violations()
        );
    }

    // A delayed frame arrives that much later.
    let (faults, factory) = proxied(ticker_config(&server)).await;
    let mut client = factory.client("alice").await.unwrap();
    faults
        .add(FrameFault::delay(Duration::from_millis(400)).matching(event("done")))
        .unwrap();
    let started = Instant::now();
    client
        .send_json(&json!({"op": "start", "n": 1}))
        .await
        .unwrap();
    client.expect(event("tick")).await.unwrap();
    let tick = started.elapsed();
    client.expect(event("done")).await.unwrap();
    let done = started.elapsed();
    assert!(
        done >= tick + Duration::from_millis(350),
        "{tick:?} then {done:?}"
    );
    assert!(client.violations().is_empty(), "{:?}", client.violations());

    // Corruptions break the connection or the frame; a close arrives
    // with its code.
    for how in [
        Corruption::BadUtf8,
        Corruption::BadOpcode,
        Corruption::WrongLength,
    ] {
        let (client, failure) =
            one_tick_through(&server, FrameFault::corrupt(how).matching(event("tick"))).await;
        assert_corruption_caught(how, &client, &failure);
    }
    let (_, failure) = one_tick_through(
        &server,
        FrameFault::close(4002, "gone").matching(event("done")),
    )
    .await;
    assert!(
        failure.transcript.contains("<close 4002 gone>"),
        "{failure}"
    );
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn lost_pongs_make_a_python_service_close_for_its_keepalive() {
    let server = PythonPeer::start(
        "ticker_server.py",
        &["--ping-interval".into(), "0.2".into()],
    );
    let (faults, factory) = proxied(ticker_config(&server)).await;
    let mut client = factory.client("alice").await.unwrap();
    // The client answers the service's pings while it reads: alive.
    client
        .expect_nothing(Duration::from_millis(800))
        .await
        .unwrap();
    faults.add(FrameFault::no_pongs().upstream()).unwrap();
    let failure = client
        .expect_within(event("tick"), Duration::from_secs(4))
        .await
        .unwrap_err();
    assert!(failure.transcript.contains("<close 1011"), "{failure}");
}

/// Sends `payload` as an echo frame and waits for it to come back.
async fn echo(client: &mut TestClient, payload: &str) -> Duration {
    let sent = Instant::now();
    let frame_sent = json!({"op": "echo", "payload": payload});
    client.send_json(&frame_sent).await.unwrap();
    client.expect(frame(frame_sent)).await.unwrap();
    sent.elapsed()
}

#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn each_toxic_is_observed_against_a_python_service() {
    let server = PythonPeer::start("ticker_server.py", &[]);
    // Its echo frames are outside the ticker contract.
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .url(format!("ws://127.0.0.1:{}/", server.port).parse().unwrap())
        .token("any")
        .contract_source(ws_harness::config::ContractSource::None)
        .event_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    toxic_suite(config).await;
}

#[tokio::test]
#[ignore = "needs Docker and WEBSOCAT=<static websocat binary>; .ci/run runs it"]
async fn each_toxic_is_observed_against_websocat_in_the_container_tier() {
    let config = echo_container()
        .await
        .event_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    toxic_suite(config).await;
}

/// Every toxic, observed from the client of an echo service.
async fn toxic_suite(config: RealWebSocketTestConfig) {
    let (faults, factory) = proxied(config).await;
    let mut client = factory.client("alice").await.unwrap();
    let direct = echo(&mut client, "x").await;

    // latency, each way
    let id = faults
        .add(Toxic::latency(Duration::from_millis(200)).jitter(Duration::from_millis(20)))
        .unwrap();
    let slow = echo(&mut client, "x").await;
    assert!(
        slow >= Duration::from_millis(180),
        "latency: {slow:?} (direct {direct:?})"
    );
    eprintln!("latency 200ms jitter 20ms: echo round trip {slow:?} (without: {direct:?})");
    faults.remove(id);

    // bandwidth: 64 KB through 100 KB/s takes at least half a second
    let big = "b".repeat(64 * 1000);
    let id = faults.add(Toxic::bandwidth(100)).unwrap();
    let took = echo(&mut client, &big).await;
    let rate = 64.0 / took.as_secs_f64();
    assert!(rate <= 125.0, "bandwidth: {rate:.0} KB/s over {took:?}");
    eprintln!("bandwidth 100 KB/s: 64 KB back in {took:?}, {rate:.0} KB/s");
    faults.remove(id);

    // slicer: 2 KB in 100-byte slices 5 ms apart takes at least 19 slices' gaps
    let id = faults
        .add(Toxic::slicer(100, 20, Duration::from_millis(5)))
        .unwrap();
    let took = echo(&mut client, &"s".repeat(2000)).await;
    assert!(took >= Duration::from_millis(80), "slicer: {took:?}");
    eprintln!("slicer 100 ± 20 bytes, 5 ms apart: 2 KB back in {took:?}");
    faults.remove(id);

    // timeout 0: held until removed
    let id = faults.add(Toxic::timeout(Duration::ZERO)).unwrap();
    let held = json!({"op": "echo", "payload": "held"});
    client.send_json(&held).await.unwrap();
    client
        .expect_within(frame(held.clone()), Duration::from_millis(400))
        .await
        .unwrap_err();
    faults.remove(id);
    client.expect(frame(held)).await.unwrap();

    // limit_data: 300 more bytes downstream, then closed
    let id = faults.add(Toxic::limit_data(300)).unwrap();
    echo(&mut client, &"l".repeat(100)).await;
    let cut = json!({"op": "echo", "payload": "c".repeat(400)});
    client.send_json(&cut).await.unwrap();
    let failure = client.expect(frame(cut)).await.unwrap_err();
    assert!(
        failure.transcript.contains("<connection"),
        "limit_data: {}",
        failure.transcript
    );
    faults.remove(id);

    // reset_peer on a new connection
    let mut client = factory.client("alice").await.unwrap();
    echo(&mut client, "x").await;
    let id = faults.add(Toxic::reset_peer(Duration::ZERO)).unwrap();
    assert_broken(&mut client).await;
    faults.remove(id);

    // slow_close: the service's close (after its answer to a plain HTTP
    // request) reaches the client that much after the answer
    let quick = close_after_answer(faults.addr()).await;
    faults
        .add(Toxic::slow_close(Duration::from_millis(400)))
        .unwrap();
    let slow = close_after_answer(faults.addr()).await;
    eprintln!("slow_close 400ms: the close {slow:?} after the answer (without: {quick:?})");
    assert!(
        slow >= Duration::from_millis(380) && quick < Duration::from_millis(200),
        "slow_close: the close came {slow:?} after the answer (without it {quick:?})"
    );
}

/// Sends a request that is no WebSocket handshake straight to the proxy
/// and measures from the first byte of the answer to the close.
async fn close_after_answer(proxy: std::net::SocketAddr) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0; 4096];
    let first = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
    assert!(matches!(first, Ok(Ok(n)) if n > 0), "no answer: {first:?}");
    let answered = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return answered.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("no close within 5 s"),
        }
    }
}

/// In front of a `wss://` staging nobody here wrote (Python `websockets`,
/// its certificate from a CA made now): passing TLS on, a toxic applies
/// and a frame fault is refused; ending TLS, a frame fault applies too.
#[tokio::test]
#[ignore = "needs WS_HARNESS_TEST_PYTHON (a Python with websockets); .ci/run runs it"]
async fn in_front_of_wss_toxics_pass_tls_on_and_frame_faults_end_it() {
    let pki = common::tls::Pki::new("faults");
    let args = [
        "--cert".to_owned(),
        pki.server_cert_file.display().to_string(),
        "--key".to_owned(),
        pki.server_key_file.display().to_string(),
        "--token".to_owned(),
        "tok".to_owned(),
    ];
    let server = PythonPeer::start("wss_server.py", &args);
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .staging_url(format!("wss://localhost:{}/", server.port).parse().unwrap())
        .backend([BackendKind::Staging])
        .token("tok")
        .tls_ca_file(&pki.ca_file)
        .contract_source(ws_harness::config::ContractSource::None)
        .build()
        .unwrap();
    let backend = BackendInfo::resolve(&config).await.unwrap();
    assert_eq!(backend.tier, Some(BackendKind::Staging));
    let hello = json!({"type": "hello"});

    // Passing TLS on: the client checks the server's own certificate.
    let faults = FaultProxy::start(&config, &backend).await.unwrap();
    let factory = TestClientFactory::new(config.clone(), faults.backend()).unwrap();
    let mut client = factory.client("alice").await.unwrap();
    faults
        .add(Toxic::latency(Duration::from_millis(200)))
        .unwrap();
    let sent = Instant::now();
    client.send_json(&hello).await.unwrap();
    client.expect(frame(hello.clone())).await.unwrap();
    assert!(sent.elapsed() >= Duration::from_millis(200));
    assert!(matches!(
        faults.add(FrameFault::drop()),
        Err(FaultError::FramesNotVisible { .. })
    ));

    // Ending TLS: the client trusts the proxy's own CA, the proxy the
    // server's through the configured tls_ca_file.
    let faults = FaultProxy::start_ending_tls(&config, &backend)
        .await
        .unwrap();
    let proxied = faults.backend();
    assert!(
        proxied.to_string().contains("ws-harness-mock-"),
        "the clients trust the proxy's CA: {proxied}"
    );
    let factory = TestClientFactory::new(config, proxied).unwrap();
    let mut client = factory.client("alice").await.unwrap();
    faults
        .add(FrameFault::drop().matching(frame(json!({"n": 2}))))
        .unwrap();
    for n in 1..=3 {
        client.send_json(&json!({"n": n})).await.unwrap();
    }
    client.expect(frame(json!({"n": 1}))).await.unwrap();
    client.expect(frame(json!({"n": 3}))).await.unwrap();
    client
        .expect_within(frame(json!({"n": 2})), Duration::from_millis(300))
        .await
        .unwrap_err();
}
