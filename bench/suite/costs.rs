//! Figures 8 and 9: what the servers and the clients cost, counted by
//! valgrind rather than timed, so a change can be judged without the
//! machine's noise: the heap (DHAT: blocks and bytes allocated, the peak of
//! live bytes) and instructions (callgrind).
//!
//! Each process is measured twice, given little to do and given more (runs,
//! connections, users), and the cost is the difference over what lies
//! between, so what starting, connecting and exiting cost cancels out.

use crate::bare::{connect_user, golden_path_run};
use crate::figures::{Bench, CHURN_SETTLE, CHURN_WAVE, TIMEOUT, lifted, load, load_plan, token};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;
use url::Url;
use ws_harness::access::Socket;
use ws_harness::chain::Resolution;
use ws_harness::{Access, BackendInfo, RealWebSocketTestConfig, TestClient, TestClientFactory};

/// The clients of figure 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientKind {
    /// The harness's `TestClient` with the reference contract checking every frame.
    HarnessReference,
    /// The harness's `TestClient` with contract `none`.
    HarnessNone,
    /// The bare client of `ws-harness load`.
    Bare,
}

impl ClientKind {
    pub(crate) const ALL: [ClientKind; 3] = [
        ClientKind::HarnessReference,
        ClientKind::HarnessNone,
        ClientKind::Bare,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientKind::HarnessReference => "harness TestClient, contract reference",
            ClientKind::HarnessNone => "harness TestClient, contract none",
            ClientKind::Bare => "bare tokio-tungstenite client",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            ClientKind::HarnessReference => "harness-reference",
            ClientKind::HarnessNone => "harness-none",
            ClientKind::Bare => "bare",
        }
    }
}

/// One open client of a [`ClientKind`], in test mode (tokens of the test
/// secret).
pub(crate) enum Client {
    Bare(Box<Socket>),
    Harness(Box<TestClient>),
}

impl Client {
    pub(crate) async fn open(kind: ClientKind, url: &Url, user: &str) -> Result<Self, String> {
        let contract = match kind {
            ClientKind::Bare => {
                return connect_user(url, &Access::test(), &token(user), TIMEOUT)
                    .await
                    .map(|ws| Client::Bare(Box::new(ws)))
                    .map_err(|e| e.to_string());
            }
            ClientKind::HarnessReference => "reference",
            ClientKind::HarnessNone => "none",
        };
        let env = std::collections::HashMap::from([(
            "WS_HARNESS_CONTRACT_SOURCE".to_owned(),
            contract.to_owned(),
        )]);
        let config = RealWebSocketTestConfig::builder()
            .environment(env)
            .build()
            .map_err(|e| e.to_string())?;
        let backend = BackendInfo {
            tier: None,
            url: url.clone(),
            reason: "the server the suite measures against".to_owned(),
            resolution: Resolution::default(),
            container: None,
            access: Access::test(),
        };
        let factory = TestClientFactory::new(config, backend).map_err(|e| e.to_string())?;
        let client = factory.client(user).await.map_err(|e| e.to_string())?;
        Ok(Client::Harness(Box::new(client)))
    }

