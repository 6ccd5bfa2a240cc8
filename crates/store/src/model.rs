use std::fmt;

use jiff::{Timestamp, civil::Date};
use oegd_domain::{Checkup, Kreisschluessel, OrgKind, TelematikId};
use serde::{Deserialize, Serialize};

/// Who made a change; recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// An operator at the command line of the gateway's host.
    Operator,
    /// An organisation authenticated by its client certificate.
    Organisation(TelematikId),
    /// A staff member logged in to the web interface.
    User(String),
    /// The gateway itself (daily run, imports it schedules).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator => f.write_str("operator"),
            Actor::Organisation(id) => write!(f, "org:{id}"),
            Actor::User(login) => write!(f, "user:{login}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// A participant registered with the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub telematik_id: TelematikId,
    pub kind: OrgKind,
    pub name: String,
    /// The districts a Gesundheitsamt serves (empty for others).
    pub kreise: Vec<Kreisschluessel>,
    pub created_at: Timestamp,
}

/// A client certificate the gateway's CA issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    pub serial_hex: String,
    pub telematik_id: TelematikId,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub issued_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The gateway's id of a received report; also the id of its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReportId(pub String);

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// How a report reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportSource {
    /// The FHIR API, with a client certificate.
    Api,
    /// The bulk import of digitised paper reports and migrations.
    Import,
    /// The web form for practices without software integration.
    WebForm,
}

impl ReportSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportSource::Api => "api",
            ReportSource::Import => "import",
            ReportSource::WebForm => "web-form",
        }
    }

    pub fn parse(s: &str) -> Option<ReportSource> {
        [ReportSource::Api, ReportSource::Import, ReportSource::WebForm].into_iter().find(|r| r.as_str() == s)
    }
}

/// A validated report about to be stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewReport {
    pub id: ReportId,
    pub sender: TelematikId,
    /// `Bundle.identifier.value` of the card: with the sender, the idempotency key.
    pub card_id: String,
    pub received_at: Timestamp,
    pub source: ReportSource,
    pub media_type: String,
    /// The submitted bytes, exactly as received.
    pub body: Vec<u8>,
    pub body_sha256: String,
    /// The participation facts extracted from the card, as JSON.
    pub facts_json: String,
    /// Hash of the facts: two submissions of one card id with different facts conflict.
    pub facts_sha256: String,
    pub checkup: Checkup,
    pub exam_date: Date,
    pub receiving_office: TelematikId,
}

impl fmt::Debug for NewReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body and facts hold personal data: never printed.
        f.debug_struct("NewReport").field("id", &self.id).field("sender", &self.sender).finish_non_exhaustive()
    }
}

/// A stored report.
pub type StoredReport = NewReport;

/// Result of [`crate::Store::insert_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted(StoredReport),
    /// The sender had already sent a card with this id; this is the stored one.
    Existing(StoredReport),
}

/// One line of a report listing: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    pub id: ReportId,
    pub sender: TelematikId,
    pub card_id: String,
    pub received_at: Timestamp,
    pub source: ReportSource,
    pub checkup: Checkup,
    pub exam_date: Date,
}

/// Which reports to list.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub sender: Option<TelematikId>,
    pub limit: Option<u32>,
}

/// A change to record in the audit log. `details` must not hold personal data beyond ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub actor: Actor,
    pub action: String,
    pub object: String,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(actor: &Actor, action: &str, object: impl Into<String>, details: serde_json::Value) -> Self {
        Self { actor: actor.clone(), action: action.to_owned(), object: object.into(), details }
    }
}

/// One delivery of registration data (a Meldedaten file), identified by its content.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// SHA-256 of the file: importing the same file again changes nothing.
    pub sha256: String,
    pub file_name: String,
    pub imported_at: Timestamp,
    /// The readable rows in file order.
    pub rows: Vec<RegistryEventRecord>,
    /// How many rows could not be read (and were skipped).
    pub rejected: u32,
}

impl fmt::Debug for NewDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDelivery")
            .field("sha256", &self.sha256)
            .field("rows", &self.rows.len())
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

