use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of participant an organisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// A doctor's practice (Arztpraxis).
    Praxis,
    /// A hospital or maternity clinic.
    Krankenhaus,
    /// A local health office; serves one or more districts.
    Gesundheitsamt,
    /// The state office that runs the programme (in MV: LAGuS).
    Landesamt,
}

impl OrgKind {
    pub const ALL: [OrgKind; 4] = [OrgKind::Praxis, OrgKind::Krankenhaus, OrgKind::Gesundheitsamt, OrgKind::Landesamt];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Praxis => "praxis",
            OrgKind::Krankenhaus => "krankenhaus",
            OrgKind::Gesundheitsamt => "gesundheitsamt",
            OrgKind::Landesamt => "landesamt",
        }
    }

    pub fn parse(s: &str) -> Option<OrgKind> {
        OrgKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// German label for people.
    pub fn label(self) -> &'static str {
        match self {
            OrgKind::Praxis => "Arztpraxis",
            OrgKind::Krankenhaus => "Krankenhaus",
            OrgKind::Gesundheitsamt => "Gesundheitsamt",
            OrgKind::Landesamt => "Landesamt",
        }
    }

    /// The gematik profession OID that an institution card of this kind carries.
    pub fn profession_oid(self) -> ProfessionOid {
        match self {
            OrgKind::Praxis => ProfessionOid::PraxisArzt,
            OrgKind::Krankenhaus => ProfessionOid::Krankenhaus,
            OrgKind::Gesundheitsamt | OrgKind::Landesamt => ProfessionOid::InstitutionOegd,
        }
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The role of an institution as gematik names it in the Admission extension
/// (`professionOID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProfessionOid {
    /// `oid_praxis_arzt`
    PraxisArzt,
    /// `oid_krankenhaus`
    Krankenhaus,
    /// `oid_institution-oegd`: health offices and the state office alike.
    InstitutionOegd,
}

impl ProfessionOid {
    pub const ALL: [ProfessionOid; 3] =
        [ProfessionOid::PraxisArzt, ProfessionOid::Krankenhaus, ProfessionOid::InstitutionOegd];

    pub fn oid(self) -> &'static str {
        match self {
            ProfessionOid::PraxisArzt => "1.2.276.0.76.4.50",
            ProfessionOid::Krankenhaus => "1.2.276.0.76.4.53",
            ProfessionOid::InstitutionOegd => "1.2.276.0.76.4.255",
        }
    }

    pub fn from_oid(s: &str) -> Option<ProfessionOid> {
        ProfessionOid::ALL.into_iter().find(|p| p.oid() == s)
    }

    /// The `professionItem` text gematik uses for this role.
    pub fn profession_item(self) -> &'static str {
        match self {
            ProfessionOid::PraxisArzt => "Arztpraxis",
            ProfessionOid::Krankenhaus => "Krankenhaus",
            ProfessionOid::InstitutionOegd => "Institution des Öffentlichen Gesundheitsdienstes",
        }
    }
}
