//! TLS settings for the replication connection and the rustls client configuration they make.
//!
//! The modes mirror MySQL's `--ssl-mode`: `Disabled`, `Preferred` (TLS when the server offers
//! it, certificate not checked), `Required` (TLS or fail, certificate not checked),
//! `VerifyCa` (certificate must chain to the configured CA; the host name is not checked, which
//! suits MySQL's auto-generated certificates whose CN is not a host name) and
//! `VerifyIdentity` (chain and host name). Unverified modes still check the handshake
//! signatures, so the channel is encrypted, just not authenticated. No I/O besides reading the
//! CA file; the TLS handshake itself runs in `connection`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::error::{ProtocolError, Result};

/// How to use TLS, as MySQL's `--ssl-mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    Disabled,
    /// TLS when the server supports it, without certificate verification.
    #[default]
    Preferred,
    /// TLS or fail, without certificate verification.
    Required,
    /// TLS with a certificate chaining to `ca_file`; host name not checked.
    VerifyCa,
    /// TLS with a certificate chaining to `ca_file` and matching the host name.
    VerifyIdentity,
}

/// TLS settings of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: TlsMode,
    /// PEM file with the CA certificate(s); needed by `VerifyCa` and `VerifyIdentity`.
    pub ca_file: Option<PathBuf>,
    /// Name to verify and send as SNI; defaults to the host part of the address.
    pub server_name: Option<String>,
    /// Client certificate chain (PEM) presented to the server (MySQL's `--ssl-cert`), for
    /// accounts `REQUIRE X509`/`SUBJECT`; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, MySQL's `--ssl-key`).
    pub key_file: Option<PathBuf>,
    /// Send caching_sha2_password's full-authentication password in clear inside TLS whose
    /// certificate was not verified (`Preferred`/`Required`): a man in the middle presenting
    /// any certificate reads it. Off by default: full authentication then needs a verified
    /// certificate or the server's RSA key (`--allow-unverified-tls` to opt in).
    pub allow_unverified: bool,
}

impl TlsOptions {
    pub fn disabled() -> TlsOptions {
        TlsOptions {
            mode: TlsMode::Disabled,
            ..TlsOptions::default()
        }
    }

    pub fn with_mode(mode: TlsMode) -> TlsOptions {
        TlsOptions {
            mode,
            ..TlsOptions::default()
        }
    }

    /// Whether TLS must be used (fail if the server does not offer it).
    pub fn required(&self) -> bool {
        !matches!(self.mode, TlsMode::Disabled | TlsMode::Preferred)
    }

    /// Whether TLS should be used when the server offers it.
    pub fn wanted(&self) -> bool {
        self.mode != TlsMode::Disabled
    }

    /// Whether the server's certificate is verified (against `ca_file`), so that what is sent
    /// inside the session reaches the server and no one else.
    pub fn verifies(&self) -> bool {
        matches!(self.mode, TlsMode::VerifyCa | TlsMode::VerifyIdentity)
    }
}

