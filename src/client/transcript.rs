//! What one test client received, with timings: searched by expectations,
//! shown in every failure, written as JSONL when an expectation fails.

use super::sequence_values::SequenceValues;
use crate::artifacts::{SaveError, write_file};
use crate::config::TranscriptWindow;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One received frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFrame {
    /// Time since the client first connected.
    pub at: Duration,
    /// The frame as JSON, or the raw text when it is not JSON (or `null` for
    /// non-text frames; see `text`).
    pub json: Value,
    /// The frame as received (text, or a description of a binary or close frame).
    pub text: String,
    /// On which connection of the client (1, 2, ... after reconnects).
    pub connection: u64,
    /// Whether an expectation already matched it.
    pub matched: bool,
}

/// What a client received, in order: the last frames in memory (a window
/// of [`TranscriptWindow::frames`] frames and [`TranscriptWindow::bytes`]
/// bytes of text, so a service that floods cannot exhaust memory), and
/// running counts of everything, forgotten frames included.
///
/// Positions (as expectations use them) count every frame received; the
/// window holds those from [`forgotten`](Self::forgotten) on.
#[derive(Debug, Clone)]
pub struct Transcript {
    started: Instant,
    /// The window: the frames from position `forgotten` on.
    frames: Vec<ReceivedFrame>,
    forgotten: usize,
    forgotten_unmatched: usize,
    /// The text bytes of the window.
    bytes: usize,
    window: TranscriptWindow,
    /// Every frame before this position is matched: expectations search
    /// from here, so a long-lived client does not rescan its history.
    first_unmatched: usize,
    /// The values of the contract's sequence field received.
    sequence: SequenceValues,
    /// That field, if the contract has one.
    sequence_field: Option<String>,
}

/// Longest frame text shown inline in a failure message.
const SHOWN_CHARS: usize = 160;
/// How many of the first and of the last frames a failure message shows;
/// the file has them all (up to [`JSONL_MAX_BYTES`]).
const SHOWN_HEAD: usize = 20;
const SHOWN_TAIL: usize = 40;
/// The most a JSONL transcript file holds; the frames past it are counted
/// in its last line.
const JSONL_MAX_BYTES: usize = 64 * 1024 * 1024;

