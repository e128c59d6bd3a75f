use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, &'static str)>;

/// The server's counters, exported on `/metrics` in the Prometheus text format.
#[derive(Debug)]
pub(crate) struct ServerMetrics {
    registry: Registry,
    pub(crate) connections_open: Gauge,
    pub(crate) connections: Counter,
    pub(crate) auth_rejections: Family<Labels, Counter>,
    pub(crate) runs_started: Counter,
    pub(crate) runs_completed: Counter,
    pub(crate) runs_failed: Counter,
    pub(crate) events_sent: Counter,
    pub(crate) protocol_errors: Family<Labels, Counter>,
    pub(crate) slow_consumers: Counter,
    pub(crate) rate_limit_rejections: Family<Labels, Counter>,
    run_duration: Histogram,
}

impl ServerMetrics {
    pub(crate) fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("ws_harness"),
            connections_open: Gauge::default(),
            connections: Counter::default(),
            auth_rejections: Family::default(),
            runs_started: Counter::default(),
            runs_completed: Counter::default(),
            runs_failed: Counter::default(),
            events_sent: Counter::default(),
            protocol_errors: Family::default(),
            slow_consumers: Counter::default(),
            rate_limit_rejections: Family::default(),
            // 1 ms .. ~65 s
            run_duration: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
        };
        let r = &mut m.registry;
        r.register(
            "connections_open",
            "Open WebSocket connections",
            m.connections_open.clone(),
        );
        r.register(
            "connections",
            "WebSocket connections accepted",
            m.connections.clone(),
        );
        r.register(
            "auth_rejections",
            "Handshakes refused by authentication, by reason",
            m.auth_rejections.clone(),
        );
        r.register("runs_started", "Agent runs started", m.runs_started.clone());
        r.register(
            "runs_completed",
            "Agent runs that ended with agent_completed",
            m.runs_completed.clone(),
        );
        r.register(
            "runs_failed",
            "Agent runs that ended with agent_error or a fault",
            m.runs_failed.clone(),
        );
        r.register(
            "events_sent",
            "Agent event frames written to connections",
            m.events_sent.clone(),
        );
        r.register(
            "protocol_errors",
            "Error frames sent to clients, by code",
            m.protocol_errors.clone(),
        );
        r.register(
            "slow_consumer_disconnects",
            "Connections closed for reading too slowly",
            m.slow_consumers.clone(),
        );
        r.register(
            "rate_limit_rejections",
            "Frames and handshakes refused by the per-user rate limits, by kind",
            m.rate_limit_rejections.clone(),
        );
        r.register(
            "run_duration_seconds",
            "Agent run latency from user_message to the last event",
            m.run_duration.clone(),
        );
        m
    }

    pub(crate) fn observe_run(&self, duration: Duration) {
        self.run_duration.observe(duration.as_secs_f64());
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
