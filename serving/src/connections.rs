//! What each connection is doing: the state its time limits follow, and
//! what the server reads when it must make room for a new one.
//!
//! A connection is always in one phase:
//! - `Head`: waiting for a request's headers. The header timeout runs from
//!   `since`: the connection's start, or the first byte of a later request.
//! - `Busy`: a request is being served. No connection limit applies; the
//!   request's own limit is [`crate::RequestTimeoutLayer`].
//! - `Idle`: kept alive after an answer, waiting for the next request. The
//!   idle timeout runs from `since`, the end of the last answer.
//! - `Closing`: chosen to make room; its task closes it at once.
//!
//! The table holds one slot per connection allowed, so it *is* the cap: a
//! connection takes a free slot when accepted and gives it back when it
//! closes. At the cap, [`Table::make_room`] closes the connection that has
//! waited longest for its client: the oldest `Head` (a client that has not
//! finished its headers), else the oldest `Idle` (nginx closes kept-alive
//! connections the same way when it runs out). A `Busy` one is never
//! chosen: its client did nothing wrong. The slots sit in one array, so the
//! choice is one pass over a few bytes a connection, and it is made only
//! at the cap.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, futures::Notified};

use crate::ConnectionLimits;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Free = 0,
    Head = 1,
    Busy = 2,
    Idle = 3,
    Closing = 4,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Head,
            2 => Self::Busy,
            3 => Self::Idle,
            4 => Self::Closing,
            _ => Self::Free,
        }
    }
}

/// The slots, one per connection allowed.
pub(crate) struct Table {
    slots: Box<[Slot]>,
    free: Mutex<Vec<usize>>,
    /// Raised when a slot is given back.
    freed: Notify,
    /// What `since` counts from.
    epoch: Instant,
}

struct Slot {
    phase: AtomicU8,
    /// Nanoseconds from the table's epoch to the start of this phase
    /// (exact, so that no limit ever runs out early).
    since: AtomicU64,
    /// Tells the connection's task it has been chosen to close.
    wake: Notify,
}

/// A connection's slot, given back when dropped.
pub(crate) struct Claim {
    table: Arc<Table>,
    index: usize,
}

