//! How the chain went: each tier, what became of it, and how long it took.

use super::SkipReason;
use crate::config::BackendKind;
use crate::with_sources;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What became of one tier.
#[derive(Debug, Clone)]
pub enum TierOutcome {
    /// This tier is the backend.
    Chosen,
    /// Tried and passed over, for this reason.
    Skipped(Arc<SkipReason>),
    /// Not tried: an earlier tier was chosen.
    NotTried,
    /// Not tried: the `backend` setting leaves it out.
    LeftOut,
}

/// One tier's line in the report.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct TierAttempt {
    pub tier: BackendKind,
    /// What became of it.
    pub outcome: TierOutcome,
    /// How long trying it took.
    pub took: Duration,
}

/// How the backend was chosen: every tier, its outcome and its time.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// One line per tier, in chain order.
    pub attempts: Vec<TierAttempt>,
}

impl Resolution {
    /// Why `tier` was skipped, if it was.
    #[must_use]
    pub fn skipped(&self, tier: BackendKind) -> Option<&SkipReason> {
        self.attempts.iter().find_map(|a| match &a.outcome {
            TierOutcome::Skipped(why) if a.tier == tier => Some(why.as_ref()),
            _ => None,
        })
    }
}

impl fmt::Display for Resolution {
    /// A numbered list, one tier a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, attempt) in self.attempts.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}. {}: ", i + 1, attempt.tier)?;
            match &attempt.outcome {
                TierOutcome::Chosen => f.write_str("chosen")?,
                TierOutcome::Skipped(why) => write!(f, "skipped: {}", with_sources(why))?,
                TierOutcome::NotTried => f.write_str("not tried")?,
                TierOutcome::LeftOut => f.write_str("left out by backend")?,
            }
            // A given mock another tier served instead (an absent mock is
            // only ever skipped, and has nothing to verify).
            let passed_over = matches!(
                attempt.outcome,
                TierOutcome::NotTried | TierOutcome::LeftOut
            );
            if attempt.tier == BackendKind::Mock && passed_over {
                f.write_str(", so its expectations are not verified")?;
            }
            write!(f, " ({} ms)", attempt.took.as_millis())?;
        }
        Ok(())
    }
}
