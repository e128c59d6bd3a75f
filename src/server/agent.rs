use super::event_monitor::{EventMonitor, EventTracker};
use super::manager::UserSlot;
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use crate::protocol::{EventKind, EventType, Scenario};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// The reference agent: turns one
/// `user_message` into a run of flat agent events.
///
/// A run goes `agent_started`, the thinking steps, a `tool_executing` /
/// `tool_completed` pair per tool, then `agent_completed`, or `agent_error`
/// right after the event named by the scenario's `fail_at`.
///
/// Each tool of each user sits behind its own [`CircuitBreaker`]: a tool
/// that fails (`fail_at: tool_executing`) `failure_threshold` times in a row
/// opens it, and later runs of that user fail fast with an `agent_error`
/// naming the open circuit instead of calling the tool. Per user, so one
/// user's failing tools never fail another user's runs.
#[derive(Debug)]
pub struct AgentHandler {
    name: String,
    breaker_config: CircuitBreakerConfig,
    breakers: Mutex<HashMap<(String, String), Arc<CircuitBreaker>>>,
    /// Fault injection: extra delay before each event, in µs.
    event_latency_us: AtomicU64,
    /// Fault injection: how many of the next runs panic after their first
    /// event.
    panics_pending: AtomicU64,
}

/// The facts of one run, shared by all of its events.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) user_id: String,
    pub(crate) thread_id: String,
    pub(crate) message_id: String,
    pub(crate) run_id: String,
    pub(crate) content: String,
    pub(crate) scenario: Scenario,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunOutcome {
    Completed,
    Failed,
}

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunReport {
    pub(crate) outcome: RunOutcome,
    pub(crate) events: u64,
    /// Connections dropped on the way for reading too slowly.
    pub(crate) too_slow: u64,
}

/// Longest piece of `content` quoted back in tool inputs and answers.
const QUOTE_CHARS: usize = 256;

impl AgentHandler {
    /// An agent that signs its events with `name`.
    ///
    /// ```
    /// use ws_harness::server::AgentHandler;
    /// assert_eq!(AgentHandler::new("reference-agent").name(), "reference-agent");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            breaker_config: CircuitBreakerConfig::default(),
            breakers: Mutex::default(),
            event_latency_us: AtomicU64::new(0),
            panics_pending: AtomicU64::new(0),
        }
    }

    /// Delays every event by `latency` (fault injection; zero turns it off).
    pub fn set_event_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.event_latency_us.store(micros, Ordering::Relaxed);
    }

    /// Makes the next run to start panic right after its `agent_started`
    /// (fault injection): the server answers the connection that sent it
    /// with an `internal` error and goes on serving.
    pub fn panic_next_run(&self) {
        self.panics_pending.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one pending panic, if any.
    fn take_panic(&self) -> bool {
        self.panics_pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The same agent with tool circuits that open and reset as `config` says.
    #[must_use]
    pub fn with_circuit_breaker(mut self, config: CircuitBreakerConfig) -> Self {
        self.breaker_config = config;
        self
    }

    /// Forgets the tool circuits of these users (gone for the replay TTL).
    pub(crate) fn forget_users(&self, users: &[String]) {
        if users.is_empty() {
            return;
        }
        let gone: std::collections::HashSet<&str> = users.iter().map(String::as_str).collect();
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        breakers.retain(|(user_id, _), _| !gone.contains(user_id.as_str()));
    }

    /// The circuit of `tool` for `user_id`.
    fn breaker(&self, user_id: &str, tool: &str) -> Arc<CircuitBreaker> {
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (user_id.to_owned(), tool.to_owned());
        Arc::clone(breakers.entry(key).or_insert_with(|| {
            let name = format!("tool `{tool}` of user `{user_id}`");
            Arc::new(CircuitBreaker::new(name, self.breaker_config))
        }))
    }

    /// The `agent_name` of its events.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs to the end, emitting each event through `user`; `monitor` gets
    /// the run's events when it ends, however it ends (a panic or shutdown
    /// included).
    pub(crate) async fn run(
        &self,
        run: &Run,
        user: &UserSlot,
        monitor: &EventMonitor,
    ) -> RunReport {
        let mut out = Emitter {
            agent: self,
            run,
            frames: FrameWriter::new(&self.name, run),
            user,
            delay: Duration::from_millis(run.scenario.step_delay_ms),
            last: None,
            tracker: Some(EventTracker::new(
                &run.run_id,
                &run.user_id,
                &run.message_id,
            )),
            monitor,
            events: 0,
            too_slow: 0,
        };
        let outcome = if self.steps(run, &mut out).await.is_some() {
            RunOutcome::Completed
        } else {
            RunOutcome::Failed
        };
        RunReport {
            outcome,
            events: out.events,
            too_slow: out.too_slow,
        }
    }

    /// The run's events in order; `None` as soon as one of them failed the run.
    async fn steps(&self, run: &Run, out: &mut Emitter<'_>) -> Option<()> {
        let started = Instant::now();
        let scenario = &run.scenario;
        let quote: String = run.content.chars().take(QUOTE_CHARS).collect();
        out.emit(EventKind::AgentStarted).await?;
        for step in 1..=scenario.thinking_steps {
            let thought = format!(
                "step {step} of {}: working out how to answer {quote:?}",
                scenario.thinking_steps
            );
            out.emit(EventKind::AgentThinking { thought }).await?;
        }
        for tool in &scenario.tools {
            let breaker = self.breaker(&run.user_id, tool);
            if let Err(open) = breaker.try_acquire() {
                out.fail(open.to_string());
                return None;
            }
            let tool_started = Instant::now();
            let executing = EventKind::ToolExecuting {
                tool_name: tool.clone(),
                tool_input: json!({ "query": quote }),
            };
            if out.emit(executing).await.is_none() {
                // `fail_at: tool_executing` is this tool failing.
                breaker.record_failure();
                return None;
            }
            breaker.record_success();
            out.emit(EventKind::ToolCompleted {
                tool_name: tool.clone(),
                result: json!({ "status": "ok", "output": format!("{tool} found 1 result for {quote:?}") }),
                duration_ms: millis(tool_started.elapsed()),
            })
            .await?;
        }
        out.emit(EventKind::AgentCompleted {
            final_response: format!(
                "answered {quote:?} with {} tool call(s)",
                scenario.tools.len()
            ),
            duration_ms: millis(started.elapsed()),
        })
        .await
    }
}

/// Writes the frames of one run's events: an [`AgentEvent`]'s JSON, field
/// for field, with the fields every event of the run shares escaped once
/// per run instead of once per event.
///
/// [`AgentEvent`]: crate::protocol::AgentEvent
struct FrameWriter {
    /// `,"user_id":…,"agent_name":…,"critical":true}`: what follows an
    /// event's own fields.
    shared: String,
    /// An event kind's JSON, kept between events for its capacity.
    kind_json: Vec<u8>,
    timestamps: Timestamps,
}

/// The timestamps of events, formatted once per millisecond: the events of
/// a run mostly share one.
struct Timestamps {
    /// The millisecond since the epoch that `text` names.
    millis: u128,
    text: String,
}

impl Timestamps {
    /// Now, as RFC 3339 with milliseconds.
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let millis = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(u128::MAX, |since| since.as_millis());
        if millis != self.millis || millis == u128::MAX {
            self.millis = millis;
            self.text = humantime::format_rfc3339_millis(now).to_string();
        }
        &self.text
    }
}

