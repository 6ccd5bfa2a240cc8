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

/// Nesting deeper than this is no Admission extension (it needs six levels).
const MAX_DER_DEPTH: usize = 16;

/// Whether `der` is a sequence of well-framed TLVs, recursively inside constructed ones:
/// every length in definite form with at most four length bytes and within its enclosing
/// value. yasna 0.6 adds a length from the input to its position without checking, which
/// overflows (a panic with overflow checks, a wrapped position without) on a length such
/// as `8a 00 00 ff ff ff ff ff ff ff ff`; found by fuzzing (`fuzz/fuzz_targets/identity.rs`).
fn well_framed(mut der: &[u8], depth: usize) -> bool {
    if depth > MAX_DER_DEPTH {
        return false;
    }
    while let Some(&identifier) = der.first() {
        let mut pos = 1;
        if identifier & 0x1f == 0x1f {
            // high tag number: base-128 digits, the last without the top bit
            loop {
                let Some(&b) = der.get(pos) else { return false };
                pos += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if pos > 5 {
                    return false;
                }
            }
        }
        let Some(&first) = der.get(pos) else { return false };
        pos += 1;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return false; // indefinite (not DER) or longer than any certificate
            }
            let Some(bytes) = der.get(pos..pos + n) else { return false };
            pos += n;
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let Some(end) = pos.checked_add(len) else { return false };
        let (Some(content), Some(rest)) = (der.get(pos..end), der.get(end..)) else { return false };
        if identifier & 0x20 != 0 && !well_framed(content, depth + 1) {
            return false;
        }
        der = rest;
    }
    true
}

/// Reads the extension value; `None` if no ProfessionInfo has an OID and a registration number.
pub fn decode(der: &[u8]) -> Result<Option<ProfessionInfo>, PkiError> {
    if !well_framed(der, 0) {
        return Err(PkiError::Identity("Admission extension unreadable: malformed DER".into()));
    }
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

    /// Found by fuzzing (`fuzz/fuzz_targets/identity.rs`): a long-form length of ten bytes
    /// made yasna add it to its position with an overflow.
    #[test]
    fn huge_lengths_are_refused_before_yasna_sees_them() {
        let crash: &[u8] = &[
            0x30, 0x5a, 0x30, 0x8a, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x29, 0x30, 0x58,
            0x70, 0x56, 0x30, 0x54, 0x30, 0x52, 0x30, 0x30, 0x16, 0x14, 0x25, 0x29, 0x30, 0x52, 0x30, 0x33, 0x16, 0x00,
            0x16, 0x00, 0x16, 0x00, 0x16, 0x00, 0x16, 0x00, 0x00, 0x10, 0x52, 0x30, 0x33, 0x16, 0x00, 0x16, 0x00, 0x16,
            0x00, 0x16, 0x00, 0x16, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x10, 0x00, 0x00,
            0x00, 0x69, 0x00, 0x16, 0x01, 0x00, 0x10, 0x00, 0x49, 0x6e, 0x2b, 0x1b, 0x08, 0x03, 0x03, 0x73, 0x74, 0x72,
            0x30, 0x33, 0x16, 0x14, 0x25, 0x33, 0x16, 0x14, 0x25, 0x29, 0xd2, 0x49, 0x25, 0x29, 0x31, 0x49, 0x6e, 0x73,
        ];
        assert!(decode(crash).is_err());
        // the same shape, shortest forms: a length of 2^64 - 1 and one of 2^32 bytes
        assert!(decode(b"\x30\x0a\x30\x88\xff\xff\xff\xff\xff\xff\xff\xff").is_err());
        assert!(decode(b"\x30\x07\x04\x85\x01\x00\x00\x00\x00").is_err());
        // nesting beyond any Admission extension
        let deep: Vec<u8> = (0..40).flat_map(|i| [0x30, 2 * (39 - i)]).collect();
        assert!(decode(&deep).is_err());
        // a real one still reads
        let info = ProfessionInfo {
            profession_item: "Krankenhaus".into(),
            profession_oid: "1.2.276.0.76.4.53".into(),
            registration_number: "5-2-KH-01".into(),
        };
        assert_eq!(decode(&encode(&info).unwrap()).unwrap(), Some(info));
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
