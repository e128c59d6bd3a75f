//! The memory a client keeps while a service floods it, read from the OS
//! in a test process of its own (this file holds one test): the transcript
//! keeps a window, so a flood of small frames and a stream of huge ones
//! both leave the peak bounded. Linux only (`VmHWM` of /proc/self/status).

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

/// Listens for `quiet` to a server sending `frame(k)`; how many frames came.
async fn flood(frame: fn(u64) -> String, quiet: Duration) -> usize {
    let mut client =
        common::raw::client(common::raw::sending(frame).await, common::raw::settings()).await;
    client.expect_nothing(quiet).await.unwrap_err();
    client.transcript().received()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_small_frames_and_a_stream_of_huge_ones_leave_memory_bounded() {
    let small = flood(
        |k| format!(r#"{{"type":"noise","n":{k}}}"#),
        Duration::from_secs(3),
    )
    .await;
    let after_small = common::raw::peak_rss();
    // 15 MiB frames of plain text, under tungstenite's 16 MiB frame limit.
    let huge = flood(|_| "x".repeat(15 << 20), Duration::from_secs(3)).await;
    let after_huge = common::raw::peak_rss();
    eprintln!(
        "{small} small frames: peak RSS {} MiB; then {huge} frames of 15 MiB: peak RSS {} MiB",
        after_small >> 20,
        after_huge >> 20
    );
    assert!(small > 20_000, "the flood was not a flood: {small} frames");
    assert!(
        after_small < 128 << 20,
        "peak RSS {} MiB",
        after_small >> 20
    );
    assert!(after_huge < 512 << 20, "peak RSS {} MiB", after_huge >> 20);
}
