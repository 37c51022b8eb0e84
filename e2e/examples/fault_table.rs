//! The fault suite's cases at the benchmark's scale (50 requests a second
//! for 20 s, a fault of 3 s), printed as one table: answers by status, the
//! span account, and the p99 latency before and during the fault. Run by
//! `bench/run.sh --faults`.
//!
//!     fault_table [CASE_NUMBER ...]
//!
//! With numbers (1 to 8, the rows' order), only those cases run.
//! `E2E_BINARIES=DIR` measures the services built in DIR (another commit's,
//! say) instead of this workspace's; `FAULT_LOGS=DIR` keeps each case's
//! logs there, one file a case and service (what `docs/failures.md`
//! quotes).

use e2e::faults::{self, Case, Report, Scale};

#[tokio::main]
async fn main() {
    let chosen: Vec<usize> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("a case number, 1 to 8"))
        .collect();
    let scale = Scale::BENCH;
    println!(
        "{} requests a second for {} s; the fault from {} s, for {} s (twice that for \
         \"past the queue\", whose queue holds {} spans); OTEL_BSP_SCHEDULE_DELAY=500\n",
        scale.rate,
        (scale.before + scale.fault + scale.after).as_secs(),
        scale.before.as_secs(),
        scale.fault.as_secs(),
        scale.small_queue(),
    );
    println!("{}", Report::head());
    for (number, case) in Case::ALL.into_iter().enumerate() {
        if chosen.is_empty() || chosen.contains(&(number + 1)) {
            let report = faults::run(case, scale).await;
            println!("{}", report.row());
            if let Some(dir) = std::env::var_os("FAULT_LOGS") {
                for (service, lines) in &report.logs {
                    let file =
                        std::path::Path::new(&dir).join(format!("{}.{service}.log", number + 1));
                    std::fs::write(&file, lines.join("\n")).expect("FAULT_LOGS is a directory");
                }
            }
        }
    }
}
