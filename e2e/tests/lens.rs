//! Zipkin's own UI (Lens), served by the real Zipkin server, judges our
//! spans: one click on api_01's page makes a trace whose page in Lens shows
//! the four services (the page's own span, service `browser`, and the three
//! APIs) and the waterfall's rows, and the dependency page draws the four
//! links. Lens's JavaScript builds its span tree and graph itself, from
//! what the server stored.
//!
//! Ignored by `cargo test`, which needs no Java: `bash ci/lens-check.sh`
//! runs it (`.ci/run` does) with the real server. Why a Rust test rather
//! than `chromium --dump-dom`: it shares the harness (ports the OS picks,
//! waits on conditions with deadlines, every process killed, a screenshot
//! and console log on failure), and it waits for Lens to have drawn,
//! instead of guessing a virtual-time budget.

use std::collections::BTreeSet;

use e2e::{
    browser::{DESKTOP, in_browser},
    lens::{Lens, node_centres, read_node_panel, read_trace_page},
    page::{click, newest_reported},
    *,
};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Zipkin server: run bash ci/lens-check.sh"]
async fn lens_draws_our_trace_and_our_dependency_graph() {
    let zipkin = Zipkin::real().await;
    let lens = Lens::of(&zipkin);
    let stack = Stack::builder()
        .zipkin(zipkin)
        .env("ZIPKIN_UI_URL", &lens.url)
        .start()
        .await;

    in_browser("lens", DESKTOP, |tab| async move {
        // A click on the page, as a person would make the trace.
        tab.open(&stack.api_01.url).await;
        click(&tab, "plain").await;
        let row = newest_reported(&tab).await;
        assert_eq!(row.report.as_deref(), Some("sent"), "{row:?}");
        let trace_id = row.trace_id(&lens.url);
        stack
            .zipkin
            .wait_for_trace(&trace_id, SPANS_PER_CLICK)
            .await;
        // The row's link, followed.
        tab.open(row.trace.as_deref().unwrap()).await;
        let page = tab
            .wait_for("Lens to draw the trace", || async {
                let page = read_trace_page(&tab).await;
                (page.rows.len() >= 6).then_some(page)
            })
            .await;
        println!("Lens's trace page: {page:#?}");
        assert_eq!(page.trace_id.as_deref(), Some(trace_id.as_str()));
        assert_eq!(page.services.as_deref(), Some("4"), "{page:#?}");
        // Our 10 spans are 6 rows, and Lens counts 6: it merges each
        // CLIENT span with the callee's SERVER span that shares its id
        // (B3's join), as Zipkin's span tree does; the page's span and
        // api_01's SERVER span are one row too, which Lens names after the
        // server side ("api_01: get /"), as it does every joined row. So
        // the page's span adds a service (4, not 3) and no row; api_03
        // serves two callers, each with its work span. Zipkin lowercases
        // span names as it stores them: "GET /" is "get /".
        assert_eq!(page.total_spans.as_deref(), Some("6"), "{page:#?}");
        let mut rows = page.rows.clone();
        rows.sort();
        assert_eq!(
            rows,
            [
                "api_01: get /",
                "api_02: get /",
                "api_03: get /",
                "api_03: get /",
                "api_03: work",
                "api_03: work"
            ],
            "{page:#?}"
        );
        assert_eq!(page.rows[0], "api_01: get /", "the root row comes first");

        // The graph is drawn on a canvas: find its three nodes in a
        // screenshot, click each, and read the panel Lens opens for it.
        let mut links = BTreeSet::new();
        let mut panels = Vec::new();
        for node in 0..4 {
            // Afresh each time: an open panel narrows the graph, which
            // moves the nodes.
            tab.open(&lens.dependency_url()).await;
            let centres = node_centres(&tab, 4).await;
            tab.click_at(centres[node].0, centres[node].1).await;
            let panel = tab
                .wait_for("Lens's panel of the node clicked", || async {
                    let panel = read_node_panel(&tab).await;
                    panel
                        .title
                        .as_deref()
                        .is_some_and(|title| title.starts_with("api_0") || title == "browser")
                        .then_some(panel)
                })
                .await;
            let service = panel.title.clone().unwrap();
            links.extend(
                panel
                    .uses
                    .iter()
                    .map(|callee| (service.clone(), callee.clone())),
            );
            links.extend(
                panel
                    .used
                    .iter()
                    .map(|caller| (caller.clone(), service.clone())),
            );
            panels.push(panel);
        }
        println!("Lens's dependency panels: {panels:#?}");
        let titles: BTreeSet<_> = panels.iter().filter_map(|p| p.title.clone()).collect();
        assert_eq!(titles.len(), 4, "each node once: {panels:#?}");
        let expected: BTreeSet<(String, String)> = one_click_links().into_keys().collect();
        assert_eq!(links, expected, "{panels:#?}");
        drop(stack);
    })
    .await;
}
