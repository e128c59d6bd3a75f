//! `ws-harness load`: many users at once, each on its own connection running
//! golden-path runs one after another; connect-time and run-latency
//! percentiles, throughput, errors by kind, and the server's memory.

use crate::auth::JwtAuth;
use crate::harness::RealWebSocketTestConfig;
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
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use url::Url;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server's WebSocket URL.
    pub url: Url,
    /// Users, each with its own connection.
    pub users: usize,
    /// Golden-path runs per user, one after another.
    pub runs: usize,
    /// Connections being opened at once.
    pub concurrency: usize,
    /// Whether to draw a progress bar (only on a terminal).
    pub progress: bool,
    /// The process id of the server, when it is a local process whose
    /// memory can be read (Linux `/proc`).
    pub server_pid: Option<u32>,
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
    /// Connect time, microseconds.
    pub connect_us: Histogram<u64>,
    /// Run latency (send to `agent_completed`), microseconds.
    pub run_us: Histogram<u64>,
    /// How long the runs took, from the first connect to the last event.
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
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Runs the plan.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ws_harness::harness::RealWebSocketTestConfig;
/// use ws_harness::load::{LoadPlan, run};
///
/// let config = RealWebSocketTestConfig::builder().without_environment().build().unwrap();
/// let plan = LoadPlan {
///     url: "ws://127.0.0.1:8765/ws".parse().unwrap(),
///     users: 100, runs: 10, concurrency: 50, progress: false, server_pid: None,
/// };
/// let report = run(&config, &plan).await;
/// println!("{}", report.render());
/// # }
/// ```
pub async fn run(config: &RealWebSocketTestConfig, plan: &LoadPlan) -> LoadReport {
    let auth = JwtAuth::new(&config.jwt_secret).ok();
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
    let connect_us = Arc::new(Mutex::new(histogram()));
    let run_us = Arc::new(Mutex::new(histogram()));
    let gate = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let started = Instant::now();
    let mut users = Vec::with_capacity(plan.users);
    for i in 0..plan.users {
        let user = format!("load-{i}");
        let token = match (&config.token, &auth) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(auth)) => auth.mint(&user, Duration::from_secs(3600)).ok(),
            (None, None) => None,
        };
        let (url, runs, event_timeout) = (plan.url.clone(), plan.runs, config.event_timeout);
        let connect_timeout = config.connection_timeout;
        let (tally, connect_us, run_us, gate, bar) = (
            Arc::clone(&tally),
            Arc::clone(&connect_us),
            Arc::clone(&run_us),
            Arc::clone(&gate),
            bar.clone(),
        );
        users.push(tokio::spawn(async move {
            let failed = |kind: &str| -> Option<Socket> {
                let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
                *t.errors.entry(kind.to_owned()).or_default() += 1;
                None
            };
            let Some(token) = token else { return failed("token") };
            let permit = gate.acquire().await;
            let connect_started = Instant::now();
            let Ok(mut request) = url.as_str().into_client_request() else { return failed("bad url") };
            if let Ok(value) = format!("Bearer {token}").parse() {
                request.headers_mut().insert("authorization", value);
            }
            let mut ws = match tokio::time::timeout(connect_timeout, tokio_tungstenite::connect_async(request)).await {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => return failed(&format!("connect: {}", short(&e.to_string()))),
                Err(_) => return failed("connect: timeout"),
            };
            drop(permit);
            record(&connect_us, connect_started.elapsed());
            tally.lock().unwrap_or_else(PoisonError::into_inner).connected += 1;
            for r in 0..runs {
                let message_id = format!("m-{r}");
                let frame = json!({"type": "user_message", "message_id": message_id, "thread_id": "load", "content": "load"});
                let sent = Instant::now();
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    return failed("send");
                }
                let mut events = 0;
                let outcome = loop {
                    let next = match tokio::time::timeout(event_timeout, ws.next()).await {
                        Err(_) => break Err("run: timeout"),
                        Ok(None | Some(Err(_))) => break Err("run: connection lost"),
                        Ok(Some(Ok(Message::Text(text)))) => text,
                        Ok(Some(Ok(_))) => continue,
                    };
                    let Ok(value) = serde_json::from_str::<Value>(&next) else { break Err("run: not json") };
                    match value["type"].as_str() {
                        Some("agent_completed") => {
                            events += 1;
                            break Ok(());
                        }
                        Some("agent_error") => break Err("run: agent_error"),
                        Some("error") => break Err("run: error frame"),
                        _ => events += 1,
                    }
                };
                tally.lock().unwrap_or_else(PoisonError::into_inner).events += events;
                bar.inc(1);
                match outcome {
                    Ok(()) => {
                        record(&run_us, sent.elapsed());
                        tally.lock().unwrap_or_else(PoisonError::into_inner).completed_runs += 1;
                    }
                    Err(kind) => return failed(kind),
                }
            }
            // Hold the connection until every user is done, so the server's
            // peak memory counts all of them at once.
            Some(ws)
        }));
    }
    let mut open = Vec::with_capacity(plan.users);
    for user in users {
        if let Ok(Some(ws)) = user.await {
            open.push(ws);
        }
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    drop(open);
    bar.finish_and_clear();
    let peak = *peak.lock().unwrap_or_else(PoisonError::into_inner);
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    let take =
        |h: &Arc<Mutex<Histogram<u64>>>| h.lock().unwrap_or_else(PoisonError::into_inner).clone();
    LoadReport {
        url: plan.url.clone(),
        users: plan.users,
        runs_per_user: plan.runs,
        connected: tally.connected,
        completed_runs: tally.completed_runs,
        events: tally.events,
        errors: tally.errors,
        connect_us: take(&connect_us),
        run_us: take(&run_us),
        elapsed,
        server_rss: rss_before.map(|before| (before, peak)),
    }
}

fn record(histogram: &Mutex<Histogram<u64>>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    histogram
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .saturating_record(micros);
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

    /// Received events per second.
    #[must_use]
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether every user connected and every run completed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.completed_runs == (self.users * self.runs_per_user) as u64
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
        let _ = writeln!(out, "  connected    {} of {}", self.connected, self.users);
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
            "elapsed_s": self.elapsed.as_secs_f64(),
            "runs_per_second": self.runs_per_second(),
            "events_per_second": self.events_per_second(),
            "connect": percentiles(&self.connect_us),
            "run_latency": percentiles(&self.run_us),
            "errors": self.errors,
            "server_rss_before_bytes": self.server_rss.map(|(b, _)| b),
            "server_rss_peak_bytes": self.server_rss.map(|(_, p)| p),
            "server_rss_per_connection_bytes": self.server_rss.map(|(b, p)| p.saturating_sub(b) / self.connected.max(1)),
        })
    }
}
