//! A recording proxy on one hop between two services, so a test sees the
//! headers every call really carried.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio::{net::TcpListener, task::JoinHandle};

/// One hop, `caller → callee`: the caller is pointed at [`Hop::url`], and
/// every request is recorded, then passed on to the callee unchanged.
pub struct Hop {
    pub caller: String,
    pub callee: String,
    /// Where the caller sends its calls.
    pub url: String,
    received: Arc<Mutex<Vec<HeaderMap>>>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Forward {
    callee_url: String,
    http: reqwest::Client,
    received: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Hop {
    pub async fn start(caller: &str, callee: &str, callee_url: &str) -> Hop {
        let received = Arc::new(Mutex::new(Vec::new()));
        let forward = Forward {
            callee_url: callee_url.trim_end_matches('/').to_owned(),
            http: crate::http(),
            received: received.clone(),
        };
        let app = Router::new().fallback(pass_on).with_state(forward);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hop {
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            url,
            received,
            task,
        }
    }

    /// The headers of every call so far, in order.
    pub fn calls(&self) -> Vec<HeaderMap> {
        self.received.lock().unwrap().clone()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }
}

impl Drop for Hop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pass_on(State(forward): State<Forward>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    forward.received.lock().unwrap().push(parts.headers.clone());
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    headers.remove(header::HOST);
    let answer = forward
        .http
        .request(parts.method, format!("{}{path}", forward.callee_url))
        .headers(headers)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status();
            let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
            let body: Bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, body).into_response();
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
        Err(error) => (StatusCode::BAD_GATEWAY, format!("hop proxy: {error}")).into_response(),
    }
}
