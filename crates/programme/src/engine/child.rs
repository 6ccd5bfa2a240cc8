//! The replay of one child: an event-driven simulation of the daily runs.
//!
//! Instead of running every day, the simulation jumps from one *interesting* day to the
//! next: a registration event, a report's receipt, the programme's first day, the deletion
//! day, or a day on which an invitation, reminder or escalation falls due. Nothing changes
//! on the days in between (links and statuses change only on event and receipt days), so
//! the result is the same as a run on every day, at O(events + reports + check-ups) work
//! per child.

use std::collections::BTreeMap;

use jiff::civil::Date;
use oegd_domain::{Kreisschluessel, MeldeId};

use super::UniqueReport;
use super::output::{
    AllClear, CheckupReport, CheckupState, ChildReport, ChildStatus, DeletedChild, Deletion, Escalation, Invitation,
    RegisteredChild, Reminder, Warning,
};
use crate::offset::{add_days, days_between};
use crate::profile::{LetterVariant, Profile};
use crate::registry::{EventKind, PersonRecord, RegistryRow};
use crate::window::Window;

/// What one child contributes to the evaluation.
#[derive(Default)]
pub(crate) struct ChildOutcome {
    pub child: Option<ChildReport>,
    pub invitations: Vec<Invitation>,
    pub reminders: Vec<Reminder>,
    pub escalations: Vec<Escalation>,
    pub all_clears: Vec<AllClear>,
    pub deletion: Option<Deletion>,
    /// Distinct reports linked to this child by the evaluation day.
    pub linked_reports: usize,
    pub warnings: Vec<Warning>,
}

#[derive(Clone, Default)]
struct CheckupTrack {
    /// Link day and index (into the child's reports) of the first linked report.
    link: Option<(Date, usize)>,
    invited: Option<Date>,
    reminded: Option<Date>,
    escalated: Option<(Date, Kreisschluessel)>,
    all_clear: Option<Date>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Active,
    MovedOut,
    Dead,
}

pub(crate) struct ChildSim<'a> {
    profile: &'a Profile,
    start: Date,
    as_of: Date,
    melde_id: &'a MeldeId,
    events: &'a [&'a RegistryRow],
    reports: &'a [&'a UniqueReport<'a>],
}

struct State<'a> {
    record: Option<&'a PersonRecord>,
    registered_on: Option<Date>,
    tracked_from: Option<Date>,
    presence: Presence,
    exit: Option<Date>,
    deleted_on: Option<Date>,
    tracks: Vec<CheckupTrack>,
    pending: Vec<usize>,
    linked: Vec<Option<Date>>,
    /// Windows and due days for `due_birth` (recomputed only when the birth date changes).
    due: Vec<Option<Due>>,
    due_birth: Option<Date>,
    regular_deletion: Option<Date>,
}

/// A check-up's window and decision days for one date of birth.
#[derive(Clone, Copy)]
struct Due {
    window: Window,
    /// First day and last day (end of the regular window) for the invitation.
    invitation: Option<(Date, Date)>,
    reminder: Option<Date>,
    escalation: Option<Date>,
}

