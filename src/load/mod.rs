//! `ws-harness load`: many users at once, each on its own connection running
//! golden-path runs one after another; connect-time and run-latency
//! percentiles, throughput, errors by kind, and the server's memory.

mod report;

pub use report::LoadReport;

use crate::access::{Access, SizeLimits, Socket, TokenIn};
use crate::config::RealWebSocketTestConfig;
use crate::contract::{Contract, ContractStream, Rule, Violation};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server's WebSocket URL.
    pub url: Url,
    /// Users, each with its own connection.
    pub users: usize,
    /// The users are `<user_prefix>-0`, `<user_prefix>-1`, ...: another
    /// prefix gives another set of users.
    pub user_prefix: String,
    /// Golden-path runs per user, one after another.
    pub runs: usize,
    /// Connections being opened at once.
    pub concurrency: usize,
    /// The process id of the server, when it is a local process whose
    /// memory can be read (Linux `/proc`).
    pub server_pid: Option<u32>,
    /// How the users get in: the server's own access.
    pub access: Access,
    /// The contract every frame is checked against
    /// ([`RealWebSocketTestConfig::load_contract`]).
    pub contract: Contract,
}

#[derive(Default)]
struct Tally {
    connected: u64,
    completed_runs: u64,
    events: u64,
    errors: BTreeMap<String, u64>,
    violations: BTreeMap<Rule, (u64, Violation)>,
}

impl Tally {
    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn violation(&mut self, violation: Violation) {
        self.violations
            .entry(violation.rule)
            .or_insert((0, violation))
            .0 += 1;
    }
}

/// Why one user's connection or run failed; its `Display` is the kind the
/// report counts (`connect: timeout`, `run: agent_error`, ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No token could be had for the user.
    #[error("token: cannot mint one with the plan's credentials")]
    NoToken,
    /// The URL and token do not make a handshake request.
    #[error("connect: bad url or token")]
    BadRequest(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The handshake did not finish in time.
    #[error("connect: timeout")]
    ConnectTimeout,
    /// The handshake failed (refused, reset, an HTTP error).
    #[error("connect: {}", short(&.0.to_string()))]
    Handshake(Box<tokio_tungstenite::tungstenite::Error>),
    /// The run's `user_message` could not be sent.
    #[error("send")]
    Send,
    /// A frame of the run did not come in time.
    #[error("run: timeout")]
    RunTimeout,
    /// The connection closed or failed during the run.
    #[error("run: connection lost")]
    ConnectionLost,
    /// A frame was not JSON.
    #[error("run: not json")]
    NotJson,
    /// The run ended with `agent_error`.
    #[error("run: agent_error")]
    AgentError,
    /// The server answered with an `error` frame.
    #[error("run: error frame")]
    ErrorFrame,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Opens one user's connection with `Authorization: Bearer <token>` and
/// the access's headers and TLS setup, within `timeout`.
///
/// # Errors
/// [`LoadError`]: `BadRequest`, `ConnectTimeout` or `Handshake`
/// (`connect: HTTP error: 401 ...`).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use ws_harness::Access;
/// use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
/// use ws_harness::load::{connect_user, golden_path_run};
///
/// let token = JwtAuth::new(TEST_JWT_SECRET).unwrap().mint("alice", Duration::from_secs(60)).unwrap();
/// let url = "ws://127.0.0.1:8765/ws".parse().unwrap();
/// let mut ws = connect_user(&url, &Access::test(), &token, Duration::from_secs(5)).await.unwrap();
/// let (events, violations) = golden_path_run(&mut ws, "m-1", Duration::from_secs(5), None).await.unwrap();
/// assert_eq!((events, violations.len()), (5, 0));
/// # }
/// ```
pub async fn connect_user(
    url: &Url,
    access: &Access,
    token: &str,
    timeout: Duration,
) -> Result<Socket, LoadError> {
    let request = access
        .request(url.as_str(), token, TokenIn::Header)
        .map_err(|e| LoadError::BadRequest(Box::new(e)))?;
    // A fault proxy in front of the server tells users apart by the
    // token's subject, the user the load minted it for.
    let user = crate::protocol::auth::subject_of(token);
    let connect = access.connect(request, user.as_deref(), SizeLimits::default());
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(LoadError::Handshake(Box::new(e))),
        Err(_) => Err(LoadError::ConnectTimeout),
    }
}

