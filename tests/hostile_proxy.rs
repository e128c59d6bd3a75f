//! The fault proxy in front of a hostile service: a flood of small frames,
//! a stream of huge ones, and a client that stops reading, with frame
//! faults and a toxic in force. The proxy's memory stays bounded: peak
//! RSS of this test process, which holds one test; Linux only.

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_harness::faults::{FaultProxy, FrameFault, Toxic};
use ws_harness::{BackendInfo, event};

/// A proxy in front of `backend` with a frame fault that looks at every
/// frame (and matches none) and a small latency.
async fn proxy(backend: &BackendInfo) -> FaultProxy {
    let config = common::raw::settings().build().unwrap();
    let faults = FaultProxy::start(&config, backend).await.unwrap();
    faults
        .add(FrameFault::drop().matching(event("never-sent")))
        .unwrap();
    faults
        .add(Toxic::latency(Duration::from_millis(1)))
        .unwrap();
    faults
}

/// Listens for `quiet` through the proxy; how many frames came.
async fn flood(frame: fn(u64) -> String, quiet: Duration) -> usize {
    let backend = common::raw::sending(frame).await;
    let faults = proxy(&backend).await;
    let mut client = common::raw::client(faults.backend(), common::raw::settings()).await;
    client.expect_nothing(quiet).await.unwrap_err();
    client.transcript().received()
}

/// A client that completes its handshake through the proxy and then does
/// not read for `stall`, while the server floods 1 MiB frames: the proxy
/// holds a bounded backlog, not the flood.
async fn stalled_reader(stall: Duration) {
    let backend = common::raw::sending(|_| "y".repeat(1 << 20)).await;
    let faults = proxy(&backend).await;
    let mut tcp = tokio::net::TcpStream::connect(faults.addr()).await.unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 64 * 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"));
    tokio::time::sleep(stall).await;
    // Then it reads again: the flood still flows.
    let mut read = 0;
    while read < 8 << 20 {
        read += tcp.read(&mut buf).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_huge_frames_and_a_stalled_reader_leave_the_proxys_memory_bounded() {
    let small = flood(
        |k| format!(r#"{{"type":"noise","n":{k}}}"#),
        Duration::from_secs(3),
    )
    .await;
    let after_small = common::raw::peak_rss();
    stalled_reader(Duration::from_secs(2)).await;
    let after_stall = common::raw::peak_rss();
    // 15 MiB frames: larger than the proxy inspects, so they stream.
    let huge = flood(|_| "x".repeat(15 << 20), Duration::from_secs(3)).await;
    let after_huge = common::raw::peak_rss();
    eprintln!(
        "through the proxy: {small} small frames, peak RSS {} MiB; a reader stalled 2 s under 1 MiB frames, peak RSS {} MiB; {huge} frames of 15 MiB, peak RSS {} MiB",
        after_small >> 20,
        after_stall >> 20,
        after_huge >> 20
    );
    assert!(small > 5_000, "the flood was not a flood: {small} frames");
    assert!(huge >= 2, "the huge frames did not pass: {huge}");
    assert!(
        after_small < 128 << 20,
        "peak RSS {} MiB",
        after_small >> 20
    );
    assert!(after_huge < 512 << 20, "peak RSS {} MiB", after_huge >> 20);
    assert!(
        after_stall < after_small + (64 << 20),
        "a stalled reader grew the peak RSS from {} MiB to {} MiB",
        after_small >> 20,
        after_stall >> 20
    );
}
