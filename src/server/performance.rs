use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The throughput window: this many one-second buckets.
const WINDOW_SECONDS: usize = 10;

/// One run's latency, from its `user_message` to its last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyMeasurement {
    /// How long the run took.
    pub latency: Duration,
    /// Whether it ended with `agent_error` or a fault.
    pub failed: bool,
    /// How many events it emitted.
    pub events: u64,
}

/// Runs and events per second over the recent window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ThroughputMetrics {
    /// The span the rates are measured over (up to 10 s).
    pub window: Duration,
    /// Finished runs per second.
    pub runs_per_second: f64,
    /// Emitted events per second.
    pub events_per_second: f64,
}

/// The bar the server is held to; `None`
/// turns a check off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerformanceThresholds {
    /// Highest acceptable p99 run latency. Default 1 s.
    pub max_p99_run_latency: Option<Duration>,
    /// Highest acceptable share of failed runs, 0.0..=1.0. Default 0.5.
    pub max_failed_run_ratio: Option<f64>,
    /// Lowest acceptable runs per second over the window, once runs were seen. Default off.
    pub min_runs_per_second: Option<f64>,
}

impl Default for PerformanceThresholds {
    fn default() -> Self {
        Self {
            max_p99_run_latency: Some(Duration::from_secs(1)),
            max_failed_run_ratio: Some(0.5),
            min_runs_per_second: None,
        }
    }
}

/// Which threshold an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// p99 run latency over [`PerformanceThresholds::max_p99_run_latency`].
    P99RunLatency,
    /// Failed runs over [`PerformanceThresholds::max_failed_run_ratio`].
    FailedRunRatio,
    /// Throughput under [`PerformanceThresholds::min_runs_per_second`].
    RunsPerSecond,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 3] = [
        Self::P99RunLatency,
        Self::FailedRunRatio,
        Self::RunsPerSecond,
    ];

    /// A stable snake_case name, used as the `/metrics` label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P99RunLatency => "p99_run_latency",
            Self::FailedRunRatio => "failed_run_ratio",
            Self::RunsPerSecond => "runs_per_second",
        }
    }
}

/// A threshold crossed.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceAlert {
    /// Which threshold.
    pub kind: AlertKind,
    /// What was measured (seconds for latency, a ratio, or runs per second).
    pub observed: f64,
    /// The threshold, in the same unit.
    pub threshold: f64,
}

impl fmt::Display for PerformanceAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (observed, threshold, relation) = (
            self.observed,
            self.threshold,
            match self.kind {
                AlertKind::RunsPerSecond => "under",
                _ => "over",
            },
        );
        write!(
            f,
            "{}: {observed:.4} {relation} the threshold {threshold:.4}",
            self.kind.as_str()
        )
    }
}

/// A snapshot of the server's performance.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // fields named for what they hold
pub struct PerformanceMetrics {
    pub runs: u64,
    pub failed_runs: u64,
    /// Run latency percentiles and maximum (zero before the first run).
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest run.
    pub max: Duration,
    /// Rates over the recent window.
    pub throughput: ThroughputMetrics,
    /// Thresholds crossed right now.
    pub alerts: Vec<PerformanceAlert>,
}

/// Measures run latency (an HDR histogram, microsecond resolution) and
/// throughput, and checks them against thresholds.
///
/// ```
/// use std::time::Duration;
/// use ws_harness::server::{LatencyMeasurement, PerformanceMonitor, PerformanceThresholds};
///
/// let thresholds = PerformanceThresholds { max_p99_run_latency: Some(Duration::from_millis(50)), ..Default::default() };
/// let monitor = PerformanceMonitor::new(thresholds);
/// for ms in [10, 20, 200] {
///     monitor.record(LatencyMeasurement { latency: Duration::from_millis(ms), failed: false, events: 5 });
/// }
/// let snapshot = monitor.snapshot();
/// assert_eq!(snapshot.runs, 3);
/// assert!(snapshot.p50 >= Duration::from_millis(19) && snapshot.p50 <= Duration::from_millis(21));
/// assert_eq!(snapshot.alerts.len(), 1, "p99 is over 50 ms: {:?}", snapshot.alerts);
/// ```
#[derive(Debug)]
pub struct PerformanceMonitor {
    thresholds: PerformanceThresholds,
    started: Instant,
    state: Mutex<PerfState>,
}

#[derive(Debug)]
struct PerfState {
    latency_us: Histogram<u64>,
    failed: u64,
    /// (second since start, runs, events), newest last.
    window: VecDeque<(u64, u64, u64)>,
}

impl Default for PerformanceMonitor {
    fn default() -> Self {
        Self::new(PerformanceThresholds::default())
    }
}

impl PerformanceMonitor {
    /// A monitor that checks these thresholds.
    #[must_use]
    pub fn new(thresholds: PerformanceThresholds) -> Self {
        Self {
            thresholds,
            started: Instant::now(),
            state: Mutex::new(PerfState {
                // 1 µs to 1 hour at 3 significant figures; larger values are clamped.
                latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid histogram bounds"),
                failed: 0,
                window: VecDeque::with_capacity(WINDOW_SECONDS + 1),
            }),
        }
    }

