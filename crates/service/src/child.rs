//! One child of the register as the state office sees it: the current record, the check-up
//! windows with their states, and a timeline of everything that happened (registration
//! events, linked reports, letters, escalations, all-clears, deletion), oldest first.
//!
//! The states come from the programme engine, replayed for this child alone (each child is
//! replayed independently; the programme's first day is the register's earliest event), so
//! they are what the daily runs through `as_of` know. Letters, escalations and all-clears are
//! what the daily runs actually recorded.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_domain::{Checkup, Kreisschluessel, MeldeId, TelematikId};
use oegd_fhir::ParticipationCard;
use oegd_linkage::Decision;
use oegd_programme::{
    AssignedReport, CheckupReport, ChildReport, ChildStatus, EventKind, PersonRecord, Profile, Window,
};
use oegd_store::{ActionKey, LinkState, ReportId, ReportSource, Store};

use crate::linking::berlin_date;
use crate::{ServiceError, letters, register};

/// One tracked check-up of the child.
#[derive(Debug, Clone)]
pub struct CheckupLine {
    pub checkup: Checkup,
    pub window: Option<Window>,
    /// The engine's state and dates as of the page's day; `None` for a deleted child.
    pub report: Option<CheckupReport>,
}

/// What happened on a day.
#[derive(Debug, Clone)]
pub enum Event {
    /// A registration event; `place` and `kreis` from the record it carries, if any.
    Registration {
        kind: EventKind,
        place: Option<String>,
        kreis: Option<Kreisschluessel>,
    },
    /// A report linked to this child (by the linker or a person).
    Report(LinkedReport),
    /// A letter of the programme (reminder or invitation); `pdf` when one is stored.
    Letter {
        kind: String,
        checkup: Option<Checkup>,
        letter_id: String,
        pdf: bool,
    },
    Escalation {
        checkup: Option<Checkup>,
        district: Option<Kreisschluessel>,
    },
    AllClear {
        checkup: Option<Checkup>,
        district: Option<Kreisschluessel>,
    },
    /// The end of retention: the personal data were (or will be) erased.
    Deletion,
}

/// A report linked to the child.
#[derive(Debug, Clone)]
pub struct LinkedReport {
    pub report_id: ReportId,
    pub checkup: Checkup,
    pub exam_date: Date,
    pub received: Date,
    pub sender: TelematikId,
    /// The practice as the card names it (`None` when the card's data were erased).
    pub practice: Option<String>,
    pub doctor: Option<String>,
    pub source: ReportSource,
    pub state: LinkState,
    /// `system` for the linker, `user:LOGIN` for a person.
    pub decided_by: String,
    /// The day the link counts from.
    pub effective: Date,
}

/// One entry of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    pub date: Date,
    pub event: Event,
}

/// A child's page.
#[derive(Clone)]
pub struct ChildView {
    pub melde_id: MeldeId,
    pub as_of: Date,
    /// The latest record (`None` if the register holds none, e.g. erased data show empty).
    pub record: Option<PersonRecord>,
    pub erased: bool,
    /// `None` when the engine does not know the child as of the day (registered later).
    pub status: Option<ChildStatus>,
    pub district: Option<Kreisschluessel>,
    pub tracked_from: Option<Date>,
    pub exit_date: Option<Date>,
    pub deleted_on: Option<Date>,
    pub checkups: Vec<CheckupLine>,
    /// Oldest first; on one day in the order register, report, letter, escalation, all-clear.
    pub timeline: Vec<TimelineEntry>,
    /// Reports waiting in the review queue with this child among the candidates.
    pub in_review: Vec<ReportId>,
}

impl std::fmt::Debug for ChildView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildView").field("melde_id", &self.melde_id).finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The kinds of recorded action the timeline shows (every kind the daily run records).
const SHOWN_ACTIONS: [&str; 5] = ["invitation", "reminder", "escalation", "all_clear", "deletion"];

fn event_rank(e: &Event) -> u8 {
    match e {
        Event::Registration { .. } => 0,
        Event::Report(_) => 1,
        Event::Letter { .. } => 2,
        Event::Escalation { .. } => 3,
        Event::AllClear { .. } => 4,
        Event::Deletion => 5,
    }
}

