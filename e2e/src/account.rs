//! A service's own account of its spans, as it logs it at the stop
//! (`span export stopped`, see `span_export/src/account.rs`).

/// What became of every span a service made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanAccount {
    /// Every sampled span that ended.
    pub ended: u64,
    /// Taken by Zipkin.
    pub exported: u64,
    /// Spans whose first upload failed, tried again.
    pub retried: u64,
    /// Taken by Zipkin after a retry (counted in `exported` too).
    pub exported_after_retry: u64,
    /// Never uploaded: the queue was full.
    pub dropped: u64,
    /// Refused for good, or still failing at the stop.
    pub lost: u64,
    /// Traces that reached Zipkin without some of their spans.
    pub traces_sent_in_part: u64,
}

impl SpanAccount {
    /// `spans` spans made and exported at the first try.
    pub fn all_exported(spans: u64) -> Self {
        Self {
            ended: spans,
            exported: spans,
            ..Self::default()
        }
    }

    /// Reads the account line, `None` if `line` is not one. The three
    /// columns are always there; the rest were added later (with retries),
    /// and read as 0 from a service built before, whose spans ended are
    /// then the sum of the three.
    pub fn parse(line: &str) -> Option<Self> {
        if !line.contains("span export stopped") {
            return None;
        }
        let field = |name: &str| -> Option<u64> {
            let value = line.split(&format!(" {name}=")).nth(1)?;
            value.split_whitespace().next()?.parse().ok()
        };
        let column = |name: &str| field(name).unwrap_or_else(|| panic!("no {name} in {line}"));
        let (exported, dropped, lost) = (
            column("spans_exported"),
            column("spans_dropped_total"),
            column("spans_lost_total"),
        );
        Some(Self {
            ended: field("spans_ended").unwrap_or(exported + dropped + lost),
            exported,
            retried: field("spans_retried").unwrap_or(0),
            exported_after_retry: field("spans_exported_after_retry").unwrap_or(0),
            dropped,
            lost,
            traces_sent_in_part: field("traces_sent_in_part").unwrap_or(0),
        })
    }

    /// Every span that ended is exported, dropped or lost.
    pub fn balances(&self) -> bool {
        self.ended == self.exported + self.dropped + self.lost
    }
}
