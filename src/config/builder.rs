//! The builder, and the build that reads every source in order. Its
//! setters, one per key, are declared with the settings.

use super::settings::{CodeValue, SETTINGS};
use super::{
    CONFIG_FILE_NAME, CONFIG_FILE_VAR, ConfigError, ConfigSource, DockerEnvironment, Environment,
    ProcessEnvironment, RealWebSocketTestConfig, read::Raw,
};
use std::fmt;
use std::path::PathBuf;

/// Builds a [`RealWebSocketTestConfig`]; values set here win over every
/// other source, and are checked like them when it is built.
///
/// ```
/// use std::time::Duration;
/// use ws_harness::RealWebSocketTestConfig;
///
/// let error = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .event_timeout(Duration::ZERO)
///     .build()
///     .unwrap_err();
/// assert!(error.to_string().contains("must be more than zero"));
/// ```
#[derive(Default)]
#[must_use]
pub struct ConfigBuilder {
    env: Option<Box<dyn Environment>>,
    skip_environment: bool,
    code: Vec<CodeValue>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder").finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// Reads variables (and the file location) from `env` instead of the process.
    pub fn environment(mut self, env: impl Environment + 'static) -> Self {
        self.env = Some(Box::new(env));
        self
    }

    /// Ignores the file and the environment: defaults and code only.
    pub fn without_environment(mut self) -> Self {
        self.skip_environment = true;
        self
    }

    pub(super) fn code(mut self, value: CodeValue) -> Self {
        self.code.push(value);
        self
    }

    /// Reads the sources in order and checks every value.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key, its source and value, with
    /// an example of a good one.
    pub fn build(self) -> Result<RealWebSocketTestConfig, ConfigError> {
        let mut config = RealWebSocketTestConfig::default();
        if !self.skip_environment {
            let env: Box<dyn Environment> =
                self.env.unwrap_or_else(|| Box::new(ProcessEnvironment));
            let (path, named) = match env.var(CONFIG_FILE_VAR).filter(|p| !p.is_empty()) {
                Some(path) => (PathBuf::from(path), true),
                None => (PathBuf::from(CONFIG_FILE_NAME), false),
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => config.apply_file(&path, &text)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {}
                Err(e) => {
                    let named_by = if named {
                        CONFIG_FILE_VAR
                    } else {
                        "the current directory"
                    };
                    return Err(ConfigError::Unreadable {
                        path,
                        named_by: named_by.to_owned(),
                        reason: e.to_string(),
                    });
                }
            }
            config.docker = DockerEnvironment::from_env(&*env);
            for setting in SETTINGS {
                let var = setting.variable();
                if let Some(value) = env.var(&var) {
                    config.apply_raw(setting.key, &Raw::Text(value), ConfigSource::Env { var })?;
                }
            }
        }
        for value in self.code {
            config.apply_code(value)?;
        }
        config.settle_access()?;
        config.settle_service()?;
        Ok(config)
    }
}
