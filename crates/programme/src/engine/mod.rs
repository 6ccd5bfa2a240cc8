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
    /// In date order; same date in delivery order (rule 12).
    events: Vec<&'a RegistryRow>,
    /// In receipt order; same day in input order.
    reports: Vec<&'a UniqueReport<'a>>,
}

/// The replay engine over one set of inputs; evaluate it as of any day.
pub struct Engine<'a> {
    profile: &'a Profile,
    programme_start: Date,
    report_rows: usize,
    /// Sorted by receipt (for the summary).
    unique_reports: Vec<&'a UniqueReport<'a>>,
    /// Sorted by `melde_id`.
    children: Vec<ChildInput<'a>>,
    threads: usize,
}

/// Storage the engine borrows from: the distinct reports. Build it with
/// [`ReportSet::new`] and keep it alive as long as the [`Engine`].
pub struct ReportSet<'a> {
    unique: Vec<UniqueReport<'a>>,
    rows: usize,
}

impl<'a> ReportSet<'a> {
    /// Keeps the first receipt of every `report_id` (earliest `received`, then input order).
    pub fn new(reports: &'a [AssignedReport]) -> ReportSet<'a> {
        let mut first: HashMap<&'a str, usize> = HashMap::with_capacity(reports.len());
        let mut unique: Vec<UniqueReport<'a>> = Vec::with_capacity(reports.len());
        for (seq, r) in reports.iter().enumerate() {
            let candidate = UniqueReport {
                report_id: &r.report_id,
                melde_id: r.melde_id.as_ref(),
                checkup: r.checkup,
                exam_date: r.exam_date,
                received: r.received,
                link_day: r.link_day(),
                seq,
            };
            match first.get(r.report_id.as_str()).and_then(|i| unique.get_mut(*i)) {
                Some(existing) => {
                    if r.received < existing.received {
                        *existing = candidate;
                    }
                }
                None => {
                    first.insert(&r.report_id, unique.len());
                    unique.push(candidate);
                }
            }
        }
        ReportSet { unique, rows: reports.len() }
    }
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
        // events: by child, then date, then delivery order (a stable sort keeps it)
        let mut events: Vec<&'a RegistryRow> = rows.iter().collect();
        events.sort_by(|a, b| a.melde_id.cmp(&b.melde_id).then(a.event_date.cmp(&b.event_date)));

        let mut by_receipt: Vec<&'a UniqueReport<'a>> = reports.unique.iter().collect();
        by_receipt.sort_by_key(|r| (r.received, r.seq));
        let mut assigned: Vec<&'a UniqueReport<'a>> =
            by_receipt.iter().copied().filter(|r| r.melde_id.is_some()).collect();
        assigned.sort_by(|a, b| a.melde_id.cmp(&b.melde_id).then((a.link_day, a.seq).cmp(&(b.link_day, b.seq))));

        let mut children: Vec<ChildInput<'a>> = Vec::new();
        let mut ri = 0usize;
        let mut ei = 0usize;
        while let Some(first) = events.get(ei) {
            let id = &first.melde_id;
            let end = ei + events.get(ei..).map_or(0, |rest| rest.iter().take_while(|e| &e.melde_id == id).count());
            // reports of children without events cannot link; skip them
            while assigned.get(ri).and_then(|r| r.melde_id).is_some_and(|m| m < id) {
                ri += 1;
            }
            let rstart = ri;
            while assigned.get(ri).and_then(|r| r.melde_id).is_some_and(|m| m == id) {
                ri += 1;
            }
            children.push(ChildInput {
                melde_id: id,
                events: events.get(ei..end).map(<[_]>::to_vec).unwrap_or_default(),
                reports: assigned.get(rstart..ri).map(<[_]>::to_vec).unwrap_or_default(),
            });
            ei = end;
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        Engine { profile, programme_start, report_rows: reports.rows, unique_reports: by_receipt, children, threads }
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
        ChildSim::new(self.profile, self.programme_start, as_of, child.melde_id, &child.events, &child.reports).run()
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
        for o in outcomes {
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
            ev.invitations.extend(o.invitations);
            ev.reminders.extend(o.reminders);
            ev.escalations.extend(o.escalations);
            ev.all_clears.extend(o.all_clears);
            ev.deletions.extend(o.deletion);
            ev.warnings.extend(o.warnings);
        }
        ev.invitations.sort_by(|a, b| (a.created, &a.melde_id, a.checkup).cmp(&(b.created, &b.melde_id, b.checkup)));
        ev.reminders.sort_by(|a, b| (a.created, &a.melde_id, a.checkup).cmp(&(b.created, &b.melde_id, b.checkup)));
        ev.escalations.sort_by(|a, b| (a.created, &a.melde_id, a.checkup).cmp(&(b.created, &b.melde_id, b.checkup)));
        ev.all_clears.sort_by(|a, b| (a.created, &a.melde_id, a.checkup).cmp(&(b.created, &b.melde_id, b.checkup)));
        ev.deletions.sort_by(|a, b| (a.created, &a.melde_id).cmp(&(b.created, &b.melde_id)));
        ev.warnings.sort_by(|a, b| (a.date, &a.melde_id, a.line).cmp(&(b.date, &b.melde_id, b.line)));

        // reports
        let received: Vec<&UniqueReport<'_>> =
            self.unique_reports.iter().copied().filter(|r| r.received <= as_of).collect();
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
