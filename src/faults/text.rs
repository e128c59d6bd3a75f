//! Faults as text, for the `[faults]` settings of the commands: each
//! fault's `Display` is the form `FromStr` reads.
//!
//! `NAME [VALUE] [ATTRIBUTE=VALUE]... [upstream|downstream] [for USER,USER]`:
//! the name and attributes are Toxiproxy's for a toxic
//! (`latency 200ms jitter=20ms`, `slicer 100 size_variation=20 delay=5ms`),
//! and for a frame fault `kind=`, `where=` (partial JSON), `times=` and,
//! for `close`, `reason=`.

use super::{Corruption, FrameFault, FrameFaultKind, Target, Toxic, ToxicKind};
use crate::client::{FrameMatcher, event, frame};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Why a fault's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}`: {problem}; e.g. `{example}`")]
pub struct FaultTextError {
    /// The text as it was given.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
    /// A good one of its sort.
    pub example: &'static str,
}

impl FaultTextError {
    fn new(text: &str, problem: String, example: &'static str) -> Self {
        Self {
            text: text.to_owned(),
            problem,
            example,
        }
    }
}

/// The toxics' names, for errors.
const TOXICS: &str = "latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data";
/// The frame faults' names, for errors.
const FRAME_FAULTS: &str = "drop, delay, duplicate, reorder, corrupt, close, no_pongs";
const TOXIC_EXAMPLE: &str = "latency 200ms jitter=20ms downstream for alice";
const FRAME_EXAMPLE: &str = "drop kind=agent_completed times=1 downstream";

/// A fault's text split into its parts.
struct Parts {
    name: String,
    value: Option<String>,
    attributes: Vec<(String, String)>,
    target: Target,
}

/// Splits at whitespace outside quotes, braces and brackets, so a `where=`
/// JSON may hold spaces.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut depth, mut quoted, mut escaped) = (String::new(), 0_i32, false, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            c if c.is_whitespace() && !quoted && depth == 0 => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn parts(text: &str) -> Result<Parts, String> {
    let mut words = words(text).into_iter();
    let name = words.next().ok_or("it is empty")?;
    let mut parts = Parts {
        name,
        value: None,
        attributes: Vec::new(),
        target: Target::default(),
    };
    while let Some(word) = words.next() {
        match word.as_str() {
            "upstream" => parts.target = parts.target.upstream(),
            "downstream" => parts.target = parts.target.downstream(),
            "for" => {
                let users = words
                    .next()
                    .ok_or("`for` needs users, e.g. `for alice,bob`")?;
                for user in users.split(',').filter(|u| !u.is_empty()) {
                    parts.target = parts.target.for_user(user.to_owned());
                }
            }
            _ => match word.split_once('=') {
                Some((key, value)) => parts.attributes.push((key.to_owned(), value.to_owned())),
                None if parts.value.is_none() && parts.attributes.is_empty() => {
                    parts.value = Some(word);
                }
                None => {
                    return Err(format!(
                        "`{word}` is not `attribute=value`, a direction or `for`"
                    ));
                }
            },
        }
    }
    Ok(parts)
}

impl Parts {
    fn value(&self) -> Result<&str, String> {
        self.value
            .as_deref()
            .ok_or_else(|| format!("`{}` needs a value", self.name))
    }

    fn no_value(&self) -> Result<(), String> {
        match &self.value {
            Some(value) => Err(format!("`{}` takes no value, got `{value}`", self.name)),
            None => Ok(()),
        }
    }

    /// Takes attribute `key`; the rest must be known, checked by `done`.
    fn take(&mut self, key: &str) -> Option<String> {
        let at = self.attributes.iter().position(|(k, _)| k == key)?;
        Some(self.attributes.remove(at).1)
    }

    fn done(&self) -> Result<(), String> {
        match self.attributes.first() {
            Some((key, _)) => Err(format!("`{}` has no attribute `{key}`", self.name)),
            None => Ok(()),
        }
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration ({e})"))
}

fn number<T: FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

impl FromStr for Toxic {
    type Err = FaultTextError;

