//! The wire between the services and Zipkin: a small HTTP proxy that
//! passes every span upload on to Zipkin and records it with Zipkin's
//! answer, and that makes, on a test's word, the faults a real Zipkin does
//! not make on demand.
//!
//! Why a proxy: Zipkin answers `202` before it stores a batch, and a Zipkin
//! that is killed forgets what it stored; what crossed the wire, and what
//! Zipkin answered, is the exact record a span account is checked against,
//! whichever Zipkin runs behind it (see [`crate::Zipkin`]).
//!
//! When Zipkin cannot be reached (killed), the wire drops the services'
//! connection without an answer, as a dead server's does: the services try
//! again, as they would after connection refused.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

/// How the wire treats the uploads that cross it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Passes each upload on and Zipkin's answer back.
    #[default]
    None,
    /// Passes each upload on, and Zipkin's answer back this much later (a
    /// Zipkin under load; past the sender's timeout, a sender that tries
    /// again sends the batch twice).
    Slow(Duration),
    /// Answers `503 Service Unavailable` with `Retry-After` in seconds
    /// itself, passing nothing on (a Zipkin whose storage is not ready, or
    /// a gateway in front of it).
    Unavailable { retry_after_s: u64 },
    /// Passes each upload on to Zipkin's v1 endpoint, which refuses v2
    /// spans in Zipkin's own words (an endpoint set wrong).
    Misrouted,
}

/// One upload that crossed the wire.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The spans it carried.
    pub spans: Vec<Value>,
    /// What the services were answered; `None` when Zipkin could not be
    /// reached and the connection was dropped.
    pub status: Option<u16>,
    /// Zipkin's words, when it answered with an error.
    pub text: String,
    /// When Zipkin answered (before a slow answer's wait).
    pub answered: Instant,
}

impl Upload {
    /// Whether Zipkin took it.
    pub fn accepted(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

struct State {
    zipkin_url: String,
    http: reqwest::Client,
    fault: Mutex<Fault>,
    uploads: Mutex<Vec<Upload>>,
}

/// The wire, listening on a loopback port of its own until dropped.
pub struct Wire {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Wire {
    /// A wire in front of the Zipkin at `zipkin_url` (`http://host:port`).
    pub async fn start(zipkin_url: &str) -> Wire {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            zipkin_url: zipkin_url.trim_end_matches('/').to_owned(),
            // Far above every fault's delay: the services' own timeout is
            // what a slow Zipkin meets.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            fault: Mutex::default(),
            uploads: Mutex::default(),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Wire { url, state, task }
    }

    /// The URL to give services as `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("{}/api/v2/spans", self.url)
    }

    /// Treats every upload as `fault` says, from now on.
    pub fn set_fault(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// Every upload so far, in the order they were answered.
    pub fn uploads(&self) -> Vec<Upload> {
        self.state.uploads.lock().unwrap().clone()
    }

    /// The spans of every upload Zipkin took, in order (a span sent twice
    /// is here twice).
    pub fn accepted_spans(&self) -> Vec<Value> {
        let uploads = self.state.uploads.lock().unwrap();
        let accepted = uploads.iter().filter(|upload| upload.accepted());
        accepted.flat_map(|upload| upload.spans.clone()).collect()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| pass_on(state.clone(), request));
            // An upload Zipkin did not answer ends the connection unanswered.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Zipkin could not be reached: the connection is dropped unanswered.
#[derive(Debug)]
struct Unreachable;

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Zipkin could not be reached")
    }
}

impl std::error::Error for Unreachable {}

async fn pass_on(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Unreachable> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Unreachable)?.to_bytes();
    let spans = serde_json::from_slice::<Vec<Value>>(&body).unwrap_or_default();
    let fault = state.fault.lock().unwrap().clone();
    let record = |status: Option<u16>, text: &str| {
        state.uploads.lock().unwrap().push(Upload {
            spans: spans.clone(),
            status,
            text: text.to_owned(),
            answered: Instant::now(),
        });
    };
    if let Fault::Unavailable { retry_after_s } = fault {
        let text = "storage is not ready";
        record(Some(503), text);
        let mut answer = answer(StatusCode::SERVICE_UNAVAILABLE, None, text.into());
        let retry_after = HeaderValue::from(retry_after_s);
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after);
        return Ok(answer);
    }
    let path = match fault {
        Fault::Misrouted => "/api/v1/spans",
        _ => parts.uri.path(),
    };
    let mut forward = state
        .http
        .post(format!("{}{path}", state.zipkin_url))
        .body(body);
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        forward = forward.header(header::CONTENT_TYPE, content_type);
    }
    let Ok(answered) = forward.send().await else {
        record(None, "");
        return Err(Unreachable);
    };
    let status = answered.status();
    let content_type = answered.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(text) = answered.bytes().await else {
        record(None, "");
        return Err(Unreachable);
    };
    record(Some(status.as_u16()), &String::from_utf8_lossy(&text));
    if let Fault::Slow(delay) = fault {
        tokio::time::sleep(delay).await;
    }
    Ok(answer(status, content_type, text))
}

fn answer(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut answer = Response::new(Full::new(body));
    *answer.status_mut() = status;
    if let Some(content_type) = content_type {
        answer
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    answer
}
