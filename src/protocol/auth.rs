//! JWT authentication of the handshake (HS256), shared by the server, which
//! verifies tokens, and the harness, which mints them.
//!
//! ```
//! use std::time::Duration;
//! use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
//!
//! let auth = JwtAuth::new(TEST_JWT_SECRET).unwrap();
//! let token = auth.mint("alice", Duration::from_secs(60)).unwrap();
//! assert_eq!(auth.verify(&token).unwrap().sub, "alice");
//! ```

use crate::protocol::MAX_ID_CHARS;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
use http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
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

/// How far `exp` and `nbf` may be off, in seconds, for clocks that differ a
/// little between the machine that minted a token and the one checking it.
const CLOCK_LEEWAY_SECS: u64 = 5;

/// `{"alg":"HS256","typ":"JWT"}` in base64url: the header of every token
/// [`JwtAuth`] signs.
const HS256_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

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
    /// Not valid before, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
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
    InvalidToken(TokenProblem),
    /// The token's `exp` has passed.
    #[error("expired token: mint a new one")]
    ExpiredToken,
    /// The secret is empty, so it cannot sign or verify tokens.
    #[error("invalid secret: the JWT secret is empty; pass a long random string")]
    EmptySecret,
}

/// What is wrong with a token that [`JwtAuth::verify`] refused.
///
/// ```
/// use ws_harness::protocol::auth::{AuthError, JwtAuth, TokenProblem};
///
/// let auth = JwtAuth::new("secret").unwrap();
/// assert_eq!(auth.verify("not-a-jwt"), Err(AuthError::InvalidToken(TokenProblem::NotThreeParts)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum TokenProblem {
    /// The `Authorization` header holds something other than `Bearer <jwt>`.
    #[error("the Authorization header must read `Bearer <jwt>`")]
    NotBearer,
    /// The token is not three dot-separated parts.
    #[error("a JWT is three base64url parts joined by dots")]
    NotThreeParts,
    /// A part is not base64url, or not the JSON it must be.
    #[error("its {part} is not base64url-encoded {expected}: {reason}")]
    Undecodable {
        /// `header`, `claims` or `signature`.
        part: &'static str,
        /// What the part must hold.
        expected: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The header names an algorithm other than HS256 (`none` included).
    #[error("only HS256 tokens are accepted, not {alg:?}")]
    Algorithm { alg: String },
    /// The signature was not made with this secret.
    #[error("the signature does not match this server's secret")]
    Signature,
    /// The token's `nbf` is still ahead.
    #[error("not valid before {nbf} (unix seconds); the clock here reads {now}")]
    NotYetValid {
        nbf: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// `sub` is empty or longer than 128 characters.
    #[error("`sub` must be a user id of 1..={MAX_ID_CHARS} characters, not {chars}")]
    Subject {
        /// How many characters it has.
        chars: usize,
    },
}

impl AuthError {
    /// The `error` value of the `401` body: `missing_token`, `invalid_token`
    /// or `expired_token` (`invalid_secret` never reaches a client).
    ///
    /// ```
    /// use ws_harness::protocol::auth::AuthError;
    /// assert_eq!(AuthError::ExpiredToken.code(), "expired_token");
    /// ```
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::EmptySecret => "invalid_secret",
        }
    }
}

/// Signs and verifies HS256 tokens with one secret: HMAC-SHA256 from the
/// RustCrypto `hmac` and `sha2` crates, so no crypto backend of anyone
/// else's crates is chosen for them.
///
/// Verification is strict: the header's `alg` must be `HS256`, the
/// signature is compared in constant time, `exp` is required and `exp` and
/// `nbf` are held to the clock with 5 seconds of leeway.
#[derive(Clone)]
pub struct JwtAuth {
    key: Hmac<Sha256>,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth").finish_non_exhaustive()
    }
}

/// The part of a token's header that verification reads.
#[derive(Deserialize)]
struct Header {
    alg: String,
}

