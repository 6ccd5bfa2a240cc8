//! The daily run of the check-up programme over what the store holds: the register, each
//! report with its link decision (see [`crate::linking`]), the engine's actions recorded
//! once, and the letters typeset and stored.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use oegd_domain::{Checkup, Kreisschluessel, MeldeId};
use oegd_letters::Sender;
use oegd_programme::{AssignedReport, Evaluation, Profile};
use oegd_store::{Actor, LinkState, ProgrammeAction, ReportFilter, Store};
use serde::Serialize;

use crate::linking::{self, LinkRun, berlin_date};
use crate::{ServiceError, erasure, letters, register};

/// What a daily run did.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub as_of: Date,
    /// What the linker did before the run.
    pub linking: LinkRun,
    /// Reports received by the day, and their link states now.
    pub reports: usize,
    pub linked: usize,
    pub review: usize,
    pub unlinked: usize,
    /// Actions the engine knows as of the day, by kind.
    pub actions: BTreeMap<String, usize>,
    /// Of those, recorded by this run (the rest existed before).
    pub new_actions: usize,
    /// Letters typeset and stored by this run.
    pub letters: usize,
    /// Children whose personal data this run erased (end of retention).
    pub erased: usize,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The engine's evaluation as of `as_of` from the store's register, reports and link
/// decisions, with the count of reports received by then and how many of them are linked,
/// in review and unlinked.
pub async fn evaluate<S: Store>(
    store: &S,
    profile: &Profile,
    as_of: Date,
) -> Result<(Evaluation, [usize; 4]), ServiceError> {
    // one read after another (at once they would hold most of the store's read connections
    // for seconds), then parsing and the engine off the request workers
    let events = store.registry_events().await?;
    let decisions = store.link_decisions(None).await?;
    let reports = store.reports(&ReportFilter::default()).await?;
    let profile = profile.clone();
    tokio::task::spawn_blocking(move || {
        let rows = register::rows_of(&events)?;
        drop(events);
        let Some(programme_start) = rows.iter().map(|r| r.event_date).min() else {
            return Err(ServiceError::Usage("Noch keine Meldedaten importiert (registry import).".into()));
        };
        let links = linking::links_of(decisions);
        let mut assigned = Vec::new();
        let mut counts = [0usize; 4];
        for summary in reports {
            let received = berlin_date(summary.received_at);
            if received > as_of {
                continue;
            }
            let (state, melde_id, linked_on) =
                links.get(&summary.id).cloned().unwrap_or((LinkState::Unlinked, None, None));
            counts[0] += 1;
            match state {
                LinkState::Linked | LinkState::Confirmed => counts[1] += 1,
                LinkState::Review => counts[2] += 1,
                LinkState::Unlinked | LinkState::Rejected => counts[3] += 1,
            }
            assigned.push(AssignedReport {
                // the card's id: a resubmission counts once (the engine keeps the first receipt)
                report_id: summary.card_id.trim_start_matches("urn:uuid:").to_owned(),
                melde_id,
                checkup: summary.checkup,
                exam_date: summary.exam_date,
                received,
                linked_on,
            });
        }
        Ok((oegd_programme::evaluate(&profile, programme_start, &rows, &assigned, as_of), counts))
    })
    .await
    .map_err(internal)?
}

/// One action in the store's terms: its key fields, and the engine's record as JSON.
fn action(
    kind: &str,
    value: &impl Serialize,
    melde_id: &MeldeId,
    checkup: Option<Checkup>,
    created: Date,
    district: Option<&Kreisschluessel>,
) -> Result<ProgrammeAction, ServiceError> {
    Ok(ProgrammeAction {
        kind: kind.to_owned(),
        melde_id: melde_id.clone(),
        checkup,
        created,
        district: district.cloned(),
        // straight to text, not through serde_json::Value (the same JSON: the workspace's
        // serde_json keeps field order)
        payload_json: serde_json::to_string(value).map_err(internal)?,
    })
}

/// The engine's actions in the store's terms.
pub fn actions_of(evaluation: &Evaluation) -> Result<Vec<ProgrammeAction>, ServiceError> {
    let ev = evaluation;
    let mut actions = Vec::with_capacity(
        ev.invitations.len() + ev.reminders.len() + ev.escalations.len() + ev.all_clears.len() + ev.deletions.len(),
    );
    for a in &ev.invitations {
        actions.push(action("invitation", a, &a.melde_id, Some(a.checkup), a.created, Some(&a.district))?);
    }
    for a in &ev.reminders {
        actions.push(action("reminder", a, &a.melde_id, Some(a.checkup), a.created, Some(&a.district))?);
    }
    for a in &ev.escalations {
        actions.push(action("escalation", a, &a.melde_id, Some(a.checkup), a.created, Some(&a.district))?);
    }
    for a in &ev.all_clears {
        actions.push(action("all_clear", a, &a.melde_id, Some(a.checkup), a.created, Some(&a.district))?);
    }
    for a in &ev.deletions {
        actions.push(action("deletion", a, &a.melde_id, None, a.created, None)?);
    }
    Ok(actions)
}

/// The daily run as of `as_of`: records every action the engine has created by that day
/// that is not recorded yet. Running it again, or for earlier days, adds nothing twice.
pub async fn run_jobs<S: Store>(
    store: &S,
    profile: &Profile,
    sender: &Sender,
    as_of: Date,
    now: Timestamp,
) -> Result<JobRun, ServiceError> {
    let linking = linking::link_pending(store, now).await?;
    let (evaluation, [reports, linked, review, unlinked]) = evaluate(store, profile, as_of).await?;
    let actions = actions_of(&evaluation)?;
    let mut by_kind = BTreeMap::new();
    for a in &actions {
        *by_kind.entry(a.kind.clone()).or_insert(0) += 1;
    }
    let new_actions = store.record_actions(&actions, as_of, now, &Actor::System).await?;
    // letters first: a child deleted in this run still gets the letters due before
    let letters = letters::render_missing(store, profile, sender, now).await?;
    let erased = erasure::erase_deleted(store, now).await?;
    Ok(JobRun { as_of, linking, reports, linked, review, unlinked, actions: by_kind, new_actions, letters, erased })
}

/// How long a claimed daily run may take before another process may take it over.
pub const DAILY_RUN_LEASE: SignedDuration = SignedDuration::from_hours(1);

/// The daily run as `serve` does it: only if no other process on the same database has
/// done or is doing the run of `as_of`. `None` when someone else has it, or when there is
/// no register yet.
pub async fn scheduled_run<S: Store>(
    store: &S,
    profile: &Profile,
    sender: &Sender,
    holder: &str,
    as_of: Date,
    now: impl Fn() -> Timestamp,
) -> Result<Option<JobRun>, ServiceError> {
    // no register yet: nothing to run (and nothing to claim)
    if store.deliveries().await?.is_empty() || !store.claim_daily_run(as_of, holder, now(), DAILY_RUN_LEASE).await? {
        return Ok(None);
    }
    let run = run_jobs(store, profile, sender, as_of, now()).await?;
    store.finish_daily_run(as_of, holder, now()).await?;
    Ok(Some(run))
}
