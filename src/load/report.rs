//! [`LoadReport`]: what a load run measured, as text for a person or JSON.

use crate::contract::{Rule, Violation};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use url::Url;

/// What a load run measured.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
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
    use super::super::{LoadError, histogram, record, short};
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
