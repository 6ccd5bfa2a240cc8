//! The rules of PROGRAMME.md ("Precise semantics") on small hand-made cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jiff::civil::{Date, date};
use oegd_domain::{Checkup, MeldeId};
use oegd_programme::{
    AssignedReport, CheckupState, ChildReport, ChildStatus, Evaluation, LetterVariant, Profile, RegisteredChild,
    RegistryRow, evaluate, read_registry,
};

const HEADER: &str = "ereignis,ereignis_datum,melde_id,familienname,vornamen,geburtsname,geburtsdatum,geschlecht,strasse,hausnummer,plz,wohnort,ags,sorgeberechtigte,auskunftssperre\n";
const START: Date = date(2019, 1, 1);

/// `(event, date, birth date, ags)`; `wegzug`/`tod` rows carry only the three columns.
fn rows(events: &[(&str, Date, Date, &str)]) -> Vec<RegistryRow> {
    let mut text = HEADER.to_owned();
    for (event, day, birth, ags) in events {
        if matches!(*event, "wegzug" | "tod") {
            text.push_str(&format!("{event},{day},K1,,,,,,,,,,,,\n"));
        } else {
            text.push_str(&format!(
                "{event},{day},K1,Muster,Lena,,{birth},w,Hauptstraße,1,18055,Rostock,{ags},Anna Muster,nein\n"
            ));
        }
    }
    let f = read_registry(text.as_bytes());
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    f.rows
}

fn report(id: &str, checkup: Checkup, received: Date) -> AssignedReport {
    AssignedReport {
        report_id: id.to_owned(),
        melde_id: Some(MeldeId::parse("K1").unwrap()),
        checkup,
        exam_date: received,
        received,
        linked_on: None,
    }
}

fn child(ev: &Evaluation) -> &RegisteredChild {
    match ev.children.first() {
        Some(ChildReport::Registered(c)) => c,
        other => panic!("{other:?}"),
    }
}

fn state(ev: &Evaluation, c: Checkup) -> CheckupState {
    child(ev).checkups[&c].state
}

const B: Date = date(2023, 1, 10);
const ROSTOCK: &str = "13003000";
const SCHWERIN: &str = "13004000";

#[test]
fn reminder_on_regular_end_plus_14_days_and_escalation_at_the_next_checkups_deadline() {
    let rows = rows(&[("geburt", B, B, ROSTOCK)]);
    let p = Profile::mv();
    // U3: regular end b+34d, reminder b+48d = 2023-02-27
    let ev = evaluate(&p, START, &rows, &[], date(2023, 2, 26));
    assert!(ev.reminders.is_empty());
    assert_eq!(state(&ev, Checkup::U3), CheckupState::NotDue);
    let ev = evaluate(&p, START, &rows, &[], date(2023, 2, 27));
    let r = &ev.reminders[0];
    assert_eq!(
        (r.checkup, r.created, r.variant, r.asks_for),
        (Checkup::U3, date(2023, 2, 27), LetterVariant::NextCheckup, Checkup::U4)
    );
    assert_eq!(r.deadline, None);
    assert_eq!(r.district.as_str(), "13003");
    assert_eq!(state(&ev, Checkup::U3), CheckupState::Reminded);
    // U3 escalates at U4's tolerance end + 28 d: b+4m+14d = 2023-05-24, + 28 d = 2023-06-21
    let ev = evaluate(&p, START, &rows, &[], date(2023, 6, 20));
    assert!(ev.escalations.iter().all(|e| e.checkup != Checkup::U3));
    let ev = evaluate(&p, START, &rows, &[], date(2023, 6, 21));
    let e = ev.escalations.iter().find(|e| e.checkup == Checkup::U3).unwrap();
    assert_eq!(e.created, date(2023, 6, 21));
    // U6 reminder asks for the same check-up with the tolerance end as deadline
    let ev = evaluate(&p, START, &rows, &[], date(2024, 3, 1));
    let r = ev.reminders.iter().find(|r| r.checkup == Checkup::U6).unwrap();
    assert_eq!((r.variant, r.asks_for), (LetterVariant::SameCheckup, Checkup::U6));
    assert_eq!(r.deadline, Some(date(2024, 3, 9))); // b+14m−1d
    assert_eq!(r.created, date(2024, 1, 23)); // b+12m−1d+14d
}

#[test]
fn a_report_linked_on_the_decision_day_prevents_the_action() {
    let rows = rows(&[("geburt", B, B, ROSTOCK)]);
    let p = Profile::mv();
    let reports = [report("r1", Checkup::U3, date(2023, 2, 27))];
    let ev = evaluate(&p, START, &rows, &reports, date(2023, 3, 31));
    assert!(ev.reminders.iter().all(|r| r.checkup != Checkup::U3));
    assert_eq!(state(&ev, Checkup::U3), CheckupState::Fulfilled);
    assert_eq!(child(&ev).checkups[&Checkup::U3].linked, Some(date(2023, 2, 27)));
}

