//! Loading a contract: the built-in reference one, a JSON Schema file or an
//! AsyncAPI document; each schema compiled once.

use super::schema::{Compiler, Schema};
use super::{Contract, Direction, Inner};
use crate::config::Template;
use crate::config::{
    ConfigSource, ContractSettings, ContractSource, Describes, RealWebSocketTestConfig,
};
use once_cell::sync::Lazy;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The reference protocol's schema of what the server sends.
const REFERENCE_SCHEMA: &str = include_str!("../../docs/reference-protocol.schema.json");
/// The reference protocol's schema of what clients send.
const REFERENCE_CLIENT_SCHEMA: &str = include_str!("../../docs/reference-client.schema.json");
/// How many `$ref`s in a row are followed when looking for a message.
const MAX_REF_DEPTH: usize = 32;

/// Why a contract could not be loaded. Each names the file and, inside it,
/// the JSON pointer of what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum ContractError {
    /// The file cannot be read.
    #[error(
        "cannot read the contract {path} (`contract.source`, set in {origin}); check the path (in ws-harness.toml it is relative to the file's directory, elsewhere to the current directory), or set contract.source to \"reference\" or \"none\""
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Where `contract.source` was set ([`ConfigSource::Code`] when
        /// [`Contract::load`] was given the settings).
        origin: ConfigSource,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON or YAML.
    #[error("the contract {path} is not {format}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The parser's words, with line and column.
        reason: String,
    },
    /// An AsyncAPI version this harness does not read.
    #[error("the contract {path} is AsyncAPI {version}; 2.x and 3.0 are read")]
    AsyncApiVersion {
        /// The file.
        path: PathBuf,
        /// The version it declares.
        version: String,
    },
    /// An AsyncAPI document with no message of the direction asked for.
    #[error(
        "the AsyncAPI document {path}, read as describing {}, has no message {direction} ({}); if it describes {}, set contract.describes = \"{}\"",
        describes.application(),
        match outgoing(*direction, *describes) {
            true => "2.x: channels.*.subscribe.message; 3.0: operations with action: send",
            false => "2.x: channels.*.publish.message; 3.0: operations with action: receive",
        },
        describes.other().application(),
        describes.other().as_str(),
    )]
    NoMessages {
        /// The file.
        path: PathBuf,
        /// The direction asked for.
        direction: Direction,
        /// The side the document was read as.
        describes: Describes,
    },
    /// A message whose kind cannot be told: the kind field is another, or
    /// the document describes the other side.
    #[error(
        "{path}#{pointer}: the message's payload has no `properties.{kind_field}` with a `const` or `enum`, so its kind cannot be told: set contract.kind_field to the discriminator, or, if the document describes {} rather than {}, set contract.describes = \"{}\"",
        describes.other().application(),
        describes.application(),
        describes.other().as_str(),
    )]
    NoKind {
        /// The file.
        path: PathBuf,
        /// Where the message is.
        pointer: String,
        /// The discriminator looked for.
        kind_field: String,
        /// The side the document was read as.
        describes: Describes,
    },
    /// A `$ref` that points nowhere in the document.
    #[error("{path}#{pointer}: `$ref` {reference} points nowhere in the document")]
    BadRef {
        /// The file.
        path: PathBuf,
        /// Where the `$ref` is.
        pointer: String,
        reference: String,
    },
    /// Schemas that do not compile: every error found, each where it is.
    #[error(
        "{path}: not a valid JSON Schema ({} {}): {}; fix each at its JSON pointer (JSON Schema 2020-12 unless the schema's `$schema` names another draft)",
        problems.len(),
        if problems.len() == 1 { "error" } else { "errors" },
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Schema {
        /// The file.
        path: PathBuf,
        /// What is wrong, in the order found.
        problems: Vec<SchemaProblem>,
    },
}

/// One error of a schema in a contract: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("#{pointer}: {reason}")]
pub struct SchemaProblem {
    /// The JSON pointer of the bad value in the file.
    pub pointer: String,
    /// What is wrong, in the JSON Schema compiler's words.
    pub reason: String,
}

