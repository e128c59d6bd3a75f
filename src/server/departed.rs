//! What the server keeps of the users it forgot after the replay TTL.
//!
//! Such a record lasts as long as the server runs, so it holds no
//! allocation of its own: the user ids lie end to end in one string and
//! the table keeps where each one starts. A small allocation per record
//! would land among the freed ones of the user's connection and keep
//! those pages resident: with a boxed id per record, figure 7 of
//! BENCHMARKS.md measured 1,237 bytes of RSS kept per departed user, and
//! 300 to 400 with this table (both as it was counted then, after two
//! waves of users; counted over the second half of 40 waves, as figure 7
//! is now, the table's users keep about their heap share, 100 B or so).

use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// What is kept of a user forgotten after the replay TTL: where its ids
/// go on, and its session's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Departed {
    pub(super) last_event_id: u64,
    pub(super) connects: u64,
    pub(super) resumes: u64,
    pub(super) since: Instant,
}

/// The [`Departed`] records, by user id.
#[derive(Debug)]
pub(super) struct DepartedUsers {
    /// The user id of every record, end to end, and some of removed ones.
    ids: String,
    /// Bytes of `ids` that no record points at any more.
    removed_bytes: usize,
    records: HashTable<Record>,
    hasher: RandomState,
    /// What the records' times count from.
    epoch: Instant,
}

/// A [`Departed`] in 48 bytes (56 with its `Instant`).
#[derive(Debug)]
struct Record {
    /// Where the user id starts in [`DepartedUsers::ids`], and its length.
    start: usize,
    len: usize,
    last_event_id: u64,
    connects: u64,
    resumes: u64,
    /// Nanoseconds from [`DepartedUsers::epoch`] to [`Departed::since`].
    since: u64,
}

impl Default for DepartedUsers {
    fn default() -> Self {
        Self {
            ids: String::new(),
            removed_bytes: 0,
            records: HashTable::new(),
            hasher: RandomState::new(),
            // Before any user's `since`: the records are made after it.
            epoch: Instant::now(),
        }
    }
}

impl DepartedUsers {
    /// Keeps `departed` for `user_id`, in place of a record it had.
    pub(super) fn insert(&mut self, user_id: &str, departed: Departed) {
        self.remove(user_id);
        let start = self.ids.len();
        self.ids.push_str(user_id);
        let since = departed.since.saturating_duration_since(self.epoch);
        let record = Record {
            start,
            len: user_id.len(),
            last_event_id: departed.last_event_id,
            connects: departed.connects,
            resumes: departed.resumes,
            // 584 years of nanoseconds.
            since: u64::try_from(since.as_nanos()).unwrap_or(u64::MAX),
        };
        let Self { ids, hasher, .. } = self;
        let hash = hasher.hash_one(user_id);
        self.records
            .insert_unique(hash, record, |record| hasher.hash_one(id_of(ids, record)));
    }

    /// The record of `user_id`.
    pub(super) fn get(&self, user_id: &str) -> Option<Departed> {
        let hash = self.hasher.hash_one(user_id);
        self.records
            .find(hash, |record| id_of(&self.ids, record) == user_id)
            .map(|record| self.departed(record))
    }

    /// Takes the record of `user_id` out, for a user who came back.
    pub(super) fn remove(&mut self, user_id: &str) -> Option<Departed> {
        let hash = self.hasher.hash_one(user_id);
        let ids = &self.ids;
        let entry = self
            .records
            .find_entry(hash, |record| id_of(ids, record) == user_id)
            .ok()?;
        let (record, _) = entry.remove();
        self.removed_bytes += record.len;
        if self.removed_bytes > self.ids.len() / 2 {
            self.compact();
        }
        Some(self.departed(&record))
    }

    fn departed(&self, record: &Record) -> Departed {
        Departed {
            last_event_id: record.last_event_id,
            connects: record.connects,
            resumes: record.resumes,
            since: self.epoch + Duration::from_nanos(record.since),
        }
    }

    /// Copies the ids still pointed at into a string of their size, and
    /// gives back what the table no longer needs.
    fn compact(&mut self) {
        let mut ids = String::with_capacity(self.ids.len() - self.removed_bytes);
        for record in &mut self.records {
            let start = ids.len();
            ids.push_str(id_of(&self.ids, record));
            record.start = start;
        }
        self.ids = ids;
        self.removed_bytes = 0;
        let Self {
            ids,
            hasher,
            records,
            ..
        } = self;
        if records.capacity() > 4 * records.len().max(16) {
            records.shrink_to_fit(|record| hasher.hash_one(id_of(ids, record)));
        }
    }
}

fn id_of<'a>(ids: &'a str, record: &Record) -> &'a str {
    &ids[record.start..record.start + record.len]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn departed(last_event_id: u64) -> Departed {
        Departed {
            last_event_id,
            connects: 1,
            resumes: 0,
            since: Instant::now(),
        }
    }

    #[test]
    fn a_record_gives_back_what_was_kept() {
        let mut users = DepartedUsers::default();
        let kept = Departed {
            last_event_id: u64::MAX,
            connects: 3,
            resumes: 2,
            since: Instant::now() + Duration::from_nanos(1),
        };
        users.insert("ann", kept);
        assert_eq!(users.get("ann"), Some(kept));
        assert_eq!(users.remove("ann"), Some(kept));
    }

    #[test]
    fn a_record_is_found_by_its_whole_id_and_by_nothing_else() {
        let mut users = DepartedUsers::default();
        users.insert("ann", departed(3));
        users.insert("anna", departed(5));
        users.insert("", departed(7));
        assert_eq!(users.get("ann").map(|d| d.last_event_id), Some(3));
        assert_eq!(users.get("anna").map(|d| d.last_event_id), Some(5));
        assert_eq!(users.get("").map(|d| d.last_event_id), Some(7));
        assert_eq!(users.get("an"), None);
        assert_eq!(users.get("annan"), None);
        users.insert("ann", departed(9));
        assert_eq!(users.records.len(), 3);
        assert_eq!(users.get("ann").map(|d| d.last_event_id), Some(9));
    }

    #[test]
    fn removing_most_records_keeps_the_others_and_frees_their_ids() {
        let mut users = DepartedUsers::default();
        let ids: Vec<String> = (0..10_000).map(|n| format!("user-é-{n}")).collect();
        for (n, id) in ids.iter().enumerate() {
            users.insert(id, departed(n as u64));
        }
        for (n, id) in ids.iter().enumerate().filter(|(n, _)| n % 10 != 0) {
            assert_eq!(users.remove(id).map(|d| d.last_event_id), Some(n as u64));
            assert_eq!(users.remove(id), None, "{id} is gone");
        }
        assert_eq!(users.records.len(), 1_000);
        for (n, id) in ids.iter().enumerate() {
            let kept = users.get(id).map(|d| d.last_event_id);
            assert_eq!(kept, (n % 10 == 0).then_some(n as u64), "{id}");
        }
        let kept_bytes: usize = ids.iter().step_by(10).map(String::len).sum();
        assert!(
            users.ids.len() <= 2 * kept_bytes,
            "{} bytes of ids kept for {kept_bytes} bytes of live ones",
            users.ids.len()
        );
        assert!(users.records.capacity() <= 4 * 1_000);
    }
}
