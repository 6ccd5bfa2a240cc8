//! Fellegi–Sunter weights and the per-field comparison a decision keeps.
//!
//! A field's weight at a level is `log2(m / u)`: `m` is the probability of that level when
//! report and registered child are the same child, `u` when they are two different children.
//! A candidate's score is the sum of its fields' weights (bits of evidence). The `m`/`u`
//! values are below, beside each weight; `tests::weights_follow_from_m_and_u` checks that
//! the constants are `log2(m/u)`.
//!
//! Full agreement reproduces the reference values of a German registry: given name ≈ 12
//! bits, family name ≈ 15, birth date 4.9 (day) + 3.6 (month) + 2.6 (year) = 11.1 bits in
//! a 0–6-year cohort.
//!
//! | field | level | m | u | weight (bits) |
//! |---|---|---|---|---|
//! | given name | exact | 0.88 | 2⁻¹² | +11.82 |
//! | | close (typo) | 0.05 | 0.0005 | +6.64 |
//! | | part of a compound | 0.02 | 0.0002 | +6.64 |
//! | | phonetic | 0.015 | 0.0015 | +3.32 |
//! | | similar (JW ≥ 0.85) | 0.015 | 0.0075 | +1.00 |
//! | | disagree | 0.02 | 0.99 | −5.63 |
//! | family name | exact | 0.90 | 2⁻¹⁵ | +14.85 |
//! | | close (typo) | 0.05 | 0.00008 | +9.29 |
//! | | part of a compound | 0.02 | 0.0001 | +7.64 |
//! | | phonetic | 0.015 | 0.0005 | +4.91 |
//! | | similar | 0.01 | 0.005 | +1.00 |
//! | | disagree | 0.005 | 0.994 | −7.64 |
//! | birth date | exact | 0.985 | 2⁻¹¹·¹ | +11.08 |
//! | | day/month swapped | 0.005 | 1/2190 | +3.45 |
//! | | two digits transposed | 0.005 | 3/2190 | +1.87 |
//! | | one digit mistyped | 0.005 | 15/2190 | −0.45 |
//! | | differs (KVNR candidates only) | 0.005 | 1 | −7.64 |
//!
//! `u` of a date error is the share of the cohort's ~2190 birth dates that are such a
//! variant of a given date (1 swap, ~3 valid transpositions, ~15 valid one-digit variants in
//! the cohort's years).
//!
//! The **birth name** on a card is compared with the registered birth name and family name.
//! It is strongly correlated with the family name (usually the same), so its conditional
//! weights are deliberately small: +1 when it agrees (any level down to phonetic), 0 when
//! similar or missing, −3 when it disagrees.
//!
//! **Swapped names** (given name in the family-name field and vice versa) are scored
//! crosswise when that scores higher, minus 3 bits (a judgement: about 0.5 % of cards swap
//! the names, and a crosswise agreement is rarer among different children than a straight
//! one, so the two nearly cancel).
//!
//! **KVNR**: a remembered KVNR (confirmed earlier) equal to the card's is decisive (+30
//! bits: m ≈ 1, u ≈ 10⁻⁹); a different one weighs −10 bits (m ≈ 0.001: a mistyped number or
//! a sibling's card; u ≈ 1).

use serde::{Deserialize, Serialize};

use crate::compare::{DateLevel, NameLevel};

/// Weights of the given name, per level.
pub fn given_weight(level: NameLevel) -> f64 {
    match level {
        NameLevel::Exact => 11.82,
        NameLevel::Close | NameLevel::Part => 6.64,
        NameLevel::Phonetic => 3.32,
        NameLevel::Similar => 1.0,
        NameLevel::Disagree => -5.63,
        NameLevel::Missing => 0.0,
    }
}

/// Weights of the family name, per level.
pub fn family_weight(level: NameLevel) -> f64 {
    match level {
        NameLevel::Exact => 14.85,
        NameLevel::Close => 9.29,
        NameLevel::Part => 7.64,
        NameLevel::Phonetic => 4.91,
        NameLevel::Similar => 1.0,
        NameLevel::Disagree => -7.64,
        NameLevel::Missing => 0.0,
    }
}

