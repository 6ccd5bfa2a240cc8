//! Recording a first daily run's actions on PostgreSQL, offered in the engine's order (by
//! day, then child) and offered in key order, each into a fresh database:
//!
//! ```text
//! cargo run --release -p oegd-store-postgres --example record_actions_order -- [ACTIONS] [ROUNDS]
//! ```
//!
//! The server is that of the tests (`OEGD_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Prints one JSON line per recording. Inserting as offered,
//! the engine's order lands each key on another page of the primary key; `record_actions`
//! sorts by key itself, so what still separates the two is the sort and the scattered reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "a benchmark")]

use std::time::Instant;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use oegd_domain::{Checkup, Kreisschluessel, MeldeId};
use oegd_store::{Actor, ProgrammeAction, Store};
use oegd_store_conformance::testdb::TestDb;
use oegd_store_postgres::PgStore;

/// About 1.8 actions per child, on one of 2,190 days, as a first run at a million children.
fn actions(n: usize) -> Vec<ProgrammeAction> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let start = date(2019, 1, 1);
    let checkups = [Checkup::U4, Checkup::U5, Checkup::U6, Checkup::U7];
    let district = Kreisschluessel::parse("13003").expect("district");
    let mut out: Vec<(Date, MeldeId, ProgrammeAction)> = (0..n)
        .map(|_| {
            let melde_id = MeldeId::parse(&format!("MV{:010}", next() % 10_000_000_000)).expect("id");
            let created = start.checked_add(jiff::Span::new().days((next() % 2190) as i64)).expect("day");
            let checkup = checkups[(next() % 4) as usize];
            let action = ProgrammeAction {
                kind: if next() % 3 == 0 { "reminder" } else { "invitation" }.to_owned(),
                melde_id: melde_id.clone(),
                checkup: Some(checkup),
                created,
                district: Some(district.clone()),
                payload_json: format!(
                    r#"{{"melde_id":"{melde_id}","checkup":"{}","created":"{created}"}}"#,
                    checkup.name()
                ),
            };
            (created, melde_id, action)
        })
        .collect();
    // the engine's order: by day, then child
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.into_iter().map(|(_, _, a)| a).collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1_000_000, |a| a.parse().expect("ACTIONS"));
    let rounds: usize = args.next().map_or(2, |a| a.parse().expect("ROUNDS"));
    let engine_order = actions(n);
    let mut key_order = engine_order.clone();
    key_order.sort_by(|a, b| a.stored_key().cmp(&b.stored_key()));
    for round in 1..=rounds {
        for (offered, actions) in [("engine", &engine_order), ("key", &key_order)] {
            let db = TestDb::create().await.expect("PostgreSQL for the benchmark");
            let store = PgStore::open(&db.url).await.expect("store");
            let at: Timestamp = "2026-01-01T02:00:00Z".parse().expect("timestamp");
            let t = Instant::now();
            let new = store.record_actions(actions, date(2025, 12, 31), at, &Actor::System).await;
            let seconds = t.elapsed().as_secs_f64();
            let new = new.expect("record_actions");
            println!(r#"{{"round":{round},"offered":"{offered}","actions":{n},"new":{new},"record_s":{seconds:.3}}}"#);
            store.close().await;
            db.drop_database().await;
        }
    }
}
