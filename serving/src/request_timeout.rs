//! A limit on a whole request: past it, the request's work is dropped and
//! the client gets a `503` with a JSON error.
//!
//! The connection limits stop clients that are slow to *send*; this one
//! stops a request that is slow to *serve* (a handler stuck on a callee
//! with no timeout of its own, say), so that no request holds its
//! connection and its memory for ever. Put it inside any tracing layer:
//! then the request's span records the `503` and is marked as failed.
//! (tower's own `Timeout` answers with an error the router cannot turn
//! into a response without `HandleErrorLayer`; this is that pair in one.)

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json,
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tower::{Layer, Service};

/// Wraps a service in a [`RequestTimeout`].
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeoutLayer {
    limit: Duration,
}

impl RequestTimeoutLayer {
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            limit: self.limit,
        }
    }
}

/// Serves a request with `inner`, or answers `503` once `limit` has passed.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Request> for RequestTimeout<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TimedAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        TimedAnswer {
            serving: tokio::time::timeout(self.limit, self.inner.call(request)),
            limit: self.limit,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, or a `503` once the limit has passed.
    pub struct TimedAnswer<F> {
        #[pin]
        serving: tokio::time::Timeout<F>,
        limit: Duration,
    }
}

impl<F> Future for TimedAnswer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match std::task::ready!(this.serving.poll(cx)) {
            Ok(answer) => Poll::Ready(answer),
            Err(_elapsed) => Poll::Ready(Ok(too_long(*this.limit))),
        }
    }
}

fn too_long(limit: Duration) -> Response {
    let limit_ms = limit.as_millis() as u64;
    tracing::warn!(limit_ms, "request cancelled: it took longer than its limit");
    let error = format!("the request took longer than {limit_ms} ms, the limit, and was cancelled");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "error": error })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_limit_gets_a_json_503() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
            .route("/quick", get(|| async { "quick" }))
            .layer(RequestTimeoutLayer::new(Duration::from_secs(1)));
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

        let quick = app.clone().oneshot(get("/quick")).await.unwrap();
        assert_eq!(quick.status(), StatusCode::OK);

        let slow = app.oneshot(get("/slow")).await.unwrap();
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(slow.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("1000 ms"),
            "{body}"
        );
    }
}
