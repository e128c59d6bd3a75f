//! TLS for `wss://` servers (staging, a `url`) and `https://` readiness
//! checks: rustls with the `ring` provider.
//!
//! The provider is handed to every TLS config the harness builds, so the
//! harness never needs rustls' process-wide default and never sets it: a
//! test binary with both rustls providers compiled in (yours and ours), or
//! with none installed, connects without panicking, and your own choice of
//! default stays yours.
//!
//! Trusted roots: the platform's store (read once per process with
//! `rustls-native-certs`: the files of `SSL_CERT_FILE`/`SSL_CERT_DIR` or the
//! distribution's bundle on Linux, the keychain on macOS, the system store
//! on Windows), because that is where a team's IT puts its private CAs and
//! what `curl` on the same machine trusts; plus `tls_ca_file`.

use once_cell::sync::Lazy;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS settings of the configured tiers (staging, a `url`): keys
/// `tls_ca_file`, `tls_client_cert` + `tls_client_key` and
/// `tls_insecure_skip_verify`.
///
/// ```
/// use ws_harness::RealWebSocketTestConfig;
///
/// let config = RealWebSocketTestConfig::builder()
///     .without_environment()
///     .tls_ca_file("certs/staging-ca.pem")
///     .build()
///     .unwrap();
/// assert_eq!(config.tls.ca_file.as_deref(), Some(std::path::Path::new("certs/staging-ca.pem")));
/// assert!(!config.tls.insecure_skip_verify);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted beside the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate chain presented to the server (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Only by this name; the report warns.
    pub insecure_skip_verify: bool,
}

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
    /// No root certificate to verify a server with.
    #[error(
        "no trusted root certificates: the platform's store has none ({problems}); set tls_ca_file to the PEM file of the server's CA"
    )]
    NoRoots {
        /// What reading the platform's store reported.
        problems: String,
    },
}

/// The provider every TLS config of the harness is built with.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: Lazy<Arc<CryptoProvider>> =
        Lazy::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    Arc::clone(&PROVIDER)
}

/// The platform's roots, read once per process, and what went wrong
/// reading them.
fn platform_roots() -> &'static (Vec<CertificateDer<'static>>, Vec<String>) {
    static ROOTS: Lazy<(Vec<CertificateDer<'static>>, Vec<String>)> = Lazy::new(|| {
        let found = rustls_native_certs::load_native_certs();
        let problems = found.errors.iter().map(ToString::to_string).collect();
        (found.certs, problems)
    });
    &ROOTS
}

impl TlsSettings {
    /// Builds the TLS client setup: reads the PEM files and the platform's
    /// roots.
    ///
    /// # Errors
    /// [`TlsError`] naming the setting and the file when a file cannot be
    /// read or holds no certificate or key, or when no root is trusted.
    pub fn client(&self) -> Result<ClientTls, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3");
        let (builder, trust) = if self.insecure_skip_verify {
            let verifier = Arc::new(AnyCertificate(provider()));
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(verifier);
            (builder, Trust::Unverified)
        } else {
            let mut roots = RootCertStore::empty();
            let (platform, problems) = platform_roots();
            roots.add_parsable_certificates(platform.iter().cloned());
            if let Some(path) = &self.ca_file {
                for cert in read_certificates("tls_ca_file", path)? {
                    roots.add(cert).map_err(|source| TlsError::Refused {
                        key: "tls_ca_file",
                        path: path.clone(),
                        source,
                    })?;
                }
            }
            if roots.is_empty() {
                let problems = if problems.is_empty() {
                    "it is empty".to_owned()
                } else {
                    problems.join("; ")
                };
                return Err(TlsError::NoRoots { problems });
            }
            let trust = Trust::Verified {
                ca_file: self.ca_file.clone(),
                client_cert: self.client_cert.is_some(),
            };
            (builder.with_root_certificates(roots), trust)
        };
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
