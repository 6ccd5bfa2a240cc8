//! The programme profile: a state's rules as data (serde; TOML- and JSON-friendly).
//!
//! ```toml
//! id = "MV-default"
//! state = "MV"
//! name = "Mecklenburg-Vorpommern"
//! escalation_target = "gesundheitsamt"
//! link_wait_days = 182
//!
//! [[checkups]]
//! checkup = "U3"
//! letter = "next-checkup"
//! reminder = "+14d"            # after the end of the regular window
//! window = { regular_start = "+21d", regular_end = "+34d", tolerance_start = "+14d", tolerance_end = "+55d" }
//! escalation = { after_tolerance_end_of = "U4", offset = "+28d" }
//! ```

use std::collections::HashSet;

use jiff::civil::Date;
use oegd_domain::{Checkup, Kreisschluessel};
use serde::{Deserialize, Serialize};

use crate::offset::Offset;
use crate::window::{Window, WindowRule};

/// A state's check-up programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Short id written into every result, e.g. `MV-default`.
    pub id: String,
    /// Two-letter state code (`MV`, `NI`).
    pub state: String,
    /// The state's name, for people.
    pub name: String,
    /// Who receives escalations.
    pub escalation_target: EscalationTarget,
    /// How many days a report received before the child's registration may wait for it
    /// (rule 3: 182 days = 26 weeks).
    pub link_wait_days: i64,
    /// When a child's personal data is deleted.
    pub deletion: DeletionRule,
    /// The tracked check-ups, in the order they fall due.
    pub checkups: Vec<CheckupRule>,
    /// The offices per district; a district missing here gets a generic name.
    #[serde(default)]
    pub offices: Vec<DistrictOffice>,
}

/// Who an escalation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EscalationTarget {
    /// The district's health office (MV, SL, RP, SH, TH, BE, BB).
    #[default]
    Gesundheitsamt,
    /// The district's youth welfare office (HE, NI, NW).
    Jugendamt,
}

impl EscalationTarget {
    /// German label for people.
    pub fn label(self) -> &'static str {
        match self {
            EscalationTarget::Gesundheitsamt => "Gesundheitsamt",
            EscalationTarget::Jugendamt => "Jugendamt",
        }
    }

    pub fn is_gesundheitsamt(&self) -> bool {
        *self == EscalationTarget::Gesundheitsamt
    }
}

/// The wording of a reminder letter (a key for the letter templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LetterVariant {
    /// "Bitte nehmen Sie die nächste Untersuchung wahr" (MV: U3–U5).
    NextCheckup,
    /// "Bitte holen Sie die Untersuchung bis zum Ende des Toleranzzeitraums nach" (MV: from
    /// U6 on); the letter prints the deadline.
    SameCheckup,
}

/// The rules for one tracked check-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckupRule {
    pub checkup: Checkup,
    /// Regular and tolerance window, relative to the date of birth.
    pub window: WindowRule,
    /// Invitation letter, relative to the start of the regular window (e.g. `-28d`);
    /// `None`: no invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<Offset>,
    /// Reminder day, relative to the end of the regular window (`+14d`); `None`: no reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<Offset>,
    /// Wording of the reminder. `next-checkup` asks for the next tracked check-up.
    pub letter: LetterVariant,
    /// Escalation day; `None`: never escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationRule>,
}

/// Escalation day = the `tolerance_end` of `after_tolerance_end_of` + `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRule {
    pub after_tolerance_end_of: Checkup,
    pub offset: Offset,
}

/// When a child's personal data is deleted: the earlier of the regular deletion and
/// `after_exit` after a move-out or death (a move-in back before that cancels the latter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRule {
    pub regular: DeletionAt,
    pub after_exit: Offset,
}

/// The regular deletion day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum DeletionAt {
    /// `offset` after the end of `checkup`'s tolerance window (MV: U9 + 12 months).
    AfterToleranceEnd { checkup: Checkup, offset: Offset },
    /// At an age: birth + `age` (NI: 84 months, the 7th birthday).
    AtAge { age: Offset },
}

