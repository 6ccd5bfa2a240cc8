//! The replay engine: from registration events and linked reports to the actions a daily
//! run on every day from the programme's first day through the evaluation day would have
//! created (PROGRAMME.md, "Precise semantics").
//!
//! [`Engine::new`] sorts the input once (events by child, date and delivery order; reports
//! by child and receipt); [`Engine::evaluate`] then replays each child independently
//! (module `child`) and aggregates. Children are spread over threads; the result does not
//! depend on the number of threads.

mod child;
pub mod output;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::ops::Range;

use jiff::civil::Date;
use oegd_domain::{Checkup, Kreisschluessel, MeldeId};
use serde::{Deserialize, Serialize};

use self::child::{ChildOutcome, ChildSim};
use self::output::{CheckupCounts, ChildReport, ChildStatus, DistrictStats, Evaluation, Summary};
use crate::offset::days_between;
use crate::profile::Profile;
use crate::registry::RegistryRow;

/// A participation report with the child it was assigned to (by the linker, or by hand).
///
/// A resubmission repeats the `report_id`; it counts once, at its first receipt (rule 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedReport {
    pub report_id: String,
    /// `None`: no child found (yet); the report counts as received but never links.
    pub melde_id: Option<MeldeId>,
    pub checkup: Checkup,
    pub exam_date: Date,
    pub received: Date,
    /// The day a person linked the report, when that was after its receipt: the link counts
    /// from then on (what the daily runs before that day did stays as it was). `None`: the
    /// link counts from the receipt.
    #[serde(default)]
    pub linked_on: Option<Date>,
}

impl AssignedReport {
    /// The day from which the link counts.
    pub fn link_day(&self) -> Date {
        self.linked_on.map_or(self.received, |d| d.max(self.received))
    }
}

/// A report at its first receipt.
pub(crate) struct UniqueReport<'a> {
    pub report_id: &'a str,
    pub melde_id: Option<&'a MeldeId>,
    pub checkup: Checkup,
    pub exam_date: Date,
    pub received: Date,
    /// [`AssignedReport::link_day`].
    pub link_day: Date,
    /// Position of the first receipt in the input (tie-breaker).
    pub seq: usize,
}

struct ChildInput<'a> {
    melde_id: &'a MeldeId,
    /// The child's part of [`Engine::events`].
    events: Range<usize>,
    /// The child's part of [`Engine::reports`].
    reports: Range<usize>,
}

/// The engine's inputs in child order, and the children found in them.
struct Prepared<'a> {
    events: Vec<&'a RegistryRow>,
    reports: Vec<&'a UniqueReport<'a>>,
    children: Vec<ChildInput<'a>>,
}

/// The replay engine over one set of inputs; evaluate it as of any day.
pub struct Engine<'a> {
    profile: &'a Profile,
    programme_start: Date,
    report_rows: usize,
    /// Every distinct report (for the summary), in no particular order.
    unique_reports: &'a [UniqueReport<'a>],
    /// By child (`melde_id`), then date, then delivery order (rule 12).
    events: Vec<&'a RegistryRow>,
    /// Reports assigned to a child with events: by child, then link day, then input order.
    reports: Vec<&'a UniqueReport<'a>>,
    /// Sorted by `melde_id`.
    children: Vec<ChildInput<'a>>,
    threads: usize,
}

/// A `melde_id` for sorting: [`MeldeId::order_prefix`], and the whole id for longer ones.
/// Orders exactly as the ids do, and two ids of at most 16 bytes compare without reading
/// the strings, which lie scattered over the heap: sorting millions of references by the
/// string behind them was most of the engine's time at 1,000,000 children (each comparison
/// a few cache misses).
#[derive(Clone, Copy)]
struct IdKey<'a> {
    head: u128,
    id: &'a str,
}

impl<'a> IdKey<'a> {
    fn new(id: &'a MeldeId) -> Self {
        IdKey { head: id.order_prefix(), id: id.as_str() }
    }
}

impl Ord for IdKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.head.cmp(&other.head).then_with(|| {
            if self.id.len() <= 16 && other.id.len() <= 16 {
                std::cmp::Ordering::Equal // the heads are the whole ids
            } else {
                self.id.cmp(other.id)
            }
        })
    }
}

impl PartialOrd for IdKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for IdKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for IdKey<'_> {}

