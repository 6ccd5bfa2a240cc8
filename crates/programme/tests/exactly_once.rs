//! Exactly once and causality on the `small` fixture: actions as of D1 are a subset of the
//! actions as of D2 ≥ D1 with the same creation days; evaluating twice gives the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{load_reports, load_rows, programme_start};
use jiff::civil::Date;
use oegd_programme::{Engine, Profile, ReportSet};
use proptest::prelude::*;

fn day(offset: i64) -> Date {
    programme_start().checked_add(jiff::Span::new().days(offset)).unwrap()
}

fn check_superset(profile: &Profile, d1: Date, d2: Date) -> Result<(), TestCaseError> {
    let rows = load_rows(&["meldedaten_1.csv", "meldedaten_2.csv", "meldedaten_3.csv"]);
    let reports = load_reports();
    let set = ReportSet::new(&reports);
    let engine = Engine::new(profile, programme_start(), &rows, &set);
    let (a, b) = (engine.evaluate(d1).actions(), engine.evaluate(d2).actions());
    for (key, created) in &a {
        prop_assert!(*created <= d1, "{key:?} created {created} after {d1}");
        prop_assert_eq!(b.get(key), Some(created), "{:?} as of {} vs {}", key, d1, d2);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn actions_as_of_d1_are_a_subset_of_actions_as_of_d2(x in 0i64..2555, y in 0i64..2555) {
        let (d1, d2) = (day(x.min(y)), day(x.max(y)));
        check_superset(&Profile::mv(), d1, d2)?;
        check_superset(&Profile::ni(), d1, d2)?;
    }
}

#[test]
fn evaluating_twice_and_with_any_number_of_threads_gives_the_same() {
    let rows = load_rows(&["meldedaten_1.csv", "meldedaten_2.csv", "meldedaten_3.csv"]);
    let reports = load_reports();
    let set = ReportSet::new(&reports);
    let profile = Profile::mv();
    let as_of = Date::constant(2025, 12, 31);
    let one = Engine::new(&profile, programme_start(), &rows, &set).with_threads(1).evaluate(as_of);
    let engine = Engine::new(&profile, programme_start(), &rows, &set).with_threads(4);
    assert_eq!(engine.evaluate(as_of), one);
    assert_eq!(engine.evaluate(as_of), one);
}

#[test]
fn later_deliveries_do_not_change_the_past() {
    // Deliveries 1..3 evaluated as of the end of delivery 1 equal delivery 1 alone
    // (no backdated events in this data): nothing as of D depends on data after D.
    let reports = load_reports();
    let set = ReportSet::new(&reports);
    let profile = Profile::mv();
    let as_of = Date::constant(2024, 12, 31);
    let first = load_rows(&["meldedaten_1.csv"]);
    let all = load_rows(&["meldedaten_1.csv", "meldedaten_2.csv", "meldedaten_3.csv"]);
    let a = Engine::new(&profile, programme_start(), &first, &set).evaluate(as_of);
    let b = Engine::new(&profile, programme_start(), &all, &set).evaluate(as_of);
    assert_eq!(a, b);
}