/// The office that receives escalations for a district.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistrictOffice {
    pub kreis: Kreisschluessel,
    pub office: String,
}

/// Why a profile cannot be used. Messages are German (shown to administrators).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("Profil: keine Untersuchung angegeben")]
    NoCheckups,
    #[error("Profil: {0} ist doppelt oder nicht in zeitlicher Reihenfolge angegeben")]
    Order(Checkup),
    #[error("Profil: {0} verweist auf {1}, die nicht im Profil steht")]
    UnknownReference(Checkup, Checkup),
    #[error("Profil: Fenster von {0} ist nicht geordnet (Toleranzbeginn ≤ Beginn ≤ Ende ≤ Toleranzende)")]
    Window(Checkup),
    #[error("Profil: Wartezeit für Meldungen muss zwischen 0 und 3660 Tagen liegen")]
    LinkWait,
    #[error("Profil: Kreisschlüssel {0} doppelt")]
    DuplicateOffice(String),
    #[error("Profil: unbekanntes Bundesland „{0}“")]
    UnknownState(String),
}

fn rule(
    checkup: Checkup,
    letter: LetterVariant,
    invitation: Option<Offset>,
    escalate_after: Option<Checkup>,
) -> CheckupRule {
    CheckupRule {
        checkup,
        window: WindowRule::standard(checkup),
        invitation,
        reminder: Some(Offset::days(14)),
        letter,
        escalation: escalate_after.map(|c| EscalationRule { after_tolerance_end_of: c, offset: Offset::days(28) }),
    }
}

fn offices(list: &[(&str, &str)]) -> Vec<DistrictOffice> {
    list.iter()
        .filter_map(|(k, o)| {
            Kreisschluessel::parse(k).ok().map(|kreis| DistrictOffice { kreis, office: (*o).to_owned() })
        })
        .collect()
}

impl Profile {
    /// Mecklenburg-Vorpommern (§ 15b ÖGDG M-V), exactly as PROGRAMME.md describes it:
    /// U3–U9 with U7a, no invitations, a reminder at `regular_end + 14 d` (U3–U5: "next
    /// check-up", from U6: "same check-up"), escalation to the Gesundheitsamt at
    /// `tolerance_end + 28 d` (U3/U4/U5: the next check-up's), deletion at U9's
    /// `tolerance_end + 12 months` or 12 months after a move-out or death.
    pub fn mv() -> Profile {
        use Checkup::*;
        use LetterVariant::*;
        Profile {
            id: "MV-default".to_owned(),
            state: "MV".to_owned(),
            name: "Mecklenburg-Vorpommern".to_owned(),
            escalation_target: EscalationTarget::Gesundheitsamt,
            link_wait_days: 182,
            deletion: DeletionRule {
                regular: DeletionAt::AfterToleranceEnd { checkup: U9, offset: Offset::months(12) },
                after_exit: Offset::months(12),
            },
            checkups: vec![
                rule(U3, NextCheckup, None, Some(U4)),
                rule(U4, NextCheckup, None, Some(U5)),
                rule(U5, NextCheckup, None, Some(U6)),
                rule(U6, SameCheckup, None, Some(U6)),
                rule(U7, SameCheckup, None, Some(U7)),
                rule(U7a, SameCheckup, None, Some(U7a)),
                rule(U8, SameCheckup, None, Some(U8)),
                rule(U9, SameCheckup, None, Some(U9)),
            ],
            offices: offices(&[
                ("13003", "Gesundheitsamt Hansestadt Rostock"),
                ("13004", "Gesundheitsamt Landeshauptstadt Schwerin"),
                ("13071", "Gesundheitsamt Mecklenburgische Seenplatte"),
                ("13072", "Gesundheitsamt Landkreis Rostock"),
                ("13073", "Gesundheitsamt Vorpommern-Rügen"),
                ("13074", "Gesundheitsamt Nordwestmecklenburg"),
                ("13075", "Gesundheitsamt Vorpommern-Greifswald"),
                ("13076", "Gesundheitsamt Ludwigslust-Parchim"),
            ]),
        }
    }

