//! The accept loop, and the task that runs each connection under its limits.
//!
//! Why not `axum::serve` plus hyper's own `header_read_timeout`: that timer
//! also runs while a kept-alive connection waits for its next request, so
//! one limit would cover both waits, and choosing whom to close at the cap
//! needs to know what every connection is doing anyway. So hyper serves
//! each connection's HTTP/1, and `connections.rs` keeps its phase: the
//! socket reports the first byte of a request, the service the start and
//! the end of each answer, and the connection's task closes it when the
//! limit of its phase runs out.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes, HttpBody},
    extract::Request,
    response::Response,
};
use hyper::{
    body::{Frame, Incoming, SizeHint},
    server::conn::http1,
};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::watch,
    time::Instant,
};
use tower::{ServiceExt, util::Oneshot};

use crate::{
    ConnectionLimits, LimitsError,
    connections::{Claim, Phase, Table},
    report::{Closed, REPORT_PERIOD, Report},
};

/// The most a request's headers may take: larger heads are answered
/// `431`. Enough for any real client (a 16 KiB trace header included),
/// and it bounds the memory of a connection that is still sending them.
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// After a failed accept (out of file descriptors, say), wait this long:
/// the error would come back at once, and the loop would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// How long a new connection waits for the one closed to make room.
const MAKE_ROOM_WAIT: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` under `limits` until `shutdown` completes;
/// then stops accepting, closes the connections that wait for their
/// client, lets every request in flight finish, and returns.
///
/// HTTP/1.1 only: the demo's clients and browsers speak it on plain HTTP.
/// Fails at once only when the connection cap cannot be set (see
/// [`ConnectionLimits::max_connections`]); a failed accept is retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), LimitsError> {
    let table = Table::new(limits.connection_cap()?);
    let report = Arc::new(Report::default());
    let (stop, stopping) = watch::channel(());
    let mut http = http1::Builder::new();
    http.max_buf_size(MAX_HEADER_BYTES);
    let http = Arc::new(http);

    let mut shutdown = pin!(shutdown);
    let mut tick = tokio::time::interval_at(Instant::now() + REPORT_PERIOD, REPORT_PERIOD);
    loop {
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = tick.tick() => {
                report.tick();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // The client gave up before we took it: nothing to do.
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    report.accept_failed(&error);
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
        };
        report.accepted();
        let Some(claim) = claim_slot(&table, &report).await else {
            // Dropped at once: the client sees the connection closed, and
            // its descriptor is ours again.
            continue;
        };
        tokio::spawn(run_connection(
            stream,
            claim,
            app.clone(),
            limits,
            http.clone(),
            report.clone(),
            stopping.clone(),
        ));
    }

    drop(listener);
    tracing::info!("stopped accepting; waiting for the requests in flight");
    let _ = stop.send(());
    // Every connection gives its slot back as it closes.
    while table.in_use() > 0 {
        table.freed().await;
    }
    report.account();
    Ok(())
}

/// A slot for a new connection: a free one, or one freed by closing the
/// connection that has waited longest for its client. `None` when every
/// connection is serving a request: the new one is refused.
async fn claim_slot(table: &Arc<Table>, report: &Report) -> Option<Claim> {
    if let Some(claim) = table.claim() {
        return Some(claim);
    }
    if !table.make_room() {
        report.closed(Closed::Refused);
        return None;
    }
    report.closed(Closed::MadeRoom);
    // The connection chosen closes as soon as its task runs, and gives its
    // slot back; the bound only guards against a task that cannot run.
    let deadline = Instant::now() + MAKE_ROOM_WAIT;
    loop {
        let freed = table.freed();
        if let Some(claim) = table.claim() {
            return Some(claim);
        }
        if tokio::time::timeout_at(deadline, freed).await.is_err() {
            report.closed(Closed::Refused);
            return None;
        }
    }
}

/// Serves one connection until it ends, its phase's limit runs out, it is
/// chosen to make room, or the server stops.
///
/// Its phase changes inside `connection`'s own polls (bytes read, a request
/// handed to the app, its answer's body dropped), all on this task; so each
/// poll of the connection is followed by a look at the phase, and the one
/// timer is re-armed only when the deadline moves. Only two things come
/// from outside: a choice to close it (`woken`), and the stop.
async fn run_connection(
    stream: TcpStream,
    claim: Claim,
    app: Router,
    limits: ConnectionLimits,
    http: Arc<http1::Builder>,
    report: Arc<Report>,
    mut stopping: watch::Receiver<()>,
) {
    let claim = Arc::new(claim);
    let io = TokioIo::new(Watched {
        stream,
        claim: claim.clone(),
    });
    let service = Served {
        app,
        claim: claim.clone(),
    };
    let mut connection = pin!(http.serve_connection(io, service));
    let mut woken = pin!(claim.woken());
    let mut stop = pin!(stopping.changed());
    let mut stop_asked = false;
    let mut timer = pin!(tokio::time::sleep(Duration::ZERO));
    let mut armed = None;
    let ended = std::future::poll_fn(|cx| {
        if let Poll::Ready(served) = connection.as_mut().poll(cx) {
            return Poll::Ready(served.err().map(|error| error.to_string()));
        }
        if !stop_asked && stop.as_mut().poll(cx).is_ready() {
            stop_asked = true;
            // A busy connection closes after its answer; hyper is told, and
            // polled again to act on it.
            connection.as_mut().graceful_shutdown();
            if let Poll::Ready(served) = connection.as_mut().poll(cx) {
                return Poll::Ready(served.err().map(|error| error.to_string()));
            }
        }
        if woken.as_mut().poll(cx).is_ready() {
            woken.set(claim.woken());
            let _ = woken.as_mut().poll(cx);
        }
        let phase = claim.phase();
        // Closing: counted by whoever chose it. At the stop, a connection
        // waiting for its client closes at once; a busy one finishes.
        if phase == Phase::Closing || (stop_asked && phase != Phase::Busy) {
            return Poll::Ready(None);
        }
        if let Some(due) = claim.deadline(&limits) {
            if Some(due) != armed {
                timer.as_mut().reset(due.into());
                armed = Some(due);
            }
            if timer.as_mut().poll(cx).is_ready() {
                report.closed(match phase {
                    Phase::Head => Closed::SlowHeaders,
                    _ => Closed::Idle,
                });
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    })
    .await;
    if let Some(error) = ended {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// The app, as hyper calls it for each request of one connection: marks
/// the request's start, and its end once the answer has been handed over.
struct Served {
    app: Router,
    claim: Arc<Claim>,
}

impl hyper::service::Service<Request<Incoming>> for Served {
    type Response = Response<UntilSent>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        self.claim.request_started();
        Answer {
            serving: self.app.clone().oneshot(request.map(Body::new)),
            answered: Some(Answered(self.claim.clone())),
        }
    }
}

pin_project_lite::pin_project! {
    /// The app's answer to one request, whose body carries the end of the
    /// request.
    struct Answer {
        #[pin]
        serving: Oneshot<Router, Request>,
        answered: Option<Answered>,
    }
}

impl Future for Answer {
    type Output = Result<Response<UntilSent>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.serving.poll(cx))?;
        let answered = this.answered.take().expect("not polled after its answer");
        Poll::Ready(Ok(response.map(|body| UntilSent {
            body,
            _answered: answered,
        })))
    }
}

/// Ends the request when dropped: with the answer's body once hyper has
/// taken all of it, or with the request's future if it never answers.
struct Answered(Arc<Claim>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// An answer's body, carrying the end of its request.
struct UntilSent {
    body: Body,
    _answered: Answered,
}

impl HttpBody for UntilSent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, which tells its slot when bytes arrive.
struct Watched {
    stream: TcpStream,
    claim: Arc<Claim>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.claim.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
