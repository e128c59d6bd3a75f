//! The rules across keys, checked once every source is read.

use super::settings::Setting;
use super::{ConfigError, REFERENCE_PORT, Readiness, RealWebSocketTestConfig, ServiceSource};
use std::path::{Path, PathBuf};

impl RealWebSocketTestConfig {
    /// Fails when more than one of `keys` is set.
    fn exclusive(&self, keys: &[&'static str]) -> Result<(), ConfigError> {
        let set: Vec<&'static str> = keys
            .iter()
            .copied()
            .filter(|key| self.sources.contains_key(key))
            .collect();
        match set[..] {
            [first, second, ..] => Err(ConfigError::ExclusiveKeys {
                first,
                first_origin: self.source_of(first),
                second,
                second_origin: self.source_of(second),
            }),
            _ => Ok(()),
        }
    }

    /// The error for `key`, set, without `missing`: its example is the
    /// declared one of `missing`, then `note`.
    fn needs(&self, key: &'static str, missing: &'static str, note: &str) -> ConfigError {
        let setting = Setting::named(missing).expect("the rules name declared keys");
        ConfigError::NeedsKey {
            key,
            origin: self.source_of(key),
            missing,
            example: format!("{}{note}", setting.in_file()),
        }
    }

    /// Checks the token and TLS keys together.
    pub(super) fn settle_access(&self) -> Result<(), ConfigError> {
        self.exclusive(&["token", "token_file", "token_command"])?;
        self.exclusive(&["tls_insecure_skip_verify", "tls_ca_file"])?;
        match (&self.tls.client_cert, &self.tls.client_key) {
            (Some(_), None) => Err(self.needs("tls_client_cert", "tls_client_key", "")),
            (None, Some(_)) => Err(self.needs("tls_client_key", "tls_client_cert", "")),
            _ => Ok(()),
        }
    }

    /// Checks the `service.*` keys together and settles the service.
    pub(super) fn settle_service(&mut self) -> Result<(), ConfigError> {
        self.exclusive(&[
            "service.image",
            "service.dockerfile",
            "service.compose_file",
        ])?;
        let keys = &self.service_keys;
        let source = match (
            keys.image.clone(),
            keys.dockerfile.clone(),
            keys.compose_file.clone(),
        ) {
            (Some(image), _, _) => ServiceSource::Image(image),
            (_, Some(dockerfile), _) => {
                let context = keys.context.clone().unwrap_or_else(|| {
                    dockerfile
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
                });
                ServiceSource::Dockerfile {
                    dockerfile,
                    context,
                }
            }
            (_, _, Some(file)) => {
                let Some(service) = keys.compose_service.clone() else {
                    return Err(self.needs("service.compose_file", "service.compose_service", ""));
                };
                ServiceSource::Compose { file, service }
            }
            (None, None, None) => ServiceSource::Reference,
        };
        if keys.context.is_some() && !matches!(source, ServiceSource::Dockerfile { .. }) {
            return Err(self.needs("service.context", "service.dockerfile", ""));
        }
        if keys.compose_service.is_some() && !matches!(source, ServiceSource::Compose { .. }) {
            return Err(self.needs("service.compose_service", "service.compose_file", ""));
        }
        let port = match (&source, keys.port) {
            (_, Some(port)) => port,
            (ServiceSource::Reference, None) => REFERENCE_PORT,
            (_, None) => {
                let key = [
                    "service.image",
                    "service.dockerfile",
                    "service.compose_file",
                ]
                .into_iter()
                .find(|key| self.sources.contains_key(key))
                .expect("a service other than the reference one has its source key set");
                return Err(self.needs(
                    key,
                    "service.port",
                    " (the port the service listens on inside the container)",
                ));
            }
        };
        let ready = keys.ready.clone().unwrap_or(match source {
            ServiceSource::Reference => Readiness::Reference,
            _ => Readiness::WebSocket,
        });
        self.service.source = source;
        self.service.port = port;
        self.service.ready = ready;
        Ok(())
    }
}
