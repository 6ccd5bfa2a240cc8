//! The daily run of the check-up programme over what the store holds: the register as of
//! the day, each report linked to a child by the linker, the engine's actions recorded once.
//!
//! Linking here is automatic only (`Linked` decisions); reports the linker sends to review
//! or leaves unlinked are counted but not yet queued for a person (issue 3, next step).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use oegd_fhir::ParticipationCard;
use oegd_linkage::{LinkIndex, Outcome, RegisteredChild, ReportedChild};
use oegd_programme::{AssignedReport, Evaluation, Profile, RegistryRow};
use oegd_store::{Actor, ProgrammeAction, ReportFilter, Store};
use serde::Serialize;

use crate::ServiceError;

/// What a daily run did.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub as_of: Date,
    pub reports: usize,
    pub linked: usize,
    pub review: usize,
    pub unlinked: usize,
    /// Actions the engine knows as of the day, by kind.
    pub actions: BTreeMap<String, usize>,
    /// Of those, recorded by this run (the rest existed before).
    pub new_actions: usize,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

fn berlin_date(t: Timestamp) -> Date {
    t.to_zoned(TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC)).date()
}

/// The engine's evaluation as of `as_of` from the store's register and reports.
pub async fn evaluate<S: Store>(
    store: &S,
    profile: &Profile,
    as_of: Date,
) -> Result<(Evaluation, [usize; 4]), ServiceError> {
    let rows: Vec<RegistryRow> = store
        .registry_events()
        .await?
        .iter()
        .map(|e| serde_json::from_str(&e.row_json).map_err(internal))
        .collect::<Result<_, _>>()?;
    let Some(programme_start) = rows.iter().map(|r| r.event_date).min() else {
        return Err(ServiceError::Usage("Noch keine Meldedaten importiert (registry import).".into()));
    };

    // The register as of the day: the latest record of each child (events in date order,
    // stable, so file order decides within a day).
    let mut ordered: Vec<&RegistryRow> = rows.iter().filter(|r| r.event_date <= as_of).collect();
    ordered.sort_by_key(|r| r.event_date);
    let mut latest = BTreeMap::new();
    for row in ordered {
        if let Some(record) = &row.record {
            latest.insert(row.melde_id.clone(), record);
        }
    }
    let index = LinkIndex::new(latest.iter().map(|(id, r)| RegisteredChild {
        melde_id: id.clone(),
        given_names: r.given_names.clone(),
        family_name: r.family_name.clone(),
        birth_name: r.birth_name.clone(),
        birth_date: r.birth_date,
        kvnr: None,
    }));

    let mut assigned = Vec::new();
    let mut counts = [0usize; 4];
    for summary in store.reports(&ReportFilter::default()).await? {
        let received = berlin_date(summary.received_at);
        if received > as_of {
            continue;
        }
        let Some(report) = store.report(&summary.id).await? else { continue };
        let card: ParticipationCard = serde_json::from_str(&report.facts_json).map_err(internal)?;
        let decision = index.decide(&ReportedChild {
            given_name: card.patient.given.clone(),
            family_name: card.patient.family.clone(),
            birth_name: card.patient.birth_name.clone(),
            birth_date: card.patient.birth_date,
            kvnr: card.patient.kvnr.as_deref().and_then(|k| oegd_domain::Kvnr::parse(k).ok()),
        });
        counts[0] += 1;
        let melde_id = match decision.outcome {
            Outcome::Linked(id) => {
                counts[1] += 1;
                Some(id)
            }
            Outcome::Review => {
                counts[2] += 1;
                None
            }
            Outcome::Unlinked => {
                counts[3] += 1;
                None
            }
        };
        assigned.push(AssignedReport {
            report_id: card.card_id.trim_start_matches("urn:uuid:").to_owned(),
            melde_id,
            checkup: card.checkup,
            exam_date: card.exam_date,
            received,
        });
    }
    Ok((oegd_programme::evaluate(profile, programme_start, &rows, &assigned, as_of), counts))
}

fn action(kind: &str, value: impl Serialize) -> Result<ProgrammeAction, ServiceError> {
    let payload = serde_json::to_value(&value).map_err(internal)?;
    let field = |name: &str| payload.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    Ok(ProgrammeAction {
        kind: kind.to_owned(),
        melde_id: field("melde_id")
            .and_then(|m| oegd_domain::MeldeId::parse(&m).ok())
            .ok_or_else(|| ServiceError::Internal("action without melde_id".into()))?,
        checkup: field("checkup").and_then(|c| oegd_domain::Checkup::from_name(&c)),
        created: field("created")
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| ServiceError::Internal("action without date".into()))?,
        district: field("district").and_then(|d| oegd_domain::Kreisschluessel::parse(&d).ok()),
        payload_json: payload.to_string(),
    })
}

/// The daily run as of `as_of`: records every action the engine has created by that day
/// that is not recorded yet. Running it again, or for earlier days, adds nothing twice.
pub async fn run_jobs<S: Store>(
    store: &S,
    profile: &Profile,
    as_of: Date,
    now: Timestamp,
) -> Result<JobRun, ServiceError> {
    let (evaluation, [reports, linked, review, unlinked]) = evaluate(store, profile, as_of).await?;
    let mut actions = Vec::new();
    for a in &evaluation.invitations {
        actions.push(action("invitation", a)?);
    }
    for a in &evaluation.reminders {
        actions.push(action("reminder", a)?);
    }
    for a in &evaluation.escalations {
        actions.push(action("escalation", a)?);
    }
    for a in &evaluation.all_clears {
        actions.push(action("all_clear", a)?);
    }
    for a in &evaluation.deletions {
        actions.push(action("deletion", a)?);
    }
    let mut by_kind = BTreeMap::new();
    for a in &actions {
        *by_kind.entry(a.kind.clone()).or_insert(0) += 1;
    }
    let new_actions = store.record_actions(&actions, as_of, now, &Actor::System).await?;
    Ok(JobRun { as_of, reports, linked, review, unlinked, actions: by_kind, new_actions })
}
