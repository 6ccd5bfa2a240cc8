//! The gateway's public-key infrastructure, shaped like the Telematikinfrastruktur's.
//!
//! - [`ca`]: a development CA (ECDSA P-256) that issues server certificates, client
//!   certificates carrying the institution's identity, and CRLs.
//! - [`admission`]: the Admission extension (OID 1.3.36.8.3.3, Common PKI / gematik) that
//!   carries the Telematik-ID and the profession OID.
//! - [`identity`]: reads the identity back from a verified client certificate.
//! - [`tls`]: rustls configurations; the server requires a client certificate from a trusted
//!   CA and re-reads the CRL when it changes, so a revocation takes effect without a restart.

pub mod admission;
pub mod ca;
pub mod identity;
pub mod tls;

pub use ca::{CaMaterial, ClientSubject, Issued, Revoked, create_ca, create_crl, issue_client_cert, issue_server_cert};
pub use identity::{PeerIdentity, read_identity};
pub use tls::{client_config, server_config, server_config_without_client_auth};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid PEM or DER input: {0}")]
    Decode(String),
    #[error("certificate carries no usable identity: {0}")]
    Identity(String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("time out of range")]
    Time,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
