//! The benchmark suite: `bash bench/run` (or `cargo bench --bench suite`).
//!
//! Measures, in one run on one machine, the reference server and the harness
//! beside two baselines, the floor and the Python peer, and writes
//! `bench/results/*.json`, `bench/results/throughput.svg` and `BENCHMARKS.md`.
//! See `bench/README.md`.

mod bare;
mod costs;
mod fault_proxy;
mod figures;
mod flood;
mod floor;
mod peers;
mod report;
// Certificates made at run time and the relays, shared with the tests.
#[path = "../../tests/common/tls.rs"]
#[allow(dead_code, unreachable_pub)]
mod tls_support;

use clap::{Parser, Subcommand};
use figures::{Bench, Sizes};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(about = "The ws-harness benchmark suite")]
struct Args {
    #[command(subcommand)]
    command: Option<Step>,
    /// Smaller counts, to check that the suite works; writes under
    /// target/bench-quick unless told otherwise.
    #[arg(long)]
    quick: bool,
    /// The Python interpreter that has the peer's packages
    /// (bench/peers/requirements.txt); bench/run makes one [default:
    /// target/bench-venv/bin/python in the repository].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Where the JSON results and the plot go [default: bench/results, or
    /// target/bench-quick with --quick].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the report goes [default: BENCHMARKS.md, or
    /// target/bench-quick/BENCHMARKS.md with --quick].
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Only these figures (startup, latency, throughput, connections,
    /// client_overhead, tls, churn, heap, instructions, flood, fault_proxy),
    /// printed as JSON;
    /// nothing is written and no target is judged.
    #[arg(long, value_delimiter = ',', value_name = "FIGURE")]
    only: Vec<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Subcommand)]
enum Step {
    /// Serve the floor (used by the suite itself).
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Exit after serving this many connections to their end.
        #[arg(long)]
        connections: Option<usize>,
    },
    /// Golden-path runs with one client, then exit (used by the suite
    /// itself, under callgrind).
    Client {
        /// The server's ws:// URL (test mode: tokens of the test secret).
        #[arg(long)]
        url: url::Url,
        /// bare, harness-none or harness-reference.
        #[arg(long)]
        kind: costs::ClientKind,
        #[arg(long)]
        runs: usize,
    },
    /// One wait of the harness's client against a flooding server, then
    /// its figures as JSON (used by the suite itself, figure 11).
    FloodClient {
        /// The flooding server's ws:// URL.
        #[arg(long)]
        url: url::Url,
        #[arg(long)]
        wait: flood::Wait,
    },
    /// Start one backend and print how long until ready, as JSON (used by the suite itself).
    Probe {
        /// in-process, floor, container, dockerfile:<dir> or compose:<file>
        target: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(Step::Floor {
            listen,
            connections,
        }) => serve_floor(&listen, connections),
        Some(Step::Client { url, kind, runs }) => costs::client_runs(&url, kind, runs),
        Some(Step::FloodClient { url, wait }) => flood::flood_client(&url, wait),
        Some(Step::Probe { target }) => {
            println!("{}", figures::probe(&target));
            ExitCode::SUCCESS
        }
        None => run_suite(&args),
    }
}

fn serve_floor(listen: &str, connections: Option<usize>) -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let bound = listen
            .parse()
            .map_err(std::io::Error::other)
            .and_then(ws_harness::server::bind);
        let listener = match bound {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("floor: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(addr) => println!("listening on {addr}"),
            Err(e) => {
                eprintln!("floor: {e}");
                return ExitCode::FAILURE;
            }
        }
        floor::serve(listener, connections).await;
        ExitCode::SUCCESS
    })
}

