//! The spans held for Zipkin, bounded in total: the request path adds each
//! finished span, the batch thread takes them in batches and gives back
//! the count of those it is done with.
//!
//! **The bound** (`OTEL_BSP_MAX_QUEUE_SIZE`) counts every span held: those
//! waiting for a batch, those in an upload, and those in a batch waiting to
//! be tried again. So however long Zipkin is away, and however many
//! uploads fail, memory stays bounded.
//!
//! **When it is full, the newest spans are dropped**, and with each one the
//! rest of its trace: the spans of that trace still to come, and those of
//! it still held. Why the newest, not the oldest:
//! - the request path only ever pushes a span or counts one: making room
//!   by taking spans out would put a search through the held spans on
//!   the path of a request;
//! - the oldest spans are the ones already in batches being retried;
//!   taking spans back out of them would keep undoing work half done;
//! - it is what OpenTelemetry's batch processor and Brave's reporter do,
//!   so what a reader knows from them holds here.
//!
//! A long outage thus loses its end, not its beginning.
//!
//! Why whole traces: a span dropped alone leaves its trace broken in Zipkin
//! (a piece without its root, or a root whose calls vanished). A trace
//! dropped here is missing this service, and nothing of it is
//! half there. The traces dropped lately are remembered ([`DroppedTraces`])
//! so that their later spans are dropped as they end, and their held ones
//! when the batch thread next looks ([`Queue::take_batch`],
//! [`Queue::keep_whole`]). What cannot be taken back is a span already
//! delivered: when a trace drops while part of it is in an upload that then
//! succeeds, that trace reaches Zipkin in part, and [`Queue::sent_in_part`]
//! counts it, so that it is never silent.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::SpanData;
use tokio::sync::Notify;

/// How long a dropped trace is remembered: far longer than a request takes
/// to finish its spans, or an upload to come back.
const REMEMBER_DROPPED: Duration = Duration::from_secs(60);

/// The most spans a batch's vector is made for before they come (about
/// 1.5 MB): a larger batch (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE` of a billion,
/// say, which the fuzz target `settings` found allocating 352 GB at
/// start) grows as its spans come, within the queue's bound.
const PREALLOCATED: usize = 4096;

#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    pub(super) max_spans: usize,
    pub(super) batch_size: usize,
    /// Raised when a batch is full.
    pub(super) batch_full: Notify,
}

#[derive(Debug)]
struct State {
    /// Finished spans, oldest first, not yet in a batch. A plain vector
    /// which the batch thread takes from the front: a span costs the
    /// request path a push, and the batch thread wakes once a batch.
    waiting: Vec<SpanData>,
    /// Spans in batches: being uploaded, or waiting to be retried.
    in_batches: usize,
    /// Every sampled span that ended, held or not.
    ended: u64,
    /// Spans dropped, in all.
    dropped: u64,
    dropped_traces: DroppedTraces,
}

