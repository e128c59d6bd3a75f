//! What shapes a container: its image, its environment and its owner,
//! hashed so that reuse finds only a container of the same definition; and
//! a container once started.

use super::build::hex;
use super::labels::{CONTAINER_LABEL, DEFINITION_LABEL, OWNER_LABEL};
use super::reaper;
use crate::access::Credentials;
use crate::config::{RealWebSocketTestConfig, ServiceSource};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tokio::time::Instant;

/// An image ready to run.
pub(super) struct Image {
    /// `name:tag`.
    pub(super) name: String,
    /// The engine's id for it (a rebuilt tag gets a new one).
    pub(super) id: String,
    /// What the report says ran.
    pub(super) shown: String,
}

/// A container of this process's run: started here, or found running.
pub(super) struct Started {
    pub(super) id: String,
    pub(super) reused: bool,
    /// The host and port its service is published on.
    pub(super) host: String,
    pub(super) port: u16,
    /// When its start began (after any image build): readiness counts
    /// service.startup_timeout from here.
    pub(super) since: Instant,
}

/// Everything that shapes a container: the service definition, its image
/// (by id, so a rebuilt tag is a new definition), its environment and,
/// for a user's service, the run that owns it.
pub(super) struct Definition {
    pub(super) image: Image,
    pub(super) env: Vec<(String, String)>,
    /// The run that owns its containers; `None` for the reference server,
    /// which exits when idle and any run may reuse.
    owner: Option<String>,
    /// Hash of the whole: reuse matches it.
    pub(super) hash: String,
}

impl Definition {
    /// `credentials`: the team's service's, for `${token}`.
    pub(super) fn new(
        config: &RealWebSocketTestConfig,
        image: Image,
        credentials: Option<&Credentials>,
    ) -> Self {
        let service = &config.service;
        let token = match credentials {
            Some(Credentials::Token { token, .. }) => token.as_str(),
            _ => "",
        };
        let mut env: Vec<(String, String)> = service
            .env
            .iter()
            .map(|(name, value)| {
                let value = value
                    .replace("${jwt_secret}", &config.jwt_secret)
                    .replace("${token}", token);
                (name.clone(), value)
            })
            .collect();
        let owner = if service.source == ServiceSource::Reference {
            let idle = humantime::format_duration(config.container_idle_exit)
                .to_string()
                .replace(' ', "");
            // Test mode: the published test secret, as in-process, unless
            // the service's env names another (WS_JWT_SECRET).
            env.extend([
                (crate::server::TEST_MODE_VAR.to_owned(), "true".to_owned()),
                (crate::server::IDLE_EXIT_VAR.to_owned(), idle),
            ]);
            None
        } else {
            // A user's service is swept once its owner is gone: each run
            // gets its own.
            Some(reaper::owner())
        };
        let whole = format!(
            "{service:?}\n{} {}\n{env:?}\n{owner:?}",
            image.name, image.id
        );
        let hash = hex(&Sha256::digest(whole)[..8]);
        Self {
            image,
            env,
            owner,
            hash,
        }
    }

    /// How clients of the reference server authenticate: with the test
    /// secret, unless its env names another.
    pub(super) fn reference_credentials(&self) -> Credentials {
        self.env
            .iter()
            .rev()
            .find(|(name, _)| name == crate::server::SECRET_VAR)
            .map_or(Credentials::TestSecret, |(_, secret)| {
                Credentials::secret(secret)
            })
    }

    /// The labels its containers carry.
    pub(super) fn labels(&self) -> HashMap<String, String> {
        let kind = match self.owner {
            None => "reference-server",
            Some(_) => "service",
        };
        let mut labels = HashMap::from([
            (CONTAINER_LABEL.to_owned(), kind.to_owned()),
            (DEFINITION_LABEL.to_owned(), self.hash.clone()),
        ]);
        if let Some(owner) = &self.owner {
            labels.insert(OWNER_LABEL.to_owned(), owner.clone());
        }
        labels
    }
}
