//! The practices' web form: what a practice without software integration types in becomes the
//! same participation card (`KBV_PR_MIO_PC_Bundle|1.0.1`, FHIR JSON, built by
//! [`oegd_fhir::build_card`]) and goes through the same intake as a card over the API
//! ([`Gateway::submit_card`]: the same validation, storage, receipt and deduplication), with
//! the source recorded as `web-form`.
//!
//! Errors are German and belong to a form field: first the form's own checks (a field left
//! empty, a date that cannot be, a check-up the card cannot carry), then every issue of the
//! card's validation, placed at the field its location comes from.
//!
//! The card's id and time are chosen when the form is shown and come back with it: sending
//! the same form twice (a double click, a reload) is the same card, answered with the first
//! receipt, exactly as the API answers a resubmission.

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_domain::{Checkup, Kvnr};
use oegd_fhir::{CardInput, MediaType};
use oegd_store::{Organisation, ReportSource, Store};
use uuid::Uuid;

use crate::{Gateway, Sender, ServiceError, Submission};

/// The form's fields as typed (all text: a form can send anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckupForm {
    /// The card's id (UUID), chosen when the form was shown.
    pub card: String,
    /// When the form was shown (seconds since 1970): the card's `timestamp`.
    pub created: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_name: String,
    pub birth_date: String,
    pub kvnr: String,
    pub checkup: String,
    pub exam_date: String,
    pub doctor_given: String,
    pub doctor_family: String,
    pub lanr: String,
}

/// Names of the form's fields, as the page uses them for `name`, `id` and errors.
pub mod field {
    pub const GIVEN_NAME: &str = "vorname";
    pub const FAMILY_NAME: &str = "nachname";
    pub const BIRTH_NAME: &str = "geburtsname";
    pub const BIRTH_DATE: &str = "geburtsdatum";
    pub const KVNR: &str = "kvnr";
    pub const CHECKUP: &str = "untersuchung";
    pub const EXAM_DATE: &str = "untersuchungsdatum";
    pub const DOCTOR_GIVEN: &str = "arzt_vorname";
    pub const DOCTOR_FAMILY: &str = "arzt_nachname";
    pub const LANR: &str = "lanr";
    /// Not a field: the form as a whole.
    pub const FORM: &str = "formular";
}

/// A problem with one field, in German.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

/// The check-ups a card can report (U2–U9 and U7a; U1 and J1 are not on the card), in the
/// order they fall due.
pub fn checkups_on_card() -> Vec<Checkup> {
    Checkup::ALL.into_iter().filter(|c| c.on_participation_card()).collect()
}

/// A new form: a fresh card id and the time it was shown.
pub fn new_form(now: Timestamp) -> CheckupForm {
    CheckupForm { card: Uuid::new_v4().to_string(), created: now.as_second().to_string(), ..CheckupForm::default() }
}

/// Longest name the form takes (a card's names are short; this bounds what is stored).
const MAX_NAME_CHARS: usize = 100;

fn name(value: &str, f: &'static str, what: &str, required: bool, errors: &mut Vec<FieldError>) -> Option<String> {
    let v = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if v.is_empty() {
        if required {
            errors.push(err(f, format!("Bitte geben Sie {what} an.")));
        }
        return None;
    }
    if v.chars().count() > MAX_NAME_CHARS {
        errors.push(err(f, format!("{what} ist zu lang (höchstens {MAX_NAME_CHARS} Zeichen).")));
        return None;
    }
    if v.chars().any(|c| c.is_control() || c.is_ascii_digit() || "<>\"{}[]\\|@#$%^*=_~;:!?/".contains(c)) {
        errors.push(err(f, format!("{what} enthält Zeichen, die in Namen nicht vorkommen.")));
        return None;
    }
    Some(v)
}

/// A date as a browser's date field sends it (`2025-03-14`) or as Germans type it
/// (`14.03.2025`).
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Ok(d) = s.parse::<Date>() {
        return Some(d);
    }
    let mut parts = s.split('.');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

fn date(value: &str, f: &'static str, what: &str, errors: &mut Vec<FieldError>) -> Option<Date> {
    if value.trim().is_empty() {
        errors.push(err(f, format!("Bitte geben Sie {what} an.")));
        return None;
    }
    let d = parse_date(value);
    if d.is_none() {
        errors.push(err(f, format!("{what} ist kein gültiges Datum (Form TT.MM.JJJJ).")));
    }
    d
}

