//! A service written to misbehave, on a real socket: it floods frames
//! without pause. Every wait of the harness ends at its bound whatever the
//! service sends, and a failure's message stays bounded. The bounds are
//! checked with slack that holds on a loaded machine (twice the bound plus
//! a second); the tight figures are the benchmark's.

mod common;

use futures_util::SinkExt;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use ws_harness::client::Problem;
use ws_harness::{BackendInfo, ExpectationFailed, TestClient, event};

/// A server that sends `{"type":"noise","n":k}` without pause to every
/// client, and `{"type":"target"}` after `target_after` noise frames.
async fn flooding(target_after: Option<u64>) -> BackendInfo {
    common::raw::serve(WebSocketConfig::default(), move |mut ws| async move {
        for n in 0u64.. {
            if Some(n) == target_after
                && ws
                    .send(Message::text(r#"{"type":"target"}"#))
                    .await
                    .is_err()
            {
                return;
            }
            let noise = Message::text(format!(r#"{{"type":"noise","n":{n}}}"#));
            if ws.feed(noise).await.is_err() || (n % 64 == 0 && ws.flush().await.is_err()) {
                return;
            }
        }
    })
    .await
}

/// Twice the bound plus a second: what a loaded machine may add.
fn slack(bound: Duration) -> Duration {
    bound * 2 + Duration::from_secs(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expectation_under_a_flood_times_out_at_its_bound() {
    let mut client = common::raw::client(flooding(None).await, common::raw::settings()).await;
    let bound = Duration::from_secs(2);
    let started = Instant::now();
    let failed: ExpectationFailed = client
        .expect_within(event("target"), bound)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took < slack(bound),
        "took {took:?} for a bound of {bound:?}"
    );
    assert!(
        matches!(failed.problem, Problem::TimedOut { .. })
            && failed
                .problem
                .to_string()
                .starts_with("timed out after 2s; missing: target"),
        "{}",
        failed.problem
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_behind_a_flood_is_found_when_it_arrives_in_time() {
    let mut client =
        common::raw::client(flooding(Some(50_000)).await, common::raw::settings()).await;
    let bound = Duration::from_secs(20);
    let started = Instant::now();
    let target = client.expect_within(event("target"), bound).await.unwrap();
    assert_eq!(target["type"], "target");
    let took = started.elapsed();
    assert!(took < bound, "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_nothing_under_a_flood_ends_at_its_bound_with_a_bounded_message() {
    let mut client = common::raw::client(flooding(None).await, common::raw::settings()).await;
    let bound = Duration::from_secs(2);
    let started = Instant::now();
    let failed = client.expect_nothing(bound).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took < slack(bound),
        "took {took:?} for a bound of {bound:?}"
    );
    let message = failed.to_string();
    assert!(
        message.len() < 64 * 1024,
        "a failure message of {} bytes",
        message.len()
    );
    // The first ten named, the rest counted by kind.
    let Problem::Unexpected {
        listed,
        more,
        by_kind,
        ..
    } = &failed.problem
    else {
        panic!("{}", failed.problem)
    };
    assert_eq!(listed.len(), 10, "{}", failed.problem);
    assert!(*more > 0, "{}", failed.problem);
    assert_eq!(by_kind, &[("noise".to_owned(), 10 + more)]);
}

/// A server that sends one `{"type":"big",...}` frame of `bytes` bytes,
/// then waits.
async fn oversized(bytes: usize) -> BackendInfo {
    let unlimited = WebSocketConfig::default()
        .max_frame_size(None)
        .max_message_size(None);
    common::raw::serve(unlimited, move |mut ws| async move {
        let head = r#"{"type":"big","pad":""#;
        let pad = "x".repeat(bytes - head.len() - 2);
        let _ = ws.send(Message::text(format!("{head}{pad}\"}}"))).await;
        futures_util::StreamExt::for_each(ws, |_| async {}).await;
    })
    .await
}

/// How the first expectation on `client` failed, the connection closed.
async fn closed_with(mut client: TestClient) -> String {
    client
        .expect_within(event("never"), Duration::from_secs(10))
        .await
        .unwrap_err()
        .problem
        .to_string()
}

#[tokio::test]
async fn a_frame_over_the_size_limit_fails_naming_the_limit_and_its_setting() {
    let client = common::raw::client(oversized(17 << 20).await, common::raw::settings()).await;
    let problem = closed_with(client).await;
    assert!(
        problem.starts_with(
            "the connection closed: <connection error: Space limit exceeded: Message too long: 17825792 > 16777216; \
             the client's `max_frame_size` is 16.0 MiB (16777216 bytes): raise it in ws-harness.toml or WS_HARNESS_MAX_FRAME_SIZE>"
        ),
        "{problem}"
    );
}

#[tokio::test]
async fn a_raised_max_frame_size_lets_a_larger_frame_in() {
    let settings = common::raw::settings().max_frame_size(32 << 20);
    let mut client = common::raw::client(oversized(17 << 20).await, settings).await;
    let frame = client
        .expect_within(event("big"), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(frame["pad"].as_str().unwrap().len(), (17 << 20) - 23);
}

/// A server that sends `frames`, raw bytes after the handshake, then waits.
async fn sending_raw(frames: &'static [u8]) -> BackendInfo {
    common::raw::serve(WebSocketConfig::default(), move |mut ws| async move {
        let _ = ws.get_mut().write_all(frames).await;
        futures_util::StreamExt::for_each(ws, |_| async {}).await;
    })
    .await
}

#[tokio::test]
async fn a_message_over_max_message_size_names_that_setting() {
    // Three unfinished text fragments of 1 KiB and their last continuation.
    static FRAGMENTS: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut bytes = Vec::new();
        for (n, opcode) in [0x1, 0x0, 0x0, 0x80].into_iter().enumerate() {
            bytes.extend_from_slice(&[opcode, 126, 0x04, 0x00]);
            bytes.extend(std::iter::repeat_n(b'a' + n as u8, 1024));
        }
        bytes
    });
    let settings = common::raw::settings()
        .max_frame_size(2048)
        .max_message_size(3000);
    let client = common::raw::client(sending_raw(&FRAGMENTS).await, settings).await;
    let problem = closed_with(client).await;
    assert!(
        problem.contains("Message too long: 3072 > 3000; the client's `max_message_size` is 2.9 KiB (3000 bytes): raise it in ws-harness.toml or WS_HARNESS_MAX_MESSAGE_SIZE"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_close_the_rfc_forbids_is_reported_as_the_server_sent_it() {
    let cases: [(&'static [u8], &str); 5] = [
        (
            b"\x88\x05\x03\xe7bye",
            "<close 999 \"bye\" (999 is not a close code a peer may send, RFC 6455 §7.4); the client answered 1002>",
        ),
        (
            b"\x88\x02\x03\xed",
            "<close 1005 \"\" (1005 is not a close code a peer may send, RFC 6455 §7.4); the client answered 1002>",
        ),
        (
            b"\x88\x02\x13\x88",
            "<close 5000 \"\" (5000 is not a close code a peer may send, RFC 6455 §7.4); the client answered 1002>",
        ),
        (
            b"\x88\x01\x03",
            "; the server sent close with a 1-byte payload (a close payload is empty or starts with a 2-byte code, RFC 6455 §5.5.1)>",
        ),
        (
            b"\x88\x04\x03\xe8\xff\xfe",
            "; the server sent close 1000 \"\u{fffd}\u{fffd}\" (the reason is not UTF-8, RFC 6455 §5.5.1)>",
        ),
    ];
    for (frame, said) in cases {
        let client = common::raw::client(sending_raw(frame).await, common::raw::settings()).await;
        let problem = closed_with(client).await;
        assert!(problem.starts_with("the connection closed: <"), "{problem}");
        assert!(problem.contains(said), "{said} not in: {problem}");
    }
}

#[tokio::test]
async fn a_close_the_rfc_allows_is_reported_as_before() {
    let client = common::raw::client(
        sending_raw(b"\x88\x07\x0f\xa1going").await,
        common::raw::settings(),
    )
    .await;
    let problem = closed_with(client).await;
    assert!(
        problem.starts_with("the connection closed: <close 4001 going>"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_transcript_window_is_a_setting() {
    let settings = common::raw::settings().transcript_frames(100);
    let mut client = common::raw::client(flooding(Some(1_000)).await, settings).await;
    client
        .expect_within(event("target"), Duration::from_secs(20))
        .await
        .unwrap();
    // The window is trimmed in batches: at most twice its frames are held.
    let transcript = client.transcript();
    let held = transcript.frames().len();
    assert!(held < 200, "{held}");
    assert!(transcript.received() > 1_000);
    assert_eq!(transcript.forgotten() + held, transcript.received());
    assert!(transcript.forgotten() > 800, "{}", transcript.forgotten());
}
