//! The state office's lists and figures: reports searched by name, birth date, practice and
//! receipt; escalations by district; letters; and the series its charts show (participation
//! per district and check-up over time, reminders and escalations per month, the median
//! delay from check-up to report per month).
//!
//! Everything here is read-only and built from the store as it stands.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use jiff::civil::Date;
use oegd_domain::{Checkup, Kreisschluessel, MeldeId, TelematikId};
use oegd_programme::{CheckupState, ChildReport, Evaluation, Profile};
use oegd_store::{LinkState, ProgrammeAction, ReportId, ReportSummary, Store};
use serde::Serialize;

use crate::import::start_of_day_berlin;
use crate::linking::berlin_date;
use crate::{ServiceError, letters, programme};

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// What to search reports for; every given part must match.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    /// Part of the child's given or family name (case and umlauts as written).
    pub name: Option<String>,
    pub birth_date: Option<Date>,
    /// Part of the sender's Telematik-ID or name.
    pub practice: Option<String>,
    /// Received on or after / on or before (Europe/Berlin days).
    pub from: Option<Date>,
    pub to: Option<Date>,
}

/// One report as the state office lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub id: ReportId,
    pub received: Date,
    pub sender: TelematikId,
    pub sender_name: String,
    pub checkup: Checkup,
    pub exam_date: Date,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub link: LinkState,
    pub melde_id: Option<MeldeId>,
}

/// The part of a report's facts the search looks at (the rest of the JSON is skipped).
#[derive(serde::Deserialize)]
struct SearchedFacts {
    patient: SearchedPatient,
}

#[derive(serde::Deserialize)]
struct SearchedPatient {
    given: String,
    family: String,
    birth_name: Option<String>,
    birth_date: Date,
}

/// Reports matching `q`, newest first (all of them: the CSV export).
pub async fn search_reports<S: Store>(store: &S, q: &ReportQuery) -> Result<Vec<ReportRow>, ServiceError> {
    Ok(search_reports_page(store, q, 0..usize::MAX).await?.rows)
}

/// A part of a search's result, and how many reports match in all.
#[derive(Debug, Clone)]
pub struct ReportPage {
    pub total: usize,
    /// The matches at the positions asked for (newest first).
    pub rows: Vec<ReportRow>,
}

