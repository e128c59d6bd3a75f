//! The figures of the suite, each measured beside its baselines in the
//! same run. Every function returns the figure as JSON; a row that could not
//! be measured carries an `error` instead of numbers.

use crate::bare::{connect_user, golden_path_run};
use crate::costs::{Client, ClientKind};
use crate::floor::InProcessFloor;
use crate::peers::Peer;
use crate::tls_support::{Pki, Relay};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use ws_harness::chain::InProcessBackend;
use ws_harness::chain::Resolution;
use ws_harness::config::ContractSource;
use ws_harness::load::{self, LoadPlan, LoadReport};
use ws_harness::process::ServerProcess;
use ws_harness::protocol::auth::{JwtAuth, TEST_JWT_SECRET};
use ws_harness::scenario::ScenarioFile;
use ws_harness::server::{RateLimitConfig, ServerConfig};
use ws_harness::{Access, BackendInfo, BackendKind, RealWebSocketTestConfig, TestClientFactory};

/// How much of everything to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) startup_repeats: usize,
    pub(crate) fresh_container_repeats: usize,
    pub(crate) latency_runs: usize,
    pub(crate) throughput_runs: usize,
    pub(crate) repeats: usize,
    pub(crate) connections: usize,
    pub(crate) overhead_runs: usize,
    pub(crate) handshakes: usize,
    /// Distinct users of the churn figure, in waves of [`CHURN_WAVE`]; the
    /// second half is counted.
    pub(crate) churn_users: usize,
    /// Runs of the counted figures (8 and 9), measured against a fifth as many.
    pub(crate) counted_runs: usize,
    /// Waves of users who leave in figure 8, measured against a fifth as many.
    pub(crate) counted_waves: usize,
}

impl Sizes {
    pub(crate) const FULL: Sizes = Sizes {
        startup_repeats: 15,
        fresh_container_repeats: 3,
        latency_runs: 5_000,
        throughput_runs: 6_000,
        repeats: 3,
        connections: 10_000,
        overhead_runs: 3_000,
        handshakes: 1_000,
        churn_users: 40_000,
        counted_runs: 1_000,
        counted_waves: 10,
    };
    pub(crate) const QUICK: Sizes = Sizes {
        startup_repeats: 3,
        fresh_container_repeats: 1,
        latency_runs: 300,
        throughput_runs: 600,
        repeats: 1,
        connections: 1_000,
        overhead_runs: 300,
        handshakes: 100,
        churn_users: 3_000,
        counted_runs: 100,
        counted_waves: 3,
    };
}

/// What every figure needs.
pub(crate) struct Bench {
    pub(crate) sizes: Sizes,
    pub(crate) python: PathBuf,
    /// The load client's runtime (as `ws-harness load` runs).
    pub(crate) runtime: tokio::runtime::Runtime,
    /// One thread, as `#[tokio::test]` runs: for the one-user figures.
    pub(crate) one_thread: tokio::runtime::Runtime,
    pub(crate) config: RealWebSocketTestConfig,
}

pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
const USER_COUNTS: [usize; 4] = [1, 10, 100, 1_000];

pub(crate) fn token(user: &str) -> String {
    JwtAuth::new(TEST_JWT_SECRET)
        .and_then(|auth| auth.mint(user, Duration::from_secs(3600)))
        .expect("the test secret mints tokens")
}

