//! One conformance suite for every [`Store`] backend.
//!
//! Each check is a generic async function over a fresh, empty store (migrations applied)
//! and asserts the semantics the service core relies on, including those that must hold
//! under concurrency: many tasks inserting the same card store it once, the audit chain stays
//! one chain under concurrent writers, the daily run goes to exactly one of several
//! claimers, and of two people deciding one review entry one gets a conflict.
//!
//! A backend runs all of them with [`conformance_tests!`], given a type implementing
//! [`Fixture`] (see `crates/store-sqlite/tests/conformance.rs` and
//! `crates/store-postgres/tests/conformance.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod testdb;

use std::future::Future;

use jiff::{SignedDuration, Timestamp};
use oegd_domain::{Checkup, Kreisschluessel, Kvnr, MeldeId, OrgKind, TelematikId};
use oegd_store::{
    ActionKey, Actor, AuditEvent, CaseOutcome, CertificateRecord, DeliveryOutcome, InsertOutcome, LinkDecision,
    LinkState, NewDelivery, NewReport, Organisation, ProgrammeAction, RegistryEventRecord, RememberedKvnr,
    ReportFilter, ReportId, ReportSource, ReportSummary, SessionRecord, Store, StoreError, UserAccount, UserRole,
    audit,
};

/// A fresh store of one backend for one check, and how to clean up after it.
pub trait Fixture: Sized + Send {
    type S: Store;
    /// A fresh, empty store; `None` when the backend is not available here (the check is
    /// skipped with the reason printed).
    fn open() -> impl Future<Output = Option<Self>>;
    fn store(&self) -> Self::S;
    /// Closes the store and removes what `open` created.
    fn finish(self) -> impl Future<Output = ()>;
}

/// Generates one `#[tokio::test]` per check for a [`Fixture`].
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:ty) => {
        $crate::conformance_tests!(@each $fixture;
            organisations, certificates, reports_are_idempotent, concurrent_inserts_of_one_card_store_it_once,
            audit_chain_stays_one_chain_under_concurrent_writers, registry_deliveries_are_idempotent,
            actions_are_recorded_exactly_once, many_actions_are_counted_once, first_offered_action_of_a_key_is_stored,
            link_decisions_and_version_conflicts,
            many_link_decisions_in_one_call,
            concurrent_decisions_one_wins, remembered_kvnrs, letters, daily_run_is_claimed_exactly_once,
            daily_run_lease_expires_and_is_taken_over, erased_children, operator_locks_and_unlocks_users,
            link_inputs_version_follows_what_the_linker_compares, data_version_grows_with_every_change,
            one_childs_records_are_those_of_the_whole_store, reports_are_visited_by_receipt_time
        );
    };
    (@each $fixture:ty; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some(fixture) = <$fixture as $crate::Fixture>::open().await else { return };
                $crate::$check($crate::Fixture::store(&fixture)).await;
                $crate::Fixture::finish(fixture).await;
            }
        )*
    };
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn tid(s: &str) -> TelematikId {
    TelematikId::parse(s).unwrap()
}

fn mid(s: &str) -> MeldeId {
    MeldeId::parse(s).unwrap()
}

fn org(id: &str, kind: OrgKind, kreise: &[&str]) -> Organisation {
    Organisation {
        telematik_id: tid(id),
        kind,
        name: format!("Organisation {id} – Müller & Söhne"),
        kreise: kreise.iter().map(|k| Kreisschluessel::parse(k).unwrap()).collect(),
        created_at: t("2026-01-01T00:00:00Z"),
    }
}

/// A report of `sender` with card id `card`.
pub fn report(id: &str, sender: &str, card: &str) -> NewReport {
    NewReport {
        id: ReportId(id.into()),
        sender: tid(sender),
        card_id: card.into(),
        received_at: t("2026-03-01T10:00:00.123456789Z"),
        source: ReportSource::Api,
        media_type: "application/fhir+json".into(),
        body: vec![0, 1, 2, 255, b'{', b'}'],
        body_sha256: "ab".repeat(32),
        facts_json: r#"{"given":"Jürgen"}"#.into(),
        facts_sha256: "cd".repeat(32),
        checkup: Checkup::U7a,
        exam_date: "2026-02-27".parse().unwrap(),
        receiving_office: tid("9-lagus-13"),
    }
}

async fn verified<S: Store>(store: &S) -> audit::Verified {
    let (entries, head) = store.audit_log().await.unwrap();
    audit::verify(&entries, head.as_ref()).unwrap_or_else(|b| panic!("audit chain broken: {b}"))
}

async fn audit_actions<S: Store>(store: &S, action: &str) -> usize {
    store.audit_log().await.unwrap().0.iter().filter(|e| e.action == action).count()
}

pub async fn organisations<S: Store>(store: S) {
    assert!(store.organisations().await.unwrap().is_empty());
    let ga = org("9-ga-13003", OrgKind::Gesundheitsamt, &["13003", "13004"]);
    let praxis = org("1-20123456789", OrgKind::Praxis, &[]);
    store.add_organisation(&praxis, &Actor::Operator).await.unwrap();
    store.add_organisation(&ga, &Actor::Operator).await.unwrap();
    let again = store.add_organisation(&praxis, &Actor::Operator).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists(_))), "{again:?}");
    assert_eq!(store.organisation(&ga.telematik_id).await.unwrap(), Some(ga.clone()));
    assert_eq!(store.organisation(&tid("1-99")).await.unwrap(), None);
    // ordered by kind, then id
    let all = store.organisations().await.unwrap();
    assert_eq!(all.len(), 2);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.kind.as_str(), a.telematik_id.as_str()).cmp(&(b.kind.as_str(), b.telematik_id.as_str())));
    assert_eq!(all, sorted);
    assert_eq!(verified(&store).await.entries, 2, "the refused duplicate wrote no entry");
}

