//! Linking reports to children of the register (PROGRAMME.md, "Linking reports to
//! children"), and the review queue where a person decides what the linker could not.
//!
//! Every report has one current decision in the store, with the linker's score and
//! comparison. The linker decides reports that have none and re-tries its own open decisions
//! (review, unlinked) each time it runs: after a registration import, after a report import,
//! before every daily run, and in `serve` shortly after reports arrive. Whether a late link
//! still counts (26 weeks) is the programme's rule and applied by the engine. A person's
//! decision is never replaced by the linker; a person can undo any decision.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_domain::{Checkup, Kvnr, MeldeId, TelematikId};
use oegd_fhir::ParticipationCard;
use oegd_linkage::{Decision, LinkIndex, Outcome, Reason, RegisteredChild, ReportedChild};
use oegd_programme::RegistryRow;
use oegd_store::{Actor, LinkDecision, LinkState, RememberedKvnr, ReportFilter, ReportId, Store};
use serde::Serialize;

use crate::{ServiceError, register};

/// How many decisions go into one transaction.
const BATCH: usize = 1000;

/// What a run of the linker did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkRun {
    /// Reports without a decision or with an open one of the linker.
    pub examined: usize,
    /// Decisions written (new, or changed by new register data).
    pub written: usize,
    /// Of the examined reports, by the linker's outcome.
    pub linked: usize,
    pub review: usize,
    pub unlinked: usize,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The day a report was received, in Germany.
pub(crate) fn berlin_date(t: Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC)).date()
}

/// Whether the linker may replace this decision: its own, and still open.
fn open_to_linker(d: &LinkDecision) -> bool {
    d.state.is_open_to_linker() && d.decided_by == Actor::System.to_string()
}

async fn card<S: Store>(store: &S, id: &ReportId) -> Result<(ParticipationCard, Date), ServiceError> {
    let report = store.report(id).await?.ok_or_else(|| ServiceError::NotFound("Meldung nicht gefunden.".into()))?;
    let card = serde_json::from_str(&report.facts_json).map_err(internal)?;
    Ok((card, berlin_date(report.received_at)))
}

pub(crate) fn reported(card: &ParticipationCard) -> ReportedChild {
    ReportedChild {
        given_name: card.patient.given.clone(),
        family_name: card.patient.family.clone(),
        birth_name: card.patient.birth_name.clone(),
        birth_date: card.patient.birth_date,
        kvnr: card.patient.kvnr.as_deref().and_then(|k| Kvnr::parse(k).ok()),
    }
}

/// The linker's index over the register as it stands now (every child ever registered,
/// with its latest record), with the KVNRs remembered from confirmed links, and the day each
/// of those links counts from.
pub async fn current_index<S: Store>(store: &S) -> Result<(LinkIndex, HashMap<MeldeId, Date>), ServiceError> {
    let rows = register::rows(store).await?;
    let remembered = store.remembered_kvnrs().await?;
    let since = remembered.iter().map(|k| (k.melde_id.clone(), k.since)).collect();
    let kvnrs: HashMap<MeldeId, Kvnr> = remembered.into_iter().map(|k| (k.melde_id, k.kvnr)).collect();
    let erased: HashSet<MeldeId> = store.erased_children().await?.into_iter().collect();
    // seconds of CPU at a million children: not on a thread that serves requests
    let index = tokio::task::spawn_blocking(move || index_of(&rows, &kvnrs, &erased)).await.map_err(internal)?;
    Ok((index, since))
}

/// Erased children are not candidates: nothing links to them any more.
fn index_of(rows: &[RegistryRow], kvnrs: &HashMap<MeldeId, Kvnr>, erased: &HashSet<MeldeId>) -> LinkIndex {
    let records = register::latest_records(rows, None).into_iter().filter(|(id, _)| !erased.contains(*id));
    LinkIndex::new(records.map(|(id, r)| RegisteredChild {
        melde_id: id.clone(),
        given_names: r.given_names.clone(),
        family_name: r.family_name.clone(),
        birth_name: r.birth_name.clone(),
        birth_date: r.birth_date,
        kvnr: kvnrs.get(id).cloned(),
    }))
}

