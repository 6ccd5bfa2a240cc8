//! "Exactly once" over a year of daily runs: running the programme on every day of a year,
//! in order, records the same actions with the same dates as one run on the last day, each
//! once, and typesets one letter per reminder or invitation. Repeating days and running
//! days out of order adds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use support::small_fixture_gateway;

use jiff::civil::{Date, date};
use jiff::{Span, Timestamp};
use oegd_domain::SystemClock;
use oegd_programme::Profile;
use oegd_service::datadir::DataDir;
use oegd_service::{admin, letters, programme};
use oegd_store::Store;

const NOW: Timestamp = Timestamp::constant(1_790_000_000, 0);

/// A data directory with the small fixture's register and reports.
async fn loaded(root: &Path) -> DataDir {
    small_fixture_gateway(root, NOW, std::sync::Arc::new(SystemClock)).await;
    DataDir::new(root.join("data"))
}

async fn recorded<S: Store>(store: &S) -> BTreeSet<(String, String, String, Date)> {
    store
        .actions(None)
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            (a.kind, a.melde_id.to_string(), a.checkup.map(|c| c.name().to_owned()).unwrap_or_default(), a.created)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_daily_runs_records_what_one_run_on_the_last_day_knows() {
    let profile = Profile::mv();
    let sender = letters::sender_for(&profile);
    let (first, last) = (date(2024, 7, 1), date(2025, 6, 30));

    let tmp = tempfile::tempdir().unwrap();
    let daily = admin::open_store(&loaded(tmp.path()).await).await.unwrap();
    // everything before the year in one go, then every day of the year
    programme::run_jobs(&daily, &profile, &sender, first.yesterday().unwrap(), NOW).await.unwrap();
    let mut day = first;
    while day <= last {
        let run = programme::run_jobs(&daily, &profile, &sender, day, NOW).await.unwrap();
        // whatever a day creates is dated that day (or earlier only through a late link)
        assert!(run.new_actions == 0 || recorded(&daily).await.iter().all(|a| a.3 <= day));
        day = day.checked_add(Span::new().days(1)).unwrap();
    }
    // repeated and out-of-order days add nothing
    for d in [last, first, date(2024, 12, 24), last] {
        let run = programme::run_jobs(&daily, &profile, &sender, d, NOW).await.unwrap();
        assert_eq!(run.new_actions, 0, "{d}");
        assert_eq!(run.letters, 0, "{d}");
    }

    let tmp2 = tempfile::tempdir().unwrap();
    let once = admin::open_store(&loaded(tmp2.path()).await).await.unwrap();
    let (before, _) = programme::evaluate(&once, &profile, last).await.unwrap();
    let run = programme::run_jobs(&once, &profile, &sender, last, NOW).await.unwrap();
    assert!(run.erased > 0, "the fixture has children deleted by {last}");
    // Erasing the personal data of deleted children leaves the statistics as they were.
    let (after, _) = programme::evaluate(&once, &profile, last).await.unwrap();
    assert_eq!(serde_json::to_value(&before.summary).unwrap(), serde_json::to_value(&after.summary).unwrap());
    assert_eq!(serde_json::to_value(&before.districts).unwrap(), serde_json::to_value(&after.districts).unwrap());
    let erased = once.erased_children().await.unwrap();
    assert_eq!(erased.len(), run.erased);
    let events = once.registry_events().await.unwrap();
    for child in &erased {
        for e in events.iter().filter(|e| &e.melde_id == child) {
            let row: serde_json::Value = serde_json::from_str(&e.row_json).unwrap();
            if let Some(record) = row.get("record").filter(|r| !r.is_null()) {
                assert_eq!(record["family_name"], "", "names left after erasure");
                assert_eq!(record["guardians"], serde_json::json!([]));
                assert_eq!(record["address"]["street"], "");
            }
        }
        for letter in once.actions(Some("reminder")).await.unwrap().iter().filter(|a| &a.melde_id == child) {
            assert_eq!(once.letter_pdf(&letter.key()).await.unwrap(), Some(Vec::new()), "letter kept");
        }
    }
    assert_eq!(programme::run_jobs(&once, &profile, &sender, last, NOW).await.unwrap().erased, 0, "erased twice");

    let (by_day, at_once) = (recorded(&daily).await, recorded(&once).await);
    assert!(!by_day.is_empty());
    assert_eq!(by_day, at_once, "daily runs and one run disagree");
    // one stored letter per reminder (MV has no invitations)
    let reminders = by_day.iter().filter(|a| a.0 == "reminder").count();
    assert!(reminders > 0);
    assert!(daily.actions_without_letter(&letters::LETTER_KINDS).await.unwrap().is_empty());
    let some = daily.actions(Some("reminder")).await.unwrap().pop().unwrap();
    let pdf = daily.letter_pdf(&some.key()).await.unwrap().unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}
