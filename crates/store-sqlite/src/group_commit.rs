//! Group commit of incoming reports.
//!
//! SQLite has one writer, and a durable `COMMIT` costs an `fsync` (hundreds of
//! microseconds) whatever it carries. Reports arriving together therefore queue here, and one
//! task writes every report waiting at that moment in one transaction, with a handful of
//! statements for the whole group. Each caller gets its answer only after that `COMMIT`
//! returned, so nothing is acknowledged before it is on disk. There is no artificial wait:
//! a report arriving at an idle gateway is committed at once; under load the group grows by
//! itself with the reports that came in during the previous commit.
//!
//! If the database refuses the group for a reason other than storage trouble, each report is
//! tried again in a transaction of its own, so that one refused report cannot fail the
//! others.

use std::collections::HashMap;

use jiff::Timestamp;
use oegd_store::audit::AuditEntry;
use oegd_store::{Actor, AuditEvent, InsertOutcome, NewReport, StoreError, StoreResult, StoredReport};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::{audit_entries, begin_immediate, map_err, parse_ts, report_from_row, ts, write_audit_entries};

/// At most this many reports go into one transaction.
const MAX_GROUP: usize = 256;
/// Rows per multi-row statement: 13 bound values a report, well below SQLite's limit of
/// 32,766 variables.
const ROWS_PER_STATEMENT: usize = 64;

struct Pending {
    report: NewReport,
    actor: Actor,
    reply: oneshot::Sender<StoreResult<InsertOutcome>>,
}

/// The queue in front of the writing task; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct ReportQueue {
    queue: mpsc::Sender<Pending>,
}

impl ReportQueue {
    /// Starts the writing task on the current Tokio runtime. It ends when the last
    /// [`ReportQueue`] is dropped.
    pub(crate) fn start(writer: SqlitePool) -> Self {
        let (queue, incoming) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(write_groups(writer, incoming));
        Self { queue }
    }

    /// Stores a report (or finds the one its sender already sent with that card id) and
    /// returns once that is durable.
    pub(crate) async fn insert(&self, report: &NewReport, actor: &Actor) -> StoreResult<InsertOutcome> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { report: report.clone(), actor: actor.clone(), reply };
        self.queue.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the report writer has stopped".into())
}

async fn write_groups(writer: SqlitePool, mut incoming: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while incoming.recv_many(&mut group, MAX_GROUP).await > 0 {
        let decisions = commit_group(&writer, &group).await;
        for (pending, decided) in group.drain(..).zip(decisions) {
            // The caller may have gone away (connection closed); the report stays stored and
            // a retry with the same card id finds it.
            let _ = pending.reply.send(decided.map(|d| d.outcome(pending.report)));
        }
    }
}

/// What the transaction did with one pending report. A stored report goes back to its
/// caller as it came, without a copy: a card is some kilobytes, and copying each one twice
/// in here was a visible part of the server's allocations under load.
#[derive(Debug)]
enum Decided {
    /// Stored, with its time of receipt as the database keeps it (milliseconds).
    Inserted(Timestamp),
    /// Its sender had already sent a card with this id: the first one (boxed: rare, and
    /// the common variant stays small).
    Existing(Box<StoredReport>),
}

impl Decided {
    fn outcome(self, report: NewReport) -> InsertOutcome {
        match self {
            Decided::Inserted(received_at) => InsertOutcome::Inserted(StoredReport { received_at, ..report }),
            Decided::Existing(first) => InsertOutcome::Existing(*first),
        }
    }
}

/// One decision per pending report, in order.
async fn commit_group(writer: &SqlitePool, group: &[Pending]) -> Vec<StoreResult<Decided>> {
    match insert_in_one_transaction(writer, group).await {
        Ok(decisions) => decisions.into_iter().map(Ok).collect(),
        Err(e) if group.len() == 1 => vec![Err(e)],
        // Disk full, I/O error, locked: the next attempt would fail the same way.
        Err(StoreError::Unavailable(why)) => group.iter().map(|_| Err(StoreError::Unavailable(why.clone()))).collect(),
        Err(_) => {
            let mut outcomes = Vec::with_capacity(group.len());
            for pending in group {
                let alone = insert_in_one_transaction(writer, std::slice::from_ref(pending)).await;
                outcomes.push(alone.and_then(|o| o.into_iter().next().ok_or_else(|| internal("no outcome"))));
            }
            outcomes
        }
    }
}