/// The in-process server in test mode with its rate limits lifted, as
/// `ws-harness load` runs `serve`.
pub(crate) fn lifted() -> ServerConfig {
    ServerConfig {
        rate_limits: RateLimitConfig::LIFTED,
        ..ServerConfig::test_mode()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of some samples (the mean of the middle two for an even count).
pub(crate) fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn row(name: &str, samples: Result<Vec<f64>, String>) -> Value {
    match samples {
        Ok(samples) => json!({"name": name, "median_ms": median(&samples), "samples_ms": samples}),
        Err(error) => {
            eprintln!("  {name}: NOT MEASURED: {error}");
            json!({"name": name, "error": error})
        }
    }
}

fn repeat(times: usize, mut once: impl FnMut() -> Result<f64, String>) -> Result<Vec<f64>, String> {
    (0..times).map(|_| once()).collect()
}

/// 1. Backend start until the first authenticated handshake succeeds, per tier.
pub(crate) fn startup(bench: &Bench) -> Value {
    let times = bench.sizes.startup_repeats;
    eprintln!("[1/9] backend start until ready ({times} starts each)");
    let in_process = repeat(times, || run_probe("in-process").map(|(ms, _)| ms));
    let own_server = repeat(times, || run_probe("own-server").map(|(ms, _)| ms));
    let floor = repeat(times, || run_probe("floor").map(|(ms, _)| ms));
    let python = repeat(times, || {
        let started = Instant::now();
        let server = Peer::Python
            .start(&bench.python)
            .map_err(|e| e.to_string())?;
        bench
            .runtime
            .block_on(connect_user(
                &server.url(),
                &Access::test(),
                &token("probe"),
                TIMEOUT,
            ))
            .map_err(|e| e.to_string())?;
        Ok(ms(started.elapsed()))
    });
    // The first build of the reference image, from a cold build directory:
    // minutes, so in full runs only.
    let self_build = if bench.sizes.fresh_container_repeats > 1 {
        Some(repeat(1, || {
            remove_containers()?;
            remove_reference_images()?;
            let build_dir = target_dir()?.join("ws-harness/reference-server/target");
            let _ = std::fs::remove_dir_all(&build_dir);
            run_probe("container").map(|(ms, _)| ms)
        }))
    } else {
        None
    };
    let mut fresh_id = None;
    let fresh = repeat(bench.sizes.fresh_container_repeats, || {
        remove_containers()?;
        let (ready, id) = run_probe("container")?;
        fresh_id = id;
        Ok(ready)
    });
    let reused = repeat(times, || {
        let (ready, id) = run_probe("container")?;
        if id != fresh_id {
            return Err(format!(
                "expected to attach to container {fresh_id:?}, got {id:?}"
            ));
        }
        Ok(ready)
    });
    let [dockerfile, dockerfile_reused, compose, compose_reused] = user_services(bench);
    let requests = service_requests(bench);
    let mut rows = vec![
        row("ws-harness in-process", in_process),
        row(
            "your own server in-process (the reference server's code as an OwnServer)",
            own_server,
        ),
        row("floor in-process", floor),
        row("python peer process", python),
    ];
    if let Some(self_build) = self_build {
        rows.push(row(
            "ws-harness container, reference image built first (cold build directory)",
            self_build,
        ));
    }
    rows.extend([
        row("ws-harness container, image present", fresh),
        row("ws-harness container, reused", reused),
        row("your service from a Dockerfile, built first", dockerfile),
        row("your service from a Dockerfile, reused", dockerfile_reused),
        row("your compose file (2 services), up first", compose),
        row("your compose file (2 services), reused", compose_reused),
    ]);
    if let Some([first, reused]) = requests {
        rows.extend([
            row(
                "your service as a testcontainers request, started first",
                first,
            ),
            row("your service as a testcontainers request, reused", reused),
        ]);
    }
    if let Err(error) = remove_containers() {
        eprintln!("  cannot remove the containers of the figure: {error}");
    }
    json!({
        "figure": "startup",
        "what": "time from starting a backend until one authenticated WebSocket handshake succeeded; a first use includes building what the definition builds",
        "rows": rows,
    })
}

/// `probe own-server`: the reference server's code given to the chain as
/// a team's own server (`ws_harness::server::Server::serve` on the
/// listener), its readiness the default authenticated handshake.
fn own_server() -> Result<ws_harness::BackendInfo, String> {
    use ws_harness::chain::{Chain, OwnServer};
    use ws_harness::server::Server;
    let config = RealWebSocketTestConfig::builder()
        .without_environment()
        .backend([BackendKind::InProcess])
        .build()
        .map_err(|e| e.to_string())?;
    let server = OwnServer::new("reference-code", |listener, shutdown| async move {
        let server = Server::new(lifted())?;
        server.serve(listener, shutdown).await
    });
    Chain::new(&config)
        .own_server(server)
        .resolve_blocking()
        .map_err(|e| e.to_string())
}

/// Runs `probe <target>` in a child process: how long until ready, and the
/// container.
fn run_probe(target: &str) -> Result<(f64, Option<String>), String> {
    let output = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["probe", target])
        .output()
        .map_err(|e| format!("cannot start the probe: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Value = serde_json::from_str(stdout.trim()).map_err(|_| {
        format!(
            "the probe failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    match answer["ready_ms"].as_f64() {
        Some(ready) => Ok((ready, answer["container_id"].as_str().map(str::to_owned))),
        None => Err(answer["error"].as_str().unwrap_or("no answer").to_owned()),
    }
}

/// A user's service, as a team would define it, with the reference
/// server's binary as the service: from a Dockerfile, and from a compose
/// file with a second service. Each first use has a definition of its own
/// (a new file), so it builds and starts; each reuse attaches.
fn user_services(bench: &Bench) -> [Result<Vec<f64>, String>; 4] {
    let prepared = (|| {
        let image = bench
            .runtime
            .block_on(ws_harness::container::reference_image(&bench.config))
            .map_err(|e| e.to_string())?;
        let dir = target_dir()?.join("bench-services");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // The binary out of the reference image: a static server to COPY.
        let copied = Command::new("sh")
            .arg("-c")
            .arg("id=$(docker create \"$0\") && docker cp \"$id:/reference-server\" \"$1\" && docker rm \"$id\" >/dev/null")
            .arg(&image)
            .arg(dir.join("reference-server"))
            .output()
            .map_err(|e| e.to_string())?;
        if !copied.status.success() {
            return Err(String::from_utf8_lossy(&copied.stderr).trim().to_owned());
        }
        Ok((image, dir))
    })();
    let (image, dir) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return std::array::from_fn(|_| Err(error.clone())),
    };
    let unique = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    };
    let first_and_reuse = |make: &dyn Fn(u128) -> Result<String, String>| {
        let mut targets = Vec::new();
        let first = repeat(bench.sizes.fresh_container_repeats, || {
            let target = make(unique())?;
            let (ms, _) = run_probe(&target)?;
            targets.push(target);
            Ok(ms)
        });
        let reused = repeat(bench.sizes.startup_repeats, || {
            let target = targets.last().ok_or("no first use")?;
            run_probe(target).map(|(ms, _)| ms)
        });
        (first, reused)
    };
    let dockerfile = |run: u128| -> Result<String, String> {
        let context = dir.join(format!("dockerfile-{run}"));
        std::fs::create_dir_all(&context).map_err(|e| e.to_string())?;
        std::fs::copy(
            dir.join("reference-server"),
            context.join("reference-server"),
        )
        .map_err(|e| e.to_string())?;
        let recipe = format!(
            "FROM scratch\nCOPY reference-server /reference-server\nLABEL run=\"{run}\"\nENV WS_HARNESS_SERVER_LISTEN=0.0.0.0:8765\nENTRYPOINT [\"/reference-server\"]\n"
        );
        std::fs::write(context.join("Dockerfile"), recipe).map_err(|e| e.to_string())?;
        Ok(format!("dockerfile:{}", context.display()))
    };
    let compose = |run: u128| -> Result<String, String> {
        let file = dir.join(format!("compose-{run}.yaml"));
        let test_mode = ws_harness::server::TEST_MODE_VAR;
        let text = format!(
            "# run {run}\nservices:\n  server:\n    image: {image}\n    depends_on: [sidecar]\n  sidecar:\n    image: {image}\n    environment:\n      {test_mode}: \"true\"\n"
        );
        std::fs::write(&file, text).map_err(|e| e.to_string())?;
        Ok(format!("compose:{}", file.display()))
    };
    let (dockerfile, dockerfile_reused) = first_and_reuse(&dockerfile);
    let (compose, compose_reused) = first_and_reuse(&compose);
    [dockerfile, dockerfile_reused, compose, compose_reused]
}

/// The reference image as a team's testcontainers request
/// (`GenericImage`), first started and then reused by later processes of
/// the run; `None` unless the suite was built with its `testcontainers`
/// feature (`bash bench/run` builds it so, except with `--quick`).
fn service_requests(bench: &Bench) -> Option<[Result<Vec<f64>, String>; 2]> {
    if !cfg!(feature = "testcontainers") {
        return None;
    }
    let mut last = None;
    let first = repeat(bench.sizes.fresh_container_repeats, || {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let target = format!("testcontainers:{run}");
        let (ms, id) = run_probe(&target)?;
        last = Some((target, id));
        Ok(ms)
    });
    let reused = repeat(bench.sizes.startup_repeats, || {
        let (target, first_id) = last.as_ref().ok_or("no first start")?;
        let (ms, id) = run_probe(target)?;
        if id != *first_id {
            return Err(format!("expected to reuse {first_id:?}, got {id:?}"));
        }
        Ok(ms)
    });
    Some([first, reused])
}

/// `probe testcontainers:<run>`: the reference image as a
/// `GenericImage` request, the run in its environment.
#[cfg(feature = "testcontainers")]
fn service_request(run: &str) -> Result<ws_harness::BackendInfo, String> {
    use testcontainers::core::IntoContainerPort;
    use testcontainers::{GenericImage, ImageExt};
    let config = RealWebSocketTestConfig::builder()
        .require(BackendKind::Container)
        .build()
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let image = runtime
        .block_on(ws_harness::container::reference_image(&config))
        .map_err(|e| e.to_string())?;
    let (name, tag) = image.split_once(':').ok_or("an image without a tag")?;
    let request = GenericImage::new(name, tag)
        .with_exposed_port(8765.tcp())
        .with_env_var(ws_harness::server::TEST_MODE_VAR, "true")
        .with_env_var("RUN", run);
    ws_harness::chain::Chain::new(&config)
        .container_request(ws_harness::container::ServiceRequest::new(request, 8765))
        .resolve_blocking()
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "testcontainers"))]
fn service_request(_: &str) -> Result<ws_harness::BackendInfo, String> {
    Err("this suite was built without its testcontainers feature".to_owned())
}

