//! Where the Docker engine is: what the environment says about it, and the
//! documented order in which the container tier looks.
//!
//! An endpoint the user names is used alone, as the `docker` command does:
//! `tc.host` in `~/.testcontainers.properties`, else `DOCKER_HOST`, else
//! `docker.host` in that file, else the current docker context
//! (`DOCKER_CONTEXT`, or `currentContext` in `$DOCKER_CONFIG/config.json`)
//! when it is not `default`. A named endpoint that does not answer is
//! reported, never replaced by another engine. With nothing named, the
//! well-known sockets are probed in [`search_order`]'s order and the first
//! that answers is used.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::DockerEnvironment;

/// How an endpoint was found: what the report and the skip reason say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum FoundBy {
    /// `tc.host` or `docker.host` in `~/.testcontainers.properties`.
    TestcontainersProperties {
        /// The property.
        key: &'static str,
    },
    /// The `DOCKER_HOST` variable.
    DockerHost,
    /// The current docker context (`DOCKER_CONTEXT`, else the docker
    /// CLI's `currentContext`), by name.
    DockerContext { name: String },
    /// A well-known socket or pipe.
    WellKnown {
        /// Whose it is, e.g. `Colima`.
        of: &'static str,
    },
}

impl fmt::Display for FoundBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TestcontainersProperties { key } => {
                write!(f, "{key} in ~/.testcontainers.properties")
            }
            Self::DockerHost => f.write_str("DOCKER_HOST"),
            Self::DockerContext { name } => write!(f, "docker context {name}"),
            Self::WellKnown { of } => write!(f, "{of}"),
        }
    }
}

/// A place to look for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The endpoint, e.g. `unix:///var/run/docker.sock`.
    pub endpoint: String,
    /// How it was found.
    pub found_by: FoundBy,
}

/// Why the environment's named endpoint cannot even be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineSettingError {
    /// The docker context named has no readable endpoint.
    #[error(
        "the docker context {name} (from {named_by}) has no readable endpoint in {}: {reason}; run `docker context ls`, or set DOCKER_HOST",
        meta.display()
    )]
    Context {
        /// The context.
        name: String,
        /// `DOCKER_CONTEXT` or the config file.
        named_by: String,
        /// Its metadata file.
        meta: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// The places to look, in order: the one endpoint the user named, or else
/// every well-known socket.
///
/// ```
/// use ws_harness::config::DockerEnvironment;
/// use ws_harness::container::engine;
///
/// let named = DockerEnvironment {
///     host: Some("tcp://10.0.0.2:2375".into()),
///     ..DockerEnvironment::default()
/// };
/// let places = engine::search_order(&named).unwrap();
/// assert_eq!(places.len(), 1);
/// assert_eq!(places[0].endpoint, "tcp://10.0.0.2:2375");
/// ```
///
/// # Errors
/// [`EngineSettingError`] when a named docker context cannot be read.
pub fn search_order(env: &DockerEnvironment) -> Result<Vec<Candidate>, EngineSettingError> {
    let properties = env
        .home
        .as_deref()
        .map(|home| testcontainers_properties(&home.join(".testcontainers.properties")))
        .unwrap_or_default();
    let property = |key: &'static str| {
        properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, endpoint)| Candidate {
                endpoint: endpoint.clone(),
                found_by: FoundBy::TestcontainersProperties { key },
            })
    };
    let named = property("tc.host")
        .or_else(|| {
            env.host.clone().map(|endpoint| Candidate {
                endpoint,
                found_by: FoundBy::DockerHost,
            })
        })
        .or_else(|| property("docker.host"));
    if let Some(named) = named {
        return Ok(vec![named]);
    }
    if let Some(context) = docker_context(env)? {
        return Ok(vec![context]);
    }
    Ok(well_known(env))
}