/// The fields every event of a run shares, in [`AgentEvent`]'s order.
///
/// [`AgentEvent`]: crate::protocol::AgentEvent
#[derive(Serialize)]
struct SharedFields<'a> {
    user_id: &'a str,
    thread_id: &'a str,
    run_id: &'a str,
    message_id: &'a str,
    agent_name: &'a str,
    critical: bool,
}

/// Bytes set aside for an event kind's JSON: more than the events of a
/// default run take.
const KIND_JSON_CAPACITY: usize = 256;

impl FrameWriter {
    fn new(agent_name: &str, run: &Run) -> Self {
        let fields = SharedFields {
            user_id: &run.user_id,
            thread_id: &run.thread_id,
            run_id: &run.run_id,
            message_id: &run.message_id,
            agent_name,
            critical: true,
        };
        let mut shared = serde_json::to_string(&fields).expect("strings always serialize");
        // `{"user_id":…}` becomes `,"user_id":…}`, to follow an event's own fields.
        shared.replace_range(..1, ",");
        Self {
            shared,
            kind_json: Vec::with_capacity(KIND_JSON_CAPACITY),
            timestamps: Timestamps {
                millis: u128::MAX,
                text: String::new(),
            },
        }
    }

    /// The frame of event `event_id`, timestamped now, in a string of its
    /// length (the replay buffer keeps it).
    fn frame(&mut self, event_id: u64, kind: &EventKind) -> String {
        use std::fmt::Write;
        self.kind_json.clear();
        serde_json::to_writer(&mut self.kind_json, kind).expect("an event kind always serializes");
        // `{"type":…,…}`, opened again for the event's own fields.
        let closing = self.kind_json.pop();
        debug_assert_eq!(closing, Some(b'}'), "an event kind is a JSON object");
        let kind_json = std::str::from_utf8(&self.kind_json).expect("serde_json writes UTF-8");
        let timestamp = self.timestamps.now();
        const EVENT_ID: &str = r#","event_id":"#;
        const TIMESTAMP: &str = r#","timestamp":""#;
        let digits = event_id.checked_ilog10().map_or(1, |log| log as usize + 1);
        let mut frame = String::with_capacity(
            kind_json.len()
                + EVENT_ID.len()
                + digits
                + TIMESTAMP.len()
                + timestamp.len()
                + 1
                + self.shared.len(),
        );
        frame.push_str(kind_json);
        frame.push_str(EVENT_ID);
        write!(frame, "{event_id}").expect("writing to a String never fails");
        frame.push_str(TIMESTAMP);
        frame.push_str(timestamp);
        frame.push('"');
        frame.push_str(&self.shared);
        debug_assert_eq!(
            frame.len(),
            frame.capacity(),
            "the frame's length was counted right"
        );
        frame
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Emits the events of one run, pacing them and applying `fail_at`.
struct Emitter<'a> {
    agent: &'a AgentHandler,
    run: &'a Run,
    frames: FrameWriter,
    user: &'a UserSlot,
    delay: Duration,
    /// The type of the last event emitted, if any.
    last: Option<EventType>,
    /// Handed to `monitor` when the emitter is dropped.
    tracker: Option<EventTracker>,
    monitor: &'a EventMonitor,
    events: u64,
    too_slow: u64,
}

impl Drop for Emitter<'_> {
    fn drop(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            // A flagged run is logged and counted by the monitor itself.
            let _ = self.monitor.finish(tracker);
        }
    }
}

