//! Where settings and the Docker engine's variables are read from.

use std::collections::HashMap;
use std::path::PathBuf;

/// Reads environment variables; tests give a fake one (a `HashMap`).
pub trait Environment {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// Reads the variables of this process (`std::env::var`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// What the environment says about where the Docker engine is. Read from
/// the process environment by the config; tests give a fake one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DockerEnvironment {
    /// `DOCKER_HOST`.
    pub host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub context: Option<String>,
    /// `DOCKER_CONFIG`: the docker CLI's directory (default `~/.docker`).
    pub config_dir: Option<PathBuf>,
    /// The home directory (`HOME`; `USERPROFILE` on Windows).
    pub home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`, where rootless engines put their sockets.
    pub runtime_dir: Option<PathBuf>,
}

impl DockerEnvironment {
    /// Reads the variables above from `env` (empty values count as unset).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use ws_harness::config::DockerEnvironment;
    ///
    /// let env = HashMap::from([("DOCKER_HOST".to_owned(), "unix:///tmp/docker.sock".to_owned())]);
    /// let docker = DockerEnvironment::from_env(&env);
    /// assert_eq!(docker.host.as_deref(), Some("unix:///tmp/docker.sock"));
    /// ```
    pub fn from_env(env: &dyn Environment) -> Self {
        let var = |name: &str| env.var(name).filter(|v| !v.is_empty());
        let home_var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        Self {
            host: var("DOCKER_HOST"),
            context: var("DOCKER_CONTEXT"),
            config_dir: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var(home_var).map(PathBuf::from),
            runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
        }
    }
}
