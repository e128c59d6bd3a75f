//! Where a direction is in the stream (the HTTP handshake, then frames),
//! and the frame faults applied to whole frames.

use super::Piece;
use crate::contract::Direction;
use crate::faults::wire::{self, Header, opcode};
use crate::faults::{Active, Corruption, Fault, FrameFaultKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The largest frame the frame faults look at; larger ones pass as they
/// come, a piece at a time, so a huge frame costs no more memory than a
/// small one.
const LARGEST_INSPECTED_FRAME: u64 = 1024 * 1024;
/// The longest HTTP handshake head looked for; past it the bytes pass as
/// they are.
const LONGEST_HEAD: usize = 64 * 1024;

/// Where a direction is in the stream.
enum Position {
    /// In the HTTP handshake's head; these bytes of it so far.
    Head(Vec<u8>),
    /// In frames; `streaming` payload bytes of the current frame still to
    /// pass as they come.
    Frames { streaming: u64 },
    /// Passing bytes as they come (TLS, or no WebSocket).
    Raw,
    /// A frame fault closed the connection: nothing more passes.
    Closed,
}

/// Finds the frames in one direction's bytes and applies the frame faults.
pub(super) struct FrameStage {
    direction: Direction,
    position: Position,
    /// Bytes of a frame not yet whole, not yet passed on.
    pending: Vec<u8>,
    /// Bytes of a header already passed on, while its rest is to come.
    passed_header: Vec<u8>,
    /// A frame `reorder` holds until the next one has passed.
    held: Option<Vec<u8>>,
    /// Set when a streamed frame ends: release `held` then.
    release_after_stream: bool,
}

impl FrameStage {
    pub(super) fn new(direction: Direction, frames_visible: bool) -> Self {
        Self {
            direction,
            position: if frames_visible {
                Position::Head(Vec::new())
            } else {
                Position::Raw
            },
            pending: Vec::new(),
            passed_header: Vec::new(),
            held: None,
            release_after_stream: false,
        }
    }

    /// Follows `chunk`, which passes unchanged, when nothing is pending or
    /// held; `false` (and nothing followed) otherwise.
    pub(super) fn track(&mut self, chunk: &[u8]) -> bool {
        if !self.pending.is_empty() || self.held.is_some() {
            return false;
        }
        let rest = match &mut self.position {
            Position::Closed => return false,
            Position::Raw => return true,
            Position::Head(_) => match self.head(chunk) {
                Some(rest) => rest,
                None => return true,
            },
            Position::Frames { .. } => chunk,
        };
        let mut at = 0;
        while at < rest.len() {
            let Position::Frames { streaming } = self.position else {
                break;
            };
            if streaming > 0 {
                let n = streaming.min((rest.len() - at) as u64);
                at += n as usize;
                self.position = Position::Frames {
                    streaming: streaming - n,
                };
                continue;
            }
            at += self.header_from(&rest[at..]);
        }
        true
    }

    /// Reads a header that starts in `passed_header` (if any) and goes on
    /// in `bytes`, all of it passing unchanged; how many bytes of `bytes`
    /// it took.
    fn header_from(&mut self, bytes: &[u8]) -> usize {
        let (taken, payload_len) = continue_header(&mut self.passed_header, bytes);
        if let Some(streaming) = payload_len {
            self.position = Position::Frames { streaming };
        }
        taken
    }

    /// Follows the handshake's head: what of `chunk` comes after it, once
    /// it ended (and the position moved on).
    fn head<'c>(&mut self, chunk: &'c [u8]) -> Option<&'c [u8]> {
        let Position::Head(head) = &mut self.position else {
            return Some(chunk);
        };
        let start = head.len().saturating_sub(3);
        head.extend_from_slice(chunk);
        let Some(i) = find(&head[start..], b"\r\n\r\n") else {
            if head.len() > LONGEST_HEAD {
                self.position = Position::Raw;
            }
            return None;
        };
        let in_head = chunk.len() - (head.len() - (start + i + 4));
        // A refused handshake is no WebSocket: what follows passes as is.
        let upgraded = self.direction == Direction::ToService || head.starts_with(b"HTTP/1.1 101");
        self.position = if upgraded {
            Position::Frames { streaming: 0 }
        } else {
            Position::Raw
        };
        Some(&chunk[in_head..])
    }

    /// The pieces `chunk`, read at `at`, makes under `faults`.
    pub(super) fn push(
        &mut self,
        chunk: &[u8],
        faults: &[Arc<Active>],
        kind_field: &str,
        at: Instant,
    ) -> Vec<Piece> {
        let mut out = Output::new(at);
        let chunk = if let Position::Head(_) = self.position {
            match self.head(chunk) {
                Some(rest) => {
                    out.data(&chunk[..chunk.len() - rest.len()]);
                    rest
                }
                None => {
                    out.data(chunk);
                    return out.pieces;
                }
            }
        } else {
            chunk
        };
        match self.position {
            Position::Raw => out.data(chunk),
            Position::Closed | Position::Head(_) => {}
            Position::Frames { .. } => {
                self.pending.extend_from_slice(chunk);
                self.frames(faults, kind_field, &mut out);
            }
        }
        out.pieces
    }

    /// What is left when the sender closes: any partial frame as it came,
    /// and a held frame.
    pub(super) fn finish(&mut self) -> Vec<Piece> {
        let mut out = Output::new(Instant::now());
        out.data(&std::mem::take(&mut self.pending));
        if let Some(held) = self.held.take() {
            out.data(&held);
        }
        out.pieces
    }

    fn frames(&mut self, faults: &[Arc<Active>], kind_field: &str, out: &mut Output) {
        let mut at = 0;
        while at < self.pending.len() {
            let Position::Frames { streaming } = self.position else {
                break;
            };
            if streaming > 0 {
                let n = usize::try_from(streaming)
                    .unwrap_or(usize::MAX)
                    .min(self.pending.len() - at);
                out.data(&self.pending[at..at + n]);
                at += n;
                let streaming = streaming - n as u64;
                self.position = Position::Frames { streaming };
                if streaming == 0 && std::mem::take(&mut self.release_after_stream) {
                    self.release_held(out);
                }
                continue;
            }
            if !self.passed_header.is_empty() {
                // The frame's start passed already: it passes as it comes.
                let (taken, payload_len) =
                    continue_header(&mut self.passed_header, &self.pending[at..]);
                if let Some(streaming) = payload_len {
                    self.position = Position::Frames { streaming };
                }
                out.data(&self.pending[at..at + taken]);
                at += taken;
                continue;
            }
            let Some(header) = Header::parse(&self.pending[at..]) else {
                break;
            };
            let frame_faults = faults
                .iter()
                .any(|active| matches!(active.fault, Fault::Frame(_)));
            if !frame_faults || header.payload_len > LARGEST_INSPECTED_FRAME {
                out.data(&self.pending[at..at + header.len]);
                at += header.len;
                self.position = Position::Frames {
                    streaming: header.payload_len,
                };
                if header.payload_len == 0 {
                    self.release_held(out);
                } else {
                    self.release_after_stream = true;
                }
                continue;
            }
            let whole = header.len + usize::try_from(header.payload_len).unwrap_or(usize::MAX);
            if self.pending.len() - at < whole {
                break;
            }
            let mut payload = self.pending[at + header.len..at + whole].to_vec();
            wire::apply_mask(&mut payload, header.mask);
            let frame = self.pending[at..at + whole].to_vec();
            at += whole;
            self.apply(header, payload, frame, faults, kind_field, out);
            if matches!(self.position, Position::Closed) {
                at = self.pending.len();
            }
        }
        self.pending.drain(..at);
    }

    fn release_held(&mut self, out: &mut Output) {
        if let Some(held) = self.held.take() {
            out.data(&held);
        }
    }

    /// Applies the first fault that takes this frame, if any.
    fn apply(
        &mut self,
        header: Header,
        mut payload: Vec<u8>,
        frame: Vec<u8>,
        faults: &[Arc<Active>],
        kind_field: &str,
        out: &mut Output,
    ) {
        let op = header.opcode();
        let data = header.fin() && (op == opcode::TEXT || op == opcode::BINARY);
        let json = if data {
            serde_json::from_slice::<serde_json::Value>(&payload).ok()
        } else {
            None
        };
        let taken = faults.iter().find_map(|active| {
            let Fault::Frame(fault) = &active.fault else {
                return None;
            };
            let wanted = match fault.kind {
                FrameFaultKind::NoPongs => op == opcode::PONG,
                _ => {
                    data && fault.matcher.as_ref().is_none_or(|matcher| {
                        json.as_ref()
                            .is_some_and(|json| matcher.matches_with_kind_field(json, kind_field))
                    })
                }
            };
            (wanted && active.take()).then_some(&fault.kind)
        });
        let Some(kind) = taken else {
            out.data(&frame);
            self.release_held(out);
            return;
        };
        tracing::debug!(direction = %self.direction, fault = %kind, "frame fault");
        match kind {
            FrameFaultKind::Drop | FrameFaultKind::NoPongs => {}
            FrameFaultKind::Delay(delay) => {
                out.pause(*delay);
                out.data(&frame);
                self.release_held(out);
            }
            FrameFaultKind::Duplicate => {
                out.data(&frame);
                out.data(&frame);
                self.release_held(out);
            }
            FrameFaultKind::Reorder => {
                self.release_held(out);
                self.held = Some(frame);
            }
            FrameFaultKind::Corrupt(how) => {
                let mut header = header;
                match how {
                    Corruption::BadUtf8 => match payload.first_mut() {
                        Some(first) => *first = 0xFF,
                        None => {
                            payload.push(0xFF);
                            header = Header::new(op, header.mask, 1);
                        }
                    },
                    Corruption::BadOpcode => {
                        header.first = (header.first & 0xF0) | opcode::RESERVED
                    }
                    Corruption::WrongLength => {
                        let said = header.payload_len.checked_sub(1).unwrap_or(1);
                        header = Header {
                            first: header.first,
                            ..Header::new(op, header.mask, said)
                        };
                    }
                }
                let mut bytes = header.to_bytes();
                let start = bytes.len();
                bytes.extend_from_slice(&payload);
                wire::apply_mask(&mut bytes[start..], header.mask);
                out.data(&bytes);
                self.release_held(out);
            }
            FrameFaultKind::Close { code, reason } => {
                let masked = self.direction == Direction::ToService;
                out.data(&wire::close_frame(*code, reason, masked));
                out.end_link();
                self.position = Position::Closed;
                self.held = None;
            }
        }
    }
}

