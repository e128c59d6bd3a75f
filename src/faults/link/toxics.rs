//! The toxics in force one way of one connection, applied to what passes:
//! when each piece is due, and how it is written (sliced, paced, cut).

use super::{End, Piece};
use crate::faults::{Active, Fault, FaultId, ToxicKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// The toxics in force one way of one connection, in the order added.
#[derive(Default)]
pub(super) struct Toxics {
    in_force: Vec<(FaultId, ToxicKind)>,
    /// Each one's state on this connection since it first applied here.
    state: HashMap<FaultId, ToxicState>,
}

/// A toxic's state on one connection.
struct ToxicState {
    /// When it first applied (`timeout` and `reset_peer` count from here).
    since: Instant,
    /// Bytes passed since (`limit_data` counts these).
    passed: u64,
}

impl Toxics {
    pub(super) fn refresh(&mut self, faults: &[Arc<Active>]) {
        let now = Instant::now();
        self.in_force = faults
            .iter()
            .filter_map(|active| match &active.fault {
                Fault::Toxic(toxic) => Some((active.id, toxic.kind.clone())),
                Fault::Frame(_) => None,
            })
            .collect();
        let mut state = std::mem::take(&mut self.state);
        self.state = self
            .in_force
            .iter()
            .map(|(id, _)| {
                let kept = state.remove(id);
                (
                    *id,
                    kept.unwrap_or(ToxicState {
                        since: now,
                        passed: 0,
                    }),
                )
            })
            .collect();
    }

    fn kinds(&self) -> impl Iterator<Item = &ToxicKind> {
        self.in_force.iter().map(|(_, kind)| kind)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.in_force.is_empty()
    }

    /// Whether a `timeout` holds the data.
    pub(super) fn blackholed(&self) -> bool {
        self.kinds()
            .any(|kind| matches!(kind, ToxicKind::Timeout { .. }))
    }

    /// When a timed toxic ends the connection next, and how.
    pub(super) fn deadline(&self) -> Option<(Instant, End)> {
        self.in_force
            .iter()
            .filter_map(|(id, kind)| {
                let since = self.state.get(id)?.since;
                match kind {
                    ToxicKind::Timeout { timeout } if !timeout.is_zero() => {
                        Some((since + *timeout, End::Close))
                    }
                    ToxicKind::ResetPeer { timeout } => Some((since + *timeout, End::Reset)),
                    _ => None,
                }
            })
            .min_by_key(|(at, _)| *at)
    }

    /// When `piece` is to be passed on: data after the latency (with its
    /// jitter), a close after `slow_close`, a pause at its end.
    pub(super) fn due(&self, piece: &Piece) -> Instant {
        let mut due = match piece {
            Piece::Data { at, .. } | Piece::Eof(at) => *at,
            Piece::Pause(until) => return *until,
            Piece::EndLink => return Instant::now(),
        };
        for kind in self.kinds() {
            match (kind, piece) {
                (ToxicKind::Latency { latency, jitter }, Piece::Data { jitter: scale, .. }) => {
                    let jitter = jitter.as_secs_f64() * scale;
                    due += Duration::from_secs_f64((latency.as_secs_f64() + jitter).max(0.0));
                }
                (ToxicKind::SlowClose { delay }, Piece::Eof(_)) => due += *delay,
                _ => {}
            }
        }
        due
    }

    /// The bytes `limit_data` still lets through, if one is in force.
    fn allowance(&self) -> Option<u64> {
        self.in_force
            .iter()
            .filter_map(|(id, kind)| match kind {
                ToxicKind::LimitData { bytes } => {
                    Some(bytes.saturating_sub(self.state.get(id).map_or(0, |s| s.passed)))
                }
                _ => None,
            })
            .min()
    }

    /// Writes `bytes`, now due, to `to` as the toxics say: `false` when
    /// `limit_data` is reached (after passing what it allows) or the write
    /// failed.
    pub(super) async fn pass(&mut self, bytes: &[u8], to: &mut (impl AsyncWrite + Unpin)) -> bool {
        let mut rate = None;
        let mut slicer = None;
        for kind in self.kinds() {
            match kind {
                ToxicKind::Bandwidth { rate: r } => rate = Some((*r).max(1) * 1000),
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => slicer = Some((*average_size, *size_variation, *delay)),
                _ => {}
            }
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let size = match (slicer, rate) {
                (Some((average, variation, _)), _) => {
                    fastrand::usize(average - variation..=average + variation)
                }
                // A tenth of a second's worth at a time, as Toxiproxy does.
                (None, Some(rate)) => usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1),
                (None, None) => rest.len(),
            };
            let (mut slice, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            let allowance = self.allowance();
            let over = allowance.is_some_and(|left| slice.len() as u64 >= left);
            if let Some(left) = allowance {
                slice = &slice[..slice.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
            }
            if to.write_all(slice).await.is_err() {
                return false;
            }
            for state in self.state.values_mut() {
                state.passed += slice.len() as u64;
            }
            if over {
                return false;
            }
            let mut pause = Duration::ZERO;
            if let Some(rate) = rate {
                pause = Duration::from_secs_f64(slice.len() as f64 / rate as f64);
            }
            if let Some((_, _, delay)) = slicer
                && !rest.is_empty()
            {
                pause = pause.max(delay);
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        true
    }
}