#[test]
fn a_person_s_later_link_counts_from_the_decision_day_and_clears_the_escalation() {
    let rows = rows(&[("geburt", B, B, ROSTOCK)]);
    let p = Profile::mv();
    // U6 escalates at its tolerance end + 28 d: b+14m−1d = 2024-03-09, + 28 d = 2024-04-06.
    // The report arrived before that, but a person linked it only afterwards.
    let mut late = report("r6", Checkup::U6, date(2024, 3, 1));
    late.linked_on = Some(date(2024, 4, 10));
    let ev = evaluate(&p, START, &rows, std::slice::from_ref(&late), date(2024, 4, 9));
    assert!(ev.escalations.iter().any(|e| e.checkup == Checkup::U6 && e.created == date(2024, 4, 6)));
    let ev = evaluate(&p, START, &rows, std::slice::from_ref(&late), date(2024, 4, 10));
    let clear = ev.all_clears.iter().find(|a| a.checkup == Checkup::U6).expect("all-clear");
    assert_eq!(clear.created, date(2024, 4, 10));
    assert_eq!(child(&ev).checkups[&Checkup::U6].linked, Some(date(2024, 4, 10)));
    // a decision dated before the receipt counts from the receipt
    let mut early = report("r6", Checkup::U6, date(2024, 3, 1));
    early.linked_on = Some(date(2024, 2, 1));
    let ev = evaluate(&p, START, &rows, &[early], date(2024, 4, 10));
    assert!(ev.escalations.iter().all(|e| e.checkup != Checkup::U6));
}

#[test]
fn reports_before_registration_wait_182_days() {
    let p = Profile::mv();
    let moved_in = date(2023, 9, 1);
    let rows = rows(&[("zuzug", moved_in, B, ROSTOCK)]);
    let reports = [
        report("early", Checkup::U4, date(2023, 9, 1) - jiff::Span::new().days(183)),
        report("ok", Checkup::U5, date(2023, 9, 1) - jiff::Span::new().days(182)),
    ];
    let ev = evaluate(&p, START, &rows, &reports, date(2023, 9, 1));
    let c = child(&ev);
    assert_eq!(c.checkups[&Checkup::U5].linked, Some(moved_in));
    assert_eq!(c.checkups[&Checkup::U4].linked, None);
    assert_eq!((ev.summary.reports_linked, ev.summary.reports_unlinked), (1, 1));
    // before the registration nothing links and the child is not in the result
    let ev = evaluate(&p, START, &rows, &reports, date(2023, 8, 31));
    assert!(ev.children.is_empty());
    assert_eq!(ev.summary.reports_linked, 0);
}

#[test]
fn move_in_tracks_windows_ending_on_or_after_the_move_in_day() {
    let p = Profile::mv();
    // U4 tolerance end: b+4m+14d = 2023-05-24
    let rows = rows(&[("zuzug", date(2023, 5, 24), B, ROSTOCK)]);
    let ev = evaluate(&p, START, &rows, &[], date(2023, 5, 24));
    assert_eq!(state(&ev, Checkup::U3), CheckupState::NotTracked);
    assert_eq!(state(&ev, Checkup::U4), CheckupState::Reminded);
    // the U4 reminder day (b+4m−1d+14d = 2023-05-23) had passed: created on the move-in day
    let r = ev.reminders.iter().find(|r| r.checkup == Checkup::U4).unwrap();
    assert_eq!(r.created, date(2023, 5, 24));
    assert!(ev.reminders.iter().all(|r| r.checkup != Checkup::U3));
    let rows2 = self::rows(&[("zuzug", date(2023, 5, 25), B, ROSTOCK)]);
    let ev = evaluate(&p, START, &rows2, &[], date(2023, 5, 25));
    assert_eq!(state(&ev, Checkup::U4), CheckupState::NotTracked);
}

#[test]
fn actions_due_before_the_programme_start_are_created_on_its_first_day() {
    let p = Profile::mv();
    let rows = rows(&[("geburt", B, B, ROSTOCK)]);
    let start = date(2023, 4, 1);
    let ev = evaluate(&p, start, &rows, &[], date(2023, 4, 1));
    let r = ev.reminders.iter().find(|r| r.checkup == Checkup::U3).unwrap();
    assert_eq!(r.created, start);
}

