//! Reading a scenario file: TOML into a [`ScenarioFile`], every mistake
//! with its file, line and step.

use super::{Action, Expectation, MatcherTemplate, ScenarioFile, Step, StepFailure, StepUsers};
use crate::client::Resume;
use crate::config::{Template, TemplateError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The variables every template may use; a `capture` adds its names for
/// the steps after it.
pub(super) const BUILT_IN_VARIABLES: [&str; 5] = ["user", "subject", "n", "uuid", "now"];

/// The keys that say what a step does; a step has exactly one.
const ACTIONS: [&str; 6] = [
    "send",
    "expect",
    "expect_nothing",
    "sleep",
    "reconnect",
    "close",
];

/// The keys a step may have besides its action.
const OPTIONS: [&str; 4] = ["name", "users", "within", "capture"];

/// A scenario that cannot be had or run, or that failed. Its `Debug` is
/// its message, so `unwrap` shows it whole.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("cannot read the scenario file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A mistake in the file.
    #[error("{origin}, line {line}{}: {mistake}", step.map(|s| format!(", step {s}")).unwrap_or_default())]
    Invalid {
        /// The file, or what the text came from.
        origin: String,
        /// The line of the mistake (of its step, for a mistake inside one).
        line: usize,
        /// The step, counted from 1, when the mistake is in one.
        step: Option<usize>,
        /// What is wrong and how to write it.
        mistake: Mistake,
    },
    /// A user failed a step ([`ScenarioFile::run`]).
    #[error(transparent)]
    Failed(Box<StepFailure>),
}

impl std::fmt::Debug for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// What is wrong in a scenario file, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mistake {
    /// Not TOML, or a top-level key or table of the wrong shape.
    #[error("{0}")]
    Toml(String),
    /// The file has no `[[step]]`.
    #[error("no steps: add one, e.g. [[step]] send = {{ type = \"ping\" }}")]
    NoSteps,
    /// A step key that does not exist.
    #[error(
        "`{0}` is not a key of a step; a step has one of send, expect, expect_nothing, sleep, reconnect, close, and may have name, users, within, capture"
    )]
    UnknownKey(String),
    /// A step that does nothing.
    #[error(
        "the step does nothing: give it one of send, expect, expect_nothing, sleep, reconnect, close"
    )]
    NoAction,
    /// A step that does two things.
    #[error("the step has both `{0}` and `{1}`: make them two steps")]
    TwoActions(String, String),
    /// A value of the wrong shape.
    #[error("`{key}` {problem}; e.g. {example}")]
    BadValue {
        /// The step's key (or the file's, `users.count`).
        key: String,
        /// What is wrong with its value.
        problem: String,
        /// A good one.
        example: &'static str,
    },
    /// An option on a step whose action does not take it.
    #[error("`{key}` only goes with `expect`{}", if *key == "capture" { " (of one frame)" } else { "" })]
    OnlyWithExpect {
        /// The option.
        key: &'static str,
    },
    /// A template mistake.
    #[error("{0}")]
    Template(TemplateError),
    /// A step names a user beyond the users that run.
    #[error("`users` names user {index}, but {count} user{} run{}: name users from 1 to {count}", if *count == 1 { "" } else { "s" }, if *count == 1 { "s" } else { "" })]
    NoSuchUser {
        /// The user named, from 1.
        index: usize,
        /// How many users run.
        count: usize,
    },
    /// A placeholder with no value at that step.
    #[error("`${{{name}}}` has no value here: the variables are {known}")]
    UnknownVariable {
        /// The placeholder's name.
        name: String,
        /// The names that have a value at that step.
        known: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    name: String,
    users: Option<RawUsers>,
    resume: Option<RawResume>,
    #[serde(default)]
    step: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    count: Option<usize>,
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResume {
    frame: toml::Value,
    reply: Option<String>,
}

/// Reads the text of a scenario; `origin` names it in errors.
pub(super) fn parse(text: &str, origin: &str) -> Result<ScenarioFile, ScenarioError> {
    let invalid = |line: usize, step: Option<usize>, mistake: Mistake| ScenarioError::Invalid {
        origin: origin.to_owned(),
        line,
        step,
        mistake,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |span| span.start);
        let step = steps_before(text, at);
        invalid(
            line_of(text, at),
            (step > 0).then_some(step),
            Mistake::Toml(e.message().trim().to_owned()),
        )
    })?;
    if raw.step.is_empty() {
        return Err(invalid(1, None, Mistake::NoSteps));
    }
    if raw.users.as_ref().and_then(|u| u.count) == Some(0) {
        return Err(invalid(
            1,
            None,
            Mistake::BadValue {
                key: "users.count".into(),
                problem: "must be at least 1".into(),
                example: "[users] count = 10",
            },
        ));
    }
    let resume = match raw.resume {
        None => None,
        Some(resume) => {
            let frame = Template::from_value(json_of(resume.frame))
                .and_then(|frame| {
                    let unknown = (frame.variables())
                        .find(|v| !["last", "user"].contains(v))
                        .map(str::to_owned);
                    match unknown {
                        Some(name) => Err(TemplateError::Unknown(name)),
                        None => Ok(frame),
                    }
                })
                .map_err(|e| {
                    invalid(
                        line_of(text, text.find("[resume]").unwrap_or(0)),
                        None,
                        Mistake::Template(e),
                    )
                })?;
            Some(Resume {
                frame,
                reply: resume.reply,
            })
        }
    };
    let mut known: Vec<String> = BUILT_IN_VARIABLES.iter().map(|v| (*v).to_owned()).collect();
    let mut steps = Vec::with_capacity(raw.step.len());
    for (index, spanned) in raw.step.into_iter().enumerate() {
        let line = line_of(text, spanned.span().start);
        let step = read_step(spanned.into_inner(), line, &mut known)
            .map_err(|mistake| invalid(line, Some(index + 1), mistake))?;
        steps.push(step);
    }
    let scenario = ScenarioFile {
        name: raw.name,
        origin: origin.to_owned(),
        users: raw.users.as_ref().and_then(|u| u.count),
        user_prefix: raw.users.and_then(|u| u.prefix),
        resume,
        steps,
    };
    if let Some(count) = scenario.users {
        scenario.check_users(count)?;
    }
    Ok(scenario)
}

