//! One store type for both backends.
//!
//! [`AnyStore`] is the SQLite file of the data directory or a PostgreSQL database, chosen at
//! run time from a [`Database`]; it implements [`Store`] by delegating every method, so the
//! service core and the CLI are written once, against `Store`, and never name a backend.
//! Only the backends know SQL; this crate only forwards.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use oegd_domain::{MeldeId, TelematikId};
use oegd_store::audit::{AuditEntry, ChainHead};
use oegd_store::{
    ActionKey, Actor, AuditEvent, CertificateRecord, DeliveryOutcome, DeliverySummary, InsertOutcome, LinkDecision,
    LinkState, NewDelivery, NewReport, Organisation, ProgrammeAction, RegistryEventRecord, RememberedKvnr,
    ReportFilter, ReportId, ReportSummary, Store, StoreResult, StoredReport,
};
use oegd_store_postgres::PgStore;
use oegd_store_sqlite::SqliteStore;

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded SQLite file (the data directory's `gateway.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, `postgres://user@host:port/db` (may hold a password: never
    /// printed).
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Database::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl Database {
    /// A database URL: `postgres://` or `postgresql://`; anything else is refused.
    pub fn from_url(url: &str) -> Option<Database> {
        let url = url.trim();
        (url.starts_with("postgres://") || url.starts_with("postgresql://")).then(|| Database::Postgres(url.to_owned()))
    }

    /// A short name for messages: `SQLite` or `PostgreSQL`.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Either backend; cheap to clone.
#[derive(Clone, Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Calls the same method on whichever backend this is.
macro_rules! delegate {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyStore::Sqlite(s) => s.$method($($arg),*).await,
            AnyStore::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl AnyStore {
    /// Opens (creating a SQLite file if needed) and applies pending migrations.
    pub async fn open(db: &Database) -> StoreResult<Self> {
        Ok(match db {
            Database::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open(path).await?),
            Database::Postgres(url) => AnyStore::Postgres(PgStore::open(url).await?),
        })
    }

    /// Opens without changing the schema; refuses a schema newer than this program knows
    /// ([`StoreError::SchemaTooNew`]) or older (run `migrate`).
    pub async fn open_existing(db: &Database) -> StoreResult<Self> {
        Ok(match db {
            Database::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open_existing(path).await?),
            Database::Postgres(url) => AnyStore::Postgres(PgStore::open_existing(url).await?),
        })
    }

    /// The schema version the database has.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        delegate!(self.schema_version())
    }

    /// The newest schema version this program knows for this backend.
    pub fn supported_schema_version(&self) -> i64 {
        match self {
            AnyStore::Sqlite(_) => oegd_store_sqlite::SCHEMA_VERSION,
            AnyStore::Postgres(_) => oegd_store_postgres::SCHEMA_VERSION,
        }
    }

    /// Whether nothing was ever recorded (no audit entry).
    pub async fn is_empty(&self) -> StoreResult<bool> {
        match self {
            AnyStore::Sqlite(s) => Ok(s.data_version().await? == 0),
            AnyStore::Postgres(s) => s.is_empty().await,
        }
    }

    /// A consistent copy while others keep working: SQLite `VACUUM INTO` (a database file),
    /// PostgreSQL `pg_dump --format=custom` (restore with `pg_restore`).
    pub async fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        delegate!(self.backup_to(dest))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "SQLite",
            AnyStore::Postgres(_) => "PostgreSQL",
        }
    }

    pub async fn close(&self) {
        delegate!(self.close())
    }
}

