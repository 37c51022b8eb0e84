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
    /// What became of the page's own span: `sent`, `unsent`, or `none`
    /// (not reported: api_01 did not record the trace, or never answered);
    /// `None` while it is on its way.
    pub report: Option<String>,
    /// The row's words about it ("sent", "not sent: 502 ...").
    pub report_text: Option<String>,
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
        report: row.dataset.report ?? null,
        report_text: text(row, ".report"),
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

/// Waits until the newest row's own span is reported or known not to be,
/// and gives that row.
pub async fn newest_reported(tab: &Tab) -> Row {
    tab.wait_for("the newest row's span to be reported", || async {
        let mut rows = rows(tab).await;
        (!rows.is_empty() && rows[0].report.is_some()).then(|| rows.remove(0))
    })
    .await
}

/// The page's counts of its own spans: (sent, not sent).
pub async fn report_counts(tab: &Tab) -> (u64, u64) {
    let (sent, unsent): (String, String) = tab
        .eval(
            r#"const reports = document.getElementById("reports");
               return [reports.dataset.sent, reports.dataset.unsent];"#,
        )
        .await;
    (sent.parse().unwrap(), unsent.parse().unwrap())
}

/// Clicks the button of `scenario` (its `data-scenario`), and gives the
/// row it added once answered.
pub async fn click(tab: &Tab, scenario: &str) -> Row {
    let before = rows(tab).await.len();
    tab.click(&format!(r#"button[data-scenario="{scenario}"]"#))
        .await;
    newest_answered(tab, before + 1).await
}