impl<'a> Prepared<'a> {
    fn new(rows: &'a [RegistryRow], unique: &'a [UniqueReport<'a>]) -> Self {
        // events: by child, then date, then delivery order (the row's position: unique, so
        // an unstable sort gives the one order)
        let mut events: Vec<(IdKey<'a>, Date, usize)> =
            rows.iter().enumerate().map(|(i, r)| (IdKey::new(&r.melde_id), r.event_date, i)).collect();
        events.sort_unstable();
        // reports with a child: by child, then link day, then input order (`seq`, unique)
        let mut assigned: Vec<(IdKey<'a>, Date, usize, usize)> = unique
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((IdKey::new(r.melde_id?), r.link_day, r.seq, i)))
            .collect();
        assigned.sort_unstable();

        let mut out = Prepared {
            events: Vec::with_capacity(events.len()),
            reports: Vec::with_capacity(assigned.len()),
            children: Vec::new(),
        };
        let mut ri = 0usize;
        let mut ei = 0usize;
        while let Some(&(key, _, first)) = events.get(ei) {
            let Some(melde_id) = rows.get(first).map(|r| &r.melde_id) else { break };
            let estart = out.events.len();
            while let Some(&(k, _, i)) = events.get(ei)
                && k == key
            {
                out.events.extend(rows.get(i));
                ei += 1;
            }
            // reports of children without events cannot link; skip them
            while assigned.get(ri).is_some_and(|r| r.0 < key) {
                ri += 1;
            }
            let rstart = out.reports.len();
            while let Some(&(k, _, _, i)) = assigned.get(ri)
                && k == key
            {
                out.reports.extend(unique.get(i));
                ri += 1;
            }
            out.children.push(ChildInput {
                melde_id,
                events: estart..out.events.len(),
                reports: rstart..out.reports.len(),
            });
        }
        out
    }
}

/// Storage the engine borrows from: the distinct reports. Build it with
/// [`ReportSet::new`] and keep it alive as long as the [`Engine`].
pub struct ReportSet<'a> {
    unique: Vec<UniqueReport<'a>>,
    rows: usize,
}

impl<'a> ReportSet<'a> {
    /// Keeps the first receipt of every `report_id` (earliest `received`, then input order),
    /// in the order in which the ids first occur.
    pub fn new(reports: &'a [AssignedReport]) -> ReportSet<'a> {
        // random keys (std `RandomState`): ids chosen to collide cannot be prepared in advance
        let keys = std::hash::RandomState::new();
        ReportSet { unique: first_receipts(reports, |id| keys.hash_one(id)), rows: reports.len() }
    }
}

/// The receipt that counts for each `report_id` ([`ReportSet::new`]), found by sorting the
/// ids' hashes: that brings the receipts of one id together in one sequential pass, where
/// a hash map of millions of ids costs a cache miss or two per report (2.7–4.2 of 8.5–10.5 s
/// of the engine at 1,000,000 children: docs/PERFORMANCE.md). Different ids with the same
/// hash are told apart by the ids themselves.
///
/// Positions are `u32`: a state's reports number some millions, far below the 4.29 billion
/// a `u32` counts, whose `AssignedReport`s alone would take hundreds of gigabytes; more
/// stop the run with a panic rather than being miscounted. The slots of `counted` then
/// take 8 bytes instead of 16 (the sorted `(u64, u32)` pairs stay 16 bytes: alignment).
fn first_receipts<'a>(reports: &'a [AssignedReport], hash: impl Fn(&str) -> u64) -> Vec<UniqueReport<'a>> {
    #[allow(clippy::expect_used, reason = "4.29 billion reports are beyond any state (see above)")]
    let end = u32::try_from(reports.len()).expect("more reports than a u32 position counts");
    let mut by_hash: Vec<(u64, u32)> = reports.iter().zip(0..end).map(|(r, i)| (hash(&r.report_id), i)).collect();
    by_hash.sort_unstable();
    // at the position of each id's first receipt: the position of the receipt that counts
    let mut counted: Vec<Option<u32>> = vec![None; reports.len()];
    let id = |i: u32| reports.get(i as usize).map(|r| r.report_id.as_str());
    let received = |i: u32| reports.get(i as usize).map(|r| r.received);
    for run in by_hash.chunk_by(|a, b| a.0 == b.0) {
        if let [(_, only)] = run {
            if let Some(slot) = counted.get_mut(*only as usize) {
                *slot = Some(*only);
            }
            continue;
        }
        // a resubmission (or, rarely, another id with the same hash); positions ascending
        let mut left: Vec<u32> = run.iter().map(|(_, i)| *i).collect();
        while let Some(&first) = left.first() {
            let (same, other): (Vec<u32>, Vec<u32>) = left.iter().partition(|i| id(**i) == id(first));
            let earliest = same.iter().copied().min_by_key(|i| (received(*i), *i)).unwrap_or(first);
            if let Some(slot) = counted.get_mut(first as usize) {
                *slot = Some(earliest);
            }
            left = other;
        }
    }
    counted
        .into_iter()
        .flatten()
        .filter_map(|seq| {
            let seq = seq as usize;
            let r = reports.get(seq)?;
            Some(UniqueReport {
                report_id: &r.report_id,
                melde_id: r.melde_id.as_ref(),
                checkup: r.checkup,
                exam_date: r.exam_date,
                received: r.received,
                link_day: r.link_day(),
                seq,
            })
        })
        .collect()
}

