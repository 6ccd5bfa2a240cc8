//! Secure intake: a participation card from an authenticated sender becomes a durably
//! stored report with a receipt, exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use oegd_domain::{Clock, OrgKind, ProfessionOid, TelematikId};
use oegd_fhir::{CardError, MediaType};
use oegd_store::{Actor, InsertOutcome, NewReport, Organisation, ReportId, ReportSource, Store, StoredReport};
use sha2::{Digest, Sha256};

use crate::ServiceError;
use crate::linking::{Arrival, Arrivals};

/// Who sent a request, as the client certificate says (never the request body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub telematik_id: TelematikId,
    pub profession: ProfessionOid,
}

/// The outcome of a submission that was accepted.
#[derive(Debug, Clone)]
pub struct Submission {
    pub report: StoredReport,
    /// False when the same card had been received before: `report` is the first one.
    pub created: bool,
}

/// The application core over a store.
pub struct Gateway<S> {
    store: S,
    clock: Arc<dyn Clock>,
    office: Organisation,
    /// Where newly stored reports wait for the linker of a long-running process.
    arrivals: Option<Arc<Arrivals>>,
    /// Organisations found so far. A registered organisation is never changed or removed
    /// (certificates are revoked instead), so what was found stays true; every API request
    /// asks, and this saves it a database read.
    known: std::sync::RwLock<HashMap<TelematikId, Organisation>>,
}

/// How long a request waits for a free CPU slot before it gets `503` (with `Retry-After`).
const CPU_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs CPU-bound work (reading and validating a card, Argon2) on tokio's blocking threads,
/// at most one job per core at a time. The async workers stay free for I/O however hostile
/// the bodies are, and a flood of requests waits here for up to [`CPU_WAIT`] instead of
/// starting one thread (and its memory) each; after that it is refused as `Unavailable`.
pub(crate) async fn cpu_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ServiceError> {
    static SLOTS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        ))
    });
    let permit = match tokio::time::timeout(CPU_WAIT, slots.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => {
            tracing::warn!("CPU-bound work waited too long for a slot; refused with 503");
            return Err(ServiceError::Unavailable(
                "Der Server ist ausgelastet; bitte später erneut senden. / The server is busy; please retry later."
                    .into(),
            ));
        }
    };
    // The permit goes with the job: a request given up half-way (client gone) still holds
    // its slot until the job ends.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("CPU-bound task failed: {e}")))
}

/// Cards up to this size are read on the async worker that received them (see
/// `store_card`). Real cards have 3–10 KB (the fixtures) and take about 50 µs; the worst
/// 16 KiB body found (JSON or XML nested 60 deep, every level an issue) takes about 1.1 ms,
/// the longest an async worker is kept from its I/O here. Only senders with a certificate
/// get this far, and the per-client rate limit bounds how often (docs/PERFORMANCE.md,
/// "Fewer hand-offs").
const INLINE_CARD_BYTES: usize = 16 * 1024;

/// A new report's id: a UUID of version 7 (RFC 9562), which begins with the time of
/// receipt. The ids then sort in the order the reports came, and each new one lands at the
/// end of the primary key's B-tree: a random id (version 4) dirtied a page of its own in
/// every commit, so commits grew with the table and the intake's p99 with them
/// (docs/PERFORMANCE.md, "Report ids in time order").
fn report_id(received_at: Timestamp) -> ReportId {
    let seconds = u64::try_from(received_at.as_second()).unwrap_or(0);
    let nanos = u32::try_from(received_at.subsec_nanosecond()).unwrap_or(0);
    let at = uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos);
    ReportId(uuid::Uuid::new_v7(at).to_string())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn media_type_name(media: MediaType) -> &'static str {
    match media {
        MediaType::Json => "application/fhir+json",
        MediaType::Xml => "application/fhir+xml",
    }
}

impl<S: Store> Gateway<S> {
    /// Starts the core; the state office registered in the store receives the reports.
    pub async fn new(store: S, clock: Arc<dyn Clock>) -> Result<Self, ServiceError> {
        let office =
            store.organisations().await?.into_iter().find(|o| o.kind == OrgKind::Landesamt).ok_or_else(|| {
                ServiceError::Usage("Kein Landesamt registriert (oegd-gateway init legt es an).".into())
            })?;
        Ok(Self { store, clock, office, arrivals: None, known: std::sync::RwLock::default() })
    }

    /// Hands every report stored from now on to `arrivals`, for a [`Linker`](crate::linking::Linker)
    /// that decides it shortly after (`serve`; a CLI import links once at its end instead).
    #[must_use]
    pub fn with_arrivals(mut self, arrivals: Arc<Arrivals>) -> Self {
        self.arrivals = Some(arrivals);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The state office that receives reports.
    pub fn receiving_office(&self) -> &Organisation {
        &self.office
    }

    /// The registered organisation behind a certificate, if its role matches.
    pub async fn organisation_of(&self, sender: &Sender) -> Result<Organisation, ServiceError> {
        let known =
            self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&sender.telematik_id).cloned();
        let org = match known {
            Some(org) => org,
            None => {
                let org = self.store.organisation(&sender.telematik_id).await?.ok_or_else(|| {
                    ServiceError::Forbidden(
                        "Die Telematik-ID des Zertifikats ist beim Gateway nicht registriert.".into(),
                    )
                })?;
                self.known
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(org.telematik_id.clone(), org.clone());
                org
            }
        };
        if org.kind.profession_oid() != sender.profession {
            return Err(ServiceError::Forbidden(
                "Die Rolle (professionOID) im Zertifikat passt nicht zur registrierten Organisation.".into(),
            ));
        }
        Ok(org)
    }

