//! api_01's relay of the page's spans (`POST /browser/spans`), used as an
//! attacker would, against the real binary: each hostile post gets its 4xx
//! and its words, nothing it carried reaches Zipkin, and api_01 stays up.
//! A valid post does arrive, exactly as the relay writes it, and Zipkin
//! stores it: so "nothing arrived" means something. The table of cases and
//! statuses is printed (`--nocapture`), as docs/try-it-in-a-browser.md
//! shows it.
//!
//! The relay forwards before it answers, and its uploads cross the
//! [`Wire`], which records them as they go: when a post has its answer,
//! what it sent is on the wire's record already, no waiting on luck.

use std::{
    sync::OnceLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use e2e::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The relay's flood limit, as `browser_relay` sets it.
const BURST: usize = 30;
const PER_SECOND: f64 = 10.0;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// A span as the page sends it, with ids from `n`; all start when the
/// first did, so each is the same JSON whenever it is made.
fn page_span(n: u64) -> Value {
    static STARTED: OnceLock<u64> = OnceLock::new();
    let started = *STARTED.get_or_init(now_us);
    json!({
        "traceId": format!("{:032x}", 0xabc0_0000 + n),
        "id": format!("{:016x}", 0xdef0_0000 + n),
        "kind": "CLIENT",
        "name": "plain",
        "timestamp": started - 20_000,
        "duration": 15_000,
        "localEndpoint": { "serviceName": "browser" },
        "remoteEndpoint": { "serviceName": "api_01" },
        "tags": {
            "http.request.method": "GET",
            "url.path": "/",
            "http.response.status_code": "200"
        }
    })
}

fn with(mut span: Value, path: &[&str], value: Value) -> Value {
    let (last, outer) = path.split_last().unwrap();
    let mut at = &mut span;
    for key in outer {
        at = &mut at[*key];
    }
    at[*last] = value;
    span
}

fn without(mut span: Value, key: &str) -> Value {
    span.as_object_mut().unwrap().remove(key);
    span
}

/// The relay's answer: status, `Retry-After`, and its `error` text.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    error: String,
}

async fn post_once(url: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    let mut request = http().post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("the relay answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok()?.parse().ok());
    let text = response.text().await.unwrap();
    let error = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|answer| answer["error"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Answer {
        status,
        retry_after,
        error,
    }
}

/// [`post_once`], waiting out the flood limit (as `Retry-After` says,
/// within a deadline): the cases test their own rule, not the bucket.
async fn post(url: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = post_once(url, content_type, body.clone()).await;
        if answer.status != 429 || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_secs(answer.retry_after.unwrap_or(1))).await;
    }
}

/// A hostile post: what it is, its `Content-Type`, its body, the status it
/// must get and words its error must say.
type Case = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

fn list(span: Value) -> Vec<u8> {
    serde_json::to_vec(&json!([span])).unwrap()
}

