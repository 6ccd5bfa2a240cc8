//! The embedded backend: one SQLite file in the data directory.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a transaction is on disk when
//! `COMMIT` returns; the gateway acknowledges a report only after that. Writes go through
//! one connection and start with `BEGIN IMMEDIATE`, so writers from other processes (the
//! CLI while the server runs) queue on the database lock instead of failing mid-transaction.

mod checkpoint;
mod group_commit;
mod migrate;

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use jiff::Timestamp;
use oegd_domain::{Checkup, Kreisschluessel, Kvnr, MeldeId, OrgKind, TelematikId};
use oegd_store::audit::{self, AuditEntry, ChainHead};
use oegd_store::{
    ActionKey, Actor, AuditEvent, CertificateRecord, DeliveryOutcome, DeliverySummary, InsertOutcome, LinkDecision,
    LinkState, NewDelivery, NewReport, Organisation, ProgrammeAction, RegistryEventRecord, RememberedKvnr,
    ReportFilter, ReportId, ReportSource, ReportSummary, Store, StoreError, StoreResult, StoredReport,
};
use oegd_store::{CaseOutcome, SessionRecord, UserAccount, UserRole};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

pub use migrate::SCHEMA_VERSION;

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Incoming reports, committed in groups through `writer` (group_commit.rs).
    reports: group_commit::ReportQueue,
    /// Held by every clone: the background checkpoint (checkpoint.rs) ends with the last.
    _alive: std::sync::Arc<()>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let store = Self::connect(path, true).await?;
        migrate::apply(&store.writer).await?;
        Ok(store)
    }

    /// Opens an existing database without changing its schema; refuses a schema this program
    /// does not know.
    pub async fn open_existing(path: &Path) -> StoreResult<Self> {
        let store = Self::connect(path, false).await?;
        migrate::check(&store.writer).await?;
        Ok(store)
    }

    async fn connect(path: &Path, create: bool) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // The writer's commits never checkpoint; checkpoint.rs does it beside them. Its
        // statement journals (what a multi-row statement would undo on a constraint error)
        // stay in memory: SQLite spills one beyond 64 KiB to a temporary file, which it
        // creates, writes and deletes again within the statement (4 % of the server's CPU
        // under load, docs/PERFORMANCE.md "Fewer hand-offs"). A statement journal holds
        // at most the pages one transaction had changed before the statement, a few MiB.
        let writer_opts = opts.clone().pragma("wal_autocheckpoint", "0").pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(writer_opts).await.map_err(map_err)?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(map_err)?;
        let reports = group_commit::ReportQueue::start(writer.clone());
        let alive = std::sync::Arc::new(());
        checkpoint::start(reader.clone(), std::sync::Arc::downgrade(&alive));
        Ok(Self { writer, reader, reports, _alive: alive })
    }

    /// Pending migrations (applied by [`SqliteStore::open`]); for `oegd-gateway migrate`.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        migrate::current(&self.writer).await
    }

    /// Writes a consistent copy of the database to `dest` while others keep working
    /// (`VACUUM INTO` reads one snapshot).
    pub async fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        let dest = dest.to_str().ok_or_else(|| StoreError::Internal("backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?").bind(dest).execute(&self.reader).await.map_err(map_err)?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `Ok(())` when the file is sound.
    pub async fn integrity_check(&self) -> StoreResult<()> {
        let rows: Vec<String> =
            sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.reader).await.map_err(map_err)?;
        if rows.len() == 1 && rows.first().map(String::as_str) == Some("ok") {
            Ok(())
        } else {
            Err(StoreError::Internal(format!("integrity check failed: {}", rows.join("; "))))
        }
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        begin_immediate(&self.writer).await
    }
}

/// A write transaction on the writer connection.
async fn begin_immediate(writer: &SqlitePool) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
    match writer.begin_with("BEGIN IMMEDIATE").await {
        // A COMMIT that failed (disk full) can leave the writer connection inside a
        // transaction as far as sqlx knows; every later BEGIN would fail until a restart.
        // Replace the connection and begin again: SQLite itself rolled back.
        Err(sqlx::Error::InvalidSavePointStatement | sqlx::Error::BeginFailed) => {
            if let Ok(conn) = writer.acquire().await {
                let _ = sqlx::Connection::close(conn.detach()).await;
            }
            writer.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
        }
        other => other.map_err(map_err),
    }
}

/// Fixed-width timestamps (microseconds, UTC) so that text order is time order.
pub(crate) fn ts(t: Timestamp) -> String {
    t.round(jiff::Unit::Microsecond).map(|t| format!("{t:.6}")).unwrap_or_else(|_| format!("{t:.6}"))
}

fn parse_ts(s: &str) -> StoreResult<Timestamp> {
    Timestamp::from_str(s).map_err(|e| StoreError::Internal(format!("stored timestamp unreadable: {e}")))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} unreadable"))
}

