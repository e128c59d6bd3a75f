//! The suite's outputs: the targets judged, `BENCHMARKS.md`, and the plot.

use crate::costs::Part;
use plotters::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// Every figure, as the suite measured them.
pub(crate) struct Figures {
    pub(crate) run: Value,
    pub(crate) startup: Value,
    pub(crate) latency: Value,
    pub(crate) throughput: Value,
    pub(crate) connections: Value,
    pub(crate) client_overhead: Value,
    pub(crate) tls: Value,
    pub(crate) churn: Value,
    pub(crate) heap: Value,
    pub(crate) instructions: Value,
    pub(crate) flood: Value,
    pub(crate) fault_proxy: Value,
}

fn named<'a>(figure: &'a Value, name: &str) -> Option<&'a Value> {
    figure["rows"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

fn number(figure: &Value, name: &str, key: &str) -> Option<f64> {
    named(figure, name)?[key].as_f64()
}

/// The RSS kept per user of each fresh server of a churn row.
fn churn_samples(row: &Value) -> Vec<f64> {
    row["samples_rss_kept_per_user_bytes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect()
}

fn runs_per_second(figures: &Figures, peer: &str, users: u64) -> Option<f64> {
    named(&figures.throughput, peer)?["points"]
        .as_array()?
        .iter()
        .find(|p| p["users"] == users)?["runs_per_second"]
        .as_f64()
}

/// One target: what was asked, what was measured, whether it was met
/// (`None`: not measured).
pub(crate) struct Target {
    pub(crate) figure: &'static str,
    pub(crate) target: &'static str,
    pub(crate) measured: String,
    pub(crate) met: Option<bool>,
}

fn target(
    figure: &'static str,
    target: &'static str,
    value: Option<f64>,
    show: impl Fn(f64) -> String,
    met: impl Fn(f64) -> bool,
) -> Target {
    Target {
        figure,
        target,
        measured: value.map_or_else(|| "not measured".to_owned(), &show),
        met: value.map(met),
    }
}

/// The heap peak's growth per departed user with the 1 s replay TTL (DHAT).
fn departed_heap(f: &Figures) -> Option<f64> {
    f.heap["departed"]
        .as_array()?
        .iter()
        .find(|r| r["replay_ttl_ms"] == 1000)?["peak_bytes_per_user"]
        .as_f64()
}

/// A number of figure 11's row for `wait`.
fn flood_row(f: &Figures, wait: &str, key: &str) -> Option<f64> {
    f.flood["rows"]
        .as_array()?
        .iter()
        .find(|r| r["wait"] == wait)?[key]
        .as_f64()
}

/// The larger peak RSS of figure 11's two client processes, when both were
/// measured.
fn flood_peak_rss(f: &Figures) -> Option<f64> {
    Some(
        flood_row(f, "expect-within", "peak_rss_bytes")?.max(flood_row(
            f,
            "expect-nothing",
            "peak_rss_bytes",
        )?),
    )
}

/// The targets of the benchmark issue, judged against these figures.
pub(crate) fn targets(f: &Figures) -> Vec<Target> {
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b.filter(|b| *b > 0.0)?);
    let p50 = number(&f.latency, "ws-harness in-process", "p50_us");
    let at_100 = runs_per_second(f, "ws-harness", 100);
    let ws_connections = named(&f.connections, "ws-harness");
    let overhead = f.client_overhead["overhead_p50"].as_f64();
    let departed_heap = departed_heap(f);
    vec![
        target(
            "golden-path p50, one user, in-process, against the floor",
            "≤ 0.9×",
            ratio(p50, number(&f.latency, "floor in-process", "p50_us")),
            |v| format!("{v:.2}×"),
            |v| v <= 0.9,
        ),
        target(
            "golden-path p99, one user, in-process",
            "≤ 400 µs",
            number(&f.latency, "ws-harness in-process", "p99_us"),
            |v| format!("{v:.1} µs"),
            |v| v <= 400.0,
        ),
        target(
            "runs/s at 100 users against the floor",
            "≥ 1.3×",
            ratio(at_100, runs_per_second(f, "floor", 100)),
            |v| format!("{v:.2}×"),
            |v| v >= 1.3,
        ),
        target(
            "runs/s at 100 users against the Python peer",
            "≥ 8×",
            ratio(at_100, runs_per_second(f, "python", 100)),
            |v| format!("{v:.2}×"),
            |v| v >= 8.0,
        ),
        target(
            "concurrent connections, one run each: all complete",
            "all",
            ws_connections.and_then(|r| {
                Some(if r["all_completed"].as_bool()? {
                    1.0
                } else {
                    0.0
                })
            }),
            |v| {
                if v > 0.0 {
                    "all completed".into()
                } else {
                    "some failed".into()
                }
            },
            |v| v > 0.0,
        ),
        target(
            "server RSS per connection, one run each",
            "≤ 12 KiB",
            ws_connections.and_then(|r| r["rss_per_connection_bytes"].as_f64()),
            |v| format!("{:.1} KiB", v / 1024.0),
            |v| v <= 12.0 * 1024.0,
        ),
        target(
            "new authenticated connections per second",
            "≥ 5,000",
            ws_connections.and_then(|r| r["connects_per_second"].as_f64()),
            |v| format!("{v:.0}/s"),
            |v| v >= 5000.0,
        ),
        target(
            "in-process backend ready",
            "≤ 10 ms",
            number(&f.startup, "ws-harness in-process", "median_ms"),
            |v| format!("{v:.2} ms"),
            |v| v <= 10.0,
        ),
        target(
            "reused container attach",
            "≤ 100 ms",
            number(&f.startup, "ws-harness container, reused", "median_ms"),
            |v| format!("{v:.1} ms"),
            |v| v <= 100.0,
        ),
        target(
            "server RSS kept per departed user, once the replay TTL has passed",
            "≤ 256 B",
            number(&f.churn, "replay TTL 1 s", "rss_kept_per_user_bytes"),
            |v| format!("{v:.0} B"),
            |v| v <= 256.0,
        ),
        target(
            "server heap kept per departed user, once the replay TTL has passed (DHAT)",
            "≤ 256 B",
            departed_heap,
            |v| format!("{v:.0} B"),
            |v| v <= 256.0,
        ),
        target(
            "expect_within(3s) under a flood returns within",
            "≤ 3.5 s",
            flood_row(f, "expect-within", "took_s"),
            |v| format!("{v:.2} s"),
            |v| v <= 3.5,
        ),
        target(
            "expect_nothing(10s) under a flood returns within",
            "≤ 10.5 s",
            flood_row(f, "expect-nothing", "took_s"),
            |v| format!("{v:.2} s"),
            |v| v <= 10.5,
        ),
        target(
            "client peak RSS under a flood (the larger of the two waits)",
            "< 64 MB",
            flood_peak_rss(f),
            |v| format!("{:.1} MB", v / 1e6),
            |v| v < 64e6,
        ),
        target(
            "harness client overhead against the bare client (p50, contract on)",
            "≤ +5%",
            overhead,
            |v| format!("{:+.1}%", v * 100.0),
            |v| v <= 0.05,
        ),
    ]
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

fn times(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".to_owned(),
    }
}

fn errors(figure: &Value) -> String {
    let mut out = String::new();
    for row in figure["rows"].as_array().into_iter().flatten() {
        if let Some(error) = row["error"].as_str() {
            let _ = writeln!(
                out,
                "\n**{} was not measured:** {error}",
                row["name"].as_str().unwrap_or("?")
            );
        }
    }
    out
}

/// A figure's heading and the sentence that says how it was taken.
fn section(md: &mut String, title: &str, figure: &Value) {
    let what = figure["what"].as_str().unwrap_or("");
    let _ = writeln!(md, "\n## {title}\n\n{what}.\n");
}

/// `BENCHMARKS.md`.
pub(crate) fn markdown(
    f: &Figures,
    targets: &[Target],
    plot: &str,
    dependent_build: Option<&Value>,
    scenario_load: Option<&Value>,
) -> String {
    let run = &f.run;
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Made by `bash bench/run` on {} at commit `{}`, on {} ({} cores, {}). \
         Every figure below was measured in that one run, beside its baselines: \
         the **floor** (a bare tokio-tungstenite server that answers the same five \
         events with no auth, no JSON validation, no monitors: `bench/suite/floor.rs`) \
         and the **Python peer** (the same PROTOCOL.md golden path on the `websockets` \
         library, HS256 via PyJWT: `bench/peers/python_peer.py`). Medians of several \
         repeats where it says so; the machine is shared and noisy, so read ratios, \
         not absolute figures. The raw numbers are in `bench/results/*.json`.\n",
        run["date"].as_str().unwrap_or("?"),
        run["commit"].as_str().unwrap_or("?"),
        run["cpu"].as_str().unwrap_or("?"),
        run["cores"],
        run["kernel"].as_str().unwrap_or("?"),
    );
    if run["quick"] == true {
        let _ = writeln!(
            md,
            "**Quick mode** (`--quick`): smaller counts, for checking the suite works; not figures to quote.\n"
        );
    }

    let _ = writeln!(
        md,
        "## Targets\n\n| figure | target | measured | met |\n|---|---|---|---|"
    );
    for t in targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {met} |",
            t.figure, t.target, t.measured
        );
    }

    md += &bounds(f);

    section(&mut md, "1. Backend start until ready", &f.startup);
    let _ = writeln!(
        md,
        "| backend | median | starts | Python peer's start over this |\n|---|---|---|---|"
    );
    let python = number(&f.startup, "python peer process", "median_ms");
    for row in f.startup["rows"].as_array().into_iter().flatten() {
        let median = row["median_ms"].as_f64();
        let _ = writeln!(
            md,
            "| {} | {} ms | {} | {} |",
            row["name"].as_str().unwrap_or("?"),
            cell(median, 2),
            row["samples_ms"].as_array().map_or(0, Vec::len),
            times(python, median),
        );
    }
    md += &errors(&f.startup);

    section(&mut md, "2. Golden-path latency, one user", &f.latency);
    let _ = writeln!(
        md,
        "| server | p50 µs | p90 µs | p99 µs | p99.9 µs | mean µs | p50 against the floor (same setup) | Python p50 over this p50 | server CPU per run, user + system µs |\n|---|---|---|---|---|---|---|---|---|"
    );
    let python = number(&f.latency, "python process", "p50_us");
    for row in f.latency["rows"].as_array().into_iter().flatten() {
        let name = row["name"].as_str().unwrap_or("?");
        let floor = if name.ends_with("in-process") {
            "floor in-process"
        } else {
            "floor process"
        };
        let p50 = row["p50_us"].as_f64();
        let cpu = match (
            row["server_user_us_per_run"].as_f64(),
            row["server_system_us_per_run"].as_f64(),
        ) {
            (Some(user), Some(system)) => format!("{user:.1} + {system:.1}"),
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {cpu} |",
            cell(p50, 1),
            cell(row["p90_us"].as_f64(), 1),
            cell(row["p99_us"].as_f64(), 1),
            cell(row["p99_9_us"].as_f64(), 1),
            cell(row["mean_us"].as_f64(), 1),
            times(p50, number(&f.latency, floor, "p50_us")),
            times(python, p50),
        );
    }
    md += &errors(&f.latency);

    section(&mut md, "3. Runs per second", &f.throughput);

    let _ = writeln!(md, "![runs per second]({plot})\n");
    let _ = writeln!(
        md,
        "| users | ws-harness | floor | python | ws-harness / floor | ws-harness / python |\n|---|---|---|---|---|---|"
    );
    for users in [1, 10, 100, 1000] {
        let get = |peer| runs_per_second(f, peer, users);
        let _ = writeln!(
            md,
            "| {users} | {} | {} | {} | {} | {} |",
            cell(get("ws-harness"), 0),
            cell(get("floor"), 0),
            cell(get("python"), 0),
            times(get("ws-harness"), get("floor")),
            times(get("ws-harness"), get("python")),
        );
    }
    md += &errors(&f.throughput);

    section(&mut md, "4. Concurrent connections", &f.connections);
    let _ = writeln!(
        md,
        "| server | connections | all completed | RSS per connection | connections/s |\n|---|---|---|---|---|"
    );
    for row in f.connections["rows"].as_array().into_iter().flatten() {
        if row.get("error").is_some() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} KiB | {} |",
            row["name"].as_str().unwrap_or("?"),
            row["connections"],
            row["all_completed"],
            cell(
                row["rss_per_connection_bytes"].as_f64().map(|b| b / 1024.0),
                1
            ),
            cell(row["connects_per_second"].as_f64(), 0),
        );
    }
    md += &errors(&f.connections);

    section(&mut md, "5. Harness client overhead", &f.client_overhead);
    let _ = writeln!(
        md,
        "| client | p50 µs | p90 µs | p99 µs | mean µs |\n|---|---|---|---|---|"
    );
    for row in f.client_overhead["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            row["name"].as_str().unwrap_or("?"),
            cell(row["p50_us"].as_f64(), 1),
            cell(row["p90_us"].as_f64(), 1),
            cell(row["p99_us"].as_f64(), 1),
            cell(row["mean_us"].as_f64(), 1),
        );
    }
    if let Some(cost) = f.client_overhead["contract_cost_p50"].as_f64() {
        let _ = writeln!(
            md,
            "\nThe reference contract (every frame checked against its schema and rules) against contract none, p50: {:+.1}%.",
            cost * 100.0
        );
    }
    if let Some(error) = f.client_overhead["error"].as_str() {
        let _ = writeln!(md, "\n**Not measured:** {error}");
    }
    section(&mut md, "6. wss:// against ws://", &f.tls);
    let _ = writeln!(
        md,
        "| connection | handshake p50 µs | handshake p99 µs | golden path p50 µs | golden path p99 µs |\n|---|---|---|---|---|"
    );
    let rows = f.tls["rows"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            row["name"].as_str().unwrap_or("?"),
            cell(row["handshake"]["p50_us"].as_f64(), 1),
            cell(row["handshake"]["p99_us"].as_f64(), 1),
            cell(row["golden_path"]["p50_us"].as_f64(), 1),
            cell(row["golden_path"]["p99_us"].as_f64(), 1),
        );
    }
    if let [plain, tls] = &rows[..] {
        let p50 = |row: &Value, part: &str| row[part]["p50_us"].as_f64();
        let _ = writeln!(
            md,
            "\nwss:// against ws://, p50: handshake {}, golden path {}.",
            times(p50(tls, "handshake"), p50(plain, "handshake")),
            times(p50(tls, "golden_path"), p50(plain, "golden_path")),
        );
    }
    if let Some(error) = f.tls["error"].as_str() {
        let _ = writeln!(md, "\n**Not measured:** {error}");
    }
    section(&mut md, "7. Users who leave", &f.churn);
    let _ = writeln!(
        md,
        "| server | users (counted) | all completed | RSS kept per user, median | each fresh server | against the 1 h TTL |\n|---|---|---|---|---|---|"
    );
    let kept_without = number(
        &f.churn,
        "replay TTL 1 h (not reached)",
        "rss_kept_per_user_bytes",
    );
    for row in f.churn["rows"].as_array().into_iter().flatten() {
        if row.get("error").is_some() {
            continue;
        }
        let kept = row["rss_kept_per_user_bytes"].as_f64();
        let each: Vec<String> = churn_samples(row)
            .into_iter()
            .map(|sample| format!("{sample:.0} B"))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {} | {} B | {} | {} |",
            row["name"].as_str().unwrap_or("?"),
            row["users"],
            row["counted_users"],
            row["all_completed"],
            cell(kept, 0),
            each.join(", "),
            times(kept, kept_without),
        );
    }
    md += &errors(&f.churn);
    heap_section(&mut md, &f.heap);
    instructions_section(&mut md, &f.instructions);
    if let Some(build) = dependent_build {
        md += &dependent_build_section(build);
    }
    section(
        &mut md,
        "11. The client against a service that floods",
        &f.flood,
    );
    let _ = writeln!(
        md,
        "| wait | bound | took | frames received | frames kept | failure message | client peak RSS |\n|---|---|---|---|---|---|---|"
    );
    for row in f.flood["rows"].as_array().into_iter().flatten() {
        if let Some(error) = row["error"].as_str() {
            let _ = writeln!(
                md,
                "| {} | not measured: {error} | | | | | |",
                row["wait"].as_str().unwrap_or("?")
            );
            continue;
        }
        let _ = writeln!(
            md,
            "| `{}` | {} s | {} s | {} | {} | {} KiB | {} MB |",
            row["wait"].as_str().unwrap_or("?"),
            cell(row["bound_s"].as_f64(), 0),
            cell(row["took_s"].as_f64(), 2),
            row["frames_received"],
            row["frames_kept"],
            cell(row["message_bytes"].as_f64().map(|b| b / 1024.0), 1),
            cell(row["peak_rss_bytes"].as_f64().map(|b| b / 1e6), 1),
        );
    }
    if let Some(error) = f.flood["error"].as_str() {
        let _ = writeln!(md, "\n**Not measured:** {error}");
    }
    section(&mut md, "12. The fault proxy with no fault", &f.fault_proxy);
    crate::fault_proxy::section(&mut md, &f.fault_proxy);
    if let Some(load) = scenario_load {
        md += &scenario_load_section(load);
    }
    let _ = writeln!(
        md,
        "\n## Reproduce\n\n```sh\nbash bench/run            # everything, about 10 minutes on a new checkout, 5 after\nbash bench/run --quick    # smaller counts, to check the suite works\nbash bench/run --only instructions,heap   # figures 9 and 8 alone, as JSON: to judge a change\n```"
    );
    md
}

