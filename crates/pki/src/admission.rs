//! The Admission extension as gematik uses it in SMC-B certificates:
//!
//! ```text
//! AdmissionSyntax ::= SEQUENCE { admissionAuthority GeneralName OPTIONAL,
//!                                contentsOfAdmissions SEQUENCE OF Admissions }
//! Admissions ::= SEQUENCE { admissionAuthority [0] EXPLICIT GeneralName OPTIONAL,
//!                           namingAuthority [1] EXPLICIT NamingAuthority OPTIONAL,
//!                           professionInfos SEQUENCE OF ProfessionInfo }
//! ProfessionInfo ::= SEQUENCE { namingAuthority [0] EXPLICIT NamingAuthority OPTIONAL,
//!                               professionItems SEQUENCE OF DirectoryString,
//!                               professionOIDs SEQUENCE OF OBJECT IDENTIFIER OPTIONAL,
//!                               registrationNumber PrintableString OPTIONAL,
//!                               addProfessionInfo OCTET STRING OPTIONAL }
//! ```
//!
//! We write exactly one Admissions with one ProfessionInfo; we read the first
//! ProfessionInfo that has both an OID and a registration number.

use yasna::models::ObjectIdentifier;
use yasna::{ASN1Error, ASN1ErrorKind, BERReader, Tag};

use crate::PkiError;

/// `id-isismtt-at-admission`
pub const ADMISSION_OID: &[u64] = &[1, 3, 36, 8, 3, 3];

/// What the extension says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfessionInfo {
    pub profession_item: String,
    pub profession_oid: String,
    pub registration_number: String,
}

fn parse_oid(s: &str) -> Result<ObjectIdentifier, PkiError> {
    let parts: Result<Vec<u64>, _> = s.split('.').map(str::parse::<u64>).collect();
    parts.map(|p| ObjectIdentifier::from_slice(&p)).map_err(|_| PkiError::Decode(format!("not an OID: {s}")))
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| b == b' ' || (b'\''..=b':').contains(&b) && b != b'*' || b == b'=' || b.is_ascii_alphabetic())
}

/// DER of the extension value.
pub fn encode(info: &ProfessionInfo) -> Result<Vec<u8>, PkiError> {
    let oid = parse_oid(&info.profession_oid)?;
    if !printable(&info.registration_number) {
        return Err(PkiError::Identity("registration number is not a PrintableString".into()));
    }
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                // contentsOfAdmissions: one Admissions
                w.next().write_sequence(|w| {
                    // professionInfos: one ProfessionInfo
                    w.next().write_sequence(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_sequence(|w| w.next().write_utf8_string(&info.profession_item));
                            w.next().write_sequence(|w| w.next().write_oid(&oid));
                            w.next().write_printable_string(&info.registration_number);
                        });
                    });
                });
            });
        });
    }))
}

fn read_directory_string(r: BERReader<'_, '_>) -> yasna::ASN1Result<String> {
    let tag = r.lookahead_tag()?;
    match tag {
        yasna::tags::TAG_UTF8STRING => r.read_utf8string(),
        yasna::tags::TAG_PRINTABLESTRING => r.read_printable_string(),
        yasna::tags::TAG_IA5STRING => r.read_ia5_string(),
        _ => Err(ASN1Error::new(ASN1ErrorKind::Invalid)),
    }
}

/// Reads the extension value; `None` if no ProfessionInfo has an OID and a registration number.
pub fn decode(der: &[u8]) -> Result<Option<ProfessionInfo>, PkiError> {
    let infos = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            // admissionAuthority GeneralName OPTIONAL: any tag that is not SEQUENCE.
            let first = r.next().read_der()?;
            let contents = if first.first() == Some(&0x30) { first } else { r.next().read_der()? };
            let mut found = Vec::new();
            yasna::parse_der(&contents, |r| {
                r.read_sequence_of(|r| {
                    r.read_sequence(|r| {
                        r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
                        r.read_optional(|r| r.read_tagged(Tag::context(1), |r| r.read_der()))?;
                        r.next().read_sequence_of(|r| {
                            let info = r.read_sequence(|r| {
                                r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
                                let mut items = Vec::new();
                                r.next().read_sequence_of(|r| {
                                    items.push(read_directory_string(r)?);
                                    Ok(())
                                })?;
                                let mut oids = Vec::new();
                                r.read_optional(|r| {
                                    r.read_sequence_of(|r| {
                                        oids.push(r.read_oid()?);
                                        Ok(())
                                    })
                                })?;
                                let number = r.read_optional(read_directory_string)?;
                                r.read_optional(|r| r.read_bytes())?;
                                Ok((items, oids, number))
                            })?;
                            found.push(info);
                            Ok(())
                        })
                    })
                })
            })?;
            Ok(found)
        })
    })
    .map_err(|e| PkiError::Identity(format!("Admission extension unreadable: {e}")))?;

    Ok(infos.into_iter().find_map(|(items, oids, number)| {
        let oid = oids.first()?;
        let number = number?;
        Some(ProfessionInfo {
            profession_item: items.into_iter().next().unwrap_or_default(),
            profession_oid: oid.components().iter().map(u64::to_string).collect::<Vec<_>>().join("."),
            registration_number: number,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let info = ProfessionInfo {
            profession_item: "Arztpraxis".into(),
            profession_oid: "1.2.276.0.76.4.50".into(),
            registration_number: "1-2098123400".into(),
        };
        let der = encode(&info).unwrap();
        assert_eq!(decode(&der).unwrap(), Some(info));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bytes in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x05", b"\x30\x80\x00\x00", b"\x04\x00"] {
            assert!(decode(bytes).is_err() || decode(bytes).unwrap().is_none());
        }
    }

    #[test]
    fn refuses_non_printable_registration_number() {
        let info = ProfessionInfo {
            profession_item: "Arztpraxis".into(),
            profession_oid: "1.2.276.0.76.4.50".into(),
            registration_number: "1-20_98".into(),
        };
        assert!(encode(&info).is_err());
    }
}