/// One golden-path run on an open connection: sends a `user_message` with
/// this id and reads until its `agent_completed`, waiting at most `timeout`
/// for each frame. Returns the number of agent events received and, with a
/// `contract` stream, the frames that broke it.
///
/// Beyond the contract it checks only the `type` of each frame: it is the
/// lean client that load and benchmarks measure, not the asserting
/// [`TestClient`](crate::TestClient).
///
/// # Errors
/// [`LoadError`]: `Send`, `RunTimeout`, `ConnectionLost`, `NotJson`,
/// `AgentError` or `ErrorFrame` (see [`connect_user`] for an example).
pub async fn golden_path_run(
    ws: &mut Socket,
    message_id: &str,
    timeout: Duration,
    mut contract: Option<&mut ContractStream>,
) -> Result<(u64, Vec<Violation>), LoadError> {
    let frame = json!({"type": "user_message", "message_id": message_id, "thread_id": "load", "content": "load"});
    ws.send(Message::text(frame.to_string()))
        .await
        .map_err(|_| LoadError::Send)?;
    let mut events = 0;
    let mut violations = Vec::new();
    loop {
        let text = match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => return Err(LoadError::RunTimeout),
            Ok(None | Some(Err(_))) => return Err(LoadError::ConnectionLost),
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
        };
        let value = serde_json::from_str::<Value>(&text).map_err(|_| LoadError::NotJson)?;
        if let Some(stream) = contract.as_deref_mut()
            && let Some(violation) = stream.check(&value, &text)
        {
            violations.push(violation);
        }
        match value["type"].as_str() {
            Some("agent_completed") => return Ok((events + 1, violations)),
            Some("agent_error") => return Err(LoadError::AgentError),
            Some("error") => return Err(LoadError::ErrorFrame),
            _ => events += 1,
        }
    }
}

/// Runs the plan: first every user connects (`concurrency` handshakes at a
/// time), then all of them run their runs at once; each phase is timed on
/// its own.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ws_harness::{Access, RealWebSocketTestConfig};
/// use ws_harness::load::{LoadPlan, run};
///
/// let config = RealWebSocketTestConfig::builder().without_environment().build().unwrap();
/// let contract = config.load_contract().unwrap();
/// let plan = LoadPlan {
///     url: "ws://127.0.0.1:8765/ws".parse().unwrap(),
///     users: 100, user_prefix: "load".into(), runs: 10, concurrency: 50,
///     server_pid: None,
///     access: Access::test(), contract,
/// };
/// let report = run(&config, &plan).await;
/// println!("{}", report.render());
/// # }
/// ```
pub async fn run(config: &RealWebSocketTestConfig, plan: &LoadPlan) -> LoadReport {
    run_with_progress(config, plan, || {}).await
}