/// What bounds the targets, in this run's own counts: where a run's time
/// goes, server against floor and harness client against bare client, and
/// what a departed user keeps.
fn bounds(f: &Figures) -> String {
    let counted = |figure: &Value, key: &str, name: &str, field: &str| {
        figure[key].as_array()?.iter().find(|r| r["name"] == name)?[field].as_f64()
    };
    let cpu = |name: &str| {
        let row = named(&f.latency, name)?;
        Some((
            row["server_user_us_per_run"].as_f64()?,
            row["server_system_us_per_run"].as_f64()?,
        ))
    };
    let server = "ws-harness serve";
    let instructions = |key, name| counted(&f.instructions, key, name, "instructions_per_run");
    let blocks = |key, name| counted(&f.heap, key, name, "blocks_per_run");
    let part = |key: &str, name: &str, part: Part| {
        f.instructions[key]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name)?["parts_per_run"][part.label()]
        .as_f64()
    };
    let mut out = String::from("\n### What bounds them\n\n");
    if let (Some((user, system)), Some((floor_user, floor_system))) =
        (cpu("ws-harness process"), cpu("floor process"))
    {
        let _ = writeln!(
            out,
            "- **The server against the floor.** The floor already writes a run's five events with one flush, as the server does, so batching cannot put the server ahead of it. Per run the server process spends {user:.1} + {system:.1} µs of CPU (user + system), the floor {floor_user:.1} + {floor_system:.1} (section 2): {:+.1} µs of user and {:+.1} µs of system time. The user time is the server's own work: {} instructions per run against the floor's {}, of which {} zero-fill the floor's 128 KiB read buffer, cheap on the CPU (section 9), and {} allocations against {} (section 8). Of the server's, reading the client's frame takes {} and keeping the events for replay and fanning them out {}, their frames written included ({}); the rest is the connection, the run's task, the monitors and the per-user limits, none of which the floor has.",
            user - floor_user,
            system - floor_system,
            cell(instructions("servers", server), 0),
            cell(instructions("servers", "floor"), 0),
            cell(part("servers", "floor", Part::ReadBuffersZeroed), 0),
            cell(blocks("servers", server), 0),
            cell(blocks("servers", "floor"), 0),
            cell(part("servers", server, Part::ClientFrameRead), 0),
            cell(part("servers", server, Part::EventsKept), 0),
            cell(part("servers", server, Part::FramesWritten), 0),
        );
    }
    let at_100 = |name| runs_per_second(f, name, 100);
    if let (
        Some(ws),
        Some(floor),
        Some(python),
        Some((user, system)),
        Some((floor_user, floor_system)),
    ) = (
        at_100("ws-harness"),
        at_100("floor"),
        at_100("python"),
        cpu("ws-harness process"),
        cpu("floor process"),
    ) {
        let _ = writeln!(
            out,
            "- **Runs per second.** At 100 users the server, the floor and the load client share the 2 cores, so runs/s follow the CPU a run costs them together: the server made {:.2}× the floor's runs/s, where 1.3× takes a run that costs the cores 1/1.3 of a floor run, load client included. A run costs the server process {:.1} µs of CPU and the floor {:.1} (section 2), most of it system time in the socket calls both make alike. The floor made {:.2}× the Python peer's runs/s and the server {:.2}×, so 8× the Python peer is {:.2}× the floor.",
            ws / floor,
            user + system,
            floor_user + floor_system,
            floor / python,
            ws / python,
            8.0 * python / floor,
        );
    }
    let departed_rss = number(&f.churn, "replay TTL 1 s", "rss_kept_per_user_bytes");
    let departed_rss_each = named(&f.churn, "replay TTL 1 s").map_or_else(Vec::new, churn_samples);
    let least = departed_rss_each.iter().copied().reduce(f64::min);
    let most = departed_rss_each.iter().copied().reduce(f64::max);
    if let (Some(rss), Some(heap), Some(least), Some(most)) =
        (departed_rss, departed_heap(f), least, most)
    {
        let _ = writeln!(
            out,
            "- **Users who leave.** A departed user keeps a 48-byte record and its id, in one table and one string with no allocation per user; the table's slots (49 bytes with their control byte) double when it is 7/8 full, so a user's share is between 56 and 112 B beside its id: {heap:.0} B of heap per user (section 8). The RSS kept, {rss:.0} B per user (section 7, the median of fresh servers that kept from {least:.0} to {most:.0} B), is that heap and the pages the allocator keeps resident around it, which `malloc_trim` after each sweep does not give back: {:+.0} B against the heap at the median.",
            rss - heap,
        );
    }
    let harness = "harness TestClient, contract reference";
    let bare = "bare tokio-tungstenite client";
    let _ = writeln!(
        out,
        "- **The harness client against the bare one.** Per run the harness client executes {} instructions and {} allocations, the bare client {} and {} (sections 9 and 8). Both parse each frame to JSON ({} and {} instructions); the harness then checks each frame against the contract ({}), builds the typed events the expectation returns ({}) and keeps every frame in the transcript, whose drop costs {} at the end, where the bare client reads each frame's `type` and drops it. Those three parts are {} of the {} instructions between the two clients.",
        cell(instructions("clients", harness), 0),
        cell(blocks("clients", harness), 0),
        cell(instructions("clients", bare), 0),
        cell(blocks("clients", bare), 0),
        cell(part("clients", harness, Part::FramesParsed), 0),
        cell(part("clients", bare, Part::FramesParsed), 0),
        cell(part("clients", harness, Part::ContractChecked), 0),
        cell(part("clients", harness, Part::TypedEvents), 0),
        cell(part("clients", harness, Part::ClientDropped), 0),
        cell(
            [
                Part::ContractChecked,
                Part::TypedEvents,
                Part::ClientDropped
            ]
            .into_iter()
            .map(|p| part("clients", harness, p))
            .sum::<Option<f64>>(),
            0
        ),
        cell(
            instructions("clients", harness)
                .zip(instructions("clients", bare))
                .map(|(h, b)| h - b),
            0
        ),
    );
    out
}