pub async fn certificates<S: Store>(store: S) {
    let praxis = org("1-20123456789", OrgKind::Praxis, &[]);
    store.add_organisation(&praxis, &Actor::Operator).await.unwrap();
    for (serial, day) in [("0a0b", "01"), ("0c0d", "02")] {
        let cert = CertificateRecord {
            serial_hex: serial.into(),
            telematik_id: praxis.telematik_id.clone(),
            not_before: t(&format!("2026-01-{day}T00:00:00Z")),
            not_after: t("2027-01-01T00:00:00Z"),
            issued_at: t(&format!("2026-01-{day}T00:00:00Z")),
            revoked_at: None,
        };
        store.record_certificate(&cert, &Actor::Operator).await.unwrap();
    }
    let at = t("2026-02-01T00:00:00Z");
    let revoked = store.revoke_certificates(&praxis.telematik_id, at, &Actor::Operator).await.unwrap();
    assert_eq!(revoked.len(), 2);
    assert!(revoked.iter().all(|c| c.revoked_at == Some(at)));
    let again = store.revoke_certificates(&praxis.telematik_id, t("2026-02-02T00:00:00Z"), &Actor::Operator);
    assert!(again.await.unwrap().is_empty());
    let all = store.certificates().await.unwrap();
    assert_eq!(all.iter().map(|c| c.serial_hex.as_str()).collect::<Vec<_>>(), ["0a0b", "0c0d"]);
    assert!(all.iter().all(|c| c.revoked_at == Some(at)));
    assert_eq!(audit_actions(&store, "certificate.revoked").await, 2);
    verified(&store).await;
}

pub async fn reports_are_idempotent<S: Store>(store: S) {
    let actor = Actor::Organisation(tid("1-20123456789"));
    let r = report("r1", "1-20123456789", "urn:uuid:1");
    let InsertOutcome::Inserted(stored) = store.insert_report(&r, &actor).await.unwrap() else {
        panic!("first insert must store")
    };
    // stored with microsecond precision, everything else as given
    assert_eq!(stored.received_at, t("2026-03-01T10:00:00.123457Z"));
    assert_eq!(store.report(&r.id).await.unwrap(), Some(stored.clone()));
    // the same card again, under another id: the stored one comes back, nothing changes
    let again = report("r2", "1-20123456789", "urn:uuid:1");
    assert_eq!(store.insert_report(&again, &actor).await.unwrap(), InsertOutcome::Existing(stored.clone()));
    assert_eq!(store.report(&ReportId("r2".into())).await.unwrap(), None);
    // an id no report can have (a hostile URL) is simply not found
    assert_eq!(store.report(&ReportId("\0'; DROP TABLE reports".into())).await.unwrap(), None);
    assert_eq!(store.link_decision(&ReportId("\0".into())).await.unwrap(), None);
    // the same card id from another sender is another report
    let other = report("r3", "1-20999", "urn:uuid:1");
    assert!(matches!(store.insert_report(&other, &actor).await.unwrap(), InsertOutcome::Inserted(_)));
    let mut later = report("r4", "1-20123456789", "urn:uuid:2");
    later.received_at = t("2026-03-02T00:00:00Z");
    store.insert_report(&later, &actor).await.unwrap();

    let all = store.reports(&ReportFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|s| s.id.0.as_str()).collect::<Vec<_>>(), ["r1", "r3", "r4"]);
    let mine = store.reports(&ReportFilter { sender: Some(tid("1-20123456789")), limit: None }).await.unwrap();
    assert_eq!(mine.iter().map(|s| s.id.0.as_str()).collect::<Vec<_>>(), ["r1", "r4"]);
    let one = store.reports(&ReportFilter { sender: None, limit: Some(1) }).await.unwrap();
    assert_eq!(one.len(), 1);
    // with their facts, newest first
    let facts = visited(&store, None, None).await;
    assert_eq!(facts.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(), all.into_iter().rev().collect::<Vec<_>>());
    assert!(facts.iter().all(|(_, f)| f == r#"{"given":"Jürgen"}"#));
    assert_eq!(audit_actions(&store, "report.received").await, 3);
    verified(&store).await;
}

async fn visited<S: Store>(
    store: &S,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Vec<(ReportSummary, String)> {
    let mut seen = Vec::new();
    store
        .visit_report_facts(from, until, &mut |summary, facts| {
            seen.push((summary, facts.to_owned()));
            Ok(())
        })
        .await
        .unwrap();
    seen
}

/// Reports visited by receipt time, newest first (the same instant: the greater id first):
/// the bounds are inclusive below, exclusive above; an error of the visitor stops the visit
/// and is returned. The link decisions of given reports.
pub async fn reports_are_visited_by_receipt_time<S: Store>(store: S) {
    let at = |s: &str| t(&format!("2026-03-0{s}Z"));
    let received = ["1T10:00:00", "1T23:59:59.999999", "2T00:00:00", "3T08:00:00", "2T00:00:00"];
    for (i, received) in received.into_iter().enumerate() {
        let r = NewReport { received_at: at(received), ..report(&format!("r{i}"), "1-20123456789", &format!("c{i}")) };
        store.insert_report(&r, &Actor::System).await.unwrap();
    }
    let ids = |v: Vec<(ReportSummary, String)>| v.into_iter().map(|(s, _)| s.id.0).collect::<Vec<_>>();
    assert_eq!(ids(visited(&store, None, None).await), ["r3", "r4", "r2", "r1", "r0"]);
    assert_eq!(ids(visited(&store, Some(at("1T23:59:59.999999")), None).await), ["r3", "r4", "r2", "r1"]);
    assert_eq!(ids(visited(&store, None, Some(at("2T00:00:00"))).await), ["r1", "r0"]);
    assert_eq!(ids(visited(&store, Some(at("2T00:00:00")), Some(at("3T08:00:00"))).await), ["r4", "r2"]);
    assert!(visited(&store, Some(at("4T00:00:00")), None).await.is_empty());
    let mut calls = 0;
    let stopped = store
        .visit_report_facts(None, None, &mut |_, _| {
            calls += 1;
            Err(StoreError::Internal("stop".into()))
        })
        .await;
    assert!(matches!(stopped, Err(StoreError::Internal(m)) if m == "stop"));
    assert_eq!(calls, 1);

    let decided = [decision("r1", LinkState::Linked, Some("K1"), 1), decision("r3", LinkState::Review, None, 1)];
    store.save_link_decisions(&decided, t("2026-03-04T10:00:00Z"), &Actor::System).await.unwrap();
    let of = |ids: &[&str]| ids.iter().map(|i| ReportId((*i).into())).collect::<Vec<_>>();
    assert_eq!(store.link_decisions_of_reports(&of(&["r3", "r0", "r1", "nope"])).await.unwrap(), decided);
    assert!(store.link_decisions_of_reports(&[]).await.unwrap().is_empty());
}

pub async fn concurrent_inserts_of_one_card_store_it_once<S: Store>(store: S) {
    const TASKS: usize = 24;
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let r = report(&format!("same-{i}"), "1-20123456789", "urn:uuid:same");
            store.insert_report(&r, &Actor::System).await.unwrap()
        }));
    }
    let mut inserted = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            InsertOutcome::Inserted(r) => inserted.push(r),
            InsertOutcome::Existing(r) => existing.push(r),
        }
    }
    assert_eq!(inserted.len(), 1, "exactly one insert stores the card");
    assert_eq!(existing.len(), TASKS - 1);
    assert!(existing.iter().all(|r| r.id == inserted[0].id), "every other insert gets the stored one back");
    assert_eq!(store.reports(&ReportFilter::default()).await.unwrap().len(), 1);
    assert_eq!(audit_actions(&store, "report.received").await, 1);
    verified(&store).await;
}

