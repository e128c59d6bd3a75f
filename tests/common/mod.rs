//! Helpers shared by the integration tests: a reference server on a loopback
//! port, a raw WebSocket client, and a raw HTTP GET.
#![allow(dead_code, unreachable_pub)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::Request;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ws_harness::chain::InProcessBackend;
use ws_harness::process::ServerProcess;
use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
use ws_harness::server::{Server, ServerConfig};

/// Settings of no file or variable for the built-in reference server in
/// this process, each expectation waiting `event_timeout`.
pub fn in_process_config(event_timeout: Duration) -> ws_harness::RealWebSocketTestConfig {
    ws_harness::RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([ws_harness::BackendKind::InProcess])
        .event_timeout(event_timeout)
        .build()
        .unwrap()
}

/// How long a test waits for any one frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A reference server of the test's own on `127.0.0.1`: the library's
/// [`InProcessBackend`] with a given configuration.
pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Server,
    pub auth: JwtAuth,
    backend: InProcessBackend,
}

impl TestServer {
    /// A test-mode server with default limits.
    pub async fn start() -> Self {
        Self::with_config(ServerConfig::test_mode()).await
    }

    pub async fn with_config(config: ServerConfig) -> Self {
        let secret = config
            .jwt_secret
            .clone()
            .unwrap_or_else(|| TEST_JWT_SECRET.to_owned());
        let backend = InProcessBackend::start_with(config).expect("the server starts");
        Self {
            addr: backend.addr(),
            server: backend.server(),
            auth: JwtAuth::new(&secret).unwrap(),
            backend,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn token(&self, user: &str) -> String {
        self.auth.mint(user, Duration::from_secs(300)).unwrap()
    }

    /// A request to `/ws` with `Authorization: Bearer <token>`.
    pub fn request(&self, token: &str) -> Request<()> {
        ws_harness::protocol::auth::bearer_request(&self.url(), token).unwrap()
    }

    /// An authenticated client for `user`.
    pub async fn connect(&self, user: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(self.request(&self.token(user)))
            .await
            .expect("handshake accepted");
        Client { ws }
    }

    /// Stops the server and waits for `serve` to return.
    pub async fn shutdown(self) {
        tokio::time::timeout(Duration::from_secs(10), self.backend.shutdown())
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }

    /// `GET path` over a raw socket: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }

    /// Waits until the server has finished (counted and measured) `runs` runs:
    /// a client sees a run's last event a moment before the server counts it.
    pub async fn wait_for_runs(&self, runs: u64) {
        let performance = self.server.performance();
        eventually(&format!("{runs} runs finished"), || {
            performance.snapshot().runs >= runs
        })
        .await;
    }

    /// The `/metrics` page, checked to hold each of `lines` as a whole line.
    pub async fn assert_metrics(&self, lines: &[&str]) -> String {
        let (status, page) = self.get("/metrics").await;
        assert_eq!(status, 200);
        for line in lines {
            assert!(page.lines().any(|l| l == *line), "no `{line}` in:\n{page}");
        }
        page
    }

    /// The `/health` body, checked to be `ok`.
    pub async fn health(&self) -> Value {
        let (status, body) = self.get("/health").await;
        assert_eq!(status, 200, "{body}");
        let health: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["status"], "ok");
        health
    }
}

/// The value of one sample of a `/metrics` page, e.g. `ws_harness_runs_per_second`.
pub fn metric_value(page: &str, sample: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{sample}` in:\n{page}"))
        .parse()
        .unwrap()
}

/// Waits until `done` holds, failing with `what` after the wait. For state
/// the server updates after the frames a client sees (a run's end, a close).
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "still not true after {WAIT:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `GET path` with `Connection: close`: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut raw))
        .await
        .expect("response within the wait")
        .unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A raw WebSocket client over tokio-tungstenite.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// Sends any frame, raw ones (`Message::Frame`) included.
    pub async fn send(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// Sends a `user_message` with an optional scenario.
    pub async fn user_message(&mut self, message_id: &str, scenario: Option<Value>) {
        let mut frame = json!({
            "type": "user_message",
            "message_id": message_id,
            "thread_id": "t-1",
            "content": "hello",
        });
        if let Some(scenario) = scenario {
            frame["scenario"] = scenario;
        }
        self.send_json(frame).await;
    }

    /// The next text frame as JSON; fails on a close, an error or the wait.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the wait")
                .expect("the connection is still open")
                .expect("a readable frame");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON text"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Frames up to and including the first of type `last` (or `agent_error`).
    pub async fn until(&mut self, last: &str) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next_json().await;
            let done = frame["type"] == last || frame["type"] == "agent_error";
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// Runs one user message with the default scenario and returns its events.
    pub async fn run(&mut self, message_id: &str) -> Vec<Value> {
        self.user_message(message_id, None).await;
        self.until("agent_completed").await
    }

    /// Sends a ping and checks the pong: proves the connection is open and served.
    pub async fn assert_alive(&mut self) {
        self.send_json(json!({"type": "ping", "nonce": "alive?"}))
            .await;
        assert_eq!(
            self.next_json().await,
            json!({"type": "pong", "nonce": "alive?"})
        );
    }

    /// The close frame the server sends next (skipping text frames).
    pub async fn expect_close(&mut self) -> CloseFrame {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a close within the wait");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => return frame,
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Asserts no text frame arrives for `quiet`.
    /// The connection must stay open: a close or an error fails it too.
    pub async fn expect_quiet(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(other)) => panic!("expected nothing for {quiet:?}, got {other:?}"),
                Ok(None) => panic!("expected nothing for {quiet:?}, but the connection closed"),
            }
        }
    }
}

/// The next item of `ws` (a message, an error, or `None` at its end),
/// within [`WAIT`].
pub async fn next_within<S>(ws: &mut S) -> Option<Result<Message, WsError>>
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame, an error or the end within the wait")
}

/// The event types of a list of frames.
pub fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

/// The HTTP status and JSON body of a refused handshake.
pub async fn refused(request: Request<()>) -> (u16, Value) {
    match tokio_tungstenite::connect_async(request).await {
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).expect("a JSON body"),
            )
        }
        Ok(_) => panic!("the handshake was accepted"),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// Spawns `command` (a server that prints `listening on HOST:PORT` first,
/// as `ws-harness serve` does) as a process killed when dropped, so a
/// failing test leaves nothing running; its address.
pub fn start_server(mut command: std::process::Command) -> (ServerProcess, SocketAddr) {
    command.stderr(std::process::Stdio::null());
    let server = ServerProcess::spawn(command).expect("the server starts and says where");
    let addr = server.addr().parse().unwrap();
    (server, addr)
}

/// Makes `command` lead a process group of its own (on Unix), so
/// [`kill_group`] reaches whatever it starts.
pub fn own_group(command: &mut std::process::Command) -> &mut std::process::Command {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    command
}

/// Kills `child` and, on Unix, the process group it leads (see
/// [`own_group`]): nothing it started outlives it. Then reaps it.
pub fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    let _ = nix::sys::signal::killpg(pid(child.id()), nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends `signal` to the process `id`.
///
/// The tests signal through nix, never the `kill` command: procps-ng
/// 4.0.2's reads `kill -9 -12345` as `kill(-1, SIGKILL)`, which kills every
/// process it may signal.
#[cfg(unix)]
pub fn send_signal(id: u32, signal: nix::sys::signal::Signal) -> nix::Result<()> {
    nix::sys::signal::kill(pid(id), signal)
}

#[cfg(unix)]
fn pid(id: u32) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(i32::try_from(id).expect("a process id fits an i32"))
}

/// Runs `command` to its end and returns its output; a process still
/// running after `limit` is killed with all it started, and the test fails.
pub fn output_within(command: &mut std::process::Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = own_group(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            kill_group(&mut child);
            panic!("still running after {limit:?}, killed: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub mod python;
pub mod raw;
pub mod tls;
pub mod websocat;
