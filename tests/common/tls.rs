//! Real TLS on loopback for the tests: certificates made at test time with
//! rcgen, and a TLS listener in front of any TCP server.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A test's own CA, a server certificate it signed for `localhost` and
/// `127.0.0.1`, and a client certificate it signed, as PEM files in a
/// fresh directory.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA's certificate: what `tls_ca_file` names.
    pub ca_file: PathBuf,
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    ca: CertificateDer<'static>,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn key_usage(params: &mut CertificateParams, usage: ExtendedKeyUsagePurpose) {
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ws-harness-pki-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("ws-harness test CA {name}"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        key_usage(&mut params, ExtendedKeyUsagePurpose::ServerAuth);
        let server_cert = params.signed_by(&server_key, &ca).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ws-harness test client");
        key_usage(&mut params, ExtendedKeyUsagePurpose::ClientAuth);
        let client_cert = params.signed_by(&client_key, &ca).unwrap();

        let write = |file: &str, text: String| {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        };
        Self {
            ca_file: write("ca.pem", ca.pem()),
            server_cert_file: write("server.pem", server_cert.pem()),
            server_key_file: write("server.key", server_key.serialize_pem()),
            client_cert_file: write("client.pem", client_cert.pem()),
            client_key_file: write("client.key", client_key.serialize_pem()),
            ca: ca.der().clone(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
            dir,
        }
    }

    /// A rustls server config with the server certificate; with
    /// `client_auth`, client certificates signed by the CA are required.
    pub fn server_config(&self, client_auth: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        Arc::new(
            builder
                .with_single_cert(vec![self.server_cert.clone()], key)
                .unwrap(),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener on `127.0.0.1` in front of the TCP server at `backend`: TLS
/// ends here (or, for [`Relay::plain`], nothing does) and the bytes go on
/// as they are. Stops when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    /// Connections accepted (for TLS: handshakes that completed).
    pub handshakes: Arc<AtomicU64>,
    tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// TLS with `config` in front of `backend`.
    pub async fn tls(config: Arc<rustls::ServerConfig>, backend: SocketAddr) -> Self {
        Self::start(Some(TlsAcceptor::from(config)), backend).await
    }

    /// The same relay without TLS: the `ws://` baseline of a `wss://` one.
    pub async fn plain(backend: SocketAddr) -> Self {
        Self::start(None, backend).await
    }

    async fn start(acceptor: Option<TlsAcceptor>, backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&handshakes);
        let tls = acceptor.is_some();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                tcp.set_nodelay(true).unwrap();
                let (acceptor, counted) = (acceptor.clone(), Arc::clone(&counted));
                tokio::spawn(async move {
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    plain.set_nodelay(true).unwrap();
                    match acceptor {
                        Some(acceptor) => {
                            let Ok(mut tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            counted.fetch_add(1, Ordering::Relaxed);
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                        }
                        None => {
                            counted.fetch_add(1, Ordering::Relaxed);
                            let mut tcp = tcp;
                            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut plain).await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            handshakes,
            tls,
            task,
        }
    }

    /// `wss://localhost:PORT/ws`, or `ws://` for a plain relay.
    pub fn url(&self) -> url::Url {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://localhost:{}/ws", self.addr.port())
            .parse()
            .unwrap()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