fn tls_err(what: &'static str, detail: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Tls {
        what,
        detail: detail.to_string(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_roots(opts: &TlsOptions) -> Result<RootCertStore> {
    let path = opts.ca_file.as_ref().ok_or_else(|| {
        tls_err(
            "configuration",
            format!(
                "tls mode {:?} verifies the server certificate and needs a CA file (ca_file)",
                opts.mode
            ),
        )
    })?;
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err("CA file", format!("cannot read {}: {e}", path.display())))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| tls_err("CA file", format!("bad PEM in {}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| tls_err("CA file", format!("{}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(tls_err(
            "CA file",
            format!("{} holds no certificate", path.display()),
        ));
    }
    Ok(roots)
}

/// The client certificate chain and key of `opts`, when given (both or neither).
fn client_identity(
    opts: &TlsOptions,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    let (cert, key) = match (&opts.cert_file, &opts.key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(tls_err(
                "configuration",
                "a client certificate needs both the certificate (ssl-cert) and its key (ssl-key)",
            ));
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| {
            tls_err(
                "client certificate",
                format!("cannot read {}: {e}", cert.display()),
            )
        })?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            tls_err(
                "client certificate",
                format!("bad PEM in {}: {e}", cert.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(tls_err(
            "client certificate",
            format!("{} holds no certificate", cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        tls_err(
            "client key",
            format!("cannot read a private key from {}: {e}", key.display()),
        )
    })?;
    Ok(Some((chain, key)))
}

/// Finish a client configuration: with the client certificate of `opts`, or none.
fn with_identity(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    opts: &TlsOptions,
) -> Result<ClientConfig> {
    match client_identity(opts)? {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err("client certificate", e)),
    }
}

/// A rustls server configuration: the certificate chain `cert` and its key `key` (PEM), and,
/// with `client_ca`, mutual TLS: every client must present a certificate chaining to it.
/// gapfill's two servers use it (the replication source `serve`, the daemon's HTTP endpoint).
pub fn server_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>> {
    let identity = TlsOptions {
        cert_file: Some(cert.to_path_buf()),
        key_file: Some(key.to_path_buf()),
        ..TlsOptions::default()
    };
    let (chain, key) = client_identity(&identity)?
        .ok_or_else(|| tls_err("certificate", "no certificate and key given"))?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("configuration", e))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = load_roots(&TlsOptions {
                mode: TlsMode::VerifyCa,
                ca_file: Some(ca.to_path_buf()),
                ..TlsOptions::default()
            })?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| tls_err("client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("certificate and key", format!("{}: {e}", cert.display())))?;
    Ok(Arc::new(config))
}

/// Build the rustls client configuration for `opts` (whose mode is not `Disabled`).
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("configuration", e))?;
    let config = match opts.mode {
        TlsMode::Disabled | TlsMode::Preferred | TlsMode::Required => with_identity(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCertVerification(provider))),
            opts,
        )?,
        TlsMode::VerifyCa => {
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(opts)?), provider)
                    .build()
                    .map_err(|e| tls_err("configuration", e))?;
            with_identity(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnlyVerification(inner))),
                opts,
            )?
        }
        TlsMode::VerifyIdentity => {
            with_identity(builder.with_root_certificates(load_roots(opts)?), opts)?
        }
    };
    Ok(Arc::new(config))
}

/// The name to present and verify: the configured one, else the host of `addr`.
pub fn server_name(opts: &TlsOptions, addr: &str) -> Result<ServerName<'static>> {
    let host = match &opts.server_name {
        Some(n) => n.as_str(),
        None => host_of(addr),
    };
    ServerName::try_from(host.to_string())
        .map_err(|e| tls_err("server name", format!("'{host}': {e}")))
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    }
}

/// Accepts any certificate but checks the handshake signatures (encryption without
/// authentication: `Preferred`/`Required`).
#[derive(Debug)]
struct NoCertVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

/// Verifies the chain to the configured CA and ignores a host name mismatch (`VerifyCa`).
#[derive(Debug)]
struct ChainOnlyVerification(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyVerification {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the chain before the name: a name error means the chain is good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_needs_its_key_and_readable_files() {
        let half = TlsOptions {
            mode: TlsMode::Required,
            cert_file: Some("/nonexistent/c.pem".into()),
            ..TlsOptions::default()
        };
        let e = client_config(&half).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("ssl-key"), "{e}");
        let missing = TlsOptions {
            key_file: Some("/nonexistent/k.pem".into()),
            ..half
        };
        let e = client_config(&missing).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_of("127.0.0.1:13306"), "127.0.0.1");
        assert_eq!(host_of("db.example:3306"), "db.example");
        assert_eq!(host_of("[::1]:3306"), "::1");
        assert_eq!(host_of("db"), "db");
        assert_eq!(host_of("::1"), "::1");
    }

    #[test]
    fn configs_build() {
        assert!(client_config(&TlsOptions::with_mode(TlsMode::Required)).is_ok());
        let e = client_config(&TlsOptions::with_mode(TlsMode::VerifyCa)).unwrap_err();
        assert!(e.to_string().contains("needs a CA file"));
        let opts = TlsOptions {
            mode: TlsMode::VerifyIdentity,
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        assert!(
            client_config(&opts)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
        assert!(server_name(&TlsOptions::default(), "127.0.0.1:1").is_ok());
        assert!(TlsOptions::with_mode(TlsMode::VerifyCa).required());
        assert!(!TlsOptions::default().required());
        assert!(TlsOptions::default().wanted());
    }
}
