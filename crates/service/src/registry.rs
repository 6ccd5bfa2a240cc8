//! Registration data (Meldedaten) into the register: read with the programme's CSV reader,
//! stored as one delivery per file content (so the same file twice changes nothing).

use jiff::Timestamp;
use oegd_programme::{RowError, read_registry};
use oegd_store::{Actor, DeliveryOutcome, NewDelivery, RegistryEventRecord, Store};
use serde::Serialize;

use crate::ServiceError;
use crate::intake::sha256_hex;

/// The steps of an import, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStep {
    Reading,
    Storing,
    /// Re-trying the links of unlinked reports against the new children.
    Linking,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryImport {
    pub delivery: i64,
    /// False when the same file had been imported before (nothing changed).
    pub imported: bool,
    pub rows: usize,
    /// Rows that could not be read, with line number and a German reason.
    pub errors: Vec<RowError>,
    /// The linker's run after the import: unlinked and review reports re-tried against the
    /// register including the new children.
    pub linking: crate::linking::LinkRun,
}

/// Imports one Meldedaten file. Unreadable rows are reported and skipped; with `strict`,
/// any unreadable row means nothing is imported.
pub async fn import_registry<S: Store>(
    store: &S,
    file_name: &str,
    bytes: &[u8],
    strict: bool,
    now: Timestamp,
    progress: &mut (dyn FnMut(ImportStep, usize, usize) + Send),
) -> Result<RegistryImport, ServiceError> {
    import_registry_by(store, file_name, bytes, strict, now, progress, &Actor::Operator).await
}

/// [`import_registry`] recorded in the audit log as done by `actor` (a person in the web
/// interface: `user:LOGIN`).
pub async fn import_registry_by<S: Store>(
    store: &S,
    file_name: &str,
    bytes: &[u8],
    strict: bool,
    now: Timestamp,
    progress: &mut (dyn FnMut(ImportStep, usize, usize) + Send),
    actor: &Actor,
) -> Result<RegistryImport, ServiceError> {
    progress(ImportStep::Reading, 0, 1);
    let file = read_registry(bytes);
    progress(ImportStep::Reading, 1, 1);
    if strict && !file.errors.is_empty() {
        return Err(ServiceError::Usage(format!(
            "{} Zeile(n) nicht lesbar; mit --strict wurde nichts importiert:\n{}",
            file.errors.len(),
            file.errors.iter().map(|e| format!("  Zeile {}: {}", e.line, e.message)).collect::<Vec<_>>().join("\n")
        )));
    }
    let rows = file
        .rows
        .iter()
        .map(|row| {
            Ok(RegistryEventRecord {
                line: row.line,
                melde_id: row.melde_id.clone(),
                event_date: row.event_date,
                row_json: serde_json::to_string(row).map_err(|e| ServiceError::Internal(e.to_string()))?,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let delivery = NewDelivery {
        sha256: sha256_hex(bytes),
        file_name: file_name.to_owned(),
        imported_at: now,
        rejected: u32::try_from(file.errors.len()).unwrap_or(u32::MAX),
        rows,
    };
    progress(ImportStep::Storing, 0, delivery.rows.len());
    let outcome = store.import_delivery(&delivery, actor).await?;
    progress(ImportStep::Storing, delivery.rows.len(), delivery.rows.len());
    let (seq, imported) = match outcome {
        DeliveryOutcome::Imported { seq } => (seq, true),
        DeliveryOutcome::AlreadyImported { seq } => (seq, false),
    };
    let linking = if imported {
        crate::linking::link_pending_with_progress(store, now, &mut |done, total| {
            progress(ImportStep::Linking, done, total)
        })
        .await?
    } else {
        Default::default()
    };
    Ok(RegistryImport { delivery: seq, imported, rows: delivery.rows.len(), errors: file.errors, linking })
}
