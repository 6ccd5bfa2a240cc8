//! The register of children as the store holds it: every imported event, and the latest
//! record of each child as of a day.

use std::collections::BTreeMap;

use jiff::civil::Date;
use oegd_domain::MeldeId;
use oegd_programme::{PersonRecord, RegistryRow};
use oegd_store::{RegistryEventRecord, Store};

use crate::ServiceError;

/// Every registration event, in delivery order and, within a delivery, file order.
pub async fn rows<S: Store>(store: &S) -> Result<Vec<RegistryRow>, ServiceError> {
    rows_of(&store.registry_events().await?)
}

/// The rows of stored registration events (about half a second per 100,000 children in the
/// `scale` example: for the whole register, better off the request workers).
pub fn rows_of(events: &[RegistryEventRecord]) -> Result<Vec<RegistryRow>, ServiceError> {
    events
        .iter()
        .map(|e| serde_json::from_str(&e.row_json).map_err(|e| ServiceError::Internal(e.to_string())))
        .collect()
}

/// The latest record of each child from the events dated on or before `until` (all events
/// when `None`). Events apply in date order; on the same date in delivery and file order
/// (PROGRAMME.md, rule 12), which a stable sort of `rows` keeps.
pub fn latest_records(rows: &[RegistryRow], until: Option<Date>) -> BTreeMap<&MeldeId, &PersonRecord> {
    let mut ordered: Vec<&RegistryRow> = rows.iter().filter(|r| until.is_none_or(|d| r.event_date <= d)).collect();
    ordered.sort_by_key(|r| r.event_date);
    let mut latest = BTreeMap::new();
    for row in ordered {
        if let Some(record) = &row.record {
            latest.insert(&row.melde_id, record);
        }
    }
    latest
}
