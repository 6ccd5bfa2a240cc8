//! Real TLS handshakes (in memory, no sockets) between the server and client configurations:
//! who gets in, and revocation without a restart.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use oegd_domain::{ProfessionOid, TelematikId};
use oegd_pki::*;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};

fn now() -> Timestamp {
    Timestamp::from_second(1_790_000_000).unwrap()
}

fn practice(ca: &CaMaterial, id: &str) -> Issued {
    let subject = ClientSubject {
        telematik_id: TelematikId::parse(id).unwrap(),
        profession: ProfessionOid::PraxisArzt,
        org_name: "Kinderarztpraxis Dr. Möller".into(),
    };
    let start = Timestamp::now() - SignedDuration::from_hours(1);
    issue_client_cert(ca, &subject, start, start + SignedDuration::from_hours(24 * 365)).unwrap()
}

/// Runs a handshake to completion; Ok(peer certificate DER) or the error of either side.
fn handshake(server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Result<Vec<u8>, String> {
    completed(server, client)?
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| "no peer certificate".to_owned())
}

/// The server's side of a completed handshake, or the error of either side.
fn completed(server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Result<ServerConnection, String> {
    let mut c = ClientConnection::new(client, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut s = ServerConnection::new(server).unwrap();
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut buf.as_slice()).map_err(|e| e.to_string())?;
            s.process_new_packets().map_err(|e| format!("server: {e}"))?;
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            c.read_tls(&mut buf.as_slice()).map_err(|e| e.to_string())?;
            c.process_new_packets().map_err(|e| format!("client: {e}"))?;
        }
        if !s.is_handshaking() && !c.is_handshaking() {
            // TLS 1.3: the server verifies the client's certificate on its last flight.
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                s.read_tls(&mut buf.as_slice()).map_err(|e| e.to_string())?;
                s.process_new_packets().map_err(|e| format!("server: {e}"))?;
            }
            return Ok(s);
        }
    }
    Err("handshake did not finish".into())
}

struct Setup {
    _dir: tempfile::TempDir,
    crl: std::path::PathBuf,
    ca: CaMaterial,
    server: Arc<rustls::ServerConfig>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca = create_ca("Test-CA", now(), 3650).unwrap();
    let server_cert = issue_server_cert(&ca, &["localhost".into(), "127.0.0.1".into()], Timestamp::now(), 30).unwrap();
    let crl = dir.path().join("crl.pem");
    std::fs::write(
        &crl,
        create_crl(&ca, &[], 1, Timestamp::now(), Timestamp::now() + SignedDuration::from_hours(24)).unwrap(),
    )
    .unwrap();
    let server =
        server_config(&server_cert.cert_pem, &server_cert.key_pem, std::slice::from_ref(&ca.cert_pem), &crl).unwrap();
    Setup { _dir: dir, crl, ca, server }
}

/// Puts `issued` on a new CRL, replacing the file atomically as `cert revoke` does.
fn revoke(s: &Setup, issued: &Issued) {
    let revoked = [Revoked { serial_hex: issued.serial_hex.clone(), revoked_at: Timestamp::now() }];
    let pem =
        create_crl(&s.ca, &revoked, 2, Timestamp::now(), Timestamp::now() + SignedDuration::from_hours(24)).unwrap();
    let tmp = s.crl.with_extension("tmp");
    std::fs::write(&tmp, pem).unwrap();
    std::fs::rename(&tmp, &s.crl).unwrap();
}

#[test]
fn a_practice_certificate_proves_its_identity() {
    let s = setup();
    let issued = practice(&s.ca, "1-2098123400");
    let client = client_config(&s.ca.cert_pem, Some((&issued.cert_pem, &issued.key_pem))).unwrap();
    let der = handshake(s.server.clone(), client).expect("handshake");
    let peer = read_identity(&der).unwrap();
    assert_eq!(peer.telematik_id.as_str(), "1-2098123400");
    assert_eq!(peer.profession, ProfessionOid::PraxisArzt);
    assert_eq!(peer.serial_hex, issued.serial_hex);
    assert_eq!(peer.subject_cn.as_deref(), Some("Kinderarztpraxis Dr. Möller"));
}