impl<'a> Engine<'a> {
    /// Prepares the replay. `rows` are all registry rows in delivery order (files in
    /// delivery order, rows in file order); `reports` come in a [`ReportSet`].
    pub fn new(
        profile: &'a Profile,
        programme_start: Date,
        rows: &'a [RegistryRow],
        reports: &'a ReportSet<'a>,
    ) -> Self {
        let Prepared { events, reports: assigned, children } = Prepared::new(rows, &reports.unique);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        Engine {
            profile,
            programme_start,
            report_rows: reports.rows,
            unique_reports: &reports.unique,
            events,
            reports: assigned,
            children,
            threads,
        }
    }

    /// Uses at most `threads` threads (at least one); the result is the same for any number.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Everything a daily run on every day from the programme's first day through `as_of`
    /// would have created, and the state as of `as_of`. Data dated after `as_of` (events,
    /// receipts) is ignored.
    pub fn evaluate(&self, as_of: Date) -> Evaluation {
        let outcomes = self.replay_all(as_of);
        self.aggregate(as_of, outcomes)
    }

    fn replay(&self, child: &ChildInput<'_>, as_of: Date) -> ChildOutcome {
        let events = self.events.get(child.events.clone()).unwrap_or_default();
        let reports = self.reports.get(child.reports.clone()).unwrap_or_default();
        ChildSim::new(self.profile, self.programme_start, as_of, child.melde_id, events, reports).run()
    }