    /// Niedersachsen, as a second profile showing that the engine is not MV-specific.
    /// Our own choice of numbers (documented, not a legal text):
    ///
    /// - check-ups U5, U6, U7, U7a, U8 (G-BA windows);
    /// - an invitation letter 28 days before each regular window opens;
    /// - a reminder at `regular_end + 14 d` asking for the same check-up within the
    ///   tolerance window;
    /// - escalation to the district's Jugendamt at the check-up's own `tolerance_end + 28 d`;
    /// - deletion at the 7th birthday (birth + 84 months), or 12 months after a move-out
    ///   or death;
    /// - reports wait 182 days for a registration, as in MV.
    ///
    /// The office list names the Jugendamt of each Landkreis and kreisfreie Stadt; towns
    /// with their own Jugendamt are added by configuration.
    pub fn ni() -> Profile {
        use Checkup::*;
        use LetterVariant::*;
        let invite = Some(Offset::days(-28));
        Profile {
            id: "NI-default".to_owned(),
            state: "NI".to_owned(),
            name: "Niedersachsen".to_owned(),
            escalation_target: EscalationTarget::Jugendamt,
            link_wait_days: 182,
            deletion: DeletionRule {
                regular: DeletionAt::AtAge { age: Offset::months(84) },
                after_exit: Offset::months(12),
            },
            checkups: vec![
                rule(U5, SameCheckup, invite, Some(U5)),
                rule(U6, SameCheckup, invite, Some(U6)),
                rule(U7, SameCheckup, invite, Some(U7)),
                rule(U7a, SameCheckup, invite, Some(U7a)),
                rule(U8, SameCheckup, invite, Some(U8)),
            ],
            offices: offices(&[
                ("03101", "Jugendamt der Stadt Braunschweig"),
                ("03102", "Jugendamt der Stadt Salzgitter"),
                ("03103", "Jugendamt der Stadt Wolfsburg"),
                ("03151", "Jugendamt Landkreis Gifhorn"),
                ("03153", "Jugendamt Landkreis Goslar"),
                ("03154", "Jugendamt Landkreis Helmstedt"),
                ("03155", "Jugendamt Landkreis Northeim"),
                ("03157", "Jugendamt Landkreis Peine"),
                ("03158", "Jugendamt Landkreis Wolfenbüttel"),
                ("03159", "Jugendamt Landkreis Göttingen"),
                ("03241", "Jugendamt Region Hannover"),
                ("03251", "Jugendamt Landkreis Diepholz"),
                ("03252", "Jugendamt Landkreis Hameln-Pyrmont"),
                ("03254", "Jugendamt Landkreis Hildesheim"),
                ("03255", "Jugendamt Landkreis Holzminden"),
                ("03256", "Jugendamt Landkreis Nienburg/Weser"),
                ("03257", "Jugendamt Landkreis Schaumburg"),
                ("03351", "Jugendamt Landkreis Celle"),
                ("03352", "Jugendamt Landkreis Cuxhaven"),
                ("03353", "Jugendamt Landkreis Harburg"),
                ("03354", "Jugendamt Landkreis Lüchow-Dannenberg"),
                ("03355", "Jugendamt Landkreis Lüneburg"),
                ("03356", "Jugendamt Landkreis Osterholz"),
                ("03357", "Jugendamt Landkreis Rotenburg (Wümme)"),
                ("03358", "Jugendamt Landkreis Heidekreis"),
                ("03359", "Jugendamt Landkreis Stade"),
                ("03360", "Jugendamt Landkreis Uelzen"),
                ("03361", "Jugendamt Landkreis Verden"),
                ("03401", "Jugendamt der Stadt Delmenhorst"),
                ("03402", "Jugendamt der Stadt Emden"),
                ("03403", "Jugendamt der Stadt Oldenburg (Oldb)"),
                ("03404", "Jugendamt der Stadt Osnabrück"),
                ("03405", "Jugendamt der Stadt Wilhelmshaven"),
                ("03451", "Jugendamt Landkreis Ammerland"),
                ("03452", "Jugendamt Landkreis Aurich"),
                ("03453", "Jugendamt Landkreis Cloppenburg"),
                ("03454", "Jugendamt Landkreis Emsland"),
                ("03455", "Jugendamt Landkreis Friesland"),
                ("03456", "Jugendamt Landkreis Grafschaft Bentheim"),
                ("03457", "Jugendamt Landkreis Leer"),
                ("03458", "Jugendamt Landkreis Oldenburg"),
                ("03459", "Jugendamt Landkreis Osnabrück"),
                ("03460", "Jugendamt Landkreis Vechta"),
                ("03461", "Jugendamt Landkreis Wesermarsch"),
                ("03462", "Jugendamt Landkreis Wittmund"),
            ]),
        }
    }

