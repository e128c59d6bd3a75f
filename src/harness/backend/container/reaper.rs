//! Cleanup of user services, which (unlike the reference server) have no
//! idle exit.
//!
//! Each container of a user's service carries an owner label: the process
//! that ran the tests (the parent of the test process: `cargo test` or the
//! nextest runner) as `<boot id>/<pid>/<start time>`. Every start of the
//! container tier first sweeps the engine: a container whose owner ran on
//! this machine and is gone (ended, or killed with SIGKILL) is removed.
//! Test processes of one run share a container; the next run removes it.
//!
//! A compose service's container carries the label too; when it is swept,
//! the rest of its project goes with it: every container and network
//! compose made for it.
//!
//! Where an owner's liveness cannot be read (outside Linux) nothing is swept.

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptionsBuilder;

/// The label naming a container's owner.
pub(super) const OWNER_LABEL: &str = "dev.ws-harness.owner";

/// This run's owner: the parent of this process, on this boot.
pub(super) fn owner() -> String {
    let parent = parent_pid();
    format!(
        "{}/{parent}/{}",
        boot_id().unwrap_or_default(),
        start_time(parent).unwrap_or_default()
    )
}

/// Removes the containers whose owner ran on this machine and is gone;
/// returns their ids. Failures are logged, not fatal: a sweep never stops a
/// test from getting its backend.
pub(super) async fn sweep(docker: &Docker) -> Vec<String> {
    let Some(boot) = boot_id() else {
        return Vec::new();
    };
    // One sweep at a time on this machine: two at once would race to
    // remove the same containers and networks.
    let _lock = super::lock("sweep").await;
    let containers = match super::labelled(docker, OWNER_LABEL, true).await {
        Ok(containers) => containers,
        Err(error) => {
            tracing::warn!(%error, "cannot list containers to sweep");
            return Vec::new();
        }
    };
    let mut removed = Vec::new();
    let mut projects_swept = std::collections::HashSet::new();
    for container in containers {
        let (Some(id), Some(labels)) = (container.id, container.labels) else {
            continue;
        };
        let Some(owner) = labels.get(OWNER_LABEL) else {
            continue;
        };
        if !is_gone(owner, &boot) {
            continue;
        }
        if let Some(project) = labels.get(super::compose::PROJECT_LABEL) {
            if projects_swept.insert(project.clone()) {
                removed.extend(remove_project(docker, project).await);
            }
        } else if remove(docker, &id).await {
            removed.push(id);
        }
    }
    removed
}

/// Removes container `id` with its anonymous volumes; whether it is gone.
async fn remove(docker: &Docker, id: &str) -> bool {
    let force = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(force)).await {
        Ok(()) => {
            tracing::info!(container = %id, "removed a container whose test run is gone");
            true
        }
        // Gone already, or going: its own auto-remove, or another engine client.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => false,
        Err(error) => {
            tracing::warn!(container = %id, %error, "cannot remove a container whose test run is gone");
            false
        }
    }
}

/// Removes every container and network of compose project `project`;
/// returns the containers removed.
async fn remove_project(docker: &Docker, project: &str) -> Vec<String> {
    let label = format!("{}={project}", super::compose::PROJECT_LABEL);
    let mut removed = Vec::new();
    for container in super::labelled(docker, &label, true)
        .await
        .unwrap_or_default()
    {
        if let Some(id) = container.id
            && remove(docker, &id).await
        {
            removed.push(id);
        }
    }
    let filters = std::collections::HashMap::from([("label", vec![label.as_str()])]);
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    for network in docker
        .list_networks(Some(options))
        .await
        .unwrap_or_default()
    {
        let Some(id) = network.id else { continue };
        if let Err(error) = docker.remove_network(&id).await {
            tracing::warn!(network = %id, %error, "cannot remove a network whose test run is gone");
        }
    }
    removed
}

/// Whether `owner` ran on this boot and is no longer running.
fn is_gone(owner: &str, boot: &str) -> bool {
    let mut parts = owner.split('/');
    let (Some(owner_boot), Some(pid), Some(started)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if owner_boot != boot {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    start_time(pid).is_none_or(|now| now != started)
}

#[cfg(unix)]
fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

#[cfg(not(unix))]
fn parent_pid() -> u32 {
    std::process::id()
}

/// This boot's id (Linux); `None` elsewhere.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
}

/// When process `pid` started, in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`): with the pid, it names one process even after its
/// pid is reused. `None` when there is no such process (or no `/proc`).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces; fields follow the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_alive_and_a_made_up_one_is_gone() {
        let boot = boot_id().unwrap();
        let me = std::process::id();
        let alive = format!("{boot}/{me}/{}", start_time(me).unwrap());
        assert!(!is_gone(&alive, &boot));
        // The same pid with another start time is another process.
        assert!(is_gone(&format!("{boot}/{me}/1"), &boot));
        // Another boot's owners are not this machine's to judge.
        assert!(!is_gone(&format!("other-boot/{me}/1"), &boot));
        assert!(!is_gone("garbage", &boot));
    }
}
