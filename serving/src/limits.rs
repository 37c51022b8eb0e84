//! The limits every connection lives under, and the open-file limit that
//! the connection cap must stay below.
//!
//! The defaults follow the servers people already trust: a client gets
//! 10 s to send its headers (Go's advice for `ReadHeaderTimeout`; nginx
//! allows 60 s), a keep-alive connection may idle 60 s (nginx: 75 s), and
//! the cap keeps the service's file descriptors for the connections it
//! already serves.

use std::time::Duration;

/// The default cap never exceeds this: each waiting connection may hold up
/// to `MAX_HEADER_BYTES` (32 KiB) of headers, so 10,000 bound that memory
/// to about 320 MB, whatever the open-file limit.
const MOST_CONNECTIONS: usize = 10_000;

/// Time limits on every connection, and how many may be open at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has to send a request's headers, counted from the
    /// connection's start, or from the first byte of a later request on a
    /// kept-alive connection; then it is closed. Sending a byte now and then
    /// does not extend it (a "slowloris" client trickles its headers).
    pub header_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// At most this many connections at once; `None`: a quarter of the
    /// open-file limit (each request may need two more descriptors, for the
    /// calls it makes), at most 10,000. It must be below the open-file limit.
    pub max_connections: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
        }
    }
}

/// Why the limits cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("cannot read the open-file limit: {0}")]
    OpenFileLimit(#[source] std::io::Error),
    #[error(
        "a connection cap of {cap} must be at least 1 and below the open-file limit ({open_files}); \
         each connection needs a file descriptor, and so do the calls it makes"
    )]
    CapTooHigh { cap: usize, open_files: u64 },
}

impl ConnectionLimits {
    /// The cap for this process: raises the soft open-file limit to the
    /// hard one (as nginx, Go programs and others do at start-up; the soft
    /// limit is often a historical 1,024 while the hard one allows far
    /// more), logs both, and derives the cap, or checks the one set.
    pub(crate) fn connection_cap(&self) -> Result<usize, LimitsError> {
        let open_files = raise_open_file_limit().map_err(LimitsError::OpenFileLimit)?;
        let cap = self
            .max_connections
            .unwrap_or_else(|| default_cap(open_files));
        if cap == 0 || cap as u64 >= open_files {
            return Err(LimitsError::CapTooHigh { cap, open_files });
        }
        tracing::info!(
            max_connections = cap,
            header_timeout_ms = self.header_timeout.as_millis() as u64,
            idle_timeout_ms = self.idle_timeout.as_millis() as u64,
            "connection limits"
        );
        Ok(cap)
    }
}

/// A quarter of `open_files`, at most [`MOST_CONNECTIONS`].
fn default_cap(open_files: u64) -> usize {
    usize::try_from(open_files / 4).map_or(MOST_CONNECTIONS, |cap| cap.min(MOST_CONNECTIONS))
}

/// Raises the soft open-file limit to the hard limit, and returns it.
fn raise_open_file_limit() -> std::io::Result<u64> {
    use rlimit::Resource;
    let (soft, hard) = Resource::NOFILE.get()?;
    // Linux refuses a soft limit above fs.nr_open (2^20 by default), and
    // an "unlimited" hard limit is above it.
    let target = hard.min(1 << 20);
    if target > soft {
        Resource::NOFILE.set(target, hard)?;
    }
    let (raised, _) = Resource::NOFILE.get()?;
    tracing::info!(
        soft_limit = soft,
        hard_limit = hard,
        open_file_limit = raised,
        "open-file limit"
    );
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_is_a_quarter_of_the_open_file_limit_at_most_10_000() {
        assert_eq!(default_cap(256), 64);
        assert_eq!(default_cap(1024), 256);
        assert_eq!(default_cap(20_000), 5_000);
        assert_eq!(default_cap(1 << 20), MOST_CONNECTIONS);
    }
}