fn internal(what: &str) -> StoreError {
    StoreError::Internal(what.to_owned())
}

async fn insert_in_one_transaction(writer: &SqlitePool, group: &[Pending]) -> StoreResult<Vec<Decided>> {
    let mut tx = begin_immediate(writer).await?;
    let stored = stored_with_same_card_id(&mut tx, group).await?;
    // The first report under each (sender, card id): stored before, or earlier in this group.
    let mut first_of: HashMap<(&str, &str), Result<&StoredReport, usize>> =
        stored.iter().map(|r| ((r.sender.as_str(), r.card_id.as_str()), Ok(r))).collect();

    let mut decisions = Vec::with_capacity(group.len());
    let mut fresh: Vec<&Pending> = Vec::with_capacity(group.len());
    for (i, pending) in group.iter().enumerate() {
        let r = &pending.report;
        let received_at = |r: &NewReport| parse_ts(&ts(r.received_at));
        let key = (r.sender.as_str(), r.card_id.as_str());
        match first_of.get(&key) {
            Some(Ok(first)) => decisions.push(Decided::Existing(Box::new((*first).clone()))),
            Some(Err(earlier)) => {
                let first = &group.get(*earlier).ok_or_else(|| internal("no earlier report"))?.report;
                let first = StoredReport { received_at: received_at(first)?, ..first.clone() };
                decisions.push(Decided::Existing(Box::new(first)));
            }
            None => {
                first_of.insert(key, Err(i));
                decisions.push(Decided::Inserted(received_at(r)?));
                fresh.push(pending);
            }
        }
    }
    if fresh.is_empty() {
        // Nothing to write; the read transaction simply ends.
        return Ok(decisions);
    }

    for rows in fresh.chunks(ROWS_PER_STATEMENT) {
        insert_reports(&mut tx, rows).await?;
    }
    let events: Vec<(AuditEvent, Timestamp)> = fresh
        .iter()
        .map(|p| {
            let r = &p.report;
            let details = serde_json::json!({
                "sender": r.sender, "card_id": r.card_id, "source": r.source, "body_sha256": r.body_sha256
            });
            (AuditEvent::new(&p.actor, "report.received", &r.id.0, details), r.received_at)
        })
        .collect();
    let entries: Vec<AuditEntry> = audit_entries(&mut tx, &events).await?;
    write_audit_entries(&mut tx, &entries).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(decisions)
}