/// Sends `head` then `body` on a connection of its own, and gives the
/// status line the relay answers with.
async fn raw_post(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /browser/spans HTTP/1.1\r\nHost: api_01\r\n\
         Content-Type: application/json\r\n{head}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The relay may answer and close before it reads it all.
    let _ = stream.write_all(body).await;
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer before the test's deadline")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relay_refuses_what_a_page_would_not_send_and_stays_up() {
    let mut stack = Stack::builder().through_wire().start().await;
    let relay = format!("{}/browser/spans", stack.api_01.url);
    let json = Some("application/json");
    let mut table: Vec<(String, u16)> = Vec::new();

    // A valid post arrives, exactly as the page sent it.
    let answer = post(&relay, json, list(page_span(1))).await;
    assert_eq!(answer.status, 202, "{}", answer.error);
    assert_eq!(stack.wire().accepted_spans(), [page_span_as_sent(1)]);
    let trace_id = page_span(1)["traceId"].as_str().unwrap().to_owned();
    let stored = stack.zipkin.wait_for_trace(&trace_id, 1).await;
    assert_eq!(stored.len(), 1, "Zipkin stores it: {stored:#?}");
    table.push(("a span as the page sends it".into(), 202));

    let huge_name = "a".repeat(5000);
    let cases: Vec<Case> = vec![
        (
            "a body over 4 KiB",
            json,
            list(with(page_span(2), &["name"], json!(huge_name))),
            413,
            "over 4096 bytes",
        ),
        (
            "no Content-Type",
            None,
            list(page_span(2)),
            415,
            "application/json",
        ),
        (
            "Content-Type: text/plain",
            Some("text/plain"),
            list(page_span(2)),
            415,
            "application/json",
        ),
        ("not JSON", json, b"<span/>".to_vec(), 400, "not JSON"),
        ("an empty body", json, Vec::new(), 400, "not JSON"),
        (
            "JSON, not a list",
            json,
            serde_json::to_vec(&page_span(2)).unwrap(),
            400,
            "not a list",
        ),
        ("an empty list", json, b"[]".to_vec(), 400, "not 0"),
        (
            "a list of two spans",
            json,
            serde_json::to_vec(&json!([page_span(2), page_span(3)])).unwrap(),
            400,
            "not 2",
        ),
        (
            "a list of numbers",
            json,
            b"[1]".to_vec(),
            400,
            "not a page's span",
        ),
        (
            "localEndpoint api_02",
            json,
            list(with(
                page_span(2),
                &["localEndpoint", "serviceName"],
                json!("api_02"),
            )),
            400,
            "localEndpoint.serviceName: must be browser",
        ),
        (
            "remoteEndpoint api_03",
            json,
            list(with(
                page_span(2),
                &["remoteEndpoint", "serviceName"],
                json!("api_03"),
            )),
            400,
            "remoteEndpoint.serviceName: must be api_01",
        ),
        (
            "an address in localEndpoint",
            json,
            list(with(
                page_span(2),
                &["localEndpoint", "ipv4"],
                json!("10.0.0.1"),
            )),
            400,
            "unknown field `ipv4`",
        ),
        (
            "kind SERVER",
            json,
            list(with(page_span(2), &["kind"], json!("SERVER"))),
            400,
            "kind: must be CLIENT",
        ),
        (
            "traceId not hex",
            json,
            list(with(
                page_span(2),
                &["traceId"],
                json!("zz0000000000000000000000abc00002"),
            )),
            400,
            "traceId: must be",
        ),
        (
            "traceId of 20 digits",
            json,
            list(with(
                page_span(2),
                &["traceId"],
                json!("000000000000abc00002"),
            )),
            400,
            "traceId: must be",
        ),
        (
            "id of zeros",
            json,
            list(with(page_span(2), &["id"], json!("0000000000000000"))),
            400,
            "id: must be",
        ),
        (
            "a parentId",
            json,
            list(with(page_span(2), &["parentId"], json!("00000000def00001"))),
            400,
            "unknown field `parentId`",
        ),
        (
            "an unknown field (annotations)",
            json,
            list(with(page_span(2), &["annotations"], json!([]))),
            400,
            "unknown field `annotations`",
        ),
        (
            "an unknown tag",
            json,
            list(with(page_span(2), &["tags", "user.id"], json!("42"))),
            400,
            "tags: only http.request.method",
        ),
        (
            "a tag value a page would not send",
            json,
            list(with(
                page_span(2),
                &["tags", "url.path"],
                json!("/<script>"),
            )),
            400,
            "url.path has a value",
        ),
        (
            "a name with markup",
            json,
            list(with(page_span(2), &["name"], json!("<img src=x>"))),
            400,
            "name: must be",
        ),
        (
            "a timestamp in milliseconds",
            json,
            list(with(page_span(2), &["timestamp"], json!(now_us() / 1000))),
            400,
            "timestamp: must be",
        ),
        (
            "a timestamp a day ahead",
            json,
            list(with(
                page_span(2),
                &["timestamp"],
                json!(now_us() + 86_400_000_000),
            )),
            400,
            "timestamp: must be",
        ),
        (
            "a duration of an hour",
            json,
            list(with(page_span(2), &["duration"], json!(3_600_000_000u64))),
            400,
            "duration: must be",
        ),
        (
            "no duration",
            json,
            list(without(page_span(2), "duration")),
            400,
            "missing field `duration`",
        ),
    ];
    for (case, content_type, body, status, says) in cases {
        let answer = post(&relay, content_type, body).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.error);
        assert!(
            answer.error.contains(says),
            "{case}: {:?} should say {says:?}",
            answer.error
        );
        table.push((case.into(), status));
    }

    // A body sent in chunks, with no length, is cut at the limit too.
    let chunk = [b"bb8\r\n".as_slice(), &[b' '; 3000], b"\r\n"].concat();
    let chunked = [chunk.as_slice(), &chunk, b"0\r\n\r\n"].concat();
    let head = "Transfer-Encoding: chunked\r\n";
    let status_line = raw_post(stack.api_01.addr(), head, &chunked).await;
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    table.push(("a chunked body over 4 KiB, no length".into(), 413));

    // A body that never ends (100 of its 500 bytes, then nothing) is given
    // up after 2 s.
    let head = "Content-Length: 500\r\n";
    let status_line = raw_post(stack.api_01.addr(), head, &[b' '; 100]).await;
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line}");
    table.push(("a body that stops coming".into(), 408));

    // Nothing of any of them went to Zipkin.
    assert_eq!(stack.wire().accepted_spans(), [page_span_as_sent(1)]);
    assert_eq!(stack.wire().uploads().len(), 1);

    // Zipkin refusing (the upload sent where Zipkin refuses v2 spans): the
    // page is told, and nothing is held.
    stack.wire().set_fault(Fault::Misrouted);
    let answer = post(&relay, json, list(page_span(4))).await;
    assert_eq!(
        (answer.status, answer.error.as_str()),
        (502, "Zipkin answered 400 Bad Request")
    );
    table.push(("a valid span, Zipkin answering 400".into(), 502));

    // More than 4 forwards at once: the rest are turned away at once.
    stack.wire().set_fault(Fault::Slow(Duration::from_secs(2)));
    let mut posts = tokio::task::JoinSet::new();
    for n in 10..16 {
        let relay = relay.clone();
        posts.spawn(async move { post(&relay, json, list(page_span(n))).await });
    }
    let answers: Vec<Answer> = posts.join_all().await;
    let mut statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    statuses.sort();
    assert_eq!(statuses, [202, 202, 202, 202, 503, 503]);
    assert!(
        answers
            .iter()
            .filter(|answer| answer.status == 503)
            .all(|answer| answer.error.contains("on their way to Zipkin"))
    );
    table.push(("a 5th forward while 4 wait on a slow Zipkin".into(), 503));
    stack.wire().set_fault(Fault::None);

    // A flood: the burst goes through, then 429 with Retry-After.
    tokio::time::sleep(Duration::from_secs(BURST as u64 / PER_SECOND as u64 + 1)).await;
    let before = stack.wire().accepted_spans().len();
    let flood_started = Instant::now();
    let (mut accepted, mut limited) = (0, 0);
    for n in 100..200 {
        let answer = post_once(&relay, json, list(page_span(n))).await;
        match answer.status {
            202 => accepted += 1,
            429 => {
                assert!(answer.retry_after.is_some_and(|s| s >= 1));
                assert!(answer.error.contains("reports at once"), "{}", answer.error);
                limited += 1;
            }
            other => panic!("{other}: {}", answer.error),
        }
    }
    let most = BURST + (flood_started.elapsed().as_secs_f64() * PER_SECOND).ceil() as usize;
    assert!(
        accepted >= BURST && accepted <= most && limited > 0,
        "{accepted} accepted (at most {most}), {limited} limited"
    );
    table.push(("100 posts at once (a flood)".into(), 429));
    assert_eq!(stack.wire().accepted_spans().len(), before + accepted);

    // Still up: the health check and a traced request.
    let (status, _) = fetch(&format!("{}/health", stack.api_01.url), &[]).await;
    assert_eq!(status, 200);
    let (status, answer) = fetch(&stack.api_01.url, &[]).await;
    assert_eq!(status, 200, "{answer}");

    // Every span that arrived is a valid page span, and it is the only
    // kind of span from "browser"; none claims another service.
    let spans = stack.stop().await;
    for span in spans_of(&spans, "browser", "CLIENT") {
        assert_valid_zipkin_v2(span);
        assert_eq!(span["remoteEndpoint"]["serviceName"], "api_01");
    }
    let claimed = spans
        .iter()
        .filter(|span| {
            span["traceId"]
                .as_str()
                .is_some_and(|id| id.contains("abc"))
        })
        .filter(|span| service(span) != "browser")
        .count();
    assert_eq!(claimed, 0, "{spans:#?}");

    println!("| The post | Status |\n|---|---|");
    for (case, status) in table {
        println!("| {case} | {status} |");
    }
}

/// The span the relay writes for `page_span(n)`: the same fields, so the
/// same JSON.
fn page_span_as_sent(n: u64) -> Value {
    page_span(n)
}
