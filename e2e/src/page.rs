//! api_01's page as a test reads it: the rows of its list of answers, and a
//! click that waits for its row.

use serde::Deserialize;

use crate::browser::Tab;

/// One row of the page's list, as the page shows it.
#[derive(Debug, Deserialize)]
pub struct Row {
    pub state: String,
    pub outcome: String,
    pub scenario: String,
    pub status: String,
    pub duration: String,
    pub answered: Option<String>,
    pub failed: Option<String>,
    pub error: Option<String>,
    pub trace: Option<String>,
}

impl Row {
    /// The id of the trace its link leads to, checking that the link is
    /// `<zipkin_ui>/traces/<32 hex digits>`.
    pub fn trace_id(&self, zipkin_ui: &str) -> String {
        let link = self
            .trace
            .as_deref()
            .unwrap_or_else(|| panic!("a trace link: {self:?}"));
        let id = link
            .strip_prefix(&format!("{zipkin_ui}/traces/"))
            .unwrap_or_else(|| panic!("a link to the trace in {zipkin_ui}: {self:?}"));
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{self:?}"
        );
        id.to_owned()
    }

    /// How long the request took, as the row says.
    pub fn milliseconds(&self) -> u64 {
        self.duration
            .strip_suffix(" ms")
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("a duration in ms: {self:?}"))
    }
}

const READ_ROWS: &str = r##"
    const text = (row, css) => row.querySelector(css)?.textContent ?? null;
    return [...document.querySelectorAll("#results > li")].map((row) => ({
        state: row.dataset.state,
        outcome: row.dataset.outcome,
        scenario: text(row, ".scenario"),
        status: text(row, ".status"),
        duration: text(row, ".duration"),
        answered: text(row, ".answered"),
        failed: text(row, ".failed"),
        error: text(row, ".error"),
        trace: row.querySelector(".trace a")?.getAttribute("href") ?? null,
    }));
"##;

/// Every row, newest first.
pub async fn rows(tab: &Tab) -> Vec<Row> {
    tab.eval(READ_ROWS).await
}

/// Waits until the list holds `count` rows, the newest answered, and gives
/// that one.
pub async fn newest_answered(tab: &Tab, count: usize) -> Row {
    tab.wait_for(&format!("row {count} to be answered"), || async {
        let mut rows = rows(tab).await;
        (rows.len() == count && rows[0].state == "done").then(|| rows.remove(0))
    })
    .await
}

/// Clicks the button of `scenario` (its `data-scenario`), and gives the
/// row it added once answered.
pub async fn click(tab: &Tab, scenario: &str) -> Row {
    let before = rows(tab).await.len();
    tab.click(&format!(r#"button[data-scenario="{scenario}"]"#))
        .await;
    newest_answered(tab, before + 1).await
}
