//! Figure 11: the harness's client against a service that floods. A server
//! in the suite's process writes `{"type":"noise","n":k}` frames without
//! pause to every connection; a client in a process of its own (`suite
//! flood-client`) waits on it and reports how long the wait took and its
//! own peak RSS.

use crate::figures::Bench;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use url::Url;
use ws_harness::config::ContractSource;
use ws_harness::{BackendInfo, RealWebSocketTestConfig, TestClientFactory, event};

/// What the client waits for under the flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Wait {
    /// `expect_within(event("target"), 3s)`: the target never comes.
    ExpectWithin,
    /// `expect_nothing(10s)`: frames keep coming.
    ExpectNothing,
}

impl Wait {
    fn flag(self) -> &'static str {
        match self {
            Self::ExpectWithin => "expect-within",
            Self::ExpectNothing => "expect-nothing",
        }
    }

    fn bound(self) -> Duration {
        match self {
            Self::ExpectWithin => Duration::from_secs(3),
            Self::ExpectNothing => Duration::from_secs(10),
        }
    }
}

/// `suite flood-client`: one wait against the flooding server at `url`,
/// then its figures as JSON on stdout: the wait's length, the frames
/// received and this process's peak RSS.
pub(crate) fn flood_client(url: &Url, wait: Wait) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result: Result<Value, String> = runtime.block_on(async {
        let config = RealWebSocketTestConfig::builder()
            .without_environment()
            .url(url.clone())
            .contract_source(ContractSource::None)
            .build()
            .map_err(|e| e.to_string())?;
        let backend = BackendInfo::resolve(&config)
            .await
            .map_err(|e| e.to_string())?;
        let factory = TestClientFactory::new(config, backend).map_err(|e| e.to_string())?;
        let mut client = factory.client("flooded").await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        let failed = match wait {
            Wait::ExpectWithin => client
                .expect_within(event("target"), wait.bound())
                .await
                .err(),
            Wait::ExpectNothing => client.expect_nothing(wait.bound()).await.err(),
        };
        let took = started.elapsed();
        let message = failed
            .map(|f| f.to_string())
            .ok_or("the wait passed under a flood")?;
        Ok(json!({
            "wait": wait.flag(),
            "bound_s": wait.bound().as_secs_f64(),
            "took_s": took.as_secs_f64(),
            "frames_received": client.transcript().received(),
            "frames_kept": client.transcript().frames().len(),
            "message_bytes": message.len(),
            "peak_rss_bytes": peak_rss(),
        }))
    });
    match result {
        Ok(figure) => {
            println!("{figure}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("flood-client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// This process's peak resident set (`VmHWM`), in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// Serves every connection with a flood of small frames, without pause.
async fn flooding_server() -> std::io::Result<Url> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/", listener.local_addr()?)
        .parse()
        .expect("a URL");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                for n in 0u64.. {
                    let noise = Message::text(format!(r#"{{"type":"noise","n":{n}}}"#));
                    if ws.feed(noise).await.is_err() || (n % 64 == 0 && ws.flush().await.is_err()) {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}

/// Figure 11: each wait in a client process of its own, against the flood.
pub(crate) fn flood(bench: &Bench) -> Value {
    let url = match bench.runtime.block_on(flooding_server()) {
        Ok(url) => url,
        Err(e) => return json!({"error": format!("cannot listen: {e}")}),
    };
    let rows: Vec<Value> = [Wait::ExpectWithin, Wait::ExpectNothing]
        .into_iter()
        .map(|wait| {
            client_row(&url, wait)
                .unwrap_or_else(|error| json!({"wait": wait.flag(), "error": error}))
        })
        .collect();
    json!({
        "what": "A server that writes small JSON frames without pause (bench/suite/flood.rs); the harness's TestClient (contract none, release build) in a process of its own waits on it: `expect_within(event(\"target\"), 3s)` for a frame that never comes, and `expect_nothing(10s)`. Each row is one process: how long the wait took, the frames it received, the failure message's size and the process's peak RSS (VmHWM)",
        "rows": rows,
    })
}

/// One `suite flood-client` process, while the suite's runtime floods.
fn client_row(url: &Url, wait: Wait) -> Result<Value, String> {
    let mut client = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    client.args(["flood-client", "--url", url.as_str(), "--wait", wait.flag()]);
    let output = client.output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "flood-client ended with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}
