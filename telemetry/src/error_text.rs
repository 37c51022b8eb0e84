//! An error as one line of text, with its causes: `reqwest` keeps the
//! reason a request failed ("connection refused") out of its own message
//! ("error sending request"), in the error's `source` chain.

/// `error`'s message, then each of its causes, separated by `: `.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
