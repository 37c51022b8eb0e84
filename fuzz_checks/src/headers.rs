//! Request headers from fuzz bytes, as a server holds them once hyper has
//! read the request.
//!
//! The bytes are lines (`\n`); a line `name:value` is one header, split at
//! its first `:`, appended in order (so a name may repeat). What HTTP
//! refuses is left out, as hyper would refuse that request before any
//! layer of ours saw it: a line with no `:`, a name that is not a token,
//! a value with a control byte. A name is lower-cased and a value loses
//! its leading and trailing spaces and tabs, as hyper's parser does, and
//! at most [`MAX_HEADERS`] are kept, hyper's own limit. So every map this
//! builds is one a real request could bring, and nothing else.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// hyper's default limit on the headers of a request (HTTP/1): a request
/// with more is refused with `431`.
pub const MAX_HEADERS: usize = 100;

/// The headers `data` describes.
pub fn decode(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&byte| byte == b'\n') {
        append_line(&mut headers, line);
    }
    headers
}

/// Appends the header of one `name:value` line, if HTTP allows it.
pub fn append_line(headers: &mut HeaderMap, line: &[u8]) {
    let Some(colon) = line.iter().position(|&byte| byte == b':') else {
        return;
    };
    let Ok(name) = HeaderName::from_bytes(&line[..colon]) else {
        return;
    };
    append(headers, name, &line[colon + 1..]);
}

/// Appends `name: value`, if `value` is one HTTP allows.
pub fn append(headers: &mut HeaderMap, name: HeaderName, value: &[u8]) {
    if headers.len() >= MAX_HEADERS {
        return;
    }
    if let Ok(value) = HeaderValue::from_bytes(trim_ows(value)) {
        headers.append(name, value);
    }
}

/// `bytes` without leading or trailing spaces and tabs (HTTP's optional
/// white space, which is not part of a field's value).
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = bytes
        .iter()
        .position(|byte| !is_ows(byte))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|byte| !is_ows(byte))
        .map_or(start, |at| at + 1);
    &bytes[start..end]
}

/// The bytes that [`decode`] reads as `pairs`, in order: for seeds and
/// properties.
pub fn encode<N: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            data.push(b'\n');
        }
        data.extend_from_slice(name.as_ref().as_bytes());
        data.push(b':');
        data.extend_from_slice(value.as_ref());
    }
    data
}

/// `data`'s first line, and the rest after it (empty when there is one
/// line): the targets that fuzz one header's value take it from the first
/// line and the other headers from the rest.
pub fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&byte| byte == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_headers_as_hyper_would_hold_them() {
        let headers = decode(b"X-B3-TraceId: \tabc \nnot a header\nbad name:1\nb3:1\nb3:2\nx:\x01");
        let pairs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("x-b3-traceid", b"abc".as_slice()),
                ("b3", b"1"),
                ("b3", b"2")
            ]
        );
        assert_eq!(decode(&encode(&[("a", "1"), ("b", "2")])).len(), 2);
        assert_eq!(
            first_line(b"one\ntwo\nthree"),
            (&b"one"[..], &b"two\nthree"[..])
        );
        assert_eq!(trim_ows(b" \t "), b"");
    }

    #[test]
    fn no_more_headers_than_hyper_takes() {
        let many = vec![("x-a", "1"); 2 * MAX_HEADERS];
        assert_eq!(decode(&encode(&many)).len(), MAX_HEADERS);
    }
}
