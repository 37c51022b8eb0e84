//! The fault suite's cases at the benchmark's scale (50 requests a second
//! for 20 s, a fault of 3 s), printed as one table: answers by status, the
//! span account, and the p99 latency before and during the fault. Run by
//! `bench/run.sh --faults`.
//!
//!     fault_table [CASE_NUMBER ...]
//!     fault_table cluster
//!
//! With numbers (1 to 8, the rows' order), only those cases run. With
//! `cluster`, the cases of Zipkin as two servers over MariaDB behind nginx
//! instead (`bash ci/zipkin-cluster.sh --table` runs it, with what those
//! need).
//! `E2E_BINARIES=DIR` measures the services built in DIR (another commit's,
//! say) instead of this workspace's; `FAULT_LOGS=DIR` keeps each case's
//! logs there, one file a case and service (what `docs/failures.md`
//! quotes).

use e2e::faults::{self, Case, Report, Scale};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cluster = args.first().is_some_and(|arg| arg == "cluster");
    let chosen: Vec<usize> = match cluster {
        true => Vec::new(),
        false => args
            .iter()
            .map(|arg| arg.parse().expect("a case number, 1 to 8, or `cluster`"))
            .collect(),
    };
    let cases: &[Case] = match cluster {
        true => &Case::CLUSTER,
        false => &Case::ALL,
    };
    let scale = Scale::BENCH;
    if cluster {
        println!(
            "{} requests a second: {} s before the fault, {} s after it; the fault lasts as \
             long as the restarts take, at least {} s (each server in turn) or {} s (both: \
             away {} s, then started again); OTEL_BSP_SCHEDULE_DELAY=500\n",
            scale.rate,
            scale.before.as_secs(),
            scale.after.as_secs(),
            scale.fault_of(Case::ServersKilledInTurn).as_secs(),
            scale.fault_of(Case::AllServersRestarted).as_secs(),
            scale.fault.as_secs(),
        );
    } else {
        println!(
            "{} requests a second for {} s; the fault from {} s, for {} s (twice that for \
             \"past the queue\", whose queue holds {} spans); OTEL_BSP_SCHEDULE_DELAY=500\n",
            scale.rate,
            (scale.before + scale.fault + scale.after).as_secs(),
            scale.before.as_secs(),
            scale.fault.as_secs(),
            scale.small_queue(),
        );
    }
    println!("{}", Report::head());
    for (number, &case) in cases.iter().enumerate() {
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