    /// The built-in profile of a state: `MV` or `NI` (case-insensitive).
    pub fn by_state(state: &str) -> Result<Profile, ProfileError> {
        match state.trim().to_ascii_uppercase().as_str() {
            "MV" => Ok(Profile::mv()),
            "NI" => Ok(Profile::ni()),
            other => Err(ProfileError::UnknownState(other.chars().take(8).collect())),
        }
    }

    /// The rule of a tracked check-up.
    pub fn rule(&self, checkup: Checkup) -> Option<&CheckupRule> {
        self.checkups.iter().find(|r| r.checkup == checkup)
    }

    /// Whether `checkup` is tracked.
    pub fn tracks(&self, checkup: Checkup) -> bool {
        self.rule(checkup).is_some()
    }

    /// The window of a tracked check-up for a child born on `birth`.
    pub fn window(&self, checkup: Checkup, birth: Date) -> Option<Window> {
        self.rule(checkup)?.window.for_birth(birth)
    }

    /// The check-up a reminder of `checkup` asks the family to attend: the next tracked
    /// check-up for `next-checkup` letters (the same one if it is the last), else itself.
    pub fn asks_for(&self, checkup: Checkup) -> Checkup {
        match self.rule(checkup).map(|r| r.letter) {
            Some(LetterVariant::NextCheckup) => {
                self.checkups.iter().map(|r| r.checkup).skip_while(|c| *c != checkup).nth(1).unwrap_or(checkup)
            }
            _ => checkup,
        }
    }

    /// The name of the office receiving escalations for `kreis`.
    pub fn office(&self, kreis: &Kreisschluessel) -> String {
        self.offices
            .iter()
            .find(|o| &o.kreis == kreis)
            .map(|o| o.office.clone())
            .unwrap_or_else(|| format!("{} {}", self.escalation_target.label(), kreis))
    }

    /// The regular deletion day of a child born on `birth` (without move-out or death).
    pub fn regular_deletion(&self, birth: Date) -> Option<Date> {
        match self.deletion.regular {
            DeletionAt::AfterToleranceEnd { checkup, offset } => {
                let w = self.rule(checkup).map(|r| r.window).unwrap_or(WindowRule::standard(checkup));
                offset.apply(w.for_birth(birth)?.tolerance_end)
            }
            DeletionAt::AtAge { age } => age.apply(birth),
        }
    }