impl ScenarioFile {
    /// Checks that every step's `users` are among `count` users.
    ///
    /// # Errors
    /// [`Mistake::NoSuchUser`] with the step's line.
    pub fn check_users(&self, count: usize) -> Result<(), ScenarioError> {
        for (i, step) in self.steps.iter().enumerate() {
            if let StepUsers::Listed(listed) = &step.users
                && let Some(&index) = listed.iter().find(|&&index| index > count)
            {
                return Err(ScenarioError::Invalid {
                    origin: self.origin.clone(),
                    line: step.line,
                    step: Some(i + 1),
                    mistake: Mistake::NoSuchUser { index, count },
                });
            }
        }
        Ok(())
    }
}

/// The line (from 1) of a byte offset.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// How many `[[step]]` headers start before a byte offset.
fn steps_before(text: &str, at: usize) -> usize {
    text[..at.min(text.len())]
        .lines()
        .filter(|line| line.trim().replace(' ', "") == "[[step]]")
        .count()
}

fn json_of(value: toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn read_step(
    mut table: toml::Table,
    line: usize,
    known: &mut Vec<String>,
) -> Result<Step, Mistake> {
    if let Some(key) =
        (table.keys()).find(|k| !ACTIONS.contains(&k.as_str()) && !OPTIONS.contains(&k.as_str()))
    {
        return Err(Mistake::UnknownKey(key.clone()));
    }
    let actions: Vec<&str> = ACTIONS
        .into_iter()
        .filter(|a| table.contains_key(*a))
        .collect();
    let action = match actions.as_slice() {
        [] => return Err(Mistake::NoAction),
        [one] => *one,
        [a, b, ..] => return Err(Mistake::TwoActions((*a).into(), (*b).into())),
    };
    let name = match table.remove("name") {
        None => None,
        Some(toml::Value::String(name)) => Some(name),
        Some(_) => return Err(bad("name", "must be a string", "name = \"join the room\"")),
    };
    let users = match table.remove("users") {
        None => StepUsers::All,
        Some(value) => read_users(value)?,
    };
    let within = table
        .remove("within")
        .map(|v| duration("within", v, "within = \"2s\""))
        .transpose()?;
    let capture = match table.remove("capture") {
        None => Vec::new(),
        Some(toml::Value::Table(capture)) => capture
            .into_iter()
            .map(|(name, pointer)| match pointer {
                toml::Value::String(p) if p.is_empty() || p.starts_with('/') => Ok((name, p)),
                _ => Err(bad(
                    "capture",
                    "maps a name to a JSON pointer such as \"/room_id\"",
                    "capture = { room = \"/room_id\" }",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad(
                "capture",
                "must be a table",
                "capture = { room = \"/room_id\" }",
            ));
        }
    };
    if action != "expect" {
        if within.is_some() {
            return Err(Mistake::OnlyWithExpect { key: "within" });
        }
        if !capture.is_empty() {
            return Err(Mistake::OnlyWithExpect { key: "capture" });
        }
    }
    let value = table.remove(action).expect("the action's key is there");
    let action = match action {
        "send" => Action::Send(template(value, known)?),
        "expect" => {
            let expect = read_expectation(value, known)?;
            if !capture.is_empty() && !matches!(expect, Expectation::One(_)) {
                return Err(Mistake::OnlyWithExpect { key: "capture" });
            }
            known.extend(capture.iter().map(|(name, _)| name.clone()));
            Action::Expect {
                expect,
                within,
                capture,
            }
        }
        "expect_nothing" => Action::ExpectNothing(duration(
            "expect_nothing",
            value,
            "expect_nothing = \"500ms\"",
        )?),
        "sleep" => Action::Sleep(duration("sleep", value, "sleep = \"100ms\"")?),
        "reconnect" => match value {
            toml::Value::Boolean(true) => Action::Reconnect { resume: false },
            toml::Value::String(s) if s == "resume" => Action::Reconnect { resume: true },
            _ => {
                return Err(bad(
                    "reconnect",
                    "is `true` (a new connection) or \"resume\" (and resume from the last sequence value)",
                    "reconnect = \"resume\"",
                ));
            }
        },
        _ => match value {
            toml::Value::Boolean(true) => Action::Close,
            _ => return Err(bad("close", "must be `true`", "close = true")),
        },
    };
    let name = name.unwrap_or_else(|| action.to_string());
    Ok(Step {
        name,
        line,
        users,
        action,
    })
}

fn bad(key: &str, problem: &str, example: &'static str) -> Mistake {
    Mistake::BadValue {
        key: key.to_owned(),
        problem: problem.to_owned(),
        example,
    }
}

fn duration(key: &str, value: toml::Value, example: &'static str) -> Result<Duration, Mistake> {
    match value {
        toml::Value::String(text) => humantime::parse_duration(&text)
            .map_err(|e| bad(key, &format!("is not a duration: {text:?} ({e})"), example)),
        _ => Err(bad(key, "must be a duration in a string", example)),
    }
}

fn read_users(value: toml::Value) -> Result<StepUsers, Mistake> {
    const EXAMPLE: &str = "users = \"first\" (or \"all\", \"others\", [1, 3])";
    match value {
        toml::Value::String(s) => match s.as_str() {
            "all" => Ok(StepUsers::All),
            "first" => Ok(StepUsers::First),
            "others" => Ok(StepUsers::Others),
            _ => Err(bad("users", &format!("cannot be {s:?}"), EXAMPLE)),
        },
        toml::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::Integer(n) if n >= 1 => Ok(n as usize),
                _ => Err(bad("users", "lists users by number, from 1", EXAMPLE)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(StepUsers::Listed),
        _ => Err(bad("users", "must be a string or a list", EXAMPLE)),
    }
}

/// A template whose placeholders all have values at this step.
fn template(value: toml::Value, known: &[String]) -> Result<Template, Mistake> {
    let template = Template::from_value(json_of(value)).map_err(Mistake::Template)?;
    if let Some(name) = template.variables().find(|v| !known.iter().any(|k| k == v)) {
        return Err(Mistake::UnknownVariable {
            name: name.to_owned(),
            known: known.join(", "),
        });
    }
    Ok(template)
}

const EXPECT_EXAMPLE: &str = "expect = \"pong\", or expect = { kind = \"pong\", with = { nonce = \"${n}\" } }, or expect = { sequence = [\"started\", \"done\"] } (also any_order, subsequence, run)";

fn read_expectation(value: toml::Value, known: &[String]) -> Result<Expectation, Mistake> {
    let toml::Value::Table(mut table) = value else {
        return read_matcher(value, known).map(Expectation::One);
    };
    let forms = ["sequence", "any_order", "subsequence", "run"];
    let Some(form) = forms.into_iter().find(|f| table.contains_key(*f)) else {
        return read_matcher(toml::Value::Table(table), known).map(Expectation::One);
    };
    let value = table.remove(form).expect("just found");
    if let Some(other) = table.keys().next() {
        return Err(bad(
            "expect",
            &format!("has `{form}` and `{other}`: give one of them"),
            EXPECT_EXAMPLE,
        ));
    }
    if form == "run" {
        return match value {
            toml::Value::String(_) => template(value, known).map(Expectation::Run),
            _ => Err(bad(
                "expect",
                "`run` names the run, in a string",
                "expect = { run = \"${user}-m-${n}\" }",
            )),
        };
    }
    let toml::Value::Array(items) = value else {
        return Err(bad(
            "expect",
            &format!("`{form}` must be a list of matchers"),
            EXPECT_EXAMPLE,
        ));
    };
    if items.is_empty() {
        return Err(bad("expect", &format!("`{form}` is empty"), EXPECT_EXAMPLE));
    }
    let matchers = items
        .into_iter()
        .map(|item| read_matcher(item, known))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match form {
        "sequence" => Expectation::Sequence(matchers),
        "any_order" => Expectation::AnyOrder(matchers),
        _ => Expectation::Subsequence(matchers),
    })
}

fn read_matcher(value: toml::Value, known: &[String]) -> Result<MatcherTemplate, Mistake> {
    match value {
        toml::Value::String(kind) => Ok(MatcherTemplate {
            kind: Some(kind),
            with: None,
        }),
        toml::Value::Table(mut table) => {
            let kind = match table.remove("kind") {
                None => None,
                Some(toml::Value::String(kind)) => Some(kind),
                Some(_) => return Err(bad("expect", "`kind` must be a string", EXPECT_EXAMPLE)),
            };
            let with = table
                .remove("with")
                .map(|w| template(w, known))
                .transpose()?;
            if let Some(other) = table.keys().next() {
                return Err(bad(
                    "expect",
                    &format!("a matcher has `kind` and `with`, not `{other}`"),
                    EXPECT_EXAMPLE,
                ));
            }
            Ok(MatcherTemplate { kind, with })
        }
        _ => Err(bad(
            "expect",
            "must be a kind or a matcher table",
            EXPECT_EXAMPLE,
        )),
    }
}