/// The child's page as of `as_of`; [`ServiceError::NotFound`] if the register never had it.
pub async fn child<S: Store>(
    store: &S,
    profile: &Profile,
    melde_id: &MeldeId,
    as_of: Date,
) -> Result<ChildView, ServiceError> {
    // only this child's records, by index: the page costs the same in a state of a million
    // children as in a test's handful
    let rows = register::rows_of(&store.registry_events_of(melde_id).await?)?;
    let programme_start = store.first_event_date().await?;
    let (Some(programme_start), false) = (programme_start, rows.is_empty()) else {
        return Err(ServiceError::NotFound("Kind nicht im Melderegister.".into()));
    };
    let erased = store.is_erased(melde_id).await?;
    let record = register::latest_records(&rows, None).get(melde_id).map(|r| (*r).clone());

    let mut timeline = Vec::new();
    for row in &rows {
        let place = row.record.as_ref().filter(|r| !r.address.city.is_empty()).map(|r| r.address.city.clone());
        let kreis = row.record.as_ref().map(|r| r.ags.kreis());
        timeline
            .push(TimelineEntry { date: row.event_date, event: Event::Registration { kind: row.event, place, kreis } });
    }

    // reports linked to the child, and those in review that name it as a candidate
    let mut assigned = Vec::new();
    let mut in_review = Vec::new();
    for d in store.link_decisions(Some(LinkState::Review)).await? {
        let decision: Decision = serde_json::from_str(&d.decision_json).map_err(internal)?;
        if decision.candidates.iter().any(|c| &c.melde_id == melde_id) {
            in_review.push(d.report_id);
        }
    }
    for d in store.child_link_decisions(melde_id).await? {
        if !matches!(d.state, LinkState::Linked | LinkState::Confirmed) {
            continue;
        }
        let Some(report) = store.report(&d.report_id).await? else { continue };
        let card: Option<ParticipationCard> = serde_json::from_str(&report.facts_json).ok();
        let received = berlin_date(report.received_at);
        assigned.push(AssignedReport {
            report_id: report.card_id.trim_start_matches("urn:uuid:").to_owned(),
            melde_id: Some(melde_id.clone()),
            checkup: report.checkup,
            exam_date: report.exam_date,
            received,
            linked_on: Some(d.effective),
        });
        timeline.push(TimelineEntry {
            date: received,
            event: Event::Report(LinkedReport {
                report_id: report.id.clone(),
                checkup: report.checkup,
                exam_date: report.exam_date,
                received,
                sender: report.sender.clone(),
                practice: card.as_ref().and_then(|c| c.organization.as_ref()).map(|o| o.name.clone()),
                doctor: card.as_ref().and_then(|c| c.practitioner.as_ref()).map(|p| p.name.clone()),
                source: report.source,
                state: d.state,
                decided_by: d.decided_by.clone(),
                effective: d.effective,
            }),
        });
    }

    for a in store.child_actions(melde_id, &SHOWN_ACTIONS).await? {
        let event = match a.kind.as_str() {
            "reminder" | "invitation" => {
                let key = ActionKey { kind: a.kind.clone(), melde_id: a.melde_id.clone(), checkup: a.checkup };
                let pdf = store.letter_pdf(&key).await?.is_some_and(|b| !b.is_empty());
                Event::Letter { kind: a.kind.clone(), checkup: a.checkup, letter_id: letters::letter_id(&key), pdf }
            }
            "escalation" => Event::Escalation { checkup: a.checkup, district: a.district.clone() },
            "all_clear" => Event::AllClear { checkup: a.checkup, district: a.district.clone() },
            "deletion" => Event::Deletion,
            _ => continue,
        };
        timeline.push(TimelineEntry { date: a.created, event });
    }
    timeline.sort_by_key(|e| (e.date, event_rank(&e.event)));

    // the engine, for this child alone
    let evaluation = oegd_programme::evaluate(profile, programme_start, &rows, &assigned, as_of);
    let engine_child = evaluation.children.into_iter().find(|c| c.melde_id() == melde_id);
    let (mut status, mut district, mut tracked_from, mut exit_date, mut deleted_on) = (None, None, None, None, None);
    let mut states = BTreeMap::new();
    let mut birth = record.as_ref().map(|r| r.birth_date);
    match engine_child {
        Some(ChildReport::Registered(c)) => {
            status = Some(c.status);
            district = Some(c.district);
            tracked_from = Some(c.tracked_from);
            exit_date = c.exit_date;
            deleted_on = Some(c.deleted_on);
            birth = Some(c.birth_date);
            states = c.checkups;
        }
        Some(ChildReport::Deleted(c)) => {
            status = Some(ChildStatus::Deleted);
            deleted_on = Some(c.deleted_on);
        }
        None => {}
    }
    let checkups = profile
        .checkups
        .iter()
        .map(|rule| CheckupLine {
            checkup: rule.checkup,
            window: birth.and_then(|b| rule.window.for_birth(b)),
            report: states.remove(&rule.checkup),
        })
        .collect();
    Ok(ChildView {
        melde_id: melde_id.clone(),
        as_of,
        record,
        erased,
        status,
        district,
        tracked_from,
        exit_date,
        deleted_on,
        checkups,
        timeline,
        in_review,
    })
}

/// The day in Germany at `now`: the day the state office's pages are "as of".
pub fn today(now: Timestamp) -> Date {
    berlin_date(now)
}