/// The pieces one read makes, with neighbouring bytes in one piece.
struct Output {
    at: Instant,
    pieces: Vec<Piece>,
}

impl Output {
    fn new(at: Instant) -> Self {
        Self {
            at,
            pieces: Vec::new(),
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Piece::Data { bytes: last, .. }) = self.pieces.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.pieces.push(Piece::Data {
                bytes: bytes.to_vec(),
                at: self.at,
                jitter: fastrand::f64() * 2.0 - 1.0,
            });
        }
    }

    fn pause(&mut self, pause: Duration) {
        self.pieces.push(Piece::Pause(self.at + pause));
    }

    fn end_link(&mut self) {
        self.pieces.push(Piece::EndLink);
    }
}

/// Goes on with a header whose first bytes are `passed`: how many bytes
/// of `bytes` it took, and its payload's length once it is whole.
fn continue_header(passed: &mut Vec<u8>, bytes: &[u8]) -> (usize, Option<u64>) {
    let known = passed.len();
    passed.extend_from_slice(&bytes[..bytes.len().min(14)]);
    match Header::parse(passed) {
        Some(header) => {
            passed.clear();
            (header.len - known, Some(header.payload_len))
        }
        None => (bytes.len(), None),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultId, FrameFault};
    use crate::frame;
    use serde_json::json;

    fn stream() -> (Vec<u8>, Vec<u8>) {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let frames: Vec<Vec<u8>> = (1..=3)
            .map(|seq| {
                let text = json!({"seq": seq, "pad": "p".repeat(130)}).to_string();
                let header = Header::new(opcode::TEXT, Some([1, 2, 3, 4]), text.len() as u64);
                wire::frame_bytes(header, text.as_bytes())
            })
            .collect();
        let without_second = [&bytes[..], &frames[0], &frames[2]].concat();
        for frame in &frames {
            bytes.extend_from_slice(frame);
        }
        (bytes, without_second)
    }

    fn passed(pieces: Vec<Piece>) -> Vec<u8> {
        pieces
            .into_iter()
            .flat_map(|piece| match piece {
                Piece::Data { bytes, .. } => bytes,
                _ => Vec::new(),
            })
            .collect()
    }

    /// Split anywhere, followed without faults or read with them, the
    /// stream comes out as it went in, and a fault added midway still
    /// finds its frame.
    #[test]
    fn frames_are_found_across_every_split() {
        let (bytes, without_second) = stream();
        let drop = [Arc::new(Active {
            id: FaultId(1),
            fault: FrameFault::drop()
                .matching(frame(json!({"seq": 2})))
                .upstream()
                .into(),
            remaining: None,
        })];
        for split in 1..bytes.len() {
            for (first, second, expected) in [
                (&[][..], &[][..], &bytes),
                (&drop[..], &drop[..], &without_second),
                (&[][..], &drop[..], &without_second),
            ] {
                let mut stage = FrameStage::new(Direction::ToService, true);
                let now = Instant::now();
                let mut out = Vec::new();
                for (chunk, faults) in [(&bytes[..split], first), (&bytes[split..], second)] {
                    if faults.is_empty() && stage.track(chunk) {
                        out.extend_from_slice(chunk);
                    } else {
                        out.extend(passed(stage.push(chunk, faults, "type", now)));
                    }
                }
                out.extend(passed(stage.finish()));
                // A fault added after the second frame's start lets it pass.
                let frame_len = bytes.len() - without_second.len();
                let second_starts = bytes.len() - 2 * frame_len;
                let second_started = split > second_starts;
                if first.is_empty() && !second.is_empty() && second_started {
                    continue;
                }
                assert!(out == *expected, "split at {split}");
            }
        }
    }
}