/// Classifies database errors; messages carry no values, only what failed.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            match code & 0xff {
                // SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN, SQLITE_READONLY
                13 | 10 | 5 | 6 | 14 | 8 => StoreError::Unavailable(db.message().to_owned()),
                _ if db.is_unique_violation() => StoreError::AlreadyExists(db.message().to_owned()),
                _ => StoreError::Internal(db.message().to_owned()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The actions whose key is not recorded yet, in key order. A daily run offers every action
/// the engine knows, nearly all of them recorded on earlier days: one walk over the recorded
/// keys in key order finds the few new ones, where offering all of them to
/// `INSERT … ON CONFLICT DO NOTHING` cost 7 µs an action. The keys come in pages, each page
/// one string: a row per key cost as much as the insert it saved.
///
/// Key order is also the order to insert in: each new key then lands beside the previous
/// one in the primary key's B-tree. In the engine's order (by day, then child) a first run's
/// 1.77 million actions at a million children touched a random page of it each.
async fn not_recorded<'a>(
    conn: &mut SqliteConnection,
    actions: &'a [ProgrammeAction],
) -> StoreResult<Vec<&'a ProgrammeAction>> {
    /// Keys read per query: bounded memory, few hand-offs to the SQLite worker thread.
    const KEYS_PER_PAGE: i64 = 20_000;
    // stable, and SQLite compares TEXT as bytes (BINARY), as `str` does: of two actions
    // with one key the one offered first comes first and is the one inserted
    let mut sorted: Vec<&ProgrammeAction> = actions.iter().collect();
    sorted.sort_by(|a, b| a.stored_key().cmp(&b.stored_key()));
    let mut next = sorted.into_iter().peekable();
    let mut fresh = Vec::new();
    let mut after = (String::new(), String::new(), String::new());
    while next.peek().is_some() {
        // keys hold no control characters: unit separator between the parts, record
        // separator between the keys
        let (count, joined): (i64, String) = sqlx::query_as(
            "SELECT count(*), coalesce(group_concat(kind || char(31) || melde_id || char(31) || checkup, char(30)), '')
             FROM (SELECT kind, melde_id, checkup FROM programme_actions WHERE (kind, melde_id, checkup) > (?, ?, ?)
                   ORDER BY kind, melde_id, checkup LIMIT ?)",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(&after.2)
        .bind(KEYS_PER_PAGE)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
        if count == 0 {
            break;
        }
        let mut page = joined
            .split('\x1e')
            .map(|k| {
                let mut parts = k.splitn(3, '\x1f');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(kind), Some(melde_id), Some(checkup)) => Ok((kind, melde_id, checkup)),
                    _ => Err(corrupt("action key")),
                }
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // the walk needs key order, which group_concat does not promise
        page.sort_unstable();
        for &recorded in &page {
            while let Some(a) = next.next_if(|a| a.stored_key() < recorded) {
                fresh.push(a);
            }
            while next.next_if(|a| a.stored_key() == recorded).is_some() {}
        }
        match page.last() {
            Some(&(kind, melde_id, checkup)) if count == KEYS_PER_PAGE => {
                after = (kind.to_owned(), melde_id.to_owned(), checkup.to_owned());
            }
            _ => break,
        }
    }
    fresh.extend(next);
    Ok(fresh)
}

async fn append_audit(conn: &mut SqliteConnection, event: &AuditEvent, at: Timestamp) -> StoreResult<()> {
    let entries = audit_entries(conn, &[(event.clone(), at)]).await?;
    write_audit_entries(conn, &entries).await
}

/// Raises the number a long-running linker compares to decide whether its index is stale
/// (`link_inputs_version`), in the transaction that changes the register, the remembered
/// KVNRs or the erasures.
async fn link_inputs_changed(conn: &mut SqliteConnection) -> StoreResult<()> {
    sqlx::query("UPDATE link_inputs SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The next entries of the chain for these events, in order, after the stored head.
async fn audit_entries(
    conn: &mut SqliteConnection,
    events: &[(AuditEvent, Timestamp)],
) -> StoreResult<Vec<AuditEntry>> {
    let head: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut head = head.map(|(seq, hash)| ChainHead { seq, hash });
    let mut entries = Vec::with_capacity(events.len());
    for (event, at) in events {
        let details = serde_json::to_string(&event.details).map_err(|e| StoreError::Internal(e.to_string()))?;
        let entry = audit::next_entry(
            head.as_ref(),
            &ts(*at),
            &event.actor.to_string(),
            &event.action,
            &event.object,
            &details,
        );
        head = Some(ChainHead { seq: entry.seq, hash: entry.hash.clone() });
        entries.push(entry);
    }
    Ok(entries)
}

/// Appends entries made by [`audit_entries`] in the same transaction, and moves the head.
async fn write_audit_entries(conn: &mut SqliteConnection, entries: &[AuditEntry]) -> StoreResult<()> {
    // 8 values an entry: far below SQLite's limit of 32,766 bound variables.
    for part in entries.chunks(256) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash) ",
        );
        insert.push_values(part, |mut row, e| {
            row.push_bind(e.seq)
                .push_bind(e.at.as_str())
                .push_bind(e.actor.as_str())
                .push_bind(e.action.as_str())
                .push_bind(e.object.as_str())
                .push_bind(e.details.as_str())
                .push_bind(e.prev_hash.as_str())
                .push_bind(e.hash.as_str());
        });
        insert.build().execute(&mut *conn).await.map_err(map_err)?;
    }
    if let Some(last) = entries.last() {
        sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
            .bind(last.seq)
            .bind(&last.hash)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds a decision in the column order of `link_decisions`.
fn bind_decision<'q>(q: Query<'q>, d: &'q LinkDecision) -> Query<'q> {
    q.bind(&d.report_id.0)
        .bind(d.state.as_str())
        .bind(d.melde_id.as_ref().map(MeldeId::as_str))
        .bind(d.effective.to_string())
        .bind(&d.decision_json)
        .bind(&d.decided_by)
        .bind(ts(d.decided_at))
        .bind(d.version)
}

fn decision_from_row(row: &SqliteRow) -> StoreResult<LinkDecision> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
    let melde_id: Option<String> = row.try_get("melde_id").map_err(map_err)?;
    Ok(LinkDecision {
        report_id: ReportId(text("report_id")?),
        state: LinkState::parse(&text("state")?).ok_or_else(|| corrupt("link state"))?,
        melde_id: melde_id.map(|m| MeldeId::parse(&m).map_err(|_| corrupt("melde_id"))).transpose()?,
        effective: text("effective")?.parse().map_err(|_| corrupt("effective date"))?,
        decision_json: text("decision")?,
        decided_by: text("decided_by")?,
        decided_at: parse_ts(&text("decided_at")?)?,
        version: row.try_get("version").map_err(map_err)?,
    })
}

