//! [`Template`]: a frame written as JSON whose strings may hold `${name}`
//! placeholders, filled in when the frame is sent (a scenario's `send`, the
//! contract's resume frame, `contract.resume_frame`).

use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A JSON frame with `${name}` placeholders in its strings.
///
/// A string that is one placeholder and nothing else takes the variable's
/// JSON value (a number stays a number); a placeholder inside a longer
/// string takes its text. `$${` writes a literal `${`.
///
/// ```
/// use serde_json::json;
/// use ws_harness::config::Template;
///
/// let template: Template = r#"{"op": "resume", "after": "${last}", "note": "from ${user}"}"#.parse().unwrap();
/// assert_eq!(template.variables().collect::<Vec<_>>(), ["last", "user"]);
/// let frame = template.render(|name| match name {
///     "last" => Some(json!(41)),
///     "user" => Some(json!("alice")),
///     _ => None,
/// }).unwrap();
/// assert_eq!(frame, json!({"op": "resume", "after": 41, "note": "from alice"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    value: Value,
    variables: Vec<String>,
}

/// Why a text is not a template, or a template could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The text is not JSON.
    #[error(
        "not JSON ({0}); write the frame as JSON, e.g. {{\"op\": \"resume\", \"after\": \"${{last}}\"}}"
    )]
    NotJson(String),
    /// A `${` has no closing `}`, or what it holds is not a name.
    #[error(
        "`{0}` is not a placeholder: write `${{name}}` with a name of letters, digits, `_` or `.` (`$${{` for a literal `${{`)"
    )]
    BadPlaceholder(String),
    /// A placeholder names a variable that has no value where it is used.
    #[error("`${{{0}}}` has no value here")]
    Unknown(String),
}

impl Template {
    /// The template of a JSON value.
    ///
    /// # Errors
    /// [`TemplateError::BadPlaceholder`] for a `${` that is not a placeholder.
    pub fn from_value(value: Value) -> Result<Self, TemplateError> {
        let mut variables = Vec::new();
        collect(&value, &mut variables)?;
        Ok(Self { value, variables })
    }

    /// The JSON as written, its placeholders unfilled.
    #[must_use]
    pub fn as_written(&self) -> &Value {
        &self.value
    }

    /// The names of its placeholders, each once, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(String::as_str)
    }

    /// The frame with every placeholder filled in from `lookup`.
    ///
    /// # Errors
    /// [`TemplateError::Unknown`] for a placeholder `lookup` has no value for.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<Value>) -> Result<Value, TemplateError> {
        fill(&self.value, &lookup)
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value =
            serde_json::from_str(text).map_err(|e| TemplateError::NotJson(e.to_string()))?;
        Self::from_value(value)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

/// One piece of a string: literal text or a placeholder's name.
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// The pieces of a string, `$${` read as a literal `${`.
fn pieces(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            out.push(Piece::Text(&rest[..at]));
            out.push(Piece::Text("{"));
            rest = &rest[at + 2..];
            continue;
        }
        out.push(Piece::Text(&rest[..at]));
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| TemplateError::BadPlaceholder(rest[at..].to_owned()))?;
        let name = &after[..end];
        let good = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !good {
            return Err(TemplateError::BadPlaceholder(format!("${{{name}}}")));
        }
        out.push(Piece::Variable(name));
        rest = &after[end + 1..];
    }
    out.push(Piece::Text(rest));
    out.retain(|p| !matches!(p, Piece::Text("")));
    Ok(out)
}

fn collect(value: &Value, names: &mut Vec<String>) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => {
            for piece in pieces(s)? {
                if let Piece::Variable(name) = piece
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_owned());
                }
            }
        }
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, names))?,
        Value::Object(map) => map.values().try_for_each(|v| collect(v, names))?,
        _ => {}
    }
    Ok(())
}

fn fill(value: &Value, lookup: &impl Fn(&str) -> Option<Value>) -> Result<Value, TemplateError> {
    let get = |name: &str| lookup(name).ok_or_else(|| TemplateError::Unknown(name.to_owned()));
    Ok(match value {
        Value::String(s) => match pieces(s)?.as_slice() {
            [Piece::Variable(name)] => get(name)?,
            pieces => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.push_str(text),
                        Piece::Variable(name) => match get(name)? {
                            Value::String(text) => out.push_str(&text),
                            other => out.push_str(&other.to_string()),
                        },
                    }
                }
                Value::String(out)
            }
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill(v, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill(v, lookup)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_fill_whole_values_and_text_and_escapes_stay_literal() {
        let template = Template::from_value(
            json!({"n": "${n}", "s": "m-${n}-$${x}", "deep": [{"u": "${user}"}]}),
        )
        .unwrap();
        let frame = template
            .render(|name| match name {
                "n" => Some(json!(3)),
                "user" => Some(json!("bob")),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            frame,
            json!({"n": 3, "s": "m-3-${x}", "deep": [{"u": "bob"}]})
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = Template::from_value(json!({"a": "${oops"})).unwrap_err();
        assert_eq!(err, TemplateError::BadPlaceholder("${oops".into()));
        let err = Template::from_value(json!({"a": "${a b}"})).unwrap_err();
        assert!(
            err.to_string().contains("`${a b}` is not a placeholder"),
            "{err}"
        );
        let err: TemplateError = "{nope".parse::<Template>().unwrap_err();
        assert!(matches!(err, TemplateError::NotJson(_)));
        let err = Template::from_value(json!("${who}"))
            .unwrap()
            .render(|_| None)
            .unwrap_err();
        assert_eq!(err, TemplateError::Unknown("who".into()));
    }
}
