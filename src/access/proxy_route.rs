//! [`ProxyRoute`]: a proxy the clients of a backend dial instead of the
//! server, telling it which user each connection is.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// What a proxy learns from the clients that dial it.
pub(crate) trait ProxyRegistry: fmt::Debug + fmt::Display + Send + Sync {
    /// The connection from `client` (its local address) is `user`'s.
    fn register(&self, client: SocketAddr, user: &str);
}

/// A proxy in front of a backend: its clients open their TCP connection to
/// it, and say from which local address each user connects, so a fault
/// for one user reaches that user's connections without parsing them. The
/// URL, its host name for TLS and the handshake stay the backend's.
/// Made by [`FaultProxy::backend`](crate::faults::FaultProxy::backend).
#[derive(Debug, Clone)]
pub struct ProxyRoute {
    pub(crate) addr: SocketAddr,
    pub(crate) registry: Arc<dyn ProxyRegistry>,
}

impl ProxyRoute {
    /// Opens a TCP connection to the proxy and tells it the connection is
    /// `user`'s (if known), before a byte is sent.
    pub(crate) async fn dial(&self, user: Option<&str>) -> std::io::Result<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await?;
        if let Some(user) = user {
            self.registry.register(tcp.local_addr()?, user);
        }
        Ok(tcp)
    }

    /// The proxy's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Display for ProxyRoute {
    /// `through the fault proxy at 127.0.0.1:40123 (latency 200ms downstream)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "through the fault proxy at {} ({})",
            self.addr, self.registry
        )
    }
}