pub async fn audit_chain_stays_one_chain_under_concurrent_writers<S: Store>(store: S) {
    const TASKS: usize = 8;
    const EACH: usize = 12;
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..EACH {
                if j % 3 == 0 {
                    let event =
                        AuditEvent::new(&Actor::Operator, "test.event", format!("{i}-{j}"), serde_json::json!({}));
                    store.append_audit(&event, Timestamp::UNIX_EPOCH).await.unwrap();
                } else {
                    let r = report(&format!("r-{i}-{j}"), "1-20123456789", &format!("urn:uuid:{i}-{j}"));
                    store.insert_report(&r, &Actor::System).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let v = verified(&store).await;
    assert_eq!(v.entries, (TASKS * EACH) as u64);
    assert_eq!(v.head.map(|h| h.seq), Some((TASKS * EACH) as i64));
}

fn delivery(sha: &str, lines: u64) -> NewDelivery {
    NewDelivery {
        sha256: sha.repeat(64 / sha.len()),
        file_name: "meldedaten.csv".into(),
        imported_at: t("2026-01-02T00:00:00Z"),
        rows: (1..=lines)
            .map(|line| RegistryEventRecord {
                line,
                melde_id: mid(&format!("K{line}")),
                event_date: "2025-12-01".parse().unwrap(),
                row_json: format!(r#"{{"line":{line},"name":"Öztürk"}}"#),
            })
            .collect(),
        rejected: 1,
    }
}

pub async fn registry_deliveries_are_idempotent<S: Store>(store: S) {
    let first = delivery("a", 3);
    assert_eq!(store.import_delivery(&first, &Actor::Operator).await.unwrap(), DeliveryOutcome::Imported { seq: 1 });
    assert_eq!(
        store.import_delivery(&first, &Actor::Operator).await.unwrap(),
        DeliveryOutcome::AlreadyImported { seq: 1 }
    );
    // the same new file from several tasks at once: one delivery
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.import_delivery(&delivery("b", 2), &Actor::Operator).await.unwrap() },
        ));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == DeliveryOutcome::Imported { seq: 2 }).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == DeliveryOutcome::AlreadyImported { seq: 2 }).count(), 5);
    let deliveries = store.deliveries().await.unwrap();
    assert_eq!(deliveries.iter().map(|d| (d.seq, d.rows, d.rejected)).collect::<Vec<_>>(), [(1, 3, 1), (2, 2, 1)]);
    let events = store.registry_events().await.unwrap();
    assert_eq!(events.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2, 3, 1, 2], "delivery order, then file order");
    assert_eq!(events[0], first.rows[0]);
    assert_eq!(audit_actions(&store, "registry.delivery_imported").await, 2);
    verified(&store).await;
}

fn action(kind: &str, child: &str, checkup: Option<Checkup>, created: &str) -> ProgrammeAction {
    ProgrammeAction {
        kind: kind.into(),
        melde_id: mid(child),
        checkup,
        created: created.parse().unwrap(),
        district: Some(Kreisschluessel::parse("13003").unwrap()),
        payload_json: r#"{"x":1}"#.into(),
    }
}

fn day(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

pub async fn actions_are_recorded_exactly_once<S: Store>(store: S) {
    let at = t("2026-03-01T02:00:00Z");
    let batch = vec![
        action("reminder", "K1", Some(Checkup::U6), "2026-03-01"),
        action("escalation", "K2", Some(Checkup::U7), "2026-03-01"),
        ProgrammeAction { district: None, ..action("deletion", "K3", None, "2026-02-28") },
    ];
    assert_eq!(store.record_actions(&batch, day("2026-03-01"), at, &Actor::System).await.unwrap(), 3);
    assert_eq!(store.record_actions(&batch, day("2026-03-02"), at, &Actor::System).await.unwrap(), 0);
    // concurrent runs recording overlapping actions: each new one counted once in total
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch = vec![
                action("reminder", "K1", Some(Checkup::U6), "2026-03-03"),
                action("reminder", "K4", Some(Checkup::U6), "2026-03-03"),
                action("all_clear", "K2", Some(Checkup::U7), "2026-03-03"),
            ];
            store.record_actions(&batch, day("2026-03-03"), at, &Actor::System).await.unwrap()
        }));
    }
    let mut new = 0;
    for task in tasks {
        new += task.await.unwrap();
    }
    assert_eq!(new, 2);
    let all = store.actions(None).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].kind, "deletion", "by creation day");
    assert_eq!(all[0].checkup, None);
    assert_eq!(all[0].district, None);
    let reminders = store.actions(Some("reminder")).await.unwrap();
    assert_eq!(reminders.iter().map(|a| a.melde_id.as_str()).collect::<Vec<_>>(), ["K1", "K4"]);
    assert_eq!(reminders[0].created, day("2026-03-01"), "the first recording stays");
    assert_eq!(reminders[0], batch[0]);
    verified(&store).await;
}

