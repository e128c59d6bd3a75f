use crate::protocol::auth::AuthError;

/// Why a server could not be built or started.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // fields named for what they hold
pub enum ServerError {
    /// Not in test mode and no secret given.
    #[error(
        "no JWT secret: pass --jwt-secret SECRET or set WS_JWT_SECRET, or start with --test-mode to use the published test secret"
    )]
    MissingSecret,
    /// The published test secret, outside test mode.
    #[error(
        "the published test secret is only accepted in test mode: pass a secret of your own, or start with --test-mode"
    )]
    TestSecretOutsideTestMode,
    /// The secret is unusable.
    #[error("bad JWT secret: {0}")]
    Secret(#[source] AuthError),
    /// A limit has a value the server cannot work with.
    #[error("limit `{name}` is {value}; it must be at least {minimum}")]
    InvalidLimit {
        /// The field of [`Limits`](super::Limits).
        name: &'static str,
        value: String,
        /// The smallest value that works.
        minimum: String,
    },
    /// `serve` was called again on a server that already shut down.
    #[error("this server already served and shut down; build a new one with Server::new")]
    AlreadyServed,
    /// An environment variable of [`run_from_env`](super::run_from_env) has a bad value.
    #[error("{var} is {value:?}; expected {expected}")]
    Setting {
        /// The variable.
        var: &'static str,
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// Binding or reading the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
}