/// The server picks AES-128-GCM with SHA-256 even from a client that prefers AES-256 (as
/// rustls's own default order does): SHA-256 runs on the CPU's SHA instructions, SHA-384
/// in software.
#[test]
fn the_server_chooses_aes_128_gcm() {
    let s = setup();
    let issued = practice(&s.ca, "1-2098123400");
    let stock = Arc::new(rustls::crypto::ring::default_provider());
    assert_eq!(
        stock.cipher_suites[0].suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
        "the client's first choice"
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(s.ca.cert_pem.as_bytes()).unwrap()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
    let chain = vec![rustls::pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()];
    let client = rustls::ClientConfig::builder_with_provider(stock)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let server = completed(s.server.clone(), Arc::new(client)).expect("handshake");
    assert_eq!(
        server.negotiated_cipher_suite().map(|c| c.suite()),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
}

/// A TLS 1.2 client proves its key with the 1.2 signature; its certificate is checked the
/// same way (and kept, then refused once revoked).
#[test]
fn a_tls_1_2_client_is_verified_too() {
    let s = setup();
    let issued = practice(&s.ca, "1-2098123400");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(s.ca.cert_pem.as_bytes()).unwrap()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
    let chain = vec![rustls::pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()];
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    );
    for _ in 0..2 {
        let server = completed(s.server.clone(), client.clone()).expect("handshake");
        assert_eq!(server.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
        assert!(server.peer_certificates().is_some_and(|c| !c.is_empty()));
    }
    revoke(&s, &issued);
    assert!(completed(s.server.clone(), client).is_err());
}

#[test]
fn no_certificate_or_a_foreign_ca_is_refused() {
    let s = setup();
    let anonymous = client_config(&s.ca.cert_pem, None).unwrap();
    assert!(handshake(s.server.clone(), anonymous).is_err());

    let other = create_ca("Fremde CA", now(), 3650).unwrap();
    let foreign = practice(&other, "1-2098123400");
    let client = client_config(&s.ca.cert_pem, Some((&foreign.cert_pem, &foreign.key_pem))).unwrap();
    assert!(handshake(s.server.clone(), client).is_err());
}

#[test]
fn revocation_takes_effect_without_a_new_configuration() {
    let s = setup();
    let issued = practice(&s.ca, "1-2098123400");
    let keep = practice(&s.ca, "1-2098456700");
    let client = client_config(&s.ca.cert_pem, Some((&issued.cert_pem, &issued.key_pem))).unwrap();
    let other = client_config(&s.ca.cert_pem, Some((&keep.cert_pem, &keep.key_pem))).unwrap();
    assert!(handshake(s.server.clone(), client.clone()).is_ok());

    revoke(&s, &issued);

    let err = handshake(s.server.clone(), client).unwrap_err();
    assert!(err.contains("server"), "{err}");
    assert!(handshake(s.server.clone(), other).is_ok(), "other certificates still work");
}

#[test]
fn an_unreadable_crl_fails_closed() {
    let s = setup();
    let issued = practice(&s.ca, "1-2098123400");
    let client = client_config(&s.ca.cert_pem, Some((&issued.cert_pem, &issued.key_pem))).unwrap();
    std::fs::write(&s.crl, "kaputt").unwrap();
    assert!(handshake(s.server.clone(), client).is_err());
}

#[test]
fn a_certificate_without_admission_has_no_identity() {
    let s = setup();
    let server_cert = issue_server_cert(&s.ca, &["localhost".into()], Timestamp::now(), 1).unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(server_cert.cert_pem.as_bytes()).unwrap();
    assert!(read_identity(der.as_ref()).is_err());
    assert!(read_identity(b"not a certificate").is_err());
}

use rustls::pki_types::pem::PemObject;