/// Checks the form and builds the card's input; every problem found, not just the first.
pub fn card_input(
    form: &CheckupForm,
    practice: &Organisation,
    today: Date,
    now: Timestamp,
) -> Result<CardInput, Vec<FieldError>> {
    use field::*;
    let mut errors = Vec::new();
    let card_uuid = Uuid::parse_str(form.card.trim()).ok().filter(|u| u.get_version_num() == 4);
    // the time the form was shown: not in the future, not older than a day
    let timestamp =
        form.created.trim().parse::<i64>().ok().and_then(|s| Timestamp::from_second(s).ok()).filter(|t| {
            *t <= now + jiff::SignedDuration::from_mins(5) && *t >= now - jiff::SignedDuration::from_hours(24)
        });
    if card_uuid.is_none() || timestamp.is_none() {
        errors.push(err(
            FORM,
            "Das Formular ist abgelaufen. Bitte laden Sie es neu und geben Sie die Meldung erneut ein.",
        ));
    }
    let given = name(&form.given_name, GIVEN_NAME, "den Vornamen des Kindes", true, &mut errors);
    let family = name(&form.family_name, FAMILY_NAME, "den Familiennamen des Kindes", true, &mut errors);
    let birth_name = name(&form.birth_name, BIRTH_NAME, "den Geburtsnamen", false, &mut errors);
    let birth_date = date(&form.birth_date, BIRTH_DATE, "das Geburtsdatum", &mut errors);
    if let Some(b) = birth_date {
        if b > today {
            errors.push(err(BIRTH_DATE, "Das Geburtsdatum liegt in der Zukunft."));
        } else if b < today.saturating_sub(jiff::Span::new().years(18)) {
            errors.push(err(BIRTH_DATE, "Das Kind wäre älter als 18 Jahre: bitte prüfen Sie das Geburtsdatum."));
        }
    }
    let kvnr = form.kvnr.trim().to_uppercase().replace(' ', "");
    let kvnr = if kvnr.is_empty() {
        None
    } else if Kvnr::parse(&kvnr).is_err() {
        errors.push(err(
            KVNR,
            "Die Krankenversichertennummer ist ungültig: ein Großbuchstabe und neun Ziffern, die letzte ist eine Prüfziffer.",
        ));
        None
    } else {
        Some(kvnr)
    };
    let checkup = match Checkup::from_name(form.checkup.trim()) {
        Some(c) if c.on_participation_card() => Some(c),
        Some(c) => {
            errors.push(err(CHECKUP, format!("Die {} wird nicht mit der Teilnahmekarte gemeldet.", c.name())));
            None
        }
        None => {
            errors.push(err(CHECKUP, "Bitte wählen Sie die Untersuchung aus (U2 bis U9)."));
            None
        }
    };
    let exam_date = date(&form.exam_date, EXAM_DATE, "das Datum der Untersuchung", &mut errors);
    if let Some(e) = exam_date {
        if e > today {
            errors.push(err(EXAM_DATE, "Das Datum der Untersuchung liegt in der Zukunft."));
        } else if birth_date.is_some_and(|b| e < b) {
            errors.push(err(EXAM_DATE, "Die Untersuchung kann nicht vor der Geburt stattgefunden haben."));
        }
    }
    let doctor_given =
        name(&form.doctor_given, DOCTOR_GIVEN, "den Vornamen der Ärztin oder des Arztes", true, &mut errors);
    let doctor_family =
        name(&form.doctor_family, DOCTOR_FAMILY, "den Nachnamen der Ärztin oder des Arztes", true, &mut errors);
    let lanr = form.lanr.trim().replace(' ', "");
    let lanr = if lanr.is_empty() {
        None
    } else if lanr.len() != 9 || !lanr.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(err(LANR, "Die LANR hat neun Ziffern."));
        None
    } else {
        Some(lanr)
    };
    match (given, family, birth_date, checkup, exam_date, doctor_given, doctor_family, card_uuid, timestamp) {
        (Some(g), Some(f), Some(b), Some(c), Some(e), Some(dg), Some(df), Some(u), Some(t)) if errors.is_empty() => {
            Ok(CardInput {
                practice_name: practice.name.clone(),
                practitioner_given: dg,
                practitioner_family: df,
                practitioner_lanr: lanr,
                patient_given: g,
                patient_family: f,
                patient_birth_name: birth_name,
                birth_date: b,
                kvnr,
                checkup: c,
                exam_date: e,
                timestamp: t,
                card_uuid: u,
            })
        }
        _ => Err(errors),
    }
}

