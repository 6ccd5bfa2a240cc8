//! The letter as the template reads it: a JSON file in typst's virtual file system.
//!
//! Values reach the template only as JSON strings that it prints as text, never as markup,
//! so a name like `*bold*` or `#import "x"` prints literally. Dates are formatted here (German);
//! the wording is in the template.

use serde::Serialize;

use crate::german::{date_long, date_numeric};
use crate::model::{Letter, LetterKind};

#[derive(Debug, Serialize)]
pub(crate) struct TemplateData<'a> {
    reference: &'a str,
    date: String,
    sender: SenderData<'a>,
    address: &'a [String],
    child_name: &'a str,
    child_birth_date: String,
    guardians: &'a [String],
    /// "reminder-next", "reminder-same" or "invitation"
    kind: &'static str,
    /// The check-up the letter is about (the missed one for reminders).
    checkup: &'static str,
    /// reminder-next: the check-up asked for.
    next_checkup: Option<&'static str>,
    /// reminder-next and invitation: the window, long dates.
    from: Option<String>,
    until: Option<String>,
    /// reminder-same: the last day, long date.
    deadline: Option<String>,
}

#[derive(Debug, Serialize)]
struct SenderData<'a> {
    name: &'a str,
    unit: &'a str,
    contact: &'a str,
    street: &'a str,
    postcode: &'a str,
    city: &'a str,
    phone: &'a str,
    email: &'a str,
    legal_basis: &'a str,
    escalation_recipient: &'a str,
}

impl<'a> TemplateData<'a> {
    pub(crate) fn new(letter: &'a Letter) -> Self {
        let s = &letter.sender;
        let (kind, next_checkup, from, until, deadline) = match letter.kind {
            LetterKind::ReminderNextCheckup { next, next_from, next_until, .. } => {
                ("reminder-next", Some(next.name()), Some(date_long(next_from)), Some(date_long(next_until)), None)
            }
            LetterKind::ReminderSameCheckup { deadline, .. } => {
                ("reminder-same", None, None, None, Some(date_long(deadline)))
            }
            LetterKind::Invitation { from, until, .. } => {
                ("invitation", None, Some(date_long(from)), Some(date_long(until)), None)
            }
        };
        TemplateData {
            reference: &letter.reference,
            date: date_numeric(letter.date),
            sender: SenderData {
                name: &s.name,
                unit: &s.unit,
                contact: &s.contact,
                street: &s.street,
                postcode: &s.postcode,
                city: &s.city,
                phone: &s.phone,
                email: &s.email,
                legal_basis: &s.legal_basis,
                escalation_recipient: &s.escalation_recipient,
            },
            address: &letter.addressee.lines,
            child_name: &letter.child_name,
            child_birth_date: date_long(letter.child_birth_date),
            guardians: &letter.guardians,
            kind,
            checkup: letter.checkup().name(),
            next_checkup,
            from,
            until,
            deadline,
        }
    }

    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}
