//! TLS for `wss://` servers (staging, a `url`) and `https://` readiness
//! checks, and the crypto provider the mock's `wss://` uses.
//!
//! The provider follows rustls' advice for libraries: the process default
//! when the test binary installed one
//! (`rustls::crypto::CryptoProvider::install_default`), otherwise the one
//! the `tls-ring` (default) or `tls-aws-lc-rs` feature compiles in. It is
//! handed to every TLS config the harness builds, so the harness never sets
//! the process default and never needs it: your own choice stays yours.
//!
//! Trusted roots: the platform's verifier (`rustls-platform-verifier`: the
//! files of `SSL_CERT_FILE`/`SSL_CERT_DIR` or the distribution's bundle on
//! Linux, the Security framework on macOS, CryptoAPI on Windows), because
//! that is where a team's IT puts its private CAs and what `curl` on the
//! same machine trusts; plus `tls_ca_file`.

use crate::config::TlsSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A built TLS client setup, shared by every connection of a backend.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    trust: Trust,
}

/// Which servers a [`ClientTls`] trusts, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trust {
    Verified {
        ca_file: Option<PathBuf>,
        client_cert: bool,
    },
    Unverified,
}

/// Why a TLS setup could not be built from the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {key} {path}: {reason}")]
    Pem {
        /// The setting that names it.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A PEM file holds nothing of what the setting needs.
    #[error("{key} {path} holds no {what}; expected a PEM file with -----BEGIN {what}-----")]
    Empty {
        /// The setting that names it.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What it should hold, e.g. `CERTIFICATE`.
        what: &'static str,
    },
    /// rustls refused a certificate or key.
    #[error("{key} {path}: rustls refused it")]
    Refused {
        /// The setting that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
    /// The platform's verifier has no root certificate to verify a server with.
    #[error(
        "no trusted root certificates: the platform's store has none; set tls_ca_file to the PEM file of the server's CA"
    )]
    NoRoots {
        /// What the platform's verifier reported.
        #[source]
        source: rustls::Error,
    },
    /// No crypto provider: the test binary installed no process default and
    /// neither TLS feature of ws-harness is on.
    #[error(
        "no TLS crypto provider: turn on the ws-harness feature `tls-ring` or `tls-aws-lc-rs`, or install one with rustls::crypto::CryptoProvider::install_default before the test connects"
    )]
    NoProvider,
    /// The installed process-default provider cannot do TLS 1.2 or 1.3.
    #[error("the process-default TLS crypto provider cannot do TLS 1.2 or 1.3")]
    UnusableProvider {
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
}

/// The crypto provider of every TLS config of the harness: the process
/// default when the test binary installed one, otherwise the one the
/// `tls-ring` or `tls-aws-lc-rs` feature compiles in (`ring` when both are);
/// [`TlsError::NoProvider`] when there is neither.
pub(crate) fn provider() -> Result<Arc<CryptoProvider>, TlsError> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(Arc::clone(installed));
    }
    FEATURE_PROVIDER.clone().ok_or(TlsError::NoProvider)
}

/// The provider the TLS feature compiles in, made once.
static FEATURE_PROVIDER: std::sync::LazyLock<Option<Arc<CryptoProvider>>> =
    std::sync::LazyLock::new(|| {
        #[cfg(feature = "tls-ring")]
        #[allow(
            deprecated,
            reason = "rustls 0.23.48 deprecates ring's provider for its lack of post-quantum key exchange; `tls-aws-lc-rs` has it"
        )]
        return Some(Arc::new(rustls::crypto::ring::default_provider()));
        #[cfg(all(feature = "tls-aws-lc-rs", not(feature = "tls-ring")))]
        return Some(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        #[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
        None
    });

impl TlsSettings {
    /// Builds the TLS client setup: reads the PEM files and the platform's
    /// roots.
    ///
    /// # Errors
    /// [`TlsError`] naming the setting and the file when a file cannot be
    /// read or holds no certificate or key, or when no root is trusted.
    pub fn client(&self) -> Result<ClientTls, TlsError> {
        let provider = provider()?;
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::UnusableProvider { source })?;
        let (verifier, trust): (Arc<dyn ServerCertVerifier>, _) = if self.insecure_skip_verify {
            (Arc::new(AnyCertificate(provider)), Trust::Unverified)
        } else {
            let extra_roots = match &self.ca_file {
                Some(path) => read_certificates("tls_ca_file", path)?,
                None => Vec::new(),
            };
            let verifier =
                Verifier::new_with_extra_roots(extra_roots, provider).map_err(|source| {
                    match &self.ca_file {
                        // With a CA file there are roots, so the file was refused.
                        Some(path) => TlsError::Refused {
                            key: "tls_ca_file",
                            path: path.clone(),
                            source,
                        },
                        None => TlsError::NoRoots { source },
                    }
                })?;
            let trust = Trust::Verified {
                ca_file: self.ca_file.clone(),
                client_cert: self.client_cert.is_some(),
            };
            (Arc::new(verifier), trust)
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certificates("tls_client_cert", cert)?;
                let key_der = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| pem_error("tls_client_key", key, "PRIVATE KEY", &e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|source| TlsError::Refused {
                        key: "tls_client_key",
                        path: key.clone(),
                        source,
                    })?
            }
            // The config checks that both or neither are set.
            _ => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            trust,
        })
    }
}

fn read_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| pem_error(key, path, "CERTIFICATE", &e))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            key,
            path: path.to_owned(),
            what: "CERTIFICATE",
        });
    }
    Ok(certs)
}

fn pem_error(
    key: &'static str,
    path: &Path,
    what: &'static str,
    error: &rustls::pki_types::pem::Error,
) -> TlsError {
    match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            key,
            path: path.to_owned(),
            what,
        },
        other => TlsError::Pem {
            key,
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

impl ClientTls {
    /// The rustls config every connection of the backend uses.
    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// Whether server certificates are checked.
    #[must_use]
    pub fn verifies(&self) -> bool {
        self.trust != Trust::Unverified
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ClientTls {
    /// `TLS trusting the platform's roots and certs/ca.pem, with a client certificate`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.trust {
            Trust::Unverified => f.write_str(
                "TLS WITHOUT certificate verification (tls_insecure_skip_verify): any server is trusted",
            ),
            Trust::Verified {
                ca_file,
                client_cert,
            } => {
                f.write_str("TLS trusting the platform's roots")?;
                if let Some(path) = ca_file {
                    write!(f, " and {}", path.display())?;
                }
                if *client_cert {
                    f.write_str(", with a client certificate")?;
                }
                Ok(())
            }
        }
    }
}

/// `tls_insecure_skip_verify`: any certificate is accepted; signatures are
/// still checked, so the handshake itself is sound.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
