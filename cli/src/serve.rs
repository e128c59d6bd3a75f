//! `ws-harness serve`: the reference server as a process.

use std::net::SocketAddr;
use std::time::Duration;
use ws_harness::server::{Server, ServerConfig, ServerError};

/// The flags of `ws-harness serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
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
    /// Exit when stdin closes: a server started by another process (as
    /// `ws-harness load` starts one) goes with it, even when that process
    /// is killed.
    #[arg(long, hide = true)]
    until_stdin_closes: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Serves until Ctrl-C or SIGTERM; prints `listening on HOST:PORT` first.
pub(crate) async fn run(args: ServeArgs) -> Result<(), ServerError> {
    let mut config = ServerConfig {
        jwt_secret: args.jwt_secret,
        test_mode: args.test_mode,
        echo: args.echo,
        idle_exit: args.idle_exit,
        ..ServerConfig::test_mode()
    };
    args.limits.apply(&mut config);
    let server = Server::new(config)?;
    let listen = args.listen;
    let listen_error = |source| ServerError::Listen {
        addr: listen.to_string(),
        source,
    };
    let listener = ws_harness::server::bind(listen).map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    println!("{}{local}", ws_harness::protocol::LISTENING_ON);
    let until_stdin_closes = args.until_stdin_closes;
    let shutdown = async move {
        if until_stdin_closes {
            tokio::select! {
                () = ws_harness::server::shutdown_signal() => {}
                () = stdin_closed() => tracing::info!("stdin closed: shutting down"),
            }
        } else {
            ws_harness::server::shutdown_signal().await;
        }
    };
    server.serve(listener, shutdown).await
}

/// Resolves when stdin reaches its end: the process that holds its other
/// end closed it or died. Read on a thread of its own, which does not keep
/// the process alive at exit (tokio's stdin would hold the runtime's
/// shutdown until the read ends).
async fn stdin_closed() {
    let (closed, wait) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let _ = wait.await;
}

/// Limits a deployment may want to change; the rest keep `Limits::default()`.
#[derive(Debug, clap::Args)]
pub(crate) struct LimitArgs {
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
    /// How long a user with no connection keeps its replay buffer; later a `resume` gets replay_gap [default: 10m].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    replay_ttl: Option<Duration>,
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
        set(&mut limits.replay_ttl, self.replay_ttl);
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
