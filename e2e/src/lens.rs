//! Zipkin's own web UI, Lens, as the real server serves it at `/zipkin/`:
//! its pages, and what a test reads off them, so a test sees our spans as
//! a Zipkin user does, drawn by Zipkin's JavaScript.

use std::io::Cursor;

use crate::{Zipkin, browser::Tab};

/// The UI of a running Zipkin (the real server: the stand-in has none).
pub struct Lens {
    /// `http://127.0.0.1:<port>/zipkin`: the base of every Lens page, and
    /// the `ZIPKIN_UI_URL` that makes the services' links open Lens.
    pub url: String,
}

impl Lens {
    pub fn of(zipkin: &Zipkin) -> Lens {
        assert!(zipkin.is_real(), "only the real Zipkin serves Lens");
        Lens {
            url: format!("{}/zipkin", zipkin.url()),
        }
    }

    /// The page of one trace: its waterfall.
    pub fn trace_url(&self, trace_id: &str) -> String {
        format!("{}/traces/{trace_id}", self.url)
    }

    /// The dependency graph of the last hour (Lens draws it at once only
    /// for a given time range).
    pub fn dependency_url(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        format!(
            "{}/dependency?startTime={}&endTime={}",
            self.url,
            now - 3_600_000,
            now + 60_000
        )
    }
}

/// What Lens's trace page says: its summary, and the label of every row
/// of its waterfall ("api_03: work").
const READ_TRACE_PAGE: &str = r#"
    const leaves = [...document.querySelectorAll("div")].filter((div) => div.children.length === 0);
    const after = (label) => leaves.find((div) => div.textContent === label)?.nextElementSibling?.textContent ?? null;
    return {
        services: after("Services"),
        total_spans: after("Total Spans"),
        trace_id: after("Trace ID"),
        rows: leaves.map((div) => div.textContent).filter((text) => /^api_0\d: /.test(text)),
    };
"#;

/// What the dependency page's side panel says of the node clicked: the
/// service, and each table of the services it uses and is used by.
const READ_NODE_PANEL: &str = r#"
    const title = document.querySelector("h6")?.textContent ?? null;
    const tables = {};
    for (const heading of document.querySelectorAll("p, span, h6, div")) {
        const match = /^(Uses|Used) \(traced requests\)$/.exec(heading.textContent);
        if (!match || heading.children.length > 0) continue;
        const section = heading.closest("div").parentElement.parentElement;
        tables[match[1]] = [...section.querySelectorAll("tr td:first-child")].map((td) => td.textContent);
    }
    return { title, uses: tables.Uses ?? [], used: tables.Used ?? [] };
"#;

#[derive(Clone, Debug, serde::Deserialize)]
pub struct TracePage {
    pub services: Option<String>,
    pub total_spans: Option<String>,
    pub trace_id: Option<String>,
    pub rows: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct NodePanel {
    pub title: Option<String>,
    pub uses: Vec<String>,
    pub used: Vec<String>,
}

/// Waits until the dependency graph shows `count` nodes, and gives their
/// centres in the viewport, left to right.
pub async fn node_centres(tab: &Tab, count: usize) -> Vec<(f64, f64)> {
    tab.wait_for(&format!("Lens to draw {count} nodes"), || async {
        let png = tab.client.screenshot().await.ok()?;
        let centres = blobs(&png, NODE_FILL, 50).ok()?;
        (centres.len() == count).then_some(centres)
    })
    .await
}

/// What the trace page shows now.
pub async fn read_trace_page(tab: &Tab) -> TracePage {
    tab.eval(READ_TRACE_PAGE).await
}

/// What the dependency page's side panel shows now.
pub async fn read_node_panel(tab: &Tab) -> NodePanel {
    tab.eval(READ_NODE_PANEL).await
}

/// The colour Lens's dependency graph fills a service's node with.
pub const NODE_FILL: [u8; 3] = [51, 123, 161];

/// The centres of the blobs of `colour` in a PNG screenshot that are at
/// least `min_pixels` large, left to right: where the dependency graph
/// drew its nodes (it draws on a canvas, so they are not in the DOM).
pub fn blobs(png: &[u8], colour: [u8; 3], min_pixels: usize) -> Result<Vec<(f64, f64)>, String> {
    let mut reader = png::Decoder::new(Cursor::new(png))
        .read_info()
        .map_err(|error| error.to_string())?;
    let mut pixels = vec![0; reader.output_buffer_size().ok_or("an image too large")?];
    let info = reader
        .next_frame(&mut pixels)
        .map_err(|error| error.to_string())?;
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => return Err(format!("a {other:?} screenshot")),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let matches = |x: usize, y: usize| {
        let at = y * info.line_size + x * channels;
        pixels[at..at + 3] == colour
    };
    // Connected areas of the colour, found by flood fill.
    let mut seen = vec![false; width * height];
    let mut found = Vec::new();
    for start in 0..width * height {
        if seen[start] || !matches(start % width, start / width) {
            continue;
        }
        seen[start] = true;
        let (mut stack, mut count, mut sum_x, mut sum_y) = (vec![start], 0usize, 0usize, 0usize);
        while let Some(at) = stack.pop() {
            let (x, y) = (at % width, at / width);
            count += 1;
            sum_x += x;
            sum_y += y;
            let neighbours = [
                (x > 0).then(|| at - 1),
                (x + 1 < width).then(|| at + 1),
                (y > 0).then(|| at - width),
                (y + 1 < height).then(|| at + width),
            ];
            for next in neighbours.into_iter().flatten() {
                if !seen[next] && matches(next % width, next / width) {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        if count >= min_pixels {
            found.push((sum_x as f64 / count as f64, sum_y as f64 / count as f64));
        }
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(found)
}
