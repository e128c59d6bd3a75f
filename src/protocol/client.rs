use super::{ErrorCode, EventType, MAX_CONTENT_BYTES, MAX_ID_CHARS, ProtocolError};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A frame a client sends, parsed and checked against `PROTOCOL.md`.
///
/// ```
/// use ws_harness::protocol::ClientMessage;
///
/// let msg = ClientMessage::parse(r#"{"type":"ping","nonce":"abc"}"#).unwrap();
/// assert_eq!(msg, ClientMessage::Ping { nonce: Some("abc".into()) });
/// assert_eq!(msg.to_json(), r#"{"type":"ping","nonce":"abc"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Start an agent run.
    UserMessage(UserMessage),
    /// Ask for a `pong` on the same connection.
    Ping {
        /// Echoed back in the `pong`.
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// Replay the user's buffered events after `last_event_id`, then go on live.
    Resume {
        /// The newest event id the client has seen (0 for none).
        last_event_id: u64,
    },
}

/// A `user_message`: starts one agent run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserMessage {
    /// Client-chosen id of this message, 1..=128 characters.
    pub message_id: String,
    /// Client-chosen thread id, 1..=128 characters.
    pub thread_id: String,
    /// The text for the agent, up to 64 KiB.
    pub content: String,
    /// Test mode only: how the reference agent's run should go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
}

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

impl ClientMessage {
    /// Parses one text frame, naming what is wrong when it does not follow the protocol.
    ///
    /// # Errors
    /// A [`ProtocolError`] with the code the server sends back: `invalid_json`,
    /// `unknown_type`, `invalid_field` (naming the field) or `message_too_large`.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        match serde_json::from_str::<PlainUserMessage<'_>>(text) {
            Ok(plain) if plain.scenario.is_none() => plain.checked(),
            _ => None,
        }
        .map_or_else(|| Self::parse_any(text), Ok)
    }

    /// [`parse`](Self::parse) through a [`Value`], for every frame: what
    /// names the mistake in a frame that is wrong.
    pub(crate) fn parse_any(text: &str) -> Result<Self, ProtocolError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            ProtocolError::new(
                ErrorCode::InvalidJson,
                format!("the frame is not valid JSON ({e}); send one JSON object per text frame"),
            )
        })?;
        let Value::Object(obj) = value else {
            return Err(ProtocolError::new(
                ErrorCode::InvalidJson,
                format!(
                    "the frame is a JSON {}, not an object; send one JSON object per text frame",
                    json_kind(&value)
                ),
            ));
        };
        let message_id = obj
            .get("message_id")
            .and_then(Value::as_str)
            .filter(|id| valid_id(id))
            .map(str::to_owned);
        Self::from_object(&obj).map_err(|e| e.with_message_id(message_id))
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Self, ProtocolError> {
        const TYPES: &str = "expected one of user_message, ping, resume";
        let kind = match obj.get("type") {
            None => {
                return Err(ProtocolError::new(
                    ErrorCode::UnknownType,
                    format!("the frame has no `type`; {TYPES}"),
                ));
            }
            Some(Value::String(kind)) => kind.as_str(),
            Some(other) => {
                return Err(ProtocolError::new(
                    ErrorCode::UnknownType,
                    format!(
                        "`type` is a JSON {}, not a string; {TYPES}",
                        json_kind(other)
                    ),
                ));
            }
        };
        match kind {
            "user_message" => UserMessage::from_object(obj).map(Self::UserMessage),
            "ping" => {
                let nonce = match obj.get("nonce") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(n)) if n.chars().count() <= MAX_ID_CHARS => Some(n.clone()),
                    Some(_) => {
                        return Err(ProtocolError::invalid_field(
                            "nonce",
                            format!(
                                "`nonce` must be a string of at most {MAX_ID_CHARS} characters, e.g. \"abc\""
                            ),
                        ));
                    }
                };
                Ok(Self::Ping { nonce })
            }
            "resume" => {
                let last_event_id = obj.get("last_event_id").and_then(Value::as_u64).ok_or_else(|| {
                    ProtocolError::invalid_field(
                        "last_event_id",
                        "`last_event_id` must be a whole number >= 0 (the newest event id seen, 0 for none), e.g. 41",
                    )
                })?;
                Ok(Self::Resume { last_event_id })
            }
            other => Err(ProtocolError::new(
                ErrorCode::UnknownType,
                format!("unknown type `{other}`; {TYPES}"),
            )),
        }
    }

    /// The frame as JSON text, ready to send.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a client message always serializes")
    }
}

/// The common frame, a `user_message` without a scenario, read in place:
/// what [`ClientMessage::parse`] tries first. A field it does not know
/// leaves the frame to the full parse: skipped unread, its value would pass
/// where the full parse refuses it (a number out of range, found by
/// fuzzing).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainUserMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    #[serde(borrow)]
    thread_id: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
    /// Any value but `null` leaves the frame to the full parse.
    scenario: Option<IgnoredAny>,
}

