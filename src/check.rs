//! `ws-harness check`: the golden path for `concurrent_connections` users at
//! once, with a report a person reads at a glance (or JSON for machines).

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
}

/// What one check found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The backend, and why it was chosen.
    pub backend: BackendInfo,
    /// The events each run had to send, in order.
    pub required_events: Vec<String>,
    /// One entry per user.
    pub users: Vec<UserReport>,
    /// The contract every frame was checked against.
    pub contract: ContractSource,
    /// How long the whole check took.
    pub elapsed: Duration,
}

/// One user's run.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct UserReport {
    pub user: String,
    /// The required events received, with their latency since the
    /// `user_message` was sent.
    pub events: Vec<(String, u64, Duration)>,
    /// Why the user failed, if it did.
    pub failure: Option<String>,
    /// The frames it received that broke the contract.
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// Whether every user got every required event in order, and no
    /// frame broke the contract.
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
        let _ = writeln!(
            out,
            "required events, in order: {}",
            self.required_events.join(", ")
        );
        for user in &self.users {
            let verdict = if user.failure.is_none() {
                "PASS"
            } else {
                "FAIL"
            };
            let events: Vec<String> = user
                .events
                .iter()
                .map(|(kind, _, latency)| format!("{kind} {:.1}ms", latency.as_secs_f64() * 1000.0))
                .collect();
            let _ = writeln!(out, "  {verdict}  {:<12} {}", user.user, events.join(", "));
            if let Some(failure) = &user.failure {
                for line in failure.lines() {
                    let _ = writeln!(out, "        {line}");
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
            "verdict: {} ({passed} of {} users got every required event in order) in {:.0}ms",
            if self.passed() { "PASS" } else { "FAIL" },
            self.users.len(),
            self.elapsed.as_secs_f64() * 1000.0
        );
        out
    }

    /// The report as one JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
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
            "contract": {
                "source": self.contract.to_string(),
                "violations": self.violations().iter().map(|(rule, (count, example))| json!({
                    "rule": rule.as_str(),
                    "count": count,
                    "example": example.to_string(),
                })).collect::<Vec<_>>(),
            },
            "required_events": self.required_events,
            "elapsed_ms": self.elapsed.as_secs_f64() * 1000.0,
            "users": self.users.iter().map(|u| json!({
                "user": u.user,
                "passed": u.failure.is_none(),
                "failure": u.failure,
                "events": u.events.iter().map(|(kind, id, latency)| json!({
                    "type": kind,
                    "event_id": id,
                    "latency_ms": latency.as_secs_f64() * 1000.0,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
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

/// Runs the golden path for `config.concurrent_connections` users at once
/// against the backend the config asks for.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ws_harness::check::check;
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder().without_environment().concurrent_connections(3).build().unwrap();
/// let report = check(config).await.unwrap();
/// assert!(report.passed(), "{}", report.render());
/// assert_eq!(report.users.len(), 3);
/// # }
/// ```
///
/// # Errors
/// [`CheckError`] when the backend or the configured fault proxy cannot
/// be had; a user that cannot connect or misses an event fails in the
/// report instead.
pub async fn check(config: RealWebSocketTestConfig) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    let required_events = config
        .required_agent_events
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect();
    let users = config.concurrent_connections;
    let contract = config.contract.source.clone();
    let backend = BackendInfo::resolve(&config)
        .await
        .map_err(ClientError::from)?;
    // The proxy lives until the check ends.
    let proxy = FaultProxy::configured(&config, &backend).await?;
    let backend = proxy.as_ref().map_or(backend, FaultProxy::backend);
    let factory = TestClientFactory::new(config, backend)?;
    let runs = (1..=users).map(|i| {
        let factory = factory.clone();
        tokio::spawn(async move { run_user(&factory, format!("check-{i}")).await })
    });
    let mut reports = Vec::with_capacity(users);
    for run in runs.collect::<Vec<_>>() {
        reports.push(run.await.unwrap_or_else(|e| UserReport {
            user: "?".into(),
            events: Vec::new(),
            failure: Some(format!("the check task failed: {e}")),
            violations: Vec::new(),
        }));
    }
    Ok(CheckReport {
        backend: factory.backend().clone(),
        required_events,
        users: reports,
        contract,
        elapsed: started.elapsed(),
    })
}

async fn run_user(factory: &TestClientFactory, user: String) -> UserReport {
    let failed = |user: String, failure: String| UserReport {
        user,
        events: Vec::new(),
        failure: Some(failure),
        violations: Vec::new(),
    };
    let mut client = match factory.client(&user).await {
        Ok(client) => client,
        Err(e) => return failed(user, format!("could not connect: {e}")),
    };
    let message_id = format!("{user}-golden-path");
    let sent_at = client.transcript().elapsed();
    if let Err(e) = client
        .send_user_message(&message_id, "ws-harness check")
        .await
    {
        return failed(user, e.to_string());
    }
    let result = client.expect_required_events(&message_id).await;
    let events = client
        .transcript()
        .frames()
        .iter()
        .filter(|f| f.matched)
        .filter_map(|f| {
            let kind = f.json.get("type")?.as_str()?.to_owned();
            let id = f.json.get("event_id")?.as_u64()?;
            Some((kind, id, f.at.saturating_sub(sent_at)))
        })
        .collect();
    let failure = result.err().map(|e| {
        let file = match &e.transcript_file {
            Ok(path) => path.display().to_string(),
            Err(why) => format!("not written: {}", with_sources(why)),
        };
        format!("{}\ntranscript: {file}", e.problem)
    });
    client.close().await;
    UserReport {
        user,
        events,
        failure,
        violations: client.violations().to_vec(),
    }
}
