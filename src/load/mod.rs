//! `ws-harness load`: many users at once, each on its own connection running
//! a scenario (by default the reference golden path) over and over;
//! connect-time, run and per-step percentiles, throughput, errors by kind,
//! contract violations by rule, and the server's memory. Reports are
//! written with their HDR histograms ([`LoadReport::to_file`]) so runs on
//! several machines merge ([`LoadReport::merge`]).

mod report;

pub use report::{LoadReport, ReportFileError};

use crate::client::{ClientError, Problem, TestClientFactory};
use crate::contract::{Rule, Violation};
use crate::scenario::{Observer, Pace, ScenarioFile, StepError, StepFailure};
use crate::with_sources;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, Semaphore};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// What each user runs, over and over.
    pub scenario: ScenarioFile,
    /// Users, each with its own connection.
    pub users: usize,
    /// The users are `<user_prefix>-1`, `<user_prefix>-2`, ...: another
    /// prefix gives another set of users.
    pub user_prefix: String,
    /// Scenario runs per user, one after another.
    pub runs: usize,
    /// Connections being opened at once.
    pub concurrency: usize,
    /// The process id of the server, when it is a local process whose
    /// memory can be read (Linux `/proc`).
    pub server_pid: Option<u32>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// What the users count as they go.
struct Tally {
    connect_us: Mutex<Histogram<u64>>,
    run_us: Mutex<Histogram<u64>>,
    step_us: Vec<Mutex<Histogram<u64>>>,
    connected: AtomicU64,
    completed_runs: AtomicU64,
    frames: AtomicU64,
    /// When the last user connected, when the first passed the start
    /// line, and when the last run ended.
    connect_end: Mutex<Option<Instant>>,
    run_start: Mutex<Option<Instant>>,
    run_end: Mutex<Option<Instant>>,
    on_run: Box<dyn Fn() + Send + Sync>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Observer for Tally {
    fn connected(&self, took: Duration) {
        record(&mut lock(&self.connect_us), took);
        self.connected.fetch_add(1, Ordering::Relaxed);
        *lock(&self.connect_end) = Some(Instant::now());
    }

    fn started(&self) {
        lock(&self.run_start).get_or_insert_with(Instant::now);
    }

    fn step(&self, step: usize, took: Duration, frames: usize) {
        record(&mut lock(&self.step_us[step - 1]), took);
        self.frames.fetch_add(frames as u64, Ordering::Relaxed);
    }

    fn run(&self, took: Duration) {
        record(&mut lock(&self.run_us), took);
        *lock(&self.run_end) = Some(Instant::now());
        self.completed_runs.fetch_add(1, Ordering::Relaxed);
        (self.on_run)();
    }
}

/// Runs the plan with `factory`'s clients: first every user connects
/// (`concurrency` handshakes at a time), then all of them run their runs at
/// once; each phase is timed on its own.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ws_harness::{RealWebSocketTestConfig, TestClientFactory};
/// use ws_harness::load::{LoadPlan, run};
/// use ws_harness::scenario::ScenarioFile;
///
/// let config = RealWebSocketTestConfig::builder().without_environment().build().unwrap();
/// let factory = TestClientFactory::from_config(config).await.unwrap();
/// let plan = LoadPlan {
///     scenario: ScenarioFile::golden_path(),
///     users: 100, user_prefix: "load".into(), runs: 10, concurrency: 50,
///     server_pid: None,
/// };
/// let report = run(&factory, &plan).await;
/// println!("{}", report.render());
/// # }
/// ```
pub async fn run(factory: &TestClientFactory, plan: &LoadPlan) -> LoadReport {
    run_with_progress(factory, plan, || {}).await
}

/// [`run`], calling `on_run` as each run ends (`ws-harness load` moves its
/// progress bar with it).
pub async fn run_with_progress(
    factory: &TestClientFactory,
    plan: &LoadPlan,
    on_run: impl Fn() + Send + Sync + 'static,
) -> LoadReport {
    let rss_before = plan.server_pid.and_then(rss_bytes);
    let peak = Arc::new(Mutex::new(rss_before.unwrap_or(0)));
    let sampler = plan.server_pid.map(|pid| {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                if let Some(rss) = rss_bytes(pid) {
                    let mut peak = lock(&peak);
                    *peak = (*peak).max(rss);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    let tally = Arc::new(Tally {
        connect_us: Mutex::new(histogram()),
        run_us: Mutex::new(histogram()),
        step_us: plan
            .scenario
            .steps
            .iter()
            .map(|_| Mutex::new(histogram()))
            .collect(),
        connected: AtomicU64::new(0),
        completed_runs: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        connect_end: Mutex::new(None),
        run_start: Mutex::new(None),
        run_end: Mutex::new(None),
        on_run: Box::new(on_run),
    });
    let pace = Pace {
        gate: Some(Arc::new(Semaphore::new(plan.concurrency.max(1)))),
        phases: Some((
            Arc::new(Barrier::new(plan.users)),
            Arc::new(Barrier::new(plan.users)),
        )),
        observer: Some(Arc::clone(&tally) as Arc<dyn Observer>),
    };
    let users: Vec<String> = (1..=plan.users)
        .map(|i| format!("{}-{i}", plan.user_prefix))
        .collect();
    let connecting_since = Instant::now();
    let outcomes = plan
        .scenario
        .run_paced(factory, &users, plan.runs, pace)
        .await;
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut violations: BTreeMap<Rule, (u64, Violation)> = BTreeMap::new();
    for outcome in outcomes {
        if let Some(failure) = &outcome.failure {
            *errors.entry(error_kind(failure)).or_default() += 1;
        }
        for violation in outcome.violations {
            violations.entry(violation.rule).or_insert((0, violation)).0 += 1;
        }
    }
    let connect_end = lock(&tally.connect_end).unwrap_or(connecting_since);
    // The run phase ends with the last run, before the users close.
    let run_end = lock(&tally.run_end).unwrap_or_else(Instant::now);
    let run_start = lock(&tally.run_start).unwrap_or(run_end);
    let peak = *lock(&peak);
    LoadReport {
        scenario: plan.scenario.name.clone(),
        url: factory.backend().url.clone(),
        users: plan.users,
        runs_per_user: plan.runs,
        connected: tally.connected.load(Ordering::Relaxed),
        completed_runs: tally.completed_runs.load(Ordering::Relaxed),
        frames: tally.frames.load(Ordering::Relaxed),
        errors,
        violations,
        connect_us: lock(&tally.connect_us).clone(),
        run_us: lock(&tally.run_us).clone(),
        steps: (plan.scenario.steps.iter().zip(&tally.step_us))
            .map(|(step, h)| (step.name.clone(), lock(h).clone()))
            .collect(),
        connect_elapsed: connect_end.saturating_duration_since(connecting_since),
        elapsed: run_end.saturating_duration_since(run_start),
        server_rss: rss_before.map(|before| (before, peak)),
    }
}

/// The kind a failure is counted as: `connect: ...`, or the step and what
/// went wrong (`step 2 required events: timed out`).
fn error_kind(failure: &StepFailure) -> String {
    let what = match &failure.error {
        StepError::Client(ClientError::Refused { status, .. }) => format!("HTTP {status}"),
        StepError::Client(error) => short(&with_sources(error)),
        StepError::Expectation(failed) => match &failed.problem {
            Problem::Violation(violation) => format!("contract: {}", violation.rule),
            problem => problem.kind().to_owned(),
        },
        StepError::Template(_) => "template".to_owned(),
        StepError::Capture { name, .. } => format!("capture `{name}`"),
        StepError::Task(_) => "task failed".to_owned(),
    };
    if failure.step == 0 {
        format!("connect: {what}")
    } else {
        format!("step {} {}: {what}", failure.step, failure.name)
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
