//! Every row of the `b3_table` crate through the checks that hold a
//! reading to it: the B3 reader's reading of its headers, and the SERVER
//! layer's decision under its `OTEL_PROPAGATORS`, with join on and off.
//! (The rows seed the fuzz targets too, but a minimised corpus keeps only
//! the inputs that add coverage: this keeps every row checked.)

use fuzz_checks::{b3_multi, inbound, table, traceparent};
use telemetry::SamplerConfig;

#[test]
fn every_row_of_the_table_is_read_as_the_table_says() {
    let rows = table::rows();
    assert!(rows.len() > 30, "{} rows", rows.len());
    for listed in rows {
        assert!(
            table::rows_for(&listed.headers).count() >= 1,
            "{:?}",
            listed.row
        );
        b3_multi::check_headers(&listed.headers);
        traceparent::check_headers(&listed.headers);
        for b3_join in [true, false] {
            inbound::check_request(
                &listed.headers,
                listed.row.propagators,
                b3_join,
                SamplerConfig::default(),
            );
        }
    }
}
