//! `ws-harness load`: many users at once, each on its own connection running
//! golden-path runs one after another; connect-time and run-latency
//! percentiles, throughput, errors by kind, and the server's memory.

use crate::harness::access::{SizeLimits, TokenIn};
use crate::harness::{
    Access, Contract, ContractStream, RealWebSocketTestConfig, Rule, Socket, Violation,
};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    /// Whether to draw a progress bar (only on a terminal).
    pub progress: bool,
    /// The process id of the server, when it is a local process whose
    /// memory can be read (Linux `/proc`).
    pub server_pid: Option<u32>,
    /// How the users get in: the server's own access.
    pub access: Access,
    /// The contract every frame is checked against
    /// ([`RealWebSocketTestConfig::load_contract`]).
    pub contract: Contract,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The plan it ran.
    pub url: Url,
    /// Users asked for.
    pub users: usize,
    /// Runs per user asked for.
    pub runs_per_user: usize,
    /// Connections that opened.
    pub connected: u64,
    /// Runs that sent every required event.
    pub completed_runs: u64,
    /// Events received.
    pub events: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Frames that broke the contract, by rule: how many, and the first.
    pub violations: BTreeMap<Rule, (u64, Violation)>,
    /// Connect time, microseconds.
    pub connect_us: Histogram<u64>,
    /// Run latency (send to `agent_completed`), microseconds.
    pub run_us: Histogram<u64>,
    /// How long the connect phase took, from the first handshake to the last.
    pub connect_elapsed: Duration,
    /// How long the run phase took, from the first run sent to the last
    /// `agent_completed`.
    pub elapsed: Duration,
    /// The server's resident memory before the users connected and at its
    /// peak, bytes (when it could be read).
    pub server_rss: Option<(u64, u64)>,
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
/// use ws_harness::auth::{JwtAuth, TEST_JWT_SECRET};
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
    match tokio::time::timeout(timeout, access.connect(request, SizeLimits::default())).await {
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
/// [`TestClient`](crate::harness::TestClient).
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
///     progress: false, server_pid: None,
///     access: Access::test(), contract,
/// };
/// let report = run(&config, &plan).await;
/// println!("{}", report.render());
/// # }
/// ```
pub async fn run(config: &RealWebSocketTestConfig, plan: &LoadPlan) -> LoadReport {
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
    let bar = if plan.progress {
        let bar = ProgressBar::new((plan.users * plan.runs) as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs {per_sec} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
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
            let subject = crate::auth::subject_of(&token);
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
        let (tally, run_us, bar) = (Arc::clone(&tally), Arc::clone(&run_us), bar.clone());
        running.push(tokio::spawn(async move {
            for r in 0..runs {
                let sent = Instant::now();
                let outcome =
                    golden_path_run(&mut ws, &format!("m-{r}"), timeout, stream.as_mut()).await;
                bar.inc(1);
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
    bar.finish_and_clear();
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

impl LoadReport {
    /// Percentiles of a histogram in milliseconds: p50, p90, p99, p99.9, max.
    fn percentiles(h: &Histogram<u64>) -> [(&'static str, f64); 5] {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return [
                ("p50", 0.0),
                ("p90", 0.0),
                ("p99", 0.0),
                ("p99.9", 0.0),
                ("max", 0.0),
            ];
        }
        [
            ("p50", ms(h.value_at_quantile(0.5))),
            ("p90", ms(h.value_at_quantile(0.9))),
            ("p99", ms(h.value_at_quantile(0.99))),
            ("p99.9", ms(h.value_at_quantile(0.999))),
            ("max", ms(h.max())),
        ]
    }

    /// Finished runs per second.
    #[must_use]
    pub fn runs_per_second(&self) -> f64 {
        self.completed_runs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Connections opened per second in the connect phase.
    #[must_use]
    pub fn connects_per_second(&self) -> f64 {
        self.connected as f64 / self.connect_elapsed.as_secs_f64().max(1e-9)
    }

    /// Received events per second.
    #[must_use]
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether every user connected and every run completed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
            && self.violations.is_empty()
            && self.completed_runs == (self.users * self.runs_per_user) as u64
    }

    /// The report for people.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = format!(
            "ws-harness load: {} users x {} runs against {}\n",
            self.users, self.runs_per_user, self.url
        );
        let line = |name: &str, h: &Histogram<u64>| {
            let cells: Vec<String> = Self::percentiles(h)
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}ms"))
                .collect();
            format!("  {name:<12} {}\n", cells.join("  "))
        };
        out += &line("connect", &self.connect_us);
        out += &line("run latency", &self.run_us);
        let _ = writeln!(
            out,
            "  throughput   {:.0} runs/s, {:.0} events/s ({} runs, {} events in {:.2}s)",
            self.runs_per_second(),
            self.events_per_second(),
            self.completed_runs,
            self.events,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  connected    {} of {} in {:.2}s ({:.0} connections/s)",
            self.connected,
            self.users,
            self.connect_elapsed.as_secs_f64(),
            self.connects_per_second()
        );
        if let Some((before, peak)) = self.server_rss {
            let per = peak.saturating_sub(before) / (self.connected.max(1));
            let _ = writeln!(
                out,
                "  server RSS   {:.1} MiB before, {:.1} MiB peak, {:.1} KiB per connection",
                before as f64 / 1048576.0,
                peak as f64 / 1048576.0,
                per as f64 / 1024.0
            );
        }
        if self.errors.is_empty() {
            out += "  errors       none";
        } else {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = write!(out, "  errors       {}", errors.join(", "));
        }
        if self.violations.is_empty() {
            out += "\n  contract     no violations";
        }
        for (rule, (count, example)) in &self.violations {
            let _ = write!(out, "\n  contract     {rule}: {count}, e.g. {example}");
        }
        out
    }

    /// The report as one JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let percentiles = |h: &Histogram<u64>| -> Value {
            Self::percentiles(h)
                .iter()
                .map(|(k, v)| (format!("{k}_ms"), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "passed": self.passed(),
            "url": self.url.as_str(),
            "users": self.users,
            "runs_per_user": self.runs_per_user,
            "connected": self.connected,
            "completed_runs": self.completed_runs,
            "events": self.events,
            "connect_elapsed_s": self.connect_elapsed.as_secs_f64(),
            "connects_per_second": self.connects_per_second(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "runs_per_second": self.runs_per_second(),
            "events_per_second": self.events_per_second(),
            "connect": percentiles(&self.connect_us),
            "run_latency": percentiles(&self.run_us),
            "errors": self.errors,
            "violations": self.violations.iter().map(|(rule, (count, example))| json!({
                "rule": rule.as_str(),
                "count": count,
                "example": example.to_string(),
            })).collect::<Vec<_>>(),
            "server_rss_before_bytes": self.server_rss.map(|(b, _)| b),
            "server_rss_peak_bytes": self.server_rss.map(|(_, p)| p),
            "server_rss_per_connection_bytes": self.server_rss.map(|(b, p)| p.saturating_sub(b) / self.connected.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of `runs` runs whose latencies are 1, 2, ... `runs` ms.
    fn report(users: usize, runs: usize) -> LoadReport {
        let mut run_us = histogram();
        for ms in 1..=runs as u64 {
            record(&mut run_us, Duration::from_millis(ms));
        }
        LoadReport {
            url: "ws://127.0.0.1:1/ws".parse().unwrap(),
            users,
            runs_per_user: runs / users,
            connected: users as u64,
            completed_runs: runs as u64,
            events: runs as u64 * 5,
            errors: BTreeMap::new(),
            violations: BTreeMap::new(),
            connect_us: histogram(),
            run_us,
            connect_elapsed: Duration::from_millis(10),
            elapsed: Duration::from_secs(2),
            server_rss: None,
        }
    }

    #[test]
    fn percentiles_are_in_milliseconds_and_ordered() {
        let report = report(10, 1000);
        let percentiles = LoadReport::percentiles(&report.run_us);
        let values: Vec<f64> = percentiles.iter().map(|(_, v)| *v).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{percentiles:?}");
        // The histogram keeps three significant digits.
        let near = |value: f64, ms: f64| (value - ms).abs() <= ms / 100.0;
        assert!(near(values[0], 500.0), "p50 {}", values[0]);
        assert!(near(values[1], 900.0), "p90 {}", values[1]);
        assert!(near(values[2], 990.0), "p99 {}", values[2]);
        assert!(near(values[4], 1000.0), "max {}", values[4]);
        let json = report.to_json();
        assert_eq!(json["run_latency"]["p50_ms"].as_f64(), Some(values[0]));
        assert_eq!(
            json["connect"]["max_ms"], 0.0,
            "an empty histogram is zeros"
        );
        assert_eq!(json["runs_per_second"], 500.0);
        assert_eq!(json["events_per_second"], 2500.0);
        assert!(
            report.render().contains("run latency  p50 500."),
            "{}",
            report.render()
        );
    }

    #[test]
    fn a_run_passes_only_when_every_run_completed_without_error_or_violation() {
        assert!(report(10, 100).passed());
        let mut short_of_runs = report(10, 100);
        short_of_runs.completed_runs -= 1;
        assert!(!short_of_runs.passed());
        let mut with_error = report(10, 100);
        with_error
            .errors
            .insert(LoadError::RunTimeout.to_string(), 1);
        assert!(!with_error.passed());
        assert!(
            with_error
                .render()
                .ends_with("errors       run: timeout: 1\n  contract     no violations")
        );
    }

    #[test]
    fn a_handshake_error_is_counted_by_its_first_sixty_characters() {
        let long = "x".repeat(200);
        assert_eq!(short(&long).len(), 60);
        assert_eq!(short("refused"), "refused");
    }
}
