//! The bounds of what a client keeps and accepts.

/// How much of a transcript is kept in memory: at most `frames` frames and
/// `bytes` bytes of their text, the newest (default: 10,000 frames, 64 MiB).
/// Frames past the window are forgotten, matched or not, and counted.
///
/// ```
/// use ws_harness::config::TranscriptWindow;
/// let window = TranscriptWindow { frames: 500, ..TranscriptWindow::default() };
/// assert_eq!(window.bytes, 64 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscriptWindow {
    /// The frames kept: the newest this many, trimmed in batches (up to
    /// twice as many are held between trims, so a push stays O(1)).
    pub frames: usize,
    /// The most bytes of frame text kept (the newest frame always is).
    pub bytes: usize,
}

impl Default for TranscriptWindow {
    fn default() -> Self {
        Self {
            frames: 10_000,
            bytes: 64 * 1024 * 1024,
        }
    }
}

/// The default of `max_frame_size`: tungstenite's, 16 MiB.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// The default of `max_message_size`: tungstenite's, 64 MiB.
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
