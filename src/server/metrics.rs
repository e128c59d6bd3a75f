use super::event_monitor::EventMetrics;
use super::performance::{AlertKind, PerformanceMetrics};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use std::sync::atomic::AtomicU64;

type Labels = Vec<(&'static str, &'static str)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The upper bounds of the run latency histogram's buckets, in seconds:
/// 1 ms to 10 s, three a decade.
const RUN_LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's counters and the monitors' figures, exported on `/metrics`
/// in the Prometheus (OpenMetrics) text format.
#[derive(Debug)]
pub(crate) struct ServerMetrics {
    registry: Registry,
    pub(crate) connections_open: Gauge,
    pub(crate) connections: Counter,
    pub(crate) auth_rejections: Family<Labels, Counter>,
    pub(crate) rate_limit_rejections: Family<Labels, Counter>,
    pub(crate) runs_started: Counter,
    pub(crate) runs_completed: Counter,
    pub(crate) runs_failed: Counter,
    pub(crate) events_sent: Counter,
    pub(crate) protocol_errors: Family<Labels, Counter>,
    pub(crate) slow_consumers: Counter,
    /// Every finished run's latency, `user_message` to its last event.
    pub(crate) run_latency: Histogram,
    // Set from the monitors each time the page is rendered.
    run_latency_quantiles: Family<Labels, FloatGauge>,
    runs_per_second: FloatGauge,
    events_per_second: FloatGauge,
    alerts: Family<Labels, Gauge>,
    flagged_runs: Gauge,
    missing_events: Family<Labels, Gauge>,
}

impl ServerMetrics {
    pub(crate) fn new() -> Self {
        let m = Self {
            registry: Registry::with_prefix("ws_harness"),
            connections_open: Gauge::default(),
            connections: Counter::default(),
            auth_rejections: Family::default(),
            rate_limit_rejections: Family::default(),
            runs_started: Counter::default(),
            runs_completed: Counter::default(),
            runs_failed: Counter::default(),
            events_sent: Counter::default(),
            protocol_errors: Family::default(),
            slow_consumers: Counter::default(),
            run_latency: Histogram::new(RUN_LATENCY_BUCKETS),
            run_latency_quantiles: Family::default(),
            runs_per_second: FloatGauge::default(),
            events_per_second: FloatGauge::default(),
            alerts: Family::default(),
            flagged_runs: Gauge::default(),
            missing_events: Family::default(),
        };
        let mut r = m.registry;
        add(
            &mut r,
            "connections_open",
            "Open WebSocket connections",
            &m.connections_open,
        );
        add(
            &mut r,
            "connections",
            "WebSocket connections accepted",
            &m.connections,
        );
        add(
            &mut r,
            "auth_rejections",
            "Handshakes refused by authentication, by reason",
            &m.auth_rejections,
        );
        add(
            &mut r,
            "rate_limit_rejections",
            "Frames and handshakes refused by the per-user rate limits, by kind",
            &m.rate_limit_rejections,
        );
        add(
            &mut r,
            "runs_started",
            "Agent runs started",
            &m.runs_started,
        );
        add(
            &mut r,
            "runs_completed",
            "Agent runs that ended with agent_completed",
            &m.runs_completed,
        );
        add(
            &mut r,
            "runs_failed",
            "Agent runs that ended with agent_error or a fault",
            &m.runs_failed,
        );
        add(
            &mut r,
            "events_sent",
            "Agent event frames written to connections",
            &m.events_sent,
        );
        add(
            &mut r,
            "protocol_errors",
            "Error frames sent to clients, by code",
            &m.protocol_errors,
        );
        add(
            &mut r,
            "slow_consumer_disconnects",
            "Connections closed for reading too slowly",
            &m.slow_consumers,
        );
        add(
            &mut r,
            "run_latency_seconds",
            "Run latency, user_message to last event",
            &m.run_latency,
        );
        add(
            &mut r,
            "run_latency_quantile_seconds",
            "Run latency quantiles since the server started (HDR histogram), user_message to last event",
            &m.run_latency_quantiles,
        );
        add(
            &mut r,
            "runs_per_second",
            "Finished runs per second over the last 10 s",
            &m.runs_per_second,
        );
        add(
            &mut r,
            "events_per_second",
            "Emitted events per second over the last 10 s",
            &m.events_per_second,
        );
        add(
            &mut r,
            "performance_alert",
            "1 while a performance threshold is crossed, by alert",
            &m.alerts,
        );
        add(
            &mut r,
            "flagged_runs",
            "Runs that ended without every required event",
            &m.flagged_runs,
        );
        add(
            &mut r,
            "missing_required_events",
            "Required events that flagged runs lacked, by event",
            &m.missing_events,
        );
        Self { registry: r, ..m }
    }

    pub(crate) fn render(&self, performance: &PerformanceMetrics, events: &EventMetrics) -> String {
        let quantiles = [
            ("0.5", performance.p50),
            ("0.9", performance.p90),
            ("0.99", performance.p99),
            ("0.999", performance.p999),
            ("1", performance.max),
        ];
        for (quantile, value) in quantiles {
            self.run_latency_quantiles
                .get_or_create(&vec![("quantile", quantile)])
                .set(value.as_secs_f64());
        }
        self.runs_per_second
            .set(performance.throughput.runs_per_second);
        self.events_per_second
            .set(performance.throughput.events_per_second);
        for kind in AlertKind::ALL {
            let on = performance.alerts.iter().any(|a| a.kind == kind);
            self.alerts
                .get_or_create(&vec![("alert", kind.as_str())])
                .set(i64::from(on));
        }
        self.flagged_runs.set(saturating_i64(events.flagged_runs));
        for (event, count) in &events.missing {
            self.missing_events
                .get_or_create(&vec![("event", event.as_str())])
                .set(saturating_i64(*count));
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn add<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: &M) {
    registry.register(name, help, metric.clone());
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
