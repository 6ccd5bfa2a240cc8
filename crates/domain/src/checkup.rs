use std::fmt;

use serde::{Deserialize, Serialize};

/// A child check-up of the G-BA Kinder-Richtlinie ("U-Untersuchung").
///
/// The order of the variants is the order in which they fall due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Checkup {
    U1,
    U2,
    U3,
    U4,
    U5,
    U6,
    U7,
    U7a,
    U8,
    U9,
    J1,
}

impl Checkup {
    pub const ALL: [Checkup; 11] = [
        Checkup::U1,
        Checkup::U2,
        Checkup::U3,
        Checkup::U4,
        Checkup::U5,
        Checkup::U6,
        Checkup::U7,
        Checkup::U7a,
        Checkup::U8,
        Checkup::U9,
        Checkup::J1,
    ];

    /// The short name as families and doctors know it: `U7a`.
    pub fn name(self) -> &'static str {
        match self {
            Checkup::U1 => "U1",
            Checkup::U2 => "U2",
            Checkup::U3 => "U3",
            Checkup::U4 => "U4",
            Checkup::U5 => "U5",
            Checkup::U6 => "U6",
            Checkup::U7 => "U7",
            Checkup::U7a => "U7a",
            Checkup::U8 => "U8",
            Checkup::U9 => "U9",
            Checkup::J1 => "J1",
        }
    }

    pub fn from_name(s: &str) -> Option<Checkup> {
        Checkup::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s))
    }

    /// The SNOMED CT code (or post-coordinated expression) that names this check-up in the
    /// KBV MIO (value set `KBV_VS_MIO_CMR_Examination_Number`). J1 has none.
    pub fn snomed_code(self) -> Option<&'static str> {
        Some(match self {
            Checkup::U1 => "170099002",
            Checkup::U2 => "170107008",
            Checkup::U3 => "243788004:370131001=133931009",
            Checkup::U4 => "170250008",
            Checkup::U5 => "170263002",
            Checkup::U6 => "170254004",
            Checkup::U7 => "401140000",
            Checkup::U7a => "170281004",
            Checkup::U8 => "410635005",
            Checkup::U9 => "243788004:370131001=410602000",
            Checkup::J1 => return None,
        })
    }

    pub fn from_snomed_code(code: &str) -> Option<Checkup> {
        Checkup::ALL.into_iter().find(|c| c.snomed_code() == Some(code))
    }

    /// Whether a participation card may report this check-up (U2–U9 and U7a; U1 is done
    /// at birth and is not on the card).
    pub fn on_participation_card(self) -> bool {
        !matches!(self, Checkup::U1 | Checkup::J1)
    }
}

impl fmt::Display for Checkup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Checkup::ALL {
            if let Some(code) = c.snomed_code() {
                assert_eq!(Checkup::from_snomed_code(code), Some(c));
            }
            assert_eq!(Checkup::from_name(c.name()), Some(c));
        }
        assert_eq!(Checkup::from_name("u7A"), Some(Checkup::U7a));
        assert!(!Checkup::U1.on_participation_card());
        assert!(Checkup::U7a.on_participation_card());
    }
}
