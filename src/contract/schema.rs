//! [`Schema`]: one message kind's JSON Schema, compiled once, with a
//! cheaper twin for the frames that pass.

use super::{ContractError, Rule, SchemaProblem, Violation};
use jsonschema::{Registry, Validator};
use serde_json::{Value, json};
use std::path::Path;

/// The URI the contract's document is registered under, so `$ref`s into it
/// (its `$defs`, an AsyncAPI document's `components`) resolve.
const DOCUMENT_URI: &str = "urn:ws-harness:contract";

/// A compiled schema. Most frames pass, so a frame is first tested on
/// `fast`, an equivalent schema that is cheaper to test (see
/// [`required_as_count`]); only a frame that fails is run through the
/// schema as written, whose first error names what is wrong.
pub(super) struct Schema {
    written: Validator,
    fast: Option<Validator>,
}

impl Schema {
    /// The first error of `json` (parsed from `text`), as a violation.
    pub(super) fn violation(&self, json: &Value, text: &str) -> Option<Violation> {
        if self.fast.as_ref().unwrap_or(&self.written).is_valid(json) {
            return None;
        }
        let error = self.written.iter_errors(json).next()?;
        Some(Violation {
            rule: Rule::Schema,
            pointer: error.instance_path().to_string(),
            message: error.to_string(),
            frame: text.to_owned(),
        })
    }
}

/// Compiles the schemas of one document, with the whole document
/// registered so their `$ref`s resolve.
pub(super) struct Compiler<'a> {
    path: &'a Path,
    document: &'a Value,
    written: Registry<'static>,
    /// The document with each schema to be compiled rewritten to its
    /// cheaper twin, and which of them were.
    fast: Registry<'static>,
    rewritten: Vec<String>,
}

impl<'a> Compiler<'a> {
    /// Prepares to compile the schemas at `pointers` of `document` (read
    /// from `path`, named in errors).
    ///
    /// # Errors
    /// [`ContractError::Schema`] when the document cannot be registered.
    pub(super) fn new(
        path: &'a Path,
        document: &'a Value,
        pointers: &[&str],
    ) -> Result<Self, ContractError> {
        let mut fast_document = document.clone();
        let rewritten = pointers
            .iter()
            .filter(|p| fast_document.pointer_mut(p).is_some_and(required_as_count))
            .map(|p| (*p).to_owned())
            .collect();
        let register = |document: Value| {
            Registry::new()
                .add(DOCUMENT_URI, document)
                .and_then(|r| r.prepare())
                .map_err(|e| schema_error(path, "", &e.to_string()))
        };
        Ok(Self {
            path,
            document,
            written: register(document.clone())?,
            fast: register(fast_document)?,
            rewritten,
        })
    }

    /// Compiles the schema at `pointer`.
    ///
    /// # Errors
    /// [`ContractError::Schema`] naming the pointer and what is wrong.
    pub(super) fn compile(&self, pointer: &str) -> Result<Schema, ContractError> {
        let build = |registry: &Registry<'static>| {
            jsonschema::options()
                .offline()
                .with_registry(registry)
                .build(&json!({"$ref": format!("{DOCUMENT_URI}#{pointer}")}))
                .map_err(|e| self.every_error(pointer, &e.to_string()))
        };
        let fast = if self.rewritten.iter().any(|p| p == pointer) {
            Some(build(&self.fast)?)
        } else {
            None
        };
        Ok(Schema {
            written: build(&self.written)?,
            fast,
        })
    }
}

impl Compiler<'_> {
    /// Every error of the schema at `pointer` that failed to compile with
    /// `reason`: the schema is checked against its meta-schema, which finds
    /// them all with their pointers; what the meta-schema cannot see (a
    /// `$ref` to nowhere, a bad regular expression) is the compiler's one.
    fn every_error(&self, pointer: &str, reason: &str) -> ContractError {
        let subschema = self.document.pointer(pointer);
        let mut problems: Vec<SchemaProblem> = subschema
            .and_then(|schema| {
                let meta = jsonschema::meta::validator_for(schema).ok()?;
                Some(
                    meta.iter_errors(schema)
                        .map(|error| SchemaProblem {
                            pointer: format!("{pointer}{}", error.instance_path()),
                            reason: error.to_string(),
                        })
                        .collect(),
                )
            })
            .unwrap_or_default();
        if problems.is_empty() {
            problems.push(SchemaProblem {
                pointer: pointer.to_owned(),
                reason: reason.to_owned(),
            });
        }
        ContractError::Schema {
            path: self.path.to_owned(),
            problems,
        }
    }
}

