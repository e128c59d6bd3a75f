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

use super::{Definition, Started, connect::Engine, image::Image};
use crate::harness::ServiceDefinition;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::Command;
use tokio::time::Instant;

/// The label compose puts on a project's containers and networks.
pub(super) const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label compose puts on a service's containers.
const SERVICE_LABEL: &str = "com.docker.compose.service";
/// How long `compose version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a compose service could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The compose file cannot be read.
    #[error("cannot read the compose file {}", file.display())]
    Unreadable {
        /// The file.
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
    /// A compose command failed.
    #[error("`{command}` failed ({status}); its last lines:\n{output}")]
    Failed {
        /// The command.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines it printed.
        output: String,
    },
    /// A compose command did not finish within service.startup_timeout.
    #[error("`{command}` did not finish within service.startup_timeout ({after:?})")]
    TimedOut {
        /// The command.
        command: String,
        /// The time it had.
        after: Duration,
    },
    /// The project came up without a running container for the service.
    #[error(
        "compose started project {project} but no container of service {service} is running; the services of {} are: {running}",
        file.display()
    )]
    ServiceMissing {
        /// The service named by service.compose_service.
        service: String,
        /// The compose file.
        file: PathBuf,
        /// The project.
        project: String,
        /// The services whose containers run, comma-separated.
        running: String,
    },
    /// The service's container publishes no host port for service.port.
    #[error("service {service} publishes no host port for {port}; is service.port right?")]
    NoPort {
        /// The service.
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
        id: super::reference_image::hex(&Sha256::digest(&contents)[..8]),
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

    /// `docker compose` if it runs, else `docker-compose`.
    async fn find(endpoint: &str) -> Result<Self, ComposeError> {
        let mut failures = Vec::new();
        for candidate in [Self::PLUGIN, Self::STANDALONE] {
            match candidate
                .run(endpoint, &["version"], Instant::now() + VERSION_TIMEOUT)
                .await
            {
                Ok(_) => return Ok(candidate),
                Err(e) => failures.push(super::super::with_sources(&e)),
            }
        }
        let standalone = failures.pop().unwrap_or_default();
        let plugin = failures.pop().unwrap_or_default();
        Err(ComposeError::NoCommand { plugin, standalone })
    }

    /// Runs the command with `args` against the engine at `endpoint`,
    /// until `deadline`.
    async fn run(
        &self,
        endpoint: &str,
        args: &[&str],
        deadline: Instant,
    ) -> Result<(), ComposeError> {
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
        let failed = |status, output: String| ComposeError::Failed {
            command: shown.clone(),
            status,
            output,
        };
        match output {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => {
                let mut all = output.stdout;
                all.extend_from_slice(&output.stderr);
                Err(failed(
                    output.status,
                    super::reference_image::last_lines(&all),
                ))
            }
            Err(e) => Err(failed(ExitStatus::default(), e.to_string())),
        }
    }
}

/// Brings the compose file up (or finds it up) and returns the service's
/// container; the project's images are built first, outside
/// `startup_timeout`.
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
    let _lock = super::lock(&project).await;
    let mut since = Instant::now();
    let running = |project: String| async move {
        super::labelled(docker, &format!("{PROJECT_LABEL}={project}"), false)
            .await
            .map_err(ComposeError::Engine)
    };
    let mut containers = running(project.clone()).await?;
    let of_service = |containers: &[bollard::models::ContainerSummary]| {
        containers.iter().find_map(|c| {
            let labels = c.labels.as_ref()?;
            (labels.get(SERVICE_LABEL)? == service_name)
                .then(|| c.id.clone())
                .flatten()
        })
    };
    let reused = of_service(&containers).is_some();
    if !reused {
        let compose = ComposeCommand::find(endpoint).await?;
        let overrides = write_override(&project, service_name, service, definition).await?;
        let (file, overrides) = (file.to_string_lossy(), overrides.to_string_lossy());
        let files = ["-p", &project, "-f", &file, "-f", &overrides];
        // Building is not starting: no deadline but the build's own.
        let build: Vec<&str> = files.iter().copied().chain(["build"]).collect();
        let unbounded = Instant::now() + Duration::from_secs(24 * 3600);
        compose.run(endpoint, &build, unbounded).await?;
        since = Instant::now();
        let up: Vec<&str> = files
            .iter()
            .copied()
            .chain(["up", "-d", "--no-build"])
            .collect();
        compose
            .run(endpoint, &up, since + service.startup_timeout)
            .await?;
        containers = running(project.clone()).await?;
    }
    let Some(id) = of_service(&containers) else {
        let mut services: Vec<String> = containers
            .iter()
            .filter_map(|c| c.labels.as_ref()?.get(SERVICE_LABEL).cloned())
            .collect();
        services.sort();
        return Err(ComposeError::ServiceMissing {
            service: service_name.to_owned(),
            file: file.to_owned(),
            project,
            running: if services.is_empty() {
                "none".to_owned()
            } else {
                services.join(", ")
            },
        });
    };
    let published = super::published_port(docker, &id, &port)
        .await
        .map_err(ComposeError::Engine)?
        .ok_or_else(|| ComposeError::NoPort {
            service: service_name.to_owned(),
            port,
        })?;
    Ok(Started {
        id,
        reused,
        host: super::connect::published_host(endpoint),
        port: published,
        since,
    })
}

/// Writes the override file of `project` (JSON, which compose reads as
/// YAML) and returns its path.
async fn write_override(
    project: &str,
    service_name: &str,
    service: &ServiceDefinition,
    definition: &Definition,
) -> Result<PathBuf, ComposeError> {
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
    let text = serde_json::json!({ "services": { service_name: overrides } }).to_string();
    let dir = crate::harness::transcript::target_dir()
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
