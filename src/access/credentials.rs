//! How the clients of a backend authenticate. Credentials belong to their
//! tier: the in-process server and the reference container check the
//! published test secret, whatever is configured for staging; staging, a
//! `url` and the team's own service get the configured secret or token.
//! So whatever tier the chain falls to, the factory's clients authenticate
//! against it.

use crate::config::{ConfigSource, ConfiguredToken, RealWebSocketTestConfig};
use crate::protocol::auth::{AuthError, JwtAuth, TEST_JWT_SECRET};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the clients of a backend authenticate. Its `Debug` and `Display`
/// name the kind, never the secret or the token.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
/// use ws_harness::access::Credentials;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .jwt_secret("staging-secret")
///     .build()
///     .unwrap();
/// let credentials = Credentials::configured(&config).await.unwrap();
/// assert_eq!(credentials.to_string(), "tokens minted with the configured jwt_secret");
/// assert!(!format!("{credentials:?}").contains("staging-secret"));
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum Credentials {
    /// Tokens minted per user with the published test secret.
    TestSecret,
    /// Tokens minted per user with the configured `jwt_secret`.
    ConfiguredSecret(String),
    /// One token for every client, from the setting `key` (`token`,
    /// `token_file` or `token_command`).
    Token {
        token: String,
        /// The setting it came from.
        key: &'static str,
    },
}

/// How long `token_command` may take.
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the configured token could not be had. Never shows a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum TokenError {
    /// `token_file` cannot be read.
    #[error(
        "cannot read token_file {path} (set in {origin}); check the path (in ws-harness.toml it is relative to the file's directory, elsewhere to the current directory) and that the file is readable, or give the token with `token` or `token_command`"
    )]
    File {
        /// The file.
        path: PathBuf,
        /// Where `token_file` was set ([`ConfigSource::Code`] when
        /// [`ConfiguredToken::fetch`] is called directly).
        origin: ConfigSource,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file or the command gave nothing.
    #[error("{key} gave an empty token ({what}); it must print or hold the token")]
    Empty {
        /// The setting.
        key: &'static str,
        /// The file or the command.
        what: String,
    },
    /// `token_command` cannot be started.
    #[error(
        "token_command `{command}` cannot be run: its shell (`sh -c`, `cmd /C` on Windows) did not start"
    )]
    CannotRun {
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `token_command` failed.
    #[error(
        "token_command `{command}` failed ({status}); its stderr: {stderr}; run it by hand to see why (a CLI that needs a login first?)"
    )]
    Failed {
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it wrote on stderr, trimmed.
        stderr: String,
    },
    /// `token_command` did not finish in time (it was killed).
    #[error(
        "token_command `{command}` did not finish within {after:?} and was killed with what it started; a command that waits (for a browser login, say) never ends here: log in first, or use `token_file`"
    )]
    TimedOut {
        command: String,
        /// The limit.
        after: Duration,
    },
    /// The file or the command's output is not UTF-8.
    #[error(
        "{key} gave a token that is not UTF-8 ({what}); it must print or hold the token as text"
    )]
    NotUtf8 {
        /// The setting.
        key: &'static str,
        /// The file or the command.
        what: String,
    },
}

impl ConfiguredToken {
    /// The token: the value, the file's contents or the command's output,
    /// trimmed.
    ///
    /// # Errors
    /// [`TokenError`]: the file cannot be read, the command fails (with its
    /// stderr) or takes too long, or the token is empty.
    pub async fn fetch(&self) -> Result<String, TokenError> {
        let key = self.key();
        let (bytes, what) = match self {
            Self::Value(token) => return Ok(token.clone()),
            Self::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|source| TokenError::File {
                        path: path.clone(),
                        origin: ConfigSource::Code,
                        source,
                    })?;
                (bytes, path.display().to_string())
            }
            Self::Command(command) => (run(command).await?, format!("`{command}`")),
        };
        let text = String::from_utf8(bytes).map_err(|_| TokenError::NotUtf8 {
            key,
            what: what.clone(),
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::Empty { key, what });
        }
        Ok(token.to_owned())
    }
}

/// Runs `command` by the platform's shell within [`TOKEN_COMMAND_TIMEOUT`]:
/// its stdout.
async fn run(command: &str) -> Result<Vec<u8>, TokenError> {
    run_within(command, TOKEN_COMMAND_TIMEOUT).await
}

