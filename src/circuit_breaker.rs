//! A small circuit breaker: closed, open, half-open.
//!
//! After `failure_threshold` failures in a row the circuit opens and calls
//! fail fast with [`CircuitOpen`], which says when the next try will be let
//! through. After `reset_timeout` one trial call goes through (half-open): a
//! success closes the circuit, a failure opens it again.
//!
//! The reference agent guards each tool with one; the harness guards its
//! Docker probe with one.
//!
//! ```
//! use std::time::Duration;
//! use ws_harness::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerState};
//!
//! let config = CircuitBreakerConfig { failure_threshold: 2, reset_timeout: Duration::from_secs(30) };
//! let breaker = CircuitBreaker::new("tool `search`", config);
//! breaker.record_failure();
//! breaker.record_failure();
//! assert!(matches!(breaker.state(), CircuitBreakerState::Open { .. }));
//! let open = breaker.try_acquire().unwrap_err();
//! assert!(open.to_string().starts_with("circuit tool `search` is open after 2 failures"));
//! ```

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// When a circuit opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerConfig {
    /// Failures in a row that open the circuit. Default 3.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial call. Default 30 s.
    pub reset_timeout: Duration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            reset_timeout: Duration::from_secs(30),
        }
    }
}

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitBreakerState {
    /// Calls go through; `failures` in a row so far.
    Closed {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When one trial call will be let through.
        until: Instant,
        /// The failures in a row that opened it.
        failures: u32,
    },
    /// One trial call is under way since `since`; others fail fast until it
    /// ends (or until a reset timeout passes without an outcome, when the
    /// trial counts as lost and another is let through).
    HalfOpen {
        /// When the trial started.
        since: Instant,
    },
}

/// A call refused because the circuit is open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit {name} is open after {failures} failures; {}", retry_text(*.retry_in))]
pub struct CircuitOpen {
    /// What the circuit guards.
    pub name: String,
    /// The failures in a row that opened it.
    pub failures: u32,
    /// How long until a trial call is let through (zero while a trial is under way).
    pub retry_in: Duration,
}

fn retry_text(retry_in: Duration) -> String {
    if retry_in.is_zero() {
        "a trial call is under way".to_owned()
    } else {
        format!("it will try again in {:.1} s", retry_in.as_secs_f64())
    }
}

/// The error of [`CircuitBreaker::call`]: the circuit was open, or the call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The call was not made.
    #[error(transparent)]
    Open(CircuitOpen),
    /// The call was made and failed (counted as a failure).
    #[error(transparent)]
    Failed(E),
}

/// A circuit breaker; safe to share between tasks.
pub struct CircuitBreaker {
    name: String,
    config: CircuitBreakerConfig,
    state: Mutex<CircuitBreakerState>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish()
    }
}

impl CircuitBreaker {
    /// A closed circuit named `name` (used in its errors).
    pub fn new(name: impl Into<String>, config: CircuitBreakerConfig) -> Self {
        Self {
            name: name.into(),
            config,
            state: Mutex::new(CircuitBreakerState::Closed { failures: 0 }),
        }
    }

    /// Where the circuit stands now.
    #[must_use]
    pub fn state(&self) -> CircuitBreakerState {
        *self.lock()
    }

    /// Asks to make a call: `Ok` when it may go ahead (in half-open, as the
    /// one trial), [`CircuitOpen`] when it must fail fast. Report the outcome
    /// with [`record_success`](Self::record_success) or
    /// [`record_failure`](Self::record_failure).
    ///
    /// # Errors
    /// [`CircuitOpen`] while the circuit is open or a trial is under way.
    pub fn try_acquire(&self) -> Result<(), CircuitOpen> {
        let mut state = self.lock();
        match *state {
            CircuitBreakerState::Closed { .. } => Ok(()),
            CircuitBreakerState::Open { until, failures } => {
                let now = Instant::now();
                if now >= until {
                    *state = CircuitBreakerState::HalfOpen { since: now };
                    Ok(())
                } else {
                    Err(self.open(failures, until - now))
                }
            }
            CircuitBreakerState::HalfOpen { since } => {
                let now = Instant::now();
                if now >= since + self.config.reset_timeout {
                    *state = CircuitBreakerState::HalfOpen { since: now };
                    Ok(())
                } else {
                    Err(self.open(self.config.failure_threshold, Duration::ZERO))
                }
            }
        }
    }

