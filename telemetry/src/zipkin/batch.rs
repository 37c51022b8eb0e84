//! The span batch: finished spans wait in a bounded queue, and a thread of
//! its own uploads them to Zipkin in batches, several at a time.
//!
//! Why not the SDK's `BatchSpanProcessor`: it uploads one batch at a time,
//! through an exporter it calls on a thread with no Tokio reactor (so the
//! upload had to run on the service's own, busy runtime), and when its queue
//! overflows it logs the first span dropped and the total only at shutdown.
//! Under `wrk -c1000`, api_01's uploads fell behind and it dropped most of
//! its spans, unseen. Here the batch thread runs its own small runtime, so
//! uploads never wait behind the service's requests; up to
//! `max_concurrent_uploads` are in flight; and drops are counted and
//! reported while they happen ([`Losses`]).
//!
//! The queue stays bounded: when Zipkin is slow and every upload slot is
//! taken, spans beyond `max_queue_size` are dropped, not buffered, so memory
//! is bounded however long Zipkin is away.

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{RecvTimeoutError, SyncSender, sync_channel},
    },
    thread,
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanProcessor},
};
use reqwest::header::CONTENT_TYPE;
use tokio::{
    sync::{Notify, mpsc},
    task::JoinSet,
};

use super::{Losses, write_spans};
use crate::{config::BatchConfig, error_text::describe};

/// Sends the spans of the service `service_name` to Zipkin's
/// `POST /api/v2/spans` at `endpoint`.
#[derive(Debug)]
pub(crate) struct ZipkinProcessor {
    queue: Arc<Queue>,
    control: mpsc::UnboundedSender<Control>,
    worker: Mutex<Option<thread::JoinHandle<()>>>,
    losses: Arc<Losses>,
}

/// Asks of the batch thread, answered when done.
#[derive(Debug)]
enum Control {
    /// Upload everything queued.
    Flush(SyncSender<()>),
    /// Upload everything queued, report what was lost, and stop.
    Shutdown(SyncSender<()>),
}

/// Finished spans, waiting for the batch thread. A plain vector behind a
/// lock, which the batch thread takes whole: a span costs the request path
/// a push, and the batch thread wakes once a batch, not once a span.
#[derive(Debug)]
struct Queue {
    spans: Mutex<Vec<SpanData>>,
    max_queue_size: usize,
    batch_size: usize,
    /// Raised when a batch is full.
    batch_full: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SpanData>> {
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Up to one batch of the oldest spans.
    fn take_batch(&self) -> Vec<SpanData> {
        let mut spans = self.lock();
        if spans.len() <= self.batch_size {
            std::mem::replace(&mut *spans, Vec::with_capacity(self.batch_size))
        } else {
            spans.drain(..self.batch_size).collect()
        }
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl ZipkinProcessor {
    /// Starts the batch thread.
    pub(crate) fn start(
        endpoint: reqwest::Url,
        service_name: &str,
        config: BatchConfig,
    ) -> Result<Self, reqwest::Error> {
        let batch_size = config.max_export_batch_size.max(1);
        let queue = Arc::new(Queue {
            spans: Mutex::new(Vec::with_capacity(batch_size)),
            max_queue_size: config.max_queue_size,
            batch_size,
            batch_full: Notify::new(),
        });
        let (control, orders) = mpsc::unbounded_channel();
        let losses = Arc::new(Losses::default());
        let batch = Batch {
            http: reqwest::Client::builder()
                .timeout(config.upload_timeout)
                .build()?,
            endpoint,
            service_name: service_name.to_owned(),
            config,
            queue: queue.clone(),
            losses: losses.clone(),
        };
        let worker = thread::Builder::new()
            .name("zipkin-batch".into())
            .spawn(move || batch.run(orders))
            .expect("the OS can start a thread");
        Ok(Self {
            queue,
            control,
            worker: Mutex::new(Some(worker)),
            losses,
        })
    }

    /// Sends `order` to the batch thread and waits, at most `timeout`, for
    /// it to be carried out. Never called on a runtime worker: the SDK calls
    /// it from the thread that flushes or shuts the provider down.
    fn ask(&self, order: fn(SyncSender<()>) -> Control, timeout: Duration) -> OTelSdkResult {
        let (done, answer) = sync_channel(1);
        self.control
            .send(order(done))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        match answer.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::InternalFailure(
                "the batch thread stopped".into(),
            )),
        }
    }
}

impl SpanProcessor for ZipkinProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let mut spans = self.queue.lock();
        if spans.len() >= self.queue.max_queue_size {
            drop(spans);
            self.losses.queue_full();
            return;
        }
        spans.push(span);
        let full = spans.len() == self.queue.batch_size;
        drop(spans);
        if full {
            self.queue.batch_full.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Control::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.ask(Control::Shutdown, timeout)?;
        // It has answered: it is about to return.
        if let Some(worker) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = worker.join();
        }
        Ok(())
    }
}

