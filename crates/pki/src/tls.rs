//! rustls configurations for the API server and its clients.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CipherSuite, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::PkiError;

/// ring's cipher suites with AES-128-GCM first, for TLS 1.3 and 1.2; the servers choose in
/// this order, whatever the client prefers. Both AES-GCM sizes are among the suites BSI
/// TR-02102-2 recommends. The AES-256 suites hash the handshake with SHA-384, which these
/// x86-64 CPUs compute in software; SHA-256 has its own instructions (SHA-NI). With a new
/// connection per report that was 4 % of the server's CPU (docs/PERFORMANCE.md, "Fewer
/// hand-offs").
fn provider() -> Arc<CryptoProvider> {
    let mut provider = ring::default_provider();
    // A stable sort: the suites keep ring's order otherwise.
    provider.cipher_suites.sort_by_key(|suite| {
        !matches!(
            suite.suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    Arc::new(provider)
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Decode(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Decode("no certificate in PEM".into()));
    }
    Ok(certs)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Decode(format!("private key PEM: {e}")))
}

fn roots(anchors: &[String]) -> Result<Arc<RootCertStore>, PkiError> {
    let mut store = RootCertStore::empty();
    for pem in anchors {
        for cert in certs(pem)? {
            store.add(cert)?;
        }
    }
    Ok(Arc::new(store))
}

/// The server side: TLS 1.3 (1.2 allowed), a client certificate from one of `anchors` is
/// required, and certificates on the CRL at `crl` are refused. The CRL file is checked for
/// changes at every handshake (one `stat`), so `cert revoke` works without a restart.
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    anchors: &[String],
    crl: &Path,
) -> Result<Arc<ServerConfig>, PkiError> {
    if anchors.len() > 1 {
        // The CRL file is our CA's; a further CA's certificates have no revocation list here.
        tracing::warn!(
            further_cas = anchors.len() - 1,
            "client certificates of the CAs in [tls] trusted_ca_files are NOT checked for revocation \
             (see docs/SECURITY.md)"
        );
    }
    let verifier = ReloadingCrlVerifier::new(roots(anchors)?, crl.to_owned())?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    // No session resumption: a resumed session skips certificate verification, so a
    // revoked client could keep coming back on an old ticket.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The server side of the staff web interface: the same server certificate, but no client
/// certificate (people log in with password and TOTP). TLS 1.3 (1.2 allowed), no session
/// resumption, as for the API.
pub fn server_config_without_client_auth(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, PkiError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A client trusting `ca_pem`, optionally presenting a client certificate.
pub fn client_config(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<Arc<ClientConfig>, PkiError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots(&[ca_pem.to_owned()])?);
    let mut config = match identity {
        Some((cert, k)) => builder.with_client_auth_cert(certs(cert)?, key(k)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What identifies a version of the CRL file: it is replaced atomically (rename), so the
/// inode changes with every new list; size and mtime catch in-place edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    mtime_ns: i128,
}

fn stamp(path: &Path) -> std::io::Result<FileStamp> {
    let m = std::fs::metadata(path)?;
    Ok(FileStamp {
        inode: m.ino(),
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    })
}

struct Current {
    stamp: Option<FileStamp>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

/// A WebPKI client verifier rebuilt whenever the CRL file changes. If the CRL cannot be
/// read, every client is refused (fail closed) until it can.
#[derive(Debug)]
struct ReloadingCrlVerifier {
    roots: Arc<RootCertStore>,
    crl_path: PathBuf,
    hints: Vec<DistinguishedName>,
    schemes: Vec<SignatureScheme>,
    current: RwLock<CurrentCell>,
}

#[derive(Default)]
struct CurrentCell(Option<Current>);

impl std::fmt::Debug for CurrentCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCell")
    }
}

impl ReloadingCrlVerifier {
    fn new(roots: Arc<RootCertStore>, crl_path: PathBuf) -> Result<Self, PkiError> {
        let stamp = stamp(&crl_path).map_err(|e| PkiError::Decode(format!("CRL {}: {e}", crl_path.display())))?;
        let verifier = build_verifier(&roots, &crl_path)?;
        Ok(Self {
            hints: verifier.root_hint_subjects().to_vec(),
            schemes: verifier.supported_verify_schemes(),
            roots,
            crl_path,
            current: RwLock::new(CurrentCell(Some(Current { stamp: Some(stamp), verifier: Some(verifier) }))),
        })
    }

    fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let refused = || rustls::Error::General("certificate revocation list unavailable".into());
        let now = stamp(&self.crl_path).ok();
        if let Ok(cell) = self.current.read()
            && let Some(current) = &cell.0
            && current.stamp == now
            && now.is_some()
        {
            return current.verifier.clone().ok_or_else(refused);
        }
        let verifier = match now {
            Some(_) => match build_verifier(&self.roots, &self.crl_path) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(error = %e, path = %self.crl_path.display(), "CRL unreadable; refusing client certificates");
                    None
                }
            },
            None => {
                tracing::error!(path = %self.crl_path.display(), "CRL missing; refusing client certificates");
                None
            }
        };
        if let Ok(mut cell) = self.current.write() {
            cell.0 = Some(Current { stamp: now, verifier: verifier.clone() });
        }
        verifier.ok_or_else(refused)
    }
}

fn build_verifier(roots: &Arc<RootCertStore>, crl_path: &Path) -> Result<Arc<dyn ClientCertVerifier>, PkiError> {
    let pem = std::fs::read(crl_path)?;
    let crls: Vec<CertificateRevocationListDer<'static>> = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Decode(format!("CRL PEM: {e}")))?;
    if crls.is_empty() {
        return Err(PkiError::Decode("no CRL in the CRL file".into()));
    }
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .with_crls(crls)
        // Our CRL covers our CA; a trusted external CA brings its own revocation.
        .allow_unknown_revocation_status()
        .only_check_end_entity_revocation()
        .build()
        .map_err(|e| PkiError::Decode(format!("client verifier: {e}")))
}

impl ClientCertVerifier for ReloadingCrlVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()?.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
