//! [`ExportProcessor`]: finished spans wait in a bounded queue
//! (`queue.rs`), and a thread of its own uploads them in batches, several
//! at a time, and tries again those whose upload failed for a reason that
//! may pass (`retry.rs`); every span is accounted for (`account.rs`).
//!
//! Why not the SDK's `BatchSpanProcessor`: it uploads one batch at a time,
//! through an exporter it calls on a thread with no Tokio reactor (so the
//! upload had to run on the service's own, busy runtime), it never tries a
//! failed upload again, and when its queue overflows it logs the first span
//! dropped and the total only at shutdown. Under `wrk -c1000`, api_01's
//! uploads fell behind and it dropped most of its spans, unseen. Here the
//! batch thread runs its own small runtime, so uploads never wait behind
//! the service's requests; up to `max_concurrent_uploads` are in flight; a
//! receiver that restarts costs no span as long as the queue has room; and
//! every span is accounted for while it happens.
//!
//! A retried upload can reach the receiver twice, when it stored a batch
//! but its answer did not arrive in time. Zipkin keeps one copy of a span
//! sent twice, in its trace view and in its dependency links
//! (`docs/failures.md` shows it measured).

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, OnceLock,
        mpsc::{RecvTimeoutError, SyncSender, sync_channel},
    },
    thread,
    time::Duration,
};

use log_report::{REPORT_PERIOD, describe};
use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanProcessor},
};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};

use crate::{
    BatchConfig, Encoding, Endpoint,
    account::Account,
    queue::Queue,
    retry::{Backoff, Outcome, answered},
};

/// The most of the receiver's error text a log line carries.
const ERROR_TEXT_LIMIT: usize = 300;

/// An OpenTelemetry SDK span processor that uploads the sampled spans it
/// is given to `endpoint`, written in `encoding`, from a bounded queue,
/// with retries and an account of every span (see the crate's
/// documentation). Give it to an `SdkTracerProvider`; the provider's
/// resource names the service.
pub struct ExportProcessor {
    queue: Arc<Queue>,
    upload: Arc<Upload>,
    control: mpsc::UnboundedSender<Control>,
    worker: Mutex<Option<thread::JoinHandle<()>>>,
}

/// How full an [`ExportProcessor`]'s queue is, read at any moment: what
/// OpenTelemetry's SDK metrics call `otel.sdk.processor.span.queue.size`
/// and `.capacity`. A queue that stays near its capacity is one outage
/// away from dropping spans.
#[derive(Clone)]
pub struct QueueGauge(Arc<Queue>);

impl QueueGauge {
    /// The spans held now: waiting for a batch, in an upload, or waiting
    /// to be tried again.
    pub fn spans(&self) -> usize {
        self.0.held()
    }

    /// The most spans the queue holds (`max_queue_size`); past it, spans
    /// are dropped.
    pub fn capacity(&self) -> usize {
        self.0.max_spans
    }
}

impl std::fmt::Debug for QueueGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueGauge")
            .field("spans", &self.spans())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// Asks of the batch thread, answered when done.
#[derive(Debug)]
enum Control {
    /// Try everything held once, now.
    Flush(SyncSender<()>),
    /// Try everything held once, now; count what still fails as lost,
    /// report the account, and stop.
    Shutdown(SyncSender<()>),
}

impl std::fmt::Debug for ExportProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportProcessor")
            .field("endpoint", &self.upload.endpoint.url.as_str())
            .finish_non_exhaustive()
    }
}

