//! B3's single-header form (`b3: {trace}-{span}-{decision}-{parent}`, or
//! a decision alone), read by `telemetry`'s B3 reader, next to any other
//! headers (the `X-B3-*` ones among them, which it falls back to).
//!
//! Why: as for [`crate::b3_multi`], whose rules hold here too; and the
//! single header's own: when [`crate::spec::b3_single`] can read it, it
//! wins over whatever `X-B3-*` headers came with it (the specification
//! gives it precedence).
//!
//! Input: the first line is the `b3` header's value (sent first, if HTTP
//! allows it as a value); the other lines are more headers
//! ([`crate::headers`]), a second `b3` among them maybe.

use axum::http::HeaderName;
use telemetry::fuzzing;

use crate::{b3_multi, headers, spec};

pub fn check(data: &[u8]) {
    let (single, rest) = headers::first_line(data);
    let mut headers = axum::http::HeaderMap::new();
    headers::append(&mut headers, HeaderName::from_static("b3"), single);
    for line in rest.split(|&byte| byte == b'\n') {
        headers::append_line(&mut headers, line);
    }
    b3_multi::check_headers(&headers);
    if let Some(sent) = headers.get("b3")
        && let Some(single) = spec::b3_single(sent.as_bytes())
    {
        assert_eq!(
            fuzzing::read_b3(&headers),
            Some(single),
            "a readable b3 header ({sent:?}) must win over the others in {headers:?}"
        );
    }
}