fn run_suite(args: &Args) -> ExitCode {
    // The suite belongs to the cli package; its outputs go to the repository root.
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let (out, markdown) = if args.quick {
        let dir = root.join("target/bench-quick");
        (
            args.out.clone().unwrap_or_else(|| dir.clone()),
            args.markdown
                .clone()
                .unwrap_or_else(|| dir.join("BENCHMARKS.md")),
        )
    } else {
        (
            args.out
                .clone()
                .unwrap_or_else(|| root.join("bench/results")),
            args.markdown
                .clone()
                .unwrap_or_else(|| root.join("BENCHMARKS.md")),
        )
    };
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| root.join("target/bench-venv/bin/python"));
    if !python.exists() {
        eprintln!(
            "error: no Python interpreter at {}: run `bash bench/run`, which makes one with the peer's packages, or pass --python",
            python.display()
        );
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return ExitCode::from(2);
    }
    let config = ws_harness::RealWebSocketTestConfig::builder()
        .without_environment()
        .build()
        .expect("the defaults are a valid config");
    let bench = Bench {
        sizes: if args.quick {
            Sizes::QUICK
        } else {
            Sizes::FULL
        },
        python,
        runtime: tokio::runtime::Runtime::new().expect("a runtime"),
        one_thread: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
        config,
    };
    let run = machine(args.quick);
    eprintln!("ws-harness benchmark suite: {run}");
    if !args.only.is_empty() {
        return run_only(&bench, &args.only);
    }
    let figures = report::Figures {
        startup: figures::startup(&bench),
        latency: figures::latency(&bench),
        throughput: figures::throughput(&bench),
        connections: figures::connections(&bench),
        client_overhead: figures::client_overhead(&bench),
        tls: figures::tls(&bench),
        churn: figures::churn(&bench),
        heap: costs::heap(&bench),
        instructions: costs::instructions(&bench),
        flood: flood::flood(&bench),
        fault_proxy: fault_proxy::fault_proxy(&bench),
        run,
    };
    let targets = report::targets(&figures);
    let plot = out.join("throughput.svg");
    let md_dir = markdown.parent().unwrap_or(root);
    let plot_link = plot
        .strip_prefix(md_dir)
        .unwrap_or(&plot)
        .display()
        .to_string();
    // Measured apart (`bash bench/dependent-build`): a clean build takes minutes.
    let dependent_build: Option<Value> =
        std::fs::read_to_string(root.join("bench/results/dependent_build.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
    // Measured apart too (`bash bench/scenario-load`): it builds the commit before.
    let scenario_load: Option<Value> =
        std::fs::read_to_string(root.join("bench/results/scenario_load.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
    let written = [
        ("startup", &figures.startup),
        ("latency", &figures.latency),
        ("throughput", &figures.throughput),
        ("connections", &figures.connections),
        ("client_overhead", &figures.client_overhead),
        ("tls", &figures.tls),
        ("churn", &figures.churn),
        ("heap", &figures.heap),
        ("instructions", &figures.instructions),
        ("flood", &figures.flood),
        ("fault_proxy", &figures.fault_proxy),
    ]
    .into_iter()
    .map(|(name, figure)| {
        let mut figure = figure.clone();
        figure["run"] = figures.run.clone();
        let path = out.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&figure).expect("JSON");
        std::fs::write(&path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    })
    .chain([
        report::plot(&figures, &plot),
        std::fs::write(
            &markdown,
            report::markdown(
                &figures,
                &targets,
                &plot_link,
                dependent_build.as_ref(),
                scenario_load.as_ref(),
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", markdown.display())),
    ])
    .collect::<Result<Vec<()>, String>>();
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("\ntargets:");
    for t in &targets {
        let met = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "NOT MEASURED",
        };
        eprintln!(
            "  {:<55} {:<12} {:<20} {met}",
            t.figure, t.target, t.measured
        );
    }
    eprintln!(
        "\nwrote {}, {} and {}",
        out.join("*.json").display(),
        plot.display(),
        markdown.display()
    );
    if targets.iter().any(|t| t.met.is_none())
        || !all_runs_completed(&figures)
        || !all_counted(&figures)
    {
        eprintln!("error: some figures were not measured or some runs failed (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `--only`: the named figures, as JSON on stdout.
fn run_only(bench: &Bench, names: &[String]) -> ExitCode {
    type Figure = fn(&Bench) -> Value;
    let figures: [(&str, Figure); 11] = [
        ("startup", figures::startup),
        ("latency", figures::latency),
        ("throughput", figures::throughput),
        ("connections", figures::connections),
        ("client_overhead", figures::client_overhead),
        ("tls", figures::tls),
        ("churn", figures::churn),
        ("heap", costs::heap),
        ("instructions", costs::instructions),
        ("flood", flood::flood),
        ("fault_proxy", fault_proxy::fault_proxy),
    ];
    if let Some(unknown) = names
        .iter()
        .find(|name| !figures.iter().any(|(known, _)| known == name))
    {
        let known: Vec<&str> = figures.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "error: --only: no figure named {unknown:?}; the figures are {}",
            known.join(", ")
        );
        return ExitCode::from(2);
    }
    for (name, figure) in figures {
        if names.iter().any(|wanted| wanted == name) {
            println!(
                "{}",
                serde_json::to_string_pretty(&figure(bench)).expect("JSON")
            );
        }
    }
    ExitCode::SUCCESS
}

/// Whether figures 8 and 9 counted every one of their rows.
fn all_counted(figures: &report::Figures) -> bool {
    let rows = |figure: &Value, key: &str| figure[key].as_array().cloned().unwrap_or_default();
    figures.heap.get("error").is_none()
        && figures.instructions.get("error").is_none()
        && [
            rows(&figures.heap, "servers"),
            rows(&figures.heap, "clients"),
            rows(&figures.heap, "departed"),
            rows(&figures.instructions, "servers"),
            rows(&figures.instructions, "clients"),
        ]
        .iter()
        .flatten()
        .all(|row| row.get("error").is_none())
}

/// Whether every load run of figures 3, 4 and 7 completed all its runs.
fn all_runs_completed(figures: &report::Figures) -> bool {
    let throughput_clean = figures.throughput["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["points"].as_array().into_iter().flatten())
        .all(|point| {
            point["errors"]
                .as_object()
                .is_some_and(serde_json::Map::is_empty)
        });
    let connections_clean = figures.connections["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|row| row["all_completed"] == true);
    let churn_clean = figures.churn["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|row| row["all_completed"] == true);
    throughput_clean && connections_clean && churn_clean
}

/// When, where and what: the date, the commit, the CPU, the cores, the kernel.
fn machine(quick: bool) -> Value {
    let command = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    // The suite's own outputs do not make a checkout dirty.
    let status = [
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!bench/results",
        ":!BENCHMARKS.md",
    ];
    let dirty = !command("git", &status).is_empty();
    let commit = command("git", &["rev-parse", "--short", "HEAD"])
        + if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    json!({
        "date": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "commit": commit,
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "kernel": format!("{} {}", std::env::consts::OS, command("uname", &["-r"])),
        "quick": quick,
    })
}
