//! A service of a compose file in the container tier. The whole file is
//! brought up (a database beside the service, say) by the compose command
//! this machine has: `docker compose` (v2), else `docker-compose` (v1, which
//! has no `--wait`; the readiness waits are ws-harness's own either way).
//!
//! The file itself is left as it is: an override file beside it publishes
//! the service's port on an ephemeral host port and adds the definition's
//! `env`, `cmd` and labels (owner included, so the reaper takes the whole
//! project down once the run is gone). The project name carries the
//! definition's hash: processes of one run share it, a changed definition
//! gets its own.

use super::build::{hex, last_lines};
use super::connect::{Engine, published_port};
use super::definition::{Definition, Image, Started};
use super::labels::{PROJECT_LABEL, labelled};
use crate::config::ServiceDefinition;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::Command;
use tokio::time::Instant;

/// The label compose puts on a service's containers.
const SERVICE_LABEL: &str = "com.docker.compose.service";
/// How long `compose version` or `compose config` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long taking a failed project down may take.
const DOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a compose service could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum ComposeError {
    /// The compose file cannot be read.
    #[error("cannot read the compose file {}", file.display())]
    Unreadable {
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Neither compose command runs here.
    #[error(
        "no compose command runs here: `docker compose version`: {plugin}; `docker-compose version`: {standalone}; install Docker Compose (the `docker compose` plugin, or `docker-compose`)"
    )]
    NoCommand {
        /// What `docker compose version` gave.
        plugin: String,
        /// What `docker-compose version` gave.
        standalone: String,
    },
    /// The override file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A compose command could not be started.
    #[error("cannot run `{command}`")]
    CannotRun {
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A compose command failed.
    #[error("`{command}` failed ({status}); its last lines:\n{output}")]
    Failed {
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines it printed.
        output: String,
    },
    /// A compose command did not finish within service.startup_timeout.
    #[error("`{command}` did not finish within service.startup_timeout ({after:?})")]
    TimedOut {
        command: String,
        /// The time it had.
        after: Duration,
    },
    /// The file has no service of that name.
    #[error(
        "{} has no service {service}; its services are: {services}; set service.compose_service to one of them",
        file.display()
    )]
    UnknownService {
        /// The service named by service.compose_service.
        service: String,
        file: PathBuf,
        /// The file's services, comma-separated.
        services: String,
    },
    /// The project came up without a running container for the service.
    #[error(
        "compose started project {project} but no container of service {service} is running (it exited?); running: {running}"
    )]
    ServiceNotRunning {
        /// The service named by service.compose_service.
        service: String,
        project: String,
        /// The services whose containers run, comma-separated.
        running: String,
    },
    /// The service's container publishes no host port for service.port.
    #[error("service {service} publishes no host port for {port}; is service.port right?")]
    NoPort {
        service: String,
        /// The container port, e.g. `8765/tcp`.
        port: String,
    },
    /// The engine could not list or inspect the project's containers.
    #[error("the engine cannot list the project's containers")]
    Engine(#[source] bollard::errors::Error),
}

/// What the report says ran and what the definition's hash covers: the
/// compose file's contents stand for the image.
pub(super) async fn describe(file: &Path, service: &str) -> Result<Image, ComposeError> {
    let contents = tokio::fs::read(file)
        .await
        .map_err(|source| ComposeError::Unreadable {
            file: file.to_owned(),
            source,
        })?;
    Ok(Image {
        name: format!("compose service {service}"),
        id: hex(&Sha256::digest(&contents)[..8]),
        shown: format!("compose service {service} of {}", file.display()),
    })
}

/// The compose command found on this machine.
#[derive(Debug, Clone)]
struct ComposeCommand {
    program: &'static str,
    prefix: &'static [&'static str],
}

impl ComposeCommand {
    const PLUGIN: Self = Self {
        program: "docker",
        prefix: &["compose"],
    };
    const STANDALONE: Self = Self {
        program: "docker-compose",
        prefix: &[],
    };

    /// `docker compose` if it runs, else `docker-compose`; asked once per
    /// process (each `version` starts a program).
    async fn find(endpoint: &str) -> Result<Self, ComposeError> {
        static FOUND: tokio::sync::OnceCell<ComposeCommand> = tokio::sync::OnceCell::const_new();
        FOUND.get_or_try_init(|| Self::ask(endpoint)).await.cloned()
    }

    async fn ask(endpoint: &str) -> Result<Self, ComposeError> {
        let mut failures = Vec::new();
        for candidate in [Self::PLUGIN, Self::STANDALONE] {
            match candidate
                .run(endpoint, &["version"], Instant::now() + VERSION_TIMEOUT)
                .await
            {
                Ok(_) => return Ok(candidate),
                Err(e) => failures.push(crate::with_sources(&e)),
            }
        }
        let standalone = failures.pop().unwrap_or_default();
        let plugin = failures.pop().unwrap_or_default();
        Err(ComposeError::NoCommand { plugin, standalone })
    }

    /// Runs the command with `args` against the engine at `endpoint`,
    /// until `deadline`; returns what it printed on stdout.
    async fn run(
        &self,
        endpoint: &str,
        args: &[&str],
        deadline: Instant,
    ) -> Result<String, ComposeError> {
        let shown = std::iter::once(self.program)
            .chain(self.prefix.iter().copied())
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new(self.program);
        command
            .args(self.prefix)
            .args(args)
            .env("DOCKER_HOST", endpoint)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let after = deadline.saturating_duration_since(Instant::now());
        let output = tokio::time::timeout(after, command.output())
            .await
            .map_err(|_| ComposeError::TimedOut {
                command: shown.clone(),
                after,
            })?;
        let output = output.map_err(|source| ComposeError::CannotRun {
            command: shown.clone(),
            source,
        })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let mut all = output.stdout;
        all.extend_from_slice(&output.stderr);
        Err(ComposeError::Failed {
            command: shown,
            status: output.status,
            output: last_lines(&all),
        })
    }
}

