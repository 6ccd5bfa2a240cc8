//! Storage in domain words.
//!
//! [`Store`] states every operation the gateway needs from its database; the backends
//! (`oegd-store-sqlite`, later PostgreSQL) implement it, and only they know SQL.
//!
//! Architecture invariant: every method that changes data appends its [`audit`] entry in the
//! same transaction as the change, so the audit log and the data can never disagree.

pub mod audit;
mod model;

use std::collections::BTreeSet;
use std::future::Future;

pub use model::*;
use oegd_domain::TelematikId;

/// Errors of a storage backend. Messages never carry personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk is full or the database cannot take writes right now; the request may be
    /// retried later and nothing was changed.
    #[error("storage temporarily unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule would be broken (e.g. an organisation that already exists).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Someone else changed the record first (e.g. two staff deciding the same review
    /// entry); nothing was changed.
    #[error("changed meanwhile: {0}")]
    Conflict(String),
    /// The database schema is newer than this program knows.
    #[error("database schema version {found} is newer than this program supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("storage error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Every storage operation of the gateway, in domain words.
///
/// Implementations are cheap to clone (a pool handle) and safe to share between tasks.
pub trait Store: Clone + Send + Sync + 'static {
    // --- organisations -------------------------------------------------------------
    fn add_organisation(&self, org: &Organisation, actor: &Actor) -> impl Future<Output = StoreResult<()>> + Send;
    fn organisation(&self, id: &TelematikId) -> impl Future<Output = StoreResult<Option<Organisation>>> + Send;
    fn organisations(&self) -> impl Future<Output = StoreResult<Vec<Organisation>>> + Send;

    // --- certificates --------------------------------------------------------------
    fn record_certificate(
        &self,
        cert: &CertificateRecord,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Marks every unrevoked certificate of the organisation as revoked; returns them.
    fn revoke_certificates(
        &self,
        id: &TelematikId,
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<Vec<CertificateRecord>>> + Send;
    fn certificates(&self) -> impl Future<Output = StoreResult<Vec<CertificateRecord>>> + Send;

    // --- reports -------------------------------------------------------------------
    /// Stores a report durably unless the same sender already sent a card with the same id,
    /// in which case the stored one is returned and nothing changes.
    fn insert_report(
        &self,
        report: &NewReport,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<InsertOutcome>> + Send;
    fn report(&self, id: &ReportId) -> impl Future<Output = StoreResult<Option<StoredReport>>> + Send;
    fn reports(&self, filter: &ReportFilter) -> impl Future<Output = StoreResult<Vec<ReportSummary>>> + Send;
    /// Hands every report received in `[from, until)` (an open end when `None`) to `visit`
    /// with its extracted facts (JSON, personal data), newest first (by receipt time, then
    /// id, both descending): what the state office searches by name and birth date. One at
    /// a time, from one read snapshot: a state's reports are gigabytes, more than a search
    /// may hold.
    fn visit_report_facts(
        &self,
        from: Option<jiff::Timestamp>,
        until: Option<jiff::Timestamp>,
        visit: &mut (dyn FnMut(ReportSummary, &str) -> StoreResult<()> + Send),
    ) -> impl Future<Output = StoreResult<()>> + Send;

    // --- registration data -----------------------------------------------------------
    /// Stores a delivery of registration events in one transaction, unless a file with the
    /// same content was imported before.
    fn import_delivery(
        &self,
        delivery: &NewDelivery,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<DeliveryOutcome>> + Send;
    fn deliveries(&self) -> impl Future<Output = StoreResult<Vec<DeliverySummary>>> + Send;
    /// Every registration event, in delivery order and, within a delivery, file order.
    fn registry_events(&self) -> impl Future<Output = StoreResult<Vec<RegistryEventRecord>>> + Send;
    /// One child's registration events, in the same order (by index: a child's page).
    fn registry_events_of(
        &self,
        melde_id: &oegd_domain::MeldeId,
    ) -> impl Future<Output = StoreResult<Vec<RegistryEventRecord>>> + Send;
    /// The date of the register's earliest event (the programme's first day); `None` while
    /// the register is empty.
    fn first_event_date(&self) -> impl Future<Output = StoreResult<Option<jiff::civil::Date>>> + Send;

    // --- programme -----------------------------------------------------------------------
    /// Records the actions of a daily run; those already recorded are left as they are.
    /// Returns how many were new.
    fn record_actions(
        &self,
        actions: &[ProgrammeAction],
        as_of: jiff::civil::Date,
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<usize>> + Send;
    /// Recorded actions, optionally of one kind, by creation day.
    fn actions(&self, kind: Option<&str>) -> impl Future<Output = StoreResult<Vec<ProgrammeAction>>> + Send;
    /// One child's recorded actions of these kinds, by creation day. The kinds are asked for
    /// because the key starts with the kind: each kind is one look-up in it, no scan.
    fn child_actions(
        &self,
        melde_id: &oegd_domain::MeldeId,
        kinds: &[&str],
    ) -> impl Future<Output = StoreResult<Vec<ProgrammeAction>>> + Send;

    /// Actions of these kinds that have no letter stored yet.
    fn actions_without_letter(&self, kinds: &[&str]) -> impl Future<Output = StoreResult<Vec<ProgrammeAction>>> + Send;
    /// Stores typeset letters of recorded actions (a letter already stored stays as it is).
    fn store_letters(
        &self,
        letters: &[(ActionKey, Vec<u8>)],
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<usize>> + Send;
    fn letter_pdf(&self, key: &ActionKey) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    /// Claims the daily run of `as_of` for `holder`: true if no one has it, or the claim of
    /// someone else is older than `lease` and unfinished (a crashed process). Exactly one of
    /// several processes asking at once gets it.
    fn claim_daily_run(
        &self,
        as_of: jiff::civil::Date,
        holder: &str,
        at: jiff::Timestamp,
        lease: jiff::SignedDuration,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    fn finish_daily_run(
        &self,
        as_of: jiff::civil::Date,
        holder: &str,
        at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Erases the personal data of a child at the end of retention, in one transaction: its
    /// registration events and the facts of the reports linked to it are overwritten with
    /// what `redact_event` and `redact_facts` make of them, the submitted bytes of those
    /// reports and the PDFs of its letters are emptied, a remembered KVNR is deleted. What
    /// remains serves the statistics. Returns false (and changes nothing) if it was done.
    fn erase_child(
        &self,
        melde_id: &oegd_domain::MeldeId,
        redact_event: &(dyn Fn(&str) -> StoreResult<String> + Sync),
        redact_facts: &(dyn Fn(&str) -> StoreResult<String> + Sync),
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    fn erased_children(&self) -> impl Future<Output = StoreResult<Vec<oegd_domain::MeldeId>>> + Send;
    fn is_erased(&self, melde_id: &oegd_domain::MeldeId) -> impl Future<Output = StoreResult<bool>> + Send;

    // --- linking -------------------------------------------------------------------------
    /// Stores the linker's decisions. A decision with `version == 1` is written only if the
    /// report has none yet; a later one only over the linker's own open decision (review,
    /// unlinked) of `version - 1`. Returns how many were written; the rest lost to someone
    /// faster and changed nothing.
    fn save_link_decisions(
        &self,
        decisions: &[LinkDecision],
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<usize>> + Send;
    /// A person's decision: written only over `version - 1` of the report's decision,
    /// otherwise [`StoreError::Conflict`]. With `remember`, the child's KVNR is remembered in
    /// the same transaction (unless the child or the KVNR already has one); a decision that is
    /// not `Confirmed` forgets a KVNR remembered from this report.
    fn decide_link(
        &self,
        decision: &LinkDecision,
        remember: Option<&RememberedKvnr>,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn link_decision(&self, report: &ReportId) -> impl Future<Output = StoreResult<Option<LinkDecision>>> + Send;
    /// All decisions, optionally of one state, by report id.
    fn link_decisions(&self, state: Option<LinkState>) -> impl Future<Output = StoreResult<Vec<LinkDecision>>> + Send;
    /// The decisions on these reports (those that have one), by report id.
    fn link_decisions_of_reports(
        &self,
        reports: &[ReportId],
    ) -> impl Future<Output = StoreResult<Vec<LinkDecision>>> + Send;
    /// The decisions that name this child as the one a report is linked to (whatever their
    /// state), by report id.
    fn child_link_decisions(
        &self,
        melde_id: &oegd_domain::MeldeId,
    ) -> impl Future<Output = StoreResult<Vec<LinkDecision>>> + Send;
    fn remembered_kvnrs(&self) -> impl Future<Output = StoreResult<Vec<RememberedKvnr>>> + Send;
    /// A number that changes with everything the linker compares reports against: a register
    /// delivery, a KVNR remembered or forgotten, an erased child. One cheap read; a linker
    /// that keeps its index between runs rebuilds it when the number differs.
    fn link_inputs_version(&self) -> impl Future<Output = StoreResult<i64>> + Send;

    // --- staff accounts and sessions of the web interface ------------------------------
    /// Adds an account; [`StoreError::AlreadyExists`] if the login is taken.
    fn add_user(&self, user: &UserAccount, actor: &Actor) -> impl Future<Output = StoreResult<()>> + Send;
    fn user(&self, login: &str) -> impl Future<Output = StoreResult<Option<UserAccount>>> + Send;
    fn users(&self) -> impl Future<Output = StoreResult<Vec<UserAccount>>> + Send;
    /// Records a failed login attempt (wrong password or second factor). The `limit`th
    /// failure in a row locks the account until `lock_until` and starts the count anew.
    /// Returns whether this attempt locked it; an unknown login changes nothing.
    fn record_failed_login(
        &self,
        login: &str,
        limit: u32,
        lock_until: jiff::Timestamp,
        at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Stores a new session (after the password: `second_factor` false) and deletes the
    /// sessions last seen before `expired_before`.
    fn start_session(
        &self,
        session: &SessionRecord,
        expired_before: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Completes a login with the second factor in one transaction: the half session
    /// `half_token_sha256` is replaced by `session` (a new token), `totp_step` is recorded as
    /// used and the failed attempts are forgotten. [`StoreError::Conflict`] if the half
    /// session is gone or the step was not later than the last one used (a replayed code).
    fn complete_login(
        &self,
        half_token_sha256: &str,
        session: &SessionRecord,
        totp_step: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn session(&self, token_sha256: &str) -> impl Future<Output = StoreResult<Option<SessionRecord>>> + Send;
    /// Notes activity of a session (for the idle timeout).
    fn touch_session(&self, token_sha256: &str, at: jiff::Timestamp) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends a session (logout, timeout); ending an unknown one changes nothing.
    fn end_session(
        &self,
        token_sha256: &str,
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Replaces a password (hash) and clears `must_change_password`.
    fn set_password(
        &self,
        login: &str,
        password_hash: &str,
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// An operator locks an account until `until` (ending its sessions) or, with `None`,
    /// unlocks it and forgets its failed attempts. [`StoreError::NotFound`] for an unknown
    /// login.
    fn set_user_lock(
        &self,
        login: &str,
        until: Option<jiff::Timestamp>,
        at: jiff::Timestamp,
        actor: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    // --- cases of the health offices -------------------------------------------------
    /// Records the outcome of a health office's contact about an escalation (the history is
    /// kept: the latest counts).
    fn record_case_outcome(&self, outcome: &CaseOutcome, actor: &Actor)
    -> impl Future<Output = StoreResult<()>> + Send;
    /// Every recorded outcome, oldest first.
    fn case_outcomes(&self) -> impl Future<Output = StoreResult<Vec<CaseOutcome>>> + Send;

    // --- audit ---------------------------------------------------------------------
    /// Appends an entry for a change made outside the other methods (e.g. `init`).
    fn append_audit(&self, event: &AuditEvent, at: jiff::Timestamp) -> impl Future<Output = StoreResult<()>> + Send;
    /// All entries in sequence order, and the recorded head of the chain.
    fn audit_log(&self)
    -> impl Future<Output = StoreResult<(Vec<audit::AuditEntry>, Option<audit::ChainHead>)>> + Send;
    /// A number that grows with every change of the store's data: the sequence number of the
    /// audit chain's head (0 before the first entry). Every change of reports, the register,
    /// link decisions, actions, letters, erasures, outcomes, organisations, certificates and
    /// accounts appends to the chain in its own transaction (a session's activity and the
    /// daily run's claim do not), so what a reader computed from the store after reading this
    /// number is current for as long as the number stays. One cheap read.
    fn data_version(&self) -> impl Future<Output = StoreResult<i64>> + Send;
    /// The kinds of change (audit actions, such as `report.received`) made after
    /// `data_version` was `version`, each once: what a reader of that version has not seen.
    /// Reads the audit entries after `version` by their key.
    fn changes_since(&self, version: i64) -> impl Future<Output = StoreResult<BTreeSet<String>>> + Send;
}