    /// Reads the form `Display` writes.
    ///
    /// ```
    /// use ws_harness::faults::Toxic;
    ///
    /// let toxic: Toxic = "latency 200ms jitter=20ms upstream for alice".parse().unwrap();
    /// assert_eq!(toxic.to_string(), "latency 200ms jitter=20ms upstream for alice");
    /// let err = "latensy 1s".parse::<Toxic>().unwrap_err();
    /// assert!(err.to_string().starts_with("`latensy 1s`: no toxic is called `latensy`"));
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        read_toxic(text).map_err(|problem| FaultTextError::new(text, problem, TOXIC_EXAMPLE))
    }
}

fn read_toxic(text: &str) -> Result<Toxic, String> {
    let mut p = parts(text)?;
    let kind = match p.name.as_str() {
        "latency" => ToxicKind::Latency {
            latency: duration(p.value()?)?,
            jitter: p
                .take("jitter")
                .map_or(Ok(Duration::ZERO), |j| duration(&j))?,
        },
        "bandwidth" => ToxicKind::Bandwidth {
            rate: number(p.value()?)?,
        },
        "slow_close" => ToxicKind::SlowClose {
            delay: duration(p.value()?)?,
        },
        "timeout" => ToxicKind::Timeout {
            timeout: duration(p.value()?)?,
        },
        "reset_peer" => ToxicKind::ResetPeer {
            timeout: duration(p.value()?)?,
        },
        "slicer" => {
            let Toxic { kind, .. } = Toxic::slicer(
                number(p.value()?)?,
                p.take("size_variation").map_or(Ok(0), |v| number(&v))?,
                p.take("delay")
                    .map_or(Ok(Duration::ZERO), |d| duration(&d))?,
            );
            kind
        }
        "limit_data" => ToxicKind::LimitData {
            bytes: number(p.value()?)?,
        },
        other => {
            return Err(format!(
                "no toxic is called `{other}`: the toxics are {TOXICS}"
            ));
        }
    };
    p.done()?;
    Ok(Toxic {
        kind,
        target: p.target,
    })
}

impl FromStr for FrameFault {
    type Err = FaultTextError;

    /// Reads the form `Display` writes.
    ///
    /// ```
    /// use ws_harness::faults::FrameFault;
    ///
    /// let fault: FrameFault = r#"drop where={"seq": 2} times=1"#.parse().unwrap();
    /// assert_eq!(fault.to_string(), r#"drop where={"seq":2} times=1 downstream"#);
    /// let err = "corrupt bad_bytes".parse::<FrameFault>().unwrap_err();
    /// assert!(err.to_string().contains("bad_utf8, bad_opcode or wrong_length"));
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        read_frame_fault(text).map_err(|problem| FaultTextError::new(text, problem, FRAME_EXAMPLE))
    }
}