    /// One golden-path run: the harness sends and expects the required
    /// events; the bare client reads until `agent_completed`.
    pub(crate) async fn run(&mut self, message_id: &str) -> Result<(), String> {
        match self {
            Client::Bare(ws) => golden_path_run(ws, message_id, TIMEOUT)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Client::Harness(client) => {
                client
                    .send_user_message(message_id, "load")
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .expect_required_events(message_id)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Frames that broke the contract so far (the harness's clients only).
    pub(crate) fn violations(&self) -> usize {
        match self {
            Client::Bare(_) => 0,
            Client::Harness(client) => client.violations().len(),
        }
    }
}

/// `suite client`: `runs` golden-path runs of one client, then exit; what
/// figure 9 runs under callgrind.
pub(crate) fn client_runs(url: &Url, kind: ClientKind, runs: usize) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        let mut client = Client::open(kind, url, "counted").await?;
        for r in 0..runs {
            client.run(&format!("m-{r}")).await?;
        }
        match client.violations() {
            0 => Ok(()),
            n => Err(format!("{n} frames broke the contract")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A valgrind tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// Instructions.
    Callgrind,
    /// The heap.
    Dhat,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Callgrind => "callgrind",
            Tool::Dhat => "dhat",
        }
    }
}

/// The parts of a golden-path run whose instructions figure 9 shows on
/// their own, each the inclusive count (everything it calls included) of
/// one function. A part a process does not have counts 0 there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    ClientFrameRead,
    EventsKept,
    FramesWritten,
    ReadBuffersZeroed,
    FramesParsed,
    ContractChecked,
    TypedEvents,
    ClientDropped,
}

impl Part {
    pub(crate) const ALL: [Part; 8] = [
        Part::ClientFrameRead,
        Part::EventsKept,
        Part::FramesWritten,
        Part::ReadBuffersZeroed,
        Part::FramesParsed,
        Part::ContractChecked,
        Part::TypedEvents,
        Part::ClientDropped,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Part::ClientFrameRead => "the client frame read (ClientMessage::parse)",
            Part::EventsKept => {
                "events kept for replay and fanned out (UserSlot::emit), frames written included"
            }
            Part::FramesWritten => "event frames written (FrameWriter::frame)",
            Part::ReadBuffersZeroed => "read buffers zero-filled (memset)",
            Part::FramesParsed => "frames parsed (serde_json::from_str)",
            Part::ContractChecked => "frames checked against the contract (ContractStream::check)",
            Part::TypedEvents => "typed events for the expectation (AgentEvent::from_json)",
            Part::ClientDropped => "the client and its transcript dropped",
        }
    }

    /// The function, as `callgrind_annotate` names it; one ending in `*`
    /// stands for every function it begins.
    fn function(self) -> &'static str {
        match self {
            Part::ClientFrameRead => "ws_harness::protocol::client::ClientMessage::parse",
            Part::EventsKept => "ws_harness::server::manager::UserSlot::emit",
            Part::FramesWritten => "ws_harness::server::agent::FrameWriter::frame",
            Part::ReadBuffersZeroed => "__memset*",
            Part::FramesParsed => "serde_json::de::from_trait",
            Part::ContractChecked => "ws_harness::contract::stream::ContractStream::check",
            Part::TypedEvents => "ws_harness::protocol::event::AgentEvent::from_json",
            Part::ClientDropped => "core::ptr::drop_in_place<ws_harness::client::TestClient>",
        }
    }

    fn is(self, function: &str) -> bool {
        match self.function().strip_suffix('*') {
            Some(prefix) => function.starts_with(prefix),
            None => function == self.function(),
        }
    }
}

/// What one process counted under a tool.
#[derive(Debug, Clone, Copy, Default)]
struct Counted {
    /// Instructions, all threads (callgrind).
    instructions: u64,
    /// Instructions of each of [`Part::ALL`], inclusive (callgrind).
    parts: [u64; Part::ALL.len()],
    /// Blocks allocated (DHAT).
    blocks: u64,
    /// Bytes allocated (DHAT).
    bytes: u64,
    /// The most bytes live at once (DHAT's t-gmax).
    peak_bytes: u64,
}

/// Where the tools' profiles and logs go: kept, for `callgrind_annotate`
/// and DHAT's viewer.
fn profile_dir() -> Result<PathBuf, String> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/bench-valgrind"
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// One process under one tool: the command, its profile and its log.
struct Measured {
    tool: Tool,
    profile: PathBuf,
    log: PathBuf,
}

impl Measured {
    /// `name` (with what it was given to do) under `tool`, in [`profile_dir`].
    fn new(tool: Tool, name: &str) -> Result<Self, String> {
        let dir = profile_dir()?;
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Ok(Self {
            tool,
            profile: dir.join(format!("{}.{slug}.out", tool.name())),
            log: dir.join(format!("{}.{slug}.log", tool.name())),
        })
    }

