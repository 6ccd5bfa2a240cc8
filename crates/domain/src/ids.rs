use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier. Carries no input text: identifiers such as a
/// KVNR are personal data and must not end up in logs through an error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error(
        "Telematik-ID: 3 bis 128 Zeichen aus A–Z, a–z, 0–9, '.', '-', '_', beginnend mit einer Ziffer, mit mindestens einem '-'"
    )]
    TelematikId,
    #[error("Kreisschlüssel: genau 5 Ziffern")]
    Kreisschluessel,
    #[error("Amtlicher Gemeindeschlüssel: genau 8 Ziffern")]
    Ags,
    #[error("Krankenversichertennummer: ein Großbuchstabe und 9 Ziffern mit gültiger Prüfziffer")]
    Kvnr,
    #[error("Melde-ID: 1 bis 64 druckbare Zeichen")]
    MeldeId,
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseIdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The Telematik-ID of an institution (gematik), e.g. `1-2098765432` for a practice or
/// `5-2-261375588` for a hospital. It names the sender of every report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TelematikId(String);
string_newtype!(TelematikId);

impl TelematikId {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        let ok = (3..=128).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_digit())
            && s.contains('-')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if ok { Ok(Self(s.to_owned())) } else { Err(ParseIdError::TelematikId) }
    }
}

/// A district key (Kreisschlüssel): the first five digits of the Amtlicher
/// Gemeindeschlüssel, e.g. `13003` for Rostock. Each Gesundheitsamt serves one or more.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kreisschluessel(String);
string_newtype!(Kreisschluessel);

impl Kreisschluessel {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        if s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseIdError::Kreisschluessel)
        }
    }
}

/// An 8-digit Amtlicher Gemeindeschlüssel of a municipality.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ags(String);
string_newtype!(Ags);

impl Ags {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseIdError::Ags)
        }
    }

    /// The district: the first five digits.
    pub fn kreis(&self) -> Kreisschluessel {
        Kreisschluessel(self.0.chars().take(5).collect())
    }
}

/// The unchangeable part of a health insurance number (Krankenversichertennummer, KVNR):
/// an upper-case letter, eight digits and a check digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kvnr(String);
string_newtype!(Kvnr);

impl fmt::Debug for Kvnr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kvnr(…)") // personal data: never printed by Debug
    }
}

impl Kvnr {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        let bytes = s.as_bytes();
        let [letter, rest @ ..] = bytes else { return Err(ParseIdError::Kvnr) };
        if rest.len() != 9 || !letter.is_ascii_uppercase() || !rest.iter().all(u8::is_ascii_digit) {
            return Err(ParseIdError::Kvnr);
        }
        // The letter becomes its two-digit position in the alphabet; with the next eight
        // digits, weights 1,2,1,2,… and cross sums of the products, the sum mod 10 is the
        // check digit (the last one).
        let pos = letter - b'A' + 1;
        let mut digits = vec![pos / 10, pos % 10];
        digits.extend(rest.iter().take(8).map(|d| d - b'0'));
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let p = u32::from(*d) * if i % 2 == 0 { 1 } else { 2 };
                p / 10 + p % 10
            })
            .sum();
        let check = rest.last().map(|d| u32::from(d - b'0'));
        if check == Some(sum % 10) { Ok(Self(s.to_owned())) } else { Err(ParseIdError::Kvnr) }
    }
}

/// The registration office's stable id of a person (`melde_id` in the Meldedaten).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MeldeId(String);
string_newtype!(MeldeId);

impl fmt::Debug for MeldeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MeldeId({})", self.0)
    }
}

impl MeldeId {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        if (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseIdError::MeldeId)
        }
    }

    /// The first 16 bytes of the id, zero-padded, as a big-endian number. Ids are ASCII
    /// without NUL (see [`MeldeId::parse`]), so ids with different prefixes are ordered as
    /// their prefixes are, and only ids that share their first 16 bytes need the strings
    /// compared: sorting millions of them, or candidates of equal score, then reads no
    /// string scattered over the heap.
    pub fn order_prefix(&self) -> u128 {
        let mut head = [0u8; 16];
        head.iter_mut().zip(self.0.as_bytes()).for_each(|(h, b)| *h = *b);
        u128::from_be_bytes(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvnr_check_digits_of_the_fixtures() {
        for ok in ["B730152844", "S482153071", "J205774135", "K641089233", "M319065287", "R058731464", "H926401576"] {
            assert!(Kvnr::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["B730152845", "b730152844", "B73015284", "B7301528444", "1730152844", ""] {
            assert_eq!(Kvnr::parse(bad), Err(ParseIdError::Kvnr), "{bad}");
        }
    }

    #[test]
    fn kvnr_debug_hides_the_number() {
        let k = Kvnr::parse("B730152844").unwrap();
        assert!(!format!("{k:?}").contains("730152844"));
    }

    #[test]
    fn telematik_ids() {
        for ok in ["1-2098765432", "5-2-261375588", "9-2.58.00000040", "1-20781234500"] {
            assert!(TelematikId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1", "abc-1", "1-20 98", "1-2ä", "12345"] {
            assert!(TelematikId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ags_gives_its_district() {
        let ags = Ags::parse("13003000").unwrap();
        assert_eq!(ags.kreis().as_str(), "13003");
        assert!(Ags::parse("1300300").is_err());
        assert!(Kreisschluessel::parse("1300a").is_err());
    }

    #[test]
    fn serde_rejects_invalid_values() {
        assert!(serde_json::from_str::<Kreisschluessel>("\"13003\"").is_ok());
        assert!(serde_json::from_str::<Kreisschluessel>("\"1300\"").is_err());
    }
}