/// Brings the compose file up (or finds it up) and returns the service's
/// container; the project's images are built first, outside
/// `startup_timeout`. A project that fails to come up is taken down again.
pub(super) async fn up(
    engine: &Engine,
    file: &Path,
    service_name: &str,
    service: &ServiceDefinition,
    definition: &Definition,
) -> Result<Started, ComposeError> {
    let docker = &engine.docker;
    let endpoint = engine.place.endpoint.as_str();
    let project = format!("wsh_{}", definition.hash);
    let port = format!("{}/tcp", service.port);
    let _lock = crate::artifacts::lock(&project).await;
    let started = |(id, published), reused, since| Started {
        id,
        reused,
        host: super::connect::published_host(endpoint),
        port: published,
        since,
    };
    if let Ok(found) = locate(docker, &project, service_name, &port).await {
        return Ok(started(found, true, Instant::now()));
    }
    let compose = ComposeCommand::find(endpoint).await?;
    let file_shown = file.to_string_lossy();
    let listed = compose
        .run(
            endpoint,
            &["-p", &project, "-f", &file_shown, "config", "--services"],
            Instant::now() + VERSION_TIMEOUT,
        )
        .await?;
    let mut services: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    services.sort_unstable();
    if !services.contains(&service_name) {
        return Err(ComposeError::UnknownService {
            service: service_name.to_owned(),
            file: file.to_owned(),
            services: services.join(", "),
        });
    }
    let overrides = write_override(&project, &services, service_name, service, definition).await?;
    let overrides = overrides.to_string_lossy();
    let files = ["-p", &project, "-f", &file_shown, "-f", &overrides];
    let with = |more: &[&'static str]| -> Vec<&str> {
        files.iter().copied().chain(more.iter().copied()).collect()
    };
    // Building is not starting: no deadline but the build's own.
    let unbounded = Instant::now() + Duration::from_secs(24 * 3600);
    let mut since = Instant::now();
    let brought_up = async {
        compose.run(endpoint, &with(&["build"]), unbounded).await?;
        since = Instant::now();
        let up = with(&["up", "-d", "--no-build"]);
        compose
            .run(endpoint, &up, since + service.startup_timeout)
            .await?;
        locate(docker, &project, service_name, &port).await
    };
    match brought_up.await {
        Ok(found) => Ok(started(found, false, since)),
        Err(error) => {
            // Nothing of a failed start is left behind.
            let down = with(&["down", "--volumes", "--remove-orphans"]);
            let _ = compose
                .run(endpoint, &down, Instant::now() + DOWN_TIMEOUT)
                .await;
            Err(error)
        }
    }
}

/// The running container of `service` in `project` and the host port it
/// publishes `port` (`8080/tcp`) on.
async fn locate(
    docker: &bollard::Docker,
    project: &str,
    service: &str,
    port: &str,
) -> Result<(String, u16), ComposeError> {
    let containers = labelled(docker, &format!("{PROJECT_LABEL}={project}"), false)
        .await
        .map_err(ComposeError::Engine)?;
    let service_of =
        |c: &bollard::models::ContainerSummary| c.labels.as_ref()?.get(SERVICE_LABEL).cloned();
    let not_running = |containers: &[bollard::models::ContainerSummary]| {
        let mut running: Vec<String> = containers
            .iter()
            .filter_map(service_of)
            .filter(|name| name != service)
            .collect();
        running.sort();
        ComposeError::ServiceNotRunning {
            service: service.to_owned(),
            project: project.to_owned(),
            running: if running.is_empty() {
                "none".to_owned()
            } else {
                running.join(", ")
            },
        }
    };
    let Some(id) = containers
        .iter()
        .find(|c| service_of(c).as_deref() == Some(service))
        .and_then(|c| c.id.clone())
    else {
        return Err(not_running(&containers));
    };
    if let Some(published) = published_port(docker, &id, port)
        .await
        .map_err(ComposeError::Engine)?
    {
        return Ok((id, published));
    }
    // No port: it exited since it was listed, or service.port is wrong.
    let inspected = docker
        .inspect_container(&id, None)
        .await
        .map_err(ComposeError::Engine)?;
    if inspected.state.and_then(|s| s.running) == Some(true) {
        Err(ComposeError::NoPort {
            service: service.to_owned(),
            port: port.to_owned(),
        })
    } else {
        Err(not_running(&containers))
    }
}

/// Writes the override file of `project` (JSON, which compose reads as
/// YAML) and returns its path.
async fn write_override(
    project: &str,
    services: &[&str],
    service_name: &str,
    service: &ServiceDefinition,
    definition: &Definition,
) -> Result<PathBuf, ComposeError> {
    // Every service carries the labels: the reaper finds the project by
    // any of its containers, even when the tested one never started.
    let mut all: serde_json::Map<String, serde_json::Value> = services
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                serde_json::json!({ "labels": definition.labels() }),
            )
        })
        .collect();
    let mut overrides = serde_json::json!({
        "ports": [service.port.to_string()],
        "labels": definition.labels(),
    });
    if !definition.env.is_empty() {
        overrides["environment"] = definition
            .env
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::from(value.as_str())))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if !service.cmd.is_empty() {
        overrides["command"] = service.cmd.clone().into();
    }
    all.insert(service_name.to_owned(), overrides);
    let text = serde_json::json!({ "services": all }).to_string();
    let dir = crate::artifacts::target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ws-harness")
        .join("compose");
    let path = dir.join(format!("{project}.override.json"));
    let write = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&path, text).await
    };
    write.await.map_err(|source| ComposeError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