    /// Checks that the profile can be used: check-ups unique and in order, references to
    /// tracked check-ups, windows ordered (sampled on month-end and leap-day births).
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.checkups.is_empty() {
            return Err(ProfileError::NoCheckups);
        }
        let mut last: Option<Checkup> = None;
        for r in &self.checkups {
            if last.is_some_and(|l| l >= r.checkup) {
                return Err(ProfileError::Order(r.checkup));
            }
            last = Some(r.checkup);
            if let Some(e) = r.escalation
                && !self.tracks(e.after_tolerance_end_of)
            {
                return Err(ProfileError::UnknownReference(r.checkup, e.after_tolerance_end_of));
            }
            for birth in [
                Date::constant(2024, 1, 31),
                Date::constant(2024, 2, 29),
                Date::constant(2023, 8, 31),
                Date::constant(2023, 12, 30),
            ] {
                let w = r.window.for_birth(birth).ok_or(ProfileError::Window(r.checkup))?;
                if !(w.tolerance_start <= w.regular_start
                    && w.regular_start <= w.regular_end
                    && w.regular_end <= w.tolerance_end)
                {
                    return Err(ProfileError::Window(r.checkup));
                }
            }
        }
        if let DeletionAt::AfterToleranceEnd { checkup, .. } = self.deletion.regular
            && !self.tracks(checkup)
        {
            let first = self.checkups.first().map_or(checkup, |r| r.checkup);
            return Err(ProfileError::UnknownReference(first, checkup));
        }
        if !(0..=3660).contains(&self.link_wait_days) {
            return Err(ProfileError::LinkWait);
        }
        let mut seen = HashSet::new();
        for o in &self.offices {
            if !seen.insert(o.kreis.as_str()) {
                return Err(ProfileError::DuplicateOffice(o.kreis.to_string()));
            }
        }
        Ok(())
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::mv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_are_valid() {
        Profile::mv().validate().unwrap();
        Profile::ni().validate().unwrap();
        assert_eq!(Profile::by_state("mv").unwrap(), Profile::mv());
        assert_eq!(Profile::by_state("NI").unwrap(), Profile::ni());
        assert!(Profile::by_state("BY").is_err());
        assert_eq!(Profile::default(), Profile::mv());
    }

    #[test]
    fn round_trips_through_toml_and_json() {
        for p in [Profile::mv(), Profile::ni()] {
            let text = toml::to_string(&p).unwrap();
            let back: Profile = toml::from_str(&text).unwrap();
            assert_eq!(back, p, "{text}");
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
        }
        let text = toml::to_string(&Profile::mv()).unwrap();
        assert!(text.contains("regular_end = \"+4m-1d\""), "{text}");
        assert!(text.contains("after_tolerance_end_of = \"U4\""), "{text}");
    }

    #[test]
    fn mv_numbers() {
        let p = Profile::mv();
        let tracked: Vec<_> = p.checkups.iter().map(|r| r.checkup.name()).collect();
        assert_eq!(tracked, ["U3", "U4", "U5", "U6", "U7", "U7a", "U8", "U9"]);
        assert_eq!(p.asks_for(Checkup::U3), Checkup::U4);
        assert_eq!(p.asks_for(Checkup::U5), Checkup::U6);
        assert_eq!(p.asks_for(Checkup::U6), Checkup::U6);
        let b = Date::constant(2022, 5, 14);
        assert_eq!(p.regular_deletion(b), Some(Date::constant(2028, 11, 13)));
        assert_eq!(Profile::ni().regular_deletion(b), Some(Date::constant(2029, 5, 14)));
        assert!(p.checkups.iter().all(|r| r.invitation.is_none()));
    }

    #[test]
    fn invalid_profiles_are_rejected() {
        let mut p = Profile::mv();
        p.checkups.swap(0, 1);
        assert_eq!(p.validate(), Err(ProfileError::Order(Checkup::U3)));
        let mut p = Profile::ni();
        if let Some(r) = p.checkups.first_mut() {
            r.escalation = Some(EscalationRule { after_tolerance_end_of: Checkup::U9, offset: Offset::ZERO });
        }
        assert_eq!(p.validate(), Err(ProfileError::UnknownReference(Checkup::U5, Checkup::U9)));
    }
}
