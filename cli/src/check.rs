//! `ws-harness check`: the golden path for many users against the backend
//! the settings choose, and its report.

use ws_harness::RealWebSocketTestConfig;

/// The flags of `ws-harness check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// Test the server at this ws:// or wss:// URL instead of the built-in one.
    #[arg(long)]
    url: Option<url::Url>,
    /// How many users run at once [default: concurrent_connections, 10].
    #[arg(long)]
    users: Option<usize>,
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
    if let Some(users) = args.users {
        builder = builder.concurrent_connections(users);
    }
    let report = ws_harness::check::check(builder.build()?).await?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.render());
    }
    Ok(report.passed())
}