impl Table {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        let slots = (0..cap)
            .map(|_| Slot {
                phase: AtomicU8::new(Phase::Free as u8),
                since: AtomicU64::new(0),
                wake: Notify::new(),
            })
            .collect();
        Arc::new(Self {
            slots,
            // Popped from the end: the first connections take the first slots.
            free: Mutex::new((0..cap).rev().collect()),
            freed: Notify::new(),
            epoch: Instant::now(),
        })
    }

    /// A free slot for a connection that has just started, if there is one.
    pub(crate) fn claim(self: &Arc<Self>) -> Option<Claim> {
        let index = self.lock_free().pop()?;
        let claim = Claim {
            table: self.clone(),
            index,
        };
        claim.enter(Phase::Head);
        Some(claim)
    }

    /// At the cap: tells the connection that has waited longest for its
    /// client to close (the oldest `Head`, else the oldest `Idle`). False
    /// when every connection is serving a request.
    pub(crate) fn make_room(&self) -> bool {
        // A connection may change phase between the look and the choice:
        // then look again. Three tries, as each look takes one pass.
        for _ in 0..3 {
            let Some((index, seen)) = self.longest_waiting() else {
                return false;
            };
            let slot = &self.slots[index];
            let closing = slot.phase.compare_exchange(
                seen as u8,
                Phase::Closing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if closing.is_ok() {
                slot.wake.notify_one();
                return true;
            }
        }
        false
    }

    fn longest_waiting(&self) -> Option<(usize, Phase)> {
        let mut best: Option<(usize, Phase, u64)> = None;
        for (index, slot) in self.slots.iter().enumerate() {
            let phase = Phase::from_u8(slot.phase.load(Ordering::Acquire));
            if !matches!(phase, Phase::Head | Phase::Idle) {
                continue;
            }
            let since = slot.since.load(Ordering::Relaxed);
            // A `Head` goes before any `Idle`; within a phase, the oldest.
            let better = match best {
                None => true,
                Some((_, best_phase, best_since)) => {
                    (phase == Phase::Head && best_phase == Phase::Idle)
                        || (phase == best_phase && since < best_since)
                }
            };
            if better {
                best = Some((index, phase, since));
            }
        }
        best.map(|(index, phase, _)| (index, phase))
    }

    /// How many connections hold a slot.
    pub(crate) fn in_use(&self) -> usize {
        self.slots.len() - self.lock_free().len()
    }

    /// Waits until a slot is given back.
    pub(crate) fn freed(&self) -> Notified<'_> {
        self.freed.notified()
    }

    fn lock_free(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

impl Claim {
    fn slot(&self) -> &Slot {
        &self.table.slots[self.index]
    }

    fn enter(&self, phase: Phase) {
        let slot = self.slot();
        slot.since.store(self.table.now(), Ordering::Relaxed);
        slot.phase.store(phase as u8, Ordering::Release);
    }

    /// Moves from `from` to `to` (restarting `since`) unless the phase has
    /// changed meanwhile (to `Closing`, say); says whether it moved.
    fn advance(&self, from: Phase, to: Phase) -> bool {
        let slot = self.slot();
        slot.since.store(self.table.now(), Ordering::Relaxed);
        slot.phase
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.slot().phase.load(Ordering::Acquire))
    }

    /// When the limit of the current phase runs out: `None` while a request
    /// is served (or the connection is closing).
    pub(crate) fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let limit = match self.phase() {
            Phase::Head => limits.header_timeout,
            Phase::Idle => limits.idle_timeout,
            Phase::Busy | Phase::Closing | Phase::Free => return None,
        };
        let since = Duration::from_nanos(self.slot().since.load(Ordering::Relaxed));
        Some(self.table.epoch + since + limit)
    }

    /// The headers of a request are in: it is being served.
    pub(crate) fn request_started(&self) {
        if !self.advance(Phase::Head, Phase::Busy) {
            // A request sent at once after the last answer, before any read
            // saw its first byte (pipelined, or read in the same chunk).
            self.advance(Phase::Idle, Phase::Busy);
        }
    }

    /// The answer is out: the connection waits for the next request.
    pub(crate) fn request_ended(&self) {
        self.advance(Phase::Busy, Phase::Idle);
    }

    /// Bytes arrived: on an idle connection, a request has begun, and its
    /// headers are now on the clock.
    pub(crate) fn bytes_arrived(&self) {
        if self.phase() == Phase::Idle {
            self.advance(Phase::Idle, Phase::Head);
        }
    }

    /// Resolves when another task has chosen this connection to close (the
    /// changes of phase made by the connection itself happen on its own
    /// task, which looks at the phase after each of its polls).
    pub(crate) fn woken(&self) -> Notified<'_> {
        self.slot().wake.notified()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.slot()
            .phase
            .store(Phase::Free as u8, Ordering::Release);
        self.table.lock_free().push(self.index);
        self.table.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_cap_and_slots_come_back() {
        let table = Table::new(2);
        let first = table.claim().unwrap();
        let _second = table.claim().unwrap();
        assert!(table.claim().is_none(), "two slots, two connections");
        drop(first);
        assert!(
            table.claim().is_some(),
            "a closed connection frees its slot"
        );
    }

    #[test]
    fn room_is_made_by_closing_the_longest_waiting_head_then_idle_never_busy() {
        let table = Table::new(3);
        let busy = table.claim().unwrap();
        busy.request_started();
        let idle = table.claim().unwrap();
        idle.request_started();
        idle.request_ended();
        let head = table.claim().unwrap();

        assert!(table.make_room());
        assert_eq!(head.phase(), Phase::Closing, "a head goes first");
        assert!(table.make_room());
        assert_eq!(idle.phase(), Phase::Closing, "then an idle one");
        assert!(!table.make_room(), "a busy connection is never closed");
        assert_eq!(busy.phase(), Phase::Busy);
    }

    #[test]
    fn the_oldest_waiting_connection_goes_first() {
        let table = Table::new(3);
        let claims: Vec<Claim> = (0..3).map(|_| table.claim().unwrap()).collect();
        // The same millisecond is likely: make the ages explicit.
        for (age, claim) in claims.iter().enumerate() {
            claim.slot().since.store(10 - age as u64, Ordering::Relaxed);
        }
        assert!(table.make_room());
        assert_eq!(claims[2].phase(), Phase::Closing);
        assert_eq!(claims[0].phase(), Phase::Head);
    }

    #[test]
    fn the_deadline_follows_the_phase() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
        };
        let table = Table::new(1);
        let claim = table.claim().unwrap();
        let head = claim.deadline(&limits).unwrap();
        assert!(head <= Instant::now() + Duration::from_secs(1));
        claim.request_started();
        assert_eq!(claim.deadline(&limits), None, "no limit while serving");
        claim.request_ended();
        assert!(claim.deadline(&limits).unwrap() > Instant::now() + Duration::from_secs(30));
        claim.bytes_arrived();
        assert!(claim.deadline(&limits).unwrap() <= Instant::now() + Duration::from_secs(1));
    }
}