/// Batches larger than a backend's rows per statement, with repeats inside one batch and
/// across batches: each action is recorded once and counted once, and the audit log has
/// one entry per run.
pub async fn many_actions_are_counted_once<S: Store>(store: S) {
    let at = t("2026-03-01T02:00:00Z");
    let child = |i: usize| format!("K{i:06}");
    let first: Vec<ProgrammeAction> =
        (0..12_345).map(|i| action("reminder", &child(i), Some(Checkup::U6), "2026-03-01")).collect();
    assert_eq!(store.record_actions(&first, day("2026-03-01"), at, &Actor::System).await.unwrap(), 12_345);
    // half of them again, each twice in the batch, and 7,001 new ones, one of them twice
    let mut second: Vec<ProgrammeAction> = Vec::new();
    for i in (0..12_345).step_by(2) {
        second.push(action("reminder", &child(i), Some(Checkup::U6), "2026-03-02"));
        second.push(action("reminder", &child(i), Some(Checkup::U6), "2026-03-02"));
    }
    for i in 0..7_001 {
        second.push(action("escalation", &child(i), Some(Checkup::U7), "2026-03-02"));
    }
    second.push(action("escalation", &child(0), Some(Checkup::U7), "2026-03-02"));
    assert_eq!(store.record_actions(&second, day("2026-03-02"), at, &Actor::System).await.unwrap(), 7_001);
    assert_eq!(store.record_actions(&second, day("2026-03-03"), at, &Actor::System).await.unwrap(), 0);
    assert_eq!(store.actions(Some("reminder")).await.unwrap().len(), 12_345);
    let escalations = store.actions(Some("escalation")).await.unwrap();
    assert_eq!(escalations.len(), 7_001);
    assert!(escalations.iter().all(|a| a.created == day("2026-03-02") && a.payload_json == r#"{"x":1}"#));
    assert!(store.actions(Some("reminder")).await.unwrap().iter().all(|a| a.created == day("2026-03-01")));
    // more recorded keys than one page of SQLite's walk over them (20,000), new keys between
    // recorded ones and after the last
    let mut third = first.clone();
    third.extend((0..10_000).map(|i| action("reminder", &child(i), Some(Checkup::U7), "2026-03-04")));
    third.push(action("reminder", &child(999_999), Some(Checkup::U6), "2026-03-04"));
    assert_eq!(store.record_actions(&third, day("2026-03-04"), at, &Actor::System).await.unwrap(), 10_001);
    assert_eq!(store.record_actions(&third, day("2026-03-05"), at, &Actor::System).await.unwrap(), 0);
    let reminders = store.actions(Some("reminder")).await.unwrap();
    assert_eq!(reminders.len(), 12_345 + 10_001);
    assert_eq!(reminders.iter().filter(|a| a.created == day("2026-03-04")).count(), 10_001);
    assert_eq!(audit_actions(&store, "programme.daily_run").await, 5);
    verified(&store).await;
}

/// Of several actions with one key in one batch the one offered first is stored (whole:
/// creation day, district, payload), wherever the others stand in the batch: right after
/// it, before or after other keys, on both sides of the last row one statement carries
/// (SQLite 500, PostgreSQL 5,000, in the order of [`ProgrammeAction::stored_key`]).
pub async fn first_offered_action_of_a_key_is_stored<S: Store>(store: S) {
    let at = t("2026-03-01T02:00:00Z");
    let child = |i: usize| format!("K{i:06}");
    // a later offer sorts before the first by every other field: an earlier day, no
    // district, another payload
    let later = |kind: &str, i: usize, checkup: Option<Checkup>, n: usize| ProgrammeAction {
        district: None,
        payload_json: format!(r#"{{"offer":{n}}}"#),
        ..action(kind, &child(i), checkup, "2026-02-01")
    };
    let first = |kind: &str, i: usize, checkup: Option<Checkup>| action(kind, &child(i), checkup, "2026-03-01");
    let batch = vec![
        first("reminder", 3, Some(Checkup::U6)),
        first("deletion", 2, None),
        later("deletion", 2, None, 1),
        first("reminder", 1, Some(Checkup::U6)),
        later("reminder", 3, Some(Checkup::U6), 1),
        ProgrammeAction { created: day("2026-03-02"), ..later("deletion", 2, None, 2) },
        first("reminder", 0, Some(Checkup::U6)),
        later("reminder", 1, Some(Checkup::U6), 1),
    ];
    assert_eq!(store.record_actions(&batch, day("2026-03-01"), at, &Actor::System).await.unwrap(), 4);
    let mut stored = store.actions(None).await.unwrap();
    stored.sort_by(|a, b| a.stored_key().cmp(&b.stored_key()));
    let first_offers = [(0, "deletion", 2), (1, "reminder", 0), (2, "reminder", 1), (3, "reminder", 3)];
    assert_eq!(stored.len(), first_offers.len());
    for (n, kind, i) in first_offers {
        let checkup = (kind == "reminder").then_some(Checkup::U6);
        assert_eq!(stored[n], first(kind, i, checkup), "{kind} {i}");
    }
    // children in descending order (the sort moves each), then the later offers of two:
    // sorted, children 0–498, 499 twice, 500–4,997, 4,998 twice, …
    let mut batch: Vec<ProgrammeAction> = (0..6_000).rev().map(|i| first("escalation", i, Some(Checkup::U7))).collect();
    batch.push(later("escalation", 499, Some(Checkup::U7), 1));
    batch.push(later("escalation", 4_998, Some(Checkup::U7), 1));
    assert_eq!(store.record_actions(&batch, day("2026-03-02"), at, &Actor::System).await.unwrap(), 6_000);
    let escalations = store.actions(Some("escalation")).await.unwrap();
    assert_eq!(escalations.len(), 6_000);
    for i in [0, 498, 499, 500, 4_997, 4_998, 4_999, 5_999] {
        let stored = escalations.iter().find(|a| a.melde_id.as_str() == child(i)).unwrap();
        assert_eq!(stored, &first("escalation", i, Some(Checkup::U7)), "child {i}");
    }
    let first_offer = |a: &ProgrammeAction| a.created == day("2026-03-01") && a.payload_json == r#"{"x":1}"#;
    assert!(escalations.iter().all(|a| first_offer(a) && a.district.is_some()));
    verified(&store).await;
}

fn decision(report: &str, state: LinkState, child: Option<&str>, version: i64) -> LinkDecision {
    LinkDecision {
        report_id: ReportId(report.into()),
        state,
        melde_id: child.map(mid),
        effective: day("2026-03-01"),
        decision_json: r#"{"score":12.5}"#.into(),
        decided_by: "linker".into(),
        decided_at: t("2026-03-01T10:00:00Z"),
        version,
    }
}

async fn with_reports<S: Store>(store: &S, ids: &[&str]) {
    for (i, id) in ids.iter().enumerate() {
        store.insert_report(&report(id, "1-20123456789", &format!("card-{i}")), &Actor::System).await.unwrap();
    }
}

/// Batches larger than one statement carries (both backends split them): every decision
/// written once, the linker's open ones replaced, the others kept, the audit entry counting
/// by state.
pub async fn many_link_decisions_in_one_call<S: Store>(store: S) {
    const N: usize = 2_500;
    let ids: Vec<String> = (0..N).map(|i| format!("r{i:05}")).collect();
    // fifty writers at once: the backends commit them in groups, not 2,500 syncs in a row
    let writers: Vec<_> = (0..50)
        .map(|w| {
            let (store, ids) = (store.clone(), ids.clone());
            tokio::spawn(async move {
                for i in (w..N).step_by(50) {
                    let r = report(&ids[i], "1-20123456789", &format!("card-{i}"));
                    store.insert_report(&r, &Actor::System).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let at = t("2026-03-01T10:00:00Z");
    // every third linked, the others alternately review and unlinked
    let state_of = |i: usize| match i % 3 {
        0 => LinkState::Linked,
        1 => LinkState::Review,
        _ => LinkState::Unlinked,
    };
    let first: Vec<LinkDecision> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let child = (state_of(i) == LinkState::Linked).then(|| format!("K{i}"));
            decision(id, state_of(i), child.as_deref(), 1)
        })
        .collect();
    assert_eq!(store.save_link_decisions(&first, at, &Actor::System).await.unwrap(), N);
    assert_eq!(store.save_link_decisions(&first, at, &Actor::System).await.unwrap(), 0, "version 1 only once");
    // the linker links everything: only its open decisions (review, unlinked) change
    let second: Vec<LinkDecision> =
        ids.iter().enumerate().map(|(i, id)| decision(id, LinkState::Linked, Some(&format!("L{i}")), 2)).collect();
    let open = (0..N).filter(|i| state_of(*i) != LinkState::Linked).count();
    assert_eq!(store.save_link_decisions(&second, at, &Actor::System).await.unwrap(), open);
    for i in [0, 1, 2, 1_000, 1_001, 2_499] {
        let expected = if state_of(i) == LinkState::Linked { &first[i] } else { &second[i] };
        assert_eq!(store.link_decision(&ReportId(ids[i].clone())).await.unwrap().as_ref(), Some(expected), "{i}");
    }
    let (entries, _) = store.audit_log().await.unwrap();
    let counts: Vec<serde_json::Value> = entries
        .iter()
        .filter(|e| e.action == "link.linker_decided")
        .map(|e| serde_json::from_str(&e.details).unwrap())
        .collect();
    let by_state = |s: LinkState| (0..N).filter(|i| state_of(*i) == s).count();
    assert_eq!(
        counts,
        [
            serde_json::json!({"linked": by_state(LinkState::Linked), "review": by_state(LinkState::Review),
                               "unlinked": by_state(LinkState::Unlinked)}),
            serde_json::json!({"linked": open}),
        ]
    );
    verified(&store).await;
}

pub async fn link_decisions_and_version_conflicts<S: Store>(store: S) {
    with_reports(&store, &["r1", "r2", "r3"]).await;
    let at = t("2026-03-01T10:00:00Z");
    let first = vec![
        decision("r1", LinkState::Review, None, 1),
        decision("r2", LinkState::Linked, Some("K2"), 1),
        decision("r3", LinkState::Unlinked, None, 1),
    ];
    assert_eq!(store.save_link_decisions(&first, at, &Actor::System).await.unwrap(), 3);
    assert_eq!(store.save_link_decisions(&first, at, &Actor::System).await.unwrap(), 0, "version 1 only once");
    // the linker may replace its own open decisions, not a link
    let second = vec![
        decision("r1", LinkState::Linked, Some("K1"), 2),
        decision("r2", LinkState::Unlinked, None, 2),
        decision("r3", LinkState::Review, None, 3),
    ];
    assert_eq!(store.save_link_decisions(&second, at, &Actor::System).await.unwrap(), 1);
    assert_eq!(store.link_decision(&ReportId("r1".into())).await.unwrap(), Some(second[0].clone()));
    assert_eq!(store.link_decision(&ReportId("r2".into())).await.unwrap(), Some(first[1].clone()));
    assert_eq!(store.link_decision(&ReportId("nope".into())).await.unwrap(), None);

    // a person's decision over the version they saw
    let person = LinkDecision { decided_by: "user:anna".into(), ..decision("r3", LinkState::Rejected, None, 2) };
    store.decide_link(&person, None, &Actor::User("anna".into())).await.unwrap();
    let stale = LinkDecision { decided_by: "user:ben".into(), ..decision("r3", LinkState::Confirmed, Some("K3"), 2) };
    let lost = store.decide_link(&stale, None, &Actor::User("ben".into())).await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    assert_eq!(store.link_decision(&ReportId("r3".into())).await.unwrap(), Some(person.clone()));
    // the linker never replaces a person's decision
    let linker = vec![decision("r3", LinkState::Linked, Some("K3"), 3)];
    assert_eq!(store.save_link_decisions(&linker, at, &Actor::System).await.unwrap(), 0);

    let linked = store.link_decisions(Some(LinkState::Linked)).await.unwrap();
    assert_eq!(linked.iter().map(|d| d.report_id.0.as_str()).collect::<Vec<_>>(), ["r1", "r2"]);
    assert_eq!(store.link_decisions(None).await.unwrap().len(), 3);
    assert_eq!(audit_actions(&store, "link.decided").await, 1);
    verified(&store).await;
}

pub async fn concurrent_decisions_one_wins<S: Store>(store: S) {
    with_reports(&store, &["r1"]).await;
    let at = t("2026-03-01T10:00:00Z");
    store.save_link_decisions(&[decision("r1", LinkState::Review, None, 1)], at, &Actor::System).await.unwrap();
    for round in 2..6 {
        // several staff decide the same entry at once, each over the version they saw
        let mut tasks = Vec::new();
        for who in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let state = if who % 2 == 0 { LinkState::Confirmed } else { LinkState::Rejected };
                let child = (state == LinkState::Confirmed).then_some("K1");
                let d = LinkDecision { decided_by: format!("user:{who}"), ..decision("r1", state, child, round) };
                store.decide_link(&d, None, &Actor::User(format!("{who}"))).await
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(won, 1, "round {round}: exactly one decision wins");
        assert_eq!(store.link_decision(&ReportId("r1".into())).await.unwrap().unwrap().version, round);
    }
    assert_eq!(audit_actions(&store, "link.decided").await, 4);
    verified(&store).await;
}

pub async fn remembered_kvnrs<S: Store>(store: S) {
    with_reports(&store, &["r1", "r2"]).await;
    let at = t("2026-03-01T10:00:00Z");
    let open = vec![decision("r1", LinkState::Review, None, 1), decision("r2", LinkState::Review, None, 1)];
    store.save_link_decisions(&open, at, &Actor::System).await.unwrap();
    let kvnr = Kvnr::parse("B730152844").unwrap();
    let remember = RememberedKvnr { melde_id: mid("K1"), kvnr: kvnr.clone(), since: day("2026-03-01") };
    let confirmed = decision("r1", LinkState::Confirmed, Some("K1"), 2);
    store.decide_link(&confirmed, Some(&remember), &Actor::User("anna".into())).await.unwrap();
    assert_eq!(store.remembered_kvnrs().await.unwrap(), vec![remember.clone()]);
    // the same KVNR for another child, or another KVNR for this child: the first stays
    let other = RememberedKvnr { melde_id: mid("K2"), kvnr: kvnr.clone(), since: day("2026-03-02") };
    store
        .decide_link(&decision("r2", LinkState::Confirmed, Some("K2"), 2), Some(&other), &Actor::Operator)
        .await
        .unwrap();
    assert_eq!(store.remembered_kvnrs().await.unwrap(), vec![remember.clone()]);
    // undoing the confirmed link forgets what it taught
    store.decide_link(&decision("r1", LinkState::Review, None, 3), None, &Actor::Operator).await.unwrap();
    assert!(store.remembered_kvnrs().await.unwrap().is_empty());
    verified(&store).await;
}

pub async fn letters<S: Store>(store: S) {
    let at = t("2026-03-01T02:00:00Z");
    let batch = vec![
        action("reminder", "K1", Some(Checkup::U6), "2026-03-01"),
        action("invitation", "K2", Some(Checkup::U5), "2026-03-01"),
        action("escalation", "K3", Some(Checkup::U7), "2026-03-01"),
    ];
    store.record_actions(&batch, day("2026-03-01"), at, &Actor::System).await.unwrap();
    let kinds = ["reminder", "invitation"];
    let missing = store.actions_without_letter(&kinds).await.unwrap();
    assert_eq!(missing.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), ["invitation", "reminder"]);
    let pdf = b"%PDF-1.7 \x00\xff".to_vec();
    let letters = vec![(batch[0].key(), pdf.clone())];
    assert_eq!(store.store_letters(&letters, at, &Actor::System).await.unwrap(), 1);
    let other = vec![(batch[0].key(), b"%PDF other".to_vec()), (batch[1].key(), b"%PDF 2".to_vec())];
    assert_eq!(store.store_letters(&other, at, &Actor::System).await.unwrap(), 1, "a stored letter stays");
    assert_eq!(store.letter_pdf(&batch[0].key()).await.unwrap(), Some(pdf));
    assert!(store.actions_without_letter(&kinds).await.unwrap().is_empty());
    let unknown = ActionKey { kind: "reminder".into(), melde_id: mid("K9"), checkup: Some(Checkup::U6) };
    assert_eq!(store.letter_pdf(&unknown).await.unwrap(), None);
    // a letter needs its action
    assert!(store.store_letters(&[(unknown, b"x".to_vec())], at, &Actor::System).await.is_err());
    assert_eq!(audit_actions(&store, "programme.letters_stored").await, 2);
    verified(&store).await;
}

pub async fn daily_run_is_claimed_exactly_once<S: Store>(store: S) {
    let lease = SignedDuration::from_mins(30);
    let as_of = day("2026-03-01");
    let at = t("2026-03-01T01:00:00Z");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let holder = format!("instance {i}");
            store.claim_daily_run(as_of, &holder, at, lease).await.unwrap().then_some(holder)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one claimer gets the day: {winners:?}");
    let winner = &winners[0];
    assert!(!store.claim_daily_run(as_of, "late", t("2026-03-01T01:10:00Z"), lease).await.unwrap());
    let wrong = store.finish_daily_run(as_of, "someone else", t("2026-03-01T01:11:00Z")).await;
    assert!(matches!(wrong, Err(StoreError::Conflict(_))), "{wrong:?}");
    store.finish_daily_run(as_of, winner, t("2026-03-01T01:12:00Z")).await.unwrap();
    // finished: no one gets it again, not even after the lease
    assert!(!store.claim_daily_run(as_of, "later", t("2026-03-02T01:00:00Z"), lease).await.unwrap());
    // another day is another claim
    assert!(store.claim_daily_run(day("2026-03-02"), "next", t("2026-03-02T01:00:00Z"), lease).await.unwrap());
    assert_eq!(audit_actions(&store, "programme.daily_run_claimed").await, 2);
    verified(&store).await;
}

pub async fn daily_run_lease_expires_and_is_taken_over<S: Store>(store: S) {
    let lease = SignedDuration::from_mins(30);
    let as_of = day("2026-03-01");
    assert!(store.claim_daily_run(as_of, "crashed", t("2026-03-01T01:00:00Z"), lease).await.unwrap());
    // within the lease: no takeover
    assert!(!store.claim_daily_run(as_of, "b", t("2026-03-01T01:29:00Z"), lease).await.unwrap());
    // after it, several try at once: one takes over
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let holder = format!("successor {i}");
            store.claim_daily_run(as_of, &holder, t("2026-03-01T01:31:00Z"), lease).await.unwrap().then_some(holder)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    // the crashed holder cannot finish what it lost
    assert!(store.finish_daily_run(as_of, "crashed", t("2026-03-01T01:32:00Z")).await.is_err());
    store.finish_daily_run(as_of, &winners[0], t("2026-03-01T01:33:00Z")).await.unwrap();
    assert_eq!(audit_actions(&store, "programme.daily_run_claimed").await, 2);
    verified(&store).await;
}

pub async fn erased_children<S: Store>(store: S) {
    store.import_delivery(&delivery("a", 2), &Actor::Operator).await.unwrap();
    with_reports(&store, &["r1"]).await;
    let at = t("2026-03-01T10:00:00Z");
    store.save_link_decisions(&[decision("r1", LinkState::Linked, Some("K1"), 1)], at, &Actor::System).await.unwrap();
    let redact = |_: &str| Ok::<_, StoreError>("{}".to_owned());
    assert!(store.erase_child(&mid("K1"), &redact, &redact, at, &Actor::System).await.unwrap());
    assert!(!store.erase_child(&mid("K1"), &redact, &redact, at, &Actor::System).await.unwrap());
    assert_eq!(store.erased_children().await.unwrap(), vec![mid("K1")]);
    let events = store.registry_events().await.unwrap();
    assert_eq!(events[0].row_json, "{}");
    assert_ne!(events[1].row_json, "{}", "other children stay");
    let r = store.report(&ReportId("r1".into())).await.unwrap().unwrap();
    assert!(r.body.is_empty());
    assert_eq!(r.facts_json, "{}");
    verified(&store).await;
}

/// What a child's page reads by index is what reading the whole store and keeping that
/// child's records gives, in the same order.
pub async fn one_childs_records_are_those_of_the_whole_store<S: Store>(store: S) {
    let (k1, k2) = (mid("K1"), mid("K2"));
    assert_eq!(store.first_event_date().await.unwrap(), None, "empty register");
    assert!(store.registry_events_of(&k1).await.unwrap().is_empty());
    assert!(!store.is_erased(&k1).await.unwrap());
    assert!(store.child_actions(&k1, &["reminder"]).await.unwrap().is_empty());
    assert!(store.child_link_decisions(&k1).await.unwrap().is_empty());

    // two deliveries naming K1 and K2 on several lines, the earliest event in the second
    let mut first = delivery("a", 3);
    first.rows[2].melde_id = k1.clone();
    first.rows[2].event_date = day("2026-01-05");
    let mut second = delivery("b", 2);
    second.rows[1].event_date = day("2025-11-30");
    for d in [&first, &second] {
        store.import_delivery(d, &Actor::Operator).await.unwrap();
    }
    let all = store.registry_events().await.unwrap();
    for child in [&k1, &k2, &mid("K3"), &mid("K9")] {
        let expected: Vec<_> = all.iter().filter(|e| &e.melde_id == child).cloned().collect();
        assert_eq!(store.registry_events_of(child).await.unwrap(), expected, "{child}");
    }
    assert_eq!(store.registry_events_of(&k1).await.unwrap().len(), 3, "delivery, then file order");
    assert_eq!(store.first_event_date().await.unwrap(), Some(day("2025-11-30")));

    // actions of several kinds and days for both children
    let at = t("2026-03-01T02:00:00Z");
    let batch = vec![
        action("reminder", "K1", Some(Checkup::U6), "2026-03-02"),
        action("invitation", "K1", Some(Checkup::U6), "2026-03-01"),
        action("escalation", "K1", Some(Checkup::U6), "2026-03-03"),
        action("reminder", "K2", Some(Checkup::U6), "2026-03-01"),
        ProgrammeAction { district: None, ..action("deletion", "K1", None, "2026-03-04") },
    ];
    store.record_actions(&batch, day("2026-03-04"), at, &Actor::System).await.unwrap();
    let kinds = ["invitation", "reminder", "escalation", "all_clear", "deletion"];
    let actions = store.actions(None).await.unwrap();
    for child in [&k1, &k2, &mid("K3")] {
        let expected: Vec<_> = actions.iter().filter(|a| &a.melde_id == child).cloned().collect();
        assert_eq!(store.child_actions(child, &kinds).await.unwrap(), expected, "{child}: by creation day");
    }
    let reminders = store.child_actions(&k1, &["reminder", "deletion"]).await.unwrap();
    assert_eq!(reminders.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), ["reminder", "deletion"]);

    // decisions naming K1 as the linked child in every state that carries one
    with_reports(&store, &["r1", "r2", "r3", "r4", "r5"]).await;
    let decided = [
        decision("r4", LinkState::Linked, Some("K1"), 1),
        decision("r1", LinkState::Confirmed, Some("K1"), 1),
        decision("r2", LinkState::Linked, Some("K2"), 1),
        decision("r3", LinkState::Review, None, 1),
        decision("r5", LinkState::Unlinked, None, 1),
    ];
    store.save_link_decisions(&decided, at, &Actor::System).await.unwrap();
    let decisions = store.link_decisions(None).await.unwrap();
    for child in [&k1, &k2, &mid("K3")] {
        let expected: Vec<_> = decisions.iter().filter(|d| d.melde_id.as_ref() == Some(child)).cloned().collect();
        assert_eq!(store.child_link_decisions(child).await.unwrap(), expected, "{child}: by report id");
    }
    assert_eq!(store.child_link_decisions(&k1).await.unwrap().len(), 2);

    let redact = |_: &str| Ok::<_, StoreError>("{}".to_owned());
    store.erase_child(&k1, &redact, &redact, at, &Actor::System).await.unwrap();
    assert!(store.is_erased(&k1).await.unwrap());
    assert!(!store.is_erased(&k2).await.unwrap());
    verified(&store).await;
}

pub async fn operator_locks_and_unlocks_users<S: Store>(store: S) {
    let lagus = org("9-lagus-13", OrgKind::Landesamt, &[]);
    store.add_organisation(&lagus, &Actor::Operator).await.unwrap();
    let user = UserAccount {
        login: "anna".into(),
        organisation: lagus.telematik_id.clone(),
        role: UserRole::Landesamt,
        password_hash: "$argon2id$v=19$x".into(),
        totp_secret: "JBSWY3DPEHPK3PXP".into(),
        must_change_password: false,
        failed_logins: 0,
        locked_until: None,
        totp_last_step: None,
        created_at: t("2026-01-01T00:00:00Z"),
    };
    store.add_user(&user, &Actor::Operator).await.unwrap();
    let session = SessionRecord {
        token_sha256: "ef".repeat(32),
        login: "anna".into(),
        csrf_token: "c".repeat(64),
        second_factor: true,
        created_at: t("2026-01-02T00:00:00Z"),
        last_seen: t("2026-01-02T00:00:00Z"),
    };
    store.start_session(&session, t("2026-01-01T00:00:00Z")).await.unwrap();
    store.record_failed_login("anna", 5, t("2026-01-02T00:15:00Z"), t("2026-01-02T00:00:00Z")).await.unwrap();
    let admin = Actor::User("betrieb".into());
    let until = t("2100-01-01T00:00:00Z");
    store.set_user_lock("anna", Some(until), t("2026-01-03T00:00:00Z"), &admin).await.unwrap();
    assert_eq!(store.user("anna").await.unwrap().unwrap().locked_until, Some(until));
    assert_eq!(store.session(&session.token_sha256).await.unwrap(), None, "a lock ends the sessions");
    store.set_user_lock("anna", None, t("2026-01-04T00:00:00Z"), &admin).await.unwrap();
    let after = store.user("anna").await.unwrap().unwrap();
    assert_eq!((after.locked_until, after.failed_logins), (None, 0));
    let unknown = store.set_user_lock("niemand", None, t("2026-01-04T00:00:00Z"), &admin).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))), "{unknown:?}");
    assert_eq!(audit_actions(&store, "user.locked").await, 1);
    assert_eq!(audit_actions(&store, "user.unlocked").await, 1);
    verified(&store).await;
}

