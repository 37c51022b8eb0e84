//! Clients as an attacker writes them: connections that never finish their
//! headers, one that trickles them a byte at a time, and one that keeps a
//! connection open and idle. Each measures when the service closed it,
//! from when this side opened it (or got its answer), so a test can hold
//! the service to its limits.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

/// How long a connection may take to be established (the kernel completes
/// it even before the service accepts it, unless its queue is full).
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// The start of a request's headers, never ended by the blank line.
pub const UNFINISHED_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: attacker\r\n";

/// Connections that each sent [`UNFINISHED_HEAD`] and wait: each ends
/// only when the service closes it.
pub struct StalledConnections {
    closed: JoinSet<Duration>,
    open: Arc<AtomicUsize>,
}

impl StalledConnections {
    /// Opens `count` connections to `addr`, one after the other, each
    /// sending the start of its headers.
    pub async fn open(addr: SocketAddr, count: usize) -> Self {
        let open = Arc::new(AtomicUsize::new(0));
        let mut closed = JoinSet::new();
        for _ in 0..count {
            let opened = Instant::now();
            let connecting = tokio::time::timeout(CONNECT_LIMIT, TcpStream::connect(addr));
            let mut stream = match connecting.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => panic!("connection {} to {addr}: {error}", closed.len() + 1),
                Err(_) => panic!(
                    "connection {} to {addr} not accepted within {CONNECT_LIMIT:?}",
                    closed.len() + 1
                ),
            };
            // The service may already have closed it to make room: a failed
            // write is a closed connection, seen below.
            let _ = stream.write_all(UNFINISHED_HEAD).await;
            open.fetch_add(1, Ordering::Relaxed);
            let still_open = open.clone();
            closed.spawn(async move {
                let lasted = until_closed(&mut stream, opened).await;
                still_open.fetch_sub(1, Ordering::Relaxed);
                lasted
            });
        }
        Self { closed, open }
    }

    /// How many the service has not closed yet.
    pub fn still_open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Waits until the service has closed every one, and gives how long
    /// each lasted; fails the test if that takes longer than `limit`.
    pub async fn wait_until_closed(mut self, limit: Duration) -> Vec<Duration> {
        let waited = tokio::time::timeout(limit, async {
            let mut lasted = Vec::new();
            while let Some(one) = self.closed.join_next().await {
                lasted.push(one.expect("the watching task"));
            }
            lasted
        })
        .await;
        waited.unwrap_or_else(|_| {
            panic!(
                "{} stalled connections were still open after {limit:?}",
                self.still_open()
            )
        })
    }
}

/// Sends a request's headers one byte every `every`, never reaching their
/// end, and gives how long the connection lasted before the service
/// closed it; fails the test if it is still open after `limit`.
pub async fn trickle(addr: SocketAddr, every: Duration, limit: Duration) -> Duration {
    let head: Vec<u8> = [UNFINISHED_HEAD, &[b'x'; 1000]].concat();
    let opened = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let sending = async {
        for byte in &head {
            if write.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
        }
    };
    tokio::select! {
        lasted = until_closed(&mut read, opened) => lasted,
        () = sending => panic!("the service read {} bytes of headers and never cut them off", head.len()),
        () = tokio::time::sleep(limit) => panic!("still open after {limit:?}, one byte every {every:?}"),
    }
}

/// Sends one complete request for `path`, reads the whole answer, then
/// keeps the connection idle; gives how long after the request was sent
/// the service closed it (its idle time starts later, once it has
/// answered), and fails the test if it is still open after `limit`.
pub async fn idle_after_one_request(addr: SocketAddr, path: &str, limit: Duration) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: client\r\n\r\n");
    let sent = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !whole_answer(&answer) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the answer: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    tokio::time::timeout(limit, until_closed(&mut stream, sent))
        .await
        .unwrap_or_else(|_| panic!("an idle connection still open after {limit:?}"))
}

/// Whether `answer` holds a status line, headers and a body as long as its
/// `content-length` says.
fn whole_answer(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

/// Reads until the service closes the connection (or resets it); gives
/// the time since `since`.
async fn until_closed(stream: &mut (impl AsyncRead + Unpin), since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    since.elapsed()
}
