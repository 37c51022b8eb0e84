//! A burst of failures, told in the log at a bounded rate: the first line
//! at once, then nothing within the period, then the rest at the stop.
//!
//! ```text
//! cargo run -p log_report --example tally
//! ```

use log_report::{REPORT_PERIOD, Tally, describe};

fn main() {
    let mut failed = Tally::default();
    for attempt in 1..=1000 {
        let error =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        failed.add(1);
        if let Some((since_last_line, total)) = failed.due(false) {
            println!(
                "attempt {attempt}: {} ({since_last_line} since the last line, {total} in all; \
                 next line in {}s at the earliest)",
                describe(&error),
                REPORT_PERIOD.as_secs()
            );
        }
    }
    if let Some((since_last_line, total)) = failed.due(true) {
        println!("at the stop: {since_last_line} more failures, {total} in all");
    }
}