/// `text` cut to [`SHOWN_CHARS`] characters, with `…` when it was longer.
pub(crate) fn cut(text: &str) -> String {
    let mut shown: String = text.chars().take(SHOWN_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

impl Transcript {
    pub(crate) fn new(window: TranscriptWindow, sequence_field: Option<String>) -> Self {
        Self {
            started: Instant::now(),
            frames: Vec::new(),
            forgotten: 0,
            forgotten_unmatched: 0,
            bytes: 0,
            window,
            first_unmatched: 0,
            sequence: SequenceValues::default(),
            sequence_field,
        }
    }

    /// Keeps `window` from now on.
    pub(crate) fn set_window(&mut self, window: TranscriptWindow) {
        self.window = window;
        self.forget_past_window();
    }

    /// Time since the client first connected: the clock of the frames' `at`.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn push(&mut self, text: String, json: Value, connection: u64) {
        let at = self.started.elapsed();
        if let Some(field) = &self.sequence_field
            && let Some(value) = json.get(field).and_then(Value::as_u64)
        {
            self.sequence.insert(value);
        }
        self.bytes += text.len();
        self.frames.push(ReceivedFrame {
            at,
            json,
            text,
            connection,
            matched: false,
        });
        // Forgotten in batches, so a push costs O(1) on average.
        if self.frames.len() >= self.window.frames.saturating_mul(2).max(1)
            || self.bytes > self.window.bytes
        {
            self.forget_past_window();
        }
    }

    /// Forgets the oldest frames until the window holds: past its frame
    /// count, then past its bytes (the newest frame always stays).
    fn forget_past_window(&mut self) {
        let mut keep_from = self.frames.len().saturating_sub(self.window.frames);
        let mut bytes: usize = self.frames[keep_from..].iter().map(|f| f.text.len()).sum();
        while keep_from + 1 < self.frames.len() && bytes > self.window.bytes {
            bytes -= self.frames[keep_from].text.len();
            keep_from += 1;
        }
        for frame in self.frames.drain(..keep_from) {
            if !frame.matched {
                self.forgotten_unmatched += 1;
            }
        }
        self.bytes = bytes;
        self.forgotten += keep_from;
        self.first_unmatched = self.first_unmatched.max(self.forgotten);
    }

    /// The frames in memory (the window), oldest first; the first of them
    /// is at position [`forgotten`](Self::forgotten).
    #[must_use]
    pub fn frames(&self) -> &[ReceivedFrame] {
        &self.frames
    }

    /// How many frames were received before the window, and forgotten.
    #[must_use]
    pub fn forgotten(&self) -> usize {
        self.forgotten
    }

    /// How many frames were received in all.
    #[must_use]
    pub fn received(&self) -> usize {
        self.forgotten + self.frames.len()
    }

    /// How many forgotten frames no expectation had matched.
    pub(crate) fn forgotten_unmatched(&self) -> usize {
        self.forgotten_unmatched
    }

    /// The frame at `position`, when it is still in the window.
    pub(crate) fn frame(&self, position: usize) -> Option<&ReceivedFrame> {
        self.frames.get(position.checked_sub(self.forgotten)?)
    }

    /// The contract's sequence field, if it has one.
    pub(crate) fn sequence_field(&self) -> Option<&str> {
        self.sequence_field.as_deref()
    }

    /// The highest sequence value received (0 before any).
    pub(crate) fn last_sequence(&self) -> u64 {
        self.sequence.last()
    }

    /// The sequence values lost between the first and the last received
    /// (at most 100 listed, and how many in all), and those received twice
    /// (at most 1,000).
    pub(crate) fn lost_and_duplicated(&self) -> ((Vec<u64>, u64), &[u64]) {
        (self.sequence.lost(), self.sequence.duplicates())
    }

    /// The frames from the first unmatched one on, with their positions.
    pub(crate) fn pending(&self) -> impl Iterator<Item = (usize, &ReceivedFrame)> {
        self.pending_from(0)
    }

    /// The unmatched frames from position `from` on, with their positions.
    pub(crate) fn pending_from(
        &self,
        from: usize,
    ) -> impl Iterator<Item = (usize, &ReceivedFrame)> {
        let start = self.first_unmatched.max(from).min(self.received());
        self.frames[start - self.forgotten..]
            .iter()
            .enumerate()
            .map(move |(i, frame)| (start + i, frame))
            .filter(|(_, frame)| !frame.matched)
    }

    /// Marks the frame at `position` matched (it is in the window).
    pub(crate) fn mark_matched(&mut self, position: usize) {
        self.frames[position - self.forgotten].matched = true;
        while self
            .frame(self.first_unmatched)
            .is_some_and(|frame| frame.matched)
        {
            self.first_unmatched += 1;
        }
    }

    /// The frames as a failure message shows them.
    pub(crate) fn render(&self) -> String {
        let received = self.received();
        let mut out = format!(
            "transcript ({received} frame{}; time since connect; * = matched by an earlier expectation):",
            if received == 1 { "" } else { "s" }
        );
        if self.forgotten > 0 {
            let _ = write!(
                out,
                "\n    … {} earlier frames forgotten (the window keeps {} frames, {} bytes)",
                self.forgotten, self.window.frames, self.window.bytes
            );
        }
        if self.frames.is_empty() {
            out.push_str("\n    (nothing received)");
        }
        let total = self.frames.len();
        let hidden = total.saturating_sub(SHOWN_HEAD + SHOWN_TAIL);
        let (head, tail) = if hidden > 0 {
            (
                &self.frames[..SHOWN_HEAD],
                &self.frames[total - SHOWN_TAIL..],
            )
        } else {
            (&self.frames[..], &[][..])
        };
        for (i, frame) in head.iter().chain(tail).enumerate() {
            if hidden > 0 && i == SHOWN_HEAD {
                let _ = write!(
                    out,
                    "\n    … {hidden} frames not shown: see the transcript file"
                );
            }
            let mark = if frame.matched { '*' } else { ' ' };
            let _ = write!(
                out,
                "\n    +{:.3}s #{} {mark} {}",
                frame.at.as_secs_f64(),
                frame.connection,
                cut(&frame.text)
            );
        }
        out
    }

    /// Writes the transcript as JSONL (one frame a line) under `dir`, named
    /// after the user and the time, and returns the path.
    ///
    /// # Errors
    /// [`SaveError::Write`] when the file cannot be written.
    pub async fn write_jsonl(&self, dir: &Path, user: &str) -> Result<PathBuf, SaveError> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let safe: String = user
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}-{stamp}.jsonl"));
        write_file(path, self.jsonl(JSONL_MAX_BYTES).into_bytes()).await
    }

    /// The transcript as JSONL, one frame a line, in at most `max_bytes`
    /// of frame lines: a line after them counts the frames left out.
    fn jsonl(&self, max_bytes: usize) -> String {
        let mut out = String::new();
        if self.forgotten > 0 {
            out.push_str(&json!({"forgotten_before": self.forgotten}).to_string());
            out.push('\n');
        }
        for (i, frame) in self.frames.iter().enumerate() {
            let mut line = json!({
                "at_ms": frame.at.as_secs_f64() * 1000.0,
                "connection": frame.connection,
                "matched": frame.matched,
                "frame": frame.json,
            });
            // A close, an error or a binary frame has no JSON: its text
            // says what it was.
            if frame.json.is_null() {
                line["text"] = Value::String(frame.text.clone());
            }
            let line = line.to_string();
            if out.len() + line.len() + 1 > max_bytes {
                let rest = json!({"not_written": self.frames.len() - i, "max_bytes": max_bytes});
                out.push_str(&rest.to_string());
                out.push('\n');
                break;
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(frames: usize, bytes: usize) -> Transcript {
        Transcript::new(TranscriptWindow { frames, bytes }, Some("event_id".into()))
    }

    #[test]
    fn the_window_forgets_the_oldest_frames_and_counts_them() {
        let mut t = window(3, usize::MAX);
        for n in 0..10 {
            t.push(format!("{n}"), json!({"n": n}), 1);
        }
        // Pushes forget in batches; a new window applies at once.
        t.set_window(TranscriptWindow {
            frames: 3,
            bytes: usize::MAX,
        });
        t.mark_matched(7);
        assert_eq!(t.received(), 10);
        assert_eq!(t.forgotten(), 7);
        assert_eq!(t.frames().len(), 3);
        assert_eq!(t.frames()[0].json["n"], 7);
        assert!(t.frame(6).is_none());
        assert_eq!(t.frame(9).unwrap().json["n"], 9);
        let pending: Vec<usize> = t.pending().map(|(i, _)| i).collect();
        assert_eq!(pending, [8, 9]);
        // None was matched before it was forgotten.
        assert_eq!(t.forgotten_unmatched(), 7);
        assert!(t.render().contains("7 earlier frames forgotten"));
    }

    #[test]
    fn frames_over_the_count_do_not_count_against_the_byte_budget() {
        // Ten frames of 10 bytes under a window of 4 frames and 50 bytes:
        // the 4 kept hold 40 bytes, so the budget forgets none of them.
        let mut t = window(4, 50);
        for n in 0..10 {
            t.push(format!("{n:010}"), Value::Null, 1);
        }
        t.set_window(TranscriptWindow {
            frames: 4,
            bytes: 50,
        });
        assert_eq!(t.frames().len(), 4);
        assert_eq!(t.frames()[0].text, "0000000006");
    }

    #[test]
    fn pushes_trim_in_batches_and_a_full_budget_is_within_it() {
        // Frames of 2 bytes under a window of 3 frames and 10 bytes: up to
        // twice the window is held between trims, and 10 bytes is at the
        // budget, not past it.
        let mut t = window(3, 10);
        for n in 0..5 {
            t.push(format!("{n:02}"), Value::Null, 1);
        }
        assert_eq!(t.frames().len(), 5);
        t.push("05".to_owned(), Value::Null, 1);
        assert_eq!(t.frames().len(), 3);
        assert_eq!(t.frames()[0].text, "03");
    }

    #[test]
    fn the_byte_budget_forgets_only_what_does_not_fit() {
        // Three frames of 5 bytes under a budget of 10: the oldest goes,
        // the two newest fill the budget exactly and stay.
        let mut t = window(100, 10);
        for text in ["aaaaa", "bbbbb", "ccccc"] {
            t.push(text.to_owned(), Value::Null, 1);
        }
        let kept: Vec<&str> = t.frames().iter().map(|f| f.text.as_str()).collect();
        assert_eq!(kept, ["bbbbb", "ccccc"]);
        assert_eq!(t.forgotten(), 1);
        // The budget counts what is kept: one more frame forgets one more.
        t.push("ddddd".to_owned(), Value::Null, 1);
        assert_eq!(t.frames().len(), 2);
        assert_eq!(t.forgotten(), 2);
    }

    #[test]
    fn the_byte_budget_keeps_at_least_the_newest_frame() {
        let mut t = window(100, 10);
        t.push("x".repeat(8), Value::Null, 1);
        t.push("y".repeat(8), Value::Null, 1);
        t.push("z".repeat(20), Value::Null, 1);
        assert_eq!(t.frames().len(), 1);
        assert_eq!(t.frames()[0].text, "z".repeat(20));
        assert_eq!(t.forgotten(), 2);
    }

    #[test]
    fn event_ids_are_kept_as_runs_whatever_the_window_forgets() {
        let mut t = window(1, usize::MAX);
        for id in [5, 1, 2, 2, 4, 9, 3, 1] {
            t.push(String::new(), json!({"event_id": id}), 1);
        }
        assert_eq!(t.last_sequence(), 9);
        let ((lost, count), duplicates) = t.lost_and_duplicated();
        assert_eq!((lost, count), (vec![6, 7, 8], 3));
        assert_eq!(duplicates, [2, 1]);
        let mut far = window(1, usize::MAX);
        far.push(String::new(), json!({"event_id": 1}), 1);
        far.push(String::new(), json!({"event_id": 1_000_000_000_000u64}), 1);
        let ((lost, count), _) = far.lost_and_duplicated();
        assert_eq!(lost.len(), 100);
        assert_eq!(count, 999_999_999_998);
        // Two gaps: the list stops at 100 ids across both.
        let mut gaps = window(1, usize::MAX);
        for id in [1, 60, 200] {
            gaps.push(String::new(), json!({"event_id": id}), 1);
        }
        let ((lost, count), _) = gaps.lost_and_duplicated();
        assert_eq!(count, 58 + 139);
        assert_eq!(lost.len(), 100);
        assert_eq!(lost.last(), Some(&102));
    }

    #[test]
    fn the_byte_budget_holds_after_every_push() {
        // Frames of 4 bytes under a budget of 10: each push over it trims
        // back to the newest two.
        let mut t = window(1000, 10);
        for n in 0..10 {
            t.push(format!("{n:04}"), Value::Null, 1);
        }
        assert_eq!(t.frames().len(), 2);
        assert_eq!(t.frames()[0].text, "0008");
    }

    #[tokio::test]
    async fn a_jsonl_transcript_holds_every_frame_up_to_its_cap() {
        // 2,000 frames of 1 KiB: 2 MiB, far under the cap, all written.
        let mut t = window(10_000, usize::MAX);
        for n in 0..2000 {
            t.push(String::new(), json!({"n": n, "pad": "x".repeat(1024)}), 1);
        }
        let dir = std::env::temp_dir().join(format!("ws-harness-jsonl-{}", std::process::id()));
        let path = t.write_jsonl(&dir, "cap").await.unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(written.lines().count(), 2000);
        assert!(!written.contains("not_written"));
    }

    #[test]
    fn a_long_transcript_renders_its_head_and_tail_and_counts_the_rest() {
        let mut t = window(1000, usize::MAX);
        for n in 0..100 {
            t.push(format!("{n}"), json!({"n": n}), 1);
        }
        let shown = t.render();
        assert!(shown.contains("… 40 frames not shown"), "{shown}");
        let mut short = window(1000, usize::MAX);
        for n in 0..30 {
            short.push(format!("{n}"), json!({"n": n}), 1);
        }
        assert!(!short.render().contains("not shown"));
    }

    #[test]
    fn the_not_shown_line_sits_once_between_the_head_and_the_tail() {
        let mut t = window(1000, usize::MAX);
        for n in 0..100 {
            t.push(format!("frame-{n}"), json!({"n": n}), 1);
        }
        let shown = t.render();
        let lines: Vec<&str> = shown.lines().collect();
        let at = |text: &str| lines.iter().position(|l| l.ends_with(text)).unwrap();
        assert_eq!(shown.matches("not shown").count(), 1, "{shown}");
        let gap = lines.iter().position(|l| l.contains("not shown")).unwrap();
        assert_eq!(at(" frame-19") + 1, gap, "{shown}");
        assert_eq!(gap + 1, at(" frame-60"), "{shown}");
    }

    #[test]
    fn the_jsonl_cap_takes_the_lines_that_fit_exactly() {
        let mut t = window(1000, usize::MAX);
        for n in 0..3 {
            t.push(format!("frame-{n}"), json!({"n": n}), 1);
        }
        let whole = t.jsonl(usize::MAX);
        let lines: Vec<&str> = whole.lines().collect();
        assert_eq!(lines.len(), 3);
        // Two lines and their newlines fit a cap of exactly their size.
        let two = lines[0].len() + lines[1].len() + 2;
        let capped = t.jsonl(two);
        let capped: Vec<&str> = capped.lines().collect();
        assert_eq!(capped[..2], lines[..2]);
        let rest: Value = serde_json::from_str(capped[2]).unwrap();
        assert_eq!(rest, json!({"not_written": 1, "max_bytes": two}));
        // One byte less, and the second no longer fits.
        let one = t.jsonl(two - 1);
        assert_eq!(one.lines().count(), 2);
        assert!(one.lines().nth(1).unwrap().contains("\"not_written\":2"));
    }

    #[tokio::test]
    async fn a_jsonl_transcript_starts_with_how_many_frames_were_forgotten() {
        let mut t = window(2, usize::MAX);
        for n in 0..10 {
            t.push(String::new(), json!({"n": n}), 1);
        }
        t.set_window(TranscriptWindow {
            frames: 2,
            bytes: usize::MAX,
        });
        let dir = std::env::temp_dir().join(format!("ws-harness-forgot-{}", std::process::id()));
        let path = t.write_jsonl(&dir, "forgot").await.unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let first: Value = serde_json::from_str(written.lines().next().unwrap()).unwrap();
        assert_eq!(first, json!({"forgotten_before": 8}));
        assert_eq!(written.lines().count(), 3);
    }
}