impl PlainUserMessage<'_> {
    /// The message, when every field is as the protocol wants it; `None`
    /// leaves the frame to the full parse, which names what is wrong.
    fn checked(self) -> Option<ClientMessage> {
        let fits = self.kind == "user_message"
            && valid_id(&self.message_id)
            && valid_id(&self.thread_id)
            && self.content.len() <= MAX_CONTENT_BYTES;
        fits.then(|| {
            ClientMessage::UserMessage(UserMessage {
                message_id: self.message_id.into_owned(),
                thread_id: self.thread_id.into_owned(),
                content: self.content.into_owned(),
                scenario: None,
            })
        })
    }
}

impl UserMessage {
    fn from_object(obj: &Map<String, Value>) -> Result<Self, ProtocolError> {
        let message_id = id_field(obj, "message_id")?;
        let thread_id = id_field(obj, "thread_id")?;
        let content = match obj.get("content") {
            Some(Value::String(c)) => c.clone(),
            _ => {
                return Err(ProtocolError::invalid_field(
                    "content",
                    "`content` must be a string, e.g. \"hello\"",
                ));
            }
        };
        if content.len() > MAX_CONTENT_BYTES {
            return Err(ProtocolError::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "`content` is {} bytes, over the limit of {MAX_CONTENT_BYTES} bytes; send a shorter message",
                    content.len()
                ),
            ));
        }
        let scenario = match obj.get("scenario") {
            None | Some(Value::Null) => None,
            Some(Value::Object(s)) => Some(Scenario::from_object(s)?),
            Some(other) => {
                return Err(ProtocolError::invalid_field(
                    "scenario",
                    format!(
                        "`scenario` is a JSON {}, not an object, e.g. {{\"tools\":[\"search\"]}}",
                        json_kind(other)
                    ),
                ));
            }
        };
        Ok(Self {
            message_id,
            thread_id,
            content,
            scenario,
        })
    }
}

impl Scenario {
    fn from_object(obj: &Map<String, Value>) -> Result<Self, ProtocolError> {
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

fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_CHARS).contains(&id.chars().count())
}

