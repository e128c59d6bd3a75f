//! The sequence values a client received (the contract's sequence field:
//! `event_id` for the reference), kept as runs however many frames its
//! transcript forgets: what the lost-or-duplicate check reads.

/// The sequence values received, as runs of consecutive values, and the
/// ones received twice: what the lost-or-duplicate check needs, kept
/// however many frames the window forgets.
#[derive(Debug, Clone, Default)]
pub(super) struct SequenceValues {
    /// First id of each run → its last id.
    runs: std::collections::BTreeMap<u64, u64>,
    duplicates: Vec<u64>,
    max: u64,
}

/// Most ids a lost-or-duplicate failure lists of each.
const LISTED_IDS: usize = 100;

impl SequenceValues {
    pub(super) fn insert(&mut self, id: u64) {
        self.max = self.max.max(id);
        // The run that starts at or before `id`.
        if let Some((&start, &end)) = self.runs.range(..=id).next_back() {
            if id <= end {
                if self.duplicates.len() < LISTED_IDS * 10 {
                    self.duplicates.push(id);
                }
                return;
            }
            if id == end + 1 {
                let end = self.join_next(id);
                self.runs.insert(start, end);
                return;
            }
        }
        let end = self.join_next(id);
        self.runs.insert(id, end);
    }

    /// The end of the run that `id` starts or that starts right after it.
    fn join_next(&mut self, id: u64) -> u64 {
        match self.runs.remove(&(id + 1)) {
            Some(end) => end,
            None => id,
        }
    }

    /// The highest value received.
    pub(super) fn last(&self) -> u64 {
        self.max
    }

    /// The ids received more than once, in order (at most
    /// ten times [`LISTED_IDS`]).
    pub(super) fn duplicates(&self) -> &[u64] {
        &self.duplicates
    }

    /// The values missing between the first and the last received, at
    /// most [`LISTED_IDS`] of them, and how many there are in all.
    pub(super) fn lost(&self) -> (Vec<u64>, u64) {
        let mut listed = Vec::new();
        let mut count = 0;
        let mut previous_end: Option<u64> = None;
        for (&start, &end) in &self.runs {
            if let Some(previous) = previous_end {
                count += start - previous - 1;
                listed.extend((previous + 1..start).take(LISTED_IDS - listed.len()));
            }
            previous_end = Some(end);
        }
        (listed, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_or_filling_a_gap_make_one_run_and_duplicates_are_capped() {
        let mut ids = SequenceValues::default();
        for id in 1..=50 {
            ids.insert(id);
        }
        ids.insert(52);
        assert_eq!(ids.runs.len(), 2);
        // 51 joins the run before it and the one after it.
        ids.insert(51);
        assert_eq!(ids.runs.into_iter().collect::<Vec<_>>(), [(1, 52)]);
        let mut twice = SequenceValues::default();
        for _ in 0..=LISTED_IDS * 10 + 5 {
            twice.insert(7);
        }
        assert_eq!(twice.duplicates.len(), LISTED_IDS * 10);
    }
}