/// The target directory the suite runs from.
fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/suite-<hash>
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .ok_or_else(|| format!("no target directory above {}", exe.display()))
}

/// Runs `sh -c script`; its stderr is the error.
fn shell(script: &str) -> Result<(), String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .map_err(|e| format!("sh: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// Removes the project's containers, so the next start is a fresh one, and
/// the compose projects of the figure whole (their second services and
/// networks).
fn remove_containers() -> Result<(), String> {
    let label = ws_harness::container::CONTAINER_LABEL;
    shell(&format!(
        "for p in $(docker ps -a --filter label={label} --format '{{{{.Label \"com.docker.compose.project\"}}}}' | sort -u); do \
           docker ps -aq --filter label=com.docker.compose.project=$p | xargs -r docker rm -f >/dev/null; \
           docker network ls -q --filter label=com.docker.compose.project=$p | xargs -r docker network rm >/dev/null; \
         done; \
         docker ps -aq --filter label={label} | xargs -r docker rm -f >/dev/null"
    ))
}

/// Removes every reference image, so the next container start builds one.
fn remove_reference_images() -> Result<(), String> {
    shell("docker images -q ws-harness | sort -u | xargs -r docker rmi -f >/dev/null")
}

/// The probe child: starts one backend and reports how long until ready, as
/// one JSON line.
pub(crate) fn probe(target: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let token = token("probe");
    let started = Instant::now();
    let ready = |url: &url::Url| {
        runtime
            .block_on(connect_user(url, &Access::test(), &token, TIMEOUT))
            .map(|_| ms(started.elapsed()))
            .map_err(|e| e.to_string())
    };
    let answer = match target {
        "in-process" => InProcessBackend::start_with(lifted())
            .map_err(|e| e.to_string())
            .and_then(|backend| ready(&backend.url()))
            .map(|ms| json!({"ready_ms": ms})),
        "floor" => InProcessFloor::start()
            .map_err(|e| e.to_string())
            .and_then(|floor| ready(&floor.url()))
            .map(|ms| json!({"ready_ms": ms})),
        "own-server" => own_server()
            .and_then(|info| ready(&info.url))
            .map(|ms| json!({"ready_ms": ms})),
        request if request.starts_with("testcontainers:") => {
            service_request(&request["testcontainers:".len()..]).and_then(|info| {
                let ms = ready(&info.url)?;
                Ok(json!({"ready_ms": ms, "container_id": info.container.map(|c| c.id)}))
            })
        }
        container => {
            let builder = RealWebSocketTestConfig::builder().require(BackendKind::Container);
            let your_service = |builder: ws_harness::ConfigBuilder| {
                builder
                    .service_port(8765)
                    .service_env([(ws_harness::server::TEST_MODE_VAR, "true")])
            };
            let builder = match container.split_once(':') {
                None if container == "container" => Ok(builder),
                Some(("dockerfile", dir)) => {
                    let dir = PathBuf::from(dir);
                    Ok(your_service(
                        builder
                            .service_dockerfile(dir.join("Dockerfile"))
                            .service_context(&dir),
                    ))
                }
                Some(("compose", file)) => Ok(your_service(
                    builder
                        .service_compose_file(file)
                        .service_compose_service("server"),
                )),
                _ => Err(format!(
                    "unknown probe {container:?}: in-process, own-server, floor, container, dockerfile:<dir>, compose:<file> or testcontainers:<run>"
                )),
            };
            builder
                .and_then(|builder| builder.build().map_err(|e| e.to_string()))
                .and_then(|config| {
                    ws_harness::BackendInfo::resolve_blocking(&config).map_err(|e| e.to_string())
                })
                .and_then(|info| {
                    let ms = ready(&info.url)?;
                    Ok(json!({"ready_ms": ms, "container_id": info.container.map(|c| c.id)}))
                })
        }
    };
    answer.unwrap_or_else(|error| json!({"error": error}))
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn percentiles_us(h: &Histogram<u64>) -> Value {
    let us = |ns: u64| ns as f64 / 1e3;
    json!({
        "p50_us": us(h.value_at_quantile(0.5)),
        "p90_us": us(h.value_at_quantile(0.9)),
        "p99_us": us(h.value_at_quantile(0.99)),
        "p99_9_us": us(h.value_at_quantile(0.999)),
        "max_us": us(h.max()),
        "mean_us": h.mean() / 1e3,
        "runs": h.len(),
    })
}

/// Sequential golden-path runs of one user on one connection, after a warm-up.
pub(crate) async fn sequential(
    url: url::Url,
    access: &Access,
    runs: usize,
) -> Result<Histogram<u64>, String> {
    let mut ws = connect_user(&url, access, &token("latency"), TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let mut histogram = latency_histogram();
    for r in 0..runs / 10 + runs {
        let started = Instant::now();
        golden_path_run(&mut ws, &format!("m-{r}"), TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        if r >= runs / 10 {
            histogram.saturating_record(started.elapsed().as_nanos() as u64);
        }
    }
    Ok(histogram)
}

/// 2. Golden-path latency, one user, sequential runs on one connection.
pub(crate) fn latency(bench: &Bench) -> Value {
    let runs = bench.sizes.latency_runs;
    eprintln!("[2/9] golden-path latency, one user, {runs} sequential runs");
    let measure = |name: &str, url: Result<url::Url, String>| -> Value {
        let result = url.and_then(|url| {
            bench
                .one_thread
                .block_on(sequential(url, &Access::test(), runs))
        });
        match result {
            Ok(h) => {
                let mut row = percentiles_us(&h);
                row["name"] = json!(name);
                eprintln!(
                    "  {name}: p50 {:.1} µs, p99 {:.1} µs",
                    row["p50_us"], row["p99_us"]
                );
                row
            }
            Err(error) => {
                eprintln!("  {name}: NOT MEASURED: {error}");
                json!({"name": name, "error": error})
            }
        }
    };
    let mut rows = Vec::new();
    {
        let backend = InProcessBackend::start_with(lifted()).map_err(|e| e.to_string());
        rows.push(measure(
            "ws-harness in-process",
            backend
                .as_ref()
                .map(InProcessBackend::url)
                .map_err(Clone::clone),
        ));
    }
    {
        let floor = InProcessFloor::start().map_err(|e| e.to_string());
        rows.push(measure(
            "floor in-process",
            floor
                .as_ref()
                .map(InProcessFloor::url)
                .map_err(Clone::clone),
        ));
    }
    for peer in Peer::ALL {
        let server = peer.start(&bench.python).map_err(|e| e.to_string());
        let name = format!("{} process", peer.name());
        let cpu_before = server.as_ref().ok().and_then(|s| cpu_seconds(s.pid()));
        let mut row = measure(
            &name,
            server.as_ref().map(|s| s.url()).map_err(Clone::clone),
        );
        let cpu_after = server.as_ref().ok().and_then(|s| cpu_seconds(s.pid()));
        if let (Some(before), Some(after), Some(done)) =
            (cpu_before, cpu_after, row["runs"].as_u64())
        {
            // The warm-up's runs were served too.
            let served = (done + done / 10) as f64;
            row["server_user_us_per_run"] = json!((after.0 - before.0) * 1e6 / served);
            row["server_system_us_per_run"] = json!((after.1 - before.1) * 1e6 / served);
        }
        rows.push(row);
    }
    json!({
        "figure": "latency",
        "what": "one user, sequential golden-path runs on one connection: user_message sent until agent_completed received; for a server process, its CPU time per run too (user and system, from /proc, in 10 ms ticks over all the runs)",
        "rows": rows,
    })
}

/// A process's CPU time so far, user and system, in seconds (Linux:
/// `/proc/PID/stat`, all threads, in ticks of `USER_HZ`, 100 a second).
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (in parentheses, maybe with spaces):
    // utime and stime are the 12th and 13th of them.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? / 100.0, ticks(12)? / 100.0))
}

/// `users` users running `runs` golden-path runs each, as `ws-harness
/// load` runs them.
pub(crate) fn load_plan(users: usize, runs: usize, server_pid: Option<u32>) -> LoadPlan {
    LoadPlan {
        scenario: ScenarioFile::golden_path(),
        users,
        user_prefix: "load".to_owned(),
        runs,
        concurrency: users.min(256),
        server_pid,
    }
}

/// Runs `plan` against the server at `url` with `access`, as `ws-harness
/// load` does, but with contract `none`: servers are measured here, not
/// the client's checks (the contract's cost is figure 5's).
pub(crate) fn load(bench: &Bench, url: &url::Url, access: &Access, plan: &LoadPlan) -> LoadReport {
    let mut config = bench.config.clone();
    config.contract.source = ContractSource::None;
    // No frame is checked, but the golden path's `expect = { run = .. }`
    // reads the run as the reference contract describes it.
    config.contract.run_field = Some("message_id".to_owned());
    config.contract.run_events = Some(
        (config.required_agent_events.iter())
            .map(|event| event.as_str().to_owned())
            .collect(),
    );
    config.contract.terminal_kinds =
        Some(vec!["agent_completed".to_owned(), "agent_error".to_owned()]);
    let backend = BackendInfo {
        tier: None,
        url: url.clone(),
        reason: "the server the bench measures".to_owned(),
        resolution: Resolution::default(),
        container: None,
        access: access.clone(),
    };
    let factory = TestClientFactory::new(config, backend).expect("a factory of contract none");
    bench.runtime.block_on(load::run(&factory, plan))
}

/// 3. Runs per second at 1, 10, 100 and 1,000 concurrent users.
pub(crate) fn throughput(bench: &Bench) -> Value {
    let total = bench.sizes.throughput_runs;
    eprintln!(
        "[3/9] runs per second, {total} runs per measurement, median of {}",
        bench.sizes.repeats
    );
    let mut rows = Vec::new();
    for peer in Peer::ALL {
        let server = match peer.start(&bench.python) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("  {}: NOT MEASURED: {e}", peer.name());
                rows.push(json!({"name": peer.name(), "error": e.to_string()}));
                continue;
            }
        };
        // Warm up: the first connections of a process pay for its allocations.
        load(
            bench,
            &server.url(),
            &Access::test(),
            &load_plan(100, 5, None),
        );
        let mut points = Vec::new();
        for users in USER_COUNTS {
            let runs = (total / users).max(3);
            let mut samples = Vec::new();
            let mut errors = serde_json::Map::new();
            let mut latency = Value::Null;
            for _ in 0..bench.sizes.repeats {
                let plan = load_plan(users, runs, None);
                let report = load(bench, &server.url(), &Access::test(), &plan);
                for (kind, count) in &report.errors {
                    errors.insert(kind.clone(), json!(count));
                }
                samples.push(report.runs_per_second());
                latency = report.to_json()["run_latency"].clone();
            }
            let runs_per_second = median(&samples);
            eprintln!(
                "  {}, {users} users: {runs_per_second:.0} runs/s",
                peer.name()
            );
            points.push(json!({
                "users": users,
                "runs_per_user": runs,
                "runs_per_second": runs_per_second,
                "samples": samples,
                "last_run_latency": latency,
                "errors": errors,
            }));
        }
        rows.push(json!({"name": peer.name(), "points": points}));
    }
    json!({
        "figure": "throughput",
        "what": "golden-path runs completed per second with N users connected at once, each running its runs one after another; the client is a separate process from the server, on the same 2 cores",
        "rows": rows,
    })
}

/// 4. Many concurrent authenticated connections, each completing one run.
pub(crate) fn connections(bench: &Bench) -> Value {
    let n = bench.sizes.connections;
    eprintln!(
        "[4/9] {n} concurrent connections, one run each, median of {}",
        bench.sizes.repeats
    );
    let mut rows = Vec::new();
    for peer in Peer::ALL {
        let mut reports = Vec::new();
        let mut error = None;
        for _ in 0..bench.sizes.repeats {
            // A fresh process each time: its memory growth is what the connections cost.
            match peer.start(&bench.python) {
                Ok(server) => {
                    let plan = load_plan(n, 1, Some(server.pid()));
                    reports.push(load(bench, &server.url(), &Access::test(), &plan).to_json());
                }
                Err(e) => error = Some(e.to_string()),
            }
        }
        if let Some(error) = error {
            eprintln!("  {}: NOT MEASURED: {error}", peer.name());
            rows.push(json!({"name": peer.name(), "error": error}));
            continue;
        }
        let pick =
            |key: &str| -> Vec<f64> { reports.iter().filter_map(|r| r[key].as_f64()).collect() };
        let per_connection = median(&pick("server_rss_per_connection_bytes"));
        let connects = median(&pick("connects_per_second"));
        let all_completed = reports
            .iter()
            .all(|r| r["completed_runs"] == json!(n) && r["passed"] == json!(true));
        eprintln!(
            "  {}: {:.1} KiB per connection, {connects:.0} connections/s, all completed: {all_completed}",
            peer.name(),
            per_connection / 1024.0
        );
        rows.push(json!({
            "name": peer.name(),
            "connections": n,
            "all_completed": all_completed,
            "rss_per_connection_bytes": per_connection,
            "connects_per_second": connects,
            "runs": reports,
        }));
    }
    json!({
        "figure": "connections",
        "what": "N users connect (256 handshakes in flight) and stay connected, each completes one run; server RSS growth per connection and connect rate",
        "rows": rows,
    })
}

/// Figure 5: the harness's `TestClient`, with the reference contract and
/// with none, against the bare client; same server, runs interleaved.
pub(crate) fn client_overhead(bench: &Bench) -> Value {
    let runs = bench.sizes.overhead_runs;
    eprintln!(
        "[5/9] harness client (contract reference, contract none) against the bare client, {runs} runs each, interleaved"
    );
    let result = (|| -> Result<Vec<Histogram<u64>>, String> {
        let backend = InProcessBackend::start_with(lifted()).map_err(|e| e.to_string())?;
        bench.one_thread.block_on(async {
            let mut clients = Vec::new();
            for kind in ClientKind::ALL {
                let user = format!("overhead-{}", clients.len());
                clients.push(Client::open(kind, &backend.url(), &user).await?);
            }
            let mut histograms: Vec<_> = clients.iter().map(|_| latency_histogram()).collect();
            for r in 0..runs / 10 + runs {
                let id = format!("m-{r}");
                for (client, histogram) in clients.iter_mut().zip(&mut histograms) {
                    let started = Instant::now();
                    client.run(&id).await?;
                    if r >= runs / 10 {
                        histogram.saturating_record(started.elapsed().as_nanos() as u64);
                    }
                }
            }
            match clients[0].violations() {
                0 => Ok(histograms),
                n => Err(format!("{n} frames broke the reference contract")),
            }
        })
    })();
    match result {
        Ok(histograms) => {
            let rows: Vec<Value> = histograms
                .iter()
                .zip(ClientKind::ALL)
                .map(|(h, kind)| {
                    let mut row = percentiles_us(h);
                    row["name"] = json!(kind.name());
                    row
                })
                .collect();
            let p50 = |i: usize| rows[i]["p50_us"].as_f64().unwrap_or(f64::NAN);
            let overhead = p50(0) / p50(2) - 1.0;
            let contract_cost = p50(0) / p50(1) - 1.0;
            eprintln!(
                "  p50 {:.1} µs (contract) / {:.1} µs (none) vs {:.1} µs bare: {:+.1}% overhead, contract {:+.1}%",
                p50(0),
                p50(1),
                p50(2),
                overhead * 100.0,
                contract_cost * 100.0
            );
            json!({
                "figure": "client_overhead",
                "what": "one golden-path run on the in-process server: the harness's TestClient (send_user_message + expect_required_events, transcript kept) with the reference contract checking every frame and with contract none, against the bare client of `ws-harness load`, the three alternating run by run",
                "rows": rows,
                "overhead_p50": overhead,
                "contract_cost_p50": contract_cost,
            })
        }
        Err(error) => {
            eprintln!("  NOT MEASURED: {error}");
            json!({"figure": "client_overhead", "rows": [], "error": error})
        }
    }
}

/// Handshakes one after another (TCP, TLS for `wss://`, WebSocket), each
/// connection closed before the next; after a warm-up.
async fn handshakes(
    url: &url::Url,
    access: &Access,
    count: usize,
) -> Result<Histogram<u64>, String> {
    let token = token("handshake");
    let mut histogram = latency_histogram();
    for i in 0..count / 10 + count {
        let started = Instant::now();
        let mut ws = connect_user(url, access, &token, TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let took = started.elapsed();
        let _ = ws.close(None).await;
        if i >= count / 10 {
            histogram.saturating_record(took.as_nanos() as u64);
        }
    }
    Ok(histogram)
}

/// Figure 6, `wss://` against `ws://`: the same in-process server behind
/// two relays of one shape, one ending TLS (a certificate made now, trusted
/// through `tls_ca_file`) and one passing bytes on.
pub(crate) fn tls(bench: &Bench) -> Value {
    let (count, runs) = (bench.sizes.handshakes, bench.sizes.latency_runs);
    eprintln!("[6/9] wss:// against ws://, {count} handshakes and {runs} golden-path runs each");
    let result = (|| -> Result<Vec<Value>, String> {
        let backend = InProcessBackend::start_with(lifted()).map_err(|e| e.to_string())?;
        let pki = Pki::new("bench");
        let config = RealWebSocketTestConfig::builder()
            .without_environment()
            .tls_ca_file(&pki.ca_file)
            .build()
            .map_err(|e| e.to_string())?;
        bench.one_thread.block_on(async {
            let tls_relay = Relay::tls(pki.server_config(false), backend.addr()).await;
            let plain_relay = Relay::plain(backend.addr()).await;
            let mut rows = Vec::new();
            for (name, relay) in [
                ("ws:// through a TCP relay", &plain_relay),
                ("wss:// through a TLS relay", &tls_relay),
            ] {
                let url = relay.url();
                let access = Access::configured(&config, &url)
                    .await
                    .map_err(|e| e.to_string())?;
                let handshake = handshakes(&url, &access, count).await?;
                let golden = sequential(url, &access, runs).await?;
                let p50 = |h: &Histogram<u64>| h.value_at_quantile(0.5) as f64 / 1e3;
                eprintln!(
                    "  {name}: handshake p50 {:.1} µs, golden path p50 {:.1} µs",
                    p50(&handshake),
                    p50(&golden)
                );
                rows.push(json!({
                    "name": name,
                    "handshake": percentiles_us(&handshake),
                    "golden_path": percentiles_us(&golden),
                }));
            }
            Ok(rows)
        })
    })();
    let what = "the in-process server behind two relays of one shape on loopback, one ending TLS 1.3 (rustls, ring, a P-256 certificate made at run time) and one passing bytes on: handshakes one after another (TCP + TLS + WebSocket upgrade), then sequential golden-path runs on one connection";
    match result {
        Ok(rows) => json!({"figure": "tls", "what": what, "rows": rows}),
        Err(error) => {
            eprintln!("  NOT MEASURED: {error}");
            json!({"figure": "tls", "what": what, "rows": [], "error": error})
        }
    }
}

/// Users per wave of the churn figure.
pub(crate) const CHURN_WAVE: usize = 1_000;
/// The churn figure's replay TTL, and how long it waits for it to pass
/// (the server looks every quarter TTL).
pub(crate) const CHURN_TTL: Duration = Duration::from_secs(1);
pub(crate) const CHURN_SETTLE: Duration = Duration::from_millis(1_500);

/// One fresh server of the churn figure: its RSS after the warm-up waves
/// and at the end, and the runs completed.
struct ChurnServer {
    rss_after_warm_up: u64,
    rss_at_end: u64,
    completed: u64,
}

/// 7. Users who leave.
///
/// Distinct users in waves of [`CHURN_WAVE`], each
/// connecting once, completing one run and leaving; the server's RSS
/// growth per user once the replay TTL has passed, with a TTL of 1 s and
/// with one that does not pass in the run (what the server kept before it
/// had one). The first half of the waves is not counted: it brings the
/// server to its working size, as with a 1 s TTL the users of the last
/// four or five waves (a wave takes about 0.3 s) are still kept whole. The
/// figure is the median of [`Sizes::repeats`] fresh servers, as the
/// allocator's layout varies from one process to the next.
pub(crate) fn churn(bench: &Bench) -> Value {
    let users = bench.sizes.churn_users;
    let waves = (users / CHURN_WAVE).max(2);
    let warm_up = waves / 2;
    eprintln!(
        "[7/9] {users} users who each connect once, run once and leave, in waves of {CHURN_WAVE}"
    );
    let exe: &std::path::Path = env!("CARGO_BIN_EXE_ws-harness").as_ref();
    let mut rows = Vec::new();
    for (name, ttl) in [
        ("replay TTL 1 s", CHURN_TTL),
        ("replay TTL 1 h (not reached)", Duration::from_secs(3600)),
    ] {
        let flag = format!("--replay-ttl={}", humantime::format_duration(ttl));
        let once = || -> Result<ChurnServer, String> {
            let server = ServerProcess::serve_for_load(exe, &[&flag]).map_err(|e| e.to_string())?;
            let rss = || load::rss_bytes(server.pid()).ok_or("cannot read the server's RSS");
            let mut completed = 0;
            let mut base = None;
            for wave in 0..waves {
                let mut plan = load_plan(CHURN_WAVE, 1, None);
                plan.user_prefix = format!("churn-{wave}");
                let report = load(bench, &server.url(), &Access::test(), &plan);
                completed += report.completed_runs;
                if wave + 1 == warm_up {
                    std::thread::sleep(CHURN_SETTLE);
                    base = Some(rss()?);
                }
            }
            std::thread::sleep(CHURN_SETTLE);
            Ok(ChurnServer {
                rss_after_warm_up: base.ok_or("no warm-up wave")?,
                rss_at_end: rss()?,
                completed,
            })
        };
        let counted = (waves - warm_up) * CHURN_WAVE;
        let result = (0..bench.sizes.repeats)
            .map(|_| once())
            .collect::<Result<Vec<_>, String>>()
            .map(|servers| {
                let kept: Vec<f64> = servers
                    .iter()
                    .map(|s| s.rss_at_end.saturating_sub(s.rss_after_warm_up) as f64 / counted as f64)
                    .collect();
                json!({
                    "name": name,
                    "replay_ttl_ms": ttl.as_millis() as u64,
                    "users": waves * CHURN_WAVE,
                    "counted_users": counted,
                    "all_completed": servers
                        .iter()
                        .all(|s| s.completed == (waves * CHURN_WAVE) as u64),
                    "rss_kept_per_user_bytes": median(&kept),
                    "samples_rss_kept_per_user_bytes": kept,
                    "rss_after_warm_up_bytes": servers.iter().map(|s| s.rss_after_warm_up).collect::<Vec<_>>(),
                    "rss_at_end_bytes": servers.iter().map(|s| s.rss_at_end).collect::<Vec<_>>(),
                })
            });
        match result {
            Ok(row) => {
                eprintln!(
                    "  {name}: {:.0} B kept per departed user (median of {}), all completed: {}",
                    row["rss_kept_per_user_bytes"].as_f64().unwrap_or(0.0),
                    bench.sizes.repeats,
                    row["all_completed"]
                );
                rows.push(row);
            }
            Err(error) => {
                eprintln!("  {name}: NOT MEASURED: {error}");
                rows.push(json!({"name": name, "error": error}));
            }
        }
    }
    json!({
        "figure": "churn",
        "what": "distinct users in waves of 1,000 (256 handshakes in flight), each connecting once, completing one run and leaving, against `ws-harness serve` in a fresh process, several times (the median of the fresh servers); the server's RSS growth per user over the second half of the waves (the first half brings it to its working size: the users of the last second are still kept), each RSS read 1.5 s after the last wave left (longer than a 1 s TTL and its sweep); with a 1 h TTL nothing is forgotten in the run",
        "rows": rows,
    })
}