/// Which form field a location of the card's validation comes from (the entries are in the
/// order [`oegd_fhir::build_card`] writes them: Composition, Encounter, Patient,
/// Practitioner, Organization).
pub fn field_of(expression: &str) -> &'static str {
    use field::*;
    let e = expression;
    if e.starts_with("Bundle.entry[2]") {
        if e.contains("identifier") {
            KVNR
        } else if e.contains("birthDate") {
            BIRTH_DATE
        } else if e.contains("maiden") || e.contains("name[1]") {
            BIRTH_NAME
        } else if e.contains("given") {
            GIVEN_NAME
        } else if e.contains("name") {
            FAMILY_NAME
        } else {
            FORM
        }
    } else if e.starts_with("Bundle.entry[3]") {
        if e.contains("identifier") {
            LANR
        } else if e.contains("given") {
            DOCTOR_GIVEN
        } else if e.contains("name") {
            DOCTOR_FAMILY
        } else {
            FORM
        }
    } else if e.starts_with("Bundle.entry[1]") && e.contains("period") {
        EXAM_DATE
    } else if e.starts_with("Bundle.entry[1]") && e.contains("type") {
        CHECKUP
    } else if e.starts_with("Bundle.entry[0]") && e.contains("date") {
        EXAM_DATE
    } else {
        FORM
    }
}

/// The German half of a validation message ("deutsch / english").
fn german(diagnostics: &str) -> String {
    diagnostics.split(" / ").next().unwrap_or(diagnostics).trim().to_owned()
}

/// What became of a submitted form.
#[derive(Debug)]
pub enum FormOutcome {
    /// Stored (or, for the same form sent again, the first one): the receipt's report.
    Received(Box<Submission>),
    /// Nothing stored; the problems by field.
    Rejected(Vec<FieldError>),
}