/// Weights of the card's birth name (conditional on the family name, see the module doc).
pub fn birth_name_weight(level: NameLevel) -> f64 {
    match level {
        NameLevel::Exact | NameLevel::Close | NameLevel::Part | NameLevel::Phonetic => 1.0,
        NameLevel::Similar | NameLevel::Missing => 0.0,
        NameLevel::Disagree => -3.0,
    }
}

/// Weights of the birth date, per level.
pub fn date_weight(level: DateLevel) -> f64 {
    match level {
        DateLevel::Exact => 11.08,
        DateLevel::DayMonthSwapped => 3.45,
        DateLevel::DigitsTransposed => 1.87,
        DateLevel::DigitMistyped => -0.45,
        DateLevel::Differs => -7.64,
    }
}

/// Subtracted when the names agree only crosswise.
pub const SWAP_PENALTY: f64 = -3.0;
/// Weight of a KVNR equal to the child's remembered one (decisive on its own).
pub const KVNR_AGREE: f64 = 30.0;
/// Weight of a KVNR different from the child's remembered one.
pub const KVNR_DISAGREE: f64 = -10.0;

/// The highest score a candidate whose birth date is only a variant of the card's can get
/// (used by the index to skip the variant search when the exact block already decides).
pub(crate) const MAX_VARIANT_SCORE: f64 = 11.82 + 14.85 + 1.0 + 3.45;

/// Which registered name a reported name was matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "field")]
pub enum MatchedField {
    /// the n-th registered given name (1-based)
    GivenName {
        position: u8,
    },
    /// all registered given names together
    AllGivenNames,
    FamilyName,
    BirthName,
}

/// One name field's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameComparison {
    pub level: NameLevel,
    pub weight: f64,
    /// the registered name that gave the best level
    pub matched: Option<MatchedField>,
}

/// The birth date's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateComparison {
    pub level: DateLevel,
    pub weight: f64,
}

/// How the card's KVNR relates to the child's remembered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvnrLevel {
    /// equal to the KVNR remembered from a confirmed link: decisive
    Equal,
    /// different from the remembered KVNR
    Different,
    /// no KVNR on the card or none remembered on the child
    NotCompared,
}

/// The KVNR's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvnrComparison {
    pub level: KvnrLevel,
    pub weight: f64,
}

/// Everything that produced a candidate's score, per field; serialisable and explainable
/// in German ([`Comparison::explain`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub given_name: NameComparison,
    pub family_name: NameComparison,
    pub birth_name: NameComparison,
    pub birth_date: DateComparison,
    pub kvnr: KvnrComparison,
    /// given and family name were compared crosswise (the card swapped them)
    pub names_swapped: bool,
    /// [`SWAP_PENALTY`] when swapped, else 0
    pub swap_weight: f64,
}

impl Comparison {
    /// The candidate's score: the sum of the weights.
    pub fn total(&self) -> f64 {
        self.given_name.weight
            + self.family_name.weight
            + self.birth_name.weight
            + self.birth_date.weight
            + self.kvnr.weight
            + self.swap_weight
    }

    /// One German sentence per field, for the review queue and the audit trail.
    pub fn explain(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(6);
        if self.names_swapped {
            out.push(format!("Vor- und Familienname auf der Karte vertauscht ({})", bits(self.swap_weight)));
        }
        out.push(name_sentence("Vorname", &self.given_name));
        out.push(name_sentence("Familienname", &self.family_name));
        if self.birth_name.level != NameLevel::Missing {
            out.push(name_sentence("Geburtsname", &self.birth_name));
        }
        let date = match self.birth_date.level {
            DateLevel::Exact => "stimmt überein",
            DateLevel::DayMonthSwapped => "Tag und Monat vertauscht",
            DateLevel::DigitsTransposed => "zwei Ziffern vertauscht",
            DateLevel::DigitMistyped => "eine Ziffer abweichend",
            DateLevel::Differs => "weicht ab",
        };
        out.push(format!("Geburtsdatum: {date} ({})", bits(self.birth_date.weight)));
        match self.kvnr.level {
            KvnrLevel::Equal => out.push(format!(
                "KVNR: gleich der bei einer bestätigten Zuordnung gemerkten KVNR, eindeutig ({})",
                bits(self.kvnr.weight)
            )),
            KvnrLevel::Different => {
                out.push(format!("KVNR: weicht von der gemerkten KVNR ab ({})", bits(self.kvnr.weight)));
            }
            KvnrLevel::NotCompared => {}
        }
        out
    }
}

