//! The PostgreSQL backend: several gateway instances on one database.
//!
//! Same semantics as the SQLite backend, stated for many processes:
//! - Idempotency and uniqueness come from the database's unique keys (`INSERT ... ON
//!   CONFLICT DO NOTHING`, then read the stored row), never from a check in one process.
//! - Every change appends its audit entry in the same transaction, after locking the one
//!   `audit_head` row (`SELECT ... FOR UPDATE`): appends from all instances are serialised
//!   and form one unbroken chain.
//! - The daily run is claimed with one atomic upsert on `daily_runs` (with a lease).
//! - Link decisions are versioned; the version check is part of the `UPDATE`'s `WHERE`, which
//!   PostgreSQL re-evaluates on the newest row after waiting for a concurrent writer.
//! - Commits are durable when `COMMIT` returns (`synchronous_commit` is at least `local`;
//!   a session that finds it `off` turns it on).

mod migrate;

use std::collections::BTreeSet;
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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Executor, PgConnection, PgPool, Row};

pub use migrate::SCHEMA_VERSION;

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    /// The URL's password, for `pg_dump` (the options do not give it back).
    password: Option<String>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the connection options may hold a password
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and applies pending
    /// migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let store = Self::connect(url).await?;
        migrate::apply(&store.pool).await?;
        Ok(store)
    }

    /// Connects without changing the schema; refuses a schema this program does not know.
    pub async fn open_existing(url: &str) -> StoreResult<Self> {
        let store = Self::connect(url).await?;
        migrate::check(&store.pool).await?;
        Ok(store)
    }

    async fn connect(url: &str) -> StoreResult<Self> {
        // The URL is never part of an error: it may hold a password.
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Internal("the PostgreSQL URL is not readable".into()))?
            .application_name("oegd-gateway");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Acknowledged means durable: never run with asynchronous commit.
                    let mode: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                        .fetch_one(&mut *conn)
                        .await?;
                    if mode == "off" {
                        conn.execute("SET synchronous_commit = on").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        let password = url::Url::parse(url).ok().and_then(|u| u.password().map(percent_decode));
        Ok(Self { pool, options, password })
    }

    /// The schema version of the database (for `oegd-gateway migrate`).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        migrate::current(&self.pool).await
    }

    /// Applies pending migrations (as [`PgStore::open`] does).
    pub async fn migrate(&self) -> StoreResult<()> {
        migrate::apply(&self.pool).await
    }

    /// Whether the database holds no audit entry yet (nothing was ever done with it).
    pub async fn is_empty(&self) -> StoreResult<bool> {
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(seq == 0)
    }

    /// Writes a consistent copy of the database to `dest` with `pg_dump --format=custom`
    /// (one snapshot, while others keep working); restore with `pg_restore`. The password
    /// of the URL goes to `pg_dump` in its environment, not on its command line.
    pub async fn backup_to(&self, dest: &std::path::Path) -> StoreResult<()> {
        let o = &self.options;
        let mut cmd = std::process::Command::new("pg_dump");
        cmd.arg("--format=custom").arg("--no-owner").arg("--file").arg(dest);
        cmd.env("PGHOST", o.get_socket().map_or_else(|| o.get_host().to_owned(), |s| s.display().to_string()));
        cmd.env("PGPORT", o.get_port().to_string());
        cmd.env("PGUSER", o.get_username());
        if let Some(db) = o.get_database() {
            cmd.env("PGDATABASE", db);
        }
        if let Some(password) = self.password.as_deref() {
            cmd.env("PGPASSWORD", password);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?
            .map_err(|e| StoreError::Unavailable(format!("pg_dump could not be started: {e}")))?;
        if !out.status.success() {
            return Err(StoreError::Unavailable(format!(
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await.map_err(map_err)
    }
}

/// Decodes `%XX` escapes of a URL component.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes.get(i), hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (Some(b'%'), Some(b)) => {
                out.push(b);
                i += 3;
            }
            (Some(&b), _) => {
                out.push(b);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Fixed-width timestamps (microseconds, UTC) so that text order is time order; the same
/// text as the SQLite backend writes.
fn ts(t: Timestamp) -> String {
    t.round(jiff::Unit::Microsecond).map(|t| format!("{t:.6}")).unwrap_or_else(|_| format!("{t:.6}"))
}

fn parse_ts(s: &str) -> StoreResult<Timestamp> {
    Timestamp::from_str(s).map_err(|e| StoreError::Internal(format!("stored timestamp unreadable: {e}")))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} unreadable"))
}

/// Classifies database errors by SQLSTATE; messages carry no values (PostgreSQL puts the
/// values of a violated key in the error's detail, which is never used), only what failed.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = format!("{} (SQLSTATE {code})", db.message());
            match code.get(..2).unwrap_or("") {
                // connection exceptions, insufficient resources (disk full, out of memory,
                // too many connections), operator intervention (shutdown, recovery),
                // system errors (I/O): retry later, nothing was changed
                "08" | "53" | "57" | "58" => StoreError::Unavailable(message),
                // serialization failure, deadlock: the transaction was rolled back
                "40" => StoreError::Unavailable(message),
                _ if db.is_unique_violation() => StoreError::AlreadyExists(message),
                _ => StoreError::Internal(message),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// Appends an audit entry. Locks the chain head first: a concurrent append in another
/// transaction (any instance) waits until this one commits or rolls back, then continues
/// from the new head.
async fn append_audit(conn: &mut PgConnection, event: &AuditEvent, at: Timestamp) -> StoreResult<()> {
    let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let head = (seq > 0).then_some(ChainHead { seq, hash });
    let details = serde_json::to_string(&event.details).map_err(|e| StoreError::Internal(e.to_string()))?;
    let entry =
        audit::next_entry(head.as_ref(), &ts(at), &event.actor.to_string(), &event.action, &event.object, &details);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.seq)
    .bind(&entry.at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.object)
    .bind(&entry.details)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(entry.seq)
        .bind(&entry.hash)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Raises the number a long-running linker compares to decide whether its index is stale
/// (`link_inputs_version`), in the transaction that changes the register, the remembered
/// KVNRs or the erasures.
async fn link_inputs_changed(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("UPDATE link_inputs SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Takes the audit chain's lock at the start of a transaction whose check-then-write must
/// not interleave with others (numbering deliveries): the same effect as SQLite's
/// `BEGIN IMMEDIATE`, for this transaction only.
async fn lock_chain(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").execute(&mut *conn).await.map_err(map_err)?;
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a decision as $1..$8 in the column order of `link_decisions`.
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

fn text(row: &PgRow, c: &str) -> StoreResult<String> {
    row.try_get::<String, _>(c).map_err(map_err)
}

fn decision_from_row(row: &PgRow) -> StoreResult<LinkDecision> {
    let melde_id: Option<String> = row.try_get("melde_id").map_err(map_err)?;
    Ok(LinkDecision {
        report_id: ReportId(text(row, "report_id")?),
        state: LinkState::parse(&text(row, "state")?).ok_or_else(|| corrupt("link state"))?,
        melde_id: melde_id.map(|m| MeldeId::parse(&m).map_err(|_| corrupt("melde_id"))).transpose()?,
        effective: text(row, "effective")?.parse().map_err(|_| corrupt("effective date"))?,
        decision_json: text(row, "decision")?,
        decided_by: text(row, "decided_by")?,
        decided_at: parse_ts(&text(row, "decided_at")?)?,
        version: row.try_get("version").map_err(map_err)?,
    })
}

fn registry_event_from_row(row: &PgRow) -> StoreResult<RegistryEventRecord> {
    let line: i64 = row.try_get("line").map_err(map_err)?;
    Ok(RegistryEventRecord {
        line: u64::try_from(line).map_err(|_| corrupt("line"))?,
        melde_id: MeldeId::parse(&text(row, "melde_id")?).map_err(|_| corrupt("melde_id"))?,
        event_date: text(row, "event_date")?.parse().map_err(|_| corrupt("event_date"))?,
        row_json: text(row, "row_json")?,
    })
}

fn action_from_row(row: &PgRow) -> StoreResult<ProgrammeAction> {
    let corrupt = |what: &str| StoreError::Internal(format!("programme_actions: invalid {what}"));
    let checkup = text(row, "checkup")?;
    let district = text(row, "district")?;
    Ok(ProgrammeAction {
        kind: text(row, "kind")?,
        melde_id: MeldeId::parse(&text(row, "melde_id")?).map_err(|_| corrupt("melde_id"))?,
        checkup: if checkup.is_empty() {
            None
        } else {
            Some(Checkup::from_name(&checkup).ok_or_else(|| corrupt("checkup"))?)
        },
        created: text(row, "created")?.parse().map_err(|_| corrupt("created"))?,
        district: if district.is_empty() {
            None
        } else {
            Some(Kreisschluessel::parse(&district).map_err(|_| corrupt("district"))?)
        },
        payload_json: text(row, "payload")?,
    })
}

fn org_from_row(row: &PgRow) -> StoreResult<Organisation> {
    let kreise: Vec<String> = serde_json::from_str(&text(row, "kreise")?).map_err(|_| corrupt("districts"))?;
    Ok(Organisation {
        telematik_id: TelematikId::parse(&text(row, "telematik_id")?).map_err(|_| corrupt("Telematik-ID"))?,
        kind: OrgKind::parse(&text(row, "kind")?).ok_or_else(|| corrupt("organisation kind"))?,
        name: text(row, "name")?,
        kreise: kreise
            .iter()
            .map(|k| Kreisschluessel::parse(k))
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt("district"))?,
        created_at: parse_ts(&text(row, "created_at")?)?,
    })
}

fn cert_from_row(row: &PgRow) -> StoreResult<CertificateRecord> {
    let revoked_at: Option<String> = row.try_get("revoked_at").map_err(map_err)?;
    Ok(CertificateRecord {
        serial_hex: text(row, "serial_hex")?,
        telematik_id: TelematikId::parse(&text(row, "telematik_id")?).map_err(|_| corrupt("Telematik-ID"))?,
        not_before: parse_ts(&text(row, "not_before")?)?,
        not_after: parse_ts(&text(row, "not_after")?)?,
        issued_at: parse_ts(&text(row, "issued_at")?)?,
        revoked_at: revoked_at.as_deref().map(parse_ts).transpose()?,
    })
}

fn report_from_row(row: &PgRow) -> StoreResult<StoredReport> {
    Ok(NewReport {
        id: ReportId(text(row, "id")?),
        sender: TelematikId::parse(&text(row, "sender")?).map_err(|_| corrupt("Telematik-ID"))?,
        card_id: text(row, "card_id")?,
        received_at: parse_ts(&text(row, "received_at")?)?,
        source: ReportSource::parse(&text(row, "source")?).ok_or_else(|| corrupt("report source"))?,
        media_type: text(row, "media_type")?,
        body: row.try_get("body").map_err(map_err)?,
        body_sha256: text(row, "body_sha256")?,
        facts_json: text(row, "facts")?,
        facts_sha256: text(row, "facts_sha256")?,
        checkup: Checkup::from_name(&text(row, "checkup")?).ok_or_else(|| corrupt("check-up"))?,
        exam_date: text(row, "exam_date")?.parse().map_err(|_| corrupt("exam date"))?,
        receiving_office: TelematikId::parse(&text(row, "receiving_office")?).map_err(|_| corrupt("Telematik-ID"))?,
    })
}

fn summary_from_row(row: &PgRow) -> StoreResult<ReportSummary> {
    Ok(ReportSummary {
        id: ReportId(text(row, "id")?),
        sender: TelematikId::parse(&text(row, "sender")?).map_err(|_| corrupt("Telematik-ID"))?,
        card_id: text(row, "card_id")?,
        received_at: parse_ts(&text(row, "received_at")?)?,
        source: ReportSource::parse(&text(row, "source")?).ok_or_else(|| corrupt("report source"))?,
        checkup: Checkup::from_name(&text(row, "checkup")?).ok_or_else(|| corrupt("check-up"))?,
        exam_date: text(row, "exam_date")?.parse().map_err(|_| corrupt("exam date"))?,
    })
}

fn user_from_row(row: &PgRow) -> StoreResult<UserAccount> {
    let locked_until: Option<String> = row.try_get("locked_until").map_err(map_err)?;
    Ok(UserAccount {
        login: text(row, "login")?,
        organisation: TelematikId::parse(&text(row, "organisation")?).map_err(|_| corrupt("Telematik-ID"))?,
        role: UserRole::parse(&text(row, "role")?).ok_or_else(|| corrupt("user role"))?,
        password_hash: text(row, "password_hash")?,
        totp_secret: text(row, "totp_secret")?,
        must_change_password: row.try_get("must_change_password").map_err(map_err)?,
        failed_logins: u32::try_from(row.try_get::<i64, _>("failed_logins").map_err(map_err)?).unwrap_or(u32::MAX),
        locked_until: locked_until.as_deref().map(parse_ts).transpose()?,
        totp_last_step: row.try_get("totp_last_step").map_err(map_err)?,
        created_at: parse_ts(&text(row, "created_at")?)?,
    })
}

fn session_from_row(row: &PgRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        token_sha256: text(row, "token_sha256")?,
        login: text(row, "login")?,
        csrf_token: text(row, "csrf_token")?,
        second_factor: row.try_get("second_factor").map_err(map_err)?,
        created_at: parse_ts(&text(row, "created_at")?)?,
        last_seen: parse_ts(&text(row, "last_seen")?)?,
    })
}

async fn insert_session(conn: &mut PgConnection, s: &SessionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (token_sha256, login, csrf_token, second_factor, created_at, last_seen)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&s.token_sha256)
    .bind(&s.login)
    .bind(&s.csrf_token)
    .bind(s.second_factor)
    .bind(ts(s.created_at))
    .bind(ts(s.last_seen))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

impl Store for PgStore {
    async fn add_organisation(&self, org: &Organisation, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let kreise: Vec<&str> = org.kreise.iter().map(Kreisschluessel::as_str).collect();
        let kreise = serde_json::to_string(&kreise).map_err(|e| StoreError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO organisations (telematik_id, kind, name, kreise, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
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
        if id.as_str().contains('\0') {
            return Ok(None); // PostgreSQL text holds no NUL: no stored key has one
        }
        let row = sqlx::query("SELECT * FROM organisations WHERE telematik_id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let rows = sqlx::query("SELECT * FROM organisations ORDER BY kind, telematik_id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(org_from_row).collect()
    }

    async fn record_certificate(&self, cert: &CertificateRecord, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO certificates (serial_hex, telematik_id, not_before, not_after, issued_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
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
            "UPDATE certificates SET revoked_at = $1 WHERE telematik_id = $2 AND revoked_at IS NULL RETURNING *",
        )
        .bind(ts(at))
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let mut revoked: Vec<CertificateRecord> = rows.iter().map(cert_from_row).collect::<StoreResult<_>>()?;
        revoked.sort_by(|a, b| a.serial_hex.cmp(&b.serial_hex));
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
        let rows = sqlx::query("SELECT * FROM certificates ORDER BY issued_at, serial_hex")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn insert_report(&self, r: &NewReport, actor: &Actor) -> StoreResult<InsertOutcome> {
        let mut tx = self.begin().await?;
        // The unique key (sender, card_id) decides between instances: a concurrent insert of
        // the same card waits here for the other transaction and then inserts nothing.
        let inserted = sqlx::query(
            "INSERT INTO reports (id, sender, card_id, received_at, source, media_type, body, body_sha256, facts,
                                  facts_sha256, checkup, exam_date, receiving_office)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (sender, card_id) DO NOTHING",
        )
        .bind(&r.id.0)
        .bind(r.sender.as_str())
        .bind(&r.card_id)
        .bind(ts(r.received_at))
        .bind(r.source.as_str())
        .bind(&r.media_type)
        .bind(&r.body)
        .bind(&r.body_sha256)
        .bind(&r.facts_json)
        .bind(&r.facts_sha256)
        .bind(r.checkup.name())
        .bind(r.exam_date.to_string())
        .bind(r.receiving_office.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if inserted.rows_affected() == 0 {
            let row = sqlx::query("SELECT * FROM reports WHERE sender = $1 AND card_id = $2")
                .bind(r.sender.as_str())
                .bind(&r.card_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.rollback().await.map_err(map_err)?;
            return Ok(InsertOutcome::Existing(report_from_row(&row)?));
        }
        let event = AuditEvent::new(
            actor,
            "report.received",
            &r.id.0,
            serde_json::json!({"sender": r.sender, "card_id": r.card_id, "source": r.source, "body_sha256": r.body_sha256}),
        );
        append_audit(&mut tx, &event, r.received_at).await?;
        tx.commit().await.map_err(map_err)?;
        let mut stored = r.clone();
        stored.received_at = parse_ts(&ts(r.received_at))?;
        Ok(InsertOutcome::Inserted(stored))
    }

    async fn report(&self, id: &ReportId) -> StoreResult<Option<StoredReport>> {
        if id.0.contains('\0') {
            return Ok(None); // PostgreSQL text holds no NUL: no stored id has one
        }
        let row = sqlx::query("SELECT * FROM reports WHERE id = $1")
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(report_from_row).transpose()
    }

    async fn reports(&self, filter: &ReportFilter) -> StoreResult<Vec<ReportSummary>> {
        let rows = sqlx::query(
            "SELECT id, sender, card_id, received_at, source, checkup, exam_date FROM reports
             WHERE ($1::text IS NULL OR sender = $1) ORDER BY received_at, id LIMIT $2",
        )
        .bind(filter.sender.as_ref().map(TelematikId::as_str))
        .bind(filter.limit.map(i64::from))
        .fetch_all(&self.pool)
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
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "SELECT id, sender, card_id, received_at, source, checkup, exam_date, facts FROM reports WHERE TRUE",
        );
        if let Some(from) = from {
            query.push(" AND received_at >= ").push_bind(ts(from));
        }
        if let Some(until) = until {
            query.push(" AND received_at < ").push_bind(ts(until));
        }
        query.push(" ORDER BY received_at DESC, id DESC");
        let mut rows = query.build().fetch(&self.pool);
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            visit(summary_from_row(&row)?, &text(&row, "facts")?)?;
        }
        Ok(())
    }

    async fn import_delivery(&self, d: &NewDelivery, actor: &Actor) -> StoreResult<DeliveryOutcome> {
        let mut tx = self.begin().await?;
        // Deliveries are numbered 1, 2, ... without gaps, as in SQLite: check and number
        // under the chain's lock (imports are rare; reports keep flowing meanwhile until
        // they append their audit entry).
        lock_chain(&mut tx).await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT seq FROM registry_deliveries WHERE sha256 = $1")
            .bind(&d.sha256)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if let Some(seq) = existing {
            tx.rollback().await.map_err(map_err)?;
            return Ok(DeliveryOutcome::AlreadyImported { seq });
        }
        let rows = i64::try_from(d.rows.len()).map_err(|e| StoreError::Internal(e.to_string()))?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO registry_deliveries (seq, sha256, file_name, imported_at, rows, rejected)
             SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5 FROM registry_deliveries RETURNING seq",
        )
        .bind(&d.sha256)
        .bind(&d.file_name)
        .bind(ts(d.imported_at))
        .bind(rows)
        .bind(i64::from(d.rejected))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        // In batches: one round trip per 1000 rows instead of one per row.
        for chunk in d.rows.chunks(1000) {
            let mut lines = Vec::with_capacity(chunk.len());
            for row in chunk {
                lines.push(i64::try_from(row.line).map_err(|e| StoreError::Internal(e.to_string()))?);
            }
            let ids: Vec<&str> = chunk.iter().map(|r| r.melde_id.as_str()).collect();
            let dates: Vec<String> = chunk.iter().map(|r| r.event_date.to_string()).collect();
            let jsons: Vec<&str> = chunk.iter().map(|r| r.row_json.as_str()).collect();
            sqlx::query(
                "INSERT INTO registry_events (delivery, line, melde_id, event_date, row_json)
                 SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[])",
            )
            .bind(seq)
            .bind(&lines)
            .bind(&ids)
            .bind(&dates)
            .bind(&jsons)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
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
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(map_err);
                Ok(DeliverySummary {
                    seq: get_i("seq")?,
                    sha256: text(row, "sha256")?,
                    file_name: text(row, "file_name")?,
                    imported_at: parse_ts(&text(row, "imported_at")?)?,
                    rows: u64::try_from(get_i("rows")?).map_err(|e| StoreError::Internal(e.to_string()))?,
                    rejected: u32::try_from(get_i("rejected")?).map_err(|e| StoreError::Internal(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn registry_events(&self) -> StoreResult<Vec<RegistryEventRecord>> {
        let rows =
            sqlx::query("SELECT line, melde_id, event_date, row_json FROM registry_events ORDER BY delivery, line")
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        rows.iter().map(registry_event_from_row).collect()
    }

    async fn registry_events_of(&self, melde_id: &MeldeId) -> StoreResult<Vec<RegistryEventRecord>> {
        let rows = sqlx::query(
            "SELECT line, melde_id, event_date, row_json FROM registry_events WHERE melde_id = $1
             ORDER BY delivery, line",
        )
        .bind(melde_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(registry_event_from_row).collect()
    }

    async fn first_event_date(&self) -> StoreResult<Option<jiff::civil::Date>> {
        let first: Option<String> = sqlx::query_scalar("SELECT MIN(event_date) FROM registry_events")
            .fetch_one(&self.pool)
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
        /// Rows one INSERT carries (as arrays, one a column).
        const ACTIONS_PER_INSERT: usize = 5_000;
        let recorded_at = ts(at);
        // in key order (stable: of two with one key the one offered first is inserted): each
        // new key lands beside the one before in the primary key, where the engine's order
        // (by day, then child) put each on another page (1.77 million actions in the engine's
        // order: 19.7–24.9 → 17.1–19.7 s, docs/PERFORMANCE.md); sorted before the transaction
        // opens, so that it is not held while the sort runs
        let mut sorted: Vec<&ProgrammeAction> = actions.iter().collect();
        sorted.sort_by(|a, b| a.stored_key().cmp(&b.stored_key()));
        let mut tx = self.begin().await?;
        let mut new = 0usize;
        // one INSERT per chunk with the columns as arrays rather than one per action: every
        // statement is a round trip to the server
        for chunk in sorted.chunks(ACTIONS_PER_INSERT) {
            let mut kind = Vec::with_capacity(chunk.len());
            let mut melde_id = Vec::with_capacity(chunk.len());
            let mut checkup = Vec::with_capacity(chunk.len());
            let mut created = Vec::with_capacity(chunk.len());
            let mut district = Vec::with_capacity(chunk.len());
            let mut payload = Vec::with_capacity(chunk.len());
            for a in chunk {
                kind.push(a.kind.as_str());
                melde_id.push(a.melde_id.as_str());
                checkup.push(a.checkup.map_or("", Checkup::name));
                created.push(a.created.to_string());
                district.push(a.district.as_ref().map_or("", Kreisschluessel::as_str));
                payload.push(a.payload_json.as_str());
            }
            let done = sqlx::query(
                "INSERT INTO programme_actions (kind, melde_id, checkup, created, district, payload, recorded_at)
                 SELECT k, m, c, d, di, p, $7
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                      AS t(k, m, c, d, di, p)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&kind)
            .bind(&melde_id)
            .bind(&checkup)
            .bind(&created)
            .bind(&district)
            .bind(&payload)
            .bind(&recorded_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            // the rows this statement inserted: those not recorded before (nor earlier in it)
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
             WHERE ($1::text IS NULL OR kind = $1) ORDER BY created, kind, melde_id, checkup",
        )
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(action_from_row).collect()
    }

    async fn child_actions(&self, melde_id: &MeldeId, kinds: &[&str]) -> StoreResult<Vec<ProgrammeAction>> {
        let rows = sqlx::query(
            "SELECT kind, melde_id, checkup, created, district, payload FROM programme_actions
             WHERE kind = ANY($1::text[]) AND melde_id = $2
             ORDER BY created, kind, melde_id, checkup",
        )
        .bind(kinds)
        .bind(melde_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(action_from_row).collect()
    }

    async fn actions_without_letter(&self, kinds: &[&str]) -> StoreResult<Vec<ProgrammeAction>> {
        let rows = sqlx::query(
            "SELECT a.kind, a.melde_id, a.checkup, a.created, a.district, a.payload FROM programme_actions a
             WHERE a.kind = ANY($1::text[])
               AND NOT EXISTS (SELECT 1 FROM letters l
                               WHERE l.kind = a.kind AND l.melde_id = a.melde_id AND l.checkup = a.checkup)
             ORDER BY a.created, a.kind, a.melde_id, a.checkup",
        )
        .bind(kinds)
        .fetch_all(&self.pool)
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
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
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
        if key.kind.contains('\0') {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT pdf FROM letters WHERE kind = $1 AND melde_id = $2 AND checkup = $3")
            .bind(&key.kind)
            .bind(key.melde_id.as_str())
            .bind(key.checkup.map_or("", Checkup::name))
            .fetch_optional(&self.pool)
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
        let mut tx = self.begin().await?;
        // One atomic upsert: of several instances inserting at once one inserts, the others
        // wait for its row and find it fresh; a stale unfinished claim is taken over by the
        // first to update it (the WHERE is re-checked on the newest row).
        let done = sqlx::query(
            "INSERT INTO daily_runs (as_of, holder, claimed_at) VALUES ($1, $2, $3)
             ON CONFLICT (as_of) DO UPDATE SET holder = $2, claimed_at = $3
             WHERE daily_runs.finished_at IS NULL AND daily_runs.claimed_at < $4",
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
        let done = sqlx::query(
            "UPDATE daily_runs SET finished_at = $1 WHERE as_of = $2 AND holder = $3 AND finished_at IS NULL",
        )
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
            sqlx::query("INSERT INTO erased_children (melde_id, erased_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(melde_id.as_str())
                .bind(ts(at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        let events: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT delivery, line, row_json FROM registry_events WHERE melde_id = $1 FOR UPDATE")
                .bind(melde_id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        for (delivery, line, row_json) in &events {
            sqlx::query("UPDATE registry_events SET row_json = $1 WHERE delivery = $2 AND line = $3")
                .bind(redact_event(row_json)?)
                .bind(delivery)
                .bind(line)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let reports: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.id, r.facts FROM reports r JOIN link_decisions d ON d.report_id = r.id
             WHERE d.melde_id = $1 FOR UPDATE OF r",
        )
        .bind(melde_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        for (id, facts) in &reports {
            sqlx::query("UPDATE reports SET facts = $1, body = ''::bytea WHERE id = $2")
                .bind(redact_facts(facts)?)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        sqlx::query("UPDATE letters SET pdf = ''::bytea WHERE melde_id = $1")
            .bind(melde_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("UPDATE case_outcomes SET note = '' WHERE melde_id = $1")
            .bind(melde_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM remembered_kvnrs WHERE melde_id = $1")
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
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        ids.iter().map(|m| MeldeId::parse(m).map_err(|_| corrupt("melde_id"))).collect()
    }

    async fn is_erased(&self, melde_id: &MeldeId) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM erased_children WHERE melde_id = $1)")
            .bind(melde_id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn save_link_decisions(
        &self,
        decisions: &[LinkDecision],
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        /// Decisions one statement carries (as arrays: one round trip per chunk, not per row).
        const DECISIONS_PER_STATEMENT: usize = 1000;
        let mut tx = self.begin().await?;
        let mut by_state = std::collections::BTreeMap::<String, usize>::new();
        // first decisions (every new report) are inserted, the linker's own open ones updated
        // where no one changed them meanwhile; RETURNING gives the states for the audit entry
        let (first, later): (Vec<&LinkDecision>, Vec<&LinkDecision>) = decisions.iter().partition(|d| d.version <= 1);
        let insert = "INSERT INTO link_decisions (report_id, state, melde_id, effective, decision, decided_by,
                                                  decided_at, version)
                      SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                           $7::text[], $8::bigint[])
                      ON CONFLICT DO NOTHING RETURNING state";
        let update = "UPDATE link_decisions l SET state = t.state, melde_id = t.melde_id, effective = t.effective,
                             decision = t.decision, decided_by = t.decided_by, decided_at = t.decided_at,
                             version = t.version
                      FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::bigint[])
                           AS t(report_id, state, melde_id, effective, decision, decided_by, decided_at, version)
                      WHERE l.report_id = t.report_id AND l.version = t.version - 1
                        AND l.state IN ('review', 'unlinked')
                      RETURNING l.state";
        for (sql, of_kind) in [(insert, first), (update, later)] {
            for chunk in of_kind.chunks(DECISIONS_PER_STATEMENT) {
                let states: Vec<String> = sqlx::query_scalar(sql)
                    .bind(chunk.iter().map(|d| d.report_id.0.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| d.state.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| d.melde_id.as_ref().map(MeldeId::as_str)).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| d.effective.to_string()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| d.decision_json.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| d.decided_by.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| ts(d.decided_at)).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|d| d.version).collect::<Vec<_>>())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
                for state in states {
                    *by_state.entry(state).or_insert(0) += 1;
                }
            }
        }
        let written = by_state.values().sum();
        if written > 0 {
            let event = AuditEvent::new(actor, "link.linker_decided", "reports", serde_json::json!(by_state));
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(written)
    }

    async fn decide_link(&self, d: &LinkDecision, remember: Option<&RememberedKvnr>, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The version check is part of the UPDATE: of two staff deciding at once, the second
        // waits for the first's row lock, finds the version raised and changes nothing.
        let done = bind_decision(
            sqlx::query(
                "UPDATE link_decisions SET state = $2, melde_id = $3, effective = $4, decision = $5,
                 decided_by = $6, decided_at = $7, version = $8
                 WHERE report_id = $1 AND version = $8 - 1",
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
            kvnrs_changed |= sqlx::query("DELETE FROM remembered_kvnrs WHERE report_id = $1")
                .bind(&d.report_id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                > 0;
        }
        if let Some(k) = remember {
            kvnrs_changed |= sqlx::query(
                "INSERT INTO remembered_kvnrs (melde_id, kvnr, report_id, since) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
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
        if report.0.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM link_decisions WHERE report_id = $1")
            .bind(&report.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(decision_from_row).transpose()
    }

    async fn link_decisions(&self, state: Option<LinkState>) -> StoreResult<Vec<LinkDecision>> {
        // Two statements: a prepared `$1 IS NULL OR state = $1` may get a generic plan that
        // scans every decision instead of using the state's index.
        let rows = match state {
            Some(state) => {
                sqlx::query("SELECT * FROM link_decisions WHERE state = $1 ORDER BY report_id").bind(state.as_str())
            }
            None => sqlx::query("SELECT * FROM link_decisions ORDER BY report_id"),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn link_decisions_of_reports(&self, reports: &[ReportId]) -> StoreResult<Vec<LinkDecision>> {
        let ids: Vec<&str> = reports.iter().map(|r| r.0.as_str()).collect();
        let rows = sqlx::query("SELECT * FROM link_decisions WHERE report_id = ANY($1::text[]) ORDER BY report_id")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn child_link_decisions(&self, melde_id: &MeldeId) -> StoreResult<Vec<LinkDecision>> {
        let rows = sqlx::query("SELECT * FROM link_decisions WHERE melde_id = $1 ORDER BY report_id")
            .bind(melde_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn link_inputs_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT version FROM link_inputs WHERE id = 1").fetch_one(&self.pool).await.map_err(map_err)
    }

    async fn remembered_kvnrs(&self) -> StoreResult<Vec<RememberedKvnr>> {
        let rows = sqlx::query("SELECT melde_id, kvnr, since FROM remembered_kvnrs ORDER BY melde_id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(RememberedKvnr {
                    melde_id: MeldeId::parse(&text(row, "melde_id")?).map_err(|_| corrupt("melde_id"))?,
                    kvnr: Kvnr::parse(&text(row, "kvnr")?).map_err(|_| corrupt("KVNR"))?,
                    since: text(row, "since")?.parse().map_err(|_| corrupt("date"))?,
                })
            })
            .collect()
    }

    async fn add_user(&self, u: &UserAccount, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (login, organisation, role, password_hash, totp_secret, must_change_password,
             failed_logins, locked_until, totp_last_step, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&u.login)
        .bind(u.organisation.as_str())
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.totp_secret)
        .bind(u.must_change_password)
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
        let row = sqlx::query("SELECT * FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<UserAccount>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY login").fetch_all(&self.pool).await.map_err(map_err)?;
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
        // the row lock of the UPDATE serialises concurrent failures of one login
        let failed: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE login = $1 RETURNING failed_logins",
        )
        .bind(login)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let locked = failed.is_some_and(|n| n >= i64::from(limit));
        if locked {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = $1 WHERE login = $2")
                .bind(ts(lock_until))
                .bind(login)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query("DELETE FROM sessions WHERE login = $1 AND NOT second_factor")
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
        sqlx::query("DELETE FROM sessions WHERE last_seen < $1")
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
        let gone = sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1 AND login = $2 AND NOT second_factor")
            .bind(half_token_sha256)
            .bind(&session.login)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let used = sqlx::query(
            "UPDATE users SET totp_last_step = $1, failed_logins = 0
             WHERE login = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
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
        let row = sqlx::query("SELECT * FROM sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, token_sha256: &str, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_sha256 = $2")
            .bind(ts(at))
            .bind(token_sha256)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn end_session(&self, token_sha256: &str, at: Timestamp, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let ended: Option<(String, bool)> =
            sqlx::query_as("DELETE FROM sessions WHERE token_sha256 = $1 RETURNING login, second_factor")
                .bind(token_sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        if let Some((login, true)) = ended {
            let event = AuditEvent::new(actor, "session.ended", login, serde_json::json!({}));
            append_audit(&mut tx, &event, at).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn set_password(&self, login: &str, password_hash: &str, at: Timestamp, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1, must_change_password = FALSE WHERE login = $2")
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
        let done = sqlx::query("UPDATE users SET locked_until = $1, failed_logins = 0 WHERE login = $2")
            .bind(until.map(ts))
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {login}")));
        }
        if until.is_some() {
            sqlx::query("DELETE FROM sessions WHERE login = $1")
                .bind(login)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
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
            "INSERT INTO case_outcomes (melde_id, checkup, outcome, note, recorded_by, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            StoreError::Internal(m) if m.contains("SQLSTATE 23503") => StoreError::NotFound("escalation".into()),
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
            sqlx::query("SELECT * FROM case_outcomes ORDER BY seq").fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(CaseOutcome {
                    melde_id: MeldeId::parse(&text(row, "melde_id")?).map_err(|_| corrupt("melde_id"))?,
                    checkup: Checkup::from_name(&text(row, "checkup")?).ok_or_else(|| corrupt("check-up"))?,
                    outcome: text(row, "outcome")?,
                    note: text(row, "note")?,
                    recorded_by: text(row, "recorded_by")?,
                    recorded_at: parse_ts(&text(row, "recorded_at")?)?,
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
        // One snapshot for entries and head.
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(map_err)?;
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY seq").fetch_all(&mut *tx).await.map_err(map_err)?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: row.try_get("seq").map_err(map_err)?,
                    at: text(row, "at")?,
                    actor: text(row, "actor")?,
                    action: text(row, "action")?,
                    object: text(row, "object")?,
                    details: text(row, "details")?,
                    prev_hash: text(row, "prev_hash")?,
                    hash: text(row, "hash")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.rollback().await.map_err(map_err)?;
        Ok((entries, (seq > 0).then_some(ChainHead { seq, hash })))
    }

    async fn data_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1").fetch_one(&self.pool).await.map_err(map_err)
    }

    async fn changes_since(&self, version: i64) -> StoreResult<BTreeSet<String>> {
        let actions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT action FROM audit_log WHERE seq > $1")
            .bind(version)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(actions.into_iter().collect())
    }
}