/// Decides every report without a decision and re-tries the linker's open ones.
pub async fn link_pending<S: Store>(store: &S, now: Timestamp) -> Result<LinkRun, ServiceError> {
    link_pending_with_progress(store, now, &mut |_, _| {}).await
}

/// [`link_pending`], telling `progress(done, total)` after every report.
pub async fn link_pending_with_progress<S: Store>(
    store: &S,
    now: Timestamp,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<LinkRun, ServiceError> {
    let pending = Pending::read(store).await?;
    if pending.todo.is_empty() {
        return Ok(LinkRun::default());
    }
    let (index, kvnr_since) = current_index(store).await?;
    pending.decide(store, now, &index, &kvnr_since, progress).await
}

/// The reports the linker has to decide: those without a decision and its own open ones.
struct Pending {
    decisions: HashMap<ReportId, LinkDecision>,
    todo: Vec<ReportId>,
}

impl Pending {
    async fn read<S: Store>(store: &S) -> Result<Self, ServiceError> {
        let decisions: HashMap<ReportId, LinkDecision> =
            store.link_decisions(None).await?.into_iter().map(|d| (d.report_id.clone(), d)).collect();
        let todo = store
            .reports(&ReportFilter::default())
            .await?
            .into_iter()
            .filter(|r| decisions.get(&r.id).is_none_or(open_to_linker))
            .map(|r| r.id)
            .collect();
        Ok(Self { decisions, todo })
    }

    async fn decide<S: Store>(
        self,
        store: &S,
        now: Timestamp,
        index: &LinkIndex,
        kvnr_since: &HashMap<MeldeId, Date>,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<LinkRun, ServiceError> {
        let total = self.todo.len();
        let mut run = LinkRun { examined: total, ..LinkRun::default() };
        let decider = Decider { index, kvnr_since, now };
        let mut batch = Vec::with_capacity(BATCH.min(total));
        for (done, id) in self.todo.into_iter().enumerate() {
            progress(done, total);
            let (card, received) = card(store, &id).await?;
            let old = self.decisions.get(&id);
            if let Some(decision) = decider.decide(id, &reported(&card), received, old, &mut run)? {
                batch.push(decision);
            }
            if batch.len() == BATCH {
                run.written += store.save_link_decisions(&batch, now, &Actor::System).await?;
                batch.clear();
            }
        }
        run.written += store.save_link_decisions(&batch, now, &Actor::System).await?;
        progress(total, total);
        Ok(run)
    }
}

/// The linker at work: the index, the day each remembered KVNR counts from, the time of
/// the decisions.
struct Decider<'a> {
    index: &'a LinkIndex,
    kvnr_since: &'a HashMap<MeldeId, Date>,
    now: Timestamp,
}

impl Decider<'_> {
    /// The decision on one report, counted in `run`; `None` when the report has it already.
    fn decide(
        &self,
        report_id: ReportId,
        child: &ReportedChild,
        received: Date,
        old: Option<&LinkDecision>,
        run: &mut LinkRun,
    ) -> Result<Option<LinkDecision>, ServiceError> {
        let decision = self.index.decide(child);
        let (state, melde_id) = match &decision.outcome {
            Outcome::Linked(child) => (LinkState::Linked, Some(child.clone())),
            Outcome::Review => (LinkState::Review, None),
            Outcome::Unlinked => (LinkState::Unlinked, None),
        };
        match state {
            LinkState::Linked => run.linked += 1,
            LinkState::Review => run.review += 1,
            _ => run.unlinked += 1,
        }
        let decision_json = serde_json::to_string(&decision).map_err(internal)?;
        if old.is_some_and(|o| o.state == state && o.melde_id == melde_id && o.decision_json == decision_json) {
            return Ok(None);
        }
        Ok(Some(LinkDecision {
            report_id,
            state,
            melde_id,
            // a link through a KVNR a person confirmed counts no earlier than that link
            effective: match (&decision.reason, &decision.outcome) {
                (Reason::KvnrEqual, Outcome::Linked(child)) => {
                    self.kvnr_since.get(child).map_or(received, |d| received.max(*d))
                }
                _ => received,
            },
            decision_json,
            decided_by: Actor::System.to_string(),
            decided_at: self.now,
            version: old.map_or(1, |o| o.version + 1),
        }))
    }
}

