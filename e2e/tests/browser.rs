//! api_01's page in a real, headless Chromium: each button makes its
//! request, its row shows the answer (status, failed services, the trace
//! link), and the collector got that trace, whole by Zipkin's rules and
//! rooted at the page's own CLIENT span, red where the scenario fails.
//! Also: the page's span when Zipkin is away (counted unsent, the click
//! still works) and when api_01 does not record the trace (not sent);
//! which clients get the page and which the JSON (`Accept`); and that
//! loading the page makes no trace. A failed test leaves a screenshot, the
//! console log and the DOM in `target/browser-artifacts/<test>/`.

use e2e::{
    browser::{DESKTOP, PHONE, Tab, in_browser},
    page::{click, newest_answered, newest_reported, report_counts, rows},
    *,
};
use fantoccini::key::Key;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The Zipkin UI the services are told about: the page's links must lead
/// there.
const ZIPKIN_UI: &str = "http://zipkin.invalid:9411/zipkin";

/// Fails if the page's script threw or logged an error. Failed requests
/// are logged by the browser itself (source `network`): they are the
/// scenarios' 5xx, and rows show them.
async fn assert_no_script_errors(tab: &Tab) {
    let log = tab.console_log().await.expect("the console log");
    let errors: Vec<_> = log
        .iter()
        .filter(|line| line.starts_with("SEVERE") && !line.starts_with("SEVERE network"))
        .collect();
    assert!(errors.is_empty(), "script errors: {errors:#?}");
}

async fn stack(env: &[(&str, &str)]) -> Stack {
    let mut builder = Stack::builder().env("ZIPKIN_UI_URL", ZIPKIN_UI);
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    builder.start().await
}

