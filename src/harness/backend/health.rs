//! `GET /health` of a server speaking `PROTOCOL.md`, checked for protocol 1.

use crate::protocol::PROTOCOL_VERSION;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

/// Largest `/health` answer read.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Probes the `/health` of the server whose WebSocket URL is `ws_url`,
/// within `timeout`. `Err` says what was wrong, for the resolution report.
pub(super) async fn check(ws_url: &Url, timeout: Duration) -> Result<(), String> {
    if ws_url.scheme() != "ws" {
        return Err(format!(
            "{ws_url}: only ws:// servers can be probed by this build (no TLS)"
        ));
    }
    let host = ws_url.host_str().unwrap_or("localhost").to_owned();
    let port = ws_url.port_or_known_default().unwrap_or(80);
    let health = format!("http://{host}:{port}/health");
    let get = async {
        let mut stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("{health}: cannot connect: {e}"))?;
        let request =
            format!("GET /health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("{health}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("{health}: {e}"))?;
        Ok::<_, String>(String::from_utf8_lossy(&raw).into_owned())
    };
    let raw = tokio::time::timeout(timeout, get)
        .await
        .map_err(|_| format!("{health}: no answer within {timeout:?}"))??;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    if status != "200" {
        return Err(format!("{health} answered HTTP {status}"));
    }
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let health_json: Value = serde_json::from_str(body.trim()).map_err(|e| {
        format!(
            "{health} did not answer JSON ({e}): {:?}",
            body.chars().take(80).collect::<String>()
        )
    })?;
    match health_json.get("protocol").and_then(Value::as_u64) {
        Some(p) if p == u64::from(PROTOCOL_VERSION) => Ok(()),
        Some(p) => Err(format!(
            "{health} speaks protocol {p}; this harness speaks protocol {PROTOCOL_VERSION}"
        )),
        None => Err(format!(
            "{health} does not say its protocol version: {health_json}"
        )),
    }
}

/// The body of a chunked response.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
