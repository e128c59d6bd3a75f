//! The `ws-harness` command line.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use ws_harness::harness::RealWebSocketTestConfig;
use ws_harness::server::{Server, ServerConfig, ServerError};

/// Tests that talk to a real WebSocket service, and the reference server they talk to.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the reference WebSocket server of PROTOCOL.md.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: SocketAddr,
        /// HS256 secret that tokens are signed with.
        #[arg(long, env = "WS_JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
        /// Accept `scenario` in user messages, and use the published test
        /// secret when no secret is given.
        #[arg(long)]
        test_mode: bool,
        /// Serve an unauthenticated echo endpoint on every path but /health
        /// and /metrics, for protocol conformance runs.
        #[arg(long)]
        echo: bool,
        /// Exit after no WebSocket has been open for this long (e.g. 60s); the
        /// container image uses it so an unused container removes itself.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        idle_exit: Option<Duration>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Many users at once, each on its own connection running golden-path
    /// runs one after another: latency percentiles, throughput, errors, and
    /// the memory of a server it started.
    ///
    /// Without --url it starts `ws-harness serve --test-mode` as a separate
    /// process (rate limits lifted) and measures that process.
    Load {
        /// Users, each with its own connection.
        #[arg(long, default_value_t = 10)]
        users: usize,
        /// Golden-path runs per user.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Connections opened at once [default: users, at most 256].
        #[arg(long)]
        concurrency: Option<usize>,
        /// Load the server at this ws:// URL instead of starting one.
        #[arg(long)]
        url: Option<url::Url>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run the golden path for many users at once against a server, and
    /// report: exit 0 only when every user got every required event in order.
    ///
    /// Settings come from ws-harness.toml and WS_HARNESS_* (see the README);
    /// the flags here win over both.
    Check {
        /// Test the server at this ws:// or wss:// URL instead of the built-in one.
        #[arg(long)]
        url: Option<url::Url>,
        /// How many users run at once [default: concurrent_connections, 10].
        #[arg(long)]
        users: Option<usize>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Limits a deployment may want to change; the rest keep `Limits::default()`.
#[derive(Debug, Args)]
struct LimitArgs {
    /// Drop a client that has not sent its whole handshake after this long [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    handshake_timeout: Option<Duration>,
    /// Drop a client that blocks one write for this long [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    write_timeout: Option<Duration>,
    /// Largest incoming frame or message in bytes; larger ones close with 1009 [default: 262144].
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<usize>,
    /// Events kept per user for `resume` [default: 1000].
    #[arg(long, value_name = "EVENTS")]
    replay_buffer: Option<usize>,
    /// Client frames per second per user, sustained [default: 100].
    #[arg(long, value_name = "PER_SECOND")]
    message_rate: Option<u32>,
    /// Client frames a user may send at once [default: 200].
    #[arg(long, value_name = "FRAMES")]
    message_burst: Option<u32>,
    /// Connection attempts per second per user, sustained [default: 10].
    #[arg(long, value_name = "PER_SECOND")]
    connection_rate: Option<u32>,
    /// Connection attempts a user may make at once [default: 20].
    #[arg(long, value_name = "ATTEMPTS")]
    connection_burst: Option<u32>,
}

impl LimitArgs {
    /// Overrides the limits given on the command line.
    fn apply(self, config: &mut ServerConfig) {
        let (limits, rates) = (&mut config.limits, &mut config.rate_limits);
        set(&mut limits.handshake_timeout, self.handshake_timeout);
        set(&mut limits.write_timeout, self.write_timeout);
        set(&mut limits.max_message_size, self.max_message_size);
        set(&mut limits.max_frame_size, self.max_message_size);
        set(&mut limits.replay_buffer, self.replay_buffer);
        set(&mut rates.messages_per_second, self.message_rate);
        set(&mut rates.message_burst, self.message_burst);
        set(&mut rates.connections_per_second, self.connection_rate);
        set(&mut rates.connection_burst, self.connection_burst);
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` prints its report on stdout; its logs stay quiet unless asked for.
    let default_level = match cli.command {
        Command::Check { .. } | Command::Load { .. } => "warn",
        Command::Serve { .. } => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve {
            listen,
            jwt_secret,
            test_mode,
            echo,
            idle_exit,
            limits,
        } => {
            let mut config = ServerConfig {
                jwt_secret,
                test_mode,
                echo,
                idle_exit,
                ..ServerConfig::test_mode()
            };
            limits.apply(&mut config);
            runtime.block_on(serve(listen, config))
        }
        Command::Load {
            users,
            runs,
            concurrency,
            url,
            json,
        } => {
            let concurrency = concurrency.unwrap_or(users.min(256));
            return verdict(runtime.block_on(load(users, runs, concurrency, url, json)));
        }
        Command::Check { url, users, json } => {
            return verdict(runtime.block_on(check(url, users, json)));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn serve(listen: SocketAddr, config: ServerConfig) -> Result<(), ServerError> {
    let server = Server::new(config)?;
    let listener = ws_harness::server::bind(listen).map_err(|source| ServerError::Listen {
        addr: listen.to_string(),
        source,
    })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: listen.to_string(),
            source,
        })?;
    println!("listening on {local}");
    server.serve(listener, shutdown_signal()).await
}

/// Exit code 0 when the run passed, 1 when it did not, 2 when it could not run.
fn verdict(result: Result<bool, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Runs `load` (starting a server unless given a URL) and prints its report;
/// `Ok(passed)`.
async fn load(
    users: usize,
    runs: usize,
    concurrency: usize,
    url: Option<url::Url>,
    json: bool,
) -> Result<bool, Box<dyn std::error::Error>> {
    use std::io::IsTerminal;
    let config = RealWebSocketTestConfig::builder().build()?;
    let (server, url) = match url {
        Some(url) => (None, url),
        None => {
            let server =
                ws_harness::load::ServerProcess::serve_for_load(&std::env::current_exe()?)?;
            let url = server.url();
            (Some(server), url)
        }
    };
    let plan = ws_harness::load::LoadPlan {
        url,
        users,
        runs,
        concurrency,
        progress: std::io::stderr().is_terminal(),
        server_pid: server.as_ref().map(ws_harness::load::ServerProcess::pid),
    };
    let report = ws_harness::load::run(&config, &plan).await;
    drop(server);
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.render());
    }
    Ok(report.passed())
}

/// Runs `check` and prints its report; `Ok(passed)`.
async fn check(
    url: Option<url::Url>,
    users: Option<usize>,
    json: bool,
) -> Result<bool, Box<dyn std::error::Error>> {
    let mut builder = RealWebSocketTestConfig::builder();
    if let Some(url) = url {
        builder = builder.url(url);
    }
    if let Some(users) = users {
        builder = builder.concurrent_connections(users);
    }
    let report = ws_harness::check::check(builder.build()?).await?;
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.render());
    }
    Ok(report.passed())
}

/// Completes on Ctrl-C, or on SIGTERM where there is one (`docker stop`).
async fn shutdown_signal() {
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