    /// A call succeeded: the circuit closes.
    pub fn record_success(&self) {
        *self.lock() = CircuitBreakerState::Closed { failures: 0 };
    }

    /// A call failed: one more failure, opening the circuit at the threshold
    /// (or at once after a failed trial).
    pub fn record_failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            CircuitBreakerState::Closed { failures } => failures + 1,
            CircuitBreakerState::Open { failures, .. } => failures,
            CircuitBreakerState::HalfOpen { .. } => self.config.failure_threshold,
        };
        *state = if failures >= self.config.failure_threshold {
            CircuitBreakerState::Open {
                until: Instant::now() + self.config.reset_timeout,
                failures,
            }
        } else {
            CircuitBreakerState::Closed { failures }
        };
    }

    /// Makes the call through the circuit and records its outcome.
    ///
    /// # Errors
    /// [`CallError::Open`] without calling, or [`CallError::Failed`] with the
    /// call's own error.
    pub async fn call<T, E>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CallError<E>> {
        self.try_acquire().map_err(CallError::Open)?;
        match call.await {
            Ok(value) => {
                self.record_success();
                Ok(value)
            }
            Err(error) => {
                self.record_failure();
                Err(CallError::Failed(error))
            }
        }
    }

    fn open(&self, failures: u32, retry_in: Duration) -> CircuitOpen {
        CircuitOpen {
            name: self.name.clone(),
            failures,
            retry_in,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CircuitBreakerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        let config = CircuitBreakerConfig {
            failure_threshold: 3,
            reset_timeout: Duration::from_secs(10),
        };
        CircuitBreaker::new("test", config)
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_the_threshold_and_says_when_it_will_retry() {
        let b = breaker();
        b.record_failure();
        b.record_failure();
        assert_eq!(b.state(), CircuitBreakerState::Closed { failures: 2 });
        assert!(b.try_acquire().is_ok());
        b.record_failure();
        assert!(matches!(
            b.state(),
            CircuitBreakerState::Open { failures: 3, .. }
        ));
        tokio::time::advance(Duration::from_secs(4)).await;
        let open = b.try_acquire().unwrap_err();
        assert_eq!(open.retry_in, Duration::from_secs(6));
        assert_eq!(
            open.to_string(),
            "circuit test is open after 3 failures; it will try again in 6.0 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count() {
        let b = breaker();
        b.record_failure();
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), CircuitBreakerState::Closed { failures: 1 });
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_reset_timeout_one_trial_goes_through() {
        let b = breaker();
        for _ in 0..3 {
            b.record_failure();
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.try_acquire().is_ok(), "the trial");
        assert!(matches!(b.state(), CircuitBreakerState::HalfOpen { .. }));
        let busy = b.try_acquire().unwrap_err();
        assert_eq!(busy.retry_in, Duration::ZERO);
        assert!(busy.to_string().ends_with("a trial call is under way"));
        b.record_success();
        assert_eq!(b.state(), CircuitBreakerState::Closed { failures: 0 });
    }

    #[tokio::test(start_paused = true)]
    async fn a_trial_that_never_reports_is_replaced_after_a_timeout() {
        let b = breaker();
        for _ in 0..3 {
            b.record_failure();
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        b.try_acquire().unwrap(); // the trial's caller goes away without a word
        assert!(b.try_acquire().is_err());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.try_acquire().is_ok(), "a new trial");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_opens_it_again_for_a_full_timeout() {
        let b = breaker();
        for _ in 0..3 {
            b.record_failure();
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        b.try_acquire().unwrap();
        b.record_failure();
        let open = b.try_acquire().unwrap_err();
        assert_eq!(open.retry_in, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn call_records_outcomes_and_skips_calls_while_open() {
        let b = breaker();
        for _ in 0..3 {
            let failed = b.call(async { Err::<(), _>("boom") }).await;
            assert!(matches!(failed, Err(CallError::Failed("boom"))));
        }
        let mut called = false;
        let skipped = b
            .call(async {
                called = true;
                Ok::<_, &str>(())
            })
            .await;
        assert!(matches!(skipped, Err(CallError::Open(_))));
        assert!(!called);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.call(async { Ok::<_, &str>(7) }).await.unwrap(), 7);
        assert_eq!(b.state(), CircuitBreakerState::Closed { failures: 0 });
    }
}
