//! Settings from code, and the build that reads every source in order.

use super::keys::{KEYS, Raw};
use super::{
    BackendKind, CONFIG_FILE_NAME, CONFIG_FILE_VAR, ConfigError, ConfigSource, ContractSource,
    DockerEnvironment, Environment, ProcessEnvironment, Readiness, RealWebSocketTestConfig,
    TranscriptWindow,
};
use crate::protocol::EventType;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Builds a [`RealWebSocketTestConfig`]; values set here win over every
/// other source.
#[derive(Default)]
#[must_use]
pub struct ConfigBuilder {
    env: Option<Box<dyn Environment>>,
    skip_environment: bool,
    code: Vec<(&'static str, Raw)>,
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

    /// Sets [`RealWebSocketTestConfig::url`].
    pub fn url(mut self, url: Url) -> Self {
        self.code.push(("url", Raw::Text(url.to_string())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::jwt_secret`].
    pub fn jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.code.push(("jwt_secret", Raw::Text(secret.into())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::token`] to this token.
    pub fn token(self, token: impl Into<String>) -> Self {
        self.text("token", token.into())
    }

    /// Sets [`RealWebSocketTestConfig::token`] to the contents of this file.
    pub fn token_file(self, path: impl AsRef<Path>) -> Self {
        self.text("token_file", path.as_ref().to_string_lossy().into_owned())
    }

    /// Sets [`RealWebSocketTestConfig::token`] to what this command prints.
    pub fn token_command(self, command: impl Into<String>) -> Self {
        self.text("token_command", command.into())
    }

    /// Sets [`RealWebSocketTestConfig::headers`].
    pub fn headers<N: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let entries = headers
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        self.code.push(("headers", Raw::Map(entries)));
        self
    }

    /// Sets [`TlsSettings::ca_file`](super::TlsSettings::ca_file).
    pub fn tls_ca_file(self, path: impl AsRef<Path>) -> Self {
        self.text("tls_ca_file", path.as_ref().to_string_lossy().into_owned())
    }

    /// Sets [`TlsSettings::client_cert`](super::TlsSettings::client_cert) and [`TlsSettings::client_key`](super::TlsSettings::client_key)
    /// (mutual TLS).
    pub fn tls_client_cert(self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        let key = key.as_ref().to_string_lossy().into_owned();
        self.text(
            "tls_client_cert",
            cert.as_ref().to_string_lossy().into_owned(),
        )
        .text("tls_client_key", key)
    }

    /// Sets [`TlsSettings::insecure_skip_verify`](super::TlsSettings::insecure_skip_verify): any server certificate
    /// is accepted, and the report warns.
    pub fn tls_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.code
            .push(("tls_insecure_skip_verify", Raw::Bool(skip)));
        self
    }

    /// Sets [`RealWebSocketTestConfig::required_agent_events`].
    pub fn required_agent_events(mut self, events: impl IntoIterator<Item = EventType>) -> Self {
        let names = events.into_iter().map(|e| e.as_str().to_owned()).collect();
        self.code.push(("required_agent_events", Raw::List(names)));
        self
    }

    /// Sets [`RealWebSocketTestConfig::concurrent_connections`].
    pub fn concurrent_connections(mut self, n: usize) -> Self {
        self.code.push((
            "concurrent_connections",
            Raw::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        ));
        self
    }

    /// Sets [`RealWebSocketTestConfig::connection_timeout`].
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.duration("connection_timeout", timeout)
    }

    /// Sets [`RealWebSocketTestConfig::event_timeout`].
    pub fn event_timeout(self, timeout: Duration) -> Self {
        self.duration("event_timeout", timeout)
    }