/// The matches of `q` at positions `keep` of the result (newest first, from 0), and their
/// number.
///
/// The store hands the reports over one at a time, newest first, and only the asked-for
/// matches are kept: a page of the search holds that page, not the state's reports; a range
/// of receipt days reads only those days (by index). The link decisions are read for the
/// kept reports alone.
pub async fn search_reports_page<S: Store>(
    store: &S,
    q: &ReportQuery,
    keep: std::ops::Range<usize>,
) -> Result<ReportPage, ServiceError> {
    let nothing = ReportPage { total: 0, rows: Vec::new() };
    let names: BTreeMap<TelematikId, String> =
        store.organisations().await?.into_iter().map(|o| (o.telematik_id, o.name)).collect();
    let name = q.name.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let name_parts: Vec<String> =
        name.map(|n| n.split_whitespace().map(str::to_lowercase).collect()).unwrap_or_default();
    // the search's words folded once, not per report
    let practice = q.practice.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    // A day at the ends of the calendar (a typo like 31.12.9999) is no instant: such a bound
    // leaves its end open, or nothing can match it.
    let from = match q.from.map(|d| (d, start_of_day_berlin(d))) {
        None => None,
        Some((_, Ok(start))) => Some(start),
        Some((d, Err(_))) if d.year() < 2000 => None,
        Some(_) => return Ok(nothing),
    };
    let until = match q.to.map(|d| (d, d.tomorrow().ok().and_then(|next| start_of_day_berlin(next).ok()))) {
        None => None,
        Some((_, Some(end))) => Some(end),
        Some((d, None)) if d.year() >= 2000 => None,
        Some(_) => return Ok(nothing),
    };
    let mut rows = Vec::new();
    let mut total = 0;
    let mut visit = |summary: ReportSummary, facts: &str| -> Result<(), oegd_store::StoreError> {
        let sender_name = names.get(&summary.sender).map(String::as_str).unwrap_or_default();
        if let Some(p) = practice.as_deref()
            && !summary.sender.as_str().to_lowercase().contains(p)
            && !sender_name.to_lowercase().contains(p)
        {
            return Ok(());
        }
        let SearchedFacts { patient } = serde_json::from_str(facts)
            // the error's kind and place, not its text (which may quote the value)
            .map_err(|e| {
                oegd_store::StoreError::Internal(format!(
                    "stored facts unreadable ({:?} at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })?;
        if q.birth_date.is_some_and(|d| patient.birth_date != d) {
            return Ok(());
        }
        if !name_parts.is_empty() {
            let full = format!("{} {}", patient.given, patient.family).to_lowercase();
            let birth = patient.birth_name.as_deref().unwrap_or("").to_lowercase();
            if !name_parts.iter().all(|part| full.contains(part.as_str()) || birth.contains(part.as_str())) {
                return Ok(());
            }
        }
        total += 1;
        if !keep.contains(&(total - 1)) {
            return Ok(());
        }
        rows.push(ReportRow {
            id: summary.id,
            received: berlin_date(summary.received_at),
            sender: summary.sender,
            sender_name: sender_name.to_owned(),
            checkup: summary.checkup,
            exam_date: summary.exam_date,
            given_name: patient.given,
            family_name: patient.family,
            birth_date: patient.birth_date,
            link: LinkState::Unlinked,
            melde_id: None,
        });
        Ok(())
    };
    store.visit_report_facts(from, until, &mut visit).await?;
    // the link decisions of the reports found, a few thousand per query
    for chunk in rows.chunks_mut(LINKS_PER_QUERY) {
        let ids: Vec<ReportId> = chunk.iter().map(|r| r.id.clone()).collect();
        let mut decisions: BTreeMap<ReportId, (LinkState, Option<MeldeId>)> = store
            .link_decisions_of_reports(&ids)
            .await?
            .into_iter()
            .map(|d| (d.report_id, (d.state, d.melde_id)))
            .collect();
        for row in chunk {
            if let Some((state, melde_id)) = decisions.remove(&row.id) {
                (row.link, row.melde_id) = (state, melde_id);
            }
        }
    }
    Ok(ReportPage { total, rows })
}

/// Report ids one look-up of link decisions carries.
const LINKS_PER_QUERY: usize = 5_000;

/// An escalation or all-clear as the state office lists it (no names: ids and districts).
#[derive(Debug, Clone, Serialize)]
pub struct EscalationRow {
    pub melde_id: MeldeId,
    pub checkup: Checkup,
    pub district: Kreisschluessel,
    pub escalated_on: Date,
    pub all_clear: Option<Date>,
    /// The health office's latest recorded outcome (`erreicht`, …).
    pub last_outcome: Option<String>,
}

/// Escalations grouped by district, each group newest first.
pub async fn escalations_by_district<S: Store>(
    store: &S,
) -> Result<BTreeMap<Kreisschluessel, Vec<EscalationRow>>, ServiceError> {
    let actions = store.actions(None).await?;
    let cleared: BTreeMap<(MeldeId, Option<Checkup>), Date> = actions
        .iter()
        .filter(|a| a.kind == "all_clear")
        .map(|a| ((a.melde_id.clone(), a.checkup), a.created))
        .collect();
    let mut outcomes: BTreeMap<(MeldeId, Checkup), String> = BTreeMap::new();
    for o in store.case_outcomes().await? {
        outcomes.insert((o.melde_id, o.checkup), o.outcome);
    }
    let mut out: BTreeMap<Kreisschluessel, Vec<EscalationRow>> = BTreeMap::new();
    for a in actions.iter().filter(|a| a.kind == "escalation") {
        let (Some(checkup), Some(district)) = (a.checkup, a.district.clone()) else { continue };
        out.entry(district.clone()).or_default().push(EscalationRow {
            melde_id: a.melde_id.clone(),
            checkup,
            district,
            escalated_on: a.created,
            all_clear: cleared.get(&(a.melde_id.clone(), a.checkup)).copied(),
            last_outcome: outcomes.get(&(a.melde_id.clone(), checkup)).cloned(),
        });
    }
    for rows in out.values_mut() {
        rows.sort_by(|a, b| (b.escalated_on, &b.melde_id).cmp(&(a.escalated_on, &a.melde_id)));
    }
    Ok(out)
}

/// A stored letter.
#[derive(Debug, Clone, Serialize)]
pub struct LetterRow {
    /// As users quote it and as its PDF is named: `reminder:MELDE_ID:U6`.
    pub id: String,
    pub kind: String,
    pub melde_id: MeldeId,
    pub checkup: Option<Checkup>,
    pub created: Date,
    pub district: Option<Kreisschluessel>,
}

/// The letters of the programme (reminders, invitations), newest first.
pub async fn letters<S: Store>(store: &S) -> Result<Vec<LetterRow>, ServiceError> {
    let mut rows: Vec<LetterRow> = store
        .actions(None)
        .await?
        .into_iter()
        .filter(|a| letters::LETTER_KINDS.contains(&a.kind.as_str()))
        .map(|a| LetterRow {
            id: letters::letter_id(&a.key()),
            kind: a.kind,
            melde_id: a.melde_id,
            checkup: a.checkup,
            created: a.created,
            district: a.district,
        })
        .collect();
    rows.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
    Ok(rows)
}

/// A calendar month, `YYYY-MM`.
pub fn month_of(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// A quarter, `YYYY-Qn`.
pub fn quarter_of(d: Date) -> String {
    format!("{:04}-Q{}", d.year(), (d.month() - 1) / 3 + 1)
}

/// Participation: of the check-ups whose window has closed, the share reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Share {
    pub reported: usize,
    pub due: usize,
}

impl Share {
    /// Percent, `None` when nothing was due.
    pub fn percent(self) -> Option<f64> {
        (self.due > 0).then(|| 100.0 * self.reported as f64 / self.due as f64)
    }
}

/// The series of the state office's charts, as of one day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub as_of: Option<Date>,
    /// District → quarter in which the check-up's window closed → share.
    pub participation_by_quarter: BTreeMap<Kreisschluessel, BTreeMap<String, Share>>,
    /// District → check-up → share (all quarters).
    pub participation_by_checkup: BTreeMap<Kreisschluessel, BTreeMap<Checkup, Share>>,
    /// Month → (reminders, escalations) created that month.
    pub letters_by_month: BTreeMap<String, (usize, usize)>,
    /// Month of receipt → median days from check-up to report (and how many reports).
    pub delay_by_month: BTreeMap<String, (f64, usize)>,
    /// The same over every report.
    pub median_delay_days: Option<f64>,
    /// Late reports after an escalation (all-clears).
    pub late_after_escalation: usize,
}

fn median(mut xs: Vec<i64>) -> Option<f64> {
    xs.sort_unstable();
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mid = |i: usize| xs.get(i).copied().unwrap_or(0) as f64;
    Some(if n % 2 == 1 { mid(n / 2) } else { (mid(n / 2 - 1) + mid(n / 2)) / 2.0 })
}

/// Whether a check-up state counts as reported, and whether it was due at all.
fn counted(state: CheckupState) -> Option<bool> {
    match state {
        CheckupState::Fulfilled | CheckupState::AllClear => Some(true),
        CheckupState::Escalated | CheckupState::Reminded | CheckupState::NoAction => Some(false),
        CheckupState::NotDue | CheckupState::NotTracked | CheckupState::Superseded => None,
    }
}

/// The chart series as of `as_of` (the engine's evaluation over the store).
pub async fn figures<S: Store>(store: &S, profile: &Profile, as_of: Date) -> Result<Figures, ServiceError> {
    if store.deliveries().await?.is_empty() {
        return Ok(Figures { as_of: Some(as_of), ..Figures::default() });
    }
    let (evaluation, _) = programme::evaluate(store, profile, as_of).await?;
    let actions = store.actions(None).await?;
    let reports = store.reports(&oegd_store::ReportFilter::default()).await?;
    // a pass over every child's check-ups: off the request workers
    tokio::task::spawn_blocking(move || figures_of(as_of, &evaluation, actions, reports)).await.map_err(internal)
}

fn figures_of(
    as_of: Date,
    evaluation: &Evaluation,
    actions: Vec<ProgrammeAction>,
    reports: Vec<ReportSummary>,
) -> Figures {
    let mut f = Figures { as_of: Some(as_of), ..Figures::default() };
    for child in &evaluation.children {
        let ChildReport::Registered(c) = child else { continue };
        for (checkup, report) in &c.checkups {
            let Some(reported) = counted(report.state) else { continue };
            let closes = oegd_programme::window(*checkup, c.birth_date).map_or(c.birth_date, |w| w.tolerance_end);
            if closes > as_of && !reported {
                continue;
            }
            let q = f
                .participation_by_quarter
                .entry(c.district.clone())
                .or_default()
                .entry(quarter_of(closes))
                .or_default();
            q.due += 1;
            q.reported += usize::from(reported);
            let k = f.participation_by_checkup.entry(c.district.clone()).or_default().entry(*checkup).or_default();
            k.due += 1;
            k.reported += usize::from(reported);
        }
    }
    for a in actions {
        let entry = f.letters_by_month.entry(month_of(a.created)).or_default();
        match a.kind.as_str() {
            "reminder" => entry.0 += 1,
            "escalation" => entry.1 += 1,
            "all_clear" => f.late_after_escalation += 1,
            _ => {}
        }
    }
    f.letters_by_month.retain(|_, (r, e)| *r + *e > 0);
    let mut by_month: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut seen = BTreeSet::new();
    for r in reports {
        // a resubmitted card counts once
        if !seen.insert((r.sender.clone(), r.card_id.clone())) {
            continue;
        }
        let received = berlin_date(r.received_at);
        if received > as_of {
            continue;
        }
        let days = (received - r.exam_date).get_days().into();
        by_month.entry(month_of(received)).or_default().push(days);
        all.push(days);
    }
    f.delay_by_month = by_month
        .into_iter()
        .filter_map(|(m, xs)| {
            let n = xs.len();
            median(xs).map(|d| (m, (d, n)))
        })
        .collect();
    f.median_delay_days = median(all);
    f
}

/// Reminders, escalations due: what the next daily run would create as of `as_of` that is
/// not `recorded` yet (all recorded actions), by kind.
pub async fn due_actions<S: Store>(
    store: &S,
    profile: &Profile,
    as_of: Date,
    recorded: Arc<Vec<ProgrammeAction>>,
) -> Result<BTreeMap<String, usize>, ServiceError> {
    if store.deliveries().await?.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (evaluation, _) = programme::evaluate(store, profile, as_of).await?;
    // compares a million keys at a state's size: off the request workers
    tokio::task::spawn_blocking(move || {
        // the keys the daily run would record (`programme::actions_of`), without making each
        // action's JSON only to count it
        let recorded: HashSet<(&str, &MeldeId, Option<Checkup>)> =
            recorded.iter().map(|a| (a.kind.as_str(), &a.melde_id, a.checkup)).collect();
        let ev = &evaluation;
        let mut due = BTreeMap::new();
        let mut count = |kind: &'static str, keys: &mut dyn Iterator<Item = (&MeldeId, Checkup)>| {
            let n = keys.filter(|(m, c)| !recorded.contains(&(kind, *m, Some(*c)))).count();
            if n > 0 {
                due.insert(kind.to_owned(), n);
            }
        };
        count("invitation", &mut ev.invitations.iter().map(|a| (&a.melde_id, a.checkup)));
        count("reminder", &mut ev.reminders.iter().map(|a| (&a.melde_id, a.checkup)));
        count("escalation", &mut ev.escalations.iter().map(|a| (&a.melde_id, a.checkup)));
        due
    })
    .await
    .map_err(internal)
}
