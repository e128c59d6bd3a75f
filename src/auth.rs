//! JWT authentication of the handshake (HS256), shared by the server, which
//! verifies tokens, and the harness, which mints them.
//!
//! ```
//! use std::time::Duration;
//! use ws_harness::auth::{JwtAuth, TEST_JWT_SECRET};
//!
//! let auth = JwtAuth::new(TEST_JWT_SECRET).unwrap();
//! let token = auth.mint("alice", Duration::from_secs(60)).unwrap();
//! assert_eq!(auth.verify(&token).unwrap().sub, "alice");
//! ```

use crate::protocol::MAX_ID_CHARS;
use http::HeaderMap;
use http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The published secret of test mode.
///
/// A server started with `--test-mode` and no secret of its own uses it, so
/// tests can mint tokens without sharing configuration. A server not in test
/// mode refuses it. Never use it for anything real: it is printed here.
pub const TEST_JWT_SECRET: &str = "ws-harness-test-secret-never-use-in-production";

/// The subprotocol a browser offers, beside `jwt.<token>`, to authenticate
/// without headers; the server selects it in its answer.
pub const AUTH_SUBPROTOCOL: &str = "jwt-auth";

/// The prefix of the subprotocol entry that carries the token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "jwt.";

/// The claims of a token: `sub` is the user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, 1..=128 characters.
    pub sub: String,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Issued at, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Why a handshake was refused, or why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token in `Authorization: Bearer` nor in the `jwt.<token>` subprotocol.
    #[error(
        "no token: send `Authorization: Bearer <jwt>` or the subprotocols `jwt-auth, jwt.<jwt>`"
    )]
    MissingToken,
    /// The token is malformed, not HS256, signed with another key, or its claims are wrong.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token's `exp` has passed.
    #[error("expired token: mint a new one")]
    ExpiredToken,
    /// The secret cannot sign or verify tokens.
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
}

impl AuthError {
    /// The `error` value of the `401` body: `missing_token`, `invalid_token`
    /// or `expired_token` (`invalid_secret` never reaches a client).
    ///
    /// ```
    /// use ws_harness::auth::AuthError;
    /// assert_eq!(AuthError::ExpiredToken.code(), "expired_token");
    /// ```
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::InvalidSecret(_) => "invalid_secret",
        }
    }
}

/// Signs and verifies HS256 tokens with one secret.
#[derive(Clone)]
pub struct JwtAuth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth").finish_non_exhaustive()
    }
}

impl JwtAuth {
    /// Keys for `secret`.
    ///
    /// # Errors
    /// [`AuthError::InvalidSecret`] when the secret is empty.
    pub fn new(secret: &str) -> Result<Self, AuthError> {
        if secret.is_empty() {
            return Err(AuthError::InvalidSecret(
                "the JWT secret is empty; pass a long random string".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        })
    }

    /// A token for `user_id` that expires after `ttl`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when the user id is not 1..=128 characters.
    pub fn mint(&self, user_id: &str, ttl: Duration) -> Result<String, AuthError> {
        check_user_id(user_id)?;
        let now = unix_now();
        let claims = Claims {
            sub: user_id.to_owned(),
            exp: now + ttl.as_secs().max(1),
            iat: Some(now),
        };
        self.sign(&claims)
    }

    /// Signs any claims as they are (tests use it for expired tokens).
    ///
    /// # Errors
    /// [`AuthError::InvalidSecret`] when signing fails.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::InvalidSecret(e.to_string()))
    }

    /// Checks a token: HS256 only, signed with this secret, not expired, with a
    /// `sub` of 1..=128 characters.
    ///
    /// # Errors
    /// [`AuthError::ExpiredToken`] or [`AuthError::InvalidToken`] saying why.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::ExpiredToken,
                ErrorKind::InvalidSignature => AuthError::InvalidToken(
                    "the signature does not match this server's secret".into(),
                ),
                ErrorKind::InvalidAlgorithm => {
                    AuthError::InvalidToken("only HS256 tokens are accepted".into())
                }
                _ => AuthError::InvalidToken(e.to_string()),
            })?
            .claims;
        check_user_id(&claims.sub)?;
        Ok(claims)
    }
}

/// Where the handshake presented its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <jwt>`.
    Header,
    /// The subprotocol entry `jwt.<jwt>`; `select` is true when the client
    /// also offered `jwt-auth`, which the server must then select.
    Subprotocol {
        /// Whether to answer with `Sec-WebSocket-Protocol: jwt-auth`.
        select: bool,
    },
}