fn registry_event_from_row(row: &SqliteRow) -> StoreResult<RegistryEventRecord> {
    let line: i64 = row.try_get("line").map_err(map_err)?;
    let melde_id: String = row.try_get("melde_id").map_err(map_err)?;
    let event_date: String = row.try_get("event_date").map_err(map_err)?;
    Ok(RegistryEventRecord {
        line: u64::try_from(line).map_err(|_| corrupt("line"))?,
        melde_id: MeldeId::parse(&melde_id).map_err(|_| corrupt("melde_id"))?,
        event_date: event_date.parse().map_err(|_| corrupt("event_date"))?,
        row_json: row.try_get("row_json").map_err(map_err)?,
    })
}

fn action_from_row(row: &SqliteRow) -> StoreResult<ProgrammeAction> {
    let corrupt = |what: &str| StoreError::Internal(format!("programme_actions: invalid {what}"));
    let text = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
    let checkup = text("checkup")?;
    let district = text("district")?;
    Ok(ProgrammeAction {
        kind: text("kind")?,
        melde_id: MeldeId::parse(&text("melde_id")?).map_err(|_| corrupt("melde_id"))?,
        checkup: if checkup.is_empty() {
            None
        } else {
            Some(Checkup::from_name(&checkup).ok_or_else(|| corrupt("checkup"))?)
        },
        created: text("created")?.parse().map_err(|_| corrupt("created"))?,
        district: if district.is_empty() {
            None
        } else {
            Some(Kreisschluessel::parse(&district).map_err(|_| corrupt("district"))?)
        },
        payload_json: text("payload")?,
    })
}

fn org_from_row(row: &SqliteRow) -> StoreResult<Organisation> {
    let kreise: Vec<String> = serde_json::from_str(row.get::<&str, _>("kreise")).map_err(|_| corrupt("districts"))?;
    Ok(Organisation {
        telematik_id: TelematikId::parse(row.get("telematik_id")).map_err(|_| corrupt("Telematik-ID"))?,
        kind: OrgKind::parse(row.get("kind")).ok_or_else(|| corrupt("organisation kind"))?,
        name: row.get("name"),
        kreise: kreise
            .iter()
            .map(|k| Kreisschluessel::parse(k))
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt("district"))?,
        created_at: parse_ts(row.get("created_at"))?,
    })
}

fn cert_from_row(row: &SqliteRow) -> StoreResult<CertificateRecord> {
    Ok(CertificateRecord {
        serial_hex: row.get("serial_hex"),
        telematik_id: TelematikId::parse(row.get("telematik_id")).map_err(|_| corrupt("Telematik-ID"))?,
        not_before: parse_ts(row.get("not_before"))?,
        not_after: parse_ts(row.get("not_after"))?,
        issued_at: parse_ts(row.get("issued_at"))?,
        revoked_at: row.get::<Option<&str>, _>("revoked_at").map(parse_ts).transpose()?,
    })
}

fn report_from_row(row: &SqliteRow) -> StoreResult<StoredReport> {
    Ok(NewReport {
        id: ReportId(row.get("id")),
        sender: TelematikId::parse(row.get("sender")).map_err(|_| corrupt("Telematik-ID"))?,
        card_id: row.get("card_id"),
        received_at: parse_ts(row.get("received_at"))?,
        source: ReportSource::parse(row.get("source")).ok_or_else(|| corrupt("report source"))?,
        media_type: row.get("media_type"),
        body: row.get("body"),
        body_sha256: row.get("body_sha256"),
        facts_json: row.get("facts"),
        facts_sha256: row.get("facts_sha256"),
        checkup: Checkup::from_name(row.get("checkup")).ok_or_else(|| corrupt("check-up"))?,
        exam_date: row.get::<&str, _>("exam_date").parse().map_err(|_| corrupt("exam date"))?,
        receiving_office: TelematikId::parse(row.get("receiving_office")).map_err(|_| corrupt("Telematik-ID"))?,
    })
}

fn summary_from_row(row: &SqliteRow) -> StoreResult<ReportSummary> {
    Ok(ReportSummary {
        id: ReportId(row.get("id")),
        sender: TelematikId::parse(row.get("sender")).map_err(|_| corrupt("Telematik-ID"))?,
        card_id: row.get("card_id"),
        received_at: parse_ts(row.get("received_at"))?,
        source: ReportSource::parse(row.get("source")).ok_or_else(|| corrupt("report source"))?,
        checkup: Checkup::from_name(row.get("checkup")).ok_or_else(|| corrupt("check-up"))?,
        exam_date: row.get::<&str, _>("exam_date").parse().map_err(|_| corrupt("exam date"))?,
    })
}

fn user_from_row(row: &SqliteRow) -> StoreResult<UserAccount> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
    Ok(UserAccount {
        login: text("login")?,
        organisation: TelematikId::parse(&text("organisation")?).map_err(|_| corrupt("Telematik-ID"))?,
        role: UserRole::parse(&text("role")?).ok_or_else(|| corrupt("user role"))?,
        password_hash: text("password_hash")?,
        totp_secret: text("totp_secret")?,
        must_change_password: row.try_get::<i64, _>("must_change_password").map_err(map_err)? != 0,
        failed_logins: u32::try_from(row.try_get::<i64, _>("failed_logins").map_err(map_err)?).unwrap_or(u32::MAX),
        locked_until: row
            .try_get::<Option<String>, _>("locked_until")
            .map_err(map_err)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        totp_last_step: row.try_get("totp_last_step").map_err(map_err)?,
        created_at: parse_ts(&text("created_at")?)?,
    })
}

