use crate::protocol::{EventType, REQUIRED_EVENTS};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many finished runs (and flagged runs) the monitor keeps for inspection.
const KEEP_RUNS: usize = 256;

/// When one event of a run went out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct EventTiming {
    pub event_type: EventType,
    /// The event's per-user id.
    pub event_id: u64,
    /// Time since the run started.
    pub offset: Duration,
}

/// The events of one run as they are emitted.
///
/// ```
/// use ws_harness::protocol::{EventType, REQUIRED_EVENTS};
/// use ws_harness::server::EventTracker;
///
/// let mut run = EventTracker::new("run-1", "alice", "m-1");
/// run.record(EventType::AgentStarted, 1);
/// run.record(EventType::AgentError, 2);
/// assert_eq!(run.missing(&REQUIRED_EVENTS), REQUIRED_EVENTS[1..].to_vec());
/// ```
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct EventTracker {
    pub run_id: String,
    pub user_id: String,
    /// The `user_message` that started it.
    pub message_id: String,
    started: Instant,
    timings: Vec<EventTiming>,
}

impl EventTracker {
    /// A tracker for a run starting now.
    pub fn new(
        run_id: impl Into<String>,
        user_id: impl Into<String>,
        message_id: impl Into<String>,
    ) -> Self {
        Self {
            run_id: run_id.into(),
            user_id: user_id.into(),
            message_id: message_id.into(),
            started: Instant::now(),
            timings: Vec::new(),
        }
    }

    /// Notes an event emitted now.
    pub fn record(&mut self, event_type: EventType, event_id: u64) {
        self.timings.push(EventTiming {
            event_type,
            event_id,
            offset: self.started.elapsed(),
        });
    }

    /// The events so far, with their timings.
    #[must_use]
    pub fn timings(&self) -> &[EventTiming] {
        &self.timings
    }

    /// The `required` events that did not appear, in that order, among the
    /// run's events (other events may sit between them).
    #[must_use]
    pub fn missing(&self, required: &[EventType]) -> Vec<EventType> {
        let mut next = 0;
        let mut missing = Vec::new();
        for wanted in required {
            match self.timings[next..]
                .iter()
                .position(|t| t.event_type == *wanted)
            {
                Some(at) => next += at + 1,
                None => missing.push(*wanted),
            }
        }
        missing
    }
}

/// A run that ended without all of its required events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "run {run_id} of user {user_id} (message {message_id}) ended without {}; it sent {}",
    names(missing),
    names(sent)
)]
#[allow(missing_docs)] // fields named for what they hold
pub struct MissingCriticalEvent {
    pub run_id: String,
    pub user_id: String,
    /// The `user_message` that started it.
    pub message_id: String,
    /// The required events it lacked.
    pub missing: Vec<EventType>,
    /// What it sent, in order.
    pub sent: Vec<EventType>,
}