/// A report just stored, with what the linker compares, so that [`Linker`] decides it
/// without reading it back.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub report_id: ReportId,
    pub child: ReportedChild,
    pub received: Date,
}

impl Arrival {
    pub(crate) fn of(report_id: ReportId, card: &ParticipationCard, received_at: Timestamp) -> Self {
        Self { report_id, child: reported(card), received: berlin_date(received_at) }
    }
}

/// Reports a process stored and its linker has not decided yet. Bounded: past
/// [`Arrivals::CAPACITY`] it only notes that it missed some, and so does a new queue (it
/// missed whatever came before the process); the linker then looks at every report.
#[derive(Debug)]
pub struct Arrivals {
    queue: std::sync::Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    arrivals: Vec<Arrival>,
    /// Some were not kept: the linker has to look at every report.
    missed: bool,
}

impl Default for Arrivals {
    fn default() -> Self {
        Self { queue: std::sync::Mutex::new(Waiting { arrivals: Vec::new(), missed: true }) }
    }
}

impl Arrivals {
    pub const CAPACITY: usize = 100_000;

    pub(crate) fn push(&self, arrival: Arrival) {
        let mut queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if queue.arrivals.len() < Self::CAPACITY {
            queue.arrivals.push(arrival);
        } else {
            queue.missed = true;
        }
    }

    /// What arrived since the last call, and whether some went missing.
    fn take(&self) -> (Vec<Arrival>, bool) {
        let mut queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken = std::mem::take(&mut *queue);
        (taken.arrivals, taken.missed)
    }

    fn missed(&self) {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).missed = true;
    }
}

/// The linker of a long-running process (`serve`): decides the reports the process stored
/// against an index it keeps between runs, instead of re-reading every report and the
/// whole register each time as [`link_pending`] does. The index is rebuilt when the store's
/// [`link_inputs_version`](Store::link_inputs_version) moved (a delivery, a remembered
/// KVNR, an erasure); whoever made that change re-tried the open decisions themselves.
#[derive(Default)]
pub struct Linker {
    index: Option<KeptIndex>,
}

/// The index a [`Linker`] keeps, with the store's `link_inputs_version` it was built at.
struct KeptIndex {
    version: i64,
    index: LinkIndex,
    kvnr_since: HashMap<MeldeId, Date>,
}

impl Linker {
    /// Decides what arrived since the last call; when arrivals went missing (at the first
    /// call, or past the queue's capacity), does what [`link_pending`] does.
    pub async fn link_arrivals<S: Store>(
        &mut self,
        store: &S,
        arrivals: &Arrivals,
        now: Timestamp,
    ) -> Result<LinkRun, ServiceError> {
        let (batch, missed) = arrivals.take();
        let run = self.link(store, batch, missed, now).await;
        if run.is_err() {
            // nothing is lost: the reports are stored, the next call looks at all of them
            arrivals.missed();
        }
        run
    }

    async fn link<S: Store>(
        &mut self,
        store: &S,
        batch: Vec<Arrival>,
        missed: bool,
        now: Timestamp,
    ) -> Result<LinkRun, ServiceError> {
        if batch.is_empty() && !missed {
            return Ok(LinkRun::default());
        }
        let pending = if missed { Some(Pending::read(store).await?) } else { None };
        if pending.as_ref().is_some_and(|p| p.todo.is_empty()) {
            return Ok(LinkRun::default());
        }
        // read before the index: a change in between makes the next call rebuild again
        let version = store.link_inputs_version().await?;
        let kept = match self.index.take() {
            Some(kept) if kept.version == version => kept,
            _ => {
                let (index, kvnr_since) = current_index(store).await?;
                KeptIndex { version, index, kvnr_since }
            }
        };
        if let Some(pending) = pending {
            let KeptIndex { index, kvnr_since, .. } = self.index.insert(kept);
            return pending.decide(store, now, index, kvnr_since, &mut |_, _| {}).await;
        }
        // tens of microseconds a report, thousands of reports a tick: off the request threads
        let (kept, decided) = tokio::task::spawn_blocking(move || {
            let mut run = LinkRun { examined: batch.len(), ..LinkRun::default() };
            let decider = Decider { index: &kept.index, kvnr_since: &kept.kvnr_since, now };
            // version 1: written only where the report has no decision yet
            let decided: Result<Vec<_>, _> =
                batch.into_iter().map(|a| decider.decide(a.report_id, &a.child, a.received, None, &mut run)).collect();
            let decided = decided.map(|d| (run, d.into_iter().flatten().collect::<Vec<_>>()));
            (kept, decided)
        })
        .await
        .map_err(internal)?;
        self.index = Some(kept);
        let (mut run, decisions) = decided?;
        for chunk in decisions.chunks(BATCH) {
            run.written += store.save_link_decisions(chunk, now, &Actor::System).await?;
        }
        Ok(run)
    }
}

