//! Takes the pictures of `docs/images/` from the real thing: the three
//! services and the real Zipkin server on loopback, and a headless Chromium
//! that clicks api_01's page and opens the Zipkin UI (Lens) that the server
//! serves. Run by `docs/screenshots.sh`, which fetches the server and
//! shrinks the files.
//!
//!     ZIPKIN_SERVER_JAR=… screenshots OUT_DIR
//!
//! The services are told `ZIPKIN_UI_URL=<Lens>`, so the page's trace links
//! really open Lens. Everything started stops when this ends, on Ctrl-C or
//! SIGTERM too.

use std::path::{Path, PathBuf};

use e2e::{
    Stack, Zipkin,
    browser::{Tab, in_browser},
    lens::{Lens, node_centres, read_node_panel, read_trace_page},
    page::{Row, click, newest_reported},
};
use tokio::signal::unix::{SignalKind, signal};

/// The page after a few clicks, at a laptop's width and tall enough for
/// its rows.
const PAGE_WINDOW: (u32, u32) = (900, 1340);
/// Lens's pages.
const LENS_WINDOW: (u32, u32) = (1200, 720);

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        return Err("usage: ZIPKIN_SERVER_JAR=… screenshots OUT_DIR".into());
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).map_err(|error| format!("{}: {error}", out.display()))?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    // Stopping drops the pictures' future: every process it started is
    // killed as it drops.
    tokio::select! {
        () = take_pictures(&out) => Ok(()),
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
        _ = terminate.recv() => Err("terminated".into()),
    }
}

async fn take_pictures(out: &Path) {
    let zipkin = Zipkin::real().await;
    let lens = Lens::of(&zipkin);
    // api_03's work takes its default 100 ms, as the README describes it.
    let stack = Stack::builder()
        .zipkin(zipkin)
        .env("ZIPKIN_UI_URL", &lens.url)
        .env("WORK_MS", "100")
        .start()
        .await;
    let page_url = stack.api_01.url.clone();
    let zipkin_ui = lens.url.clone();
    let out_dir = out.to_path_buf();
    let (plain, failed) = in_browser("screenshots-page", PAGE_WINDOW, |tab| async move {
        tab.open(&page_url).await;
        // Each click, then its page span reported, as the row says.
        let clicked = |scenario: &'static str| {
            let tab = &tab;
            async move {
                click(tab, scenario).await;
                newest_reported(tab).await
            }
        };
        let plain: Row = clicked("plain").await;
        let plain = plain.trace_id(&zipkin_ui);
        tab.type_into("#delay", "300").await;
        clicked("slow-api_03").await;
        let failed = clicked("fail-api_03").await.trace_id(&zipkin_ui);
        clicked("hang").await;
        save(&tab, &out_dir.join("page.png")).await;
        (plain, failed)
    })
    .await;
    stack
        .zipkin
        .wait_for_trace(&plain, e2e::SPANS_PER_CLICK)
        .await;
    stack.zipkin.wait_for_trace(&failed, 8).await;

    let out_dir = out.to_path_buf();
    in_browser("screenshots-lens", LENS_WINDOW, |tab| async move {
        for (trace_id, file) in [(&plain, "trace.png"), (&failed, "error-trace.png")] {
            tab.open(&lens.trace_url(trace_id)).await;
            tab.wait_for("Lens to draw every row of the trace", || async {
                let page = read_trace_page(&tab).await;
                let total = page.total_spans?.parse::<usize>().ok()?;
                (total > 0 && page.rows.len() == total).then_some(())
            })
            .await;
            save(&tab, &out_dir.join(file)).await;
        }
        // The graph, with api_01's panel open: the services it uses, and
        // how many calls each.
        // Its node is found by clicking each: the four are drawn on a
        // canvas, in an order Lens's layout chooses.
        let mut found = false;
        for node in 0..4 {
            tab.open(&lens.dependency_url()).await;
            let (x, y) = node_centres(&tab, 4).await[node];
            tab.click_at(x, y).await;
            let title = tab
                .wait_for("Lens's panel of the node clicked", || async {
                    read_node_panel(&tab).await.title
                })
                .await;
            if title == "api_01" {
                tab.wait_for("Lens's panel of api_01", || async {
                    let panel = read_node_panel(&tab).await;
                    (panel.uses.len() == 2 && panel.used.len() == 1).then_some(())
                })
                .await;
                found = true;
                break;
            }
        }
        assert!(found, "no node of the graph is api_01");
        // The panel's pie chart grows in: wait until its slices stop
        // changing.
        let slices = r#"return [...document.querySelectorAll(".recharts-pie-sector path")]
            .map((path) => path.getAttribute("d")).join("|")"#;
        let last = std::sync::Mutex::new(String::new());
        tab.wait_for("the pie chart to stop growing", || async {
            let now: String = tab.eval(slices).await;
            let before = std::mem::replace(&mut *last.lock().unwrap(), now.clone());
            (!now.is_empty() && now == before).then_some(())
        })
        .await;
        save(&tab, &out_dir.join("dependencies.png")).await;
        drop(lens);
    })
    .await;
    drop(stack);
}

async fn save(tab: &Tab, path: &Path) {
    let png = tab.client.screenshot().await.expect("a screenshot");
    std::fs::write(path, png).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    println!("{}", path.display());
}