/// The well-known sockets (named pipes on Windows), in the order tried.
fn well_known(env: &DockerEnvironment) -> Vec<Candidate> {
    let candidate = |of, endpoint: String| Candidate {
        endpoint,
        found_by: FoundBy::WellKnown { of },
    };
    if cfg!(windows) {
        return vec![
            candidate("Docker Desktop", "npipe:////./pipe/docker_engine".into()),
            candidate("Podman", "npipe:////./pipe/podman-machine-default".into()),
        ];
    }
    let home = |rest: &str| env.home.as_ref().map(|h| h.join(rest));
    let runtime = |rest: &str| env.runtime_dir.as_ref().map(|r| r.join(rest));
    let places: [(&'static str, Option<PathBuf>); 9] = [
        ("the default socket", Some("/var/run/docker.sock".into())),
        ("rootless Docker", runtime("docker.sock")),
        (
            "Docker's runtime directory",
            runtime(".docker/run/docker.sock"),
        ),
        ("Docker Desktop on macOS", home(".docker/run/docker.sock")),
        (
            "Docker Desktop on Linux",
            home(".docker/desktop/docker.sock"),
        ),
        ("Colima", home(".colima/default/docker.sock")),
        ("Colima before 0.4", home(".colima/docker.sock")),
        ("rootless Podman", runtime("podman/podman.sock")),
        ("Podman", Some("/run/podman/podman.sock".into())),
    ];
    places
        .into_iter()
        .filter_map(|(of, path)| Some(candidate(of, format!("unix://{}", path?.display()))))
        .collect()
}

/// The current docker context's endpoint, unless it is `default` (which
/// means `DOCKER_HOST` or the default socket).
fn docker_context(env: &DockerEnvironment) -> Result<Option<Candidate>, EngineSettingError> {
    let Some(dir) = env
        .config_dir
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".docker")))
    else {
        return Ok(None);
    };
    let config_file = dir.join("config.json");
    let (name, named_by) = match &env.context {
        Some(name) => (name.clone(), "DOCKER_CONTEXT".to_owned()),
        None => {
            let current = std::fs::read(&config_file)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .and_then(|config| config["currentContext"].as_str().map(str::to_owned));
            match current {
                Some(name) => (name, config_file.display().to_string()),
                None => return Ok(None),
            }
        }
    };
    if name.is_empty() || name == "default" {
        return Ok(None);
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let meta = dir
        .join("contexts")
        .join("meta")
        .join(hex)
        .join("meta.json");
    let fail = |reason: String| EngineSettingError::Context {
        name: name.clone(),
        named_by: named_by.clone(),
        meta: meta.clone(),
        reason,
    };
    let bytes = std::fs::read(&meta).map_err(|e| fail(e.to_string()))?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
    let endpoint = parsed["Endpoints"]["docker"]["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| fail("no Endpoints.docker.Host".to_owned()))?;
    Ok(Some(Candidate {
        endpoint: endpoint.to_owned(),
        found_by: FoundBy::DockerContext { name },
    }))
}

/// The `key=value` (or `key: value`) lines of a Java properties file;
/// nothing when it cannot be read.
fn testcontainers_properties(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', '!']))
        .filter_map(|line| {
            let split = line.find(['=', ':'])?;
            let (key, value) = (line[..split].trim(), line[split + 1..].trim());
            (!value.is_empty()).then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty home directory for one test.
    fn home(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ws-harness-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn tc_host_beats_docker_host_which_beats_docker_host_property() {
        let dir = home("properties");
        std::fs::write(
            dir.join(".testcontainers.properties"),
            "# comment\ndocker.host=tcp://property:2375\ntc.host = tcp://tc:2375\n",
        )
        .unwrap();
        let mut env = DockerEnvironment {
            host: Some("unix:///env.sock".into()),
            home: Some(dir.clone()),
            ..DockerEnvironment::default()
        };
        let first = |env: &DockerEnvironment| search_order(env).unwrap();
        assert_eq!(first(&env)[0].endpoint, "tcp://tc:2375");
        std::fs::write(
            dir.join(".testcontainers.properties"),
            "docker.host=tcp://property:2375\n",
        )
        .unwrap();
        assert_eq!(first(&env)[0].endpoint, "unix:///env.sock");
        assert_eq!(first(&env)[0].found_by, FoundBy::DockerHost);
        env.host = None;
        assert_eq!(first(&env)[0].endpoint, "tcp://property:2375");
        assert_eq!(first(&env).len(), 1);
    }

    #[test]
    fn the_current_docker_context_is_read_like_the_docker_cli_does() {
        let dir = home("context");
        let docker = dir.join(".docker");
        // sha256("colima"), as the docker CLI names the directory.
        let digest: String = Sha256::digest(b"colima")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let meta = docker.join("contexts/meta").join(digest);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"colima","Endpoints":{"docker":{"Host":"unix:///Users/me/.colima/default/docker.sock"}}}"#,
        )
        .unwrap();
        std::fs::write(docker.join("config.json"), r#"{"currentContext":"colima"}"#).unwrap();
        let mut env = DockerEnvironment {
            home: Some(dir.clone()),
            ..DockerEnvironment::default()
        };
        let places = search_order(&env).unwrap();
        assert_eq!(
            places,
            [Candidate {
                endpoint: "unix:///Users/me/.colima/default/docker.sock".into(),
                found_by: FoundBy::DockerContext {
                    name: "colima".into()
                }
            }]
        );
        // DOCKER_CONTEXT wins over the config file; `default` means no context.
        env.context = Some("default".into());
        assert!(search_order(&env).unwrap().len() > 1);
        env.context = Some("gone".into());
        let err = search_order(&env).unwrap_err().to_string();
        assert!(
            err.contains("the docker context gone (from DOCKER_CONTEXT)"),
            "{err}"
        );
        assert!(err.contains("docker context ls"), "{err}");
    }

    #[test]
    #[cfg(unix)]
    fn with_nothing_named_every_well_known_socket_is_tried_in_order() {
        let env = DockerEnvironment {
            home: Some("/home/me".into()),
            runtime_dir: Some("/run/user/1000".into()),
            ..DockerEnvironment::default()
        };
        let places: Vec<String> = search_order(&env)
            .unwrap()
            .into_iter()
            .map(|c| format!("{} ({})", c.endpoint, c.found_by))
            .collect();
        assert_eq!(
            places,
            [
                "unix:///var/run/docker.sock (the default socket)",
                "unix:///run/user/1000/docker.sock (rootless Docker)",
                "unix:///run/user/1000/.docker/run/docker.sock (Docker's runtime directory)",
                "unix:///home/me/.docker/run/docker.sock (Docker Desktop on macOS)",
                "unix:///home/me/.docker/desktop/docker.sock (Docker Desktop on Linux)",
                "unix:///home/me/.colima/default/docker.sock (Colima)",
                "unix:///home/me/.colima/docker.sock (Colima before 0.4)",
                "unix:///run/user/1000/podman/podman.sock (rootless Podman)",
                "unix:///run/podman/podman.sock (Podman)",
            ]
        );
    }
}