/// Section 8: the heap, counted.
fn heap_section(md: &mut String, heap: &Value) {
    section(md, "8. The heap, counted", heap);
    let rows = |key: &str| heap[key].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        md,
        "| process | blocks per run | bytes per run | peak bytes per open connection |\n|---|---|---|---|"
    );
    for row in rows("servers").iter().chain(&rows("clients")) {
        if row.get("error").is_some() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            row["name"].as_str().unwrap_or("?"),
            cell(row["blocks_per_run"].as_f64(), 1),
            cell(row["bytes_per_run"].as_f64(), 0),
            row["peak_bytes_per_connection"]
                .as_f64()
                .map_or_else(String::new, |b| format!("{:.1} KiB", b / 1024.0)),
        );
    }
    let _ = writeln!(md, "\n| users who leave | peak bytes per user |\n|---|---|");
    for row in rows("departed") {
        if row.get("error").is_some() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {} | {} B |",
            row["name"].as_str().unwrap_or("?"),
            cell(row["peak_bytes_per_user"].as_f64(), 0),
        );
    }
    for key in ["servers", "clients", "departed"] {
        *md += &errors(&serde_json::json!({ "rows": heap[key] }));
    }
    if let Some(error) = heap["error"].as_str() {
        let _ = writeln!(md, "\n**Not measured:** {error}");
    }
}

