//! The reference image's entry point: the server configured by environment
//! variables, the way a container is configured.

use super::{Server, ServerConfig, ServerError};
use crate::protocol::LISTENING_ON;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// The address to listen on; default `0.0.0.0:8765`.
pub const LISTEN_VAR: &str = "WS_HARNESS_SERVER_LISTEN";
/// `true` for test mode (the published test secret, `scenario`); default `false`.
pub const TEST_MODE_VAR: &str = "WS_HARNESS_SERVER_TEST_MODE";
/// Stop after no WebSocket has been open this long, e.g. `60s`; default: never.
pub const IDLE_EXIT_VAR: &str = "WS_HARNESS_SERVER_IDLE_EXIT";
/// The HS256 secret (the same variable `ws-harness serve` reads).
pub const SECRET_VAR: &str = "WS_JWT_SECRET";

/// The address the image listens on unless [`LISTEN_VAR`] says otherwise.
pub const IMAGE_LISTEN: &str = "0.0.0.0:8765";

/// Runs the reference server as the image does: settings from
/// [`LISTEN_VAR`], [`TEST_MODE_VAR`], [`IDLE_EXIT_VAR`] and [`SECRET_VAR`];
/// prints `listening on HOST:PORT`, serves until SIGTERM or Ctrl-C.
/// Returns a failing exit code, with the reason on stderr, for a bad
/// setting or a port that cannot be bound.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     ws_harness::server::run_from_env()
/// }
/// ```
#[must_use]
pub fn run_from_env() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start a tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_from_env(&|name| std::env::var(name).ok())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve_from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<(), ServerError> {
    let setting = |name: &'static str, expected: &'static str| {
        move |value: &str| ServerError::Setting {
            var: name,
            value: value.to_owned(),
            expected,
        }
    };
    let listen = var(LISTEN_VAR).unwrap_or_else(|| IMAGE_LISTEN.to_owned());
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| setting(LISTEN_VAR, "an address such as 0.0.0.0:8765")(&listen))?;
    let test_mode = match var(TEST_MODE_VAR).as_deref() {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(other) => return Err(setting(TEST_MODE_VAR, "true or false")(other)),
    };
    let idle_exit = match var(IDLE_EXIT_VAR).filter(|v| !v.is_empty()) {
        None => None,
        Some(text) => Some(
            humantime::parse_duration(&text)
                .ok()
                .filter(|d| *d >= Duration::from_millis(4))
                .ok_or_else(|| setting(IDLE_EXIT_VAR, "a duration such as 60s")(&text))?,
        ),
    };
    let config = ServerConfig {
        jwt_secret: var(SECRET_VAR).filter(|s| !s.is_empty()),
        test_mode,
        idle_exit,
        ..ServerConfig::test_mode()
    };
    let server = Server::new(config)?;
    let listen_error = |source| ServerError::Listen {
        addr: listen.to_string(),
        source,
    };
    let listener = super::bind(listen).map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    println!("{LISTENING_ON}{local}");
    server.serve(listener, shutdown_signal()).await
}

/// Completes on Ctrl-C, or on SIGTERM where there is one (`docker stop`; a
/// container's first process gets no default handler for it).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn error_for(vars: &[(&str, &str)]) -> String {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        serve_from_env(&lookup).await.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn bad_settings_name_the_variable_the_value_and_a_good_one() {
        let e = error_for(&[(LISTEN_VAR, "nowhere")]).await;
        assert_eq!(
            e,
            "WS_HARNESS_SERVER_LISTEN is \"nowhere\"; expected an address such as 0.0.0.0:8765"
        );
        let e = error_for(&[(TEST_MODE_VAR, "yes")]).await;
        assert_eq!(
            e,
            "WS_HARNESS_SERVER_TEST_MODE is \"yes\"; expected true or false"
        );
        let e = error_for(&[(IDLE_EXIT_VAR, "soon")]).await;
        assert_eq!(
            e,
            "WS_HARNESS_SERVER_IDLE_EXIT is \"soon\"; expected a duration such as 60s"
        );
        let e = error_for(&[(LISTEN_VAR, "127.0.0.1:0")]).await;
        assert!(e.starts_with("no JWT secret"), "{e}");
    }
}