fn id_field(obj: &Map<String, Value>, name: &str) -> Result<String, ProtocolError> {
    match obj.get(name) {
        Some(Value::String(id)) if valid_id(id) => Ok(id.clone()),
        Some(Value::String(id)) => Err(ProtocolError::invalid_field(
            name,
            format!(
                "`{name}` is {} characters; it must be 1..={MAX_ID_CHARS}, e.g. \"{}-1\"",
                id.chars().count(),
                &name[..1]
            ),
        )),
        Some(other) => Err(ProtocolError::invalid_field(
            name,
            format!(
                "`{name}` is a JSON {}, not a string, e.g. \"{}-1\"",
                json_kind(other),
                &name[..1]
            ),
        )),
        None => Err(ProtocolError::invalid_field(
            name,
            format!(
                "`{name}` is missing; add a string of 1..={MAX_ID_CHARS} characters, e.g. \"{}-1\"",
                &name[..1]
            ),
        )),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ProtocolError {
        ClientMessage::parse(text).unwrap_err()
    }

    #[test]
    fn the_plain_path_reads_what_the_full_parse_reads_and_leaves_it_the_rest() {
        let long = "é".repeat(MAX_CONTENT_BYTES / 2 + 1);
        let frames = [
            r#"{"type":"user_message","message_id":"m-1","thread_id":"t-1","content":"hi"}"#.to_owned(),
            r#"{"content":"a\"b\n\u00e9","thread_id":"t\u0031","message_id":"m","type":"user_message"}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"","scenario":null}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"tools":[]}}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":7}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","content":"d"}"#.to_owned(),
            r#"{"type":"user_message","type":"ping","message_id":"m","thread_id":"t","content":"c"}"#.to_owned(),
            r#"{"type":"user_message","message_id":"","thread_id":"t","content":"c"}"#.to_owned(),
            format!(r#"{{"type":"user_message","message_id":"{}","thread_id":"t","content":"c"}}"#, "é".repeat(MAX_ID_CHARS)),
            format!(r#"{{"type":"user_message","message_id":"{}","thread_id":"t","content":"c"}}"#, "é".repeat(MAX_ID_CHARS + 1)),
            r#"{"type":"user_message","message_id":"m","thread_id":5,"content":"c"}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t"}"#.to_owned(),
            format!(r#"{{"type":"user_message","message_id":"m","thread_id":"t","content":"{long}"}}"#),
            r#"{"type":"User_message","message_id":"m","thread_id":"t","content":"c"}"#.to_owned(),
            r#"{"type":"ping","message_id":"m","thread_id":"t","content":"c"}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c"} x"#.to_owned(),
            r#"["user_message"]"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","user_id":"mallory"}"#.to_owned(),
            r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","extra":{"n":2e1912}}"#.to_owned(),
        ];
        for frame in &frames {
            assert_eq!(
                ClientMessage::parse(frame),
                ClientMessage::parse_any(frame),
                "{frame}"
            );
        }
        let plain = |frame: &str| {
            serde_json::from_str::<PlainUserMessage<'_>>(frame)
                .ok()
                .map(|m| (m.scenario.is_some(), m.checked().is_some()))
        };
        assert_eq!(
            plain(&frames[1]),
            Some((false, true)),
            "escapes read in place"
        );
        assert_eq!(
            plain(&frames[3]),
            Some((true, true)),
            "a scenario: the full parse"
        );
        let unknown = &frames[frames.len() - 2..];
        assert!(
            unknown.iter().all(|frame| plain(frame).is_none()),
            "a field it does not know: the full parse"
        );
        assert_eq!(err(&frames[frames.len() - 1]).code, ErrorCode::InvalidJson);
    }

    #[test]
    fn parses_a_full_user_message_with_scenario() {
        let msg = ClientMessage::parse(
            r#"{"type":"user_message","message_id":"m-1","thread_id":"t-1","content":"hi",
                "user_id":"mallory","scenario":{"tools":["a","b"],"thinking_steps":2,"step_delay_ms":5,"fail_at":"tool_completed"}}"#,
        )
        .unwrap();
        let ClientMessage::UserMessage(msg) = msg else {
            panic!("not a user message")
        };
        assert_eq!(msg.content, "hi");
        let scenario = msg.scenario.unwrap();
        assert_eq!(scenario.tools, ["a", "b"]);
        assert_eq!(scenario.thinking_steps, 2);
        assert_eq!(scenario.step_delay_ms, 5);
        assert_eq!(scenario.fail_at, Some(EventType::ToolCompleted));
    }

    #[test]
    fn each_bad_frame_gets_its_code_and_field() {
        assert_eq!(err("nope").code, ErrorCode::InvalidJson);
        assert_eq!(err("[1,2]").code, ErrorCode::InvalidJson);
        assert_eq!(err(r#"{"nonce":"x"}"#).code, ErrorCode::UnknownType);
        assert_eq!(err(r#"{"type":7}"#).code, ErrorCode::UnknownType);
        assert_eq!(err(r#"{"type":"shout"}"#).code, ErrorCode::UnknownType);
        let cases = [
            (
                r#"{"type":"user_message","thread_id":"t","content":"c"}"#,
                "message_id",
            ),
            (
                r#"{"type":"user_message","message_id":"","thread_id":"t","content":"c"}"#,
                "message_id",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":5,"content":"c"}"#,
                "thread_id",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t"}"#,
                "content",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":[]}"#,
                "scenario",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"thinking_steps":9}}"#,
                "scenario.thinking_steps",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"step_delay_ms":10001}}"#,
                "scenario.step_delay_ms",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"tools":["a","b","c","d","e","f","g","h","i"]}}"#,
                "scenario.tools",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"fail_at":"agent_completed"}}"#,
                "scenario.fail_at",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"tools":[],"fail_at":"tool_executing"}}"#,
                "scenario.fail_at",
            ),
            (
                r#"{"type":"user_message","message_id":"m","thread_id":"t","content":"c","scenario":{"tool":["a"]}}"#,
                "scenario.tool",
            ),
            (r#"{"type":"resume","last_event_id":-1}"#, "last_event_id"),
            (r#"{"type":"ping","nonce":5}"#, "nonce"),
        ];
        for (text, field) in cases {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::InvalidField, "{text}");
            assert_eq!(e.field.as_deref(), Some(field), "{text}");
        }
    }

    #[test]
    fn an_id_of_128_characters_is_accepted_and_129_is_not() {
        let frame = |id: &str| {
            format!(
                r#"{{"type":"user_message","message_id":"{id}","thread_id":"t","content":"c"}}"#
            )
        };
        assert!(ClientMessage::parse(&frame(&"é".repeat(128))).is_ok());
        assert_eq!(
            err(&frame(&"x".repeat(129))).field.as_deref(),
            Some("message_id")
        );
    }

    #[test]
    fn content_over_64_kib_is_too_large_and_keeps_the_message_id() {
        let big = "x".repeat(MAX_CONTENT_BYTES + 1);
        let e = err(&format!(
            r#"{{"type":"user_message","message_id":"m-9","thread_id":"t","content":"{big}"}}"#
        ));
        assert_eq!(e.code, ErrorCode::MessageTooLarge);
        assert_eq!(e.message_id.as_deref(), Some("m-9"));
        let exact = "x".repeat(MAX_CONTENT_BYTES);
        assert!(
            ClientMessage::parse(&format!(
                r#"{{"type":"user_message","message_id":"m","thread_id":"t","content":"{exact}"}}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn serialized_messages_parse_back() {
        let msg = ClientMessage::UserMessage(UserMessage {
            message_id: "m".into(),
            thread_id: "t".into(),
            content: "c".into(),
            scenario: Some(Scenario {
                fail_at: Some(EventType::AgentThinking),
                ..Scenario::default()
            }),
        });
        assert_eq!(ClientMessage::parse(&msg.to_json()).unwrap(), msg);
        let resume = ClientMessage::Resume { last_event_id: 41 };
        assert_eq!(ClientMessage::parse(&resume.to_json()).unwrap(), resume);
    }
}