impl JwtAuth {
    /// Keys for `secret`.
    ///
    /// # Errors
    /// [`AuthError::EmptySecret`] when the secret is empty.
    pub fn new(secret: &str) -> Result<Self, AuthError> {
        if secret.is_empty() {
            return Err(AuthError::EmptySecret);
        }
        let key = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes a key of any length");
        Ok(Self { key })
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
            nbf: None,
        };
        Ok(self.sign(&claims))
    }

    /// Signs any claims as they are (tests use it for expired tokens).
    #[must_use]
    pub fn sign(&self, claims: &Claims) -> String {
        let claims = serde_json::to_vec(claims).expect("claims serialize");
        let mut token = format!("{HS256_HEADER}.{}", URL_SAFE_NO_PAD.encode(claims));
        let signature = self.mac(&token).finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// Checks a token: HS256 only, signed with this secret, not expired nor
    /// ahead of its `nbf`, with a `sub` of 1..=128 characters.
    ///
    /// # Errors
    /// [`AuthError::ExpiredToken`] or [`AuthError::InvalidToken`] saying why.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let invalid = AuthError::InvalidToken;
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(TokenProblem::NotThreeParts));
        };
        let alg = decode_json::<Header>("header", header)?.alg;
        if alg != "HS256" {
            return Err(invalid(TokenProblem::Algorithm { alg }));
        }
        let signature = decode("signature", "bytes", signature)?;
        let signed = &token[..header.len() + 1 + claims.len()];
        self.mac(signed)
            .verify_slice(&signature)
            .map_err(|_| invalid(TokenProblem::Signature))?;
        let claims: Claims = decode_json("claims", claims)?;
        let now = unix_now();
        if now > claims.exp.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(AuthError::ExpiredToken);
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(CLOCK_LEEWAY_SECS) < nbf
        {
            return Err(invalid(TokenProblem::NotYetValid { nbf, now }));
        }
        check_user_id(&claims.sub)?;
        Ok(claims)
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(signed.as_bytes());
        mac
    }
}

/// A base64url part of a token.
fn decode(part: &'static str, expected: &'static str, text: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| {
        AuthError::InvalidToken(TokenProblem::Undecodable {
            part,
            expected,
            reason: e.to_string(),
        })
    })
}

