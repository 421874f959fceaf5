//! TLS settings ([`TlsConfig`], Java `tls.enable` with `tls.client.*`): one setting for every
//! connection, to name servers and brokers alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::ValidationError;

/// How this client checks the servers' certificates, and which certificate it shows them.
///
/// Plain TCP is the default; set one of these with
/// [`ClientConfig::tls`](crate::ClientConfig::tls) to speak TLS to every name server and broker
/// (the Java client's `tls.enable=true`). Servers run with `tls.server.mode=enforcing` accept
/// only TLS; `permissive` accepts both.
///
/// ```
/// let tls = rmq::TlsConfig::with_ca_file("/etc/rocketmq/ca.pem");
/// # let _ = tls;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    trust: Trust,
    client_certificate: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Trust {
    CaFile(PathBuf),
    AnyCertificate,
}

impl TlsConfig {
    /// Trusts the certificate authorities in a PEM file (Java `tls.client.trustCertPath` with
    /// `tls.client.authServer=true`): a server must show a certificate they signed, naming
    /// the host or IP address the client connects to.
    pub fn with_ca_file(path: impl Into<PathBuf>) -> Self {
        Self {
            trust: Trust::CaFile(path.into()),
            client_certificate: None,
        }
    }

    /// Encrypts but accepts ANY server certificate, without checking who signed it or whom
    /// it names (Java's default `tls.client.authServer=false`, or `tls.test.mode.enable`).
    /// Only for development setups with self-signed certificates: anyone on the path can
    /// pose as the server.
    pub fn insecure_accept_any_certificate() -> Self {
        Self {
            trust: Trust::AnyCertificate,
            client_certificate: None,
        }
    }

    /// Shows this client's certificate chain and key (PEM files; the key PKCS#8, PKCS#1 or
    /// SEC1) to servers that ask for one (`tls.server.need.client.auth=require`; Java
    /// `tls.client.certPath` / `tls.client.keyPath`).
    pub fn client_certificate(
        mut self,
        cert_chain: impl Into<PathBuf>,
        private_key: impl Into<PathBuf>,
    ) -> Self {
        self.client_certificate = Some((cert_chain.into(), private_key.into()));
        self
    }

    /// The connector: reads the files (no network). Errors name the file and what is wrong.
    pub(crate) fn connector(&self) -> Result<tokio_rustls::TlsConnector, ValidationError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(None, e))?;
        let builder = match &self.trust {
            Trust::CaFile(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(path)? {
                    roots.add(cert).map_err(|e| tls_error(Some(path), e))?;
                }
                builder.with_root_certificates(roots)
            }
            Trust::AnyCertificate => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider))),
        };
        let config = match &self.client_certificate {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let certs = read_certs(chain)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(Some(key), e))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| tls_error(Some(chain), e))?
            }
        };
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

fn tls_error(path: Option<&Path>, e: impl std::fmt::Display) -> ValidationError {
    ValidationError::Tls {
        reason: match path {
            Some(path) => format!("{}: {e}", path.display()),
            None => e.to_string(),
        },
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ValidationError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(Some(path), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(Some(path), e))?;
    if certs.is_empty() {
        return Err(tls_error(Some(path), "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The verifier of [`TlsConfig::insecure_accept_any_certificate`]: signatures are still
/// checked (the handshake stays sound), the certificate itself is not.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_files_are_typed_errors() {
        let missing = TlsConfig::with_ca_file("/nonexistent/ca.pem")
            .connector()
            .err();
        assert!(matches!(missing, Some(ValidationError::Tls { ref reason }) if reason.contains("/nonexistent/ca.pem")), "{missing:?}");
        let empty = std::env::temp_dir().join(format!("rmq-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = TlsConfig::with_ca_file(&empty).connector().err();
        assert!(matches!(err, Some(ValidationError::Tls { .. })), "{err:?}");
        let _ = std::fs::remove_file(&empty);
        assert!(TlsConfig::insecure_accept_any_certificate().connector().is_ok());
    }
}
