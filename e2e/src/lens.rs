//! Zipkin's own web UI (Lens) in front of the tests' collector, so a test
//! can see our spans as a Zipkin user does, drawn by Zipkin's JavaScript.
//!
//! Lens is not in the repository: it is a build of Zipkin's `zipkin-lens`
//! found at `LENS_DIR` (by default `../shared/zipkin-ui/build` beside the
//! workspace), served by the `serve.py` next to that folder, which also
//! passes Lens's API calls on to the collector.

use std::{
    io::Cursor,
    path::{Path, PathBuf},
};

use crate::{Program, Service, browser::Tab, workspace};

/// A Lens build, or where one was looked for.
pub fn lens_dir() -> Result<PathBuf, PathBuf> {
    let dir = match std::env::var_os("LENS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace().join("../shared/zipkin-ui/build"),
    };
    // serve.py compares paths with the absolute folder: a relative one
    // would serve index.html for every file.
    match dir.canonicalize() {
        Ok(dir) if dir.join("index.html").is_file() => Ok(dir),
        _ => Err(dir),
    }
}

/// Lens, served in front of a Zipkin-v2 API.
pub struct Lens {
    /// `http://127.0.0.1:<port>/zipkin`: the base of every Lens page, and
    /// the `ZIPKIN_UI_URL` that makes the services' links open Lens.
    pub url: String,
    _server: Service,
}

impl Lens {
    /// Serves the Lens build in `dir` with the `serve.py` beside it, on a
    /// port the OS picks, in front of the API at `backend`
    /// (`http://127.0.0.1:<port>`).
    pub async fn start(dir: &Path, backend: &str) -> Lens {
        let script = dir.parent().unwrap_or(dir).join("serve.py");
        assert!(
            script.is_file(),
            "no {} to serve Lens with",
            script.display()
        );
        let program = Program::System {
            path: "/usr/bin/python3".into(),
            args: [
                script.to_str(),
                Some("--lens-dir"),
                dir.to_str(),
                Some("--backend"),
                Some(backend),
                Some("--port"),
                Some("0"),
            ]
            .into_iter()
            .map(|arg| arg.expect("a UTF-8 path").to_owned())
            .collect(),
        };
        let server = Service::start("lens", &program, &[]).await;
        Lens {
            url: format!("{}/zipkin", server.url),
            _server: server,
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