/// A base64url JSON part of a token.
fn decode_json<T: serde::de::DeserializeOwned>(
    part: &'static str,
    text: &str,
) -> Result<T, AuthError> {
    let bytes = decode(part, "JSON", text)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        AuthError::InvalidToken(TokenProblem::Undecodable {
            part,
            expected: "JSON",
            reason: e.to_string(),
        })
    })
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
/// use ws_harness::protocol::auth::bearer_request;
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
/// use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET, subject_of};
///
/// let token = JwtAuth::new(TEST_JWT_SECRET).unwrap().mint("alice", Duration::from_secs(60)).unwrap();
/// assert_eq!(subject_of(&token).as_deref(), Some("alice"));
/// assert_eq!(subject_of("opaque-token"), None);
/// ```
#[must_use]
pub fn subject_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = decode_json("claims", payload.trim_end_matches('=')).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Finds the token in a handshake's headers: the `Authorization` header
/// first, then the `jwt.<token>` subprotocol entry.
///
/// ```
/// use http::HeaderMap;
/// use ws_harness::protocol::auth::{token_from_headers, TokenSource};
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
            _ => Err(AuthError::InvalidToken(TokenProblem::NotBearer)),
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
/// use ws_harness::protocol::auth::offered_subprotocols;
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
        Err(AuthError::InvalidToken(TokenProblem::Subject { chars }))
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

    fn claims(sub: &str, exp: u64) -> Claims {
        Claims {
            sub: sub.into(),
            exp,
            iat: None,
            nbf: None,
        }
    }

    fn invalid(problem: TokenProblem) -> Result<Claims, AuthError> {
        Err(AuthError::InvalidToken(problem))
    }

    #[test]
    fn a_token_signed_elsewhere_with_the_same_secret_verifies() {
        // Made with Python's hmac and hashlib, an implementation of its own.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMCwiZXh0cmEiOiJrZXB0IG91dCJ9.z1nh2XVRC-ERpTuRc-pfihieiiCQ23BGe5xqDgR32Lg";
        let claims = JwtAuth::new("python-secret")
            .unwrap()
            .verify(token)
            .unwrap();
        assert_eq!((claims.sub.as_str(), claims.exp), ("alice", 4_102_444_800));
        assert_eq!(
            JwtAuth::new("other").unwrap().verify(token),
            invalid(TokenProblem::Signature)
        );
    }

    #[test]
    fn wrong_key_expired_and_bad_sub_are_rejected() {
        let auth = JwtAuth::new("one").unwrap();
        let other = JwtAuth::new("two").unwrap();
        let token = other.mint("alice", Duration::from_secs(60)).unwrap();
        assert_eq!(auth.verify(&token), invalid(TokenProblem::Signature));
        let expired = auth.sign(&claims("alice", unix_now() - 10));
        assert_eq!(auth.verify(&expired), Err(AuthError::ExpiredToken));
        // Within the leeway, a token that just expired still passes.
        let just_expired = auth.sign(&claims("alice", unix_now() - 1));
        assert!(auth.verify(&just_expired).is_ok());
        let long = auth.sign(&claims(&"x".repeat(129), unix_now() + 60));
        assert_eq!(
            auth.verify(&long),
            invalid(TokenProblem::Subject { chars: 129 })
        );
        assert!(auth.mint("", Duration::from_secs(60)).is_err());
        assert_eq!(JwtAuth::new("").unwrap_err(), AuthError::EmptySecret);
    }

    #[test]
    fn the_algorithm_the_shape_and_the_signature_are_checked() {
        let auth = JwtAuth::new("one").unwrap();
        let token = auth.mint("alice", Duration::from_secs(60)).unwrap();
        let (signed, _) = token.rsplit_once('.').unwrap();
        let (_, claims_part) = signed.split_once('.').unwrap();
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            auth.verify(&format!("{none}.{claims_part}.")),
            invalid(TokenProblem::Algorithm { alg: "none".into() })
        );
        let hs512 = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512"}"#);
        assert_eq!(
            auth.verify(&format!("{hs512}.{claims_part}.x")),
            invalid(TokenProblem::Algorithm {
                alg: "HS512".into()
            })
        );
        // Claims swapped for another user's under the same signature.
        let bob =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("bob", unix_now() + 60)).unwrap());
        let forged = format!("{HS256_HEADER}.{bob}.{}", token.rsplit('.').next().unwrap());
        assert_eq!(auth.verify(&forged), invalid(TokenProblem::Signature));
        assert_eq!(auth.verify(signed), invalid(TokenProblem::NotThreeParts));
        assert_eq!(
            auth.verify(&format!("{token}.more")),
            invalid(TokenProblem::NotThreeParts)
        );
        assert!(matches!(
            auth.verify(&format!("{signed}.!!")),
            Err(AuthError::InvalidToken(TokenProblem::Undecodable {
                part: "signature",
                ..
            }))
        ));
        assert!(matches!(
            auth.verify("e30.e30.sig"),
            Err(AuthError::InvalidToken(TokenProblem::Undecodable {
                part: "header",
                ..
            }))
        ));
    }

    #[test]
    fn not_before_is_held_to_the_clock() {
        let auth = JwtAuth::new("one").unwrap();
        let now = unix_now();
        let early = Claims {
            nbf: Some(now + 60),
            ..claims("alice", now + 120)
        };
        assert!(matches!(
            auth.verify(&auth.sign(&early)),
            Err(AuthError::InvalidToken(TokenProblem::NotYetValid { nbf, .. })) if nbf == now + 60
        ));
        let started = Claims {
            nbf: Some(now),
            ..claims("alice", now + 120)
        };
        assert_eq!(auth.verify(&auth.sign(&started)).unwrap(), started);
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
        assert_eq!(
            token_from_headers(&headers),
            Err(AuthError::InvalidToken(TokenProblem::NotBearer))
        );
        assert_eq!(
            token_from_headers(&HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
    }
}
