//! The development CA: the same certificate shapes the TI uses, issued locally.

use jiff::Timestamp;
use oegd_domain::{ProfessionOid, TelematikId};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;

use crate::PkiError;
use crate::admission::{self, ADMISSION_OID, ProfessionInfo};

/// The CA's certificate and private key, both PEM.
#[derive(Clone)]
pub struct CaMaterial {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// A freshly issued certificate with its new key.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    /// Lower-case hex of the serial number as encoded in the certificate.
    pub serial_hex: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

/// Whose client certificate this is.
#[derive(Debug, Clone)]
pub struct ClientSubject {
    pub telematik_id: TelematikId,
    pub profession: ProfessionOid,
    pub org_name: String,
}

/// A revoked certificate, for the CRL.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub serial_hex: String,
    pub revoked_at: Timestamp,
}

fn odt(t: Timestamp) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|_| PkiError::Time)
}

fn plus_days(t: Timestamp, days: u32) -> Result<Timestamp, PkiError> {
    t.checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days))).map_err(|_| PkiError::Time)
}

/// 16 random bytes, positive and without a leading zero, so that the encoded serial is
/// exactly these bytes.
fn random_serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn issuer(ca: &CaMaterial) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key = KeyPair::from_pem(&ca.key_pem)?;
    Ok(Issuer::from_ca_cert_pem(&ca.cert_pem, key)?)
}

fn finish(
    params: &CertificateParams,
    key: &KeyPair,
    ca: &Issuer<'_, KeyPair>,
    nb: Timestamp,
    na: Timestamp,
) -> Result<Issued, PkiError> {
    let cert = params.signed_by(key, ca)?;
    let serial_hex = params.serial_number.as_ref().map(|s| hex::encode(s.to_bytes())).unwrap_or_default();
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), serial_hex, not_before: nb, not_after: na })
}

/// A self-signed CA (ECDSA P-256) valid for `days` from `now`.
pub fn create_ca(common_name: &str, now: Timestamp, days: u32) -> Result<CaMaterial, PkiError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, "oegd-gateway");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = odt(now)?;
    params.not_after = odt(plus_days(now, days)?)?;
    params.serial_number = Some(random_serial());
    params.key_identifier_method = KeyIdMethod::Sha256;
    let cert = params.self_signed(&key)?;
    Ok(CaMaterial { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// The gateway's own TLS server certificate for the given DNS names or IP addresses.
pub fn issue_server_cert(ca: &CaMaterial, names: &[String], now: Timestamp, days: u32) -> Result<Issued, PkiError> {
    let ca = issuer(ca)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, names.first().map(String::as_str).unwrap_or("oegd-gateway"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let not_after = plus_days(now, days)?;
    params.not_before = odt(now)?;
    params.not_after = odt(not_after)?;
    params.serial_number = Some(random_serial());
    finish(&params, &key, &ca, now, not_after)
}

/// A client certificate for an institution: the Telematik-ID in the subject and, with the
/// role, in the Admission extension, as on an SMC-B.
pub fn issue_client_cert(
    ca: &CaMaterial,
    subject: &ClientSubject,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<Issued, PkiError> {
    let ca = issuer(ca)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, subject.org_name.as_str());
    params.distinguished_name.push(DnType::OrganizationName, subject.org_name.as_str());
    // The SMC-B puts the Telematik-ID into the subject as well; we use serialNumber (2.5.4.5).
    params.distinguished_name.push(DnType::CustomDnType(vec![2, 5, 4, 5]), subject.telematik_id.as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let admission = admission::encode(&ProfessionInfo {
        profession_item: subject.profession.profession_item().to_owned(),
        profession_oid: subject.profession.oid().to_owned(),
        registration_number: subject.telematik_id.as_str().to_owned(),
    })?;
    params.custom_extensions = vec![CustomExtension::from_oid_content(ADMISSION_OID, admission)];
    params.not_before = odt(not_before)?;
    params.not_after = odt(not_after)?;
    params.serial_number = Some(random_serial());
    finish(&params, &key, &ca, not_before, not_after)
}

/// A CRL (PEM) listing the revoked certificates. `number` must grow with every new list.
pub fn create_crl(
    ca: &CaMaterial,
    revoked: &[Revoked],
    number: u64,
    now: Timestamp,
    next_update: Timestamp,
) -> Result<String, PkiError> {
    let ca = issuer(ca)?;
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            let serial =
                hex::decode(&r.serial_hex).map_err(|e| PkiError::Decode(format!("serial {}: {e}", r.serial_hex)))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: odt(r.revoked_at)?,
                reason_code: None,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let number_bytes: Vec<u8> = number.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
    let params = CertificateRevocationListParams {
        this_update: odt(now)?,
        next_update: odt(next_update)?,
        crl_number: SerialNumber::from_slice(if number_bytes.is_empty() { &[0] } else { &number_bytes }),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(&ca)?.pem()?)
}
