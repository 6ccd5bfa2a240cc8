//! The daily run's letters as typeset PDFs: a reminder or invitation action, the child's
//! record on the day of the run and the state office as sender make one [`Letter`].
//!
//! Letters are typeset once, right after the run that created their action, and stored; a
//! letter is never re-typeset (what was sent stays what is shown).

use std::collections::BTreeMap;

use jiff::Timestamp;
use oegd_domain::{Checkup, MeldeId};
use oegd_letters::{Addressee, Letter, LetterKind, LetterRenderer, Sender};
use oegd_programme::{EscalationTarget, Invitation, LetterVariant, PersonRecord, Profile, Reminder};
use oegd_store::{ActionKey, Actor, ProgrammeAction, Store};

use crate::{ServiceError, register};

/// The kinds of action that are letters to families.
pub const LETTER_KINDS: [&str; 2] = ["reminder", "invitation"];

/// How many letters go into one transaction.
const BATCH: usize = 200;

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The state office that signs the letters of a profile's state.
pub fn sender_for(profile: &Profile) -> Sender {
    let escalation_recipient = match profile.escalation_target {
        EscalationTarget::Gesundheitsamt => "das für Ihren Wohnort zuständige Gesundheitsamt",
        EscalationTarget::Jugendamt => "das für Ihren Wohnort zuständige Jugendamt",
    };
    match profile.state.as_str() {
        "NI" => Sender {
            name: "Niedersächsisches Landesgesundheitsamt".into(),
            unit: "Einladungs- und Meldewesen Früherkennung".into(),
            contact: "Team Kindervorsorge".into(),
            street: "Roesebeckstraße 4–6".into(),
            postcode: "30449".into(),
            city: "Hannover".into(),
            phone: "0511 4505-0".into(),
            email: "kindervorsorge@nlga.niedersachsen.de".into(),
            legal_basis: "den Regelungen des Landes Niedersachsen zum Einladungs- und Meldewesen für \
                          Früherkennungsuntersuchungen bei Kindern"
                .into(),
            escalation_recipient: escalation_recipient.into(),
        },
        _ => Sender {
            name: "Landesamt für Gesundheit und Soziales Mecklenburg-Vorpommern".into(),
            unit: "Servicestelle Kindervorsorge".into(),
            contact: "Team Kindervorsorge".into(),
            street: "Erich-Schlesinger-Straße 35".into(),
            postcode: "18059".into(),
            city: "Rostock".into(),
            phone: "0381 331-59000".into(),
            email: "kindervorsorge@lagus.mv-regierung.de".into(),
            legal_basis: "§ 15b des Gesetzes über den Öffentlichen Gesundheitsdienst im Land \
                          Mecklenburg-Vorpommern (ÖGDG M-V)"
                .into(),
            escalation_recipient: escalation_recipient.into(),
        },
    }
}

/// The id of a letter as users quote it: `reminder:MELDE_ID:U6`.
pub fn letter_id(key: &ActionKey) -> String {
    format!("{}:{}:{}", key.kind, key.melde_id, key.checkup.map_or("", Checkup::name))
}

/// Reads a letter id back.
pub fn parse_letter_id(id: &str) -> Result<ActionKey, ServiceError> {
    let bad = || ServiceError::Usage(format!("{id:?} ist keine Brief-ID (Form: reminder:MELDE_ID:U6)."));
    let (kind, rest) = id.split_once(':').ok_or_else(bad)?;
    let (melde_id, checkup) = rest.rsplit_once(':').ok_or_else(bad)?;
    if !LETTER_KINDS.contains(&kind) {
        return Err(bad());
    }
    Ok(ActionKey {
        kind: kind.to_owned(),
        melde_id: oegd_domain::MeldeId::parse(melde_id).map_err(|_| bad())?,
        checkup: Some(Checkup::from_name(checkup).ok_or_else(bad)?),
    })
}

fn window_of(profile: &Profile, checkup: Checkup, birth: jiff::civil::Date) -> Option<oegd_programme::Window> {
    profile.checkups.iter().find(|c| c.checkup == checkup).and_then(|c| c.window.for_birth(birth))
}