/// Section 9: instructions per run, counted by callgrind.
fn instructions_section(md: &mut String, figure: &Value) {
    section(md, "9. Instructions per run", figure);
    let _ = writeln!(
        md,
        "| process | instructions per run | against the baseline | runs counted |\n|---|---|---|---|"
    );
    let per_run = |key: &str, name: &str| {
        figure[key].as_array()?.iter().find(|r| r["name"] == name)?["instructions_per_run"].as_f64()
    };
    let baselines = [
        ("servers", "floor"),
        ("clients", "bare tokio-tungstenite client"),
    ];
    for (key, baseline) in baselines {
        for row in figure[key].as_array().into_iter().flatten() {
            if row.get("error").is_some() {
                continue;
            }
            let name = row["name"].as_str().unwrap_or("?");
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} and {} |",
                cell(row["instructions_per_run"].as_f64(), 0),
                times(row["instructions_per_run"].as_f64(), per_run(key, baseline)),
                row["runs"][0],
                row["runs"][1],
            );
        }
        *md += &errors(&serde_json::json!({ "rows": figure[key] }));
    }
    if let Some(error) = figure["error"].as_str() {
        let _ = writeln!(md, "\n**Not measured:** {error}");
    }
    let _ = writeln!(
        md,
        "\nWhere they go: the instructions of a few parts of a run, each counted with all it calls (`callgrind_annotate --inclusive=yes`), so a part can hold another.\n\n| process | part | instructions per run | of the process's |\n|---|---|---|---|"
    );
    for row in ["servers", "clients"]
        .into_iter()
        .flat_map(|key| figure[key].as_array().into_iter().flatten())
    {
        let total = row["instructions_per_run"].as_f64();
        for (part, count) in row["parts_per_run"].as_object().into_iter().flatten() {
            let share = total
                .zip(count.as_f64())
                .map_or_else(String::new, |(total, count)| {
                    format!("{:.0}%", 100.0 * count / total)
                });
            let _ = writeln!(
                md,
                "| {} | {part} | {} | {share} |",
                row["name"].as_str().unwrap_or("?"),
                cell(count.as_f64(), 0),
            );
        }
    }
    let _ = writeln!(
        md,
        "\nThe profiles are kept in `target/bench-valgrind/`: `callgrind_annotate` shows where a run's instructions go, DHAT's viewer where its allocations come from."
    );
}

