//! The labels ws-harness puts on the containers it starts, and finding
//! containers by them.

use bollard::Docker;
use std::collections::HashMap;

/// The label every container of the project carries: `reference-server`,
/// `service`, or beside a testcontainers request's service `dependency
/// <name>` (and `network` on their network).
pub const CONTAINER_LABEL: &str = "dev.ws-harness.backend";
/// The label with the hash of the whole service definition: reuse matches
/// it, so a changed definition never attaches to a stale container.
pub(super) const DEFINITION_LABEL: &str = "dev.ws-harness.definition";

/// The label naming a container's owner.
pub(super) const OWNER_LABEL: &str = "dev.ws-harness.owner";

/// The label compose puts on a project's containers and networks.
pub(super) const PROJECT_LABEL: &str = "com.docker.compose.project";

/// The containers with `label` (`key` or `key=value`); stopped ones too
/// when `all`.
pub(super) async fn labelled(
    docker: &Docker,
    label: &str,
    all: bool,
) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
    let filters = HashMap::from([("label", vec![label])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(all)
        .filters(&filters)
        .build();
    docker.list_containers(Some(options)).await
}
