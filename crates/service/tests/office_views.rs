//! The state office's start page and statistics as the server keeps them
//! (`office_views::OfficeViews`), over the small programme fixture: a view of an unchanged store is
//! the one computed before, viewers at once share one computation, and a change or a new day
//! makes the next view compute again, with the same numbers as computing it directly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::small_fixture_gateway;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use oegd_domain::SystemClock;
use oegd_programme::Profile;
use oegd_service::office_views::OfficeViews;
use oegd_service::{letters, office, overview, programme};
use oegd_store::Store;

const NOW: Timestamp = Timestamp::constant(1_768_471_200, 0);

fn noon(d: Date) -> Timestamp {
    d.at(12, 0, 0, 0).in_tz("Europe/Berlin").unwrap().timestamp()
}

/// What the daily run would create by kind and has not recorded: its actions as the run
/// records them, less the recorded keys.
async fn due_as_the_run_records<S: Store>(store: &S, profile: &Profile, day: Date) -> BTreeMap<String, usize> {
    let (evaluation, _) = programme::evaluate(store, profile, day).await.unwrap();
    let recorded: BTreeSet<_> = store.actions(None).await.unwrap().iter().map(|a| a.key()).collect();
    let mut due = BTreeMap::new();
    for a in programme::actions_of(&evaluation).unwrap() {
        if !recorded.contains(&a.key()) && matches!(a.kind.as_str(), "reminder" | "escalation" | "invitation") {
            *due.entry(a.kind).or_insert(0) += 1;
        }
    }
    due
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_kept_while_the_store_is_unchanged_and_shared_by_viewers_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = small_fixture_gateway(tmp.path(), NOW, Arc::new(SystemClock)).await;
    let store = gateway.store();
    let profile = Arc::new(Profile::mv());
    let day = date(2025, 6, 30);
    let views = OfficeViews::default();

    // two viewers at once: one computation
    let (a, b) =
        tokio::join!(views.start_page(store, &profile, noon(day)), views.start_page(store, &profile, noon(day)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    // the same numbers as computing them directly; nothing recorded yet, so everything the
    // engine knows by the day is due
    let expected = due_as_the_run_records(store, &profile, day).await;
    assert!(expected.get("reminder").is_some_and(|n| *n > 0), "{expected:?}");
    assert_eq!(a.due, expected);
    let recorded = Arc::new(store.actions(None).await.unwrap());
    assert_eq!(a.due, office::due_actions(store, &profile, day, Arc::clone(&recorded)).await.unwrap());
    let direct = overview::overview(store, noon(day), &recorded).await.unwrap();
    assert_eq!(serde_json::to_value(&a.overview).unwrap(), serde_json::to_value(&direct).unwrap());
    // a later view of the unchanged store: the same result
    assert!(Arc::ptr_eq(&a, &views.start_page(store, &profile, noon(day)).await.unwrap()));
    let figures = views.figures(store, &profile, day).await.unwrap();
    assert!(Arc::ptr_eq(&figures, &views.figures(store, &profile, day).await.unwrap()));
    assert!(figures.letters_by_month.is_empty());

    // the daily run records the actions: the next views compute again and see them
    let run = programme::run_jobs(store, &profile, &letters::sender_for(&profile), day, NOW).await.unwrap();
    assert!(run.new_actions > 0);
    let after = views.start_page(store, &profile, noon(day)).await.unwrap();
    assert!(!Arc::ptr_eq(&a, &after));
    assert!(after.due.is_empty(), "the run recorded what was due: {:?}", after.due);
    assert!(after.overview.last_run.is_some());
    let figures_after = views.figures(store, &profile, day).await.unwrap();
    assert!(!Arc::ptr_eq(&figures, &figures_after));
    assert_eq!(
        figures_after.letters_by_month.values().map(|(r, _)| r).sum::<usize>(),
        store.actions(Some("reminder")).await.unwrap().len()
    );

    // another day is another view; half a year on, part of what the engine knows is recorded
    let later_day = date(2025, 12, 31);
    let later = views.start_page(store, &profile, noon(later_day)).await.unwrap();
    assert!(!Arc::ptr_eq(&after, &later));
    let expected = due_as_the_run_records(store, &profile, later_day).await;
    assert!(!expected.is_empty());
    assert_eq!(later.due, expected);
}