pub(super) fn load<S: AsRef<str>>(
    settings: &ContractSettings,
    direction: Direction,
    required_events: &[S],
) -> Result<Contract, ContractError> {
    let mut settings = match direction {
        Direction::FromService => settings.clone(),
        // The other rules describe the stream the service sends.
        Direction::ToService => ContractSettings {
            source: settings.source.clone(),
            kind_field: settings.kind_field.clone(),
            unknown_kinds: settings.unknown_kinds,
            describes: settings.describes,
            ..ContractSettings::default()
        },
    };
    if settings.source == ContractSource::Reference {
        if direction == Direction::FromService {
            settings.run_events.get_or_insert_with(|| {
                required_events
                    .iter()
                    .map(|e| e.as_ref().to_owned())
                    .collect()
            });
        }
        // Built in and unchanging: compiled once per process for each
        // setting of its rules, not once per factory (each test makes one).
        type Compiled = Mutex<HashMap<(ContractSettings, Direction), Contract>>;
        static REFERENCE: Lazy<Compiled> = Lazy::new(Mutex::default);
        let mut compiled = REFERENCE.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (settings, direction);
        if let Some(contract) = compiled.get(&key) {
            return Ok(contract.clone());
        }
        let contract = compile_contract(key.0.clone(), direction)?;
        compiled.insert(key, contract.clone());
        return Ok(contract);
    }
    compile_contract(settings, direction)
}

/// Loads the schemas of `settings.source` for `direction` and fills in its
/// rules.
fn compile_contract(
    mut settings: ContractSettings,
    direction: Direction,
) -> Result<Contract, ContractError> {
    let (kinds, whole) = match &settings.source {
        ContractSource::None => (None, None),
        ContractSource::Reference => {
            let (path, schema) = match direction {
                Direction::FromService => {
                    reference_rules(&mut settings);
                    ("docs/reference-protocol.schema.json", REFERENCE_SCHEMA)
                }
                Direction::ToService => {
                    ("docs/reference-client.schema.json", REFERENCE_CLIENT_SCHEMA)
                }
            };
            let document: Value =
                serde_json::from_str(schema).expect("the reference schema is JSON");
            schema_kinds(Path::new(path), &document, &settings.kind_field)?
        }
        ContractSource::File(path) => {
            let document = read(path)?;
            if document.get("asyncapi").is_some() {
                let mut located = Vec::new();
                for message in asyncapi_messages(path, &document, direction, settings.describes)? {
                    let (pointer, payload) = follow(path, &document, format!("{message}/payload"))?;
                    let named = named_kinds(payload, &settings.kind_field);
                    if named.is_empty() {
                        return Err(ContractError::NoKind {
                            path: path.clone(),
                            pointer,
                            kind_field: settings.kind_field.clone(),
                            describes: settings.describes,
                        });
                    }
                    located.push((pointer, named));
                }
                (Some(compile_kinds(path, &document, &located)?), None)
            } else {
                schema_kinds(path, &document, &settings.kind_field)?
            }
        }
    };
    let empty_is_off = |field: &mut Option<String>| {
        if field.as_deref() == Some("") {
            *field = None;
        }
    };
    empty_is_off(&mut settings.sequence_field);
    empty_is_off(&mut settings.sequence_restart_field);
    empty_is_off(&mut settings.owner_field);
    empty_is_off(&mut settings.run_field);
    Ok(Contract {
        inner: Arc::new(Inner {
            source: settings.source.clone(),
            direction,
            kinds,
            whole,
            settings,
        }),
    })
}

/// The reference protocol's rules, where the settings leave them unset.
fn reference_rules(settings: &mut ContractSettings) {
    let preset = |field: &mut Option<String>, value: &str| {
        field.get_or_insert_with(|| value.to_owned());
    };
    preset(&mut settings.sequence_field, "event_id");
    preset(&mut settings.sequence_restart_field, "oldest_event_id");
    preset(&mut settings.owner_field, "user_id");
    preset(&mut settings.run_field, "message_id");
    settings
        .forbidden_fields
        .get_or_insert_with(|| vec!["data".to_owned()]);
    settings
        .terminal_kinds
        .get_or_insert_with(|| vec!["agent_completed".to_owned(), "agent_error".to_owned()]);
    settings.resume_frame.get_or_insert_with(|| {
        Template::from_value(serde_json::json!({"type": "resume", "last_event_id": "${last}"}))
            .expect("the reference resume frame is a template")
    });
    preset(&mut settings.resume_reply, "resumed");
}

