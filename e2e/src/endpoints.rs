//! Stand-ins for a Zipkin (or a callee) that misbehaves: one that refuses
//! connections, one that accepts and never answers.

use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};
use tokio::{net::TcpListener, task::JoinHandle};

/// A loopback port that refuses connections, held for the test: the socket
/// is bound, so no other test can take the port, but not listening, so
/// connections to it are refused. [`RefusingPort::listen`] brings it to
/// life on the same port.
///
/// It is bound with `SO_REUSEADDR`, as Tokio binds every listener: a
/// service (or [`RefusingPort::listener`]) can then listen on the same port
/// while it stays held, and when that listener closes (the process is
/// killed, say), the port is refused again, and still nobody else's. A
/// port chosen by the system (`:0`) is never one bound like this.
pub struct RefusingPort {
    socket: Socket,
    pub addr: SocketAddr,
}

impl RefusingPort {
    pub fn new() -> Self {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("a free loopback port");
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        Self { socket, addr }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port as a Zipkin span endpoint.
    pub fn zipkin_endpoint(&self) -> String {
        format!("{}/api/v2/spans", self.url())
    }

    /// A listener on the held port, which stays held when it closes.
    pub fn listener(&self) -> std::net::TcpListener {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket
            .bind(&self.addr.into())
            .expect("binding the held port again");
        socket.listen(1024).expect("listening on the held port");
        socket.set_nonblocking(true).unwrap();
        socket.into()
    }

    /// Starts listening on the held port.
    pub fn listen(self) -> TcpListener {
        self.socket.listen(128).expect("listening on the held port");
        let listener: std::net::TcpListener = self.socket.into();
        listener.set_nonblocking(true).unwrap();
        TcpListener::from_std(listener).expect("inside a Tokio runtime")
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A Zipkin endpoint that accepts connections and never answers, until it
/// is dropped.
pub struct HangingEndpoint {
    pub url: String,
    task: JoinHandle<()>,
}

impl HangingEndpoint {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v2/spans", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { url, task }
    }
}

impl Drop for HangingEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
