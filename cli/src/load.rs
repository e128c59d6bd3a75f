//! `ws-harness load`: many users and runs against a started or given server.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use ws_harness::chain::Resolution;
use ws_harness::faults::FaultProxy;
use ws_harness::load::LoadPlan;
use ws_harness::process::ServerProcess;
use ws_harness::{Access, BackendInfo, RealWebSocketTestConfig};

/// The flags of `ws-harness load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// Users, each with its own connection.
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// The users are PREFIX-0, PREFIX-1, ...; another prefix, other users.
    #[arg(long, default_value = "load", value_name = "PREFIX")]
    user_prefix: String,
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
}

/// Runs the load (starting a server unless given a URL) and prints its
/// report; `Ok(passed)`.
pub(crate) async fn run(args: LoadArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let config = RealWebSocketTestConfig::builder().build()?;
    // A given server takes the configured access (token, headers, TLS);
    // the one started here runs in test mode and checks the test secret.
    let (server, url, access) = match args.url {
        Some(url) => {
            let access = Access::configured(&config, &url).await?;
            (None, url, access)
        }
        None => {
            let server = ServerProcess::serve_for_load(&std::env::current_exe()?, &[])?;
            let url = server.url();
            (Some(server), url, Access::test())
        }
    };
    // The `faults.*` settings' proxy, in front of the server until the
    // load ends.
    let given = BackendInfo {
        tier: None,
        url: url.clone(),
        reason: "the server ws-harness load runs against".to_owned(),
        resolution: Resolution::default(),
        container: None,
        access,
    };
    let proxy = FaultProxy::configured(&config, &given).await?;
    let access = proxy.as_ref().map_or(given.access, |p| p.backend().access);
    let contract = config.load_contract()?;
    let plan = LoadPlan {
        url,
        users: args.users,
        user_prefix: args.user_prefix,
        runs: args.runs,
        concurrency: args.concurrency.unwrap_or(args.users.min(256)),
        server_pid: server.as_ref().map(ServerProcess::pid),
        access,
        contract,
    };
    // A progress bar on a terminal only.
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new((plan.users * plan.runs) as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs {per_sec} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let on_run = {
        let bar = bar.clone();
        move || bar.inc(1)
    };
    let report = ws_harness::load::run_with_progress(&config, &plan, on_run).await;
    bar.finish_and_clear();
    drop(server);
    let through = plan.access.proxy.as_ref().map(ToString::to_string);
    if args.json {
        let mut json = report.to_json();
        json["fault_proxy"] = through.into();
        println!("{json}");
    } else {
        if let Some(through) = through {
            println!("clients connect {through}");
        }
        println!("{}", report.render());
    }
    Ok(report.passed())
}
