use super::departed::{Departed, DepartedUsers};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Identifies one connection for the lifetime of a server.
pub type ConnectionId = u64;

/// A frame queued for one connection.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// An agent event of the connection's user.
    Event { event_id: u64, frame: Utf8Bytes },
    /// A reply meant for this connection only (e.g. `internal` after a run
    /// fault), or raw text injected by a test.
    Reply(Utf8Bytes),
    /// Drop the connection without a close frame (an injected network fault).
    Drop,
}

/// The one connection manager.
///
/// It keeps, per user: the open connections, the `event_id` sequence (1, 2,
/// 3, ... with no gaps across all runs and connections of that user) and the
/// replay buffer of recent events. An event goes to every connection of its
/// own user and never to anyone else's. A user with no open connection and
/// no run going for [`Limits::replay_ttl`](super::Limits::replay_ttl) is
/// forgotten but for its last event id, so the ids of a returning user go
/// on without a gap.
#[derive(Debug)]
pub struct ConnectionManager {
    users: Mutex<HashMap<String, Arc<UserSlot>>>,
    /// Users forgotten after the replay TTL; locked after `users`, never
    /// before.
    departed: Mutex<DepartedUsers>,
    next_connection: AtomicU64,
    open: AtomicUsize,
    /// When the number of open connections last changed.
    last_change: Mutex<Instant>,
    queue_capacity: usize,
    replay_capacity: usize,
}

/// One user's connections, event sequence and replay buffer.
#[derive(Debug)]
pub(crate) struct UserSlot {
    state: Mutex<UserState>,
    replay_capacity: usize,
}

#[derive(Debug, Default)]
struct UserState {
    last_event_id: u64,
    connections: Vec<(ConnectionId, mpsc::Sender<Outbound>)>,
    buffer: VecDeque<(u64, Utf8Bytes)>,
    connects: u64,
    resumes: u64,
    disconnected_at: Option<Instant>,
    /// While no connection is open: when the user last had one, or an
    /// event (a run goes on without it). The replay TTL counts from here.
    idle_since: Option<Instant>,
}

/// Whether a user is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectionState {
    /// At least one connection is open.
    Connected {
        /// How many.
        connections: usize,
    },
    /// Every connection closed at `since`; events go on into the replay buffer.
    Disconnected {
        /// When the last connection closed.
        since: Instant,
    },
}

/// One user's session as the server tracks it across reconnections: what
/// a client resuming now would get.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct ReconnectionSession {
    pub user_id: String,
    /// Connected or not.
    pub state: ReconnectionState,
    /// Connections opened so far.
    pub connects: u64,
    /// `resume` requests answered so far.
    pub resumes: u64,
    /// The newest event id.
    pub last_event_id: u64,
    /// The oldest event id a `resume` can still replay (`None` before any event).
    pub oldest_buffered_event_id: Option<u64>,
    /// Events in the replay buffer.
    pub buffered_events: usize,
}

/// What a new connection gets from the manager.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) id: ConnectionId,
    pub(crate) user: Arc<UserSlot>,
    pub(crate) outbound: mpsc::Receiver<Outbound>,
    /// Lets a run started on this connection answer it directly without
    /// keeping the connection's queue alive.
    pub(crate) reply_to: mpsc::WeakSender<Outbound>,
}

/// What [`UserSlot::emit`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emitted {
    pub(crate) event_id: u64,
    /// Connections dropped because their queue was full.
    pub(crate) too_slow: u64,
}

/// Buffered events after a client's `last_event_id`.
#[derive(Debug)]
pub(crate) struct Replay {
    /// `Some(oldest buffered id)` when events after `last_event_id` were already evicted.
    pub(crate) gap: Option<u64>,
    pub(crate) frames: Vec<Utf8Bytes>,
    /// The user's newest event id when the replay was taken.
    pub(crate) last_event_id: u64,
}

impl ConnectionManager {
    pub(crate) fn new(queue_capacity: usize, replay_capacity: usize) -> Self {
        Self {
            users: Mutex::default(),
            departed: Mutex::default(),
            next_connection: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            last_change: Mutex::new(Instant::now()),
            queue_capacity,
            replay_capacity,
        }
    }

    /// Open connections, all users together.
    ///
    /// ```
    /// use ws_harness::server::{Server, ServerConfig};
    /// let server = Server::new(ServerConfig::test_mode()).unwrap();
    /// assert_eq!(server.manager().connection_count(), 0);
    /// ```
    #[must_use]
    pub fn connection_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Open connections of one user.
    #[must_use]
    pub fn user_connection_count(&self, user_id: &str) -> usize {
        self.existing(user_id)
            .map_or(0, |slot| slot.lock().connections.len())
    }

