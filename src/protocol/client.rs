use super::{ErrorCode, MAX_CONTENT_BYTES, MAX_ID_CHARS, ProtocolError, Scenario};
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
    use crate::protocol::EventType;

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