fn read_frame_fault(text: &str) -> Result<FrameFault, String> {
    let mut p = parts(text)?;
    let kind = match p.name.as_str() {
        "drop" => FrameFaultKind::Drop,
        "duplicate" => FrameFaultKind::Duplicate,
        "reorder" => FrameFaultKind::Reorder,
        "no_pongs" => FrameFaultKind::NoPongs,
        "delay" => FrameFaultKind::Delay(duration(p.value()?)?),
        "corrupt" => FrameFaultKind::Corrupt(match p.value()? {
            "bad_utf8" => Corruption::BadUtf8,
            "bad_opcode" => Corruption::BadOpcode,
            "wrong_length" => Corruption::WrongLength,
            other => {
                return Err(format!(
                    "`{other}` is no corruption: bad_utf8, bad_opcode or wrong_length"
                ));
            }
        }),
        "close" => FrameFaultKind::Close {
            code: number(p.value()?)?,
            reason: match p.take("reason") {
                Some(reason) if reason.starts_with('"') => serde_json::from_str(&reason)
                    .map_err(|e| format!("reason {reason} is not a JSON string ({e})"))?,
                Some(reason) => reason,
                None => String::new(),
            },
        },
        other => {
            return Err(format!(
                "no frame fault is called `{other}`: the frame faults are {FRAME_FAULTS}"
            ));
        }
    };
    if !matches!(
        kind,
        FrameFaultKind::Delay(_) | FrameFaultKind::Corrupt(_) | FrameFaultKind::Close { .. }
    ) {
        p.no_value()?;
    }
    let kind_name = p.take("kind");
    let pattern = p
        .take("where")
        .map(|json| {
            serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| format!("where={json} is not a JSON object"))
        })
        .transpose()?;
    let matcher = match (kind_name, pattern) {
        (Some(kind), Some(pattern)) => Some(event(kind).with(pattern)),
        (Some(kind), None) => Some(event(kind)),
        (None, Some(pattern)) => Some(frame(pattern)),
        (None, None) => None,
    };
    let times = p.take("times").map(|n| number(&n)).transpose()?;
    p.done()?;
    Ok(FrameFault {
        kind,
        matcher,
        times,
        target: p.target,
    })
}

/// Writes a matcher as `kind=… where=…`.
pub(super) struct MatcherText<'a>(pub(super) &'a FrameMatcher);

impl fmt::Display for MatcherText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut space = "";
        if let Some(kind) = self.0.kind() {
            write!(f, "kind={kind}")?;
            space = " ";
        }
        if let Some(pattern) = self.0.pattern() {
            write!(f, "{space}where={pattern}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_fault_reads_back_from_its_text() {
        let toxics = [
            Toxic::latency(Duration::from_millis(200)).jitter(Duration::from_millis(20)),
            Toxic::bandwidth(100).upstream(),
            Toxic::slow_close(Duration::from_secs(1)),
            Toxic::timeout(Duration::ZERO).for_user("a").for_user("b"),
            Toxic::reset_peer(Duration::from_secs(2)),
            Toxic::slicer(100, 20, Duration::from_millis(5)),
            Toxic::limit_data(300),
        ];
        for toxic in toxics {
            assert_eq!(
                toxic.to_string().parse::<Toxic>(),
                Ok(toxic.clone()),
                "{toxic}"
            );
        }
        let faults = [
            FrameFault::drop()
                .matching(event("tick").with(json!({"seq": 2})))
                .times(1),
            FrameFault::delay(Duration::from_millis(400)).matching(frame(json!({"a": "b c"}))),
            FrameFault::duplicate(),
            FrameFault::reorder().upstream(),
            FrameFault::corrupt(Corruption::WrongLength),
            FrameFault::close(4001, "going away"),
            FrameFault::no_pongs().upstream().for_user("alice"),
        ];
        for fault in faults {
            assert_eq!(
                fault.to_string().parse::<FrameFault>(),
                Ok(fault.clone()),
                "{fault}"
            );
        }
    }

    #[test]
    fn each_mistake_says_what_is_wrong() {
        let problem = |text: &str| text.parse::<Toxic>().unwrap_err().problem;
        assert_eq!(problem(""), "it is empty");
        assert_eq!(problem("latency"), "`latency` needs a value");
        assert!(problem("latency soon").starts_with("`soon` is not a duration"));
        assert_eq!(
            problem("latency 1s spread=2ms"),
            "`latency` has no attribute `spread`"
        );
        assert_eq!(problem("bandwidth fast"), "`fast` is not a whole number");
        assert_eq!(
            problem("latency 1s for"),
            "`for` needs users, e.g. `for alice,bob`"
        );
        let problem = |text: &str| text.parse::<FrameFault>().unwrap_err().problem;
        assert_eq!(
            problem("drop everything"),
            "`drop` takes no value, got `everything`"
        );
        assert_eq!(problem("drop where=[1]"), "where=[1] is not a JSON object");
        assert!(problem("lose").contains("the frame faults are drop, delay"));
    }
}
