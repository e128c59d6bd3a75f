//! How a value is read from the file or a variable, and the checks every
//! value passes whichever source set it.

use super::{
    BackendKind, ConfigSource, ContractSource, Describes, OwnerRule, Readiness, SequenceRule,
    UnknownKinds, UnknownTier,
};
use crate::config::Template;
use crate::protocol::EventType;
use bytesize::ByteSize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// What is wrong with a value, in words that go into the error.
pub(super) type Problem = String;

/// A value as the file or a variable wrote it.
pub(super) enum Raw {
    Text(String),
    Integer(i64),
    Bool(bool),
    List(Vec<String>),
    Map(Vec<(String, String)>),
    Other(String),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Text(s) => write!(f, "{s:?}"),
            Raw::Integer(n) => write!(f, "{n}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::List(items) => write!(f, "{items:?}"),
            Raw::Map(entries) => {
                let pairs: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                write!(f, "{{{}}}", pairs.join(", "))
            }
            Raw::Other(s) => f.write_str(s),
        }
    }
}

impl From<toml::Value> for Raw {
    fn from(value: toml::Value) -> Self {
        match value {
            toml::Value::String(s) => Raw::Text(s),
            toml::Value::Integer(n) => Raw::Integer(n),
            toml::Value::Boolean(b) => Raw::Bool(b),
            toml::Value::Array(items) => {
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect();
                match strings {
                    Some(strings) => Raw::List(strings),
                    None => Raw::Other(toml::Value::Array(items).to_string()),
                }
            }
            toml::Value::Table(table) => {
                let entries: Option<Vec<(String, String)>> = table
                    .iter()
                    .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect();
                match entries {
                    Some(entries) => Raw::Map(entries),
                    None => Raw::Other(toml::Value::Table(table).to_string()),
                }
            }
            other => Raw::Other(other.to_string()),
        }
    }
}

/// A setting's value type: how an error shows a bad one.
pub(super) trait Shown {
    /// The value as set in code.
    fn shown(&self) -> String;
    /// The value as written in the file or a variable.
    fn shown_raw(raw: &Raw) -> String {
        raw.to_string()
    }
}

macro_rules! shown_as_debug {
    ($($ty:ty),*) => {$(
        impl Shown for $ty {
            fn shown(&self) -> String {
                format!("{self:?}")
            }
        }
    )*};
}

shown_as_debug!(
    String,
    PathBuf,
    bool,
    u16,
    u32,
    usize,
    Vec<String>,
    Vec<EventType>,
    BTreeMap<String, String>,
    BackendKind,
    Vec<BackendKind>,
    Readiness,
    ContractSource,
    SequenceRule,
    OwnerRule,
    UnknownKinds,
    Describes
);

impl Shown for Url {
    fn shown(&self) -> String {
        format!("{:?}", self.as_str())
    }
}

impl Shown for Template {
    fn shown(&self) -> String {
        format!("'{self}'")
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        format!("{:?}", humantime::format_duration(*self).to_string())
    }
}

/// Handshake headers: their names are shown, never their values.
impl Shown for Vec<(String, String)> {
    fn shown(&self) -> String {
        redacted(self.iter().map(|(name, _)| name.as_str()))
    }

    fn shown_raw(raw: &Raw) -> String {
        match raw {
            Raw::Map(entries) => redacted(entries.iter().map(|(name, _)| name.as_str())),
            Raw::Text(text) => {
                let names: Option<Vec<&str>> = text
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| p.split_once('=').map(|(name, _)| name.trim()))
                    .collect();
                names.map_or_else(|| "(values not shown)".to_owned(), redacted)
            }
            _ => "(values not shown)".to_owned(),
        }
    }
}

fn redacted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| format!("{name}=<redacted>"))
        .collect::<Vec<_>>()
        .join(",")
}

// How the file and the variables write each type.

pub(super) fn text(raw: &Raw, _: &ConfigSource) -> Result<String, Problem> {
    match raw {
        Raw::Text(s) => Ok(s.clone()),
        _ => Err("expected a string".to_owned()),
    }
}

/// A relative path in a file is relative to the file's directory.
pub(super) fn path(raw: &Raw, source: &ConfigSource) -> Result<PathBuf, Problem> {
    let s = text(raw, source)?;
    Ok(match source {
        ConfigSource::File { path, .. } if !s.is_empty() => path
            .parent()
            .map_or_else(|| PathBuf::from(&s), |dir| dir.join(&s)),
        _ => PathBuf::from(&s),
    })
}

pub(super) fn duration(raw: &Raw, source: &ConfigSource) -> Result<Duration, Problem> {
    let s = text(raw, source)
        .map_err(|_| "expected a duration with a unit, such as \"500ms\" or \"10s\"".to_owned())?;
    humantime::parse_duration(&s).map_err(|e| format!("not a duration: {e}"))
}