    /// Fault injection: drops every connection of a user at once, without a
    /// close frame, as a network failure would. The user's sequence and
    /// replay buffer stay, so a client can reconnect and `resume`. Returns how
    /// many connections were dropped.
    pub fn drop_user_connections(&self, user_id: &str) -> usize {
        self.to_each_connection(user_id, || Outbound::Drop)
    }

    /// Fault injection: sends `text` as it is, valid JSON or not, to every
    /// connection of a user. Returns how many connections it was queued for.
    pub fn send_raw_text(&self, user_id: &str, text: &str) -> usize {
        let frame = Utf8Bytes::from(text);
        self.to_each_connection(user_id, || Outbound::Reply(frame.clone()))
    }

    fn to_each_connection(&self, user_id: &str, item: impl Fn() -> Outbound) -> usize {
        self.existing(user_id).map_or(0, |slot| {
            let state = slot.lock();
            state
                .connections
                .iter()
                .filter(|(_, tx)| tx.try_send(item()).is_ok())
                .count()
        })
    }

    /// A user's session across reconnections; `None` for a user never seen
    /// (or seen without events and forgotten after the replay TTL).
    ///
    /// ```
    /// use ws_harness::server::{Server, ServerConfig};
    /// let server = Server::new(ServerConfig::test_mode()).unwrap();
    /// assert!(server.manager().session("nobody").is_none());
    /// ```
    #[must_use]
    pub fn session(&self, user_id: &str) -> Option<ReconnectionSession> {
        let Some(slot) = self.existing(user_id) else {
            let departed = lock(&self.departed).get(user_id)?;
            return Some(ReconnectionSession {
                user_id: user_id.to_owned(),
                state: ReconnectionState::Disconnected {
                    since: departed.since,
                },
                connects: departed.connects,
                resumes: departed.resumes,
                last_event_id: departed.last_event_id,
                oldest_buffered_event_id: None,
                buffered_events: 0,
            });
        };
        let state = slot.lock();
        Some(ReconnectionSession {
            user_id: user_id.to_owned(),
            state: match (state.connections.len(), state.disconnected_at) {
                (0, Some(since)) => ReconnectionState::Disconnected { since },
                (connections, _) => ReconnectionState::Connected { connections },
            },
            connects: state.connects,
            resumes: state.resumes,
            last_event_id: state.last_event_id,
            oldest_buffered_event_id: state.buffer.front().map(|(id, _)| *id),
            buffered_events: state.buffer.len(),
        })
    }

    /// The newest `event_id` of a user (0 before the first event).
    #[must_use]
    pub fn last_event_id(&self, user_id: &str) -> u64 {
        match self.existing(user_id) {
            Some(slot) => slot.lock().last_event_id,
            None => lock(&self.departed)
                .get(user_id)
                .map_or(0, |departed| departed.last_event_id),
        }
    }

    /// The user's slot, made (or brought back from its [`Departed`] record)
    /// when there is none.
    pub(crate) fn user(&self, user_id: &str) -> Arc<UserSlot> {
        let mut users = lock(&self.users);
        if let Some(slot) = users.get(user_id) {
            return Arc::clone(slot);
        }
        let mut state = UserState::default();
        if let Some(departed) = lock(&self.departed).remove(user_id) {
            state.last_event_id = departed.last_event_id;
            state.connects = departed.connects;
            state.resumes = departed.resumes;
            state.disconnected_at = Some(departed.since);
            state.idle_since = Some(departed.since);
        }
        let slot = Arc::new(UserSlot {
            state: Mutex::new(state),
            replay_capacity: self.replay_capacity,
        });
        users.insert(user_id.to_owned(), Arc::clone(&slot));
        slot
    }

    /// Forgets every user with no open connection and no run going (nothing
    /// else holds its slot) for at least `ttl`: its replay buffer goes, and
    /// a [`Departed`] record keeps where its ids go on (nothing at all for
    /// a user who never had an event). Returns the users forgotten.
    pub(crate) fn forget_departed(&self, ttl: std::time::Duration) -> Vec<String> {
        let mut users = lock(&self.users);
        let mut departed = lock(&self.departed);
        let mut forgotten = Vec::new();
        users.retain(|user_id, slot| {
            if Arc::strong_count(slot) > 1 {
                return true;
            }
            let state = slot.lock();
            if state.idle_since.is_none_or(|t| t.elapsed() < ttl) {
                return true;
            }
            let since = state.disconnected_at.unwrap_or_else(Instant::now);
            if state.last_event_id > 0 {
                departed.insert(
                    user_id,
                    Departed {
                        last_event_id: state.last_event_id,
                        connects: state.connects,
                        resumes: state.resumes,
                        since,
                    },
                );
            }
            forgotten.push(user_id.clone());
            false
        });
        // A map keeps its largest size; give back what a wave of users left.
        if users.capacity() > 4 * users.len().max(16) {
            users.shrink_to_fit();
        }
        forgotten
    }

