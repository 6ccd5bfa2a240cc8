//! rustls configurations for the API server and its clients.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CipherSuite, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use sha2::{Digest, Sha256};

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
    version: Option<Arc<CrlVersion>>,
}

/// A WebPKI client verifier rebuilt whenever the CRL file changes. If the CRL cannot be
/// read, every client is refused (fail closed) until it can.
#[derive(Debug)]
struct ReloadingCrlVerifier {
    roots: Arc<RootCertStore>,
    crl_path: PathBuf,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
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
        let version = CrlVersion::load(&roots, &crl_path)?;
        Ok(Self {
            hints: version.webpki.root_hint_subjects().to_vec(),
            algorithms: provider().signature_verification_algorithms,
            roots,
            crl_path,
            current: RwLock::new(CurrentCell(Some(Current { stamp: Some(stamp), version: Some(Arc::new(version)) }))),
        })
    }

    /// The verifier of the CRL file as it is now (one `stat`), loaded again if it changed.
    fn version(&self) -> Result<Arc<CrlVersion>, rustls::Error> {
        let refused = || rustls::Error::General("certificate revocation list unavailable".into());
        let now = stamp(&self.crl_path).ok();
        if let Ok(cell) = self.current.read()
            && let Some(current) = &cell.0
            && current.stamp == now
            && now.is_some()
        {
            return current.version.clone().ok_or_else(refused);
        }
        let version = match now {
            Some(_) => match CrlVersion::load(&self.roots, &self.crl_path) {
                Ok(v) => Some(Arc::new(v)),
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
            cell.0 = Some(Current { stamp: now, version: version.clone() });
        }
        version.ok_or_else(refused)
    }
}

/// How many accepted chains one CRL version keeps (a digest and two numbers each); when
/// full it starts again empty. A client with a valid certificate could fill it with chains
/// that differ in unused intermediates: that costs only the verifications kept otherwise.
const KEPT_CHAINS: usize = 10_000;

/// Chains with more intermediates are verified every time and not kept.
const KEPT_INTERMEDIATES: usize = 2;

/// One version of the CRL file: webpki's verifier with that list, and the client chains it
/// has accepted. With a new connection per report, checking a practice's certificate and
/// the CRL's signature again at every handshake was 15 % of the server's CPU
/// (docs/PERFORMANCE.md, "Accepted client chains kept per CRL version"). webpki's verdict on
/// the same bytes against the same anchors and list changes only with time (validity is
/// its only check of time while the CRL's `nextUpdate` is not enforced, see
/// `build_verifier`), so an accepted chain is accepted again while the clock is inside the
/// validity of every certificate presented. A new CRL file is a new `CrlVersion`, so a
/// revocation ends what was kept. Refusals are not kept.
struct CrlVersion {
    webpki: Arc<dyn ClientCertVerifier>,
    accepted: Mutex<HashMap<[u8; 32], Validity>>,
}

impl CrlVersion {
    fn load(roots: &Arc<RootCertStore>, crl_path: &Path) -> Result<Self, PkiError> {
        Ok(Self { webpki: build_verifier(roots, crl_path)?, accepted: Mutex::new(HashMap::new()) })
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if intermediates.len() > KEPT_INTERMEDIATES {
            return self.webpki.verify_client_cert(end_entity, intermediates, now);
        }
        let chain = chain_digest(end_entity, intermediates);
        if let Ok(accepted) = self.accepted.lock()
            && accepted.get(&chain).is_some_and(|validity| validity.contains(now))
        {
            return Ok(ClientCertVerified::assertion());
        }
        let verified = self.webpki.verify_client_cert(end_entity, intermediates, now)?;
        if let Some(validity) = Validity::of(end_entity, intermediates)
            && let Ok(mut accepted) = self.accepted.lock()
        {
            if accepted.len() >= KEPT_CHAINS {
                accepted.clear();
            }
            accepted.insert(chain, validity);
        }
        Ok(verified)
    }
}

/// SHA-256 over the presented certificates' DER, each after its length (so no two chains
/// share the input).
fn chain_digest(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for cert in std::iter::once(end_entity).chain(intermediates) {
        digest.update((cert.len() as u64).to_be_bytes());
        digest.update(cert);
    }
    digest.finalize().into()
}

/// The time in which every presented certificate is valid (Unix seconds, both ends
/// included, as webpki checks them): the latest `notBefore` to the earliest `notAfter`.
/// Narrower than webpki's own check when an intermediate it did not use ends sooner; then
/// the chain is only verified again earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Validity {
    not_before: i64,
    not_after: i64,
}

