//! [`LoadReport`]: what a load run measured, as text for a person or JSON,
//! and as a file with its HDR histograms that merges with the files of
//! other machines.

use crate::contract::{Rule, Violation};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// What a load run measured.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct LoadReport {
    /// The scenario's name.
    pub scenario: String,
    /// The server.
    pub url: Url,
    /// Users asked for.
    pub users: usize,
    /// Runs per user asked for.
    pub runs_per_user: usize,
    /// Connections that opened.
    pub connected: u64,
    /// Runs in which every step passed.
    pub completed_runs: u64,
    /// Frames matched by `expect` steps.
    pub frames: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Frames that broke the contract, by rule: how many, and the first.
    pub violations: BTreeMap<Rule, (u64, Violation)>,
    /// Connect time, microseconds.
    pub connect_us: Histogram<u64>,
    /// How long a whole run of the scenario took, microseconds.
    pub run_us: Histogram<u64>,
    /// Each step's name and how long it took, microseconds.
    pub steps: Vec<(String, Histogram<u64>)>,
    /// How long the connect phase took, from the first handshake to the last.
    pub connect_elapsed: Duration,
    /// How long the run phase took, from the start line to the last run's
    /// end.
    pub elapsed: Duration,
    /// The server's resident memory before the users connected and at its
    /// peak, bytes (when it could be read).
    pub server_rss: Option<(u64, u64)>,
}

impl LoadReport {
    /// Percentiles of a histogram in milliseconds: p50, p90, p99, p99.9, max.
    fn percentiles(h: &Histogram<u64>) -> [(&'static str, f64); 5] {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return [
                ("p50", 0.0),
                ("p90", 0.0),
                ("p99", 0.0),
                ("p99.9", 0.0),
                ("max", 0.0),
            ];
        }
        [
            ("p50", ms(h.value_at_quantile(0.5))),
            ("p90", ms(h.value_at_quantile(0.9))),
            ("p99", ms(h.value_at_quantile(0.99))),
            ("p99.9", ms(h.value_at_quantile(0.999))),
            ("max", ms(h.max())),
        ]
    }

    /// Finished runs per second.
    #[must_use]
    pub fn runs_per_second(&self) -> f64 {
        self.completed_runs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Connections opened per second in the connect phase.
    #[must_use]
    pub fn connects_per_second(&self) -> f64 {
        self.connected as f64 / self.connect_elapsed.as_secs_f64().max(1e-9)
    }

    /// Matched frames per second.
    #[must_use]
    pub fn frames_per_second(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether every user connected and every run completed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
            && self.violations.is_empty()
            && self.completed_runs == (self.users * self.runs_per_user) as u64
    }

    /// The report for people.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = format!(
            "ws-harness load: scenario `{}`, {} users x {} runs against {}\n",
            self.scenario, self.users, self.runs_per_user, self.url
        );
        let line = |name: &str, h: &Histogram<u64>| {
            let cells: Vec<String> = Self::percentiles(h)
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}ms"))
                .collect();
            format!("  {name:<12} {}\n", cells.join("  "))
        };
        out += &line("connect", &self.connect_us);
        out += &line("run latency", &self.run_us);
        for (i, (name, h)) in self.steps.iter().enumerate() {
            out += &line(&format!("{}. {name}", i + 1), h);
        }
        let _ = writeln!(
            out,
            "  throughput   {:.0} runs/s, {:.0} frames/s ({} runs, {} frames in {:.2}s)",
            self.runs_per_second(),
            self.frames_per_second(),
            self.completed_runs,
            self.frames,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  connected    {} of {} in {:.2}s ({:.0} connections/s)",
            self.connected,
            self.users,
            self.connect_elapsed.as_secs_f64(),
            self.connects_per_second()
        );
        if let Some((before, peak)) = self.server_rss {
            let per = peak.saturating_sub(before) / (self.connected.max(1));
            let _ = writeln!(
                out,
                "  server RSS   {:.1} MiB before, {:.1} MiB peak, {:.1} KiB per connection",
                before as f64 / 1048576.0,
                peak as f64 / 1048576.0,
                per as f64 / 1024.0
            );
        }
        if self.errors.is_empty() {
            out += "  errors       none";
        } else {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = write!(out, "  errors       {}", errors.join(", "));
        }
        if self.violations.is_empty() {
            out += "\n  contract     no violations";
        }
        for (rule, (count, example)) in &self.violations {
            let _ = write!(out, "\n  contract     {rule}: {count}, e.g. {example}");
        }
        out
    }

    /// The report as one JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let percentiles = |h: &Histogram<u64>| -> Value {
            Self::percentiles(h)
                .iter()
                .map(|(k, v)| (format!("{k}_ms"), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let mut report = json!({
            "passed": self.passed(),
            "connect_elapsed_s": self.connect_elapsed.as_secs_f64(),
            "connects_per_second": self.connects_per_second(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "runs_per_second": self.runs_per_second(),
            "frames_per_second": self.frames_per_second(),
            "connect": percentiles(&self.connect_us),
            "run_latency": percentiles(&self.run_us),
            "steps": self.steps.iter().map(|(name, h)| {
                let mut step = percentiles(h);
                step["name"] = name.as_str().into();
                step
            }).collect::<Vec<_>>(),
            "violations": self.violations.iter().map(|(rule, (count, example))| json!({
                "rule": rule.as_str(),
                "count": count,
                "example": example.to_string(),
            })).collect::<Vec<_>>(),
            "server_rss_before_bytes": self.server_rss.map(|(b, _)| b),
            "server_rss_peak_bytes": self.server_rss.map(|(_, p)| p),
            "server_rss_per_connection_bytes": self.server_rss.map(|(b, p)| p.saturating_sub(b) / self.connected.max(1)),
        });
        for (key, value) in self.counts() {
            report[key] = value;
        }
        report
    }

    /// What the report counts, as the JSON and the file both write it.
    fn counts(&self) -> serde_json::Map<String, Value> {
        let counts = json!({
            "scenario": self.scenario,
            "url": self.url.as_str(),
            "users": self.users,
            "runs_per_user": self.runs_per_user,
            "connected": self.connected,
            "completed_runs": self.completed_runs,
            "frames": self.frames,
            "errors": self.errors,
        });
        match counts {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        }
    }
}

/// The first key of a report file, and its value.
const FORMAT: (&str, &str) = ("format", "ws-harness load report 1");

/// A report file that cannot be read, or that does not merge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportFileError {
    /// The file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a report `ws-harness load --report FILE` wrote.
    #[error("{}: not a load report ({reason}); write one with `ws-harness load --report FILE`", path.display())]
    NotAReport {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two reports of different loads.
    #[error("{}: its {what} is {theirs}, the other reports' is {ours}: merge the reports of one load only", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        what: &'static str,
        /// The value so far.
        ours: String,
        /// The file's.
        theirs: String,
    },
}

fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("a histogram serializes into memory");
    BASE64.encode(bytes)
}

fn decode(text: Option<&str>) -> Result<Histogram<u64>, String> {
    let text = text.ok_or("a histogram is missing")?;
    let bytes = BASE64
        .decode(text)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram does not read back: {e:?}"))
}

impl LoadReport {
    /// The report as a file: its counts, and its histograms in the HDR
    /// histogram V2 format (compressed, base64), so [`merge`](Self::merge)
    /// loses nothing.
    ///
    /// # Errors
    /// [`ReportFileError::Io`] when the file cannot be written.
    pub fn to_file(&self, path: &Path) -> Result<(), ReportFileError> {
        let mut file = json!({
            FORMAT.0: FORMAT.1,
            "violations": self.violations.values().map(|(count, v)| json!({
                "rule": v.rule.as_str(), "count": count, "pointer": v.pointer,
                "message": v.message, "frame": v.frame,
            })).collect::<Vec<_>>(),
            "connect_elapsed_s": self.connect_elapsed.as_secs_f64(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "server_rss": self.server_rss.map(|(before, peak)| [before, peak]),
            "connect": encode(&self.connect_us),
            "run": encode(&self.run_us),
            "steps": self.steps.iter().map(|(name, h)| json!({"name": name, "histogram": encode(h)})).collect::<Vec<_>>(),
        });
        for (key, value) in self.counts() {
            file[key] = value;
        }
        let text = serde_json::to_string_pretty(&file).expect("JSON of a report");
        std::fs::write(path, text + "\n").map_err(|source| ReportFileError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a report file [`to_file`](Self::to_file) wrote.
    ///
    /// # Errors
    /// [`ReportFileError`]: it cannot be read, or is not a report.
    pub fn from_file(path: &Path) -> Result<Self, ReportFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::read(&text).map_err(|reason| ReportFileError::NotAReport {
            path: path.to_owned(),
            reason,
        })
    }

    fn read(text: &str) -> Result<Self, String> {
        let file: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if file[FORMAT.0] != FORMAT.1 {
            return Err(format!("its `{}` is not {:?}", FORMAT.0, FORMAT.1));
        }
        let number = |key: &str| file[key].as_u64().ok_or(format!("`{key}` is not a number"));
        let seconds = |key: &str| {
            (file[key].as_f64())
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or(format!("`{key}` is not a duration in seconds"))
        };
        let mut violations = BTreeMap::new();
        for v in file["violations"]
            .as_array()
            .ok_or("`violations` is not a list")?
        {
            let rule = (v["rule"].as_str())
                .and_then(Rule::named)
                .ok_or(format!("`{}` is not a rule", v["rule"]))?;
            let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
            let violation = Violation {
                rule,
                pointer: text("pointer"),
                message: text("message"),
                frame: text("frame"),
            };
            violations.insert(rule, (v["count"].as_u64().unwrap_or(1), violation));
        }
        let steps = (file["steps"]
            .as_array()
            .ok_or("`steps` is not a list")?
            .iter())
        .map(|step| {
            let name = step["name"].as_str().unwrap_or_default().to_owned();
            Ok((name, decode(step["histogram"].as_str())?))
        })
        .collect::<Result<_, String>>()?;
        Ok(Self {
            scenario: file["scenario"].as_str().unwrap_or_default().to_owned(),
            url: (file["url"].as_str())
                .and_then(|u| u.parse().ok())
                .ok_or("`url` is not a URL")?,
            users: number("users")? as usize,
            runs_per_user: number("runs_per_user")? as usize,
            connected: number("connected")?,
            completed_runs: number("completed_runs")?,
            frames: number("frames")?,
            errors: serde_json::from_value(file["errors"].clone())
                .map_err(|e| format!("`errors`: {e}"))?,
            violations,
            connect_us: decode(file["connect"].as_str())?,
            run_us: decode(file["run"].as_str())?,
            steps,
            connect_elapsed: seconds("connect_elapsed_s")?,
            elapsed: seconds("elapsed_s")?,
            server_rss: (file["server_rss"].as_array())
                .and_then(|pair| Some((pair.first()?.as_u64()?, pair.get(1)?.as_u64()?))),
        })
    }

    /// Adds the report of a load that ran at the same time on another
    /// machine, read from `path`: users, runs, frames, errors and
    /// violations add up, the histograms merge, and the phases last as
    /// long as the longest (so runs per second add up too). The servers'
    /// memory is not merged.
    ///
    /// # Errors
    /// [`ReportFileError`]: the file cannot be read, is not a report, or
    /// is of another scenario or number of runs per user.
    pub fn merge(&mut self, path: &Path) -> Result<(), ReportFileError> {
        let other = Self::from_file(path)?;
        let mismatch = |what, ours: String, theirs: String| ReportFileError::Mismatch {
            path: path.to_owned(),
            what,
            ours,
            theirs,
        };
        if other.scenario != self.scenario {
            return Err(mismatch("scenario", self.scenario.clone(), other.scenario));
        }
        if other.runs_per_user != self.runs_per_user || other.steps.len() != self.steps.len() {
            return Err(mismatch(
                "runs per user",
                self.runs_per_user.to_string(),
                other.runs_per_user.to_string(),
            ));
        }
        self.users += other.users;
        self.connected += other.connected;
        self.completed_runs += other.completed_runs;
        self.frames += other.frames;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        for (rule, (count, example)) in other.violations {
            self.violations.entry(rule).or_insert((0, example)).0 += count;
        }
        let add = |into: &mut Histogram<u64>, from: &Histogram<u64>| {
            into.add(from).expect("histograms of one shape add up");
        };
        add(&mut self.connect_us, &other.connect_us);
        add(&mut self.run_us, &other.run_us);
        for ((_, into), (_, from)) in self.steps.iter_mut().zip(&other.steps) {
            add(into, from);
        }
        self.connect_elapsed = self.connect_elapsed.max(other.connect_elapsed);
        self.elapsed = self.elapsed.max(other.elapsed);
        self.server_rss = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{histogram, record, short};
    use super::*;

    /// A report of `runs` runs whose latencies are 1, 2, ... `runs` ms.
    fn report(users: usize, runs: usize) -> LoadReport {
        let mut run_us = histogram();
        for ms in 1..=runs as u64 {
            record(&mut run_us, Duration::from_millis(ms));
        }
        LoadReport {
            scenario: "golden path".into(),
            url: "ws://127.0.0.1:1/ws".parse().unwrap(),
            users,
            runs_per_user: runs / users,
            connected: users as u64,
            completed_runs: runs as u64,
            frames: runs as u64 * 5,
            errors: BTreeMap::new(),
            violations: BTreeMap::new(),
            connect_us: histogram(),
            steps: vec![
                ("user_message".into(), histogram()),
                ("required events".into(), run_us.clone()),
            ],
            run_us,
            connect_elapsed: Duration::from_millis(10),
            elapsed: Duration::from_secs(2),
            server_rss: None,
        }
    }

    #[test]
    fn percentiles_are_in_milliseconds_and_ordered() {
        let report = report(10, 1000);
        let percentiles = LoadReport::percentiles(&report.run_us);
        let values: Vec<f64> = percentiles.iter().map(|(_, v)| *v).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{percentiles:?}");
        // The histogram keeps three significant digits.
        let near = |value: f64, ms: f64| (value - ms).abs() <= ms / 100.0;
        assert!(near(values[0], 500.0), "p50 {}", values[0]);
        assert!(near(values[1], 900.0), "p90 {}", values[1]);
        assert!(near(values[2], 990.0), "p99 {}", values[2]);
        assert!(near(values[4], 1000.0), "max {}", values[4]);
        let json = report.to_json();
        assert_eq!(json["run_latency"]["p50_ms"].as_f64(), Some(values[0]));
        assert_eq!(
            json["connect"]["max_ms"], 0.0,
            "an empty histogram is zeros"
        );
        assert_eq!(json["runs_per_second"], 500.0);
        assert_eq!(json["frames_per_second"], 2500.0);
        assert_eq!(json["steps"][1]["name"], "required events");
        assert_eq!(json["steps"][1]["p50_ms"].as_f64(), Some(values[0]));
        assert!(
            report.render().contains("run latency  p50 500."),
            "{}",
            report.render()
        );
    }

    #[test]
    fn a_run_passes_only_when_every_run_completed_without_error_or_violation() {
        assert!(report(10, 100).passed());
        let mut short_of_runs = report(10, 100);
        short_of_runs.completed_runs -= 1;
        assert!(!short_of_runs.passed());
        let mut with_error = report(10, 100);
        with_error
            .errors
            .insert("step 2 required events: timed out".into(), 1);
        assert!(!with_error.passed());
        assert!(with_error.render().ends_with(
            "errors       step 2 required events: timed out: 1\n  contract     no violations"
        ));
    }

    /// A report written to a file reads back whole, and the reports of two
    /// machines merge: counts add up, histograms merge, phases take the
    /// longest.
    #[test]
    fn reports_of_several_machines_merge_without_losing_a_count() {
        let dir = std::env::temp_dir().join(format!("ws-harness-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut first = report(10, 1000);
        first.errors.insert("connect: HTTP 401".into(), 2);
        first.violations.insert(
            Rule::SequenceGap,
            (
                3,
                Violation {
                    rule: Rule::SequenceGap,
                    pointer: "/seq".into(),
                    message: "`seq` 3 follows 1".into(),
                    frame: "{}".into(),
                },
            ),
        );
        let path = dir.join("first.json");
        first.to_file(&path).unwrap();
        let back = LoadReport::from_file(&path).unwrap();
        assert_eq!(back.to_json(), first.to_json());
        assert_eq!(back.render(), first.render());

        let mut second = report(10, 1000);
        for ms in 1001..=3000 {
            record(&mut second.run_us, Duration::from_millis(ms));
        }
        second.completed_runs = 3000;
        second.elapsed = Duration::from_secs(3);
        let other = dir.join("second.json");
        second.to_file(&other).unwrap();
        let mut merged = back;
        merged.merge(&other).unwrap();
        assert_eq!((merged.users, merged.completed_runs), (20, 4000));
        assert_eq!(merged.run_us.len(), 4000);
        assert_eq!(merged.errors["connect: HTTP 401"], 2);
        assert_eq!(merged.violations[&Rule::SequenceGap].0, 3);
        assert_eq!(merged.elapsed, Duration::from_secs(3));
        let p50 = LoadReport::percentiles(&merged.run_us)[0].1;
        // 1..=1000 ms twice and 1001..=3000 ms once: the 2000th of 4000 is 1000 ms.
        assert!((p50 - 1000.0).abs() <= 10.0, "{p50}");
        assert!((LoadReport::percentiles(&merged.run_us)[4].1 - 3000.0).abs() <= 30.0);

        let mut another = report(10, 1000);
        another.scenario = "room message".into();
        another.to_file(&other).unwrap();
        let err = merged.merge(&other).unwrap_err().to_string();
        assert!(err.ends_with("its scenario is room message, the other reports' is golden path: merge the reports of one load only"), "{err}");
        std::fs::write(&other, "{\"format\": \"something else\"}").unwrap();
        let err = merged.merge(&other).unwrap_err().to_string();
        assert!(
            err.contains("not a load report (its `format` is not \"ws-harness load report 1\")"),
            "{err}"
        );
    }

    #[test]
    fn a_handshake_error_is_counted_by_its_first_sixty_characters() {
        let long = "x".repeat(200);
        assert_eq!(short(&long).len(), 60);
        assert_eq!(short("refused"), "refused");
    }
}
