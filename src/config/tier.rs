//! The chain's tiers, as the `backend` and `require` settings name them.

use std::fmt;
use std::str::FromStr;

/// A tier of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The service in a Docker container: the team's (`[service]`), or the
    /// reference image.
    Container,
    /// The server at `staging_url`.
    Staging,
    /// A server in this process: the team's own
    /// ([`Chain::own_server`](crate::chain::Chain::own_server)), or the
    /// reference server.
    InProcess,
    /// A [`MockServer`](crate::mock::MockServer) the test scripted
    /// ([`Chain::mock`](crate::chain::Chain::mock)).
    Mock,
}

impl BackendKind {
    /// The tiers of the chain, in the order `backend = "auto"` tries them.
    pub const CHAIN: [BackendKind; 4] =
        [Self::Container, Self::Staging, Self::InProcess, Self::Mock];

    /// `container`, `staging`, `in-process` or `mock`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Staging => "staging",
            Self::InProcess => "in-process",
            Self::Mock => "mock",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = UnknownTier;

    /// A tier of the chain: `container`, `staging`, `in-process` or `mock`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::CHAIN
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownTier {
                given: s.to_owned(),
            })
    }
}

/// A tier name that is not one: the `backend` and `require` settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a tier; expected container, staging, in-process or mock")]
#[allow(missing_docs)] // fields named for what they hold
pub struct UnknownTier {
    pub given: String,
}