/// [`run`], calling `on_run` as each run ends (`ws-harness load` moves its
/// progress bar with it).
pub async fn run_with_progress(
    config: &RealWebSocketTestConfig,
    plan: &LoadPlan,
    on_run: impl Fn() + Clone + Send + 'static,
) -> LoadReport {
    let rss_before = plan.server_pid.and_then(rss_bytes);
    let peak = Arc::new(Mutex::new(rss_before.unwrap_or(0)));
    let sampler = plan.server_pid.map(|pid| {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                if let Some(rss) = rss_bytes(pid) {
                    let mut peak = peak.lock().unwrap_or_else(PoisonError::into_inner);
                    *peak = (*peak).max(rss);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut connect_us = histogram();
    let run_us = Arc::new(Mutex::new(histogram()));

    // Phase 1: every user connects.
    let gate = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let connecting_since = Instant::now();
    let mut connecting = Vec::with_capacity(plan.users);
    let minter = plan.access.credentials.minter().ok();
    let access = Arc::new(plan.access.clone());
    for i in 0..plan.users {
        let token = minter.as_ref().and_then(|minter| {
            minter
                .token_for(
                    &format!("{}-{i}", plan.user_prefix),
                    Duration::from_secs(3600),
                )
                .ok()
        });
        let (url, access, timeout, gate) = (
            plan.url.clone(),
            Arc::clone(&access),
            config.connection_timeout,
            Arc::clone(&gate),
        );
        connecting.push(tokio::spawn(async move {
            let token = token.ok_or(LoadError::NoToken)?;
            let _permit = gate.acquire().await;
            let started = Instant::now();
            let ws = connect_user(&url, &access, &token, timeout).await?;
            let subject = crate::protocol::auth::subject_of(&token);
            Ok::<_, LoadError>((ws, started.elapsed(), subject))
        }));
    }
    let mut sockets = Vec::with_capacity(plan.users);
    for user in connecting {
        match user.await {
            Ok(Ok((ws, took, subject))) => {
                record(&mut connect_us, took);
                sockets.push((ws, plan.contract.stream(subject)));
            }
            Ok(Err(kind)) => tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .error(kind.to_string()),
            Err(_) => tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .error("connect: panicked".to_owned()),
        }
    }
    let connect_elapsed = connecting_since.elapsed();
    tally
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .connected = sockets.len() as u64;

    // Phase 2: every connected user runs its runs, all at once.
    let running_since = Instant::now();
    let mut running = Vec::with_capacity(sockets.len());
    let checked = !plan.contract.is_none();
    for (mut ws, stream) in sockets {
        let mut stream = checked.then_some(stream);
        let (runs, timeout) = (plan.runs, config.event_timeout);
        let (tally, run_us, on_run) = (Arc::clone(&tally), Arc::clone(&run_us), on_run.clone());
        running.push(tokio::spawn(async move {
            for r in 0..runs {
                let sent = Instant::now();
                let outcome =
                    golden_path_run(&mut ws, &format!("m-{r}"), timeout, stream.as_mut()).await;
                on_run();
                let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                match outcome {
                    Ok((events, violations)) => {
                        for violation in violations {
                            tally.violation(violation);
                        }
                        record(
                            &mut run_us.lock().unwrap_or_else(PoisonError::into_inner),
                            sent.elapsed(),
                        );
                        tally.completed_runs += 1;
                        tally.events += events;
                    }
                    Err(kind) => {
                        tally.error(kind.to_string());
                        return None;
                    }
                }
            }
            // Hold the connection until every user is done, so the server's
            // peak memory counts all of them at once.
            Some(ws)
        }));
    }
    let mut open = Vec::with_capacity(running.len());
    for user in running {
        if let Ok(Some(ws)) = user.await {
            open.push(ws);
        }
    }
    let elapsed = running_since.elapsed();
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    drop(open);
    let peak = *peak.lock().unwrap_or_else(PoisonError::into_inner);
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    let run_us = run_us
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    LoadReport {
        url: plan.url.clone(),
        users: plan.users,
        runs_per_user: plan.runs,
        connected: tally.connected,
        completed_runs: tally.completed_runs,
        events: tally.events,
        errors: tally.errors,
        violations: tally.violations,
        connect_us,
        run_us,
        connect_elapsed,
        elapsed,
        server_rss: rss_before.map(|before| (before, peak)),
    }
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

fn short(error: &str) -> String {
    error.chars().take(60).collect()
}

/// The resident memory of a process, bytes (Linux `/proc`; `None` elsewhere).
#[must_use]
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
