//! `ws-harness check`: a scenario (the reference golden path by default)
//! for many users against the backend the settings choose, and its report.

use std::path::PathBuf;
use ws_harness::RealWebSocketTestConfig;
use ws_harness::scenario::ScenarioFile;

/// The flags of `ws-harness check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// Test the server at this ws:// or wss:// URL instead of the built-in one.
    #[arg(long)]
    url: Option<url::Url>,
    /// How many users run at once [default: the scenario's `[users] count`,
    /// else concurrent_connections, 10].
    #[arg(long)]
    users: Option<usize>,
    /// Run this scenario file instead of the reference golden path
    /// (docs/scenarios.md).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the check and prints its report; `Ok(passed)`.
pub(crate) async fn run(args: CheckArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let mut builder = RealWebSocketTestConfig::builder();
    if let Some(url) = args.url {
        builder = builder.url(url);
    }
    let mut scenario = match &args.scenario {
        Some(path) => ScenarioFile::from_file(path)?,
        None => ScenarioFile::golden_path(),
    };
    if let Some(users) = args.users {
        builder = builder.concurrent_connections(users);
        scenario.users = Some(users);
    }
    let report = ws_harness::scenario::check(builder.build()?, &scenario).await?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.render());
    }
    Ok(report.passed())
}
