//! What the operator (role `betrieb`) does in the web interface: lock and unlock accounts,
//! issue certificates (handed over once, never stored with their key) and revoke them, read
//! the audit log with its verification. Nothing here touches children's data.

use jiff::Timestamp;
use oegd_domain::TelematikId;
use oegd_store::{Actor, Store, StoreError, audit};

use crate::ServiceError;
use crate::admin::{mint_certificate, write_crl};
use crate::datadir::DataDir;

/// An operator's lock lasts until it is lifted: the year 9999 in practice.
pub fn indefinitely() -> Timestamp {
    Timestamp::MAX
}

/// Locks an account (its sessions end) or lifts a lock.
pub async fn set_locked<S: Store>(
    store: &S,
    login: &str,
    locked: bool,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), ServiceError> {
    if let Actor::User(me) = actor
        && me == login
        && locked
    {
        return Err(ServiceError::Usage("Sie können Ihr eigenes Konto nicht sperren.".into()));
    }
    store.set_user_lock(login, locked.then(indefinitely), now, actor).await.map_err(|e| match e {
        StoreError::NotFound(_) => ServiceError::NotFound("Benutzer nicht gefunden.".into()),
        other => other.into(),
    })
}

/// A newly issued client certificate with its key: shown or downloaded once.
#[derive(Clone)]
pub struct IssuedPem {
    pub telematik_id: TelematikId,
    pub serial: String,
    pub not_after: Timestamp,
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for IssuedPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the key is never printed
        f.debug_struct("IssuedPem").field("serial", &self.serial).finish_non_exhaustive()
    }
}

/// Issues a client certificate for a registered organisation; the key leaves only in the
/// result.
pub async fn issue_certificate<S: Store>(
    dir: &DataDir,
    store: &S,
    telematik_id: &TelematikId,
    days: u32,
    actor: &Actor,
    now: Timestamp,
) -> Result<IssuedPem, ServiceError> {
    let (issued, record) = mint_certificate(dir, store, telematik_id, days, now).await?;
    store.record_certificate(&record, actor).await?;
    Ok(issued)
}

/// Revokes every valid certificate of an organisation and publishes the new CRL (honoured by
/// a running server for the next connection). Returns how many were revoked.
pub async fn revoke_certificates<S: Store>(
    dir: &DataDir,
    store: &S,
    telematik_id: &TelematikId,
    actor: &Actor,
    now: Timestamp,
) -> Result<usize, ServiceError> {
    let revoked = store.revoke_certificates(telematik_id, now, actor).await?;
    if revoked.is_empty() {
        return Err(ServiceError::Usage(format!("Für {telematik_id} gibt es kein gültiges Zertifikat zu sperren.")));
    }
    write_crl(dir, store, now).await?;
    Ok(revoked.len())
}

/// A page of the audit log (newest first) and the verification of the whole chain.
pub struct AuditPage {
    pub entries: Vec<audit::AuditEntry>,
    pub total: usize,
    pub verification: Result<audit::Verified, audit::ChainBreak>,
}

/// Entries `offset..offset + limit` counted from the newest.
pub async fn audit_page<S: Store>(store: &S, offset: usize, limit: usize) -> Result<AuditPage, ServiceError> {
    let (entries, head) = store.audit_log().await?;
    let verification = audit::verify(&entries, head.as_ref());
    let total = entries.len();
    let page = entries.into_iter().rev().skip(offset).take(limit).collect();
    Ok(AuditPage { entries: page, total, verification })
}