fn name_sentence(field: &str, c: &NameComparison) -> String {
    let level = match c.level {
        NameLevel::Exact => "stimmt überein",
        NameLevel::Close => "fast gleich (vermutlich Tippfehler)",
        NameLevel::Part => "Teil eines zusammengesetzten Namens",
        NameLevel::Phonetic => "klingt gleich (Kölner Phonetik)",
        NameLevel::Similar => "ähnlich",
        NameLevel::Disagree => "weicht ab",
        NameLevel::Missing => "nicht vorhanden",
    };
    let with = match c.matched {
        Some(MatchedField::GivenName { position: 1 }) if c.level != NameLevel::Disagree => {
            " mit dem 1. Vornamen".to_owned()
        }
        Some(MatchedField::GivenName { position }) if c.level != NameLevel::Disagree => {
            format!(" mit dem {position}. Vornamen")
        }
        Some(MatchedField::AllGivenNames) if c.level != NameLevel::Disagree => " mit allen Vornamen".to_owned(),
        Some(MatchedField::FamilyName) if field != "Familienname" && c.level != NameLevel::Disagree => {
            " mit dem Familiennamen".to_owned()
        }
        Some(MatchedField::BirthName) if field != "Geburtsname" && c.level != NameLevel::Disagree => {
            " mit dem Geburtsnamen".to_owned()
        }
        _ => String::new(),
    };
    format!("{field}: {level}{with} ({})", bits(c.weight))
}

/// "+11,8 Bit" (German decimal comma).
pub(crate) fn bits(w: f64) -> String {
    format!("{w:+.1} Bit").replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(m: f64, u: f64) -> f64 {
        (m / u).log2()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn weights_follow_from_m_and_u() {
        assert!(close(given_weight(NameLevel::Exact), w(0.88, 2f64.powi(-12))));
        assert!(close(given_weight(NameLevel::Close), w(0.05, 0.0005)));
        assert!(close(given_weight(NameLevel::Part), w(0.02, 0.0002)));
        assert!(close(given_weight(NameLevel::Phonetic), w(0.015, 0.0015)));
        assert!(close(given_weight(NameLevel::Similar), w(0.015, 0.0075)));
        assert!(close(given_weight(NameLevel::Disagree), w(0.02, 0.99)));
        assert!(close(family_weight(NameLevel::Exact), w(0.90, 2f64.powi(-15))));
        assert!(close(family_weight(NameLevel::Close), w(0.05, 0.00008)));
        assert!(close(family_weight(NameLevel::Part), w(0.02, 0.0001)));
        assert!(close(family_weight(NameLevel::Phonetic), w(0.015, 0.0005)));
        assert!(close(family_weight(NameLevel::Similar), w(0.01, 0.005)));
        assert!(close(family_weight(NameLevel::Disagree), w(0.005, 0.994)));
        assert!(close(date_weight(DateLevel::Exact), w(0.985, 2f64.powf(-11.1))));
        assert!(close(date_weight(DateLevel::DayMonthSwapped), w(0.005, 1.0 / 2190.0)));
        assert!(close(date_weight(DateLevel::DigitsTransposed), w(0.005, 3.0 / 2190.0)));
        assert!(close(date_weight(DateLevel::DigitMistyped), w(0.005, 15.0 / 2190.0)));
        assert!(close(date_weight(DateLevel::Differs), w(0.005, 1.0)));
        // the reference values: 4.9 + 3.6 + 2.6 bits for day, month, year
        assert!((date_weight(DateLevel::Exact) - (4.9 + 3.6 + 2.6)).abs() < 0.05);
        let max_name = given_weight(NameLevel::Exact) + family_weight(NameLevel::Exact) + 1.0;
        assert!(close(MAX_VARIANT_SCORE, max_name + date_weight(DateLevel::DayMonthSwapped)));
    }

    #[test]
    fn german_decimal_comma() {
        assert_eq!(bits(11.82), "+11,8 Bit");
        assert_eq!(bits(-5.63), "-5,6 Bit");
    }
}
