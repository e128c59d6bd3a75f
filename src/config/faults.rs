//! The `faults.*` settings: a fault proxy in front of the commands'
//! backend.

/// The `faults.*` settings: `ws-harness check` and `ws-harness load` put a
/// [`FaultProxy`](crate::faults::FaultProxy) in front of their backend
/// when any fault is set, or `proxy` is. The faults are text in the form
/// their `Display` writes, read when the proxy starts.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .faults_toxics(["latency 200ms jitter=20ms downstream"])
///     .faults_frames(["drop kind=agent_thinking times=1"])
///     .build()
///     .unwrap();
/// assert!(config.faults.wanted());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultSettings {
    /// The proxy even with no faults (to measure what it costs).
    pub proxy: bool,
    /// Toxics, as [`Toxic`](crate::faults::Toxic) writes them.
    pub toxics: Vec<String>,
    /// Frame faults, as [`FrameFault`](crate::faults::FrameFault) writes
    /// them.
    pub frames: Vec<String>,
}

impl FaultSettings {
    /// Whether the commands put a proxy in front of the backend.
    #[must_use]
    pub fn wanted(&self) -> bool {
        self.proxy || !self.toxics.is_empty() || !self.frames.is_empty()
    }
}