/// The letter for one action, addressed as the child's record stood on the day of the run.
pub fn letter_for(
    profile: &Profile,
    sender: &Sender,
    action: &ProgrammeAction,
    record: &PersonRecord,
) -> Result<Letter, ServiceError> {
    let unknown_window = || ServiceError::Internal("no window for the letter's check-up".into());
    let kind = match action.kind.as_str() {
        "reminder" => {
            let r: Reminder = serde_json::from_str(&action.payload_json).map_err(internal)?;
            match r.variant {
                LetterVariant::NextCheckup => {
                    let w = window_of(profile, r.asks_for, record.birth_date).ok_or_else(unknown_window)?;
                    LetterKind::ReminderNextCheckup {
                        missed: r.checkup,
                        next: r.asks_for,
                        next_from: w.regular_start,
                        next_until: w.regular_end,
                    }
                }
                LetterVariant::SameCheckup => {
                    let deadline = match r.deadline {
                        Some(d) => d,
                        None => {
                            window_of(profile, r.checkup, record.birth_date).ok_or_else(unknown_window)?.tolerance_end
                        }
                    };
                    LetterKind::ReminderSameCheckup { missed: r.checkup, deadline }
                }
            }
        }
        "invitation" => {
            let i: Invitation = serde_json::from_str(&action.payload_json).map_err(internal)?;
            LetterKind::Invitation { checkup: i.checkup, from: i.regular_start, until: i.regular_end }
        }
        other => return Err(ServiceError::Internal(format!("no letter for a {other} action"))),
    };
    let child_name = format!("{} {}", record.given_names.join(" "), record.family_name);
    let mut lines = match record.guardians.as_slice() {
        [] => vec!["An die Sorgeberechtigten von".to_owned(), child_name.clone()],
        [one] => vec![one.clone()],
        [one, two] => vec![one.clone(), two.clone()],
        [one, ..] => vec![format!("{one} u. a.")],
    };
    let a = &record.address;
    lines.push(format!("{} {}", a.street, a.house_number).trim().to_owned());
    lines.push(format!("{} {}", a.plz, a.city));
    Ok(Letter {
        reference: format!("KV-{}-{}", action.melde_id, action.checkup.map_or("", Checkup::name)),
        date: action.created,
        sender: sender.clone(),
        addressee: Addressee { lines },
        child_name,
        child_birth_date: record.birth_date,
        guardians: record.guardians.clone(),
        kind,
    })
}

/// Typesets and stores the letters of every recorded reminder and invitation that has none
/// yet. Returns how many were stored.
pub async fn render_missing<S: Store>(
    store: &S,
    profile: &Profile,
    sender: &Sender,
    now: Timestamp,
) -> Result<usize, ServiceError> {
    let actions = store.actions_without_letter(&LETTER_KINDS).await?;
    if actions.is_empty() {
        return Ok(0);
    }
    let rows = register::rows(store).await?;
    let renderer = LetterRenderer::new().map_err(internal)?;
    // The register as of an action's date, built once per date rather than once per letter:
    // a run's actions share their date, and the build (filter, sort, map over every registry
    // row) grows with the register, so per letter it was quadratic over a run.
    let mut latest_as_of: Option<(jiff::civil::Date, BTreeMap<&MeldeId, &PersonRecord>)> = None;
    let mut stored = 0;
    for chunk in actions.chunks(BATCH) {
        let letters = chunk
            .iter()
            .map(|action| {
                let latest = match &latest_as_of {
                    Some((date, latest)) if *date == action.created => latest,
                    _ => {
                        let latest = register::latest_records(&rows, Some(action.created));
                        &latest_as_of.insert((action.created, latest)).1
                    }
                };
                let record = latest
                    .get(&action.melde_id)
                    .ok_or_else(|| ServiceError::Internal("letter for a child without a record".into()))?;
                letter_for(profile, sender, action, record)
            })
            .collect::<Result<Vec<Letter>, ServiceError>>()?;
        let pdfs = render_all(&renderer, &letters)?;
        let keyed: Vec<(ActionKey, Vec<u8>)> = chunk.iter().map(ProgrammeAction::key).zip(pdfs).collect();
        stored += store.store_letters(&keyed, now, &Actor::System).await?;
    }
    Ok(stored)
}

/// Renders on every core: typesetting is the slow part of a run.
fn render_all(renderer: &LetterRenderer, letters: &[Letter]) -> Result<Vec<Vec<u8>>, ServiceError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let per_thread = letters.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = letters
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().map(|l| renderer.render_pdf(l)).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut all = Vec::with_capacity(letters.len());
        for h in handles {
            let part = h.join().map_err(|_| ServiceError::Internal("letter rendering thread panicked".into()))?;
            all.extend(part.map_err(internal)?);
        }
        Ok(all)
    })
}