    fn existing(&self, user_id: &str) -> Option<Arc<UserSlot>> {
        lock(&self.users).get(user_id).cloned()
    }

    pub(crate) fn register(&self, user_id: &str) -> Registration {
        let user = self.user(user_id);
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (tx, outbound) = mpsc::channel(self.queue_capacity);
        let reply_to = tx.downgrade();
        {
            let mut state = user.lock();
            state.connections.push((id, tx));
            state.connects += 1;
            state.disconnected_at = None;
            state.idle_since = None;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_change) = Instant::now();
        Registration {
            id,
            user,
            outbound,
            reply_to,
        }
    }

    pub(crate) fn unregister(&self, registration: &Registration) {
        let mut state = registration.user.lock();
        state.connections.retain(|(id, _)| *id != registration.id);
        if state.connections.is_empty() {
            let now = Instant::now();
            state.disconnected_at = Some(now);
            state.idle_since = Some(now);
        }
        drop(state);
        self.open.fetch_sub(1, Ordering::Relaxed);
        *lock(&self.last_change) = Instant::now();
    }

    /// How long no connection has been open (`None` while one is).
    #[must_use]
    pub fn idle_for(&self) -> Option<std::time::Duration> {
        let since = *lock(&self.last_change);
        (self.connection_count() == 0).then(|| since.elapsed())
    }
}

impl UserSlot {
    fn lock(&self) -> MutexGuard<'_, UserState> {
        lock(&self.state)
    }

    /// Gives the next `event_id` to the event frame `write` makes (the JSON
    /// of an [`AgentEvent`](crate::protocol::AgentEvent) with that id), keeps
    /// it for replay and queues it for every connection of the user: one copy,
    /// shared. A connection whose queue is full is dropped (it reads too
    /// slowly); the event stays in the replay buffer.
    pub(crate) fn emit(&self, write: impl FnOnce(u64) -> String) -> Emitted {
        let mut state = self.lock();
        let event_id = state.last_event_id + 1;
        let frame = Utf8Bytes::from(write(event_id));
        state.last_event_id = event_id;
        if state.buffer.len() == self.replay_capacity {
            state.buffer.pop_front();
        }
        state.buffer.push_back((event_id, frame.clone()));
        let mut too_slow = 0;
        state.connections.retain(|(_, tx)| {
            let event = Outbound::Event {
                event_id,
                frame: frame.clone(),
            };
            match tx.try_send(event) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    too_slow += 1;
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
        if state.connections.is_empty() {
            state.idle_since = Some(Instant::now());
        }
        Emitted { event_id, too_slow }
    }

    /// The buffered events after `last_event_id`, or `Err(newest)` when the
    /// client claims an event the server never sent.
    pub(crate) fn replay_after(&self, last_event_id: u64) -> Result<Replay, u64> {
        let mut state = self.lock();
        state.resumes += 1;
        if last_event_id > state.last_event_id {
            return Err(state.last_event_id);
        }
        let oldest = state
            .buffer
            .front()
            .map_or(state.last_event_id + 1, |(id, _)| *id);
        let gap = (last_event_id + 1 < oldest).then_some(oldest);
        let frames = state
            .buffer
            .iter()
            .filter(|(id, _)| *id > last_event_id)
            .map(|(_, frame)| frame.clone())
            .collect();
        Ok(Replay {
            gap,
            frames,
            last_event_id: state.last_event_id,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Disconnects `users` and drops their registrations.
    fn leave(manager: &ConnectionManager, users: Vec<Registration>) {
        for registration in users {
            manager.unregister(&registration);
        }
    }

    /// A sweep that forgets a few users leaves the map as it is (no
    /// reallocation for nothing); one after a wave gives its memory back.
    #[test]
    fn the_users_map_shrinks_after_a_wave_and_only_then() {
        let manager = ConnectionManager::new(4, 4);
        let mut users: Vec<Registration> = (0..200)
            .map(|n| manager.register(&format!("user-{n}")))
            .collect();
        let capacity = || lock(&manager.users).capacity();
        // What a map of 100 users holds once shrunk to fit.
        let mut fitted: HashMap<String, ()> = HashMap::with_capacity(200);
        fitted.extend((0..100).map(|n| (n.to_string(), ())));
        fitted.shrink_to_fit();

        leave(&manager, users.drain(..100).collect());
        assert_eq!(manager.forget_departed(Duration::ZERO).len(), 100);
        assert!(
            capacity() > fitted.capacity(),
            "100 users left in 200 slots: the map is kept, not shrunk"
        );

        leave(&manager, users);
        assert_eq!(manager.forget_departed(Duration::ZERO).len(), 100);
        assert!(capacity() <= 64, "{} slots kept for no user", capacity());
    }
}