/// Runs `command` by the platform's shell, in a process group of its own
/// (a job object on Windows), and returns its stdout. Past `bound` the
/// whole group is killed: the shell and whatever it started.
async fn run_within(command: &str, bound: Duration) -> Result<Vec<u8>, TokenError> {
    use process_wrap::tokio::{CommandWrap, KillOnDrop};
    use tokio::io::AsyncReadExt as _;
    let mut shell = if cfg!(windows) {
        CommandWrap::with_new("cmd", |shell| {
            shell.arg("/C");
        })
    } else {
        CommandWrap::with_new("sh", |shell| {
            shell.arg("-c");
        })
    };
    shell.command_mut().arg(command);
    shell
        .command_mut()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    #[cfg(unix)]
    shell.wrap(process_wrap::tokio::ProcessGroup::leader());
    #[cfg(windows)]
    shell.wrap(process_wrap::tokio::JobObject);
    shell.wrap(KillOnDrop);
    let cannot_run = |source| TokenError::CannotRun {
        command: command.to_owned(),
        source,
    };
    let mut child = shell.spawn().map_err(cannot_run)?;
    let (mut stdout, mut stderr) = (child.stdout().take(), child.stderr().take());
    async fn read_all(
        pipe: Option<&mut (impl tokio::io::AsyncRead + Unpin)>,
    ) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            pipe.read_to_end(&mut bytes).await?;
        }
        Ok(bytes)
    }
    let finished = tokio::time::timeout(bound, async {
        tokio::try_join!(
            child.wait(),
            read_all(stdout.as_mut()),
            read_all(stderr.as_mut())
        )
    })
    .await;
    let Ok(finished) = finished else {
        // The whole group: a `sleep` the shell started dies with it.
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(TokenError::TimedOut {
            command: command.to_owned(),
            after: bound,
        });
    };
    let (status, stdout, stderr) = finished.map_err(cannot_run)?;
    if !status.success() {
        return Err(TokenError::Failed {
            command: command.to_owned(),
            status,
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
        });
    }
    Ok(stdout)
}

impl Credentials {
    /// What the config sets for its own tiers (staging, a `url`, the team's
    /// service): its token, fetched now from its source, else its
    /// `jwt_secret` (the test secret when none is set).
    ///
    /// # Errors
    /// [`TokenError`] when the token's file or command fails.
    pub async fn configured(config: &RealWebSocketTestConfig) -> Result<Self, TokenError> {
        Ok(match &config.token {
            Some(source) => Self::Token {
                token: source.fetch().await.map_err(|mut error| {
                    if let TokenError::File { origin, .. } = &mut error {
                        *origin = config.source_of(source.key());
                    }
                    error
                })?,
                key: source.key(),
            },
            None => Self::secret(&config.jwt_secret),
        })
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
            Self::Token { token, .. } => Minter::Fixed(token.clone()),
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
            Self::Token { key, .. } => return write!(f, "the token from {key}"),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TestSecret => "TestSecret",
            Self::ConfiguredSecret(_) => "ConfiguredSecret(<redacted>)",
            Self::Token { key, .. } => {
                return write!(f, "Token {{ key: {key:?}, token: <redacted> }}");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether process `pid` still runs (a zombie counts as gone).
    #[cfg(target_os = "linux")]
    fn runs(pid: &str) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !stat.is_empty() && !stat.contains(") Z ")
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_command_past_its_bound_is_killed_with_what_it_started() {
        let pid_file =
            std::env::temp_dir().join(format!("ws-harness-sleep-{}", std::process::id()));
        let command = format!("sleep 1000 & echo $! > {}; wait", pid_file.display());
        let bound = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let error = run_within(&command, bound).await.unwrap_err();
        assert!(matches!(error, TokenError::TimedOut { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let sleep = std::fs::read_to_string(&pid_file).unwrap();
        let sleep = sleep.trim();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while runs(sleep) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            !runs(sleep),
            "the shell's `sleep` ({sleep}) outlived the bound"
        );
        std::fs::remove_file(pid_file).unwrap();
    }

    #[tokio::test]
    async fn a_command_within_its_bound_gives_its_stdout_or_its_stderr() {
        let out = run_within("echo tok", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim(), "tok");
        // The platform's shell: `sh -c`, or `cmd /C` on Windows.
        let failing = if cfg!(windows) {
            "echo nope 1>&2 & exit /b 3"
        } else {
            "echo nope >&2; exit 3"
        };
        let failed = run_within(failing, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(&failed, TokenError::Failed { stderr, .. } if stderr == "nope"),
            "{failed}"
        );
    }
}