impl Queue {
    pub(super) fn new(max_spans: usize, batch_size: usize) -> Self {
        Self {
            state: Mutex::new(State {
                waiting: Vec::with_capacity(batch_size.min(PREALLOCATED)),
                in_batches: 0,
                ended: 0,
                dropped: 0,
                dropped_traces: DroppedTraces::new(max_spans),
            }),
            max_spans,
            batch_size,
            batch_full: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A span that ended (on the request path): held, or dropped with the
    /// rest of its trace when the queue is full.
    pub(super) fn push(&self, span: SpanData) {
        let mut state = self.lock();
        state.ended += 1;
        let trace_id = span.span_context.trace_id();
        if state.dropped_traces.contains(trace_id) {
            state.dropped += 1;
            return;
        }
        if state.waiting.len() + state.in_batches >= self.max_spans {
            state.dropped += 1;
            state.dropped_traces.insert(trace_id);
            return;
        }
        state.waiting.push(span);
        let full = state.waiting.len() == self.batch_size;
        drop(state);
        if full {
            self.batch_full.notify_one();
        }
    }

    /// Up to one batch of the oldest waiting spans, which count as in a
    /// batch until [`Queue::release`]d. Spans of dropped traces are removed
    /// first.
    pub(super) fn take_batch(&self) -> Vec<SpanData> {
        let mut state = self.lock();
        state.drop_waiting_of_dropped_traces();
        let count = state.waiting.len().min(self.batch_size);
        let batch: Vec<SpanData> = if count == state.waiting.len() {
            std::mem::replace(
                &mut state.waiting,
                Vec::with_capacity(self.batch_size.min(PREALLOCATED)),
            )
        } else {
            state.waiting.drain(..count).collect()
        };
        state.in_batches += batch.len();
        batch
    }

    /// Takes the spans of dropped traces out of `batch` (a batch about to
    /// be tried again), so a trace dropped since it was made is removed whole.
    pub(super) fn keep_whole(&self, batch: &mut Vec<SpanData>) {
        let mut state = self.lock();
        if state.dropped_traces.is_empty() {
            return;
        }
        let before = batch.len();
        batch.retain(|span| !state.dropped_traces.contains(span.span_context.trace_id()));
        let dropped = before - batch.len();
        state.in_batches -= dropped;
        state.dropped += dropped as u64;
    }

    /// The batch thread is done with `spans` spans: delivered, or lost.
    pub(super) fn release(&self, spans: usize) {
        self.lock().in_batches -= spans;
    }

    /// How many traces of `delivered` (a batch Zipkin has just taken) were
    /// dropped while it was in its upload: those reach Zipkin in part.
    pub(super) fn sent_in_part(&self, delivered: &[SpanData]) -> u64 {
        let state = self.lock();
        if state.dropped_traces.is_empty() {
            return 0;
        }
        let traces: HashSet<TraceId> = delivered
            .iter()
            .map(|span| span.span_context.trace_id())
            .filter(|trace_id| state.dropped_traces.contains(*trace_id))
            .collect();
        traces.len() as u64
    }

    /// The batch thread's periodic look: waiting spans of dropped traces
    /// are removed, and traces dropped long ago are forgotten. Call it after
    /// [`Queue::keep_whole`] on every batch waiting to be retried, so a
    /// trace is forgotten only once nothing of it is held.
    pub(super) fn sweep(&self) {
        let mut state = self.lock();
        state.drop_waiting_of_dropped_traces();
        state.dropped_traces.forget_older_than(REMEMBER_DROPPED);
    }

    /// Spans waiting for a batch.
    pub(super) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Spans held: waiting, or in batches.
    pub(super) fn held(&self) -> usize {
        let state = self.lock();
        state.waiting.len() + state.in_batches
    }

    /// Every sampled span that has ended so far.
    pub(super) fn ended(&self) -> u64 {
        self.lock().ended
    }

    /// The spans dropped so far, in all.
    pub(super) fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

impl State {
    fn drop_waiting_of_dropped_traces(&mut self) {
        if self.dropped_traces.is_empty() {
            return;
        }
        let before = self.waiting.len();
        let dropped_traces = &self.dropped_traces;
        self.waiting
            .retain(|span| !dropped_traces.contains(span.span_context.trace_id()));
        self.dropped += (before - self.waiting.len()) as u64;
    }
}

/// The traces dropped lately, oldest first, at most `capacity` of them.
///
/// Empty in the normal run of things, and then free to ask: a trace is
/// looked up only while some were dropped in the last minute.
#[derive(Debug)]
struct DroppedTraces {
    ids: HashSet<TraceId>,
    order: VecDeque<(TraceId, Instant)>,
    capacity: usize,
}

impl DroppedTraces {
    /// Room for as many traces as the queue holds spans, and at least a
    /// thousand: a few tens of kilobytes, to be sure that a trace is
    /// remembered for as long as its spans may come.
    fn new(max_spans: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity: max_spans.max(1024),
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn contains(&self, trace_id: TraceId) -> bool {
        !self.ids.is_empty() && self.ids.contains(&trace_id)
    }

    fn insert(&mut self, trace_id: TraceId) {
        if self.ids.insert(trace_id) {
            self.order.push_back((trace_id, Instant::now()));
        }
        while self.order.len() > self.capacity {
            self.forget_oldest();
        }
    }

    fn forget_older_than(&mut self, age: Duration) {
        while self
            .order
            .front()
            .is_some_and(|(_, dropped_at)| dropped_at.elapsed() > age)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((trace_id, _)) = self.order.pop_front() {
            self.ids.remove(&trace_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::span_of_trace;

    #[test]
    fn the_bound_counts_every_span_held_batches_included() {
        let queue = Queue::new(4, 2);
        for trace in 1..=3 {
            queue.push(span_of_trace(trace));
        }
        let batch = queue.take_batch();
        assert_eq!(batch.len(), 2);
        // Two in a batch, one waiting: room for one more.
        queue.push(span_of_trace(4));
        queue.push(span_of_trace(5));
        assert_eq!((queue.held(), queue.dropped()), (4, 1));
        // Until the batch is done with, the room stays taken.
        queue.push(span_of_trace(6));
        assert_eq!(queue.dropped(), 2);
        queue.release(batch.len());
        queue.push(span_of_trace(7));
        assert_eq!((queue.held(), queue.dropped()), (3, 2));
        assert_eq!(queue.ended(), 7);
    }

    #[test]
    fn a_trace_is_dropped_whole_its_later_and_held_spans_too() {
        let queue = Queue::new(3, 10);
        // Trace 1 has a span waiting; traces 2 and 3 fill the queue.
        queue.push(span_of_trace(1));
        queue.push(span_of_trace(2));
        queue.push(span_of_trace(3));
        // Trace 1's next span finds it full: trace 1 is dropped, whole.
        queue.push(span_of_trace(1));
        assert_eq!(queue.dropped(), 1);
        let batch = queue.take_batch();
        let traces: Vec<u128> = batch
            .iter()
            .map(|span| u128::from_be_bytes(span.span_context.trace_id().to_bytes()))
            .collect();
        assert_eq!(traces, [2, 3], "trace 1's waiting span went with it");
        assert_eq!(queue.dropped(), 2);
        // There is room again, but trace 1's spans still to come are dropped.
        queue.push(span_of_trace(1));
        queue.push(span_of_trace(4));
        assert_eq!((queue.dropped(), queue.waiting()), (3, 1));
    }

    #[test]
    fn a_batch_retried_loses_the_spans_of_traces_dropped_since() {
        let queue = Queue::new(3, 3);
        queue.push(span_of_trace(1));
        queue.push(span_of_trace(2));
        let mut batch = queue.take_batch();
        queue.push(span_of_trace(3));
        // Full (two in the batch, one waiting): trace 2 drops.
        queue.push(span_of_trace(2));
        queue.keep_whole(&mut batch);
        assert_eq!(batch.len(), 1);
        assert_eq!((queue.held(), queue.dropped()), (2, 2));
    }

    #[test]
    fn a_delivered_batch_with_a_trace_dropped_meanwhile_is_counted() {
        let queue = Queue::new(2, 2);
        queue.push(span_of_trace(1));
        queue.push(span_of_trace(2));
        let batch = queue.take_batch();
        assert_eq!(queue.sent_in_part(&batch), 0);
        // While the batch is in its upload, trace 1's last span drops.
        queue.push(span_of_trace(1));
        assert_eq!(queue.sent_in_part(&batch), 1);
    }

    #[test]
    fn dropped_traces_are_remembered_for_a_while_and_in_bounded_number() {
        let mut dropped = DroppedTraces::new(0);
        assert_eq!(dropped.capacity, 1024);
        for trace in 0..1030 {
            dropped.insert(TraceId::from(trace));
        }
        assert_eq!(dropped.ids.len(), 1024);
        assert!(!dropped.contains(TraceId::from(0)), "the oldest went first");
        assert!(dropped.contains(TraceId::from(1029)));
        dropped.forget_older_than(Duration::ZERO);
        assert!(dropped.is_empty());
    }
}