/// `GET /` with `accept` (none at all when `None`, which reqwest cannot
/// send): the status line, the headers and the body.
async fn get_root(service: &Service, accept: Option<&str>) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(service.addr())
        .await
        .unwrap();
    let accept = accept.map_or(String::new(), |value| format!("Accept: {value}\r\n"));
    let request = format!("GET / HTTP/1.1\r\nHost: api_01\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    (head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_gets_json_and_a_browser_the_page_which_makes_no_trace() {
    let mut stack = stack(&[]).await;
    let json_clients = [
        None,
        Some("*/*"), // curl's default
        Some("application/json"),
        Some("application/json, text/html"),
    ];
    for accept in json_clients {
        let (head, body) = get_root(&stack.api_01, accept).await;
        assert!(head.starts_with("http/1.1 200"), "{accept:?}: {head}");
        assert!(
            head.contains("content-type: application/json"),
            "{accept:?}: {head}"
        );
        assert!(head.contains("vary: accept"), "{accept:?}: {head}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["service"], "api_01", "{accept:?}");
    }
    let browsers = [
        "text/html",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ];
    for accept in browsers {
        let (head, body) = get_root(&stack.api_01, Some(accept)).await;
        assert!(head.starts_with("http/1.1 200"), "{accept}: {head}");
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(head.contains("vary: accept"), "{head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
        assert!(body.contains("<title>Distributed tracing demo: api_01</title>"));
    }
    // A request with fault knobs is a request for a trace, from a browser too.
    let (status, answer) = fetch(
        &format!("{}/?fail=api_03", stack.api_01.url),
        &[("accept", browsers[1])],
    )
    .await;
    assert_eq!(status, 502, "{answer}");

    // Four plain requests and one that failed in api_03 (7 spans); the two
    // pages made none.
    let spans = stack.stop().await;
    assert_eq!(spans.len(), 4 * SPANS_PER_REQUEST + 7, "{spans:#?}");
    let roots = spans_of(&spans, "api_01", "SERVER");
    assert_eq!(roots.len(), 5, "{roots:#?}");
    assert!(roots.iter().all(|root| tag(root, "url.path") == Some("/")));
}

/// After a click on `scenario`: waits for the page to report its span, and
/// checks the trace in Zipkin: `count` spans, whole, rooted at the page's
/// span. Gives the row and the trace.
async fn reported_trace(
    tab: &Tab,
    zipkin: &Zipkin,
    scenario: &str,
    count: usize,
) -> (e2e::page::Row, Vec<Value>) {
    let row = newest_reported(tab).await;
    assert_eq!(row.report.as_deref(), Some("sent"), "{row:?}");
    let trace_id = row.trace_id(ZIPKIN_UI);
    let spans = zipkin.wait_for_trace(&trace_id, count).await;
    assert_eq!(spans.len(), count, "{spans:#?}");
    let page_span = assert_browser_rooted(&spans);
    // The row's link opens the trace the page's span is in.
    assert_eq!(page_span.trace_id, trace_id);
    assert_eq!(page_span.name.as_deref(), Some(scenario));
    (row, spans)
}

/// The page's span in `spans`.
fn page_span(spans: &[Value]) -> &Value {
    let page = spans_of(spans, "browser", "CLIENT");
    assert_eq!(page.len(), 1, "{spans:#?}");
    page[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_click_shows_its_answer_and_its_trace_rooted_at_the_page() {
    let stack = stack(&[]).await;
    let url = stack.api_01.url.clone();
    let mut stack = in_browser("plain_click", DESKTOP, |tab| async move {
        tab.open(&url).await;
        assert_eq!(rows(&tab).await.len(), 0);
        let dependencies: String = tab
            .eval(r#"return document.getElementById("dependency-link").href"#)
            .await;
        assert!(
            dependencies.starts_with(&format!("{ZIPKIN_UI}/dependency?startTime=")),
            "{dependencies}"
        );

        let row = click(&tab, "plain").await;
        assert_eq!(
            (
                row.scenario.as_str(),
                row.status.as_str(),
                row.outcome.as_str()
            ),
            ("Plain request", "200", "ok"),
            "{row:?}"
        );
        assert_eq!(row.answered.as_deref(), Some("api_02, api_03"), "{row:?}");
        assert_eq!(row.failed.as_deref(), Some("none"), "{row:?}");
        assert_eq!(row.error, None, "{row:?}");
        let row = newest_reported(&tab).await;
        assert_eq!(
            (row.report.as_deref(), row.report_text.as_deref()),
            (Some("sent"), Some("sent")),
            "{row:?}"
        );
        assert_eq!(report_counts(&tab).await, (1, 0));
        let trace_id = row.trace_id(ZIPKIN_UI);
        let spans = stack
            .zipkin
            .wait_for_trace(&trace_id, SPANS_PER_CLICK)
            .await;
        let page = assert_browser_rooted(&spans);
        assert_eq!(page.trace_id, trace_id);
        let page = page_span(&spans);
        assert_eq!(page["name"], "plain");
        assert_eq!(tag(page, "http.response.status_code"), Some("200"));
        assert_eq!(tag(page, "error"), None);
        // By B3's join, api_01's SERVER span takes the page's span id.
        let server = spans_of(&spans, "api_01", "SERVER")[0];
        assert_eq!(server["id"], page["id"], "{server}");
        let links = stack.zipkin.links_of(&trace_id).await;
        assert_eq!(call_counts(&links), one_click_links());
        assert_no_script_errors(&tab).await;
        stack
    })
    .await;
    // Nothing but the click's trace: loading the page made no span, and
    // the report through the relay made none either.
    let spans = stack.stop().await;
    assert_eq!(spans.len(), SPANS_PER_CLICK, "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_buttons_show_red_rows_and_their_traces_carry_errors() {
    let stack = stack(&[]).await;
    let url = stack.api_01.url.clone();
    in_browser("failure_buttons", DESKTOP, |tab| async move {
        tab.open(&url).await;

        let row = click(&tab, "fail-api_02").await;
        assert_eq!(
            (row.status.as_str(), row.outcome.as_str()),
            ("502", "error"),
            "{row:?}"
        );
        assert_eq!(row.failed.as_deref(), Some("api_02"), "{row:?}");
        assert_eq!(row.answered.as_deref(), Some("api_03"), "{row:?}");
        assert_eq!(
            row.error.as_deref(),
            Some("api_02 answered 500 Internal Server Error"),
            "{row:?}"
        );
        // api_02 fails before it calls api_03: 3 + 1 + 2 spans, and the
        // page's.
        let (_, spans) = reported_trace(&tab, &stack.zipkin, "fail-api_02", 7).await;
        let page = page_span(&spans);
        assert_eq!(tag(page, "http.response.status_code"), Some("502"));
        assert_eq!(tag(page, "error"), Some("502"));
        let failed = spans_of(&spans, "api_02", "SERVER")[0];
        assert!(tag(failed, "error").is_some(), "{failed}");
        assert_eq!(tag(failed, "http.response.status_code"), Some("500"));
        let root = spans_of(&spans, "api_01", "SERVER")[0];
        assert_eq!(tag(root, "http.response.status_code"), Some("502"));
        assert!(tag(root, "error").is_some(), "{root}");

        let row = click(&tab, "fail-api_03").await;
        assert_eq!(row.status, "502", "{row:?}");
        assert_eq!(row.failed.as_deref(), Some("api_02, api_03"), "{row:?}");
        assert_eq!(row.answered.as_deref(), Some("none"), "{row:?}");
        assert!(
            row.error
                .as_deref()
                .is_some_and(|e| e.contains("api_03 answered 500")),
            "{row:?}"
        );
        // api_03 fails before its work: 3 + 2 + 2 spans, and the page's,
        // every one red.
        let (_, spans) = reported_trace(&tab, &stack.zipkin, "fail-api_03", 8).await;
        for span in &spans {
            assert!(tag(span, "error").is_some(), "{span}");
        }

        // Newest first.
        let scenarios: Vec<String> = rows(&tab).await.into_iter().map(|r| r.scenario).collect();
        assert_eq!(scenarios, ["api_03 fails", "api_02 fails"]);
        assert_no_script_errors(&tab).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_buttons_send_the_typed_delay_and_a_bad_one_shows_the_400() {
    let stack = stack(&[]).await;
    let url = stack.api_01.url.clone();
    in_browser("slow_buttons", DESKTOP, |tab| async move {
        tab.open(&url).await;
        tab.type_into("#delay", "300").await;

        for (scenario, service, delays) in
            [("slow-api_02", "api_02", 1), ("slow-api_03", "api_03", 2)]
        {
            let row = click(&tab, scenario).await;
            assert_eq!(row.scenario, format!("{service} is slow (300 ms)"));
            assert_eq!(row.status, "200", "{row:?}");
            assert!(row.milliseconds() >= 300, "{row:?}");
            // The plain 9 spans and the page's, and an "injected delay"
            // span in each request the slow service served (api_03 serves
            // two).
            let (_, spans) =
                reported_trace(&tab, &stack.zipkin, scenario, SPANS_PER_CLICK + delays).await;
            let delayed: Vec<_> = spans
                .iter()
                .filter(|s| s["name"] == "injected delay")
                .collect();
            assert_eq!(delayed.len(), delays, "{spans:#?}");
            for delay in delayed {
                assert_eq!(e2e::service(delay), service);
                assert!(delay["duration"].as_u64().unwrap() >= 300_000, "{delay}");
            }
        }

        // The page sends what was typed; the service refuses it, and the
        // row shows its answer.
        for (typed, error) in [
            ("99999", "delay_ms must be at most 10000, got 99999"),
            ("abc", "delay_ms"),
        ] {
            tab.type_into("#delay", typed).await;
            let row = click(&tab, "slow-api_02").await;
            assert_eq!(
                (row.status.as_str(), row.outcome.as_str()),
                ("400", "error"),
                "{row:?}"
            );
            assert!(
                row.error.as_deref().is_some_and(|e| e.contains(error)),
                "{row:?}"
            );
            assert_eq!(
                row.trace, None,
                "a refused request answers no trace id: {row:?}"
            );
            let row = newest_reported(&tab).await;
            assert_eq!(
                row.report.as_deref(),
                Some("none"),
                "no trace, no report: {row:?}"
            );
        }
        assert_no_script_errors(&tab).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_callee_gives_a_504_row_and_a_timeout_span_and_no_answer_a_row_too() {
    let stack = stack(&[("DOWNSTREAM_TIMEOUT_MS", "500")]).await;
    let url = stack.api_01.url.clone();
    in_browser("hanging_callee", DESKTOP, |tab| async move {
        let mut stack = stack;
        tab.open(&url).await;
        let note: String = tab
            .eval(r#"return document.getElementById("hang-note").textContent"#)
            .await;
        assert!(note.contains("api_03 waits 1500 ms"), "{note}");

        let row = click(&tab, "hang").await;
        assert_eq!(
            (row.status.as_str(), row.outcome.as_str()),
            ("504", "error"),
            "{row:?}"
        );
        assert!(row.milliseconds() >= 500, "{row:?}");
        // api_01 gave up on api_03; api_02, waiting on api_03 too, failed
        // one way or the other.
        assert_eq!(row.failed.as_deref(), Some("api_02, api_03"), "{row:?}");
        assert!(
            row.error
                .as_deref()
                .is_some_and(|e| e.contains("api_03 did not answer within 500 ms")),
            "{row:?}"
        );
        let trace_id = row.trace_id(ZIPKIN_UI);
        let (spans, seen) = stack
            .zipkin
            .wait_for_trace_where(&trace_id, |trace| {
                let timed_out = trace.iter().any(|span| {
                    e2e::service(span) == "api_01"
                        && kind(span) == "CLIENT"
                        && span["remoteEndpoint"]["serviceName"] == "api_03"
                        && tag(span, "error.type") == Some("timeout")
                });
                let server_504 = trace.iter().any(|span| {
                    e2e::service(span) == "api_01"
                        && kind(span) == "SERVER"
                        && tag(span, "http.response.status_code") == Some("504")
                });
                let page_504 = trace.iter().any(|span| {
                    e2e::service(span) == "browser"
                        && tag(span, "http.response.status_code") == Some("504")
                        && tag(span, "error") == Some("504")
                });
                timed_out && server_504 && page_504
            })
            .await;
        assert!(
            seen,
            "a timeout span api_01 → api_03, a 504 from api_01 and a red page span: {spans:#?}"
        );

        // No answer at all is a row too.
        stack.api_01.terminate(EXIT_LIMIT).await;
        let row = click(&tab, "plain").await;
        assert_eq!(
            (row.status.as_str(), row.outcome.as_str()),
            ("network error", "error"),
            "{row:?}"
        );
        assert!(
            row.error
                .as_deref()
                .is_some_and(|e| e.starts_with("the request failed")),
            "{row:?}"
        );
        assert_no_script_errors(&tab).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_zipkin_away_a_click_still_works_and_its_span_is_counted_unsent() {
    // api_01's Zipkin refuses connections: its relay cannot forward.
    let away = RefusingPort::new();
    let endpoint = format!("http://{}/api/v2/spans", away.addr);
    let mut builder = Stack::builder().env("ZIPKIN_UI_URL", ZIPKIN_UI);
    builder = builder.env_for(Api::Api01, "OTEL_EXPORTER_ZIPKIN_ENDPOINT", &endpoint);
    let stack = builder.start().await;
    let url = stack.api_01.url.clone();
    in_browser("zipkin_away", DESKTOP, |tab| async move {
        tab.open(&url).await;
        for (count, scenario) in [(1, "plain"), (2, "fail-api_02")] {
            click(&tab, scenario).await;
            let row = newest_reported(&tab).await;
            assert!(
                row.trace.is_some(),
                "the answer still links its trace: {row:?}"
            );
            assert_eq!(row.report.as_deref(), Some("unsent"), "{row:?}");
            assert!(
                row.report_text.as_deref().is_some_and(
                    |text| text.starts_with("not sent: 502 Zipkin could not be reached")
                ),
                "{row:?}"
            );
            assert_eq!(report_counts(&tab).await, (0, count));
        }
        let shown: String = tab
            .eval(r#"return document.getElementById("reports").textContent"#)
            .await;
        assert_eq!(shown, "The page's own spans: 0 sent to Zipkin, 2 not sent.");
        assert_eq!(rows(&tab).await[1].status, "200");
        assert_no_script_errors(&tab).await;
        drop(stack);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_api_01_does_not_record_gets_no_page_span() {
    // The page leaves the decision to api_01's sampler, which says no.
    let stack = stack(&[("OTEL_TRACES_SAMPLER", "always_off")]).await;
    let url = stack.api_01.url.clone();
    let mut stack = in_browser("not_recorded", DESKTOP, |tab| async move {
        tab.open(&url).await;
        let row = click(&tab, "plain").await;
        assert_eq!(row.status, "200", "{row:?}");
        let row = newest_reported(&tab).await;
        assert_eq!(row.report.as_deref(), Some("none"), "{row:?}");
        assert_eq!(report_counts(&tab).await, (0, 0));
        assert_no_script_errors(&tab).await;
        stack
    })
    .await;
    let spans = stack.stop().await;
    assert!(spans.is_empty(), "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_fits_a_phone_and_works_from_the_keyboard() {
    let stack = stack(&[]).await;
    let url = stack.api_01.url.clone();
    in_browser("phone_keyboard", PHONE, |tab| async move {
        tab.open(&url).await;
        let width: u64 = tab.eval("return window.innerWidth").await;
        assert_eq!(width, PHONE.0 as u64);
        let live: String = tab
            .eval(r#"return document.getElementById("results").getAttribute("aria-live")"#)
            .await;
        assert_eq!(live, "polite");

        // Tab reaches the first button, with a visible focus ring; Enter
        // presses it. Tab again, then Space, presses the next.
        tab.press(Key::Tab).await;
        let focused = r#"
            const focused = document.activeElement;
            return [focused.dataset.scenario ?? focused.tagName,
                    getComputedStyle(focused).outlineStyle];
        "#;
        let (scenario, outline): (String, String) = tab.eval(focused).await;
        assert_eq!((scenario.as_str(), outline.as_str()), ("plain", "solid"));
        tab.press(Key::Enter).await;
        assert_eq!(newest_answered(&tab, 1).await.status, "200");
        tab.press(Key::Tab).await;
        let (scenario, _): (String, String) = tab.eval(focused).await;
        assert_eq!(scenario, "fail-api_02");
        tab.press(Key::Space).await;
        assert_eq!(newest_answered(&tab, 2).await.status, "502");

        // Nothing is wider than the screen, rows with long trace ids
        // included.
        let overflow: u64 = tab
            .eval("return document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert_eq!(overflow, 0, "the page scrolls sideways on a phone");
        assert_no_script_errors(&tab).await;
        drop(stack);
    })
    .await;
}
