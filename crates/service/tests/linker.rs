//! The linker of a running server (`Linker`, fed by the gateway's arrivals) decides every
//! report as `link_pending` does over the same data, also after the register changed
//! between two of its runs; it decides each arrival once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use support::{fixture, import_small_delivery};

use jiff::Timestamp;
use oegd_domain::{SystemClock, TelematikId};
use oegd_fhir::MediaType;
use oegd_service::config::Config;
use oegd_service::datadir::DataDir;
use oegd_service::linking::{Arrivals, LinkRun, Linker};
use oegd_service::{Gateway, admin, import, linking};
use oegd_store::{LinkState, ReportFilter, Store};
use oegd_store_any::AnyStore;

const NOW: Timestamp = Timestamp::constant(1_790_000_000, 0);

async fn store_in(root: &Path, name: &str) -> AnyStore {
    let dir = DataDir::new(root.join(name));
    admin::init(&dir, &Config::new("MV"), NOW).await.unwrap();
    admin::open_store(&dir).await.unwrap()
}

async fn import_delivery(store: &AnyStore, i: u32) {
    import_small_delivery(store, i, NOW).await;
}

/// The fixture's report lines, in two halves.
fn report_lines() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(fixture("programme/small/reports.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let second = lines.split_off(lines.len() / 2);
    (lines, second)
}

/// Stores the lines' cards through `gateway` (as the API does: no linking on the way).
async fn submit(gateway: &Gateway<AnyStore>, lines: &[String]) -> usize {
    let mut created = 0;
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let sender = TelematikId::parse(v["sender_telematik_id"].as_str().unwrap()).unwrap();
        let day = import::start_of_day_berlin(v["received_at"].as_str().unwrap().parse().unwrap()).unwrap();
        let body = serde_json::to_vec(&v["bundle"]).unwrap();
        created += usize::from(gateway.import_card(&sender, day, MediaType::Json, &body).await.unwrap().created);
    }
    created
}

/// Each report's decision by its card id: state, child, the linker's comparison, effective day.
async fn decisions(store: &AnyStore) -> BTreeMap<String, (LinkState, Option<String>, String, String)> {
    let by_report: BTreeMap<_, _> =
        store.link_decisions(None).await.unwrap().into_iter().map(|d| (d.report_id.clone(), d)).collect();
    let reports = store.reports(&ReportFilter::default()).await.unwrap();
    assert_eq!(reports.len(), by_report.len(), "every report has a decision");
    reports
        .into_iter()
        .map(|r| {
            let d = &by_report[&r.id];
            (
                r.card_id,
                (
                    d.state,
                    d.melde_id.as_ref().map(ToString::to_string),
                    d.decision_json.clone(),
                    d.effective.to_string(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_linker_decides_as_link_pending_does_across_a_new_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = report_lines();

    // a running server: its linker keeps its index between runs
    let running = store_in(tmp.path(), "running").await;
    let arrivals = Arc::new(Arrivals::default());
    let gateway = Gateway::new(running.clone(), Arc::new(SystemClock)).await.unwrap().with_arrivals(arrivals.clone());
    let mut linker = Linker::default();
    import_delivery(&running, 1).await;
    assert_eq!(linker.link_arrivals(&running, &arrivals, NOW).await.unwrap(), LinkRun::default());
    let mut examined = 0;
    let mut created = 0;
    for chunk in first.chunks(100) {
        created += submit(&gateway, chunk).await;
        examined += linker.link_arrivals(&running, &arrivals, NOW).await.unwrap().examined;
    }
    // the register grows while the server runs (the import re-tries the open decisions)
    import_delivery(&running, 2).await;
    import_delivery(&running, 3).await;
    for chunk in second.chunks(100) {
        created += submit(&gateway, chunk).await;
        examined += linker.link_arrivals(&running, &arrivals, NOW).await.unwrap().examined;
    }
    assert_eq!(examined, created, "each arrival decided once");
    assert_eq!(linker.link_arrivals(&running, &arrivals, NOW).await.unwrap(), LinkRun::default());

    // the same data, every step linked by link_pending from scratch
    let scratch = store_in(tmp.path(), "scratch").await;
    let plain = Gateway::new(scratch.clone(), Arc::new(SystemClock)).await.unwrap();
    import_delivery(&scratch, 1).await;
    submit(&plain, &first).await;
    linking::link_pending(&scratch, NOW).await.unwrap();
    import_delivery(&scratch, 2).await;
    import_delivery(&scratch, 3).await;
    submit(&plain, &second).await;
    linking::link_pending(&scratch, NOW).await.unwrap();

    let (running, scratch) = (decisions(&running).await, decisions(&scratch).await);
    assert_eq!(running.len(), created);
    assert_eq!(running, scratch);
    // the second half's reports of children only in the later deliveries are linked: the
    // running linker rebuilt its index when the register changed
    let linked = running.values().filter(|d| d.0 == LinkState::Linked).count();
    assert!(linked > created * 9 / 10, "{linked} of {created} linked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_linker_looks_at_every_report_stored_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(tmp.path(), "data").await;
    for i in 1..=3 {
        import_delivery(&store, i).await;
    }
    // stored while no linker ran (a server stopped before its linker's next run)
    let (first, _) = report_lines();
    let created = submit(&Gateway::new(store.clone(), Arc::new(SystemClock)).await.unwrap(), &first[..50]).await;
    let run = Linker::default().link_arrivals(&store, &Arrivals::default(), NOW).await.unwrap();
    assert_eq!((run.examined, run.written), (created, created));
    assert_eq!(decisions(&store).await.len(), created);
}