/// What the batch thread owns.
struct Batch {
    http: reqwest::Client,
    /// Parsed once: a URL given as text is parsed again at every upload.
    endpoint: reqwest::Url,
    service_name: String,
    config: BatchConfig,
    queue: Arc<Queue>,
    losses: Arc<Losses>,
}

impl Batch {
    /// The batch thread: uploads a batch when it is full or when the
    /// schedule says so, reports losses on every tick, and answers flushes
    /// and the shutdown.
    fn run(self, mut orders: mpsc::UnboundedReceiver<Control>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the uploads");
        let this = Arc::new(self);
        runtime.block_on(async move {
            let max_uploads = this.config.max_concurrent_uploads.max(1);
            let mut uploads = JoinSet::new();
            let mut tick = tokio::time::interval(this.config.schedule_delay);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let slot_free = uploads.len() < max_uploads;
                tokio::select! {
                    biased;
                    Some(order) = orders.recv() => {
                        // Everything queued goes now, all at once.
                        while this.upload_queued(&mut uploads) {}
                        while uploads.join_next().await.is_some() {}
                        match order {
                            Control::Flush(done) => {
                                let _ = done.try_send(());
                            }
                            Control::Shutdown(done) => {
                                this.losses.report(true);
                                let _ = done.try_send(());
                                return;
                            }
                        }
                    }
                    Some(_) = uploads.join_next(), if !uploads.is_empty() => {
                        // A slot is free: a full batch that waited for it goes.
                        if this.queue.len() >= this.queue.batch_size {
                            this.upload_queued(&mut uploads);
                        }
                    }
                    () = this.queue.batch_full.notified(), if slot_free => {
                        this.upload_queued(&mut uploads);
                    }
                    _ = tick.tick() => {
                        if slot_free {
                            this.upload_queued(&mut uploads);
                        }
                        this.losses.report(false);
                    }
                }
            }
        });
    }

    /// Starts one upload of the oldest queued spans, if there are any, and
    /// says whether it did. The loop starts one only when a slot is free; a
    /// flush starts them all at once, so the last upload at shutdown takes
    /// one upload timeout at most.
    fn upload_queued(self: &Arc<Self>, uploads: &mut JoinSet<()>) -> bool {
        let batch = self.queue.take_batch();
        if batch.is_empty() {
            return false;
        }
        let this = self.clone();
        uploads.spawn(async move {
            let outcome = this.post(&batch).await;
            this.losses.upload(outcome, batch.len());
        });
        true
    }

    async fn post(&self, batch: &[SpanData]) -> Result<(), String> {
        // About 600 bytes a span: one allocation for the whole body.
        let mut body = Vec::with_capacity(640 * batch.len());
        write_spans(batch, &self.service_name, &mut body);
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match response.and_then(reqwest::Response::error_for_status) {
            Ok(_) => Ok(()),
            Err(error) => Err(describe(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Bytes, routing::post};
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    fn config(max_queue_size: usize, max_concurrent_uploads: usize) -> BatchConfig {
        BatchConfig {
            max_queue_size,
            max_concurrent_uploads,
            max_export_batch_size: 1,
            upload_timeout: Duration::from_millis(200),
            ..BatchConfig::default()
        }
    }

    /// The spans go out from the batch thread's own runtime, and a shutdown
    /// started from inside the service's runtime (as `Telemetry::shutdown`
    /// does) uploads what is queued, with nothing panicking on the way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_are_uploaded_and_flushed_at_shutdown() {
        let (uploads, mut received) = mpsc::unbounded_channel::<Bytes>();
        let app = Router::new().route(
            "/api/v2/spans",
            post(move |body: Bytes| async move {
                let _ = uploads.send(body);
                axum::http::StatusCode::ACCEPTED
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let processor = ZipkinProcessor::start(
            endpoint.parse().unwrap(),
            "api_test",
            BatchConfig::default(),
        )
        .unwrap();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        provider.tracer("test").start("GET /").end();
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown());
        stopped.await.unwrap().unwrap();

        let body = received
            .try_recv()
            .expect("the span was uploaded before shutdown returned");
        let spans: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(spans[0]["name"], "GET /");
        assert_eq!(spans[0]["localEndpoint"]["serviceName"], "api_test");
    }

    /// With every upload slot taken by a Zipkin that never answers, the
    /// queue fills and further spans are dropped, and counted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_drops_spans_and_counts_them() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
        let _hang = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let processor =
            ZipkinProcessor::start(endpoint.parse().unwrap(), "api_test", config(2, 1)).unwrap();
        let losses = processor.losses.clone();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("test");
        // At most: 1 in the hanging upload, 1 waiting in the batch, 2 queued.
        for _ in 0..20 {
            tracer.start("GET /").end();
        }
        let dropped = losses.queue_full.load(std::sync::atomic::Ordering::Relaxed);
        assert!((16..=18).contains(&dropped), "dropped {dropped}");
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown());
        stopped.await.unwrap().unwrap();
    }
}
