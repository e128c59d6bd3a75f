//! `ws-harness check`: a scenario (by default the reference golden path)
//! for many users at once, with a report a person reads at a glance (or
//! JSON for machines).

use super::{ScenarioError, ScenarioFile, UserOutcome};
use crate::chain::{BackendInfo, TierAttempt, TierOutcome};
use crate::client::{ClientError, TestClientFactory};
use crate::config::{ContractSource, RealWebSocketTestConfig};
use crate::contract::{Rule, Violation};
use crate::faults::{FaultError, FaultProxy};
use crate::with_sources;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The backend or its clients could not be had.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The `faults.*` settings' proxy could not be had.
    #[error(transparent)]
    Faults(#[from] FaultError),
    /// The scenario cannot run with these users.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// What one check found.
#[derive(Debug)]
pub struct CheckReport {
    /// The backend, and why it was chosen.
    pub backend: BackendInfo,
    /// The scenario each user ran.
    pub scenario: ScenarioFile,
    /// One entry per user.
    pub users: Vec<UserOutcome>,
    /// The contract every frame was checked against.
    pub contract: ContractSource,
    /// The fields of the contract that name a frame's kind and its place
    /// in the sequence, for the report.
    pub fields: (String, Option<String>),
    /// How long the whole check took.
    pub elapsed: Duration,
}

impl CheckReport {
    /// Whether every user took every step, and no frame broke the
    /// contract.
    #[must_use]
    pub fn passed(&self) -> bool {
        !self.users.is_empty()
            && self
                .users
                .iter()
                .all(|u| u.failure.is_none() && u.violations.is_empty())
    }

    /// The contract's violations by rule: how many, and the first of each.
    #[must_use]
    pub fn violations(&self) -> BTreeMap<Rule, (usize, &Violation)> {
        let mut by_rule: BTreeMap<Rule, (usize, &Violation)> = BTreeMap::new();
        for violation in self.users.iter().flat_map(|u| &u.violations) {
            by_rule.entry(violation.rule).or_insert((0, violation)).0 += 1;
        }
        by_rule
    }

    /// The one subject every user connects as, when a fixed token gives
    /// them all one identity.
    #[must_use]
    pub fn shared_identity(&self) -> Option<&str> {
        let first = &self.users.first()?.subject;
        (self.users.len() > 1 && self.users.iter().all(|u| &u.subject == first))
            .then_some(first.as_str())
    }

    /// A matched frame in a few words: its kind, or its text.
    fn kind_of(&self, frame: &Value) -> String {
        match frame.get(&self.fields.0).and_then(Value::as_str) {
            Some(kind) => kind.to_owned(),
            None => crate::client::cut(&frame.to_string()),
        }
    }

    /// The report for people.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = format!(
            "ws-harness check: {} users against {}\n",
            self.users.len(),
            self.backend
        );
        for line in self.backend.resolution.to_string().lines() {
            let _ = writeln!(out, "  {line}");
        }
        let steps: Vec<String> = (self.scenario.steps.iter().enumerate())
            .map(|(i, step)| format!("{}. {}", i + 1, step.name))
            .collect();
        let _ = writeln!(
            out,
            "scenario `{}` ({}): {}",
            self.scenario.name,
            self.scenario.origin,
            steps.join(", ")
        );
        if let Some(subject) = self.shared_identity() {
            let _ = writeln!(
                out,
                "every user connects as `{subject}`: the configured token names one identity for all of them"
            );
        }
        for user in &self.users {
            let verdict = if user.failure.is_none() {
                "PASS"
            } else {
                "FAIL"
            };
            let _ = writeln!(out, "  {verdict}  {}", user.user);
            for step in &user.steps {
                let name = &self.scenario.steps[step.step - 1].name;
                let _ = write!(out, "        {}. {name} {}", step.step, ms(step.took));
                let frames: Vec<String> = (step.frames.iter())
                    .map(|(frame, at)| format!("{} {}", self.kind_of(frame), ms(*at)))
                    .collect();
                if !frames.is_empty() {
                    let _ = write!(out, ": {}", frames.join(", "));
                }
                out.push('\n');
            }
            if let Some(failure) = &user.failure {
                let what = if failure.step == 0 {
                    "could not connect".to_owned()
                } else {
                    format!(
                        "{}. {} (line {}) failed",
                        failure.step, failure.name, failure.line
                    )
                };
                let _ = writeln!(out, "        {what}:");
                for line in failure.error.summary().lines() {
                    let _ = writeln!(out, "          {line}");
                }
            }
        }
        let violations = self.violations();
        let total: usize = violations.values().map(|(count, _)| count).sum();
        let _ = writeln!(
            out,
            "contract {}: {total} violation{}",
            self.contract,
            if total == 1 { "" } else { "s" }
        );
        for (rule, (count, example)) in &violations {
            let _ = writeln!(out, "  {rule}: {count}, e.g. {example}");
        }
        let passed = self.users.iter().filter(|u| u.failure.is_none()).count();
        let _ = write!(
            out,
            "verdict: {} ({passed} of {} users took every step) in {}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.users.len(),
            ms(self.elapsed)
        );
        out
    }

    /// The report as one JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let frame_json = |(frame, at): &(Value, Duration)| {
            json!({
                "kind": self.kind_of(frame),
                "sequence": self.fields.1.as_ref().and_then(|field| frame.get(field)),
                "latency_ms": at.as_secs_f64() * 1000.0,
            })
        };
        json!({
            "passed": self.passed(),
            "backend": {
                "kind": self.backend.source(),
                "url": self.backend.url.as_str(),
                "reason": self.backend.reason,
                "container_id": self.backend.container.as_ref().map(|c| c.id.clone()),
                "access": self.backend.access.to_string(),
                "resolution": self.backend.resolution.attempts.iter().map(tier_json).collect::<Vec<_>>(),
            },
            "scenario": {
                "name": self.scenario.name,
                "origin": self.scenario.origin,
                "steps": self.scenario.steps.iter().map(|s| json!({"name": s.name, "line": s.line})).collect::<Vec<_>>(),
            },
            "shared_identity": self.shared_identity(),
            "contract": {
                "source": self.contract.to_string(),
                "violations": self.violations().iter().map(|(rule, (count, example))| json!({
                    "rule": rule.as_str(),
                    "count": count,
                    "example": example.to_string(),
                })).collect::<Vec<_>>(),
            },
            "elapsed_ms": self.elapsed.as_secs_f64() * 1000.0,
            "users": self.users.iter().map(|u| json!({
                "user": u.user,
                "subject": u.subject,
                "passed": u.failure.is_none(),
                "failure": u.failure.as_ref().map(|f| json!({
                    "step": f.step,
                    "name": f.name,
                    "line": f.line,
                    "problem": f.error.summary(),
                })),
                "steps": u.steps.iter().map(|s| json!({
                    "step": s.step,
                    "took_ms": s.took.as_secs_f64() * 1000.0,
                    "frames": s.frames.iter().map(frame_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "events": u.steps.iter().flat_map(|s| &s.frames).map(frame_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

fn ms(took: Duration) -> String {
    format!("{:.1}ms", took.as_secs_f64() * 1000.0)
}

fn tier_json(attempt: &TierAttempt) -> Value {
    let (outcome, reason) = match &attempt.outcome {
        TierOutcome::Chosen => ("chosen", None),
        TierOutcome::Skipped(why) => ("skipped", Some(with_sources(why.as_ref()))),
        TierOutcome::NotTried => ("not tried", None),
        TierOutcome::LeftOut => ("left out by backend", None),
    };
    json!({
        "tier": attempt.tier.as_str(),
        "outcome": outcome,
        "reason": reason,
        "took_ms": attempt.took.as_secs_f64() * 1000.0,
    })
}

/// Runs `scenario` once for its users (`[users] count`, else the
/// config's `concurrent_connections`, named `PREFIX-1`, ... with the
/// scenario's prefix, else `check`) at once against the backend the config
/// asks for.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ws_harness::scenario::{ScenarioFile, check};
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder().without_environment().concurrent_connections(3).build().unwrap();
/// let report = check(config, &ScenarioFile::golden_path()).await.unwrap();
/// assert!(report.passed(), "{}", report.render());
/// assert_eq!(report.users.len(), 3);
/// # }
/// ```
///
/// # Errors
/// [`CheckError`] when the backend or the configured fault proxy cannot
/// be had, or the scenario names users that do not run; a user that cannot
/// connect or fails a step fails in the report instead.
pub async fn check(
    config: RealWebSocketTestConfig,
    scenario: &ScenarioFile,
) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    let count = scenario.users.unwrap_or(config.concurrent_connections);
    scenario.check_users(count)?;
    let contract = config.contract.source.clone();
    let backend = BackendInfo::resolve(&config)
        .await
        .map_err(ClientError::from)?;
    // The proxy lives until the check ends.
    let proxy = FaultProxy::configured(&config, &backend).await?;
    let backend = proxy.as_ref().map_or(backend, FaultProxy::backend);
    let factory = TestClientFactory::new(config, backend)?;
    let settings = factory.contract().settings();
    let fields = (settings.kind_field.clone(), settings.sequence_field.clone());
    let prefix = scenario.user_prefix.as_deref().unwrap_or("check");
    let users: Vec<String> = (1..=count).map(|i| format!("{prefix}-{i}")).collect();
    let users = scenario.run_users(&factory, &users, 1).await;
    Ok(CheckReport {
        backend: factory.backend().clone(),
        scenario: scenario.clone(),
        users,
        contract,
        fields,
        elapsed: started.elapsed(),
    })
}
