//! The storage story against a real SQLite file: organisations, certificates, reports with
//! idempotency, and an audit chain that verifies after every change and breaks on tampering.

use jiff::Timestamp;
use oegd_domain::{Checkup, Kreisschluessel, OrgKind, TelematikId};
use oegd_store::{
    Actor, CertificateRecord, InsertOutcome, NewReport, Organisation, ReportFilter, ReportId, ReportSource, Store,
    audit,
};
use oegd_store_sqlite::SqliteStore;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn report(id: &str, sender: &TelematikId, card: &str) -> NewReport {
    NewReport {
        id: ReportId(id.into()),
        sender: sender.clone(),
        card_id: card.into(),
        received_at: t("2026-03-01T10:00:00.123456789Z"),
        source: ReportSource::Api,
        media_type: "application/fhir+json".into(),
        body: b"{}".to_vec(),
        body_sha256: "ab".repeat(32),
        facts_json: "{}".into(),
        facts_sha256: "cd".repeat(32),
        checkup: Checkup::U7a,
        exam_date: "2026-02-27".parse().unwrap(),
        receiving_office: TelematikId::parse("9-lagus-13").unwrap(),
    }
}

#[tokio::test]
async fn intake_story_and_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let praxis = TelematikId::parse("1-20123456789").unwrap();

    let org = Organisation {
        telematik_id: praxis.clone(),
        kind: OrgKind::Praxis,
        name: "Praxis Dr. Möller".into(),
        kreise: vec![],
        created_at: t("2026-01-01T00:00:00Z"),
    };
    store.add_organisation(&org, &Actor::Operator).await.unwrap();
    assert!(matches!(
        store.add_organisation(&org, &Actor::Operator).await,
        Err(oegd_store::StoreError::AlreadyExists(_))
    ));
    let ga = Organisation {
        telematik_id: TelematikId::parse("9-ga-13003").unwrap(),
        kind: OrgKind::Gesundheitsamt,
        name: "Gesundheitsamt Hansestadt Rostock".into(),
        kreise: vec![Kreisschluessel::parse("13003").unwrap()],
        created_at: t("2026-01-01T00:00:00Z"),
    };
    store.add_organisation(&ga, &Actor::Operator).await.unwrap();
    assert_eq!(store.organisation(&ga.telematik_id).await.unwrap(), Some(ga.clone()));
    assert_eq!(store.organisations().await.unwrap().len(), 2);

    let cert = CertificateRecord {
        serial_hex: "0a0b".into(),
        telematik_id: praxis.clone(),
        not_before: t("2026-01-01T00:00:00Z"),
        not_after: t("2027-01-01T00:00:00Z"),
        issued_at: t("2026-01-01T00:00:00Z"),
        revoked_at: None,
    };
    store.record_certificate(&cert, &Actor::Operator).await.unwrap();
    let revoked = store.revoke_certificates(&praxis, t("2026-02-01T00:00:00Z"), &Actor::Operator).await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert!(store.revoke_certificates(&praxis, t("2026-02-02T00:00:00Z"), &Actor::Operator).await.unwrap().is_empty());

    let r = report("r1", &praxis, "urn:uuid:1");
    let actor = Actor::Organisation(praxis.clone());
    let InsertOutcome::Inserted(stored) = store.insert_report(&r, &actor).await.unwrap() else {
        panic!("not inserted")
    };
    assert_eq!(stored.received_at, t("2026-03-01T10:00:00.123457Z"));
    // Same card id from the same sender: the first one comes back, nothing new is stored.
    let again = report("r2", &praxis, "urn:uuid:1");
    let InsertOutcome::Existing(first) = store.insert_report(&again, &actor).await.unwrap() else {
        panic!("duplicate stored")
    };
    assert_eq!(first.id, ReportId("r1".into()));
    assert_eq!(store.reports(&ReportFilter::default()).await.unwrap().len(), 1);
    assert_eq!(store.report(&ReportId("r1".into())).await.unwrap().unwrap().body, b"{}");
    let other = TelematikId::parse("1-20999999999").unwrap();
    assert!(store.reports(&ReportFilter { sender: Some(other), limit: None }).await.unwrap().is_empty());

    let (entries, head) = store.audit_log().await.unwrap();
    // 2 organisations, 1 issued, 1 revoked, 1 report; the duplicate wrote nothing.
    assert_eq!(entries.len(), 5);
    audit::verify(&entries, head.as_ref()).unwrap();

    store.integrity_check().await.unwrap();
    let backup = dir.path().join("backup.db");
    store.backup_to(&backup).await.unwrap();
    store.close().await;

    // Tampering with the file directly is found, naming the entry.
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("UPDATE audit_log SET object = 'forged' WHERE seq = 3").execute(&raw).await.unwrap();
    raw.close().await;
    let store = SqliteStore::open_existing(&path).await.unwrap();
    let (entries, head) = store.audit_log().await.unwrap();
    assert_eq!(audit::verify(&entries, head.as_ref()).unwrap_err().seq, 3);

    // The backup restores into a working store with the data and an intact chain.
    let restored = SqliteStore::open_existing(&backup).await.unwrap();
    assert_eq!(restored.reports(&ReportFilter::default()).await.unwrap().len(), 1);
    let (entries, head) = restored.audit_log().await.unwrap();
    audit::verify(&entries, head.as_ref()).unwrap();
}
