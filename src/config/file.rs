//! `ws-harness.toml`: its keys in file order, each with its line.

use super::read::Raw;
use super::{ConfigError, ConfigSource, RealWebSocketTestConfig};
use std::collections::BTreeMap;
use std::path::Path;

/// The variable naming the config file.
pub const CONFIG_FILE_VAR: &str = "WS_HARNESS_CONFIG";
/// The config file looked for in the current directory.
pub const CONFIG_FILE_NAME: &str = "ws-harness.toml";

impl RealWebSocketTestConfig {
    pub(super) fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let not_toml = |e: toml::de::Error| ConfigError::NotToml {
            path: path.to_owned(),
            reason: e.to_string().trim().to_owned(),
        };
        let table: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(not_toml)?;
        let mut entries: Vec<(String, toml::Spanned<toml::Value>)> = Vec::new();
        // The tables' own keys, read again for their spans.
        #[derive(serde::Deserialize)]
        struct Tables {
            #[serde(default)]
            service: BTreeMap<String, toml::Spanned<toml::Value>>,
            #[serde(default)]
            contract: BTreeMap<String, toml::Spanned<toml::Value>>,
            #[serde(default)]
            faults: BTreeMap<String, toml::Spanned<toml::Value>>,
        }
        let mut tables: Option<Tables> = None;
        for (name, value) in table {
            if matches!(name.as_str(), "service" | "contract" | "faults")
                && value.get_ref().is_table()
            {
                if tables.is_none() {
                    tables = Some(toml::from_str(text).map_err(not_toml)?);
                }
                let tables = tables.as_mut().expect("just read");
                let nested = match name.as_str() {
                    "service" => std::mem::take(&mut tables.service),
                    "contract" => std::mem::take(&mut tables.contract),
                    _ => std::mem::take(&mut tables.faults),
                };
                entries.extend(
                    nested
                        .into_iter()
                        .map(|(key, value)| (format!("{name}.{key}"), value)),
                );
            } else {
                entries.push((name, value));
            }
        }
        entries.sort_by_key(|(_, v)| v.span().start);
        for (name, value) in entries {
            let line = text[..value.span().start].matches('\n').count() + 1;
            let source = ConfigSource::File {
                path: path.to_owned(),
                line,
            };
            self.apply_raw(&name, &Raw::from(value.into_inner()), source)?;
        }
        Ok(())
    }
}