impl<'a> ChildSim<'a> {
    pub(crate) fn new(
        profile: &'a Profile,
        start: Date,
        as_of: Date,
        melde_id: &'a MeldeId,
        events: &'a [&'a RegistryRow],
        reports: &'a [&'a UniqueReport<'a>],
    ) -> Self {
        ChildSim { profile, start, as_of, melde_id, events, reports }
    }

    fn deletion_day(&self, st: &State<'_>) -> Option<Date> {
        let after_exit = st.exit.and_then(|x| self.profile.deletion.after_exit.apply(x));
        match (st.regular_deletion, after_exit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Recomputes windows and due days if the birth date changed (on registration, or a
    /// corrected birth date): the only place with calendar arithmetic.
    fn refresh_due(&self, st: &mut State<'_>) {
        let Some(birth) = st.record.map(|r| r.birth_date) else { return };
        if st.due_birth == Some(birth) {
            return;
        }
        let windows: Vec<Option<Window>> = self.profile.checkups.iter().map(|r| r.window.for_birth(birth)).collect();
        st.due = self
            .profile
            .checkups
            .iter()
            .zip(&windows)
            .map(|(rule, w)| {
                let w = (*w)?;
                let escalation = rule.escalation.and_then(|e| {
                    let basis = self.profile.checkups.iter().position(|r| r.checkup == e.after_tolerance_end_of)?;
                    e.offset.apply(windows.get(basis).copied().flatten()?.tolerance_end)
                });
                Some(Due {
                    window: w,
                    invitation: rule.invitation.and_then(|o| o.apply(w.regular_start)).map(|d| (d, w.regular_end)),
                    reminder: rule.reminder.and_then(|o| o.apply(w.regular_end)),
                    escalation,
                })
            })
            .collect();
        st.due_birth = Some(birth);
        st.regular_deletion = self.profile.regular_deletion(birth);
    }

    fn warn(&self, out: &mut ChildOutcome, row: &RegistryRow, message: &str) {
        out.warnings.push(Warning {
            melde_id: self.melde_id.clone(),
            date: row.event_date,
            line: row.line,
            message: message.to_owned(),
        });
    }

    pub(crate) fn run(&self) -> ChildOutcome {
        let mut out = ChildOutcome::default();
        let n = self.profile.checkups.len();
        let mut st = State {
            record: None,
            registered_on: None,
            tracked_from: None,
            presence: Presence::Active,
            exit: None,
            deleted_on: None,
            tracks: vec![CheckupTrack::default(); n],
            pending: Vec::new(),
            linked: vec![None; self.reports.len()],
            due: Vec::new(),
            due_birth: None,
            regular_deletion: None,
        };
        let mut ei = 0usize;
        let mut ri = 0usize;
        let mut last: Option<Date> = None;

        loop {
            // the next interesting day after `last`, not after `as_of`
            let mut next: Option<Date> = None;
            let mut consider = |d: Date| {
                if last.is_none_or(|l| d > l) && d <= self.as_of && next.is_none_or(|n| d < n) {
                    next = Some(d);
                }
            };
            if let Some(e) = self.events.get(ei) {
                consider(e.event_date);
            }
            if let Some(r) = self.reports.get(ri) {
                consider(r.link_day);
            }
            if let (Some(_), None, Some(_)) = (st.registered_on, st.deleted_on, st.record) {
                if let Some(d) = self.deletion_day(&st) {
                    consider(last.map_or(d, |l| d.max(add_days(l, 1))));
                }
                consider(self.start);
                for (t, due) in st.tracks.iter().zip(&st.due) {
                    let Some(due) = due else { continue };
                    if t.link.is_some() {
                        continue;
                    }
                    let (inv, rem, esc) = (due.invitation, due.reminder, due.escalation);
                    if let (Some((d, until)), None) = (inv, t.invited)
                        && d.max(self.start) <= until
                    {
                        consider(d.max(self.start));
                    }
                    if let (Some(d), None) = (rem, t.reminded) {
                        consider(d.max(self.start));
                    }
                    if let (Some(d), None) = (esc, &t.escalated) {
                        consider(d.max(self.start));
                    }
                }
            }
            let Some(today) = next else { break };
            last = Some(today);

            // 1. deletion comes first: nothing links or happens on or after that day
            if st.registered_on.is_some()
                && st.deleted_on.is_none()
                && let Some(d) = self.deletion_day(&st)
                && d <= today
            {
                // `d < today` only if a changed birth date moved the day into the past
                let deleted_on = d.max(today);
                st.deleted_on = Some(deleted_on);
                out.deletion =
                    Some(Deletion { melde_id: self.melde_id.clone(), created: deleted_on.max(self.start), deleted_on });
                // later events are not applied
                for row in self.events.get(ei..).unwrap_or_default() {
                    if row.event_date <= self.as_of {
                        self.warn(&mut out, row, "Ereignis nach der Löschung des Kindes: nicht angewendet");
                    }
                }
                break;
            }

            // 2. the day's registration events, in order
            let mut registered_today = false;
            while let Some(row) = self.events.get(ei).filter(|r| r.event_date == today) {
                ei += 1;
                self.apply_event(&mut st, &mut out, row, today, &mut registered_today);
            }
            self.refresh_due(&mut st);

            // 3. the day's reports; on a registration day the waiting ones
            if registered_today {
                let wait = self.profile.link_wait_days;
                for idx in std::mem::take(&mut st.pending) {
                    if let Some(r) = self.reports.get(idx)
                        && days_between(r.received, today) <= wait
                    {
                        self.link(&mut st, idx, today);
                    }
                }
            }
            while self.reports.get(ri).is_some_and(|r| r.link_day == today) {
                let idx = ri;
                ri += 1;
                if st.registered_on.is_some() {
                    self.link(&mut st, idx, today);
                } else {
                    st.pending.push(idx);
                }
            }

            // 4. the daily run
            if today >= self.start && st.registered_on.is_some() {
                self.daily_run(&mut st, &mut out, today);
            }
        }

        out.linked_reports = st.linked.iter().filter(|l| l.is_some()).count();
        out.child = self.report(&st);
        out
    }

    fn apply_event(
        &self,
        st: &mut State<'a>,
        out: &mut ChildOutcome,
        row: &'a RegistryRow,
        today: Date,
        registered_today: &mut bool,
    ) {
        match row.event {
            EventKind::Geburt | EventKind::Zuzug => {
                let Some(record) = row.record.as_ref() else { return };
                if st.registered_on.is_none() {
                    st.registered_on = Some(today);
                    st.tracked_from = Some(today);
                    *registered_today = true;
                } else if st.presence == Presence::MovedOut {
                    // back within the year before deletion: tracked again from the move-in
                    st.tracked_from = Some(today);
                    st.exit = None;
                    st.presence = Presence::Active;
                } else {
                    self.warn(out, row, "Anmeldung eines bereits angemeldeten Kindes: als Änderung übernommen");
                }
                st.record = Some(record);
            }
            EventKind::Aenderung => {
                if st.registered_on.is_none() {
                    self.warn(out, row, "Änderung vor der Anmeldung des Kindes: nicht angewendet");
                    return;
                }
                st.record = row.record.as_ref().or(st.record);
            }
            EventKind::Wegzug | EventKind::Tod => {
                if st.registered_on.is_none() {
                    self.warn(out, row, "Wegzug oder Tod vor der Anmeldung des Kindes: nicht angewendet");
                    return;
                }
                if st.presence == Presence::Dead {
                    self.warn(out, row, "Ereignis nach dem Tod des Kindes: nicht angewendet");
                    return;
                }
                if row.event == EventKind::Wegzug && st.presence == Presence::MovedOut {
                    self.warn(out, row, "Wegzug eines bereits weggezogenen Kindes: nicht angewendet");
                    return;
                }
                st.presence = if row.event == EventKind::Tod { Presence::Dead } else { Presence::MovedOut };
                if st.exit.is_none() || row.event == EventKind::Tod {
                    st.exit = Some(today);
                }
            }
        }
    }

    fn link(&self, st: &mut State<'_>, idx: usize, today: Date) {
        let Some(report) = self.reports.get(idx) else { return };
        if let Some(slot) = st.linked.get_mut(idx) {
            *slot = Some(today);
        }
        if let Some(pos) = self.profile.checkups.iter().position(|r| r.checkup == report.checkup)
            && let Some(t) = st.tracks.get_mut(pos)
            && t.link.is_none()
        {
            t.link = Some((today, idx));
        }
    }

    fn daily_run(&self, st: &mut State<'_>, out: &mut ChildOutcome, today: Date) {
        let Some(record) = st.record else { return };
        let Some(tracked_from) = st.tracked_from else { return };
        let active = st.presence == Presence::Active;
        let n = st.tracks.len();
        for i in 0..n {
            let later_linked = st.tracks.get(i + 1..).is_some_and(|ts| ts.iter().any(|t| t.link.is_some()));
            let Some(rule) = self.profile.checkups.get(i) else { continue };
            let Some(due) = st.due.get(i).copied().flatten() else { continue };
            let (w, inv, rem, esc) = (due.window, due.invitation, due.reminder, due.escalation);
            let Some(t) = st.tracks.get_mut(i) else { continue };

            // all-clear: the escalated check-up's own report has linked
            if let (Some((escalated_on, esc_district)), Some((_, report_idx)), None) =
                (&t.escalated, t.link, t.all_clear)
            {
                t.all_clear = Some(today);
                out.all_clears.push(AllClear {
                    melde_id: self.melde_id.clone(),
                    checkup: rule.checkup,
                    created: today,
                    district: esc_district.clone(),
                    report_id: self.reports.get(report_idx).map(|r| r.report_id.to_owned()).unwrap_or_default(),
                    escalated_on: *escalated_on,
                });
            }
            if t.link.is_some() || w.tolerance_end < tracked_from {
                continue; // fulfilled, or not tracked (window ended before the move-in)
            }

            if let (Some((day, until)), None) = (inv, t.invited)
                && today >= day
                && today <= until
                && !later_linked
                && active
            {
                t.invited = Some(today);
                out.invitations.push(Invitation {
                    melde_id: self.melde_id.clone(),
                    checkup: rule.checkup,
                    created: today,
                    district: record.ags.kreis(),
                    auskunftssperre: record.auskunftssperre,
                    regular_start: w.regular_start,
                    regular_end: w.regular_end,
                });
            }
            if let (Some(day), None) = (rem, t.reminded)
                && today >= day
            {
                // superseded (rule 5): no reminder, on this day or later
                if !later_linked && active {
                    t.reminded = Some(today);
                    let deadline = (rule.letter == LetterVariant::SameCheckup).then_some(w.tolerance_end);
                    out.reminders.push(Reminder {
                        melde_id: self.melde_id.clone(),
                        checkup: rule.checkup,
                        created: today,
                        district: record.ags.kreis(),
                        auskunftssperre: record.auskunftssperre,
                        variant: rule.letter,
                        asks_for: self.profile.asks_for(rule.checkup),
                        deadline,
                    });
                }
            }
            if let (Some(day), None) = (esc, &t.escalated)
                && today >= day
                && !later_linked
                && active
            {
                t.escalated = Some((today, record.ags.kreis()));
                out.escalations.push(Escalation {
                    melde_id: self.melde_id.clone(),
                    checkup: rule.checkup,
                    created: today,
                    district: record.ags.kreis(),
                    auskunftssperre: record.auskunftssperre,
                    target: self.profile.escalation_target,
                });
            }
        }
    }

    fn report(&self, st: &State<'_>) -> Option<ChildReport> {
        let registered_on = st.registered_on?;
        if let Some(deleted_on) = st.deleted_on {
            return Some(ChildReport::Deleted(DeletedChild {
                melde_id: self.melde_id.clone(),
                status: ChildStatus::Deleted,
                deleted_on,
            }));
        }
        let record = st.record?;
        let tracked_from = st.tracked_from.unwrap_or(registered_on);
        let status = match st.presence {
            Presence::Active => ChildStatus::Active,
            Presence::MovedOut => ChildStatus::MovedOut,
            Presence::Dead => ChildStatus::Dead,
        };
        let mut checkups = BTreeMap::new();
        for (i, (rule, t)) in self.profile.checkups.iter().zip(&st.tracks).enumerate() {
            let window = st.due.get(i).copied().flatten().map(|d| d.window);
            let later_linked = st.tracks.get(i + 1..).is_some_and(|ts| ts.iter().any(|t| t.link.is_some()));
            let not_tracked = window.is_some_and(|w| w.tolerance_end < tracked_from);
            let state = if t.link.is_some() {
                if t.escalated.is_some() { CheckupState::AllClear } else { CheckupState::Fulfilled }
            } else if t.escalated.is_some() {
                CheckupState::Escalated
            } else if not_tracked {
                CheckupState::NotTracked
            } else if later_linked {
                // a later tracked check-up is linked: reminder and escalation are skipped
                // from now on (links are never undone), so the state is final
                CheckupState::Superseded
            } else if status != ChildStatus::Active {
                CheckupState::NoAction
            } else if t.reminded.is_some() {
                CheckupState::Reminded
            } else {
                CheckupState::NotDue
            };
            checkups.insert(
                rule.checkup,
                CheckupReport {
                    state,
                    invited: t.invited,
                    reminded: t.reminded,
                    escalated: t.escalated.as_ref().map(|(d, _)| *d),
                    all_clear: t.all_clear,
                    linked: t.link.map(|(d, _)| d),
                },
            );
        }
        Some(ChildReport::Registered(RegisteredChild {
            melde_id: self.melde_id.clone(),
            birth_date: record.birth_date,
            registered_on,
            status,
            district: record.ags.kreis(),
            auskunftssperre: record.auskunftssperre,
            tracked_from,
            exit_date: if status == ChildStatus::Active { None } else { st.exit },
            deleted_on: self.deletion_day(st).unwrap_or(registered_on),
            checkups,
        }))
    }
}
