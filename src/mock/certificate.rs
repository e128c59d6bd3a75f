//! A certificate made at start, for the `wss://` mock and the fault proxy
//! that ends TLS: a CA made for it, the server certificate it signs for the
//! names asked for, and the CA as a PEM file for clients, removed with the
//! server.

use super::MockError;
use crate::access::ClientTls;
use crate::config::TlsSettings;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A CA of its own and the server certificate it signed, and the CA as a
/// file for clients, removed with the server.
pub(crate) struct Certificate {
    dir: PathBuf,
    pub(super) ca_file: PathBuf,
    /// The TLS setup of clients that trust the CA.
    pub(crate) client_tls: ClientTls,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Certificate {
    /// A certificate for `names` (host names or IP addresses).
    pub(crate) fn make(names: &[&str]) -> Result<Self, MockError> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let failed = MockError::Certificate;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ws-harness mock server CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(failed)?)
            .map_err(failed)?;
        let key = KeyPair::generate().map_err(failed)?;
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let leaf = CertificateParams::new(names)
            .map_err(failed)?
            .signed_by(&key, &ca)
            .map_err(failed)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ws-harness-mock-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let ca_file = dir.join("ca.pem");
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&ca_file, pem_certificate(ca.der())))
            .map_err(|source| MockError::CaFile {
                path: ca_file.clone(),
                source,
            })?;
        let client_tls = TlsSettings {
            ca_file: Some(ca_file.clone()),
            ..TlsSettings::default()
        }
        .client()
        .map_err(|e| MockError::Tls(Box::new(e)))?;
        Ok(Self {
            dir,
            ca_file,
            client_tls,
            chain: vec![leaf.der().clone()],
            key: key.serialize_der(),
        })
    }

    /// The server side of TLS with this certificate.
    pub(crate) fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, MockError> {
        let provider = crate::access::provider().map_err(|e| MockError::Tls(Box::new(e)))?;
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(self.key.clone());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.chain.clone(), key.into())
            })
            .map_err(MockError::ServerTls)?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// A DER certificate as a PEM block (RFC 7468): base64 in lines of 64.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl std::fmt::Debug for Certificate {
    /// The CA file only: the key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}