    /// Sets [`RealWebSocketTestConfig::max_retries`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.code
            .push(("max_retries", Raw::Integer(i64::from(retries))));
        self
    }

    /// Sets [`RealWebSocketTestConfig::max_frame_size`], in bytes.
    pub fn max_frame_size(self, bytes: usize) -> Self {
        self.size("max_frame_size", bytes)
    }

    /// Sets [`RealWebSocketTestConfig::max_message_size`], in bytes.
    pub fn max_message_size(self, bytes: usize) -> Self {
        self.size("max_message_size", bytes)
    }

    /// Sets [`RealWebSocketTestConfig::transcript_window`].
    pub fn transcript_window(self, window: TranscriptWindow) -> Self {
        self.size("transcript_frames", window.frames)
            .size("transcript_bytes", window.bytes)
    }

    /// Sets [`RealWebSocketTestConfig::backend`] (`None`: auto).
    pub fn backend(mut self, tier: Option<BackendKind>) -> Self {
        let text = tier.map_or("auto", BackendKind::as_str);
        self.code.push(("backend", Raw::Text(text.to_owned())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::require`].
    pub fn require(mut self, tier: BackendKind) -> Self {
        self.code
            .push(("require", Raw::Text(tier.as_str().to_owned())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::staging_ready`].
    pub fn staging_ready(self, ready: &Readiness) -> Self {
        self.text("staging_ready", ready.to_string())
    }

    /// Sets [`RealWebSocketTestConfig::staging_url`].
    pub fn staging_url(mut self, url: Url) -> Self {
        self.code.push(("staging_url", Raw::Text(url.to_string())));
        self
    }

    /// Sets [`RealWebSocketTestConfig::container_idle_exit`].
    pub fn container_idle_exit(self, idle: Duration) -> Self {
        self.duration("container_idle_exit", idle)
    }

    /// The container tier runs this image (`name:tag`, present in the engine).
    pub fn service_image(self, image: impl Into<String>) -> Self {
        self.text("service.image", image.into())
    }

    /// The container tier runs an image built from this Dockerfile and
    /// context directory.
    pub fn service_dockerfile(
        self,
        dockerfile: impl AsRef<Path>,
        context: impl AsRef<Path>,
    ) -> Self {
        let context = context.as_ref().to_string_lossy().into_owned();
        self.text(
            "service.dockerfile",
            dockerfile.as_ref().to_string_lossy().into_owned(),
        )
        .text("service.context", context)
    }

    /// The container tier runs `service` of this compose file (and the
    /// file's other services).
    pub fn service_compose(self, file: impl AsRef<Path>, service: impl Into<String>) -> Self {
        self.text(
            "service.compose_file",
            file.as_ref().to_string_lossy().into_owned(),
        )
        .text("service.compose_service", service.into())
    }

    /// Sets [`ServiceDefinition::port`](super::ServiceDefinition::port).
    pub fn service_port(mut self, port: u16) -> Self {
        self.code
            .push(("service.port", Raw::Integer(i64::from(port))));
        self
    }

    /// Sets [`ServiceDefinition::ws_path`](super::ServiceDefinition::ws_path).
    pub fn service_ws_path(self, path: impl Into<String>) -> Self {
        self.text("service.ws_path", path.into())
    }

    /// Sets [`ServiceDefinition::env`](super::ServiceDefinition::env).
    pub fn service_env<K: Into<String>, V: Into<String>>(
        mut self,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let entries = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self.code.push(("service.env", Raw::Map(entries)));
        self
    }

    /// Sets [`ServiceDefinition::cmd`](super::ServiceDefinition::cmd).
    pub fn service_cmd<S: Into<String>>(mut self, cmd: impl IntoIterator<Item = S>) -> Self {
        let args = cmd.into_iter().map(Into::into).collect();
        self.code.push(("service.cmd", Raw::List(args)));
        self
    }

    /// Sets [`ServiceDefinition::startup_timeout`](super::ServiceDefinition::startup_timeout).
    pub fn service_startup_timeout(self, timeout: Duration) -> Self {
        self.duration("service.startup_timeout", timeout)
    }

    /// Sets [`ContractSettings::source`](super::ContractSettings::source).
    pub fn contract_source(self, source: &ContractSource) -> Self {
        self.text("contract.source", source.to_string())
    }

    /// Sets [`ServiceDefinition::ready`](super::ServiceDefinition::ready).
    pub fn service_ready(self, ready: &Readiness) -> Self {
        self.text("service.ready", ready.to_string())
    }

    fn text(mut self, key: &'static str, value: String) -> Self {
        self.code.push((key, Raw::Text(value)));
        self
    }

    fn size(mut self, key: &'static str, value: usize) -> Self {
        self.code
            .push((key, Raw::Integer(i64::try_from(value).unwrap_or(i64::MAX))));
        self
    }

    fn duration(mut self, key: &'static str, value: Duration) -> Self {
        let text = if value.is_zero() {
            "0s".to_owned()
        } else {
            humantime::format_duration(value).to_string()
        };
        self.code.push((key, Raw::Text(text)));
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
            for key in &KEYS {
                let var = format!("WS_HARNESS_{}", key.name.replace('.', "_").to_uppercase());
                if let Some(value) = env.var(&var) {
                    config.apply(key.name, Raw::Text(value), ConfigSource::Env { var })?;
                }
            }
        }
        for (key, raw) in self.code {
            config.apply(key, raw, ConfigSource::Code)?;
        }
        config.settle_access()?;
        config.settle_service()?;
        Ok(config)
    }
}