/// One registration event as stored: the programme's row, as JSON, with the keys the
/// store needs to order and find it.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryEventRecord {
    pub line: u64,
    pub melde_id: oegd_domain::MeldeId,
    pub event_date: Date,
    /// The programme's `RegistryRow` as JSON (personal data).
    pub row_json: String,
}

impl fmt::Debug for RegistryEventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryEventRecord").field("line", &self.line).finish_non_exhaustive()
    }
}

/// Result of [`crate::Store::import_delivery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Stored as delivery number `seq`.
    Imported { seq: i64 },
    /// The same file had been imported before as delivery `seq`; nothing changed.
    AlreadyImported { seq: i64 },
}

/// A stored delivery, without its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySummary {
    pub seq: i64,
    pub sha256: String,
    pub file_name: String,
    pub imported_at: Timestamp,
    pub rows: u64,
    pub rejected: u32,
}

/// An action of the check-up programme (letter, escalation, all-clear, deletion) as the
/// daily run created it. `(kind, melde_id, checkup)` is unique for ever.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeAction {
    pub kind: String,
    pub melde_id: oegd_domain::MeldeId,
    pub checkup: Option<Checkup>,
    pub created: Date,
    pub district: Option<oegd_domain::Kreisschluessel>,
    /// The engine's record as JSON (may name the child's id, never names).
    pub payload_json: String,
}

impl ProgrammeAction {
    pub fn key(&self) -> ActionKey {
        ActionKey { kind: self.kind.clone(), melde_id: self.melde_id.clone(), checkup: self.checkup }
    }

    /// The key as both backends store it, `(kind, melde_id, checkup or "")`, compared as
    /// bytes: the order of their primary key (SQLite's `BINARY`, PostgreSQL's
    /// `COLLATE "C"`). Inserting new actions in this order puts each beside the one before
    /// in the key's B-tree.
    pub fn stored_key(&self) -> (&str, &str, &str) {
        (self.kind.as_str(), self.melde_id.as_str(), self.checkup.map_or("", Checkup::name))
    }
}

/// What identifies an action for ever: `(kind, melde_id, checkup)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionKey {
    pub kind: String,
    pub melde_id: oegd_domain::MeldeId,
    pub checkup: Option<Checkup>,
}

impl fmt::Debug for ProgrammeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgrammeAction")
            .field("kind", &self.kind)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Where a report stands in linking to a child of the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Linked by the linker (score above the upper threshold, or the remembered KVNR).
    Linked,
    /// Waiting for a person (between the thresholds, twins, close candidates).
    Review,
    /// No child good enough yet; re-tried on every registration import.
    Unlinked,
    /// Linked by a person.
    Confirmed,
    /// A person found none of the candidates to be the child; not re-tried automatically.
    Rejected,
}

impl LinkState {
    pub const ALL: [LinkState; 5] =
        [LinkState::Linked, LinkState::Review, LinkState::Unlinked, LinkState::Confirmed, LinkState::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Linked => "linked",
            LinkState::Review => "review",
            LinkState::Unlinked => "unlinked",
            LinkState::Confirmed => "confirmed",
            LinkState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<LinkState> {
        LinkState::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Decisions the linker may replace when it runs again (a person's never).
    pub fn is_open_to_linker(self) -> bool {
        matches!(self, LinkState::Review | LinkState::Unlinked)
    }
}

/// The link decision for one report: who decided, when, and why.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkDecision {
    pub report_id: ReportId,
    pub state: LinkState,
    /// The child, for `Linked` and `Confirmed`.
    pub melde_id: Option<oegd_domain::MeldeId>,
    /// The day from which the link counts for the programme: the receipt for the linker's
    /// links, the day of the decision for a person's.
    pub effective: Date,
    /// The linker's score, reason and comparison per candidate, as JSON (ids and weights,
    /// no names).
    pub decision_json: String,
    pub decided_by: String,
    pub decided_at: Timestamp,
    /// Raised with every change: a decision based on an older version loses.
    pub version: i64,
}

impl fmt::Debug for LinkDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkDecision")
            .field("report_id", &self.report_id)
            .field("state", &self.state)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A KVNR remembered on a child after a person confirmed a link.
#[derive(Clone, PartialEq, Eq)]
pub struct RememberedKvnr {
    pub melde_id: oegd_domain::MeldeId,
    pub kvnr: oegd_domain::Kvnr,
    /// The day the confirmed link counts from: links made through the KVNR count from then
    /// at the earliest.
    pub since: Date,
}

impl fmt::Debug for RememberedKvnr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RememberedKvnr").finish_non_exhaustive()
    }
}