/// The reports already stored under the (sender, card id) pairs of the group.
async fn stored_with_same_card_id(conn: &mut SqliteConnection, group: &[Pending]) -> StoreResult<Vec<StoredReport>> {
    let mut known = Vec::new();
    for part in group.chunks(ROWS_PER_STATEMENT) {
        // A join, not `(sender, card_id) IN (VALUES …)`: SQLite scans the whole table for the
        // latter, and looks each pair up in the UNIQUE (sender, card_id) index for the former.
        let mut lookup = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT r.* FROM (");
        lookup.push_values(part, |mut pair, p| {
            pair.push_bind(p.report.sender.as_str()).push_bind(p.report.card_id.as_str());
        });
        lookup.push(") AS k JOIN reports r ON r.sender = k.column1 AND r.card_id = k.column2");
        for row in lookup.build().fetch_all(&mut *conn).await.map_err(map_err)? {
            known.push(report_from_row(&row)?);
        }
    }
    Ok(known)
}

async fn insert_reports(conn: &mut SqliteConnection, rows: &[&Pending]) -> StoreResult<()> {
    let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO reports (id, sender, card_id, received_at, source, media_type, body, body_sha256, facts, facts_sha256, checkup, exam_date, receiving_office) ",
    );
    insert.push_values(rows, |mut row, p| {
        let r = &p.report;
        row.push_bind(r.id.0.as_str())
            .push_bind(r.sender.as_str())
            .push_bind(r.card_id.as_str())
            .push_bind(ts(r.received_at))
            .push_bind(r.source.as_str())
            .push_bind(r.media_type.as_str())
            .push_bind(r.body.as_slice())
            .push_bind(r.body_sha256.as_str())
            .push_bind(r.facts_json.as_str())
            .push_bind(r.facts_sha256.as_str())
            .push_bind(r.checkup.name())
            .push_bind(r.exam_date.to_string())
            .push_bind(r.receiving_office.as_str());
    });
    insert.build().execute(&mut *conn).await.map_err(map_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use oegd_store::Store;
    use oegd_store::audit;
    use oegd_store_conformance::report;

    fn pending(id: &str, card: &str) -> (Pending, oneshot::Receiver<StoreResult<InsertOutcome>>) {
        let (reply, answer) = oneshot::channel();
        (Pending { report: report(id, "1-20123456789", card), actor: Actor::System, reply }, answer)
    }

    async fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gateway.db")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_card_sent_twice_in_one_group_is_stored_once() {
        let (_dir, store) = open().await;
        let group = vec![pending("r1", "urn:uuid:1").0, pending("r2", "urn:uuid:1").0, pending("r3", "urn:uuid:2").0];
        let outcomes: Vec<InsertOutcome> = commit_group(&store.writer, &group)
            .await
            .into_iter()
            .zip(&group)
            .map(|(decided, p)| decided.unwrap().outcome(p.report.clone()))
            .collect();
        let InsertOutcome::Inserted(first) = &outcomes[0] else { panic!("the first is stored: {outcomes:?}") };
        assert_eq!(outcomes[1], InsertOutcome::Existing(first.clone()));
        assert!(matches!(&outcomes[2], InsertOutcome::Inserted(r) if r.id.0 == "r3"));
        assert_eq!(store.report(&first.id).await.unwrap().as_ref(), Some(first));
        let (entries, head) = store.audit_log().await.unwrap();
        assert_eq!(audit::verify(&entries, head.as_ref()).unwrap().entries, 2);
        assert_eq!(entries.iter().map(|e| e.object.as_str()).collect::<Vec<_>>(), ["r1", "r3"]);
    }

    #[tokio::test]
    async fn a_refused_report_does_not_fail_the_rest_of_its_group() {
        let (_dir, store) = open().await;
        // Two reports under one id: the group's INSERT fails on the primary key, so each is
        // tried alone and only the second is refused.
        let group = vec![pending("r1", "urn:uuid:1").0, pending("r1", "urn:uuid:2").0, pending("r3", "urn:uuid:3").0];
        let outcomes: Vec<StoreResult<InsertOutcome>> = commit_group(&store.writer, &group)
            .await
            .into_iter()
            .zip(&group)
            .map(|(decided, p)| decided.map(|d| d.outcome(p.report.clone())))
            .collect();
        assert!(matches!(&outcomes[0], Ok(InsertOutcome::Inserted(r)) if r.card_id == "urn:uuid:1"));
        assert!(matches!(&outcomes[1], Err(StoreError::AlreadyExists(_))), "{:?}", outcomes[1]);
        assert!(matches!(&outcomes[2], Ok(InsertOutcome::Inserted(r)) if r.id.0 == "r3"));
        let (entries, head) = store.audit_log().await.unwrap();
        assert_eq!(audit::verify(&entries, head.as_ref()).unwrap().entries, 2);
        assert_eq!(store.reports(&Default::default()).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_queue_answers_after_the_commit() {
        let (_dir, store) = open().await;
        let mut tasks = Vec::new();
        for i in 0..300 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // every card twice, under two report ids
                let r = report(&format!("r{i}"), "1-20123456789", &format!("urn:uuid:{}", i / 2));
                store.insert_report(&r, &Actor::System).await.unwrap()
            }));
        }
        let mut inserted = 0;
        for task in tasks {
            if let InsertOutcome::Inserted(r) = task.await.unwrap() {
                inserted += 1;
                // acknowledged, so readable through the other connections
                assert!(store.report(&r.id).await.unwrap().is_some());
            }
        }
        let stored = store.reports(&Default::default()).await.unwrap().len();
        assert_eq!((inserted, stored), (150, 150));
        let (entries, head) = store.audit_log().await.unwrap();
        assert_eq!(audit::verify(&entries, head.as_ref()).unwrap().entries, stored as u64);
    }
}