/// The child as the card names it: shown to the person who decides.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedPerson {
    pub given_name: String,
    pub family_name: String,
    pub birth_name: Option<String>,
    pub birth_date: Date,
    pub kvnr: Option<String>,
}

/// A registered child the linker considered, with the comparison that gave its score.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewCandidate {
    pub melde_id: MeldeId,
    /// Fellegi–Sunter score in bits.
    pub score: f64,
    /// `None` when the child is no longer in the register.
    pub given_names: Option<Vec<String>>,
    pub family_name: Option<String>,
    pub birth_name: Option<String>,
    pub birth_date: Option<Date>,
    pub kreis: Option<String>,
    /// The comparison field by field, in German.
    pub comparison: Vec<String>,
}

/// A report's link decision as a person sees it: the report, the candidates side by side,
/// the reason.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewEntry {
    pub report_id: ReportId,
    /// The card's own identifier (`Bundle.identifier`).
    pub card_id: String,
    pub state: LinkState,
    pub melde_id: Option<MeldeId>,
    /// Give this back with a decision: it fails if someone decided meanwhile.
    pub version: i64,
    pub received: Date,
    pub sender: TelematikId,
    pub untersuchung: Checkup,
    pub exam_date: Date,
    pub reported: ReportedPerson,
    /// Why the linker decided as it did, in German.
    pub reason: String,
    pub decided_by: String,
    pub decided_at: Timestamp,
    pub candidates: Vec<ReviewCandidate>,
}

/// The entries waiting for a person, oldest receipt first.
pub async fn review_queue<S: Store>(store: &S) -> Result<Vec<ReviewEntry>, ServiceError> {
    let waiting = store.link_decisions(Some(LinkState::Review)).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let rows = register::rows(store).await?;
    let mut entries = Vec::with_capacity(waiting.len());
    for d in &waiting {
        entries.push(entry(store, d, &rows).await?);
    }
    entries.sort_by(|a, b| (a.received, &a.report_id).cmp(&(b.received, &b.report_id)));
    Ok(entries)
}

/// One report's decision, whatever its state.
pub async fn review_entry<S: Store>(store: &S, report_id: &ReportId) -> Result<ReviewEntry, ServiceError> {
    let d = decision(store, report_id).await?;
    let rows = register::rows(store).await?;
    entry(store, &d, &rows).await
}

async fn decision<S: Store>(store: &S, report_id: &ReportId) -> Result<LinkDecision, ServiceError> {
    store.link_decision(report_id).await?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "Zur Meldung {report_id} gibt es keine Zuordnungsentscheidung (unbekannte Meldung, oder noch nicht verknüpft)."
        ))
    })
}

async fn entry<S: Store>(store: &S, d: &LinkDecision, rows: &[RegistryRow]) -> Result<ReviewEntry, ServiceError> {
    let report =
        store.report(&d.report_id).await?.ok_or_else(|| ServiceError::Internal("decision without report".into()))?;
    let card: ParticipationCard = serde_json::from_str(&report.facts_json).map_err(internal)?;
    let linker: Decision = serde_json::from_str(&d.decision_json).map_err(internal)?;
    let latest = register::latest_records(rows, None);
    let candidates = linker
        .candidates
        .iter()
        .map(|c| {
            let record = latest.get(&c.melde_id);
            ReviewCandidate {
                melde_id: c.melde_id.clone(),
                score: (c.score * 100.0).round() / 100.0,
                given_names: record.map(|r| r.given_names.clone()),
                family_name: record.map(|r| r.family_name.clone()),
                birth_name: record.and_then(|r| r.birth_name.clone()),
                birth_date: record.map(|r| r.birth_date),
                kreis: record.map(|r| r.ags.kreis().as_str().to_owned()),
                comparison: c.comparison.explain(),
            }
        })
        .collect();
    Ok(ReviewEntry {
        report_id: d.report_id.clone(),
        card_id: report.card_id.clone(),
        state: d.state,
        melde_id: d.melde_id.clone(),
        version: d.version,
        received: berlin_date(report.received_at),
        sender: report.sender.clone(),
        untersuchung: card.checkup,
        exam_date: card.exam_date,
        reported: ReportedPerson {
            given_name: card.patient.given.clone(),
            family_name: card.patient.family.clone(),
            birth_name: card.patient.birth_name.clone(),
            birth_date: card.patient.birth_date,
            kvnr: card.patient.kvnr.clone(),
        },
        reason: linker.reason.explain().to_owned(),
        decided_by: d.decided_by.clone(),
        decided_at: d.decided_at,
        candidates,
    })
}

