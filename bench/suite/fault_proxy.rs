//! Figure 12: the fault proxy with no fault, beside the direct path,
//! against `ws-harness serve`: one user's sequential golden-path runs, and
//! the load's 100 users, directly and through a [`FaultProxy`] in the
//! client's process (as `ws-harness load` with `faults.proxy = true` runs
//! it), the two alternating.

use crate::figures::{Bench, load, load_plan, median, sequential};
use crate::peers::Peer;
use serde_json::{Value, json};
use std::fmt::Write as _;
use ws_harness::chain::Resolution;
use ws_harness::faults::FaultProxy;
use ws_harness::{Access, BackendInfo};

const USERS: usize = 100;

/// Runs/s and p50 of one load, or why it failed.
fn measure(
    bench: &Bench,
    url: &url::Url,
    access: &Access,
    runs: usize,
) -> Result<(f64, f64), String> {
    let report = load(bench, url, access, &load_plan(USERS, runs, None));
    if !report.passed() {
        return Err(format!("the load failed: {}", report.to_json()["errors"]));
    }
    let p50 = report.to_json()["run_latency"]["p50_ms"]
        .as_f64()
        .ok_or("no p50")?;
    Ok((report.runs_per_second(), p50))
}

pub(crate) fn fault_proxy(bench: &Bench) -> Value {
    let runs = (bench.sizes.throughput_runs / USERS).max(3);
    let repeats = bench.sizes.repeats;
    eprintln!(
        "[12] the fault proxy with no fault against the direct path: {USERS} users, {runs} runs each, alternating, median of {repeats}"
    );
    let result = (|| -> Result<Value, String> {
        let server = Peer::WsHarness
            .start(&bench.python)
            .map_err(|e| e.to_string())?;
        let url = server.url();
        let direct = Access::test();
        let given = BackendInfo {
            tier: None,
            url: url.clone(),
            reason: "the bench's server".to_owned(),
            resolution: Resolution::default(),
            container: None,
            access: direct.clone(),
        };
        let proxy = bench
            .runtime
            .block_on(FaultProxy::start(&bench.config, &given))
            .map_err(|e| e.to_string())?;
        let proxied = proxy.backend().access;
        // Warm up both paths.
        measure(bench, &url, &direct, 5)?;
        measure(bench, &url, &proxied, 5)?;
        // One user, one run after another: what the proxy adds to a run.
        let one_user = |access: &Access| -> Result<f64, String> {
            let histogram = bench.runtime.block_on(sequential(
                url.clone(),
                access,
                bench.sizes.latency_runs,
            ))?;
            Ok(histogram.value_at_quantile(0.5) as f64 / 1e3)
        };
        let (mut direct_one, mut proxied_one) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            direct_one.push(one_user(&direct)?);
            proxied_one.push(one_user(&proxied)?);
        }
        let (direct_one, proxied_one) = (median(&direct_one), median(&proxied_one));
        let one_user_p50_ratio = proxied_one / direct_one;
        eprintln!(
            "  one user: p50 {direct_one:.1} µs direct, {proxied_one:.1} µs through the proxy ({:+.1}%)",
            (one_user_p50_ratio - 1.0) * 100.0
        );
        let (mut direct_samples, mut proxied_samples) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            direct_samples.push(measure(bench, &url, &direct, runs)?);
            proxied_samples.push(measure(bench, &url, &proxied, runs)?);
        }
        let row = |name: &str, samples: &[(f64, f64)]| {
            let rps: Vec<f64> = samples.iter().map(|s| s.0).collect();
            let p50: Vec<f64> = samples.iter().map(|s| s.1).collect();
            json!({"name": name, "runs_per_second": median(&rps), "p50_ms": median(&p50), "samples": samples})
        };
        let rows = [
            row("direct", &direct_samples),
            row("through the fault proxy", &proxied_samples),
        ];
        let ratio = |key: &str| {
            rows[1][key].as_f64().unwrap_or(f64::NAN) / rows[0][key].as_f64().unwrap_or(f64::NAN)
        };
        let (rps_ratio, p50_ratio) = (ratio("runs_per_second"), ratio("p50_ms"));
        eprintln!(
            "  through the proxy: {rps_ratio:.2}× the runs/s, p50 {:+.1}%",
            (p50_ratio - 1.0) * 100.0
        );
        Ok(json!({
            "rows": rows,
            "runs_per_second_ratio": rps_ratio,
            "p50_ratio": p50_ratio,
            "one_user": {"direct_p50_us": direct_one, "proxied_p50_us": proxied_one},
            "one_user_p50_ratio": one_user_p50_ratio,
        }))
    })();
    let mut figure = result.unwrap_or_else(|error| {
        eprintln!("  NOT MEASURED: {error}");
        json!({"rows": [], "error": error})
    });
    figure["figure"] = json!("fault_proxy");
    figure["what"] = json!(format!(
        "one user's sequential golden-path runs (p50), and {USERS} users of `ws-harness load`'s client each running its runs one after another, against `ws-harness serve` in a process of its own: directly, and through a fault proxy with no fault in the client's process; the two alternate, and each figure is the median of the repeats"
    ));
    figure
}

/// Its section of BENCHMARKS.md.
pub(crate) fn section(md: &mut String, figure: &Value) {
    let _ = writeln!(md, "| path | runs/s | p50 ms |\n|---|---|---|");
    for row in figure["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} |",
            row["name"].as_str().unwrap_or("?"),
            row["runs_per_second"].as_f64().unwrap_or(f64::NAN),
            row["p50_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }
    if let (Some(rps), Some(p50)) = (
        figure["runs_per_second_ratio"].as_f64(),
        figure["p50_ratio"].as_f64(),
    ) {
        let _ = writeln!(
            md,
            "\nThrough the proxy: {rps:.2}× the runs/s (target ≥ 0.9×), p50 {:+.1}% (target ≤ +10%).",
            (p50 - 1.0) * 100.0
        );
    }
    if let (Some(direct), Some(proxied)) = (
        figure["one_user"]["direct_p50_us"].as_f64(),
        figure["one_user"]["proxied_p50_us"].as_f64(),
    ) {
        let _ = writeln!(
            md,
            "\nOne user, sequential runs: p50 {direct:.1} µs direct, {proxied:.1} µs through the proxy ({:+.1}%).",
            (proxied / direct - 1.0) * 100.0
        );
    }
    if let Some(error) = figure["error"].as_str() {
        let _ = writeln!(md, "\n**Not measured:** {error}");
    }
}