/// A WebSocket handshake request for `url` that carries
/// `Authorization: Bearer <token>`: how every client of the harness (and
/// its tests) authenticates.
///
/// ```
/// use ws_harness::auth::bearer_request;
///
/// let request = bearer_request("ws://127.0.0.1:8765/ws", "abc").unwrap();
/// assert_eq!(request.headers()["authorization"], "Bearer abc");
/// ```
///
/// # Errors
/// The tungstenite error when `url` is not a WebSocket URL, or
/// `Error::HttpFormat` when the token cannot be a header value.
pub fn bearer_request(
    url: &str,
    token: &str,
) -> Result<http::Request<()>, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request()?;
    let value =
        format!("Bearer {token}")
            .parse()
            .map_err(|e: http::header::InvalidHeaderValue| {
                tokio_tungstenite::tungstenite::Error::HttpFormat(e.into())
            })?;
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(request)
}

/// The `sub` claim of a JWT, read without checking its signature: the
/// subject a client authenticates as, which the contract's owner rule
/// compares frames with. `None` for a token that is not a JWT with a
/// string `sub`.
///
/// ```
/// use std::time::Duration;
/// use ws_harness::auth::{JwtAuth, TEST_JWT_SECRET, subject_of};
///
/// let token = JwtAuth::new(TEST_JWT_SECRET).unwrap().mint("alice", Duration::from_secs(60)).unwrap();
/// assert_eq!(subject_of(&token).as_deref(), Some("alice"));
/// assert_eq!(subject_of("opaque-token"), None);
/// ```
#[must_use]
pub fn subject_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Finds the token in a handshake's headers: the `Authorization` header
/// first, then the `jwt.<token>` subprotocol entry.
///
/// ```
/// use http::HeaderMap;
/// use ws_harness::auth::{token_from_headers, TokenSource};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("sec-websocket-protocol", "jwt-auth, jwt.abc".parse().unwrap());
/// let (token, source) = token_from_headers(&headers).unwrap();
/// assert_eq!(token, "abc");
/// assert_eq!(source, TokenSource::Subprotocol { select: true });
/// ```
///
/// # Errors
/// [`AuthError::MissingToken`] when neither is there, [`AuthError::InvalidToken`]
/// when `Authorization` is present but not a Bearer token.
pub fn token_from_headers(headers: &HeaderMap) -> Result<(&str, TokenSource), AuthError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default().trim();
        return match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Ok((token.trim(), TokenSource::Header))
            }
            _ => Err(AuthError::InvalidToken(
                "the Authorization header must read `Bearer <jwt>`".into(),
            )),
        };
    }
    let offered = offered_subprotocols(headers);
    let token = offered
        .iter()
        .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::MissingToken)?;
    let select = offered.contains(&AUTH_SUBPROTOCOL);
    Ok((token, TokenSource::Subprotocol { select }))
}

/// The subprotocols a handshake offers, in order (every
/// `Sec-WebSocket-Protocol` header, split at commas).
///
/// ```
/// use http::HeaderMap;
/// use ws_harness::auth::offered_subprotocols;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("sec-websocket-protocol", "v2, jwt.abc".parse().unwrap());
/// assert_eq!(offered_subprotocols(&headers), ["v2", "jwt.abc"]);
/// ```
#[must_use]
pub fn offered_subprotocols(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn check_user_id(user_id: &str) -> Result<(), AuthError> {
    let chars = user_id.chars().count();
    if (1..=MAX_ID_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(AuthError::InvalidToken(format!(
            "`sub` must be a user id of 1..={MAX_ID_CHARS} characters, not {chars}"
        )))
    }
}

/// Seconds since the unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_expired_and_bad_sub_are_rejected() {
        let auth = JwtAuth::new("one").unwrap();
        let other = JwtAuth::new("two").unwrap();
        let token = other.mint("alice", Duration::from_secs(60)).unwrap();
        assert!(matches!(
            auth.verify(&token),
            Err(AuthError::InvalidToken(_))
        ));
        let expired = auth
            .sign(&Claims {
                sub: "alice".into(),
                exp: unix_now() - 10,
                iat: None,
            })
            .unwrap();
        assert_eq!(auth.verify(&expired), Err(AuthError::ExpiredToken));
        let long = auth
            .sign(&Claims {
                sub: "x".repeat(129),
                exp: unix_now() + 60,
                iat: None,
            })
            .unwrap();
        assert!(matches!(
            auth.verify(&long),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(auth.mint("", Duration::from_secs(60)).is_err());
        assert!(JwtAuth::new("").is_err());
    }

    #[test]
    fn authorization_header_wins_and_must_be_bearer() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        headers.insert(SEC_WEBSOCKET_PROTOCOL, "jwt-auth, jwt.zzz".parse().unwrap());
        assert_eq!(
            token_from_headers(&headers).unwrap(),
            ("abc", TokenSource::Header)
        );
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(matches!(
            token_from_headers(&headers),
            Err(AuthError::InvalidToken(_))
        ));
        assert_eq!(
            token_from_headers(&HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
    }
}
