//! How the clients of a backend authenticate. Credentials belong to their
//! tier: the in-process server and the reference container check the
//! published test secret, whatever is configured for staging; staging, a
//! `url` and the team's own service get the configured secret or token.
//! So whatever tier the chain falls to, the factory's clients authenticate
//! against it.

use super::RealWebSocketTestConfig;
use crate::auth::{AuthError, JwtAuth, TEST_JWT_SECRET};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How the clients of a backend authenticate. Its `Debug` and `Display`
/// name the kind, never the secret or the token.
///
/// ```
/// use ws_harness::{Credentials, RealWebSocketTestConfig};
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .jwt_secret("staging-secret")
///     .build()
///     .unwrap();
/// let credentials = Credentials::configured(&config);
/// assert_eq!(credentials.to_string(), "tokens minted with the configured jwt_secret");
/// assert!(!format!("{credentials:?}").contains("staging-secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Tokens minted per user with the published test secret.
    TestSecret,
    /// Tokens minted per user with the configured `jwt_secret`.
    ConfiguredSecret(String),
    /// The configured `token`, the same for every client.
    Token(String),
}

impl Credentials {
    /// What the config sets: its `token`, else its `jwt_secret` (the test
    /// secret when none is set).
    #[must_use]
    pub fn configured(config: &RealWebSocketTestConfig) -> Self {
        match &config.token {
            Some(token) => Self::Token(token.clone()),
            None => Self::secret(&config.jwt_secret),
        }
    }

    /// Tokens minted with `secret` (the test secret is named as such).
    pub(crate) fn secret(secret: &str) -> Self {
        if secret == TEST_JWT_SECRET {
            Self::TestSecret
        } else {
            Self::ConfiguredSecret(secret.to_owned())
        }
    }

    /// The token a client of `user_id` presents, valid for `ttl` when minted.
    ///
    /// # Errors
    /// [`AuthError`] when the secret cannot sign or the user id is not one
    /// the protocol allows.
    pub fn token_for(&self, user_id: &str, ttl: Duration) -> Result<String, AuthError> {
        self.minter()?.token_for(user_id, ttl)
    }

    /// What makes the tokens, built once by callers that need many.
    pub(crate) fn minter(&self) -> Result<Minter, AuthError> {
        Ok(match self {
            Self::Token(token) => Minter::Fixed(token.clone()),
            Self::TestSecret => Minter::Key(Arc::new(JwtAuth::new(TEST_JWT_SECRET)?)),
            Self::ConfiguredSecret(secret) => Minter::Key(Arc::new(JwtAuth::new(secret)?)),
        })
    }
}

/// Makes the tokens of some [`Credentials`]: a signing key, or the one
/// fixed token.
#[derive(Clone)]
pub(crate) enum Minter {
    Key(Arc<JwtAuth>),
    Fixed(String),
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Key(_) => "Key(<redacted>)",
            Self::Fixed(_) => "Fixed(<redacted>)",
        })
    }
}

impl Minter {
    /// The token of `user_id`, valid for `ttl` when minted.
    pub(crate) fn token_for(&self, user_id: &str, ttl: Duration) -> Result<String, AuthError> {
        match self {
            Self::Key(key) => key.mint(user_id, ttl),
            Self::Fixed(token) => Ok(token.clone()),
        }
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TestSecret => "tokens minted with the published test secret",
            Self::ConfiguredSecret(_) => "tokens minted with the configured jwt_secret",
            Self::Token(_) => "the configured token",
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TestSecret => "TestSecret",
            Self::ConfiguredSecret(_) => "ConfiguredSecret(<redacted>)",
            Self::Token(_) => "Token(<redacted>)",
        })
    }
}