impl Emitter<'_> {
    /// Emits one event; `None` when the scenario fails the run right after it
    /// (the `agent_error` is emitted here).
    async fn emit(&mut self, kind: EventKind) -> Option<()> {
        if self.last.is_some() && !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let latency = self.agent.event_latency_us.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_micros(latency)).await;
        }
        let event_type = kind.event_type();
        self.send(kind);
        if event_type == EventType::AgentStarted && self.agent.take_panic() {
            panic!("injected fault: this run panics after agent_started (panic_next_run)");
        }
        if self.run.scenario.fail_at == Some(event_type) {
            self.fail(format!(
                "the scenario asked the run to fail after {event_type}"
            ));
            return None;
        }
        Some(())
    }

    /// Ends the run with `agent_error`.
    fn fail(&mut self, error: String) {
        let failed_after = self.last.unwrap_or(EventType::AgentStarted);
        self.send(EventKind::AgentError {
            error,
            failed_after,
        });
    }

    fn send(&mut self, kind: EventKind) {
        let event_type = kind.event_type();
        let frames = &mut self.frames;
        let emitted = self.user.emit(|event_id| frames.frame(event_id, &kind));
        self.last = Some(event_type);
        self.events += 1;
        self.too_slow += emitted.too_slow;
        if let Some(tracker) = &mut self.tracker {
            tracker.record(event_type, emitted.event_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::AgentEvent;

    #[test]
    fn a_frame_is_the_json_of_its_agent_event_field_for_field() {
        let agent = AgentHandler::new("reference-agent");
        let run = Run {
            user_id: "alice".into(),
            // Escaped once per run, in the shared fields.
            thread_id: "t-\"1\"".into(),
            message_id: "m\\1 é".into(),
            run_id: "run-1".into(),
            content: "hi".into(),
            scenario: Scenario::default(),
        };
        let kinds = [
            EventKind::AgentStarted,
            EventKind::ToolExecuting {
                tool_name: "search".into(),
                tool_input: json!({ "query": "say \"hi\"" }),
            },
            EventKind::AgentCompleted {
                final_response: "done".into(),
                duration_ms: 3,
            },
        ];
        let mut frames = FrameWriter::new(agent.name(), &run);
        let ids = [1, 9, 10, 7, 10_000, u64::MAX];
        for (n, (event_id, kind)) in ids.into_iter().zip(kinds.iter().cycle()).enumerate() {
            if n == 3 {
                // Into another millisecond: the timestamp is written anew.
                std::thread::sleep(Duration::from_millis(2));
            }
            let before = SystemTime::now();
            let frame = frames.frame(event_id, kind);
            let after = SystemTime::now();
            // The replay buffer keeps the frame: nothing beyond its length.
            assert_eq!(frame.capacity(), frame.len());
            let event: AgentEvent = serde_json::from_str(&frame).unwrap();
            assert_eq!(
                (event.event_id, &event.kind, &event.agent_name),
                (event_id, kind, &agent.name)
            );
            assert_eq!(
                [
                    &event.user_id,
                    &event.thread_id,
                    &event.run_id,
                    &event.message_id
                ],
                [&run.user_id, &run.thread_id, &run.run_id, &run.message_id]
            );
            // Now, to the millisecond.
            let at = humantime::parse_rfc3339(&event.timestamp).unwrap();
            let millis = |t: SystemTime| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
            };
            assert!(
                millis(before) <= millis(at) && millis(at) <= millis(after),
                "{frame}"
            );
            // The same text as the owned event serializes to, order included.
            assert_eq!(frame, serde_json::to_string(&event).unwrap());
        }
    }
}