/// What a person decides about a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The report is about this child (`None`: the linker's best candidate).
    Accept(Option<MeldeId>),
    /// None of the candidates is the child.
    Reject,
    /// Undo: back into the review queue.
    Reopen,
}

/// Records a person's decision as of day `on` (the link counts from then, or from the receipt
/// if that is later). `expected_version` is the version the person saw; `None` takes the
/// current one. Two people deciding the same entry: the second gets a conflict.
pub async fn decide<S: Store>(
    store: &S,
    report_id: &ReportId,
    verdict: &Verdict,
    expected_version: Option<i64>,
    on: Date,
    actor: &Actor,
    now: Timestamp,
) -> Result<LinkDecision, ServiceError> {
    let current = decision(store, report_id).await?;
    let version = expected_version.unwrap_or(current.version);
    if version != current.version {
        return Err(oegd_store::StoreError::Conflict(format!("link decision of report {report_id}")).into());
    }
    let (card, received) = card(store, report_id).await?;
    let linker: Decision = serde_json::from_str(&current.decision_json).map_err(internal)?;
    let mut next = LinkDecision {
        report_id: report_id.clone(),
        state: LinkState::Review,
        melde_id: None,
        effective: received,
        decision_json: current.decision_json.clone(),
        decided_by: actor.to_string(),
        decided_at: now,
        version: version + 1,
    };
    let mut remember = None;
    match verdict {
        Verdict::Accept(child) => {
            let child = match child {
                Some(c) => c.clone(),
                None => linker.candidates.first().map(|c| c.melde_id.clone()).ok_or_else(|| {
                    ServiceError::Usage("Kein Kandidat vorhanden: bitte das Kind angeben (--kind MELDE_ID).".into())
                })?,
            };
            let rows = register::rows(store).await?;
            if !register::latest_records(&rows, None).contains_key(&child) {
                return Err(ServiceError::NotFound(format!("Kind {child} ist nicht im Melderegister.")));
            }
            next.state = LinkState::Confirmed;
            next.effective = on.max(received);
            if let Some(kvnr) = card.patient.kvnr.as_deref().and_then(|k| Kvnr::parse(k).ok()) {
                // a KVNR already remembered on another child is not moved: the store keeps
                // the first; the linker then scores this child's KVNR as disagreeing
                remember = Some(RememberedKvnr { melde_id: child.clone(), kvnr, since: next.effective });
            }
            next.melde_id = Some(child);
        }
        Verdict::Reject => next.state = LinkState::Rejected,
        Verdict::Reopen => next.state = LinkState::Review,
    }
    store.decide_link(&next, remember.as_ref(), actor).await?;
    if remember.is_some() {
        // the remembered KVNR may settle other open reports of the same child at once
        link_pending(store, now).await?;
    }
    Ok(next)
}

/// The effective links for the programme, from every decision: report id → (state, child,
/// the day it was linked).
pub(crate) fn links_of(decisions: Vec<LinkDecision>) -> BTreeMap<ReportId, (LinkState, Option<MeldeId>, Option<Date>)> {
    decisions
        .into_iter()
        .map(|d| {
            let linked_on = matches!(d.state, LinkState::Linked | LinkState::Confirmed).then_some(d.effective);
            let child = matches!(d.state, LinkState::Linked | LinkState::Confirmed).then_some(d.melde_id).flatten();
            (d.report_id, (d.state, child, linked_on))
        })
        .collect()
}
