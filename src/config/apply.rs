//! One key's value, checked and set.

use super::keys::{KEYS, Raw};
use super::{
    ConfigError, ConfigSource, ConfiguredToken, ContractSource, HandshakeHeaders, OwnerRule,
    Readiness, RealWebSocketTestConfig, SequenceRule, UnknownTier,
};
use crate::protocol::EventType;
use bytesize::ByteSize;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

impl RealWebSocketTestConfig {
    pub(super) fn apply(
        &mut self,
        name: &str,
        raw: Raw,
        source: ConfigSource,
    ) -> Result<(), ConfigError> {
        let Some(key) = KEYS.iter().find(|k| k.name == name) else {
            return Err(ConfigError::UnknownKey {
                key: name.to_owned(),
                origin: source,
            });
        };
        let bad = |problem: &str, source: &ConfigSource, raw: &Raw| {
            let example = match source {
                ConfigSource::Env { var } => format!("{var}={}", key.env_example),
                _ => format!("{} = {}", key.name, key.toml_example),
            };
            ConfigError::InvalidValue {
                key: key.name,
                origin: source.clone(),
                value: raw.to_string(),
                problem: problem.to_owned(),
                example,
            }
        };
        let text = |raw: &Raw| match raw {
            Raw::Text(s) => Ok(s.clone()),
            _ => Err(bad("expected a string", &source, raw)),
        };
        let duration = |raw: &Raw| -> Result<Duration, ConfigError> {
            let s = text(raw).map_err(|_| {
                bad(
                    "expected a duration with a unit, such as \"500ms\" or \"10s\"",
                    &source,
                    raw,
                )
            })?;
            match humantime::parse_duration(&s) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(bad("must be more than zero", &source, raw)),
                Err(e) => Err(bad(&format!("not a duration: {e}"), &source, raw)),
            }
        };
        let count = |raw: &Raw, min: u64| -> Result<u64, ConfigError> {
            let n = match raw {
                Raw::Integer(n) => u64::try_from(*n).ok(),
                Raw::Text(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n >= min => Ok(n),
                _ => Err(bad(
                    &format!("expected a whole number of at least {min}"),
                    &source,
                    raw,
                )),
            }
        };
        let size = |raw: &Raw| -> Result<usize, ConfigError> {
            let bytes = match raw {
                Raw::Integer(n) => u64::try_from(*n).ok(),
                Raw::Text(s) => s.trim().parse::<ByteSize>().ok().map(|size| size.as_u64()),
                _ => None,
            };
            match bytes {
                Some(0) => Err(bad("must be more than zero", &source, raw)),
                Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                None => Err(bad(
                    "expected a size in bytes, such as 65536 or \"16 MiB\"",
                    &source,
                    raw,
                )),
            }
        };
        let ws_url = |raw: &Raw| -> Result<Url, ConfigError> {
            let s = text(raw)?;
            let url = Url::parse(&s).map_err(|e| bad(&format!("not a URL: {e}"), &source, raw))?;
            if matches!(url.scheme(), "ws" | "wss") {
                Ok(url)
            } else {
                Err(bad("the scheme must be ws or wss", &source, raw))
            }
        };
        // A relative path in a file is relative to the file's directory.
        let path = |raw: &Raw| -> Result<PathBuf, ConfigError> {
            let s = text(raw)?;
            if s.is_empty() {
                return Err(bad("must not be empty", &source, raw));
            }
            Ok(match &source {
                ConfigSource::File { path, .. } => path
                    .parent()
                    .map_or_else(|| PathBuf::from(&s), |dir| dir.join(&s)),
                _ => PathBuf::from(&s),
            })
        };
        let non_empty = |raw: &Raw| -> Result<String, ConfigError> {
            let s = text(raw)?;
            if s.is_empty() {
                return Err(bad("must not be empty", &source, raw));
            }
            Ok(s)
        };
        // A list, or `a,b` in one string.
        let list = |raw: &Raw| -> Result<Vec<String>, ConfigError> {
            match raw {
                Raw::List(items) => Ok(items.clone()),
                Raw::Text(s) => Ok(s
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()),
                _ => Err(bad("expected a list of strings", &source, raw)),
            }
        };
        // A table, or `A=1,B=2` (each split at its first `=`).
        let pairs = |raw: &Raw, form: &str| -> Result<Vec<(String, String)>, ConfigError> {
            match raw {
                Raw::Map(entries) => Ok(entries.clone()),
                Raw::Text(s) => s
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| {
                        p.split_once('=')
                            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                            .ok_or_else(|| {
                                bad(
                                    &format!("expected {form} pairs, comma-separated"),
                                    &source,
                                    raw,
                                )
                            })
                    })
                    .collect(),
                _ => Err(bad("expected a table of strings", &source, raw)),
            }
        };
        match key.name {
            "url" => self.url = Some(ws_url(&raw)?),
            "jwt_secret" => {
                let s = text(&raw)?;
                if s.is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.jwt_secret = s;
            }
            "token" => {
                let token = text(&raw)?;
                if token.is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.token = Some(ConfiguredToken::Value(token));
            }
            "token_file" => self.token = Some(ConfiguredToken::File(path(&raw)?)),
            "token_command" => {
                let command = text(&raw)?;
                if command.trim().is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.token = Some(ConfiguredToken::Command(command));
            }
            "headers" => {
                // Errors show the names, never a value.
                let entries = pairs(&raw, "Name=value").map_err(|_| {
                    bad(
                        "expected Name=value pairs, comma-separated",
                        &source,
                        &Raw::Other("(values not shown)".to_owned()),
                    )
                })?;
                let names = Raw::Other(
                    entries
                        .iter()
                        .map(|(name, _)| format!("{name}=<redacted>"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                self.headers = HandshakeHeaders::new(entries)
                    .map_err(|e| bad(&e.to_string(), &source, &names))?;
            }
            "tls_ca_file" => self.tls.ca_file = Some(path(&raw)?),
            "tls_client_cert" => self.tls.client_cert = Some(path(&raw)?),
            "tls_client_key" => self.tls.client_key = Some(path(&raw)?),
            "tls_insecure_skip_verify" => {
                self.tls.insecure_skip_verify = match &raw {
                    Raw::Bool(b) => *b,
                    Raw::Text(s) if s == "true" => true,
                    Raw::Text(s) if s == "false" => false,
                    _ => return Err(bad("expected true or false", &source, &raw)),
                };
            }
            "required_agent_events" => {
                let names = match &raw {
                    Raw::List(items) => items.clone(),
                    Raw::Text(s) => s
                        .split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect(),
                    _ => return Err(bad("expected a list of event types", &source, &raw)),
                };
                let events = names
                    .iter()
                    .map(|n| n.parse::<EventType>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(&e.to_string(), &source, &raw))?;
                if events.is_empty() {
                    return Err(bad("name at least one event type", &source, &raw));
                }
                self.required_agent_events = events;
            }
            "concurrent_connections" => {
                self.concurrent_connections =
                    usize::try_from(count(&raw, 1)?).unwrap_or(usize::MAX);
            }
            "connection_timeout" => self.connection_timeout = duration(&raw)?,
            "event_timeout" => self.event_timeout = duration(&raw)?,
            "max_retries" => self.max_retries = u32::try_from(count(&raw, 0)?).unwrap_or(u32::MAX),
            "max_frame_size" => self.max_frame_size = size(&raw)?,
            "max_message_size" => self.max_message_size = size(&raw)?,
            "transcript_frames" => {
                self.transcript_window.frames =
                    usize::try_from(count(&raw, 1)?).unwrap_or(usize::MAX);
            }
            "transcript_bytes" => self.transcript_window.bytes = size(&raw)?,
            "staging_url" => self.staging_url = Some(ws_url(&raw)?),
            "staging_ready" => {
                let ready: Readiness = text(&raw)?
                    .parse()
                    .map_err(|e: super::BadReadiness| bad(&e.to_string(), &source, &raw))?;
                if let Readiness::Log(_) = ready {
                    return Err(bad(
                        "log readiness needs a container's output; staging takes websocket, http:<path>[=<status>] or reference",
                        &source,
                        &raw,
                    ));
                }
                self.staging_ready = ready;
            }
            "backend" => {
                self.backend =
                    match text(&raw)?.as_str() {
                        "auto" => None,
                        tier => Some(tier.parse().map_err(|e: UnknownTier| {
                            bad(&format!("{e}, or auto"), &source, &raw)
                        })?),
                    };
            }
            "require" => {
                self.require = Some(
                    text(&raw)?
                        .parse()
                        .map_err(|e: UnknownTier| bad(&e.to_string(), &source, &raw))?,
                );
            }
            "container_idle_exit" => self.container_idle_exit = duration(&raw)?,
            "service.image" => {
                let image = text(&raw)?;
                match image.rsplit_once(':') {
                    Some((name, tag))
                        if !name.is_empty() && !tag.is_empty() && !tag.contains('/') => {}
                    _ => {
                        return Err(bad(
                            "expected name:tag (the image is used as present, never pulled)",
                            &source,
                            &raw,
                        ));
                    }
                }
                self.service_keys.image = Some(image);
            }
            "service.dockerfile" => self.service_keys.dockerfile = Some(path(&raw)?),
            "service.context" => self.service_keys.context = Some(path(&raw)?),
            "service.compose_file" => self.service_keys.compose_file = Some(path(&raw)?),
            "service.compose_service" => {
                let name = text(&raw)?;
                if name.is_empty() {
                    return Err(bad("must not be empty", &source, &raw));
                }
                self.service_keys.compose_service = Some(name);
            }
            "service.port" => {
                let port = count(&raw, 1)?;
                self.service_keys.port = Some(
                    u16::try_from(port)
                        .map_err(|_| bad("expected a port, 1 to 65535", &source, &raw))?,
                );
            }
            "service.ws_path" => {
                let ws_path = text(&raw)?;
                if !ws_path.starts_with('/') {
                    return Err(bad("must start with /", &source, &raw));
                }
                self.service.ws_path = ws_path;
            }
            "service.env" => {
                let entries = pairs(&raw, "NAME=value")?;
                if entries.iter().any(|(k, _)| k.is_empty() || k.contains('=')) {
                    return Err(bad("a variable name is empty or has a =", &source, &raw));
                }
                self.service.env = entries.into_iter().collect();
            }
            "service.cmd" => {
                self.service.cmd = match &raw {
                    Raw::List(items) => items.clone(),
                    Raw::Text(s) => s.split_whitespace().map(str::to_owned).collect(),
                    _ => return Err(bad("expected a list of strings", &source, &raw)),
                };
            }
            "service.startup_timeout" => self.service.startup_timeout = duration(&raw)?,
            "service.ready" => {
                self.service_keys.ready = Some(
                    text(&raw)?
                        .parse()
                        .map_err(|e: super::BadReadiness| bad(&e.to_string(), &source, &raw))?,
                );
            }
            "contract.source" => {
                self.contract.source = match text(&raw)?.as_str() {
                    "reference" => ContractSource::Reference,
                    "none" => ContractSource::None,
                    _ => ContractSource::File(path(&raw)?),
                };
            }
            "contract.kind_field" => self.contract.kind_field = non_empty(&raw)?,
            "contract.unknown_kinds" => {
                self.contract.unknown_kinds_allowed = match text(&raw)?.as_str() {
                    "allow" => true,
                    "violation" => false,
                    _ => return Err(bad("expected allow or violation", &source, &raw)),
                };
            }
            "contract.sequence_field" => self.contract.sequence_field = Some(text(&raw)?),
            "contract.sequence" => {
                self.contract.sequence = match text(&raw)?.as_str() {
                    "gapless" => SequenceRule::Gapless,
                    "increasing" => SequenceRule::Increasing,
                    _ => return Err(bad("expected gapless or increasing", &source, &raw)),
                };
            }
            "contract.sequence_restart_field" => {
                self.contract.sequence_restart_field = Some(text(&raw)?);
            }
            "contract.owner_field" => self.contract.owner_field = Some(text(&raw)?),
            "contract.owner" => {
                self.contract.owner = match non_empty(&raw)?.as_str() {
                    "subject" => OwnerRule::Subject,
                    value => OwnerRule::Value(value.to_owned()),
                };
            }
            "contract.forbidden_fields" => self.contract.forbidden_fields = Some(list(&raw)?),
            "contract.run_field" => self.contract.run_field = Some(text(&raw)?),
            "contract.run_events" => self.contract.run_events = Some(list(&raw)?),
            "contract.terminal_kinds" => self.contract.terminal_kinds = Some(list(&raw)?),
            _ => unreachable!("every key of KEYS is handled"),
        }
        self.sources.insert(key.name, source);
        Ok(())
    }
}