pub(super) fn whole<T: TryFrom<u64>>(raw: &Raw, _: &ConfigSource) -> Result<T, Problem> {
    let n = match raw {
        Raw::Integer(n) => u64::try_from(*n).ok(),
        Raw::Text(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| "expected a whole number".to_owned())
}

pub(super) fn port(raw: &Raw, source: &ConfigSource) -> Result<u16, Problem> {
    whole(raw, source).map_err(|_| "expected a port, 1 to 65535".to_owned())
}

/// Bytes: a number, or a size with a unit (`"16 MiB"`).
pub(super) fn size(raw: &Raw, _: &ConfigSource) -> Result<usize, Problem> {
    let bytes = match raw {
        Raw::Integer(n) => u64::try_from(*n).ok(),
        Raw::Text(s) => s.trim().parse::<ByteSize>().ok().map(|size| size.as_u64()),
        _ => None,
    };
    bytes
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .ok_or_else(|| "expected a size in bytes, such as 65536 or \"16 MiB\"".to_owned())
}

pub(super) fn boolean(raw: &Raw, _: &ConfigSource) -> Result<bool, Problem> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        Raw::Text(s) if s == "true" => Ok(true),
        Raw::Text(s) if s == "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

pub(super) fn url(raw: &Raw, source: &ConfigSource) -> Result<Url, Problem> {
    Url::parse(&text(raw, source)?).map_err(|e| format!("not a URL: {e}"))
}

/// A list, or `a,b` in one string.
pub(super) fn list(raw: &Raw, _: &ConfigSource) -> Result<Vec<String>, Problem> {
    separated(raw, ',')
}

/// A list, or entries separated by `;` in one string (for entries that
/// hold commas and spaces).
pub(super) fn entries(raw: &Raw, _: &ConfigSource) -> Result<Vec<String>, Problem> {
    separated(raw, ';')
}

/// A list, or items separated by `separator` in one string, each trimmed,
/// empty ones left out.
fn separated(raw: &Raw, separator: char) -> Result<Vec<String>, Problem> {
    match raw {
        Raw::List(items) => Ok(items.clone()),
        Raw::Text(s) => Ok(s
            .split(separator)
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()),
        _ => Err("expected a list of strings".to_owned()),
    }
}

/// A list, or words separated by whitespace in one string.
pub(super) fn words(raw: &Raw, _: &ConfigSource) -> Result<Vec<String>, Problem> {
    match raw {
        Raw::List(items) => Ok(items.clone()),
        Raw::Text(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        _ => Err("expected a list of strings".to_owned()),
    }
}

/// A table, or `A=1,B=2` in one string (each split at its first `=`);
/// `form` names a pair in the error (`Name=value`).
pub(super) fn pairs<T: FromIterator<(String, String)>>(
    form: &'static str,
) -> impl Fn(&Raw, &ConfigSource) -> Result<T, Problem> {
    move |raw, _| match raw {
        Raw::Map(entries) => Ok(entries.iter().cloned().collect()),
        Raw::Text(s) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                    .ok_or_else(|| format!("expected {form} pairs, comma-separated"))
            })
            .collect(),
        _ => Err("expected a table of strings".to_owned()),
    }
}

pub(super) fn events(raw: &Raw, source: &ConfigSource) -> Result<Vec<EventType>, Problem> {
    let names = list(raw, source).map_err(|_| "expected a list of event types".to_owned())?;
    names
        .iter()
        .map(|n| n.parse::<EventType>().map_err(|e| e.to_string()))
        .collect()
}

/// Text a type parses (`FromStr`), its error in the words.
pub(super) fn parsed<T: std::str::FromStr<Err: fmt::Display>>(
    raw: &Raw,
    source: &ConfigSource,
) -> Result<T, Problem> {
    text(raw, source)?
        .parse()
        .map_err(|e: T::Err| e.to_string())
}

/// `auto` (every tier, in chain order), or the tiers to try, in order.
pub(super) fn tiers(raw: &Raw, source: &ConfigSource) -> Result<Vec<BackendKind>, Problem> {
    if let Raw::Text(text) = raw
        && text.trim() == "auto"
    {
        return Ok(BackendKind::CHAIN.to_vec());
    }
    list(raw, source)
        .map_err(|_| "expected auto, or a list of tiers".to_owned())?
        .iter()
        .map(|name| {
            name.parse()
                .map_err(|e: UnknownTier| format!("{e}; or auto for all of them"))
        })
        .collect()
}

/// `reference`, `none`, or a file.
pub(super) fn contract_source(raw: &Raw, source: &ConfigSource) -> Result<ContractSource, Problem> {
    Ok(match text(raw, source)?.as_str() {
        "reference" => ContractSource::Reference,
        "none" => ContractSource::None,
        _ => ContractSource::File(path(raw, source)?),
    })
}

/// `subject`, or a fixed value.
pub(super) fn owner(raw: &Raw, source: &ConfigSource) -> Result<OwnerRule, Problem> {
    Ok(match text(raw, source)?.as_str() {
        "subject" => OwnerRule::Subject,
        value => OwnerRule::Value(value.to_owned()),
    })
}

