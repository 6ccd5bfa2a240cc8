//! The escalated cases of a health office (Gesundheitsamt), and the outcome of its contact
//! with the family.
//!
//! Access rule: an office sees the escalations of its own districts (its organisation's
//! `kreise`) and nothing else; asking for another district's case is answered exactly like
//! asking for one that does not exist.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_domain::{Checkup, Kreisschluessel, MeldeId};
use oegd_store::{Actor, CaseOutcome, ProgrammeAction, Store};

use crate::{ServiceError, register};

/// What the office can record about its contact with a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Family reached.
    Reached,
    /// Check-up done later.
    DoneLater,
    /// The family declined.
    Declined,
    /// The family could not be reached.
    NotReachable,
    /// Handed to the Jugendamt.
    Jugendamt,
}

impl Outcome {
    pub const ALL: [Outcome; 5] =
        [Outcome::Reached, Outcome::DoneLater, Outcome::Declined, Outcome::NotReachable, Outcome::Jugendamt];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reached => "erreicht",
            Outcome::DoneLater => "nachgeholt",
            Outcome::Declined => "abgelehnt",
            Outcome::NotReachable => "nicht_erreichbar",
            Outcome::Jugendamt => "jugendamt",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Reached => "Familie erreicht",
            Outcome::DoneLater => "Untersuchung nachgeholt",
            Outcome::Declined => "Untersuchung abgelehnt",
            Outcome::NotReachable => "Familie nicht erreichbar",
            Outcome::Jugendamt => "an das Jugendamt übergeben",
        }
    }

    /// Whether the case is closed with this outcome.
    pub fn closes(self) -> bool {
        matches!(self, Outcome::DoneLater | Outcome::Declined | Outcome::Jugendamt)
    }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaseStatus {
    Open,
    InProgress,
    Closed,
}

impl CaseStatus {
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Open => "offen",
            CaseStatus::InProgress => "in Bearbeitung",
            CaseStatus::Closed => "abgeschlossen",
        }
    }
}

/// The child of a case as the register knows it now.
#[derive(Clone)]
pub struct CaseChild {
    pub given_names: String,
    pub family_name: String,
    pub birth_date: Date,
    pub guardians: Vec<String>,
    pub street: String,
    pub place: String,
    pub auskunftssperre: bool,
}

/// One escalated case.
#[derive(Clone)]
pub struct Case {
    pub melde_id: MeldeId,
    pub checkup: Checkup,
    pub escalated_on: Date,
    pub district: Kreisschluessel,
    /// `None` when the child's data was erased.
    pub child: Option<CaseChild>,
    /// The day of the all-clear, if a late report arrived.
    pub all_clear: Option<Date>,
    /// Recorded outcomes, oldest first.
    pub outcomes: Vec<CaseOutcome>,
    pub status: CaseStatus,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("melde_id", &self.melde_id).field("checkup", &self.checkup).finish_non_exhaustive()
    }
}

fn in_districts(a: &ProgrammeAction, kreise: &[Kreisschluessel]) -> bool {
    a.district.as_ref().is_some_and(|d| kreise.contains(d))
}

/// The escalations of these districts, open ones first, then by escalation day.
pub async fn cases<S: Store>(store: &S, kreise: &[Kreisschluessel]) -> Result<Vec<Case>, ServiceError> {
    if kreise.is_empty() {
        return Ok(Vec::new());
    }
    let actions = store.actions(None).await?;
    let mut all_clears: BTreeMap<(MeldeId, Option<Checkup>), Date> = BTreeMap::new();
    for a in actions.iter().filter(|a| a.kind == "all_clear") {
        all_clears.insert((a.melde_id.clone(), a.checkup), a.created);
    }
    let mut outcomes: BTreeMap<(MeldeId, Checkup), Vec<CaseOutcome>> = BTreeMap::new();
    for o in store.case_outcomes().await? {
        outcomes.entry((o.melde_id.clone(), o.checkup)).or_default().push(o);
    }
    let rows = register::rows(store).await?;
    let latest = register::latest_records(&rows, None);
    // an erased child's record keeps only its pseudonymous rest: no name to show
    let erased: std::collections::BTreeSet<MeldeId> = store.erased_children().await?.into_iter().collect();
    let mut cases = Vec::new();
    for a in actions.iter().filter(|a| a.kind == "escalation" && in_districts(a, kreise)) {
        let (Some(checkup), Some(district)) = (a.checkup, a.district.clone()) else { continue };
        let child = latest.get(&a.melde_id).filter(|_| !erased.contains(&a.melde_id)).map(|r| CaseChild {
            given_names: r.given_names.join(" "),
            family_name: r.family_name.clone(),
            birth_date: r.birth_date,
            guardians: r.guardians.clone(),
            street: format!("{} {}", r.address.street, r.address.house_number).trim().to_owned(),
            place: format!("{} {}", r.address.plz, r.address.city),
            auskunftssperre: r.auskunftssperre,
        });
        let all_clear = all_clears.get(&(a.melde_id.clone(), a.checkup)).copied();
        let outcomes = outcomes.remove(&(a.melde_id.clone(), checkup)).unwrap_or_default();
        let last = outcomes.last().and_then(|o| Outcome::parse(&o.outcome));
        let status = match (all_clear, last) {
            (Some(_), _) => CaseStatus::Closed,
            (None, Some(o)) if o.closes() => CaseStatus::Closed,
            (None, Some(_)) => CaseStatus::InProgress,
            (None, None) => CaseStatus::Open,
        };
        cases.push(Case {
            melde_id: a.melde_id.clone(),
            checkup,
            escalated_on: a.created,
            district,
            child,
            all_clear,
            outcomes,
            status,
        });
    }
    cases.sort_by(|a, b| (a.status, a.escalated_on, &a.melde_id).cmp(&(b.status, b.escalated_on, &b.melde_id)));
    Ok(cases)
}

/// One case of these districts; [`ServiceError::NotFound`] for another district's case and
/// for one that does not exist alike.
pub async fn case<S: Store>(
    store: &S,
    kreise: &[Kreisschluessel],
    melde_id: &MeldeId,
    checkup: Checkup,
) -> Result<Case, ServiceError> {
    cases(store, kreise)
        .await?
        .into_iter()
        .find(|c| &c.melde_id == melde_id && c.checkup == checkup)
        .ok_or_else(|| ServiceError::NotFound("Fall nicht gefunden.".into()))
}

/// Records an outcome for a case of these districts.
pub async fn record_outcome<S: Store>(
    store: &S,
    kreise: &[Kreisschluessel],
    melde_id: &MeldeId,
    checkup: Checkup,
    outcome: Outcome,
    note: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), ServiceError> {
    case(store, kreise, melde_id, checkup).await?;
    if note.chars().count() > 4000 {
        return Err(ServiceError::Usage("Die Notiz darf höchstens 4000 Zeichen lang sein.".into()));
    }
    let record = CaseOutcome {
        melde_id: melde_id.clone(),
        checkup,
        outcome: outcome.as_str().to_owned(),
        note: note.trim().to_owned(),
        recorded_by: actor.to_string(),
        recorded_at: now,
    };
    store.record_case_outcome(&record, actor).await?;
    Ok(())
}
