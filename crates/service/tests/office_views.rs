//! The state office's start page and statistics as the server keeps them
//! (`office_views::OfficeViews`), over the small programme fixture: a view of an unchanged store is
//! the one computed before, viewers at once share one computation, and a change or a new day
//! makes the next view compute again, with the same numbers as computing it directly. When
//! only reports arrive, a kept view stays on show for a while; other changes do not wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::small_fixture_gateway;

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use oegd_domain::{SystemClock, TelematikId};
use oegd_fhir::MediaType;
use oegd_programme::Profile;
use oegd_service::office_views::{MAX_STALENESS, OfficeViews};
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

/// The small programme fixture taken in (its directory lives as long as the first value).
async fn fixture() -> (tempfile::TempDir, oegd_service::Gateway<oegd_store_any::AnyStore>) {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = small_fixture_gateway(tmp.path(), NOW, Arc::new(SystemClock)).await;
    (tmp, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_kept_while_the_store_is_unchanged_and_shared_by_viewers_at_once() {
    let (_tmp, gateway) = fixture().await;
    let store = gateway.store();
    let (profile, day, views) = (Arc::new(Profile::mv()), date(2025, 6, 30), OfficeViews::default());

    // two viewers at once: one computation
    let (a, b) =
        tokio::join!(views.start_page(store, &profile, noon(day)), views.start_page(store, &profile, noon(day)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.computed_at, noon(day));
    let a = &a.value;
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
    assert!(std::ptr::eq(a, &views.start_page(store, &profile, noon(day)).await.unwrap().value));
    let figures = views.figures(store, &profile, noon(day)).await.unwrap();
    assert!(Arc::ptr_eq(&figures, &views.figures(store, &profile, noon(day)).await.unwrap()));
    assert!(figures.value.letters_by_month.is_empty());

    // the daily run records the actions: the next views compute again and see them
    let run = programme::run_jobs(store, &profile, &letters::sender_for(&profile), day, NOW).await.unwrap();
    assert!(run.new_actions > 0);
    let after = views.start_page(store, &profile, noon(day)).await.unwrap();
    assert!(!std::ptr::eq(a, &after.value));
    let after = &after.value;
    assert!(after.due.is_empty(), "the run recorded what was due: {:?}", after.due);
    assert!(after.overview.last_run.is_some());
    let figures_after = views.figures(store, &profile, noon(day)).await.unwrap();
    assert!(!Arc::ptr_eq(&figures, &figures_after));
    assert_eq!(
        figures_after.value.letters_by_month.values().map(|(r, _)| r).sum::<usize>(),
        store.actions(Some("reminder")).await.unwrap().len()
    );

    // another day is another view; half a year on, part of what the engine knows is recorded
    let later_day = date(2025, 12, 31);
    let later = views.start_page(store, &profile, noon(later_day)).await.unwrap();
    assert!(!std::ptr::eq(after, &later.value));
    let expected = due_as_the_run_records(store, &profile, later_day).await;
    assert!(!expected.is_empty());
    assert_eq!(later.value.due, expected);
}

/// A valid participation card of the shared fixtures, taken in as practice `n`'s report
/// (one card id: from another sender it is another report).
async fn report_arrives<S: Store>(gateway: &oegd_service::Gateway<S>, n: u8, at: Timestamp) {
    let body = std::fs::read(support::fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json")).unwrap();
    let sender = TelematikId::parse(&format!("1-20981234{n:02}")).unwrap();
    let sub = gateway.import_card(&sender, at, MediaType::Json, &body).await.unwrap();
    assert!(sub.created);
}

/// Waits until the view's background computation has put a newer value in place.
async fn next_kept(
    views: &OfficeViews,
    store: &impl Store,
    profile: &Arc<Profile>,
    at: Timestamp,
    version: i64,
) -> i64 {
    for _ in 0..500 {
        let kept = views.start_page(store, profile, at).await.unwrap();
        if kept.version > version {
            return kept.version;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no newer view was computed in the background");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_stays_on_show_for_a_while_when_reports_arrive_but_not_after_other_changes() {
    let (_tmp, gateway) = fixture().await;
    let store = gateway.store();
    let (profile, day, views) = (Arc::new(Profile::mv()), date(2025, 6, 30), OfficeViews::default());
    let first = views.start_page(store, &profile, noon(day)).await.unwrap();
    let reports_before = first.value.overview.reports_total;

    // a report arrives: the kept view is shown at once, with the time it was computed ...
    report_arrives(&gateway, 1, noon(day)).await;
    let minute = SignedDuration::from_mins(1);
    let shown = views.start_page(store, &profile, noon(day) + minute).await.unwrap();
    assert!(Arc::ptr_eq(&first, &shown));
    assert_eq!(shown.computed_at, noon(day));
    // ... while a newer one is computed in the background, which includes the report
    let newer = next_kept(&views, store, &profile, noon(day) + minute, first.version).await;
    assert_eq!(newer, store.data_version().await.unwrap());
    let current = views.start_page(store, &profile, noon(day) + minute).await.unwrap();
    assert_eq!(current.value.overview.reports_total, reports_before + 1);
    assert_eq!(current.computed_at, noon(day) + minute);

    // older than MAX_STALENESS: the viewer waits for a view of the store as it is
    report_arrives(&gateway, 2, noon(day)).await;
    let late = noon(day) + minute + MAX_STALENESS + SignedDuration::from_secs(1);
    let fresh = views.start_page(store, &profile, late).await.unwrap();
    assert_eq!(fresh.version, store.data_version().await.unwrap());
    assert_eq!(fresh.value.overview.reports_total, reports_before + 2);

    // any other change (here the daily run) shows at the next view, however young the kept
    // one is, and although a report came too
    let run = programme::run_jobs(store, &profile, &letters::sender_for(&profile), day, NOW).await.unwrap();
    assert!(run.new_actions > 0);
    report_arrives(&gateway, 4, noon(day)).await;
    let after_run = views.start_page(store, &profile, late).await.unwrap();
    assert!(after_run.value.due.is_empty(), "{:?}", after_run.value.due);
    assert_eq!(after_run.version, store.data_version().await.unwrap());

    // the statistics follow the same rule
    let figures = views.figures(store, &profile, late).await.unwrap();
    report_arrives(&gateway, 3, noon(day)).await;
    assert!(Arc::ptr_eq(&figures, &views.figures(store, &profile, late).await.unwrap()));
    let later_run =
        programme::run_jobs(store, &profile, &letters::sender_for(&profile), date(2025, 12, 31), NOW).await.unwrap();
    assert!(later_run.new_actions > 0);
    let after = views.figures(store, &profile, late).await.unwrap();
    assert_eq!(after.version, store.data_version().await.unwrap());
}
