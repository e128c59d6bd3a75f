//! [`Scenario`]: how one run of the reference agent goes, as a
//! `user_message` asks for it in test mode.

use super::{EventType, ProtocolError};
use serde::Serialize;
use serde_json::{Map, Value};

/// Shapes a run of the reference agent (accepted only in test mode).
///
/// ```
/// use ws_harness::protocol::Scenario;
///
/// let s = Scenario::default();
/// assert_eq!(s.tools, vec!["search".to_string()]);
/// assert_eq!((s.thinking_steps, s.step_delay_ms, s.fail_at), (1, 0, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// The tools to call, in order (0..=8 names of 1..=64 characters).
    pub tools: Vec<String>,
    /// How many `agent_thinking` events (0..=8).
    pub thinking_steps: u8,
    /// Pause before each event after the first, in milliseconds (0..=10000).
    pub step_delay_ms: u64,
    /// Fail with `agent_error` right after the first event of this type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_at: Option<EventType>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            tools: vec!["search".to_owned()],
            thinking_steps: 1,
            step_delay_ms: 0,
            fail_at: None,
        }
    }
}

/// Most tools a scenario may name.
const MAX_TOOLS: usize = 8;
/// Longest tool name, in characters.
const MAX_TOOL_NAME_CHARS: usize = 64;
/// Most thinking steps a scenario may ask for.
const MAX_THINKING_STEPS: u64 = 8;
/// Longest step delay a scenario may ask for, in milliseconds.
const MAX_STEP_DELAY_MS: u64 = 10_000;

impl Scenario {
    pub(super) fn from_object(obj: &Map<String, Value>) -> Result<Self, ProtocolError> {
        let mut scenario = Scenario::default();
        for (key, value) in obj {
            let field = format!("scenario.{key}");
            match key.as_str() {
                "tools" => {
                    scenario.tools = value
                        .as_array()
                        .filter(|tools| tools.len() <= MAX_TOOLS)
                        .and_then(|tools| tools.iter().map(tool_name).collect::<Option<Vec<_>>>())
                        .ok_or_else(|| {
                            ProtocolError::invalid_field(
                                &field,
                                format!("`{field}` must be a list of 0..={MAX_TOOLS} tool names of 1..={MAX_TOOL_NAME_CHARS} characters, e.g. [\"search\"]"),
                            )
                        })?;
                }
                "thinking_steps" => {
                    scenario.thinking_steps = value
                        .as_u64()
                        .filter(|n| *n <= MAX_THINKING_STEPS)
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or_else(|| {
                            ProtocolError::invalid_field(
                                &field,
                                format!("`{field}` must be a whole number 0..={MAX_THINKING_STEPS}, e.g. 1"),
                            )
                        })?;
                }
                "step_delay_ms" => {
                    scenario.step_delay_ms = value
                        .as_u64()
                        .filter(|n| *n <= MAX_STEP_DELAY_MS)
                        .ok_or_else(|| {
                            ProtocolError::invalid_field(
                                &field,
                                format!("`{field}` must be a whole number of milliseconds 0..={MAX_STEP_DELAY_MS}, e.g. 50"),
                            )
                        })?;
                }
                "fail_at" => {
                    let name = value.as_str().unwrap_or_default();
                    let fail_at = name.parse::<EventType>().ok().filter(|t| {
                        !matches!(t, EventType::AgentCompleted | EventType::AgentError)
                    });
                    scenario.fail_at = Some(fail_at.ok_or_else(|| {
                        ProtocolError::invalid_field(
                            &field,
                            format!("`{field}` must be one of agent_started, agent_thinking, tool_executing, tool_completed; got {value}"),
                        )
                    })?);
                }
                _ => {
                    return Err(ProtocolError::invalid_field(
                        &field,
                        format!(
                            "unknown scenario field `{key}`; expected tools, thinking_steps, step_delay_ms or fail_at"
                        ),
                    ));
                }
            }
        }
        if let Some(fail_at) = scenario.fail_at
            && !scenario.emits(fail_at)
        {
            return Err(ProtocolError::invalid_field(
                "scenario.fail_at",
                format!(
                    "this scenario never emits {fail_at}, so the run could not fail after it; add a tool or a thinking step, or pick another event"
                ),
            ));
        }
        Ok(scenario)
    }

    /// Whether a run of this scenario emits an event of type `event`
    /// (ignoring `fail_at`).
    ///
    /// ```
    /// use ws_harness::protocol::{EventType, Scenario};
    /// let no_tools = Scenario { tools: vec![], ..Scenario::default() };
    /// assert!(!no_tools.emits(EventType::ToolExecuting));
    /// assert!(no_tools.emits(EventType::AgentThinking));
    /// ```
    #[must_use]
    pub fn emits(&self, event: EventType) -> bool {
        match event {
            EventType::AgentStarted | EventType::AgentCompleted => true,
            EventType::AgentThinking => self.thinking_steps > 0,
            EventType::ToolExecuting | EventType::ToolCompleted => !self.tools.is_empty(),
            EventType::AgentError => self.fail_at.is_some(),
        }
    }
}

fn tool_name(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|name| (1..=MAX_TOOL_NAME_CHARS).contains(&name.chars().count()))
        .map(str::to_owned)
}
