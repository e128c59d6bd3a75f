//! The `ws-harness` command line: `serve` the reference server, `check` a
//! service's golden path for many users, `load` it with many users and runs,
//! build the reference `image`.

mod check;
mod load;
mod serve;

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: a load's users hold frames across
/// awaits and free them on another worker thread, which glibc's malloc
/// serves slowly (`bash bench/run`, figure 13).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Tests that talk to a real WebSocket service, and the reference server they talk to.
#[derive(Debug, Parser)]
#[command(name = "ws-harness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the reference WebSocket server of PROTOCOL.md.
    Serve(serve::ServeArgs),
    /// Many users at once, each on its own connection running a scenario
    /// (the reference golden path, or --scenario FILE) over and over:
    /// latency percentiles per run and per step, throughput, errors, and
    /// the memory of a server it started; `load merge` adds up the
    /// reports of several machines.
    ///
    /// Without --url it starts `ws-harness serve --test-mode` as a separate
    /// process (rate limits lifted) and measures that process.
    Load(load::LoadArgs),
    /// Run a scenario (the reference golden path, or --scenario FILE) for
    /// many users at once against a server, and report: exit 0 only when
    /// every user took every step and no frame broke the contract.
    ///
    /// Settings come from ws-harness.toml and WS_HARNESS_* (see docs/settings.md);
    /// the flags here win over both.
    Check(check::CheckArgs),
    /// Build the reference server's container image unless the Docker
    /// engine has it, and print its name (the container tier does this
    /// itself on first use).
    Image,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` and `load` print their report on stdout; their logs stay quiet unless asked for.
    let default_level = match cli.command {
        Command::Check(_) | Command::Load(_) => "warn",
        Command::Serve(_) | Command::Image => "info",
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
    match cli.command {
        Command::Serve(args) => match runtime.block_on(serve::run(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
        Command::Load(args) => verdict(runtime.block_on(load::run(args))),
        Command::Check(args) => verdict(runtime.block_on(check::run(args))),
        Command::Image => {
            let image = ws_harness::RealWebSocketTestConfig::from_env()
                .map_err(Box::<dyn std::error::Error>::from)
                .and_then(|config| {
                    runtime
                        .block_on(ws_harness::container::reference_image(&config))
                        .map_err(Into::into)
                });
            match image {
                Ok(image) => {
                    println!("{image}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    let mut text = error.to_string();
                    let mut source = error.source();
                    while let Some(cause) = source {
                        text = format!("{text}: {cause}");
                        source = cause.source();
                    }
                    eprintln!("error: {text}");
                    ExitCode::from(2)
                }
            }
        }
    }
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