/// The file as JSON: YAML for `.yaml`/`.yml`, JSON otherwise.
fn read(path: &Path) -> Result<Value, ContractError> {
    let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read {
        path: path.to_owned(),
        origin: ConfigSource::Code,
        source,
    })?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if yaml {
        yaml_serde::from_str(&text).map_err(|e| ContractError::Parse {
            path: path.to_owned(),
            format: "YAML",
            reason: e.to_string(),
        })
    } else {
        serde_json::from_str(&text).map_err(|e| ContractError::Parse {
            path: path.to_owned(),
            format: "JSON",
            reason: format!("{e} (a file ending in .yaml or .yml is read as YAML)"),
        })
    }
}

/// A schema per kind, or one for every frame.
type Kinds = (Option<HashMap<String, Arc<Schema>>>, Option<Schema>);

/// A JSON Schema document's kinds: the entries of its top-level `oneOf` or
/// `anyOf` that name their kind; else the whole schema applies to every
/// frame.
fn schema_kinds(path: &Path, document: &Value, kind_field: &str) -> Result<Kinds, ContractError> {
    let whole = || {
        Ok((
            None,
            Some(Compiler::new(path, document, &[""])?.compile("")?),
        ))
    };
    let entries = ["oneOf", "anyOf"]
        .into_iter()
        .find_map(|key| Some((key, document.get(key)?.as_array()?)));
    let Some((key, entries)) = entries else {
        return whole();
    };
    let mut located = Vec::new();
    for i in 0..entries.len() {
        let (pointer, schema) = follow(path, document, format!("/{key}/{i}"))?;
        let named = named_kinds(schema, kind_field);
        if named.is_empty() {
            // Not every entry names its kind: the schema applies whole.
            return whole();
        }
        located.push((pointer, named));
    }
    Ok((Some(compile_kinds(path, document, &located)?), None))
}

/// Compiles the schema of each kind: `located` holds each schema's pointer
/// and the kinds it names.
fn compile_kinds(
    path: &Path,
    document: &Value,
    located: &[(String, Vec<String>)],
) -> Result<HashMap<String, Arc<Schema>>, ContractError> {
    let pointers: Vec<&str> = located
        .iter()
        .map(|(pointer, _)| pointer.as_str())
        .collect();
    let compiler = Compiler::new(path, document, &pointers)?;
    let mut kinds = HashMap::new();
    // Every kind is compiled, so one error lists the problems of them all.
    let mut problems = Vec::new();
    for (pointer, named) in located {
        match compiler.compile(pointer) {
            Ok(schema) => {
                let schema = Arc::new(schema);
                for kind in named {
                    kinds.insert(kind.clone(), Arc::clone(&schema));
                }
            }
            Err(ContractError::Schema { problems: more, .. }) => problems.extend(more),
            Err(other) => return Err(other),
        }
    }
    if problems.is_empty() {
        Ok(kinds)
    } else {
        Err(ContractError::Schema {
            path: path.to_owned(),
            problems,
        })
    }
}

