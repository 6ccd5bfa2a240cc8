//! Who is on the other end of a connection, read from its (already verified) certificate.

use oegd_domain::{ProfessionOid, TelematikId};
use x509_parser::prelude::*;

use crate::PkiError;
use crate::admission;

/// The identity a client certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub telematik_id: TelematikId,
    pub profession: ProfessionOid,
    pub serial_hex: String,
    pub subject_cn: Option<String>,
}

/// Reads the Telematik-ID and role from the Admission extension. The certificate must
/// already have been verified (the TLS layer does that); this only interprets it.
pub fn read_identity(der: &[u8]) -> Result<PeerIdentity, PkiError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| PkiError::Decode(e.to_string()))?;
    let oid = x509_parser::der_parser::oid::Oid::from(admission::ADMISSION_OID)
        .map_err(|_| PkiError::Identity("admission OID".into()))?;
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid == oid)
        .ok_or_else(|| PkiError::Identity("no Admission extension".into()))?;
    let info = admission::decode(ext.value)?
        .ok_or_else(|| PkiError::Identity("no professionInfo with OID and registration number".into()))?;
    let telematik_id = TelematikId::parse(&info.registration_number)
        .map_err(|_| PkiError::Identity("registration number is not a Telematik-ID".into()))?;
    let profession = ProfessionOid::from_oid(&info.profession_oid)
        .ok_or_else(|| PkiError::Identity(format!("unknown profession OID {}", info.profession_oid)))?;
    let subject_cn = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
    Ok(PeerIdentity { telematik_id, profession, serial_hex: hex::encode(cert.raw_serial()), subject_cn })
}