/// What a staff member of the web interface may do; fits the kind of their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// State office staff: the programme of the whole state.
    Landesamt,
    /// Health office staff: the escalated cases of its own districts.
    Gesundheitsamt,
    /// Practice or hospital staff: their own submissions.
    Praxis,
    /// The operator (IT of the state): users, organisations, certificates; no children's data.
    Betrieb,
}

impl UserRole {
    pub const ALL: [UserRole; 4] = [UserRole::Landesamt, UserRole::Gesundheitsamt, UserRole::Praxis, UserRole::Betrieb];

    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Landesamt => "landesamt",
            UserRole::Gesundheitsamt => "gesundheitsamt",
            UserRole::Praxis => "praxis",
            UserRole::Betrieb => "betrieb",
        }
    }

    pub fn parse(s: &str) -> Option<UserRole> {
        UserRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// German label for people.
    pub fn label(self) -> &'static str {
        match self {
            UserRole::Landesamt => "Landesamt",
            UserRole::Gesundheitsamt => "Gesundheitsamt",
            UserRole::Praxis => "Praxis / Krankenhaus",
            UserRole::Betrieb => "Betrieb",
        }
    }

    /// Whether a member of an organisation of this kind may have the role.
    pub fn fits(self, kind: OrgKind) -> bool {
        match self {
            UserRole::Landesamt | UserRole::Betrieb => kind == OrgKind::Landesamt,
            UserRole::Gesundheitsamt => kind == OrgKind::Gesundheitsamt,
            UserRole::Praxis => matches!(kind, OrgKind::Praxis | OrgKind::Krankenhaus),
        }
    }
}

/// A staff account of the web interface.
#[derive(Clone, PartialEq, Eq)]
pub struct UserAccount {
    /// The login name, unique.
    pub login: String,
    pub organisation: TelematikId,
    pub role: UserRole,
    /// Argon2id hash in PHC string form (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// The TOTP secret, base32 (RFC 4648, no padding).
    pub totp_secret: String,
    /// Set for a one-time initial password: it must be changed at the first login.
    pub must_change_password: bool,
    /// Failed attempts since the last successful login or lockout.
    pub failed_logins: u32,
    pub locked_until: Option<Timestamp>,
    /// The last TOTP time step accepted: a code is good once.
    pub totp_last_step: Option<i64>,
    pub created_at: Timestamp,
}

impl fmt::Debug for UserAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash and the secret are never printed.
        f.debug_struct("UserAccount")
            .field("login", &self.login)
            .field("organisation", &self.organisation)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A session of the web interface. The browser holds a random token; the store only its
/// SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 (hex) of the session token.
    pub token_sha256: String,
    pub login: String,
    /// The token every form of the session must carry.
    pub csrf_token: String,
    /// False after the password, true after the second factor too.
    pub second_factor: bool,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("login", &self.login)
            .field("second_factor", &self.second_factor)
            .finish_non_exhaustive()
    }
}

/// What a health office recorded about its contact with the family of an escalated case.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseOutcome {
    /// The escalation: the child and the missed check-up.
    pub melde_id: oegd_domain::MeldeId,
    pub checkup: Checkup,
    /// `erreicht`, `nachgeholt`, `abgelehnt`, `nicht_erreichbar`, `jugendamt`.
    pub outcome: String,
    /// Free text of the staff (may hold personal data: never logged).
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: Timestamp,
}

impl fmt::Debug for CaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseOutcome").field("outcome", &self.outcome).finish_non_exhaustive()
    }
}