/// The version changes with a delivery, a KVNR remembered or forgotten and an erasure, and
/// with nothing else the linker does not compare against (reports, the linker's decisions,
/// a person's decision that teaches nothing).
pub async fn link_inputs_version_follows_what_the_linker_compares<S: Store>(store: S) {
    let at = t("2026-03-01T10:00:00Z");
    let mut seen = store.link_inputs_version().await.unwrap();
    let mut changed = |now: i64, expected: bool, what: &str| {
        assert_eq!(now != seen, expected, "{what}: {seen} -> {now}");
        seen = now;
    };
    store.import_delivery(&delivery("a", 2), &Actor::Operator).await.unwrap();
    changed(store.link_inputs_version().await.unwrap(), true, "a delivery");
    store.import_delivery(&delivery("a", 2), &Actor::Operator).await.unwrap();
    changed(store.link_inputs_version().await.unwrap(), false, "the same delivery again");
    with_reports(&store, &["r1", "r2"]).await;
    let open = vec![decision("r1", LinkState::Review, None, 1), decision("r2", LinkState::Review, None, 1)];
    store.save_link_decisions(&open, at, &Actor::System).await.unwrap();
    changed(store.link_inputs_version().await.unwrap(), false, "reports and the linker's decisions");
    store.decide_link(&decision("r2", LinkState::Rejected, None, 2), None, &Actor::Operator).await.unwrap();
    changed(store.link_inputs_version().await.unwrap(), false, "a rejection that forgets nothing");
    let remember =
        RememberedKvnr { melde_id: mid("K1"), kvnr: Kvnr::parse("B730152844").unwrap(), since: day("2026-03-01") };
    let confirmed = decision("r1", LinkState::Confirmed, Some("K1"), 2);
    store.decide_link(&confirmed, Some(&remember), &Actor::Operator).await.unwrap();
    changed(store.link_inputs_version().await.unwrap(), true, "a KVNR remembered");
    store.decide_link(&decision("r1", LinkState::Review, None, 3), None, &Actor::Operator).await.unwrap();
    changed(store.link_inputs_version().await.unwrap(), true, "a KVNR forgotten");
    let redact = |_: &str| Ok::<_, StoreError>("{}".to_owned());
    assert!(store.erase_child(&mid("K2"), &redact, &redact, at, &Actor::System).await.unwrap());
    changed(store.link_inputs_version().await.unwrap(), true, "an erasure");
    verified(&store).await;
}