/// One of a few words, each naming a value.
pub(super) fn one_of<T: Copy>(
    choices: &'static [(&'static str, T)],
) -> impl Fn(&Raw, &ConfigSource) -> Result<T, Problem> {
    move |raw, source| {
        let given = text(raw, source)?;
        choices
            .iter()
            .find(|(word, _)| *word == given)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                format!("expected {}", words.join(" or "))
            })
    }
}

// The checks, on the typed value whichever source set it.

/// `value`, if it `holds`; else `problem`.
fn check<T>(value: T, holds: impl FnOnce(&T) -> bool, problem: &str) -> Result<T, Problem> {
    if holds(&value) {
        Ok(value)
    } else {
        Err(problem.to_owned())
    }
}

pub(super) fn non_empty<T: AsRef<std::ffi::OsStr>>(value: T) -> Result<T, Problem> {
    check(value, |v| !v.as_ref().is_empty(), "must not be empty")
}

pub(super) fn not_blank(value: String) -> Result<String, Problem> {
    check(value, |v| !v.trim().is_empty(), "must not be empty")
}

pub(super) fn positive(value: Duration) -> Result<Duration, Problem> {
    check(value, |v| !v.is_zero(), "must be more than zero")
}

pub(super) fn at_least_one(value: usize) -> Result<usize, Problem> {
    check(value, |v| *v > 0, "expected a whole number of at least 1")
}

pub(super) fn some_bytes(value: usize) -> Result<usize, Problem> {
    check(value, |v| *v > 0, "must be more than zero")
}

pub(super) fn nonzero_port(port: u16) -> Result<u16, Problem> {
    check(port, |p| *p > 0, "expected a port, 1 to 65535")
}

pub(super) fn websocket_url(value: Url) -> Result<Url, Problem> {
    check(
        value,
        |url| matches!(url.scheme(), "ws" | "wss"),
        "the scheme must be ws or wss",
    )
}

/// A URL path: it starts with `/`.
pub(super) fn absolute_path(path: String) -> Result<String, Problem> {
    check(path, |p| p.starts_with('/'), "must start with /")
}

pub(super) fn some_events(events: Vec<EventType>) -> Result<Vec<EventType>, Problem> {
    check(events, |e| !e.is_empty(), "name at least one event type")
}

/// `name:tag`: the image is used as present, so it names its tag.
pub(super) fn image_reference(image: String) -> Result<String, Problem> {
    let tagged = |image: &String| match image.rsplit_once(':') {
        Some((name, tag)) => !name.is_empty() && !tag.is_empty() && !tag.contains('/'),
        None => false,
    };
    check(
        image,
        tagged,
        "expected name:tag (the image is used as present, never pulled)",
    )
}

pub(super) fn variable_names(
    env: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Problem> {
    check(
        env,
        |env| env.keys().all(|k| !k.is_empty() && !k.contains('=')),
        "a variable name is empty or has a =",
    )
}

pub(super) fn contract_file(source: ContractSource) -> Result<ContractSource, Problem> {
    match source {
        ContractSource::File(path) => non_empty(path).map(ContractSource::File),
        source => Ok(source),
    }
}

pub(super) fn owner_value(owner: OwnerRule) -> Result<OwnerRule, Problem> {
    match owner {
        OwnerRule::Value(value) => non_empty(value).map(OwnerRule::Value),
        owner => Ok(owner),
    }
}

/// `backend` and `require` name a tier of the chain; the mock is none.
pub(super) fn some_tiers(tiers: Vec<BackendKind>) -> Result<Vec<BackendKind>, Problem> {
    let tiers = check(tiers, |t| !t.is_empty(), "name at least one tier, or auto")?;
    match tiers
        .iter()
        .enumerate()
        .find(|(i, t)| tiers[..*i].contains(t))
    {
        Some((_, twice)) => Err(format!("{twice} is named twice")),
        None => Ok(tiers),
    }
}

/// Staging has no container output to read a log line from.
pub(super) fn staging_readiness(ready: Readiness) -> Result<Readiness, Problem> {
    match readiness(ready)? {
        Readiness::Log(_) => Err(
            "log readiness needs a container's output; staging takes websocket, http:<path>[=<status>] or reference"
                .to_owned(),
        ),
        ready => Ok(ready),
    }
}

/// A resume frame may use `${last}` and `${user}` only.
pub(super) fn resume_frame(frame: Template) -> Result<Template, Problem> {
    let unknown = frame
        .variables()
        .find(|name| !RESUME_VARIABLES.contains(name))
        .map(str::to_owned);
    match unknown {
        Some(name) => Err(format!(
            "`${{{name}}}` has no value in a resume frame: it may use `${{last}}` (the last sequence value received) and `${{user}}`"
        )),
        None => Ok(frame),
    }
}

/// The variables a resume frame may use.
const RESUME_VARIABLES: [&str; 2] = ["last", "user"];

pub(super) fn readiness(ready: Readiness) -> Result<Readiness, Problem> {
    ready.checked().map_err(|e| e.to_string())
}