    fn replay_all(&self, as_of: Date) -> Vec<ChildOutcome> {
        let threads = self.threads.min(self.children.len() / 1024 + 1).max(1);
        if threads == 1 {
            return self.children.iter().map(|c| self.replay(c, as_of)).collect();
        }
        let chunk = self.children.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .children
                .chunks(chunk.max(1))
                .map(|part| scope.spawn(move || part.iter().map(|c| self.replay(c, as_of)).collect::<Vec<_>>()))
                .collect();
            let mut all = Vec::with_capacity(self.children.len());
            for (h, part) in handles.into_iter().zip(self.children.chunks(chunk.max(1))) {
                match h.join() {
                    Ok(v) => all.extend(v),
                    // a panicking thread is a bug; redo its part here so the result is complete
                    Err(_) => all.extend(part.iter().map(|c| self.replay(c, as_of))),
                }
            }
            all
        })
    }

    fn aggregate(&self, as_of: Date, outcomes: Vec<ChildOutcome>) -> Evaluation {
        let profile = self.profile;
        let mut ev = Evaluation {
            profile: profile.id.clone(),
            as_of,
            programme_start: self.programme_start,
            summary: Summary {
                children_registered: 0,
                children_by_status: BTreeMap::new(),
                report_rows: self.report_rows,
                reports_received_unique: 0,
                reports_linked: 0,
                reports_unlinked: 0,
                states: BTreeMap::new(),
                invitations: 0,
                reminders: 0,
                escalations: 0,
                all_clears: 0,
                late_reports_after_escalation: 0,
                median_report_delay_days: None,
            },
            districts: BTreeMap::new(),
            invitations: Vec::new(),
            reminders: Vec::new(),
            escalations: Vec::new(),
            all_clears: Vec::new(),
            deletions: Vec::new(),
            children: Vec::new(),
            warnings: Vec::new(),
        };
        let mut active_by_district: HashMap<Kreisschluessel, usize> = HashMap::new();
        let mut open_by_district: HashMap<Kreisschluessel, usize> = HashMap::new();
        // each action with its child's number: children are in `melde_id` order, so sorting
        // by (day, number) is sorting by (day, `melde_id`) without reading the ids' strings
        let mut invitations = Vec::new();
        let mut reminders = Vec::new();
        let mut escalations = Vec::new();
        let mut all_clears = Vec::new();
        let mut deletions = Vec::new();
        let mut warnings = Vec::new();
        for (child_no, o) in outcomes.into_iter().enumerate() {
            ev.summary.reports_linked += o.linked_reports;
            if let Some(child) = o.child {
                ev.summary.children_registered += 1;
                *ev.summary.children_by_status.entry(child.status()).or_default() += 1;
                if let ChildReport::Registered(c) = &child {
                    if c.status == ChildStatus::Active {
                        *active_by_district.entry(c.district.clone()).or_default() += 1;
                    }
                    for cu in c.checkups.values() {
                        *ev.summary.states.entry(cu.state).or_default() += 1;
                    }
                    for (checkup, cu) in &c.checkups {
                        if cu.state == output::CheckupState::Escalated
                            && let Some(e) = o.escalations.iter().find(|e| e.checkup == *checkup).map(|e| &e.district)
                        {
                            *open_by_district.entry(e.clone()).or_default() += 1;
                        }
                    }
                }
                ev.children.push(child);
            }
            invitations.extend(o.invitations.into_iter().map(|a| (child_no, a)));
            reminders.extend(o.reminders.into_iter().map(|a| (child_no, a)));
            escalations.extend(o.escalations.into_iter().map(|a| (child_no, a)));
            all_clears.extend(o.all_clears.into_iter().map(|a| (child_no, a)));
            deletions.extend(o.deletion.map(|a| (child_no, a)));
            warnings.extend(o.warnings.into_iter().map(|w| (child_no, w)));
        }
        // stable sorts, as before: equal keys keep the order the children produced them in
        ev.invitations = by_day_and_child(invitations, |a| (a.created, a.checkup));
        ev.reminders = by_day_and_child(reminders, |a| (a.created, a.checkup));
        ev.escalations = by_day_and_child(escalations, |a| (a.created, a.checkup));
        ev.all_clears = by_day_and_child(all_clears, |a| (a.created, a.checkup));
        ev.deletions = by_day_and_child(deletions, |a| (a.created, ()));
        ev.warnings = by_day_and_child(warnings, |w| (w.date, w.line));

        // reports
        let received: Vec<&UniqueReport<'_>> = self.unique_reports.iter().filter(|r| r.received <= as_of).collect();
        ev.summary.reports_received_unique = received.len();
        ev.summary.reports_unlinked = received.len().saturating_sub(ev.summary.reports_linked);
        let mut delays: Vec<i64> = received.iter().map(|r| days_between(r.exam_date, r.received)).collect();
        ev.summary.median_report_delay_days = median(&mut delays);
        ev.summary.invitations = ev.invitations.len();
        ev.summary.reminders = ev.reminders.len();
        ev.summary.escalations = ev.escalations.len();
        ev.summary.all_clears = ev.all_clears.len();
        ev.summary.late_reports_after_escalation = ev.all_clears.len();

        // districts: every office of the profile, and every district that occurs
        let mut districts: BTreeMap<Kreisschluessel, DistrictStats> = BTreeMap::new();
        fn district<'m>(
            districts: &'m mut BTreeMap<Kreisschluessel, DistrictStats>,
            profile: &Profile,
            k: &Kreisschluessel,
        ) -> &'m mut DistrictStats {
            districts.entry(k.clone()).or_insert_with(|| DistrictStats {
                gesundheitsamt: profile.office(k),
                active_children: 0,
                invitations: 0,
                reminders: 0,
                escalations: 0,
                all_clears: 0,
                open_escalations: 0,
                by_checkup: BTreeMap::new(),
            })
        }
        for o in &profile.offices {
            district(&mut districts, profile, &o.kreis);
        }
        for (k, n) in &active_by_district {
            district(&mut districts, profile, k).active_children = *n;
        }
        fn bump(d: &mut DistrictStats, c: Checkup) -> &mut CheckupCounts {
            d.by_checkup.entry(c).or_default()
        }
        for a in &ev.invitations {
            let d = district(&mut districts, profile, &a.district);
            d.invitations += 1;
            bump(d, a.checkup).invitations += 1;
        }
        for a in &ev.reminders {
            let d = district(&mut districts, profile, &a.district);
            d.reminders += 1;
            bump(d, a.checkup).reminders += 1;
        }
        for a in &ev.escalations {
            let d = district(&mut districts, profile, &a.district);
            d.escalations += 1;
            bump(d, a.checkup).escalations += 1;
        }
        for a in &ev.all_clears {
            let d = district(&mut districts, profile, &a.district);
            d.all_clears += 1;
            bump(d, a.checkup).all_clears += 1;
        }
        for (k, n) in &open_by_district {
            district(&mut districts, profile, k).open_escalations = *n;
        }
        for d in districts.values_mut() {
            d.by_checkup.retain(|_, c| !c.is_empty());
        }
        ev.districts = districts;
        ev
    }
}