    /// Adds one finished run.
    pub fn record(&self, run: LatencyMeasurement) {
        let second = self.started.elapsed().as_secs();
        let micros = u64::try_from(run.latency.as_micros()).unwrap_or(u64::MAX);
        let mut state = self.lock();
        state.latency_us.saturating_record(micros.max(1));
        if run.failed {
            state.failed += 1;
        }
        match state.window.back_mut() {
            Some((at, runs, events)) if *at == second => {
                *runs += 1;
                *events += run.events;
            }
            _ => state.window.push_back((second, 1, run.events)),
        }
        while state.window.len() > WINDOW_SECONDS {
            state.window.pop_front();
        }
    }

    /// Percentiles, throughput and the alerts in force now.
    #[must_use]
    pub fn snapshot(&self) -> PerformanceMetrics {
        let elapsed = self.started.elapsed();
        let now = elapsed.as_secs();
        let state = self.lock();
        let h = &state.latency_us;
        let at = |q: f64| {
            Duration::from_micros(if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            })
        };
        // The window covers the last 10 whole seconds, or all the time so far.
        let window = elapsed.min(Duration::from_secs(WINDOW_SECONDS as u64));
        let oldest = now.saturating_sub(WINDOW_SECONDS as u64 - 1);
        let (runs, events) = state
            .window
            .iter()
            .filter(|(second, _, _)| *second >= oldest)
            .fold((0, 0), |(r, e), (_, runs, events)| (r + runs, e + events));
        let per_second = |n: u64| {
            if window.is_zero() {
                0.0
            } else {
                n as f64 / window.as_secs_f64()
            }
        };
        let mut snapshot = PerformanceMetrics {
            runs: h.len(),
            failed_runs: state.failed,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_micros(if h.is_empty() { 0 } else { h.max() }),
            throughput: ThroughputMetrics {
                window,
                runs_per_second: per_second(runs),
                events_per_second: per_second(events),
            },
            alerts: Vec::new(),
        };
        snapshot.alerts = self.alerts(&snapshot);
        snapshot
    }

    fn alerts(&self, m: &PerformanceMetrics) -> Vec<PerformanceAlert> {
        if m.runs == 0 {
            return Vec::new();
        }
        let t = &self.thresholds;
        let failed_ratio = m.failed_runs as f64 / m.runs as f64;
        let checks = [
            (
                AlertKind::P99RunLatency,
                m.p99.as_secs_f64(),
                t.max_p99_run_latency.map(|d| d.as_secs_f64()),
                true,
            ),
            (
                AlertKind::FailedRunRatio,
                failed_ratio,
                t.max_failed_run_ratio,
                true,
            ),
            (
                AlertKind::RunsPerSecond,
                m.throughput.runs_per_second,
                t.min_runs_per_second,
                false,
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(kind, observed, threshold, is_max)| {
                let threshold = threshold?;
                let crossed = if is_max {
                    observed > threshold
                } else {
                    observed < threshold
                };
                crossed.then_some(PerformanceAlert {
                    kind,
                    observed,
                    threshold,
                })
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PerfState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ms: u64, failed: bool) -> LatencyMeasurement {
        LatencyMeasurement {
            latency: Duration::from_millis(ms),
            failed,
            events: 5,
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let monitor = PerformanceMonitor::default();
        for ms in 1..=1000 {
            monitor.record(run(ms, false));
        }
        let m = monitor.snapshot();
        assert_eq!(m.runs, 1000);
        let close = |d: Duration, ms: f64| (d.as_secs_f64() * 1000.0 - ms).abs() / ms < 0.01;
        assert!(close(m.p50, 500.0), "{:?}", m.p50);
        assert!(close(m.p90, 900.0), "{:?}", m.p90);
        assert!(close(m.p99, 990.0), "{:?}", m.p99);
        assert!(close(m.max, 1000.0), "{:?}", m.max);
        assert!(m.throughput.events_per_second > 0.0);
        assert!(m.alerts.is_empty(), "{:?}", m.alerts);
    }

    #[test]
    fn each_threshold_raises_its_alert() {
        let thresholds = PerformanceThresholds {
            max_p99_run_latency: Some(Duration::from_millis(100)),
            max_failed_run_ratio: Some(0.25),
            min_runs_per_second: Some(1_000_000.0),
        };
        let monitor = PerformanceMonitor::new(thresholds);
        assert!(monitor.snapshot().alerts.is_empty(), "no runs, no alerts");
        monitor.record(run(500, true));
        monitor.record(run(5, false));
        let alerts = monitor.snapshot().alerts;
        let kinds: Vec<_> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, AlertKind::ALL);
        assert_eq!(alerts[1].observed, 0.5);
        assert_eq!(
            alerts[1].to_string(),
            "failed_run_ratio: 0.5000 over the threshold 0.2500"
        );
    }
}
