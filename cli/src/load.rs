//! `ws-harness load`: many users and runs of a scenario against a started
//! or given server; `load merge`: the reports of several machines as one.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use ws_harness::chain::Resolution;
use ws_harness::faults::FaultProxy;
use ws_harness::load::{LoadPlan, LoadReport};
use ws_harness::process::ServerProcess;
use ws_harness::scenario::ScenarioFile;
use ws_harness::{Access, BackendInfo, RealWebSocketTestConfig, TestClientFactory};

/// The flags of `ws-harness load`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct LoadArgs {
    #[command(subcommand)]
    merge: Option<Merge>,
    /// Users, each with its own connection [default: the scenario's
    /// `[users] count`, else 10].
    #[arg(long)]
    users: Option<usize>,
    /// The users are PREFIX-1, PREFIX-2, ...; another prefix, other users
    /// [default: the scenario's `[users] prefix`, else load].
    #[arg(long, value_name = "PREFIX")]
    user_prefix: Option<String>,
    /// Scenario runs per user.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Connections opened at once [default: users, at most 256].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Run this scenario file instead of the reference golden path
    /// (docs/scenarios.md).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Load the server at this ws:// or wss:// URL instead of starting one.
    #[arg(long)]
    url: Option<url::Url>,
    /// Also write the report with its HDR histograms to FILE, for
    /// `ws-harness load merge`.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Merge {
    /// Merge the reports (`load --report FILE`) of one load run on several
    /// machines at once: counts add up, histograms merge.
    Merge {
        /// The report files.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Print the merged report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the load (starting a server unless given a URL), or merges
/// reports, and prints the report; `Ok(passed)`.
pub(crate) async fn run(args: LoadArgs) -> Result<bool, Box<dyn std::error::Error>> {
    if let Some(Merge::Merge { files, json }) = args.merge {
        let mut report = LoadReport::from_file(&files[0])?;
        for file in &files[1..] {
            report.merge(file)?;
        }
        print(&report, None, json);
        return Ok(report.passed());
    }
    let scenario = match &args.scenario {
        Some(path) => ScenarioFile::from_file(path)?,
        None => ScenarioFile::golden_path(),
    };
    let users = args.users.or(scenario.users).unwrap_or(10);
    scenario.check_users(users)?;
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
    let given = BackendInfo {
        tier: None,
        url,
        reason: "the server ws-harness load runs against".to_owned(),
        resolution: Resolution::default(),
        container: None,
        access,
    };
    // The `faults.*` settings' proxy, in front of the server until the
    // load ends.
    let proxy = FaultProxy::configured(&config, &given).await?;
    let backend = proxy.as_ref().map_or(given, FaultProxy::backend);
    let through = backend.access.proxy.as_ref().map(ToString::to_string);
    let factory = TestClientFactory::new(config, backend)?;
    let plan = LoadPlan {
        user_prefix: (args.user_prefix.or_else(|| scenario.user_prefix.clone()))
            .unwrap_or_else(|| "load".to_owned()),
        scenario,
        users,
        runs: args.runs,
        concurrency: args.concurrency.unwrap_or(users.min(256)),
        server_pid: server.as_ref().map(ServerProcess::pid),
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
    let report = ws_harness::load::run_with_progress(&factory, &plan, on_run).await;
    bar.finish_and_clear();
    drop(server);
    if let Some(path) = &args.report {
        report.to_file(path)?;
    }
    print(&report, through, args.json);
    Ok(report.passed())
}

fn print(report: &LoadReport, through: Option<String>, json: bool) {
    if json {
        let mut json = report.to_json();
        json["fault_proxy"] = through.into();
        println!("{json}");
    } else {
        if let Some(through) = through {
            println!("clients connect {through}");
        }
        println!("{}", report.render());
    }
}