/// The kinds a payload schema names: `properties.<kind_field>` `const` or
/// `enum` (following a `$ref` there).
fn named_kinds(schema: &Value, kind_field: &str) -> Vec<String> {
    let Some(field) = schema.get("properties").and_then(|p| p.get(kind_field)) else {
        return Vec::new();
    };
    if let Some(kind) = field.get("const").and_then(Value::as_str) {
        return vec![kind.to_owned()];
    }
    field
        .get("enum")
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Follows `$ref`s from the value at `pointer`: the pointer and value of
/// what it finally is.
fn follow<'a>(
    path: &Path,
    document: &'a Value,
    mut pointer: String,
) -> Result<(String, &'a Value), ContractError> {
    for _ in 0..MAX_REF_DEPTH {
        let value = document
            .pointer(&pointer)
            .ok_or_else(|| ContractError::BadRef {
                path: path.to_owned(),
                pointer: pointer.clone(),
                reference: pointer.clone(),
            })?;
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => match reference.strip_prefix('#') {
                Some(next) if document.pointer(next).is_some() => pointer = next.to_owned(),
                _ => {
                    return Err(ContractError::BadRef {
                        path: path.to_owned(),
                        pointer,
                        reference: reference.to_owned(),
                    });
                }
            },
            None => return Ok((pointer, value)),
        }
    }
    Err(ContractError::BadRef {
        path: path.to_owned(),
        reference: pointer.clone(),
        pointer,
    })
}

/// Whether `direction`'s messages are the described application's
/// outgoing ones: 2.x `subscribe` (others subscribe to them), 3.0
/// `action: send`.
fn outgoing(direction: Direction, describes: Describes) -> bool {
    match describes {
        Describes::Service => direction == Direction::FromService,
        Describes::Client => direction == Direction::ToService,
    }
}

/// The pointers of the messages of `direction`.
fn asyncapi_messages(
    path: &Path,
    document: &Value,
    direction: Direction,
    describes: Describes,
) -> Result<Vec<String>, ContractError> {
    let version = document["asyncapi"].as_str().unwrap_or_default().to_owned();
    let (operation_2, action_3) = if outgoing(direction, describes) {
        ("subscribe", "send")
    } else {
        ("publish", "receive")
    };
    let mut messages = Vec::new();
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    if version.starts_with("2.") {
        for (name, channel) in document["channels"].as_object().into_iter().flatten() {
            if channel.get(operation_2).is_none() {
                continue;
            }
            let message = format!("/channels/{}/{operation_2}/message", escape(name));
            let (pointer, value) = follow(path, document, message)?;
            match value.get("oneOf").and_then(Value::as_array) {
                Some(list) => {
                    for i in 0..list.len() {
                        messages.push(follow(path, document, format!("{pointer}/oneOf/{i}"))?.0);
                    }
                }
                None => messages.push(pointer),
            }
        }
    } else if version.starts_with("3.0") {
        for (name, operation) in document["operations"].as_object().into_iter().flatten() {
            if operation.get("action").and_then(Value::as_str) != Some(action_3) {
                continue;
            }
            let listed = operation.get("messages").and_then(Value::as_array);
            let count = listed.map_or(0, Vec::len);
            let op = format!("/operations/{}", escape(name));
            if count == 0 {
                // No list: every message of its channel.
                let (channel, value) = follow(path, document, format!("{op}/channel"))?;
                for key in value["messages"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    let message = format!("{channel}/messages/{}", escape(key));
                    messages.push(follow(path, document, message)?.0);
                }
            }
            for i in 0..count {
                messages.push(follow(path, document, format!("{op}/messages/{i}"))?.0);
            }
        }
    } else {
        return Err(ContractError::AsyncApiVersion {
            path: path.to_owned(),
            version,
        });
    }
    if messages.is_empty() {
        return Err(ContractError::NoMessages {
            path: path.to_owned(),
            direction,
            describes,
        });
    }
    messages.sort();
    messages.dedup();
    Ok(messages)
}

impl RealWebSocketTestConfig {
    /// Loads and compiles its contract (`contract.*`), with
    /// `required_agent_events` as the reference contract's run events.
    ///
    /// # Errors
    /// [`ContractError`] naming the file, the JSON pointer and what is wrong.
    pub fn load_contract(&self) -> Result<Contract, ContractError> {
        let required: Vec<&str> = self
            .required_agent_events
            .iter()
            .map(|e| e.as_str())
            .collect();
        Contract::load(&self.contract, &required).map_err(|mut error| {
            if let ContractError::Read { origin, .. } = &mut error {
                *origin = self.source_of("contract.source");
            }
            error
        })
    }
}