/// The data version grows with each change a cached view is computed from (a delivery, a
/// report, the linker's and a person's decisions, recorded actions, a health office's outcome,
/// an erasure) and stays while the store is only read.
pub async fn data_version_grows_with_every_change<S: Store>(store: S) {
    let at = t("2026-03-01T10:00:00Z");
    let mut seen = store.data_version().await.unwrap();
    assert_eq!(seen, 0, "an empty store");
    // each change moves the version, and `changes_since` the version before names its kind
    let mut check = async |what: &str, action: &str| {
        let now = store.data_version().await.unwrap();
        assert!(now > seen, "{what}: {seen} -> {now}");
        let changes = store.changes_since(seen).await.unwrap();
        assert!(changes.contains(action), "{what}: {changes:?}");
        seen = now;
    };
    store.import_delivery(&delivery("a", 2), &Actor::Operator).await.unwrap();
    check("a delivery", "registry.delivery_imported").await;
    with_reports(&store, &["r1"]).await;
    check("a report", "report.received").await;
    store.save_link_decisions(&[decision("r1", LinkState::Review, None, 1)], at, &Actor::System).await.unwrap();
    check("the linker's decision", "link.linker_decided").await;
    store.decide_link(&decision("r1", LinkState::Confirmed, Some("K1"), 2), None, &Actor::Operator).await.unwrap();
    check("a person's decision", "link.decided").await;
    let batch = [action("escalation", "K1", Some(Checkup::U6), "2026-03-01")];
    store.record_actions(&batch, day("2026-03-01"), at, &Actor::System).await.unwrap();
    check("recorded actions", "programme.daily_run").await;
    let outcome = CaseOutcome {
        melde_id: mid("K1"),
        checkup: Checkup::U6,
        outcome: "erreicht".into(),
        note: String::new(),
        recorded_by: "amt".into(),
        recorded_at: at,
    };
    store.record_case_outcome(&outcome, &Actor::Operator).await.unwrap();
    check("a case outcome", "case.outcome_recorded").await;
    let redact = |_: &str| Ok::<_, StoreError>("{}".to_owned());
    assert!(store.erase_child(&mid("K2"), &redact, &redact, at, &Actor::System).await.unwrap());
    check("an erasure", "programme.child_erased").await;
    assert!(store.changes_since(seen).await.unwrap().is_empty(), "nothing after the head");
    let all = store.changes_since(0).await.unwrap();
    assert!(all.contains("report.received") && all.contains("programme.child_erased"), "{all:?}");
    store.reports(&ReportFilter::default()).await.unwrap();
    store.actions(None).await.unwrap();
    store.link_decisions(None).await.unwrap();
    assert_eq!(store.data_version().await.unwrap(), seen, "reads change nothing");
    let (_, head) = store.audit_log().await.unwrap();
    assert_eq!(head.map(|h| h.seq), Some(seen), "the audit chain's head");
    verified(&store).await;
}