fn schema_error(path: &Path, pointer: &str, reason: &str) -> ContractError {
    ContractError::Schema {
        path: path.to_owned(),
        problems: vec![SchemaProblem {
            pointer: pointer.to_owned(),
            reason: reason.to_owned(),
        }],
    }
}

/// Rewrites `required` as `minProperties` where the two test the same
/// thing, the second at a fraction of the cost (one length instead of a
/// lookup per name): in a closed object (`additionalProperties: false`, no
/// `patternProperties`) every member is one of `properties`, so when
/// `required` names every property, the object holds all of them exactly
/// when it holds as many members as there are properties. `true` when the
/// schema was rewritten.
fn required_as_count(schema: &mut Value) -> bool {
    let Some(object) = schema.as_object_mut() else {
        return false;
    };
    let closed = object.get("additionalProperties") == Some(&Value::Bool(false))
        && !object.contains_key("patternProperties")
        && !object.contains_key("minProperties");
    let (Some(Value::Object(properties)), Some(Value::Array(required))) =
        (object.get("properties"), object.get("required"))
    else {
        return false;
    };
    let mut names: Vec<&str> = required.iter().filter_map(Value::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let requires_every_property = names.len() == required.len()
        && names.len() == properties.len()
        && names.iter().all(|name| properties.contains_key(*name));
    if !closed || !requires_every_property {
        return false;
    }
    let count = properties.len();
    object.remove("required");
    object.insert("minProperties".to_owned(), count.into());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(required: Value) -> Value {
        json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
            "required": required,
            "additionalProperties": false,
        })
    }

    #[test]
    fn a_closed_object_that_requires_every_property_counts_them() {
        let mut schema = closed(json!(["b", "a"]));
        assert!(required_as_count(&mut schema));
        assert_eq!(schema.get("required"), None);
        assert_eq!(schema["minProperties"], 2);
    }

    #[test]
    fn other_schemas_are_left_as_written() {
        let open = |mut schema: Value| {
            schema["additionalProperties"] = json!(true);
            schema
        };
        let with = |key: &str, value: Value| {
            let mut schema = closed(json!(["a", "b"]));
            schema[key] = value;
            schema
        };
        for schema in [
            closed(json!(["a"])),
            closed(json!(["a", "a"])),
            closed(json!(["a", "c"])),
            open(closed(json!(["a", "b"]))),
            with("patternProperties", json!({"^x": {}})),
            with("minProperties", json!(1)),
            json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false}),
            json!(true),
        ] {
            let mut rewritten = schema.clone();
            assert!(!required_as_count(&mut rewritten), "{schema}");
            assert_eq!(rewritten, schema);
        }
    }

    #[test]
    fn the_twin_passes_and_fails_the_same_frames_and_the_written_schema_reports() {
        let document = json!({"$defs": {"event": closed(json!(["a", "b"]))}});
        let compiler = Compiler::new(Path::new("t.json"), &document, &["/$defs/event"]).unwrap();
        let schema = compiler.compile("/$defs/event").unwrap();
        assert!(schema.fast.is_some());
        for frame in [
            json!({"a": 1, "b": "x"}),
            json!({"a": 1}),
            json!({"a": 1, "b": "x", "c": 3}),
            json!({"a": 1, "c": 3}),
            json!({"a": "1", "b": "x"}),
            json!({}),
            json!([1, 2]),
        ] {
            let fast = schema.fast.as_ref().unwrap().is_valid(&frame);
            assert_eq!(fast, schema.written.is_valid(&frame), "{frame}");
        }
        let missing = schema.violation(&json!({"a": 1}), "{\"a\":1}").unwrap();
        assert_eq!(missing.message, "\"b\" is a required property");
    }
}
