//! Where a setting came from, and why a configuration could not be built.

use super::settings::SETTINGS;
use std::fmt;
use std::path::PathBuf;

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The built-in default.
    Default,
    /// A line of a config file.
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the value.
        line: usize,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
    /// The builder in code.
    Code,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default"),
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::Code => f.write_str("code"),
        }
    }
}

/// Why a configuration could not be built. Each message names the key, where
/// the value came from, the bad value and a good example.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // fields named for what they hold
pub enum ConfigError {
    /// A value of the wrong form or out of range.
    #[error("bad value for `{key}` in {origin}: {value} ({problem}); for example {example}")]
    InvalidValue {
        key: &'static str,
        /// Where the value came from.
        origin: ConfigSource,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// A good setting, written the way that source takes it.
        example: String,
    },
    /// A key the file should not have (a typo, usually).
    #[error("unknown key `{key}` in {origin}; the keys are {}", SETTINGS.iter().map(|s| s.key).collect::<Vec<_>>().join(", "))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where.
        origin: ConfigSource,
    },
    /// The config file could not be read.
    #[error("cannot read the config file {path} (named by {named_by}): {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        named_by: String,
        reason: String,
    },
    /// Two settings that exclude each other are both set.
    #[error(
        "`{first}` ({first_origin}) and `{second}` ({second_origin}) cannot both be set; keep one of them"
    )]
    ExclusiveKeys {
        /// One key.
        first: &'static str,
        /// Where it was set.
        first_origin: ConfigSource,
        /// The other key.
        second: &'static str,
        /// Where it was set.
        second_origin: ConfigSource,
    },
    /// A setting that needs another one.
    #[error("`{key}` ({origin}) needs `{missing}` as well; for example {example}")]
    NeedsKey {
        /// The key that was set.
        key: &'static str,
        /// Where it was set.
        origin: ConfigSource,
        /// The key it needs.
        missing: &'static str,
        /// A good setting of the missing key.
        example: String,
    },
    /// The config file is not TOML.
    #[error("the config file {path} is not valid TOML: {reason}")]
    NotToml {
        /// The file.
        path: PathBuf,
        /// The parser's words, with line and column.
        reason: String,
    },
}