fn session_from_row(row: &SqliteRow) -> StoreResult<SessionRecord> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
    Ok(SessionRecord {
        token_sha256: text("token_sha256")?,
        login: text("login")?,
        csrf_token: text("csrf_token")?,
        second_factor: row.try_get::<i64, _>("second_factor").map_err(map_err)? != 0,
        created_at: parse_ts(&text("created_at")?)?,
        last_seen: parse_ts(&text("last_seen")?)?,
    })
}

async fn insert_session(conn: &mut SqliteConnection, s: &SessionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (token_sha256, login, csrf_token, second_factor, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.token_sha256)
    .bind(&s.login)
    .bind(&s.csrf_token)
    .bind(i64::from(s.second_factor))
    .bind(ts(s.created_at))
    .bind(ts(s.last_seen))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

impl Store for SqliteStore {
    async fn add_organisation(&self, org: &Organisation, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let kreise: Vec<&str> = org.kreise.iter().map(Kreisschluessel::as_str).collect();
        let kreise = serde_json::to_string(&kreise).map_err(|e| StoreError::Internal(e.to_string()))?;
        sqlx::query("INSERT INTO organisations (telematik_id, kind, name, kreise, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(org.telematik_id.as_str())
            .bind(org.kind.as_str())
            .bind(&org.name)
            .bind(&kreise)
            .bind(ts(org.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::AlreadyExists(_) => StoreError::AlreadyExists(format!("organisation {}", org.telematik_id)),
                other => other,
            })?;
        let event = AuditEvent::new(
            actor,
            "organisation.added",
            org.telematik_id.as_str(),
            serde_json::json!({"kind": org.kind.as_str(), "name": org.name, "kreise": org.kreise}),
        );
        append_audit(&mut tx, &event, org.created_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn organisation(&self, id: &TelematikId) -> StoreResult<Option<Organisation>> {
        let row = sqlx::query("SELECT * FROM organisations WHERE telematik_id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let rows = sqlx::query("SELECT * FROM organisations ORDER BY kind, telematik_id")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(org_from_row).collect()
    }

    async fn record_certificate(&self, cert: &CertificateRecord, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO certificates (serial_hex, telematik_id, not_before, not_after, issued_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)")
            .bind(&cert.serial_hex)
            .bind(cert.telematik_id.as_str())
            .bind(ts(cert.not_before))
            .bind(ts(cert.not_after))
            .bind(ts(cert.issued_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let event = AuditEvent::new(
            actor,
            "certificate.issued",
            &cert.serial_hex,
            serde_json::json!({"telematik_id": cert.telematik_id, "not_after": ts(cert.not_after)}),
        );
        append_audit(&mut tx, &event, cert.issued_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn revoke_certificates(
        &self,
        id: &TelematikId,
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<Vec<CertificateRecord>> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "UPDATE certificates SET revoked_at = ? WHERE telematik_id = ? AND revoked_at IS NULL RETURNING *",
        )
        .bind(ts(at))
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let revoked: Vec<CertificateRecord> = rows.iter().map(cert_from_row).collect::<StoreResult<_>>()?;
        for cert in &revoked {
            let event = AuditEvent::new(
                actor,
                "certificate.revoked",
                &cert.serial_hex,
                serde_json::json!({"telematik_id": id}),
            );
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(revoked)
    }

    async fn certificates(&self) -> StoreResult<Vec<CertificateRecord>> {
        let rows = sqlx::query("SELECT * FROM certificates ORDER BY issued_at")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn insert_report(&self, r: &NewReport, actor: &Actor) -> StoreResult<InsertOutcome> {
        self.reports.insert(r, actor).await
    }

    async fn report(&self, id: &ReportId) -> StoreResult<Option<StoredReport>> {
        let row = sqlx::query("SELECT * FROM reports WHERE id = ?")
            .bind(&id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(report_from_row).transpose()
    }

    async fn reports(&self, filter: &ReportFilter) -> StoreResult<Vec<ReportSummary>> {
        let rows = sqlx::query(
            "SELECT id, sender, card_id, received_at, source, checkup, exam_date FROM reports
             WHERE (?1 IS NULL OR sender = ?1) ORDER BY received_at, id LIMIT ?2",
        )
        .bind(filter.sender.as_ref().map(TelematikId::as_str))
        .bind(filter.limit.map_or(-1, i64::from))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn visit_report_facts(
        &self,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        visit: &mut (dyn FnMut(ReportSummary, &str) -> StoreResult<()> + Send),
    ) -> StoreResult<()> {
        // the bounds only where given, so that the received_at index is used for them
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, sender, card_id, received_at, source, checkup, exam_date, facts FROM reports WHERE 1",
        );
        if let Some(from) = from {
            query.push(" AND received_at >= ").push_bind(ts(from));
        }
        if let Some(until) = until {
            query.push(" AND received_at < ").push_bind(ts(until));
        }
        query.push(" ORDER BY received_at DESC, id DESC");
        let mut rows = query.build().fetch(&self.reader);
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            visit(summary_from_row(&row)?, row.try_get("facts").map_err(map_err)?)?;
        }
        Ok(())
    }

    async fn import_delivery(&self, d: &NewDelivery, actor: &Actor) -> StoreResult<DeliveryOutcome> {
        let mut tx = self.begin().await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT seq FROM registry_deliveries WHERE sha256 = ?")
            .bind(&d.sha256)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if let Some(seq) = existing {
            return Ok(DeliveryOutcome::AlreadyImported { seq });
        }
        let rows = i64::try_from(d.rows.len()).map_err(|e| StoreError::Internal(e.to_string()))?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO registry_deliveries (sha256, file_name, imported_at, rows, rejected) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(&d.sha256)
        .bind(&d.file_name)
        .bind(ts(d.imported_at))
        .bind(rows)
        .bind(i64::from(d.rejected))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        /// Rows one INSERT carries: 5 bound values each, 5,000 in all (SQLite's limit: 32,766).
        const ROWS_PER_INSERT: usize = 1000;
        // many rows per statement: each statement is a hand-off to sqlx's SQLite worker
        // thread, and a million of them (one per row) cost more than the inserts themselves
        for chunk in d.rows.chunks(ROWS_PER_INSERT) {
            let lines = chunk
                .iter()
                .map(|row| i64::try_from(row.line).map_err(|e| StoreError::Internal(e.to_string())))
                .collect::<StoreResult<Vec<_>>>()?;
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO registry_events (delivery, line, melde_id, event_date, row_json) ",
            );
            insert.push_values(chunk.iter().zip(lines), |mut values, (row, line)| {
                values
                    .push_bind(seq)
                    .push_bind(line)
                    .push_bind(row.melde_id.as_str())
                    .push_bind(row.event_date.to_string())
                    .push_bind(row.row_json.as_str());
            });
            insert.build().execute(&mut *tx).await.map_err(map_err)?;
        }
        link_inputs_changed(&mut tx).await?;
        let event = AuditEvent::new(
            actor,
            "registry.delivery_imported",
            seq.to_string(),
            serde_json::json!({"sha256": d.sha256, "rows": rows, "rejected": d.rejected}),
        );
        append_audit(&mut tx, &event, d.imported_at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(DeliveryOutcome::Imported { seq })
    }

    async fn deliveries(&self) -> StoreResult<Vec<DeliverySummary>> {
        let rows = sqlx::query("SELECT * FROM registry_deliveries ORDER BY seq")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(map_err);
                Ok(DeliverySummary {
                    seq: get_i("seq")?,
                    sha256: row.try_get("sha256").map_err(map_err)?,
                    file_name: row.try_get("file_name").map_err(map_err)?,
                    imported_at: parse_ts(&row.try_get::<String, _>("imported_at").map_err(map_err)?)?,
                    rows: u64::try_from(get_i("rows")?).map_err(|e| StoreError::Internal(e.to_string()))?,
                    rejected: u32::try_from(get_i("rejected")?).map_err(|e| StoreError::Internal(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn registry_events(&self) -> StoreResult<Vec<RegistryEventRecord>> {
        let rows =
            sqlx::query("SELECT line, melde_id, event_date, row_json FROM registry_events ORDER BY delivery, line")
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        rows.iter().map(registry_event_from_row).collect()
    }

    async fn registry_events_of(&self, melde_id: &MeldeId) -> StoreResult<Vec<RegistryEventRecord>> {
        let rows = sqlx::query(
            "SELECT line, melde_id, event_date, row_json FROM registry_events WHERE melde_id = ?
             ORDER BY delivery, line",
        )
        .bind(melde_id.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(registry_event_from_row).collect()
    }

    async fn first_event_date(&self) -> StoreResult<Option<jiff::civil::Date>> {
        let first: Option<String> = sqlx::query_scalar("SELECT MIN(event_date) FROM registry_events")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        first.map(|d| d.parse().map_err(|_| corrupt("event_date"))).transpose()
    }

    async fn record_actions(
        &self,
        actions: &[ProgrammeAction],
        as_of: jiff::civil::Date,
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        /// Rows one INSERT carries: 7 bound values each, 3,500 in all, well below SQLite's
        /// limit of 32,766 bound variables.
        const ACTIONS_PER_INSERT: usize = 500;
        let recorded_at = ts(at);
        let mut tx = self.begin().await?;
        let fresh = not_recorded(&mut tx, actions).await?;
        let mut new = 0usize;
        // one INSERT of many rows per chunk rather than one per action: every statement is
        // a hand-off to sqlx's SQLite worker thread, which cost more than the insert itself
        for chunk in fresh.chunks(ACTIONS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO programme_actions (kind, melde_id, checkup, created, district, payload, recorded_at) ",
            );
            insert.push_values(chunk, |mut row, &a| {
                row.push_bind(a.kind.as_str())
                    .push_bind(a.melde_id.as_str())
                    .push_bind(a.checkup.map_or("", Checkup::name))
                    .push_bind(a.created.to_string())
                    .push_bind(a.district.as_ref().map_or("", Kreisschluessel::as_str))
                    .push_bind(a.payload_json.as_str())
                    .push_bind(recorded_at.as_str());
            });
            insert.push(" ON CONFLICT DO NOTHING");
            // the rows this statement inserted: those not recorded before (nor earlier in it)
            let done = insert.build().execute(&mut *tx).await.map_err(map_err)?;
            new += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        let event = AuditEvent::new(
            actor,
            "programme.daily_run",
            as_of.to_string(),
            serde_json::json!({"as_of": as_of.to_string(), "new_actions": new}),
        );
        append_audit(&mut tx, &event, at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(new)
    }

    async fn actions(&self, kind: Option<&str>) -> StoreResult<Vec<ProgrammeAction>> {
        let rows = sqlx::query(
            "SELECT kind, melde_id, checkup, created, district, payload FROM programme_actions
             WHERE (?1 IS NULL OR kind = ?1) ORDER BY created, kind, melde_id, checkup",
        )
        .bind(kind)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(action_from_row).collect()
    }

    async fn child_actions(&self, melde_id: &MeldeId, kinds: &[&str]) -> StoreResult<Vec<ProgrammeAction>> {
        let kinds = serde_json::to_string(kinds).map_err(|e| StoreError::Internal(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT kind, melde_id, checkup, created, district, payload FROM programme_actions
             WHERE kind IN (SELECT value FROM json_each(?1)) AND melde_id = ?2
             ORDER BY created, kind, melde_id, checkup",
        )
        .bind(kinds)
        .bind(melde_id.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(action_from_row).collect()
    }

    async fn actions_without_letter(&self, kinds: &[&str]) -> StoreResult<Vec<ProgrammeAction>> {
        let kinds = serde_json::to_string(kinds).map_err(|e| StoreError::Internal(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT a.kind, a.melde_id, a.checkup, a.created, a.district, a.payload FROM programme_actions a
             WHERE a.kind IN (SELECT value FROM json_each(?1))
               AND NOT EXISTS (SELECT 1 FROM letters l
                               WHERE l.kind = a.kind AND l.melde_id = a.melde_id AND l.checkup = a.checkup)
             ORDER BY a.created, a.kind, a.melde_id, a.checkup",
        )
        .bind(kinds)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(action_from_row).collect()
    }

    async fn store_letters(
        &self,
        letters: &[(ActionKey, Vec<u8>)],
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        let mut stored = 0usize;
        for (key, pdf) in letters {
            let done = sqlx::query(
                "INSERT INTO letters (kind, melde_id, checkup, pdf, pdf_sha256, rendered_at)
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&key.kind)
            .bind(key.melde_id.as_str())
            .bind(key.checkup.map_or("", Checkup::name))
            .bind(pdf.as_slice())
            .bind(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(pdf)))
            .bind(ts(at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            stored += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        if stored > 0 {
            let event =
                AuditEvent::new(actor, "programme.letters_stored", "letters", serde_json::json!({"letters": stored}));
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn letter_pdf(&self, key: &ActionKey) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT pdf FROM letters WHERE kind = ? AND melde_id = ? AND checkup = ?")
            .bind(&key.kind)
            .bind(key.melde_id.as_str())
            .bind(key.checkup.map_or("", Checkup::name))
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn claim_daily_run(
        &self,
        as_of: jiff::civil::Date,
        holder: &str,
        at: Timestamp,
        lease: jiff::SignedDuration,
    ) -> StoreResult<bool> {
        let stale = at.checked_sub(lease).map_err(|e| StoreError::Internal(e.to_string()))?;
        // BEGIN IMMEDIATE: the check and the claim happen under the database's write lock
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "INSERT INTO daily_runs (as_of, holder, claimed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (as_of) DO UPDATE SET holder = ?2, claimed_at = ?3
             WHERE daily_runs.finished_at IS NULL AND daily_runs.claimed_at < ?4",
        )
        .bind(as_of.to_string())
        .bind(holder)
        .bind(ts(at))
        .bind(ts(stale))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let claimed = done.rows_affected() > 0;
        if claimed {
            let event = AuditEvent::new(
                &Actor::System,
                "programme.daily_run_claimed",
                as_of.to_string(),
                serde_json::json!({"holder": holder}),
            );
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(claimed)
    }

    async fn finish_daily_run(&self, as_of: jiff::civil::Date, holder: &str, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE daily_runs SET finished_at = ? WHERE as_of = ? AND holder = ? AND finished_at IS NULL")
                .bind(ts(at))
                .bind(as_of.to_string())
                .bind(holder)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("daily run {as_of} is not held by this process")));
        }
        tx.commit().await.map_err(map_err)
    }

    async fn erase_child(
        &self,
        melde_id: &MeldeId,
        redact_event: &(dyn Fn(&str) -> StoreResult<String> + Sync),
        redact_facts: &(dyn Fn(&str) -> StoreResult<String> + Sync),
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("INSERT INTO erased_children (melde_id, erased_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
                .bind(melde_id.as_str())
                .bind(ts(at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let events: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT delivery, line, row_json FROM registry_events WHERE melde_id = ?")
                .bind(melde_id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        for (delivery, line, row_json) in &events {
            sqlx::query("UPDATE registry_events SET row_json = ? WHERE delivery = ? AND line = ?")
                .bind(redact_event(row_json)?)
                .bind(delivery)
                .bind(line)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let reports: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.id, r.facts FROM reports r JOIN link_decisions d ON d.report_id = r.id WHERE d.melde_id = ?",
        )
        .bind(melde_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        for (id, facts) in &reports {
            sqlx::query("UPDATE reports SET facts = ?, body = x'' WHERE id = ?")
                .bind(redact_facts(facts)?)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        sqlx::query("UPDATE letters SET pdf = x'' WHERE melde_id = ?")
            .bind(melde_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("UPDATE case_outcomes SET note = '' WHERE melde_id = ?")
            .bind(melde_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM remembered_kvnrs WHERE melde_id = ?")
            .bind(melde_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        link_inputs_changed(&mut tx).await?;
        let event = AuditEvent::new(
            actor,
            "programme.child_erased",
            melde_id.as_str(),
            serde_json::json!({"events": events.len(), "reports": reports.len()}),
        );
        append_audit(&mut tx, &event, at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn erased_children(&self) -> StoreResult<Vec<MeldeId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT melde_id FROM erased_children ORDER BY melde_id")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        ids.iter().map(|m| MeldeId::parse(m).map_err(|_| corrupt("melde_id"))).collect()
    }

    async fn is_erased(&self, melde_id: &MeldeId) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM erased_children WHERE melde_id = ?)")
            .bind(melde_id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn save_link_decisions(
        &self,
        decisions: &[LinkDecision],
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        /// Rows one INSERT carries: 8 bound values each, 3,200 in all.
        const DECISIONS_PER_INSERT: usize = 400;
        let mut tx = self.begin().await?;
        let mut written = 0usize;
        let mut by_state = std::collections::BTreeMap::<String, usize>::new();
        // first decisions (the bulk: every new report) as multi-row INSERTs; a statement per
        // row kept the single writer busy long enough to hold up the intake's commits behind
        // it. RETURNING gives the states of the rows inserted, for the audit entry.
        let (first, later): (Vec<&LinkDecision>, Vec<&LinkDecision>) = decisions.iter().partition(|d| d.version <= 1);
        for chunk in first.chunks(DECISIONS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO link_decisions (report_id, state, melde_id, effective, decision, decided_by, decided_at, version) ",
            );
            insert.push_values(chunk, |mut row, d| {
                row.push_bind(&d.report_id.0)
                    .push_bind(d.state.as_str())
                    .push_bind(d.melde_id.as_ref().map(MeldeId::as_str))
                    .push_bind(d.effective.to_string())
                    .push_bind(&d.decision_json)
                    .push_bind(&d.decided_by)
                    .push_bind(ts(d.decided_at))
                    .push_bind(d.version);
            });
            insert.push(" ON CONFLICT DO NOTHING RETURNING state");
            let states: Vec<String> = insert.build_query_scalar().fetch_all(&mut *tx).await.map_err(map_err)?;
            written += states.len();
            for state in states {
                *by_state.entry(state).or_insert(0) += 1;
            }
        }
        for d in later {
            let done = bind_decision(sqlx::query(
                "UPDATE link_decisions SET report_id = ?1, state = ?2, melde_id = ?3, effective = ?4, decision = ?5,
                 decided_by = ?6, decided_at = ?7, version = ?8
                 WHERE report_id = ?1 AND version = ?8 - 1 AND state IN ('review', 'unlinked')",
            ), d)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if done.rows_affected() > 0 {
                written += 1;
                *by_state.entry(d.state.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        if written > 0 {
            let event = AuditEvent::new(actor, "link.linker_decided", "reports", serde_json::json!(by_state));
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(written)
    }

    async fn decide_link(&self, d: &LinkDecision, remember: Option<&RememberedKvnr>, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = bind_decision(
            sqlx::query(
                "UPDATE link_decisions SET report_id = ?1, state = ?2, melde_id = ?3, effective = ?4, decision = ?5,
                 decided_by = ?6, decided_at = ?7, version = ?8
                 WHERE report_id = ?1 AND version = ?8 - 1",
            ),
            d,
        )
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("link decision of report {}", d.report_id)));
        }
        let mut kvnrs_changed = false;
        if d.state != LinkState::Confirmed {
            kvnrs_changed |= sqlx::query("DELETE FROM remembered_kvnrs WHERE report_id = ?")
                .bind(&d.report_id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                > 0;
        }
        if let Some(k) = remember {
            kvnrs_changed |= sqlx::query("INSERT INTO remembered_kvnrs (melde_id, kvnr, report_id, since) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(k.melde_id.as_str())
                .bind(k.kvnr.as_str())
                .bind(&d.report_id.0)
                .bind(k.since.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                > 0;
        }
        if kvnrs_changed {
            link_inputs_changed(&mut tx).await?;
        }
        let event = AuditEvent::new(
            actor,
            "link.decided",
            d.report_id.0.clone(),
            serde_json::json!({
                "state": d.state.as_str(),
                "melde_id": d.melde_id.as_ref().map(MeldeId::as_str),
                "effective": d.effective.to_string(),
                "version": d.version,
            }),
        );
        append_audit(&mut tx, &event, d.decided_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn link_decision(&self, report: &ReportId) -> StoreResult<Option<LinkDecision>> {
        let row = sqlx::query("SELECT * FROM link_decisions WHERE report_id = ?")
            .bind(&report.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(decision_from_row).transpose()
    }

    async fn link_decisions(&self, state: Option<LinkState>) -> StoreResult<Vec<LinkDecision>> {
        // Two statements, not `?1 IS NULL OR state = ?1`: with that, SQLite scans every
        // decision (one per report) instead of seeking the state's index.
        let rows = match state {
            Some(state) => {
                sqlx::query("SELECT * FROM link_decisions WHERE state = ? ORDER BY report_id").bind(state.as_str())
            }
            None => sqlx::query("SELECT * FROM link_decisions ORDER BY report_id"),
        }
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn link_decisions_of_reports(&self, reports: &[ReportId]) -> StoreResult<Vec<LinkDecision>> {
        let ids = serde_json::to_string(&reports.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT * FROM link_decisions WHERE report_id IN (SELECT value FROM json_each(?)) ORDER BY report_id",
        )
        .bind(ids)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn child_link_decisions(&self, melde_id: &MeldeId) -> StoreResult<Vec<LinkDecision>> {
        let rows = sqlx::query("SELECT * FROM link_decisions WHERE melde_id = ? ORDER BY report_id")
            .bind(melde_id.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn link_inputs_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT version FROM link_inputs WHERE id = 1")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn remembered_kvnrs(&self) -> StoreResult<Vec<RememberedKvnr>> {
        let rows = sqlx::query("SELECT melde_id, kvnr, since FROM remembered_kvnrs ORDER BY melde_id")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let text = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
                Ok(RememberedKvnr {
                    melde_id: MeldeId::parse(&text("melde_id")?).map_err(|_| corrupt("melde_id"))?,
                    kvnr: Kvnr::parse(&text("kvnr")?).map_err(|_| corrupt("KVNR"))?,
                    since: text("since")?.parse().map_err(|_| corrupt("date"))?,
                })
            })
            .collect()
    }

    async fn add_user(&self, u: &UserAccount, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (login, organisation, role, password_hash, totp_secret, must_change_password,
             failed_logins, locked_until, totp_last_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.login)
        .bind(u.organisation.as_str())
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.totp_secret)
        .bind(i64::from(u.must_change_password))
        .bind(i64::from(u.failed_logins))
        .bind(u.locked_until.map(ts))
        .bind(u.totp_last_step)
        .bind(ts(u.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::AlreadyExists(_) => StoreError::AlreadyExists(format!("user {}", u.login)),
            other => other,
        })?;
        let event = AuditEvent::new(
            actor,
            "user.added",
            u.login.clone(),
            serde_json::json!({"organisation": u.organisation.as_str(), "role": u.role.as_str()}),
        );
        append_audit(&mut tx, &event, u.created_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn user(&self, login: &str) -> StoreResult<Option<UserAccount>> {
        let row = sqlx::query("SELECT * FROM users WHERE login = ?")
            .bind(login)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<UserAccount>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY login").fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn record_failed_login(
        &self,
        login: &str,
        limit: u32,
        lock_until: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let failed: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE login = ? RETURNING failed_logins",
        )
        .bind(login)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let locked = failed.is_some_and(|n| n >= i64::from(limit));
        if locked {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = ? WHERE login = ?")
                .bind(ts(lock_until))
                .bind(login)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query("DELETE FROM sessions WHERE login = ? AND second_factor = 0")
                .bind(login)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let event = AuditEvent::new(
                &Actor::System,
                "user.locked",
                login.to_owned(),
                serde_json::json!({"until": ts(lock_until), "failed_attempts": limit}),
            );
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(locked)
    }

    async fn start_session(&self, session: &SessionRecord, expired_before: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE last_seen < ?")
            .bind(ts(expired_before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_session(&mut tx, session).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn complete_login(
        &self,
        half_token_sha256: &str,
        session: &SessionRecord,
        totp_step: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let gone = sqlx::query("DELETE FROM sessions WHERE token_sha256 = ? AND login = ? AND second_factor = 0")
            .bind(half_token_sha256)
            .bind(&session.login)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let used = sqlx::query(
            "UPDATE users SET totp_last_step = ?1, failed_logins = 0
             WHERE login = ?2 AND (totp_last_step IS NULL OR totp_last_step < ?1)",
        )
        .bind(totp_step)
        .bind(&session.login)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if gone.rows_affected() == 0 || used.rows_affected() == 0 {
            return Err(StoreError::Conflict("login: half session or TOTP step".into()));
        }
        insert_session(&mut tx, session).await?;
        let event = AuditEvent::new(
            &Actor::User(session.login.clone()),
            "session.started",
            session.login.clone(),
            serde_json::json!({}),
        );
        append_audit(&mut tx, &event, session.created_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn session(&self, token_sha256: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, token_sha256: &str, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?")
            .bind(ts(at))
            .bind(token_sha256)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn end_session(&self, token_sha256: &str, at: Timestamp, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let login: Option<(String, i64)> =
            sqlx::query_as("DELETE FROM sessions WHERE token_sha256 = ? RETURNING login, second_factor")
                .bind(token_sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        if let Some((login, 1)) = login {
            let event = AuditEvent::new(actor, "session.ended", login, serde_json::json!({}));
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn set_password(&self, login: &str, password_hash: &str, at: Timestamp, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = ?, must_change_password = 0 WHERE login = ?")
            .bind(password_hash)
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {login}")));
        }
        let event = AuditEvent::new(actor, "user.password_set", login.to_owned(), serde_json::json!({}));
        append_audit(&mut tx, &event, at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn set_user_lock(
        &self,
        login: &str,
        until: Option<Timestamp>,
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET locked_until = ?, failed_logins = 0 WHERE login = ?")
            .bind(until.map(ts))
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {login}")));
        }
        if until.is_some() {
            sqlx::query("DELETE FROM sessions WHERE login = ?").bind(login).execute(&mut *tx).await.map_err(map_err)?;
        }
        let (action, details) = match until {
            Some(t) => ("user.locked", serde_json::json!({"until": ts(t)})),
            None => ("user.unlocked", serde_json::json!({})),
        };
        append_audit(&mut tx, &AuditEvent::new(actor, action, login.to_owned(), details), at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn record_case_outcome(&self, o: &CaseOutcome, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO case_outcomes (melde_id, checkup, outcome, note, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(o.melde_id.as_str())
        .bind(o.checkup.name())
        .bind(&o.outcome)
        .bind(&o.note)
        .bind(&o.recorded_by)
        .bind(ts(o.recorded_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Internal(m) if m.contains("FOREIGN KEY") => StoreError::NotFound("escalation".into()),
            other => other,
        })?;
        let event = AuditEvent::new(
            actor,
            "case.outcome_recorded",
            format!("{}:{}", o.melde_id, o.checkup.name()),
            serde_json::json!({"outcome": o.outcome}),
        );
        append_audit(&mut tx, &event, o.recorded_at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn case_outcomes(&self) -> StoreResult<Vec<CaseOutcome>> {
        let rows =
            sqlx::query("SELECT * FROM case_outcomes ORDER BY seq").fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let text = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
                Ok(CaseOutcome {
                    melde_id: MeldeId::parse(&text("melde_id")?).map_err(|_| corrupt("melde_id"))?,
                    checkup: Checkup::from_name(&text("checkup")?).ok_or_else(|| corrupt("check-up"))?,
                    outcome: text("outcome")?,
                    note: text("note")?,
                    recorded_by: text("recorded_by")?,
                    recorded_at: parse_ts(&text("recorded_at")?)?,
                })
            })
            .collect()
    }

    async fn append_audit(&self, event: &AuditEvent, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        append_audit(&mut tx, event, at).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn audit_log(&self) -> StoreResult<(Vec<AuditEntry>, Option<ChainHead>)> {
        // One read transaction, so entries and head are from the same snapshot.
        let mut tx = self.reader.begin().await.map_err(map_err)?;
        let entries: Vec<AuditEntry> = sqlx::query("SELECT * FROM audit_log ORDER BY seq")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(|row| AuditEntry {
                seq: row.get("seq"),
                at: row.get("at"),
                actor: row.get("actor"),
                action: row.get("action"),
                object: row.get("object"),
                details: row.get("details"),
                prev_hash: row.get("prev_hash"),
                hash: row.get("hash"),
            })
            .collect();
        let head: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.rollback().await.map_err(map_err)?;
        Ok((entries, head.map(|(seq, hash)| ChainHead { seq, hash })))
    }

    async fn data_version(&self) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(seq.unwrap_or(0))
    }

    async fn changes_since(&self, version: i64) -> StoreResult<BTreeSet<String>> {
        let actions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT action FROM audit_log WHERE seq > ?")
            .bind(version)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(actions.into_iter().collect())
    }
}