impl Store for AnyStore {
    async fn add_organisation(&self, org: &Organisation, actor: &Actor) -> StoreResult<()> {
        delegate!(self.add_organisation(org, actor))
    }
    async fn organisation(&self, id: &TelematikId) -> StoreResult<Option<Organisation>> {
        delegate!(self.organisation(id))
    }
    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        delegate!(self.organisations())
    }
    async fn record_certificate(&self, cert: &CertificateRecord, actor: &Actor) -> StoreResult<()> {
        delegate!(self.record_certificate(cert, actor))
    }
    async fn revoke_certificates(
        &self,
        id: &TelematikId,
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<Vec<CertificateRecord>> {
        delegate!(self.revoke_certificates(id, at, actor))
    }
    async fn certificates(&self) -> StoreResult<Vec<CertificateRecord>> {
        delegate!(self.certificates())
    }
    async fn insert_report(&self, report: &NewReport, actor: &Actor) -> StoreResult<InsertOutcome> {
        delegate!(self.insert_report(report, actor))
    }
    async fn report(&self, id: &ReportId) -> StoreResult<Option<StoredReport>> {
        delegate!(self.report(id))
    }
    async fn reports(&self, filter: &ReportFilter) -> StoreResult<Vec<ReportSummary>> {
        delegate!(self.reports(filter))
    }
    async fn visit_report_facts(
        &self,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        visit: &mut (dyn FnMut(ReportSummary, &str) -> StoreResult<()> + Send),
    ) -> StoreResult<()> {
        delegate!(self.visit_report_facts(from, until, visit))
    }
    async fn import_delivery(&self, delivery: &NewDelivery, actor: &Actor) -> StoreResult<DeliveryOutcome> {
        delegate!(self.import_delivery(delivery, actor))
    }
    async fn deliveries(&self) -> StoreResult<Vec<DeliverySummary>> {
        delegate!(self.deliveries())
    }
    async fn registry_events(&self) -> StoreResult<Vec<RegistryEventRecord>> {
        delegate!(self.registry_events())
    }
    async fn registry_events_of(&self, melde_id: &MeldeId) -> StoreResult<Vec<RegistryEventRecord>> {
        delegate!(self.registry_events_of(melde_id))
    }
    async fn first_event_date(&self) -> StoreResult<Option<jiff::civil::Date>> {
        delegate!(self.first_event_date())
    }
    async fn record_actions(
        &self,
        actions: &[ProgrammeAction],
        as_of: jiff::civil::Date,
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        delegate!(self.record_actions(actions, as_of, at, actor))
    }
    async fn actions(&self, kind: Option<&str>) -> StoreResult<Vec<ProgrammeAction>> {
        delegate!(self.actions(kind))
    }
    async fn child_actions(&self, melde_id: &MeldeId, kinds: &[&str]) -> StoreResult<Vec<ProgrammeAction>> {
        delegate!(self.child_actions(melde_id, kinds))
    }
    async fn actions_without_letter(&self, kinds: &[&str]) -> StoreResult<Vec<ProgrammeAction>> {
        delegate!(self.actions_without_letter(kinds))
    }
    async fn store_letters(
        &self,
        letters: &[(ActionKey, Vec<u8>)],
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        delegate!(self.store_letters(letters, at, actor))
    }
    async fn letter_pdf(&self, key: &ActionKey) -> StoreResult<Option<Vec<u8>>> {
        delegate!(self.letter_pdf(key))
    }
    async fn claim_daily_run(
        &self,
        as_of: jiff::civil::Date,
        holder: &str,
        at: Timestamp,
        lease: jiff::SignedDuration,
    ) -> StoreResult<bool> {
        delegate!(self.claim_daily_run(as_of, holder, at, lease))
    }
    async fn finish_daily_run(&self, as_of: jiff::civil::Date, holder: &str, at: Timestamp) -> StoreResult<()> {
        delegate!(self.finish_daily_run(as_of, holder, at))
    }
    async fn erase_child(
        &self,
        melde_id: &MeldeId,
        redact_event: &(dyn Fn(&str) -> StoreResult<String> + Sync),
        redact_facts: &(dyn Fn(&str) -> StoreResult<String> + Sync),
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<bool> {
        delegate!(self.erase_child(melde_id, redact_event, redact_facts, at, actor))
    }
    async fn erased_children(&self) -> StoreResult<Vec<MeldeId>> {
        delegate!(self.erased_children())
    }
    async fn is_erased(&self, melde_id: &MeldeId) -> StoreResult<bool> {
        delegate!(self.is_erased(melde_id))
    }
    async fn save_link_decisions(
        &self,
        decisions: &[LinkDecision],
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<usize> {
        delegate!(self.save_link_decisions(decisions, at, actor))
    }
    async fn decide_link(
        &self,
        decision: &LinkDecision,
        remember: Option<&RememberedKvnr>,
        actor: &Actor,
    ) -> StoreResult<()> {
        delegate!(self.decide_link(decision, remember, actor))
    }
    async fn link_decision(&self, report: &ReportId) -> StoreResult<Option<LinkDecision>> {
        delegate!(self.link_decision(report))
    }
    async fn link_decisions(&self, state: Option<LinkState>) -> StoreResult<Vec<LinkDecision>> {
        delegate!(self.link_decisions(state))
    }
    async fn link_decisions_of_reports(&self, reports: &[ReportId]) -> StoreResult<Vec<LinkDecision>> {
        delegate!(self.link_decisions_of_reports(reports))
    }
    async fn child_link_decisions(&self, melde_id: &MeldeId) -> StoreResult<Vec<LinkDecision>> {
        delegate!(self.child_link_decisions(melde_id))
    }
    async fn remembered_kvnrs(&self) -> StoreResult<Vec<RememberedKvnr>> {
        delegate!(self.remembered_kvnrs())
    }
    async fn link_inputs_version(&self) -> StoreResult<i64> {
        delegate!(self.link_inputs_version())
    }
    // staff accounts, sessions and case outcomes (issue 4)
    async fn add_user(&self, user: &oegd_store::UserAccount, actor: &Actor) -> StoreResult<()> {
        delegate!(self.add_user(user, actor))
    }
    async fn user(&self, login: &str) -> StoreResult<Option<oegd_store::UserAccount>> {
        delegate!(self.user(login))
    }
    async fn users(&self) -> StoreResult<Vec<oegd_store::UserAccount>> {
        delegate!(self.users())
    }
    async fn record_failed_login(
        &self,
        login: &str,
        limit: u32,
        lock_until: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool> {
        delegate!(self.record_failed_login(login, limit, lock_until, at))
    }
    async fn start_session(&self, session: &oegd_store::SessionRecord, expired_before: Timestamp) -> StoreResult<()> {
        delegate!(self.start_session(session, expired_before))
    }
    async fn complete_login(&self, half: &str, session: &oegd_store::SessionRecord, totp_step: i64) -> StoreResult<()> {
        delegate!(self.complete_login(half, session, totp_step))
    }
    async fn session(&self, token_sha256: &str) -> StoreResult<Option<oegd_store::SessionRecord>> {
        delegate!(self.session(token_sha256))
    }
    async fn touch_session(&self, token_sha256: &str, at: Timestamp) -> StoreResult<()> {
        delegate!(self.touch_session(token_sha256, at))
    }
    async fn end_session(&self, token_sha256: &str, at: Timestamp, actor: &Actor) -> StoreResult<()> {
        delegate!(self.end_session(token_sha256, at, actor))
    }
    async fn set_password(&self, login: &str, hash: &str, at: Timestamp, actor: &Actor) -> StoreResult<()> {
        delegate!(self.set_password(login, hash, at, actor))
    }
    async fn set_user_lock(
        &self,
        login: &str,
        until: Option<Timestamp>,
        at: Timestamp,
        actor: &Actor,
    ) -> StoreResult<()> {
        delegate!(self.set_user_lock(login, until, at, actor))
    }
    async fn record_case_outcome(&self, outcome: &oegd_store::CaseOutcome, actor: &Actor) -> StoreResult<()> {
        delegate!(self.record_case_outcome(outcome, actor))
    }
    async fn case_outcomes(&self) -> StoreResult<Vec<oegd_store::CaseOutcome>> {
        delegate!(self.case_outcomes())
    }
    async fn append_audit(&self, event: &AuditEvent, at: Timestamp) -> StoreResult<()> {
        delegate!(self.append_audit(event, at))
    }
    async fn audit_log(&self) -> StoreResult<(Vec<AuditEntry>, Option<ChainHead>)> {
        delegate!(self.audit_log())
    }
    async fn data_version(&self) -> StoreResult<i64> {
        delegate!(self.data_version())
    }
    async fn changes_since(&self, version: i64) -> StoreResult<std::collections::BTreeSet<String>> {
        delegate!(self.changes_since(version))
    }
}