fn names(events: &[EventType]) -> String {
    if events.is_empty() {
        return "nothing".to_owned();
    }
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts of what the monitor has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct EventMetrics {
    /// Runs that ended.
    pub runs: u64,
    /// Runs that ended with every required event.
    pub complete_runs: u64,
    /// Runs flagged as missing a required event.
    pub flagged_runs: u64,
    /// Events emitted, by type.
    pub events: BTreeMap<EventType, u64>,
    /// Required events that flagged runs lacked, by type.
    pub missing: BTreeMap<EventType, u64>,
}

/// Watches every run's events: flags a
/// run that ends without all required events and keeps recent runs' timings.
///
/// ```
/// use ws_harness::protocol::EventType;
/// use ws_harness::server::{EventMonitor, EventTracker};
///
/// let monitor = EventMonitor::default();
/// let mut run = EventTracker::new("run-1", "alice", "m-1");
/// run.record(EventType::AgentStarted, 1);
/// let flagged = monitor.finish(run).unwrap_err();
/// assert_eq!(flagged.missing.len(), 4);
/// assert_eq!(monitor.metrics().flagged_runs, 1);
/// ```
#[derive(Debug)]
pub struct EventMonitor {
    required: Vec<EventType>,
    state: Mutex<MonitorState>,
}

#[derive(Debug, Default)]
struct MonitorState {
    metrics: EventMetrics,
    recent: VecDeque<EventTracker>,
    flagged: VecDeque<MissingCriticalEvent>,
}

impl Default for EventMonitor {
    fn default() -> Self {
        Self::new(REQUIRED_EVENTS.to_vec())
    }
}

impl EventMonitor {
    /// A monitor that requires these events of every run, in this order.
    #[must_use]
    pub fn new(required: Vec<EventType>) -> Self {
        Self {
            required,
            state: Mutex::default(),
        }
    }

    /// Takes a finished run: counts it, keeps its timings, and flags it
    /// (logging a warning) when a required event is missing.
    ///
    /// # Errors
    /// [`MissingCriticalEvent`] naming what the run lacked.
    pub fn finish(&self, run: EventTracker) -> Result<(), MissingCriticalEvent> {
        let missing = run.missing(&self.required);
        let mut state = self.lock();
        let metrics = &mut state.metrics;
        metrics.runs += 1;
        for timing in &run.timings {
            *metrics.events.entry(timing.event_type).or_default() += 1;
        }
        let result = if missing.is_empty() {
            metrics.complete_runs += 1;
            Ok(())
        } else {
            metrics.flagged_runs += 1;
            for event in &missing {
                *metrics.missing.entry(*event).or_default() += 1;
            }
            let flagged = MissingCriticalEvent {
                run_id: run.run_id.clone(),
                user_id: run.user_id.clone(),
                message_id: run.message_id.clone(),
                missing,
                sent: run.timings.iter().map(|t| t.event_type).collect(),
            };
            tracing::warn!(%flagged, "run missing required events");
            keep(&mut state.flagged, flagged.clone());
            Err(flagged)
        };
        keep(&mut state.recent, run);
        result
    }

    /// What the monitor has counted so far.
    #[must_use]
    pub fn metrics(&self) -> EventMetrics {
        self.lock().metrics.clone()
    }

    /// The most recent flagged runs, oldest first.
    #[must_use]
    pub fn flagged(&self) -> Vec<MissingCriticalEvent> {
        self.lock().flagged.iter().cloned().collect()
    }

    /// The most recent finished runs with their event timings, oldest first.
    #[must_use]
    pub fn recent_runs(&self) -> Vec<EventTracker> {
        self.lock().recent.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MonitorState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn keep<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() == KEEP_RUNS {
        list.pop_front();
    }
    list.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    fn run(events: &[EventType]) -> EventTracker {
        let mut tracker = EventTracker::new("run-1", "alice", "m-1");
        for (i, e) in events.iter().enumerate() {
            tracker.record(*e, i as u64 + 1);
        }
        tracker
    }

    #[test]
    fn a_golden_run_passes_with_extra_events_between() {
        let monitor = EventMonitor::default();
        let events = [
            AgentStarted,
            AgentThinking,
            AgentThinking,
            ToolExecuting,
            ToolCompleted,
            ToolExecuting,
            ToolCompleted,
            AgentCompleted,
        ];
        assert!(monitor.finish(run(&events)).is_ok());
        let metrics = monitor.metrics();
        assert_eq!(
            (metrics.runs, metrics.complete_runs, metrics.flagged_runs),
            (1, 1, 0)
        );
        assert_eq!(metrics.events[&ToolExecuting], 2);
        assert_eq!(monitor.recent_runs()[0].timings().len(), 8);
    }

    #[test]
    fn out_of_order_or_missing_events_are_flagged_with_a_clear_message() {
        let monitor = EventMonitor::default();
        let flagged = monitor
            .finish(run(&[
                AgentStarted,
                AgentThinking,
                ToolExecuting,
                AgentError,
            ]))
            .unwrap_err();
        assert_eq!(flagged.missing, [ToolCompleted, AgentCompleted]);
        assert_eq!(
            flagged.to_string(),
            "run run-1 of user alice (message m-1) ended without tool_completed, agent_completed; \
             it sent agent_started, agent_thinking, tool_executing, agent_error"
        );
        // A required event missing in the middle is named alone.
        let no_tools = monitor
            .finish(run(&[AgentStarted, AgentThinking, AgentCompleted]))
            .unwrap_err();
        assert_eq!(no_tools.missing, [ToolExecuting, ToolCompleted]);
        // Completed before thinking: the order matters.
        let reordered = monitor.finish(run(&[
            AgentStarted,
            ToolExecuting,
            ToolCompleted,
            AgentCompleted,
            AgentThinking,
        ]));
        assert!(reordered.is_err());
        let metrics = monitor.metrics();
        assert_eq!(metrics.flagged_runs, 3);
        assert_eq!(metrics.missing[&AgentCompleted], 2);
        assert_eq!(monitor.flagged().len(), 3);
    }
}
