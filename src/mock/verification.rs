//! What [`MockServer::verify`](super::MockServer::verify) checks and
//! reports: each mock's count against what it expected, the frames no mock
//! matched and the frames that broke the contract, by connection.

use super::connection::State;
use super::{ClientFrame, Handshake, MockConnectionId, Times};
use crate::contract::Violation;
use std::fmt::{self, Write as _};

/// What [`MockServer::verify`](super::MockServer::verify) found: a mock
/// answered fewer or more frames than it expected, or a client broke the
/// contract.
#[derive(Debug, Clone)]
pub struct VerificationFailed {
    /// The server's name and URL.
    pub server: String,
    /// Each mock, in mount order, satisfied or not.
    pub mocks: Vec<MockReport>,
    /// The connections that sent frames no mock matched.
    pub unmatched: Vec<UnmatchedFrames>,
    /// The connections that sent frames breaking the contract of what
    /// clients send.
    pub violations: Vec<ContractViolations>,
}

/// One mock's line in a [`VerificationFailed`].
#[derive(Debug, Clone)]
pub struct MockReport {
    /// The mock, as it displays.
    pub mock: String,
    /// How many frames it expected.
    pub expected: Times,
    /// How many it answered.
    pub matched: u64,
}

impl MockReport {
    /// Whether it answered as many as it expected.
    #[must_use]
    pub fn satisfied(&self) -> bool {
        self.expected.contains(self.matched)
    }
}

/// The frames one connection sent that no mock matched.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct UnmatchedFrames {
    pub connection: MockConnectionId,
    /// How it was opened.
    pub handshake: Handshake,
    /// The frames, in the order they came.
    pub frames: Vec<ClientFrame>,
}

/// The frames one connection sent that broke the contract of what clients
/// send, each with the rule it broke.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct ContractViolations {
    pub connection: MockConnectionId,
    /// How it was opened.
    pub handshake: Handshake,
    /// The broken rules, in the order the frames came.
    pub violations: Vec<Violation>,
}

/// Checks `state`'s mocks and connections; `server` names the server in
/// the report.
pub(super) fn verify(state: &State, server: String) -> Result<(), VerificationFailed> {
    if let Some(chosen) = state.passed_over_for {
        tracing::info!(mock = %server, %chosen, "the mock is not verified: the chain chose another tier");
        return Ok(());
    }
    let mocks: Vec<MockReport> = state
        .mocks
        .iter()
        .map(|mounted| MockReport {
            mock: mounted.mock.to_string(),
            expected: mounted.mock.expected,
            matched: mounted.matched,
        })
        .collect();
    let violations: Vec<ContractViolations> = state
        .connections
        .iter()
        .filter(|c| !c.violations.is_empty())
        .map(|c| ContractViolations {
            connection: c.id,
            handshake: c.handshake.clone(),
            violations: c.violations.clone(),
        })
        .collect();
    if mocks.iter().all(MockReport::satisfied) && violations.is_empty() {
        return Ok(());
    }
    let unmatched = state
        .connections
        .iter()
        .filter(|c| !c.unmatched.is_empty())
        .map(|c| UnmatchedFrames {
            connection: c.id,
            handshake: c.handshake.clone(),
            frames: c.unmatched.iter().map(|&i| c.received[i].clone()).collect(),
        })
        .collect();
    Err(VerificationFailed {
        server,
        mocks,
        unmatched,
        violations,
    })
}

impl std::error::Error for VerificationFailed {}

impl fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.mocks.iter().filter(|m| !m.satisfied()).count();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut out = format!(
            "mock server {}: {failed} of {} mock{} not satisfied",
            self.server,
            self.mocks.len(),
            plural(self.mocks.len())
        );
        let broken: usize = self.violations.iter().map(|c| c.violations.len()).sum();
        if broken > 0 {
            let _ = write!(
                out,
                "; {broken} frame{} clients sent broke the contract",
                plural(broken)
            );
        }
        for mock in &self.mocks {
            let mark = if mock.satisfied() { "ok    " } else { "FAILED" };
            let _ = write!(
                out,
                "\n  {mark} {}: expected {}, matched {}",
                mock.mock, mock.expected, mock.matched
            );
        }
        if self.unmatched.is_empty() {
            out.push_str("\nevery frame clients sent matched a mock");
        } else {
            out.push_str("\nframes no mock matched:");
        }
        for connection in &self.unmatched {
            let _ = write!(
                out,
                "\n  connection {} ({}):",
                connection.connection, connection.handshake
            );
            for frame in &connection.frames {
                let _ = write!(out, "\n    -> {frame}");
            }
        }
        if !self.violations.is_empty() {
            out.push_str("\nframes that broke the contract of what clients send:");
        }
        for connection in &self.violations {
            let _ = write!(
                out,
                "\n  connection {} ({}):",
                connection.connection, connection.handshake
            );
            for violation in &connection.violations {
                let _ = write!(out, "\n    -> {violation}");
            }
        }
        f.write_str(&out)
    }
}
