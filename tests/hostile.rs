//! A service written to misbehave, on a real socket: it floods frames
//! without pause. Every wait of the harness ends at its bound whatever the
//! service sends, and a failure's message stays bounded. The bounds are
//! checked with slack that holds on a loaded machine (twice the bound plus
//! a second); the tight figures are the benchmark's.

mod common;

use futures_util::SinkExt;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use ws_harness::{BackendInfo, ExpectationFailed, event};

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
    let mut client = common::raw::client(flooding(None).await).await;
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
        failed
            .problem
            .starts_with("timed out after 2s; missing: target"),
        "{}",
        failed.problem
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_behind_a_flood_is_found_when_it_arrives_in_time() {
    let mut client = common::raw::client(flooding(Some(50_000)).await).await;
    let bound = Duration::from_secs(20);
    let started = Instant::now();
    let target = client.expect_within(event("target"), bound).await.unwrap();
    assert_eq!(target["type"], "target");
    let took = started.elapsed();
    assert!(took < bound, "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_nothing_under_a_flood_ends_at_its_bound_with_a_bounded_message() {
    let mut client = common::raw::client(flooding(None).await).await;
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
    assert!(failed.problem.starts_with("extra: "), "{}", failed.problem);
}

/// A server that sends one text frame of `bytes` bytes, then waits.
async fn oversized(bytes: usize) -> BackendInfo {
    let unlimited = WebSocketConfig::default()
        .max_frame_size(None)
        .max_message_size(None);
    common::raw::serve(unlimited, move |mut ws| async move {
        let _ = ws.send(Message::text("x".repeat(bytes))).await;
        futures_util::StreamExt::for_each(ws, |_| async {}).await;
    })
    .await
}

#[tokio::test]
async fn a_frame_over_the_size_limit_fails_naming_why_the_connection_closed() {
    let mut client = common::raw::client(oversized(17 << 20).await).await;
    let failed = client
        .expect_within(event("never"), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        failed.problem.starts_with(
            "the connection closed: <connection error: Space limit exceeded: Message too long"
        ),
        "{}",
        failed.problem
    );
}
