//! Cleanup of user services, which (unlike the reference server) have no
//! idle exit.
//!
//! Each container of a user's service carries an owner label: the process
//! that ran the tests (the parent of the test process: `cargo test` or the
//! nextest runner) as `<host name>/<pid>/<seconds from boot to its start>`.
//! Every start of the container tier first sweeps the engine: a container
//! whose owner ran on this machine and is gone (ended, or killed with
//! SIGKILL) is removed. Test processes of one run share a container; the
//! next run removes it.
//!
//! Processes are read through `sysinfo`, on Linux, macOS and Windows alike
//! (only Linux is run here). The start is counted from boot rather than
//! kept as a date: on Linux that is the kernel's tick count, which a wall
//! clock set does not move. Readings are compared to within
//! [`START_TOLERANCE_SECS`], as Windows derives the boot time from the
//! clock to about a second.
//!
//! A compose service's container carries the label too; when it is swept,
//! the rest of its project goes with it: every container and network
//! compose made for it.
//!
//! Where the host's name cannot be read, nothing is swept.

use super::labels::{OWNER_LABEL, PROJECT_LABEL, labelled};
use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

/// How far two readings of one process's start may differ, in seconds.
const START_TOLERANCE_SECS: u64 = 2;

/// This run's owner: the parent of this process, on this host.
pub(super) fn owner() -> String {
    let me = read_process(std::process::id());
    let parent = me.and_then(|me| me.parent).unwrap_or(std::process::id());
    let since_boot = read_process(parent).map_or(0, |p| p.since_boot);
    format!(
        "{}/{parent}/{since_boot}",
        System::host_name().unwrap_or_default()
    )
}

/// Removes the containers whose owner ran on this machine and is gone;
/// returns their ids. Failures are logged, not fatal: a sweep never stops a
/// test from getting its backend.
pub(super) async fn sweep(docker: &Docker) -> Vec<String> {
    let Some(host) = System::host_name() else {
        return Vec::new();
    };
    // One sweep at a time on this machine: two at once would race to
    // remove the same containers and networks.
    let _lock = crate::artifacts::lock("sweep").await;
    let containers = match labelled(docker, OWNER_LABEL, true).await {
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
        if !is_gone(owner, &host) {
            continue;
        }
        if let Some(project) = labels.get(PROJECT_LABEL) {
            if projects_swept.insert(project.clone()) {
                removed.extend(remove_project(docker, project).await);
            }
        } else if remove(docker, &id).await {
            removed.push(id);
        }
    }
    remove_networks_of_gone_owners(docker, &host).await;
    removed
}

/// Removes the networks ws-harness made for a service and its
/// dependencies whose owner ran on `host` and is gone (their containers
/// went first).
async fn remove_networks_of_gone_owners(docker: &Docker, host: &str) {
    remove_networks(docker, OWNER_LABEL, |labels| {
        labels
            .get(OWNER_LABEL)
            .is_some_and(|owner| is_gone(owner, host))
    })
    .await;
}

/// Removes the networks with `label` (`key` or `key=value`) whose labels
/// `gone` says yes to.
async fn remove_networks(
    docker: &Docker,
    label: &str,
    gone: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) {
    let filters = std::collections::HashMap::from([("label", vec![label])]);
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    for network in docker
        .list_networks(Some(options))
        .await
        .unwrap_or_default()
    {
        if !gone(&network.labels.unwrap_or_default()) {
            continue;
        }
        let Some(id) = network.id else { continue };
        if let Err(error) = docker.remove_network(&id).await {
            tracing::warn!(network = %id, %error, "cannot remove a network whose test run is gone");
        }
    }
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
    let label = format!("{}={project}", PROJECT_LABEL);
    let mut removed = Vec::new();
    for container in labelled(docker, &label, true).await.unwrap_or_default() {
        if let Some(id) = container.id
            && remove(docker, &id).await
        {
            removed.push(id);
        }
    }
    remove_networks(docker, &label, |_| true).await;
    removed
}

/// Whether `owner` ran on `host` and is no longer running.
fn is_gone(owner: &str, host: &str) -> bool {
    // The host name holds no '/', but read from the right all the same.
    let mut parts = owner.rsplitn(3, '/');
    let (Some(since_boot), Some(pid), Some(owner_host)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(pid), Ok(since_boot)) = (pid.parse::<u32>(), since_boot.parse::<u64>()) else {
        return false;
    };
    if owner_host != host {
        return false;
    }
    read_process(pid).is_none_or(|now| now.since_boot.abs_diff(since_boot) > START_TOLERANCE_SECS)
}

/// What the sweep reads of a running process.
#[derive(Debug, Clone, Copy)]
struct ProcessFacts {
    /// Seconds from boot to the process's start: with the pid, it names
    /// one process even after its pid is reused.
    since_boot: u64,
    parent: Option<u32>,
}

/// Process `pid`, or `None` when there is no such process or it is a zombie
/// (ended, waiting for its parent to read its status).
fn read_process(pid: u32) -> Option<ProcessFacts> {
    let pid = Pid::from_u32(pid);
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    let process = system.process(pid)?;
    if process.status() == ProcessStatus::Zombie {
        return None;
    }
    Some(ProcessFacts {
        since_boot: process.start_time().saturating_sub(System::boot_time()),
        parent: process.parent().map(Pid::as_u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_gone() {
        let host = System::host_name().unwrap();
        let me = std::process::id();
        let since_boot = read_process(me).unwrap().since_boot;
        let alive = format!("{host}/{me}/{since_boot}");
        assert!(!is_gone(&alive, &host));
        // The same pid started at another time is another process.
        assert!(is_gone(&format!("{host}/{me}/{}", since_boot + 60), &host));
        // A pid nothing runs under: pids are below 2^22 on Linux.
        assert!(is_gone(&format!("{host}/4294967290/{since_boot}"), &host));
        // Another host's owners are not this machine's to judge.
        assert!(!is_gone(&format!("other-host/{me}/1"), &host));
        assert!(!is_gone("garbage", &host));
        assert!(!is_gone(&format!("{host}/x/1"), &host));
    }

    #[test]
    fn the_owner_is_the_parent_of_this_process() {
        let owner = owner();
        let pid: u32 = owner.split('/').nth(1).unwrap().parse().unwrap();
        assert_eq!(Some(pid), read_process(std::process::id()).unwrap().parent);
        assert!(!is_gone(&owner, &System::host_name().unwrap()));
    }
}