#[test]
fn move_out_stops_actions_but_not_the_all_clear_and_deletion_follows_after_a_year() {
    let p = Profile::mv();
    // U6 escalation: b+14m−1d+28d = 2024-04-06
    let rows = rows(&[
        ("geburt", B, B, ROSTOCK),
        ("aenderung", date(2024, 5, 1), B, SCHWERIN),
        ("wegzug", date(2024, 6, 1), B, ""),
    ]);
    let reports = [
        report("u3", Checkup::U3, date(2023, 2, 1)),
        report("u4", Checkup::U4, date(2023, 4, 1)),
        report("u5", Checkup::U5, date(2023, 7, 1)),
        report("late-u6", Checkup::U6, date(2024, 7, 1)),
        report("after-deletion", Checkup::U7, date(2025, 6, 1)),
    ];
    let ev = evaluate(&p, START, &rows, &reports, date(2024, 12, 31));
    let e = ev.escalations.iter().find(|e| e.checkup == Checkup::U6).unwrap();
    assert_eq!((e.created, e.district.as_str()), (date(2024, 4, 6), "13003"));
    // the all-clear goes to the office that received the escalation
    let a = &ev.all_clears[0];
    assert_eq!(
        (a.checkup, a.created, a.district.as_str(), a.report_id.as_str()),
        (Checkup::U6, date(2024, 7, 1), "13003", "late-u6")
    );
    assert_eq!(a.escalated_on, date(2024, 4, 6));
    let c = child(&ev);
    assert_eq!(
        (c.status, c.exit_date, c.deleted_on),
        (ChildStatus::MovedOut, Some(date(2024, 6, 1)), date(2025, 6, 1))
    );
    assert_eq!(c.district.as_str(), "13004");
    assert_eq!(c.checkups[&Checkup::U6].state, CheckupState::AllClear);
    assert_eq!(c.checkups[&Checkup::U7].state, CheckupState::NoAction);
    assert!(ev.reminders.iter().all(|r| r.created < date(2024, 6, 1)));
    // deleted on the day; the report received that day never links; counts stay
    let ev = evaluate(&p, START, &rows, &reports, date(2025, 12, 31));
    assert_eq!(ev.children.len(), 1);
    assert!(matches!(&ev.children[0], ChildReport::Deleted(d) if d.deleted_on == date(2025, 6, 1)));
    assert_eq!(ev.deletions.len(), 1);
    assert_eq!(ev.summary.reports_linked, 4);
    assert_eq!(ev.summary.all_clears, 1);
    assert!(ev.summary.states.is_empty());
}

#[test]
fn a_later_checkup_supersedes_and_a_resubmission_counts_once() {
    let p = Profile::mv();
    let rows = rows(&[("geburt", B, B, ROSTOCK)]);
    // U4 linked before U3's reminder day (2023-02-27)
    let reports = [
        report("u4", Checkup::U4, date(2023, 2, 20)),
        report("u4", Checkup::U4, date(2023, 3, 20)),
        report("u2", Checkup::U2, date(2023, 1, 20)),
    ];
    let ev = evaluate(&p, START, &rows, &reports, date(2023, 12, 31));
    assert!(ev.reminders.iter().all(|r| r.checkup != Checkup::U3));
    assert!(ev.escalations.iter().all(|e| e.checkup != Checkup::U3));
    assert_eq!(state(&ev, Checkup::U3), CheckupState::Superseded);
    assert_eq!(child(&ev).checkups[&Checkup::U4].linked, Some(date(2023, 2, 20)));
    assert_eq!((ev.summary.report_rows, ev.summary.reports_received_unique, ev.summary.reports_linked), (3, 2, 2));
    // U2 never supersedes
    let reports = [report("u2", Checkup::U2, date(2023, 1, 20))];
    let ev = evaluate(&p, START, &rows, &reports, date(2023, 3, 1));
    assert_eq!(state(&ev, Checkup::U3), CheckupState::Reminded);
}

#[test]
fn the_district_is_the_one_on_the_day_of_the_action() {
    let p = Profile::mv();
    let rows = rows(&[("geburt", B, B, ROSTOCK), ("aenderung", date(2023, 2, 1), B, SCHWERIN)]);
    let ev = evaluate(&p, START, &rows, &[], date(2023, 3, 1));
    assert_eq!(ev.reminders[0].district.as_str(), "13004");
    assert_eq!(ev.districts[&kreis("13004")].reminders, 1);
    assert_eq!(ev.districts[&kreis("13004")].active_children, 1);
    assert_eq!(ev.districts[&kreis("13003")].active_children, 0);
}

#[test]
fn death_stops_everything_and_deletes_after_a_year() {
    let p = Profile::mv();
    let rows = rows(&[("geburt", B, B, ROSTOCK), ("tod", date(2023, 2, 1), B, "")]);
    let ev = evaluate(&p, START, &rows, &[], date(2023, 12, 31));
    assert!(ev.reminders.is_empty() && ev.escalations.is_empty());
    let c = child(&ev);
    assert_eq!((c.status, c.deleted_on), (ChildStatus::Dead, date(2024, 2, 1)));
    assert!(c.checkups.values().all(|s| s.state == CheckupState::NoAction));
}

#[test]
fn events_before_registration_become_warnings() {
    let p = Profile::mv();
    let rows = rows(&[("wegzug", date(2023, 1, 5), B, ""), ("geburt", B, B, ROSTOCK)]);
    let ev = evaluate(&p, START, &rows, &[], date(2023, 1, 31));
    assert_eq!(ev.warnings.len(), 1);
    assert_eq!(ev.warnings[0].message, "Wegzug oder Tod vor der Anmeldung des Kindes: nicht angewendet");
    assert_eq!(ev.warnings[0].line, 2);
    assert_eq!(child(&ev).status, ChildStatus::Active);
    assert_eq!(ev.children.len(), 1);
}

fn kreis(s: &str) -> oegd_domain::Kreisschluessel {
    oegd_domain::Kreisschluessel::parse(s).unwrap()
}