    /// A card submitted by a practice or hospital over the API (or its web form).
    pub async fn submit_card(
        &self,
        sender: &Sender,
        media: MediaType,
        body: &[u8],
        source: ReportSource,
    ) -> Result<Submission, ServiceError> {
        let org = self.organisation_of(sender).await?;
        if !matches!(org.kind, OrgKind::Praxis | OrgKind::Krankenhaus) {
            return Err(ServiceError::Forbidden("Nur Arztpraxen und Krankenhäuser melden Teilnahmekarten.".into()));
        }
        let received_at = self.clock.now();
        self.store_card(&sender.telematik_id, media, body, source, received_at, &Actor::Organisation(org.telematik_id))
            .await
    }

    /// A digitised paper report or a migrated one, imported by an operator with the
    /// sender and receipt time of the original.
    pub async fn import_card(
        &self,
        sender: &TelematikId,
        received_at: Timestamp,
        media: MediaType,
        body: &[u8],
    ) -> Result<Submission, ServiceError> {
        self.store_card(sender, media, body, ReportSource::Import, received_at, &Actor::Operator).await
    }

    async fn store_card(
        &self,
        sender: &TelematikId,
        media: MediaType,
        body: &[u8],
        source: ReportSource,
        received_at: Timestamp,
        actor: &Actor,
    ) -> Result<Submission, ServiceError> {
        let read = move |body: &[u8]| {
            let card = oegd_fhir::read_card(media, body)?;
            let facts_json = serde_json::to_string(&card);
            Ok::<_, CardError>((card, facts_json))
        };
        // Reading and validating is pure CPU. A body of a card's usual size takes tens of
        // microseconds, less than handing it to another thread and back costs (two thread
        // wake-ups), so it is read where it arrived. A larger body (hostile ones up to the size
        // limit included) goes to the blocking threads, bounded by the cores, so the async
        // workers stay free for I/O.
        let (read, body) = if body.len() <= INLINE_CARD_BYTES {
            (read(body), body.to_vec())
        } else {
            let owned = body.to_vec();
            cpu_bound(move || (read(&owned), owned)).await?
        };
        let (card, facts_json) = read.map_err(|e| match e {
            CardError::Unreadable(issues) => ServiceError::Unreadable(issues),
            CardError::Invalid(issues) => ServiceError::Invalid(issues),
        })?;
        let facts_json = facts_json.map_err(|e| ServiceError::Internal(e.to_string()))?;
        let report = NewReport {
            id: report_id(received_at),
            sender: sender.clone(),
            card_id: card.card_id.clone(),
            received_at,
            source,
            media_type: media_type_name(media).to_owned(),
            body_sha256: sha256_hex(&body),
            body,
            facts_sha256: sha256_hex(facts_json.as_bytes()),
            facts_json,
            checkup: card.checkup,
            exam_date: card.exam_date,
            receiving_office: self.office.telematik_id.clone(),
        };
        match self.store.insert_report(&report, actor).await? {
            InsertOutcome::Inserted(report) => {
                if let Some(arrivals) = &self.arrivals {
                    arrivals.push(Arrival::of(report.id.clone(), &card, report.received_at));
                }
                Ok(Submission { report, created: true })
            }
            InsertOutcome::Existing(first) if first.facts_sha256 == report.facts_sha256 => {
                Ok(Submission { report: first, created: false })
            }
            InsertOutcome::Existing(_) => Err(ServiceError::Conflict(
                "Eine Teilnahmekarte mit dieser Kennung (Bundle.identifier) wurde bereits mit anderem Inhalt übermittelt. \
                 Eine geänderte Karte braucht eine neue Kennung. / A card with this Bundle.identifier was already \
                 submitted with different content."
                    .into(),
            )),
        }
    }

    /// A stored report, for its sender or the state office; anyone else learns nothing,
    /// not even that it exists.
    pub async fn report_for(&self, requester: &Sender, id: &ReportId) -> Result<StoredReport, ServiceError> {
        let not_found = || ServiceError::NotFound("Meldung nicht gefunden.".into());
        let org = self.organisation_of(requester).await.map_err(|_| not_found())?;
        let report = self.store.report(id).await?.ok_or_else(not_found)?;
        if report.sender != org.telematik_id && org.kind != OrgKind::Landesamt {
            return Err(not_found());
        }
        if report.body.is_empty() {
            return Err(ServiceError::NotFound(
                "Die Meldung wurde nach Ablauf der Aufbewahrungsfrist gelöscht.".into(),
            ));
        }
        Ok(report)
    }
}