    /// `command` under the tool.
    fn command(&self, command: &Command) -> Command {
        let mut valgrind = Command::new("valgrind");
        let out = match self.tool {
            Tool::Callgrind => "--callgrind-out-file",
            Tool::Dhat => "--dhat-out-file",
        };
        valgrind
            .arg(format!("--tool={}", self.tool.name()))
            .arg(format!("--log-file={}", self.log.display()))
            .arg(format!("{out}={}", self.profile.display()))
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => valgrind.env(key, value),
                None => valgrind.env_remove(key),
            };
        }
        valgrind
    }

    /// What the tool counted, once the process has exited.
    fn counted(&self) -> Result<Counted, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let number = |text: &str| text.replace(',', "").parse::<u64>().ok();
        match self.tool {
            Tool::Callgrind => {
                let profile = read(&self.profile)?;
                let instructions = profile
                    .lines()
                    .find_map(|line| {
                        line.strip_prefix("totals:")
                            .or(line.strip_prefix("summary:"))
                    })
                    .and_then(|counts| number(counts.split_whitespace().next()?))
                    .ok_or_else(|| format!("{} has no totals line", self.profile.display()))?;
                Ok(Counted {
                    instructions,
                    parts: self.parts()?,
                    ..Counted::default()
                })
            }
            Tool::Dhat => {
                // `==PID== Total:     6,000 bytes in 11 blocks`, and `At t-gmax:` alike.
                let log = read(&self.log)?;
                let line = |label: &str| -> Option<(u64, u64)> {
                    let rest = log.lines().find_map(|l| Some(l.split_once(label)?.1))?;
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    Some((number(words.first()?)?, number(words.get(3)?)?))
                };
                let missing = || format!("{} has no DHAT summary", self.log.display());
                let (bytes, blocks) = line("Total:").ok_or_else(missing)?;
                let (peak_bytes, _) = line("At t-gmax:").ok_or_else(missing)?;
                Ok(Counted {
                    blocks,
                    bytes,
                    peak_bytes,
                    ..Counted::default()
                })
            }
        }
    }
}

impl Measured {
    /// The inclusive instructions of each of [`Part::ALL`], as
    /// `callgrind_annotate` sums them from the profile.
    fn parts(&self) -> Result<[u64; Part::ALL.len()], String> {
        let output = Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100"])
            .arg(&self.profile)
            .output()
            .map_err(|e| format!("cannot run callgrind_annotate (it comes with valgrind): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "callgrind_annotate {} failed: {}",
                self.profile.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let mut parts = [0; Part::ALL.len()];
        // `   12,710,336 (16.47%)  ???:ws_harness::server::Server::new [/path/ws-harness]`
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some((count, rest)) = line.trim_start().split_once(' ') else {
                continue;
            };
            let Ok(count) = count.replace(',', "").parse::<u64>() else {
                continue;
            };
            let Some((_, function)) = rest.split_once(':') else {
                continue;
            };
            let function = function.split(" [").next().unwrap_or(function);
            for (count_of, part) in parts.iter_mut().zip(Part::ALL) {
                if part.is(function) {
                    *count_of += count;
                }
            }
        }
        Ok(parts)
    }
}

/// What a server process under measurement is given to do.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Golden-path runs, one after another on one connection.
    Runs(usize),
    /// Users connected at once, each completing one run.
    Connections(usize),
    /// Waves of [`CHURN_WAVE`] distinct users who each connect, run once and
    /// leave, [`CHURN_SETTLE`] apart.
    Waves(usize),
}

impl std::fmt::Display for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Work::Runs(runs) => write!(f, "{runs} runs"),
            Work::Connections(connections) => write!(f, "{connections} connections"),
            Work::Waves(waves) => write!(f, "{waves} waves"),
        }
    }
}

impl Work {
    /// Does it, against `url`, from this process.
    fn drive(self, bench: &Bench, url: &Url) -> Result<(), String> {
        match self {
            Work::Runs(runs) => bench.one_thread.block_on(async {
                let mut client = Client::open(ClientKind::Bare, url, "counted").await?;
                for r in 0..runs {
                    client.run(&format!("m-{r}")).await?;
                }
                Ok(())
            }),
            Work::Connections(users) => load_users(bench, url, users, "connected"),
            Work::Waves(waves) => (0..waves).try_for_each(|wave| {
                load_users(bench, url, CHURN_WAVE, &format!("churn-{wave}"))?;
                std::thread::sleep(CHURN_SETTLE);
                Ok(())
            }),
        }
    }
}