impl Validity {
    /// `None` if a certificate cannot be read (then nothing is kept).
    fn of(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> Option<Self> {
        let mut validity = Self { not_before: i64::MIN, not_after: i64::MAX };
        for cert in std::iter::once(end_entity).chain(intermediates) {
            let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
            validity.not_before = validity.not_before.max(parsed.validity().not_before.timestamp());
            validity.not_after = validity.not_after.min(parsed.validity().not_after.timestamp());
        }
        Some(validity)
    }

    fn contains(&self, now: UnixTime) -> bool {
        i64::try_from(now.as_secs()).is_ok_and(|now| self.not_before <= now && now <= self.not_after)
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
    // The CRL's `nextUpdate` is not enforced (the default): `CrlVersion` keeps accepted
    // chains on the premise that time enters the verdict only through the certificates'
    // validity. Enforcing it would need their kept validity to end there too.
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
        self.version()?.verify(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The client's proof of its key, checked at every handshake; the CRL plays no part.
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::disallowed_methods)]

    use jiff::{SignedDuration, Timestamp};
    use oegd_domain::{ProfessionOid, TelematikId};

    use super::*;
    use crate::{ClientSubject, Revoked, create_ca, create_crl, issue_client_cert};

    fn at(t: Timestamp) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.as_second().try_into().unwrap()))
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        certs(pem).unwrap().remove(0)
    }

    /// A practice certificate valid for one hour either side of `t`, and a CRL file of its CA
    /// listing `revoked`.
    struct Setup {
        _dir: tempfile::TempDir,
        crl: PathBuf,
        roots: Arc<RootCertStore>,
        ca: crate::CaMaterial,
        practice: CertificateDer<'static>,
        serial_hex: String,
    }

    fn setup(t: Timestamp) -> Setup {
        let ca = create_ca("Test-CA", t - SignedDuration::from_hours(24), 3650).unwrap();
        let subject = ClientSubject {
            telematik_id: TelematikId::parse("1-2098123400").unwrap(),
            profession: ProfessionOid::PraxisArzt,
            org_name: "Kinderarztpraxis".into(),
        };
        let hour = SignedDuration::from_hours(1);
        let issued = issue_client_cert(&ca, &subject, t - hour, t + hour).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let crl = dir.path().join("crl.pem");
        std::fs::write(&crl, create_crl(&ca, &[], 1, t, t + SignedDuration::from_hours(24)).unwrap()).unwrap();
        Setup {
            roots: roots(std::slice::from_ref(&ca.cert_pem)).unwrap(),
            practice: der(&issued.cert_pem),
            serial_hex: issued.serial_hex,
            _dir: dir,
            crl,
            ca,
        }
    }

    #[test]
    fn an_accepted_chain_is_kept_only_inside_its_validity() {
        let t = Timestamp::now();
        let s = setup(t);
        let version = CrlVersion::load(&s.roots, &s.crl).unwrap();
        assert!(version.verify(&s.practice, &[], at(t)).is_ok());
        assert_eq!(version.accepted.lock().unwrap().len(), 1, "kept");
        // accepted again from what is kept: a verifier whose webpki refuses everyone (other
        // anchors) but with the same kept chains
        let foreign = setup(t);
        let kept = CrlVersion {
            webpki: build_verifier(&foreign.roots, &foreign.crl).unwrap(),
            accepted: Mutex::new(version.accepted.lock().unwrap().clone()),
        };
        assert!(kept.webpki.verify_client_cert(&s.practice, &[], at(t)).is_err());
        assert!(kept.verify(&s.practice, &[], at(t)).is_ok());

        let two_hours = SignedDuration::from_hours(2);
        let expired = version.verify(&s.practice, &[], at(t + two_hours)).unwrap_err();
        assert!(
            matches!(expired, rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. })),
            "{expired:?}"
        );
        let early = version.verify(&s.practice, &[], at(t - two_hours)).unwrap_err();
        assert!(
            matches!(early, rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYetContext { .. })),
            "{early:?}"
        );
        // The edges are webpki's: both ends of the validity are inside, for webpki itself and
        // for the kept chain.
        let validity = Validity::of(&s.practice, &[]).unwrap();
        assert_eq!(validity.not_after - validity.not_before, 2 * 3600);
        let second = SignedDuration::from_secs(1);
        let start = Timestamp::from_second(validity.not_before).unwrap();
        let end = Timestamp::from_second(validity.not_after).unwrap();
        for (when, inside) in [(start - second, false), (start, true), (end, true), (end + second, false)] {
            let webpki = version.webpki.verify_client_cert(&s.practice, &[], at(when)).is_ok();
            let fresh = CrlVersion::load(&s.roots, &s.crl).unwrap().verify(&s.practice, &[], at(when)).is_ok();
            assert_eq!((webpki, fresh, kept.verify(&s.practice, &[], at(when)).is_ok()), (inside, inside, inside));
        }
    }

    #[test]
    fn refusals_are_not_kept_and_other_chains_are_other_keys() {
        let t = Timestamp::now();
        let s = setup(t);
        let version = CrlVersion::load(&s.roots, &s.crl).unwrap();
        let foreign = setup(t);
        for _ in 0..2 {
            assert!(version.verify(&foreign.practice, &[], at(t)).is_err());
        }
        assert!(version.accepted.lock().unwrap().is_empty());

        assert!(version.verify(&s.practice, &[], at(t)).is_ok());
        // The same certificate with the CA certificate sent along is another chain.
        let with_ca = [der(&s.ca.cert_pem)];
        assert!(version.verify(&s.practice, &with_ca, at(t)).is_ok());
        assert_eq!(version.accepted.lock().unwrap().len(), 2);
        assert_ne!(chain_digest(&s.practice, &[]), chain_digest(&s.practice, &with_ca));
        // more intermediates than are kept: verified, not kept
        let many = [der(&s.ca.cert_pem), der(&s.ca.cert_pem), der(&s.ca.cert_pem)];
        assert!(version.verify(&s.practice, &many, at(t)).is_ok());
        assert_eq!(version.accepted.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_new_crl_file_starts_with_nothing_kept() {
        let t = Timestamp::now();
        let s = setup(t);
        let verifier = ReloadingCrlVerifier::new(s.roots.clone(), s.crl.clone()).unwrap();
        assert!(verifier.verify_client_cert(&s.practice, &[], at(t)).is_ok());
        assert!(verifier.verify_client_cert(&s.practice, &[], at(t)).is_ok());

        let revoked = [Revoked { serial_hex: s.serial_hex.clone(), revoked_at: t }];
        let tmp = s.crl.with_extension("tmp");
        std::fs::write(&tmp, create_crl(&s.ca, &revoked, 2, t, t + SignedDuration::from_hours(24)).unwrap()).unwrap();
        std::fs::rename(&tmp, &s.crl).unwrap();
        let err = verifier.verify_client_cert(&s.practice, &[], at(t)).unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)), "{err:?}");
    }
}