impl ExportProcessor {
    /// Starts the batch thread, which uploads to `endpoint` (Zipkin's
    /// `http://localhost:9411/api/v2/spans`, say, parsed into an
    /// [`Endpoint`]) in `encoding` ([`crate::ZipkinJson`], say).
    pub fn start(
        endpoint: Endpoint,
        encoding: impl Encoding,
        config: BatchConfig,
    ) -> Result<Self, reqwest::Error> {
        let queue = Arc::new(Queue::new(
            config.max_queue_size,
            config.max_export_batch_size.max(1),
        ));
        let (control, orders) = mpsc::unbounded_channel();
        let encoding_receiver = encoding.receiver();
        let upload = Arc::new(Upload {
            http: reqwest::Client::builder()
                .timeout(config.upload_timeout)
                .build()?,
            endpoint,
            encoding: Box::new(encoding),
            resource: OnceLock::new(),
        });
        let exporter = Exporter {
            upload: upload.clone(),
            queue: queue.clone(),
            max_uploads: config.max_concurrent_uploads.max(1),
            // At least 1 ms: the batch thread ticks with a tokio interval,
            // which panics on zero, and a delay of 0 (OTEL_BSP_SCHEDULE_DELAY=0,
            // found by the fuzz target `settings`) means "at once".
            schedule_delay: config.schedule_delay.max(Duration::from_millis(1)),
            account: Account::new(encoding_receiver),
            retrying: VecDeque::new(),
            uploads: JoinSet::new(),
            backoff: Backoff::default(),
        };
        let worker = thread::Builder::new()
            .name("span-export".into())
            .spawn(move || exporter.run(orders))
            .expect("the OS can start a thread");
        Ok(Self {
            queue,
            upload,
            control,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// A gauge of how full the queue is, which stays valid once the
    /// processor is given to the provider: for a metrics endpoint, say.
    pub fn queue_gauge(&self) -> QueueGauge {
        QueueGauge(self.queue.clone())
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

impl SpanProcessor for ExportProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.queue.push(span);
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

    fn set_resource(&mut self, resource: &Resource) {
        // The provider calls it once, when it is built.
        let _ = self.upload.resource.set(resource.clone());
    }
}

/// A batch on its way: its spans, and how many times it was sent.
struct Pending {
    spans: Vec<SpanData>,
    attempts: u32,
}

/// What an upload needs; shared by the uploads in flight.
struct Upload {
    http: reqwest::Client,
    endpoint: Endpoint,
    encoding: Box<dyn Encoding>,
    /// The service the spans come from, as the provider describes it.
    resource: OnceLock<Resource>,
}

impl Upload {
    /// Sends `pending` once, and gives it back with how it went.
    async fn attempt(self: Arc<Self>, mut pending: Pending) -> (Pending, Outcome) {
        pending.attempts += 1;
        let outcome = self.post(&pending.spans).await;
        (pending, outcome)
    }

    async fn post(&self, batch: &[SpanData]) -> Outcome {
        // About 600 bytes a span: one allocation for the whole body.
        let mut body = Vec::with_capacity(640 * batch.len());
        match self.resource.get() {
            Some(resource) => self.encoding.encode(batch, resource, &mut body),
            // Not given to a provider: no resource to name the service.
            None => self
                .encoding
                .encode(batch, &Resource::builder_empty().build(), &mut body),
        }
        let mut request = self
            .http
            .post(self.endpoint.url.clone())
            .headers(self.endpoint.headers.clone())
            .header(CONTENT_TYPE, self.encoding.content_type());
        if self.endpoint.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
            body = gzip(&body);
        }
        let sent = request.body(body).send().await;
        let response = match sent {
            Ok(response) => response,
            // No answer: refused, reset, or a timeout before any answer.
            // A redirect loop would meet the same end again.
            Err(error) if !error.is_redirect() => {
                return Outcome::Transient {
                    error: describe(&error),
                    retry_after: None,
                };
            }
            Err(error) => {
                return Outcome::Permanent {
                    error: describe(&error),
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        // The receiver says why, or what it did not keep, in the body; a
        // body that does not come in time leaves the status alone to say it.
        let answer = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            return Outcome::Delivered {
                rejected: self.encoding.rejected(&answer),
            };
        }
        let mut text = self.encoding.refusal_text(&answer);
        if let Some((cut, _)) = text.char_indices().nth(ERROR_TEXT_LIMIT) {
            text.truncate(cut);
            text.push('…');
        }
        let transient = self.encoding.is_transient(status);
        answered(self.encoding.receiver(), status, transient, &headers, &text)
    }
}

/// `body`, gzip-compressed.
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(body)
        .expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

/// The batch thread's state: the queue it takes from, the batches it
/// retries, the uploads in flight, the pause after failures, the account.
struct Exporter {
    upload: Arc<Upload>,
    queue: Arc<Queue>,
    max_uploads: usize,
    schedule_delay: Duration,
    account: Account,
    /// Batches whose upload failed for a transient reason, oldest first.
    retrying: VecDeque<Pending>,
    uploads: JoinSet<(Pending, Outcome)>,
    backoff: Backoff,
}

impl Exporter {
    /// The batch thread: uploads a batch when it is full or when the
    /// schedule says so, and retried ones as soon as the pause after a
    /// failure is over; reports on every tick; answers flushes and the
    /// shutdown.
    fn run(self, mut orders: mpsc::UnboundedReceiver<Control>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the uploads");
        let mut this = self;
        runtime.block_on(async move {
            let mut tick = tokio::time::interval(this.schedule_delay.min(REPORT_PERIOD));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut scheduled_at = Instant::now() + this.schedule_delay;
            loop {
                let paused_until = this.backoff.paused_until();
                let slot_free = this.uploads.len() < this.max_uploads && paused_until.is_none();
                let mut scheduled = false;
                tokio::select! {
                    biased;
                    Some(order) = orders.recv() => {
                        let stop = matches!(order, Control::Shutdown(_));
                        this.try_everything_once(stop).await;
                        match order {
                            Control::Flush(done) => {
                                let _ = done.try_send(());
                            }
                            Control::Shutdown(done) => {
                                this.account.report(
                                    this.queue.dropped(),
                                    Some(this.queue.ended()),
                                );
                                let _ = done.try_send(());
                                return;
                            }
                        }
                    }
                    Some(joined) = this.uploads.join_next(), if !this.uploads.is_empty() => {
                        match joined {
                            Ok((pending, outcome)) => this.settle(pending, outcome, false),
                            Err(error) => tracing::error!(%error, "a span upload task failed"),
                        }
                    }
                    () = sleep_until(paused_until), if paused_until.is_some() => {
                        this.backoff.resume();
                    }
                    () = this.queue.batch_full.notified(), if slot_free => {}
                    _ = tick.tick() => {
                        this.sweep();
                        this.account.report(this.queue.dropped(), None);
                        if Instant::now() >= scheduled_at {
                            scheduled = true;
                            scheduled_at = Instant::now() + this.schedule_delay;
                        }
                    }
                }
                this.start_uploads(scheduled);
            }
        });
    }

    /// Starts the uploads that are due, as slots allow: batches to retry
    /// first, then full batches, then (`scheduled`) whatever waits. During
    /// a pause, none; after one, a single upload, until one succeeds.
    fn start_uploads(&mut self, scheduled: bool) {
        if self.backoff.paused_until().is_some() {
            return;
        }
        let slots = if self.backoff.failures() > 0 {
            1
        } else {
            self.max_uploads
        };
        while self.uploads.len() < slots {
            let pending = if let Some(mut pending) = self.retrying.pop_front() {
                self.queue.keep_whole(&mut pending.spans);
                if pending.spans.is_empty() {
                    continue;
                }
                pending
            } else if scheduled || self.queue.waiting() >= self.queue.batch_size {
                let spans = self.queue.take_batch();
                if spans.is_empty() {
                    break;
                }
                Pending { spans, attempts: 0 }
            } else {
                break;
            };
            self.uploads.spawn(self.upload.clone().attempt(pending));
        }
    }

    /// What follows from how an upload went. At the `stop`, a transient
    /// failure is final too.
    fn settle(&mut self, pending: Pending, outcome: Outcome, stop: bool) {
        let spans = pending.spans.len();
        match outcome {
            Outcome::Delivered { rejected } => {
                self.queue.release(spans);
                let refused = rejected.map_or(0, |rejected| {
                    let refused = (rejected.spans as usize).min(spans);
                    self.account.refused(&rejected.reason, refused);
                    refused
                });
                self.account
                    .delivered(spans - refused, pending.attempts > 1);
                self.account
                    .sent_in_part(self.queue.sent_in_part(&pending.spans));
                self.backoff.reset();
            }
            Outcome::Transient { error, .. } if stop => {
                self.queue.release(spans);
                self.account.lost_at_stop(&error, spans);
            }
            Outcome::Transient { error, retry_after } => {
                let pause = self.backoff.failed(retry_after);
                self.account.retrying(
                    &error,
                    spans,
                    pending.attempts == 1,
                    pause,
                    self.queue.held(),
                );
                self.retrying.push_back(pending);
            }
            Outcome::Permanent { error } => {
                self.queue.release(spans);
                self.account.refused(&error, spans);
            }
        }
    }

    /// Every batch to retry and every span waiting is sent now, all at once,
    /// whatever the pause says; then waits for every upload in flight. Each
    /// upload is bounded by the upload timeout, so this takes one at most:
    /// a stop never hangs on an absent Zipkin. At the `stop`, what still
    /// fails is lost; at a flush, it is kept to be tried again.
    async fn try_everything_once(&mut self, stop: bool) {
        for mut pending in std::mem::take(&mut self.retrying) {
            self.queue.keep_whole(&mut pending.spans);
            if !pending.spans.is_empty() {
                self.uploads.spawn(self.upload.clone().attempt(pending));
            }
        }
        loop {
            let spans = self.queue.take_batch();
            if spans.is_empty() {
                break;
            }
            let pending = Pending { spans, attempts: 0 };
            self.uploads.spawn(self.upload.clone().attempt(pending));
        }
        while let Some(joined) = self.uploads.join_next().await {
            match joined {
                Ok((pending, outcome)) => self.settle(pending, outcome, stop),
                Err(error) => tracing::error!(%error, "a span upload task failed"),
            }
        }
    }

    /// The periodic look at what is held: spans of traces dropped since are
    /// removed, and traces dropped long ago are forgotten, once nothing of them is
    /// held.
    fn sweep(&mut self) {
        for pending in &mut self.retrying {
            self.queue.keep_whole(&mut pending.spans);
        }
        self.retrying.retain(|pending| !pending.spans.is_empty());
        self.queue.sweep();
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{Otlp, ZipkinJson};
    use axum::{
        Router,
        body::Bytes,
        http::{HeaderMap, StatusCode, header::RETRY_AFTER},
        routing::post,
    };
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use prost::Message as _;

    fn config(max_queue_size: usize, max_concurrent_uploads: usize) -> BatchConfig {
        BatchConfig {
            max_queue_size,
            max_concurrent_uploads,
            max_export_batch_size: 1,
            upload_timeout: Duration::from_millis(200),
            schedule_delay: Duration::from_millis(50),
        }
    }

    /// A Zipkin stand-in that answers each upload with `answer(n)`, `n`
    /// counting the uploads from 0, and keeps the bodies of those it takes.
    struct Zipkin {
        endpoint: reqwest::Url,
        uploads: Arc<AtomicUsize>,
        received: mpsc::UnboundedReceiver<Bytes>,
    }

    type Answer = fn(usize) -> (StatusCode, HeaderMap);

    async fn zipkin(answer: Answer) -> Zipkin {
        let (kept, received) = mpsc::unbounded_channel::<Bytes>();
        let uploads = Arc::new(AtomicUsize::new(0));
        let counted = uploads.clone();
        let app = Router::new().route(
            "/api/v2/spans",
            post(move |body: Bytes| {
                let (kept, counted) = (kept.clone(), counted.clone());
                async move {
                    let (status, headers) = answer(counted.fetch_add(1, Ordering::SeqCst));
                    if status.is_success() {
                        let _ = kept.send(body);
                    }
                    (status, headers, "Zipkin's own words")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Zipkin {
            endpoint: endpoint.parse().unwrap(),
            uploads,
            received,
        }
    }

    fn provider(processor: ExportProcessor) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_service_name("api_test")
                    .build(),
            )
            .with_span_processor(processor)
            .build()
    }

    /// Stops `provider` from inside the runtime, as `Telemetry::shutdown`
    /// does (on a blocking thread).
    async fn stop(provider: SdkTracerProvider) {
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .unwrap()
            .unwrap();
    }

    /// The spans go out from the batch thread's own runtime, and a shutdown
    /// started from inside the service's runtime uploads what is queued,
    /// with nothing panicking on the way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_are_uploaded_and_flushed_at_shutdown() {
        let mut zipkin = zipkin(|_| (StatusCode::ACCEPTED, HeaderMap::new())).await;
        let processor = ExportProcessor::start(
            zipkin.endpoint.clone().into(),
            ZipkinJson,
            BatchConfig::default(),
        )
        .unwrap();
        let provider = provider(processor);
        provider.tracer("test").start("GET /").end();
        stop(provider).await;

        let body = zipkin
            .received
            .try_recv()
            .expect("the span was uploaded before shutdown returned");
        let spans: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(spans[0]["name"], "GET /");
        assert_eq!(spans[0]["localEndpoint"]["serviceName"], "api_test");
    }

    /// With every upload slot taken by a Zipkin that never answers, the
    /// queue fills (the span in the hanging upload counts) and further
    /// spans are dropped, and counted, exactly.
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
            ExportProcessor::start(endpoint.parse().unwrap(), ZipkinJson, config(2, 1)).unwrap();
        let queue = processor.queue.clone();
        let gauge = processor.queue_gauge();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        for _ in 0..20 {
            tracer.start("GET /").end();
        }
        assert_eq!(queue.ended(), 20);
        assert_eq!(gauge.spans(), 2, "one in the upload, one waiting");
        assert_eq!(gauge.capacity(), 2);
        assert_eq!(queue.dropped(), 18);
        stop(provider).await;
        assert_eq!(gauge.spans(), 0, "the stop settles every span");
    }

    /// Zipkin answers 503 (with `Retry-After: 0`) to the first uploads:
    /// the spans wait and are sent once it takes them, each exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transient_failure_is_retried_until_zipkin_takes_the_spans() {
        let mut zipkin = zipkin(|n| {
            let mut headers = HeaderMap::new();
            if n < 3 {
                headers.insert(RETRY_AFTER, "0".parse().unwrap());
                (StatusCode::SERVICE_UNAVAILABLE, headers)
            } else {
                (StatusCode::ACCEPTED, headers)
            }
        })
        .await;
        let processor =
            ExportProcessor::start(zipkin.endpoint.clone().into(), ZipkinJson, config(16, 1))
                .unwrap();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        for _ in 0..3 {
            tracer.start("GET /").end();
        }
        let mut delivered = 0;
        while delivered < 3 {
            let body = zipkin.received.recv().await.unwrap();
            let spans: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            delivered += spans.len();
        }
        stop(provider).await;
        assert_eq!(delivered, 3);
        assert!(zipkin.received.try_recv().is_err(), "nothing sent twice");
        assert!(zipkin.uploads.load(Ordering::SeqCst) >= 6);
    }

    /// A `400` is not tried again: one upload for the one batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_permanent_refusal_is_not_retried() {
        let zipkin = zipkin(|_| (StatusCode::BAD_REQUEST, HeaderMap::new())).await;
        let processor =
            ExportProcessor::start(zipkin.endpoint.clone().into(), ZipkinJson, config(16, 1))
                .unwrap();
        let queue = processor.queue.clone();
        let provider = provider(processor);
        provider.tracer("test").start("GET /").end();
        // Several schedule delays: time enough for a retry that must not come.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(zipkin.uploads.load(Ordering::SeqCst), 1);
        assert_eq!(queue.held(), 0);
        stop(provider).await;
        assert_eq!(zipkin.uploads.load(Ordering::SeqCst), 1);
    }

    /// The stop gives held spans one last try, bounded by the upload
    /// timeout, though the pause after failures would be longer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stop_tries_once_more_and_does_not_wait_out_a_pause() {
        let zipkin = zipkin(|n| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, "60".parse().unwrap());
            if n == 0 {
                (StatusCode::SERVICE_UNAVAILABLE, headers)
            } else {
                (StatusCode::ACCEPTED, headers)
            }
        })
        .await;
        let processor =
            ExportProcessor::start(zipkin.endpoint.clone().into(), ZipkinJson, config(16, 1))
                .unwrap();
        let queue = processor.queue.clone();
        let provider = provider(processor);
        provider.tracer("test").start("GET /").end();
        while zipkin.uploads.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = std::time::Instant::now();
        stop(provider).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(zipkin.uploads.load(Ordering::SeqCst), 2);
        assert_eq!(queue.held(), 0);
    }

    /// A connection that closes before any answer is a transient failure.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_closed_before_an_answer_is_transient() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let upload = Upload {
            http: reqwest::Client::new(),
            endpoint: endpoint.parse().unwrap(),
            encoding: Box::new(ZipkinJson),
            resource: OnceLock::new(),
        };
        let outcome = upload.post(&[crate::testing::span_of_trace(1)]).await;
        assert!(
            matches!(
                outcome,
                Outcome::Transient {
                    retry_after: None,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    /// An OTLP stand-in on `/v1/traces` that answers each upload with
    /// `answer(n)`, `n` counting the uploads from 0, and keeps every upload:
    /// when it came, its headers, its body as sent.
    struct OtlpReceiver {
        endpoint: reqwest::Url,
        uploads: Arc<AtomicUsize>,
        received: mpsc::UnboundedReceiver<(std::time::Instant, HeaderMap, Bytes)>,
    }

    type OtlpAnswer = fn(usize) -> (StatusCode, HeaderMap, Vec<u8>);

    async fn otlp_receiver(answer: OtlpAnswer) -> OtlpReceiver {
        let (kept, received) = mpsc::unbounded_channel();
        let uploads = Arc::new(AtomicUsize::new(0));
        let counted = uploads.clone();
        let app = Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: Bytes| {
                let (kept, counted) = (kept.clone(), counted.clone());
                async move {
                    let _ = kept.send((std::time::Instant::now(), headers, body));
                    answer(counted.fetch_add(1, Ordering::SeqCst))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        OtlpReceiver {
            endpoint: endpoint.parse().unwrap(),
            uploads,
            received,
        }
    }

    impl OtlpReceiver {
        /// Every upload received so far.
        fn all(&mut self) -> Vec<(std::time::Instant, HeaderMap, Bytes)> {
            std::iter::from_fn(|| self.received.try_recv().ok()).collect()
        }
    }

    /// Batches of `batch` spans, sent when full (the schedule never comes
    /// in a test's time) or at the stop; uploads bounded generously.
    fn otlp_config(batch: usize) -> BatchConfig {
        BatchConfig {
            max_queue_size: 16,
            max_concurrent_uploads: 1,
            max_export_batch_size: batch,
            upload_timeout: Duration::from_secs(5),
            schedule_delay: Duration::from_secs(600),
        }
    }

    /// Waits, at most 10 s, until `done` holds.
    async fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "waited 10 s for {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What the processor logs, from every thread (its batch thread is its
    /// own, so a thread's default subscriber would not see it), each line
    /// with the id of the thread that logged it.
    fn logs() -> &'static Mutex<Vec<u8>> {
        static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
        LOGS.get_or_init(|| {
            #[derive(Clone, Copy)]
            struct Writer(&'static Mutex<Vec<u8>>);
            impl std::io::Write for Writer {
                fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                    self.0.lock().unwrap().extend_from_slice(bytes);
                    Ok(bytes.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let logs: &'static Mutex<Vec<u8>> = Box::leak(Box::default());
            tracing::subscriber::set_global_default(
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_thread_ids(true)
                    .with_writer(move || Writer(logs))
                    .finish(),
            )
            .expect("no other subscriber in these tests");
            logs
        })
    }

    /// The id of `processor`'s batch thread, to find its lines in [`logs`].
    fn batch_thread(processor: &ExportProcessor) -> thread::ThreadId {
        let worker = processor.worker.lock().unwrap();
        worker.as_ref().expect("running").thread().id()
    }

    /// The line `message` of the batch thread `thread` (formatted as the
    /// fmt subscriber writes thread ids).
    fn logged(thread: thread::ThreadId, message: &str) -> String {
        let thread = format!("{thread:0>2?} ");
        let logs = String::from_utf8(logs().lock().unwrap().clone()).unwrap();
        let mut lines = logs
            .lines()
            .filter(|line| line.contains(&thread) && line.contains(message));
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("no line {message:?} of {thread} in:\n{logs}"));
        assert!(lines.next().is_none(), "{message:?} logged twice");
        line.to_owned()
    }

    /// Whether `line` says `field=value`.
    fn says(line: &str, field: &str, value: &str) -> bool {
        line.split_whitespace()
            .any(|word| word == format!("{field}={value}"))
    }

    fn decoded(body: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest")
    }

    /// The names of the spans in `request`, and its service names.
    fn names_of(request: &ExportTraceServiceRequest) -> (Vec<String>, Vec<String>) {
        let mut names = Vec::new();
        let mut services = Vec::new();
        for resource_spans in &request.resource_spans {
            for kv in &resource_spans.resource.as_ref().unwrap().attributes {
                if kv.key == "service.name" {
                    services.push(format!("{:?}", kv.value.as_ref().unwrap().value));
                }
            }
            for scope_spans in &resource_spans.scope_spans {
                names.extend(scope_spans.spans.iter().map(|span| span.name.clone()));
            }
        }
        (names, services)
    }

    /// The endpoint's headers reach the receiver with every upload, and
    /// with `gzip` the body is compressed, and says so: decompressed, it
    /// is OTLP's protobuf request with the spans.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn otlp_uploads_carry_the_endpoints_headers_and_gzip() {
        use std::io::Read as _;

        let mut receiver = otlp_receiver(|_| (StatusCode::OK, HeaderMap::new(), Vec::new())).await;
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "secret-1".parse().unwrap());
        headers.insert("x-tenant", "demo".parse().unwrap());
        let endpoint = Endpoint {
            url: receiver.endpoint.clone(),
            headers,
            gzip: true,
        };
        let processor = ExportProcessor::start(endpoint, Otlp::Protobuf, otlp_config(1)).unwrap();
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        for name in ["GET /a", "GET /b", "GET /c"] {
            tracer.start(name).end();
        }
        stop(provider).await;

        let uploads = receiver.all();
        assert_eq!(uploads.len(), 3, "one upload a span");
        let mut names = Vec::new();
        for (_, headers, body) in &uploads {
            assert_eq!(headers["x-api-key"], "secret-1");
            assert_eq!(headers["x-tenant"], "demo");
            assert_eq!(headers[CONTENT_TYPE], "application/x-protobuf");
            assert_eq!(headers[CONTENT_ENCODING], "gzip");
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .expect("a gzip body");
            let (spans, services) = names_of(&decoded(&plain));
            assert_eq!(services, [r#"Some(StringValue("api_test"))"#]);
            names.extend(spans);
        }
        names.sort();
        assert_eq!(names, ["GET /a", "GET /b", "GET /c"]);
    }

    /// A receiver that keeps one span of a batch of two: the account
    /// counts one exported, one lost, with the receiver's message.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_otlp_partial_success_counts_the_refused_spans_as_lost() {
        logs();
        let mut receiver = otlp_receiver(|_| {
            let answer = ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: 1,
                    error_message: "span name too long".into(),
                }),
            };
            (StatusCode::OK, HeaderMap::new(), answer.encode_to_vec())
        })
        .await;
        let processor = ExportProcessor::start(
            receiver.endpoint.clone().into(),
            Otlp::Protobuf,
            otlp_config(2),
        )
        .unwrap();
        let thread = batch_thread(&processor);
        let provider = provider(processor);
        let tracer = provider.tracer("test");
        tracer.start("GET /a").end();
        tracer.start("GET /b").end();
        stop(provider).await;

        let uploads = receiver.all();
        assert_eq!(uploads.len(), 1, "one batch of two");
        assert_eq!(names_of(&decoded(&uploads[0].2)).0.len(), 2);
        let account = logged(thread, "span export stopped");
        for (field, value) in [
            ("spans_ended", "2"),
            ("spans_exported", "1"),
            ("spans_lost_total", "1"),
            ("spans_dropped_total", "0"),
            ("spans_retried", "0"),
        ] {
            assert!(says(&account, field, value), "{field}={value}: {account}");
        }
        let refused = logged(thread, "refused spans");
        assert!(refused.contains("span name too long"), "{refused}");
    }

    /// Over OTLP a `408` is final: the span is lost after one upload, not
    /// held to be tried again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_otlp_408_is_not_retried() {
        logs();
        let receiver =
            otlp_receiver(|_| (StatusCode::REQUEST_TIMEOUT, HeaderMap::new(), Vec::new())).await;
        let processor = ExportProcessor::start(
            receiver.endpoint.clone().into(),
            Otlp::Protobuf,
            otlp_config(1),
        )
        .unwrap();
        let queue = processor.queue.clone();
        let thread = batch_thread(&processor);
        let provider = provider(processor);
        provider.tracer("test").start("GET /").end();
        // Settled: a span held for a retry would stay counted.
        wait_until("the upload to be settled", || {
            receiver.uploads.load(Ordering::SeqCst) == 1 && queue.held() == 0
        })
        .await;
        stop(provider).await;

        assert_eq!(
            receiver.uploads.load(Ordering::SeqCst),
            1,
            "not tried again"
        );
        let account = logged(thread, "span export stopped");
        for (field, value) in [
            ("spans_exported", "0"),
            ("spans_lost_total", "1"),
            ("spans_retried", "0"),
        ] {
            assert!(says(&account, field, value), "{field}={value}: {account}");
        }
        let refused = logged(thread, "refused spans");
        assert!(refused.contains("408 Request Timeout"), "{refused}");
    }

    /// Over OTLP a `503` is tried again, no sooner than its `Retry-After`,
    /// and the span is then delivered exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_otlp_503_is_retried_after_its_retry_after_and_delivered_once() {
        logs();
        let mut receiver = otlp_receiver(|n| {
            let mut headers = HeaderMap::new();
            if n == 0 {
                headers.insert(RETRY_AFTER, "1".parse().unwrap());
                (StatusCode::SERVICE_UNAVAILABLE, headers, Vec::new())
            } else {
                (StatusCode::OK, headers, Vec::new())
            }
        })
        .await;
        let processor = ExportProcessor::start(
            receiver.endpoint.clone().into(),
            Otlp::Protobuf,
            otlp_config(1),
        )
        .unwrap();
        let queue = processor.queue.clone();
        let thread = batch_thread(&processor);
        let provider = provider(processor);
        provider.tracer("test").start("GET /").end();
        wait_until("the retry to be delivered", || {
            receiver.uploads.load(Ordering::SeqCst) >= 2 && queue.held() == 0
        })
        .await;
        stop(provider).await;

        let uploads = receiver.all();
        assert_eq!(uploads.len(), 2, "one refusal, one delivery");
        assert_eq!(uploads[0].2, uploads[1].2, "the same batch again");
        assert_eq!(names_of(&decoded(&uploads[1].2)).0, ["GET /"]);
        let waited = uploads[1].0 - uploads[0].0;
        assert!(
            waited >= Duration::from_secs(1),
            "Retry-After honoured: {waited:?}"
        );
        let account = logged(thread, "span export stopped");
        for (field, value) in [
            ("spans_exported", "1"),
            ("spans_retried", "1"),
            ("spans_exported_after_retry", "1"),
            ("spans_lost_total", "0"),
        ] {
            assert!(says(&account, field, value), "{field}={value}: {account}");
        }
    }
}
