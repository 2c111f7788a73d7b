//! TLS for the servers and clients of the crate: rustls with the `ring`
//! provider, chosen explicitly (no process-wide default is read or set),
//! certificates and keys from PEM, Mozilla's roots (`webpki-roots`) for
//! clients, and ALPN for HTTP/2 and HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The PEM text holds no certificate, or one that cannot be read.
    #[error("no certificate in the PEM text{0}")]
    Certificate(String),
    /// The PEM text holds no private key, or one that cannot be read.
    #[error("no private key (PKCS#8, PKCS#1 or SEC1) in the PEM text{0}")]
    Key(String),
    /// rustls refused the certificate and key, or a root.
    #[error("TLS: {0}")]
    Rustls(String),
}

/// A server's certificate chain and private key.
///
/// ```no_run
/// use cloud_report_proto::rest::TlsIdentity;
///
/// let identity = TlsIdentity::load("server.pem", "server.key")?;
/// # Ok::<(), cloud_report_proto::rest::TlsError>(())
/// ```
#[derive(Debug)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.display().to_string(),
        error,
    })
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(format!(": {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate(String::new()));
    }
    Ok(chain)
}

impl TlsIdentity {
    /// From PEM text: the certificate chain (leaf first) and the key.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        Ok(Self {
            chain: certificates(chain)?,
            key: PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Key(format!(": {e}")))?,
        })
    }

    /// From PEM files.
    pub fn load(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        Self::from_pem(&read(chain.as_ref())?, &read(key.as_ref())?)
    }

    #[cfg(feature = "rest")]
    /// The server configuration: ring, TLS 1.2 and 1.3, ALPN `h2` then
    /// `http/1.1`.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Adds the platform's certificate store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` first, as `rustls-native-certs` reads it). A store that
/// yields no usable certificate is an error: the caller asked for it.
#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut rustls::RootCertStore) -> Result<(), TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(TlsError::Rustls(format!(
            "no usable certificate in the platform's certificate store{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        )));
    }
    Ok(())
}

/// Without the `native-roots` feature no builder asks for them.
#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_roots: &mut rustls::RootCertStore) -> Result<(), TlsError> {
    Ok(())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // ring is the crate's provider; rustls 0.23.48 deprecates its
    // default_provider for lacking post-quantum key exchange only.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// A client configuration trusting Mozilla's roots, the platform's when
/// `native_roots` asks for them, and the PEM certificates given (a test's
/// own CA, say), with ALPN `h2` then `http/1.1`.
pub(crate) fn client_config(
    extra_roots: &[Vec<u8>],
    native_roots: bool,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if native_roots {
        add_native_roots(&mut roots)?;
    }
    for pem in extra_roots {
        for certificate in certificates(pem)? {
            roots
                .add(certificate)
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
