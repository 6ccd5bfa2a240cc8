//! The input of a letter: who writes, to whom, about which child and check-up.
//!
//! Plain data with public fields; [`Letter::validate`] checks what the layout needs (an address
//! that fits the window of the envelope, dates in order) before anything is typeset.

use jiff::civil::Date;
use oegd_domain::Checkup;

use crate::LetterError;

/// Most lines the address zone of a DIN 5008 address field holds.
pub const MAX_ADDRESS_LINES: usize = 6;

/// The state office that writes the letter (letterhead, return address, information block,
/// footer) and the legal frame it writes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// "Landesamt für Gesundheit und Soziales Mecklenburg-Vorpommern"
    pub name: String,
    /// "Servicestelle Kindervorsorge"
    pub unit: String,
    /// Whom families ask ("Ansprechpartner" in the information block): a team or a person.
    pub contact: String,
    /// "Erich-Schlesinger-Straße 35"
    pub street: String,
    /// "18059"
    pub postcode: String,
    /// "Rostock"
    pub city: String,
    /// "0381 331-0"
    pub phone: String,
    /// "kindervorsorge@lagus.mv-regierung.de"
    pub email: String,
    /// The law the programme runs under, as it reads inside a sentence:
    /// "§ 15b des Gesetzes über den Öffentlichen Gesundheitsdienst im Land Mecklenburg-Vorpommern (ÖGDG M-V)".
    pub legal_basis: String,
    /// Who is informed when no report arrives, in the accusative after "informieren wir":
    /// "das für Ihren Wohnort zuständige Gesundheitsamt". Empty: the letter does not mention it
    /// (invitations never do).
    pub escalation_recipient: String,
}

/// The address in the window of the envelope: at most [`MAX_ADDRESS_LINES`] lines, printed as
/// given ("An die Sorgeberechtigten von", "Mira Behrendt", "Lindenstraße 4", "18055 Rostock").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    pub lines: Vec<String>,
}

/// What the letter asks the family to do.
///
/// Which reminder variant a missed check-up gets is a rule of the programme profile
/// (PROGRAMME.md: U3–U5 point to the next check-up, from U6 on the same one is to be caught up);
/// this crate only words and typesets the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterKind {
    /// Reminder that points the family to the *next* check-up (U3–U5 in the MV profile).
    ReminderNextCheckup {
        /// The check-up without a report.
        missed: Checkup,
        /// The check-up the family is asked to attend.
        next: Checkup,
        /// First day of the next check-up's window (inclusive).
        next_from: Date,
        /// Last day of the next check-up's window (inclusive).
        next_until: Date,
    },
    /// Reminder that asks to catch up the *same* check-up before its tolerance window ends
    /// (from U6 on in the MV profile). The deadline is printed in the letter.
    ReminderSameCheckup {
        /// The check-up without a report.
        missed: Checkup,
        /// Last day on which the check-up can still be done (end of the tolerance window).
        deadline: Date,
    },
    /// Invitation before a check-up falls due (the Niedersachsen profile).
    Invitation {
        checkup: Checkup,
        /// First day of the window (inclusive).
        from: Date,
        /// Last day of the window (inclusive).
        until: Date,
    },
}

/// One letter to the guardians of one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// Our reference ("Unser Zeichen"), quoted by families who call.
    pub reference: String,
    /// The date printed on the letter. An input: the renderer never reads a clock.
    pub date: Date,
    pub sender: Sender,
    pub addressee: Addressee,
    /// "Mira Behrendt"
    pub child_name: String,
    pub child_birth_date: Date,
    /// Names for the salutation ("Lena Behrendt", "Tom Behrendt"); empty gives a general one.
    pub guardians: Vec<String>,
    pub kind: LetterKind,
}

impl Letter {
    /// Checks what the layout and the wording rely on.
    pub fn validate(&self) -> Result<(), LetterError> {
        let invalid = |reason: &str| Err(LetterError::InvalidLetter(reason.to_owned()));
        let lines = &self.addressee.lines;
        if lines.is_empty() || lines.iter().all(|l| l.trim().is_empty()) {
            return invalid("the address is empty");
        }
        if lines.len() > MAX_ADDRESS_LINES {
            return invalid("the address has more than 6 lines (DIN 5008 address zone)");
        }
        if self.child_name.trim().is_empty() {
            return invalid("the child's name is empty");
        }
        if self.reference.trim().is_empty() {
            return invalid("the letter reference is empty");
        }
        if self.child_birth_date > self.date {
            return invalid("the child's birth date is after the letter date");
        }
        match self.kind {
            LetterKind::ReminderNextCheckup { missed, next, next_from, next_until } => {
                if next <= missed {
                    return invalid("the next check-up must come after the missed one");
                }
                if next_from > next_until {
                    return invalid("the next check-up's window ends before it starts");
                }
            }
            LetterKind::ReminderSameCheckup { .. } => {}
            LetterKind::Invitation { from, until, .. } => {
                if from > until {
                    return invalid("the invitation window ends before it starts");
                }
            }
        }
        Ok(())
    }

    /// The check-up the letter is about (the missed one for reminders).
    pub fn checkup(&self) -> Checkup {
        match self.kind {
            LetterKind::ReminderNextCheckup { missed, .. } | LetterKind::ReminderSameCheckup { missed, .. } => missed,
            LetterKind::Invitation { checkup, .. } => checkup,
        }
    }
}