/// Draws runs per second against users, one line per server, as SVG.
pub(crate) fn plot(figures: &Figures, path: &Path) -> Result<(), String> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = ["ws-harness", "floor", "python"]
        .into_iter()
        .map(|peer| {
            let points = [1u64, 10, 100, 1000]
                .into_iter()
                .filter_map(|users| Some((users as f64, runs_per_second(figures, peer, users)?)))
                .collect();
            (peer, points)
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "golden-path runs per second (2 cores, client and server on one machine)",
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0.8f64..1300.0).log_scale(), 0.0..top * 1.1)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("concurrent users")
        .y_desc("runs per second")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| fail(&e))?;
    for ((name, points), color) in series.into_iter().zip([RED, BLUE, GREEN]) {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

/// `ws-harness load` on the scenario engine against the load before it,
/// and the echo scenario against websocat, from
/// `bench/results/scenario_load.json` (written by `bash bench/scenario-load`).
fn scenario_load_section(load: &Value) -> String {
    let mut md = String::new();
    let number = |v: &Value| v.as_f64();
    let runs = number(&load["runs_per_second_ratio"]);
    let p50 = number(&load["p50_ratio"]);
    let verdict = |met: Option<bool>| match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    };
    let _ = writeln!(
        md,
        "\n## 13. The scenario load against the load before it\n\n{}\n\n| load | commit | runs/s (median) | run p50 (median) |\n|---|---|---|---|",
        load["method"].as_str().unwrap_or("")
    );
    for (name, side) in [
        ("the hand-written golden path", &load["before"]),
        ("the built-in golden-path scenario", &load["after"]),
    ] {
        let _ = writeln!(
            md,
            "| {name} | `{}` | {} | {} ms |",
            side["commit"].as_str().unwrap_or("?"),
            cell(number(&side["runs_per_second"]), 0),
            cell(number(&side["p50_ms"]), 3),
        );
    }
    let _ = writeln!(
        md,
        "\nruns/s at 100 users: {}× (target ≥ 0.95×: {}); p50: {}× (target within 5%: {}).",
        cell(runs, 2),
        verdict(runs.map(|r| r >= 0.95)),
        cell(p50, 2),
        verdict(p50.map(|r| r <= 1.05)),
    );
    let echo = &load["echo"];
    let steps: Vec<String> = (echo["steps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter())
    .map(|s| {
        format!(
            "{} {} ms",
            s["name"].as_str().unwrap_or("?"),
            cell(number(&s["p50_ms"]), 3)
        )
    })
    .collect();
    let _ = writeln!(
        md,
        "\nThe JSON echo scenario (`tests/scenarios/echo.toml`) against websocat's `mirror:`, {} users × {} runs: {} runs/s, run p50 {} ms (steps p50: {}){}.",
        echo["users"],
        echo["runs_per_user"],
        cell(number(&echo["runs_per_second"]), 0),
        cell(number(&echo["p50_ms"]), 3),
        steps.join(", "),
        if echo["passed"] == true {
            ""
        } else {
            "; **some runs failed**"
        },
    );
    md
}

/// The clean build of crates that depend on ws-harness, from
/// `bench/results/dependent_build.json` (written by `bash bench/dependent-build`).
fn dependent_build_section(build: &Value) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## 10. Building a crate that depends on ws-harness\n\n{}\n\n| crate | features | commit | clean `cargo test --no-run` | crates compiled | against the first row |\n|---|---|---|---|---|---|",
        build["method"].as_str().unwrap_or("")
    );
    let rows = build["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let first = rows.first().and_then(|r| r["seconds"].as_f64());
    for row in rows {
        let seconds = row["seconds"].as_f64();
        let ratio = match (seconds, first) {
            (Some(s), Some(f)) if f > 0.0 => format!("{:.0}%", s / f * 100.0),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} s | {} | {ratio} |",
            row["crate"].as_str().unwrap_or("?"),
            row["features"].as_str().unwrap_or("?"),
            row["commit"].as_str().unwrap_or("?"),
            cell(seconds, 1),
            row["crates"],
        );
    }
    md
}