/// The card of a filled-in form, as the API would receive it (FHIR JSON bytes).
pub fn card_bytes(input: &CardInput) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec_pretty(&oegd_fhir::build_card(input)).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Checks the form, builds the card and submits it through the intake as `sender`.
pub async fn submit<S: Store>(
    gateway: &Gateway<S>,
    sender: &Sender,
    practice: &Organisation,
    form: &CheckupForm,
    today: Date,
) -> Result<FormOutcome, ServiceError> {
    let input = match card_input(form, practice, today, gateway.now()) {
        Ok(input) => input,
        Err(errors) => return Ok(FormOutcome::Rejected(errors)),
    };
    let body = card_bytes(&input)?;
    match gateway.submit_card(sender, MediaType::Json, &body, ReportSource::WebForm).await {
        Ok(submission) => Ok(FormOutcome::Received(Box::new(submission))),
        Err(ServiceError::Invalid(issues) | ServiceError::Unreadable(issues)) => Ok(FormOutcome::Rejected(
            issues.iter().map(|i| err(field_of(&i.expression), german(&i.diagnostics))).collect(),
        )),
        Err(ServiceError::Conflict(_)) => Ok(FormOutcome::Rejected(vec![err(
            field::FORM,
            "Diese Meldung wurde bereits mit anderem Inhalt gesendet. Für eine neue Meldung öffnen Sie bitte ein neues Formular.",
        )])),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use oegd_domain::{OrgKind, TelematikId};

    const NOW: Timestamp = Timestamp::constant(1_790_000_000, 0);

    fn practice() -> Organisation {
        Organisation {
            telematik_id: TelematikId::parse("1-2078123456").unwrap(),
            kind: OrgKind::Praxis,
            name: "Kinderarztpraxis Dr. Möller".into(),
            kreise: vec![],
            created_at: NOW,
        }
    }

    fn today() -> Date {
        crate::linking::berlin_date(NOW)
    }

    fn filled() -> CheckupForm {
        CheckupForm {
            given_name: "Jülie".into(),
            family_name: " von der  Lühe ".into(),
            birth_date: "14.03.2025".into(),
            kvnr: "".into(),
            checkup: "U4".into(),
            exam_date: "2025-06-20".into(),
            doctor_given: "Uwe".into(),
            doctor_family: "Tessenow".into(),
            card: "6f1c2a3e-8b4d-4c5e-9f60-718293a4b5c6".into(),
            ..new_form(NOW)
        }
    }

    #[test]
    fn a_filled_form_is_a_valid_card_with_the_practice_and_the_typed_facts() {
        let input = card_input(&filled(), &practice(), today(), NOW).unwrap();
        let body = card_bytes(&input).unwrap();
        let card = oegd_fhir::read_card(MediaType::Json, &body).unwrap();
        assert_eq!(card.patient.given, "Jülie");
        assert_eq!(card.patient.family, "von der Lühe");
        assert_eq!(card.patient.birth_date, jiff::civil::date(2025, 3, 14));
        assert_eq!(card.checkup, Checkup::U4);
        assert_eq!(card.exam_date, jiff::civil::date(2025, 6, 20));
        assert_eq!(card.organization.unwrap().name, "Kinderarztpraxis Dr. Möller");
        assert_eq!(card.card_id, "urn:uuid:6f1c2a3e-8b4d-4c5e-9f60-718293a4b5c6");
        // the same form gives the same bytes: sent twice it is the same card
        assert_eq!(card_bytes(&card_input(&filled(), &practice(), today(), NOW).unwrap()).unwrap(), body);
    }

    #[test]
    fn every_problem_is_reported_at_its_field_in_german() {
        let form = CheckupForm {
            given_name: "".into(),
            birth_date: "31.02.2025".into(),
            kvnr: "A123456789".into(),
            checkup: "U1".into(),
            exam_date: "2099-01-01".into(),
            lanr: "12345".into(),
            ..filled()
        };
        let errors = card_input(&form, &practice(), today(), NOW).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [field::GIVEN_NAME, field::BIRTH_DATE, field::KVNR, field::CHECKUP, field::EXAM_DATE, field::LANR]
        );
        assert!(errors[0].message.contains("Vornamen"));
        assert!(errors[1].message.contains("kein gültiges Datum"));
        assert!(errors[2].message.contains("Prüfziffer"));
        assert!(errors[3].message.contains("U1"));
        assert!(errors[4].message.contains("Zukunft"));
    }

    #[test]
    fn a_stale_or_forged_form_is_refused() {
        for form in [
            CheckupForm { card: "keine-uuid".into(), ..filled() },
            CheckupForm { created: (NOW.as_second() - 3 * 86_400).to_string(), ..filled() },
            CheckupForm { created: (NOW.as_second() + 3600).to_string(), ..filled() },
        ] {
            let errors = card_input(&form, &practice(), today(), NOW).unwrap_err();
            assert_eq!(errors.iter().map(|e| e.field).collect::<Vec<_>>(), [field::FORM]);
        }
    }

    #[test]
    fn exam_before_birth_and_dates_as_typed() {
        let form = CheckupForm { exam_date: "01.01.2025".into(), ..filled() };
        let errors = card_input(&form, &practice(), today(), NOW).unwrap_err();
        assert_eq!(errors[0].field, field::EXAM_DATE);
        assert_eq!(parse_date("2025-03-14"), parse_date("14.3.2025"));
        assert_eq!(parse_date("14.03.25"), None);
    }

    #[test]
    fn validation_locations_map_to_the_form_fields() {
        assert_eq!(field_of("Bundle.entry[2].resource.identifier[0].value"), field::KVNR);
        assert_eq!(field_of("Bundle.entry[2].resource.birthDate"), field::BIRTH_DATE);
        assert_eq!(field_of("Bundle.entry[2].resource.name[0].given[0]"), field::GIVEN_NAME);
        assert_eq!(field_of("Bundle.entry[3].resource.identifier[0].value"), field::LANR);
        assert_eq!(field_of("Bundle.entry[1].resource.period.start"), field::EXAM_DATE);
        assert_eq!(field_of("Bundle.timestamp"), field::FORM);
    }

    #[test]
    fn a_wrong_lanr_check_digit_is_found_by_the_card_validation_at_its_field() {
        let form = CheckupForm { lanr: "730158534".into(), ..filled() };
        let input = card_input(&form, &practice(), today(), NOW).unwrap();
        let body = card_bytes(&input).unwrap();
        let issues = match oegd_fhir::read_card(MediaType::Json, &body) {
            Err(oegd_fhir::CardError::Invalid(issues)) => issues,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert!(
            issues.iter().any(|i| field_of(&i.expression) == field::LANR && german(&i.diagnostics).contains("LANR"))
        );
    }
}
