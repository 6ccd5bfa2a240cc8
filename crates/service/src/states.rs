//! The organisations each federal state starts with.
//!
//! Telematik-IDs of public-health institutions here are placeholders of the development
//! environment (`9-…`); an operator replaces them with the real ones from the TI directory.

use oegd_domain::{Kreisschluessel, OrgKind, TelematikId};

pub struct InitialOrganisation {
    pub telematik_id: &'static str,
    pub kind: OrgKind,
    pub name: &'static str,
    pub kreise: &'static [&'static str],
}

/// Mecklenburg-Vorpommern: LAGuS and the eight Gesundheitsämter (PROGRAMME.md).
const MV: &[InitialOrganisation] = &[
    InitialOrganisation {
        telematik_id: "9-oegd-mv-lagus",
        kind: OrgKind::Landesamt,
        name: "Landesamt für Gesundheit und Soziales Mecklenburg-Vorpommern (LAGuS)",
        kreise: &[],
    },
    ga("9-oegd-mv-13003", "Gesundheitsamt Hansestadt Rostock", &["13003"]),
    ga("9-oegd-mv-13004", "Gesundheitsamt Landeshauptstadt Schwerin", &["13004"]),
    ga("9-oegd-mv-13071", "Gesundheitsamt Mecklenburgische Seenplatte", &["13071"]),
    ga("9-oegd-mv-13072", "Gesundheitsamt Landkreis Rostock", &["13072"]),
    ga("9-oegd-mv-13073", "Gesundheitsamt Vorpommern-Rügen", &["13073"]),
    ga("9-oegd-mv-13074", "Gesundheitsamt Nordwestmecklenburg", &["13074"]),
    ga("9-oegd-mv-13075", "Gesundheitsamt Vorpommern-Greifswald", &["13075"]),
    ga("9-oegd-mv-13076", "Gesundheitsamt Ludwigslust-Parchim", &["13076"]),
];

/// Niedersachsen: the state office; its health offices are registered with `org add`.
const NI: &[InitialOrganisation] = &[InitialOrganisation {
    telematik_id: "9-oegd-ni-nlga",
    kind: OrgKind::Landesamt,
    name: "Niedersächsisches Landesgesundheitsamt (NLGA)",
    kreise: &[],
}];

const fn ga(telematik_id: &'static str, name: &'static str, kreise: &'static [&'static str]) -> InitialOrganisation {
    InitialOrganisation { telematik_id, kind: OrgKind::Gesundheitsamt, name, kreise }
}

/// The states this build knows.
pub const STATES: &[&str] = &["MV", "NI"];

pub fn initial_organisations(state: &str) -> Option<&'static [InitialOrganisation]> {
    match state {
        "MV" => Some(MV),
        "NI" => Some(NI),
        _ => None,
    }
}

impl InitialOrganisation {
    pub fn telematik_id(&self) -> Option<TelematikId> {
        TelematikId::parse(self.telematik_id).ok()
    }
    pub fn kreise(&self) -> Vec<Kreisschluessel> {
        self.kreise.iter().filter_map(|k| Kreisschluessel::parse(k).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_initial_organisation_is_valid() {
        for state in STATES {
            for org in initial_organisations(state).unwrap() {
                assert!(org.telematik_id().is_some(), "{}", org.telematik_id);
                assert_eq!(org.kreise().len(), org.kreise.len());
            }
        }
        assert_eq!(
            initial_organisations("MV").unwrap().iter().filter(|o| o.kind == OrgKind::Gesundheitsamt).count(),
            8
        );
    }
}