/// Sorts `(child number, item)` by the item's day, then the child, then the item's `then`,
/// and drops the numbers. Stable.
fn by_day_and_child<T, K: Ord>(mut items: Vec<(usize, T)>, key: impl Fn(&T) -> (Date, K)) -> Vec<T> {
    items.sort_by_cached_key(|(child_no, item)| {
        let (day, then) = key(item);
        (day, *child_no, then)
    });
    items.into_iter().map(|(_, item)| item).collect()
}

/// The median (mean of the two middle values for an even count).
fn median(values: &mut [i64]) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let hi = *values.get(n / 2)?;
    #[allow(clippy::cast_precision_loss)]
    if n % 2 == 1 {
        Some(hi as f64)
    } else {
        let lo = *values.get(n / 2 - 1)?;
        Some((lo + hi) as f64 / 2.0)
    }
}

/// One-call convenience: [`ReportSet::new`], [`Engine::new`] and [`Engine::evaluate`].
pub fn evaluate(
    profile: &Profile,
    programme_start: Date,
    rows: &[RegistryRow],
    reports: &[AssignedReport],
    as_of: Date,
) -> Evaluation {
    let set = ReportSet::new(reports);
    Engine::new(profile, programme_start, rows, &set).evaluate(as_of)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// [`ReportSet::new`] as it was written first, with a hash map: the reference for
    /// [`first_receipts`].
    fn first_receipts_by_map(reports: &[AssignedReport]) -> Vec<(String, usize, Date)> {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut unique: Vec<(String, usize, Date)> = Vec::new();
        for (seq, r) in reports.iter().enumerate() {
            match first.get(r.report_id.as_str()).and_then(|i| unique.get_mut(*i)) {
                Some(existing) => {
                    if r.received < existing.2 {
                        *existing = (r.report_id.clone(), seq, r.received);
                    }
                }
                None => {
                    first.insert(&r.report_id, unique.len());
                    unique.push((r.report_id.clone(), seq, r.received));
                }
            }
        }
        unique
    }

    proptest! {
        /// The sorted hashes keep the same receipts in the same order as a hash map does,
        /// with real hashes and with every id hashing alike.
        #[test]
        fn first_receipts_are_those_of_a_hash_map(receipts in prop::collection::vec((0u8..12, 0i8..5), 0..60)) {
            let reports: Vec<AssignedReport> = receipts
                .iter()
                .map(|(id, day)| AssignedReport {
                    report_id: format!("card-{id}"),
                    melde_id: None,
                    checkup: Checkup::U4,
                    exam_date: jiff::civil::date(2024, 3, 1),
                    received: jiff::civil::date(2024, 3, 1 + day),
                    linked_on: None,
                })
                .collect();
            let want = first_receipts_by_map(&reports);
            let keys = std::hash::RandomState::new();
            for got in [first_receipts(&reports, |id| keys.hash_one(id)), first_receipts(&reports, |_| 7)] {
                let got: Vec<(String, usize, Date)> =
                    got.iter().map(|u| (u.report_id.to_owned(), u.seq, u.received)).collect();
                prop_assert_eq!(&got, &want);
            }
        }

        /// The sort key orders `melde_id`s exactly as their strings do, short and long ones,
        /// and those sharing their first 16 bytes.
        #[test]
        fn id_key_orders_as_the_ids(a in "[!-~]{1,40}", b in "[!-~]{1,40}", shared in "[!-~]{0,20}") {
            for (a, b) in [(a.clone(), b.clone()), (format!("{shared}{a}"), format!("{shared}{b}"))] {
                if let (Ok(x), Ok(y)) = (MeldeId::parse(&a), MeldeId::parse(&b)) {
                    prop_assert_eq!(IdKey::new(&x).cmp(&IdKey::new(&y)), x.cmp(&y));
                }
            }
        }
    }
}
