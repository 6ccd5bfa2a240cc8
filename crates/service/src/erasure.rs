//! Deletion at the end of retention (PROGRAMME.md, rule 8; PRODUCT.md: "personal data is
//! deleted when the programme no longer needs it; statistics stay").
//!
//! When the daily run has recorded a child's deletion, the child's names, address,
//! guardians, KVNR, the submitted cards linked to it and its letters are erased. What stays
//! is pseudonymous: the register's id, the event kinds and dates, birth date, sex, district
//! (AGS) and the information block flag, and the recorded actions; that is what the engine
//! needs to replay the statistics, and the child shows only as deleted.

use jiff::Timestamp;
use oegd_fhir::ParticipationCard;
use oegd_programme::RegistryRow;
use oegd_store::{Actor, Store, StoreError, StoreResult};

use crate::ServiceError;

fn unreadable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("record to erase unreadable: {e}"))
}

/// A registration event without the person: names, address and guardians removed.
pub fn redact_event(row_json: &str) -> StoreResult<String> {
    let mut row: RegistryRow = serde_json::from_str(row_json).map_err(unreadable)?;
    if let Some(r) = row.record.as_mut() {
        r.family_name.clear();
        r.given_names.clear();
        r.birth_name = None;
        r.address.street.clear();
        r.address.house_number.clear();
        r.address.plz.clear();
        r.address.city.clear();
        r.guardians.clear();
    }
    serde_json::to_string(&row).map_err(unreadable)
}

/// A card's facts without the child: names and insurance numbers removed.
pub fn redact_facts(facts_json: &str) -> StoreResult<String> {
    let mut card: ParticipationCard = serde_json::from_str(facts_json).map_err(unreadable)?;
    let p = &mut card.patient;
    p.given.clear();
    p.family.clear();
    p.birth_name = None;
    p.kvnr = None;
    p.pkv_id = None;
    p.patient_number = None;
    serde_json::to_string(&card).map_err(unreadable)
}

/// Erases every child whose deletion has been recorded and that is not erased yet.
/// Returns how many were erased now.
pub async fn erase_deleted<S: Store>(store: &S, now: Timestamp) -> Result<usize, ServiceError> {
    let erased: std::collections::BTreeSet<_> = store.erased_children().await?.into_iter().collect();
    let mut count = 0;
    for deletion in store.actions(Some("deletion")).await? {
        if erased.contains(&deletion.melde_id) {
            continue;
        }
        if store.erase_child(&deletion.melde_id, &redact_event, &redact_facts, now, &Actor::System).await? {
            count += 1;
        }
    }
    Ok(count)
}