/// `users` distinct users, each connecting and completing one run.
fn load_users(bench: &Bench, url: &Url, users: usize, prefix: &str) -> Result<(), String> {
    let mut plan = load_plan(users, 1, None);
    plan.user_prefix = prefix.to_owned();
    let report = load(bench, url, &Access::test(), &plan);
    if report.completed_runs == users as u64 {
        Ok(())
    } else {
        Err(format!(
            "{} of {users} runs completed: {:?}",
            report.completed_runs, report.errors
        ))
    }
}

/// How long a process under valgrind may take to finish and exit.
const VALGRIND_TIMEOUT: Duration = Duration::from_secs(300);

/// A server that exits by itself once `work` is done, under `tool`.
fn server_counted(
    bench: &Bench,
    tool: Tool,
    server: &Server,
    work: Work,
) -> Result<Counted, String> {
    let measured = Measured::new(tool, &format!("{} {work}", server.name()))?;
    let process =
        ws_harness::process::ServerProcess::spawn(measured.command(&server.command(work)?))
            .map_err(|e| e.to_string())?;
    work.drive(bench, &process.url())?;
    let status = process.wait(VALGRIND_TIMEOUT).map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "{} under {} ended with {status}",
            server.name(),
            tool.name()
        ));
    }
    measured.counted()
}

/// `suite client` under `tool`, doing `runs` runs against `url`.
fn client_counted(tool: Tool, kind: ClientKind, url: &Url, runs: usize) -> Result<Counted, String> {
    let measured = Measured::new(tool, &format!("{} {runs} runs", kind.flag()))?;
    let mut client = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    client.args(["client", "--url", url.as_str(), "--kind", kind.flag()]);
    client.args(["--runs", &runs.to_string()]);
    let output = measured
        .command(&client)
        .output()
        .map_err(|e| format!("cannot start valgrind: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{} under {} ended with {}: {}",
            kind.flag(),
            tool.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    measured.counted()
}

/// The servers measured as processes.
#[derive(Debug, Clone, Copy)]
enum Server {
    /// `ws-harness serve` as `ws-harness load` starts it, with this replay TTL.
    WsHarness { replay_ttl: Duration },
    /// The floor.
    Floor,
}

impl Server {
    const REFERENCE: Server = Server::WsHarness {
        replay_ttl: Duration::from_secs(600),
    };
    /// The servers every counted figure measures per run.
    const COUNTED: [Server; 2] = [Server::REFERENCE, Server::Floor];

    fn name(self) -> String {
        match self {
            Server::WsHarness { replay_ttl } if replay_ttl == Duration::from_secs(600) => {
                "ws-harness serve".to_owned()
            }
            Server::WsHarness { replay_ttl } => format!(
                "ws-harness serve, replay TTL {}",
                humantime::format_duration(replay_ttl)
            ),
            Server::Floor => "floor".to_owned(),
        }
    }

    /// The command that serves `work` and then exits by itself.
    fn command(self, work: Work) -> Result<Command, String> {
        match self {
            Server::WsHarness { replay_ttl } => {
                // Idle for longer than the pause between waves: gone after the last.
                let idle_exit = CHURN_SETTLE * 2;
                let flags = [
                    format!("--replay-ttl={}", humantime::format_duration(replay_ttl)),
                    format!("--idle-exit={}", humantime::format_duration(idle_exit)),
                ];
                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                Ok(ws_harness::process::ServerProcess::serve_for_load_command(
                    env!("CARGO_BIN_EXE_ws-harness").as_ref(),
                    &flags,
                ))
            }
            Server::Floor => {
                let connections = match work {
                    Work::Runs(_) => 1,
                    Work::Connections(n) => n,
                    Work::Waves(_) => return Err("the floor keeps no users".to_owned()),
                };
                let mut floor = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
                floor.args(["floor", "--listen", "127.0.0.1:0"]);
                floor.args(["--connections", &connections.to_string()]);
                Ok(floor)
            }
        }
    }
}

/// `(few, many)` of something to count.
fn few_and_many(many: usize) -> [usize; 2] {
    [(many / 5).max(1), many]
}

/// The cost of one unit of work: `measure` given few and many, the
/// difference over the units between.
fn per_unit(
    many: usize,
    mut measure: impl FnMut(usize) -> Result<Counted, String>,
) -> Result<(Counted, Counted, f64), String> {
    let [few, many] = few_and_many(many);
    let small = measure(few)?;
    let large = measure(many)?;
    Ok((small, large, (many - few) as f64))
}

fn each(small: u64, large: u64, units: f64) -> f64 {
    (large as f64 - small as f64) / units
}

fn measured_row(name: &str, row: Result<Value, String>) -> Value {
    match row {
        Ok(mut row) => {
            row["name"] = json!(name);
            row
        }
        Err(error) => {
            eprintln!("  {name}: NOT MEASURED: {error}");
            json!({"name": name, "error": error})
        }
    }
}

/// What `tool` counts per golden-path run, from `measure` (runs in,
/// counts out) given few runs and many.
fn per_run(
    bench: &Bench,
    tool: Tool,
    measure: impl FnMut(usize) -> Result<Counted, String>,
) -> Result<Value, String> {
    let (small, large, runs) = per_unit(bench.sizes.counted_runs, measure)?;
    let mut row = json!({ "runs": few_and_many(bench.sizes.counted_runs) });
    match tool {
        Tool::Dhat => {
            row["blocks_per_run"] = json!(each(small.blocks, large.blocks, runs));
            row["bytes_per_run"] = json!(each(small.bytes, large.bytes, runs));
        }
        Tool::Callgrind => {
            row["instructions_per_run"] = json!(each(small.instructions, large.instructions, runs));
            let parts: serde_json::Map<String, Value> = Part::ALL
                .iter()
                .zip(small.parts.iter().zip(large.parts))
                .filter(|(_, (_, large))| *large > 0)
                .map(|(part, (small, large))| {
                    (part.label().to_owned(), json!(each(*small, large, runs)))
                })
                .collect();
            row["parts_per_run"] = Value::Object(parts);
        }
    }
    Ok(row)
}

/// Each server's [`per_run`] under `tool`, driven by the bare client.
fn servers_per_run(bench: &Bench, tool: Tool) -> Vec<Value> {
    Server::COUNTED
        .into_iter()
        .map(|server| {
            let row = per_run(bench, tool, |runs| {
                server_counted(bench, tool, &server, Work::Runs(runs))
            });
            measured_row(&server.name(), row)
        })
        .collect()
}

/// Figure 8, the heap counted by DHAT: per run (servers and clients), per
/// open connection, per user who left.
pub(crate) fn heap(bench: &Bench) -> Value {
    eprintln!("[8/9] the heap, counted by valgrind's DHAT");
    if let Some(error) = no_valgrind() {
        return json!({"figure": "heap", "error": error});
    }
    let connections = bench.sizes.connections / 2;
    let mut servers = servers_per_run(bench, Tool::Dhat);
    for (row, server) in servers.iter_mut().zip(Server::COUNTED) {
        if row.get("error").is_some() {
            continue;
        }
        let counted = per_unit(connections, |n| {
            server_counted(bench, Tool::Dhat, &server, Work::Connections(n))
        });
        match counted {
            Ok((small, large, users)) => {
                row["peak_bytes_per_connection"] =
                    json!(each(small.peak_bytes, large.peak_bytes, users));
                row["connections"] = json!(few_and_many(connections));
            }
            Err(error) => *row = measured_row(&server.name(), Err(error)),
        }
    }
    let clients = clients_per_run(bench, Tool::Dhat);
    let departed: Vec<Value> = [Duration::from_secs(1), Duration::from_secs(3600)]
        .into_iter()
        .map(|replay_ttl| {
            let server = Server::WsHarness { replay_ttl };
            let row = per_unit(bench.sizes.counted_waves, |waves| {
                server_counted(bench, Tool::Dhat, &server, Work::Waves(waves))
            })
            .map(|(small, large, waves)| {
                let users = waves * CHURN_WAVE as f64;
                json!({
                    "replay_ttl_ms": replay_ttl.as_millis() as u64,
                    "waves": few_and_many(bench.sizes.counted_waves),
                    "peak_bytes_per_user": each(small.peak_bytes, large.peak_bytes, users),
                })
            });
            measured_row(&server.name(), row)
        })
        .collect();
    for row in servers.iter().chain(&clients) {
        if row.get("error").is_none() {
            eprintln!(
                "  {}: {:.1} blocks, {:.0} bytes per run",
                row["name"].as_str().unwrap_or("?"),
                row["blocks_per_run"].as_f64().unwrap_or(f64::NAN),
                row["bytes_per_run"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    for row in servers.iter().filter(|row| row.get("error").is_none()) {
        eprintln!(
            "  {}: {:.0} bytes at the peak per open connection",
            row["name"].as_str().unwrap_or("?"),
            row["peak_bytes_per_connection"]
                .as_f64()
                .unwrap_or(f64::NAN),
        );
    }
    for row in departed.iter().filter(|row| row.get("error").is_none()) {
        eprintln!(
            "  {}: the peak grows {:.0} bytes per user who left",
            row["name"].as_str().unwrap_or("?"),
            row["peak_bytes_per_user"].as_f64().unwrap_or(f64::NAN),
        );
    }
    json!({
        "figure": "heap",
        "what": "the heap as valgrind's DHAT counts it (every allocation of every thread), each server a process of its own driven from the suite, each client a process against the in-process server; every count the difference between a process given little to do and one given more, over what lies between: blocks and bytes allocated per golden-path run, the peak of live bytes per open connection (each completing one run), and the growth of that peak per distinct user who connected once, ran once and left, in waves of 1,000 a settle apart (a user forgotten after the TTL keeps only its id record)",
        "servers": servers,
        "clients": clients,
        "departed": departed,
    })
}

/// Each client kind's [`per_run`] under `tool`, against the in-process server.
fn clients_per_run(bench: &Bench, tool: Tool) -> Vec<Value> {
    match ws_harness::chain::InProcessBackend::start_with(lifted()) {
        Ok(backend) => ClientKind::ALL
            .into_iter()
            .map(|kind| {
                let row = per_run(bench, tool, |runs| {
                    client_counted(tool, kind, &backend.url(), runs)
                });
                measured_row(kind.name(), row)
            })
            .collect(),
        Err(error) => vec![json!({"name": "clients", "error": error.to_string()})],
    }
}

/// Why valgrind cannot count here, if it cannot.
fn no_valgrind() -> Option<String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(output) if output.status.success() => None,
        _ => {
            let error = "valgrind is not installed (Debian: apt-get install valgrind)".to_owned();
            eprintln!("  NOT MEASURED: {error}");
            Some(error)
        }
    }
}

/// Figure 9, instructions per run counted by callgrind: the servers as
/// processes driven by the bare client, the clients as processes against the
/// in-process server.
pub(crate) fn instructions(bench: &Bench) -> Value {
    eprintln!("[9/9] instructions per run, counted by valgrind's callgrind");
    if let Some(error) = no_valgrind() {
        return json!({"figure": "instructions", "error": error});
    }
    let servers = servers_per_run(bench, Tool::Callgrind);
    let clients = clients_per_run(bench, Tool::Callgrind);
    for row in servers.iter().chain(&clients) {
        if let Some(instructions) = row["instructions_per_run"].as_f64() {
            eprintln!(
                "  {}: {instructions:.0} instructions per run",
                row["name"].as_str().unwrap_or("?")
            );
        }
    }
    // A part no process counted names a function that is not there (a
    // module moved): the figure says so instead of leaving it out.
    let counted = |part: Part| {
        servers
            .iter()
            .chain(&clients)
            .any(|row| row["parts_per_run"].get(part.label()).is_some())
    };
    let unmatched: Vec<String> = Part::ALL
        .into_iter()
        .filter(|part| !counted(*part))
        .map(|part| {
            format!(
                "{}: no function {} in any profile",
                part.label(),
                part.function()
            )
        })
        .collect();
    for line in &unmatched {
        eprintln!("  NOT COUNTED: {line}");
    }
    json!({
        "figure": "instructions",
        "parts_not_counted": unmatched,
        "what": "user-space instructions per golden-path run as valgrind's callgrind counts them (all threads; the kernel's share is not counted): each server a process serving one connection of the bare client, each client a process against the in-process server; the difference between few runs and many, over the runs between",
        "servers": servers,
        "clients": clients,
    })
}
